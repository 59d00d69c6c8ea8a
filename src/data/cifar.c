/* CIFAR-10, binary version: fixed-size records of 1 label byte and 3072
 * pixel bytes (1024 red, 1024 green, 1024 blue, rows of 32), so a file is
 * valid exactly when its length is a multiple of 3073 and every label is
 * below 10. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/data/data_private.h"

#define KD_CIFAR_PIXELS 3072
#define KD_CIFAR_RECORD (1 + KD_CIFAR_PIXELS)
#define KD_CIFAR_HINT                                                                                                  \
    "the CIFAR-10 binary version (cifar-10-binary.tar.gz) holds data_batch_1..5.bin and test_batch.bin"

kd_status kd_cifar_parse(const void *buf, size_t size, const char *what, int *n, uint8_t **pixels, uint8_t **labels,
                         kd_err *err) {
    *n = 0;
    *pixels = *labels = NULL;
    if (size == 0) return kd_fail(err, KD_ERR_INPUT, "%s: empty file, no CIFAR-10 records", what);
    if (size % KD_CIFAR_RECORD != 0)
        return kd_fail(err, KD_ERR_INPUT,
                       "%s: truncated record: %zu bytes are %zu whole records of %d bytes and %zu bytes more "
                       "(a CIFAR-10 binary file is a multiple of %d bytes)",
                       what, size, size / KD_CIFAR_RECORD, KD_CIFAR_RECORD, size % KD_CIFAR_RECORD, KD_CIFAR_RECORD);
    size_t count = size / KD_CIFAR_RECORD;
    if (count > (size_t)1 << 24)
        return kd_fail(err, KD_ERR_INPUT, "%s: %zu records, more than kdcl supports", what, count);
    const uint8_t *b = buf;
    for (size_t i = 0; i < count; i++)
        if (b[i * KD_CIFAR_RECORD] >= 10)
            return kd_fail(err, KD_ERR_INPUT, "%s: record %zu has label %d, but CIFAR-10 labels are 0..9", what, i,
                           b[i * KD_CIFAR_RECORD]);
    uint8_t *px = malloc(count * KD_CIFAR_PIXELS), *lb = malloc(count);
    if (!px || !lb) {
        free(px);
        free(lb);
        return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for %zu images", what, count);
    }
    for (size_t i = 0; i < count; i++) {
        lb[i] = b[i * KD_CIFAR_RECORD];
        memcpy(px + i * KD_CIFAR_PIXELS, b + i * KD_CIFAR_RECORD + 1, KD_CIFAR_PIXELS);
    }
    *n = (int)count;
    *pixels = px;
    *labels = lb;
    return KD_OK;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends one batch file's records to `out`. */
static kd_status append_file(kd_dataset *out, const char *path, kd_err *err) {
    if (!is_file(path)) return kd_fail(err, KD_ERR_NOT_FOUND, "CIFAR-10 file %s not found: " KD_CIFAR_HINT, path);
    uint8_t *raw = NULL, *px = NULL, *lb = NULL;
    size_t size = 0;
    int n = 0;
    KD_TRY(kd_read_maybe_gz(path, &raw, &size, err));
    kd_status s = kd_cifar_parse(raw, size, path, &n, &px, &lb, err);
    free(raw);
    if (s != KD_OK) return s;
    if ((size_t)out->n + (size_t)n > (size_t)1 << 24) s = kd_fail(err, KD_ERR_INPUT, "%s: too many records", path);
    uint8_t *ni = s == KD_OK ? realloc(out->images, ((size_t)out->n + n) * KD_CIFAR_PIXELS) : NULL;
    if (ni) out->images = ni;
    uint8_t *nl = ni ? realloc(out->labels, (size_t)out->n + n) : NULL;
    if (nl) out->labels = nl;
    if (s == KD_OK && (!ni || !nl)) s = kd_fail(err, KD_ERR_NOMEM, "out of memory loading %s", path);
    if (s == KD_OK) {
        memcpy(out->images + (size_t)out->n * KD_CIFAR_PIXELS, px, (size_t)n * KD_CIFAR_PIXELS);
        memcpy(out->labels + out->n, lb, (size_t)n);
        out->n += n;
    }
    free(px);
    free(lb);
    return s;
}

kd_status kd_cifar_load(const kd_data_spec *spec, kd_split split, kd_dataset *out, kd_err *err) {
    static const char *const names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                          "dog",      "frog",       "horse", "ship", "truck"};
    char path[1100];
    if (!is_dir(spec->dir))
        return kd_fail(err, KD_ERR_NOT_FOUND, "CIFAR-10 directory %s does not exist: " KD_CIFAR_HINT, spec->dir);
    /* The tarball unpacks into cifar-10-batches-bin/: accept its parent too. */
    const char *sub = "";
    snprintf(path, sizeof path, "%s/data_batch_1.bin", spec->dir);
    if (!is_file(path)) {
        snprintf(path, sizeof path, "%s/cifar-10-batches-bin", spec->dir);
        if (is_dir(path)) sub = "/cifar-10-batches-bin";
    }
    if (split == KD_SPLIT_TRAIN) {
        for (int i = 1; i <= 5; i++) {
            snprintf(path, sizeof path, "%s%s/data_batch_%d.bin", spec->dir, sub, i);
            KD_TRY(append_file(out, path, err));
        }
    } else {
        snprintf(path, sizeof path, "%s%s/test_batch.bin", spec->dir, sub);
        KD_TRY(append_file(out, path, err));
    }
    strcpy(out->name, "cifar10");
    out->c = 3;
    out->h = 32;
    out->w = 32;
    return kd_dataset_set_names(out, names, 10, err);
}
