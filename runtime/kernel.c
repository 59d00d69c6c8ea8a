#include "runtime/kernel.h"

#include <stdio.h>
#include <string.h>

#include "runtime/clcheck.h"
#include "runtime/ctx_private.h"
#include "runtime/program.h"

kd_status kd_kernel_get(kd_ctx *ctx, const char *prog, const char *name, kd_kernel **out) {
    for (int i = 0; i < ctx->nkernels; i++)
        if (!strcmp(ctx->kernels[i].name, name)) {
            *out = &ctx->kernels[i];
            return KD_OK;
        }
    if (ctx->nkernels == KD_MAX_KERNELS)
        return kd_fail(ctx->err, KD_ERR_CL, "too many kernels (raise KD_MAX_KERNELS in runtime/ctx.h)");
    cl_program p;
    KD_TRY(kd_program_get(ctx, prog, &p));
    cl_int e = CL_SUCCESS;
    cl_kernel k = clCreateKernel(p, name, &e);
    if (e != CL_SUCCESS) {
        kd_fail_cl(ctx->err, e, "clCreateKernel", __FILE__, __LINE__);
        kd_err_prefix(ctx->err, "kernel '%s' of cl/%s.cl: ", name, prog);
        return ctx->err->code;
    }
    kd_kernel *kk = &ctx->kernels[ctx->nkernels];
    memset(kk, 0, sizeof *kk);
    kk->k = k;
    snprintf(kk->name, sizeof kk->name, "%s", name);
    cl_int e1 = clGetKernelWorkGroupInfo(k, ctx->dev.device, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                         sizeof kk->wg_multiple, &kk->wg_multiple, NULL);
    cl_int e2 = clGetKernelWorkGroupInfo(k, ctx->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kk->max_wg,
                                         &kk->max_wg, NULL);
    /* Before any argument is set: the kernel's own __local arrays and what
     * the implementation needs, which kd_launch adds to the arguments'. */
    cl_ulong own = 0;
    cl_int e3 = clGetKernelWorkGroupInfo(k, ctx->dev.device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof own, &own, NULL);
    kk->local_bytes = e3 == CL_SUCCESS ? (size_t)own : 0;
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS) {
        clReleaseKernel(k);
        kd_fail_cl(ctx->err, e1 != CL_SUCCESS ? e1 : e2, "clGetKernelWorkGroupInfo", __FILE__, __LINE__);
        kd_err_prefix(ctx->err, "kernel '%s' of cl/%s.cl: ", name, prog);
        return ctx->err->code;
    }
    if (!kk->wg_multiple) kk->wg_multiple = 1;
    if (!kk->max_wg) kk->max_wg = 64;
    kk->prof_id = kd_prof_id(ctx, name, false);
    ctx->nkernels++;
    *out = kk;
    return KD_OK;
}

size_t kd_reduction_cap(const kd_ctx *ctx, const kd_kernel *k, size_t local_per_item) {
    size_t cap = k->max_wg < ctx->wg_limit ? k->max_wg : ctx->wg_limit;
    size_t mem = (size_t)ctx->dev.local_mem;
    if (mem && local_per_item) {
        size_t room = mem > k->local_bytes ? (mem - k->local_bytes) / local_per_item : 0;
        if (room < cap) cap = room;
    }
    return cap > 0 ? cap : 1;
}

