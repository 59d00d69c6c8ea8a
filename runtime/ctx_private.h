/* Private to runtime/: the fields of a kd_ctx, which the context, program,
 * kernel, buffer, BLAS and tuning files fill and read. Everything above
 * runtime/ uses runtime/ctx.h's accessors. */
#ifndef KD_CTX_PRIVATE_H
#define KD_CTX_PRIVATE_H

#include "runtime/ctx.h"

#define KD_MAX_KERNELS 256
#define KD_MAX_PROGRAMS 32
#define KD_MAX_PROF 320

struct kd_kernel {
    cl_kernel k;
    char name[64];
    size_t wg_multiple; /* CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE */
    size_t max_wg;      /* CL_KERNEL_WORK_GROUP_SIZE */
    size_t local_bytes; /* CL_KERNEL_LOCAL_MEM_SIZE before arguments: its own __local use */
    int prof_id;
};

typedef struct kd_program_entry {
    const char *name;
    cl_program program;
} kd_program_entry;

struct kd_ctx {
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
};


#endif
