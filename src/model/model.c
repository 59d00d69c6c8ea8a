#include "src/model/model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/dense.h"
#include "src/layers/eltwise.h"
#include "src/model/graph.h"
#include "src/model/plan.h"
#include "src/rng.h"

static kd_status build_at(const char *spec, int c, int h, int w, int classes, kd_model **out, bool *too_small,
                          kd_err *err) {
    *out = NULL;
    kd_model *m = calloc(1, sizeof *m);
    if (!m) return kd_fail(err, KD_ERR_NOMEM, "out of memory building the model");
    m->in_c = c;
    m->in_h = h;
    m->in_w = w;
    m->classes = classes;
    kd_graph g = {.m = m};
    kd_status s = kd_resnet_is_spec(spec) ? kd_resnet_build(&g, spec, err) : kd_layers_build(&g, spec, err);
    if (s == KD_OK && g.oom) s = kd_fail(err, KD_ERR_NOMEM, "out of memory building the model");
    if (s != KD_OK) {
        kd_model_free(m);
        return s;
    }
    /* Kernels index activations with int (a fuzzed 327936x131081 input
     * overflowed a flatten's size while building). */
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *n = &m->nodes[i];
        double numel = (double)n->c * (double)n->h * (double)n->w;
        if (numel > 2147483647.0) {
            s = kd_fail(err, KD_ERR_USAGE,
                        "model '%s' at input %dx%dx%d: layer %s outputs %dx%dx%d = %.3g values per image, more than "
                        "2^31; use a smaller input or model",
                        spec, c, h, w, n->name, n->c, n->h, n->w, numel);
            kd_model_free(m);
            return s;
        }
    }
    *too_small = g.too_small;
    *out = m;
    return KD_OK;
}

kd_status kd_model_build(const char *spec, int in_c, int in_h, int in_w, int classes, kd_model **out,
                         kd_err *err) {
    *out = NULL;
    if (in_c < 1 || in_h < 1 || in_w < 1 || classes < 2 || in_c > 65536 || in_h > 65536 || in_w > 65536)
        return kd_fail(err, KD_ERR_USAGE,
                       "model '%s': input %dx%dx%d with %d classes is not a valid shape (at least 1x1x1 and 2 "
                       "classes, at most 65536 per dimension)",
                       spec, in_c, in_h, in_w, classes);
    bool too_small = false;
    KD_TRY(build_at(spec, in_c, in_h, in_w, classes, out, &too_small, err));
    if (!too_small) return KD_OK;
    kd_model_free(*out);
    *out = NULL;
    /* Search the smallest square input that fits, to say what would work. */
    for (int s = 1; s <= 4096; s++) {
        kd_model *probe = NULL;
        bool small = false;
        kd_err ignored;
        if (build_at(spec, in_c, s, s, classes, &probe, &small, &ignored) == KD_OK && !small) {
            kd_model_free(probe);
            return kd_fail(err, KD_ERR_USAGE,
                           "model '%s' does not fit a %dx%d input: its layers shrink it to nothing. The smallest "
                           "input that fits is %dx%d: resize the images (e.g. --resize %d) or change the model",
                           spec, in_h, in_w, s, s, s);
        }
        kd_model_free(probe);
    }
    return kd_fail(err, KD_ERR_USAGE, "model '%s' does not fit a %dx%d input", spec, in_h, in_w);
}

static void release_activations(kd_model *m) {
    if (!m->ctx) return;
    for (int i = 0; i < m->nnodes; i++) {
        kd_node *n = &m->nodes[i];
        kd_buffer_free(m->ctx, n->aux);
        kd_buffer_free(m->ctx, n->aux2);
        n->out = n->grad = n->aux = n->aux2 = NULL;
    }
    /* Node outputs and gradients point into these. */
    for (int b = 0; b < m->nbufs; b++) kd_buffer_free(m->ctx, m->bufs[b]);
    free(m->bufs);
    m->bufs = NULL;
    m->nbufs = 0;
    kd_buffer_free(m->ctx, m->input);
    kd_buffer_free(m->ctx, m->ws);
    kd_buffer_free(m->ctx, m->scratch);
    m->input = m->ws = m->scratch = NULL;
    m->batch = 0;
}

