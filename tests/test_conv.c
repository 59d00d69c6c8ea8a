/* Conv2d forward against a float64 plain-C reference for every geometry the
 * models use (and a few odd ones), batch 1 and > 1, with and without bias;
 * backward (dx, dW, db) against central finite differences of the
 * reference; += semantics of dW/db, overwrite of dx, NULL gradients, and a
 * workspace that is garbage between calls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/batchnorm.h"
#include "src/layers/conv.h"
#include "tests/harness.h"
#include "tests/ref/fd.h"

typedef struct geom {
    int kh, kw, stride, pad;
} geom;

static void conv_ref(const kd_conv_desc *d, const double *x, const double *w, const double *b, double *out) {
    for (int n = 0; n < d->n; n++)
        for (int co = 0; co < d->cout; co++)
            for (int oy = 0; oy < d->oh; oy++)
                for (int ox = 0; ox < d->ow; ox++) {
                    double s = d->bias ? b[co] : 0.0;
                    for (int ci = 0; ci < d->cin; ci++)
                        for (int ky = 0; ky < d->kh; ky++)
                            for (int kx = 0; kx < d->kw; kx++) {
                                int iy = oy * d->stride - d->pad + ky, ix = ox * d->stride - d->pad + kx;
                                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                                s += x[((n * d->cin + ci) * d->h + iy) * d->w + ix] *
                                     w[((co * d->cin + ci) * d->kh + ky) * d->kw + kx];
                            }
                    out[((n * d->cout + co) * d->oh + oy) * d->ow + ox] = s;
                }
}

static size_t in_numel(const kd_conv_desc *d) { return (size_t)d->n * d->cin * d->h * d->w; }
static size_t out_numel(const kd_conv_desc *d) { return (size_t)d->n * d->cout * d->oh * d->ow; }
static size_t w_numel(const kd_conv_desc *d) { return (size_t)d->cout * d->cin * d->kh * d->kw; }

static void refill_nan(kd_ctx *ctx, cl_mem m, size_t n) {
    if (n) MUST(ctx, kd_fill(ctx, m, 0, n * sizeof(float), NAN));
}

/* The workspace gets a tail of sentinels, to catch use beyond
 * kd_conv_workspace_floats. */
enum { WS_GUARD = 257 };
static const float ws_sentinel = 12345.0f;

static cl_mem ws_alloc(kd_ctx *ctx, size_t nws) {
    cl_mem m = th_nan_buffer(ctx, nws + WS_GUARD);
    MUST(ctx, kd_fill(ctx, m, nws * sizeof(float), WS_GUARD * sizeof(float), ws_sentinel));
    return m;
}

static void ws_check(kd_ctx *ctx, cl_mem ws, size_t nws, const kd_conv_desc *d) {
    float tail[WS_GUARD];
    MUST(ctx, kd_read(ctx, ws, nws * sizeof(float), sizeof tail, tail));
    int ok = 1;
    for (int i = 0; i < WS_GUARD; i++) ok &= tail[i] == ws_sentinel;
    CHECK(ok, "workspace of %zu floats overrun: n=%d cin=%d %dx%d cout=%d k=%dx%d s=%d p=%d", nws, d->n, d->cin,
          d->h, d->w, d->cout, d->kh, d->kw, d->stride, d->pad);
}

static kd_conv_desc make_desc(int n, int cin, int h, int w, int cout, geom g, bool bias) {
    kd_conv_desc d = {.n = n, .cin = cin, .h = h, .w = w, .cout = cout, .kh = g.kh, .kw = g.kw,
                      .stride = g.stride, .pad = g.pad, .bias = bias};
    kd_err err = {0};
    MUST_E(&err, kd_conv_desc_init(&d, &err));
    return d;
}

