/* Data set loaders on files the test writes: Fashion-MNIST IDX (plain and
 * gzip), CIFAR-10 binary; every corrupt variant is refused with the right
 * status and a message that names the file and the reason. Also the --data
 * grammar, the synthetic set (deterministic, balanced, not separable by mean
 * intensity), the validation split, and the parsers on every truncation and
 * on random header damage (no crash, no acceptance of a wrong size). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "src/data/dataset.h"
#include "src/data/source.h"
#include "tests/harness.h"

static void write_file(const char *path, const void *buf, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, size, f) != size) th_fatal(__FILE__, __LINE__, "write", path);
    fclose(f);
}

static void write_gz(const char *path, const void *buf, size_t size) {
    gzFile f = gzopen(path, "wb");
    if (!f || gzwrite(f, buf, (unsigned)size) != (int)size) th_fatal(__FILE__, __LINE__, "gzwrite", path);
    gzclose(f);
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX image file of n images h x w with the given header count and magic. */
static uint8_t *idx_images(uint32_t magic, uint32_t hdr_n, int n, int h, int w, const uint8_t *px, size_t *size) {
    *size = 16 + (size_t)n * h * w;
    uint8_t *b = malloc(*size);
    put32(b, magic);
    put32(b + 4, hdr_n);
    put32(b + 8, (uint32_t)h);
    put32(b + 12, (uint32_t)w);
    memcpy(b + 16, px, (size_t)n * h * w);
    return b;
}

static uint8_t *idx_labels(uint32_t magic, uint32_t hdr_n, int n, const uint8_t *lb, size_t *size) {
    *size = 8 + (size_t)n;
    uint8_t *b = malloc(*size);
    put32(b, magic);
    put32(b + 4, hdr_n);
    memcpy(b + 8, lb, (size_t)n);
    return b;
}

typedef struct fm_files {
    int n, h, w;
    uint8_t *px, *lb;
} fm_files;

static fm_files fm_make(th_rng *r, int n, int h, int w) {
    fm_files f = {n, h, w, malloc((size_t)n * h * w), malloc((size_t)n)};
    for (int i = 0; i < n * h * w; i++) f.px[i] = (uint8_t)(th_next(r) & 0xff);
    for (int i = 0; i < n; i++) f.lb[i] = (uint8_t)(th_next(r) % 10);
    return f;
}

/* Writes DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. */
static void fm_write(const char *dir, const char *stem, const fm_files *f, bool gz_images, bool gz_labels) {
    char path[1200];
    size_t size;
    uint8_t *b = idx_images(0x803, (uint32_t)f->n, f->n, f->h, f->w, f->px, &size);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, stem, gz_images ? ".gz" : "");
    if (gz_images)
        write_gz(path, b, size);
    else
        write_file(path, b, size);
    free(b);
    b = idx_labels(0x801, (uint32_t)f->n, f->n, f->lb, &size);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, stem, gz_labels ? ".gz" : "");
    if (gz_labels)
        write_gz(path, b, size);
    else
        write_file(path, b, size);
    free(b);
}

static void check_same(const kd_dataset *d, const fm_files *f, const char *what) {
    CHECK(d->n == f->n && d->c == 1 && d->h == f->h && d->w == f->w && d->classes == 10,
          "%s: got %d images %dx%dx%d, %d classes", what, d->n, d->c, d->h, d->w, d->classes);
    if (d->n != f->n || d->h != f->h || d->w != f->w) return;
    CHECK(memcmp(d->images, f->px, (size_t)f->n * f->h * f->w) == 0, "%s: pixels differ", what);
    CHECK(memcmp(d->labels, f->lb, (size_t)f->n) == 0, "%s: labels differ", what);
    CHECK(d->class_names && strcmp(d->class_names[0], "T-shirt/top") == 0 &&
              strcmp(d->class_names[9], "Ankle boot") == 0,
          "%s: class names", what);
    CHECK(strcmp(d->name, "fashion-mnist") == 0, "%s: name '%s'", what, d->name);
}

