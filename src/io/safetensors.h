/* safetensors files: 8-byte little-endian header length, a JSON header
 * (parsed with cJSON) mapping tensor names to dtype/shape/data_offsets, an
 * optional "__metadata__" string map, then the raw data. Readable by the
 * Python safetensors library. We write F32; we read F32, F16 and BF16
 * (converted to F32). Every header is validated before any data is used. */
#ifndef KD_IO_SAFETENSORS_H
#define KD_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

#define KD_ST_MAX_DIMS 8

typedef enum kd_dtype { KD_F32, KD_F16, KD_BF16, KD_I32, KD_I64, KD_U8 } kd_dtype;

typedef struct kd_st_tensor {
    char *name;
    kd_dtype dtype;
    int ndim;
    int64_t shape[KD_ST_MAX_DIMS];
    size_t offset, nbytes; /* within the data section */
} kd_st_tensor;

typedef struct kd_st_file {
    char path[1024];
    kd_st_tensor *tensors;
    int count;
    char **meta_keys, **meta_values;
    int meta_count;
    uint8_t *data;    /* the data section */
    size_t data_size;
    void *buf;        /* owns everything read */
} kd_st_file;

/* Reads and validates: length sane, JSON well-formed, known dtype, shape x
 * dtype size == byte length, offsets inside the data and not overlapping.
 * Errors (KD_ERR_INPUT) name the file and the tensor. */
kd_status kd_st_read(const char *path, kd_st_file *out, kd_err *err);
/* The same over a buffer (copied); `what` names it in errors. */
kd_status kd_st_parse(const void *buf, size_t size, const char *what, kd_st_file *out, kd_err *err);
void kd_st_free(kd_st_file *f);

const kd_st_tensor *kd_st_find(const kd_st_file *f, const char *name);
size_t kd_st_numel(const kd_st_tensor *t);
/* Converts to float32 into out[kd_st_numel(t)] (F32, F16, BF16, I32, I64, U8). */
kd_status kd_st_to_f32(const kd_st_file *f, const kd_st_tensor *t, float *out, kd_err *err);
const char *kd_st_meta(const kd_st_file *f, const char *key); /* NULL if absent */

/* Writing: collect tensors (data pointers must stay valid until write) and
 * metadata, then write atomically (temp + fsync + rename). */
typedef struct kd_st_writer kd_st_writer;
kd_st_writer *kd_st_writer_new(void);
kd_status kd_st_writer_add(kd_st_writer *w, const char *name, kd_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, kd_err *err);
kd_status kd_st_writer_meta(kd_st_writer *w, const char *key, const char *value, kd_err *err);
kd_status kd_st_writer_write(kd_st_writer *w, const char *path, kd_err *err);
void kd_st_writer_free(kd_st_writer *w);

#endif
