#include "src/train/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/fsutil.h"
#include "src/dist/dist.h"
#include "src/train/checkpoint.h"
#include "src/train/evaluate.h"
#include "src/train/progress.h"
#include "src/train/step.h"
#include "src/train/teacher_cache.h"

typedef struct run {
    kd_model *m, *t;
    kd_ctx *ctx;
    const kd_train_cfg *cfg;
    const kd_train_data *data;
    const kd_prep_desc *prep, *tprep;
    const kd_model_meta *meta;
    kd_loader *ld;
    cl_mem acc, state, bad;
    kd_teacher_cache tcache; /* cfg->cache_teacher */
    cl_mem aug_other;        /* cfg->cache_teacher with flips: the batch's flips toggled, int32 [batch][3] */
    int32_t *aug_host;
    FILE *log;
    kd_ckpt_state st;
    int nb;
    long kd_warmup_steps;
    const kd_dist *dist;   /* NULL or a world of one: not distributed */
    float *ghost;          /* distributed: host copy of the gradients, plus the stop flag */
    float *bhost;          /* distributed: host copy of the batch-norm statistics */
} run;

static void acc_text(const run *r, const float *a, char *buf, size_t cap) {
    double n = a[KD_ACC_SEEN] > 0 ? (double)a[KD_ACC_SEEN] : 1.0;
    if (r->cfg->distill)
        snprintf(buf, cap, "loss %.4f (hard %.4f soft %.4f) acc %.2f%%", (double)a[KD_ACC_LOSS] / n, (double)a[KD_ACC_HARD] / n,
                 (double)a[KD_ACC_SOFT] / n, 100.0 * (double)a[KD_ACC_CORRECT] / n);
    else
        snprintf(buf, cap, "loss %.4f acc %.2f%%", (double)a[KD_ACC_LOSS] / n, 100.0 * (double)a[KD_ACC_CORRECT] / n);
}

/* Reads the running statistics; a non-finite loss or gradient stops the run. */
static kd_status read_stats(run *r, float *a, int epoch, float lr) {
    int bad = 0;
    KD_TRY(kd_read(r->ctx, r->acc, 0, KD_ACC_COUNT * sizeof(float), a));
    KD_TRY(kd_read(r->ctx, r->bad, 0, sizeof bad, &bad));
    if (bad || !isfinite(a[KD_ACC_LOSS]))
        return kd_fail(kd_ctx_err(r->ctx), KD_ERR_NUMERIC,
                       "training diverged in epoch %d, step %ld: %s is not finite. The learning rate (%g) is "
                       "probably too high for this model and batch: start again with a smaller --lr (e.g. %g) or "
                       "--warmup 1; '--init %s' starts from the last good weights, which that checkpoint holds "
                       "(it was not overwritten)",
                       epoch + 1, r->st.step, bad ? "a gradient" : "the loss", (double)lr, (double)lr / 10.0,
                       r->cfg->ckpt ? r->cfg->ckpt : "CKPT");
    return KD_OK;
}

static void log_json(run *r, const char *event, int epoch, float lr, const float *a, const kd_eval_result *val,
                     double seconds, long images) {
    if (!r->log) return;
    double n = a[KD_ACC_SEEN] > 0 ? (double)a[KD_ACC_SEEN] : 1.0;
    fprintf(r->log, "{\"event\":\"%s\",", event);
    if (r->cfg->run_label) fprintf(r->log, "\"run\":\"%s\",", r->cfg->run_label);
    fprintf(r->log, "\"epoch\":%d,\"step\":%ld,\"lr\":%.6g,\"train_loss\":%.6g,\"train_acc\":%.6g", epoch + 1,
            r->st.step, (double)lr, (double)a[KD_ACC_LOSS] / n, (double)a[KD_ACC_CORRECT] / n);
    if (r->cfg->distill)
        fprintf(r->log, ",\"train_hard\":%.6g,\"train_soft\":%.6g,\"train_agree\":%.6g", (double)a[KD_ACC_HARD] / n,
                (double)a[KD_ACC_SOFT] / n, (double)a[KD_ACC_AGREE] / n);
    if (val && val->n > 0) fprintf(r->log, ",\"val_loss\":%.6g,\"val_acc\":%.6g", val->loss, val->acc);
    fprintf(r->log, ",\"seconds\":%.3f,\"images_per_s\":%.1f}\n", seconds, seconds > 0 ? (double)images / seconds : 0.0);
    fflush(r->log);
}

