/* Per-kernel timing of kdcl's own kernels (everything except the GEMMs) at
 * the shapes of the two CPU training benchmarks: seed-cnn on 1x36x36 and
 * resnet14:width=0.25 on 1x28x28, batch 32. Only public layer calls, so the
 * same file builds against an older libkdcore.a for a before/after run on
 * the same machine at the same time (link it against that build's
 * libkdcore.a and the libraries CMakeLists.txt names). Built with kdcl
 * (CMake target kernel_timing):
 *   build/kernel_timing [reps] [filter]   (device from KDCL_DEVICE, as everywhere)
 * KT_SERIAL=0|1 overrides kd_ctx_serial_reductions(ctx) (the CPU kernel variants),
 * so the GPU variants can be timed on a CPU too. Output: one line per op,
 * the median over the repetitions of its wall time per call (kd_finish after
 * each call, so launch overhead counts) and of the device time of every
 * kernel it ran. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/device.h"
#include "src/cli/session.h"
#include "src/data/loader.h"
#include "src/layers/conv.h"
#include "src/layers/dense.h"
#include "src/layers/eltwise.h"
#include "src/layers/pool.h"
#include "src/train/optim.h"
#define TOOL_CTX g_ctx /* the context TRY reports from */
#include "tools/timing.h"

static kd_ctx *g_ctx; /* for TRY's message only */

/* A buffer of `floats` values in [-1, 1) (deterministic), so that max
 * pooling, ReLU and the losses see realistic data rather than constants. */
