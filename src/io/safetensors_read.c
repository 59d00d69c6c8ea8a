/* safetensors reader, host only.
 *
 * The reader treats every byte as hostile (it is fuzzed): the header is
 * copied into a NUL-terminated buffer before cJSON sees it (cJSON may read
 * one byte past a length-bounded buffer), every field is checked before it
 * is used, and all arithmetic on sizes is overflow-checked. Sorting (not
 * pairwise comparison) finds duplicates and overlaps, so a header with a
 * million entries costs n log n, not n^2.
 *
 * Tensor data is little-endian in the file and used as is: kdcl targets
 * little-endian hosts (x86, ARM); the build refuses a big-endian one. */
#define _POSIX_C_SOURCE 200809L
#include "src/io/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "src/io/st_format.h"

/* The Python library's limit (MAX_HEADER_SIZE); a larger header is an attack
 * or garbage, never a real file. */
#define ST_MAX_HEADER ((uint64_t)100000000)
/* JSON integers arrive as doubles: above 2^53 they are no longer exact. */
#define ST_MAX_JSON_INT 9007199254740992.0

#define ST_FAIL(...) kd_fail(err, KD_ERR_INPUT, __VA_ARGS__)

/* A JSON number that must be an exact non-negative integer. */
static kd_status json_uint(const cJSON *v, const char *what, const char *tname, const char *field,
                           uint64_t *out, kd_err *err) {
    if (!cJSON_IsNumber(v))
        return ST_FAIL("%s: tensor \"%s\": %s must hold integers, found a non-number", what, kd_st_show(tname).s,
                       field);
    double d = v->valuedouble;
    if (!(d >= 0.0))
        return ST_FAIL("%s: tensor \"%s\": %s holds %g; values must be non-negative integers", what,
                       kd_st_show(tname).s, field, d);
    if (d > ST_MAX_JSON_INT)
        return ST_FAIL("%s: tensor \"%s\": %s holds %g, too large to be a byte count or dimension (limit 2^53)",
                       what, kd_st_show(tname).s, field, d);
    if (d != floor(d))
        return ST_FAIL("%s: tensor \"%s\": %s holds %g, which is not an integer", what, kd_st_show(tname).s, field, d);
    *out = (uint64_t)d;
    return KD_OK;
}

/* Exactly one member called `key` (cJSON keeps duplicates; serde, which the
 * Python library uses, refuses them, and so do we). */
static const cJSON *only_member(const cJSON *obj, const char *key, int *count) {
    const cJSON *found = NULL;
    *count = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0) {
            if (!found) found = c;
            (*count)++;
        }
    return found;
}

