/* Private to src/model: what building (model.c), memory (memory.c),
 * execution (exec.c) and the layer descriptors (node_desc.c) share. */
#ifndef KD_MODEL_PRIVATE_H
#define KD_MODEL_PRIVATE_H

#include "src/model/model.h"

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

static inline cl_mem kd_model_in_buf(const kd_model *m, int id) { return id < 0 ? m->input : m->nodes[id].out; }

kd_pool_desc kd_model_pool_desc(const kd_model *m, const kd_node *n, int batch);
kd_bn_desc kd_model_bn_desc(const kd_node *n, int batch);

/* Frees the batch's activations (and, with them, kd_model_plan's state) /
 * the parameter gradients. */
void kd_model_release_activations(kd_model *m);
void kd_model_release_grads(kd_model *m);

#endif
