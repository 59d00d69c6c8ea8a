/* A model's device memory for one batch size: priced before anything is
 * allocated (kd_model_memory, and a clear error when it cannot fit), then
 * allocated as plan.c's sharing says (kd_model_plan), and released. */
#include "src/model/model_private.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/buffer.h"
#include "src/model/plan.h"

void kd_model_release_activations(kd_model *m) {
    if (!m->ctx) return;
    for (int i = 0; i < m->nnodes; i++) {
        kd_node_mem *me = &m->mem[i];
        kd_buffer_free(m->ctx, me->aux);
        kd_buffer_free(m->ctx, me->aux2);
        me->out = me->grad = me->aux = me->aux2 = NULL;
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

void kd_model_release_grads(kd_model *m) {
    for (int i = 0; i < m->nparams; i++) {
        kd_buffer_free(m->ctx, m->params[i].grad);
        m->params[i].grad = NULL;
    }
    kd_buffer_free(m->ctx, m->grad_arena);
    m->grad_arena = NULL;
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
            if (m->nodes[i].op != KD_OP_FLATTEN) ADD(nb * kd_node_numel(&m->nodes[i]) * sizeof(float) * (grads ? 2 : 1));
    }
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *n = &m->nodes[i];
        uint64_t count = nb * kd_node_numel(n);
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
    uint64_t have = kd_ctx_device(ctx)->global_mem > kd_ctx_counters(ctx).mem_in_use
                        ? kd_ctx_device(ctx)->global_mem - kd_ctx_counters(ctx).mem_in_use
                        : 0;
    /* Kernels index with int: no buffer may hold 2^31 elements, whatever the
     * device would allocate. */
    uint64_t limit = (uint64_t)INT_MAX * sizeof(float);
    if (kd_ctx_device(ctx)->max_alloc && kd_ctx_device(ctx)->max_alloc < limit) limit = kd_ctx_device(ctx)->max_alloc;
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
    return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM,
                   "%s at batch %d needs about %.0f MiB of device memory for %s (largest single buffer %.0f MiB), "
                   "but %s has %.0f MiB free of %.0f MiB (single buffers up to %.0f MiB): %s",
                   m->spec, batch, (double)need / mib, grads ? "training" : "inference", (double)largest / mib,
                   kd_ctx_device(ctx)->name, (double)have / mib, (double)kd_ctx_device(ctx)->global_mem / mib,
                   (double)limit / mib, hint);
}

kd_status kd_model_plan(kd_model *m, int batch, bool grads) {
    kd_ctx *ctx = m->ctx;
    KD_ASSERT(ctx && batch > 0);
    if (m->batch == batch && m->grads == grads) return KD_OK;
    kd_model_release_activations(m);
    if (!grads) kd_model_release_grads(m);
    KD_TRY(check_fits(m, batch, grads));
    if (grads && !m->written && !(m->written = calloc((size_t)m->nnodes, sizeof *m->written)))
        return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory planning %s", m->spec);
    char what[320];
    size_t input_floats = (size_t)batch * (size_t)m->in_c * (size_t)m->in_h * (size_t)m->in_w;
    KD_TRY(kd_buffer_alloc(ctx, input_floats * sizeof(float), "the input batch", &m->input));
    kd_mem_plan plan;
    KD_TRY(kd_mem_plan_make(m, grads, &plan, kd_ctx_err(ctx)));
    kd_status s = KD_OK;
    m->nbufs = 0;
    if (!(m->bufs = calloc((size_t)(plan.nact + plan.ngrad + 1), sizeof *m->bufs)))
        s = kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory planning %s", m->spec);
    for (int b = 0; b < plan.nact && s == KD_OK; b++) {
        snprintf(what, sizeof what, "activations %d of %d of %s (batch %d)", b + 1, plan.nact, m->spec, batch);
        s = kd_buffer_alloc(ctx, (size_t)batch * plan.act_floats[b] * sizeof(float), what, &m->bufs[m->nbufs++]);
    }
    for (int b = 0; b < plan.ngrad && s == KD_OK; b++) {
        snprintf(what, sizeof what, "gradients %d of %d of %s (batch %d)", b + 1, plan.ngrad, m->spec, batch);
        s = kd_buffer_alloc(ctx, (size_t)batch * plan.grad_floats[b] * sizeof(float), what, &m->bufs[m->nbufs++]);
    }
    for (int i = 0; i < m->nnodes; i++) m->mem[i].relu_after = -1;
    for (int i = 0; i < m->nnodes; i++) {
        m->mem[i].fused = plan.fused[i];
        if (plan.fused[i]) m->mem[m->nodes[i].in].relu_after = i;
    }
    for (int i = 0; i < m->nnodes && s == KD_OK; i++) {
        kd_node_mem *me = &m->mem[i];
        me->out = me->grad = NULL;
        if (m->nodes[i].op == KD_OP_FLATTEN) continue; /* below: its producer's memory */
        me->out = m->bufs[plan.act[i]];
        if (plan.grad[i] >= 0) me->grad = m->bufs[plan.nact + plan.grad[i]];
    }
    kd_mem_plan_free(&plan);
    KD_TRY(s);
    size_t ws = 1, biggest = 1;
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *n = &m->nodes[i];
        size_t count = (size_t)batch * kd_node_numel(n);
        if (count > biggest) biggest = count;
        if (n->op == KD_OP_FLATTEN) {
            /* Flattening NCHW is free: share the producer's memory (the
             * input batch when flatten is the first layer). */
            KD_ASSERT(n->in < 0 || m->nodes[n->in].consumers == 1);
            continue;
        }
        if (n->op == KD_OP_MAXPOOL) {
            snprintf(what, sizeof what, "argmax of %s", n->name);
            KD_TRY(kd_buffer_alloc(ctx, count * sizeof(int), what, &m->mem[i].aux));
        } else if (n->op == KD_OP_BN) {
            KD_TRY(kd_buffer_alloc(ctx, (size_t)n->c * sizeof(float), "batch-norm mean", &m->mem[i].aux));
            KD_TRY(kd_buffer_alloc(ctx, (size_t)n->c * sizeof(float), "batch-norm inverse std", &m->mem[i].aux2));
        } else if (n->op == KD_OP_CONV) {
            kd_conv_desc d = kd_model_conv_desc(m, n, batch);
            size_t w = kd_conv_workspace_floats(&d);
            if (w > ws) ws = w;
        }
    }
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *n = &m->nodes[i];
        if (n->op == KD_OP_FLATTEN) {
            m->mem[i].out = kd_model_in_buf(m, n->in);
            m->mem[i].grad = n->in >= 0 ? m->mem[n->in].grad : NULL; /* no gradient for the input */
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