/* Loading `spec` must fail with `code`, naming `file` and saying `reason`. */
static void expect_fail(const char *spec_text, kd_split split, kd_status code, const char *file, const char *reason) {
    kd_data_spec spec;
    kd_err err = {0};
    kd_dataset d;
    memset(&d, 0xab, sizeof d); /* must be cleaned up, whatever it held */
    MUST_E(&err, kd_data_spec_parse(spec_text, &spec, &err));
    kd_status s = kd_data_load(&spec, split, 1, &d, &err);
    CHECK(s == code, "%s (%s): status %d (%s), want %d; message: %s", spec_text, reason, s, kd_status_str(s), code,
          err.msg);
    CHECK(!file || strstr(err.msg, file), "%s: message does not name %s: %s", spec_text, file, err.msg);
    CHECK(!reason || strstr(err.msg, reason), "%s: message does not say '%s': %s", spec_text, reason, err.msg);
    CHECK(d.images == NULL && d.labels == NULL && d.class_names == NULL, "%s: failed load left data behind", spec_text);
    kd_dataset_free(&d);
}

static void load_ok(const char *spec_text, kd_split split, uint64_t seed, kd_dataset *d) {
    kd_data_spec spec;
    kd_err err = {0};
    MUST_E(&err, kd_data_spec_parse(spec_text, &spec, &err));
    MUST_E(&err, kd_data_load(&spec, split, seed, d, &err));
}

