/* BatchNorm2d against a plain-C float64 reference: training forward (output,
 * saved mean/invstd, running statistics after one and two steps), inference
 * forward, and backward (dx, dgamma, dbeta) against central finite
 * differences of the reference training forward, for L = sum(out * r).
 * Shapes: batch 1 and 3, odd planes, one value per channel, channels longer
 * than a work-group, and a large-mean channel that E[x^2]-E[x]^2 would ruin.
 * With the ReLU fused (d.relu): the reference applies max(y, 0) and its
 * finite differences give the masked gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/batchnorm.h"
#include "tests/harness.h"

static double worst_fwd, worst_bwd;
static void note(double *worst, double e) {
    if (!(e <= *worst)) *worst = e;
}

/* Training-mode reference; mean/var (biased) per channel out. */
static void bn_ref_train(const kd_bn_desc *d, const double *x, const double *g, const double *b, double *out,
                         double *mean, double *var) {
    size_t cnt = (size_t)d->n * d->hw;
    for (int ch = 0; ch < d->c; ch++) {
        double s = 0, q = 0;
        for (int i = 0; i < d->n; i++)
            for (int j = 0; j < d->hw; j++) s += x[((size_t)i * d->c + ch) * d->hw + j];
        double mu = s / cnt;
        for (int i = 0; i < d->n; i++)
            for (int j = 0; j < d->hw; j++) {
                double t = x[((size_t)i * d->c + ch) * d->hw + j] - mu;
                q += t * t;
            }
        double v = q / cnt, is = 1 / sqrt(v + d->eps);
        for (int i = 0; i < d->n; i++)
            for (int j = 0; j < d->hw; j++) {
                size_t o = ((size_t)i * d->c + ch) * d->hw + j;
                out[o] = (x[o] - mu) * is * g[ch] + b[ch];
                if (d->relu && out[o] < 0) out[o] = 0;
            }
        if (mean) mean[ch] = mu;
        if (var) var[ch] = v;
    }
}

static double dot_loss(const double *out, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += out[i] * r[i];
    return s;
}

