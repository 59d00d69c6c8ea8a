/* Image-classification data sets held on the host as uint8 (never float):
 * Fashion-MNIST (IDX, plain or .gz), CIFAR-10 (binary version) and a
 * built-in synthetic set. ../shared/DESIGN.md section 4 is the contract. */
#ifndef KD_DATA_DATASET_H
#define KD_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

#define KD_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef enum kd_split { KD_SPLIT_TRAIN, KD_SPLIT_TEST } kd_split;

typedef struct kd_dataset {
    char name[64];      /* "fashion-mnist", "cifar10", "synthetic" */
    int n, c, h, w;     /* images, channels, height, width */
    int classes;
    uint8_t *images;    /* n * c*h*w bytes, each image channel-planar (CHW) */
    uint8_t *labels;    /* n, each < classes */
    char **class_names; /* classes strings */
} kd_dataset;

typedef struct kd_data_spec {
    char kind[32];      /* fashion-mnist | cifar10 | synthetic */
    char dir[1024];     /* data directory (empty: default) */
    int synth_n;        /* synthetic: training images (test split: synth_n/5) */
    int synth_c, synth_h, synth_w;
} kd_data_spec;

/* Copies `n` class names into d->class_names (d->classes = n). */
kd_status kd_dataset_set_names(kd_dataset *d, const char *const *names, int n, kd_err *err);
void kd_dataset_free(kd_dataset *d);

/* Parsers over memory (also the fuzzing entry points). `what` names the
 * source in errors. IDX: magic 0x00000801 (labels) / 0x00000803 (images). */
kd_status kd_idx_parse_images(const void *buf, size_t size, const char *what, int *n, int *h, int *w,
                              uint8_t **pixels, kd_err *err);
kd_status kd_idx_parse_labels(const void *buf, size_t size, const char *what, int *n, uint8_t **labels,
                              kd_err *err);
/* CIFAR-10 binary records: 1 label byte + 3072 channel-planar pixel bytes. */
kd_status kd_cifar_parse(const void *buf, size_t size, const char *what, int *n, uint8_t **pixels,
                         uint8_t **labels, kd_err *err);

/* Holds out a validation split from n training images, deterministically
 * from seed: val gets round(n*frac) indices, train the rest (both sorted). */
kd_status kd_split_indices(int n, double val_frac, uint64_t seed, int **train_idx, int *ntrain, int **val_idx,
                           int *nval, kd_err *err);

#endif
