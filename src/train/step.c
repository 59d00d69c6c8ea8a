#include "src/train/step.h"

kd_status kd_step_grads(kd_model *m, int n, const kd_step_loss *loss) {
    kd_ctx *ctx = kd_model_ctx(m);
    int k = kd_model_classes(m);
    KD_TRY(kd_model_forward(m, n, true));
    cl_mem s = kd_model_logits(m), ds = kd_model_dlogits(m);
    if (loss->kd) {
        KD_TRY(kd_distill_forward(ctx, loss->kd, n, k, loss->acc, s, loss->teacher_logits, loss->labels));
        KD_TRY(kd_distill_backward(ctx, loss->kd, n, k, loss->scale, ds, s, loss->teacher_logits, loss->labels));
    } else {
        KD_TRY(kd_ce_forward(ctx, n, k, loss->acc, s, loss->labels));
        KD_TRY(kd_ce_backward(ctx, n, k, loss->scale, ds, s, loss->labels));
    }
    KD_TRY(kd_model_zero_grad(m));
    return kd_model_backward(m, n);
}

kd_status kd_step_update(kd_model *m, const kd_optim_cfg *opt, cl_mem state, float lr, long step, cl_mem bad) {
    kd_param_block p = kd_model_trainable(m);
    return kd_optim_step(kd_model_ctx(m), opt, p.floats, p.values, p.grads, state, lr, step, bad);
}
