#include "runtime/ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#include "runtime/cache.h"
#include "runtime/clcheck.h"
#include "runtime/ctx_private.h"

/* "OpenCL C 1.2 PoCL" -> 102; 0 when unreadable (then the build decides). */
static int opencl_c_version(const char *s) {
    int major = 0, minor = 0;
    if (sscanf(s, "OpenCL C %d.%d", &major, &minor) != 2) return 0;
    return major * 100 + minor;
}

kd_status kd_ctx_create(const kd_device_info *dev, const kd_ctx_opts *opts, kd_ctx **out, kd_err *err) {
    *out = NULL;
    /* The kernels are built with -cl-std=CL1.2 and use 1.2's static
     * functions; the host calls 1.2 API (clEnqueueFillBuffer, markers). */
    int cver = opencl_c_version(dev->opencl_c_version);
    if (cver && cver < 102)
        return kd_fail(err, KD_ERR_USAGE,
                       "device %s supports %s, and kdcl needs OpenCL C 1.2 or later: select another device "
                       "('kdcl devices' lists them)",
                       dev->name, dev->opencl_c_version);
    /* Weights, images and labels go to the device as the host's
     * little-endian bytes; a big-endian device would read them wrong. */
    if (dev->big_endian)
        return kd_fail(err, KD_ERR_USAGE,
                       "device %s is big-endian, and kdcl passes little-endian data to its kernels: select another "
                       "device ('kdcl devices' lists them)",
                       dev->name);
    kd_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return kd_fail(err, KD_ERR_NOMEM, "out of host memory creating the OpenCL context");
    ctx->err = err ? err : &ctx->own_err;
    ctx->dev = *dev;
    ctx->profiling = opts && opts->profiling;
    ctx->quiet = opts && opts->quiet;
    kd_cache_dir_resolve(opts ? opts->cache_dir : NULL, ctx->cache_dir, sizeof ctx->cache_dir,
                         &ctx->cache_enabled);
    cl_int e = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)dev->platform, 0};
    ctx->context = clCreateContext(props, 1, &dev->device, NULL, NULL, &e);
    if (e != CL_SUCCESS) {
        kd_fail_cl(err, e, "clCreateContext", __FILE__, __LINE__);
        goto fail;
    }
    cl_command_queue_properties qp = ctx->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    /* clCreateCommandQueue is deprecated in 2.0 but it is the one call that
     * every 1.2 ICD (NVIDIA's included) implements. */
    ctx->queue = clCreateCommandQueue(ctx->context, dev->device, qp, &e);
    if (e != CL_SUCCESS) {
        kd_fail_cl(err, e, "clCreateCommandQueue", __FILE__, __LINE__);
        goto fail;
    }
    /* CPUs (POCL) run a work-group as one loop: larger groups amortise the
     * per-group overhead. GPUs want 128-256 for occupancy. */
    ctx->wg_limit = 256;
    ctx->serial_reductions = (dev->type & CL_DEVICE_TYPE_CPU) != 0;
    ctx->oclgrind = strstr(dev->platform_name, "Oclgrind") != NULL;
    if (dev->max_work_group && dev->max_work_group < ctx->wg_limit) ctx->wg_limit = dev->max_work_group;
    /* Callers size 1-D groups (reductions) up to wg_limit. */
    if (dev->max_item[0] && dev->max_item[0] < ctx->wg_limit) ctx->wg_limit = dev->max_item[0];
    *out = ctx;
    return KD_OK;
fail:
    kd_ctx_free(ctx);
    return err ? err->code : KD_ERR_CL;
}

void kd_ctx_free(kd_ctx *ctx) {
    if (!ctx) return;
    kd_drain(ctx); /* nothing to report to on the way out */
    for (int i = 0; i < ctx->npending; i++) {
        clReleaseEvent(ctx->pending[i]);
        if (ctx->pending_from[i]) clReleaseEvent(ctx->pending_from[i]);
    }
    free(ctx->pending);
    free(ctx->pending_from);
    free(ctx->pending_id);
    for (int i = 0; i < ctx->nkernels; i++) clReleaseKernel(ctx->kernels[i].k);
    for (int i = 0; i < ctx->nprograms; i++) clReleaseProgram(ctx->programs[i].program);
    /* CLBlast keeps the programs it built for this context in a process-wide
     * cache that it would otherwise release from a static destructor at exit,
     * after the OpenCL implementation may have torn itself down (under
     * oclgrind that corrupts the heap at exit). Releasing them here, while the
     * context is alive, also returns their memory to a long-lived process. */
    CLBlastClearCache();
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx);
}

