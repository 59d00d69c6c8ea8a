/* safetensors writer: tensors and metadata collected, then written
 * atomically in the canonical layout the Python library validates. */
#define _POSIX_C_SOURCE 200809L
#include "src/io/safetensors.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "runtime/fsutil.h"
#include "src/io/st_format.h"

typedef struct st_wentry {
    char *name;
    kd_dtype dtype;
    int ndim;
    int64_t shape[KD_ST_MAX_DIMS];
    const void *data; /* the caller's, not copied */
    size_t nbytes;
} st_wentry;

struct kd_st_writer {
    st_wentry *t;
    int count, cap;
    char **mkey, **mval;
    int mcount, mcap;
};

kd_st_writer *kd_st_writer_new(void) { return calloc(1, sizeof(kd_st_writer)); }

void kd_st_writer_free(kd_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->count; i++) free(w->t[i].name);
    for (int i = 0; i < w->mcount; i++) free(w->mkey[i]), free(w->mval[i]);
    free(w->t);
    free(w->mkey);
    free(w->mval);
    free(w);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

kd_status kd_st_writer_add(kd_st_writer *w, const char *name, kd_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, kd_err *err) {
    if (!name || !*name) return kd_fail(err, KD_ERR_USAGE, "safetensors writer: empty tensor name");
    size_t len = strlen(name);
    if (len > ST_MAX_NAME)
        return kd_fail(err, KD_ERR_USAGE, "safetensors writer: tensor name \"%s\" is %zu bytes; the limit is %d",
                       kd_st_show(name).s, len, ST_MAX_NAME);
    if (!kd_st_utf8_valid((const uint8_t *)name, len))
        return kd_fail(err, KD_ERR_USAGE, "safetensors writer: tensor name \"%s\" is not valid UTF-8",
                       kd_st_show(name).s);
    if (strcmp(name, "__metadata__") == 0)
        return kd_fail(err, KD_ERR_USAGE, "safetensors writer: \"__metadata__\" is reserved, not a tensor name");
    for (int i = 0; i < w->count; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return kd_fail(err, KD_ERR_USAGE, "safetensors writer: tensor \"%s\" added twice", kd_st_show(name).s);
    if (!kd_st_dtype_valid(dtype))
        return kd_fail(err, KD_ERR_USAGE, "safetensors writer: tensor \"%s\": unknown dtype %d", kd_st_show(name).s,
                       (int)dtype);
    if (ndim < 0 || ndim > KD_ST_MAX_DIMS || (ndim > 0 && !shape))
        return kd_fail(err, KD_ERR_USAGE, "safetensors writer: tensor \"%s\": %d dimensions (0..%d allowed)",
                       kd_st_show(name).s, ndim, KD_ST_MAX_DIMS);
    size_t numel = 1;
    bool overflow = false, zero = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return kd_fail(err, KD_ERR_USAGE, "safetensors writer: tensor \"%s\": dimension %d is %" PRId64,
                           kd_st_show(name).s, i, shape[i]);
        if (shape[i] == 0) zero = true;
        else if (numel > SIZE_MAX / 8 / (uint64_t)shape[i]) overflow = true;
        else numel *= (size_t)shape[i];
    }
    if (zero) numel = 0;
    else if (overflow)
        return kd_fail(err, KD_ERR_USAGE, "safetensors writer: tensor \"%s\": shape too large", kd_st_show(name).s);
    if (numel && !data)
        return kd_fail(err, KD_ERR_USAGE, "safetensors writer: tensor \"%s\": NULL data", kd_st_show(name).s);
    if (w->count == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        st_wentry *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return kd_fail(err, KD_ERR_NOMEM, "safetensors writer: out of memory");
        w->t = t;
        w->cap = cap;
    }
    st_wentry *e = &w->t[w->count];
    memset(e, 0, sizeof *e);
    if (!(e->name = dup_str(name))) return kd_fail(err, KD_ERR_NOMEM, "safetensors writer: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->data = data;
    e->nbytes = numel * kd_st_dtypes[dtype].size;
    w->count++;
    return KD_OK;
}

kd_status kd_st_writer_meta(kd_st_writer *w, const char *key, const char *value, kd_err *err) {
    if (!key || !value) return kd_fail(err, KD_ERR_USAGE, "safetensors writer: NULL metadata key or value");
    if (!kd_st_utf8_valid((const uint8_t *)key, strlen(key)) || !kd_st_utf8_valid((const uint8_t *)value, strlen(value)))
        return kd_fail(err, KD_ERR_USAGE, "safetensors writer: metadata \"%s\" is not valid UTF-8", kd_st_show(key).s);
    for (int i = 0; i < w->mcount; i++)
        if (strcmp(w->mkey[i], key) == 0)
            return kd_fail(err, KD_ERR_USAGE, "safetensors writer: metadata key \"%s\" set twice", kd_st_show(key).s);
    if (w->mcount == w->mcap) {
        int cap = w->mcap ? 2 * w->mcap : 8;
        char **k = realloc(w->mkey, (size_t)cap * sizeof *k);
        if (!k) return kd_fail(err, KD_ERR_NOMEM, "safetensors writer: out of memory");
        w->mkey = k;
        char **v = realloc(w->mval, (size_t)cap * sizeof *v);
        if (!v) return kd_fail(err, KD_ERR_NOMEM, "safetensors writer: out of memory");
        w->mval = v;
        w->mcap = cap;
    }
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return kd_fail(err, KD_ERR_NOMEM, "safetensors writer: out of memory");
    }
    w->mkey[w->mcount] = k;
    w->mval[w->mcount] = v;
    w->mcount++;
    return KD_OK;
}

