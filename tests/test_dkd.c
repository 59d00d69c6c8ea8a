/* Decoupled KD (cl/loss.cl loss_dkd_*, Zhao et al. CVPR 2022) against a
 * float64 plain-C reference:
 *   L = (1/B) sum_b [CE(y, softmax(s)) + a TCKD + b NCKD]
 *   TCKD = T^2 KL([r_g, 1-r_g] || [q_g, 1-q_g]),  NCKD = T^2 KL(rhat || qhat)
 * forward sums for several (T, a, b) with logits of magnitude 100 and 1000,
 * the backward against the float64 analytic gradient and central
 * differences of the float64 loss, the paper's identity
 * KL = TCKD + (1 - r_g) NCKD against the classic KD kernel, a = b = 0 equal
 * to plain CE, identical logits giving zero distillation terms, the teacher
 * untouched, in-place backward, and the refusals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/loss.h"
#include "tests/harness.h"
#include "tests/ref/distill.h"
#include "tests/ref/logits.h"

/* log sum_{j != skip} exp(x_j / T) in double, max subtracted (skip -1: all). */
static double lse_skip(const double *x, int c, double T, int skip) {
    double m = -INFINITY, z = 0;
    for (int j = 0; j < c; j++)
        if (j != skip) m = fmax(m, x[j] / T);
    for (int j = 0; j < c; j++)
        if (j != skip) z += exp(x[j] / T - m);
    return m + log(z);
}

typedef struct ref_terms {
    double hard, tckd, nckd, kl; /* kl: T^2 KL of the full softmaxes (classic KD's soft term) */
} ref_terms;

/* The definitions, in log space so that logits of 1000 stay finite:
 * log q_g = s_g/T - lse, log(1 - q_g) = lse_{j!=g} - lse, and
 * log qhat_j = s_j/T - lse_{j!=g}. */
static ref_terms ref_one(const double *s, const double *t, int c, int g, double T) {
    ref_terms r;
    r.hard = lse_skip(s, c, 1, -1) - s[g];
    double ls = lse_skip(s, c, T, -1), lt = lse_skip(t, c, T, -1);
    double lsn = lse_skip(s, c, T, g), ltn = lse_skip(t, c, T, g);
    double lqg = s[g] / T - ls, lqn = lsn - ls, lrg = t[g] / T - lt, lrn = ltn - lt;
    r.tckd = T * T * (exp(lrg) * (lrg - lqg) + exp(lrn) * (lrn - lqn));
    double nk = 0, kl = 0;
    for (int j = 0; j < c; j++) {
        kl += exp(t[j] / T - lt) * ((t[j] / T - lt) - (s[j] / T - ls));
        if (j == g) continue;
        double a = t[j] / T - ltn, b = s[j] / T - lsn;
        nk += exp(a) * (a - b);
    }
    r.nckd = T * T * nk;
    r.kl = T * T * kl;
    return r;
}

/* One sample: v = {CE + a TCKD + b NCKD, CE, a TCKD + b NCKD}. */
static void ref_sample(const kd_distill_cfg *cfg, const double *s, const double *t, int c, int y, double v[3]) {
    ref_terms q = ref_one(s, t, c, y, cfg->temperature);
    double soft = cfg->dkd_alpha * q.tckd + cfg->dkd_beta * q.nckd;
    v[0] = q.hard + soft;
    v[1] = q.hard;
    v[2] = soft;
}

/* The analytic gradient in double, written from the definitions:
 * d/ds_k of CE is p_k - [k=g]; of TCKD, through q_g only, T (q_g - r_g) for
 * k = g and T qhat_k (r_g - q_g) otherwise; of NCKD T (qhat_k - rhat_k)
 * for k != g. */
static void ref_grad(const kd_distill_cfg *cfg, const double *s, const double *t, int c, int g, double *gout) {
    double T = cfg->temperature, a = cfg->dkd_alpha, b = cfg->dkd_beta;
    double l1 = lse_skip(s, c, 1, -1), ls = lse_skip(s, c, T, -1), lt = lse_skip(t, c, T, -1);
    double lsn = lse_skip(s, c, T, g), ltn = lse_skip(t, c, T, g);
    double qg = exp(s[g] / T - ls), rg = exp(t[g] / T - lt);
    for (int k = 0; k < c; k++) {
        double d = exp(s[k] - l1) - (k == g);
        if (k == g)
            d += a * T * (qg - rg);
        else {
            double qh = exp(s[k] / T - lsn), rh = exp(t[k] / T - ltn);
            d += a * T * qh * (rg - qg) + b * T * (qh - rh);
        }
        gout[k] = d;
    }
}

static void row_d(const float *x, int c, double *out) {
    for (int j = 0; j < c; j++) out[j] = x[j];
}

