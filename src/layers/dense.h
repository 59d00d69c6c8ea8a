/* Fully connected layer: out[n][out] = in[n][in] * W^T + b, W [out][in]
 * (PyTorch nn.Linear layout). One CLBlast GEMM each way. */
#ifndef KD_LAYERS_DENSE_H
#define KD_LAYERS_DENSE_H

#include "runtime/ctx.h"
#include "src/layers/conv.h"

typedef struct kd_dense_desc {
    int n, in, out;
} kd_dense_desc;

/* bias NULL: no bias. */
/* The GEMMs of forward and backward (see kd_conv_gemm_shapes). */
int kd_dense_gemm_shapes(const kd_dense_desc *d, bool need_dx, kd_gemm_shape out[3]);

kd_status kd_dense_forward(kd_ctx *ctx, const kd_dense_desc *d, cl_mem out, cl_mem in, cl_mem weight,
                           cl_mem bias);
/* dx (NULL allowed) overwritten; dweight, dbias accumulated (+=), each NULL to skip. */
kd_status kd_dense_backward(kd_ctx *ctx, const kd_dense_desc *d, cl_mem dx, cl_mem dweight, cl_mem dbias,
                            cl_mem dout, cl_mem in, cl_mem weight);

#endif