static void release_grads(kd_model *m) {
    for (int i = 0; i < m->nparams; i++) {
        kd_buffer_free(m->ctx, m->params[i].grad);
        m->params[i].grad = NULL;
    }
    kd_buffer_free(m->ctx, m->grad_arena);
    m->grad_arena = NULL;
}

void kd_model_free(kd_model *m) {
    if (!m) return;
    if (m->ctx) {
        release_activations(m);
        release_grads(m);
        for (int i = 0; i < m->nparams; i++) kd_buffer_free(m->ctx, m->params[i].mem);
        kd_buffer_free(m->ctx, m->train_arena);
        kd_buffer_free(m->ctx, m->buf_arena);
    }
    free(m->written);
    free(m->nodes);
    free(m->params);
    free(m);
}

size_t kd_model_params(const kd_model *m, bool head_only, bool backbone_only) {
    size_t total = 0;
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *n = &m->nodes[i];
        if ((head_only && !n->head) || (backbone_only && n->head)) continue;
        for (int j = 0; j < 4; j++)
            if (n->param[j] >= 0 && m->params[n->param[j]].trainable) total += m->params[n->param[j]].count;
    }
    return total;
}

uint64_t kd_node_macs(const kd_model *m, const kd_node *n) {
    (void)m;
    if (n->op == KD_OP_CONV) {
        const kd_param *w = &m->params[n->param[0]];
        return (uint64_t)n->c * (uint64_t)n->h * (uint64_t)n->w * (uint64_t)(w->shape[1] * w->shape[2] * w->shape[3]);
    }
    if (n->op == KD_OP_DENSE) return (uint64_t)m->params[n->param[0]].count;
    return 0;
}

uint64_t kd_model_macs(const kd_model *m) {
    uint64_t t = 0;
    for (int i = 0; i < m->nnodes; i++) t += kd_node_macs(m, &m->nodes[i]);
    return t;
}

size_t kd_model_total_floats(const kd_model *m) {
    size_t t = 0;
    for (int i = 0; i < m->nparams; i++) t += m->params[i].count;
    return t;
}

int kd_model_find_param(const kd_model *m, const char *name) {
    for (int i = 0; i < m->nparams; i++)
        if (!strcmp(m->params[i].name, name)) return i;
    return -1;
}

/* Initialisation from one kd_rng64 stream: runs are reproducible from --seed. */
static void init_param(const kd_param *p, float *dst, kd_rng64 *rng) {
    for (size_t i = 0; i < p->count; i++) {
        switch (p->init_kind) {
        case 1: { /* normal with variance init_scale (Box-Muller) */
            double u1 = kd_rng64_unit(rng), u2 = kd_rng64_unit(rng);
            if (u1 < 1e-300) u1 = 1e-300;
            dst[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2) * sqrt((double)p->init_scale));
            break;
        }
        case 2: dst[i] = (float)((2.0 * kd_rng64_unit(rng) - 1.0) * (double)p->init_scale); break; /* uniform +-scale */
        case 3: dst[i] = 1.0f; break;
        default: dst[i] = 0.0f; break;
        }
    }
}