static void test_fashion(th_rng *r) {
    char dir[512], spec[600], path[1200];
    th_tempdir(dir, sizeof dir, "fm-plain");
    fm_files tr = fm_make(r, 7, 5, 4), te = fm_make(r, 3, 5, 4);
    fm_write(dir, "train", &tr, false, false);
    fm_write(dir, "t10k", &te, false, false);
    snprintf(spec, sizeof spec, "fashion-mnist:%s", dir);
    kd_dataset d;
    load_ok(spec, KD_SPLIT_TRAIN, 0, &d);
    check_same(&d, &tr, "plain train");
    kd_dataset_free(&d);
    load_ok(spec, KD_SPLIT_TEST, 0, &d);
    check_same(&d, &te, "plain test");
    kd_dataset_free(&d);

    char gzdir[512];
    th_tempdir(gzdir, sizeof gzdir, "fm-gz");
    fm_write(gzdir, "train", &tr, true, true);
    fm_write(gzdir, "t10k", &te, true, false); /* mixed: gzip images, plain labels */
    snprintf(spec, sizeof spec, "fashion-mnist:%s", gzdir);
    load_ok(spec, KD_SPLIT_TRAIN, 0, &d);
    check_same(&d, &tr, "gzip train");
    kd_dataset_free(&d);
    load_ok(spec, KD_SPLIT_TEST, 0, &d);
    check_same(&d, &te, "gzip/plain test");
    kd_dataset_free(&d);

    /* Corrupt variants, each in its own directory. */
    struct {
        const char *tag, *reason;
        kd_status code;
        bool labels_file; /* which file the message must name */
        bool gz;
    } cases[] = {
        {"magic", "magic", KD_ERR_INPUT, false, false},
        {"labelmagic", "magic", KD_ERR_INPUT, true, false},
        {"hdr-more", "truncated", KD_ERR_INPUT, false, false},
        {"hdr-less", "trailing", KD_ERR_INPUT, false, false},
        {"short-header", "header", KD_ERR_INPUT, false, false},
        {"empty", "too short", KD_ERR_INPUT, true, false},
        {"label10", "label 10", KD_ERR_INPUT, true, false},
        {"count", "6 labels", KD_ERR_INPUT, true, false},
        {"nolabels", "not found", KD_ERR_NOT_FOUND, true, false},
        {"gz-garbage", "gzip", KD_ERR_INPUT, false, true},
        {"gz-truncated", "gzip", KD_ERR_INPUT, false, true},
        {"gz-bad-content", "trailing", KD_ERR_INPUT, false, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char cdir[512];
        th_tempdir(cdir, sizeof cdir, cases[k].tag);
        fm_write(cdir, "train", &tr, cases[k].gz, false);
        const char *tag = cases[k].tag;
        size_t size;
        uint8_t *b = NULL;
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", cdir);
        if (!strcmp(tag, "magic")) b = idx_images(0x804, 7, 7, 5, 4, tr.px, &size);
        if (!strcmp(tag, "hdr-more")) b = idx_images(0x803, 8, 7, 5, 4, tr.px, &size);
        if (!strcmp(tag, "hdr-less")) b = idx_images(0x803, 6, 7, 5, 4, tr.px, &size);
        if (!strcmp(tag, "short-header")) b = idx_images(0x803, 7, 7, 5, 4, tr.px, &size), size = 10;
        if (b) write_file(path, b, size);
        free(b);
        b = NULL;
        snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", cdir);
        if (!strcmp(tag, "labelmagic")) b = idx_labels(0x803, 7, 7, tr.lb, &size);
        if (!strcmp(tag, "empty")) b = idx_labels(0x801, 7, 7, tr.lb, &size), size = 0;
        if (!strcmp(tag, "label10")) {
            uint8_t lb[7];
            memcpy(lb, tr.lb, 7);
            lb[4] = 10;
            b = idx_labels(0x801, 7, 7, lb, &size);
        }
        if (!strcmp(tag, "count")) b = idx_labels(0x801, 6, 6, tr.lb, &size);
        if (b) write_file(path, b, size);
        free(b);
        if (!strcmp(tag, "nolabels")) unlink(path);
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", cdir);
        if (!strcmp(tag, "gz-garbage")) {
            /* A gzip header followed by bytes that are no deflate stream. */
            uint8_t junk[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
            for (int i = 10; i < 64; i++) junk[i] = (uint8_t)(0xff - i);
            write_file(path, junk, sizeof junk);
        }
        if (!strcmp(tag, "gz-truncated")) {
            long long full;
            FILE *f = fopen(path, "rb");
            fseek(f, 0, SEEK_END);
            full = ftell(f);
            fclose(f);
            if (truncate(path, (off_t)(full / 2)) != 0) th_fatal(__FILE__, __LINE__, "truncate", path);
        }
        if (!strcmp(tag, "gz-bad-content")) {
            b = idx_images(0x803, 6, 7, 5, 4, tr.px, &size);
            write_gz(path, b, size);
            free(b);
        }
        char file[1200];
        snprintf(file, sizeof file, "%s/train-%s-ubyte", cdir, cases[k].labels_file ? "labels-idx1" : "images-idx3");
        snprintf(spec, sizeof spec, "fashion-mnist:%s", cdir);
        expect_fail(spec, KD_SPLIT_TRAIN, cases[k].code, file, cases[k].reason);
        if (!strcmp(tag, "count"))
            expect_fail(spec, KD_SPLIT_TRAIN, cases[k].code, "train-images-idx3-ubyte", "7 images");
    }
    /* Test split absent in a directory that has the training files. */
    char tdir[512];
    th_tempdir(tdir, sizeof tdir, "fm-notest");
    fm_write(tdir, "train", &tr, false, false);
    snprintf(spec, sizeof spec, "fashion-mnist:%s", tdir);
    expect_fail(spec, KD_SPLIT_TEST, KD_ERR_NOT_FOUND, "t10k-images-idx3-ubyte", "not found");
    /* A directory that does not exist; no package hint for a user's directory. */
    snprintf(spec, sizeof spec, "fashion-mnist:%s/nonexistent", tdir);
    expect_fail(spec, KD_SPLIT_TRAIN, KD_ERR_NOT_FOUND, "nonexistent", "does not exist");
    free(tr.px);
    free(tr.lb);
    free(te.px);
    free(te.lb);
}

static void cifar_write(const char *path, const uint8_t *px, const uint8_t *lb, int n) {
    size_t size = (size_t)n * 3073;
    uint8_t *b = malloc(size);
    for (int i = 0; i < n; i++) {
        b[(size_t)i * 3073] = lb[i];
        memcpy(b + (size_t)i * 3073 + 1, px + (size_t)i * 3072, 3072);
    }
    write_file(path, b, size);
    free(b);
}

static void test_cifar(th_rng *r) {
    const int counts[6] = {2, 3, 1, 2, 2, 3}; /* data_batch_1..5, test_batch */
    int total = 13;
    uint8_t *px = malloc((size_t)total * 3072), *lb = malloc((size_t)total);
    for (int i = 0; i < total * 3072; i++) px[i] = (uint8_t)(th_next(r) & 0xff);
    for (int i = 0; i < total; i++) lb[i] = (uint8_t)(th_next(r) % 10);
    char root[512], dir[600], path[1200], spec[700];
    th_tempdir(root, sizeof root, "cifar");
    /* In the tarball's subdirectory, to exercise cifar10:PARENT as well. */
    snprintf(dir, sizeof dir, "%s/cifar-10-batches-bin", root);
    if (mkdir(dir, 0755) != 0) th_fatal(__FILE__, __LINE__, "mkdir", dir);
    int at = 0;
    for (int k = 0; k < 6; k++) {
        if (k < 5)
            snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, k + 1);
        else
            snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        cifar_write(path, px + (size_t)at * 3072, lb + at, counts[k]);
        at += counts[k];
    }
    kd_dataset d;
    const char *dirs[2] = {dir, root};
    for (int v = 0; v < 2; v++) {
        snprintf(spec, sizeof spec, "cifar10:%s", dirs[v]);
        load_ok(spec, KD_SPLIT_TRAIN, 0, &d);
        CHECK(d.n == 10 && d.c == 3 && d.h == 32 && d.w == 32 && d.classes == 10, "cifar train: %d images %dx%dx%d",
              d.n, d.c, d.h, d.w);
        CHECK(d.n == 10 && memcmp(d.images, px, 10 * 3072) == 0 && memcmp(d.labels, lb, 10) == 0,
              "cifar train: data differ from the five files in order");
        CHECK(strcmp(d.class_names[0], "airplane") == 0 && strcmp(d.class_names[9], "truck") == 0, "cifar names");
        kd_dataset_free(&d);
        load_ok(spec, KD_SPLIT_TEST, 0, &d);
        CHECK(d.n == 3 && memcmp(d.images, px + 10 * 3072, 3 * 3072) == 0 && memcmp(d.labels, lb + 10, 3) == 0,
              "cifar test: %d images or data differ", d.n);
        kd_dataset_free(&d);
    }
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    /* Truncated last record. */
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    if (truncate(path, 3 * 3073 - 5) != 0) th_fatal(__FILE__, __LINE__, "truncate", path);
    expect_fail(spec, KD_SPLIT_TEST, KD_ERR_INPUT, path, "truncated record");
    expect_fail(spec, KD_SPLIT_TEST, KD_ERR_INPUT, path, "2 whole records");
    write_file(path, "", 0);
    expect_fail(spec, KD_SPLIT_TEST, KD_ERR_INPUT, path, "empty");
    /* A label out of range in the middle of the third file. */
    snprintf(path, sizeof path, "%s/data_batch_3.bin", dir);
    uint8_t bad = 12;
    cifar_write(path, px, &bad, 1);
    expect_fail(spec, KD_SPLIT_TRAIN, KD_ERR_INPUT, path, "label 12");
    /* A missing batch file. */
    snprintf(path, sizeof path, "%s/data_batch_4.bin", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/data_batch_3.bin", dir);
    cifar_write(path, px, lb, 1);
    snprintf(path, sizeof path, "%s/data_batch_4.bin", dir);
    expect_fail(spec, KD_SPLIT_TRAIN, KD_ERR_NOT_FOUND, path, "not found");
    snprintf(spec, sizeof spec, "cifar10:%s/nope", root);
    expect_fail(spec, KD_SPLIT_TRAIN, KD_ERR_NOT_FOUND, "nope", "does not exist");
    free(px);
    free(lb);
}

static void test_spec(void) {
    kd_data_spec s;
    kd_err err = {0};
    CHECK(kd_data_spec_parse("fashion-mnist", &s, &err) == KD_OK && !strcmp(s.kind, "fashion-mnist") && !s.dir[0],
          "fashion-mnist: %s", err.msg);
    CHECK(kd_data_spec_parse("fashion-mnist:/a/b:c", &s, &err) == KD_OK && !strcmp(s.dir, "/a/b:c"), "dir with colon");
    CHECK(kd_data_spec_parse("cifar10:/x", &s, &err) == KD_OK && !strcmp(s.kind, "cifar10") && !strcmp(s.dir, "/x"),
          "cifar10:/x");
    CHECK(kd_data_spec_parse("synthetic", &s, &err) == KD_OK && s.synth_n == 2000 && s.synth_c == 3 &&
              s.synth_h == 32 && s.synth_w == 32,
          "synthetic defaults");
    CHECK(kd_data_spec_parse("synthetic:500", &s, &err) == KD_OK && s.synth_n == 500 && s.synth_c == 3,
          "synthetic:500");
    CHECK(kd_data_spec_parse("synthetic:64:1x28x20", &s, &err) == KD_OK && s.synth_n == 64 && s.synth_c == 1 &&
              s.synth_h == 28 && s.synth_w == 20,
          "synthetic:64:1x28x20");
    const char *bad[] = {"",
                         "mnist",
                         "cifar10",
                         "cifar10:",
                         "synthetic:",
                         "synthetic:0",
                         "synthetic:-5",
                         "synthetic:12x",
                         "synthetic:100:3x32",
                         "synthetic:100:3x32x",
                         "synthetic:100:0x32x32",
                         "synthetic:100:3x32x32x1",
                         "synthetic:100:65x8x8",
                         "synthetic:100:3x5000x8",
                         "synthetic:100: 3x8x8",
                         "Fashion-MNIST"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kd_status st = kd_data_spec_parse(bad[i], &s, &err);
        CHECK(st == KD_ERR_USAGE && err.msg[0], "'%s' accepted (status %d)", bad[i], st);
    }
    CHECK(kd_data_spec_parse("mnist", &s, &err) == KD_ERR_USAGE && strstr(err.msg, "synthetic[:N"),
          "unknown kind does not list the forms: %s", err.msg);
}

static void test_synthetic(void) {
    kd_dataset a, b, c, t;
    load_ok("synthetic:200:1x16x20", KD_SPLIT_TRAIN, 5, &a);
    load_ok("synthetic:200:1x16x20", KD_SPLIT_TRAIN, 5, &b);
    load_ok("synthetic:200:1x16x20", KD_SPLIT_TRAIN, 6, &c);
    load_ok("synthetic:200:1x16x20", KD_SPLIT_TEST, 5, &t);
    size_t bytes = 200 * 16 * 20;
    CHECK(a.n == 200 && a.c == 1 && a.h == 16 && a.w == 20 && a.classes == 10 && t.n == 40,
          "synthetic sizes %d %dx%dx%d, test %d", a.n, a.c, a.h, a.w, t.n);
    CHECK(memcmp(a.images, b.images, bytes) == 0 && memcmp(a.labels, b.labels, 200) == 0, "same seed, different data");
    CHECK(memcmp(a.images, c.images, bytes) != 0 && memcmp(a.labels, c.labels, 200) != 0, "other seed, same data");
    CHECK(memcmp(a.images, t.images, 40 * 16 * 20) != 0, "train and test splits start with the same images");
    int per[10] = {0};
    for (int i = 0; i < a.n; i++) per[a.labels[i] < 10 ? a.labels[i] : 0]++;
    int balanced = 1;
    for (int k = 0; k < 10; k++) balanced &= per[k] == 20;
    CHECK(balanced, "synthetic classes are not balanced");
    kd_dataset_free(&a);
    kd_dataset_free(&b);
    kd_dataset_free(&c);
    kd_dataset_free(&t);

    /* The default set: 3x32x32; the class is not in the mean intensity. The
     * spread of per-class means must be small next to the spread of image
     * means within a class. */
    kd_dataset d;
    load_ok("synthetic", KD_SPLIT_TRAIN, 1, &d);
    CHECK(d.n == 2000 && d.c == 3 && d.h == 32 && d.w == 32, "default synthetic %d %dx%dx%d", d.n, d.c, d.h, d.w);
    double sum[10] = {0}, sq[10] = {0};
    int cnt[10] = {0};
    size_t per_img = (size_t)d.c * d.h * d.w;
    for (int i = 0; i < d.n; i++) {
        double m = 0;
        for (size_t j = 0; j < per_img; j++) m += d.images[i * per_img + j];
        m /= (double)per_img;
        sum[d.labels[i]] += m;
        sq[d.labels[i]] += m * m;
        cnt[d.labels[i]]++;
    }
    double lo = 1e9, hi = -1e9, within = 0;
    for (int k = 0; k < 10; k++) {
        double mk = sum[k] / cnt[k];
        within += sqrt(sq[k] / cnt[k] - mk * mk) / 10;
        if (mk < lo) lo = mk;
        if (mk > hi) hi = mk;
    }
    CHECK(hi - lo < 0.5 * within, "class mean intensities spread %.2f, within-class std %.2f: separable by brightness",
          hi - lo, within);
    printf("synthetic: per-class mean intensity spread %.2f, within-class std of image means %.2f\n", hi - lo, within);
    kd_dataset_free(&d);
}

static void test_split(void) {
    kd_err err = {0};
    int *tr, *va, ntr, nva;
    MUST_E(&err, kd_split_indices(103, 0.1, 9, &tr, &ntr, &va, &nva, &err));
    CHECK(ntr == 93 && nva == 10, "split 103 at 0.1: %d + %d", ntr, nva);
    char seen[103] = {0};
    int sorted = 1, range = 1;
    for (int i = 0; i < ntr; i++) {
        range &= tr[i] >= 0 && tr[i] < 103;
        if (range) seen[tr[i]]++;
        if (i) sorted &= tr[i - 1] < tr[i];
    }
    for (int i = 0; i < nva; i++) {
        range &= va[i] >= 0 && va[i] < 103;
        if (range) seen[va[i]]++;
        if (i) sorted &= va[i - 1] < va[i];
    }
    int once = 1;
    for (int i = 0; i < 103; i++) once &= seen[i] == 1;
    CHECK(range && sorted && once, "split: in range %d, sorted %d, each index once %d", range, sorted, once);
    int *tr2, *va2, ntr2, nva2;
    MUST_E(&err, kd_split_indices(103, 0.1, 9, &tr2, &ntr2, &va2, &nva2, &err));
    CHECK(nva2 == nva && memcmp(va, va2, (size_t)nva * sizeof *va) == 0, "same seed, different split");
    free(tr2);
    free(va2);
    MUST_E(&err, kd_split_indices(103, 0.1, 10, &tr2, &ntr2, &va2, &nva2, &err));
    CHECK(nva2 == nva && memcmp(va, va2, (size_t)nva * sizeof *va) != 0, "other seed, same split");
    free(tr2);
    free(va2);
    free(tr);
    free(va);
    MUST_E(&err, kd_split_indices(50, 0.0, 1, &tr, &ntr, &va, &nva, &err));
    CHECK(ntr == 50 && nva == 0, "fraction 0: %d + %d", ntr, nva);
    free(tr);
    free(va);
    MUST_E(&err, kd_split_indices(5, 0.25, 1, &tr, &ntr, &va, &nva, &err));
    CHECK(ntr == 4 && nva == 1, "5 at 0.25 rounds to 1: %d + %d", ntr, nva);
    free(tr);
    free(va);
    CHECK(kd_split_indices(10, 1.0, 1, &tr, &ntr, &va, &nva, &err) == KD_ERR_USAGE, "fraction 1 accepted");
    CHECK(kd_split_indices(10, -0.1, 1, &tr, &ntr, &va, &nva, &err) == KD_ERR_USAGE, "negative fraction accepted");
    CHECK(kd_split_indices(10, 0.97, 1, &tr, &ntr, &va, &nva, &err) == KD_ERR_USAGE, "empty training set accepted");
    CHECK(kd_split_indices(10, NAN, 1, &tr, &ntr, &va, &nva, &err) == KD_ERR_USAGE, "NaN fraction accepted");
}

/* Every strict prefix of a valid file is refused; random damage never crashes
 * and, when accepted, yields exactly what the header promised. */
static void test_parsers_robust(th_rng *r) {
    fm_files f = fm_make(r, 5, 3, 4);
    size_t isz, lsz;
    uint8_t *img = idx_images(0x803, 5, 5, 3, 4, f.px, &isz), *lab = idx_labels(0x801, 5, 5, f.lb, &lsz);
    size_t csz = 2 * 3073;
    uint8_t *cif = calloc(csz, 1);
    cif[3073] = 9;
    kd_err err = {0};
    int n, h, w, prefix_ok = 1;
    uint8_t *px, *lb;
    for (size_t len = 0; len < isz; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact-size copies, so ASan sees over-reads */
        memcpy(copy, img, len);
        prefix_ok &= kd_idx_parse_images(copy, len, "prefix", &n, &h, &w, &px, &err) == KD_ERR_INPUT && !px;
        free(copy);
    }
    for (size_t len = 0; len < lsz; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, lab, len);
        prefix_ok &= kd_idx_parse_labels(copy, len, "prefix", &n, &lb, &err) == KD_ERR_INPUT && !lb;
        free(copy);
    }
    for (size_t len = 0; len < csz; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, cif, len);
        prefix_ok &=
            kd_cifar_parse(copy, len, "prefix", &n, &px, &lb, &err) == (len % 3073 || !len ? KD_ERR_INPUT : KD_OK);
        if (len && len % 3073 == 0) {
            free(px);
            free(lb);
        }
        free(copy);
    }
    CHECK(prefix_ok, "a truncated file was accepted");
    int consistent = 1, accepted = 0;
    for (int it = 0; it < 3000; it++) {
        uint8_t *copy = malloc(isz);
        memcpy(copy, img, isz);
        int flips = 1 + (int)(th_next(r) % 3);
        for (int k = 0; k < flips; k++) copy[th_next(r) % 16] ^= (uint8_t)(1u << (th_next(r) % 8));
        size_t len = isz - (size_t)(th_next(r) % 3);
        if (kd_idx_parse_images(copy, len, "fuzz", &n, &h, &w, &px, &err) == KD_OK) {
            accepted++;
            consistent &= (size_t)n * h * w + 16 == len && memcmp(px, copy + 16, len - 16) == 0;
            free(px);
        } else {
            consistent &= err.code == KD_ERR_INPUT && strstr(err.msg, "fuzz") != NULL;
        }
        free(copy);
    }
    CHECK(consistent, "damaged IDX headers: an accepted file disagrees with its size, or an error lacks the name");
    printf("parsers: %d of 3000 damaged IDX headers were still self-consistent and accepted\n", accepted);
    free(img);
    free(lab);
    free(cif);
    free(f.px);
    free(f.lb);
}

int main(void) {
    th_rng r = {3};
    test_spec();
    test_fashion(&r);
    test_cifar(&r);
    test_synthetic();
    test_split();
    test_parsers_robust(&r);
    return th_done("test_dataset");
}
