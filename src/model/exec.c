/* Running a model: forward (training or inference), the gradient of every
 * node and parameter in reverse order, and the logits in between. */
#include "src/model/model_private.h"

#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/dense.h"
#include "src/layers/eltwise.h"

static cl_mem pmem(const kd_model *m, int idx) { return idx >= 0 ? m->params[idx].mem : NULL; }
static cl_mem pgrad(const kd_model *m, int idx) { return idx >= 0 ? m->params[idx].grad : NULL; }

/* Inference: conv node i followed by batch norm j = i + 1 that alone reads
 * it, and a convolution whose own kernel can apply the norm as it stores
 * (kd_conv_fuses_norm): one pass writes the normalised (and ReLU'd) tensor
 * into j's buffer, and j is skipped. Not when j's buffer is the conv's
 * input (the plan reuses a dead buffer): the conv would overwrite what it
 * still reads. */
static bool fuse_norm(const kd_model *m, int i, const kd_conv_desc *d, cl_mem x) {
    if (i + 1 >= m->nnodes) return false;
    const kd_node *c = &m->nodes[i], *bn = &m->nodes[i + 1];
    return !m->unfused_norm && bn->op == KD_OP_BN && bn->in == i && c->consumers == 1 && m->mem[i + 1].out != x &&
           kd_conv_fuses_norm(m->ctx, d);
}

kd_status kd_model_forward(kd_model *m, int n, bool training) {
    kd_ctx *ctx = m->ctx;
    KD_ASSERT(n > 0 && n <= m->batch);
    if (training) m->dropout_counter++;
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *nd = &m->nodes[i];
        const kd_node_mem *me = &m->mem[i];
        cl_mem x = kd_model_in_buf(m, nd->in);
        size_t count = (size_t)n * kd_node_numel(nd);
        switch (nd->op) {
        case KD_OP_CONV: {
            kd_conv_desc d = kd_model_conv_desc(m, nd, n);
            if (!training && fuse_norm(m, i, &d, x)) {
                const kd_node *bn = &m->nodes[++i];
                kd_bn_desc bd = kd_model_bn_desc(m, i, n);
                kd_conv_norm norm = {pmem(m, bn->param[0]), pmem(m, bn->param[1]), pmem(m, bn->param[2]),
                                     pmem(m, bn->param[3]), bd.eps, bd.relu};
                KD_TRY(kd_conv_forward_norm(ctx, &d, m->mem[i].out, x, pmem(m, nd->param[0]), pmem(m, nd->param[1]),
                                            m->ws, &norm));
                break;
            }
            KD_TRY(kd_conv_forward(ctx, &d, me->out, x, pmem(m, nd->param[0]), pmem(m, nd->param[1]), m->ws));
            break;
        }
        case KD_OP_BN: {
            kd_bn_desc d = kd_model_bn_desc(m, i, n);
            if (training)
                KD_TRY(kd_bn_forward_train(ctx, &d, me->out, me->aux, me->aux2, pmem(m, nd->param[2]),
                                           pmem(m, nd->param[3]), x, pmem(m, nd->param[0]), pmem(m, nd->param[1])));
            else
                KD_TRY(kd_bn_forward_infer(ctx, &d, me->out, x, pmem(m, nd->param[0]), pmem(m, nd->param[1]),
                                           pmem(m, nd->param[2]), pmem(m, nd->param[3])));
            break;
        }
        case KD_OP_RELU:
            if (!me->fused) KD_TRY(kd_relu_forward(ctx, count, me->out, x));
            break;
        case KD_OP_MAXPOOL: {
            kd_pool_desc d = kd_model_pool_desc(m, nd, n);
            KD_TRY(kd_maxpool_forward(ctx, &d, me->out, me->aux, x));
            break;
        }
        case KD_OP_AVGPOOL: {
            kd_pool_desc d = kd_model_pool_desc(m, nd, n);
            KD_TRY(kd_avgpool_forward(ctx, &d, me->out, x));
            break;
        }
        case KD_OP_GAP: {
            int c, h, w;
            kd_model_in_shape(m, nd->in, &c, &h, &w);
            KD_TRY(kd_gap_forward(ctx, n, c, h * w, me->out, x));
            break;
        }
        case KD_OP_FLATTEN: break;
        case KD_OP_DENSE: {
            kd_dense_desc d = kd_model_dense_desc(m, nd, n);
            KD_TRY(kd_dense_forward(ctx, &d, me->out, x, pmem(m, nd->param[0]), pmem(m, nd->param[1])));
            break;
        }
        case KD_OP_DROPOUT:
            if (training && nd->dropout.p > 0.0f)
                KD_TRY(kd_dropout_forward(ctx, count, me->out, x, nd->dropout.p, m->dropout_seed,
                                          (m->dropout_counter << 16) | (uint64_t)i));
            else
                KD_TRY(kd_copy(ctx, me->out, 0, x, 0, count * sizeof(float)));
            break;
        case KD_OP_ADD:
            KD_TRY(kd_add_forward(ctx, count, me->out, x, kd_model_in_buf(m, nd->in2), me->relu_after >= 0));
            break;
        }
    }
    return KD_OK;
}