/* Integers as raw JSON text: cJSON prints numbers through a double and
 * "%g", which turns 10^15 into "1e+15", which serde refuses as a usize. */
static cJSON *int_array(const uint64_t *v, int n) {
    char buf[KD_ST_MAX_DIMS * 24 + 4];
    size_t o = 0;
    buf[o++] = '[';
    for (int i = 0; i < n; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%" PRIu64, i ? "," : "", v[i]);
    buf[o++] = ']';
    buf[o] = '\0';
    return cJSON_CreateRaw(buf);
}

kd_status kd_st_writer_write(kd_st_writer *w, const char *path, kd_err *err) {
    kd_status s = KD_OK;
    char *json = NULL;
    uint8_t *hdr = NULL;
    kd_chunk *parts = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) goto nomem;
    /* Metadata first, tensors in the order they were added, data contiguous
     * in that order: the canonical layout the Python library validates. */
    if (w->mcount) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) goto nomem;
        for (int i = 0; i < w->mcount; i++)
            if (!cJSON_AddStringToObject(m, w->mkey[i], w->mval[i])) goto nomem;
    }
    uint64_t off = 0;
    for (int i = 0; i < w->count; i++) {
        const st_wentry *e = &w->t[i];
        cJSON *o = cJSON_AddObjectToObject(root, e->name);
        if (!o || !cJSON_AddStringToObject(o, "dtype", kd_st_dtypes[e->dtype].name)) goto nomem;
        uint64_t dims[KD_ST_MAX_DIMS], offs[2] = {off, off + e->nbytes};
        for (int k = 0; k < e->ndim; k++) dims[k] = (uint64_t)e->shape[k];
        cJSON *sh = int_array(dims, e->ndim);
        if (!sh || !cJSON_AddItemToObject(o, "shape", sh)) {
            cJSON_Delete(sh);
            goto nomem;
        }
        cJSON *of = int_array(offs, 2);
        if (!of || !cJSON_AddItemToObject(o, "data_offsets", of)) {
            cJSON_Delete(of);
            goto nomem;
        }
        off += e->nbytes;
    }
    json = cJSON_PrintUnformatted(root);
    if (!json) goto nomem;
    /* Pad with spaces so the data starts 8-byte aligned, as the Python
     * writer does. */
    size_t jlen = strlen(json), hlen = kd_st_align_up(jlen, 8);
    hdr = malloc(8 + hlen);
    parts = malloc((size_t)(w->count + 1) * sizeof *parts);
    if (!hdr || !parts) goto nomem;
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(hdr + 8, json, jlen);
    memset(hdr + 8 + jlen, ' ', hlen - jlen);
    parts[0] = (kd_chunk){hdr, 8 + hlen};
    for (int i = 0; i < w->count; i++) parts[i + 1] = (kd_chunk){w->t[i].data, w->t[i].nbytes};
    s = kd_write_atomic(path, parts, w->count + 1, err);
    goto done;
nomem:
    s = kd_fail(err, KD_ERR_NOMEM, "writing %s: out of memory building the safetensors header", path);
done:
    free(parts);
    free(hdr);
    free(json);
    cJSON_Delete(root);
    return s;
}
