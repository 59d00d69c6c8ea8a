/* The distillation loss (cl/loss.cl, ../shared/DESIGN.md section 2) against
 * a float64 plain-C reference:
 *   L = (1/B) sum_b [alpha CE(y, softmax(s)) + (1-alpha) T^2 KL(softmax(t/T) || softmax(s/T))]
 * forward sums for several (T, alpha) with logits of magnitude 100 and 1000,
 * the backward against the analytic gradient and central differences, KL = 0
 * for identical logits, alpha = 1 equal to plain CE, the T^2 factor keeping
 * the soft gradient O(1) as T grows, the teacher left untouched, in-place
 * backward, and kd_distill_check's refusals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/loss.h"
#include "tests/harness.h"
#include "tests/ref/distill.h"
#include "tests/ref/logits.h"

/* log sum_j exp(x_j / T) in double, max subtracted. */
static double lse_d(const double *x, int c, double T) {
    double m = x[0] / T, z = 0;
    for (int j = 1; j < c; j++) m = fmax(m, x[j] / T);
    for (int j = 0; j < c; j++) z += exp(x[j] / T - m);
    return m + log(z);
}

/* One sample: v = {alpha CE + (1-alpha) T^2 KL, CE, T^2 KL}. */
static void ref_sample(const kd_distill_cfg *cfg, const double *s, const double *t, int c, int y, double v[3]) {
    double T = cfg->temperature, alpha = cfg->alpha;
    double hard = lse_d(s, c, 1) - s[y];
    double ls = lse_d(s, c, T), lt = lse_d(t, c, T), kl = 0;
    for (int j = 0; j < c; j++) {
        double a = t[j] / T - lt, b = s[j] / T - ls;
        kl += exp(a) * (a - b);
    }
    double soft = T * T * kl;
    v[0] = alpha * hard + (1 - alpha) * soft;
    v[1] = hard;
    v[2] = soft;
}

/* Its analytic gradient: alpha (p - y) + (1-alpha) T (p_s^T - p_t^T). */
static void ref_grad(const kd_distill_cfg *cfg, const double *s, const double *t, int c, int y, double *g) {
    double T = cfg->temperature, alpha = cfg->alpha;
    double l1 = lse_d(s, c, 1), ls = lse_d(s, c, T), lt = lse_d(t, c, T);
    for (int k = 0; k < c; k++)
        g[k] = alpha * (exp(s[k] - l1) - (k == y)) + (1 - alpha) * T * (exp(s[k] / T - ls) - exp(t[k] / T - lt));
}

static const th_loss_ref REF = {ref_sample, ref_grad, 1.0};

/* Largest error/tolerance ratios seen, printed at the end (test-only state). */
static th_loss_worst worst_seen;

/* Forward and backward against the reference for one (n, c, T, alpha, big). */
static void run_case(kd_ctx *ctx, th_rng *r, int n, int c, float T, float alpha, float big) {
    kd_distill_cfg cfg = {.temperature = T, .alpha = alpha};
    char what[128];
    snprintf(what, sizeof what, "distill n=%d c=%d T=%g alpha=%g big=%g", n, c, T, alpha, big);
    th_distill_case(ctx, r, &cfg, &REF, n, c, big, what, &worst_seen);
}

/* Identical teacher and student: KL = 0 and, at alpha = 0, a zero gradient. */
static void check_identical(kd_ctx *ctx, th_rng *r, float big) {
    int n = 37, c = 10;
    size_t nc = (size_t)n * c;
    float *s = malloc(nc * sizeof *s), *g = malloc(nc * sizeof *g), acc[KD_ACC_COUNT];
    int *y = malloc((size_t)n * sizeof *y);
    th_make_logits(r, s, nc, 5, big);
    th_make_labels(r, y, n, c);
    cl_mem ds = th_upload(ctx, s, nc), dt = th_upload(ctx, s, nc), dy = th_upload_labels(ctx, y, n);
    cl_mem dg = th_zeros(ctx, nc);
    const float temps[] = {0.5f, 1, 4, 16};
    for (int k = 0; k < 4; k++) {
        kd_distill_cfg cfg = {.temperature = temps[k], .alpha = 0.0f};
        cl_mem dacc = th_zeros(ctx, KD_ACC_COUNT);
        MUST(ctx, kd_distill_forward(ctx, &cfg, n, c, dacc, ds, dt, dy));
        th_download(ctx, dacc, acc, KD_ACC_COUNT);
        CHECK(fabs(acc[KD_ACC_SOFT]) <= 1e-6 && fabs(acc[KD_ACC_LOSS]) <= 1e-6 && acc[KD_ACC_AGREE] == n,
              "identical logits T=%g big=%g: soft %.3g loss %.3g agree %g, want 0 0 %d", temps[k], big,
              acc[KD_ACC_SOFT], acc[KD_ACC_LOSS], acc[KD_ACC_AGREE], n);
        MUST(ctx, kd_distill_backward(ctx, &cfg, n, c, 1.0f / n, dg, ds, dt, dy));
        th_download(ctx, dg, g, nc);
        double gmax = 0;
        for (size_t i = 0; i < nc; i++) gmax = fmax(gmax, fabs(g[i]));
        CHECK(th_all_finite(g, nc) && gmax <= 1e-9, "identical logits T=%g big=%g: soft gradient max |g| %.3g, want 0",
              temps[k], big, gmax);
        kd_buffer_free(ctx, dacc);
    }
    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, dt);
    kd_buffer_free(ctx, dy);
    kd_buffer_free(ctx, dg);
    free(s);
    free(g);
    free(y);
}