static void test_forward(kd_ctx *ctx, th_rng *r, kd_conv_desc d) {
    size_t nx = in_numel(&d), ny = out_numel(&d), nw = w_numel(&d), nws = kd_conv_workspace_floats(&d);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc((size_t)d.cout * sizeof *b);
    float *y = malloc(ny * sizeof *y);
    th_fill(r, x, nx, -1, 1);
    th_fill(r, w, nw, -1, 1);
    th_fill(r, b, (size_t)d.cout, -1, 1);
    double *xd = th_to_double(x, nx), *wd = th_to_double(w, nw), *bd = th_to_double(b, (size_t)d.cout);
    double *ref = malloc(ny * sizeof *ref);
    conv_ref(&d, xd, wd, bd, ref);

    cl_mem dxm = th_upload(ctx, x, nx), dwm = th_upload(ctx, w, nw);
    cl_mem dbm = d.bias ? th_upload(ctx, b, (size_t)d.cout) : NULL;
    cl_mem dy = th_nan_buffer(ctx, ny), ws = ws_alloc(ctx, nws);
    MUST(ctx, kd_conv_forward(ctx, &d, dy, dxm, dwm, dbm, ws));
    ws_check(ctx, ws, nws, &d);
    th_download(ctx, dy, y, ny);
    double e = th_nmse(y, ref, ny), m = th_max_rel(y, ref, ny, 1e-5, 1e-4);
    CHECK(e < 1e-10 && m <= 1, "forward n=%d cin=%d %dx%d cout=%d k=%dx%d s=%d p=%d bias=%d: nmse %.2e max_rel %.2f",
          d.n, d.cin, d.h, d.w, d.cout, d.kh, d.kw, d.stride, d.pad, d.bias, e, m);

    kd_buffer_free(ctx, dxm);
    kd_buffer_free(ctx, dwm);
    kd_buffer_free(ctx, dbm);
    kd_buffer_free(ctx, dy);
    kd_buffer_free(ctx, ws);
    free(x), free(w), free(b), free(y), free(xd), free(wd), free(bd), free(ref);
}

/* The forward with inference batch norm (+ ReLU) applied as it stores
 * (kd_conv_forward_norm), against the reference conv followed by the
 * batch norm's formula in double; running statistics, gamma and beta
 * random, some gamma negative so that the ReLU clips. */
static void test_forward_norm(kd_ctx *ctx, th_rng *r, kd_conv_desc d, bool relu) {
    if (!kd_conv_fuses_norm(ctx, &d)) {
        CHECK(false, "conv n=%d cin=%d cout=%d k=%dx%d: expected a shape the own kernel computes", d.n, d.cin,
              d.cout, d.kh, d.kw);
        return;
    }
    size_t nx = in_numel(&d), ny = out_numel(&d), nw = w_numel(&d), nws = kd_conv_workspace_floats(&d), c = (size_t)d.cout;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(c * sizeof *b), *y = malloc(ny * sizeof *y);
    float *st = malloc(4 * c * sizeof *st); /* gamma, beta, mean, var */
    th_fill(r, x, nx, -1, 1);
    th_fill(r, w, nw, -1, 1);
    th_fill(r, b, c, -1, 1);
    th_fill(r, st, 3 * c, -1, 1);
    th_fill(r, st + 3 * c, c, 0.2f, 3);
    double *xd = th_to_double(x, nx), *wd = th_to_double(w, nw), *bd = th_to_double(b, c),
           *ref = malloc(ny * sizeof *ref);
    conv_ref(&d, xd, wd, bd, ref);
    size_t plane = (size_t)d.oh * d.ow;
    for (size_t i = 0; i < ny; i++) {
        size_t ch = (i / plane) % c;
        double v = (ref[i] - st[2 * c + ch]) * st[ch] / sqrt((double)st[3 * c + ch] + KD_BN_EPS) + st[c + ch];
        ref[i] = relu && v < 0 ? 0 : v;
    }
    cl_mem dxm = th_upload(ctx, x, nx), dwm = th_upload(ctx, w, nw), dbm = d.bias ? th_upload(ctx, b, c) : NULL;
    cl_mem g = th_upload(ctx, st, c), be = th_upload(ctx, st + c, c), mu = th_upload(ctx, st + 2 * c, c),
           var = th_upload(ctx, st + 3 * c, c);
    cl_mem dy = th_nan_buffer(ctx, ny), ws = ws_alloc(ctx, nws);
    kd_conv_norm norm = {g, be, mu, var, KD_BN_EPS, relu};
    MUST(ctx, kd_conv_forward_norm(ctx, &d, dy, dxm, dwm, dbm, ws, &norm));
    ws_check(ctx, ws, nws, &d);
    th_download(ctx, dy, y, ny);
    double e = th_nmse(y, ref, ny), m = th_max_rel(y, ref, ny, 1e-5, 1e-4);
    int clipped = 0;
    for (size_t i = 0; i < ny; i++) clipped += y[i] == 0.0f;
    CHECK(e < 1e-10 && m <= 1 && (!relu || clipped > 0),
          "forward + batch norm%s n=%d cin=%d %dx%d cout=%d k=%dx%d: nmse %.2e max_rel %.2f, %d clipped",
          relu ? " + relu" : "", d.n, d.cin, d.h, d.w, d.cout, d.kh, d.kw, e, m, clipped);
    cl_mem all[] = {dxm, dwm, dbm, g, be, mu, var, dy, ws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) kd_buffer_free(ctx, all[i]);
    free(x), free(w), free(b), free(y), free(st), free(xd), free(wd), free(bd), free(ref);
}

