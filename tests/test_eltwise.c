/* ReLU, residual add, axpy and dropout. ReLU/add/axpy against plain-C
 * float64 references (odd sizes, in place), ReLU backward against central
 * finite differences of the reference; dropout statistically (drop fraction
 * close to p, mean preserved, adjacent elements independent), reproducibly
 * (same seed and counter give the same mask, a different counter, low or
 * high seed half gives another), and its backward applies the same mask. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/eltwise.h"
#include "tests/harness.h"

static void relu_ref(const double *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

static void relu_case(kd_ctx *ctx, th_rng *rng, size_t n) {
    float *x = malloc(n * sizeof *x), *r = malloc(n * sizeof *r), *y = malloc(n * sizeof *y);
    float *dx = malloc(n * sizeof *dx);
    double *xd = malloc(n * sizeof *xd), *ref = malloc(n * sizeof *ref), *fd = malloc(n * sizeof *fd);
    /* Keep |x| >= 1e-3 so the finite difference never straddles the kink. */
    for (size_t i = 0; i < n; i++) {
        float v = th_uniform(rng, -1, 1);
        x[i] = v < 0 ? v - 1e-3f : v + 1e-3f;
        xd[i] = x[i];
    }
    th_fill(rng, r, n, -1, 1);
    relu_ref(xd, ref, n);

    cl_mem d_x = th_upload(ctx, x, n), d_y = th_zeros(ctx, n), d_r = th_upload(ctx, r, n), d_dx = th_zeros(ctx, n);
    MUST(ctx, kd_relu_forward(ctx, n, d_y, d_x));
    th_download(ctx, d_y, y, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += y[i] != (float)ref[i];
    CHECK(bad == 0, "relu forward n=%zu: %zu wrong", n, bad);

    /* The gradient of L = sum(relu(x) * r), by central differences of the reference. */
    const double eps = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double keep = xd[i], yp, ym;
        xd[i] = keep + eps;
        yp = xd[i] > 0 ? xd[i] : 0;
        xd[i] = keep - eps;
        ym = xd[i] > 0 ? xd[i] : 0;
        xd[i] = keep;
        fd[i] = (yp - ym) * r[i] / (2 * eps); /* only output i depends on x[i] */
    }
    MUST(ctx, kd_fill(ctx, d_dx, 0, n * sizeof(float), 3.0f)); /* overwritten, not accumulated */
    MUST(ctx, kd_relu_backward(ctx, n, d_dx, d_r, d_y));
    th_download(ctx, d_dx, dx, n);
    double e = th_max_rel(dx, fd, n, 1e-6, 1e-6);
    CHECK(e <= 1, "relu backward vs finite differences n=%zu: max rel err %.3g", n, e);

    /* dx may alias dout; the forward runs in place. */
    MUST(ctx, kd_relu_backward(ctx, n, d_r, d_r, d_y));
    th_download(ctx, d_r, dx, n);
    e = th_max_rel(dx, fd, n, 1e-6, 1e-6);
    CHECK(e <= 1, "relu backward with dx == dout n=%zu: max rel err %.3g", n, e);
    MUST(ctx, kd_relu_forward(ctx, n, d_x, d_x));
    th_download(ctx, d_x, y, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += y[i] != (float)ref[i];
    CHECK(bad == 0, "relu forward in place n=%zu: %zu wrong", n, bad);

    kd_buffer_free(ctx, d_x);
    kd_buffer_free(ctx, d_y);
    kd_buffer_free(ctx, d_r);
    kd_buffer_free(ctx, d_dx);
    free(x);
    free(r);
    free(y);
    free(dx);
    free(xd);
    free(ref);
    free(fd);
}

static void add_axpy_case(kd_ctx *ctx, th_rng *rng, size_t n) {
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *y = malloc(n * sizeof *y);
    double *ref = malloc(n * sizeof *ref);
    th_fill(rng, a, n, -2, 2);
    th_fill(rng, b, n, -2, 2);
    cl_mem d_a = th_upload(ctx, a, n), d_b = th_upload(ctx, b, n), d_y = th_zeros(ctx, n);

    for (size_t i = 0; i < n; i++) ref[i] = (double)a[i] + b[i];
    MUST(ctx, kd_add_forward(ctx, n, d_y, d_a, d_b, false));
    th_download(ctx, d_y, y, n);
    double e = th_max_rel(y, ref, n, 1e-7, 1e-6);
    CHECK(e <= 1, "add n=%zu: max rel err %.3g", n, e);

    const float alpha = -0.375f;
    for (size_t i = 0; i < n; i++) ref[i] = (double)a[i] + alpha * (double)b[i];
    MUST(ctx, kd_axpy(ctx, n, d_a, d_b, alpha));
    th_download(ctx, d_a, y, n);
    e = th_max_rel(y, ref, n, 1e-7, 1e-6);
    CHECK(e <= 1, "axpy n=%zu: max rel err %.3g", n, e);

    /* In place: the residual join writes into one of its inputs. */
    for (size_t i = 0; i < n; i++) ref[i] = (double)y[i] + b[i];
    MUST(ctx, kd_add_forward(ctx, n, d_a, d_a, d_b, false));
    th_download(ctx, d_a, y, n);
    e = th_max_rel(y, ref, n, 1e-7, 1e-6);
    CHECK(e <= 1, "add in place n=%zu: max rel err %.3g", n, e);

    /* With the ReLU after the join fused, in place (as ResNets run it). */
    for (size_t i = 0; i < n; i++) {
        double v = (double)y[i] + b[i];
        ref[i] = v < 0 ? 0 : v;
    }
    MUST(ctx, kd_add_forward(ctx, n, d_a, d_a, d_b, true));
    th_download(ctx, d_a, y, n);
    e = th_max_rel(y, ref, n, 1e-7, 1e-6);
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += ref[i] == 0 && y[i] == 0.0f;
    CHECK(e <= 1 && (n < 8 || zeros > 0), "add + relu n=%zu: max rel err %.3g, %zu zeros", n, e, zeros);

    kd_buffer_free(ctx, d_a);
    kd_buffer_free(ctx, d_b);
    kd_buffer_free(ctx, d_y);
    free(a);
    free(b);
    free(y);
    free(ref);
}

