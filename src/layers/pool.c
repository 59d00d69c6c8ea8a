#include "src/layers/pool.h"
#include "runtime/kernel.h"

#include <limits.h>
#include <stdio.h>

/* Kernels index with int: refuse shapes whose element counts do not fit. */
static kd_status pool_check_size(kd_err *err, const char *what, long long count) {
    if (count > INT_MAX)
        return kd_fail(err, KD_ERR_USAGE,
                       "%s: %lld elements exceed the kernels' int indexing (max %d); use a smaller batch", what,
                       count, INT_MAX);
    return KD_OK;
}

kd_status kd_pool_desc_init(kd_pool_desc *d, kd_err *err) {
    if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1)
        return kd_fail(err, KD_ERR_USAGE, "pool: input shape %dx%dx%dx%d must be positive in every dimension", d->n,
                       d->c, d->h, d->w);
    if (d->k < 1 || d->stride < 1 || d->pad < 0)
        return kd_fail(err, KD_ERR_USAGE,
                       "pool: kernel %d, stride %d, padding %d: kernel and stride must be >= 1 and padding >= 0", d->k,
                       d->stride, d->pad);
    /* PyTorch's rule: a window must always contain a real input. */
    if (d->pad > d->k / 2)
        return kd_fail(err, KD_ERR_USAGE,
                       "pool: padding %d is more than half the kernel size %d; use padding <= %d", d->pad, d->k,
                       d->k / 2);
    int ph = d->h + 2 * d->pad, pw = d->w + 2 * d->pad;
    if (ph < d->k || pw < d->k) {
        int need = d->k - 2 * d->pad;
        return kd_fail(err, KD_ERR_USAGE,
                       "pool: %dx%d window does not fit the %dx%d input with padding %d; "
                       "the input must be at least %dx%d",
                       d->k, d->k, d->h, d->w, d->pad, need, need);
    }
    d->oh = (ph - d->k) / d->stride + 1;
    d->ow = (pw - d->k) / d->stride + 1;
    long long planes = (long long)d->n * d->c;
    KD_TRY(pool_check_size(err, "pool input", planes * d->h * d->w));
    KD_TRY(pool_check_size(err, "pool output", planes * d->oh * d->ow));
    return KD_OK;
}

#define POOL_ARGS(d, planes)                                                                      \
    KD_ARG(planes), KD_ARG((d)->h), KD_ARG((d)->w), KD_ARG((d)->k), KD_ARG((d)->stride),           \
        KD_ARG((d)->pad), KD_ARG((d)->oh), KD_ARG((d)->ow)

/* CPUs (kd_ctx_serial_reductions(ctx)): the *_serial kernels, one work-item per
 * plane. Measured on POCL, 2 cores, batch 32 (tools/kernel_timing.c,
 * medians): max backward 16x34x34 k3 10.7 -> 0.05 ms, 32x32x32 k3s2p1
 * 18.7 -> 0.15 ms; the 3-D gather below takes 7 and 12.5 ms there.
 *
 * GPUs: the 3-D kernels over (x, y, plane) of the output (forward) or the
 * input (backward); kd_launch fits the group to the plane's width. */
static kd_status pool_launch(kd_ctx *ctx, const char *name, int planes, int w, int h, int nargs,
                             const kd_arg *args) {
    if (kd_ctx_serial_reductions(ctx)) {
        char serial[64];
        snprintf(serial, sizeof serial, "%s_serial", name);
        return kd_run1d(ctx, "pool", serial, (size_t)planes, nargs, args);
    }
    return kd_run3d(ctx, "pool", name, (size_t)w, (size_t)h, (size_t)planes, nargs, args);
}

kd_status kd_maxpool_forward(kd_ctx *ctx, const kd_pool_desc *d, cl_mem out, cl_mem argmax, cl_mem in) {
    KD_ASSERT(d->oh > 0 && d->ow > 0);
    int planes = d->n * d->c;
    return pool_launch(ctx, "pool_max_fwd", planes, d->ow, d->oh,
                       KD_ARGS(KD_ARG(out), KD_ARG(argmax), KD_ARG(in), POOL_ARGS(d, planes)));
}

kd_status kd_maxpool_backward(kd_ctx *ctx, const kd_pool_desc *d, cl_mem dx, cl_mem dout, cl_mem argmax) {
    KD_ASSERT(d->oh > 0 && d->ow > 0);
    int planes = d->n * d->c;
    return pool_launch(ctx, "pool_max_bwd", planes, d->w, d->h,
                       KD_ARGS(KD_ARG(dx), KD_ARG(dout), KD_ARG(argmax), POOL_ARGS(d, planes)));
}

kd_status kd_avgpool_forward(kd_ctx *ctx, const kd_pool_desc *d, cl_mem out, cl_mem in) {
    KD_ASSERT(d->oh > 0 && d->ow > 0);
    int planes = d->n * d->c;
    return pool_launch(ctx, "pool_avg_fwd", planes, d->ow, d->oh,
                       KD_ARGS(KD_ARG(out), KD_ARG(in), POOL_ARGS(d, planes)));
}

kd_status kd_avgpool_backward(kd_ctx *ctx, const kd_pool_desc *d, cl_mem dx, cl_mem dout) {
    KD_ASSERT(d->oh > 0 && d->ow > 0);
    int planes = d->n * d->c;
    return pool_launch(ctx, "pool_avg_bwd", planes, d->w, d->h,
                       KD_ARGS(KD_ARG(dx), KD_ARG(dout), POOL_ARGS(d, planes)));
}

static kd_status gap_check(kd_ctx *ctx, int n, int c, int hw) {
    if (n < 1 || c < 1 || hw < 1)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "global average pool: n=%d c=%d h*w=%d must all be >= 1", n, c,
                       hw);
    return pool_check_size(kd_ctx_err(ctx), "global average pool input", (long long)n * c * hw);
}

kd_status kd_gap_forward(kd_ctx *ctx, int n, int c, int hw, cl_mem out, cl_mem in) {
    KD_TRY(gap_check(ctx, n, c, hw));
    int planes = n * c;
    return kd_run1d(ctx, "pool", "pool_gap_fwd", (size_t)planes,
                    KD_ARGS(KD_ARG(out), KD_ARG(in), KD_ARG(planes), KD_ARG(hw)));
}

kd_status kd_gap_backward(kd_ctx *ctx, int n, int c, int hw, cl_mem dx, cl_mem dout) {
    KD_TRY(gap_check(ctx, n, c, hw));
    int planes = n * c;
    return kd_run2d(ctx, "pool", "pool_gap_bwd", (size_t)hw, (size_t)planes,
                    KD_ARGS(KD_ARG(dx), KD_ARG(dout), KD_ARG(planes), KD_ARG(hw)));
}
