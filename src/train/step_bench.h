/* A model's training step (forward, cross-entropy, backward, Adam) and its
 * inference pass, timed on random data: what `kdcl bench` reports and what
 * `kdcl tune` checks a parameter set against before storing it. */
#ifndef KD_TRAIN_STEP_BENCH_H
#define KD_TRAIN_STEP_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ctx.h"
#include "src/model/model.h"
#include "src/train/optim.h"

typedef struct kd_step_bench {
    kd_model *m;
    cl_mem labels, state;
    kd_optim_cfg oc;
    long step;
    int batch, classes;
    double device_mib; /* what the training step holds on the device */
} kd_step_bench;

/* Builds `spec` for images c x h x w, plans it for training at `batch`,
 * fills its input with random pixels and its labels with every class. */
kd_status kd_step_bench_open(kd_ctx *ctx, const char *spec, int c, int h, int w, int classes, int batch,
                             kd_step_bench *b);
/* `count` training steps (train) or forward passes; ms[i] the wall time of
 * each, device work included (NULL: untimed warm-up). */
kd_status kd_step_bench_run(kd_step_bench *b, int count, bool train, double *ms);
/* The fastest of `repeat` runs after `warmup` ones, in ms (repeat <= 64):
 * on a shared machine other work only ever adds time, so the minimum is
 * the steadiest figure. */
kd_status kd_step_bench_min(kd_step_bench *b, int warmup, int repeat, bool train, double *min_ms);
void kd_step_bench_close(kd_step_bench *b);

/* n floats uniform in [lo, hi) from a fixed generator (seed), written to buf:
 * the same data on every run and device. */
kd_status kd_upload_uniform(kd_ctx *ctx, cl_mem buf, size_t n, uint64_t seed, float lo, float hi);

#endif
