/* Tuned CLBlast parameters kept per device in kdcl's cache directory,
 * keyed by device, driver, platform and CLBlast version, and applied to a
 * context by the command-line session (src/cli/session.c) so that every
 * later GEMM on that device uses them. */
#ifndef KD_TUNE_STORE_H
#define KD_TUNE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ctx.h"
#include "runtime/tune_params.h"

#define KD_TUNE_FORMAT 1

/* Cache key: device name, driver version, platform version, CLBlast version, format. */
uint64_t kd_tune_key(const kd_device_info *dev);
/* Where the entry for dev lives in cache directory `dir`. */
void kd_tune_path(const char *dir, const kd_device_info *dev, char *path, size_t cap);
/* Stores `text` (the text form, comments allowed) after parsing and checking it. */
kd_status kd_tune_store(const char *dir, const kd_device_info *dev, const char *text, kd_err *err);
/* The stored text (malloc'ed, NUL-terminated) in *text. Absent: KD_OK with
 * *text NULL. Present but damaged (checksum, header): KD_ERR_INPUT. */
kd_status kd_tune_load_text(const char *dir, const kd_device_info *dev, char **text, kd_err *err);
/* Deletes the entry; *removed says whether there was one. */
kd_status kd_tune_reset(const char *dir, const kd_device_info *dev, bool *removed, kd_err *err);

/* Loads, checks and applies the entry for ctx's device from ctx->cache_dir.
 * Sets ctx->tuned. No entry: KD_OK, nothing applied. A damaged or
 * inapplicable entry: an error in ctx->err and nothing applied (the caller
 * warns and goes on untuned). */
kd_status kd_tune_apply_stored(kd_ctx *ctx);

#endif