static void dropout_run(kd_ctx *ctx, cl_mem out, cl_mem in, size_t n, float p, uint64_t seed, uint64_t counter,
                        float *host) {
    MUST(ctx, kd_dropout_forward(ctx, n, out, in, p, seed, counter));
    th_download(ctx, out, host, n);
}

static size_t count_diff_mask(const float *a, const float *b, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += (a[i] == 0) != (b[i] == 0);
    return d;
}

static void dropout_case(kd_ctx *ctx, th_rng *rng, size_t n, float p) {
    /* (calloc: with n not a constant, gcc -O1 cannot see that the loop below writes all of x.) */
    float *x = calloc(n, sizeof *x), *y = malloc(n * sizeof *y), *y2 = malloc(n * sizeof *y2);
    float *g = malloc(n * sizeof *g);
    /* Inputs bounded away from 0 so a zero output always means "dropped". */
    for (size_t i = 0; i < n; i++) x[i] = th_uniform(rng, 0.5f, 1.5f);
    cl_mem d_x = th_upload(ctx, x, n), d_y = th_zeros(ctx, n), d_g = th_zeros(ctx, n);
    const uint64_t seed = 0x0123456789abcdefull, counter = 1000;
    dropout_run(ctx, d_y, d_x, n, p, seed, counter, y);

    /* Kept values are x/(1-p) exactly as float computes it; the drop fraction is
     * binomial: allow 5 standard deviations. */
    float scale = 1.0f / (1.0f - p);
    size_t dropped = 0, wrong = 0, both = 0;
    double sum_x = 0, sum_y = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] == 0) dropped++;
        else wrong += y[i] != x[i] * scale;
        sum_x += x[i];
        sum_y += y[i];
    }
    for (size_t i = 0; i + 1 < n; i++) both += y[i] == 0 && y[i + 1] == 0;
    double frac = (double)dropped / n, sd = sqrt(p * (1.0 - p) / n);
    CHECK(fabs(frac - p) <= 5 * sd, "dropout p=%g n=%zu: dropped fraction %.5f (expected %g +- %.5f)", p, n, frac, p,
          5 * sd);
    CHECK(wrong == 0, "dropout p=%g: %zu kept values not scaled by 1/(1-p)", p, wrong);
    /* Pairs of neighbours both dropped: p^2 if the hash decorrelates indices
     * (overlapping pairs share an element, hence the covariance term). */
    double pp = (double)p * p, pair = (double)both / (n - 1);
    double psd = sqrt((pp * (1 - pp) + 2 * pp * p * (1 - p)) / (n - 1));
    CHECK(fabs(pair - pp) <= 5 * psd, "dropout p=%g: neighbours both dropped %.5f, expected %.5f", p, pair,
          (double)p * p);
    /* Inverted scaling preserves the expectation: mean(y) ~ mean(x). The
     * relative std of the mean is sqrt(p/(1-p)/n) times the inputs' spread. */
    double rel = fabs(sum_y - sum_x) / sum_x, rsd = sqrt(p / (1.0 - p) / n) * 1.1;
    CHECK(rel <= 5 * rsd, "dropout p=%g: mean %.6f vs input mean %.6f (rel %.2e, allowed %.2e)", p, sum_y / n,
          sum_x / n, rel, 5 * rsd);

    printf("dropout p=%g n=%zu: dropped %.5f, both neighbours %.5f (p^2 %.5f), mean ratio %.6f\n", p, n, frac,
           pair, pp, sum_y / sum_x);
    /* Same (seed, counter): bit-identical. */
    dropout_run(ctx, d_y, d_x, n, p, seed, counter, y2);
    CHECK(!memcmp(y, y2, n * sizeof *y), "dropout p=%g: same seed and counter gave a different output", p);
    /* Another counter, another low or high seed half: a fresh mask, differing
     * in about 2p(1-p) of the positions. */
    const uint64_t other[][2] = {{seed, counter + 1}, {seed, counter + (1ull << 32)}, {seed ^ 1, counter},
                                 {seed ^ (1ull << 40), counter}};
    for (int k = 0; k < 4; k++) {
        dropout_run(ctx, d_y, d_x, n, p, other[k][0], other[k][1], y2);
        double dfrac = (double)count_diff_mask(y, y2, n) / n, want = 2.0 * p * (1 - p);
        double dsd = sqrt(want * (1 - want) / n);
        CHECK(fabs(dfrac - want) <= 6 * dsd,
              "dropout p=%g variant %d: masks differ in %.5f of positions, expected %.5f", p, k, dfrac, want);
    }

    /* Backward with the same (seed, counter) applies the same mask and scale to dout. */
    float *dout = malloc(n * sizeof *dout);
    th_fill(rng, dout, n, -1, 1);
    for (size_t i = 0; i < n; i++)
        if (dout[i] == 0) dout[i] = 1;
    MUST(ctx, kd_write(ctx, d_g, 0, n * sizeof(float), dout, true));
    MUST(ctx, kd_dropout_backward(ctx, n, d_g, d_g, p, seed, counter)); /* in place */
    th_download(ctx, d_g, g, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += g[i] != (y[i] == 0 ? 0.0f : dout[i] * scale);
    CHECK(bad == 0, "dropout backward p=%g: %zu of %zu gradients disagree with the forward mask", p, bad, n);

    /* In-place forward gives the same result. */
    MUST(ctx, kd_dropout_forward(ctx, n, d_x, d_x, p, seed, counter));
    th_download(ctx, d_x, y2, n);
    CHECK(!memcmp(y, y2, n * sizeof *y), "dropout p=%g: in-place forward differs", p);

    kd_buffer_free(ctx, d_x);
    kd_buffer_free(ctx, d_y);
    kd_buffer_free(ctx, d_g);
    free(x);
    free(y);
    free(y2);
    free(g);
    free(dout);
}

