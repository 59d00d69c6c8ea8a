/* Training checkpoints: a model file (loadable by eval/predict like any
 * other) plus the optimizer state as tensors "optimizer.<k>.<param>", and in
 * the metadata the position (epoch, batch, step), the RNG counters, the
 * running statistics of the epoch and the training configuration, so
 * --resume continues exactly where the run stopped. Written atomically. */
#ifndef KD_TRAIN_CHECKPOINT_H
#define KD_TRAIN_CHECKPOINT_H

#include "src/layers/loss.h"
#include "src/model/weights.h"
#include "src/train/optim.h"

typedef struct kd_ckpt_state {
    int epoch;              /* epoch in progress (0-based) */
    int batch;              /* next batch within it */
    long step;              /* optimizer steps done */
    uint64_t dropout_counter;
    double best_acc;        /* best validation accuracy so far (-1: none) */
    int best_epoch;
    float acc[KD_ACC_COUNT]; /* the epoch's running statistics */
    double epoch_seconds;   /* time spent in the epoch so far */
    char config[2048];      /* JSON of the settings a resume must keep */
} kd_ckpt_state;

/* state_floats = kd_optim_state_per_param(cfg) * m->train_floats, in the
 * arena layout (see optim.h); saved per parameter, so the file does not
 * depend on the device's alignment. */
kd_status kd_ckpt_save(kd_model *m, const kd_model_meta *meta, const kd_optim_cfg *ocfg, cl_mem state,
                       const kd_ckpt_state *st, const char *path);
/* Loads weights, optimizer state and st from `path` into an attached model. */
kd_status kd_ckpt_load(kd_model *m, const kd_optim_cfg *ocfg, cl_mem state, kd_ckpt_state *st, const char *path);

#endif
