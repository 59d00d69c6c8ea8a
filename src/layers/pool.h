/* Pooling, NCHW. Max pooling keeps the argmax (flat index into the input
 * plane) for backward; its backward is a gather (each input sums the
 * outputs whose argmax it is), deterministic and free of atomics even for
 * overlapping windows. Padding never wins a max (PyTorch semantics). */
#ifndef KD_LAYERS_POOL_H
#define KD_LAYERS_POOL_H

#include "runtime/ctx.h"

typedef struct kd_pool_desc {
    int n, c, h, w;
    int k, stride, pad;
    int oh, ow; /* set by kd_pool_desc_init (floor mode, as PyTorch/Keras 'valid') */
} kd_pool_desc;

kd_status kd_pool_desc_init(kd_pool_desc *d, kd_err *err);

/* argmax: int32 buffer with as many elements as out. */
kd_status kd_maxpool_forward(kd_ctx *ctx, const kd_pool_desc *d, cl_mem out, cl_mem argmax, cl_mem in);
kd_status kd_maxpool_backward(kd_ctx *ctx, const kd_pool_desc *d, cl_mem dx, cl_mem dout, cl_mem argmax);

/* Average pooling; padded positions count in the divisor (PyTorch's
 * count_include_pad=True default). */
kd_status kd_avgpool_forward(kd_ctx *ctx, const kd_pool_desc *d, cl_mem out, cl_mem in);
kd_status kd_avgpool_backward(kd_ctx *ctx, const kd_pool_desc *d, cl_mem dx, cl_mem dout);

/* Global average pooling: out[n][c] = mean over h*w. */
kd_status kd_gap_forward(kd_ctx *ctx, int n, int c, int hw, cl_mem out, cl_mem in);
kd_status kd_gap_backward(kd_ctx *ctx, int n, int c, int hw, cl_mem dx, cl_mem dout);

#endif
