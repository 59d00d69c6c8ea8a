/* Shared pieces of the loss tests (test_loss, test_distill, test_dkd):
 * random logits with planted large values, labels, and the error
 * bookkeeping those tests print. */
#ifndef KD_TEST_REF_LOGITS_H
#define KD_TEST_REF_LOGITS_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/harness.h"

#define TH_FEPS 5.96e-8 /* float rounding unit */

/* *w = max(*w, v), where a NaN becomes +inf so that it sticks. */
void th_note(double *w, double v);
/* int32 labels on the device (aborts the test on failure). */
cl_mem th_upload_labels(kd_ctx *ctx, const int *y, int n);
/* Uniform in [-spread, spread]; with big > 0 a fifth of them +big and a fifth -big. */
void th_make_logits(th_rng *r, float *s, size_t n, float spread, float big);
void th_make_labels(th_rng *r, int *y, int n, int c);
/* First index of the largest value (ties to the lower class, as the kernels). */
int th_argmax(const float *x, int c);
/* 1 + the largest |logit| of a student row and a teacher row: float
 * log-softmaxes carry errors of a few rounding units of this. */
double th_logit_mag(const float *s, const float *t, int c);
bool th_all_finite(const float *x, size_t n);

#endif