static kd_status prof_flush(kd_ctx *ctx) {
    for (int i = 0; i < ctx->npending; i++) {
        cl_ulong t0 = 0, t1 = 0;
        cl_event ev = ctx->pending[i], from = ctx->pending_from[i];
        cl_profiling_info start = from ? CL_PROFILING_COMMAND_END : CL_PROFILING_COMMAND_START;
        if (clGetEventProfilingInfo(from ? from : ev, start, sizeof t0, &t0, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS &&
            t1 >= t0) {
            kd_prof_stat *st = &ctx->prof[ctx->pending_id[i]];
            st->ms += (double)(t1 - t0) * 1e-6;
            st->calls++;
        }
        clReleaseEvent(ev);
        if (from) clReleaseEvent(from);
    }
    ctx->npending = 0;
    return KD_OK;
}

void kd_drain(kd_ctx *ctx) {
    if (ctx && ctx->queue) clFinish(ctx->queue);
}

kd_status kd_finish(kd_ctx *ctx) {
    KD_CL(ctx->err, clFinish(ctx->queue));
    if (ctx->npending) return prof_flush(ctx);
    return KD_OK;
}

int kd_prof_id(kd_ctx *ctx, const char *name, bool is_gemm) {
    for (int i = 0; i < ctx->nprof; i++)
        if (ctx->prof[i].is_gemm == is_gemm && !strcmp(ctx->prof[i].name, name)) return i;
    if (ctx->nprof == KD_MAX_PROF) return KD_MAX_PROF - 1; /* lump the overflow into the last row */
    kd_prof_stat *st = &ctx->prof[ctx->nprof];
    snprintf(st->name, sizeof st->name, "%s", name);
    st->is_gemm = is_gemm;
    return ctx->nprof++;
}

kd_status kd_prof_track(kd_ctx *ctx, int id, cl_event ev) { return kd_prof_track_span(ctx, id, NULL, ev); }

cl_event kd_prof_marker(kd_ctx *ctx) {
    cl_event ev = NULL;
    if (ctx->profiling && clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &ev) != CL_SUCCESS) ev = NULL;
    return ev;
}

kd_status kd_prof_track_span(kd_ctx *ctx, int id, cl_event from, cl_event ev) {
    if (ctx->npending == ctx->pending_cap) {
        /* Bound the number of live events: time what has finished so far. */
        if (ctx->pending_cap >= 8192) KD_TRY(kd_finish(ctx));
        else {
            int cap = ctx->pending_cap ? ctx->pending_cap * 2 : 256;
            cl_event *p = realloc(ctx->pending, (size_t)cap * sizeof *p);
            if (!p) return kd_fail(ctx->err, KD_ERR_NOMEM, "out of host memory for profiling events");
            ctx->pending = p;
            int *ids = realloc(ctx->pending_id, (size_t)cap * sizeof *ids);
            if (!ids) return kd_fail(ctx->err, KD_ERR_NOMEM, "out of host memory for profiling events");
            ctx->pending_id = ids;
            cl_event *f = realloc(ctx->pending_from, (size_t)cap * sizeof *f);
            if (!f) return kd_fail(ctx->err, KD_ERR_NOMEM, "out of host memory for profiling events");
            ctx->pending_from = f;
            ctx->pending_cap = cap;
        }
    }
    ctx->pending[ctx->npending] = ev;
    ctx->pending_from[ctx->npending] = from;
    ctx->pending_id[ctx->npending++] = id;
    return KD_OK;
}

void kd_prof_reset(kd_ctx *ctx) {
    for (int i = 0; i < ctx->nprof; i++) {
        ctx->prof[i].ms = 0;
        ctx->prof[i].calls = 0;
    }
}

static int cmp_prof(const void *a, const void *b) {
    const kd_prof_stat *x = *(kd_prof_stat *const *)a, *y = *(kd_prof_stat *const *)b;
    return (x->ms < y->ms) - (x->ms > y->ms);
}

