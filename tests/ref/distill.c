#include "tests/ref/distill.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "tests/ref/logits.h"

void th_distill_refused(kd_ctx *ctx, const kd_distill_cfg *cfg, int c, const char *needle, const char *what) {
    cl_mem dummy = th_zeros(ctx, (size_t)c);
    int zero = 0;
    cl_mem dy = th_upload_labels(ctx, &zero, 1);
    CHECK(kd_distill_forward(ctx, cfg, 1, c, dummy, dummy, dummy, dy) == KD_ERR_USAGE &&
              strstr(kd_ctx_err(ctx)->msg, needle),
          "%s: forward accepted it: %s", what, kd_ctx_err(ctx)->msg);
    CHECK(kd_distill_backward(ctx, cfg, 1, c, 1.0f, dummy, dummy, dummy, dy) == KD_ERR_USAGE,
          "%s: backward accepted it", what);
    kd_buffer_free(ctx, dummy);
    kd_buffer_free(ctx, dy);
}

static void row_d(const float *x, int c, double *out) {
    for (int j = 0; j < c; j++) out[j] = x[j];
}

/* Mean loss in double with student logit `at` moved by `delta`. */
static double ref_mean_at(const th_loss_ref *ref, const kd_distill_cfg *cfg, const float *s, const float *t,
                          const int *y, int n, int c, size_t at, double delta) {
    double *rs = malloc((size_t)c * sizeof *rs), *rt = malloc((size_t)c * sizeof *rt), L = 0;
    for (int b = 0; b < n; b++) {
        row_d(s + (size_t)b * c, c, rs);
        row_d(t + (size_t)b * c, c, rt);
        if (at / c == (size_t)b) rs[at % c] += delta;
        double v[3];
        ref->sample(cfg, rs, rt, c, y[b], v);
        L += v[0];
    }
    free(rs);
    free(rt);
    return L / n;
}

