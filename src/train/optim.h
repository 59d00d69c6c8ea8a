/* Optimizers as kernels over a flat parameter array (the model keeps all
 * parameters, gradients and optimizer state in single allocations, so one
 * launch updates every tensor), and learning-rate schedules. */
#ifndef KD_TRAIN_OPTIM_H
#define KD_TRAIN_OPTIM_H

#include <stdbool.h>

#include "runtime/ctx.h"

typedef enum kd_optim_kind { KD_OPTIM_ADAM, KD_OPTIM_SGD } kd_optim_kind;

/* Adam (Keras form; t = step, wd = weight_decay):
 *   g' = g + wd*p                      (L2; skipped when decoupled)
 *   m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2
 *   p = p - lr*wd*p                    (only when decoupled: AdamW)
 *   p = p - lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
 * eps is added to sqrt(v) before the bias correction, as Keras/TF do; PyTorch
 * adds it after (same update up to eps scaled by sqrt(1-b2^t)).
 * State layout: state[0..n) = m, state[n..2n) = v.
 *
 * SGD (PyTorch form, no dampening; mu = momentum):
 *   g' = g + wd*p, or p = p - lr*wd*p when decoupled
 *   mu > 0: buf = mu*buf + g';  g' = nesterov ? g' + mu*buf : buf
 *   p = p - lr*g'
 * State: state[0..n) = buf when mu > 0; none (state may be NULL) when mu = 0. */
typedef struct kd_optim_cfg {
    kd_optim_kind kind;
    float beta1, beta2, eps; /* Adam; Keras defaults 0.9, 0.999, 1e-7 */
    float momentum;          /* SGD; default 0.9 (plain SGD at lr 1e-3 hardly moves) */
    bool nesterov;           /* SGD */
    float weight_decay;      /* L2 added to the gradient, or decoupled; default 0 */
    bool decoupled;          /* AdamW / SGDW: p -= lr*wd*p, outside the gradient */
} kd_optim_cfg;

/* All fields filled (Adam and SGD ones) whatever the kind. */
kd_optim_cfg kd_optim_default(kd_optim_kind kind);

/* Number of state floats per parameter (Adam 2: m, v; SGD 1 with momentum, else 0). */
int kd_optim_state_per_param(const kd_optim_cfg *cfg);

/* One update of n parameters. state holds kd_optim_state_per_param(cfg)*n
 * floats (zero-initialised). step is 1-based (Adam's bias correction).
 * bad_flag (int32, may be NULL) is set to 1 if any gradient is not finite;
 * it is never cleared here (the caller zeroes it), and elements with a
 * non-finite gradient keep their parameter and state unchanged while the
 * others are updated. Bad hyper-parameters (negative or non-finite lr or
 * weight decay, betas outside [0,1), eps <= 0, momentum outside [0,1),
 * Adam step < 1) give KD_ERR_USAGE naming the flag. */
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

/* Learning rate for 0-based step `step` (the update about to be made).
 * With W = warmup_steps > 0, steps 0..W-1 give base_lr*(step+1)/W (step 0:
 * base_lr/W, step W-1: base_lr); the schedule proper then runs on
 * t = step - W (t = step when W = 0):
 *   CONST:  base_lr
 *   STEP:   base_lr * gamma^floor(t/step_size)   (step_size <= 0: base_lr)
 *   COSINE: min_lr + (base_lr-min_lr)*(1+cos(pi*t/(total_steps-W)))/2 for
 *           t < total_steps-W, so base_lr at t = 0; min_lr from step
 *           total_steps on (and right after warm-up if total_steps <= W).
 * A negative step counts as 0. */
float kd_sched_lr(const kd_sched *s, long step);

#endif