static void dropout_edges(kd_ctx *ctx, th_rng *rng) {
    const size_t n = 1001;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    th_fill(rng, x, n, -1, 1);
    cl_mem d_x = th_upload(ctx, x, n), d_y = th_zeros(ctx, n);
    /* p = 0 is the identity, out of place and in place. */
    dropout_run(ctx, d_y, d_x, n, 0.0f, 5, 6, y);
    CHECK(!memcmp(x, y, n * sizeof *x), "dropout p=0 is not the identity");
    MUST(ctx, kd_dropout_backward(ctx, n, d_y, d_y, 0.0f, 5, 6));
    th_download(ctx, d_y, y, n);
    CHECK(!memcmp(x, y, n * sizeof *x), "dropout backward p=0 is not the identity");
    /* p = 1 drops everything (PyTorch gives zeros, not NaN). */
    dropout_run(ctx, d_y, d_x, n, 1.0f, 5, 6, y);
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) nz += y[i] != 0;
    CHECK(nz == 0, "dropout p=1: %zu non-zeros", nz);
    kd_status s = kd_dropout_forward(ctx, n, d_y, d_x, 1.5f, 5, 6);
    CHECK(s == KD_ERR_USAGE && strstr(kd_ctx_err(ctx)->msg, "1.5"), "p=1.5 refused: %s", kd_ctx_err(ctx)->msg);
    s = kd_dropout_forward(ctx, n, d_y, d_x, -0.1f, 5, 6);
    CHECK(s == KD_ERR_USAGE, "p=-0.1 refused");
    kd_err_clear(kd_ctx_err(ctx));
    /* Nothing to do is fine. */
    MUST(ctx, kd_dropout_forward(ctx, 0, d_y, d_x, 0.5f, 5, 6));
    MUST(ctx, kd_relu_forward(ctx, 0, d_y, d_x));
    kd_buffer_free(ctx, d_x);
    kd_buffer_free(ctx, d_y);
    free(x);
    free(y);
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng rng = {3};
    relu_case(ctx, &rng, 1);
    relu_case(ctx, &rng, 1001);
    relu_case(ctx, &rng, 3 * 5 * 9 * 11);
    add_axpy_case(ctx, &rng, 1);
    add_axpy_case(ctx, &rng, 12347);
    /* Under the oclgrind simulator (CI's memory check) a tenth of the size:
     * the same kernels and checks, with tolerances that follow n; the
     * native runs keep the statistical power (2.4 min there at full size). */
    size_t big = kd_ctx_is_oclgrind(ctx) ? 20003 : 200003;
    dropout_case(ctx, &rng, big, 0.5f);
    dropout_case(ctx, &rng, big, 0.1f);
    dropout_case(ctx, &rng, big / 2, 0.9f);
    dropout_edges(ctx, &rng);
    kd_ctx_free(ctx);
    return th_done("test_eltwise");
}
