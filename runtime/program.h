/* OpenCL programs: one per cl/<name>.cl file, with cl/common.cl prepended,
 * built once per context (binary served from the disk cache when it can be). */
#ifndef KD_PROGRAM_H
#define KD_PROGRAM_H

#include <CL/cl.h>

#include "runtime/status.h"

typedef struct kd_cl_source {
    const char *name; /* file stem: "conv" for cl/conv.cl */
    const char *text;
} kd_cl_source;

/* Generated at build time from cl/ (cmake/embed_cl.cmake); ends with {0,0}. */
extern const kd_cl_source kd_cl_sources[];

/* No fast-math options (-cl-fast-relaxed-math, -cl-finite-math-only):
 * kernels rely on NaN and infinity behaving as IEEE says (the NaN checks of
 * pool.cl and optim.cl, NaN-poisoned losses of bad labels in loss.cl, the
 * -INFINITY start of DKD's maxima). */
#define KD_CL_BUILD_OPTIONS "-cl-std=CL1.2"

struct kd_ctx;
/* The program for cl/<name>.cl, built on first use. */
kd_status kd_program_get(struct kd_ctx *ctx, const char *name, cl_program *out);
/* Builds every program (used by tests and for timing cold/warm builds). */
kd_status kd_programs_build_all(struct kd_ctx *ctx);

#endif