/* Whether a log line belongs to this run: its "run" is this run's label.
 * A line without one (written by older kdcl, or by a run without a label)
 * is this run's when resuming that run, another run's when appending. */
static bool log_line_mine(const char *line, const kd_train_cfg *cfg) {
    const char *p = strstr(line, "\"run\":\"");
    if (!p || !cfg->run_label) return cfg->resume != NULL;
    p += 7;
    size_t n = strlen(cfg->run_label);
    return !strncmp(p, cfg->run_label, n) && p[n] == '"';
}

/* The metrics log. On --resume, lines of this run past the checkpoint's
 * step were written by the interrupted run and will be written again: drop
 * them. Lines of other runs stay when resuming or appending (distill
 * --baseline writes both of its runs into one file); "test" lines go when
 * the first run reopens the file, as the command writes them anew at its end. */
static kd_status open_log(run *r) {
    const char *path = r->cfg->log_path;
    char *old = NULL;
    size_t n = 0;
    kd_err ignored;
    bool keep_others = r->cfg->resume || r->cfg->log_append;
    if (keep_others && kd_read_file(path, (void **)&old, &n, &ignored) != KD_OK) old = NULL;
    r->log = fopen(path, "w");
    if (!r->log) {
        free(old);
        return kd_fail(kd_ctx_err(r->ctx), KD_ERR_IO, "cannot open --log %s for writing: %s", path, strerror(errno));
    }
    for (char *line = old, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        bool keep;
        if (strstr(line, "\"event\":\"test\"")) {
            keep = r->cfg->log_append;
        } else if (!log_line_mine(line, r->cfg)) {
            keep = true;
        } else {
            const char *st = strstr(line, "\"step\":");
            keep = r->cfg->resume && st && strtol(st + 7, NULL, 10) <= r->st.step;
        }
        if (keep) fprintf(r->log, "%s\n", line);
    }
    free(old);
    fflush(r->log);
    return KD_OK;
}

static kd_status save_ckpt(run *r) {
    if (!kd_dist_leader(r->dist)) return KD_OK; /* rank 0 writes; --resume restores every rank from it */
    kd_status s = kd_ckpt_save(r->m, r->meta, &r->cfg->optim, r->state, &r->st, r->cfg->ckpt);
    if (s != KD_OK) kd_err_prefix(kd_ctx_err(r->ctx), "saving checkpoint: ");
    return s;
}

static kd_status teacher_forward(run *r, const kd_batch *b) {
    KD_TRY(kd_prep_run(r->ctx, r->tprep, r->data->ds->c, r->data->ds->h, r->data->ds->w, b, r->cfg->aug.crop_pad,
                       kd_model_input(r->t)));
    return kd_model_forward(r->t, b->n, false);
}

/* The teacher's logits on b into kd_model_logits(t), from the cache when
 * it has every sample's. With flips, a batch that misses any also gets the
 * other view of each of its images computed and kept: a batch is served
 * from the cache only when all its samples are, and with one view per
 * visit that would take many epochs; with both, every batch after the
 * first epoch is. */
