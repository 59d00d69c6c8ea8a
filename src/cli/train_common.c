#include "src/cli/train_common.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/fsutil.h"
#include "src/data/source.h"

void kd_train_opts_defaults(kd_train_opts *o) {
    memset(o, 0, sizeof *o);
    /* The origin tutorial's recipe: Adam, lr 1e-3, batch 32, 10 epochs. */
    o->epochs = 10;
    o->batch = 32;
    o->optimizer = "adam";
    o->lr = 1e-3;
    o->momentum = 0.9;
    o->schedule = "const";
    o->lr_gamma = 0.1;
    o->seed = 1;
    o->augment = "none";
    o->val_split = 0.1;
    o->normalize = "none";
}

void kd_train_opts_table(kd_train_opts *o, kd_opt *opts, int *n, int cap) {
    const kd_opt t[] = {
        {.name = "data", .kind = KD_OPT_STR, .dest = &o->data, .metavar = "DATA",
         .help = "fashion-mnist[:DIR] | cifar10:DIR | synthetic[:N[:CxHxW]]"},
        {.name = "out", .kind = KD_OPT_STR, .dest = &o->out, .metavar = "M.safetensors",
         .help = "where the best model (by validation accuracy) goes; the resumable checkpoint is written beside it "
                 "as M.ckpt.safetensors"},
        {.name = "epochs", .kind = KD_OPT_INT, .dest = &o->epochs, .metavar = "N", .help = "epochs", .min = 1, .max = 100000},
        {.name = "batch", .kind = KD_OPT_INT, .dest = &o->batch, .metavar = "N", .help = "batch size", .min = 1, .max = 65536},
        {.name = "optimizer", .kind = KD_OPT_STR, .dest = &o->optimizer, .metavar = "adam|sgd",
         .help = "Adam (beta1 0.9, beta2 0.999, eps 1e-7, as Keras) or SGD with momentum", .choices = "adam|sgd"},
        {.name = "lr", .kind = KD_OPT_FLOAT, .dest = &o->lr, .metavar = "LR", .help = "learning rate", .min = 1e-12, .max = 100},
        {.name = "momentum", .kind = KD_OPT_FLOAT, .dest = &o->momentum, .metavar = "M", .help = "SGD momentum", .min = 0, .max = 0.999999},
        {.name = "nesterov", .kind = KD_OPT_FLAG, .dest = &o->nesterov,
         .help = "Nesterov momentum (SGD); on by default for distill, where --no-nesterov turns it off"},
        {.name = "weight-decay", .kind = KD_OPT_FLOAT, .dest = &o->weight_decay, .metavar = "WD",
         .help = "L2 weight decay (added to the gradient; see --adamw)", .min = 0, .max = 10},
        {.name = "adamw", .kind = KD_OPT_FLAG, .dest = &o->adamw, .help = "decoupled weight decay (AdamW)"},
        {.name = "schedule", .kind = KD_OPT_STR, .dest = &o->schedule, .metavar = "const|cosine|step",
         .help = "learning-rate schedule over all steps", .choices = "const|cosine|step"},
        {.name = "warmup", .kind = KD_OPT_FLOAT, .dest = &o->warmup, .metavar = "EPOCHS",
         .help = "linear learning-rate warm-up, in epochs (fractions allowed)", .min = 0, .max = 100000},
        {.name = "lr-step", .kind = KD_OPT_FLOAT, .dest = &o->lr_step, .metavar = "EPOCHS",
         .help = "step schedule: multiply the rate by --lr-gamma every EPOCHS (default: a third of --epochs)",
         .min = 0, .max = 100000},
        {.name = "lr-gamma", .kind = KD_OPT_FLOAT, .dest = &o->lr_gamma, .metavar = "G", .help = "step schedule factor",
         .min = 0, .max = 1},
        {.name = "seed", .kind = KD_OPT_LONG, .dest = &o->seed, .metavar = "S",
         .help = "seed of initialisation, shuffling, augmentation and dropout", .min = 0, .max = 9e15},
        {.name = "resize", .kind = KD_OPT_INT, .dest = &o->resize, .metavar = "S",
         .help = "resize images to SxS on the device, bilinearly (default: the data set's size)", .min = 1, .max = 4096},
        {.name = "channels", .kind = KD_OPT_INT, .dest = &o->channels, .metavar = "C",
         .help = "model input channels, 1 or 3 (default: the data set's; grayscale is replicated to 3)", .min = 1, .max = 3},
        {.name = "normalize", .kind = KD_OPT_STR, .dest = &o->normalize, .metavar = "MODE",
         .help = "after scaling to [0,1]: none, dataset (per-channel mean/std of the training images) or imagenet",
         .choices = "none|dataset|imagenet"},
        {.name = "augment", .kind = KD_OPT_STR, .dest = &o->augment, .metavar = "A",
         .help = "none | flip | crop | crop,flip (random 4-px-padded crop, horizontal flip)",
         .choices = "none|flip|crop|crop,flip|flip,crop"},
        {.name = "val-split", .kind = KD_OPT_FLOAT, .dest = &o->val_split, .metavar = "F",
         .help = "fraction of the training images held out for validation (never the test set)", .min = 0, .max = 0.9},
        {.name = "limit", .kind = KD_OPT_LONG, .dest = &o->limit, .metavar = "N",
         .help = "use only the first N images of each split (quick runs)", .min = 1, .max = 1e9},
        {.name = "resume", .kind = KD_OPT_STR, .dest = &o->resume, .metavar = "CKPT",
         .help = "continue from a checkpoint (M.ckpt.safetensors) with the same command line"},
        {.name = "checkpoint-every", .kind = KD_OPT_INT, .dest = &o->checkpoint_every, .metavar = "N",
         .help = "also checkpoint every N steps (default: at the end of each epoch only)", .min = 0, .max = 1e9},
        {.name = "stop-after", .kind = KD_OPT_INT, .dest = &o->stop_after, .metavar = "N",
         .help = "stop as Ctrl-C would (checkpoint, exit 130) after N steps of this process (distill --baseline: "
                 "its two runs together), to split long training into sessions; continue with --resume",
         .min = 0, .max = 1e9},
        {.name = "log", .kind = KD_OPT_STR, .dest = &o->log, .metavar = "metrics.jsonl",
         .help = "write one JSON object per epoch (and per --log-every steps)"},
        {.name = "log-every", .kind = KD_OPT_INT, .dest = &o->log_every, .metavar = "N",
         .help = "also log every N steps", .min = 0, .max = 1e9},
        {.name = "dropout", .kind = KD_OPT_STR, .dest = &o->dropout, .metavar = "P",
         .help = "set the probability of the model's dropout layers to P in [0,1) (seed-cnn has one, 0.5; 0 turns "
                 "it off); the spec becomes e.g. seed-cnn:dropout=0.2"},
        {.name = "no-test", .kind = KD_OPT_FLAG, .dest = &o->no_test, .help = "skip the final test-set evaluation"},
        {.name = "profile", .kind = KD_OPT_FLAG, .dest = &o->profile,
         .help = "at the end: per-kernel device time from OpenCL events (GEMM vs own kernels), commands and "
                 "CLBlast calls per training step, peak device memory"},
        {.name = "quiet", .kind = KD_OPT_FLAG, .dest = &o->quiet, .help = "no progress output, only results and errors"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0] && *n < cap; i++) opts[(*n)++] = t[i];
}

