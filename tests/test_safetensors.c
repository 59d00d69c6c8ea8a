/* safetensors: exact round trips for every dtype (F16 and BF16 over all
 * 65536 bit patterns against an independent double-precision decoding),
 * metadata, odd names, the writer's exact bytes, torchvision names, layouts
 * other writers produce, and a catalogue of corrupt files, each refused with
 * KD_ERR_INPUT and a message naming the file and the tensor. A seeded
 * mutation loop runs the parser over thousands of damaged files (run it
 * under -DKDCL_SANITIZE=ON to make it an ASan check). No OpenCL. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/fsutil.h"
#include "src/io/safetensors.h"
#include "tests/harness.h"

static char g_dir[512];

static void tmp_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static void write_bytes(const char *path, const void *p, size_t n) {
    kd_err err = {0};
    kd_chunk c = {p, n};
    MUST_E(&err, kd_write_atomic(path, &c, 1, &err));
}

/* A file from header text (padded with spaces to a multiple of 8, as
 * writers do) and a data section. */
static uint8_t *make_file(const char *json, size_t jlen, const void *data, size_t dsize, size_t *size) {
    size_t hlen = (jlen + 7) / 8 * 8;
    *size = 8 + hlen + dsize;
    uint8_t *b = malloc(*size + 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, json, jlen);
    memset(b + 8 + jlen, ' ', hlen - jlen);
    if (dsize) {
        if (data) memcpy(b + 8 + hlen, data, dsize);
        else memset(b + 8 + hlen, 0x5a, dsize);
    }
    return b;
}