static kd_status teacher_logits(run *r, const kd_batch *b) {
    kd_model *t = r->t;
    kd_teacher_cache *c = r->cfg->cache_teacher ? &r->tcache : NULL;
    if (c && kd_teacher_cache_has(c, b)) return kd_teacher_cache_get(c, b, kd_model_logits(t));
    if (c && c->views == 2) {
        for (int i = 0; i < b->n; i++) {
            r->aug_host[3 * i + 0] = r->aug_host[3 * i + 1] = 0; /* no crop with the cache */
            r->aug_host[3 * i + 2] = !b->host_flips[i];
        }
        KD_TRY(kd_write(r->ctx, r->aug_other, 0, (size_t)b->n * 3 * sizeof(int32_t), r->aug_host, true));
        kd_batch other = *b;
        other.aug = r->aug_other;
        KD_TRY(teacher_forward(r, &other));
        KD_TRY(kd_teacher_cache_put(c, b, true, kd_model_logits(t)));
    }
    KD_TRY(teacher_forward(r, b));
    return c ? kd_teacher_cache_put(c, b, false, kd_model_logits(t)) : KD_OK;
}

/* Data parallelism: every rank's gradient is its shard's sum over the
 * global batch's size, so their sum is the global batch's mean gradient,
 * as one process would compute it. The stop request travels in the same
 * reduction, so every rank stops after the same step. */
static kd_status sum_grads(run *r, bool *stop) {
    kd_param_block p = kd_model_trainable(r->m);
    size_t n = p.floats, bytes = n * sizeof(float);
    KD_TRY(kd_read(r->ctx, p.grads, 0, bytes, r->ghost));
    r->ghost[n] = *stop ? 1.0f : 0.0f;
    KD_TRY(kd_dist_sum_f32(r->dist, r->ghost, n + 1, kd_ctx_err(r->ctx)));
    *stop = r->ghost[n] > 0.0f;
    return kd_write(r->ctx, p.grads, 0, bytes, r->ghost, true);
}

/* Rank 0's batch-norm running statistics to every rank before evaluating
 * and saving (as PyTorch DDP's broadcast_buffers): the ranks' models are
 * then identical, and their shards' figures add up to rank 0's model's. */
static kd_status share_buffers(run *r) {
    kd_param_block p = kd_model_buffers(r->m);
    if (!kd_dist_on(r->dist) || p.floats == 0) return KD_OK;
    size_t bytes = p.floats * sizeof(float);
    KD_TRY(kd_read(r->ctx, p.values, 0, bytes, r->bhost));
    KD_TRY(kd_dist_bcast_f32(r->dist, r->bhost, p.floats, kd_ctx_err(r->ctx)));
    return kd_write(r->ctx, p.values, 0, bytes, r->bhost, true);
}

/* One optimizer step on batch b (distributed: b is this rank's shard, and
 * *stop becomes whether any rank asked to stop). */
static kd_status train_step(run *r, const kd_batch *b, float lr, bool *stop) {
    kd_ctx *ctx = r->ctx;
    kd_model *m = r->m;
    int n = b->n;
    float scale = 1.0f / (float)(b->total > 0 ? b->total : 1);
    if (n == 0) { /* a global batch smaller than the ranks: this one has nothing, adds nothing */
        KD_TRY(kd_model_zero_grad(m));
        KD_TRY(sum_grads(r, stop));
        r->st.step++;
        return kd_step_update(m, &r->cfg->optim, r->state, lr, r->st.step, r->bad);
    }
    KD_TRY(kd_prep_run(ctx, r->prep, r->data->ds->c, r->data->ds->h, r->data->ds->w, b, r->cfg->aug.crop_pad,
                       kd_model_input(m)));
    kd_step_loss loss = {.labels = b->labels, .acc = r->acc, .scale = scale};
    kd_distill_cfg kd = r->cfg->kd;
    if (r->cfg->distill) {
        KD_TRY(teacher_logits(r, b));
        /* DKD's warm-up (as its authors train): the terms it adds to CE
         * grow linearly over the first steps, so a random student is not
         * pulled by beta-weighted NCKD before it has learnt anything. */
        if (kd.method == KD_KD_DKD && r->kd_warmup_steps > 0 && r->st.step < r->kd_warmup_steps) {
            float w = (float)(r->st.step + 1) / (float)r->kd_warmup_steps;
            kd.dkd_alpha *= w;
            kd.dkd_beta *= w;
        }
        loss.kd = &kd;
        loss.teacher_logits = kd_model_logits(r->t);
    }
    KD_TRY(kd_step_grads(m, n, &loss));
    if (kd_dist_on(r->dist)) KD_TRY(sum_grads(r, stop));
    r->st.step++;
    return kd_step_update(m, &r->cfg->optim, r->state, lr, r->st.step, r->bad);
}

