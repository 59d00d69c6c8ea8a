/* Timing of kd_conv_forward/backward with a per-kernel profile (GEMM share),
 * plus the alternatives weighed for the 1x1 stride-1 path. Built with kdcl
 * (CMake target conv_timing):
 *   build/conv_timing [reps]           (device from KDCL_DEVICE, as everywhere) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/buffer.h"
#include "runtime/device.h"
#include "src/cli/session.h"
#include "runtime/kernel.h"
#include "src/layers/conv.h"
#define TOOL_CTX ctx /* the context TRY reports from */
#include "tools/timing.h"

static cl_mem buf(kd_ctx *ctx, size_t floats, float v) {
    cl_mem m;
    TRY(kd_buffer_alloc(ctx, floats * sizeof(float), "timing", &m));
    TRY(kd_fill(ctx, m, 0, floats * sizeof(float), v));
    return m;
}

typedef struct bufs {
    cl_mem x, y, w, b, dx, dw, db, ws;
} bufs;

static bufs alloc_all(kd_ctx *ctx, const kd_conv_desc *d) {
    size_t nx = (size_t)d->n * d->cin * d->h * d->w, ny = (size_t)d->n * d->cout * d->oh * d->ow;
    size_t nw = (size_t)d->cout * d->cin * d->kh * d->kw, nws = kd_conv_workspace_floats(d);
    bufs b = {buf(ctx, nx, 0.5f), buf(ctx, ny, 0.25f), buf(ctx, nw, 0.01f), buf(ctx, (size_t)d->cout, 0.1f),
              buf(ctx, nx, 0), buf(ctx, nw, 0), buf(ctx, (size_t)d->cout, 0), buf(ctx, nws, 0)};
    return b;
}

static void free_all(kd_ctx *ctx, bufs *b) {
    cl_mem *m = &b->x;
    for (int i = 0; i < 8; i++) kd_buffer_free(ctx, m[i]);
}

static void time_conv(kd_ctx *ctx, kd_conv_desc d, int reps) {
    kd_err err = {0};
    if (kd_conv_desc_init(&d, &err) != KD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(2);
    }
    bufs b = alloc_all(ctx, &d);
    double flops = 2.0 * d.n * d.cout * d.oh * d.ow * (double)d.cin * d.kh * d.kw;
    printf("\n== conv n=%d %d->%d %dx%d k=%dx%d s=%d p=%d (forward %.2f GFLOP, ws %.1f MB)\n", d.n, d.cin, d.cout,
           d.h, d.w, d.kh, d.kw, d.stride, d.pad, flops * 1e-9, kd_conv_workspace_floats(&d) * 4e-6);
    /* Warm-up: kernel builds and CLBlast's own compilation. */
    TRY(kd_conv_forward(ctx, &d, b.y, b.x, b.w, b.b, b.ws));
    TRY(kd_conv_backward(ctx, &d, b.dx, b.dw, b.db, b.y, b.x, b.w, b.ws));
    TRY(kd_finish(ctx));
    for (int dir = 0; dir < 2; dir++) {
        kd_prof_reset(ctx);
        double best = 1e30, sum = 0;
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            if (dir == 0) TRY(kd_conv_forward(ctx, &d, b.y, b.x, b.w, b.b, b.ws));
            else TRY(kd_conv_backward(ctx, &d, b.dx, b.dw, b.db, b.y, b.x, b.w, b.ws));
            TRY(kd_finish(ctx));
            double t = now_ms() - t0;
            sum += t;
            if (t < best) best = t;
        }
        printf("-- %s: best %.1f ms, mean %.1f ms over %d (%.1f GFLOP/s at best)\n", dir ? "backward" : "forward",
               best, sum / reps, reps, (dir ? 2 : 1) * flops / best * 1e-6);
        kd_prof_print(ctx, sum, stdout);
        /* CLBlast reports one event per call (its last kernel), so the GEMM
         * rows above under-count; the own kernels are single launches and
         * their events are exact, which leaves the GEMM time by difference. */
        double own = 0;
        for (int i = 0; i < kd_prof_rows(ctx); i++)
            if (!kd_prof_row(ctx, i)->is_gemm) own += kd_prof_row(ctx, i)->ms;
        double mean = sum / reps, gemm = mean - own / reps;
        printf("   per call: wall %.1f ms, own kernels %.1f ms, GEMM (wall - own) %.1f ms = %.0f%% of wall\n", mean,
               own / reps, gemm, 100.0 * gemm / mean);
    }
    free_all(ctx, &b);
}