static kd_status parse_entry(const cJSON *e, const char *what, size_t data_size, kd_st_tensor *t, kd_err *err) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return ST_FAIL("%s: tensor \"%s\": entry must be an object with dtype, shape and data_offsets", what,
                       kd_st_show(name).s);
    static const char *const keys[] = {"dtype", "shape", "data_offsets"};
    const cJSON *v[3];
    for (int k = 0; k < 3; k++) {
        int n;
        v[k] = only_member(e, keys[k], &n);
        if (n == 0) return ST_FAIL("%s: tensor \"%s\": \"%s\" is missing", what, kd_st_show(name).s, keys[k]);
        if (n > 1) return ST_FAIL("%s: tensor \"%s\": \"%s\" appears %d times", what, kd_st_show(name).s, keys[k], n);
    }

    if (!cJSON_IsString(v[0]))
        return ST_FAIL("%s: tensor \"%s\": dtype must be a string such as \"F32\"", what, kd_st_show(name).s);
    int dt = -1;
    for (int i = 0; i < KD_ST_NDTYPES; i++)
        if (strcmp(v[0]->valuestring, kd_st_dtypes[i].name) == 0) dt = i;
    if (dt < 0)
        return ST_FAIL("%s: tensor \"%s\": dtype \"%s\" is not supported (kdcl reads F32, F16, BF16, I32, I64, "
                       "U8); convert the tensor, e.g. to F32, before loading",
                       what, kd_st_show(name).s, kd_st_show(v[0]->valuestring).s);
    t->dtype = (kd_dtype)dt;

    if (!cJSON_IsArray(v[1]))
        return ST_FAIL("%s: tensor \"%s\": shape must be an array of dimensions", what, kd_st_show(name).s);
    int ndim = cJSON_GetArraySize(v[1]);
    if (ndim > KD_ST_MAX_DIMS)
        return ST_FAIL("%s: tensor \"%s\": shape has %d dimensions; at most %d are supported", what, kd_st_show(name).s,
                       ndim, KD_ST_MAX_DIMS);
    t->ndim = ndim;
    /* The product of the non-zero dimensions must fit even when a zero makes
     * the tensor empty: code downstream multiplies subsets of dimensions. */
    size_t esz = kd_st_dtypes[dt].size;
    uint64_t prod = 1;
    bool zero = false;
    int i = 0;
    for (const cJSON *d = v[1]->child; d; d = d->next, i++) {
        uint64_t dim;
        KD_TRY(json_uint(d, what, name, "shape", &dim, err));
        t->shape[i] = (int64_t)dim;
        if (dim == 0) {
            zero = true;
            continue;
        }
        if (prod > SIZE_MAX / esz / dim)
            return ST_FAIL("%s: tensor \"%s\": shape's element count overflows (the shape is corrupt)", what,
                           kd_st_show(name).s);
        prod *= dim;
    }
    uint64_t numel = zero ? 0 : prod;

    if (!cJSON_IsArray(v[2]) || cJSON_GetArraySize(v[2]) != 2)
        return ST_FAIL("%s: tensor \"%s\": data_offsets must be an array [begin, end]", what, kd_st_show(name).s);
    uint64_t b, en;
    KD_TRY(json_uint(v[2]->child, what, name, "data_offsets", &b, err));
    KD_TRY(json_uint(v[2]->child->next, what, name, "data_offsets", &en, err));
    if (b > en)
        return ST_FAIL("%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", what,
                       kd_st_show(name).s, b, en);
    if (en > data_size)
        return ST_FAIL("%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] run past the %zu-byte data "
                       "section (truncated file?)",
                       what, kd_st_show(name).s, b, en, data_size);
    if (en - b != numel * esz)
        return ST_FAIL("%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64 " bytes but "
                       "%zu elements of %s need %zu",
                       what, kd_st_show(name).s, b, en, en - b, (size_t)numel, kd_st_dtypes[dt].name, (size_t)numel * esz);
    t->offset = (size_t)b;
    t->nbytes = (size_t)(en - b);
    return KD_OK;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const kd_st_tensor *const *)a)->name, (*(const kd_st_tensor *const *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
    const kd_st_tensor *x = *(const kd_st_tensor *const *)a, *y = *(const kd_st_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static kd_status check_unique_and_disjoint(kd_st_file *f, const char *what, kd_err *err) {
    if (f->count < 2) return KD_OK;
    kd_st_tensor **idx = malloc((size_t)f->count * sizeof *idx);
    if (!idx) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory indexing %d tensors", what, f->count);
    for (int i = 0; i < f->count; i++) idx[i] = &f->tensors[i];
    kd_status s = KD_OK;
    qsort(idx, (size_t)f->count, sizeof *idx, cmp_name);
    for (int i = 1; i < f->count && s == KD_OK; i++)
        if (strcmp(idx[i - 1]->name, idx[i]->name) == 0)
            s = ST_FAIL("%s: tensor \"%s\" appears twice in the header", what, kd_st_show(idx[i]->name).s);
    if (s == KD_OK) {
        qsort(idx, (size_t)f->count, sizeof *idx, cmp_offset);
        /* Empty tensors occupy no bytes and can sit anywhere. */
        const kd_st_tensor *prev = NULL;
        for (int i = 0; i < f->count && s == KD_OK; i++) {
            const kd_st_tensor *t = idx[i];
            if (t->nbytes == 0) continue;
            if (prev && t->offset < prev->offset + prev->nbytes)
                s = ST_FAIL("%s: tensor \"%s\" (bytes %zu..%zu) overlaps tensor \"%s\" (bytes %zu..%zu)", what,
                            kd_st_show(t->name).s, t->offset, t->offset + t->nbytes, kd_st_show(prev->name).s, prev->offset,
                            prev->offset + prev->nbytes);
            if (!prev || t->offset + t->nbytes > prev->offset + prev->nbytes) prev = t;
        }
    }
    free(idx);
    return s;
}

static kd_status check_meta_unique(kd_st_file *f, const char *what, kd_err *err) {
    if (f->meta_count < 2) return KD_OK;
    char **k = malloc((size_t)f->meta_count * sizeof *k);
    if (!k) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory", what);
    memcpy(k, f->meta_keys, (size_t)f->meta_count * sizeof *k);
    qsort(k, (size_t)f->meta_count, sizeof *k, cmp_str);
    kd_status s = KD_OK;
    for (int i = 1; i < f->meta_count && s == KD_OK; i++)
        if (strcmp(k[i - 1], k[i]) == 0)
            s = ST_FAIL("%s: __metadata__ key \"%s\" appears twice", what, kd_st_show(k[i]).s);
    free(k);
    return s;
}


/* Validates header `hdr` (hlen bytes, not NUL-terminated) against a data
 * section of data_size bytes and fills `out`: one allocation holding the
 * tensor table, metadata, all strings and room for the data (left for the
 * caller to fill at out->data). */
static kd_status parse_header(const uint8_t *hdr, size_t hlen, size_t data_size, const char *what,
                              kd_st_file *out, kd_err *err) {
    if (!kd_st_utf8_valid(hdr, hlen))
        return ST_FAIL("%s: the header is not valid UTF-8 text (or holds a NUL byte); not a safetensors file?",
                       what);
    char *text = malloc(hlen + 1);
    if (!text) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for a %zu-byte header", what, hlen);
    memcpy(text, hdr, hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, hlen + 1, &end, 0);
    kd_status s = KD_OK;
    if (!root) {
        size_t at = end && end >= text && end <= text + hlen ? (size_t)(end - text) : 0;
        s = ST_FAIL("%s: the header is not valid JSON (error near byte %zu of %zu: \"%.40s\")", what, at, hlen,
                    kd_st_show(text + at).s);
        goto done;
    }
    /* Writers pad with spaces; anything else after the object is garbage. */
    for (const char *p = end; p < text + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = ST_FAIL("%s: unexpected bytes after the header's JSON object at byte %zu", what,
                        (size_t)(p - text));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        s = ST_FAIL("%s: the header must be a JSON object mapping tensor names to entries", what);
        goto done;
    }

    /* Pass 1: count, measure strings, find the metadata. */
    int count = 0, meta_count = 0, nmeta_keys = 0;
    size_t strbytes = 0;
    const cJSON *meta = NULL;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            nmeta_keys++;
            meta = e;
            continue;
        }
        if (count == INT32_MAX) {
            s = ST_FAIL("%s: too many tensors", what);
            goto done;
        }
        count++;
        strbytes += strlen(e->string) + 1;
    }
    if (nmeta_keys > 1) {
        s = ST_FAIL("%s: \"__metadata__\" appears %d times", what, nmeta_keys);
        goto done;
    }
    if (meta && !cJSON_IsNull(meta)) {
        if (!cJSON_IsObject(meta)) {
            s = ST_FAIL("%s: __metadata__ must be an object of string values", what);
            goto done;
        }
        for (const cJSON *m = meta->child; m; m = m->next) {
            if (!cJSON_IsString(m)) {
                s = ST_FAIL("%s: __metadata__ value of \"%s\" is not a string (safetensors metadata holds strings "
                            "only)",
                            what, kd_st_show(m->string).s);
                goto done;
            }
            meta_count++;
            strbytes += strlen(m->string) + strlen(m->valuestring) + 2;
        }
    }

    /* Everything except the data is bounded by the header size (<= 100 MB),
     * so only the final sum can overflow. */
    size_t off_meta = kd_st_align_up((size_t)count * sizeof(kd_st_tensor), 16);
    size_t off_str = off_meta + 2 * (size_t)meta_count * sizeof(char *);
    size_t off_data = kd_st_align_up(off_str + strbytes, 64);
    if (data_size > SIZE_MAX - off_data - 64) {
        s = kd_fail(err, KD_ERR_NOMEM, "%s: data section of %zu bytes is too large", what, data_size);
        goto done;
    }
    uint8_t *block = malloc(off_data + data_size + 1);
    if (!block) {
        s = kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for %zu bytes of tensors", what, data_size);
        goto done;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", what);
    out->buf = block;
    out->tensors = (kd_st_tensor *)block;
    out->count = count;
    out->meta_keys = (char **)(block + off_meta);
    out->meta_values = out->meta_keys + meta_count;
    out->meta_count = meta_count;
    out->data = block + off_data;
    out->data_size = data_size;
    char *str = (char *)block + off_str;

    /* Pass 2: copy strings, then validate each entry. */
    int ti = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e == meta) continue;
        kd_st_tensor *t = &out->tensors[ti++];
        memset(t, 0, sizeof *t);
        size_t n = strlen(e->string) + 1;
        t->name = memcpy(str, e->string, n);
        str += n;
    }
    int mi = 0;
    if (meta_count)
        for (const cJSON *m = meta->child; m; m = m->next, mi++) {
            size_t n = strlen(m->string) + 1;
            out->meta_keys[mi] = memcpy(str, m->string, n);
            str += n;
            n = strlen(m->valuestring) + 1;
            out->meta_values[mi] = memcpy(str, m->valuestring, n);
            str += n;
        }
    ti = 0;
    for (const cJSON *e = root->child; e && s == KD_OK; e = e->next)
        if (e != meta) s = parse_entry(e, what, data_size, &out->tensors[ti++], err);
    if (s == KD_OK) s = check_unique_and_disjoint(out, what, err);
    if (s == KD_OK) s = check_meta_unique(out, what, err);
    if (s != KD_OK) kd_st_free(out);

done:
    cJSON_Delete(root);
    free(text);
    return s;
}