void th_distill_case(kd_ctx *ctx, th_rng *r, const kd_distill_cfg *cfg, const th_loss_ref *ref, int n, int c,
                     float big, const char *what, th_loss_worst *worst_all) {
    size_t nc = (size_t)n * c;
    float *s = malloc(nc * sizeof *s), *t = malloc(nc * sizeof *t), *g = malloc(nc * sizeof *g);
    float *t_after = malloc(nc * sizeof *t_after), *g2 = malloc(nc * sizeof *g2);
    double *gref = malloc(nc * sizeof *gref);
    int *y = malloc((size_t)n * sizeof *y);
    th_make_logits(r, s, nc, 4, big);
    th_make_logits(r, t, nc, 6, big);
    th_make_labels(r, y, n, c);
    double T = cfg->temperature, wsum = ref->wsum;

    double sum[3] = {0}, sabs[3] = {0}, budget = 0;
    int correct = 0, agree = 0;
    double *rs = malloc((size_t)c * sizeof *rs), *rt = malloc((size_t)c * sizeof *rt);
    for (int b = 0; b < n; b++) {
        row_d(s + (size_t)b * c, c, rs);
        row_d(t + (size_t)b * c, c, rt);
        double v[3];
        ref->sample(cfg, rs, rt, c, y[b], v);
        for (int k = 0; k < 3; k++) {
            sum[k] += v[k];
            sabs[k] += fabs(v[k]);
        }
        budget += th_logit_mag(s + (size_t)b * c, t + (size_t)b * c, c);
        int as = th_argmax(s + (size_t)b * c, c);
        correct += as == y[b];
        agree += as == th_argmax(t + (size_t)b * c, c);
    }

    cl_mem ds = th_upload(ctx, s, nc), dt = th_upload(ctx, t, nc), dy = th_upload_labels(ctx, y, n);
    cl_mem dg = th_zeros(ctx, nc), dacc = th_zeros(ctx, KD_ACC_COUNT);
    float acc[KD_ACC_COUNT];
    MUST(ctx, kd_distill_forward(ctx, cfg, n, c, dacc, ds, dt, dy));
    th_download(ctx, dacc, acc, KD_ACC_COUNT);
    /* Per sample: a few rounding units of mag (hard) and of mag*T (soft: the
     * log-probs are of size mag/T, times T^2), for each weighted term; then
     * the float sum. */
    double tmax = fmax(1.0, T);
    const int slot[3] = {KD_ACC_LOSS, KD_ACC_HARD, KD_ACC_SOFT};
    const char *nm[3] = {"loss", "hard", "soft"};
    for (int k = 0; k < 3; k++) {
        double tol = 16 * TH_FEPS * tmax * wsum * budget + 4 * TH_FEPS * log2(n + 2.0) * sabs[k] + 1e-6;
        double e = fabs(acc[slot[k]] - sum[k]);
        th_note(&worst_all->fwd, e / tol);
        CHECK(isfinite(acc[slot[k]]) && e <= tol, "%s: %s sum %.9g, ref %.9g (err %.2e, tol %.2e)", what, nm[k],
              acc[slot[k]], sum[k], e, tol);
    }
    CHECK(acc[KD_ACC_CORRECT] == correct && acc[KD_ACC_SEEN] == n && acc[KD_ACC_AGREE] == agree,
          "%s: correct/seen/agree %g %g %g, want %d %d %d", what, acc[KD_ACC_CORRECT], acc[KD_ACC_SEEN],
          acc[KD_ACC_AGREE], correct, n, agree);

    /* Backward vs the analytic gradient. */
    float scale = 1.0f / n;
    MUST(ctx, kd_distill_backward(ctx, cfg, n, c, scale, dg, ds, dt, dy));
    th_download(ctx, dg, g, nc);
    for (int b = 0; b < n; b++) {
        row_d(s + (size_t)b * c, c, rs);
        row_d(t + (size_t)b * c, c, rt);
        ref->grad(cfg, rs, rt, c, y[b], gref + (size_t)b * c);
    }
    for (size_t i = 0; i < nc; i++) gref[i] *= scale;
    double worst = 0;
    for (size_t i = 0; i < nc; i++) {
        double gtol = scale * wsum * (1e-6 + 16 * TH_FEPS * th_logit_mag(s + (i / c) * c, t + (i / c) * c, c));
        th_note(&worst, fabs(g[i] - gref[i]) / gtol);
    }
    th_note(&worst_all->bwd, worst);
    CHECK(th_all_finite(g, nc) && worst <= 1, "%s: backward worst err/tol %.3g", what, worst);

    /* Central differences of the whole float64 mean loss, small cases. */
    if (nc <= 300) {
        const double h = 1e-3 * fmin(1.0, T);
        worst = 0;
        for (size_t i = 0; i < nc; i++) {
            double fd = (ref_mean_at(ref, cfg, s, t, y, n, c, i, h) - ref_mean_at(ref, cfg, s, t, y, n, c, i, -h)) /
                        (2 * h);
            double gtol = scale * wsum * (1e-5 + 16 * TH_FEPS * th_logit_mag(s + (i / c) * c, t + (i / c) * c, c));
            th_note(&worst, fabs(g[i] - fd) / gtol);
        }
        th_note(&worst_all->fd, worst);
        CHECK(worst <= 1, "%s: backward vs central differences worst err/tol %.3g", what, worst);
    }

    /* The teacher is input only: bit-identical after forward and backward. */
    th_download(ctx, dt, t_after, nc);
    CHECK(!memcmp(t, t_after, nc * sizeof *t), "%s: teacher logits were modified", what);

    /* In place (dstudent == student). */
    MUST(ctx, kd_distill_backward(ctx, cfg, n, c, scale, ds, ds, dt, dy));
    th_download(ctx, ds, g2, nc);
    CHECK(!memcmp(g, g2, nc * sizeof *g), "%s: in-place backward differs", what);

    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, dt);
    kd_buffer_free(ctx, dy);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, dacc);
    free(rs);
    free(rt);
    free(s);
    free(t);
    free(g);
    free(g2);
    free(t_after);
    free(gref);
    free(y);
}
