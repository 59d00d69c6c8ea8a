/* safetensors files: 8-byte little-endian header length, a JSON header
 * (parsed with cJSON) mapping tensor names to dtype/shape/data_offsets, an
 * optional "__metadata__" string map, then the raw data. Readable by the
 * Python safetensors library. We read and write F32, F16, BF16, I32, I64 and
 * U8 (kd_st_to_f32 converts any of them); other dtypes are refused by name.
 * Every header is validated before any data is used.
 *
 * Tensor data is little-endian and used in place: little-endian hosts only
 * (x86, ARM; a big-endian build fails at compile time). */
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
    uint8_t *data;    /* the data section (16-byte aligned; a tensor's offset
                         need not be: copy, or use kd_st_to_f32) */
    size_t data_size;
    void *buf;        /* one allocation owning everything above */
} kd_st_file;

/* Reads and validates: header length >= 2 and <= min(file - 8, 100 MB),
 * UTF-8 JSON object (only whitespace after it), known dtype, shape of <= 8
 * non-negative integer dims whose product does not overflow, shape x dtype
 * size == byte length, offsets inside the data, no two tensors overlapping
 * (gaps and any order are accepted), unique names, metadata values strings.
 * Errors are KD_ERR_INPUT and name the file and the tensor; a missing file
 * is KD_ERR_NOT_FOUND, a failing read KD_ERR_IO. On error *out is zeroed
 * (kd_st_free on it is harmless). Tensors keep the header's order. */
kd_status kd_st_read(const char *path, kd_st_file *out, kd_err *err);
/* The same over a buffer (copied); `what` names it in errors. */
kd_status kd_st_parse(const void *buf, size_t size, const char *what, kd_st_file *out, kd_err *err);
void kd_st_free(kd_st_file *f);

const kd_st_tensor *kd_st_find(const kd_st_file *f, const char *name); /* NULL if absent; linear */
size_t kd_st_numel(const kd_st_tensor *t);
/* Converts to float32 into out[kd_st_numel(t)] (F32, F16, BF16, I32, I64, U8). */
kd_status kd_st_to_f32(const kd_st_file *f, const kd_st_tensor *t, float *out, kd_err *err);
const char *kd_st_meta(const kd_st_file *f, const char *key); /* NULL if absent */

/* Writing: collect tensors and metadata, then write atomically (temp +
 * fsync + rename). add copies the name and shape but NOT the data: the
 * pointer is kept and must stay valid until kd_st_writer_write. Names are
 * 1..255 bytes of UTF-8, unique, not "__metadata__"; metadata keys unique,
 * UTF-8 (argument errors are KD_ERR_USAGE). The file has "__metadata__"
 * first (if any), tensors in insertion order, data contiguous in that order
 * and the header space-padded to a multiple of 8: the canonical layout the
 * Python library checks. */
typedef struct kd_st_writer kd_st_writer;
kd_st_writer *kd_st_writer_new(void);
kd_status kd_st_writer_add(kd_st_writer *w, const char *name, kd_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, kd_err *err);
kd_status kd_st_writer_meta(kd_st_writer *w, const char *key, const char *value, kd_err *err);
kd_status kd_st_writer_write(kd_st_writer *w, const char *path, kd_err *err);
void kd_st_writer_free(kd_st_writer *w);

#endif