kd_status kd_sibling_path(const char *out, const char *tag, char *buf, size_t cap, kd_err *err) {
    size_t len = strlen(out);
    const char *ext = ".safetensors";
    int w;
    if (len > strlen(ext) && !strcmp(out + len - strlen(ext), ext))
        w = snprintf(buf, cap, "%.*s.%s%s", (int)(len - strlen(ext)), out, tag, ext);
    else
        w = snprintf(buf, cap, "%s.%s%s", out, tag, ext);
    if (w < 0 || (size_t)w >= cap) return kd_fail(err, KD_ERR_USAGE, "--out %s: the path is too long", out);
    return KD_OK;
}

kd_status kd_train_spec(const kd_train_opts *o, const char *spec, char *buf, size_t cap, const char **out,
                        kd_err *err) {
    *out = spec;
    if (!o->dropout) return KD_OK;
    char *end;
    double p = strtod(o->dropout, &end);
    if (end == o->dropout || *end || !(p >= 0 && p < 1) || !((float)p < 1.0f))
        return kd_fail(err, KD_ERR_USAGE, "--dropout '%s' is not a probability in [0, 1) (e.g. --dropout 0.2)",
                       o->dropout);
    KD_TRY(kd_spec_with_dropout(spec, p, buf, cap, err));
    *out = buf;
    return KD_OK;
}

static kd_status limit_and_split(const kd_train_opts *o, kd_job_data *d, kd_err *err) {
    int n = d->train.n;
    if (o->limit > 0 && o->limit < n) n = (int)o->limit;
    KD_TRY(kd_split_indices(n, o->val_split, 0, &d->train_idx, &d->ntrain, &d->val_idx, &d->nval, err));
    return KD_OK;
}