static void set_prefix(uint8_t *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

/* Parsing must fail with KD_ERR_INPUT, the message naming the buffer and
 * containing each needle (tensor names, the problem). */
static void expect_fail_buf(const uint8_t *b, size_t size, const char *label, const char *n1, const char *n2) {
    kd_st_file f;
    kd_err err = {0};
    kd_status s = kd_st_parse(b, size, "bad.safetensors", &f, &err);
    CHECK(s == KD_ERR_INPUT, "%s: status %d (want KD_ERR_INPUT), msg: %s", label, (int)s, err.msg);
    CHECK(strstr(err.msg, "bad.safetensors") != NULL, "%s: message does not name the file: %s", label, err.msg);
    if (n1) CHECK(strstr(err.msg, n1) != NULL, "%s: message lacks \"%s\": %s", label, n1, err.msg);
    if (n2) CHECK(strstr(err.msg, n2) != NULL, "%s: message lacks \"%s\": %s", label, n2, err.msg);
    CHECK(f.buf == NULL && f.count == 0 && f.tensors == NULL, "%s: failed parse left state behind", label);
    kd_st_free(&f);
}

static void expect_fail(const char *json, size_t dsize, const char *n1, const char *n2) {
    size_t size;
    uint8_t *b = make_file(json, strlen(json), NULL, dsize, &size);
    expect_fail_buf(b, size, json, n1, n2);
    free(b);
}

static void expect_ok(const char *json, size_t dsize, int count, const char *label) {
    size_t size;
    uint8_t *b = make_file(json, strlen(json), NULL, dsize, &size);
    kd_st_file f;
    kd_err err = {0};
    kd_status s = kd_st_parse(b, size, label, &f, &err);
    CHECK(s == KD_OK, "%s: refused: %s", label, err.msg);
    if (s == KD_OK) CHECK(f.count == count, "%s: %d tensors, want %d", label, f.count, count);
    kd_st_free(&f);
    free(b);
}

/* ---- independent decodings in double ---- */

static double half_ref(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp(m, -24);
    else v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static double bf16_ref(uint16_t h) {
    int s = h >> 15, e = (h >> 7) & 255, m = h & 127;
    double v;
    if (e == 255) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp(m, -133);
    else v = ldexp(128 + m, e - 134);
    return s ? -v : v;
}

/* Same value (NaN matching NaN, -0 distinct from +0). */
static bool same(float got, double ref) {
    if (isnan(ref)) return isnan(got) && (signbit(got) != 0) == (signbit(ref) != 0);
    return (double)got == ref && (signbit(got) != 0) == (signbit(ref) != 0);
}

/* ---- tests ---- */

static void test_roundtrip_dtypes(void) {
    th_rng r = {42};
    float f32[5 * 7 * 3];
    th_fill(&r, f32, 105, -3.0f, 3.0f);
    f32[0] = -0.0f, f32[1] = INFINITY, f32[2] = -INFINITY, f32[3] = NAN, f32[4] = 1e-45f, f32[5] = 3.4028235e38f;
    int32_t i32[] = {INT32_MIN, -1, 0, 1, 16777216, 16777217, INT32_MAX};
    int64_t i64[] = {INT64_MIN, -5, 0, 7, (int64_t)1 << 40, INT64_MAX};
    uint8_t u8[256];
    for (int i = 0; i < 256; i++) u8[i] = (uint8_t)(255 - i);
    static uint16_t all16[65536];
    for (int i = 0; i < 65536; i++) all16[i] = (uint16_t)i;
    float scalar = 2.5f;

    kd_err err = {0};
    kd_st_writer *w = kd_st_writer_new();
    MUST_E(&err, kd_st_writer_add(w, "f32", KD_F32, 3, (int64_t[]){5, 7, 3}, f32, &err));
    MUST_E(&err, kd_st_writer_add(w, "i32", KD_I32, 1, (int64_t[]){7}, i32, &err));
    MUST_E(&err, kd_st_writer_add(w, "i64", KD_I64, 2, (int64_t[]){2, 3}, i64, &err));
    MUST_E(&err, kd_st_writer_add(w, "u8", KD_U8, 4, (int64_t[]){1, 16, 16, 1}, u8, &err));
    MUST_E(&err, kd_st_writer_add(w, "f16", KD_F16, 2, (int64_t[]){256, 256}, all16, &err));
    MUST_E(&err, kd_st_writer_add(w, "bf16", KD_BF16, 1, (int64_t[]){65536}, all16, &err));
    MUST_E(&err, kd_st_writer_add(w, "scalar", KD_F32, 0, NULL, &scalar, &err));
    MUST_E(&err, kd_st_writer_add(w, "empty", KD_F32, 2, (int64_t[]){0, 3}, NULL, &err));
    char path[600];
    tmp_path(path, sizeof path, "dtypes.safetensors");
    MUST_E(&err, kd_st_writer_write(w, path, &err));
    kd_st_writer_free(w);

    kd_st_file f;
    MUST_E(&err, kd_st_read(path, &f, &err));
    CHECK(f.count == 8, "count %d", f.count);
    CHECK(f.meta_count == 0, "meta_count %d", f.meta_count);
    static float out[65536];

    const kd_st_tensor *t = kd_st_find(&f, "f32");
    CHECK(t && t->dtype == KD_F32 && t->ndim == 3 && t->shape[0] == 5 && t->shape[1] == 7 && t->shape[2] == 3,
          "f32 header");
    if (t) {
        CHECK(kd_st_numel(t) == 105 && t->nbytes == 420, "f32 numel %zu nbytes %zu", kd_st_numel(t), t->nbytes);
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        CHECK(memcmp(out, f32, sizeof f32) == 0, "f32 values are not bit-exact");
    }
    if ((t = kd_st_find(&f, "i32"))) {
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        int bad = 0;
        for (int i = 0; i < 7; i++) bad += out[i] != (float)i32[i];
        CHECK(bad == 0 && out[4] == 16777216.0f && out[0] == -2147483648.0f, "i32 values (%d wrong)", bad);
    } else CHECK(0, "i32 missing");
    if ((t = kd_st_find(&f, "i64"))) {
        CHECK(t->dtype == KD_I64 && t->nbytes == 48, "i64 header");
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        int bad = 0;
        for (int i = 0; i < 6; i++) bad += out[i] != (float)i64[i];
        CHECK(bad == 0 && out[1] == -5.0f && out[4] == 1099511627776.0f, "i64 values (%d wrong)", bad);
    } else CHECK(0, "i64 missing");
    if ((t = kd_st_find(&f, "u8"))) {
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        int bad = 0;
        for (int i = 0; i < 256; i++) bad += out[i] != (float)(255 - i);
        CHECK(bad == 0, "u8 values (%d wrong)", bad);
    } else CHECK(0, "u8 missing");
    if ((t = kd_st_find(&f, "f16"))) {
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        int bad = 0, first = -1;
        for (int i = 0; i < 65536; i++)
            if (!same(out[i], half_ref((uint16_t)i))) bad++, first = first < 0 ? i : first;
        CHECK(bad == 0, "f16: %d of 65536 bit patterns decoded wrong (first 0x%04x -> %g, want %g)", bad, first,
              first >= 0 ? out[first] : 0.0, first >= 0 ? half_ref((uint16_t)first) : 0.0);
        CHECK(out[0x0001] == 5.9604644775390625e-08f && out[0x03ff] == 6.0975551605224609e-05f &&
                  out[0x7bff] == 65504.0f && out[0x3c00] == 1.0f && isinf(out[0xfc00]) && out[0xfc00] < 0 &&
                  isnan(out[0x7e00]) && signbit(out[0x8000]),
              "f16 landmarks");
    } else CHECK(0, "f16 missing");
    if ((t = kd_st_find(&f, "bf16"))) {
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        int bad = 0, first = -1;
        for (int i = 0; i < 65536; i++)
            if (!same(out[i], bf16_ref((uint16_t)i))) bad++, first = first < 0 ? i : first;
        CHECK(bad == 0, "bf16: %d of 65536 bit patterns decoded wrong (first 0x%04x)", bad, first);
        CHECK(out[0x3f80] == 1.0f && out[0x4049] == 3.140625f && isinf(out[0xff80]), "bf16 landmarks");
    } else CHECK(0, "bf16 missing");
    if ((t = kd_st_find(&f, "scalar"))) {
        CHECK(t->ndim == 0 && kd_st_numel(t) == 1 && t->nbytes == 4, "scalar header");
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        CHECK(out[0] == 2.5f, "scalar value %g", out[0]);
    } else CHECK(0, "scalar missing");
    if ((t = kd_st_find(&f, "empty"))) {
        CHECK(t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3 && kd_st_numel(t) == 0 && t->nbytes == 0,
              "empty header");
        out[0] = 7.0f;
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        CHECK(out[0] == 7.0f, "empty tensor wrote output");
    } else CHECK(0, "empty missing");
    CHECK(kd_st_find(&f, "nope") == NULL, "find of an absent name");
    CHECK(kd_st_meta(&f, "anything") == NULL, "meta of a file without metadata");
    /* Contiguous canonical layout, in insertion order. */
    size_t off = 0;
    bool contiguous = true;
    for (int i = 0; i < f.count; i++) {
        contiguous &= f.tensors[i].offset == off;
        off += f.tensors[i].nbytes;
    }
    CHECK(contiguous && off == f.data_size, "writer layout not contiguous (covers %zu of %zu)", off, f.data_size);
    CHECK(strcmp(f.tensors[0].name, "f32") == 0 && strcmp(f.tensors[7].name, "empty") == 0, "header order");
    kd_st_free(&f);
    CHECK(f.buf == NULL && f.count == 0, "free clears");
    kd_st_free(&f); /* twice is harmless */
    unlink(path);
}

/* F16/BF16/F32 bytes laid out by hand the way another writer might:
 * tensors out of header order, at unaligned offsets, with gaps, an
 * unknown extra key and null metadata. */
static void test_foreign_layout(void) {
    uint8_t data[64];
    memset(data, 0xee, sizeof data);
    /* "h": F16 [3] at 1..7; "b": BF16 [2,2] at 40..48; "f": F32 [2] at 7..15 (unaligned). */
    const uint16_t h[3] = {0x0001, 0xc000, 0x7c00};
    const uint16_t bf[4] = {0x3f80, 0xbf80, 0x0001, 0x7fc0};
    const float fl[2] = {1.5f, -1e-38f};
    memcpy(data + 1, h, 6);
    memcpy(data + 40, bf, 8);
    memcpy(data + 7, fl, 8);
    const char *json = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[40,48]},"
                       "\"f\":{\"shape\":[2],\"dtype\":\"F32\",\"data_offsets\":[7,15],\"extra\":[1]},"
                       "\"__metadata__\":null,"
                       "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[1,7]}, "
                       "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[9,9]}}\n\t";
    size_t size;
    uint8_t *b = make_file(json, strlen(json), data, sizeof data, &size);
    kd_st_file f;
    kd_err err = {0};
    kd_status s = kd_st_parse(b, size, "foreign", &f, &err);
    CHECK(s == KD_OK, "foreign layout refused: %s", err.msg);
    free(b); /* kd_st_parse copied it */
    if (s != KD_OK) return;
    CHECK(f.count == 4 && f.meta_count == 0, "count %d meta %d", f.count, f.meta_count);
    float out[4];
    const kd_st_tensor *t = kd_st_find(&f, "h");
    CHECK(t && t->offset == 1 && t->nbytes == 6, "h header");
    if (t) {
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        CHECK(out[0] == 0x1p-24f && out[1] == -2.0f && isinf(out[2]) && out[2] > 0, "h values %g %g %g", out[0],
              out[1], out[2]);
    }
    if ((t = kd_st_find(&f, "b"))) {
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        CHECK(out[0] == 1.0f && out[1] == -1.0f && out[2] == 0x1p-133f && isnan(out[3]), "b values");
    } else CHECK(0, "b missing");
    if ((t = kd_st_find(&f, "f"))) {
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        CHECK(out[0] == 1.5f && out[1] == -1e-38f, "f values");
    } else CHECK(0, "f missing");
    CHECK(kd_st_find(&f, "z") && kd_st_find(&f, "z")->nbytes == 0, "zero-size tensor inside another's bytes");
    kd_st_free(&f);
}

static void test_metadata_and_names(void) {
    static const char *names[] = {
        "a\"quote", "back\\slash", "new\nline\ttab", "ctl\x01\x1f", "\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9",
        "\xe4\xb8\xad\xe6\x96\x87.weight", "emoji\xf0\x9f\x98\x80", "sp ace", "/slash/", "{\"json\":[1]}",
        "__metadata", "0",
    };
    int nn = (int)(sizeof names / sizeof names[0]);
    char longname[256];
    memset(longname, 'x', 255);
    longname[255] = '\0';
    float vals[16];
    for (int i = 0; i < 16; i++) vals[i] = (float)i + 0.25f;

    kd_err err = {0};
    kd_st_writer *w = kd_st_writer_new();
    for (int i = 0; i < nn; i++) MUST_E(&err, kd_st_writer_add(w, names[i], KD_F32, 1, (int64_t[]){1}, &vals[i], &err));
    MUST_E(&err, kd_st_writer_add(w, longname, KD_F32, 1, (int64_t[]){1}, &vals[15], &err));
    static const char *meta[][2] = {
        {"model", "resnet50:classes=10"}, {"class_names", "[\"cat\",\"dog\"]"}, {"empty", ""},
        {"multi\nline", "tab\there \"quoted\" \\ \xc3\xa9\xe4\xb8\xad"}, {"__metadata__", "nested name"},
    };
    for (int i = 0; i < 5; i++) MUST_E(&err, kd_st_writer_meta(w, meta[i][0], meta[i][1], &err));
    char path[600];
    tmp_path(path, sizeof path, "names.safetensors");
    MUST_E(&err, kd_st_writer_write(w, path, &err));
    kd_st_writer_free(w);

    kd_st_file f;
    MUST_E(&err, kd_st_read(path, &f, &err));
    CHECK(f.count == nn + 1, "count %d", f.count);
    for (int i = 0; i < nn; i++) {
        const kd_st_tensor *t = kd_st_find(&f, names[i]);
        float v = -1;
        if (t) MUST_E(&err, kd_st_to_f32(&f, t, &v, &err));
        CHECK(t && v == vals[i], "name #%d not found or wrong value %g", i, v);
        CHECK(t && strcmp(f.tensors[i].name, names[i]) == 0, "name #%d out of order", i);
    }
    CHECK(kd_st_find(&f, longname) != NULL, "255-byte name");
    CHECK(f.meta_count == 5, "meta_count %d", f.meta_count);
    for (int i = 0; i < 5; i++) {
        const char *v = kd_st_meta(&f, meta[i][0]);
        CHECK(v && strcmp(v, meta[i][1]) == 0, "meta \"%s\" = \"%s\"", meta[i][0], v ? v : "(null)");
        CHECK(strcmp(f.meta_keys[i], meta[i][0]) == 0, "meta order at %d", i);
    }
    CHECK(kd_st_meta(&f, "absent") == NULL, "absent meta key");
    kd_st_free(&f);
    unlink(path);
}

/* The writer's exact bytes: prefix = padded header length, __metadata__
 * first, insertion order, integers as integers, space padding. */
static void test_writer_bytes(void) {
    float wv[2] = {1.0f, -2.0f};
    int64_t bv = 3;
    kd_err err = {0};
    kd_st_writer *w = kd_st_writer_new();
    MUST_E(&err, kd_st_writer_add(w, "w", KD_F32, 2, (int64_t[]){2, 1}, wv, &err));
    MUST_E(&err, kd_st_writer_add(w, "b", KD_I64, 0, NULL, &bv, &err));
    MUST_E(&err, kd_st_writer_meta(w, "format", "pt", &err));
    MUST_E(&err, kd_st_writer_meta(w, "k\"", "v\n", &err));
    char path[600];
    tmp_path(path, sizeof path, "bytes.safetensors");
    MUST_E(&err, kd_st_writer_write(w, path, &err));
    kd_st_writer_free(w);

    const char *want = "{\"__metadata__\":{\"format\":\"pt\",\"k\\\"\":\"v\\n\"},"
                       "\"w\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
    size_t jlen = strlen(want), hlen = (jlen + 7) / 8 * 8;
    void *p;
    size_t size;
    MUST_E(&err, kd_read_file(path, &p, &size, &err));
    const uint8_t *b = p;
    CHECK(size == 8 + hlen + 16, "file size %zu, want %zu", size, 8 + hlen + 16);
    if (size == 8 + hlen + 16) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
        CHECK(n == hlen && n % 8 == 0, "prefix %llu, want %zu", (unsigned long long)n, hlen);
        CHECK(memcmp(b + 8, want, jlen) == 0, "header text:\n%.*s\nwant\n%s", (int)jlen, (const char *)b + 8, want);
        bool spaces = true;
        for (size_t i = jlen; i < hlen; i++) spaces &= b[8 + i] == ' ';
        CHECK(spaces, "padding is not spaces");
        CHECK(memcmp(b + 8 + hlen, wv, 8) == 0 && memcmp(b + 8 + hlen + 8, &bv, 8) == 0, "data bytes");
    }
    free(p);

    /* Rewriting replaces the file; an empty writer gives a valid empty file. */
    w = kd_st_writer_new();
    MUST_E(&err, kd_st_writer_write(w, path, &err));
    kd_st_writer_free(w);
    kd_st_file f;
    MUST_E(&err, kd_st_read(path, &f, &err));
    CHECK(f.count == 0 && f.meta_count == 0 && f.data_size == 0, "empty file: %d tensors", f.count);
    kd_st_free(&f);
    CHECK(kd_file_size(path) == 16, "empty file is %lld bytes, want 16", kd_file_size(path));
    unlink(path);
}

