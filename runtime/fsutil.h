/* Small file-system helpers shared by the kernel cache, tuning files and
 * checkpoints. */
#ifndef KD_FSUTIL_H
#define KD_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/status.h"

/* mkdir -p. */
kd_status kd_mkdirs(const char *path, kd_err *err);

/* Writes `parts` (concatenated) to `path` atomically: a temp file in the same
 * directory, fsync, rename, fsync of the directory. A crash leaves either the
 * old file or the new one, never a torn file; on error the old file stays.
 * Temporary files of earlier writers of `path` that were killed are removed. */
typedef struct kd_chunk {
    const void *data;
    size_t size;
} kd_chunk;
kd_status kd_write_atomic(const char *path, const kd_chunk *parts, int nparts, kd_err *err);

/* Reads a whole file; *data is malloc'ed (NUL-terminated for convenience). */
kd_status kd_read_file(const char *path, void **data, size_t *size, kd_err *err);

bool kd_file_exists(const char *path);
long long kd_file_size(const char *path); /* -1 if it cannot be stat'ed */

#endif