static kd_status setup(run *r) {
    kd_ctx *ctx = r->ctx;
    const kd_train_cfg *cfg = r->cfg;
    int per = kd_optim_state_per_param(&cfg->optim);
    KD_TRY(kd_buffer_alloc(ctx, KD_ACC_COUNT * sizeof(float), "training statistics", &r->acc));
    KD_TRY(kd_fill(ctx, r->acc, 0, KD_ACC_COUNT * sizeof(float), 0.0f));
    KD_TRY(kd_buffer_alloc(ctx, sizeof(int), "divergence flag", &r->bad));
    KD_TRY(kd_fill(ctx, r->bad, 0, sizeof(int), 0.0f));
    size_t sf = (size_t)(per > 0 ? per : 1) * kd_model_trainable(r->m).floats;
    KD_TRY(kd_buffer_alloc(ctx, sf * sizeof(float), "optimizer state", &r->state));
    KD_TRY(kd_fill(ctx, r->state, 0, sf * sizeof(float), 0.0f));
    if (cfg->distill && cfg->cache_teacher) {
        KD_ASSERT(!cfg->aug.crop); /* a crop is drawn anew every epoch: nothing to reuse */
        KD_TRY(
            kd_teacher_cache_open(ctx, r->data->ds->n, cfg->aug.flip, kd_model_classes(r->m), cfg->batch, &r->tcache));
        if (cfg->aug.flip) {
            size_t bytes = (size_t)cfg->batch * 3 * sizeof(int32_t);
            KD_TRY(kd_buffer_alloc(ctx, bytes, "teacher-cache flips", &r->aug_other));
            r->aug_host = malloc(bytes);
            if (!r->aug_host) return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory");
        }
    }
    int ranks = kd_dist_on(r->dist) ? r->dist->size : 1;
    if (ranks > 1) {
        KD_TRY(kd_dist_same(r->dist, cfg->config_json ? cfg->config_json : "", "settings", kd_ctx_err(ctx)));
        r->ghost = malloc((kd_model_trainable(r->m).floats + 1) * sizeof(float));
        r->bhost = malloc((kd_model_buffers(r->m).floats + 1) * sizeof(float));
        if (!r->ghost || !r->bhost) return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory");
    }
    /* --batch is per rank: the loader cuts global batches of ranks x batch. */
    KD_TRY(kd_loader_create(ctx, r->data->ds, r->data->train_idx, r->data->ntrain, cfg->batch * ranks, true,
                            &cfg->aug, cfg->seed, &r->ld));
    if (ranks > 1) kd_loader_shard(r->ld, r->dist->rank, ranks);
    return KD_OK;
}

static void teardown(run *r) {
    kd_ctx *ctx = r->ctx;
    kd_drain(ctx); /* before releasing: the run's status is already decided */
    kd_teacher_cache_close(&r->tcache);
    kd_buffer_free(ctx, r->aug_other);
    free(r->aug_host);
    kd_buffer_free(ctx, r->acc);
    kd_buffer_free(ctx, r->bad);
    kd_buffer_free(ctx, r->state);
    kd_loader_free(r->ld);
    free(r->ghost);
    free(r->bhost);
    if (r->log) fclose(r->log);
}