cl_mem kd_model_input(const kd_model *m) { return m->input; }
cl_mem kd_model_logits(const kd_model *m) { return m->mem[m->nnodes - 1].out; }
cl_mem kd_model_dlogits(const kd_model *m) { return m->mem[m->nnodes - 1].grad; }

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
        d.mem = m->mem[id].grad;
    } else {
        d.mem = m->scratch;
        d.accumulate_into = id;
    }
    return d;
}

static kd_status finish(kd_model *m, grad_dst d, int n) {
    if (d.accumulate_into < 0) return KD_OK;
    size_t count = (size_t)n * kd_node_numel(&m->nodes[d.accumulate_into]);
    return kd_axpy(m->ctx, count, m->mem[d.accumulate_into].grad, m->scratch, 1.0f);
}

kd_status kd_model_backward(kd_model *m, int n) {
    kd_ctx *ctx = m->ctx;
    KD_ASSERT(m->grads && n > 0 && n <= m->batch);
    bool *written = m->written;
    memset(written, 0, (size_t)m->nnodes * sizeof *written);
    written[m->nnodes - 1] = true;
    kd_status s = KD_OK;
    for (int i = m->nnodes - 1; i >= 0 && s == KD_OK; i--) {
        const kd_node *nd = &m->nodes[i];
        const kd_node_mem *me = &m->mem[i];
        if (!written[i]) continue; /* no path to the loss */
        cl_mem x = kd_model_in_buf(m, nd->in);
        size_t count = (size_t)n * kd_node_numel(nd);
        if (nd->op == KD_OP_FLATTEN) {
            if (nd->in >= 0) written[nd->in] = true; /* same memory as the producer's gradient */
            continue;
        }
        if (me->fused && m->nodes[nd->in].op == KD_OP_BN) {
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
                    s = kd_copy(ctx, m->mem[ins[b]].grad, 0, me->grad, 0, count * sizeof(float));
                } else {
                    s = kd_axpy(ctx, count, m->mem[ins[b]].grad, me->grad, 1.0f);
                }
            }
            continue;
        }
        grad_dst d = target(m, written, nd->in);
        switch (nd->op) {
        case KD_OP_CONV: {
            kd_conv_desc cd = kd_model_conv_desc(m, nd, n);
            s = kd_conv_backward(ctx, &cd, d.mem, pgrad(m, nd->param[0]), pgrad(m, nd->param[1]), me->grad, x,
                                 pmem(m, nd->param[0]), m->ws);
            break;
        }
        case KD_OP_BN: {
            /* BN as the first layer: nobody needs dx, but gamma and beta
             * still learn, so dx goes to scratch (free: d.mem is NULL only
             * for the model input, which never accumulates there). */
            kd_bn_desc bd = kd_model_bn_desc(m, i, n);
            cl_mem dy = bd.relu ? m->mem[me->relu_after].grad : me->grad;
            s = kd_bn_backward(ctx, &bd, d.mem ? d.mem : m->scratch, pgrad(m, nd->param[0]), pgrad(m, nd->param[1]), dy,
                               x, me->aux, me->aux2, pmem(m, nd->param[0]), bd.relu ? me->out : NULL);
            break;
        }
        case KD_OP_RELU:
            if (d.mem) s = kd_relu_backward(ctx, count, d.mem, me->grad, me->out);
            break;
        case KD_OP_MAXPOOL: {
            kd_pool_desc pd = kd_model_pool_desc(m, nd, n);
            if (d.mem) s = kd_maxpool_backward(ctx, &pd, d.mem, me->grad, me->aux);
            break;
        }
        case KD_OP_AVGPOOL: {
            kd_pool_desc pd = kd_model_pool_desc(m, nd, n);
            if (d.mem) s = kd_avgpool_backward(ctx, &pd, d.mem, me->grad);
            break;
        }
        case KD_OP_GAP: {
            int c, h, w;
            kd_model_in_shape(m, nd->in, &c, &h, &w);
            if (d.mem) s = kd_gap_backward(ctx, n, c, h * w, d.mem, me->grad);
            break;
        }
        case KD_OP_DENSE: {
            kd_dense_desc dd = kd_model_dense_desc(m, nd, n);
            s = kd_dense_backward(ctx, &dd, d.mem, pgrad(m, nd->param[0]), pgrad(m, nd->param[1]), me->grad, x,
                                  pmem(m, nd->param[0]));
            break;
        }
        case KD_OP_DROPOUT:
            if (!d.mem) break;
            if (nd->dropout.p > 0.0f)
                s = kd_dropout_backward(ctx, count, d.mem, me->grad, nd->dropout.p, m->dropout_seed,
                                        (m->dropout_counter << 16) | (uint64_t)i);
            else
                s = kd_copy(ctx, d.mem, 0, me->grad, 0, count * sizeof(float));
            break;
        case KD_OP_FLATTEN:
        case KD_OP_ADD: break;
        }
        if (s == KD_OK) s = finish(m, d, n);
    }
    return s;
}
