/* Softmax cross-entropy (cl/loss.cl) against a float64 plain-C reference:
 * forward sums into acc (loss, correct, seen) on odd batch and class counts,
 * logits of magnitude 100 and 1000, the backward against the analytic
 * gradient and against central differences of the reference forward,
 * in-place backward, determinism, and the NaN poisoning of a bad label. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/loss.h"
#include "tests/harness.h"
#include "tests/ref/logits.h"

#define FEPS TH_FEPS

/* Largest error/tolerance ratios seen, printed at the end (test-only state). */
static double worst_fwd, worst_bwd, worst_fd;

/* Per-sample CE in double: log sum exp(s) - s_y. */
static double ref_ce(const float *s, int c, int y) {
    double m = s[0];
    for (int j = 1; j < c; j++) m = fmax(m, (double)s[j]);
    double z = 0;
    for (int j = 0; j < c; j++) z += exp((double)s[j] - m);
    return m + log(z) - (double)s[y];
}

/* Mean CE in double with logit `at` moved by `delta` (exact: no float rounding). */
static double ref_ce_mean_at(const float *s, const int *y, int n, int c, size_t at, double delta) {
    double L = 0;
    double *row = malloc((size_t)c * sizeof *row);
    for (int b = 0; b < n; b++) {
        for (int j = 0; j < c; j++) row[j] = s[(size_t)b * c + j];
        if (at / c == (size_t)b) row[at % c] += delta;
        double m = row[0], z = 0;
        for (int j = 1; j < c; j++) m = fmax(m, row[j]);
        for (int j = 0; j < c; j++) z += exp(row[j] - m);
        L += m + log(z) - row[y[b]];
    }
    free(row);
    return L / n;
}

/* Largest |x| of a row, plus one: float results carry errors of a few
 * rounding units of this (the log-sum-exp is of that size). */
static double row_mag(const float *s, int c) {
    double m = 0;
    for (int j = 0; j < c; j++) m = fmax(m, fabs((double)s[j]));
    return 1 + m;
}

/* Random logits in [-3, 3]; with big > 0 about a third of them are set to
 * +-big and a few rows are all +-big. */
static void make_logits(th_rng *r, float *s, int n, int c, float big) {
    th_fill(r, s, (size_t)n * c, -3, 3);
    if (big <= 0) return;
    for (int i = 0; i < n * c; i++) {
        uint64_t u = th_next(r) % 6;
        if (u == 0) s[i] = big;
        else if (u == 1) s[i] = -big;
    }
    for (int b = 0; b < n; b += 4)
        for (int j = 0; j < c; j++) s[(size_t)b * c + j] = (th_next(r) & 1) ? big : -big;
}

