/* Shared by the libFuzzer targets and by tests/test_fuzz_regress.c, which
 * includes each fuzz_*.c with KD_FUZZ_NO_MAIN defined so that the ordinary
 * build replays the corpus and every kept crash through the same code.
 *
 * A target returns 1 when the input was accepted, 0 when it was refused;
 * FUZZ_REQUIRE states what must hold either way (a refusal carries a
 * message and leaves nothing allocated; an acceptance is self-consistent).
 * Under libFuzzer a broken requirement aborts (a finding); the regression
 * test redefines it as a counted CHECK. */
#ifndef KD_FUZZ_COMMON_H
#define KD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

#ifndef FUZZ_REQUIRE
#define FUZZ_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz requirement broken at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#endif

#ifdef KD_FUZZ_NO_MAIN
#define KD_FUZZ_ENTRY(fn)
#else
#define KD_FUZZ_ENTRY(fn)                                                                          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {                                 \
        (void)fn(data, size);                                                                      \
        return 0;                                                                                  \
    }
#endif

/* A refusal: the status is an error of the input/usage kind the parsers
 * promise (never a device or I/O error from a memory parser), recorded in
 * err with a message. */
static inline int fuzz_refused_ok(kd_status s, const kd_err *err) {
    return s != KD_OK && err->code == s && err->msg[0] != '\0' &&
           (s == KD_ERR_INPUT || s == KD_ERR_USAGE || s == KD_ERR_NOT_FOUND || s == KD_ERR_NOMEM);
}

/* Carves fuzz input into fields: bytes, little-endian integers and
 * strings ending at a NUL byte or the end of the input. */
typedef struct fuzz_reader {
    const uint8_t *p;
    size_t left;
} fuzz_reader;

static inline uint32_t fuzz_u8(fuzz_reader *r) {
    if (!r->left) return 0;
    r->left--;
    return *r->p++;
}

static inline uint32_t fuzz_u16(fuzz_reader *r) { return fuzz_u8(r) | fuzz_u8(r) << 8; }

static inline uint32_t fuzz_u32(fuzz_reader *r) { return fuzz_u16(r) | fuzz_u16(r) << 16; }

/* Copies the next string (up to a NUL or the end) into buf, cut to cap-1. */
static inline void fuzz_str(fuzz_reader *r, char *buf, size_t cap) {
    size_t n = 0;
    while (r->left && *r->p) {
        if (n + 1 < cap) buf[n++] = (char)*r->p;
        r->p++;
        r->left--;
    }
    if (r->left) r->p++, r->left--; /* the NUL */
    buf[n] = '\0';
}

#endif