static kd_status resume(run *r) {
    const kd_train_cfg *cfg = r->cfg;
    KD_TRY(kd_ckpt_load(r->m, &cfg->optim, r->state, &r->st, cfg->resume));
    if (cfg->config_json && strcmp(cfg->config_json, r->st.config))
        return kd_fail(kd_ctx_err(r->ctx), KD_ERR_USAGE,
                       "--resume %s: the checkpoint was written with other settings; resume with the same "
                       "command line.\n  checkpoint: %s\n  this run:   %s",
                       cfg->resume, r->st.config, cfg->config_json);
    /* The saved statistics are every rank's sum: rank 0 carries them on. */
    if (!kd_dist_leader(r->dist)) memset(r->st.acc, 0, sizeof r->st.acc);
    KD_TRY(kd_write(r->ctx, r->acc, 0, sizeof r->st.acc, r->st.acc, true));
    if (!cfg->quiet)
        printf("resuming %s at epoch %d, batch %d (step %ld)\n", cfg->resume, r->st.epoch + 1, r->st.batch, r->st.step);
    return KD_OK;
}

static const char *resume_ckpt(const kd_train_cfg *cfg) { return cfg->resume_ckpt ? cfg->resume_ckpt : cfg->ckpt; }

static int ranks(const run *r) { return kd_dist_on(r->dist) ? r->dist->size : 1; }

/* The running statistics summed over the ranks (loss, hits and images seen). */
static kd_status global_stats(run *r, float *a) {
    if (!kd_dist_on(r->dist)) return KD_OK;
    float sum[KD_ACC_COUNT];
    memcpy(sum, a, sizeof sum);
    KD_TRY(kd_dist_sum_f32(r->dist, sum, KD_ACC_COUNT, kd_ctx_err(r->ctx)));
    memcpy(a, sum, sizeof sum);
    return KD_OK;
}

/* Whether any rank asks (a Ctrl-C reaches them one by one). */
static kd_status agree(run *r, bool *flag) {
    if (!kd_dist_on(r->dist)) return KD_OK;
    float f = *flag ? 1.0f : 0.0f;
    KD_TRY(kd_dist_sum_f32(r->dist, &f, 1, kd_ctx_err(r->ctx)));
    *flag = f > 0.0f;
    return KD_OK;
}

