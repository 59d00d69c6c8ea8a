/* Private to src/data: the per-format loaders behind kd_data_load, and the
 * counter-based hash that every reproducible choice of the input pipeline
 * (synthetic images, validation split, shuffles, augmentation) derives
 * from, so that a result depends on (seed, what, where) and never on the
 * order in which things were computed. */
#ifndef KD_DATA_PRIVATE_H
#define KD_DATA_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "src/data/dataset.h"

/* splitmix64's finaliser: a bijection with good avalanche. */
static inline uint64_t kd_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Hash of a tuple; `domain` keeps streams for different purposes apart. */
static inline uint64_t kd_hash3(uint64_t domain, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = kd_mix64(domain + 0x9e3779b97f4a7c15ull);
    h = kd_mix64(h ^ (a + 0x9e3779b97f4a7c15ull));
    h = kd_mix64(h ^ (b + 0x6a09e667f3bcc909ull));
    return kd_mix64(h ^ (c + 0xbb67ae8584caa73bull));
}

/* A splitmix64 stream. */
typedef struct kd_rng64 {
    uint64_t s;
} kd_rng64;

static inline uint64_t kd_rng64_next(kd_rng64 *r) { return kd_mix64(r->s += 0x9e3779b97f4a7c15ull); }

/* Uniform in [0, n) for n < 2^32 (multiply-shift, bias below 2^-32). */
static inline uint32_t kd_rng64_below(kd_rng64 *r, uint32_t n) {
    return (uint32_t)(((kd_rng64_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, 1). */
static inline double kd_rng64_unit(kd_rng64 *r) { return (double)(kd_rng64_next(r) >> 11) * 0x1.0p-53; }

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

/* Copies `n` class names into d->class_names (d->classes = n). */
kd_status kd_dataset_set_names(kd_dataset *d, const char *const *names, int n, kd_err *err);

/* Reads `path` whole, inflating it when it is gzip (zlib reads plain files
 * through the same calls). Corrupt or truncated gzip data is KD_ERR_INPUT. */
kd_status kd_read_maybe_gz(const char *path, uint8_t **data, size_t *size, kd_err *err);

#endif