static uint64_t read_u64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* The header length in the 8-byte prefix against the total size. */
static kd_status check_prefix(const uint8_t *prefix, uint64_t total, const char *what, uint64_t *hlen,
                              kd_err *err) {
    if (total == 0) return ST_FAIL("%s: the file is empty; not a safetensors file", what);
    if (total < 8)
        return ST_FAIL("%s: the file is %" PRIu64 " bytes, shorter than the 8-byte header-length prefix "
                       "(truncated, or not a safetensors file)",
                       what, total);
    uint64_t n = read_u64le(prefix);
    if (n < 2)
        return ST_FAIL("%s: header length %" PRIu64 " is too small to hold a JSON object (not a safetensors "
                       "file?)",
                       what, n);
    if (n > ST_MAX_HEADER)
        return ST_FAIL("%s: header length %" PRIu64 " exceeds the 100 MB limit (corrupt, or not a safetensors "
                       "file)",
                       what, n);
    if (n > total - 8)
        return ST_FAIL("%s: header length %" PRIu64 " is larger than the %" PRIu64 " bytes after the 8-byte "
                       "prefix (truncated file?)",
                       what, n, total - 8);
    *hlen = n;
    return KD_OK;
}

kd_status kd_st_parse(const void *buf, size_t size, const char *what, kd_st_file *out, kd_err *err) {
    memset(out, 0, sizeof *out);
    if (!what) what = "safetensors buffer";
    if (!buf && size) return kd_fail(err, KD_ERR_USAGE, "%s: NULL buffer of %zu bytes", what, size);
    const uint8_t *p = buf;
    uint64_t hlen;
    KD_TRY(check_prefix(p, size, what, &hlen, err));
    size_t data_size = size - 8 - (size_t)hlen;
    KD_TRY(parse_header(p + 8, (size_t)hlen, data_size, what, out, err));
    if (data_size) memcpy(out->data, p + 8 + hlen, data_size);
    return KD_OK;
}