static void run_case(kd_ctx *ctx, th_rng *r, int n, int c, float big) {
    size_t nc = (size_t)n * c;
    float *s = malloc(nc * sizeof *s), *g = malloc(nc * sizeof *g), *g2 = malloc(nc * sizeof *g2);
    int *y = malloc((size_t)n * sizeof *y);
    make_logits(r, s, n, c, big);
    th_make_labels(r, y, n, c);

    /* Reference: loss sum, correct count, error budget. */
    double L = 0, Labs = 0, budget = 0;
    int correct = 0;
    for (int b = 0; b < n; b++) {
        double l = ref_ce(s + (size_t)b * c, c, y[b]);
        L += l;
        Labs += fabs(l);
        budget += row_mag(s + (size_t)b * c, c);
        correct += th_argmax(s + (size_t)b * c, c) == y[b];
    }

    cl_mem ds = th_upload(ctx, s, nc), dy = th_upload_labels(ctx, y, n), dg = th_zeros(ctx, nc);
    /* acc starts non-zero: the forward must add, not overwrite. */
    float acc0[KD_ACC_COUNT] = {0.5f, 1.5f, 2.5f, 3.0f, 4.0f, 5.0f}, acc[KD_ACC_COUNT];
    cl_mem dacc = th_upload(ctx, acc0, KD_ACC_COUNT);
    MUST(ctx, kd_ce_forward(ctx, n, c, dacc, ds, dy));
    th_download(ctx, dacc, acc, KD_ACC_COUNT);
    double tol = 8 * FEPS * budget + 4 * FEPS * log2(n + 2.0) * Labs + 1e-6;
    double eloss = fabs(acc[KD_ACC_LOSS] - acc0[KD_ACC_LOSS] - L);
    double ehard = fabs(acc[KD_ACC_HARD] - acc0[KD_ACC_HARD] - L);
    CHECK(th_all_finite(acc, KD_ACC_COUNT), "ce n=%d c=%d big=%g: acc not finite (loss %g)", n, c, big,
          acc[KD_ACC_LOSS]);
    th_note(&worst_fwd, fmax(eloss, ehard) / tol);
    CHECK(eloss <= tol && ehard <= tol,
          "ce n=%d c=%d big=%g: loss sum %.9g hard %.9g, ref %.9g (err %.2e/%.2e, tol %.2e)",
          n, c, big, acc[KD_ACC_LOSS] - acc0[KD_ACC_LOSS], acc[KD_ACC_HARD] - acc0[KD_ACC_HARD], L, eloss, ehard,
          tol);
    CHECK(acc[KD_ACC_CORRECT] == acc0[KD_ACC_CORRECT] + correct && acc[KD_ACC_SEEN] == acc0[KD_ACC_SEEN] + n,
          "ce n=%d c=%d: correct %g seen %g, want %d %d", n, c, acc[KD_ACC_CORRECT] - acc0[KD_ACC_CORRECT],
          acc[KD_ACC_SEEN] - acc0[KD_ACC_SEEN], correct, n);
    CHECK(acc[KD_ACC_SOFT] == acc0[KD_ACC_SOFT] && acc[KD_ACC_AGREE] == acc0[KD_ACC_AGREE],
          "ce n=%d c=%d: soft/agree changed (%g %g)", n, c, acc[KD_ACC_SOFT], acc[KD_ACC_AGREE]);

    /* A second forward adds the same again (order fixed: bit-identical increment). */
    float acc2[KD_ACC_COUNT];
    MUST(ctx, kd_ce_forward(ctx, n, c, dacc, ds, dy));
    th_download(ctx, dacc, acc2, KD_ACC_COUNT);
    CHECK(acc2[KD_ACC_SEEN] == acc0[KD_ACC_SEEN] + 2 * n &&
              fabs(acc2[KD_ACC_LOSS] - acc0[KD_ACC_LOSS] - 2 * L) <= 2 * tol,
          "ce n=%d c=%d: second forward does not add (seen %g, loss %g)", n, c, acc2[KD_ACC_SEEN], acc2[KD_ACC_LOSS]);

    /* Backward vs the analytic gradient (p - y)*scale, two scales. */
    const float scales[2] = {1.0f / n, 0.37f};
    for (int q = 0; q < 2; q++) {
        float scale = scales[q];
        MUST(ctx, kd_ce_backward(ctx, n, c, scale, dg, ds, dy));
        th_download(ctx, dg, g, nc);
        double worst = 0;
        for (int b = 0; b < n; b++) {
            const float *sb = s + (size_t)b * c;
            double m = sb[0], z = 0;
            for (int j = 1; j < c; j++) m = fmax(m, (double)sb[j]);
            for (int j = 0; j < c; j++) z += exp((double)sb[j] - m);
            double gtol = scale * (1e-6 + 8 * FEPS * row_mag(sb, c));
            for (int j = 0; j < c; j++) {
                double ref = scale * (exp((double)sb[j] - m) / z - (j == y[b]));
                double e = fabs(g[(size_t)b * c + j] - ref) / gtol;
                th_note(&worst, e);
            }
        }
        th_note(&worst_bwd, worst);
        CHECK(th_all_finite(g, nc) && worst <= 1, "ce backward n=%d c=%d big=%g scale=%g: worst err/tol %.3g", n, c, big,
              scale, worst);
    }

    /* Central differences of the float64 reference mean loss (scale 1/n).
     * Small cases only: 2*n*c reference forwards. */
    if (nc <= 400) {
        float scale = 1.0f / n;
        MUST(ctx, kd_ce_backward(ctx, n, c, scale, dg, ds, dy));
        th_download(ctx, dg, g, nc);
        double worst = 0;
        const double h = 1e-3;
        for (size_t i = 0; i < nc; i++) {
            double lp = ref_ce_mean_at(s, y, n, c, i, h), lm = ref_ce_mean_at(s, y, n, c, i, -h);
            double fd = (lp - lm) / (2 * h);
            double gtol = scale * (1e-5 + 8 * FEPS * row_mag(s + (i / c) * c, c));
            double e = fabs(g[i] - fd) / gtol;
            th_note(&worst, e);
        }
        th_note(&worst_fd, worst);
        CHECK(worst <= 1, "ce backward vs central differences n=%d c=%d big=%g: worst err/tol %.3g", n, c, big, worst);
    }

    /* In place: dlogits == logits gives the same numbers. */
    MUST(ctx, kd_ce_backward(ctx, n, c, 0.37f, dg, ds, dy));
    th_download(ctx, dg, g, nc);
    MUST(ctx, kd_ce_backward(ctx, n, c, 0.37f, ds, ds, dy));
    th_download(ctx, ds, g2, nc);
    CHECK(memcmp(g, g2, nc * sizeof *g) == 0, "ce backward n=%d c=%d: in-place result differs", n, c);

    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, dy);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, dacc);
    free(s);
    free(g);
    free(g2);
    free(y);
}

