/* Device buffers: allocation with errors that say how much was asked and
 * what the device has, transfers, fills, and memory accounting. */
#ifndef KD_BUFFER_H
#define KD_BUFFER_H

#include <CL/cl.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/ctx.h"

/* A read-write buffer of `bytes`; `what` names it in errors ("conv1 weights"). */
kd_status kd_buffer_alloc(kd_ctx *ctx, size_t bytes, const char *what, cl_mem *out);
/* A view [offset, offset+bytes) of `parent`; offset must be a multiple of
 * ctx->dev.mem_base_align_bytes (kd_align_up helps). Not counted as memory. */
kd_status kd_buffer_sub(kd_ctx *ctx, cl_mem parent, size_t offset, size_t bytes, cl_mem *out);
/* Releases and un-counts a buffer from kd_buffer_alloc / kd_buffer_sub; NULL is fine. */
void kd_buffer_free(kd_ctx *ctx, cl_mem mem);

size_t kd_align_up(size_t n, size_t align);

/* Transfers. A non-blocking write requires `src` to stay valid until the
 * queue has passed it (kd_finish or a later blocking call). */
kd_status kd_write(kd_ctx *ctx, cl_mem dst, size_t offset, size_t bytes, const void *src, bool blocking);
kd_status kd_read(kd_ctx *ctx, cl_mem src, size_t offset, size_t bytes, void *dst);
kd_status kd_copy(kd_ctx *ctx, cl_mem dst, size_t dst_off, cl_mem src, size_t src_off, size_t bytes);
/* Fills `bytes` (multiple of 4) at `offset` with the float `value`. */
kd_status kd_fill(kd_ctx *ctx, cl_mem dst, size_t offset, size_t bytes, float value);

#endif
