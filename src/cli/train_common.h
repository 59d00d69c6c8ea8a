/* What `kdcl train` and `kdcl distill` share: the training options
 * (DESIGN.md section 3), loading the data with its validation hold-out,
 * and the preprocessing a model gets. */
#ifndef KD_CLI_TRAIN_COMMON_H
#define KD_CLI_TRAIN_COMMON_H

#include <signal.h>

#include "src/cli/opts.h"
#include "src/cli/session.h"
#include "src/data/dataset.h"
#include "src/data/loader.h"
#include "src/model/weights.h"
#include "src/train/evaluate.h"
#include "src/train/trainer.h"

typedef struct kd_train_opts {
    const char *data, *out, *resume, *log, *augment, *optimizer, *schedule, *normalize, *dropout;
    int epochs, batch, resize, channels, checkpoint_every, log_every, stop_after;
    long long limit, seed;
    double lr, momentum, weight_decay, val_split, warmup, lr_step, lr_gamma;
    bool nesterov, adamw, profile, quiet, no_test;
} kd_train_opts;

void kd_train_opts_defaults(kd_train_opts *o);
/* Appends the shared options to opts[*n..]; cap is the array size. */
void kd_train_opts_table(kd_train_opts *o, kd_opt *opts, int *n, int cap);

/* The model spec to build: spec with --dropout applied (buf holds it when
 * it changes); *out points to spec or buf. */
kd_status kd_train_spec(const kd_train_opts *o, const char *spec, char *buf, size_t cap, const char **out,
                        kd_err *err);

/* The data of a job: the train split with its validation hold-out, and the
 * test split (loaded lazily for the final evaluation). */
typedef struct kd_job_data {
    kd_data_spec spec;
    kd_dataset train, test;
    int *train_idx, *val_idx, *test_idx;
    int ntrain, nval, ntest;
} kd_job_data;

kd_status kd_job_data_load(const kd_train_opts *o, kd_job_data *d, kd_err *err);
kd_status kd_job_data_load_test(const kd_train_opts *o, kd_job_data *d, kd_err *err);
void kd_job_data_free(kd_job_data *d);

/* out "S.safetensors" -> "S.<tag>.safetensors" (out without that suffix:
 * "out.<tag>.safetensors"): the checkpoint (tag "ckpt") and distill
 * --baseline's student alone (tag "alone") beside the model. */
kd_status kd_sibling_path(const char *out, const char *tag, char *buf, size_t cap, kd_err *err);

/* Fills cfg from the options (optimizer, schedule, augmentation, paths). */
kd_status kd_train_cfg_from_opts(const kd_train_opts *o, kd_train_cfg *cfg, char *ckpt, size_t ckpt_cap,
                                 kd_err *err);

/* Preprocessing for a model of in_c x S x S fed from data set ds: the
 * normalisation mode (none|dataset|imagenet) fills meta's mean/std. */
kd_status kd_meta_for(const kd_dataset *ds, const kd_model *m, const char *normalize, kd_model_meta *meta,
                      kd_err *err);
kd_prep_desc kd_prep_from_meta(const kd_model_meta *meta);

/* "kdcl train --model ... (without --resume)" for the interrupt hint. */
void kd_command_line(const char *cmd, int argc, char **argv, char *buf, size_t cap);

/* SIGINT asks the training loop to finish its step and save. */
void kd_install_sigint(volatile sig_atomic_t *flag);
volatile sig_atomic_t *kd_sigint_flag(void);

/* The images of --split train|val|test (val: the training hold-out). */
kd_status kd_split_select(const char *split, const kd_train_opts *o, kd_job_data *d, const kd_dataset **ds,
                          const int **idx, int *count, kd_err *err);
/* A model file can be fed from a data set: same classes, enough channels. */
kd_status kd_check_data_fits(const kd_model_meta *meta, const kd_dataset *ds, const char *path, kd_err *err);

/* A model file opened on the selected device, with the images of a split
 * it can be fed (eval and predict --data). */
typedef struct kd_eval_job {
    kd_job_data data;
    kd_ctx *ctx;
    kd_model *m;
    kd_model_meta meta;
    const kd_dataset *ds;
    const int *idx;
    int count, batch; /* batch: o->batch, at most count; the model is planned for it */
} kd_eval_job;
kd_status kd_eval_job_open(const kd_global *g, const char *model_path, const kd_train_opts *o, const char *split,
                           kd_eval_job *j, kd_err *err);
void kd_eval_job_close(kd_eval_job *j);

/* The settings a --resume must share with the run that wrote the checkpoint
 * (teacher NULL for train; dkd NULL for classic KD, else its alpha, beta
 * and warm-up epochs). Returns malloc'ed JSON. */
char *kd_resume_config(const char *cmd, const char *spec, const kd_train_opts *o, const char *teacher, double t,
                       double alpha, bool cache_teacher, const double dkd[3]);

/* Size of a file in MiB (for the comparison table), -1 if unknown. */
double kd_file_mib(const char *path);

/* --help text of train and distill about running under MPI. */
#define KD_MPI_HELP                                                                                                 \
    "\n\nData parallel: 'mpirun -np N kdcl train|distill ...' (a kdcl built with MPI) trains on N processes:\n"    \
    "each rank takes its own device (its local rank's among those the selection flags match, unless --device\n"  \
    "or KDCL_DEVICE names one), --batch is per rank (global batch N x batch, printed at the start), each rank\n" \
    "reads its shard of every global batch (same seed: each image once per epoch) and the gradients are\n"     \
    "summed before every step, so every rank takes the identical step. Batch-norm batch statistics stay per\n" \
    "rank; the running statistics are rank 0's, broadcast before each evaluation (as PyTorch DDP's\n"         \
    "broadcast_buffers). Rank 0 alone prints, logs and writes files; validation and test figures cover every\n" \
    "rank's shard. A failing rank ends every rank; ranks started with other options are refused."

#endif