static void test_torchvision_names(void) {
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } spec[] = {
        {"conv1.weight", 4, {64, 3, 7, 7}},
        {"bn1.weight", 1, {64}},
        {"bn1.bias", 1, {64}},
        {"bn1.running_mean", 1, {64}},
        {"bn1.running_var", 1, {64}},
        {"bn1.num_batches_tracked", 0, {0}},
        {"layer1.0.conv1.weight", 4, {64, 64, 1, 1}},
        {"layer1.0.conv2.weight", 4, {64, 64, 3, 3}},
        {"layer1.0.downsample.0.weight", 4, {256, 64, 1, 1}},
        {"layer1.0.downsample.1.running_var", 1, {256}},
        {"layer4.2.bn3.bias", 1, {2048}},
        {"fc.0.weight", 2, {256, 2048}},
        {"fc.0.bias", 1, {256}},
        {"fc.2.weight", 2, {10, 256}},
    };
    int n = (int)(sizeof spec / sizeof spec[0]);
    th_rng r = {7};
    float *data[16];
    int64_t nbt = 1234567;
    kd_err err = {0};
    kd_st_writer *w = kd_st_writer_new();
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int k = 0; k < spec[i].ndim; k++) numel *= (size_t)spec[i].shape[k];
        data[i] = malloc(numel * sizeof(float));
        th_fill(&r, data[i], numel, -1.0f, 1.0f);
        if (spec[i].ndim == 0) MUST_E(&err, kd_st_writer_add(w, spec[i].name, KD_I64, 0, NULL, &nbt, &err));
        else MUST_E(&err, kd_st_writer_add(w, spec[i].name, KD_F32, spec[i].ndim, spec[i].shape, data[i], &err));
    }
    MUST_E(&err, kd_st_writer_meta(w, "kdcl.model", "resnet50", &err));
    char path[600];
    tmp_path(path, sizeof path, "resnet.safetensors");
    MUST_E(&err, kd_st_writer_write(w, path, &err));
    kd_st_writer_free(w);

    kd_st_file f;
    MUST_E(&err, kd_st_read(path, &f, &err));
    CHECK(f.count == n, "count %d", f.count);
    for (int i = 0; i < n; i++) {
        const kd_st_tensor *t = kd_st_find(&f, spec[i].name);
        CHECK(t != NULL, "%s not found", spec[i].name);
        if (!t) continue;
        bool shape_ok = t->ndim == spec[i].ndim;
        for (int k = 0; k < t->ndim && shape_ok; k++) shape_ok = t->shape[k] == spec[i].shape[k];
        CHECK(shape_ok, "%s shape", spec[i].name);
        size_t numel = kd_st_numel(t);
        float *out = malloc(numel * sizeof(float));
        MUST_E(&err, kd_st_to_f32(&f, t, out, &err));
        if (spec[i].ndim == 0) CHECK(t->dtype == KD_I64 && out[0] == 1234567.0f, "%s = %g", spec[i].name, out[0]);
        else CHECK(t->dtype == KD_F32 && memcmp(out, data[i], numel * sizeof(float)) == 0, "%s values", spec[i].name);
        free(out);
    }
    CHECK(kd_st_find(&f, "layer1.0.downsample.0") == NULL && kd_st_find(&f, "conv1.weigh") == NULL &&
              kd_st_find(&f, "conv1.weight ") == NULL,
          "find matches prefixes");
    CHECK(kd_st_meta(&f, "kdcl.model") && strcmp(kd_st_meta(&f, "kdcl.model"), "resnet50") == 0, "meta");
    kd_st_free(&f);
    for (int i = 0; i < n; i++) free(data[i]);
    unlink(path);
}