/* The conv's GEMMs alone, timed by the host clock: CLBlast may enqueue
 * several kernels per call (layout/padding helpers) and hands back the
 * event of one, so the profile table can under-count GEMM time. */
static void time_gemms(kd_ctx *ctx, kd_conv_desc d, int reps) {
    kd_err err = {0};
    if (kd_conv_desc_init(&d, &err) != KD_OK) exit(2);
    size_t K = (size_t)d.cin * d.kh * d.kw, NP = (size_t)d.n * d.oh * d.ow, M = (size_t)d.cout;
    cl_mem w = buf(ctx, M * K, 0.01f), col = buf(ctx, K * NP, 0.5f), y = buf(ctx, M * NP, 0.25f);
    cl_mem dw = buf(ctx, M * K, 0);
    kd_gemm_args gs[3] = {
        {.m = M, .n = NP, .k = K, .alpha = 1, .a = w, .lda = K, .b = col, .ldb = NP, .c = y, .ldc = NP},
        {.tb = true, .m = M, .n = K, .k = NP, .alpha = 1, .beta = 1, .a = y, .lda = NP, .b = col, .ldb = NP,
         .c = dw, .ldc = K},
        {.ta = true, .m = K, .n = NP, .k = M, .alpha = 1, .a = w, .lda = K, .b = y, .ldb = NP, .c = col,
         .ldc = NP}};
    static const char *names[] = {"forward  Y = W*col      (NN)", "backward dW += dY*col^T (NT)",
                                  "backward dcol = W^T*dY  (TN)"};
    double flops = 2.0 * (double)M * (double)K * (double)NP;
    for (int i = 0; i < 3; i++) {
        double best = 1e30, sum = 0;
        for (int r = 0; r <= reps; r++) { /* r == 0 warms up */
            TRY(kd_finish(ctx));
            double t0 = now_ms();
            TRY(kd_sgemm(ctx, &gs[i]));
            TRY(kd_finish(ctx));
            double t = now_ms() - t0;
            if (r) sum += t;
            if (r && t < best) best = t;
        }
        printf("  gemm %-30s m=%zu n=%zu k=%zu: best %.1f ms, mean %.1f ms (%.1f GFLOP/s)\n", names[i], gs[i].m,
               gs[i].n, gs[i].k, best, sum / reps, flops / best * 1e-6);
    }
    kd_buffer_free(ctx, w);
    kd_buffer_free(ctx, col);
    kd_buffer_free(ctx, y);
    kd_buffer_free(ctx, dw);
}

/* 1x1 stride 1: the ways to do each GEMM without a host loop per image.
 * Forward: strided-batched GEMM straight on NCHW, or layout change + one
 * folded GEMM + layout change back. dW: layout changes of in and dout to
 * [c][n*P] + one GEMM with k = n*P, or strided-batched per-image GEMMs into
 * partials + a reduction over the batch. */
