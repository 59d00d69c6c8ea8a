#include "src/layers/eltwise.h"

#include <limits.h>
#include <math.h>

#include "runtime/buffer.h"
#include "runtime/kernel.h"

/* Kernels index with int: refuse counts that do not fit. */
static kd_status eltwise_count(kd_ctx *ctx, const char *what, size_t n, int *out) {
    if (n > (size_t)INT_MAX)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE,
                       "%s: %zu elements exceed the kernels' int indexing (max %d); use a smaller batch", what, n,
                       INT_MAX);
    *out = (int)n;
    return KD_OK;
}

kd_status kd_relu_forward(kd_ctx *ctx, size_t n, cl_mem out, cl_mem in) {
    int cnt;
    KD_TRY(eltwise_count(ctx, "relu", n, &cnt));
    return kd_run1d(ctx, "eltwise", "eltwise_relu_fwd", n, KD_ARGS(KD_ARG(out), KD_ARG(in), KD_ARG(cnt)));
}

kd_status kd_relu_backward(kd_ctx *ctx, size_t n, cl_mem dx, cl_mem dout, cl_mem out) {
    int cnt;
    KD_TRY(eltwise_count(ctx, "relu backward", n, &cnt));
    return kd_run1d(ctx, "eltwise", "eltwise_relu_bwd", n,
                    KD_ARGS(KD_ARG(dx), KD_ARG(dout), KD_ARG(out), KD_ARG(cnt)));
}

kd_status kd_add_forward(kd_ctx *ctx, size_t n, cl_mem out, cl_mem a, cl_mem b, bool relu) {
    int cnt, r = relu;
    KD_TRY(eltwise_count(ctx, "residual add", n, &cnt));
    return kd_run1d(ctx, "eltwise", "eltwise_add_fwd", n,
                    KD_ARGS(KD_ARG(out), KD_ARG(a), KD_ARG(b), KD_ARG(cnt), KD_ARG(r)));
}

kd_status kd_axpy(kd_ctx *ctx, size_t n, cl_mem y, cl_mem x, float alpha) {
    int cnt;
    KD_TRY(eltwise_count(ctx, "axpy", n, &cnt));
    return kd_run1d(ctx, "util", "axpy_f32", n, KD_ARGS(KD_ARG(y), KD_ARG(x), KD_ARG(cnt), KD_ARG(alpha)));
}

/* Forward and backward apply the same mask and scale, so they share this. */
static kd_status dropout_apply(kd_ctx *ctx, const char *what, size_t n, cl_mem out, cl_mem in, float p,
                               uint64_t seed, uint64_t counter) {
    int cnt;
    KD_TRY(eltwise_count(ctx, what, n, &cnt));
    if (!(p >= 0.0f && p <= 1.0f))
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "%s: drop probability %g must be in [0, 1]", what, (double)p);
    size_t bytes = n * sizeof(float);
    if (p == 0.0f) return out == in ? KD_OK : kd_copy(ctx, out, 0, in, 0, bytes);
    if (p == 1.0f) return kd_fill(ctx, out, 0, bytes, 0.0f); /* PyTorch: everything dropped */
    /* A float p < 1 is at most 1 - 2^-24, so p * 2^32 fits a uint exactly. */
    cl_uint threshold = (cl_uint)ldexp((double)p, 32);
    float scale = 1.0f / (1.0f - p);
    cl_uint seed_lo = (cl_uint)seed, seed_hi = (cl_uint)(seed >> 32);
    cl_uint ctr_lo = (cl_uint)counter, ctr_hi = (cl_uint)(counter >> 32);
    return kd_run1d(ctx, "eltwise", "eltwise_dropout", n,
                    KD_ARGS(KD_ARG(out), KD_ARG(in), KD_ARG(cnt), KD_ARG(threshold), KD_ARG(scale), KD_ARG(seed_lo),
                            KD_ARG(seed_hi), KD_ARG(ctr_lo), KD_ARG(ctr_hi)));
}

kd_status kd_dropout_forward(kd_ctx *ctx, size_t n, cl_mem out, cl_mem in, float p, uint64_t seed,
                             uint64_t counter) {
    return dropout_apply(ctx, "dropout", n, out, in, p, seed, counter);
}

kd_status kd_dropout_backward(kd_ctx *ctx, size_t n, cl_mem dx, cl_mem dout, float p, uint64_t seed,
                              uint64_t counter) {
    return dropout_apply(ctx, "dropout backward", n, dx, dout, p, seed, counter);
}