static const char *GOOD = "{\"__metadata__\":{\"m\":\"x\"},"
                          "\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                          "\"bn1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}";

static void test_corrupt_headers(void) {
    expect_ok(GOOD, 32, 2, "good");
    /* The catalogue: (header, data size, needles). */
    expect_fail("{not json", 0, "not valid JSON", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "not valid JSON", NULL);
    expect_fail("[1,2]", 0, "must be a JSON object", NULL);
    expect_fail("\"just a string\"", 0, "must be a JSON object", NULL);
    expect_fail("null", 0, "must be a JSON object", NULL);
    expect_fail("{\"w\":5}", 0, "\"w\"", "must be an object");
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "\"w\"", "\"F64\"");
    expect_fail("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"w\"", "\"f32\"");
    expect_fail("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"w\"", "dtype must be a string");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "\"w\"", "\"shape\" is missing");
    expect_fail("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"w\"", "\"dtype\" is missing");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "\"w\"", "\"data_offsets\" is missing");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"w\"",
                "appears 2 times");
    /* shape / offsets mismatch */
    expect_fail("{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
                "\"conv1.weight\"", "need 24");
    expect_fail("{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, "\"w\"", "need 12");
    /* offsets */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}", 16, "\"w\"", "run past");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]}}", 16, "\"w\"", "run past");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[17,17]}}", 16, "\"w\"", "run past");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 16, "\"w\"", "end before");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 16, "\"w\"", "[begin, end]");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", 16, "\"w\"", "[begin, end]");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"a\":0}}}", 16, "\"w\"", "[begin, end]");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",\"8\"]}}", 16, "\"w\"", "non-number");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 16, "\"w\"", "non-negative");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8.5]}}", 16, "\"w\"", "not an integer");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 16, "\"w\"", "too large");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551624]}}", 16, "\"w\"",
                "too large");
    /* overlap, including one tensor inside another and an exact duplicate range */
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                24, "\"a\"", "\"b\"");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
                "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[28,32]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
                32, "overlaps", "\"a\"");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8, "overlaps", NULL);
    /* shapes */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", 16, "\"w\"", "non-negative");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 16, "\"w\"", "not an integer");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16, "\"w\"", "shape must be");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}}", 16, "\"w\"", "non-number");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "\"w\"",
                "9 dimensions");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}", 16, "\"w\"",
                "overflows");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,4096],\"data_offsets\":[0,0]}}", 16, "\"w\"",
                "overflows");
    /* a zero dimension does not excuse an overflowing product */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,0]}}", 16, "\"w\"",
                "overflows");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,0]}}", 16, "\"w\"", "too large");
    /* names */
    expect_fail("{\"bn1.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                "\"bn1.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                12, "\"bn1.bias\"", "appears twice");
    /* metadata */
    expect_fail("{\"__metadata__\":{\"epoch\":5}}", 0, "\"epoch\"", "not a string");
    expect_fail("{\"__metadata__\":{\"a\":\"1\",\"n\":null}}", 0, "\"n\"", "not a string");
    expect_fail("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0, "\"a\"", "not a string");
    expect_fail("{\"__metadata__\":[\"a\"]}", 0, "__metadata__", "object");
    expect_fail("{\"__metadata__\":\"a\"}", 0, "__metadata__", "object");
    expect_fail("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "\"k\"", "appears twice");
    expect_fail("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__", "appears 2 times");
    /* text */
    expect_fail("{} x", 0, "unexpected bytes", NULL);
    expect_fail("{}{}", 0, "unexpected bytes", NULL);
    expect_fail("{\"\xff\":{}}", 0, "UTF-8", NULL);
    expect_fail("{\"\xc0\xaf\":{}}", 0, "UTF-8", NULL);     /* overlong '/' */
    expect_fail("{\"\xed\xa0\x80\":{}}", 0, "UTF-8", NULL); /* surrogate */
    expect_fail("{\"\xe4\xb8\":{}}", 0, "UTF-8", NULL);     /* cut short */
    {
        static const char nul[] = "{\"a\0b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
        size_t size;
        uint8_t *b = make_file(nul, sizeof nul - 1, NULL, 4, &size);
        expect_fail_buf(b, size, "NUL in header", "UTF-8", NULL);
        free(b);
    }
    /* an entry whose name must be shown escaped and cut */
    {
        char json[2000];
        char name[700];
        memset(name, 'n', sizeof name - 1);
        name[sizeof name - 1] = '\0';
        snprintf(json, sizeof json, "{\"%s\\u0001\":{\"dtype\":\"Q8\",\"shape\":[],\"data_offsets\":[0,1]}}", name);
        expect_fail(json, 1, "\"Q8\"", "nnnnnnnnnnnn");
    }
    /* deep nesting is refused by cJSON's limit, not by the stack */
    {
        size_t depth = 100000;
        char *json = malloc(2 * depth + 16);
        size_t o = 0;
        json[o++] = '{';
        memcpy(json + o, "\"a\":", 4), o += 4;
        for (size_t i = 0; i < depth; i++) json[o++] = '[';
        for (size_t i = 0; i < depth; i++) json[o++] = ']';
        json[o++] = '}';
        json[o] = '\0';
        expect_fail(json, 0, "not valid JSON", NULL);
        free(json);
    }
}

