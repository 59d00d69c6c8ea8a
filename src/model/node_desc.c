/* A node as the layer call it makes: the descriptor of its convolution,
 * pooling, batch norm or dense layer at a batch size. */
#include "src/model/model_private.h"

kd_conv_desc kd_model_conv_desc(const kd_model *m, const kd_node *n, int batch) {
    kd_conv_desc d = {0};
    d.n = batch;
    kd_model_in_shape(m, n->in, &d.cin, &d.h, &d.w);
    d.cout = n->conv.cout;
    d.kh = d.kw = n->conv.k;
    d.stride = n->conv.stride;
    d.pad = n->conv.pad;
    d.bias = n->conv.bias;
    d.oh = n->h;
    d.ow = n->w;
    return d;
}

kd_pool_desc kd_model_pool_desc(const kd_model *m, const kd_node *n, int batch) {
    kd_pool_desc d = {0};
    d.n = batch;
    kd_model_in_shape(m, n->in, &d.c, &d.h, &d.w);
    d.k = n->pool.k;
    d.stride = n->pool.stride;
    d.pad = n->pool.pad;
    d.oh = n->h;
    d.ow = n->w;
    return d;
}

kd_bn_desc kd_model_bn_desc(const kd_model *m, int id, int batch) {
    const kd_node *n = &m->nodes[id];
    kd_bn_desc d = {batch, n->c, n->h * n->w, KD_BN_EPS, KD_BN_MOMENTUM, m->mem[id].relu_after >= 0};
    return d;
}

kd_dense_desc kd_model_dense_desc(const kd_model *m, const kd_node *n, int batch) {
    kd_dense_desc d = {batch, (int)m->params[n->param[0]].shape[1], n->dense.units};
    return d;
}
