/* A model: a list of nodes in topological order (layers, plus the residual
 * joins of bottleneck blocks), its parameters in single device allocations,
 * and activation/gradient memory planned once per batch size.
 *
 * Life cycle (llm.c style): kd_model_build (host only: shapes, parameter
 * table, counts; enough for `kdcl summary`) -> kd_model_attach (device
 * parameters, initialised) -> kd_model_plan (activations for a batch size)
 * -> per step: write kd_model_input, kd_model_forward, (loss writes
 * kd_model_dlogits), kd_model_zero_grad, kd_model_backward, optimizer on
 * kd_model_trainable -> kd_model_free. The struct is opaque: callers use
 * the functions below, and nothing outside src/model knows how parameters
 * or activations are laid out. */
#ifndef KD_MODEL_H
#define KD_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/blas.h"
#include "runtime/ctx.h"
#include "src/model/node.h"
#include "src/tensor.h"

typedef struct kd_model kd_model; /* opaque: src/model/model_private.h */

/* A parameter as weight files, checkpoints and the summary see it. */
typedef struct kd_param_view {
    const char *name;     /* "layer1.0.conv1.weight" */
    int ndim;
    const int64_t *shape; /* PyTorch layout: conv [out][in][kh][kw], dense [out][in], bn [c] */
    size_t count;
    bool trainable;       /* false: a BN running statistic (a PyTorch buffer) */
    size_t packed;        /* where its floats start in kd_model_download's host copy */
    size_t slot;          /* trainable only: where they start in kd_model_trainable's buffers, and in any
                             buffer laid out like them (the optimizer's state, one copy per slot) */
} kd_param_view;

/* Parameters as the optimizer (and data parallelism) sees them: every
 * trainable parameter in one buffer of `floats` floats and their gradients
 * in another of the same layout (NULL until planned with gradients);
 * kd_model_buffers: the batch-norm running statistics, values only. */
typedef struct kd_param_block {
    cl_mem values, grads;
    size_t floats;
} kd_param_block;

/* Builds the host-side graph for `spec` (see kd_model_spec_help) at input
 * c x h x w with `classes` outputs. A model that does not fit its input is
 * KD_ERR_USAGE naming the smallest square input that fits. */
kd_status kd_model_build(const char *spec, int in_c, int in_h, int in_w, int classes, kd_model **out,
                         kd_err *err);
void kd_model_free(kd_model *m);
/* Text for --help: the presets and the layer-string grammar. */
const char *kd_model_spec_help(void);
/* The spec with every dropout layer's probability set to p (--dropout):
 * seed-cnn becomes seed-cnn:dropout=P, a layer string gets dropout<P>
 * layers; a model without dropout is refused (KD_ERR_USAGE). */
kd_status kd_spec_with_dropout(const char *spec, double p, char *out, size_t cap, kd_err *err);

/* Trainable parameters (PyTorch's sum(p.numel() for p in parameters())). */
size_t kd_model_params(const kd_model *m, bool head_only, bool backbone_only);
size_t kd_node_params(const kd_model *m, const kd_node *n);
/* Multiply-accumulates of one forward pass of one image (conv and dense). */
uint64_t kd_node_macs(const kd_model *m, const kd_node *n);
uint64_t kd_model_macs(const kd_model *m);

/* Device parameters, initialised from `seed` (torchvision's scheme: He
 * normal fan_out for convs, BN gamma 1 beta 0, Linear uniform +-1/sqrt(in)). */
kd_status kd_model_attach(kd_model *m, kd_ctx *ctx, uint64_t seed);
/* Device memory a plan needs: total bytes (activations, gradients,
 * workspace, parameters, gradients and Adam state) and the largest single
 * buffer. */
void kd_model_memory(const kd_model *m, int batch, bool grads, uint64_t *total, uint64_t *largest);
/* Activations (and gradients when `grads`) for batches up to `batch`.
 * A batch that does not fit is refused up front with the memory needed,
 * the memory available and a batch size that fits. */
kd_status kd_model_plan(kd_model *m, int batch, bool grads);

/* What it was built as and for: canonical spec (stored in weight files),
 * input (n: the planned batch, 0 before kd_model_plan), classes. */
const char *kd_model_spec(const kd_model *m);
kd_shape kd_model_input_shape(const kd_model *m);
int kd_model_classes(const kd_model *m);
/* The context it was attached to (NULL before kd_model_attach). */
kd_ctx *kd_model_ctx(const kd_model *m);

/* Its layers, in topological order (src/model/node.h), and parameters. */
int kd_model_nnodes(const kd_model *m);
const kd_node *kd_model_node(const kd_model *m, int i);
int kd_model_nparams(const kd_model *m);
kd_param_view kd_model_param(const kd_model *m, int i);
int kd_model_find_param(const kd_model *m, const char *name);
kd_param_block kd_model_trainable(const kd_model *m);
kd_param_block kd_model_buffers(const kd_model *m);

/* Dropout draws its masks from the seed and this counter, which every
 * training forward advances: checkpoints save and restore it so a resumed
 * run draws what the uninterrupted one would have. */
uint64_t kd_model_dropout_counter(const kd_model *m);
void kd_model_set_dropout_counter(kd_model *m, uint64_t counter);
/* Inference normally applies a batch norm inside the convolution before it;
 * false runs each as its own kernel (tests: the reference for the fused). */
void kd_model_set_fused_norm(kd_model *m, bool fused);

cl_mem kd_model_input(const kd_model *m);   /* float [batch][c][h][w], written by the input pipeline */
kd_status kd_model_forward(kd_model *m, int n, bool training);
cl_mem kd_model_logits(const kd_model *m);  /* float [n][classes] */
cl_mem kd_model_dlogits(const kd_model *m); /* the loss writes d loss / d logits here */
kd_status kd_model_zero_grad(kd_model *m);
kd_status kd_model_backward(kd_model *m, int n);

/* The GEMMs of one training step at `batch` on ctx's device (the layers
 * choose by device), heaviest first, at most cap (duplicates merged: count
 * says how often a step runs each). The model need not be attached. */
int kd_model_gemm_shapes(const kd_model *m, const kd_ctx *ctx, int batch, kd_gemm_use *out, int cap);

/* Host copies of every parameter and buffer, in kd_model_param order,
 * packed (no alignment padding): kd_model_total_floats floats. */
kd_status kd_model_download(kd_model *m, float *host);
kd_status kd_model_upload(kd_model *m, const float *host);
size_t kd_model_total_floats(const kd_model *m);

#endif