void kd_prof_print(const kd_ctx *ctx, double wall_ms, FILE *out) {
    const kd_prof_stat *rows[KD_MAX_PROF];
    int n = 0;
    double total = 0, gemm = 0;
    for (int i = 0; i < ctx->nprof; i++) {
        if (!ctx->prof[i].calls) continue;
        rows[n++] = &ctx->prof[i];
        total += ctx->prof[i].ms;
        if (ctx->prof[i].is_gemm) gemm += ctx->prof[i].ms;
    }
    qsort(rows, (size_t)n, sizeof rows[0], cmp_prof);
    fprintf(out, "profile (device time from OpenCL events, %s)\n", ctx->dev.name);
    fprintf(out, "  %-34s %5s %9s %11s %7s\n", "kernel", "kind", "calls", "total ms", "share");
    for (int i = 0; i < n; i++)
        fprintf(out, "  %-34s %5s %9ld %11.1f %6.1f%%\n", rows[i]->name, rows[i]->is_gemm ? "gemm" : "own",
                rows[i]->calls, rows[i]->ms, total > 0 ? 100.0 * rows[i]->ms / total : 0.0);
    fprintf(out, "  %-34s %5s %9s %11.1f %6.1f%%\n", "GEMM (CLBlast)", "", "", gemm,
            total > 0 ? 100.0 * gemm / total : 0.0);
    fprintf(out, "  %-34s %5s %9s %11.1f %6.1f%%\n", "own kernels", "", "", total - gemm,
            total > 0 ? 100.0 * (total - gemm) / total : 0.0);
    if (wall_ms > 0) {
        double host = wall_ms - total;
        fprintf(out, "  wall %.1f ms, kernels %.1f ms, host/idle not covered by kernels %.1f ms (%.1f%%)\n",
                wall_ms, total, host > 0 ? host : 0.0, host > 0 ? 100.0 * host / wall_ms : 0.0);
    }
}

void kd_prof_print_steps(const kd_ctx *ctx, const char *what, long steps, long commands, long blas_calls, FILE *out) {
    if (steps > 0)
        fprintf(out, "  %s: per training step (mean of %ld) %.1f kdcl commands (kernels, copies, fills) + %.1f CLBlast calls\n",
                what, steps, (double)commands / (double)steps, (double)blas_calls / (double)steps);
    fprintf(out, "  peak device memory: %.1f MiB in kdcl's buffers (CLBlast's temporary buffers not counted)\n",
            (double)ctx->mem_peak / (1024.0 * 1024.0));
}

const kd_device_info *kd_ctx_device(const kd_ctx *ctx) { return &ctx->dev; }
kd_err *kd_ctx_err(const kd_ctx *ctx) { return ctx->err; }
bool kd_ctx_serial_reductions(const kd_ctx *ctx) { return ctx->serial_reductions; }
void kd_ctx_set_serial_reductions(kd_ctx *ctx, bool on) { ctx->serial_reductions = on; }
void kd_ctx_set_local_mem(kd_ctx *ctx, uint64_t bytes) { ctx->dev.local_mem = bytes; }
bool kd_ctx_is_oclgrind(const kd_ctx *ctx) { return ctx->oclgrind; }
bool kd_ctx_quiet(const kd_ctx *ctx) { return ctx->quiet; }
const char *kd_ctx_cache_dir(const kd_ctx *ctx) { return ctx->cache_dir; }
bool kd_ctx_tuned(const kd_ctx *ctx) { return ctx->tuned; }
bool kd_ctx_preset(const kd_ctx *ctx) { return ctx->preset; }
kd_ctx_counts kd_ctx_counters(const kd_ctx *ctx) {
    return (kd_ctx_counts){.commands = ctx->commands,
                           .blas_calls = ctx->blas_calls,
                           .mem_in_use = ctx->mem_in_use,
                           .mem_peak = ctx->mem_peak,
                           .programs_from_source = ctx->programs_from_source,
                           .programs_from_cache = ctx->programs_from_cache};
}
int kd_prof_rows(const kd_ctx *ctx) { return ctx->nprof; }
const kd_prof_stat *kd_prof_row(const kd_ctx *ctx, int i) { return &ctx->prof[i]; }