/* alpha = 1 is plain cross-entropy: loss, hard part, counts and gradient equal. */
static void check_alpha_one(kd_ctx *ctx, th_rng *r, float big, int *bit_identical) {
    int n = 300, c = 10;
    size_t nc = (size_t)n * c;
    float *s = malloc(nc * sizeof *s), *t = malloc(nc * sizeof *t);
    float *g1 = malloc(nc * sizeof *g1), *g2 = malloc(nc * sizeof *g2), a1[KD_ACC_COUNT], a2[KD_ACC_COUNT];
    int *y = malloc((size_t)n * sizeof *y);
    th_make_logits(r, s, nc, 4, big);
    th_make_logits(r, t, nc, 6, big);
    th_make_labels(r, y, n, c);
    cl_mem ds = th_upload(ctx, s, nc), dt = th_upload(ctx, t, nc), dy = th_upload_labels(ctx, y, n);
    cl_mem dg = th_zeros(ctx, nc), acc1 = th_zeros(ctx, KD_ACC_COUNT), acc2 = th_zeros(ctx, KD_ACC_COUNT);
    kd_distill_cfg cfg = {.temperature = 3.0f, .alpha = 1.0f};
    MUST(ctx, kd_distill_forward(ctx, &cfg, n, c, acc1, ds, dt, dy));
    MUST(ctx, kd_ce_forward(ctx, n, c, acc2, ds, dy));
    MUST(ctx, kd_distill_backward(ctx, &cfg, n, c, 1.0f / n, dg, ds, dt, dy));
    th_download(ctx, dg, g1, nc);
    MUST(ctx, kd_ce_backward(ctx, n, c, 1.0f / n, dg, ds, dy));
    th_download(ctx, dg, g2, nc);
    th_download(ctx, acc1, a1, KD_ACC_COUNT);
    th_download(ctx, acc2, a2, KD_ACC_COUNT);
    double gerr = 0;
    for (size_t i = 0; i < nc; i++) gerr = fmax(gerr, fabs((double)g1[i] - g2[i]));
    double lerr = fabs((double)a1[KD_ACC_LOSS] - a2[KD_ACC_LOSS]) / fmax(1.0, fabs(a2[KD_ACC_LOSS]));
    CHECK(lerr <= 1e-7 && a1[KD_ACC_HARD] == a1[KD_ACC_LOSS] && a1[KD_ACC_CORRECT] == a2[KD_ACC_CORRECT] &&
              a1[KD_ACC_SEEN] == a2[KD_ACC_SEEN],
          "alpha=1 big=%g: distill loss %.9g hard %.9g vs ce %.9g (rel %.2e)", big, a1[KD_ACC_LOSS],
          a1[KD_ACC_HARD], a2[KD_ACC_LOSS], lerr);
    CHECK(gerr <= 1e-7, "alpha=1 big=%g: gradient differs from ce by up to %.3g", big, gerr);
    *bit_identical &= a1[KD_ACC_LOSS] == a2[KD_ACC_LOSS] && !memcmp(g1, g2, nc * sizeof *g1);
    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, dt);
    kd_buffer_free(ctx, dy);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, acc1);
    kd_buffer_free(ctx, acc2);
    free(s);
    free(t);
    free(g1);
    free(g2);
    free(y);
}

/* With the T^2 factor the soft gradient T (p_s^T - p_t^T) tends to
 * ((s - mean s) - (t - mean t)) / C per sample as T grows, a constant;
 * without it, it would fall like 1/T^2. alpha = 0, scale 1/n. */
