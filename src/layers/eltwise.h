/* Element-wise layers: ReLU, residual add, dropout, and the small vector
 * helpers the model and optimizers share. n counts floats. In-place
 * (out == in) is allowed for every forward here. */
#ifndef KD_LAYERS_ELTWISE_H
#define KD_LAYERS_ELTWISE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/ctx.h"

kd_status kd_relu_forward(kd_ctx *ctx, size_t n, cl_mem out, cl_mem in);
/* dx = dout * (out > 0); dx may alias dout. */
kd_status kd_relu_backward(kd_ctx *ctx, size_t n, cl_mem dx, cl_mem dout, cl_mem out);

/* out = a + b (residual join), or max(a + b, 0) with relu (the ReLU after
 * it, fused; its backward stays kd_relu_backward). The join's backward
 * passes dout to both branches unchanged. */
kd_status kd_add_forward(kd_ctx *ctx, size_t n, cl_mem out, cl_mem a, cl_mem b, bool relu);
/* y += alpha * x (joins gradients where a branch splits). */
kd_status kd_axpy(kd_ctx *ctx, size_t n, cl_mem y, cl_mem x, float alpha);

/* Inverted dropout with drop probability p: training keeps x/(1-p) where a
 * counter-based hash of (seed, counter, index) is >= p, so backward needs no
 * stored mask and runs are reproducible from (seed, counter). */
kd_status kd_dropout_forward(kd_ctx *ctx, size_t n, cl_mem out, cl_mem in, float p, uint64_t seed,
                             uint64_t counter);
kd_status kd_dropout_backward(kd_ctx *ctx, size_t n, cl_mem dx, cl_mem dout, float p, uint64_t seed,
                              uint64_t counter);

#endif