kd_status kd_job_data_load(const kd_train_opts *o, kd_job_data *d, kd_err *err) {
    memset(d, 0, sizeof *d);
    if (!o->data) return kd_fail(err, KD_ERR_USAGE, "--data is required (e.g. --data fashion-mnist or --data synthetic)");
    KD_TRY(kd_data_spec_parse(o->data, &d->spec, err));
    /* Data-set identity never depends on --seed: eval and predict see the same images. */
    KD_TRY(kd_data_load(&d->spec, KD_SPLIT_TRAIN, 0, &d->train, err));
    return limit_and_split(o, d, err);
}

kd_status kd_job_data_load_test(const kd_train_opts *o, kd_job_data *d, kd_err *err) {
    KD_TRY(kd_data_load(&d->spec, KD_SPLIT_TEST, 0, &d->test, err));
    int n = d->test.n;
    if (o->limit > 0 && o->limit < n) n = (int)o->limit;
    d->test_idx = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!d->test_idx) return kd_fail(err, KD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) d->test_idx[i] = i;
    d->ntest = n;
    return KD_OK;
}

void kd_job_data_free(kd_job_data *d) {
    kd_dataset_free(&d->train);
    kd_dataset_free(&d->test);
    free(d->train_idx);
    free(d->val_idx);
    free(d->test_idx);
    memset(d, 0, sizeof *d);
}

/* An output whose directory is missing would otherwise fail at the first
 * save, after a whole epoch of training. Permissions are left to the
 * write itself (root ignores them; the error then names the file). */
static kd_status check_out_path(const char *flag, const char *path, kd_err *err) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kd_fail(err, KD_ERR_USAGE, "%s %s is a directory; give a file name inside it", flag, path);
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash) return KD_OK; /* the current directory */
    if (slash == d) slash[1] = '\0';
    else *slash = '\0';
    if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
        return kd_fail(err, KD_ERR_USAGE, "%s %s: the directory %s does not exist (create it first)", flag, path, d);
    return KD_OK;
}

kd_status kd_train_cfg_from_opts(const kd_train_opts *o, kd_train_cfg *cfg, char *ckpt, size_t ckpt_cap,
                                 kd_err *err) {
    memset(cfg, 0, sizeof *cfg);
    if (!o->out) return kd_fail(err, KD_ERR_USAGE, "--out M.safetensors is required: where the trained model goes");
    cfg->epochs = o->epochs;
    cfg->batch = o->batch;
    cfg->optim = kd_optim_default(strcmp(o->optimizer, "sgd") ? KD_OPTIM_ADAM : KD_OPTIM_SGD);
    cfg->optim.weight_decay = (float)o->weight_decay;
    cfg->optim.decoupled = o->adamw;
    cfg->optim.momentum = (float)o->momentum;
    cfg->optim.nesterov = o->nesterov;
    if (o->adamw && cfg->optim.kind != KD_OPTIM_ADAM)
        return kd_fail(err, KD_ERR_USAGE, "--adamw applies to --optimizer adam only");
    if (o->nesterov && cfg->optim.kind != KD_OPTIM_SGD)
        return kd_fail(err, KD_ERR_USAGE, "--nesterov applies to --optimizer sgd only");
    cfg->sched.base_lr = (float)o->lr;
    cfg->sched.kind = !strcmp(o->schedule, "cosine") ? KD_SCHED_COSINE
                      : !strcmp(o->schedule, "step") ? KD_SCHED_STEP
                                                     : KD_SCHED_CONST;
    cfg->sched.gamma = (float)o->lr_gamma;
    cfg->warmup_epochs = o->warmup;
    cfg->step_epochs = o->lr_step > 0 ? o->lr_step : (o->epochs >= 3 ? o->epochs / 3.0 : 1.0);
    cfg->seed = (uint64_t)o->seed;
    cfg->aug.crop = strstr(o->augment, "crop") != NULL;
    cfg->aug.flip = strstr(o->augment, "flip") != NULL;
    cfg->aug.crop_pad = cfg->aug.crop ? 4 : 0;
    cfg->out = o->out;
    KD_TRY(kd_sibling_path(o->out, "ckpt", ckpt, ckpt_cap, err));
    cfg->ckpt = ckpt;
    cfg->resume = o->resume;
    cfg->checkpoint_every = o->checkpoint_every;
    cfg->stop_after = o->stop_after;
    cfg->log_path = o->log;
    cfg->log_every = o->log_every;
    cfg->profile = o->profile;
    cfg->quiet = o->quiet;
    cfg->dist = kd_dist_world();
    if (o->resume && !kd_file_exists(o->resume))
        return kd_fail(err, KD_ERR_NOT_FOUND, "--resume %s: no such file", o->resume);
    KD_TRY(check_out_path("--out", o->out, err));
    if (o->log) KD_TRY(check_out_path("--log", o->log, err));
    return KD_OK;
}

