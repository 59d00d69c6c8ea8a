/* kdcl's one random-number generator, splitmix64 (Steele, Lea and Flood
 * 2014): a stream for weight initialisation, the tuner's candidates and the
 * tests' data, and a counter-based hash for the input pipeline, where every
 * choice must depend on (seed, what, where) and never on the order in which
 * things were computed. Host-side only; results are reproducible from a
 * seed on every platform. */
#ifndef KD_RNG_H
#define KD_RNG_H

#include <stdint.h>

#define KD_RNG_GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64's finaliser: a bijection with good avalanche. */
static inline uint64_t kd_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Hash of a tuple; `domain` keeps streams for different purposes apart. */
static inline uint64_t kd_hash3(uint64_t domain, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = kd_mix64(domain + KD_RNG_GOLDEN);
    h = kd_mix64(h ^ (a + KD_RNG_GOLDEN));
    h = kd_mix64(h ^ (b + 0x6a09e667f3bcc909ull));
    return kd_mix64(h ^ (c + 0xbb67ae8584caa73bull));
}

/* A splitmix64 stream: {seed} starts one. */
typedef struct kd_rng64 {
    uint64_t s;
} kd_rng64;

static inline uint64_t kd_rng64_next(kd_rng64 *r) { return kd_mix64(r->s += KD_RNG_GOLDEN); }

/* Uniform in [0, n) for n < 2^32 (multiply-shift, bias below 2^-32). */
static inline uint32_t kd_rng64_below(kd_rng64 *r, uint32_t n) {
    return (uint32_t)(((kd_rng64_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, 1), 53 bits. */
static inline double kd_rng64_unit(kd_rng64 *r) { return (double)(kd_rng64_next(r) >> 11) * 0x1.0p-53; }

#endif
