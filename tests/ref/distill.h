/* One case of a distillation loss (classic KD or DKD, src/layers/loss.h)
 * against its float64 plain-C reference, shared by test_distill and
 * test_dkd: random logits (planted large values with big > 0) and labels;
 * the forward's accumulated sums (loss, hard, soft; correct, seen, agree);
 * the backward against the reference's analytic gradient and, for small
 * cases, central differences of the reference's mean loss; the teacher's
 * logits untouched; the backward in place (dstudent == student). */
#ifndef KD_TEST_REF_DISTILL_H
#define KD_TEST_REF_DISTILL_H

#include "src/layers/loss.h"
#include "tests/harness.h"

/* A loss's reference on one sample's float64 logits: v[0] the loss,
 * v[1] its hard (cross-entropy) term, v[2] its soft term, as the kernel
 * accumulates them (KD_ACC_LOSS, _HARD, _SOFT); g the gradient of v[0]
 * with respect to the student logits. */
typedef struct th_loss_ref {
    void (*sample)(const kd_distill_cfg *cfg, const double *s, const double *t, int c, int y, double v[3]);
    void (*grad)(const kd_distill_cfg *cfg, const double *s, const double *t, int c, int y, double *g);
    double wsum; /* sum of the loss's term weights: tolerances grow with it (classic KD: 1) */
} th_loss_ref;

/* Largest error/tolerance ratios seen: forward sums, backward against the
 * analytic gradient, against central differences. */
typedef struct th_loss_worst {
    double fwd, bwd, fd;
} th_loss_worst;

/* `what` names the case in failures ("dkd n=9 c=7 T=2 a=0 b=1 big=100"). */
void th_distill_case(kd_ctx *ctx, th_rng *r, const kd_distill_cfg *cfg, const th_loss_ref *ref, int n, int c,
                     float big, const char *what, th_loss_worst *worst);

/* kd_distill_forward and kd_distill_backward on one sample of c classes
 * both refuse cfg (KD_ERR_USAGE), the forward's message naming `needle`. */
void th_distill_refused(kd_ctx *ctx, const kd_distill_cfg *cfg, int c, const char *needle, const char *what);

#endif