kd_status kd_launch(kd_ctx *ctx, kd_kernel *k, int dims, const size_t *global, const size_t *local,
                    int nargs, const kd_arg *args) {
    /* Local memory and explicit group sizes are sized by their callers from
     * the kernel's limits; a device below what they ask (an embedded-profile
     * device has 1 KiB of local memory) gets a named error here rather than
     * an opaque CL_OUT_OF_RESOURCES from the enqueue. */
    size_t local_bytes = k->local_bytes;
    for (int i = 0; i < nargs; i++)
        if (!args[i].ptr) local_bytes += args[i].size;
    if (local_bytes && ctx->dev.local_mem && local_bytes > ctx->dev.local_mem)
        return kd_fail(ctx->err, KD_ERR_CL,
                       "kernel %s needs %zu bytes of local memory; device %s has %llu: this device is too small "
                       "for kdcl (select another with --device)",
                       k->name, local_bytes, ctx->dev.name, (unsigned long long)ctx->dev.local_mem);
    if (local) {
        size_t total = 1;
        for (int d = 0; d < dims; d++) {
            total *= local[d];
            KD_ASSERT(!ctx->dev.max_item[d] || local[d] <= ctx->dev.max_item[d]);
        }
        KD_ASSERT(total <= k->max_wg);
    }
    for (int i = 0; i < nargs; i++) {
        cl_int e = clSetKernelArg(k->k, (cl_uint)i, args[i].size, args[i].ptr);
        if (e != CL_SUCCESS) {
            kd_fail_cl(ctx->err, e, "clSetKernelArg", __FILE__, __LINE__);
            kd_err_prefix(ctx->err, "kernel %s, argument %d: ", k->name, i);
            return ctx->err->code;
        }
    }
    size_t loc[3] = {1, 1, 1}, glob[3] = {1, 1, 1};
    for (int d = 0; d < dims; d++) glob[d] = global[d];
    if (local) {
        for (int d = 0; d < dims; d++) loc[d] = local[d];
    } else {
        /* Fitted, not rounded to powers of two: x takes as much of the row
         * as the budget allows (a 34-wide row does not idle half of a 64-wide
         * group), then y, then z, each within the device's per-dimension
         * limit (NVIDIA allows only 64 in z). */
        size_t budget = k->max_wg < ctx->wg_limit ? k->max_wg : ctx->wg_limit;
        for (int d = 0; d < dims; d++) {
            size_t l = glob[d] < budget ? glob[d] : budget;
            if (ctx->dev.max_item[d] && l > ctx->dev.max_item[d]) l = ctx->dev.max_item[d];
            /* A group that does not cover the whole row: whole SIMD groups
             * (warps, wavefronts, vector lanes; the kernel's preferred
             * multiple), so that only the row's last group is partial. */
            if (d == 0 && l < glob[d] && l > k->wg_multiple) l -= l % k->wg_multiple;
            loc[d] = l > 0 ? l : 1;
            budget /= loc[d];
            if (budget < 1) budget = 1;
        }
    }
    for (int d = 0; d < dims; d++) {
        if (glob[d] == 0) return KD_OK; /* nothing to do */
        glob[d] = (glob[d] + loc[d] - 1) / loc[d] * loc[d];
    }
    cl_event ev = NULL;
    ctx->commands++;
    cl_int e = clEnqueueNDRangeKernel(ctx->queue, k->k, (cl_uint)dims, NULL, glob, loc, 0, NULL,
                                      ctx->profiling ? &ev : NULL);
    if (e != CL_SUCCESS) {
        kd_fail_cl(ctx->err, e, "clEnqueueNDRangeKernel", __FILE__, __LINE__);
        kd_err_prefix(ctx->err, "kernel %s (global %zux%zux%zu, local %zux%zux%zu): ", k->name, glob[0],
                      glob[1], glob[2], loc[0], loc[1], loc[2]);
        return ctx->err->code;
    }
    if (ev) return kd_prof_track(ctx, k->prof_id, ev);
    return KD_OK;
}

kd_status kd_run1d(kd_ctx *ctx, const char *prog, const char *name, size_t n, int nargs,
                   const kd_arg *args) {
    kd_kernel *k;
    KD_TRY(kd_kernel_get(ctx, prog, name, &k));
    size_t g[1] = {n};
    return kd_launch(ctx, k, 1, g, NULL, nargs, args);
}

kd_status kd_run2d(kd_ctx *ctx, const char *prog, const char *name, size_t n0, size_t n1,
                   int nargs, const kd_arg *args) {
    kd_kernel *k;
    KD_TRY(kd_kernel_get(ctx, prog, name, &k));
    size_t g[2] = {n0, n1};
    return kd_launch(ctx, k, 2, g, NULL, nargs, args);
}

kd_status kd_run3d(kd_ctx *ctx, const char *prog, const char *name, size_t n0, size_t n1,
                   size_t n2, int nargs, const kd_arg *args) {
    kd_kernel *k;
    KD_TRY(kd_kernel_get(ctx, prog, name, &k));
    size_t g[3] = {n0, n1, n2};
    return kd_launch(ctx, k, 3, g, NULL, nargs, args);
}
