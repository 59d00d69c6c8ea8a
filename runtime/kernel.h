/* Launching kdcl's own kernels: a kernel of cl/<prog>.cl by name (built on
 * first use, kept in the context's table), its arguments, and the
 * work-group size fitted to the device when the caller gives none. */
#ifndef KD_KERNEL_H
#define KD_KERNEL_H

#include "runtime/ctx.h"

/* Kernel `name` of program `prog` (cl/<prog>.cl), built on first use. */
kd_status kd_kernel_get(kd_ctx *ctx, const char *prog, const char *name, kd_kernel **out);

typedef struct kd_arg {
    size_t size;
    const void *ptr; /* NULL with size>0: __local memory of that many bytes */
} kd_arg;
#define KD_ARG(x) ((kd_arg){sizeof(x), &(x)})
#define KD_LOCAL(bytes) ((kd_arg){(bytes), NULL})
/* Expands to "count, array" for kd_launch / kd_run*. */
#define KD_ARGS(...) (int)(sizeof((kd_arg[]){__VA_ARGS__}) / sizeof(kd_arg)), (kd_arg[]){__VA_ARGS__}

/* The largest work-group a reduction may give kernel k when each of its
 * items needs `local_per_item` bytes of __local scratch: within the
 * kernel's and the context's limits and within the device's local memory
 * (after what the kernel uses itself), at least 1. An embedded-profile
 * device (1 KiB of local memory) then runs with smaller groups instead of
 * failing. */
size_t kd_reduction_cap(const kd_ctx *ctx, const kd_kernel *k, size_t local_per_item);

/* Sets the arguments and enqueues. global is the logical size: it is rounded
 * up to a multiple of the work-group size, so kernels bound-check their ids.
 * local NULL: fitted to the global size within the kernel's limit,
 * ctx->wg_limit and the device's per-dimension limits. */
kd_status kd_launch(kd_ctx *ctx, kd_kernel *k, int dims, const size_t *global, const size_t *local,
                    int nargs, const kd_arg *args);
kd_status kd_run1d(kd_ctx *ctx, const char *prog, const char *name, size_t n, int nargs,
                   const kd_arg *args);
kd_status kd_run2d(kd_ctx *ctx, const char *prog, const char *name, size_t n0, size_t n1,
                   int nargs, const kd_arg *args);
kd_status kd_run3d(kd_ctx *ctx, const char *prog, const char *name, size_t n0, size_t n1,
                   size_t n2, int nargs, const kd_arg *args);

#endif
