/* Batch norm folded into the convolution (or dense layer) before it, for
 * inference: y = gamma * (W x + b - mean) / sqrt(var + eps) + beta is the
 * layer W' x + b' with W'[o] = s[o] W[o], b'[o] = s[o] (b[o] - mean[o]) + beta[o],
 * s = gamma / sqrt(var + eps). Host only; computed in double. */
#ifndef KD_MODEL_FOLD_H
#define KD_MODEL_FOLD_H

#include <stddef.h>

typedef struct kd_bn_params {
    const float *gamma, *beta, *mean, *var; /* [cout] */
    float eps;
} kd_bn_params;

/* w: [cout][per_out] in place; bias: [cout] (NULL: the layer had none),
 * bias_out: [cout], may equal bias. */
void kd_fold_bn(float *w, const float *bias, float *bias_out, int cout, size_t per_out, const kd_bn_params *bn);

#endif
