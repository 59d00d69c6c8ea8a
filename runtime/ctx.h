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

typedef struct kd_ctx kd_ctx;       /* opaque: runtime/ctx_private.h */
typedef struct kd_kernel kd_kernel; /* a kernel of a context's table (runtime/kernel.h) */

typedef struct kd_ctx_opts {
    bool profiling;        /* record an event per launch (costs a little) */
    const char *cache_dir; /* NULL: KDCL_CACHE_DIR / XDG_CACHE_HOME / ~/.cache; "off" disables */
    bool quiet;            /* no warnings on stderr (e.g. an ignored tuning file, src/cli/session.c) */
} kd_ctx_opts;

/* One row of the profile: a kernel (or CLBlast call) and its totals. */
typedef struct kd_prof_stat {
    char name[64];
    bool is_gemm;
    double ms;
    long calls;
} kd_prof_stat;

/* What a context has done so far: commands enqueued (kdcl's kernels,
 * copies and fills), CLBlast calls (each one to a few kernels inside
 * CLBlast), bytes of device buffers kdcl allocated, now and at most, and
 * how its programs were obtained. */
typedef struct kd_ctx_counts {
    long commands, blas_calls;
    uint64_t mem_in_use, mem_peak;
    int programs_from_source, programs_from_cache; /* cl/ programs built, and loaded from the disk cache */
} kd_ctx_counts;

/* Creates a context and queue on `dev`. On failure *out is NULL and err says
 * why; after success every call on the context reports into err (which
 * must outlive it), or into the context's own kd_err when err is NULL. */
kd_status kd_ctx_create(const kd_device_info *dev, const kd_ctx_opts *opts, kd_ctx **out, kd_err *err);
void kd_ctx_free(kd_ctx *ctx);

/* The device it runs on. */
const kd_device_info *kd_ctx_device(const kd_ctx *ctx);
/* The caller's kd_err given to kd_ctx_create: every failing call on the
 * context has left its message there. */
kd_err *kd_ctx_err(const kd_ctx *ctx);
/* CPU devices: per-channel reductions as one work-item each, no barriers
 * (set from the device type; tests switch it to cover both kernel families). */
bool kd_ctx_serial_reductions(const kd_ctx *ctx);
void kd_ctx_set_serial_reductions(kd_ctx *ctx, bool on);
/* Tests: kernels are fitted as if the device had `bytes` of local memory
 * (an embedded-profile device has 1 KiB). */
void kd_ctx_set_local_mem(kd_ctx *ctx, uint64_t bytes);
/* The device is oclgrind's simulator (tests shrink their sizes there). */
bool kd_ctx_is_oclgrind(const kd_ctx *ctx);
/* Created with kd_ctx_opts.quiet: warnings are not printed. */
bool kd_ctx_quiet(const kd_ctx *ctx);
/* The on-disk cache directory (programs, tuning); "" when disabled. */
const char *kd_ctx_cache_dir(const kd_ctx *ctx);
/* Which CLBlast GEMM parameters apply: stored tuning from `kdcl tune`
 * (runtime/tune_store.h), or else kdcl's preset for the device
 * (runtime/tune_preset.h), or neither (CLBlast's defaults). */
bool kd_ctx_tuned(const kd_ctx *ctx);
bool kd_ctx_preset(const kd_ctx *ctx);
kd_ctx_counts kd_ctx_counters(const kd_ctx *ctx);

/* Waits for the queue and, when profiling, folds finished events into totals. */
kd_status kd_finish(kd_ctx *ctx);
/* Waits for the queue, best effort, leaving the error alone: for clean-up
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
/* The profile's rows so far (folded in by kd_finish), in first-seen order. */
int kd_prof_rows(const kd_ctx *ctx);
const kd_prof_stat *kd_prof_row(const kd_ctx *ctx, int i);
/* Table sorted by time: kernel, calls, total ms, share; GEMM and own kernels
 * subtotalled; wall_ms (if >0) gives the host time not covered by kernels. */
void kd_prof_print(const kd_ctx *ctx, double wall_ms, FILE *out);
/* What a training step costs beyond time (the GPU-readiness figures):
 * commands and CLBlast calls per step over `steps` steps (counted with
 * kd_ctx_counters around them), and kdcl's peak device memory. */
void kd_prof_print_steps(const kd_ctx *ctx, const char *what, long steps, long commands, long blas_calls, FILE *out);

#endif
