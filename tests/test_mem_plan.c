/* The memory plan (src/model/plan.c) without a device: every pair of nodes
 * that shares a buffer must never need it at the same time, in-place nodes
 * only where the backward pass allows it, and the sizes it saves
 * (ResNet-50 at 128 px, batch 32, training: 3.5 GiB before this plan). The
 * numbers trained with a plan are checked elsewhere: test_tiny_net and
 * test_model compare gradients with finite differences, test_e2e trains. */
#include <stdlib.h>

#include "src/model/plan.h"
#include "tests/harness.h"

static kd_model *build(const char *spec, int c, int h, int w) {
    kd_model *m = NULL;
    kd_err err = {0};
    if (kd_model_build(spec, c, h, w, 10, &m, &err) != KD_OK) th_fatal(__FILE__, __LINE__, spec, err.msg);
    return m;
}

/* Node i's readers in the forward pass, flatten followed through. */
static int last_reader(const kd_model *m, int i) {
    int last = i == m->nnodes - 1 ? m->nnodes : i;
    for (int j = i + 1; j < m->nnodes; j++) {
        const kd_node *n = &m->nodes[j];
        if (n->in != i && n->in2 != i) continue;
        int r = n->op == KD_OP_FLATTEN ? last_reader(m, j) : j;
        if (r > last) last = r;
    }
    return last;
}

/* The chain an output belongs to: the node whose buffer it writes. */
static int chain_of(const kd_model *m, const kd_mem_plan *p, int i) {
    while (i >= 0 && (p->in_place[i] || m->nodes[i].op == KD_OP_FLATTEN)) i = m->nodes[i].in;
    return i;
}

