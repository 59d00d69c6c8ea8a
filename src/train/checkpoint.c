#include "src/train/checkpoint.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"

static kd_status put_num(kd_st_writer *w, const char *key, double v, kd_err *err) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    return kd_st_writer_meta(w, key, buf, err);
}

/* The optimizer's state in a checkpoint, one tensor per slot (Adam: 0 the
 * first moment, 1 the second) and trainable parameter, independent of the
 * device layout's alignment: "optimizer.<j>.<name>", whose floats lie at
 * *at = j * floats + p.slot of a state buffer laid out like
 * kd_model_trainable's. Walks them in file order from *it = 0; false after
 * the last. */
typedef struct state_tensor {
    char name[192];
    kd_param_view p;
    size_t at;
} state_tensor;

static bool next_state(const kd_model *m, int slots, int *it, state_tensor *t) {
    int np = kd_model_nparams(m);
    for (; *it < slots * np; (*it)++) {
        int j = *it / np;
        t->p = kd_model_param(m, *it % np);
        if (!t->p.trainable) continue;
        snprintf(t->name, sizeof t->name, "optimizer.%d.%s", j, t->p.name);
        t->at = (size_t)j * kd_model_trainable(m).floats + t->p.slot;
        (*it)++;
        return true;
    }
    return false;
}

kd_status kd_ckpt_save(kd_model *m, const kd_model_meta *meta, const kd_optim_cfg *ocfg, cl_mem state,
                       const kd_ckpt_state *st, const char *path) {
    kd_err *err = kd_ctx_err(kd_model_ctx(m));
    int k = kd_optim_state_per_param(ocfg);
    size_t n = kd_model_trainable(m).floats;
    float *host = NULL;
    kd_st_writer *w = kd_st_writer_new();
    if (!w) return kd_fail(err, KD_ERR_NOMEM, "out of memory writing %s", path);
    kd_status s = KD_OK;
    if (k > 0) {
        host = malloc((size_t)k * n * sizeof(float));
        if (!host) s = kd_fail(err, KD_ERR_NOMEM, "out of memory writing %s", path);
        if (s == KD_OK) s = kd_read(kd_model_ctx(m), state, 0, (size_t)k * n * sizeof(float), host);
        state_tensor t;
        for (int it = 0; s == KD_OK && next_state(m, k, &it, &t);)
            s = kd_st_writer_add(w, t.name, KD_F32, t.p.ndim, t.p.shape, host + t.at, err);
    }
    char buf[64];
    if (s == KD_OK) s = put_num(w, "kdcl.ckpt.epoch", st->epoch, err);
    if (s == KD_OK) s = put_num(w, "kdcl.ckpt.batch", st->batch, err);
    if (s == KD_OK) s = put_num(w, "kdcl.ckpt.step", (double)st->step, err);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)st->dropout_counter);
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.ckpt.dropout_counter", buf, err);
    if (s == KD_OK) s = put_num(w, "kdcl.ckpt.best_acc", st->best_acc, err);
    if (s == KD_OK) s = put_num(w, "kdcl.ckpt.best_epoch", st->best_epoch, err);
    if (s == KD_OK) s = put_num(w, "kdcl.ckpt.epoch_seconds", st->epoch_seconds, err);
    if (s == KD_OK) {
        cJSON *a = cJSON_CreateFloatArray(st->acc, KD_ACC_COUNT);
        char *text = cJSON_PrintUnformatted(a);
        cJSON_Delete(a);
        s = text ? kd_st_writer_meta(w, "kdcl.ckpt.acc", text, err) : kd_fail(err, KD_ERR_NOMEM, "out of memory");
        free(text);
    }
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.ckpt.config", st->config, err);
    if (s == KD_OK) s = kd_weights_save(m, meta, w, path);
    kd_st_writer_free(w);
    free(host);
    return s;
}

static bool get_num(const kd_st_file *f, const char *key, double *v) {
    const char *s = kd_st_meta(f, key);
    if (!s) return false;
    char *end;
    *v = strtod(s, &end);
    return end != s && !*end;
}

