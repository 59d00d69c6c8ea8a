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

/* Uploads that overlap host work: a non-blocking write whose completion the
 * caller waits for (kd_wait) before it rewrites `src`; *done may come back
 * NULL (nothing left to wait for). */
kd_status kd_write_async(kd_ctx *ctx, cl_mem dst, size_t offset, size_t bytes, const void *src, cl_event *done);
/* Waits for the n events (NULL entries skipped), releases them and clears
 * the array; every one is released even when one reports an error. */
kd_status kd_wait(kd_ctx *ctx, int n, cl_event *ev);
/* Starts the queued commands without waiting for them (clFlush). */
kd_status kd_flush(kd_ctx *ctx);

/* Host memory to upload from: a CL_MEM_ALLOC_HOST_PTR buffer mapped for
 * its lifetime (page-locked on discrete GPUs, which DMA engines copy from
 * asynchronously), or plain malloc'ed memory where the device will not map
 * one. */
typedef struct kd_staging {
    cl_mem mem; /* NULL when host is malloc'ed */
    void *host;
} kd_staging;
kd_status kd_staging_alloc(kd_ctx *ctx, size_t bytes, const char *what, kd_staging *out);
/* Unmaps and releases (best effort: nothing to report to on the way out). */
void kd_staging_free(kd_ctx *ctx, kd_staging *s);

#endif
