/* Memory plan of a model: which nodes share an activation or a gradient
 * buffer. Computed on the host from the graph alone (sizes per sample), so
 * kd_model_memory can price a batch before anything is allocated and
 * kd_model_plan allocates exactly what was priced.
 *
 * Activations: an op whose backward does not need its input's value writes
 * over it in place when it is that input's only consumer (ReLU over batch
 * norm or a residual join, the join over the batch norm before it; in an
 * inference plan also batch norm over its conv or dense layer); what
 * remains is one buffer per chain. Training keeps every chain until the
 * backward pass; inference reuses a chain's buffer once its last consumer
 * has run.
 *
 * Fusion: a ReLU in place over batch norm or a residual join is computed
 * by that node's forward kernel (no launch of its own); over batch norm its
 * backward too (batch norm's backward masks the ReLU's gradient), so batch
 * norm needs no gradient buffer and reads the ReLU's.
 *
 * Gradients: node j's gradient lives from the backward step of its last
 * consumer (which writes it first) down to the step that reads it (j's, or
 * for a fused ReLU its batch norm's); nodes whose lifetimes do not overlap
 * share a buffer. */
#ifndef KD_MODEL_PLAN_H
#define KD_MODEL_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "src/model/model_private.h"

typedef struct kd_mem_plan {
    int nact, ngrad;         /* buffers */
    size_t *act_floats;      /* [nact] floats per sample */
    size_t *grad_floats;     /* [ngrad] */
    int *act;                /* [nnodes] buffer of each node's output; -1: flatten (its producer's) */
    int *grad;               /* [nnodes] buffer of each node's gradient; -1: none (flatten: its producer's) */
    bool *in_place;          /* [nnodes] the node writes over its first input */
    bool *fused;             /* [nnodes] a ReLU its producer's forward computes */
    bool *fused_bwd;         /* [nnodes] ... and its backward too (producer: batch norm) */
} kd_mem_plan;

/* grads: plan for training (activations kept for the backward pass, and
 * gradient buffers). KD_ERR_NOMEM only (host memory). */
kd_status kd_mem_plan_make(const kd_model *m, bool grads, kd_mem_plan *p, kd_err *err);
void kd_mem_plan_free(kd_mem_plan *p);
/* Floats per sample of every buffer together, and of the largest. */
size_t kd_mem_plan_floats(const kd_mem_plan *p, size_t *largest);

#endif
