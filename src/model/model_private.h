/* Private to src/model: the model's fields, and what building (model.c,
 * graph.c), memory (memory.c, plan.c), execution (exec.c) and the layer
 * descriptors (node_desc.c) share. Nothing outside src/model includes
 * this (tests of the memory plan aside). */
#ifndef KD_MODEL_PRIVATE_H
#define KD_MODEL_PRIVATE_H

#include "src/layers/batchnorm.h"
#include "src/layers/conv.h"
#include "src/layers/dense.h"
#include "src/layers/pool.h"
#include "src/model/model.h"

typedef struct kd_param {
    char name[128];       /* "layer1.0.conv1.weight" */
    int ndim;
    int64_t shape[4];
    size_t count;
    size_t packed;        /* floats before it in the packed host copy (kd_model_download) */
    size_t offset;        /* floats, within its arena (aligned for sub-buffers) */
    bool trainable;       /* false: a BN running statistic (a PyTorch buffer) */
    float init_scale;     /* initialisation: see model.c init_param */
    int init_kind;
    cl_mem mem, grad;     /* sub-buffers of the arenas */
} kd_param;

/* A node's device memory for the planned batch, and how the plan fused it. */
typedef struct kd_node_mem {
    cl_mem out, grad;     /* flatten aliases its input's buffers */
    cl_mem aux, aux2;     /* maxpool: argmax; bn: mean, invstd */
    bool fused;           /* a ReLU computed by its producer's kernels (src/model/plan.h) */
    int relu_after;       /* bn, add: the fused ReLU that follows, or -1 */
} kd_node_mem;

struct kd_model {
    char spec[256];       /* canonical spec, stored in weight files */
    int in_c, in_h, in_w, classes;
    kd_node *nodes;
    kd_node_mem *mem;     /* [nnodes], beside nodes */
    int nnodes, node_cap;
    kd_param *params;
    int nparams, param_cap;
    size_t train_floats, buf_floats; /* arena sizes, alignment included */

    kd_ctx *ctx;
    cl_mem train_arena;   /* every trainable parameter */
    cl_mem grad_arena;    /* gradients, same layout */
    cl_mem buf_arena;     /* BN running statistics */
    int batch;            /* planned batch size (0: not planned) */
    bool grads;           /* planned with gradient buffers */
    cl_mem input;         /* float [batch][in_c][in_h][in_w], written by the input pipeline */
    cl_mem *bufs;         /* activation and gradient buffers; nodes' out/grad point into them (src/model/plan.h) */
    int nbufs;
    cl_mem ws;            /* conv workspace, shared by every conv */
    cl_mem scratch;       /* a second gradient for nodes consumed twice */
    bool *written;        /* backward: which nodes' gradients hold a value this step (host, planned once) */
    uint64_t dropout_seed;
    uint64_t dropout_counter; /* advanced every training forward */
    bool unfused_norm;    /* inference runs each batch norm as its own kernel (kd_model_set_fused_norm) */
};

static inline size_t kd_node_numel(const kd_node *n) { return (size_t)n->c * (size_t)n->h * (size_t)n->w; }

/* Shape of node `id`'s output, or of the model input for id -1. */
static inline void kd_model_in_shape(const kd_model *m, int id, int *c, int *h, int *w) {
    if (id < 0) {
        *c = m->in_c;
        *h = m->in_h;
        *w = m->in_w;
    } else {
        *c = m->nodes[id].c;
        *h = m->nodes[id].h;
        *w = m->nodes[id].w;
    }
}

static inline cl_mem kd_model_in_buf(const kd_model *m, int id) { return id < 0 ? m->input : m->mem[id].out; }

/* A node as the layer call it makes: the descriptor of its convolution,
 * pooling, batch norm or dense layer at a batch size. */
kd_conv_desc kd_model_conv_desc(const kd_model *m, const kd_node *n, int batch);
kd_pool_desc kd_model_pool_desc(const kd_model *m, const kd_node *n, int batch);
kd_bn_desc kd_model_bn_desc(const kd_model *m, int id, int batch);
kd_dense_desc kd_model_dense_desc(const kd_model *m, const kd_node *n, int batch);

/* Frees the batch's activations (and, with them, kd_model_plan's state) /
 * the parameter gradients. */
void kd_model_release_activations(kd_model *m);
void kd_model_release_grads(kd_model *m);

#endif
