/* Dense forward against a float64 plain-C reference (batch 1 and > 1, odd
 * sizes, with and without bias); backward (dx, dW, db) against central
 * finite differences of the reference; += semantics of dW/db, overwrite of
 * dx and NULL gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/dense.h"
#include "tests/harness.h"
#include "tests/ref/fd.h"

static void dense_ref(const kd_dense_desc *d, const double *x, const double *w, const double *b, double *out) {
    for (int n = 0; n < d->n; n++)
        for (int o = 0; o < d->out; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < d->in; i++) s += x[n * d->in + i] * w[o * d->in + i];
            out[n * d->out + o] = s;
        }
}

static void test_forward(kd_ctx *ctx, th_rng *r, kd_dense_desc d, bool bias) {
    size_t nx = (size_t)d.n * d.in, ny = (size_t)d.n * d.out, nw = (size_t)d.out * d.in, nb = (size_t)d.out;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
    float *y = malloc(ny * sizeof *y);
    double *ref = malloc(ny * sizeof *ref);
    th_fill(r, x, nx, -1, 1);
    th_fill(r, w, nw, -1, 1);
    th_fill(r, b, nb, -1, 1);
    double *xd = th_to_double(x, nx), *wd = th_to_double(w, nw), *bd = th_to_double(b, nb);
    dense_ref(&d, xd, wd, bias ? bd : NULL, ref);
    cl_mem mx = th_upload(ctx, x, nx), mw = th_upload(ctx, w, nw), mb = bias ? th_upload(ctx, b, nb) : NULL;
    cl_mem my = th_nan_buffer(ctx, ny);
    MUST(ctx, kd_dense_forward(ctx, &d, my, mx, mw, mb));
    th_download(ctx, my, y, ny);
    double e = th_nmse(y, ref, ny), m = th_max_rel(y, ref, ny, 1e-5, 1e-4);
    CHECK(e < 1e-10 && m <= 1, "forward n=%d in=%d out=%d bias=%d: nmse %.2e max_rel %.2f", d.n, d.in, d.out,
          bias, e, m);
    kd_buffer_free(ctx, mx);
    kd_buffer_free(ctx, mw);
    kd_buffer_free(ctx, mb);
    kd_buffer_free(ctx, my);
    free(x), free(w), free(b), free(y), free(ref), free(xd), free(wd), free(bd);
}

static void dense_ref_any(const void *d, const double *x, const double *w, const double *b, double *out) {
    dense_ref(d, x, w, b, out);
}

static void check_grad(const char *what, const kd_dense_desc *d, int call, const float *got, const double *ref,
                       size_t n) {
    double e = th_nmse(got, ref, n), m = th_max_rel(got, ref, n, 1e-4, 1e-4);
    CHECK(e < 1e-10 && m <= 1, "%s call %d n=%d in=%d out=%d: nmse %.2e max_rel %.2f", what, call, d->n, d->in,
          d->out, e, m);
}

static void test_backward(kd_ctx *ctx, th_rng *r, kd_dense_desc d) {
    size_t nx = (size_t)d.n * d.in, ny = (size_t)d.n * d.out, nw = (size_t)d.out * d.in, nb = (size_t)d.out;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
    float *rr = malloc(ny * sizeof *rr), *g0w = malloc(nw * sizeof *g0w), *g0b = malloc(nb * sizeof *g0b);
    th_fill(r, x, nx, -1, 1);
    th_fill(r, w, nw, -1, 1);
    th_fill(r, b, nb, -1, 1);
    th_fill(r, rr, ny, -1, 1);
    th_fill(r, g0w, nw, -1, 1);
    th_fill(r, g0b, nb, -1, 1);
    double *xd = th_to_double(x, nx), *wd = th_to_double(w, nw), *bd = th_to_double(b, nb), *rd = th_to_double(rr, ny);
    double *scratch = malloc(ny * sizeof *scratch);
    double *fx = malloc(nx * sizeof *fx), *fw = malloc(nw * sizeof *fw), *fb = malloc(nb * sizeof *fb);
    th_fd_grad(dense_ref_any, &d, ny, xd, wd, bd, rd, xd, nx, fx, scratch);
    th_fd_grad(dense_ref_any, &d, ny, xd, wd, bd, rd, wd, nw, fw, scratch);
    th_fd_grad(dense_ref_any, &d, ny, xd, wd, bd, rd, bd, nb, fb, scratch);

    cl_mem mx = th_upload(ctx, x, nx), mw = th_upload(ctx, w, nw), mr = th_upload(ctx, rr, ny);
    cl_mem mdx = th_nan_buffer(ctx, nx), mdw = th_upload(ctx, g0w, nw), mdb = th_upload(ctx, g0b, nb);
    float *gx = malloc(nx * sizeof *gx), *gw = malloc(nw * sizeof *gw), *gb = malloc(nb * sizeof *gb);
    double *ew = malloc(nw * sizeof *ew), *eb = malloc(nb * sizeof *eb);
    for (int call = 1; call <= 3; call++) {
        /* The third call skips dx, as for a model's first layer. */
        MUST(ctx, kd_dense_backward(ctx, &d, call < 3 ? mdx : NULL, mdw, mdb, mr, mx, mw));
        th_download(ctx, mdx, gx, nx);
        check_grad("dx", &d, call, gx, fx, nx);
        th_download(ctx, mdw, gw, nw);
        th_download(ctx, mdb, gb, nb);
        for (size_t i = 0; i < nw; i++) ew[i] = g0w[i] + call * fw[i];
        for (size_t i = 0; i < nb; i++) eb[i] = g0b[i] + call * fb[i];
        check_grad("dW", &d, call, gw, ew, nw);
        check_grad("db", &d, call, gb, eb, nb);
        if (call == 1) MUST(ctx, kd_fill(ctx, mdx, 0, nx * sizeof(float), NAN)); /* call 2 must overwrite */
    }
    /* dx alone: dW/db untouched. */
    MUST(ctx, kd_fill(ctx, mdx, 0, nx * sizeof(float), NAN));
    MUST(ctx, kd_dense_backward(ctx, &d, mdx, NULL, NULL, mr, mx, mw));
    th_download(ctx, mdx, gx, nx);
    check_grad("dx", &d, 4, gx, fx, nx);
    th_download(ctx, mdw, gw, nw);
    th_download(ctx, mdb, gb, nb);
    for (size_t i = 0; i < nw; i++) ew[i] = g0w[i] + 3 * fw[i];
    for (size_t i = 0; i < nb; i++) eb[i] = g0b[i] + 3 * fb[i];
    check_grad("dW", &d, 4, gw, ew, nw);
    check_grad("db", &d, 4, gb, eb, nb);

    kd_buffer_free(ctx, mx);
    kd_buffer_free(ctx, mw);
    kd_buffer_free(ctx, mr);
    kd_buffer_free(ctx, mdx);
    kd_buffer_free(ctx, mdw);
    kd_buffer_free(ctx, mdb);
    free(x), free(w), free(b), free(rr), free(g0w), free(g0b), free(xd), free(wd), free(bd), free(rd);
    free(scratch), free(fx), free(fw), free(fb), free(gx), free(gw), free(gb), free(ew), free(eb);
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng r = {11};

    kd_dense_desc bad = {.n = 2, .in = 0, .out = 3};
    kd_status s = kd_dense_forward(ctx, &bad, NULL, NULL, NULL, NULL);
    CHECK(s == KD_ERR_USAGE && strstr(kd_ctx_err(ctx)->msg, "in=0"), "in=0: status %d '%s'", (int)s,
          kd_ctx_err(ctx)->msg);

    /* Both families of the bias kernels (cl/conv.cl): per element (GPUs)
     * and per row / per channel (CPUs), whatever this device would pick. */
    for (int serial = 0; serial <= 1; serial++) {
        kd_ctx_set_serial_reductions(ctx, serial);
        const kd_dense_desc fwd[] = {{1, 7, 5},      {3, 37, 19},  {1, 1, 1}, {5, 1, 9},
                                     {33, 513, 257}, {2, 1000, 10}, {200, 3, 2}};
        for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) {
            /* The large product (several work-groups of every kernel) only
             * natively: under the oclgrind simulator it took 5 minutes, and
             * {2, 1000, 10} and {200, 3, 2} take the same paths. */
            if (kd_ctx_is_oclgrind(ctx) && (long)fwd[i].n * fwd[i].in * fwd[i].out > 100000) continue;
            for (int bias = 0; bias <= 1; bias++) test_forward(ctx, &r, fwd[i], bias);
        }

        const kd_dense_desc bwd[] = {{3, 7, 5}, {1, 4, 3}, {6, 1, 2}, {37, 11, 13}, {300, 5, 3}};
        for (size_t i = 0; i < sizeof bwd / sizeof bwd[0]; i++) test_backward(ctx, &r, bwd[i]);
    }
    /* The bias gradient's work-group reduction within a device's local
     * memory: 64 bytes leave 16 items. */
    kd_ctx_set_serial_reductions(ctx, false);
    uint64_t local_mem = kd_ctx_device(ctx)->local_mem;
    kd_ctx_set_local_mem(ctx, 64);
    test_backward(ctx, &r, (kd_dense_desc){300, 5, 3});
    kd_ctx_set_local_mem(ctx, local_mem);

    kd_ctx_free(ctx);
    return th_done("test_dense");
}