/* Same inputs, fresh accumulators: bit-identical sums (no float atomics). */
static void check_determinism(kd_ctx *ctx, th_rng *r) {
    int n = 1000, c = 10;
    float *s = malloc((size_t)n * c * sizeof *s);
    int *y = malloc((size_t)n * sizeof *y);
    make_logits(r, s, n, c, 0);
    th_make_labels(r, y, n, c);
    cl_mem ds = th_upload(ctx, s, (size_t)n * c), dy = th_upload_labels(ctx, y, n);
    float a[3][KD_ACC_COUNT];
    for (int k = 0; k < 3; k++) {
        cl_mem dacc = th_zeros(ctx, KD_ACC_COUNT);
        MUST(ctx, kd_ce_forward(ctx, n, c, dacc, ds, dy));
        th_download(ctx, dacc, a[k], KD_ACC_COUNT);
        kd_buffer_free(ctx, dacc);
    }
    CHECK(!memcmp(a[0], a[1], sizeof a[0]) && !memcmp(a[0], a[2], sizeof a[0]),
          "ce forward n=%d: sums differ between runs (%.9g %.9g %.9g)", n, a[0][0], a[1][0], a[2][0]);
    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, dy);
    free(s);
    free(y);
}

/* A label outside [0, c) poisons that sample with NaN instead of reading
 * out of bounds; the other rows are untouched. A NaN logit gives a NaN loss. */
static void check_bad_label(kd_ctx *ctx, th_rng *r) {
    int n = 3, c = 5;
    float s[15], g[15], acc[KD_ACC_COUNT];
    int y[3] = {1, 5, -1};
    th_fill(r, s, 15, -2, 2);
    cl_mem ds = th_upload(ctx, s, 15), dy = th_upload_labels(ctx, y, n), dg = th_zeros(ctx, 15),
           dacc = th_zeros(ctx, KD_ACC_COUNT);
    MUST(ctx, kd_ce_forward(ctx, n, c, dacc, ds, dy));
    th_download(ctx, dacc, acc, KD_ACC_COUNT);
    CHECK(isnan(acc[KD_ACC_LOSS]) && acc[KD_ACC_SEEN] == 3, "bad label: loss %g seen %g, want NaN and 3",
          acc[KD_ACC_LOSS], acc[KD_ACC_SEEN]);
    MUST(ctx, kd_ce_backward(ctx, n, c, 1.0f, dg, ds, dy));
    th_download(ctx, dg, g, 15);
    bool row0_ok = th_all_finite(g, 5), rows_nan = true;
    for (int i = 5; i < 15; i++) rows_nan &= isnan(g[i]) != 0;
    CHECK(row0_ok && rows_nan, "bad label: gradient rows finite/NaN as expected (%d %d)", row0_ok, rows_nan);
    /* A NaN logit (a diverged model) shows in the loss, wherever it sits in the row. */
    y[1] = 2, y[2] = 0;
    MUST(ctx, kd_write(ctx, dy, 0, sizeof y, y, true));
    for (int pos = 0; pos < c; pos++) {
        float s2[15];
        memcpy(s2, s, sizeof s2);
        s2[5 + pos] = NAN;
        MUST(ctx, kd_write(ctx, ds, 0, sizeof s2, s2, true));
        MUST(ctx, kd_fill(ctx, dacc, 0, KD_ACC_COUNT * sizeof(float), 0.0f));
        MUST(ctx, kd_ce_forward(ctx, n, c, dacc, ds, dy));
        th_download(ctx, dacc, acc, KD_ACC_COUNT);
        CHECK(isnan(acc[KD_ACC_LOSS]), "NaN logit at class %d: loss %g, want NaN", pos, acc[KD_ACC_LOSS]);
    }
    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, dy);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, dacc);
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng r = {7};
    const int shapes[][2] = {{1, 10}, {37, 10}, {5, 3}, {13, 17}, {300, 17}, {1000, 10}, {7, 1}, {1, 2}};
    const float bigs[] = {0, 100, 1000};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t k = 0; k < 3; k++) run_case(ctx, &r, shapes[i][0], shapes[i][1], bigs[k]);
    printf("largest error/tolerance: forward sums %.3g, backward vs analytic %.3g, vs central differences %.3g\n",
           worst_fwd, worst_bwd, worst_fd);
    check_determinism(ctx, &r);
    check_bad_label(ctx, &r);
    /* An embedded-profile device (1 KiB of local memory, 24 bytes per item
     * here): the forward's group shrinks to fit instead of failing. */
    uint64_t local_mem = kd_ctx_device(ctx)->local_mem;
    kd_ctx_set_local_mem(ctx, 1024);
    run_case(ctx, &r, 300, 17, 0);
    run_case(ctx, &r, 37, 10, 100);
    kd_ctx_set_local_mem(ctx, local_mem);
    kd_ctx_free(ctx);
    return th_done("test_loss");
}