/* The 8-byte prefix: too small, too large, larger than the file. */
static void test_corrupt_prefix(void) {
    size_t size;
    uint8_t *b = make_file(GOOD, strlen(GOOD), NULL, 32, &size);
    uint64_t hlen = size - 8 - 32;
    static const struct {
        uint64_t v;
        const char *needle;
    } cases[] = {
        {0, "too small"}, {1, "too small"}, {100000001, "100 MB"}, {(uint64_t)1 << 63, "100 MB"},
        {UINT64_MAX, "100 MB"},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        set_prefix(b, cases[i].v);
        expect_fail_buf(b, size, "prefix", cases[i].needle, NULL);
    }
    set_prefix(b, size - 8 + 1);
    expect_fail_buf(b, size, "prefix one past", "larger than", NULL);
    set_prefix(b, 99999999);
    expect_fail_buf(b, size, "prefix 99999999", "larger than", NULL);
    /* A length that cuts the closing brace leaves no JSON object; one that
     * pulls a data byte into the header leaves garbage after it. */
    set_prefix(b, strlen(GOOD) - 1);
    expect_fail_buf(b, size, "prefix cuts the brace", "not valid JSON", NULL);
    set_prefix(b, hlen + 1);
    expect_fail_buf(b, size, "prefix +1", "unexpected bytes", NULL);
    free(b);
}

