/* The real Fashion-MNIST from the Debian package (dataset-fashion-mnist):
 * 60,000 training and 10,000 test images of 28x28, balanced classes, the
 * known first labels. Skipped, successfully, when the package is absent.
 * Also reports (does not assert) the input pipeline's throughput: batches
 * of 32 shuffled, cropped and flipped, resized to 3x128x128 on the device. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "runtime/buffer.h"
#include "src/data/loader.h"
#include "src/data/source.h"
#include "tests/harness.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void check_split(const kd_dataset *d, int n, int per_class, const int *first5, const char *what) {
    CHECK(d->n == n && d->c == 1 && d->h == 28 && d->w == 28 && d->classes == 10, "%s: %d images %dx%dx%d, %d classes",
          what, d->n, d->c, d->h, d->w, d->classes);
    int count[10] = {0}, balanced = 1;
    for (int i = 0; i < d->n; i++) count[d->labels[i]]++;
    for (int k = 0; k < 10; k++) balanced &= count[k] == per_class;
    CHECK(balanced, "%s: classes are not %d each (class 0: %d)", what, per_class, count[0]);
    int first = 1;
    for (int i = 0; i < 5; i++) first &= d->labels[i] == first5[i];
    CHECK(first, "%s: first labels %d %d %d %d %d", what, d->labels[0], d->labels[1], d->labels[2], d->labels[3],
          d->labels[4]);
}

int main(void) {
    struct stat st;
    if (stat(KD_FASHION_MNIST_DIR, &st) != 0) {
        printf("test_fashion_mnist: SKIPPED: %s is absent (install the Debian package dataset-fashion-mnist)\n",
               KD_FASHION_MNIST_DIR);
        return th_done("test_fashion_mnist");
    }
    kd_data_spec spec;
    kd_err err = {0};
    kd_dataset tr, te;
    MUST_E(&err, kd_data_spec_parse("fashion-mnist", &spec, &err));
    double t0 = now();
    MUST_E(&err, kd_data_load(&spec, KD_SPLIT_TRAIN, 0, &tr, &err));
    double t_load = now() - t0;
    MUST_E(&err, kd_data_load(&spec, KD_SPLIT_TEST, 0, &te, &err));
    const int tr5[5] = {9, 0, 0, 3, 0}, te5[5] = {9, 2, 1, 1, 6};
    check_split(&tr, 60000, 6000, tr5, "train");
    check_split(&te, 10000, 1000, te5, "test");
    CHECK(strcmp(tr.class_names[0], "T-shirt/top") == 0 && strcmp(tr.class_names[9], "Ankle boot") == 0, "class names");
    printf("fashion-mnist: training set (gzip) loaded in %.2f s\n", t_load);

    /* Throughput, noisy on a shared CPU: what the model would be fed. */
    kd_ctx *ctx = th_ctx();
    enum { B = 32, STEPS = 40 };
    int *idx = malloc(sizeof(int) * (size_t)tr.n);
    for (int i = 0; i < tr.n; i++) idx[i] = i;
    kd_aug_cfg aug = {.crop = true, .crop_pad = 4, .flip = true};
    kd_loader *l;
    MUST(ctx, kd_loader_create(ctx, &tr, idx, tr.n, B, true, &aug, 1, &l));
    kd_prep_desc p = {
        .out_c = 3, .out_h = 128, .out_w = 128, .mean = {0.286f, 0.286f, 0.286f}, .std = {0.353f, 0.353f, 0.353f}};
    cl_mem out;
    MUST(ctx, kd_buffer_alloc(ctx, (size_t)B * 3 * 128 * 128 * sizeof(float), "prep output", &out));
    kd_batch b;
    bool done;
    /* Warm-up: kernel build, first transfers. */
    MUST(ctx, kd_loader_next(l, &b, &done));
    MUST(ctx, kd_prep_run(ctx, &p, 1, 28, 28, &b, aug.crop_pad, out));
    MUST(ctx, kd_finish(ctx));
    t0 = now();
    for (int s = 0; s < STEPS; s++) {
        MUST(ctx, kd_loader_next(l, &b, &done));
        MUST(ctx, kd_prep_run(ctx, &p, 1, 28, 28, &b, aug.crop_pad, out));
    }
    MUST(ctx, kd_finish(ctx));
    double t_full = now() - t0;
    t0 = now();
    for (int s = 0; s < 4 * STEPS; s++) MUST(ctx, kd_loader_next(l, &b, &done));
    MUST(ctx, kd_finish(ctx));
    double t_upload = now() - t0;
    printf("input pipeline on %s (noisy, shared CPU): %.0f images/s delivered as 3x128x128 float "
           "(batch %d, crop+flip, resize 28->128); %.0f images/s gathered and uploaded as uint8 alone\n",
           kd_ctx_device(ctx)->name, STEPS * B / t_full, B, 4 * STEPS * B / t_upload);
    kd_buffer_free(ctx, out);
    kd_loader_free(l);
    free(idx);
    kd_ctx_free(ctx);
    kd_dataset_free(&tr);
    kd_dataset_free(&te);
    return th_done("test_fashion_mnist");
}
