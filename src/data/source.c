/* Where a data set comes from: the --data grammar, and the loader for each
 * kind (src/data/idx.c, cifar.c, synthetic.c). */
#include "src/data/source.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "src/data/data_private.h"

#define KD_DATA_FORMS "fashion-mnist[:DIR], cifar10:DIR or synthetic[:N[:CxHxW]]"

/* Whole-string decimal in [lo, hi]; no sign, no spaces, no trailing junk. */
static bool parse_int(const char *s, size_t len, long lo, long hi, long *out) {
    if (len == 0 || len > 18) return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

static kd_status parse_synthetic(const char *rest, const char *text, kd_data_spec *out, kd_err *err) {
    if (!rest) return KD_OK;
    const char *colon = strchr(rest, ':');
    size_t nlen = colon ? (size_t)(colon - rest) : strlen(rest);
    long v = 0;
    if (!parse_int(rest, nlen, 1, 10000000, &v))
        return kd_fail(err, KD_ERR_USAGE,
                       "bad --data '%s': N must be a whole number of training images from 1 to 10000000 "
                       "(synthetic[:N[:CxHxW]], e.g. synthetic:5000:3x32x32)",
                       text);
    out->synth_n = (int)v;
    if (!colon) return KD_OK;
    const char *shape = colon + 1;
    long dims[3];
    const char *p = shape;
    for (int i = 0; i < 3; i++) {
        const char *x = strchr(p, 'x');
        size_t len = (i < 2) ? (x ? (size_t)(x - p) : 0) : strlen(p);
        long lo = 1, hi = i == 0 ? 64 : 4096;
        if ((i < 2 && !x) || !parse_int(p, len, lo, hi, &dims[i]))
            return kd_fail(err, KD_ERR_USAGE,
                           "bad --data '%s': the image shape '%s' must be CxHxW with C in 1..64 and H, W in "
                           "1..4096 (e.g. synthetic:2000:1x28x28)",
                           text, shape);
        p += len + 1;
    }
    if ((double)out->synth_n * (double)(dims[0] * dims[1] * dims[2]) > (double)INT_MAX)
        return kd_fail(err, KD_ERR_USAGE, "bad --data '%s': %d images of %ldx%ldx%ld exceed 2 GiB of pixels", text,
                       out->synth_n, dims[0], dims[1], dims[2]);
    out->synth_c = (int)dims[0];
    out->synth_h = (int)dims[1];
    out->synth_w = (int)dims[2];
    return KD_OK;
}

kd_status kd_data_spec_parse(const char *text, kd_data_spec *out, kd_err *err) {
    memset(out, 0, sizeof *out);
    out->synth_n = 2000;
    out->synth_c = 3;
    out->synth_h = 32;
    out->synth_w = 32;
    if (!text || !*text) return kd_fail(err, KD_ERR_USAGE, "--data is empty: use " KD_DATA_FORMS);
    const char *colon = strchr(text, ':');
    size_t klen = colon ? (size_t)(colon - text) : strlen(text);
    const char *rest = colon ? colon + 1 : NULL;
    static const char *const kinds[] = {"fashion-mnist", "cifar10", "synthetic"};
    int kind = -1;
    for (int i = 0; i < 3; i++)
        if (strlen(kinds[i]) == klen && memcmp(kinds[i], text, klen) == 0) kind = i;
    if (kind < 0)
        return kd_fail(err, KD_ERR_USAGE, "unknown data set '%.*s' in --data '%s': use " KD_DATA_FORMS,
                       (int)(klen > 200 ? 200 : klen), text, text);
    strcpy(out->kind, kinds[kind]);
    if (kind == 2) return parse_synthetic(rest, text, out, err);
    if (rest && strlen(rest) >= sizeof out->dir)
        return kd_fail(err, KD_ERR_USAGE, "bad --data: the directory name is longer than %zu bytes",
                       sizeof out->dir - 1);
    if (rest) strcpy(out->dir, rest);
    if (kind == 1 && !out->dir[0])
        return kd_fail(err, KD_ERR_USAGE,
                       "--data cifar10 needs the directory of the CIFAR-10 binary version: cifar10:DIR (DIR holds "
                       "data_batch_1.bin .. data_batch_5.bin and test_batch.bin)");
    return KD_OK;
}

kd_status kd_data_load(const kd_data_spec *spec, kd_split split, uint64_t seed, kd_dataset *out, kd_err *err) {
    memset(out, 0, sizeof *out);
    kd_status s;
    if (strcmp(spec->kind, "fashion-mnist") == 0)
        s = kd_fashion_load(spec, split, out, err);
    else if (strcmp(spec->kind, "cifar10") == 0)
        s = kd_cifar_load(spec, split, out, err);
    else if (strcmp(spec->kind, "synthetic") == 0)
        s = kd_synthetic_load(spec, split, seed, out, err);
    else
        s = kd_fail(err, KD_ERR_USAGE, "unknown data set kind '%s': use " KD_DATA_FORMS, spec->kind);
    if (s != KD_OK) kd_dataset_free(out);
    return s;
}
