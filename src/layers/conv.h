/* 2-D convolution, NCHW, weights [cout][cin][kh][kw] (PyTorch layout).
 *
 * Forward and backward are im2col + one CLBlast GEMM each, with the batch
 * folded into the GEMM's N dimension (col is [cin*kh*kw][n*oh*ow]), so
 * there is no per-image loop and even 4x4 feature maps make a large GEMM:
 *   forward:  tmp[cout][n*P] = W[cout][K] * col[K][n*P]; out = NCHW(tmp) + bias
 *   backward: dY' = CNHW(dout); dW += dY' * col^T; db += rowsum(dY');
 *             dcol = W^T * dY'; dx = col2im(dcol)
 * A 1x1 stride-1 unpadded convolution skips im2col/col2im (the GEMM reads
 * the activations directly). Where CLBlast serves a shape poorly, kdcl's
 * own kernels (cl/conv.cl: conv_dot, conv_dw_rows, conv_dw_dot) compute the
 * product instead, by measured rules in conv.c: a narrow first layer on
 * every device; on CPUs also 1x1 layers, dW of every k x k layer, the
 * forward of layers whose weights fit in L1 (cout x K <= 4,608) and the column
 * gradient of layers with at most 64. */
#ifndef KD_LAYERS_CONV_H
#define KD_LAYERS_CONV_H

#include <stdbool.h>

#include "runtime/ctx.h"

typedef struct kd_conv_desc {
    int n, cin, h, w;               /* input */
    int cout, kh, kw, stride, pad;  /* square stride and padding */
    int oh, ow;                     /* output, set by kd_conv_desc_init */
    bool bias;
} kd_conv_desc;

/* Computes oh, ow; KD_ERR_USAGE if the kernel does not fit the padded input. */
kd_status kd_conv_desc_init(kd_conv_desc *d, kd_err *err);
/* Floats of scratch that forward/backward need (shared across layers by the
 * caller; contents need not survive between calls). Always >= 1. */
size_t kd_conv_workspace_floats(const kd_conv_desc *d);

/* One GEMM a layer launches, as kd_sgemm / kd_sgemm_batched see it: what
 * `kdcl tune` and `kdcl bench` must time to measure what training runs. */
typedef struct kd_gemm_shape {
    const char *what; /* "fwd", "dW", "dx" */
    bool ta, tb;
    int m, n, k;
    float beta;       /* 1 where the GEMM accumulates (dW) */
    int batch;        /* independent GEMMs in one batched call (1: a plain call) */
} kd_gemm_shape;

/* The forward, dW and (with need_dx) dx GEMMs of this convolution on ctx's
 * device, chosen by the same rules as kd_conv_forward/backward (which take
 * some products off CLBlast on CPUs); returns how many (<= 3). */
int kd_conv_gemm_shapes(const kd_ctx *ctx, const kd_conv_desc *d, bool need_dx, kd_gemm_shape out[3]);

kd_status kd_conv_forward(kd_ctx *ctx, const kd_conv_desc *d, cl_mem out, cl_mem in, cl_mem weight,
                          cl_mem bias, cl_mem ws);
/* Inference batch norm over the convolution's output channels (its
 * running statistics, as kd_bn_forward_infer) and, with relu, the ReLU
 * after it: applied as the output is stored, where the convolution's own
 * kernel computes it (kd_conv_fuses_norm), so the tensor is written once
 * (the batch-norm fold of an exported model, without changing weights). */
typedef struct kd_conv_norm {
    cl_mem gamma, beta, mean, var;
    float eps;
    bool relu;
} kd_conv_norm;
bool kd_conv_fuses_norm(const kd_ctx *ctx, const kd_conv_desc *d);
kd_status kd_conv_forward_norm(kd_ctx *ctx, const kd_conv_desc *d, cl_mem out, cl_mem in, cl_mem weight,
                               cl_mem bias, cl_mem ws, const kd_conv_norm *norm);
/* dx (NULL: not needed, e.g. the first layer) is overwritten; dweight and
 * dbias are accumulated (+=), cleared once per step by the model's zero_grad
 * (either may be NULL to skip it, e.g. a frozen layer). */
kd_status kd_conv_backward(kd_ctx *ctx, const kd_conv_desc *d, cl_mem dx, cl_mem dweight, cl_mem dbias,
                           cl_mem dout, cl_mem in, cl_mem weight, cl_mem ws);

/* Bias helpers on NCHW data, shared with the dense layer ([n][out] is NCHW
 * with plane 1): x[b][ch][p] += bias[ch], and dbias[ch] += sum over b, p of
 * dout[b][ch][p] (a deterministic reduction, no atomics). */
kd_status kd_conv_bias_add(kd_ctx *ctx, cl_mem x, cl_mem bias, int n, int c, int plane);
kd_status kd_conv_bias_grad(kd_ctx *ctx, cl_mem dbias, cl_mem dout, int n, int c, int plane);

#endif
