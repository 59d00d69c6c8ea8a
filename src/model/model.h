/* A model: a list of nodes in topological order (layers, plus the residual
 * joins of bottleneck blocks), its parameters in single device allocations,
 * and activation/gradient memory planned once per batch size.
 *
 * Life cycle (llm.c style): kd_model_build (host only: shapes, parameter
 * table, counts; enough for `kdcl summary`) -> kd_model_attach (device
 * parameters, initialised) -> kd_model_plan (activations for a batch size)
 * -> per step: write m->input, kd_model_forward, (loss writes
 * kd_model_dlogits), kd_model_zero_grad, kd_model_backward, optimizer on
 * m->train_arena / m->grad_arena -> kd_model_free. */
#ifndef KD_MODEL_H
#define KD_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/ctx.h"
#include "runtime/blas.h"
#include "src/layers/batchnorm.h"
#include "src/layers/conv.h"
#include "src/layers/pool.h"

typedef enum kd_op {
    KD_OP_CONV,
    KD_OP_BN,
    KD_OP_RELU,
    KD_OP_MAXPOOL,
    KD_OP_AVGPOOL,
    KD_OP_GAP,
    KD_OP_FLATTEN,
    KD_OP_DENSE,
    KD_OP_DROPOUT,
    KD_OP_ADD,
} kd_op;

typedef struct kd_node {
    kd_op op;
    char name[96];        /* module path, as PyTorch names it: "layer1.0.conv1", "3", "fc.0" */
    int in, in2;          /* producing nodes; -1 = the model input; in2 only for ADD */
    int c, h, w;          /* output shape of one sample */
    int cout, k, stride, pad; /* conv (cout filters, k x k), pool (k x k); dense: cout units */
    bool bias;
    float p;              /* dropout probability */
    int param[4];         /* conv/dense: weight, bias; bn: weight, bias, running_mean, running_var; -1 none */
    bool head;            /* part of the classification head (summary subtotals) */
    int consumers;
    /* device, after kd_model_plan */
    cl_mem out, grad;     /* flatten aliases its input's buffers */
    cl_mem aux, aux2;     /* maxpool: argmax; bn: mean, invstd */
    bool fused;           /* a ReLU computed by its producer's kernels (src/model/plan.h) */
    int relu_after;       /* bn, add: the fused ReLU that follows, or -1 */
} kd_node;

typedef struct kd_param {
    char name[128];       /* "layer1.0.conv1.weight" */
    int ndim;
    int64_t shape[4];     /* PyTorch layout: conv [out][in][kh][kw], dense [out][in], bn [c] */
    size_t count;
    size_t offset;        /* floats, within its arena (aligned for sub-buffers) */
    bool trainable;       /* false: a BN running statistic (a PyTorch buffer) */
    float init_scale;     /* initialisation: see model.c init_param */
    int init_kind;
    cl_mem mem, grad;     /* sub-buffers of the arenas */
} kd_param;

typedef struct kd_model {
    char spec[256];       /* canonical spec, stored in weight files */
    char family[32];      /* "resnet", "layers" */
    int in_c, in_h, in_w, classes;
    kd_node *nodes;
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
    bool unfused_norm;    /* inference runs each batch norm as its own kernel (tests: the reference for the fused) */
} kd_model;

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

kd_status kd_model_forward(kd_model *m, int n, bool training);
cl_mem kd_model_logits(const kd_model *m);  /* float [n][classes] */
cl_mem kd_model_dlogits(const kd_model *m); /* the loss writes d loss / d logits here */
kd_status kd_model_zero_grad(kd_model *m);
kd_status kd_model_backward(kd_model *m, int n);

/* The descriptor of conv node n at a batch size. */
kd_conv_desc kd_model_conv_desc(const kd_model *m, const kd_node *n, int batch);
/* The GEMMs of one training step at `batch` on ctx's device (the layers
 * choose by device), heaviest first, at most cap (duplicates merged: count
 * says how often a step runs each). The model need not be attached. */
int kd_model_gemm_shapes(const kd_model *m, const kd_ctx *ctx, int batch, kd_gemm_use *out, int cap);

/* Host copies of every parameter and buffer, in m->params order, packed
 * (no alignment padding): sum of count floats. */
kd_status kd_model_download(kd_model *m, float *host);
kd_status kd_model_upload(kd_model *m, const float *host);
size_t kd_model_total_floats(const kd_model *m);
int kd_model_find_param(const kd_model *m, const char *name);

#endif
