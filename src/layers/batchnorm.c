#include "src/layers/batchnorm.h"
#include "runtime/kernel.h"

#include <limits.h>
#include <stdio.h>

static kd_status bn_check(kd_ctx *ctx, const kd_bn_desc *d) {
    if (d->n < 1 || d->c < 1 || d->hw < 1)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "batchnorm: n=%d c=%d h*w=%d must all be >= 1", d->n, d->c,
                       d->hw);
    if (!(d->eps > 0.0f))
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "batchnorm: eps %g must be > 0 (PyTorch uses 1e-5)",
                       (double)d->eps);
    if (!(d->momentum >= 0.0f && d->momentum <= 1.0f))
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "batchnorm: momentum %g must be in [0, 1] (PyTorch uses 0.1)",
                       (double)d->momentum);
    long long total = (long long)d->n * d->c * d->hw;
    if (total > INT_MAX)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE,
                       "batchnorm: %lld elements exceed the kernels' int indexing (max %d); use a smaller batch", total,
                       INT_MAX);
    return KD_OK;
}

/* On a CPU one work-item per channel (the *_small kernels, no barriers)
 * beats a work-group per channel: POCL's barriers and group scheduling cost
 * more than the arithmetic. Measured on POCL, 2 cores, n=32, forward+backward
 * per call: c=16 hw=784 1.32+1.32 -> 0.51+0.47 ms, c=128 hw=49 0.80+0.80 ->
 * 0.25+0.23 ms, c=512 hw=16 1.93+2.41 -> 0.31+0.34 ms. GPUs need the
 * parallel reduction.
 *
 * Otherwise one work-group per channel: a power-of-two size (the tree reduction
 * halves it) within the kernel's limit, no larger than the channel needs. */
static kd_status bn_launch_per_channel(kd_ctx *ctx, const char *name, const kd_bn_desc *d, int nargs,
                                       const kd_arg *args) {
    if (kd_ctx_serial_reductions(ctx)) {
        char small[64];
        snprintf(small, sizeof small, "%s_small", name);
        return kd_run1d(ctx, "batchnorm", small, (size_t)d->c, nargs, args);
    }
    kd_kernel *k;
    KD_TRY(kd_kernel_get(ctx, "batchnorm", name, &k));
    size_t cap = kd_reduction_cap(ctx, k, sizeof(float));
    size_t per_channel = (size_t)d->n * (size_t)d->hw, l = 1;
    while (l * 2 <= cap && l * 16 < per_channel) l *= 2;
    size_t global = (size_t)d->c * l;
    /* The __local scratch is always the last argument. */
    kd_arg a[16];
    KD_ASSERT(nargs < 16);
    for (int i = 0; i < nargs; i++) a[i] = args[i];
    a[nargs] = KD_LOCAL(l * sizeof(float));
    return kd_launch(ctx, k, 1, &global, &l, nargs + 1, a);
}

kd_status kd_bn_forward_train(kd_ctx *ctx, const kd_bn_desc *d, cl_mem out, cl_mem mean, cl_mem invstd,
                              cl_mem running_mean, cl_mem running_var, cl_mem in, cl_mem gamma, cl_mem beta) {
    KD_TRY(bn_check(ctx, d));
    int relu = d->relu;
    return bn_launch_per_channel(ctx, "bn_fwd_train", d,
                                 KD_ARGS(KD_ARG(out), KD_ARG(mean), KD_ARG(invstd), KD_ARG(running_mean),
                                         KD_ARG(running_var), KD_ARG(in), KD_ARG(gamma), KD_ARG(beta), KD_ARG(d->n),
                                         KD_ARG(d->c), KD_ARG(d->hw), KD_ARG(d->eps), KD_ARG(d->momentum),
                                         KD_ARG(relu)));
}

kd_status kd_bn_forward_infer(kd_ctx *ctx, const kd_bn_desc *d, cl_mem out, cl_mem in, cl_mem gamma,
                              cl_mem beta, cl_mem running_mean, cl_mem running_var) {
    KD_TRY(bn_check(ctx, d));
    int planes = d->n * d->c, relu = d->relu;
    /* Columns: up to 64 (one work-group row on a CPU, whole warps on a GPU); each strides over its plane. */
    size_t cols = d->hw < 64 ? (size_t)d->hw : 64;
    return kd_run2d(ctx, "batchnorm", "bn_fwd_infer", cols, (size_t)planes,
                    KD_ARGS(KD_ARG(out), KD_ARG(in), KD_ARG(gamma), KD_ARG(beta), KD_ARG(running_mean),
                            KD_ARG(running_var), KD_ARG(planes), KD_ARG(d->c), KD_ARG(d->hw), KD_ARG(d->eps),
                            KD_ARG(relu)));
}

kd_status kd_bn_backward(kd_ctx *ctx, const kd_bn_desc *d, cl_mem dx, cl_mem dgamma, cl_mem dbeta,
                         cl_mem dout, cl_mem in, cl_mem mean, cl_mem invstd, cl_mem gamma, cl_mem y) {
    KD_TRY(bn_check(ctx, d));
    KD_ASSERT(!d->relu || y);
    int relu = d->relu;
    cl_mem mask = y ? y : dout; /* a valid buffer the kernel never reads without relu */
    return bn_launch_per_channel(ctx, "bn_bwd", d,
                                 KD_ARGS(KD_ARG(dx), KD_ARG(dgamma), KD_ARG(dbeta), KD_ARG(dout), KD_ARG(in),
                                         KD_ARG(mean), KD_ARG(invstd), KD_ARG(gamma), KD_ARG(mask), KD_ARG(d->n),
                                         KD_ARG(d->c), KD_ARG(d->hw), KD_ARG(relu)));
}
