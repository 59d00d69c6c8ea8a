/* IDX files (the MNIST family's format) and the Fashion-MNIST loader.
 * IDX: 2 zero bytes, a type byte (0x08 = unsigned byte), a rank byte, then
 * one big-endian uint32 per dimension, then the data. The parsers trust
 * nothing in the header: every size is checked against the buffer's length
 * before a byte of data is touched (they are fuzzing entry points). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "src/data/data_private.h"

/* Far above any real data set, low enough that a hostile gzip cannot make
 * us allocate without bound, and within gzread's int byte count. */
#define KD_MAX_FILE_BYTES ((size_t)1 << 31)

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks the magic, the rank and that the dimensions account for exactly
 * `size` bytes; returns the dimensions. */
static kd_status idx_header(const uint8_t *b, size_t size, const char *what, int rank, const char *kind, uint32_t *dims,
                            kd_err *err) {
    uint32_t want = 0x00000800u | (uint32_t)rank;
    if (size < 4)
        return kd_fail(err, KD_ERR_INPUT, "%s: only %zu bytes, too short for an IDX file (expected IDX %s)", what, size,
                       kind);
    uint32_t magic = be32(b);
    if (magic != want) {
        const char *hint = magic == 0x00000801u             ? " (this is an IDX label file)"
                           : magic == 0x00000803u           ? " (this is an IDX image file)"
                           : (b[0] == 0x1f && b[1] == 0x8b) ? " (gzip data inside a file whose name lacks .gz?)"
                                                            : "";
        return kd_fail(err, KD_ERR_INPUT, "%s: wrong magic number 0x%08x, expected 0x%08x for IDX %s%s", what, magic,
                       want, kind, hint);
    }
    size_t head = 4 + 4 * (size_t)rank;
    if (size < head)
        return kd_fail(err, KD_ERR_INPUT, "%s: truncated IDX header: %zu bytes, the header alone needs %zu", what, size,
                       head);
    for (int i = 0; i < rank; i++) {
        dims[i] = be32(b + 4 + 4 * i);
        if (dims[i] == 0)
            return kd_fail(err, KD_ERR_INPUT, "%s: IDX dimension %d is 0 (an empty %s file)", what, i, kind);
    }
    if (dims[0] > INT_MAX)
        return kd_fail(err, KD_ERR_INPUT, "%s: the header says %u items, more than kdcl supports", what, dims[0]);
    /* Every dimension < 2^32 and rank <= 3 with the last two < 2^16 below,
     * so the product fits 64 bits. */
    for (int i = 1; i < rank; i++)
        if (dims[i] > 65535)
            return kd_fail(err, KD_ERR_INPUT, "%s: image dimension %u is implausibly large (corrupt header?)", what,
                           dims[i]);
    unsigned long long body = 1;
    for (int i = 0; i < rank; i++) body *= dims[i];
    unsigned long long have = size - head;
    if (body != have) {
        char shape[64];
        if (rank == 3)
            snprintf(shape, sizeof shape, "%u images of %ux%u", dims[0], dims[1], dims[2]);
        else
            snprintf(shape, sizeof shape, "%u labels", dims[0]);
        return kd_fail(err, KD_ERR_INPUT,
                       "%s: the header says %s (%llu data bytes) but the file holds %llu data bytes (%s)", what, shape,
                       body, have, body > have ? "truncated file" : "trailing bytes or wrong size fields");
    }
    return KD_OK;
}

kd_status kd_idx_parse_images(const void *buf, size_t size, const char *what, int *n, int *h, int *w, uint8_t **pixels,
                              kd_err *err) {
    *pixels = NULL;
    *n = *h = *w = 0;
    uint32_t d[3] = {0, 0, 0};
    KD_TRY(idx_header(buf, size, what, 3, "images (0x00000803)", d, err));
    size_t bytes = (size_t)d[0] * d[1] * d[2];
    uint8_t *p = malloc(bytes);
    if (!p) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for %zu bytes of pixels", what, bytes);
    memcpy(p, (const uint8_t *)buf + 16, bytes);
    *pixels = p;
    *n = (int)d[0];
    *h = (int)d[1];
    *w = (int)d[2];
    return KD_OK;
}

kd_status kd_idx_parse_labels(const void *buf, size_t size, const char *what, int *n, uint8_t **labels, kd_err *err) {
    *labels = NULL;
    *n = 0;
    uint32_t d[1] = {0};
    KD_TRY(idx_header(buf, size, what, 1, "labels (0x00000801)", d, err));
    uint8_t *p = malloc(d[0]);
    if (!p) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for %u labels", what, d[0]);
    memcpy(p, (const uint8_t *)buf + 8, d[0]);
    *labels = p;
    *n = (int)d[0];
    return KD_OK;
}

