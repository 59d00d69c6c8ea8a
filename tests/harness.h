/* Test helpers: checks that count failures and keep going, a device
 * context, seeded random data, host<->device copies, and error measures. */
#ifndef KD_TEST_HARNESS_H
#define KD_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/ctx.h"
#include "src/rng.h"

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        th_count_check();                                                                 \
        if (!(cond)) {                                                                    \
            th_count_failure();                                                           \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* A call that returns kd_status must succeed; on failure print kd_ctx_err(ctx) and abort the test. */
#define MUST(ctx, call)                                                                   \
    do {                                                                                  \
        kd_status th_s_ = (call);                                                         \
        if (th_s_ != KD_OK) th_fatal(__FILE__, __LINE__, #call, (ctx) ? kd_ctx_err(ctx)->msg : ""); \
    } while (0)
#define MUST_E(err, call)                                                                 \
    do {                                                                                  \
        kd_status th_s_ = (call);                                                         \
        if (th_s_ != KD_OK) th_fatal(__FILE__, __LINE__, #call, (err)->msg);              \
    } while (0)

void th_count_check(void);
void th_count_failure(void);
_Noreturn void th_fatal(const char *file, int line, const char *call, const char *msg);
/* Prints "name: N checks, M failures" and returns the process exit code. */
int th_done(const char *name);

/* The device the environment selects (KDCL_DEVICE, else the default rule). */
kd_ctx *th_ctx(void);
kd_ctx *th_ctx_opts(const kd_ctx_opts *opts);

/* Deterministic random numbers: src/rng.h's stream. */
typedef kd_rng64 th_rng;
uint64_t th_next(th_rng *r);
float th_uniform(th_rng *r, float lo, float hi);
void th_fill(th_rng *r, float *x, size_t n, float lo, float hi);

/* Device buffers from and to host floats. */
cl_mem th_upload(kd_ctx *ctx, const float *x, size_t n);
cl_mem th_zeros(kd_ctx *ctx, size_t n);
/* n floats (at least 1) of NaN: what a kernel must overwrite shows. */
cl_mem th_nan_buffer(kd_ctx *ctx, size_t n);
/* A malloc'ed float64 copy. */
double *th_to_double(const float *x, size_t n);
void th_download(kd_ctx *ctx, cl_mem m, float *x, size_t n);

/* Normalised mean squared error sum((a-b)^2)/sum(b^2) (b the reference). */
double th_nmse(const float *got, const double *ref, size_t n);
double th_nmse_f(const float *got, const float *ref, size_t n);
/* Largest |got-ref| / (atol + rtol*|ref|); <= 1 means within tolerance. */
double th_max_rel(const float *got, const double *ref, size_t n, double atol, double rtol);

/* Driving the kdcl binary (env KDCL_BIN, set by ctest). */
const char *th_kdcl_bin(void);
/* Runs "PREFIX kdcl ARGS" in dir with stdout and stderr to dir/log; returns
 * the exit status (-1 when killed by a signal). prefix may be "". */
int th_kdcl(const char *dir, const char *prefix, const char *log, const char *args);
/* dir/name whole, malloc'ed and NUL-terminated ("" if it cannot be read). */
char *th_slurp(const char *dir, const char *name);
/* dir/name on stderr: what a failed command said. */
void th_show(const char *dir, const char *name);

/* A fresh empty directory under the build tree's tmp (for cache and file tests). */
void th_tempdir(char *out, size_t cap, const char *tag);

#endif