kd_status kd_model_attach(kd_model *m, kd_ctx *ctx, uint64_t seed) {
    KD_ASSERT(!m->ctx);
    m->ctx = ctx;
    size_t align = ctx->dev.mem_base_align_bytes / sizeof(float);
    if (align < 1) align = 1;
    m->train_floats = m->buf_floats = 0;
    for (int i = 0; i < m->nparams; i++) {
        kd_param *p = &m->params[i];
        size_t *arena = p->trainable ? &m->train_floats : &m->buf_floats;
        p->offset = *arena;
        *arena = kd_align_up(*arena + p->count, align);
    }
    KD_TRY(kd_buffer_alloc(ctx, m->train_floats * sizeof(float), "model parameters", &m->train_arena));
    KD_TRY(kd_buffer_alloc(ctx, (m->buf_floats ? m->buf_floats : 1) * sizeof(float), "batch-norm statistics",
                           &m->buf_arena));
    float *host_t = calloc(m->train_floats ? m->train_floats : 1, sizeof(float));
    float *host_b = calloc(m->buf_floats ? m->buf_floats : 1, sizeof(float));
    if (!host_t || !host_b) {
        free(host_t);
        free(host_b);
        return kd_fail(&ctx->err, KD_ERR_NOMEM, "out of host memory initialising %s", m->spec);
    }
    kd_rng64 rng = {seed * KD_RNG_GOLDEN + 12345};
    for (int i = 0; i < m->nparams; i++) {
        kd_param *p = &m->params[i];
        init_param(p, (p->trainable ? host_t : host_b) + p->offset, &rng);
    }
    kd_status s = kd_write(ctx, m->train_arena, 0, m->train_floats * sizeof(float), host_t, true);
    if (s == KD_OK && m->buf_floats) s = kd_write(ctx, m->buf_arena, 0, m->buf_floats * sizeof(float), host_b, true);
    free(host_t);
    free(host_b);
    KD_TRY(s);
    for (int i = 0; i < m->nparams; i++) {
        kd_param *p = &m->params[i];
        KD_TRY(kd_buffer_sub(ctx, p->trainable ? m->train_arena : m->buf_arena, p->offset * sizeof(float),
                             p->count * sizeof(float), &p->mem));
    }
    m->dropout_seed = seed ^ 0xd1b54a32d192ed03ull;
    return KD_OK;
}

static size_t node_numel(const kd_node *n) { return (size_t)n->c * (size_t)n->h * (size_t)n->w; }

static void in_shape(const kd_model *m, int id, int *c, int *h, int *w) {
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

kd_conv_desc kd_model_conv_desc(const kd_model *m, const kd_node *n, int batch) {
    kd_conv_desc d = {0};
    d.n = batch;
    in_shape(m, n->in, &d.cin, &d.h, &d.w);
    d.cout = n->cout;
    d.kh = d.kw = n->k;
    d.stride = n->stride;
    d.pad = n->pad;
    d.bias = n->bias;
    d.oh = n->h;
    d.ow = n->w;
    return d;
}

static kd_pool_desc pool_desc(const kd_model *m, const kd_node *n, int batch) {
    kd_pool_desc d = {0};
    d.n = batch;
    in_shape(m, n->in, &d.c, &d.h, &d.w);
    d.k = n->k;
    d.stride = n->stride;
    d.pad = n->pad;
    d.oh = n->h;
    d.ow = n->w;
    return d;
}

static kd_bn_desc bn_desc(const kd_node *n, int batch) {
    kd_bn_desc d = {batch, n->c, n->h * n->w, KD_BN_EPS, KD_BN_MOMENTUM, n->relu_after >= 0};
    return d;
}

void kd_model_memory(const kd_model *m, int batch, bool grads, uint64_t *total, uint64_t *largest) {
    uint64_t t = 0, big = 0, ws = 1, biggest = 1;
#define ADD(bytes)                                                                                                    \
    do {                                                                                                              \
        uint64_t b_ = (bytes);                                                                                        \
        t += b_;                                                                                                      \
        if (b_ > big) big = b_;                                                                                       \
    } while (0)
    uint64_t nb = (uint64_t)batch;
    ADD(nb * (uint64_t)m->in_c * (uint64_t)m->in_h * (uint64_t)m->in_w * sizeof(float));
    kd_mem_plan plan;
    kd_err err = {0};
    if (kd_mem_plan_make(m, grads, &plan, &err) == KD_OK) {
        for (int b = 0; b < plan.nact; b++) ADD(nb * plan.act_floats[b] * sizeof(float));
        for (int b = 0; b < plan.ngrad; b++) ADD(nb * plan.grad_floats[b] * sizeof(float));
        kd_mem_plan_free(&plan);
    } else { /* no host memory to plan with: price one buffer per node */
        for (int i = 0; i < m->nnodes; i++)
            if (m->nodes[i].op != KD_OP_FLATTEN) ADD(nb * node_numel(&m->nodes[i]) * sizeof(float) * (grads ? 2 : 1));
    }
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *n = &m->nodes[i];
        uint64_t count = nb * node_numel(n);
        if (count > biggest) biggest = count;
        if (n->op == KD_OP_MAXPOOL) ADD(count * sizeof(int));
        if (n->op == KD_OP_CONV) {
            kd_conv_desc d = kd_model_conv_desc(m, n, batch);
            uint64_t w = kd_conv_workspace_floats(&d);
            if (w > ws) ws = w;
        }
    }
    ADD(ws * sizeof(float));
    if (grads) ADD(biggest * sizeof(float));
#undef ADD
    /* Parameters, gradients and optimizer state (Adam: 2 per parameter). */
    t += (uint64_t)(m->train_floats * (grads ? 4 : 1) + m->buf_floats) * sizeof(float);
    *total = t;
    *largest = big;
}

