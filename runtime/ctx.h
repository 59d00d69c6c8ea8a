/* The OpenCL context of one selected device: context, in-order queue, the
 * tables of compiled programs and kernels (filled by runtime/program.c and
 * runtime/kernel.c), profiling and memory accounting. Everything
 * device-side in kdcl goes through a kd_ctx. */
#ifndef KD_CTX_H
#define KD_CTX_H

#include <CL/cl.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/device.h"
#include "runtime/status.h"

#define KD_MAX_KERNELS 256
#define KD_MAX_PROGRAMS 32
#define KD_MAX_PROF 320

typedef struct kd_kernel {
    cl_kernel k;
    char name[64];
    size_t wg_multiple; /* CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE */
    size_t max_wg;      /* CL_KERNEL_WORK_GROUP_SIZE */
    size_t local_bytes; /* CL_KERNEL_LOCAL_MEM_SIZE before arguments: its own __local use */
    int prof_id;
} kd_kernel;

typedef struct kd_prof_stat {
    char name[64];
    bool is_gemm;
    double ms;
    long calls;
} kd_prof_stat;

typedef struct kd_program_entry {
    const char *name;
    cl_program program;
} kd_program_entry;

typedef struct kd_ctx_opts {
    bool profiling;        /* record an event per launch (costs a little) */
    const char *cache_dir; /* NULL: KDCL_CACHE_DIR / XDG_CACHE_HOME / ~/.cache; "off" disables */
    bool quiet;            /* no warnings on stderr (e.g. an ignored tuning file, src/cli/session.c) */
} kd_ctx_opts;

typedef struct kd_ctx {
    kd_device_info dev;
    cl_context context;
    cl_command_queue queue;
    /* Where every call on this context reports its error: the kd_err its
     * creator passed to kd_ctx_create (own_err when it passed none), so
     * a command has one error to print whichever layer failed. */
    kd_err *err;
    kd_err own_err;
    bool profiling, quiet;
    bool tuned;  /* stored CLBlast GEMM tuning (kdcl tune) was applied, see runtime/tune_store.h */
    bool preset; /* no stored tuning; kdcl's preset for this device was applied, see runtime/tune_preset.h */

    bool cache_enabled;
    char cache_dir[1024];

    kd_program_entry programs[KD_MAX_PROGRAMS];
    int nprograms;
    int programs_from_source, programs_from_cache; /* counters, for tests and --profile */

    kd_kernel kernels[KD_MAX_KERNELS];
    int nkernels;
    size_t wg_limit; /* upper bound for automatically chosen work-group sizes */
    /* The device is oclgrind's simulator. Its uninitialised-value checker
     * (21.10) forgets what a kernel stored into a buffer the host never
     * wrote, and what clEnqueueFillBuffer wrote, so every later read of
     * such data would be reported. There, new buffers are written from the
     * host with an all-ones pattern (NaN as a float, -1 as an int: a read
     * of data no kernel wrote still shows up in the results) and fills are
     * host writes. */
    bool oclgrind;
    bool serial_reductions; /* CPU devices: per-channel reductions as one work-item each, no barriers
                               (set from the device type; tests flip it to cover both kernels) */

    kd_prof_stat prof[KD_MAX_PROF];
    int nprof;
    cl_event *pending;
    cl_event *pending_from; /* NULL entry: time the event itself; else from this event's end */
    int *pending_id;
    int npending, pending_cap;

    uint64_t mem_in_use, mem_peak; /* bytes of device buffers kdcl allocated */
    /* Commands enqueued so far: kdcl's kernels, copies and fills; CLBlast
     * calls (each one to a few kernels inside CLBlast). Always counted. */
    long commands, blas_calls;
} kd_ctx;

/* Creates a context and queue on `dev`. On failure *out is NULL and err says
 * why; after success every call on the context reports into err (which
 * must outlive it), or into the context's own kd_err when err is NULL. */
kd_status kd_ctx_create(const kd_device_info *dev, const kd_ctx_opts *opts, kd_ctx **out, kd_err *err);
void kd_ctx_free(kd_ctx *ctx);

/* Waits for the queue and, when profiling, folds finished events into totals. */
kd_status kd_finish(kd_ctx *ctx);
/* Waits for the queue, best effort, leaving ctx->err alone: for clean-up
 * paths whose status is already decided. */
void kd_drain(kd_ctx *ctx);

/* Profiling: an event for `id` (from kd_prof_id) to be timed at the next kd_finish. */
int kd_prof_id(kd_ctx *ctx, const char *name, bool is_gemm);
kd_status kd_prof_track(kd_ctx *ctx, int id, cl_event ev);
/* Times from the end of `from` (a marker) to the end of `to`: for library
 * calls such as CLBlast's that run several kernels but return one event. */
kd_status kd_prof_track_span(kd_ctx *ctx, int id, cl_event from, cl_event to);
/* A marker to pass as `from`, or NULL when not profiling. */
cl_event kd_prof_marker(kd_ctx *ctx);
void kd_prof_reset(kd_ctx *ctx);
/* Table sorted by time: kernel, calls, total ms, share; GEMM and own kernels
 * subtotalled; wall_ms (if >0) gives the host time not covered by kernels. */
void kd_prof_print(const kd_ctx *ctx, double wall_ms, FILE *out);
/* What a training step costs beyond time (the GPU-readiness figures):
 * commands and CLBlast calls per step over `steps` steps (counted with
 * kd_ctx.commands / blas_calls around them), and kdcl's peak device memory. */
void kd_prof_print_steps(const kd_ctx *ctx, const char *what, long steps, long commands, long blas_calls, FILE *out);

#endif