kd_status kd_meta_for(const kd_dataset *ds, const kd_model *m, const char *normalize, kd_model_meta *meta,
                      kd_err *err) {
    memset(meta, 0, sizeof *meta);
    snprintf(meta->spec, sizeof meta->spec, "%s", kd_model_spec(m));
    kd_shape in = kd_model_input_shape(m);
    meta->in_c = in.c;
    meta->in_h = in.h;
    meta->in_w = in.w;
    meta->classes = kd_model_classes(m);
    meta->src_c = ds->c;
    snprintf(meta->dataset, sizeof meta->dataset, "%s", ds->name);
    KD_TRY(kd_model_meta_set_names(meta, ds->class_names, ds->classes, err));
    if (!strcmp(normalize, "imagenet")) {
        const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
        for (int c = 0; c < 3; c++) {
            meta->mean[c] = ds->c == 1 ? 0.449f : mean[c];
            meta->std[c] = ds->c == 1 ? 0.226f : std[c];
        }
    } else if (!strcmp(normalize, "dataset")) {
        /* Per source channel over the training images; replicated for gray -> 3. */
        size_t plane = (size_t)ds->h * (size_t)ds->w;
        for (int c = 0; c < ds->c; c++) {
            double s = 0, s2 = 0, n = 0;
            for (int i = 0; i < ds->n; i++) {
                const uint8_t *p = ds->images + ((size_t)i * (size_t)ds->c + (size_t)c) * plane;
                for (size_t j = 0; j < plane; j++) {
                    double v = p[j] / 255.0;
                    s += v;
                    s2 += v * v;
                }
                n += (double)plane;
            }
            double mean = s / n, var = s2 / n - mean * mean;
            meta->mean[c] = (float)mean;
            meta->std[c] = (float)sqrt(var > 1e-12 ? var : 1e-12);
        }
        for (int c = ds->c; c < 3; c++) {
            meta->mean[c] = meta->mean[0];
            meta->std[c] = meta->std[0];
        }
    }
    return KD_OK;
}

kd_prep_desc kd_prep_from_meta(const kd_model_meta *meta) {
    kd_prep_desc p;
    memset(&p, 0, sizeof p);
    p.out_c = meta->in_c;
    p.out_h = meta->in_h;
    p.out_w = meta->in_w;
    for (int c = 0; c < 3; c++) {
        p.mean[c] = meta->mean[c];
        p.std[c] = meta->std[c];
    }
    return p;
}

void kd_command_line(const char *cmd, int argc, char **argv, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "kdcl %s", cmd);
    for (int i = 0; i < argc && o < cap; i++) {
        if (!strcmp(argv[i], "--resume")) {
            i++;
            continue;
        }
        if (!strncmp(argv[i], "--resume=", 9)) continue;
        bool plain = strcspn(argv[i], " \t'\"$\\`*?;&|<>()") == strlen(argv[i]) && argv[i][0];
        o += (size_t)snprintf(buf + o, cap - o, plain ? " %s" : " '%s'", argv[i]);
    }
}

/* The one global of kdcl: a signal handler can reach nothing else. */
static volatile sig_atomic_t sigint_flag;
static volatile sig_atomic_t *sigint_target;

volatile sig_atomic_t *kd_sigint_flag(void) { return &sigint_flag; }

static void on_sigint(int sig) {
    (void)sig;
    if (sigint_target) *sigint_target = 1;
    /* A second Ctrl-C kills as usual. */
    signal(SIGINT, SIG_DFL);
}

void kd_install_sigint(volatile sig_atomic_t *flag) {
    sigint_target = flag;
    signal(SIGINT, on_sigint);
}

double kd_file_mib(const char *path) {
    long long n = kd_file_size(path);
    return n < 0 ? -1.0 : (double)n / (1024.0 * 1024.0);
}

/* Indices of `split` (train | val | test) with the same hold-out rule as training. */
kd_status kd_split_select(const char *split, const kd_train_opts *o, kd_job_data *d, const kd_dataset **ds,
                          const int **idx, int *count, kd_err *err) {
    if (!strcmp(split, "test")) {
        KD_TRY(kd_data_spec_parse(o->data, &d->spec, err));
        KD_TRY(kd_job_data_load_test(o, d, err));
        *ds = &d->test;
        *idx = d->test_idx;
        *count = d->ntest;
        return KD_OK;
    }
    KD_TRY(kd_job_data_load(o, d, err));
    *ds = &d->train;
    *idx = !strcmp(split, "val") ? d->val_idx : d->train_idx;
    *count = !strcmp(split, "val") ? d->nval : d->ntrain;
    if (*count == 0)
        return kd_fail(err, KD_ERR_USAGE, "the %s split is empty (--val-split %g)", split, o->val_split);
    return KD_OK;
}