/* Refuses a plan that cannot fit before allocating anything: a driver that
 * allocates lazily (POCL) would otherwise fail much later, or the OS would
 * kill the process. */
static kd_status check_fits(kd_model *m, int batch, bool grads) {
    kd_ctx *ctx = m->ctx;
    uint64_t need, largest;
    kd_model_memory(m, batch, grads, &need, &largest);
    uint64_t have = ctx->dev.global_mem > ctx->mem_in_use ? ctx->dev.global_mem - ctx->mem_in_use : 0;
    /* Kernels index with int: no buffer may hold 2^31 elements, whatever the
     * device would allocate. */
    uint64_t limit = (uint64_t)INT_MAX * sizeof(float);
    if (ctx->dev.max_alloc && ctx->dev.max_alloc < limit) limit = ctx->dev.max_alloc;
    bool too_big = largest > limit;
    if (need <= have && !too_big) return KD_OK;
    /* Memory grows linearly with the batch: find the largest that fits. */
    int fit = 0;
    for (int b = batch - 1; b >= 1; b = b > 64 ? b * 3 / 4 : b - 1) {
        uint64_t n2, l2;
        kd_model_memory(m, b, grads, &n2, &l2);
        if (n2 <= have && l2 <= limit) {
            fit = b;
            break;
        }
    }
    double mib = 1024.0 * 1024.0;
    char hint[96];
    if (fit) snprintf(hint, sizeof hint, "--batch %d would fit", fit);
    else snprintf(hint, sizeof hint, "not even a batch of 1 fits: choose a smaller model or input size");
    return kd_fail(&ctx->err, KD_ERR_NOMEM,
                   "%s at batch %d needs about %.0f MiB of device memory for %s (largest single buffer %.0f MiB), "
                   "but %s has %.0f MiB free of %.0f MiB (single buffers up to %.0f MiB): %s",
                   m->spec, batch, (double)need / mib, grads ? "training" : "inference", (double)largest / mib,
                   ctx->dev.name, (double)have / mib, (double)ctx->dev.global_mem / mib,
                   (double)limit / mib, hint);
}

static cl_mem in_buf(const kd_model *m, int id) { return id < 0 ? m->input : m->nodes[id].out; }

