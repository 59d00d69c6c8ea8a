/* The training loop shared by `kdcl train` (cross-entropy) and `kdcl
 * distill` (the teacher runs in inference mode on the very batch the
 * student sees, every step, and the student minimises the distillation
 * loss). Per epoch: validation, a metrics line, the best model written to
 * `out` and a resumable checkpoint beside it. */
#ifndef KD_TRAIN_TRAINER_H
#define KD_TRAIN_TRAINER_H

#include <signal.h>
#include <stdbool.h>

#include "src/data/loader.h"
#include "src/dist/dist.h"
#include "src/layers/loss.h"
#include "src/model/weights.h"
#include "src/train/optim.h"

typedef struct kd_train_cfg {
    int epochs, batch;
    kd_optim_cfg optim;
    kd_sched sched;           /* total/warm-up/step sizes in steps are filled by kd_train */
    double warmup_epochs, step_epochs;
    uint64_t seed;
    kd_aug_cfg aug;
    bool distill;
    kd_distill_cfg kd;
    double kd_warmup_epochs;  /* DKD: its two terms ramp linearly from 0 to full weight over these epochs */
    bool cache_teacher;       /* distill without crops: teacher logits computed once per image (and view) */
    const char *out;          /* best model */
    const char *ckpt;         /* checkpoint path (derived from out by the CLI) */
    const char *resume;       /* checkpoint to resume from, or NULL */
    int checkpoint_every;     /* steps between mid-epoch checkpoints (0: per epoch only) */
    int stop_after;           /* behave as on SIGINT after this many steps of this run (0: never) */
    const char *log_path;     /* JSON lines, or NULL */
    const char *run_label;    /* "run" of every log line ("train", "distilled", "alone"); NULL: none */
    bool log_append;          /* keep the log's lines of other runs (a second run into the same file) */
    int log_every;            /* also a line every N steps (0: per epoch only) */
    bool profile, quiet;
    const char *config_json;  /* settings a resume must keep (checked) */
    const char *resume_hint;  /* the command line to print on interrupt */
    const char *resume_ckpt;  /* the checkpoint that hint resumes with (NULL: ckpt) */
    volatile sig_atomic_t *stop; /* set by SIGINT: finish the step, save, return KD_ERR_INTERRUPTED */
    const kd_dist *dist;      /* data-parallel ranks (src/dist/dist.h); NULL: one process */
} kd_train_cfg;

typedef struct kd_train_data {
    const kd_dataset *ds;
    const int *train_idx;
    int ntrain;
    const int *val_idx;
    int nval;
} kd_train_data;

typedef struct kd_train_result {
    double best_acc;          /* validation accuracy of the saved model (-1 without validation) */
    int best_epoch;
    double last_train_loss, last_train_acc;
    double seconds;
    long steps;               /* optimizer steps taken by this call */
    long step_commands, step_blas_calls; /* enqueued by those steps (input pipeline, teacher, model, loss, optimizer) */
} kd_train_result;

/* m (attached) learns; teacher (attached, or NULL) teaches when cfg->distill. */
kd_status kd_train(kd_model *m, const kd_prep_desc *prep, const kd_model_meta *meta, kd_model *teacher,
                   const kd_prep_desc *tprep, const kd_train_data *data, const kd_train_cfg *cfg,
                   kd_train_result *res);

#endif
