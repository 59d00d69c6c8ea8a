#include "src/model/plan.h"

#include <stdlib.h>
#include <string.h>

static size_t numel(const kd_node *n) { return (size_t)n->c * (size_t)n->h * (size_t)n->w; }

/* A ReLU or a residual join may write over its first input when nothing
 * else reads that input and the backward pass never needs its value: the
 * backward of a convolution, a dense layer or batch norm reads their own
 * inputs (and saved statistics), never their outputs; a join's backward
 * reads nothing. ReLU's backward then reads its own output, which is what
 * the shared buffer holds. */
static bool writes_in_place(const kd_model *m, const kd_node *n, bool grads) {
    if (n->in < 0 || m->nodes[n->in].consumers != 1 || n->in2 == n->in) return false;
    kd_op prev = m->nodes[n->in].op;
    /* Inference only: batch norm is then element-wise with fixed statistics,
     * and writing over the conv's output saves a cold write stream (on POCL
     * it cut batch norm's time by more than half). Training's backward
     * needs its input. */
    if (n->op == KD_OP_BN) return !grads && (prev == KD_OP_CONV || prev == KD_OP_DENSE);
    if (n->op != KD_OP_RELU && n->op != KD_OP_ADD) return false;
    bool prev_free = prev == KD_OP_CONV || prev == KD_OP_DENSE || prev == KD_OP_BN;
    return prev_free || (n->op == KD_OP_RELU && prev == KD_OP_ADD);
}

/* Buffers handed out over lifetimes [first, last] (node indices); an
 * occupant frees its buffer for items whose lifetime starts after its own
 * ends. Items come in order of `first` (ascending, dir 1) or of `last`
 * (descending, dir -1), so one "busy until" per buffer suffices. A free
 * buffer large enough is preferred (the smallest such), else the largest
 * free one grows, else a new one. */
typedef struct pool {
    int n;
    size_t *floats;
    int *busy; /* dir 1: last use of the occupant; dir -1: first use */
} pool;

static int pool_take(pool *p, int dir, int first, int last, size_t need) {
    int fit = -1, grow = -1;
    for (int b = 0; b < p->n; b++) {
        bool free_ = dir > 0 ? p->busy[b] < first : p->busy[b] > last;
        if (!free_) continue;
        if (p->floats[b] >= need) {
            if (fit < 0 || p->floats[b] < p->floats[fit]) fit = b;
        } else if (grow < 0 || p->floats[b] > p->floats[grow]) {
            grow = b;
        }
    }
    int b = fit >= 0 ? fit : grow >= 0 ? grow : p->n++;
    if (b == p->n - 1 && fit < 0 && grow < 0) p->floats[b] = 0;
    if (p->floats[b] < need) p->floats[b] = need;
    p->busy[b] = dir > 0 ? last : first;
    return b;
}

