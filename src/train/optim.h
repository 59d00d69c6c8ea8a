/* Optimizers as kernels over a flat parameter array (the model keeps all
 * parameters, gradients and optimizer state in single allocations, so one
 * launch updates every tensor), and learning-rate schedules. */
#ifndef KD_TRAIN_OPTIM_H
#define KD_TRAIN_OPTIM_H

#include <stdbool.h>

#include "runtime/ctx.h"

typedef enum kd_optim_kind { KD_OPTIM_ADAM, KD_OPTIM_SGD } kd_optim_kind;

typedef struct kd_optim_cfg {
    kd_optim_kind kind;
    float beta1, beta2, eps; /* Adam; Keras defaults 0.9, 0.999, 1e-7 */
    float momentum;          /* SGD */
    bool nesterov;           /* SGD */
    float weight_decay;      /* Adam: L2 added to the gradient, or decoupled (AdamW); SGD: L2 */
    bool decoupled;          /* AdamW: p -= lr*wd*p, outside the adaptive step */
} kd_optim_cfg;

kd_optim_cfg kd_optim_default(kd_optim_kind kind);

/* Number of state floats per parameter (Adam 2: m, v; SGD 1 with momentum, else 0). */
int kd_optim_state_per_param(const kd_optim_cfg *cfg);

/* One update of n parameters. state holds kd_optim_state_per_param(cfg)*n
 * floats (zero-initialised). step is 1-based (Adam's bias correction).
 * bad_flag (int32, may be NULL) is set to 1 if any gradient is not finite. */
kd_status kd_optim_step(kd_ctx *ctx, const kd_optim_cfg *cfg, size_t n, cl_mem param, cl_mem grad,
                        cl_mem state, float lr, long step, cl_mem bad_flag);

typedef enum kd_sched_kind { KD_SCHED_CONST, KD_SCHED_STEP, KD_SCHED_COSINE } kd_sched_kind;

typedef struct kd_sched {
    kd_sched_kind kind;
    float base_lr;
    long total_steps;  /* cosine: decays to min_lr at total_steps */
    long warmup_steps; /* linear warm-up from base_lr/warmup_steps to base_lr (0: none) */
    long step_size;    /* step: multiply by gamma every step_size steps */
    float gamma;
    float min_lr;
} kd_sched;

/* Learning rate for 0-based step `step` (the update about to be made). */
float kd_sched_lr(const kd_sched *s, long step);

#endif
