/* Building a model's node list (internal to src/model): each add_* appends
 * one node fed by `in` (-1: the model input), computes its output shape and
 * registers its parameters under `name` (PyTorch module path). A layer that
 * does not fit its input sets g->too_small instead of failing, so the
 * caller can search for the smallest input that fits. */
#ifndef KD_MODEL_GRAPH_H
#define KD_MODEL_GRAPH_H

#include "src/model/model_private.h"

typedef struct kd_graph {
    kd_model *m;
    bool too_small;   /* some layer's output would be empty */
    bool oom;         /* host allocation failed */
    bool head;        /* nodes added now belong to the head */
} kd_graph;

int kd_g_conv(kd_graph *g, int in, const char *name, int cout, int k, int stride, int pad, bool bias);
int kd_g_bn(kd_graph *g, int in, const char *name);
int kd_g_relu(kd_graph *g, int in, const char *name);
int kd_g_pool(kd_graph *g, int in, const char *name, kd_op op, int k, int stride, int pad);
int kd_g_gap(kd_graph *g, int in, const char *name);
int kd_g_flatten(kd_graph *g, int in, const char *name);
int kd_g_dense(kd_graph *g, int in, const char *name, int units);
int kd_g_dropout(kd_graph *g, int in, const char *name, float p);
int kd_g_add(kd_graph *g, int a, int b, const char *name);

/* Output shape of node id (-1: the model input). */
void kd_g_shape(const kd_graph *g, int id, int *c, int *h, int *w);

/* The families: each builds the whole graph into g->m. */
kd_status kd_resnet_build(kd_graph *g, const char *spec, kd_err *err);
kd_status kd_layers_build(kd_graph *g, const char *spec, kd_err *err);
bool kd_resnet_is_spec(const char *spec);

#endif