static kd_status run_epochs(run *r, kd_train_result *res) {
    const kd_train_cfg *cfg = r->cfg;
    kd_ctx *ctx = r->ctx;
    kd_sched sched = cfg->sched;
    sched.total_steps = (long)cfg->epochs * r->nb;
    sched.warmup_steps = (long)(cfg->warmup_epochs * r->nb);
    sched.step_size = (long)(cfg->step_epochs * r->nb);
    if (sched.step_size < 1) sched.step_size = 1;
    double t_run = kd_now();
    long first_step = r->st.step;
    for (int e = r->st.epoch; e < cfg->epochs; e++) {
        char label[64];
        snprintf(label, sizeof label, "epoch %d/%d", e + 1, cfg->epochs);
        kd_progress pr;
        kd_progress_begin(&pr, stdout, cfg->quiet, label, r->st.batch, r->nb);
        KD_TRY(kd_loader_start(r->ld, e, r->st.batch));
        double t0 = kd_now() - r->st.epoch_seconds, t_shown = 0;
        /* A resumed epoch's time includes that of the run before; so must its image count. */
        long images = 0, images_before = (long)r->st.batch * cfg->batch * ranks(r);
        float a[KD_ACC_COUNT] = {0}, lr = kd_sched_lr(&sched, r->st.step);
        for (;;) {
            kd_batch b;
            bool done = false;
            KD_TRY(kd_loader_next(r->ld, &b, &done));
            if (done) break;
            lr = kd_sched_lr(&sched, r->st.step);
            long c0 = kd_ctx_counters(r->ctx).commands, b0 = kd_ctx_counters(r->ctx).blas_calls;
            /* Distributed, a Ctrl-C reaches the ranks at different steps: train_step makes it one decision. */
            bool stop = cfg->stop && *cfg->stop;
            KD_TRY(train_step(r, &b, lr, &stop));
            res->step_commands += kd_ctx_counters(r->ctx).commands - c0;
            res->step_blas_calls += kd_ctx_counters(r->ctx).blas_calls - b0;
            r->st.batch++;
            images += b.total;
            r->st.dropout_counter = kd_model_dropout_counter(r->m);
            stop = stop || (cfg->stop_after > 0 && r->st.step - first_step >= cfg->stop_after);
            bool ckpt = cfg->checkpoint_every > 0 && r->st.step % cfg->checkpoint_every == 0 && r->st.batch < r->nb;
            bool logline = cfg->log_every > 0 && r->st.step % cfg->log_every == 0;
            double now = kd_now();
            if (stop || ckpt || logline || (!cfg->quiet && now - t_shown >= (pr.tty ? 0.5 : 5.0))) {
                /* Progress shows this rank's shard; what is saved or logged, every rank's (at steps all share). */
                KD_TRY(read_stats(r, a, e, lr));
                if (stop || ckpt || logline) KD_TRY(global_stats(r, a));
                char status[160];
                acc_text(r, a, status, sizeof status);
                kd_progress_update(&pr, r->st.batch, images, status);
                t_shown = now;
                if (logline) log_json(r, "step", e, lr, a, NULL, now - t0, images_before + images);
            }
            if (ckpt || stop) {
                memcpy(r->st.acc, a, sizeof a);
                r->st.epoch = e;
                r->st.epoch_seconds = now - t0;
                KD_TRY(save_ckpt(r));
            }
            if (stop) {
                kd_progress_end(&pr);
                return kd_fail(kd_ctx_err(r->ctx), KD_ERR_INTERRUPTED,
                               "interrupted in epoch %d at batch %d/%d; progress saved to %s. Resume with:\n  %s "
                               "--resume %s",
                               e + 1, r->st.batch, r->nb, cfg->ckpt, cfg->resume_hint ? cfg->resume_hint : "kdcl ...",
                               resume_ckpt(cfg));
            }
        }
        KD_TRY(read_stats(r, a, e, lr));
        KD_TRY(global_stats(r, a));
        kd_progress_end(&pr);
        double train_secs = kd_now() - t0;
        kd_eval_result val = {0};
        KD_TRY(share_buffers(r));
        if (r->data->nval > 0) {
            kd_eval_cfg ec = {.batch = cfg->batch, .quiet = true, .label = "val", .dist = r->dist};
            KD_TRY(kd_evaluate(r->m, r->prep, r->data->ds, r->data->val_idx, r->data->nval, &ec, &val));
        }
        double secs = kd_now() - t0;
        double n = a[KD_ACC_SEEN] > 0 ? (double)a[KD_ACC_SEEN] : 1.0;
        res->last_train_loss = (double)a[KD_ACC_LOSS] / n;
        res->last_train_acc = (double)a[KD_ACC_CORRECT] / n;
        if (!cfg->quiet) {
            char status[160], dur[32];
            acc_text(r, a, status, sizeof status);
            kd_fmt_duration(dur, sizeof dur, secs);
            printf("epoch %d/%d: train %s", e + 1, cfg->epochs, status);
            if (val.n) printf(" | val loss %.4f acc %.2f%%", val.loss, 100.0 * val.acc);
            double ips = train_secs > 0 ? (double)(images_before + images) / train_secs : 0.0;
            printf(" | lr %.3g | %s, %.0f img/s\n", (double)lr, dur, ips);
            fflush(stdout);
        }
        log_json(r, "epoch", e, lr, a, &val, secs, images_before + images);
        /* The best model by validation accuracy (the last one without validation). */
        double score = val.n ? val.acc : -1;
        if (!val.n || score > r->st.best_acc) {
            r->st.best_acc = score;
            r->st.best_epoch = e + 1;
            kd_st_writer *w = kd_dist_leader(r->dist) ? kd_st_writer_new() : NULL;
            kd_status s = !kd_dist_leader(r->dist) ? KD_OK
                          : w                      ? kd_weights_save(r->m, r->meta, w, cfg->out)
                                                   : kd_fail(kd_ctx_err(r->ctx), KD_ERR_NOMEM, "out of memory");
            kd_st_writer_free(w);
            if (s != KD_OK) {
                kd_eval_result_free(&val);
                if (cfg->resume_hint)
                    kd_err_prefix(kd_ctx_err(r->ctx),
                                  "saving the best model of epoch %d: the checkpoint %s of the previous "
                                  "epoch is intact; after fixing this, resume with '%s --resume %s'. ",
                                  e + 1, cfg->ckpt, cfg->resume_hint, resume_ckpt(cfg));
                return s;
            }
        }
        kd_eval_result_free(&val);
        /* The next epoch starts from a clean slate: zero statistics, batch 0. */
        r->st.epoch = e + 1;
        r->st.batch = 0;
        r->st.epoch_seconds = 0;
        memset(r->st.acc, 0, sizeof r->st.acc);
        KD_TRY(kd_fill(ctx, r->acc, 0, KD_ACC_COUNT * sizeof(float), 0.0f));
        KD_TRY(save_ckpt(r));
        bool stop = cfg->stop && *cfg->stop;
        KD_TRY(agree(r, &stop));
        if (stop || (cfg->stop_after > 0 && r->st.step - first_step >= cfg->stop_after))
            return kd_fail(kd_ctx_err(r->ctx), KD_ERR_INTERRUPTED,
                           "interrupted after epoch %d; progress saved to %s. Resume with:\n  %s --resume %s", e + 1,
                           cfg->ckpt, cfg->resume_hint ? cfg->resume_hint : "kdcl ...", resume_ckpt(cfg));
    }
    res->seconds = kd_now() - t_run;
    return KD_OK;
}

