/* BatchNorm2d, NCHW, per-channel gamma/beta, PyTorch semantics: training
 * normalises with the batch's biased variance and updates the running
 * statistics with momentum (running = (1-m)*running + m*batch, running_var
 * from the unbiased variance); inference uses the running statistics. */
#ifndef KD_LAYERS_BATCHNORM_H
#define KD_LAYERS_BATCHNORM_H

#include <stdbool.h>

#include "runtime/ctx.h"

#define KD_BN_EPS 1e-5f     /* PyTorch's BatchNorm2d defaults: every kdcl batch norm uses them */
#define KD_BN_MOMENTUM 0.1f

typedef struct kd_bn_desc {
    int n, c, hw;
    float eps;      /* 1e-5 as PyTorch */
    float momentum; /* 0.1 as PyTorch (Keras' 0.99 in the other convention) */
    bool relu;      /* a ReLU follows, fused: the forwards write max(y, 0); backward, see kd_bn_backward */
} kd_bn_desc;

/* Saves mean[c] and invstd[c] for backward. */
kd_status kd_bn_forward_train(kd_ctx *ctx, const kd_bn_desc *d, cl_mem out, cl_mem mean, cl_mem invstd,
                              cl_mem running_mean, cl_mem running_var, cl_mem in, cl_mem gamma, cl_mem beta);
kd_status kd_bn_forward_infer(kd_ctx *ctx, const kd_bn_desc *d, cl_mem out, cl_mem in, cl_mem gamma,
                              cl_mem beta, cl_mem running_mean, cl_mem running_var);
/* dx overwritten; dgamma, dbeta accumulated (+=). With d->relu, dout is the
 * gradient of the fused ReLU's output and y that output (the forward's
 * out); without, y is unused (may be NULL). */
kd_status kd_bn_backward(kd_ctx *ctx, const kd_bn_desc *d, cl_mem dx, cl_mem dgamma, cl_mem dbeta,
                         cl_mem dout, cl_mem in, cl_mem mean, cl_mem invstd, cl_mem gamma, cl_mem y);

#endif