static void check_plan(const char *spec, int c, int hw, bool grads) {
    kd_model *m = build(spec, c, hw, hw);
    kd_mem_plan p;
    kd_err err = {0};
    MUST_E(&err, kd_mem_plan_make(m, grads, &p, &err));
    int nn = m->nnodes, bad_size = 0, bad_act = 0, bad_grad = 0, bad_inplace = 0, in_place = 0, fused = 0;
    int bad_fused = 0;
    for (int i = 0; i < nn; i++) {
        const kd_node *n = &m->nodes[i];
        if (n->op == KD_OP_FLATTEN) continue;
        size_t numel = (size_t)n->c * n->h * n->w;
        if (p.act[i] < 0 || p.act[i] >= p.nact || p.act_floats[p.act[i]] < numel) bad_size++;
        /* Batch norm with its ReLU fused reads the ReLU's gradient: none of its own. */
        bool bn_fused = false;
        for (int j = i + 1; j < nn; j++) bn_fused |= m->nodes[j].in == i && p.fused_bwd[j];
        if (bn_fused && (n->op != KD_OP_BN || p.grad[i] != -1)) bad_fused++;
        if (grads && !bn_fused && (p.grad[i] < 0 || p.grad[i] >= p.ngrad || p.grad_floats[p.grad[i]] < numel))
            bad_size++;
        if (p.fused[i]) {
            fused++;
            kd_op prev = m->nodes[n->in].op;
            if (n->op != KD_OP_RELU || !p.in_place[i] || (prev != KD_OP_BN && prev != KD_OP_ADD) ||
                p.fused_bwd[i] != (prev == KD_OP_BN))
                bad_fused++;
        }
        if (p.in_place[i]) {
            in_place++;
            kd_op prev = m->nodes[n->in].op;
            /* Never over a node whose backward reads its own output (ReLU),
             * nor over one that something else reads. */
            if (prev == KD_OP_RELU || m->nodes[n->in].consumers != 1 || p.act[i] != p.act[n->in]) bad_inplace++;
        }
    }
    /* Activations: two chains in one buffer must not both be live (in
     * training every chain lives to the backward pass, so none share). */
    for (int i = 0; i < nn; i++)
        for (int j = i + 1; j < nn; j++) {
            if (m->nodes[i].op == KD_OP_FLATTEN || m->nodes[j].op == KD_OP_FLATTEN) continue;
            int ci = chain_of(m, &p, i), cj = chain_of(m, &p, j);
            if (ci == cj || p.act[i] != p.act[j]) continue;
            if (grads) {
                bad_act++;
                continue;
            }
            int end_i = 0, end_j = 0;
            for (int k = ci; k < nn; k++)
                if (chain_of(m, &p, k) == ci && last_reader(m, k) > end_i) end_i = last_reader(m, k);
            for (int k = cj; k < nn; k++)
                if (chain_of(m, &p, k) == cj && last_reader(m, k) > end_j) end_j = last_reader(m, k);
            if (!(end_i < cj || end_j < ci)) bad_act++;
        }
    /* Gradients: node i's lives from its last reader's backward step (which
     * writes it) down to the step that reads it: i's own, or for a ReLU fused
     * into batch norm, batch norm's. */
    if (grads)
        for (int i = 0; i < nn; i++)
            for (int j = i + 1; j < nn; j++) {
                if (m->nodes[i].op == KD_OP_FLATTEN || m->nodes[j].op == KD_OP_FLATTEN) continue;
                if (p.grad[i] < 0 || p.grad[i] != p.grad[j]) continue;
                int read_j = p.fused_bwd[j] ? m->nodes[j].in : j;
                if (!(last_reader(m, i) < read_j)) bad_grad++;
            }
    size_t biggest;
    size_t floats = kd_mem_plan_floats(&p, &biggest);
    size_t unshared = 0;
    for (int i = 0; i < nn; i++)
        if (m->nodes[i].op != KD_OP_FLATTEN)
            unshared += (size_t)m->nodes[i].c * m->nodes[i].h * m->nodes[i].w * (grads ? 2 : 1);
    printf("%-28s %3dpx %-9s nodes %3d  buffers %3d act + %2d grad, in place %2d (fused %2d), floats/sample %9zu of "
           "%9zu (%.0f%%)\n",
           spec, hw, grads ? "training" : "inference", nn, p.nact, p.ngrad, in_place, fused, floats, unshared,
           100.0 * (double)floats / (double)unshared);
    CHECK(bad_size == 0, "%s %s: %d nodes without a large enough buffer", spec, grads ? "train" : "infer", bad_size);
    CHECK(bad_inplace == 0, "%s: %d nodes in place where the backward needs the input", spec, bad_inplace);
    CHECK(bad_act == 0, "%s %s: %d pairs of live activations share a buffer", spec, grads ? "train" : "infer",
          bad_act);
    CHECK(bad_grad == 0, "%s: %d pairs of live gradients share a buffer", spec, bad_grad);
    CHECK(bad_fused == 0, "%s: %d fusions where the graph does not allow them", spec, bad_fused);
    CHECK(floats <= unshared, "%s: the plan is larger than one buffer per node", spec);
    kd_mem_plan_free(&p);
    kd_model_free(m);
}

int main(void) {
    const struct { const char *spec; int c, hw; } models[] = {
        {"seed-cnn", 1, 36},
        {"resnet14:width=0.25", 1, 28},
        {"resnet26:width=0.25", 1, 28},
        {"resnet50", 3, 64},
        {"conv8x3p1,bn,relu,conv8x3p1,relu,maxpool2,flatten,dense16,relu,dropout", 3, 12},
        {"bn,relu,gap", 2, 5},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        for (int grads = 0; grads <= 1; grads++) check_plan(models[i].spec, models[i].c, models[i].hw, grads);

    /* The target: ResNet-50 at 128 px, batch 32, training, <= 2.5 GiB
     * of device memory (3.5 GiB with one activation and one gradient buffer
     * per node). */
    kd_model *r = build("resnet50", 3, 128, 128);
    uint64_t train, infer, largest;
    kd_model_memory(r, 32, true, &train, &largest);
    kd_model_memory(r, 32, false, &infer, &largest);
    double gib = 1024.0 * 1024.0 * 1024.0;
    printf("resnet50 3x128x128 batch 32: training %.2f GiB, inference %.2f GiB\n", (double)train / gib,
           (double)infer / gib);
    CHECK((double)train / gib <= 2.5, "resnet50 training plan %.2f GiB", (double)train / gib);
    CHECK(infer < train / 2, "inference reuses activations: %.2f GiB", (double)infer / gib);
    kd_model_free(r);
    return th_done("test_mem_plan");
}
