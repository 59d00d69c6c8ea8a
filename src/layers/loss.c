/* Cross-entropy and distillation loss: host side of cl/loss.cl.
 *
 * The forwards need no scratch buffer: they run as a single work-group that
 * walks the batch and reduces in local memory (see cl/loss.cl), so a call
 * allocates nothing and its sums are deterministic for a given (n, device). */
#include "src/layers/loss.h"
#include "runtime/kernel.h"

#include <limits.h>
#include <math.h>

/* The kernels hard-code the accumulator layout. */
_Static_assert(KD_ACC_COUNT == 6, "cl/loss.cl assumes 6 accumulator slots in this order");

/* The forward's work-group: a power of two (for the tree reduction), no
 * larger than the batch needs nor than the kernel, the context and the
 * device's local memory allow. */
static size_t forward_wg(const kd_ctx *ctx, const kd_kernel *k, int n) {
    size_t cap = kd_reduction_cap(ctx, k, KD_ACC_COUNT * sizeof(float));
    if (cap > 256) cap = 256;
    size_t wg = 1;
    while (wg * 2 <= cap && wg < (size_t)n) wg *= 2;
    return wg;
}

static void check_sizes(int n, int classes) {
    KD_ASSERT(n >= 0);
    KD_ASSERT(classes >= 1);
    KD_ASSERT((long long)n * classes <= INT_MAX);
}

kd_status kd_ce_forward(kd_ctx *ctx, int n, int classes, cl_mem acc, cl_mem logits, cl_mem labels) {
    check_sizes(n, classes);
    if (!acc || n == 0) return KD_OK;
    KD_ASSERT(logits && labels);
    kd_kernel *k;
    KD_TRY(kd_kernel_get(ctx, "loss", "loss_ce_fwd", &k));
    size_t wg = forward_wg(ctx, k, n);
    return kd_launch(ctx, k, 1, &wg, &wg,
                     KD_ARGS(KD_ARG(acc), KD_ARG(logits), KD_ARG(labels), KD_ARG(n), KD_ARG(classes),
                             KD_LOCAL(KD_ACC_COUNT * wg * sizeof(float))));
}

kd_status kd_ce_backward(kd_ctx *ctx, int n, int classes, float scale, cl_mem dlogits, cl_mem logits,
                         cl_mem labels) {
    check_sizes(n, classes);
    if (n == 0) return KD_OK;
    KD_ASSERT(dlogits && logits && labels);
    return kd_run1d(ctx, "loss", "loss_ce_bwd", (size_t)n,
                    KD_ARGS(KD_ARG(dlogits), KD_ARG(logits), KD_ARG(labels), KD_ARG(n), KD_ARG(classes),
                            KD_ARG(scale)));
}

kd_status kd_distill_check(const kd_distill_cfg *cfg, kd_err *err) {
    KD_ASSERT(cfg);
    double T = cfg->temperature, a = cfg->alpha;
    if (!isfinite(T))
        return kd_fail(err, KD_ERR_USAGE, "--temperature must be a finite number > 0 (got %g); typical values are 2-8",
                       T);
    if (!(T > 0))
        return kd_fail(err, KD_ERR_USAGE, "--temperature must be > 0 (got %g); typical values are 2-8", T);
    if (cfg->method == KD_KD_DKD) {
        double da = cfg->dkd_alpha, db = cfg->dkd_beta;
        if (!(da >= 0 && isfinite(da)))
            return kd_fail(err, KD_ERR_USAGE, "--dkd-alpha must be a finite number >= 0 (got %g); the paper uses 1",
                           da);
        if (!(db >= 0 && isfinite(db)))
            return kd_fail(err, KD_ERR_USAGE,
                           "--dkd-beta must be a finite number >= 0 (got %g); the paper uses 8 (CIFAR-100) to 0.5 "
                           "(ImageNet)",
                           db);
        return KD_OK;
    }
    if (cfg->method != KD_KD_CLASSIC) return kd_fail(err, KD_ERR_USAGE, "unknown distillation method %d", (int)cfg->method);
    if (!(a >= 0 && a <= 1))
        return kd_fail(err, KD_ERR_USAGE,
                       "--alpha must be in [0, 1] (got %g): it weights the hard-label term, 1 trains on the "
                       "labels alone, 0 on the teacher alone; typical values are 0.1-0.5",
                       a);
    return KD_OK;
}