/* Streams the file (prefix, header, then the data straight into its final
 * place) so a 100 MB checkpoint is not held twice. */
kd_status kd_st_read(const char *path, kd_st_file *out, kd_err *err) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return kd_fail(err, errno == ENOENT ? KD_ERR_NOT_FOUND : KD_ERR_IO, "cannot open %s: %s", path,
                       strerror(errno));
    kd_status s = KD_OK;
    uint8_t *hdr = NULL;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        s = kd_fail(err, KD_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        s = ST_FAIL("%s: not a regular file", path);
        goto done;
    }
    uint64_t total = (uint64_t)st.st_size;
    uint8_t prefix[8] = {0};
    if (total >= 8 && fread(prefix, 1, 8, fp) != 8) goto short_read;
    uint64_t hlen;
    if ((s = check_prefix(prefix, total, path, &hlen, err)) != KD_OK) goto done;
    hdr = malloc((size_t)hlen);
    if (!hdr) {
        s = kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for a %" PRIu64 "-byte header", path, hlen);
        goto done;
    }
    if (fread(hdr, 1, (size_t)hlen, fp) != hlen) goto short_read;
    size_t data_size = (size_t)(total - 8 - hlen);
    if ((s = parse_header(hdr, (size_t)hlen, data_size, path, out, err)) != KD_OK) goto done;
    if (data_size && fread(out->data, 1, data_size, fp) != data_size) {
        kd_st_free(out);
        goto short_read;
    }
    goto done;