static void conv_ref_any(const void *d, const double *x, const double *w, const double *b, double *out) {
    conv_ref(d, x, w, b, out);
}

static void check_grad(const char *what, const kd_conv_desc *d, const char *tag, const float *got,
                       const double *ref, size_t n) {
    double e = th_nmse(got, ref, n), m = th_max_rel(got, ref, n, 1e-4, 1e-4);
    CHECK(e < 1e-10 && m <= 1, "%s %s n=%d cin=%d %dx%d cout=%d k=%dx%d s=%d p=%d bias=%d: nmse %.2e max_rel %.2f",
          what, tag, d->n, d->cin, d->h, d->w, d->cout, d->kh, d->kw, d->stride, d->pad, d->bias, e, m);
}

static void test_backward(kd_ctx *ctx, th_rng *r, kd_conv_desc d) {
    size_t nx = in_numel(&d), ny = out_numel(&d), nw = w_numel(&d), nb = (size_t)d.cout;
    size_t nws = kd_conv_workspace_floats(&d);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
    float *rr = malloc(ny * sizeof *rr), *g0w = malloc(nw * sizeof *g0w), *g0b = malloc(nb * sizeof *g0b);
    th_fill(r, x, nx, -1, 1);
    th_fill(r, w, nw, -1, 1);
    th_fill(r, b, nb, -1, 1);
    th_fill(r, rr, ny, -1, 1);
    th_fill(r, g0w, nw, -1, 1); /* gradients already accumulated by earlier micro-steps */
    th_fill(r, g0b, nb, -1, 1);
    double *xd = th_to_double(x, nx), *wd = th_to_double(w, nw), *bd = th_to_double(b, nb), *rd = th_to_double(rr, ny);
    double *scratch = malloc(ny * sizeof *scratch);
    double *fx = malloc(nx * sizeof *fx), *fw = malloc(nw * sizeof *fw), *fb = malloc(nb * sizeof *fb);
    th_fd_grad(conv_ref_any, &d, ny, xd, wd, bd, rd, xd, nx, fx, scratch);
    th_fd_grad(conv_ref_any, &d, ny, xd, wd, bd, rd, wd, nw, fw, scratch);
    if (d.bias) th_fd_grad(conv_ref_any, &d, ny, xd, wd, bd, rd, bd, nb, fb, scratch);

    cl_mem mx = th_upload(ctx, x, nx), mw = th_upload(ctx, w, nw), mb = d.bias ? th_upload(ctx, b, nb) : NULL;
    cl_mem mr = th_upload(ctx, rr, ny), my = th_nan_buffer(ctx, ny), ws = ws_alloc(ctx, nws);
    cl_mem mdx = th_nan_buffer(ctx, nx), mdw = th_upload(ctx, g0w, nw), mdb = d.bias ? th_upload(ctx, g0b, nb) : NULL;
    float *gx = malloc(nx * sizeof *gx), *gw = malloc(nw * sizeof *gw), *gb = malloc(nb * sizeof *gb);
    double *ew = malloc(nw * sizeof *ew), *eb = malloc(nb * sizeof *eb);

    /* As in training: forward, then other layers scribble over the workspace. */
    MUST(ctx, kd_conv_forward(ctx, &d, my, mx, mw, mb, ws));
    for (int call = 1; call <= 3; call++) {
        refill_nan(ctx, ws, nws);
        /* The third call skips dx, as for a model's first layer. */
        MUST(ctx, kd_conv_backward(ctx, &d, call < 3 ? mdx : NULL, mdw, mdb, mr, mx, mw, ws));
        char tag[32];
        snprintf(tag, sizeof tag, "call %d", call);
        th_download(ctx, mdx, gx, nx);
        check_grad("dx", &d, tag, gx, fx, nx); /* overwritten, not accumulated */
        th_download(ctx, mdw, gw, nw);
        for (size_t i = 0; i < nw; i++) ew[i] = g0w[i] + call * fw[i];
        check_grad("dW", &d, tag, gw, ew, nw);
        if (d.bias) {
            th_download(ctx, mdb, gb, nb);
            for (size_t i = 0; i < nb; i++) eb[i] = g0b[i] + call * fb[i];
            check_grad("db", &d, tag, gb, eb, nb);
        }
        refill_nan(ctx, mdx, call == 1 ? nx : 0);
    }
    /* dx alone (frozen weights): dW/db untouched. */
    refill_nan(ctx, mdx, nx);
    refill_nan(ctx, ws, nws);
    MUST(ctx, kd_conv_backward(ctx, &d, mdx, NULL, NULL, mr, mx, mw, ws));
    th_download(ctx, mdx, gx, nx);
    check_grad("dx", &d, "dx only", gx, fx, nx);
    th_download(ctx, mdw, gw, nw);
    for (size_t i = 0; i < nw; i++) ew[i] = g0w[i] + 3 * fw[i];
    check_grad("dW", &d, "dx only", gw, ew, nw);
    ws_check(ctx, ws, nws, &d);

    kd_buffer_free(ctx, mx);
    kd_buffer_free(ctx, mw);
    kd_buffer_free(ctx, mb);
    kd_buffer_free(ctx, mr);
    kd_buffer_free(ctx, my);
    kd_buffer_free(ctx, ws);
    kd_buffer_free(ctx, mdx);
    kd_buffer_free(ctx, mdw);
    kd_buffer_free(ctx, mdb);
    free(x), free(w), free(b), free(rr), free(g0w), free(g0b), free(xd), free(wd), free(bd), free(rd);
    free(scratch), free(fx), free(fw), free(fb), free(gx), free(gw), free(gb), free(ew), free(eb);
}