static cl_mem rand_buf(kd_ctx *ctx, size_t floats, unsigned seed) {
    float *h = malloc(floats * sizeof(float));
    if (!h) exit(1);
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < floats; i++) {
        s = s * 1664525u + 1013904223u;
        h[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    cl_mem m;
    TRY(kd_buffer_alloc(ctx, floats * sizeof(float), "timing", &m));
    TRY(kd_write(ctx, m, 0, floats * sizeof(float), h, true));
    free(h);
    return m;
}

typedef struct op {
    const char *name;
    void (*run)(kd_ctx *ctx, void *state);
    void *state;
} op;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Medians over the repetitions: the machine is shared, and a median shrugs
 * off the repetitions that another process interrupted. */
enum { MAX_REPS = 200, MAX_K = 16 };
static void time_op(kd_ctx *ctx, const op *o, int reps) {
    static double wall[MAX_REPS], dev[MAX_K][MAX_REPS];
    static char names[MAX_K][64];
    int nk = 0;
    if (reps > MAX_REPS) reps = MAX_REPS;
    o->run(ctx, o->state); /* warm-up: kernel builds */
    TRY(kd_finish(ctx));
    for (int r = 0; r < reps; r++) {
        kd_prof_reset(ctx);
        double t0 = now_ms();
        o->run(ctx, o->state);
        TRY(kd_finish(ctx));
        wall[r] = now_ms() - t0;
        for (int i = 0; i < kd_prof_rows(ctx); i++) {
            const kd_prof_stat *p = kd_prof_row(ctx, i);
            if (!p->calls) continue;
            int j = 0;
            while (j < nk && strcmp(names[j], p->name)) j++;
            if (j == nk) {
                if (nk == MAX_K) continue;
                snprintf(names[nk++], sizeof names[0], "%s", p->name);
                for (int q = 0; q < r; q++) dev[j][q] = 0;
            }
            dev[j][r] = p->ms;
        }
    }
    printf("%-32s wall %7.3f ms |", o->name, median(wall, reps));
    for (int j = 0; j < nk; j++) printf(" %s %.3f", names[j], median(dev[j], reps));
    printf("\n");
    fflush(stdout);
}

/* --- pooling ----------------------------------------------------------- */
typedef struct pool_state {
    kd_pool_desc d;
    cl_mem x, y, am, dx, dy;
} pool_state;

static pool_state *pool_new(kd_ctx *ctx, int n, int c, int hw, int k, int s, int pad) {
    pool_state *p = calloc(1, sizeof *p);
    p->d = (kd_pool_desc){.n = n, .c = c, .h = hw, .w = hw, .k = k, .stride = s, .pad = pad};
    TRY(kd_pool_desc_init(&p->d, kd_ctx_err(ctx)));
    size_t nx = (size_t)n * c * hw * hw, ny = (size_t)n * c * p->d.oh * p->d.ow;
    p->x = rand_buf(ctx, nx, 1);
    p->dx = rand_buf(ctx, nx, 2);
    p->y = rand_buf(ctx, ny, 3);
    p->dy = rand_buf(ctx, ny, 4);
    TRY(kd_buffer_alloc(ctx, ny * sizeof(int), "timing", &p->am));
    TRY(kd_maxpool_forward(ctx, &p->d, p->y, p->am, p->x));
    return p;
}
static void maxpool_fwd(kd_ctx *ctx, void *s) {
    pool_state *p = s;
    TRY(kd_maxpool_forward(ctx, &p->d, p->y, p->am, p->x));
}
static void maxpool_bwd(kd_ctx *ctx, void *s) {
    pool_state *p = s;
    TRY(kd_maxpool_backward(ctx, &p->d, p->dx, p->dy, p->am));
}
static void avgpool_fwd(kd_ctx *ctx, void *s) {
    pool_state *p = s;
    TRY(kd_avgpool_forward(ctx, &p->d, p->y, p->x));
}
static void avgpool_bwd(kd_ctx *ctx, void *s) {
    pool_state *p = s;
    TRY(kd_avgpool_backward(ctx, &p->d, p->dx, p->dy));
}
static void gap_fwd(kd_ctx *ctx, void *s) {
    pool_state *p = s;
    TRY(kd_gap_forward(ctx, p->d.n, p->d.c, p->d.h * p->d.w, p->y, p->x));
}
static void gap_bwd(kd_ctx *ctx, void *s) {
    pool_state *p = s;
    TRY(kd_gap_backward(ctx, p->d.n, p->d.c, p->d.h * p->d.w, p->dx, p->dy));
}

/* --- convolution and dense --------------------------------------------- */
typedef struct conv_state {
    kd_conv_desc d;
    cl_mem x, y, w, b, dx, dw, db, dy, ws;
} conv_state;

static conv_state *conv_new(kd_ctx *ctx, int n, int cin, int hw, int cout, int k, int s, int pad, bool bias) {
    conv_state *c = calloc(1, sizeof *c);
    c->d = (kd_conv_desc){.n = n, .cin = cin, .h = hw, .w = hw, .cout = cout, .kh = k, .kw = k, .stride = s,
                          .pad = pad, .bias = bias};
    TRY(kd_conv_desc_init(&c->d, kd_ctx_err(ctx)));
    size_t nx = (size_t)n * cin * hw * hw, ny = (size_t)n * cout * c->d.oh * c->d.ow;
    size_t nw = (size_t)cout * cin * k * k;
    c->x = rand_buf(ctx, nx, 5);
    c->dx = rand_buf(ctx, nx, 6);
    c->y = rand_buf(ctx, ny, 7);
    c->dy = rand_buf(ctx, ny, 8);
    c->w = rand_buf(ctx, nw, 9);
    c->dw = rand_buf(ctx, nw, 10);
    c->b = rand_buf(ctx, (size_t)cout, 11);
    c->db = rand_buf(ctx, (size_t)cout, 12);
    c->ws = rand_buf(ctx, kd_conv_workspace_floats(&c->d), 13);
    return c;
}
static void conv_fwd(kd_ctx *ctx, void *s) {
    conv_state *c = s;
    TRY(kd_conv_forward(ctx, &c->d, c->y, c->x, c->w, c->b, c->ws));
}
static void conv_bwd(kd_ctx *ctx, void *s) {
    conv_state *c = s;
    TRY(kd_conv_backward(ctx, &c->d, c->dx, c->dw, c->d.bias ? c->db : NULL, c->dy, c->x, c->w, c->ws));
}
/* The first layer's backward: no dx. */
static void conv_bwd_nodx(kd_ctx *ctx, void *s) {
    conv_state *c = s;
    TRY(kd_conv_backward(ctx, &c->d, NULL, c->dw, c->d.bias ? c->db : NULL, c->dy, c->x, c->w, c->ws));
}

typedef struct dense_state {
    kd_dense_desc d;
    cl_mem x, y, w, b, dx, dw, db, dy;
} dense_state;

static dense_state *dense_new(kd_ctx *ctx, int n, int in, int out) {
    dense_state *q = calloc(1, sizeof *q);
    q->d = (kd_dense_desc){.n = n, .in = in, .out = out};
    q->x = rand_buf(ctx, (size_t)n * in, 14);
    q->dx = rand_buf(ctx, (size_t)n * in, 15);
    q->y = rand_buf(ctx, (size_t)n * out, 16);
    q->dy = rand_buf(ctx, (size_t)n * out, 17);
    q->w = rand_buf(ctx, (size_t)in * out, 18);
    q->dw = rand_buf(ctx, (size_t)in * out, 19);
    q->b = rand_buf(ctx, (size_t)out, 20);
    q->db = rand_buf(ctx, (size_t)out, 21);
    return q;
}
static void dense_fwd(kd_ctx *ctx, void *s) {
    dense_state *q = s;
    TRY(kd_dense_forward(ctx, &q->d, q->y, q->x, q->w, q->b));
}
static void dense_bwd(kd_ctx *ctx, void *s) {
    dense_state *q = s;
    TRY(kd_dense_backward(ctx, &q->d, q->dx, q->dw, q->db, q->dy, q->x, q->w));
}

/* --- element-wise, optimizer, input preprocessing ------------------------ */
typedef struct elt_state {
    size_t n;
    cl_mem a, b, c;
} elt_state;

static elt_state *elt_new(kd_ctx *ctx, size_t n) {
    elt_state *e = calloc(1, sizeof *e);
    e->n = n;
    e->a = rand_buf(ctx, n, 22);
    e->b = rand_buf(ctx, n, 23);
    e->c = rand_buf(ctx, 2 * n, 24);
    return e;
}
static void relu_fwd(kd_ctx *ctx, void *s) {
    elt_state *e = s;
    TRY(kd_relu_forward(ctx, e->n, e->b, e->a));
}
static void relu_bwd(kd_ctx *ctx, void *s) {
    elt_state *e = s;
    TRY(kd_relu_backward(ctx, e->n, e->c, e->a, e->b));
}
static void add_fwd(kd_ctx *ctx, void *s) {
    elt_state *e = s;
    TRY(kd_add_forward(ctx, e->n, e->c, e->a, e->b, false));
}
static void dropout_fwd(kd_ctx *ctx, void *s) {
    elt_state *e = s;
    TRY(kd_dropout_forward(ctx, e->n, e->b, e->a, 0.5f, 42, 7));
}
static void adam_step(kd_ctx *ctx, void *s) {
    elt_state *e = s;
    kd_optim_cfg cfg = kd_optim_default(KD_OPTIM_ADAM);
    TRY(kd_optim_step(ctx, &cfg, e->n, e->a, e->b, e->c, 1e-3f, 3, NULL));
}

typedef struct prep_state {
    kd_prep_desc p;
    kd_batch b;
    int sc, sh, sw;
    cl_mem out;
} prep_state;

static prep_state *prep_new(kd_ctx *ctx, int n, int sc, int shw, int oc, int ohw, bool aug) {
    prep_state *p = calloc(1, sizeof *p);
    p->p = (kd_prep_desc){.out_c = oc, .out_h = ohw, .out_w = ohw, .mean = {0.5f, 0.4f, 0.3f},
                          .std = {0.25f, 0.2f, 0.3f}};
    p->sc = sc;
    p->sh = p->sw = shw;
    size_t px = (size_t)n * sc * shw * shw;
    unsigned char *h = malloc(px);
    for (size_t i = 0; i < px; i++) h[i] = (unsigned char)(i * 37u + i / 7u);
    p->b.n = n;
    TRY(kd_buffer_alloc(ctx, px, "timing", &p->b.pixels));
    TRY(kd_write(ctx, p->b.pixels, 0, px, h, true));
    free(h);
    if (aug) {
        int *a = malloc((size_t)n * 3 * sizeof(int));
        for (int i = 0; i < n; i++) {
            a[3 * i] = i % 5;
            a[3 * i + 1] = (i * 3) % 5;
            a[3 * i + 2] = i & 1;
        }
        TRY(kd_buffer_alloc(ctx, (size_t)n * 3 * sizeof(int), "timing", &p->b.aug));
        TRY(kd_write(ctx, p->b.aug, 0, (size_t)n * 3 * sizeof(int), a, true));
        free(a);
    }
    TRY(kd_buffer_alloc(ctx, (size_t)n * oc * ohw * ohw * sizeof(float), "timing", &p->out));
    return p;
}
static void prep_run(kd_ctx *ctx, void *s) {
    prep_state *p = s;
    TRY(kd_prep_run(ctx, &p->p, p->sc, p->sh, p->sw, &p->b, p->b.aug ? 2 : 0, p->out));
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    const char *filter = argc > 2 ? argv[2] : NULL;
    kd_err err = {0};
    /* The device and CLBlast tuning a kdcl command would use (KDCL_DEVICE). */
    kd_ctx *ctx = NULL;
    kd_ctx_opts opts = {.profiling = true};
    if (kd_session_open(&(kd_global){0}, &opts, &ctx, &err) != KD_OK) return kd_cli_report(&err);
    g_ctx = ctx;
    const char *serial = getenv("KT_SERIAL");
    if (serial) kd_ctx_set_serial_reductions(ctx, atoi(serial) != 0);
    printf("device: %s, serial_reductions %d, %d reps\n", kd_ctx_device(ctx)->name, kd_ctx_serial_reductions(ctx),
           reps);

    int n = 32;
    op ops[] = {
        /* seed-cnn, 1x36x36 from 28x28 fashion-mnist */
        {"seed prep 28->36", prep_run, prep_new(ctx, n, 1, 28, 1, 36, false)},
        {"seed conv1 fwd 1->16 36", conv_fwd, conv_new(ctx, n, 1, 36, 16, 3, 1, 0, true)},
        {"seed conv1 bwd (no dx)", conv_bwd_nodx, NULL},
        {"seed relu1 fwd 16x34x34", relu_fwd, elt_new(ctx, (size_t)n * 16 * 34 * 34)},
        {"seed relu1 bwd", relu_bwd, NULL},
        {"seed pool1 fwd 16x34x34 k3", maxpool_fwd, pool_new(ctx, n, 16, 34, 3, 3, 0)},
        {"seed pool1 bwd", maxpool_bwd, NULL},
        {"seed conv2 fwd 16->32 11", conv_fwd, conv_new(ctx, n, 16, 11, 32, 3, 1, 0, true)},
        {"seed conv2 bwd", conv_bwd, NULL},
        {"seed pool2 fwd 32x9x9 k3", maxpool_fwd, pool_new(ctx, n, 32, 9, 3, 3, 0)},
        {"seed pool2 bwd", maxpool_bwd, NULL},
        {"seed conv3 fwd 32->64 3", conv_fwd, conv_new(ctx, n, 32, 3, 64, 3, 1, 0, true)},
        {"seed conv3 bwd", conv_bwd, NULL},
        {"seed dense1 fwd 64->128", dense_fwd, dense_new(ctx, n, 64, 128)},
        {"seed dense1 bwd", dense_bwd, NULL},
        {"seed dropout 32x128", dropout_fwd, elt_new(ctx, (size_t)n * 128)},
        {"seed adam 32906", adam_step, elt_new(ctx, 32906)},
        /* resnet14:width=0.25, small stem, 1x28x28 */
        {"res conv1 fwd 1->16 28 p1", conv_fwd, conv_new(ctx, n, 1, 28, 16, 3, 1, 1, false)},
        {"res conv1 bwd (no dx)", conv_bwd_nodx, NULL},
        {"res l1 3x3 fwd 16->16 28", conv_fwd, conv_new(ctx, n, 16, 28, 16, 3, 1, 1, false)},
        {"res l1 3x3 bwd", conv_bwd, NULL},
        {"res l1 1x1 fwd 16->64 28", conv_fwd, conv_new(ctx, n, 16, 28, 64, 1, 1, 0, false)},
        {"res l1 1x1 bwd", conv_bwd, NULL},
        {"res l2 3x3s2 fwd 32 28->14", conv_fwd, conv_new(ctx, n, 32, 28, 32, 3, 2, 1, false)},
        {"res l2 3x3s2 bwd", conv_bwd, NULL},
        {"res l2 ds1x1s2 fwd 64->128 28", conv_fwd, conv_new(ctx, n, 64, 28, 128, 1, 2, 0, false)},
        {"res l2 ds1x1s2 bwd", conv_bwd, NULL},
        {"res l3 3x3s2 fwd 64 14->7", conv_fwd, conv_new(ctx, n, 64, 14, 64, 3, 2, 1, false)},
        {"res l3 3x3s2 bwd", conv_bwd, NULL},
        {"res l4 3x3s2 fwd 128 7->4", conv_fwd, conv_new(ctx, n, 128, 7, 128, 3, 2, 1, false)},
        {"res l4 3x3s2 bwd", conv_bwd, NULL},
        {"res add 64x28x28", add_fwd, elt_new(ctx, (size_t)n * 64 * 28 * 28)},
        {"res gap fwd 512x4x4", gap_fwd, pool_new(ctx, n, 512, 4, 1, 1, 0)},
        {"res gap bwd", gap_bwd, NULL},
        {"res dense 512->256", dense_fwd, dense_new(ctx, n, 512, 256)},
        {"res dense 512->256 bwd", dense_bwd, NULL},
        {"res adam 638074", adam_step, elt_new(ctx, 638074)},
        {"res relu bwd 64x28x28", relu_bwd, elt_new(ctx, (size_t)n * 64 * 28 * 28)},
        {"res dropout 64x28x28", dropout_fwd, NULL},
        /* others: augmented 3-channel prep, average pooling with overlap */
        {"cifar prep 3x32 crop,flip", prep_run, prep_new(ctx, n, 3, 32, 3, 32, true)},
        {"avgpool fwd 32x32x32 k3s2p1", avgpool_fwd, pool_new(ctx, n, 32, 32, 3, 2, 1)},
        {"avgpool bwd", avgpool_bwd, NULL},
        {"maxpool fwd 32x32x32 k3s2p1", maxpool_fwd, pool_new(ctx, n, 32, 32, 3, 2, 1)},
        {"maxpool bwd", maxpool_bwd, NULL},
    };
    int nops = (int)(sizeof ops / sizeof ops[0]);
    for (int i = 0; i < nops; i++) {
        if (!ops[i].state) ops[i].state = ops[i - 1].state; /* a backward shares its forward's buffers */
        if (filter && !strstr(ops[i].name, filter)) continue;
        time_op(ctx, &ops[i], reps);
    }
    kd_ctx_free(ctx); /* the buffers go with the context's process; this is a timing tool */
    return 0;
}