static void check_temperature_scaling(kd_ctx *ctx, th_rng *r) {
    int n = 16, c = 10;
    size_t nc = (size_t)n * c;
    float *s = malloc(nc * sizeof *s), *t = malloc(nc * sizeof *t), *g = malloc(nc * sizeof *g);
    int *y = malloc((size_t)n * sizeof *y);
    th_make_logits(r, s, nc, 4, 0);
    th_make_logits(r, t, nc, 6, 0);
    th_make_labels(r, y, n, c);
    cl_mem ds = th_upload(ctx, s, nc), dt = th_upload(ctx, t, nc), dy = th_upload_labels(ctx, y, n);
    cl_mem dg = th_zeros(ctx, nc);
    /* The T -> infinity limit of the gradient. */
    double lim = 0;
    for (int b = 0; b < n; b++) {
        double ms = 0, mt = 0;
        for (int j = 0; j < c; j++) {
            ms += s[(size_t)b * c + j];
            mt += t[(size_t)b * c + j];
        }
        ms /= c;
        mt /= c;
        for (int j = 0; j < c; j++) {
            double d = ((s[(size_t)b * c + j] - ms) - (t[(size_t)b * c + j] - mt)) / c / n;
            lim += d * d;
        }
    }
    lim = sqrt(lim);
    const float temps[] = {1, 2, 4, 8, 16, 256};
    double norm[6];
    for (int k = 0; k < 6; k++) {
        kd_distill_cfg cfg = {.temperature = temps[k], .alpha = 0.0f};
        MUST(ctx, kd_distill_backward(ctx, &cfg, n, c, 1.0f / n, dg, ds, dt, dy));
        th_download(ctx, dg, g, nc);
        double q = 0;
        for (size_t i = 0; i < nc; i++) q += (double)g[i] * g[i];
        norm[k] = sqrt(q);
    }
    printf("soft gradient norm, alpha=0: T=1 %.4g, T=2 %.4g, T=4 %.4g, T=8 %.4g, T=16 %.4g, T=256 %.4g; limit %.4g\n",
           norm[0], norm[1], norm[2], norm[3], norm[4], norm[5], lim);
    double ratio = norm[4] / norm[1];
    CHECK(ratio > 0.2, "soft gradient vanishes with T: norm(T=16)/norm(T=2) = %.3g", ratio);
    /* What the same numbers would give without T^2: they must fail the test above. */
    CHECK(ratio * (2.0 * 2.0) / (16.0 * 16.0) < 0.2, "without T^2 the ratio %.3g would not fall",
          ratio * 4.0 / 256.0);
    CHECK(fabs(norm[4] / norm[3] - 1) < 0.2, "soft gradient norm not levelling off: T=8 %.4g, T=16 %.4g", norm[3],
          norm[4]);
    CHECK(fabs(norm[5] / lim - 1) < 0.01, "soft gradient at T=256 %.5g, large-T limit %.5g", norm[5], lim);
    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, dt);
    kd_buffer_free(ctx, dy);
    kd_buffer_free(ctx, dg);
    free(s);
    free(t);
    free(g);
    free(y);
}

static void check_cfg_validation(kd_ctx *ctx) {
    const struct {
        float T, alpha;
        bool ok;
        const char *flag;
    } cases[] = {
        {4, 0.5f, true, NULL},          {0.3f, 1, true, NULL},          {1e-3f, 0, true, NULL},
        {0, 0.5f, false, "--temperature"}, {-1, 0.5f, false, "--temperature"}, {NAN, 0.5f, false, "--temperature"},
        {INFINITY, 0.5f, false, "--temperature"}, {2, -0.1f, false, "--alpha"}, {2, 1.1f, false, "--alpha"},
        {2, NAN, false, "--alpha"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kd_distill_cfg cfg = {.temperature = cases[i].T, .alpha = cases[i].alpha};
        kd_err err = {0};
        kd_status st = kd_distill_check(&cfg, &err);
        if (cases[i].ok) {
            CHECK(st == KD_OK, "T=%g alpha=%g refused: %s", cases[i].T, cases[i].alpha, err.msg);
        } else {
            CHECK(st == KD_ERR_USAGE && err.code == KD_ERR_USAGE && strstr(err.msg, cases[i].flag),
                  "T=%g alpha=%g: status %d message '%s', want usage error naming %s", cases[i].T, cases[i].alpha,
                  (int)st, err.msg, cases[i].flag);
        }
    }
    kd_err err = {0};
    kd_distill_cfg bad = {.temperature = -1, .alpha = 0.5f};
    kd_distill_check(&bad, &err);
    printf("example message: %s\n", err.msg);
    /* The forward and backward refuse a bad configuration too. */
    th_distill_refused(ctx, &bad, 10, "--temperature", "T=-1");
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng r = {11};
    const struct {
        float T, alpha;
    } cfgs[] = {{1, 0.5f}, {2, 0}, {4, 0.1f}, {8, 0.9f}, {0.5f, 0.3f}, {3, 1}};
    const int shapes[][2] = {{1, 10}, {23, 10}, {9, 7}, {300, 10}};
    const float bigs[] = {0, 100, 1000};
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (size_t b = 0; b < 3; b++)
                run_case(ctx, &r, shapes[i][0], shapes[i][1], cfgs[k].T, cfgs[k].alpha, bigs[b]);
    for (size_t b = 0; b < 3; b++) check_identical(ctx, &r, bigs[b]);
    int bit_identical = 1;
    for (size_t b = 0; b < 3; b++) check_alpha_one(ctx, &r, bigs[b], &bit_identical);
    printf("alpha=1 vs plain CE: %s\n",
           bit_identical ? "bit-identical loss and gradient" : "within 1e-7, not bit-identical");
    printf("largest error/tolerance: forward sums %.3g, backward vs analytic %.3g, vs central differences %.3g\n",
           worst_seen.fwd, worst_seen.bwd, worst_seen.fd);
    check_temperature_scaling(ctx, &r);
    check_cfg_validation(ctx);
    kd_ctx_free(ctx);
    return th_done("test_distill");
}
