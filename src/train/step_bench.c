#include "src/train/step_bench.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/rng.h"
#include "src/train/step.h"
#include "src/train/progress.h"

kd_status kd_upload_uniform(kd_ctx *ctx, cl_mem buf, size_t n, uint64_t seed, float lo, float hi) {
    float *h = malloc(n * sizeof *h);
    if (!h) return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory (%zu floats)", n);
    kd_rng64 r = {seed};
    for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * (float)kd_rng64_unit(&r);
    kd_status st = kd_write(ctx, buf, 0, n * sizeof *h, h, true);
    free(h);
    return st;
}

kd_status kd_step_bench_open(kd_ctx *ctx, const char *spec, int c, int h, int w, int classes, int batch,
                             kd_step_bench *b) {
    memset(b, 0, sizeof *b);
    b->batch = batch;
    b->classes = classes;
    b->oc = kd_optim_default(KD_OPTIM_ADAM);
    uint64_t base = kd_ctx_counters(ctx).mem_in_use;
    KD_TRY(kd_model_build(spec, c, h, w, classes, &b->m, kd_ctx_err(ctx)));
    KD_TRY(kd_model_attach(b->m, ctx, 1));
    KD_TRY(kd_model_plan(b->m, batch, true));
    size_t nstate =
        (size_t)kd_optim_state_per_param(&b->oc) * kd_model_trainable(b->m).floats; /* known once attached */
    if (nstate == 0) nstate = 1;
    KD_TRY(kd_upload_uniform(ctx, kd_model_input(b->m), (size_t)batch * (size_t)(c * h * w), 4, 0, 1));
    KD_TRY(kd_buffer_alloc(ctx, (size_t)batch * sizeof(int), "bench labels", &b->labels));
    KD_TRY(kd_buffer_alloc(ctx, nstate * sizeof(float), "bench optimizer state", &b->state));
    KD_TRY(kd_fill(ctx, b->state, 0, nstate * sizeof(float), 0.0f));
    int *lab = malloc((size_t)batch * sizeof *lab);
    if (!lab) return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory");
    for (int i = 0; i < batch; i++) lab[i] = (i * 7 + 3) % classes;
    kd_status st = kd_write(ctx, b->labels, 0, (size_t)batch * sizeof *lab, lab, true);
    free(lab);
    b->device_mib = (double)(kd_ctx_counters(ctx).mem_in_use - base) / (1024.0 * 1024.0);
    return st;
}

kd_status kd_step_bench_run(kd_step_bench *b, int count, bool train, double *ms) {
    kd_model *m = b->m;
    kd_ctx *ctx = kd_model_ctx(m);
    int n = b->batch;
    for (int i = 0; i < count; i++) {
        double t0 = kd_now();
        if (train) {
            kd_step_loss loss = {.labels = b->labels, .scale = 1.0f / (float)n};
            KD_TRY(kd_step_grads(m, n, &loss));
            KD_TRY(kd_step_update(m, &b->oc, b->state, 1e-3f, ++b->step, NULL));
        } else {
            KD_TRY(kd_model_forward(m, n, false));
        }
        KD_TRY(kd_finish(ctx));
        if (ms) ms[i] = (kd_now() - t0) * 1e3;
    }
    return KD_OK;
}

kd_status kd_step_bench_min(kd_step_bench *b, int warmup, int repeat, bool train, double *min_ms) {
    double ms[64];
    if (repeat < 1) repeat = 1;
    if (repeat > 64) repeat = 64;
    KD_TRY(kd_step_bench_run(b, warmup, train, NULL));
    KD_TRY(kd_step_bench_run(b, repeat, train, ms));
    *min_ms = ms[0];
    for (int i = 1; i < repeat; i++)
        if (ms[i] < *min_ms) *min_ms = ms[i];
    return KD_OK;
}

void kd_step_bench_close(kd_step_bench *b) {
    if (!b->m) return;
    kd_ctx *ctx = kd_model_ctx(b->m);
    if (ctx) {
        kd_buffer_free(ctx, b->labels);
        kd_buffer_free(ctx, b->state);
    }
    kd_model_free(b->m);
    memset(b, 0, sizeof *b);
}