kd_status kd_model_plan(kd_model *m, int batch, bool grads) {
    kd_ctx *ctx = m->ctx;
    KD_ASSERT(ctx && batch > 0);
    if (m->batch == batch && m->grads == grads) return KD_OK;
    release_activations(m);
    if (!grads) release_grads(m);
    KD_TRY(check_fits(m, batch, grads));
    if (grads && !m->written && !(m->written = calloc((size_t)m->nnodes, sizeof *m->written)))
        return kd_fail(&ctx->err, KD_ERR_NOMEM, "out of host memory planning %s", m->spec);
    char what[320];
    size_t input_floats = (size_t)batch * (size_t)m->in_c * (size_t)m->in_h * (size_t)m->in_w;
    KD_TRY(kd_buffer_alloc(ctx, input_floats * sizeof(float), "the input batch", &m->input));
    kd_mem_plan plan;
    KD_TRY(kd_mem_plan_make(m, grads, &plan, &ctx->err));
    kd_status s = KD_OK;
    m->nbufs = 0;
    if (!(m->bufs = calloc((size_t)(plan.nact + plan.ngrad + 1), sizeof *m->bufs)))
        s = kd_fail(&ctx->err, KD_ERR_NOMEM, "out of host memory planning %s", m->spec);
    for (int b = 0; b < plan.nact && s == KD_OK; b++) {
        snprintf(what, sizeof what, "activations %d of %d of %s (batch %d)", b + 1, plan.nact, m->spec, batch);
        s = kd_buffer_alloc(ctx, (size_t)batch * plan.act_floats[b] * sizeof(float), what, &m->bufs[m->nbufs++]);
    }
    for (int b = 0; b < plan.ngrad && s == KD_OK; b++) {
        snprintf(what, sizeof what, "gradients %d of %d of %s (batch %d)", b + 1, plan.ngrad, m->spec, batch);
        s = kd_buffer_alloc(ctx, (size_t)batch * plan.grad_floats[b] * sizeof(float), what, &m->bufs[m->nbufs++]);
    }
    for (int i = 0; i < m->nnodes; i++) m->nodes[i].relu_after = -1;
    for (int i = 0; i < m->nnodes; i++) {
        m->nodes[i].fused = plan.fused[i];
        if (plan.fused[i]) m->nodes[m->nodes[i].in].relu_after = i;
    }
    for (int i = 0; i < m->nnodes && s == KD_OK; i++) {
        kd_node *n = &m->nodes[i];
        n->out = n->grad = NULL;
        if (n->op == KD_OP_FLATTEN) continue; /* below: its producer's memory */
        n->out = m->bufs[plan.act[i]];
        if (plan.grad[i] >= 0) n->grad = m->bufs[plan.nact + plan.grad[i]];
    }
    kd_mem_plan_free(&plan);
    KD_TRY(s);
    size_t ws = 1, biggest = 1;
    for (int i = 0; i < m->nnodes; i++) {
        kd_node *n = &m->nodes[i];
        size_t count = (size_t)batch * node_numel(n);
        if (count > biggest) biggest = count;
        if (n->op == KD_OP_FLATTEN) {
            /* Flattening NCHW is free: share the producer's memory (the
             * input batch when flatten is the first layer). */
            KD_ASSERT(n->in < 0 || m->nodes[n->in].consumers == 1);
            continue;
        }
        if (n->op == KD_OP_MAXPOOL) {
            snprintf(what, sizeof what, "argmax of %s", n->name);
            KD_TRY(kd_buffer_alloc(ctx, count * sizeof(int), what, &n->aux));
        } else if (n->op == KD_OP_BN) {
            KD_TRY(kd_buffer_alloc(ctx, (size_t)n->c * sizeof(float), "batch-norm mean", &n->aux));
            KD_TRY(kd_buffer_alloc(ctx, (size_t)n->c * sizeof(float), "batch-norm inverse std", &n->aux2));
        } else if (n->op == KD_OP_CONV) {
            kd_conv_desc d = kd_model_conv_desc(m, n, batch);
            size_t w = kd_conv_workspace_floats(&d);
            if (w > ws) ws = w;
        }
    }
    for (int i = 0; i < m->nnodes; i++) {
        kd_node *n = &m->nodes[i];
        if (n->op == KD_OP_FLATTEN) {
            n->out = in_buf(m, n->in);
            n->grad = n->in >= 0 ? m->nodes[n->in].grad : NULL; /* no gradient for the input */
        }
    }
    KD_TRY(kd_buffer_alloc(ctx, ws * sizeof(float), "convolution workspace", &m->ws));
    if (grads) {
        KD_TRY(kd_buffer_alloc(ctx, biggest * sizeof(float), "gradient scratch", &m->scratch));
        if (!m->grad_arena) {
            KD_TRY(kd_buffer_alloc(ctx, m->train_floats * sizeof(float), "parameter gradients", &m->grad_arena));
            KD_TRY(kd_fill(ctx, m->grad_arena, 0, m->train_floats * sizeof(float), 0.0f));
            for (int i = 0; i < m->nparams; i++) {
                kd_param *p = &m->params[i];
                if (p->trainable)
                    KD_TRY(kd_buffer_sub(ctx, m->grad_arena, p->offset * sizeof(float), p->count * sizeof(float),
                                         &p->grad));
            }
        }
    }
    m->batch = batch;
    m->grads = grads;
    return KD_OK;
}

