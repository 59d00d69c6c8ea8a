#include "runtime/buffer.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/clcheck.h"
#include "runtime/ctx_private.h"

static double to_mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

static kd_status too_big(kd_ctx *ctx, size_t bytes, const char *what, const char *why) {
    return kd_fail(ctx->err, KD_ERR_NOMEM,
                   "cannot allocate %.1f MiB for %s on %s: %s (device: max allocation %.1f MiB, global "
                   "memory %.1f MiB, kdcl already holds %.1f MiB). Try a smaller --batch or input size",
                   to_mib(bytes), what, ctx->dev.name, why, to_mib((size_t)ctx->dev.max_alloc),
                   to_mib((size_t)ctx->dev.global_mem), to_mib((size_t)ctx->mem_in_use));
}

/* oclgrind only (see kd_ctx.oclgrind): oclgrind 21.10 forgets what kernels
 * later store into a buffer that the host wrote only in part (an offset, or
 * fewer bytes than the buffer: the next kernel reading those stores reports
 * them uninitialised), so there every host write covers the whole buffer:
 * read it, change the range, write it all back. */
static kd_status whole_write(kd_ctx *ctx, cl_mem dst, size_t offset, size_t bytes, const void *src) {
    size_t size = 0;
    KD_CL(ctx->err, clGetMemObjectInfo(dst, CL_MEM_SIZE, sizeof size, &size, NULL));
    if (offset > size || bytes > size - offset)
        return kd_fail(ctx->err, KD_ERR_USAGE, "host write of %zu bytes at %zu into a %zu-byte buffer", bytes, offset,
                       size);
    unsigned char *h = malloc(size);
    if (!h) return kd_fail(ctx->err, KD_ERR_NOMEM, "out of host memory initialising a %zu-byte buffer", size);
    cl_int e = CL_SUCCESS;
    const char *call = "clEnqueueReadBuffer";
    if (offset != 0 || bytes != size) e = clEnqueueReadBuffer(ctx->queue, dst, CL_TRUE, 0, size, h, 0, NULL, NULL);
    if (e == CL_SUCCESS) {
        memcpy(h + offset, src, bytes);
        call = "clEnqueueWriteBuffer";
        e = clEnqueueWriteBuffer(ctx->queue, dst, CL_TRUE, 0, size, h, 0, NULL, NULL);
    }
    free(h);
    KD_CL_RET(ctx->err, e, call);
    return KD_OK;
}

/* oclgrind only: bytes of dst written from the host, every byte `byte`, or
 * repeating the float *value when value is given (oclgrind does not count
 * clEnqueueFillBuffer's bytes as written). */
static kd_status host_pattern(kd_ctx *ctx, cl_mem dst, size_t offset, size_t bytes, int byte, const float *value) {
    unsigned char *h = malloc(bytes);
    if (!h) return kd_fail(ctx->err, KD_ERR_NOMEM, "out of host memory initialising a %zu-byte buffer", bytes);
    if (value)
        for (size_t i = 0; i + sizeof *value <= bytes; i += sizeof *value) memcpy(h + i, value, sizeof *value);
    else
        memset(h, byte, bytes);
    kd_status s = whole_write(ctx, dst, offset, bytes, h);
    free(h);
    return s;
}

kd_status kd_buffer_alloc(kd_ctx *ctx, size_t bytes, const char *what, cl_mem *out) {
    *out = NULL;
    if (bytes == 0) bytes = 4; /* OpenCL refuses empty buffers; keep callers simple */
    if (ctx->dev.max_alloc && bytes > ctx->dev.max_alloc)
        return too_big(ctx, bytes, what, "larger than the device's maximum single allocation");
    if (ctx->dev.global_mem && ctx->mem_in_use + bytes > ctx->dev.global_mem)
        return too_big(ctx, bytes, what, "the device's global memory would be exceeded");
    cl_int e = CL_SUCCESS;
    cl_mem m = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES || e == CL_OUT_OF_HOST_MEMORY ||
        e == CL_INVALID_BUFFER_SIZE)
        return too_big(ctx, bytes, what, kd_cl_error_str(e));
    KD_CL_RET(ctx->err, e, "clCreateBuffer");
    if (ctx->oclgrind) {
        kd_status s = host_pattern(ctx, m, 0, bytes, 0xff, NULL);
        if (s != KD_OK) {
            clReleaseMemObject(m);
            return s;
        }
    }
    ctx->mem_in_use += bytes;
    if (ctx->mem_in_use > ctx->mem_peak) ctx->mem_peak = ctx->mem_in_use;
    *out = m;
    return KD_OK;
}

kd_status kd_buffer_sub(kd_ctx *ctx, cl_mem parent, size_t offset, size_t bytes, cl_mem *out) {
    cl_buffer_region r = {offset, bytes ? bytes : 4};
    cl_int e = CL_SUCCESS;
    *out = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &e);
    KD_CL_RET(ctx->err, e, "clCreateSubBuffer");
    /* oclgrind: what its parent's host write marked does not reach a sub-buffer. */
    if (ctx->oclgrind) return host_pattern(ctx, *out, 0, r.size, 0xff, NULL);
    return KD_OK;
}

