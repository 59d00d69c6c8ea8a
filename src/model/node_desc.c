/* A node as the layer call it makes: the descriptor of its convolution,
 * pooling or batch norm at a batch size. */
#include "src/model/model.h"

#include "src/model/model_private.h"

kd_conv_desc kd_model_conv_desc(const kd_model *m, const kd_node *n, int batch) {
    kd_conv_desc d = {0};
    d.n = batch;
    kd_model_in_shape(m, n->in, &d.cin, &d.h, &d.w);
    d.cout = n->cout;
    d.kh = d.kw = n->k;
    d.stride = n->stride;
    d.pad = n->pad;
    d.bias = n->bias;
    d.oh = n->h;
    d.ow = n->w;
    return d;
}

kd_pool_desc kd_model_pool_desc(const kd_model *m, const kd_node *n, int batch) {
    kd_pool_desc d = {0};
    d.n = batch;
    kd_model_in_shape(m, n->in, &d.c, &d.h, &d.w);
    d.k = n->k;
    d.stride = n->stride;
    d.pad = n->pad;
    d.oh = n->h;
    d.ow = n->w;
    return d;
}

kd_bn_desc kd_model_bn_desc(const kd_node *n, int batch) {
    kd_bn_desc d = {batch, n->c, n->h * n->w, KD_BN_EPS, KD_BN_MOMENTUM, n->relu_after >= 0};
    return d;
}