static kd_distill_cfg dkd_cfg(float T, float a, float b) {
    kd_distill_cfg cfg = {.temperature = T, .alpha = 0, .method = KD_KD_DKD, .dkd_alpha = a, .dkd_beta = b};
    return cfg;
}

/* Largest error/tolerance ratios seen, printed at the end (test-only state). */
static th_loss_worst worst_seen;

static void run_case(kd_ctx *ctx, th_rng *r, int n, int c, float T, float a, float b, float big) {
    kd_distill_cfg cfg = dkd_cfg(T, a, b);
    th_loss_ref ref = {ref_sample, ref_grad, 1 + a + b};
    char what[128];
    snprintf(what, sizeof what, "dkd n=%d c=%d T=%g a=%g b=%g big=%g", n, c, T, a, b, big);
    th_distill_case(ctx, r, &cfg, &ref, n, c, big, what, &worst_seen);
}

/* One sample's soft sum from the device: SOFT of a forward on sample i alone. */
static float soft_of(kd_ctx *ctx, const kd_distill_cfg *cfg, int c, cl_mem ds, cl_mem dt, cl_mem dy) {
    cl_mem dacc = th_zeros(ctx, KD_ACC_COUNT);
    float acc[KD_ACC_COUNT];
    MUST(ctx, kd_distill_forward(ctx, cfg, 1, c, dacc, ds, dt, dy));
    th_download(ctx, dacc, acc, KD_ACC_COUNT);
    kd_buffer_free(ctx, dacc);
    return acc[KD_ACC_SOFT];
}

/* The decomposition the paper rests on, kernel against kernel:
 * T^2 KL(r || q) = TCKD + (1 - r_g) NCKD, per sample. */
static void check_decomposition(kd_ctx *ctx, th_rng *r) {
    const int c = 10;
    const float temps[] = {1, 4, 8};
    double worst = 0;
    for (int it = 0; it < 30; it++) {
        float s[10], t[10];
        int y;
        th_make_logits(r, s, c, 5, it % 3 == 2 ? 30 : 0);
        th_make_logits(r, t, c, 7, 0);
        th_make_labels(r, &y, 1, c);
        float T = temps[it % 3];
        cl_mem ds = th_upload(ctx, s, c), dt = th_upload(ctx, t, c), dy = th_upload_labels(ctx, &y, 1);
        kd_distill_cfg kd = {.temperature = T, .alpha = 0, .method = KD_KD_CLASSIC};
        kd_distill_cfg tc = dkd_cfg(T, 1, 0), nc = dkd_cfg(T, 0, 1);
        double kl = soft_of(ctx, &kd, c, ds, dt, dy), tckd = soft_of(ctx, &tc, c, ds, dt, dy),
               nckd = soft_of(ctx, &nc, c, ds, dt, dy);
        double rt[10];
        row_d(t, c, rt);
        double rg = exp(t[y] / T - lse_skip(rt, c, T, -1));
        double e = fabs(kl - (tckd + (1 - rg) * nckd)) / (1e-5 + 1e-5 * fabs(kl));
        th_note(&worst, e);
        kd_buffer_free(ctx, ds);
        kd_buffer_free(ctx, dt);
        kd_buffer_free(ctx, dy);
    }
    printf("KL = TCKD + (1 - r_g) NCKD: worst err/tol %.3g over 30 samples\n", worst);
    CHECK(worst <= 1, "classic KD's soft term is not TCKD + (1 - r_g) NCKD: worst err/tol %.3g", worst);
}