kd_status kd_read_maybe_gz(const char *path, uint8_t **data, size_t *size, kd_err *err) {
    *data = NULL;
    *size = 0;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return kd_fail(err, errno == ENOENT ? KD_ERR_NOT_FOUND : KD_ERR_IO, "cannot open %s: %s", path,
                       errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1 << 18);
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    kd_status s = KD_OK;
    if (!buf) {
        s = kd_fail(err, KD_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= KD_MAX_FILE_BYTES) {
                s = kd_fail(err, KD_ERR_INPUT, "%s: more than %zu bytes (uncompressed); not a data set file", path,
                            KD_MAX_FILE_BYTES);
                goto done;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                s = kd_fail(err, KD_ERR_NOMEM, "out of memory reading %s (%zu bytes so far)", path, len);
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        int got = gzread(f, buf + len, (unsigned)(cap - len));
        if (got < 0) {
            int zerr = 0;
            const char *msg = gzerror(f, &zerr);
            if (zerr == Z_ERRNO)
                s = kd_fail(err, KD_ERR_IO, "cannot read %s", path);
            else
                s = kd_fail(err, KD_ERR_INPUT, "%s: corrupt or truncated gzip data (zlib: %s)", path, msg);
            goto done;
        }
        if (got == 0) {
            /* gzread reports a stream cut short only through gzerror. */
            int zerr = 0;
            const char *msg = gzerror(f, &zerr);
            if (zerr == Z_BUF_ERROR) s = kd_fail(err, KD_ERR_INPUT, "%s: truncated gzip data (zlib: %s)", path, msg);
            break;
        }
        len += (size_t)got;
    }
done:
    gzclose(f);
    if (s != KD_OK) {
        free(buf);
        return s;
    }
    *data = buf;
    *size = len;
    return KD_OK;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

#define KD_FASHION_HINT "install the Debian package dataset-fashion-mnist (apt install dataset-fashion-mnist)"

/* DIR/base, else DIR/base.gz. */
static kd_status read_idx_file(const char *dir, const char *base, bool default_dir, char *path, size_t cap,
                               uint8_t **data, size_t *size, kd_err *err) {
    snprintf(path, cap, "%s/%s", dir, base);
    if (!is_file(path)) {
        snprintf(path, cap, "%s/%s.gz", dir, base);
        if (!is_file(path))
            return kd_fail(err, KD_ERR_NOT_FOUND, "Fashion-MNIST file %s/%s (or %s.gz) not found%s%s", dir, base, base,
                           default_dir ? ": " : "", default_dir ? KD_FASHION_HINT : "");
    }
    return kd_read_maybe_gz(path, data, size, err);
}

kd_status kd_fashion_load(const kd_data_spec *spec, kd_split split, kd_dataset *out, kd_err *err) {
    static const char *const names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    bool default_dir = spec->dir[0] == '\0';
    const char *dir = default_dir ? KD_FASHION_MNIST_DIR : spec->dir;
    if (!is_dir(dir))
        return kd_fail(err, KD_ERR_NOT_FOUND, "Fashion-MNIST directory %s does not exist: %s", dir,
                       default_dir ? KD_FASHION_HINT " or pass --data fashion-mnist:DIR"
                                   : "pass the directory that holds train-images-idx3-ubyte(.gz) and the "
                                     "other IDX files");
    const char *stem = split == KD_SPLIT_TRAIN ? "train" : "t10k";
    char img_base[64], lab_base[64], img_path[1200], lab_path[1200];
    snprintf(img_base, sizeof img_base, "%s-images-idx3-ubyte", stem);
    snprintf(lab_base, sizeof lab_base, "%s-labels-idx1-ubyte", stem);

    uint8_t *raw = NULL;
    size_t size = 0;
    int n = 0, h = 0, w = 0, nl = 0;
    KD_TRY(read_idx_file(dir, img_base, default_dir, img_path, sizeof img_path, &raw, &size, err));
    kd_status s = kd_idx_parse_images(raw, size, img_path, &n, &h, &w, &out->images, err);
    free(raw);
    if (s != KD_OK) return s;
    KD_TRY(read_idx_file(dir, lab_base, default_dir, lab_path, sizeof lab_path, &raw, &size, err));
    s = kd_idx_parse_labels(raw, size, lab_path, &nl, &out->labels, err);
    free(raw);
    if (s != KD_OK) return s;
    if (nl != n)
        return kd_fail(err, KD_ERR_INPUT, "%s holds %d images but %s holds %d labels: the files do not belong together",
                       img_path, n, lab_path, nl);
    for (int i = 0; i < n; i++)
        if (out->labels[i] >= 10)
            return kd_fail(err, KD_ERR_INPUT, "%s: label %d of image %d is not a Fashion-MNIST class (0..9)", lab_path,
                           out->labels[i], i);
    strcpy(out->name, "fashion-mnist");
    out->n = n;
    out->c = 1;
    out->h = h;
    out->w = w;
    return kd_dataset_set_names(out, names, 10, err);
}
