/* Max, average and global average pooling against plain-C float64
 * references (odd shapes, batch 1 and 3, overlapping and padded windows),
 * and every backward against central finite differences of the reference
 * forward in double, for the loss L = sum(out * r) with random r. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/pool.h"
#include "tests/harness.h"

/* Worst errors seen (in units of the tolerance), printed at the end. */
static double worst_fwd, worst_bwd;
static void note(double fwd, double bwd) {
    if (fwd > worst_fwd) worst_fwd = fwd;
    if (bwd > worst_bwd) worst_bwd = bwd;
}

/* Reference max/avg pooling in double; argmax as the flat index in the plane. */
static void pool_ref(const kd_pool_desc *d, bool is_max, const double *in, double *out, int *argmax) {
    for (int p = 0; p < d->n * d->c; p++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                double m = -INFINITY, s = 0;
                int best = -1;
                for (int ky = 0; ky < d->k; ky++)
                    for (int kx = 0; kx < d->k; kx++) {
                        int y = oy * d->stride - d->pad + ky, x = ox * d->stride - d->pad + kx;
                        if (y < 0 || y >= d->h || x < 0 || x >= d->w) continue; /* padding: 0 for avg, never max */
                        double v = in[(size_t)p * d->h * d->w + y * d->w + x];
                        s += v;
                        if (v > m) {
                            m = v;
                            best = y * d->w + x;
                        }
                    }
                size_t o = (size_t)p * d->oh * d->ow + oy * d->ow + ox;
                out[o] = is_max ? m : s / (d->k * d->k);
                if (argmax) argmax[o] = best;
            }
}

static double dot_loss(const double *out, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += out[i] * r[i];
    return s;
}

/* Distinct values (a shuffled grid with spacing 2/count) so every max is
 * unique and an eps far below the spacing never changes an argmax. */