static cl_mem pmem(const kd_model *m, int idx) { return idx >= 0 ? m->params[idx].mem : NULL; }
static cl_mem pgrad(const kd_model *m, int idx) { return idx >= 0 ? m->params[idx].grad : NULL; }

kd_status kd_model_forward(kd_model *m, int n, bool training) {
    kd_ctx *ctx = m->ctx;
    KD_ASSERT(n > 0 && n <= m->batch);
    if (training) m->dropout_counter++;
    for (int i = 0; i < m->nnodes; i++) {
        kd_node *nd = &m->nodes[i];
        cl_mem x = in_buf(m, nd->in);
        size_t count = (size_t)n * node_numel(nd);
        switch (nd->op) {
        case KD_OP_CONV: {
            kd_conv_desc d = kd_model_conv_desc(m, nd, n);
            KD_TRY(kd_conv_forward(ctx, &d, nd->out, x, pmem(m, nd->param[0]), pmem(m, nd->param[1]), m->ws));
            break;
        }
        case KD_OP_BN: {
            kd_bn_desc d = bn_desc(nd, n);
            if (training)
                KD_TRY(kd_bn_forward_train(ctx, &d, nd->out, nd->aux, nd->aux2, pmem(m, nd->param[2]),
                                           pmem(m, nd->param[3]), x, pmem(m, nd->param[0]), pmem(m, nd->param[1])));
            else
                KD_TRY(kd_bn_forward_infer(ctx, &d, nd->out, x, pmem(m, nd->param[0]), pmem(m, nd->param[1]),
                                           pmem(m, nd->param[2]), pmem(m, nd->param[3])));
            break;
        }
        case KD_OP_RELU:
            if (!nd->fused) KD_TRY(kd_relu_forward(ctx, count, nd->out, x));
            break;
        case KD_OP_MAXPOOL: {
            kd_pool_desc d = pool_desc(m, nd, n);
            KD_TRY(kd_maxpool_forward(ctx, &d, nd->out, nd->aux, x));
            break;
        }
        case KD_OP_AVGPOOL: {
            kd_pool_desc d = pool_desc(m, nd, n);
            KD_TRY(kd_avgpool_forward(ctx, &d, nd->out, x));
            break;
        }
        case KD_OP_GAP: {
            int c, h, w;
            in_shape(m, nd->in, &c, &h, &w);
            KD_TRY(kd_gap_forward(ctx, n, c, h * w, nd->out, x));
            break;
        }
        case KD_OP_FLATTEN: break;
        case KD_OP_DENSE: {
            kd_dense_desc d = {n, m->params[nd->param[0]].shape[1] > 0 ? (int)m->params[nd->param[0]].shape[1] : 0,
                               nd->cout};
            KD_TRY(kd_dense_forward(ctx, &d, nd->out, x, pmem(m, nd->param[0]), pmem(m, nd->param[1])));
            break;
        }
        case KD_OP_DROPOUT:
            if (training && nd->p > 0.0f)
                KD_TRY(kd_dropout_forward(ctx, count, nd->out, x, nd->p, m->dropout_seed,
                                          (m->dropout_counter << 16) | (uint64_t)i));
            else
                KD_TRY(kd_copy(ctx, nd->out, 0, x, 0, count * sizeof(float)));
            break;
        case KD_OP_ADD: KD_TRY(kd_add_forward(ctx, count, nd->out, x, in_buf(m, nd->in2), nd->relu_after >= 0)); break;
        }
    }
    return KD_OK;
}