kd_status kd_check_data_fits(const kd_model_meta *meta, const kd_dataset *ds, const char *path, kd_err *err) {
    if (meta->classes != ds->classes)
        return kd_fail(err, KD_ERR_INPUT, "%s predicts %d classes but %s has %d", path, meta->classes, ds->name,
                       ds->classes);
    if (meta->in_c < ds->c)
        return kd_fail(err, KD_ERR_INPUT, "%s takes %d-channel images but %s has %d channels", path, meta->in_c,
                       ds->name, ds->c);
    return KD_OK;
}

kd_status kd_eval_job_open(const kd_global *g, const char *model_path, const kd_train_opts *o, const char *split,
                           kd_eval_job *j, kd_err *err) {
    memset(j, 0, sizeof *j);
    KD_TRY(kd_split_select(split, o, &j->data, &j->ds, &j->idx, &j->count, err));
    kd_ctx_opts co = {.profiling = o->profile};
    KD_TRY(kd_session_open(g, &co, &j->ctx, err));
    KD_TRY(kd_model_open(model_path, j->ctx, &j->m, &j->meta));
    KD_TRY(kd_check_data_fits(&j->meta, j->ds, model_path, err));
    j->batch = o->batch < j->count ? o->batch : j->count;
    return kd_model_plan(j->m, j->batch, false); /* reports into kd_ctx_err(j->ctx), which is err */
}

void kd_eval_job_close(kd_eval_job *j) {
    kd_model_free(j->m);
    kd_model_meta_free(&j->meta);
    kd_job_data_free(&j->data);
    kd_ctx_free(j->ctx);
    memset(j, 0, sizeof *j);
}

char *kd_resume_config(const char *cmd, const char *spec, const kd_train_opts *o, const char *teacher, double t,
                       double alpha, bool cache_teacher, const double dkd[3]) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "command", cmd);
    cJSON_AddStringToObject(c, "model", spec);
    if (teacher) {
        cJSON_AddStringToObject(c, "teacher", teacher);
        cJSON_AddNumberToObject(c, "temperature", t);
        /* Classic KD's keys are those of older checkpoints, which stay resumable. */
        if (dkd) {
            cJSON_AddStringToObject(c, "kd", "dkd");
            cJSON_AddNumberToObject(c, "dkd_alpha", dkd[0]);
            cJSON_AddNumberToObject(c, "dkd_beta", dkd[1]);
            cJSON_AddNumberToObject(c, "dkd_warmup", dkd[2]);
        } else {
            cJSON_AddNumberToObject(c, "alpha", alpha);
        }
        cJSON_AddBoolToObject(c, "cache_teacher", cache_teacher);
    }
    cJSON_AddStringToObject(c, "data", o->data);
    cJSON_AddNumberToObject(c, "epochs", o->epochs);
    cJSON_AddNumberToObject(c, "batch", o->batch);
    cJSON_AddStringToObject(c, "optimizer", o->optimizer);
    cJSON_AddNumberToObject(c, "lr", o->lr);
    cJSON_AddNumberToObject(c, "momentum", o->momentum);
    cJSON_AddBoolToObject(c, "nesterov", o->nesterov);
    cJSON_AddNumberToObject(c, "weight_decay", o->weight_decay);
    cJSON_AddBoolToObject(c, "adamw", o->adamw);
    cJSON_AddStringToObject(c, "schedule", o->schedule);
    cJSON_AddNumberToObject(c, "warmup", o->warmup);
    cJSON_AddNumberToObject(c, "lr_step", o->lr_step);
    cJSON_AddNumberToObject(c, "lr_gamma", o->lr_gamma);
    cJSON_AddNumberToObject(c, "seed", (double)o->seed);
    cJSON_AddStringToObject(c, "augment", o->augment);
    cJSON_AddNumberToObject(c, "resize", o->resize);
    cJSON_AddNumberToObject(c, "channels", o->channels);
    cJSON_AddStringToObject(c, "normalize", o->normalize);
    cJSON_AddNumberToObject(c, "val_split", o->val_split);
    cJSON_AddNumberToObject(c, "limit", (double)o->limit);
    char *text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return text;
}
