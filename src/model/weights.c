#include "src/model/weights.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/text.h"

void kd_model_meta_free(kd_model_meta *meta) {
    for (int i = 0; i < KD_MAX_CLASSES; i++) {
        free(meta->class_names[i]);
        meta->class_names[i] = NULL;
    }
}

kd_status kd_model_meta_set_names(kd_model_meta *meta, char *const *names, int n, kd_err *err) {
    for (int i = 0; i < n && i < KD_MAX_CLASSES; i++) {
        free(meta->class_names[i]);
        meta->class_names[i] = NULL;
        if (!names || !names[i]) continue;
        meta->class_names[i] = malloc(strlen(names[i]) + 1);
        if (!meta->class_names[i]) return kd_fail(err, KD_ERR_NOMEM, "out of memory");
        strcpy(meta->class_names[i], names[i]);
    }
    return KD_OK;
}

static kd_status meta_put(kd_st_writer *w, const char *key, const char *value, kd_err *err) {
    return kd_st_writer_meta(w, key, value, err);
}

kd_status kd_weights_save(kd_model *m, const kd_model_meta *meta, kd_st_writer *w, const char *path) {
    kd_err *err = kd_ctx_err(kd_model_ctx(m));
    size_t total = kd_model_total_floats(m);
    float *host = malloc((total ? total : 1) * sizeof(float));
    if (!host) return kd_fail(err, KD_ERR_NOMEM, "out of memory saving %s", path);
    kd_status s = kd_model_download(m, host);
    if (s != KD_OK) {
        free(host);
        return s;
    }
    for (int i = 0; i < kd_model_nparams(m) && s == KD_OK; i++) {
        kd_param_view p = kd_model_param(m, i);
        s = kd_st_writer_add(w, p.name, KD_F32, p.ndim, p.shape, host + p.packed, err);
    }
    char buf[256];
    if (s == KD_OK) s = meta_put(w, "format", "pt", err);
    if (s == KD_OK) s = meta_put(w, "kdcl.version", KDCL_VERSION, err);
    kd_shape in = kd_model_input_shape(m);
    if (s == KD_OK) s = meta_put(w, "kdcl.spec", kd_model_spec(m), err);
    snprintf(buf, sizeof buf, "%dx%dx%d", in.c, in.h, in.w);
    if (s == KD_OK) s = meta_put(w, "kdcl.input", buf, err);
    snprintf(buf, sizeof buf, "%d", kd_model_classes(m));
    if (s == KD_OK) s = meta_put(w, "kdcl.classes", buf, err);
    if (s == KD_OK && meta) {
        cJSON *names = cJSON_CreateArray();
        for (int i = 0; i < kd_model_classes(m); i++)
            cJSON_AddItemToArray(names, cJSON_CreateString(meta->class_names[i] ? meta->class_names[i] : ""));
        char *text = cJSON_PrintUnformatted(names);
        cJSON_Delete(names);
        s = text ? meta_put(w, "kdcl.class_names", text, err) : kd_fail(err, KD_ERR_NOMEM, "out of memory");
        free(text);
        cJSON *pre = cJSON_CreateObject();
        cJSON_AddStringToObject(pre, "dataset", meta->dataset);
        cJSON_AddNumberToObject(pre, "source_channels", meta->src_c);
        float mean[3], std[3];
        for (int i = 0; i < 3; i++) {
            mean[i] = meta->mean[i];
            std[i] = meta->std[i];
        }
        cJSON_AddItemToObject(pre, "mean", cJSON_CreateFloatArray(mean, 3));
        cJSON_AddItemToObject(pre, "std", cJSON_CreateFloatArray(std, 3));
        text = cJSON_PrintUnformatted(pre);
        cJSON_Delete(pre);
        if (s == KD_OK)
            s = text ? meta_put(w, "kdcl.preprocess", text, err) : kd_fail(err, KD_ERR_NOMEM, "out of memory");
        free(text);
    }
    if (s == KD_OK) s = kd_st_writer_write(w, path, err);
    free(host);
    return s;
}

static bool parse_int(const char *s, int *out) {
    if (!s) return false;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > 1000000) return false;
    *out = (int)v;
    return true;
}

