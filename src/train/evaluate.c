#include "src/train/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/loss.h"
#include "src/train/progress.h"

void kd_eval_result_free(kd_eval_result *r) {
    free(r->confusion);
    free(r->logits);
    free(r->labels);
    memset(r, 0, sizeof *r);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Each rank evaluates its contiguous share of idx; counts and sums are
 * added up and logits gathered in rank order (= idx order), so every rank
 * holds the figures one process would compute (the loss up to float
 * summation order). */
static kd_status evaluate_sharded(kd_model *m, const kd_prep_desc *prep, const kd_dataset *ds, const int *idx,
                                  int count, const kd_eval_cfg *cfg, kd_eval_result *out) {
    kd_err *err = kd_ctx_err(kd_model_ctx(m));
    memset(out, 0, sizeof *out);
    const kd_dist *d = cfg->dist;
    int k = kd_model_classes(m);
    long lo, hi;
    kd_dist_shard(d, count, &lo, &hi);
    kd_eval_cfg local = *cfg;
    local.dist = NULL;
    kd_eval_result part = {0};
    kd_status s = KD_OK;
    if (hi > lo) {
        s = kd_evaluate(m, prep, ds, idx + lo, (int)(hi - lo), &local, &part);
    } else {
        part.classes = k;
        part.confusion = calloc((size_t)k * (size_t)k, sizeof(long));
        if (!part.confusion) s = kd_fail(err, KD_ERR_NOMEM, "out of host memory for evaluation");
    }
    if (s != KD_OK) return s;
    size_t kk = (size_t)k * (size_t)k;
    int64_t *conf = malloc(kk * sizeof *conf);
    out->classes = k;
    out->confusion = calloc(kk, sizeof(long));
    if (cfg->keep_logits) {
        out->logits = malloc((size_t)(count ? count : 1) * (size_t)k * sizeof(float));
        out->labels = malloc((size_t)(count ? count : 1) * sizeof(int));
    }
    if (!conf || !out->confusion || (cfg->keep_logits && (!out->logits || !out->labels)))
        s = kd_fail(err, KD_ERR_NOMEM, "out of host memory for evaluation");
    double n = (double)part.n;
    double sums[4] = {n, part.n ? part.loss * n : 0.0, (double)llround(part.acc * n), (double)llround(part.agree * n)};
    double secs = part.seconds;
    if (s == KD_OK) {
        for (size_t i = 0; i < kk; i++) conf[i] = part.confusion[i];
        s = kd_dist_sum_f64(d, sums, 4, err);
    }
    if (s == KD_OK) s = kd_dist_sum_i64(d, conf, kk, err);
    if (s == KD_OK) s = kd_dist_max_f64(d, &secs, err);
    if (s == KD_OK && cfg->keep_logits) s = kd_dist_gather_f32(d, part.logits, part.n * k, out->logits, err);
    if (s == KD_OK && cfg->keep_logits) s = kd_dist_gather_i32(d, part.labels, part.n, out->labels, err);
    if (s == KD_OK) {
        for (size_t i = 0; i < kk; i++) out->confusion[i] = (long)conf[i];
        out->n = (long)sums[0];
        out->loss = sums[0] > 0 ? sums[1] / sums[0] : (double)NAN;
        out->acc = sums[0] > 0 ? sums[2] / sums[0] : (double)NAN;
        out->agree = sums[0] > 0 ? sums[3] / sums[0] : 0;
        out->seconds = secs;
        out->images_per_s = secs > 0 ? sums[0] / secs : 0;
    }
    free(conf);
    kd_eval_result_free(&part);
    if (s != KD_OK) kd_eval_result_free(out);
    return s;
}

kd_status kd_evaluate(kd_model *m, const kd_prep_desc *prep, const kd_dataset *ds, const int *idx, int count,
                      const kd_eval_cfg *cfg, kd_eval_result *out) {
    if (kd_dist_on(cfg->dist)) return evaluate_sharded(m, prep, ds, idx, count, cfg, out);
    kd_ctx *ctx = kd_model_ctx(m);
    memset(out, 0, sizeof *out);
    int k = kd_model_classes(m), bs = cfg->batch;
    out->classes = k;
    out->confusion = calloc((size_t)k * (size_t)k, sizeof(long));
    float *host = malloc((size_t)bs * (size_t)k * sizeof(float));
    float *thost = cfg->teacher ? malloc((size_t)bs * (size_t)k * sizeof(float)) : NULL;
    if (cfg->keep_logits) {
        out->logits = malloc((size_t)(count ? count : 1) * (size_t)k * sizeof(float));
        out->labels = malloc((size_t)(count ? count : 1) * sizeof(int));
    }
    if (!out->confusion || !host || (cfg->teacher && !thost) || (cfg->keep_logits && (!out->logits || !out->labels))) {
        free(host);
        free(thost);
        kd_eval_result_free(out);
        return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory for evaluation");
    }
    kd_loader *ld = NULL;
    cl_mem acc = NULL;
    kd_aug_cfg noaug = {0};
    long agree = 0;
    kd_status s = kd_loader_create(ctx, ds, idx, count, bs, false, &noaug, 0, &ld);
    if (s == KD_OK) s = kd_buffer_alloc(ctx, KD_ACC_COUNT * sizeof(float), "evaluation statistics", &acc);
    if (s == KD_OK) s = kd_fill(ctx, acc, 0, KD_ACC_COUNT * sizeof(float), 0.0f);
    if (s == KD_OK) s = kd_loader_start(ld, 0, 0);
    kd_progress pr;
    kd_progress_begin(&pr, stdout, cfg->quiet, cfg->label ? cfg->label : "eval", 0, (count + bs - 1) / bs);
    double t0 = kd_now();
    long done_n = 0, step = 0;
    while (s == KD_OK) {
        kd_batch b;
        bool done = false;
        s = kd_loader_next(ld, &b, &done);
        if (s != KD_OK || done) break;
        s = kd_prep_run(ctx, prep, ds->c, ds->h, ds->w, &b, 0, kd_model_input(m));
        if (s == KD_OK) s = kd_model_forward(m, b.n, false);
        if (s == KD_OK) s = kd_ce_forward(ctx, b.n, k, acc, kd_model_logits(m), b.labels);
        if (s == KD_OK) s = kd_read(ctx, kd_model_logits(m), 0, (size_t)b.n * (size_t)k * sizeof(float), host);
        if (s == KD_OK && cfg->teacher) {
            kd_model *t = cfg->teacher;
            s = kd_prep_run(ctx, cfg->teacher_prep, ds->c, ds->h, ds->w, &b, 0, kd_model_input(t));
            if (s == KD_OK) s = kd_model_forward(t, b.n, false);
            if (s == KD_OK) s = kd_read(ctx, kd_model_logits(t), 0, (size_t)b.n * (size_t)k * sizeof(float), thost);
        }
        if (s != KD_OK) break;
        for (int i = 0; i < b.n; i++) {
            int pred = argmax(host + (size_t)i * (size_t)k, k), y = b.host_labels[i];
            out->confusion[(size_t)y * (size_t)k + (size_t)pred]++;
            if (thost && argmax(thost + (size_t)i * (size_t)k, k) == pred) agree++;
            if (cfg->keep_logits) {
                memcpy(out->logits + (size_t)(done_n + i) * (size_t)k, host + (size_t)i * (size_t)k,
                       (size_t)k * sizeof(float));
                out->labels[done_n + i] = y;
            }
        }
        done_n += b.n;
        step++;
        char status[64];
        snprintf(status, sizeof status, "%ld images", done_n);
        kd_progress_update(&pr, step, done_n, status);
    }
    kd_progress_end(&pr);
    float a[KD_ACC_COUNT] = {0};
    if (s == KD_OK) s = kd_read(ctx, acc, 0, sizeof a, a);
    out->seconds = kd_now() - t0;
    out->n = done_n;
    out->loss = a[KD_ACC_SEEN] > 0 ? (double)a[KD_ACC_LOSS] / (double)a[KD_ACC_SEEN] : (double)NAN;
    out->acc = a[KD_ACC_SEEN] > 0 ? (double)a[KD_ACC_CORRECT] / (double)a[KD_ACC_SEEN] : (double)NAN;
    out->images_per_s = out->seconds > 0 ? (double)done_n / out->seconds : 0;
    out->agree = done_n ? (double)agree / (double)done_n : 0;
    kd_buffer_free(ctx, acc);
    kd_loader_free(ld);
    free(host);
    free(thost);
    if (s != KD_OK) kd_eval_result_free(out);
    return s;
}

void kd_eval_print(const kd_eval_result *r, char *const *names, FILE *out) {
    int k = r->classes;
    fprintf(out, "%-16s %8s %8s %9s\n", "class", "images", "correct", "accuracy");
    for (int i = 0; i < k; i++) {
        long row = 0;
        for (int j = 0; j < k; j++) row += r->confusion[(size_t)i * (size_t)k + (size_t)j];
        long ok = r->confusion[(size_t)i * (size_t)k + (size_t)i];
        char nm[32];
        snprintf(nm, sizeof nm, "%s", names && names[i] ? names[i] : "");
        if (!nm[0]) snprintf(nm, sizeof nm, "class %d", i);
        fprintf(out, "%-16s %8ld %8ld %8.2f%%\n", nm, row, ok, row ? 100.0 * (double)ok / (double)row : 0.0);
    }
    fprintf(out, "\nconfusion matrix (rows: true class, columns: predicted)\n%-16s", "");
    for (int j = 0; j < k; j++) fprintf(out, " %6d", j);
    fputc('\n', out);
    for (int i = 0; i < k; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "%d %s", i, names && names[i] ? names[i] : "");
        fprintf(out, "%-16.16s", nm);
        for (int j = 0; j < k; j++) fprintf(out, " %6ld", r->confusion[(size_t)i * (size_t)k + (size_t)j]);
        fputc('\n', out);
    }
}