static void bn_case(kd_ctx *ctx, th_rng *rng, int n, int c, int hw, float center, float spread, double tol,
                    bool relu) {
    kd_bn_desc d = {.n = n, .c = c, .hw = hw, .eps = 1e-5f, .momentum = 0.1f, .relu = relu};
    size_t nx = (size_t)n * c * hw, cnt = (size_t)n * hw;
    float *x = malloc(nx * sizeof *x), *r = malloc(nx * sizeof *r), *out = malloc(nx * sizeof *out);
    float *dx = malloc(nx * sizeof *dx);
    float g[64], b[64], rm[64], rv[64], dg0[64], db0[64];
    float mean[64], invstd[64], rm_got[64], rv_got[64], dg[64], db[64];
    KD_ASSERT(c <= 64);
    /* Per-channel offsets so channels differ; `center` pushes the mean far from 0. */
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < hw; j++)
                x[((size_t)i * c + ch) * hw + j] = center + 0.3f * spread * ch + th_uniform(rng, -spread, spread);
    th_fill(rng, r, nx, -1, 1);
    th_fill(rng, g, (size_t)c, 0.5f, 1.5f);
    th_fill(rng, b, (size_t)c, -0.5f, 0.5f);
    th_fill(rng, rm, (size_t)c, -0.5f, 0.5f);
    th_fill(rng, rv, (size_t)c, 0.5f, 1.5f);
    th_fill(rng, dg0, (size_t)c, -1, 1);
    th_fill(rng, db0, (size_t)c, -1, 1);

    double *xd = th_to_double(x, nx), *gd = th_to_double(g, (size_t)c), *bd = th_to_double(b, (size_t)c);
    double *ref = malloc(nx * sizeof *ref), mu[64], var[64];
    bn_ref_train(&d, xd, gd, bd, ref, mu, var);

    cl_mem d_x = th_upload(ctx, x, nx), d_out = th_zeros(ctx, nx), d_g = th_upload(ctx, g, (size_t)c);
    cl_mem d_b = th_upload(ctx, b, (size_t)c), d_rm = th_upload(ctx, rm, (size_t)c);
    cl_mem d_rv = th_upload(ctx, rv, (size_t)c);
    cl_mem d_mean = th_zeros(ctx, (size_t)c), d_inv = th_zeros(ctx, (size_t)c);
    MUST(ctx, kd_bn_forward_train(ctx, &d, d_out, d_mean, d_inv, d_rm, d_rv, d_x, d_g, d_b));
    th_download(ctx, d_out, out, nx);
    th_download(ctx, d_mean, mean, (size_t)c);
    th_download(ctx, d_inv, invstd, (size_t)c);
    th_download(ctx, d_rm, rm_got, (size_t)c);
    th_download(ctx, d_rv, rv_got, (size_t)c);

    /* The saved statistics and the running update (unbiased var, momentum 0.1). */
    double ref_mean[64], ref_inv[64], ref_rm[64], ref_rv[64];
    for (int ch = 0; ch < c; ch++) {
        ref_mean[ch] = mu[ch];
        ref_inv[ch] = 1 / sqrt(var[ch] + d.eps);
        double unbiased = cnt > 1 ? var[ch] * cnt / (cnt - 1) : var[ch];
        ref_rm[ch] = 0.9 * rm[ch] + 0.1 * mu[ch];
        ref_rv[ch] = 0.9 * rv[ch] + 0.1 * unbiased;
    }
    /* The output's error scales with |x - mean|*invstd: judge it against 1, not |out|. */
    double e_out = th_max_rel(out, ref, nx, tol, 1e-4);
    double e_mean = th_max_rel(mean, ref_mean, (size_t)c, 1e-6, 1e-5);
    double e_inv = th_max_rel(invstd, ref_inv, (size_t)c, 0, tol);
    double e_rm = th_max_rel(rm_got, ref_rm, (size_t)c, 1e-6, 1e-5);
    double e_rv = th_max_rel(rv_got, ref_rv, (size_t)c, 1e-6, tol);
    note(&worst_fwd, e_out);
    note(&worst_fwd, e_mean);
    note(&worst_fwd, e_inv);
    note(&worst_fwd, e_rm);
    note(&worst_fwd, e_rv);
    CHECK(e_out <= 1, "bn train forward n=%d c=%d hw=%d center=%g: output max rel err %.3g", n, c, hw, center, e_out);
    CHECK(e_mean <= 1 && e_inv <= 1, "bn n=%d c=%d hw=%d center=%g: saved mean err %.3g, invstd err %.3g", n, c, hw,
          center, e_mean, e_inv);
    CHECK(e_rm <= 1 && e_rv <= 1, "bn n=%d c=%d hw=%d: running mean err %.3g, running var err %.3g", n, c, hw, e_rm,
          e_rv);

    /* A second step on the same batch applies the momentum again. */
    MUST(ctx, kd_bn_forward_train(ctx, &d, d_out, d_mean, d_inv, d_rm, d_rv, d_x, d_g, d_b));
    th_download(ctx, d_rm, rm_got, (size_t)c);
    th_download(ctx, d_rv, rv_got, (size_t)c);
    for (int ch = 0; ch < c; ch++) {
        double unbiased = cnt > 1 ? var[ch] * cnt / (cnt - 1) : var[ch];
        ref_rm[ch] = 0.9 * ref_rm[ch] + 0.1 * mu[ch];
        ref_rv[ch] = 0.9 * ref_rv[ch] + 0.1 * unbiased;
    }
    e_rm = th_max_rel(rm_got, ref_rm, (size_t)c, 1e-6, 1e-5);
    e_rv = th_max_rel(rv_got, ref_rv, (size_t)c, 1e-6, tol);
    CHECK(e_rm <= 1 && e_rv <= 1, "bn second step n=%d c=%d hw=%d: running mean err %.3g, var err %.3g", n, c, hw,
          e_rm, e_rv);

    /* Inference with the running statistics after those two steps, in place (out == in). */
    {
        double *ref_inf = malloc(nx * sizeof *ref_inf);
        float *inf = malloc(nx * sizeof *inf);
        for (size_t o = 0; o < nx; o++) {
            int ch = (int)((o / (size_t)hw) % (size_t)c);
            ref_inf[o] = (x[o] - (double)rm_got[ch]) / sqrt((double)rv_got[ch] + d.eps) * g[ch] + b[ch];
            if (relu && ref_inf[o] < 0) ref_inf[o] = 0;
        }
        cl_mem d_y = th_upload(ctx, x, nx);
        MUST(ctx, kd_bn_forward_infer(ctx, &d, d_y, d_y, d_g, d_b, d_rm, d_rv));
        th_download(ctx, d_y, inf, nx);
        double e_inf = th_max_rel(inf, ref_inf, nx, tol, 1e-4);
        note(&worst_fwd, e_inf);
        CHECK(e_inf <= 1, "bn inference n=%d c=%d hw=%d: max rel err %.3g", n, c, hw, e_inf);
        kd_buffer_free(ctx, d_y);
        free(ref_inf);
        free(inf);
    }

    /* Backward: dx overwritten (starts as junk), dgamma/dbeta accumulated onto dg0/db0. */
    float *junk = malloc(nx * sizeof *junk);
    th_fill(rng, junk, nx, -5, 5);
    cl_mem d_dx = th_upload(ctx, junk, nx), d_r = th_upload(ctx, r, nx);
    cl_mem d_dg = th_upload(ctx, dg0, (size_t)c), d_db = th_upload(ctx, db0, (size_t)c);
    MUST(ctx, kd_bn_forward_train(ctx, &d, d_out, d_mean, d_inv, d_rm, d_rv, d_x, d_g, d_b));
    MUST(ctx, kd_bn_backward(ctx, &d, d_dx, d_dg, d_db, d_r, d_x, d_mean, d_inv, d_g, relu ? d_out : NULL));
    th_download(ctx, d_dx, dx, nx);
    th_download(ctx, d_dg, dg, (size_t)c);
    th_download(ctx, d_db, db, (size_t)c);

    const double eps = 1e-5;
    double *fd = malloc(nx * sizeof *fd), fd_g[64], fd_b[64];
    for (size_t i = 0; i < nx; i++) {
        double keep = xd[i];
        xd[i] = keep + eps;
        bn_ref_train(&d, xd, gd, bd, ref, NULL, NULL);
        double lp = dot_loss(ref, r, nx);
        xd[i] = keep - eps;
        bn_ref_train(&d, xd, gd, bd, ref, NULL, NULL);
        double lm = dot_loss(ref, r, nx);
        xd[i] = keep;
        fd[i] = (lp - lm) / (2 * eps);
    }
    for (int ch = 0; ch < c; ch++) {
        double *p[2] = {gd, bd}, *res[2] = {fd_g, fd_b};
        for (int t = 0; t < 2; t++) {
            double keep = p[t][ch];
            p[t][ch] = keep + eps;
            bn_ref_train(&d, xd, gd, bd, ref, NULL, NULL);
            double lp = dot_loss(ref, r, nx);
            p[t][ch] = keep - eps;
            bn_ref_train(&d, xd, gd, bd, ref, NULL, NULL);
            double lm = dot_loss(ref, r, nx);
            p[t][ch] = keep;
            res[t][ch] = (lp - lm) / (2 * eps);
        }
        fd_g[ch] += dg0[ch];
        fd_b[ch] += db0[ch];
    }
    /* dx is a difference of O(N) terms: scale the absolute tolerance by the gradient's size. */
    double gmax = 0;
    for (size_t i = 0; i < nx; i++) gmax = fmax(gmax, fabs(fd[i]));
    double e_dx = th_max_rel(dx, fd, nx, tol * (gmax + 1e-3), 1e-3);
    double e_dg = th_max_rel(dg, fd_g, (size_t)c, tol, tol), e_db = th_max_rel(db, fd_b, (size_t)c, tol, tol);
    note(&worst_bwd, e_dx);
    note(&worst_bwd, e_dg);
    note(&worst_bwd, e_db);
    CHECK(e_dx <= 1, "bn backward dx vs finite differences n=%d c=%d hw=%d center=%g: max rel err %.3g (max |g| %.3g)",
          n, c, hw, center, e_dx, gmax);
    CHECK(e_dg <= 1 && e_db <= 1, "bn backward n=%d c=%d hw=%d: dgamma err %.3g, dbeta err %.3g", n, c, hw, e_dg,
          e_db);

    cl_mem bufs[] = {d_x, d_out, d_g, d_b, d_rm, d_rv, d_mean, d_inv, d_dx, d_r, d_dg, d_db};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) kd_buffer_free(ctx, bufs[i]);
    free(x);
    free(r);
    free(out);
    free(dx);
    free(xd);
    free(gd);
    free(bd);
    free(ref);
    free(fd);
    free(junk);
}