void kd_buffer_free(kd_ctx *ctx, cl_mem mem) {
    if (!mem) return;
    cl_mem parent = NULL;
    size_t size = 0;
    /* Sub-buffers were never counted; if the driver will not say, keep the count. */
    if (clGetMemObjectInfo(mem, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, NULL) == CL_SUCCESS &&
        clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL) == CL_SUCCESS && !parent &&
        ctx->mem_in_use >= size)
        ctx->mem_in_use -= size;
    clReleaseMemObject(mem);
}

size_t kd_align_up(size_t n, size_t align) { return (n + align - 1) / align * align; }

kd_status kd_write(kd_ctx *ctx, cl_mem dst, size_t offset, size_t bytes, const void *src, bool blocking) {
    if (!bytes) return KD_OK;
    if (ctx->oclgrind) return whole_write(ctx, dst, offset, bytes, src);
    KD_CL(ctx->err, clEnqueueWriteBuffer(ctx->queue, dst, blocking ? CL_TRUE : CL_FALSE, offset, bytes, src,
                                          0, NULL, NULL));
    return KD_OK;
}

kd_status kd_read(kd_ctx *ctx, cl_mem src, size_t offset, size_t bytes, void *dst) {
    if (!bytes) return KD_OK;
    KD_CL(ctx->err, clEnqueueReadBuffer(ctx->queue, src, CL_TRUE, offset, bytes, dst, 0, NULL, NULL));
    return KD_OK;
}

kd_status kd_copy(kd_ctx *ctx, cl_mem dst, size_t dst_off, cl_mem src, size_t src_off, size_t bytes) {
    if (!bytes) return KD_OK;
    ctx->commands++;
    KD_CL(ctx->err, clEnqueueCopyBuffer(ctx->queue, src, dst, src_off, dst_off, bytes, 0, NULL, NULL));
    return KD_OK;
}

kd_status kd_fill(kd_ctx *ctx, cl_mem dst, size_t offset, size_t bytes, float value) {
    if (!bytes) return KD_OK;
    ctx->commands++;
    if (ctx->oclgrind) return host_pattern(ctx, dst, offset, bytes, 0, &value);
    KD_CL(ctx->err, clEnqueueFillBuffer(ctx->queue, dst, &value, sizeof value, offset, bytes, 0, NULL, NULL));
    return KD_OK;
}

kd_status kd_write_async(kd_ctx *ctx, cl_mem dst, size_t offset, size_t bytes, const void *src, cl_event *done) {
    *done = NULL;
    if (!bytes) return KD_OK;
    if (ctx->oclgrind) return whole_write(ctx, dst, offset, bytes, src); /* blocking: nothing to wait for */
    KD_CL(ctx->err, clEnqueueWriteBuffer(ctx->queue, dst, CL_FALSE, offset, bytes, src, 0, NULL, done));
    return KD_OK;
}

kd_status kd_wait(kd_ctx *ctx, int n, cl_event *ev) {
    cl_int e = CL_SUCCESS;
    for (int i = 0; i < n; i++) {
        if (!ev[i]) continue;
        if (e == CL_SUCCESS) e = clWaitForEvents(1, &ev[i]);
        clReleaseEvent(ev[i]);
        ev[i] = NULL;
    }
    KD_CL_RET(ctx->err, e, "clWaitForEvents");
    return KD_OK;
}

kd_status kd_flush(kd_ctx *ctx) {
    KD_CL(ctx->err, clFlush(ctx->queue));
    return KD_OK;
}

kd_status kd_staging_alloc(kd_ctx *ctx, size_t bytes, const char *what, kd_staging *out) {
    out->mem = NULL;
    out->host = NULL;
    cl_int e = CL_SUCCESS;
    out->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, bytes, NULL, &e);
    if (e == CL_SUCCESS) {
        out->host = clEnqueueMapBuffer(ctx->queue, out->mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, bytes, 0, NULL,
                                       NULL, &e);
        if (e != CL_SUCCESS) out->host = NULL;
    }
    if (!out->host) {
        /* Host-visible memory is an optimisation: fall back to plain memory. */
        if (out->mem) clReleaseMemObject(out->mem);
        out->mem = NULL;
        out->host = malloc(bytes);
        if (!out->host) return kd_fail(ctx->err, KD_ERR_NOMEM, "out of host memory for %s (%zu bytes)", what, bytes);
    }
    return KD_OK;
}

void kd_staging_free(kd_ctx *ctx, kd_staging *s) {
    if (s->mem) {
        if (s->host) {
            cl_event ev = NULL;
            if (clEnqueueUnmapMemObject(ctx->queue, s->mem, s->host, 0, NULL, &ev) == CL_SUCCESS) {
                clWaitForEvents(1, &ev);
                clReleaseEvent(ev);
            }
        }
        clReleaseMemObject(s->mem);
    } else {
        free(s->host);
    }
    s->mem = NULL;
    s->host = NULL;
}