/* Truncated at every length, in memory; at a few lengths, from disk. */
static void test_truncated(void) {
    size_t size;
    uint8_t *b = make_file(GOOD, strlen(GOOD), NULL, 32, &size);
    size_t hend = size - 32;
    for (size_t n = 0; n < size; n++) {
        char label[64];
        snprintf(label, sizeof label, "truncated to %zu of %zu", n, size);
        /* Inside the data, the first tensor that no longer fits is named. */
        const char *needle = n == 0 ? "empty" : n < 8 ? "8-byte" : n < hend ? "larger than" :
                             n < hend + 24 ? "\"conv1.weight\"" : "\"bn1.bias\"";
        expect_fail_buf(b, n, label, needle, NULL);
    }
    /* from disk: the path names the file */
    size_t lens[] = {0, 3, 8, 20, hend - 1, hend, hend + 10, size - 1};
    for (int i = 0; i < (int)(sizeof lens / sizeof lens[0]); i++) {
        char path[600], name[64];
        snprintf(name, sizeof name, "trunc%zu.safetensors", lens[i]);
        tmp_path(path, sizeof path, name);
        write_bytes(path, b, lens[i]);
        kd_st_file f;
        kd_err err = {0};
        kd_status s = kd_st_read(path, &f, &err);
        CHECK(s == KD_ERR_INPUT && strstr(err.msg, path), "%s: status %d msg %s", name, (int)s, err.msg);
        CHECK(lens[i] != 0 || strstr(err.msg, "empty"), "empty file message: %s", err.msg);
        CHECK(lens[i] < hend + 10 || strstr(err.msg, "conv1.weight") || strstr(err.msg, "bn1.bias"),
              "truncated data names the tensor: %s", err.msg);
        CHECK(f.buf == NULL, "%s: state left", name);
        unlink(path);
    }
    /* the whole file from disk reads */
    char path[600];
    tmp_path(path, sizeof path, "whole.safetensors");
    write_bytes(path, b, size);
    kd_st_file f;
    kd_err err = {0};
    CHECK(kd_st_read(path, &f, &err) == KD_OK, "whole: %s", err.msg);
    CHECK(f.count == 2 && kd_st_meta(&f, "m") && strcmp(kd_st_meta(&f, "m"), "x") == 0, "whole contents");
    CHECK(strcmp(f.path, path) == 0, "path recorded");
    kd_st_free(&f);
    unlink(path);
    /* missing file, a directory */
    CHECK(kd_st_read(path, &f, &err) == KD_ERR_NOT_FOUND && strstr(err.msg, path), "missing file: %s", err.msg);
    CHECK(kd_st_read(g_dir, &f, &err) == KD_ERR_INPUT && strstr(err.msg, "regular"), "directory: %s", err.msg);
    free(b);
}