static void bad_args(kd_ctx *ctx) {
    kd_bn_desc d = {.n = 0, .c = 3, .hw = 4, .eps = 1e-5f, .momentum = 0.1f};
    cl_mem m = th_zeros(ctx, 16);
    kd_status s = kd_bn_forward_infer(ctx, &d, m, m, m, m, m, m);
    CHECK(s == KD_ERR_USAGE && strstr(kd_ctx_err(ctx)->msg, "n=0"), "empty batch refused: %s", kd_ctx_err(ctx)->msg);
    d.n = 1;
    d.eps = 0;
    s = kd_bn_forward_train(ctx, &d, m, m, m, m, m, m, m, m);
    CHECK(s == KD_ERR_USAGE && strstr(kd_ctx_err(ctx)->msg, "eps"), "eps 0 refused: %s", kd_ctx_err(ctx)->msg);
    kd_err_clear(kd_ctx_err(ctx));
    kd_buffer_free(ctx, m);
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    /* Both kernel families: work-group reductions (GPUs) and one work-item
     * per channel (CPUs), whatever this device would pick. */
    for (int serial = 0; serial <= 1; serial++) {
        kd_ctx_set_serial_reductions(ctx, serial);
        th_rng rng = {11};
        bn_case(ctx, &rng, 1, 5, 9 * 11, 0.2f, 1.0f, 1e-4, false);
        bn_case(ctx, &rng, 3, 5, 7 * 7, -0.3f, 2.0f, 1e-4, false);
        bn_case(ctx, &rng, 3, 4, 1, 0.0f, 1.0f, 1e-4, false);   /* after GAP: one value per sample */
        bn_case(ctx, &rng, 1, 3, 1, 0.0f, 1.0f, 1e-4, false);   /* a single value per channel: output is beta */
        bn_case(ctx, &rng, 2, 3, 33 * 37, 0.5f, 1.0f, 1e-4, false); /* many values per work-item */
        /* |mean| / std = 1e4: shifted statistics keep invstd to ~1e-3, E[x^2]-E[x]^2 would not. */
        bn_case(ctx, &rng, 2, 2, 15 * 17, 100.0f, 0.01f, 2e-3, false);
        bn_case(ctx, &rng, 2, 37, 5 * 3, 0.1f, 1.0f, 1e-4, false); /* more channels than a work-group */
        /* The ReLU after it, fused into both directions. */
        bn_case(ctx, &rng, 3, 5, 7 * 7, -0.3f, 2.0f, 1e-4, true);
        bn_case(ctx, &rng, 2, 3, 33 * 37, 0.5f, 1.0f, 1e-4, true);
        bn_case(ctx, &rng, 2, 37, 5 * 3, 0.1f, 1.0f, 1e-4, true);
    }
    /* The work-group reductions within a device's local memory (an
     * embedded-profile device has 1 KiB; 64 bytes leave 16 items). */
    kd_ctx_set_serial_reductions(ctx, false);
    uint64_t local_mem = kd_ctx_device(ctx)->local_mem;
    kd_ctx_set_local_mem(ctx, 64);
    th_rng rng = {12};
    bn_case(ctx, &rng, 2, 3, 33 * 37, 0.5f, 1.0f, 1e-4, true);
    kd_ctx_set_local_mem(ctx, local_mem);
    bad_args(ctx);
    printf("worst error / tolerance: forward %.3g, backward %.3g\n", worst_fwd, worst_bwd);
    kd_ctx_free(ctx);
    return th_done("test_batchnorm");
}