cl_mem kd_model_logits(const kd_model *m) { return m->nodes[m->nnodes - 1].out; }
cl_mem kd_model_dlogits(const kd_model *m) { return m->nodes[m->nnodes - 1].grad; }

kd_status kd_model_zero_grad(kd_model *m) {
    KD_ASSERT(m->grad_arena);
    return kd_fill(m->ctx, m->grad_arena, 0, m->train_floats * sizeof(float), 0.0f);
}

/* Where the gradient w.r.t. node `id`'s output goes: straight into its
 * buffer the first time, else into scratch to be added afterwards. */
typedef struct grad_dst {
    cl_mem mem;
    int accumulate_into; /* node id, or -1 */
} grad_dst;

static grad_dst target(kd_model *m, bool *written, int id) {
    grad_dst d = {NULL, -1};
    if (id < 0) return d; /* nobody needs d loss / d input */
    if (!written[id]) {
        written[id] = true;
        d.mem = m->nodes[id].grad;
    } else {
        d.mem = m->scratch;
        d.accumulate_into = id;
    }
    return d;
}

static kd_status finish(kd_model *m, grad_dst d, int n) {
    if (d.accumulate_into < 0) return KD_OK;
    const kd_node *p = &m->nodes[d.accumulate_into];
    return kd_axpy(m->ctx, (size_t)n * node_numel(p), p->grad, m->scratch, 1.0f);
}

kd_status kd_model_backward(kd_model *m, int n) {
    kd_ctx *ctx = m->ctx;
    KD_ASSERT(m->grads && n > 0 && n <= m->batch);
    bool *written = m->written;
    memset(written, 0, (size_t)m->nnodes * sizeof *written);
    written[m->nnodes - 1] = true;
    kd_status s = KD_OK;
    for (int i = m->nnodes - 1; i >= 0 && s == KD_OK; i--) {
        kd_node *nd = &m->nodes[i];
        if (!written[i]) continue; /* no path to the loss */
        cl_mem x = in_buf(m, nd->in);
        size_t count = (size_t)n * node_numel(nd);
        if (nd->op == KD_OP_FLATTEN) {
            if (nd->in >= 0) written[nd->in] = true; /* same memory as the producer's gradient */
            continue;
        }
        if (nd->fused && m->nodes[nd->in].op == KD_OP_BN) {
            written[nd->in] = true; /* batch norm's backward reads this ReLU's gradient */
            continue;
        }
        if (nd->op == KD_OP_ADD) {
            /* Both branches receive the join's gradient unchanged. */
            int ins[2] = {nd->in, nd->in2};
            for (int b = 0; b < 2 && s == KD_OK; b++) {
                if (ins[b] < 0) continue;
                if (!written[ins[b]]) {
                    written[ins[b]] = true;
                    s = kd_copy(ctx, m->nodes[ins[b]].grad, 0, nd->grad, 0, count * sizeof(float));
                } else {
                    s = kd_axpy(ctx, count, m->nodes[ins[b]].grad, nd->grad, 1.0f);
                }
            }
            continue;
        }
        grad_dst d = target(m, written, nd->in);
        switch (nd->op) {
        case KD_OP_CONV: {
            kd_conv_desc cd = kd_model_conv_desc(m, nd, n);
            s = kd_conv_backward(ctx, &cd, d.mem, pgrad(m, nd->param[0]), pgrad(m, nd->param[1]), nd->grad, x,
                                 pmem(m, nd->param[0]), m->ws);
            break;
        }
        case KD_OP_BN: {
            /* BN as the first layer: nobody needs dx, but gamma and beta
             * still learn, so dx goes to scratch (free: d.mem is NULL only
             * for the model input, which never accumulates there). */
            kd_bn_desc bd = bn_desc(nd, n);
            cl_mem dy = bd.relu ? m->nodes[nd->relu_after].grad : nd->grad;
            s = kd_bn_backward(ctx, &bd, d.mem ? d.mem : m->scratch, pgrad(m, nd->param[0]), pgrad(m, nd->param[1]),
                               dy, x, nd->aux, nd->aux2, pmem(m, nd->param[0]), bd.relu ? nd->out : NULL);
            break;
        }
        case KD_OP_RELU:
            if (d.mem) s = kd_relu_backward(ctx, count, d.mem, nd->grad, nd->out);
            break;
        case KD_OP_MAXPOOL: {
            kd_pool_desc pd = pool_desc(m, nd, n);
            if (d.mem) s = kd_maxpool_backward(ctx, &pd, d.mem, nd->grad, nd->aux);
            break;
        }
        case KD_OP_AVGPOOL: {
            kd_pool_desc pd = pool_desc(m, nd, n);
            if (d.mem) s = kd_avgpool_backward(ctx, &pd, d.mem, nd->grad);
            break;
        }
        case KD_OP_GAP: {
            int c, h, w;
            in_shape(m, nd->in, &c, &h, &w);
            if (d.mem) s = kd_gap_backward(ctx, n, c, h * w, d.mem, nd->grad);
            break;
        }
        case KD_OP_DENSE: {
            kd_dense_desc dd = {n, (int)m->params[nd->param[0]].shape[1], nd->cout};
            s = kd_dense_backward(ctx, &dd, d.mem, pgrad(m, nd->param[0]), pgrad(m, nd->param[1]), nd->grad, x,
                                  pmem(m, nd->param[0]));
            break;
        }
        case KD_OP_DROPOUT:
            if (!d.mem) break;
            if (nd->p > 0.0f)
                s = kd_dropout_backward(ctx, count, d.mem, nd->grad, nd->p, m->dropout_seed,
                                        (m->dropout_counter << 16) | (uint64_t)i);
            else
                s = kd_copy(ctx, d.mem, 0, nd->grad, 0, count * sizeof(float));
            break;
        case KD_OP_FLATTEN:
        case KD_OP_ADD: break;
        }
        if (s == KD_OK) s = finish(m, d, n);
    }
    return s;
}