kd_status kd_ckpt_load(kd_model *m, const kd_optim_cfg *ocfg, cl_mem state, kd_ckpt_state *st, const char *path) {
    kd_err *err = kd_ctx_err(kd_model_ctx(m));
    kd_st_file f;
    KD_TRY(kd_st_read(path, &f, err));
    memset(st, 0, sizeof *st);
    double epoch, batch, step, best, best_epoch, secs;
    const char *dc = kd_st_meta(&f, "kdcl.ckpt.dropout_counter");
    const char *cfg = kd_st_meta(&f, "kdcl.ckpt.config");
    kd_status s = KD_OK;
    if (!get_num(&f, "kdcl.ckpt.epoch", &epoch) || !get_num(&f, "kdcl.ckpt.batch", &batch) ||
        !get_num(&f, "kdcl.ckpt.step", &step) || !get_num(&f, "kdcl.ckpt.best_acc", &best) ||
        !get_num(&f, "kdcl.ckpt.best_epoch", &best_epoch) || !dc || !cfg) {
        s = kd_fail(err, KD_ERR_INPUT,
                    "%s is not a kdcl training checkpoint (no kdcl.ckpt.* metadata): --resume takes the "
                    "*.ckpt.safetensors file that train/distill write beside --out",
                    path);
        goto done;
    }
    /* Whole numbers in range before any conversion: (int)1e300 or a
     * negative epoch from a damaged file would be undefined or train
     * "epoch -4". */
    const struct {
        const char *key;
        double v, max;
    } counts[] = {{"epoch", epoch, 1e6}, {"batch", batch, 1e9}, {"step", step, 1e15}, {"best_epoch", best_epoch, 1e6}};
    for (int i = 0; i < 4; i++)
        if (!(counts[i].v >= 0 && counts[i].v <= counts[i].max && counts[i].v == floor(counts[i].v))) {
            s = kd_fail(err, KD_ERR_INPUT, "%s: kdcl.ckpt.%s is %g, not a count in [0, %g]: a damaged checkpoint",
                        path, counts[i].key, counts[i].v, counts[i].max);
            goto done;
        }
    if (!(best == -1 || (best >= 0 && best <= 1))) {
        s = kd_fail(err, KD_ERR_INPUT, "%s: kdcl.ckpt.best_acc is %g, not an accuracy in [0, 1] (or -1): a damaged "
                    "checkpoint", path, best);
        goto done;
    }
    st->epoch = (int)epoch;
    st->batch = (int)batch;
    st->step = (long)step;
    st->best_acc = best;
    st->best_epoch = (int)best_epoch;
    st->dropout_counter = strtoull(dc, NULL, 10);
    if (get_num(&f, "kdcl.ckpt.epoch_seconds", &secs) && secs >= 0 && secs < 1e12) st->epoch_seconds = secs;
    snprintf(st->config, sizeof st->config, "%s", cfg);
    const char *acc = kd_st_meta(&f, "kdcl.ckpt.acc");
    cJSON *a = acc ? cJSON_Parse(acc) : NULL;
    for (int i = 0; i < KD_ACC_COUNT; i++) {
        const cJSON *it = cJSON_GetArrayItem(a, i);
        if (cJSON_IsNumber(it) && isfinite(it->valuedouble)) st->acc[i] = (float)it->valuedouble;
    }
    cJSON_Delete(a);
    kd_load_report rep;
    if ((s = kd_weights_load(m, &f, true, &rep)) != KD_OK) goto done;
    int k = kd_optim_state_per_param(ocfg);
    size_t n = kd_model_trainable(m).floats;
    if (k > 0) {
        float *host = calloc((size_t)k * n, sizeof(float));
        if (!host) {
            s = kd_fail(err, KD_ERR_NOMEM, "out of memory reading %s", path);
            goto done;
        }
        state_tensor t;
        for (int it = 0; s == KD_OK && next_state(m, k, &it, &t);) {
            const kd_st_tensor *ft = kd_st_find(&f, t.name);
            if (!ft || kd_st_numel(ft) != t.p.count)
                s = kd_fail(err, KD_ERR_INPUT,
                            "%s: optimizer state '%s' is missing or has the wrong size (was the checkpoint written "
                            "with another --optimizer?)",
                            path, t.name);
            else
                s = kd_st_to_f32(&f, ft, host + t.at, err);
        }
        if (s == KD_OK) s = kd_write(kd_model_ctx(m), state, 0, (size_t)k * n * sizeof(float), host, true);
        free(host);
    }
    kd_model_set_dropout_counter(m, st->dropout_counter);
done:
    kd_st_free(&f);
    return s;
}