kd_status kd_mem_plan_make(const kd_model *m, bool grads, kd_mem_plan *p, kd_err *err) {
    memset(p, 0, sizeof *p);
    int nn = m->nnodes;
    size_t cap = (size_t)(nn > 0 ? nn : 1);
    int *root = malloc(cap * sizeof *root), *act_end = malloc(cap * sizeof *act_end);
    int *grad_end = malloc(cap * sizeof *grad_end), *order = malloc(cap * sizeof *order);
    int *busy = malloc(cap * sizeof *busy);
    p->act = malloc(cap * sizeof *p->act);
    p->grad = malloc(cap * sizeof *p->grad);
    p->in_place = calloc(cap, sizeof *p->in_place);
    p->fused = calloc(cap, sizeof *p->fused);
    p->fused_bwd = calloc(cap, sizeof *p->fused_bwd);
    p->act_floats = malloc(cap * sizeof *p->act_floats);
    p->grad_floats = malloc(cap * sizeof *p->grad_floats);
    if (!root || !act_end || !grad_end || !order || !busy || !p->act || !p->grad || !p->in_place || !p->fused || !p->fused_bwd ||
        !p->act_floats || !p->grad_floats) {
        free(root), free(act_end), free(grad_end), free(order), free(busy);
        kd_mem_plan_free(p);
        return kd_fail(err, KD_ERR_NOMEM, "out of host memory planning the memory of %s", m->spec);
    }

    /* Chains of in-place nodes share their first node's buffer (root);
     * flatten is an alias of its producer (-1: the model input). */
    for (int i = 0; i < nn; i++) {
        const kd_node *n = &m->nodes[i];
        p->in_place[i] = writes_in_place(m, n, grads);
        kd_op prev = n->in >= 0 ? m->nodes[n->in].op : KD_OP_FLATTEN;
        p->fused[i] = p->in_place[i] && n->op == KD_OP_RELU && (prev == KD_OP_BN || prev == KD_OP_ADD);
        p->fused_bwd[i] = p->fused[i] && prev == KD_OP_BN;
        root[i] = n->op == KD_OP_FLATTEN ? (n->in >= 0 ? root[n->in] : -1) : p->in_place[i] ? root[n->in] : i;
        act_end[i] = i;
        grad_end[i] = i;
    }
    act_end[nn - 1] = grad_end[nn - 1] = nn; /* the logits and their gradient outlive the graph */
    /* Last reader of each chain (forward), last writer of each gradient
     * (backward: a consumer writes its inputs' gradients). */
    for (int i = 0; i < nn; i++) {
        const kd_node *n = &m->nodes[i];
        int ins[2] = {n->in, n->op == KD_OP_ADD ? n->in2 : -1};
        for (int k = 0; k < 2; k++) {
            if (ins[k] < 0) continue;
            int r = root[ins[k]];
            if (r >= 0 && act_end[r] < i) act_end[r] = i;
            int g = ins[k];
            while (g >= 0 && m->nodes[g].op == KD_OP_FLATTEN) g = m->nodes[g].in; /* same gradient memory */
            if (g >= 0 && grad_end[g] < i) grad_end[g] = i;
        }
    }
    /* The logits may end a chain: the chain lives as long as they do. */
    for (int i = 0; i < nn; i++)
        if (root[i] >= 0 && act_end[root[i]] < act_end[i]) act_end[root[i]] = act_end[i];

    /* Activations: chains in forward order. */
    pool ap = {0, p->act_floats, busy};
    for (int i = 0; i < nn; i++) {
        if (m->nodes[i].op == KD_OP_FLATTEN || root[i] != i) continue;
        if (grads) {
            p->act_floats[ap.n] = numel(&m->nodes[i]);
            p->act[i] = ap.n++;
        } else {
            p->act[i] = pool_take(&ap, 1, i, act_end[i], numel(&m->nodes[i]));
        }
    }
    for (int i = 0; i < nn; i++)
        if (m->nodes[i].op == KD_OP_FLATTEN || root[i] != i) p->act[i] = root[i] >= 0 && root[i] != i ? p->act[root[i]] : -1;
    p->nact = ap.n;

    /* Gradients: in the order they become live in the backward pass. */
    int ng = 0;
    /* busy is free between the two pools: here it marks batch norms whose fused ReLU reads the gradient instead. */
    for (int i = 0; i < nn; i++) busy[i] = 0;
    for (int j = 0; j < nn; j++)
        if (p->fused_bwd[j]) busy[m->nodes[j].in] = 1;
    for (int i = 0; i < nn; i++) {
        p->grad[i] = -1;
        if (grads && m->nodes[i].op != KD_OP_FLATTEN && !busy[i]) order[ng++] = i;
    }
    for (int a = 1; a < ng; a++) { /* insertion sort by grad_end, descending */
        int v = order[a], b = a - 1;
        while (b >= 0 && grad_end[order[b]] < grad_end[v]) {
            order[b + 1] = order[b];
            b--;
        }
        order[b + 1] = v;
    }
    pool gp = {0, p->grad_floats, busy};
    for (int a = 0; a < ng; a++) {
        int i = order[a];
        int reader = p->fused_bwd[i] ? m->nodes[i].in : i;
        p->grad[i] = pool_take(&gp, -1, reader, grad_end[i], numel(&m->nodes[i]));
    }
    p->ngrad = gp.n;
    free(root), free(act_end), free(grad_end), free(order), free(busy);
    return KD_OK;
}

void kd_mem_plan_free(kd_mem_plan *p) {
    free(p->act);
    free(p->grad);
    free(p->in_place);
    free(p->fused);
    free(p->fused_bwd);
    free(p->act_floats);
    free(p->grad_floats);
    memset(p, 0, sizeof *p);
}

size_t kd_mem_plan_floats(const kd_mem_plan *p, size_t *largest) {
    size_t t = 0, big = 0;
    for (int b = 0; b < p->nact; b++) {
        t += p->act_floats[b];
        if (p->act_floats[b] > big) big = p->act_floats[b];
    }
    for (int b = 0; b < p->ngrad; b++) {
        t += p->grad_floats[b];
        if (p->grad_floats[b] > big) big = p->grad_floats[b];
    }
    if (largest) *largest = big;
    return t;
}
