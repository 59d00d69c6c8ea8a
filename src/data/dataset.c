/* What the data sets have in common: class names, freeing, and the
 * validation hold-out. */
#include "src/data/dataset.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "src/data/data_private.h"

void kd_dataset_free(kd_dataset *d) {
    if (!d) return;
    free(d->images);
    free(d->labels);
    if (d->class_names)
        for (int i = 0; i < d->classes; i++) free(d->class_names[i]);
    free(d->class_names);
    memset(d, 0, sizeof *d);
}

kd_status kd_dataset_set_names(kd_dataset *d, const char *const *names, int n, kd_err *err) {
    d->class_names = calloc((size_t)n, sizeof *d->class_names);
    if (!d->class_names) return kd_fail(err, KD_ERR_NOMEM, "out of memory for %d class names", n);
    d->classes = n;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        d->class_names[i] = malloc(len + 1);
        if (!d->class_names[i]) return kd_fail(err, KD_ERR_NOMEM, "out of memory for class names");
        memcpy(d->class_names[i], names[i], len + 1);
    }
    return KD_OK;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

kd_status kd_split_indices(int n, double val_frac, uint64_t seed, int **train_idx, int *ntrain, int **val_idx,
                           int *nval, kd_err *err) {
    *train_idx = *val_idx = NULL;
    *ntrain = *nval = 0;
    if (n < 1) return kd_fail(err, KD_ERR_USAGE, "cannot split %d images into training and validation", n);
    if (!(val_frac >= 0.0 && val_frac < 1.0))
        return kd_fail(err, KD_ERR_USAGE, "--val-split %g must be at least 0 and below 1", val_frac);
    long nv = (long)(val_frac * n + 0.5);
    if (nv >= n)
        return kd_fail(err, KD_ERR_USAGE, "--val-split %g holds out all %d training images: use a smaller fraction",
                       val_frac, n);
    int *perm = malloc((size_t)n * sizeof *perm);
    int *tr = malloc((size_t)(n - nv) * sizeof *tr);
    int *va = malloc((size_t)(nv ? nv : 1) * sizeof *va);
    if (!perm || !tr || !va) {
        free(perm);
        free(tr);
        free(va);
        return kd_fail(err, KD_ERR_NOMEM, "out of memory splitting %d images", n);
    }
    /* A seeded Fisher-Yates permutation; its first nv entries are held out. */
    for (int i = 0; i < n; i++) perm[i] = i;
    kd_rng64 r = {kd_hash3(KD_HASH_SPLIT, seed, (uint64_t)n, 0)};
    for (int i = n - 1; i > 0; i--) {
        int j = (int)kd_rng64_below(&r, (uint32_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    memcpy(va, perm, (size_t)nv * sizeof *va);
    memcpy(tr, perm + nv, (size_t)(n - nv) * sizeof *tr);
    free(perm);
    qsort(va, (size_t)nv, sizeof *va, cmp_int);
    qsort(tr, (size_t)(n - nv), sizeof *tr, cmp_int);
    *train_idx = tr;
    *ntrain = (int)(n - nv);
    *val_idx = va;
    *nval = (int)nv;
    return KD_OK;
}
