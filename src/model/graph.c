#include "src/model/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kd_g_shape(const kd_graph *g, int id, int *c, int *h, int *w) { kd_model_in_shape(g->m, id, c, h, w); }

static kd_node *push_node(kd_graph *g, kd_op op, int in, const char *name) {
    kd_model *m = g->m;
    if (m->nnodes == m->node_cap) {
        int cap = m->node_cap ? m->node_cap * 2 : 64;
        kd_node *p = realloc(m->nodes, (size_t)cap * sizeof *p);
        if (!p) {
            g->oom = true;
            return NULL;
        }
        m->nodes = p;
        m->node_cap = cap;
    }
    kd_node *n = &m->nodes[m->nnodes++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->in = in;
    n->in2 = -1;
    n->head = g->head;
    for (int i = 0; i < 4; i++) n->param[i] = -1;
    snprintf(n->name, sizeof n->name, "%s", name);
    kd_g_shape(g, in, &n->c, &n->h, &n->w);
    if (in >= 0) m->nodes[in].consumers++;
    return n;
}

static int add_param(kd_graph *g, const char *module, const char *leaf, int ndim, const int64_t *shape,
                     bool trainable, int init_kind, float init_scale) {
    kd_model *m = g->m;
    if (m->nparams == m->param_cap) {
        int cap = m->param_cap ? m->param_cap * 2 : 64;
        kd_param *p = realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) {
            g->oom = true;
            return -1;
        }
        m->params = p;
        m->param_cap = cap;
    }
    kd_param *p = &m->params[m->nparams];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", module, leaf);
    p->ndim = ndim;
    p->count = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->count *= (size_t)shape[i];
    }
    p->packed = m->nparams ? m->params[m->nparams - 1].packed + m->params[m->nparams - 1].count : 0;
    p->trainable = trainable;
    p->init_kind = init_kind;
    p->init_scale = init_scale;
    return m->nparams++;
}

/* Output size of a window op; <= 0 means the input is too small. */
static int out_size(int in, int k, int stride, int pad) {
    int span = in + 2 * pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

int kd_g_conv(kd_graph *g, int in, const char *name, int cout, int k, int stride, int pad, bool bias) {
    kd_node *n = push_node(g, KD_OP_CONV, in, name);
    if (!n) return -1;
    int cin = n->c;
    n->conv = (kd_conv_attr){cout, k, stride, pad, bias};
    n->c = cout;
    n->h = out_size(n->h, k, stride, pad);
    n->w = out_size(n->w, k, stride, pad);
    if (n->h <= 0 || n->w <= 0) g->too_small = true;
    int id = (int)(n - g->m->nodes);
    int64_t ws[4] = {cout, cin, k, k};
    /* He normal, fan_out mode, as torchvision initialises ResNets. */
    float fan_out = (float)cout * (float)k * (float)k;
    int wp = add_param(g, name, "weight", 4, ws, true, 1, 2.0f / fan_out);
    int bp = -1;
    if (bias) {
        int64_t bs[1] = {cout};
        bp = add_param(g, name, "bias", 1, bs, true, 0, 0.0f);
    }
    g->m->nodes[id].param[0] = wp;
    g->m->nodes[id].param[1] = bp;
    return id;
}

int kd_g_bn(kd_graph *g, int in, const char *name) {
    kd_node *n = push_node(g, KD_OP_BN, in, name);
    if (!n) return -1;
    int id = (int)(n - g->m->nodes);
    int64_t s[1] = {n->c};
    int a = add_param(g, name, "weight", 1, s, true, 3, 1.0f);
    int b = add_param(g, name, "bias", 1, s, true, 0, 0.0f);
    int c = add_param(g, name, "running_mean", 1, s, false, 0, 0.0f);
    int d = add_param(g, name, "running_var", 1, s, false, 3, 1.0f);
    kd_node *nn = &g->m->nodes[id];
    nn->param[0] = a;
    nn->param[1] = b;
    nn->param[2] = c;
    nn->param[3] = d;
    return id;
}

int kd_g_relu(kd_graph *g, int in, const char *name) {
    kd_node *n = push_node(g, KD_OP_RELU, in, name);
    return n ? (int)(n - g->m->nodes) : -1;
}

int kd_g_pool(kd_graph *g, int in, const char *name, kd_op op, int k, int stride, int pad) {
    kd_node *n = push_node(g, op, in, name);
    if (!n) return -1;
    n->pool = (kd_pool_attr){k, stride, pad};
    n->h = out_size(n->h, k, stride, pad);
    n->w = out_size(n->w, k, stride, pad);
    if (n->h <= 0 || n->w <= 0) g->too_small = true;
    return (int)(n - g->m->nodes);
}

int kd_g_gap(kd_graph *g, int in, const char *name) {
    kd_node *n = push_node(g, KD_OP_GAP, in, name);
    if (!n) return -1;
    n->h = n->w = 1;
    return (int)(n - g->m->nodes);
}

int kd_g_flatten(kd_graph *g, int in, const char *name) {
    kd_node *n = push_node(g, KD_OP_FLATTEN, in, name);
    if (!n) return -1;
    n->c = n->c * n->h * n->w;
    n->h = n->w = 1;
    return (int)(n - g->m->nodes);
}

int kd_g_dense(kd_graph *g, int in, const char *name, int units) {
    int c, h, w;
    kd_g_shape(g, in, &c, &h, &w);
    if (h != 1 || w != 1) in = kd_g_flatten(g, in, "flatten");
    kd_node *n = push_node(g, KD_OP_DENSE, in, name);
    if (!n) return -1;
    int fan_in = n->c;
    n->dense = (kd_dense_attr){units, true};
    n->c = units;
    int id = (int)(n - g->m->nodes);
    int64_t ws[2] = {units, fan_in};
    int64_t bs[1] = {units};
    /* PyTorch nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias. */
    float bound = 1.0f / sqrtf((float)fan_in);
    int wp = add_param(g, name, "weight", 2, ws, true, 2, bound);
    int bp = add_param(g, name, "bias", 1, bs, true, 2, bound);
    g->m->nodes[id].param[0] = wp;
    g->m->nodes[id].param[1] = bp;
    return id;
}

int kd_g_dropout(kd_graph *g, int in, const char *name, float p) {
    kd_node *n = push_node(g, KD_OP_DROPOUT, in, name);
    if (!n) return -1;
    n->dropout.p = p;
    return (int)(n - g->m->nodes);
}

int kd_g_add(kd_graph *g, int a, int b, const char *name) {
    kd_node *n = push_node(g, KD_OP_ADD, a, name);
    if (!n) return -1;
    n->in2 = b;
    if (b >= 0) g->m->nodes[b].consumers++;
    return (int)(n - g->m->nodes);
}