short_read:
    s = kd_fail(err, KD_ERR_IO, "cannot read %s: %s", path,
                ferror(fp) ? strerror(errno) : "the file shrank while being read");
done:
    free(hdr);
    fclose(fp);
    return s;
}

void kd_st_free(kd_st_file *f) {
    if (!f) return;
    free(f->buf);
    memset(f, 0, sizeof *f);
}

const kd_st_tensor *kd_st_find(const kd_st_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

size_t kd_st_numel(const kd_st_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

const char *kd_st_meta(const kd_st_file *f, const char *key) {
    for (int i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

/* IEEE binary16: subnormals are mant * 2^-24 (exact in float); inf and NaN
 * keep their sign, NaN its payload. */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) bits = sign | 0x7f800000u | (mant << 13);
    else bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

kd_status kd_st_to_f32(const kd_st_file *f, const kd_st_tensor *t, float *out, kd_err *err) {
    if (!kd_st_dtype_valid(t->dtype) || t->offset > f->data_size || t->nbytes > f->data_size - t->offset ||
        t->nbytes != kd_st_numel(t) * kd_st_dtypes[t->dtype].size)
        return kd_fail(err, KD_ERR_USAGE, "%s: tensor \"%s\" does not describe data of this file", f->path,
                       t->name ? kd_st_show(t->name).s : "?");
    const uint8_t *p = f->data + t->offset;
    size_t n = kd_st_numel(t);
    /* memcpy per element: a tensor's offset need not be aligned. */
    switch (t->dtype) {
    case KD_F32: memcpy(out, p, n * 4); break;
    case KD_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = f16_to_f32(h);
        }
        break;
    case KD_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&out[i], &bits, 4);
        }
        break;
    case KD_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            out[i] = (float)v;
        }
        break;
    case KD_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            out[i] = (float)v;
        }
        break;
    case KD_U8:
        for (size_t i = 0; i < n; i++) out[i] = (float)p[i];
        break;
    }
    return KD_OK;
}