static void distinct_fill(th_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)((double)i / (double)n);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(th_next(r) % (i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static void pool_case(kd_ctx *ctx, th_rng *rng, bool is_max, int n, int c, int h, int w, int k, int stride,
                      int pad, float lo, float hi) {
    kd_pool_desc d = {.n = n, .c = c, .h = h, .w = w, .k = k, .stride = stride, .pad = pad};
    kd_err err = {0};
    MUST_E(&err, kd_pool_desc_init(&d, &err));
    size_t nin = (size_t)n * c * h * w, nout = (size_t)n * c * d.oh * d.ow;
    float *x = malloc(nin * sizeof *x), *r = malloc(nout * sizeof *r), *out = malloc(nout * sizeof *out);
    float *dx = malloc(nin * sizeof *dx);
    int *am = malloc(nout * sizeof *am), *am_ref = malloc(nout * sizeof *am_ref);
    double *xd = malloc(nin * sizeof *xd), *ref = malloc(nout * sizeof *ref), *fd = malloc(nin * sizeof *fd);
    if (is_max) distinct_fill(rng, x, nin, lo, hi);
    else th_fill(rng, x, nin, lo, hi);
    th_fill(rng, r, nout, -1, 1);
    for (size_t i = 0; i < nin; i++) xd[i] = x[i];
    pool_ref(&d, is_max, xd, ref, am_ref);

    cl_mem din = th_upload(ctx, x, nin), dout = th_zeros(ctx, nout), dr = th_upload(ctx, r, nout);
    /* dx starts as garbage: backward must overwrite, not accumulate. */
    float *junk = malloc(nin * sizeof *junk);
    th_fill(rng, junk, nin, -9, 9);
    cl_mem ddx = th_upload(ctx, junk, nin);
    cl_mem dam;
    MUST(ctx, kd_buffer_alloc(ctx, nout * sizeof(int), "argmax", &dam));

    const char *kind = is_max ? "maxpool" : "avgpool";
    if (is_max) {
        MUST(ctx, kd_maxpool_forward(ctx, &d, dout, dam, din));
        MUST(ctx, kd_maxpool_backward(ctx, &d, ddx, dr, dam));
        MUST(ctx, kd_read(ctx, dam, 0, nout * sizeof(int), am));
    } else {
        MUST(ctx, kd_avgpool_forward(ctx, &d, dout, din));
        MUST(ctx, kd_avgpool_backward(ctx, &d, ddx, dr));
    }
    th_download(ctx, dout, out, nout);
    th_download(ctx, ddx, dx, nin);

    /* Forward: max is a selection, so it must be exact; avg within float rounding. */
    double fe = th_max_rel(out, ref, nout, 1e-6, 1e-5);
    if (is_max) {
        size_t bad_v = 0, bad_i = 0;
        for (size_t i = 0; i < nout; i++) {
            bad_v += out[i] != (float)ref[i];
            bad_i += am[i] != am_ref[i];
        }
        CHECK(bad_v == 0 && bad_i == 0, "%s n=%d c=%d %dx%d k=%d s=%d p=%d: %zu wrong values, %zu wrong argmax of %zu",
              kind, n, c, h, w, k, stride, pad, bad_v, bad_i, nout);
    }
    CHECK(fe <= 1, "%s forward n=%d c=%d %dx%d k=%d s=%d p=%d: max rel err %.3g", kind, n, c, h, w, k, stride, pad,
          fe);

    /* Central differences of the double reference (eps far below the value spacing). */
    const double eps = 1e-6;
    for (size_t i = 0; i < nin; i++) {
        double keep = xd[i];
        xd[i] = keep + eps;
        pool_ref(&d, is_max, xd, ref, NULL);
        double lp = dot_loss(ref, r, nout);
        xd[i] = keep - eps;
        pool_ref(&d, is_max, xd, ref, NULL);
        double lm = dot_loss(ref, r, nout);
        xd[i] = keep;
        fd[i] = (lp - lm) / (2 * eps);
    }
    double be = th_max_rel(dx, fd, nin, 1e-5, 1e-4);
    note(fe, be);
    CHECK(be <= 1, "%s backward vs finite differences n=%d c=%d %dx%d k=%d s=%d p=%d: max rel err %.3g", kind, n, c,
          h, w, k, stride, pad, be);

    kd_buffer_free(ctx, din);
    kd_buffer_free(ctx, dout);
    kd_buffer_free(ctx, dr);
    kd_buffer_free(ctx, ddx);
    kd_buffer_free(ctx, dam);
    free(x);
    free(r);
    free(out);
    free(dx);
    free(am);
    free(am_ref);
    free(xd);
    free(ref);
    free(fd);
    free(junk);
}

static void gap_ref(const double *x, size_t planes, int hw, double *out) {
    for (size_t p = 0; p < planes; p++) {
        double s = 0;
        for (int i = 0; i < hw; i++) s += x[p * hw + i];
        out[p] = s / hw;
    }
}

static void gap_case(kd_ctx *ctx, th_rng *rng, int n, int c, int hw) {
    size_t nin = (size_t)n * c * hw, nout = (size_t)n * c;
    float *x = malloc(nin * sizeof *x), *r = malloc(nout * sizeof *r), *out = malloc(nout * sizeof *out);
    float *dx = malloc(nin * sizeof *dx);
    double *ref = malloc(nout * sizeof *ref), *fd = malloc(nin * sizeof *fd);
    th_fill(rng, x, nin, -2, 3);
    th_fill(rng, r, nout, -1, 1);
    double *xd = calloc(nin, sizeof *xd); /* (calloc: gcc -O1 cannot see the loop below fill it) */
    for (size_t i = 0; i < nin; i++) xd[i] = x[i];
    gap_ref(xd, nout, hw, ref);
    const double eps = 1e-6;
    for (size_t i = 0; i < nin; i++) {
        double keep = xd[i];
        xd[i] = keep + eps;
        gap_ref(xd, nout, hw, ref);
        double lp = dot_loss(ref, r, nout);
        xd[i] = keep - eps;
        gap_ref(xd, nout, hw, ref);
        double lm = dot_loss(ref, r, nout);
        xd[i] = keep;
        fd[i] = (lp - lm) / (2 * eps);
    }
    gap_ref(xd, nout, hw, ref);
    cl_mem din = th_upload(ctx, x, nin), dout = th_zeros(ctx, nout), dr = th_upload(ctx, r, nout);
    cl_mem ddx = th_zeros(ctx, nin);
    MUST(ctx, kd_fill(ctx, ddx, 0, nin * sizeof(float), 7.0f)); /* must be overwritten */
    MUST(ctx, kd_gap_forward(ctx, n, c, hw, dout, din));
    MUST(ctx, kd_gap_backward(ctx, n, c, hw, ddx, dr));
    th_download(ctx, dout, out, nout);
    th_download(ctx, ddx, dx, nin);
    double fe = th_max_rel(out, ref, nout, 1e-6, 1e-5), be = th_max_rel(dx, fd, nin, 1e-6, 1e-4);
    note(fe, be);
    CHECK(fe <= 1, "gap forward n=%d c=%d hw=%d: max rel err %.3g", n, c, hw, fe);
    CHECK(be <= 1, "gap backward n=%d c=%d hw=%d: max rel err %.3g", n, c, hw, be);
    kd_buffer_free(ctx, din);
    kd_buffer_free(ctx, dout);
    kd_buffer_free(ctx, dr);
    kd_buffer_free(ctx, ddx);
    free(x);
    free(r);
    free(out);
    free(dx);
    free(ref);
    free(fd);
    free(xd);
}

/* A NaN wins its window (PyTorch propagates it) and later values do not
 * displace it, whatever comes before or after in the window. */
static void nan_case(kd_ctx *ctx) {
    kd_pool_desc d = {.n = 1, .c = 1, .h = 4, .w = 4, .k = 2, .stride = 2, .pad = 0};
    kd_err err = {0};
    MUST_E(&err, kd_pool_desc_init(&d, &err));
    float x[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    x[1] = NAN;  /* window 0: NaN first, larger values after */
    x[2] = NAN;  /* window 1: two NaNs, the later one wins (PyTorch) */
    x[6] = NAN;
    x[15] = NAN; /* window 3: NaN last, after the window's maximum so far */
    float out[4], g[4] = {1, 2, 3, 4}, dx[16];
    int am[4];
    cl_mem din = th_upload(ctx, x, 16), dout = th_zeros(ctx, 4), dg = th_upload(ctx, g, 4), ddx = th_zeros(ctx, 16);
    cl_mem dam;
    MUST(ctx, kd_buffer_alloc(ctx, 4 * sizeof(int), "argmax", &dam));
    MUST(ctx, kd_maxpool_forward(ctx, &d, dout, dam, din));
    MUST(ctx, kd_maxpool_backward(ctx, &d, ddx, dg, dam));
    th_download(ctx, dout, out, 4);
    MUST(ctx, kd_read(ctx, dam, 0, sizeof am, am));
    th_download(ctx, ddx, dx, 16);
    CHECK(isnan(out[0]) && am[0] == 1 && isnan(out[1]) && am[1] == 6 && out[2] == 13.0f && am[2] == 13 &&
              isnan(out[3]) && am[3] == 15,
          "NaN propagation (serial %d): out %g %g %g %g argmax %d %d %d %d", kd_ctx_serial_reductions(ctx),
          (double)out[0], (double)out[1], (double)out[2], (double)out[3], am[0], am[1], am[2], am[3]);
    CHECK(dx[1] == 1.0f && dx[6] == 2.0f && dx[13] == 3.0f && dx[15] == 4.0f && dx[0] == 0.0f && dx[2] == 0.0f &&
              dx[7] == 0.0f,
          "NaN windows route their gradient to the NaN (serial %d)", kd_ctx_serial_reductions(ctx));
    kd_buffer_free(ctx, din);
    kd_buffer_free(ctx, dout);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, ddx);
    kd_buffer_free(ctx, dam);
}

static void desc_checks(void) {
    kd_err err = {0};
    /* The tutorial's MaxPool(3) on 26x26 and ResNet's 3x3/2 pad 1 on 112x112. */
    kd_pool_desc a = {.n = 2, .c = 16, .h = 26, .w = 26, .k = 3, .stride = 3, .pad = 0};
    CHECK(kd_pool_desc_init(&a, &err) == KD_OK && a.oh == 8 && a.ow == 8, "tutorial pool: %dx%d (%s)", a.oh, a.ow,
          err.msg);
    kd_pool_desc b = {.n = 1, .c = 64, .h = 112, .w = 112, .k = 3, .stride = 2, .pad = 1};
    CHECK(kd_pool_desc_init(&b, &err) == KD_OK && b.oh == 56 && b.ow == 56, "resnet pool: %dx%d (%s)", b.oh, b.ow,
          err.msg);
    kd_pool_desc e = {.n = 1, .c = 1, .h = 9, .w = 11, .k = 2, .stride = 3, .pad = 0};
    CHECK(kd_pool_desc_init(&e, &err) == KD_OK && e.oh == 3 && e.ow == 4, "floor mode: %dx%d", e.oh, e.ow);
    kd_pool_desc f = {.n = 1, .c = 1, .h = 2, .w = 5, .k = 3, .stride = 1, .pad = 0};
    CHECK(kd_pool_desc_init(&f, &err) == KD_ERR_USAGE && strstr(err.msg, "at least 3x3"),
          "too small input refused with the size needed: %s", err.msg);
    kd_pool_desc g = {.n = 1, .c = 1, .h = 8, .w = 8, .k = 3, .stride = 1, .pad = 2};
    CHECK(kd_pool_desc_init(&g, &err) == KD_ERR_USAGE && strstr(err.msg, "padding"), "pad > k/2 refused: %s",
          err.msg);
    kd_pool_desc z = {.n = 1, .c = 1, .h = 8, .w = 8, .k = 3, .stride = 0, .pad = 0};
    CHECK(kd_pool_desc_init(&z, &err) == KD_ERR_USAGE, "stride 0 refused");
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng rng = {7};
    desc_checks();
    /* Both kernel families: 3-D per-element kernels (GPUs) and one
     * work-item per plane (CPUs), whatever this device would pick. */
    for (int serial = 0; serial <= 1; serial++) {
        kd_ctx_set_serial_reductions(ctx, serial);
        for (int is_max = 1; is_max >= 0; is_max--) {
            pool_case(ctx, &rng, is_max, 1, 5, 9, 11, 3, 3, 0, -1, 1); /* tutorial: disjoint, floor drops a row */
            pool_case(ctx, &rng, is_max, 3, 5, 9, 11, 3, 2, 1, -1, 1); /* ResNet stem: overlapping, padded */
            pool_case(ctx, &rng, is_max, 3, 2, 7, 7, 2, 2, 0, -1, 1);
            pool_case(ctx, &rng, is_max, 2, 3, 7, 7, 3, 1, 1, -1, 1); /* every input in up to 9 windows */
            pool_case(ctx, &rng, is_max, 1, 3, 13, 6, 5, 2, 2, -1, 1);
            pool_case(ctx, &rng, is_max, 3, 5, 7, 7, 3, 2, 1, -3, -1); /* all negative: padding must not win */
            pool_case(ctx, &rng, is_max, 1, 1, 1, 1, 1, 1, 0, -1, 1);
            pool_case(ctx, &rng, is_max, 1, 259, 4, 5, 2, 2, 0, -1, 1); /* more planes than a work-group */
            pool_case(ctx, &rng, is_max, 1, 1, 3, 300, 3, 1, 1, -1, 1); /* a row wider than a work-group */
        }
        gap_case(ctx, &rng, 1, 5, 63);
        gap_case(ctx, &rng, 3, 5, 49);
        gap_case(ctx, &rng, 3, 7, 1);
        gap_case(ctx, &rng, 1, 2, 1031);
        nan_case(ctx);
    }
    printf("worst error / tolerance: forward %.3g, backward %.3g\n", worst_fwd, worst_bwd);
    kd_ctx_free(ctx);
    return th_done("test_pool");
}