kd_status kd_model_download(kd_model *m, float *host) {
    kd_ctx *ctx = m->ctx;
    float *t = malloc((m->train_floats ? m->train_floats : 1) * sizeof(float));
    float *b = malloc((m->buf_floats ? m->buf_floats : 1) * sizeof(float));
    kd_status s = (!t || !b) ? kd_fail(&ctx->err, KD_ERR_NOMEM, "out of host memory") : KD_OK;
    if (s == KD_OK) s = kd_read(ctx, m->train_arena, 0, m->train_floats * sizeof(float), t);
    if (s == KD_OK && m->buf_floats) s = kd_read(ctx, m->buf_arena, 0, m->buf_floats * sizeof(float), b);
    if (s == KD_OK) {
        size_t at = 0;
        for (int i = 0; i < m->nparams; i++) {
            const kd_param *p = &m->params[i];
            memcpy(host + at, (p->trainable ? t : b) + p->offset, p->count * sizeof(float));
            at += p->count;
        }
    }
    free(t);
    free(b);
    return s;
}

kd_status kd_model_upload(kd_model *m, const float *host) {
    kd_ctx *ctx = m->ctx;
    float *t = calloc(m->train_floats ? m->train_floats : 1, sizeof(float));
    float *b = calloc(m->buf_floats ? m->buf_floats : 1, sizeof(float));
    kd_status s = (!t || !b) ? kd_fail(&ctx->err, KD_ERR_NOMEM, "out of host memory") : KD_OK;
    if (s == KD_OK) {
        size_t at = 0;
        for (int i = 0; i < m->nparams; i++) {
            const kd_param *p = &m->params[i];
            memcpy((p->trainable ? t : b) + p->offset, host + at, p->count * sizeof(float));
            at += p->count;
        }
        s = kd_write(ctx, m->train_arena, 0, m->train_floats * sizeof(float), t, true);
        if (s == KD_OK && m->buf_floats) s = kd_write(ctx, m->buf_arena, 0, m->buf_floats * sizeof(float), b, true);
    }
    free(t);
    free(b);
    return s;
}