kd_status kd_weights_meta(const kd_st_file *f, kd_model_meta *meta, kd_err *err) {
    memset(meta, 0, sizeof *meta);
    const char *spec = kd_st_meta(f, "kdcl.spec"), *input = kd_st_meta(f, "kdcl.input");
    const char *classes = kd_st_meta(f, "kdcl.classes");
    if (!spec || !input || !classes)
        return kd_fail(err, KD_ERR_INPUT,
                       "%s has no kdcl metadata (kdcl.spec, kdcl.input, kdcl.classes): it was not written by kdcl "
                       "train/distill. To start a model from foreign weights use 'kdcl train --model SPEC --init %s'",
                       f->path, f->path);
    if (strlen(spec) >= sizeof meta->spec) return kd_fail(err, KD_ERR_INPUT, "%s: kdcl.spec is too long", f->path);
    strcpy(meta->spec, spec);
    if (!kd_parse_chw(input, &meta->in_c, &meta->in_h, &meta->in_w) || meta->in_c < 1 || meta->in_c > 4 ||
        meta->in_h < 1 || meta->in_w < 1 || meta->in_h > 8192 || meta->in_w > 8192)
        return kd_fail(err, KD_ERR_INPUT, "%s: kdcl.input '%s' is not CxHxW", f->path, input);
    if (!parse_int(classes, &meta->classes) || meta->classes < 2 || meta->classes > KD_MAX_CLASSES)
        return kd_fail(err, KD_ERR_INPUT, "%s: kdcl.classes '%s' is not a class count in [2, %d]", f->path, classes,
                       KD_MAX_CLASSES);
    meta->src_c = meta->in_c;
    const char *names = kd_st_meta(f, "kdcl.class_names");
    if (names) {
        cJSON *arr = cJSON_Parse(names);
        if (cJSON_IsArray(arr)) {
            int i = 0;
            cJSON *it;
            cJSON_ArrayForEach(it, arr) {
                if (i >= meta->classes) break;
                if (cJSON_IsString(it) && it->valuestring[0]) {
                    meta->class_names[i] = malloc(strlen(it->valuestring) + 1);
                    if (meta->class_names[i]) strcpy(meta->class_names[i], it->valuestring);
                }
                i++;
            }
        }
        cJSON_Delete(arr);
    }
    const char *pre = kd_st_meta(f, "kdcl.preprocess");
    if (pre) {
        cJSON *o = cJSON_Parse(pre);
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(o, "dataset");
        if (cJSON_IsString(ds)) snprintf(meta->dataset, sizeof meta->dataset, "%s", ds->valuestring);
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "source_channels");
        if (cJSON_IsNumber(sc) && (sc->valueint == 1 || sc->valueint == 3)) meta->src_c = sc->valueint;
        const cJSON *mean = cJSON_GetObjectItemCaseSensitive(o, "mean"), *std = cJSON_GetObjectItemCaseSensitive(o, "std");
        /* A negative or huge std would feed the model inverted or
         * non-finite pixels without a word: refused (0 means none). */
        bool sane = true;
        for (int i = 0; i < 3; i++) {
            const cJSON *a = cJSON_GetArrayItem(mean, i), *b = cJSON_GetArrayItem(std, i);
            if (cJSON_IsNumber(a)) {
                sane = sane && fabs(a->valuedouble) <= 1e6;
                if (sane) meta->mean[i] = (float)a->valuedouble;
            }
            if (cJSON_IsNumber(b)) {
                sane = sane && b->valuedouble >= 0 && b->valuedouble <= 1e6;
                if (sane) meta->std[i] = (float)b->valuedouble;
            }
        }
        cJSON_Delete(o);
        if (!sane)
            return kd_fail(err, KD_ERR_INPUT,
                           "%s: kdcl.preprocess '%.200s' holds a mean outside [-1e6, 1e6] or a std outside [0, 1e6]",
                           f->path, pre);
    }
    return KD_OK;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

kd_status kd_weights_load(kd_model *m, const kd_st_file *f, bool require_all, kd_load_report *rep) {
    kd_err *err = kd_ctx_err(kd_model_ctx(m));
    memset(rep, 0, sizeof *rep);
    size_t total = kd_model_total_floats(m);
    float *host = malloc((total ? total : 1) * sizeof(float));
    if (!host) return kd_fail(err, KD_ERR_NOMEM, "out of memory loading %s", f->path);
    kd_status s = kd_model_download(m, host); /* tensors absent from the file keep their values */
    if (s != KD_OK) {
        free(host);
        return s;
    }
    const char *spec = kd_model_spec(m);
    for (int i = 0; i < kd_model_nparams(m) && s == KD_OK; i++) {
        kd_param_view p = kd_model_param(m, i);
        const kd_st_tensor *t = kd_st_find(f, p.name);
        if (!t) {
            if (!rep->missing++) snprintf(rep->first_missing, sizeof rep->first_missing, "%s", p.name);
            if (require_all)
                s = kd_fail(err, KD_ERR_INPUT, "%s has no tensor '%s', which model %s needs", f->path, p.name, spec);
        } else {
            bool same = t->ndim == p.ndim;
            for (int d = 0; same && d < p.ndim; d++) same = t->shape[d] == p.shape[d];
            if (!same) {
                char a[96], b[96];
                shape_str(a, sizeof a, t->ndim, t->shape);
                shape_str(b, sizeof b, p.ndim, p.shape);
                s = kd_fail(err, KD_ERR_INPUT, "%s: tensor '%s' has shape %s but model %s needs %s", f->path, p.name, a,
                            spec, b);
            } else {
                s = kd_st_to_f32(f, t, host + p.packed, err);
                rep->loaded++;
            }
        }
    }
    for (int i = 0; i < f->count; i++)
        if (kd_model_find_param(m, f->tensors[i].name) < 0 && !rep->skipped++)
            snprintf(rep->first_skipped, sizeof rep->first_skipped, "%s", f->tensors[i].name);
    if (s == KD_OK) s = kd_model_upload(m, host);
    free(host);
    return s;
}

kd_status kd_model_open(const char *path, kd_ctx *ctx, kd_model **model, kd_model_meta *meta) {
    kd_err *err = kd_ctx_err(ctx);
    *model = NULL;
    kd_st_file f;
    KD_TRY(kd_st_read(path, &f, err));
    kd_status s = kd_weights_meta(&f, meta, err);
    kd_model *m = NULL;
    if (s == KD_OK) {
        s = kd_model_build(meta->spec, meta->in_c, meta->in_h, meta->in_w, meta->classes, &m, err);
        if (s != KD_OK) kd_err_prefix(err, "%s: ", path);
    }
    if (s == KD_OK) s = kd_model_attach(m, ctx, 0);
    kd_load_report rep;
    if (s == KD_OK) s = kd_weights_load(m, &f, true, &rep);
    kd_st_free(&f);
    if (s != KD_OK) {
        kd_model_free(m);
        kd_model_meta_free(meta);
        return s;
    }
    *model = m;
    return KD_OK;
}
