/* Optimizers (host side of cl/optim.cl) and learning-rate schedules. */
#include "src/train/optim.h"
#include "runtime/kernel.h"

#include <limits.h>
#include <math.h>

#define KD_PI 3.14159265358979323846 /* M_PI is not C11 */

kd_optim_cfg kd_optim_default(kd_optim_kind kind) {
    /* Every field is filled whatever the kind, so that switching kind later
     * (e.g. from --optimizer) keeps sane values. */
    return (kd_optim_cfg){
        .kind = kind,
        .beta1 = 0.9f,
        .beta2 = 0.999f,
        .eps = 1e-7f,
        .momentum = 0.9f,
        .nesterov = false,
        .weight_decay = 0.0f,
        .decoupled = false,
    };
}

int kd_optim_state_per_param(const kd_optim_cfg *cfg) {
    KD_ASSERT(cfg);
    if (cfg->kind == KD_OPTIM_ADAM) return 2;
    return cfg->momentum != 0.0f ? 1 : 0;
}

/* Hyper-parameters come from command-line flags, so they get messages that
 * name the flag rather than an assert. */
static kd_status check_cfg(const kd_optim_cfg *cfg, float lr, long step, kd_err *err) {
    if (!(isfinite(lr) && lr >= 0))
        return kd_fail(err, KD_ERR_USAGE, "--lr must be a finite number >= 0 (got %g)", (double)lr);
    if (!(isfinite(cfg->weight_decay) && cfg->weight_decay >= 0))
        return kd_fail(err, KD_ERR_USAGE, "--weight-decay must be a finite number >= 0 (got %g); typical values "
                       "are 0 or 1e-4 to 5e-4", (double)cfg->weight_decay);
    if (cfg->kind == KD_OPTIM_ADAM) {
        if (!(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1))
            return kd_fail(err, KD_ERR_USAGE, "Adam betas must be in [0, 1) (got beta1 %g, beta2 %g); the "
                           "defaults are 0.9 and 0.999", (double)cfg->beta1, (double)cfg->beta2);
        if (!(isfinite(cfg->eps) && cfg->eps > 0))
            return kd_fail(err, KD_ERR_USAGE, "Adam epsilon must be a finite number > 0 (got %g); the default is "
                           "1e-7", (double)cfg->eps);
        if (step < 1)
            return kd_fail(err, KD_ERR_USAGE, "Adam step count must start at 1 (got %ld)", step);
    } else if (cfg->kind == KD_OPTIM_SGD) {
        if (!(isfinite(cfg->momentum) && cfg->momentum >= 0 && cfg->momentum < 1))
            return kd_fail(err, KD_ERR_USAGE, "--momentum must be in [0, 1) (got %g); typical values are 0.9 "
                           "or 0", (double)cfg->momentum);
    } else {
        return kd_fail(err, KD_ERR_USAGE, "unknown optimizer kind %d", (int)cfg->kind);
    }
    return KD_OK;
}

kd_status kd_optim_step(kd_ctx *ctx, const kd_optim_cfg *cfg, size_t n, cl_mem param, cl_mem grad,
                        cl_mem state, float lr, long step, cl_mem bad_flag) {
    KD_ASSERT(cfg);
    KD_TRY(check_cfg(cfg, lr, step, kd_ctx_err(ctx)));
    if (n == 0) return KD_OK;
    if (n > (size_t)INT_MAX)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "%zu parameters in one optimizer step; at most %d are supported",
                       n, INT_MAX);
    KD_ASSERT(param && grad);
    KD_ASSERT(state || kd_optim_state_per_param(cfg) == 0);
    int ni = (int)n, has_bad = bad_flag != NULL, decoupled = cfg->decoupled;
    /* An unused buffer argument still needs a valid cl_mem; the kernels do
     * not touch it (has_bad = 0, momentum = 0). */
    cl_mem bad = bad_flag ? bad_flag : grad;
    float wd = cfg->weight_decay;
    if (cfg->kind == KD_OPTIM_ADAM) {
        double t = (double)step;
        float step_lr = (float)((double)lr * sqrt(1.0 - pow((double)cfg->beta2, t)) /
                                (1.0 - pow((double)cfg->beta1, t)));
        float b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps;
        return kd_run1d(ctx, "optim", "optim_adam", n,
                        KD_ARGS(KD_ARG(param), KD_ARG(grad), KD_ARG(state), KD_ARG(ni), KD_ARG(lr),
                                KD_ARG(step_lr), KD_ARG(b1), KD_ARG(b2), KD_ARG(eps), KD_ARG(wd),
                                KD_ARG(decoupled), KD_ARG(has_bad), KD_ARG(bad)));
    }
    cl_mem buf = state ? state : grad;
    float mu = cfg->momentum;
    int nesterov = cfg->nesterov;
    return kd_run1d(ctx, "optim", "optim_sgd", n,
                    KD_ARGS(KD_ARG(param), KD_ARG(grad), KD_ARG(buf), KD_ARG(ni), KD_ARG(lr), KD_ARG(mu),
                            KD_ARG(nesterov), KD_ARG(wd), KD_ARG(decoupled), KD_ARG(has_bad), KD_ARG(bad)));
}

float kd_sched_lr(const kd_sched *s, long step) {
    KD_ASSERT(s);
    double base = s->base_lr;
    if (step < 0) step = 0;
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return (float)(base * (double)(step + 1) / (double)s->warmup_steps);
    long t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0); /* steps since the end of warm-up */
    switch (s->kind) {
    case KD_SCHED_CONST:
        return s->base_lr;
    case KD_SCHED_STEP:
        if (s->step_size <= 0) return s->base_lr;
        return (float)(base * pow((double)s->gamma, (double)(t / s->step_size)));
    case KD_SCHED_COSINE: {
        long span = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps : 0);
        if (span <= 0 || t >= span) return s->min_lr;
        double lo = s->min_lr, frac = (double)t / (double)span;
        return (float)(lo + (base - lo) * 0.5 * (1.0 + cos(KD_PI * frac)));
    }
    }
    return s->base_lr;
}