static void test_writer_errors(void) {
    kd_err err = {0};
    float v[4] = {0};
    char name[300];
    kd_st_writer *w = kd_st_writer_new();
    memset(name, 'y', 256);
    name[256] = '\0';
    CHECK(kd_st_writer_add(w, name, KD_F32, 1, (int64_t[]){1}, v, &err) == KD_ERR_USAGE && strstr(err.msg, "255"),
          "256-byte name: %s", err.msg);
    CHECK(kd_st_writer_add(w, "", KD_F32, 1, (int64_t[]){1}, v, &err) == KD_ERR_USAGE, "empty name");
    CHECK(kd_st_writer_add(w, "__metadata__", KD_F32, 1, (int64_t[]){1}, v, &err) == KD_ERR_USAGE, "reserved");
    CHECK(kd_st_writer_add(w, "bad\xff", KD_F32, 1, (int64_t[]){1}, v, &err) == KD_ERR_USAGE, "invalid UTF-8");
    CHECK(kd_st_writer_add(w, "t", KD_F32, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, v, &err) == KD_ERR_USAGE,
          "9 dims");
    CHECK(kd_st_writer_add(w, "t", KD_F32, 2, (int64_t[]){2, -1}, v, &err) == KD_ERR_USAGE && strstr(err.msg, "\"t\""),
          "negative dim: %s", err.msg);
    CHECK(kd_st_writer_add(w, "t", KD_F32, 2, (int64_t[]){INT64_MAX, INT64_MAX}, v, &err) == KD_ERR_USAGE,
          "huge shape");
    CHECK(kd_st_writer_add(w, "t", KD_F32, 1, (int64_t[]){4}, NULL, &err) == KD_ERR_USAGE, "NULL data");
    CHECK(kd_st_writer_add(w, "t", (kd_dtype)99, 1, (int64_t[]){4}, v, &err) == KD_ERR_USAGE, "bad dtype");
    MUST_E(&err, kd_st_writer_add(w, "t", KD_F32, 1, (int64_t[]){4}, v, &err));
    CHECK(kd_st_writer_add(w, "t", KD_F32, 1, (int64_t[]){4}, v, &err) == KD_ERR_USAGE && strstr(err.msg, "twice"),
          "duplicate: %s", err.msg);
    MUST_E(&err, kd_st_writer_meta(w, "k", "v", &err));
    CHECK(kd_st_writer_meta(w, "k", "w", &err) == KD_ERR_USAGE, "duplicate meta key");
    CHECK(kd_st_writer_meta(w, "k2", "\xc3", &err) == KD_ERR_USAGE, "invalid UTF-8 meta");
    char path[700];
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", g_dir);
    CHECK(kd_st_writer_write(w, path, &err) == KD_ERR_IO && strstr(err.msg, path), "unwritable: %s", err.msg);
    /* the failed adds left nothing behind */
    tmp_path(path, sizeof path, "after-errors.safetensors");
    MUST_E(&err, kd_st_writer_write(w, path, &err));
    kd_st_writer_free(w);
    kd_st_writer_free(NULL);
    kd_st_file f;
    MUST_E(&err, kd_st_read(path, &f, &err));
    CHECK(f.count == 1 && f.meta_count == 1 && kd_st_find(&f, "t"), "after errors: %d tensors", f.count);
    kd_st_free(&f);
    unlink(path);
}