static void time_pointwise_alternatives(kd_ctx *ctx, int n, int cin, int cout, int hw, int reps) {
    kd_conv_desc d = {.n = n, .cin = cin, .h = hw, .w = hw, .cout = cout, .kh = 1, .kw = 1, .stride = 1};
    kd_err err = {0};
    if (kd_conv_desc_init(&d, &err) != KD_OK) exit(2);
    bufs b = alloc_all(ctx, &d);
    int P = hw * hw, NP = n * P, in_off = 0, y_off = cin * NP, len = cin * cout, zero = 0;
    cl_mem partial = buf(ctx, (size_t)n * cin * cout, 0);
    /* The layout-change alternatives keep in and dout as [c][n*P] side by side;
     * the shipped 1x1 path needs less workspace than that. */
    cl_mem cm = buf(ctx, (size_t)(cin + cout) * NP, 0);
    printf("\n== 1x1 alternatives n=%d %d->%d %dx%d\n", n, cin, cout, hw, hw);
    enum { NALT = 6 };
    static const char *names[NALT] = {"forward: kd_conv_forward as shipped (CPUs: conv_dot; GPUs: batched GEMM on NCHW)",
                                      "forward: layout change + folded GEMM + layout change",
                                      "dW: layout changes + one GEMM (k = n*P)",
                                      "dW: batched per-image GEMM + batch reduction",
                                      "dx: batched GEMM on NCHW",
                                      "dW: kd_conv_backward as shipped"};
    /* Alternatives interleaved, so that load from other processes hits them alike. */
    double best[NALT];
    for (int alt = 0; alt < NALT; alt++) best[alt] = 1e30;
    for (int r = 0; r <= reps; r++) /* r == 0 warms up */
        for (int alt = 0; alt < NALT; alt++) {
            TRY(kd_finish(ctx));
            double t0 = now_ms();
            if (alt == 0) {
                TRY(kd_conv_forward(ctx, &d, b.y, b.x, b.w, NULL, b.ws));
            } else if (alt == 1) {
                TRY(kd_run3d(ctx, "conv", "conv_nchw_to_cm", (size_t)P, (size_t)cin, (size_t)n,
                             KD_ARGS(KD_ARG(cm), KD_ARG(in_off), KD_ARG(b.x), KD_ARG(n), KD_ARG(cin), KD_ARG(P))));
                kd_gemm_args g = {.m = (size_t)cout, .n = (size_t)NP, .k = (size_t)cin, .alpha = 1, .a = b.w,
                                  .lda = (size_t)cin, .b = cm, .ldb = (size_t)NP, .c = cm,
                                  .c_off = (size_t)y_off, .ldc = (size_t)NP};
                TRY(kd_sgemm(ctx, &g));
                int has_bias = 0, norm = 0;
                float eps = 0;
                TRY(kd_run3d(ctx, "conv", "conv_cm_to_nchw", (size_t)P, (size_t)cout, (size_t)n,
                             KD_ARGS(KD_ARG(b.y), KD_ARG(cm), KD_ARG(y_off), KD_ARG(b.w), KD_ARG(has_bias),
                                     KD_ARG(n), KD_ARG(cout), KD_ARG(P), KD_ARG(norm), KD_ARG(b.w), KD_ARG(b.w),
                                     KD_ARG(b.w), KD_ARG(b.w), KD_ARG(eps), KD_ARG(norm))));
            } else if (alt == 2) {
                TRY(kd_run3d(ctx, "conv", "conv_nchw_to_cm", (size_t)P, (size_t)cin, (size_t)n,
                             KD_ARGS(KD_ARG(cm), KD_ARG(in_off), KD_ARG(b.x), KD_ARG(n), KD_ARG(cin), KD_ARG(P))));
                TRY(kd_run3d(ctx, "conv", "conv_nchw_to_cm", (size_t)P, (size_t)cout, (size_t)n,
                             KD_ARGS(KD_ARG(cm), KD_ARG(y_off), KD_ARG(b.y), KD_ARG(n), KD_ARG(cout), KD_ARG(P))));
                kd_gemm_args g = {.tb = true, .m = (size_t)cout, .n = (size_t)cin, .k = (size_t)NP, .alpha = 1,
                                  .beta = 1, .a = cm, .a_off = (size_t)y_off, .lda = (size_t)NP, .b = cm,
                                  .ldb = (size_t)NP, .c = b.dw, .ldc = (size_t)cin};
                TRY(kd_sgemm(ctx, &g));
            } else if (alt == 3) {
                kd_gemm_args g = {.tb = true, .m = (size_t)cout, .n = (size_t)cin, .k = (size_t)P, .alpha = 1,
                                  .a = b.y, .lda = (size_t)P, .b = b.x, .ldb = (size_t)P, .c = partial,
                                  .ldc = (size_t)cin};
                TRY(kd_sgemm_batched(ctx, &g, (size_t)cout * P, (size_t)cin * P, (size_t)cout * cin, (size_t)n));
                TRY(kd_run1d(ctx, "conv", "conv_sum_batches", (size_t)len,
                             KD_ARGS(KD_ARG(b.dw), KD_ARG(partial), KD_ARG(zero), KD_ARG(n), KD_ARG(len))));
            } else if (alt == 4) {
                TRY(kd_conv_backward(ctx, &d, b.dx, NULL, NULL, b.y, b.x, b.w, b.ws));
            } else {
                TRY(kd_conv_backward(ctx, &d, NULL, b.dw, NULL, b.y, b.x, b.w, b.ws));
            }
            TRY(kd_finish(ctx));
            double t = now_ms() - t0;
            if (r && t < best[alt]) best[alt] = t;
        }
    for (int alt = 0; alt < NALT; alt++) printf("  %-56s best %8.1f ms\n", names[alt], best[alt]);
    kd_buffer_free(ctx, partial);
    kd_buffer_free(ctx, cm);
    free_all(ctx, &b);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    kd_err err = {0};
    /* The device and CLBlast tuning a kdcl command would use (KDCL_DEVICE). */
    kd_ctx *ctx = NULL;
    kd_ctx_opts opts = {.profiling = true};
    if (kd_session_open(&(kd_global){0}, &opts, &ctx, &err) != KD_OK) return kd_cli_report(&err);
    printf("device: %s\n", kd_ctx_device(ctx)->name);

    const char *only = getenv("CONV_TIMING_ONLY"); /* "main" or "pointwise"; unset: both */
    kd_conv_desc main_case = {.n = 32, .cin = 64, .h = 56, .w = 56, .cout = 64, .kh = 3, .kw = 3,
                              .stride = 1, .pad = 1, .bias = true};
    /* CONV_TIMING_CASE="n,cin,cout,size,k,stride": that convolution alone (padding k/2). */
    const char *one = getenv("CONV_TIMING_CASE");
    if (one) {
        kd_conv_desc d = {.bias = false};
        int k = 0;
        if (sscanf(one, "%d,%d,%d,%d,%d,%d", &d.n, &d.cin, &d.cout, &d.h, &k, &d.stride) != 6) {
            fprintf(stderr, "CONV_TIMING_CASE='%s': want n,cin,cout,size,k,stride\n", one);
            return 2;
        }
        d.w = d.h, d.kh = d.kw = k, d.pad = k / 2;
        time_conv(ctx, d, reps);
        kd_ctx_free(ctx);
        return 0;
    }
    if (!only || !strcmp(only, "main")) {
        time_conv(ctx, main_case, reps);
        time_gemms(ctx, main_case, reps);
    }
    if (!only || !strcmp(only, "pointwise")) {
        /* ResNet bottleneck 1x1s across the stage sizes of 128 px and 32 px inputs. */
        time_pointwise_alternatives(ctx, 32, 64, 256, 32, reps);
        time_pointwise_alternatives(ctx, 32, 256, 64, 16, reps);
        time_pointwise_alternatives(ctx, 32, 512, 128, 8, reps);
        time_pointwise_alternatives(ctx, 32, 1024, 256, 4, reps);
    }
    kd_ctx_free(ctx);
    return 0;
}
