/* Private to src/data: the per-format loaders behind kd_data_load (source.c), and the
 * counter-based hash that every reproducible choice of the input pipeline
 * (synthetic images, validation split, shuffles, augmentation) derives
 * from, so that a result depends on (seed, what, where) and never on the
 * order in which things were computed. */
#ifndef KD_DATA_PRIVATE_H
#define KD_DATA_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "src/data/dataset.h"
#include "src/rng.h"

/* Domains of kd_hash3. */
enum {
    KD_HASH_SYNTH_IMAGE = 1,
    KD_HASH_SYNTH_LABELS,
    KD_HASH_SPLIT,
    KD_HASH_SHUFFLE,
    KD_HASH_AUGMENT,
};

kd_status kd_fashion_load(const kd_data_spec *spec, kd_split split, kd_dataset *out, kd_err *err);
kd_status kd_cifar_load(const kd_data_spec *spec, kd_split split, kd_dataset *out, kd_err *err);
kd_status kd_synthetic_load(const kd_data_spec *spec, kd_split split, uint64_t seed, kd_dataset *out, kd_err *err);

/* Reads `path` whole, inflating it when it is gzip (zlib reads plain files
 * through the same calls). Corrupt or truncated gzip data is KD_ERR_INPUT. */
kd_status kd_read_maybe_gz(const char *path, uint8_t **data, size_t *size, kd_err *err);

#endif