/* a = b = 0 is plain cross-entropy; identical logits make both terms 0. */
static void check_limits(kd_ctx *ctx, th_rng *r, float big) {
    int n = 64, c = 10;
    size_t nc = (size_t)n * c;
    float *s = malloc(nc * sizeof *s), *t = malloc(nc * sizeof *t), *g1 = malloc(nc * sizeof *g1),
          *g2 = malloc(nc * sizeof *g2), a1[KD_ACC_COUNT], a2[KD_ACC_COUNT];
    int *y = malloc((size_t)n * sizeof *y);
    th_make_logits(r, s, nc, 4, big);
    th_make_logits(r, t, nc, 6, big);
    th_make_labels(r, y, n, c);
    cl_mem ds = th_upload(ctx, s, nc), dt = th_upload(ctx, t, nc), dy = th_upload_labels(ctx, y, n);
    cl_mem dg = th_zeros(ctx, nc), acc1 = th_zeros(ctx, KD_ACC_COUNT), acc2 = th_zeros(ctx, KD_ACC_COUNT);
    kd_distill_cfg zero = dkd_cfg(4, 0, 0);
    MUST(ctx, kd_distill_forward(ctx, &zero, n, c, acc1, ds, dt, dy));
    MUST(ctx, kd_ce_forward(ctx, n, c, acc2, ds, dy));
    MUST(ctx, kd_distill_backward(ctx, &zero, n, c, 1.0f / n, dg, ds, dt, dy));
    th_download(ctx, dg, g1, nc);
    MUST(ctx, kd_ce_backward(ctx, n, c, 1.0f / n, dg, ds, dy));
    th_download(ctx, dg, g2, nc);
    th_download(ctx, acc1, a1, KD_ACC_COUNT);
    th_download(ctx, acc2, a2, KD_ACC_COUNT);
    double gerr = 0;
    for (size_t i = 0; i < nc; i++) gerr = fmax(gerr, fabs((double)g1[i] - g2[i]));
    CHECK(a1[KD_ACC_LOSS] == a2[KD_ACC_LOSS] && a1[KD_ACC_SOFT] == 0 && gerr <= 1e-7,
          "dkd a=b=0 big=%g: loss %.9g vs ce %.9g, soft %g, gradient differs by %.3g", big, a1[KD_ACC_LOSS],
          a2[KD_ACC_LOSS], a1[KD_ACC_SOFT], gerr);

    /* Teacher = student: TCKD = NCKD = 0, so loss and gradient are CE's. */
    kd_distill_cfg heavy = dkd_cfg(4, 1, 8);
    cl_mem acc3 = th_zeros(ctx, KD_ACC_COUNT);
    float a3[KD_ACC_COUNT];
    MUST(ctx, kd_distill_forward(ctx, &heavy, n, c, acc3, ds, ds, dy));
    th_download(ctx, acc3, a3, KD_ACC_COUNT);
    MUST(ctx, kd_distill_backward(ctx, &heavy, n, c, 1.0f / n, dg, ds, ds, dy));
    th_download(ctx, dg, g1, nc);
    gerr = 0;
    for (size_t i = 0; i < nc; i++) gerr = fmax(gerr, fabs((double)g1[i] - g2[i]));
    CHECK(fabs(a3[KD_ACC_SOFT]) <= 1e-5 && a3[KD_ACC_AGREE] == n && gerr <= 1e-7,
          "dkd identical logits big=%g: soft %.3g agree %g, gradient differs from ce by %.3g", big, a3[KD_ACC_SOFT],
          a3[KD_ACC_AGREE], gerr);
    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, dt);
    kd_buffer_free(ctx, dy);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, acc1);
    kd_buffer_free(ctx, acc2);
    kd_buffer_free(ctx, acc3);
    free(s);
    free(t);
    free(g1);
    free(g2);
    free(y);
}

static void check_refusals(kd_ctx *ctx) {
    const struct {
        float a, b;
        const char *flag;
    } cases[] = {{-1, 8, "--dkd-alpha"}, {NAN, 8, "--dkd-alpha"}, {1, -0.5f, "--dkd-beta"}, {1, INFINITY, "--dkd-beta"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kd_distill_cfg cfg = dkd_cfg(4, cases[i].a, cases[i].b);
        kd_err err = {0};
        kd_status st = kd_distill_check(&cfg, &err);
        CHECK(st == KD_ERR_USAGE && strstr(err.msg, cases[i].flag), "dkd a=%g b=%g: status %d '%s', want %s",
              cases[i].a, cases[i].b, (int)st, err.msg, cases[i].flag);
    }
    /* alpha outside [0, 1] is classic KD's concern, not DKD's. */
    kd_distill_cfg ok = dkd_cfg(4, 1, 8);
    ok.alpha = 7;
    kd_err err = {0};
    CHECK(kd_distill_check(&ok, &err) == KD_OK, "dkd refused for classic KD's alpha: %s", err.msg);
    kd_distill_cfg bad_t = dkd_cfg(0, 1, 8);
    CHECK(kd_distill_check(&bad_t, &err) == KD_ERR_USAGE && strstr(err.msg, "--temperature"), "dkd T=0 accepted");
    /* One class leaves no non-target class. */
    th_distill_refused(ctx, &ok, 1, "at least 2 classes", "dkd with 1 class");
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng r = {23};
    const struct {
        float T, a, b;
    } cfgs[] = {{4, 1, 8}, {1, 1, 0}, {2, 0, 1}, {8, 0.5f, 2}, {0.5f, 1, 1}};
    const int shapes[][2] = {{1, 10}, {23, 10}, {9, 7}, {7, 2}, {300, 10}};
    const float bigs[] = {0, 100, 1000};
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (size_t b = 0; b < 3; b++)
                run_case(ctx, &r, shapes[i][0], shapes[i][1], cfgs[k].T, cfgs[k].a, cfgs[k].b, bigs[b]);
    printf("largest error/tolerance: forward sums %.3g, backward vs analytic %.3g, vs central differences %.3g\n",
           worst_seen.fwd, worst_seen.bwd, worst_seen.fd);
    check_decomposition(ctx, &r);
    for (size_t b = 0; b < 3; b++) check_limits(ctx, &r, bigs[b]);
    check_refusals(ctx);
    kd_ctx_free(ctx);
    return th_done("test_dkd");
}
