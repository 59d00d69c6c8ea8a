/* Private to src/io: the safetensors format's pieces that the reader and
 * the writer share. */
#ifndef KD_IO_ST_FORMAT_H
#define KD_IO_ST_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/io/safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; kdcl reads it in place and needs a little-endian host"
#endif

#define ST_MAX_NAME 255

/* The dtypes kdcl reads and writes, by kd_dtype: the file's name, bytes. */
typedef struct kd_st_dtype_info {
    const char *name;
    size_t size;
} kd_st_dtype_info;
extern const kd_st_dtype_info kd_st_dtypes[];
#define KD_ST_NDTYPES ((int)KD_U8 + 1)
bool kd_st_dtype_valid(kd_dtype d);

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF, no NUL):
 * what the Python library requires of a header, and what keeps a C string
 * from being cut short. */
bool kd_st_utf8_valid(const uint8_t *s, size_t n);

/* A tensor name as it can be shown in a message: control bytes escaped,
 * long names cut (a fuzzed name can be megabytes). */
typedef struct kd_st_shown {
    char s[200];
} kd_st_shown;
kd_st_shown kd_st_show(const char *name);

size_t kd_st_align_up(size_t x, size_t a);

#endif
