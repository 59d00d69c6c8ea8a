/* kdcl's own CLBlast SGEMM parameters for devices whose CLBlast defaults
 * are far off, applied when no `kdcl tune` result is stored.
 *
 * CLBlast takes its kernel parameters from a database of tuned devices;
 * one it does not know gets generic defaults sized for GPUs (work-groups of
 * 64-256 items sharing tiles through local memory). POCL's CPU device runs
 * a work-group as a loop over its items, so those defaults leave it at a
 * fraction of what CLBlast's kernels reach with a few items per group,
 * each holding a 16 x 16 tile in registers (docs/benchmarks.md: SGEMM
 * 1024^3 11.4 -> 83.5 GFLOP/s on a 2-core AMD EPYC, ResNet training steps
 * 1.7-1.9x). The preset is such a set. `kdcl tune` measures against it and
 * stores only what beats it; KDCL_TUNE_PRESET=off (src/cli/session.c)
 * leaves CLBlast's defaults in place. */
#ifndef KD_TUNE_PRESET_H
#define KD_TUNE_PRESET_H

#include "runtime/ctx.h"
#include "runtime/tune_params.h"

/* The preset's text form for dev (runtime/tune_params.h), or NULL when
 * kdcl has none for that device. */
const char *kd_tune_preset_text(const kd_device_info *dev);

/* dev's preset as a parameter set; *found false when kdcl has none. */
kd_status kd_tune_preset(const kd_device_info *dev, kd_tune_set *out, bool *found, kd_err *err);

/* Applies dev's preset to ctx and sets ctx->preset; KD_OK with nothing
 * applied when there is none. */
kd_status kd_tune_apply_preset(kd_ctx *ctx);

#endif