kd_status kd_train(kd_model *m, const kd_prep_desc *prep, const kd_model_meta *meta, kd_model *teacher,
                   const kd_prep_desc *tprep, const kd_train_data *data, const kd_train_cfg *cfg,
                   kd_train_result *res) {
    kd_err *err = kd_ctx_err(kd_model_ctx(m));
    memset(res, 0, sizeof *res);
    /* cfg->kd was checked where it was parsed (kd_distill_check); the loss
     * layer refuses a bad one at its own boundary. */
    KD_ASSERT(!cfg->distill || (teacher && kd_model_classes(teacher) == kd_model_classes(m)));
    if (data->ntrain < 1) return kd_fail(err, KD_ERR_USAGE, "no training images (check --limit and --val-split)");
    run r = {.m = m, .t = cfg->distill ? teacher : NULL, .ctx = kd_model_ctx(m), .cfg = cfg, .data = data,
             .prep = prep, .tprep = tprep, .meta = meta, .dist = cfg->dist};
    r.st.best_acc = -1;
    if (cfg->config_json) snprintf(r.st.config, sizeof r.st.config, "%s", cfg->config_json);
    int global_batch = cfg->batch * ranks(&r);
    r.nb = (data->ntrain + global_batch - 1) / global_batch;
    r.kd_warmup_steps = (long)(cfg->kd_warmup_epochs * r.nb);
    kd_status s = kd_model_plan(m, cfg->batch, true);
    if (s == KD_OK && r.t) s = kd_model_plan(r.t, cfg->batch, false);
    if (s == KD_OK) s = setup(&r);
    if (s == KD_OK && cfg->resume) s = resume(&r);
    if (s == KD_OK && cfg->log_path && kd_dist_leader(r.dist)) s = open_log(&r);
    if (s == KD_OK && kd_dist_on(r.dist) && !cfg->quiet)
        printf("data-parallel over %d ranks: batch %d per rank, global batch %d, %d steps per epoch\n",
               r.dist->size, cfg->batch, global_batch, r.nb);
    if (s == KD_OK && r.st.epoch >= cfg->epochs && !cfg->quiet)
        printf("the checkpoint has already finished all %d epochs\n", cfg->epochs);
    long step0 = r.st.step;
    if (s == KD_OK) s = run_epochs(&r, res);
    res->steps = r.st.step - step0;
    res->best_acc = r.st.best_acc;
    res->best_epoch = r.st.best_epoch;
    teardown(&r);
    return s;
}
