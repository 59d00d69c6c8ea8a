/* One training step of a model, shared by the training loop (train and
 * distill, src/train/trainer.c) and the timed steps of `kdcl bench` and
 * `kdcl tune` (src/train/step_bench.c), in two halves so that data
 * parallelism can sum the gradients between them. */
#ifndef KD_TRAIN_STEP_H
#define KD_TRAIN_STEP_H

#include "runtime/ctx.h"
#include "src/layers/loss.h"
#include "src/model/model.h"
#include "src/train/optim.h"

typedef struct kd_step_loss {
    const kd_distill_cfg *kd; /* NULL: cross-entropy on the labels; else distillation */
    cl_mem teacher_logits;    /* distillation: the teacher's logits on the same batch */
    cl_mem labels;            /* int32 [n] */
    cl_mem acc;               /* the loss statistics accumulate here (src/layers/loss.h); NULL: none */
    float scale;              /* 1 / the (global) batch size: the gradient of the batch mean */
} kd_step_loss;

/* The gradients of batch n, whose input is in kd_model_input: forward in training
 * mode, the loss and its gradient on the logits, then backward into m's
 * zeroed parameter gradients. */
kd_status kd_step_grads(kd_model *m, int n, const kd_step_loss *loss);
/* The optimizer's update of every parameter from those gradients; `step`
 * counts from 1 (Adam's bias correction); a non-finite gradient raises
 * `bad` (NULL: unchecked). */
kd_status kd_step_update(kd_model *m, const kd_optim_cfg *opt, cl_mem state, float lr, long step, cl_mem bad);

#endif