kd_status kd_distill_check_classes(const kd_distill_cfg *cfg, int classes, kd_err *err) {
    if (cfg->method == KD_KD_DKD && classes < 2)
        return kd_fail(err, KD_ERR_USAGE,
                       "--kd dkd splits the classes into the target and the others, so it needs at least 2 classes "
                       "(the data has %d)",
                       classes);
    return KD_OK;
}

kd_status kd_distill_forward(kd_ctx *ctx, const kd_distill_cfg *cfg, int n, int classes, cl_mem acc,
                             cl_mem student_logits, cl_mem teacher_logits, cl_mem labels) {
    KD_TRY(kd_distill_check(cfg, kd_ctx_err(ctx)));
    KD_TRY(kd_distill_check_classes(cfg, classes, kd_ctx_err(ctx)));
    check_sizes(n, classes);
    if (!acc || n == 0) return KD_OK;
    KD_ASSERT(student_logits && teacher_logits && labels);
    bool dkd = cfg->method == KD_KD_DKD;
    kd_kernel *k;
    KD_TRY(kd_kernel_get(ctx, "loss", dkd ? "loss_dkd_fwd" : "loss_distill_fwd", &k));
    size_t wg = forward_wg(ctx, k, n);
    float T = cfg->temperature, alpha = cfg->alpha, da = cfg->dkd_alpha, db = cfg->dkd_beta;
    if (dkd)
        return kd_launch(ctx, k, 1, &wg, &wg,
                         KD_ARGS(KD_ARG(acc), KD_ARG(student_logits), KD_ARG(teacher_logits), KD_ARG(labels),
                                 KD_ARG(n), KD_ARG(classes), KD_ARG(T), KD_ARG(da), KD_ARG(db),
                                 KD_LOCAL(KD_ACC_COUNT * wg * sizeof(float))));
    return kd_launch(ctx, k, 1, &wg, &wg,
                     KD_ARGS(KD_ARG(acc), KD_ARG(student_logits), KD_ARG(teacher_logits), KD_ARG(labels),
                             KD_ARG(n), KD_ARG(classes), KD_ARG(T), KD_ARG(alpha),
                             KD_LOCAL(KD_ACC_COUNT * wg * sizeof(float))));
}

kd_status kd_distill_backward(kd_ctx *ctx, const kd_distill_cfg *cfg, int n, int classes, float scale,
                              cl_mem dstudent, cl_mem student_logits, cl_mem teacher_logits, cl_mem labels) {
    KD_TRY(kd_distill_check(cfg, kd_ctx_err(ctx)));
    KD_TRY(kd_distill_check_classes(cfg, classes, kd_ctx_err(ctx)));
    check_sizes(n, classes);
    if (n == 0) return KD_OK;
    KD_ASSERT(dstudent && student_logits && teacher_logits && labels);
    float T = cfg->temperature, alpha = cfg->alpha, da = cfg->dkd_alpha, db = cfg->dkd_beta;
    if (cfg->method == KD_KD_DKD)
        return kd_run1d(ctx, "loss", "loss_dkd_bwd", (size_t)n,
                        KD_ARGS(KD_ARG(dstudent), KD_ARG(student_logits), KD_ARG(teacher_logits), KD_ARG(labels),
                                KD_ARG(n), KD_ARG(classes), KD_ARG(T), KD_ARG(da), KD_ARG(db), KD_ARG(scale)));
    return kd_run1d(ctx, "loss", "loss_distill_bwd", (size_t)n,
                    KD_ARGS(KD_ARG(dstudent), KD_ARG(student_logits), KD_ARG(teacher_logits), KD_ARG(labels),
                            KD_ARG(n), KD_ARG(classes), KD_ARG(T), KD_ARG(alpha), KD_ARG(scale)));
}