/* Damaged copies of real files: every outcome is OK with in-bounds tensors
 * or KD_ERR_INPUT naming the buffer. Meaningful under ASan. */
static void test_mutations(void) {
    size_t size1, size2;
    uint8_t *good = make_file(GOOD, strlen(GOOD), NULL, 32, &size1);
    const char *j2 = "{\"__metadata__\":{\"a\":\"b\",\"c\":\"\\u00e9\"},\"h\":{\"dtype\":\"F16\",\"shape\":[3],"
                     "\"data_offsets\":[0,6]},\"x\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[8,16]},"
                     "\"u\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[6,6]}}";
    uint8_t *good2 = make_file(j2, strlen(j2), NULL, 16, &size2);
    th_rng r = {1234};
    int ok = 0, refused = 0, other = 0;
    float out[64];
    for (int it = 0; it < 6000; it++) {
        const uint8_t *src = it & 1 ? good2 : good;
        size_t n = it & 1 ? size2 : size1;
        uint8_t *b = malloc(n + 8);
        memcpy(b, src, n);
        int edits = 1 + (int)(th_next(&r) % 4);
        for (int e = 0; e < edits && n > 0; e++) {
            size_t at = (size_t)(th_next(&r) % n);
            switch (th_next(&r) % 5) {
            case 0: b[at] = (uint8_t)th_next(&r); break;
            case 1: b[at] ^= (uint8_t)(1u << (th_next(&r) % 8)); break;
            case 2: b[at] = "0123456789[]{},:\"-.e"[th_next(&r) % 20]; break;
            case 3: n = at; break; /* truncate */
            case 4: if (at >= 8) b[at] = ' '; break;
            }
        }
        kd_st_file f;
        kd_err err = {0};
        kd_status s = kd_st_parse(b, n, "fuzz", &f, &err);
        free(b);
        if (s == KD_OK) {
            ok++;
            for (int i = 0; i < f.count; i++) {
                const kd_st_tensor *t = &f.tensors[i];
                bool inb = t->offset <= f.data_size && t->nbytes <= f.data_size - t->offset;
                CHECK(inb, "accepted tensor out of bounds");
                if (inb && kd_st_numel(t) <= 64) CHECK(kd_st_to_f32(&f, t, out, &err) == KD_OK, "to_f32");
            }
            kd_st_free(&f);
        } else if (s == KD_ERR_INPUT && strstr(err.msg, "fuzz") == err.msg) refused++;
        else {
            other++;
            CHECK(0, "mutation %d: status %d msg %s", it, (int)s, err.msg);
        }
    }
    printf("mutations: %d accepted, %d refused, %d other\n", ok, refused, other);
    CHECK(refused > 1000 && ok > 10, "mutation mix: %d accepted %d refused", ok, refused);
    free(good);
    free(good2);
}

int main(void) {
    th_tempdir(g_dir, sizeof g_dir, "st");
    test_roundtrip_dtypes();
    test_foreign_layout();
    test_metadata_and_names();
    test_writer_bytes();
    test_torchvision_names();
    test_corrupt_headers();
    test_corrupt_prefix();
    test_truncated();
    test_writer_errors();
    test_mutations();
    rmdir(g_dir);
    return th_done("test_safetensors");
}
