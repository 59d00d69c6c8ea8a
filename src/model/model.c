/* Building a model from its spec at an input size, its counts (parameters,
 * multiply-accumulates), its parameters on the device (initialised from a
 * seed) and their host copies. Memory for a batch is memory.c's, running it
 * exec.c's. */
#include "src/model/model_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/model/graph.h"
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
    if (s == KD_OK && !g.oom && !(m->mem = calloc((size_t)m->nnodes + 1, sizeof *m->mem))) g.oom = true;
    for (int i = 0; s == KD_OK && !g.oom && i < m->nnodes; i++) m->mem[i].relu_after = -1; /* until a plan fuses */
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

void kd_model_free(kd_model *m) {
    if (!m) return;
    if (m->ctx) {
        kd_model_release_activations(m);
        kd_model_release_grads(m);
        for (int i = 0; i < m->nparams; i++) kd_buffer_free(m->ctx, m->params[i].mem);
        kd_buffer_free(m->ctx, m->train_arena);
        kd_buffer_free(m->ctx, m->buf_arena);
    }
    free(m->written);
    free(m->mem);
    free(m->nodes);
    free(m->params);
    free(m);
}

size_t kd_node_params(const kd_model *m, const kd_node *n) {
    size_t t = 0;
    for (int j = 0; j < 4; j++)
        if (n->param[j] >= 0 && m->params[n->param[j]].trainable) t += m->params[n->param[j]].count;
    return t;
}

size_t kd_model_params(const kd_model *m, bool head_only, bool backbone_only) {
    size_t total = 0;
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *n = &m->nodes[i];
        if (!(head_only && !n->head) && !(backbone_only && n->head)) total += kd_node_params(m, n);
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
    return m->nparams ? m->params[m->nparams - 1].packed + m->params[m->nparams - 1].count : 0;
}

const char *kd_model_spec(const kd_model *m) { return m->spec; }
kd_shape kd_model_input_shape(const kd_model *m) { return (kd_shape){m->batch, m->in_c, m->in_h, m->in_w}; }
int kd_model_classes(const kd_model *m) { return m->classes; }
kd_ctx *kd_model_ctx(const kd_model *m) { return m->ctx; }
int kd_model_nnodes(const kd_model *m) { return m->nnodes; }
const kd_node *kd_model_node(const kd_model *m, int i) { return &m->nodes[i]; }
int kd_model_nparams(const kd_model *m) { return m->nparams; }
uint64_t kd_model_dropout_counter(const kd_model *m) { return m->dropout_counter; }
void kd_model_set_dropout_counter(kd_model *m, uint64_t counter) { m->dropout_counter = counter; }
void kd_model_set_fused_norm(kd_model *m, bool fused) { m->unfused_norm = !fused; }
kd_param_block kd_model_trainable(const kd_model *m) {
    return (kd_param_block){m->train_arena, m->grad_arena, m->train_floats};
}
kd_param_block kd_model_buffers(const kd_model *m) { return (kd_param_block){m->buf_arena, NULL, m->buf_floats}; }

kd_param_view kd_model_param(const kd_model *m, int i) {
    const kd_param *p = &m->params[i];
    return (kd_param_view){p->name, p->ndim, p->shape, p->count, p->trainable, p->packed, p->offset};
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
    size_t align = kd_ctx_device(ctx)->mem_base_align_bytes / sizeof(float);
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
        return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory initialising %s", m->spec);
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

kd_status kd_model_download(kd_model *m, float *host) {
    kd_ctx *ctx = m->ctx;
    float *t = malloc((m->train_floats ? m->train_floats : 1) * sizeof(float));
    float *b = malloc((m->buf_floats ? m->buf_floats : 1) * sizeof(float));
    kd_status s = (!t || !b) ? kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory") : KD_OK;
    if (s == KD_OK) s = kd_read(ctx, m->train_arena, 0, m->train_floats * sizeof(float), t);
    if (s == KD_OK && m->buf_floats) s = kd_read(ctx, m->buf_arena, 0, m->buf_floats * sizeof(float), b);
    if (s == KD_OK) {
        for (int i = 0; i < m->nparams; i++) {
            const kd_param *p = &m->params[i];
            memcpy(host + p->packed, (p->trainable ? t : b) + p->offset, p->count * sizeof(float));
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
    kd_status s = (!t || !b) ? kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory") : KD_OK;
    if (s == KD_OK) {
        for (int i = 0; i < m->nparams; i++) {
            const kd_param *p = &m->params[i];
            memcpy((p->trainable ? t : b) + p->offset, host + p->packed, p->count * sizeof(float));
        }
        s = kd_write(ctx, m->train_arena, 0, m->train_floats * sizeof(float), t, true);
        if (s == KD_OK && m->buf_floats) s = kd_write(ctx, m->buf_arena, 0, m->buf_floats * sizeof(float), b, true);
    }
    free(t);
    free(b);
    return s;
}