static void test_desc(void) {
    kd_err err = {0};
    kd_conv_desc d = {.n = 2, .cin = 3, .h = 3, .w = 3, .cout = 4, .kh = 5, .kw = 5, .stride = 1, .pad = 0};
    kd_status s = kd_conv_desc_init(&d, &err);
    CHECK(s == KD_ERR_USAGE && strstr(err.msg, "5x5") && strstr(err.msg, "3x3"),
          "5x5 kernel on 3x3 input: status %d, message '%s'", (int)s, err.msg);
    d.pad = 1; /* padded 5x5 now fits exactly */
    s = kd_conv_desc_init(&d, &err);
    CHECK(s == KD_OK && d.oh == 1 && d.ow == 1, "5x5 on 3x3 pad 1: status %d, %dx%d", (int)s, d.oh, d.ow);
    d = (kd_conv_desc){.n = 1, .cin = 3, .h = 8, .w = 20, .cout = 4, .kh = 9, .kw = 3, .stride = 1, .pad = 0};
    s = kd_conv_desc_init(&d, &err);
    CHECK(s == KD_ERR_USAGE && strstr(err.msg, "9x3"), "9x3 kernel on 8x20: status %d '%s'", (int)s, err.msg);
    d = (kd_conv_desc){.n = 1, .cin = 3, .h = 8, .w = 8, .cout = 4, .kh = 3, .kw = 3, .stride = 0, .pad = 0};
    CHECK(kd_conv_desc_init(&d, &err) == KD_ERR_USAGE, "stride 0 accepted");
    d.stride = 1, d.cin = 0;
    CHECK(kd_conv_desc_init(&d, &err) == KD_ERR_USAGE, "cin 0 accepted");

    /* Output sizes as PyTorch computes them. */
    const struct {
        int h, k, s, p, o;
    } cases[] = {{224, 7, 2, 3, 112}, {56, 3, 2, 1, 28}, {56, 1, 2, 0, 28}, {57, 1, 2, 0, 29},
                 {32, 3, 1, 1, 32}, {9, 3, 1, 0, 7}, {28, 3, 1, 0, 26}, {7, 3, 2, 1, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d = (kd_conv_desc){.n = 1, .cin = 1, .h = cases[i].h, .w = cases[i].h, .cout = 1, .kh = cases[i].k,
                           .kw = cases[i].k, .stride = cases[i].s, .pad = cases[i].p};
        s = kd_conv_desc_init(&d, &err);
        CHECK(s == KD_OK && d.oh == cases[i].o && d.ow == cases[i].o, "h=%d k=%d s=%d p=%d: got %dx%d want %d",
              cases[i].h, cases[i].k, cases[i].s, cases[i].p, d.oh, d.ow, cases[i].o);
    }
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng r = {7};
    test_desc();

    const geom geoms[] = {
        {1, 1, 1, 0}, {1, 1, 2, 0}, {3, 3, 1, 1}, {3, 3, 2, 1}, {7, 7, 2, 3}, {3, 3, 1, 0},
        /* less common: non-square kernel, stride > kernel gaps, padded 1x1 */
        {3, 1, 1, 1}, {5, 5, 3, 2}, {1, 1, 1, 1}, {2, 2, 2, 0}, {1, 3, 2, 0},
    };
    const int ng = (int)(sizeof geoms / sizeof geoms[0]);
    /* Both kernel families: per-element kernels (GPUs) and one work-item
     * per image row (CPUs), whatever this device would pick. */
    for (int serial = 0; serial <= 1; serial++) {
        kd_ctx_set_serial_reductions(ctx, serial);
        for (int g = 0; g < ng; g++)
            for (int n = 1; n <= 3; n += 2)
                for (int bias = 0; bias <= 1; bias++)
                    test_forward(ctx, &r, make_desc(n, 3, 7, 9, 5, geoms[g], bias));
        /* Larger and odd: several work-groups per kernel, K and n*P not
         * multiples of anything. Under the oclgrind simulator (CI's
         * uninitialised-value and race check) the costliest cases, a minute
         * each there, are left to the native runs: the code paths they take
         * are taken by smaller cases too, except where marked. */
        bool sim = kd_ctx_is_oclgrind(ctx);
        if (!sim) {
            test_forward(ctx, &r, make_desc(2, 19, 23, 17, 33, geoms[2], true));
            test_forward(ctx, &r, make_desc(4, 37, 15, 13, 70, geoms[0], true));
            test_forward(ctx, &r, make_desc(3, 5, 31, 29, 17, geoms[4], false));
        }
        test_forward(ctx, &r, make_desc(2, 64, 9, 11, 24, geoms[1], true));
        test_forward(ctx, &r, make_desc(1, 8, 40, 33, 12, geoms[0], false));

        for (int g = 0; g < ng; g++) test_backward(ctx, &r, make_desc(2, 2, 6, 5, 3, geoms[g], g % 3 != 2));
        test_backward(ctx, &r, make_desc(1, 3, 5, 7, 4, geoms[0], true)); /* 1x1, one image: no gather */
        test_backward(ctx, &r, make_desc(1, 2, 7, 6, 3, geoms[2], true));
        test_backward(ctx, &r, make_desc(3, 4, 9, 8, 6, geoms[3], true));
        /* 1x1 with P >= 128: dW by per-image GEMMs and a batch reduction. */
        test_backward(ctx, &r, make_desc(3, 2, 12, 11, 3, geoms[0], true));

        /* n*P >= 2048: dW's reduction split into 8 (2 x 32 x 32), 2 (2 x 33 x 33) equal parts;
         * 45 x 47 is odd, so one GEMM. */
        test_backward(ctx, &r, make_desc(2, 1, 32, 32, 2, geoms[2], true));
        if (!sim) { /* (not under oclgrind: the 2-part split, the odd size, the split GEMMs) */
            test_backward(ctx, &r, make_desc(2, 2, 33, 33, 3, geoms[2], false));
            test_backward(ctx, &r, make_desc(1, 1, 45, 47, 2, geoms[2], true));
            /* K = 36 > 32 with n*P >= 2048: the split GEMMs (the GPU family; CPUs: conv_dw_rows) (the cases
             * above, K <= 32, take conv_dw_dot; their forward, conv_dot, is in the forward cases with
             * cin = 3 and 3x3 kernels). */
            test_backward(ctx, &r, make_desc(2, 4, 32, 32, 2, geoms[2], true));
        }

        /* CPU devices' own products (conv_dot, conv_dw_rows; the GPU family
         * runs CLBlast on the same shapes): 1x1 with channel counts that fill
         * some 4 x 2 weight blocks and not others, a plane that is no
         * multiple of 8, dW's images split in 2 (few weights) or added into
         * dW directly (32 x 64: 256 blocks); k x k with K > 32 (not narrow),
         * cout x K <= 4,608 (own forward; 70 output channels: GEMM dcol), and
         * 16 -> 33 (4,752: GEMM forward, own dcol). */
        test_backward(ctx, &r, make_desc(3, 6, 7, 9, 9, geoms[0], true));
        test_forward(ctx, &r, make_desc(3, 6, 7, 9, 9, geoms[0], true));
        test_backward(ctx, &r, make_desc(2, 32, 5, 3, 64, geoms[0], false));
        test_backward(ctx, &r, make_desc(2, 5, 6, 7, 11, geoms[2], true));
        test_forward(ctx, &r, make_desc(2, 5, 6, 7, 11, geoms[2], true));
        test_backward(ctx, &r, make_desc(1, 16, 5, 6, 33, geoms[2], false));
        test_forward(ctx, &r, make_desc(2, 16, 5, 6, 33, geoms[2], true));
        test_backward(ctx, &r, make_desc(2, 4, 5, 5, 70, geoms[2], true));

        /* Rows wider than a work-group; more channels than one (bias gradient). */
        test_forward(ctx, &r, make_desc(2, 3, 5, 300, 4, geoms[2], true));
        test_backward(ctx, &r, make_desc(1, 2, 3, 261, 2, geoms[3], true));
        test_backward(ctx, &r, make_desc(2, 1, 2, 2, 300, geoms[2], true));
    }
    /* Inference batch norm applied by whichever kernel stores the output:
     * conv_dot (CPU family: 1x1, a narrow first layer, cout x K <= 4,608),
     * the layout change after the GEMM (both families, k x k with a batch);
     * odd planes. Not fused: a k x k GEMM of one image, a 1x1 GEMM (both
     * write NCHW themselves). */
    for (int serial = 0; serial <= 1; serial++) {
        kd_ctx_set_serial_reductions(ctx, serial);
        for (int relu = 0; relu <= 1; relu++) {
            if (serial) {
                test_forward_norm(ctx, &r, make_desc(3, 6, 7, 9, 9, geoms[0], relu), relu);
                test_forward_norm(ctx, &r, make_desc(2, 5, 6, 7, 11, geoms[3], true), relu);
            }
            test_forward_norm(ctx, &r, make_desc(2, 3, 9, 10, 5, geoms[2], !relu), relu);
            test_forward_norm(ctx, &r, make_desc(2, 16, 5, 6, 33, geoms[2], relu), relu);
        }
        kd_conv_desc one = make_desc(1, 16, 5, 6, 33, geoms[2], false), pw = make_desc(2, 6, 7, 9, 9, geoms[0], false);
        CHECK(!kd_conv_fuses_norm(ctx, &one), "one image, 3x3 16 -> 33 (a GEMM into NCHW): no fused batch norm");
        CHECK(kd_conv_fuses_norm(ctx, &pw) == serial, "1x1 (serial %d): fused batch norm on CPUs only", serial);
    }
    /* The work-group reductions (conv_dw_dot, the bias gradient) within a
     * device's local memory: 64 bytes leave 16 items. */
    kd_ctx_set_serial_reductions(ctx, false);
    uint64_t local_mem = kd_ctx_device(ctx)->local_mem;
    kd_ctx_set_local_mem(ctx, 64);
    test_backward(ctx, &r, make_desc(2, 1, 32, 32, 2, geoms[2], true));
    kd_ctx_set_local_mem(ctx, local_mem);
    kd_ctx_free(ctx);
    return th_done("test_conv");
}
