#include "src/layers/dense.h"

#include <limits.h>
#include <stdint.h>

#include "runtime/blas.h"
#include "src/layers/conv.h"

static kd_status check_desc(kd_ctx *ctx, const kd_dense_desc *d) {
    if (d->n < 1 || d->in < 1 || d->out < 1)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "dense: sizes must be positive (n=%d in=%d out=%d)", d->n, d->in,
                       d->out);
    /* The bias kernels index [n][out] with int. */
    if ((int64_t)d->n * d->out > INT_MAX)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "dense: n=%d x out=%d outputs exceed %d; use a smaller batch",
                       d->n, d->out, INT_MAX);
    return KD_OK;
}

kd_status kd_dense_forward(kd_ctx *ctx, const kd_dense_desc *d, cl_mem out, cl_mem in, cl_mem weight,
                           cl_mem bias) {
    KD_TRY(check_desc(ctx, d));
    size_t n = (size_t)d->n, ni = (size_t)d->in, no = (size_t)d->out;
    kd_gemm_args g = {.tb = true, .m = n, .n = no, .k = ni, .alpha = 1, .beta = 0,
                      .a = in, .lda = ni, .b = weight, .ldb = ni, .c = out, .ldc = no};
    KD_TRY(kd_sgemm(ctx, &g));
    if (bias) KD_TRY(kd_conv_bias_add(ctx, out, bias, d->n, d->out, 1));
    return KD_OK;
}

kd_status kd_dense_backward(kd_ctx *ctx, const kd_dense_desc *d, cl_mem dx, cl_mem dweight, cl_mem dbias,
                            cl_mem dout, cl_mem in, cl_mem weight) {
    KD_TRY(check_desc(ctx, d));
    size_t n = (size_t)d->n, ni = (size_t)d->in, no = (size_t)d->out;
    if (dweight) {
        kd_gemm_args g = {.ta = true, .m = no, .n = ni, .k = n, .alpha = 1, .beta = 1,
                          .a = dout, .lda = no, .b = in, .ldb = ni, .c = dweight, .ldc = ni};
        KD_TRY(kd_sgemm(ctx, &g));
    }
    if (dbias) KD_TRY(kd_conv_bias_grad(ctx, dbias, dout, d->n, d->out, 1));
    if (dx) {
        kd_gemm_args g = {.m = n, .n = ni, .k = no, .alpha = 1, .beta = 0,
                          .a = dout, .lda = no, .b = weight, .ldb = ni, .c = dx, .ldc = ni};
        KD_TRY(kd_sgemm(ctx, &g));
    }
    return KD_OK;
}

int kd_dense_gemm_shapes(const kd_dense_desc *d, bool need_dx, kd_gemm_shape out[3]) {
    int n = 0;
    out[n++] = (kd_gemm_shape){"fwd", false, true, d->n, d->out, d->in, 0.0f, 1};
    out[n++] = (kd_gemm_shape){"dW", true, false, d->out, d->in, d->n, 1.0f, 1};
    if (need_dx) out[n++] = (kd_gemm_shape){"dx", false, false, d->n, d->in, d->out, 0.0f, 1};
    return n;
}
