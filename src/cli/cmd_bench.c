/* kdcl bench: measured throughput as JSON lines on stdout (progress and
 * notes on stderr): SGEMM GFLOP/s at 1024^3 and at the GEMM shapes the
 * chosen models run, one convolution's forward/backward time, and
 * training-step and inference images/s of the teacher and the student. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/buffer.h"
#include "src/cli/commands.h"
#include "src/cli/model_list.h"
#include "src/cli/session.h"
#include "src/layers/conv.h"
#include "src/model/model.h"
#include "src/train/progress.h"
#include "src/train/step_bench.h"

/* ---------------------------------------------------------------------------
 * The GEMMs of a model, as src/layers/conv.c and dense.c issue them: keep in
 * step with those files (the 1x1 rules in particular). */

/* ---------------------------------------------------------------------------
 * Timing helpers. */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct timing {
    double median_ms, min_ms;
} timing;

static timing summarise(double *ms, int n) {
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    timing t = {n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]), ms[0]};
    return t;
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void json_head(const char *bench, const kd_ctx *ctx) {
    printf("{\"bench\":");
    json_str(bench);
    printf(",\"device\":");
    json_str(kd_ctx_device(ctx)->name);
}

typedef struct bench_cfg {
    int repeat, warmup;
    bool tuned, preset;
} bench_cfg;

/* The closing fields of every line: which CLBlast parameters ran. */
static void json_params(const bench_cfg *bc) {
    printf(",\"tuned\":%s,\"preset\":%s}\n", bc->tuned ? "true" : "false", bc->preset ? "true" : "false");
}

/* ---------------------------------------------------------------------------
 * SGEMM. */

typedef struct gemm_bufs {
    cl_mem a, b, c;
    size_t na, nb, nc;
} gemm_bufs;

static kd_status ensure(kd_ctx *ctx, cl_mem *buf, size_t *have, size_t want, const char *what) {
    if (*have >= want) return KD_OK;
    kd_buffer_free(ctx, *buf);
    *buf = NULL;
    *have = 0;
    KD_TRY(kd_buffer_alloc(ctx, want * sizeof(float), what, buf));
    KD_TRY(kd_fill(ctx, *buf, 0, want * sizeof(float), 0.5f));
    *have = want;
    return KD_OK;
}

static kd_status bench_gemm(kd_ctx *ctx, const bench_cfg *bc, gemm_bufs *g, const kd_gemm_use *s,
                            const char *model) {
    size_t m = (size_t)s->m, n = (size_t)s->n, k = (size_t)s->k;
    KD_TRY(ensure(ctx, &g->a, &g->na, m * k, "bench matrix A"));
    KD_TRY(ensure(ctx, &g->b, &g->nb, k * n, "bench matrix B"));
    KD_TRY(ensure(ctx, &g->c, &g->nc, m * n, "bench matrix C"));
    kd_gemm_args a = {.ta = s->ta, .tb = s->tb, .m = m, .n = n, .k = k, .alpha = 1.0f, .beta = s->beta,
                      .a = g->a, .lda = s->ta ? m : k, .b = g->b, .ldb = s->tb ? k : n, .c = g->c, .ldc = n};
    for (int i = 0; i < bc->warmup; i++) KD_TRY(kd_sgemm(ctx, &a));
    KD_TRY(kd_finish(ctx));
    double ms[256];
    for (int i = 0; i < bc->repeat; i++) {
        double t0 = kd_now();
        KD_TRY(kd_sgemm(ctx, &a));
        KD_TRY(kd_finish(ctx));
        ms[i] = (kd_now() - t0) * 1e3;
    }
    timing t = summarise(ms, bc->repeat);
    double gf = 2e-6 * (double)m * (double)n * (double)k;
    json_head("sgemm", ctx);
    if (model) {
        printf(",\"model\":");
        json_str(model);
        printf(",\"gemm\":");
        json_str(s->label);
        printf(",\"per_step\":%g", s->count);
    }
    printf(",\"ta\":%s,\"tb\":%s,\"m\":%zu,\"n\":%zu,\"k\":%zu,\"beta\":%g,\"ms\":%.3f,\"ms_min\":%.3f,"
           "\"gflops\":%.2f",
           s->ta ? "true" : "false", s->tb ? "true" : "false", m, n, k, (double)s->beta, t.median_ms, t.min_ms,
           gf / t.median_ms);
    json_params(bc);
    fflush(stdout);
    return KD_OK;
}

static void gemm_bufs_free(kd_ctx *ctx, gemm_bufs *g) {
    kd_buffer_free(ctx, g->a);
    kd_buffer_free(ctx, g->b);
    kd_buffer_free(ctx, g->c);
    memset(g, 0, sizeof *g);
}

/* ---------------------------------------------------------------------------
 * One convolution layer. */

static kd_status bench_conv(kd_ctx *ctx, const bench_cfg *bc, int n, int cin, int cout, int k, int size) {
    kd_conv_desc d = {.n = n, .cin = cin, .h = size, .w = size, .cout = cout, .kh = k, .kw = k, .stride = 1,
                      .pad = k / 2};
    KD_TRY(kd_conv_desc_init(&d, kd_ctx_err(ctx)));
    size_t nin = (size_t)n * (size_t)cin * (size_t)size * (size_t)size;
    size_t nout = (size_t)n * (size_t)cout * (size_t)d.oh * (size_t)d.ow;
    size_t nw = (size_t)cout * (size_t)cin * (size_t)k * (size_t)k, nws = kd_conv_workspace_floats(&d);
    cl_mem in = NULL, out = NULL, w = NULL, ws = NULL, dx = NULL, dw = NULL, dout = NULL;
    kd_status st = KD_OK;
#define B(x) \
    if (st == KD_OK) st = x
    B(kd_buffer_alloc(ctx, nin * sizeof(float), "bench conv input", &in));
    B(kd_buffer_alloc(ctx, nout * sizeof(float), "bench conv output", &out));
    B(kd_buffer_alloc(ctx, nw * sizeof(float), "bench conv weight", &w));
    B(kd_buffer_alloc(ctx, nws * sizeof(float), "bench conv workspace", &ws));
    B(kd_buffer_alloc(ctx, nin * sizeof(float), "bench conv input gradient", &dx));
    B(kd_buffer_alloc(ctx, nw * sizeof(float), "bench conv weight gradient", &dw));
    B(kd_buffer_alloc(ctx, nout * sizeof(float), "bench conv output gradient", &dout));
    B(kd_upload_uniform(ctx, in, nin, 1, -1, 1));
    B(kd_upload_uniform(ctx, w, nw, 2, -0.1f, 0.1f));
    B(kd_upload_uniform(ctx, dout, nout, 3, -1, 1));
    B(kd_fill(ctx, dw, 0, nw * sizeof(float), 0.0f));
    double fwd[256], bwd[256];
    for (int i = 0; st == KD_OK && i < bc->warmup + bc->repeat; i++) {
        double t0 = kd_now();
        B(kd_conv_forward(ctx, &d, out, in, w, NULL, ws));
        B(kd_finish(ctx));
        double t1 = kd_now();
        B(kd_conv_backward(ctx, &d, dx, dw, NULL, dout, in, w, ws));
        B(kd_finish(ctx));
        if (i >= bc->warmup) {
            fwd[i - bc->warmup] = (t1 - t0) * 1e3;
            bwd[i - bc->warmup] = (kd_now() - t1) * 1e3;
        }
    }
#undef B
    if (st == KD_OK) {
        timing f = summarise(fwd, bc->repeat), b = summarise(bwd, bc->repeat);
        double gf = 2e-6 * (double)nout * (double)cin * (double)k * (double)k;
        json_head("conv", ctx);
        printf(",\"batch\":%d,\"cin\":%d,\"cout\":%d,\"kernel\":%d,\"stride\":1,\"pad\":%d,\"h\":%d,\"w\":%d,"
               "\"forward_ms\":%.3f,\"backward_ms\":%.3f,\"forward_gflops\":%.2f,\"backward_gflops\":%.2f",
               n, cin, cout, k, d.pad, size, size, f.median_ms, b.median_ms, gf / f.median_ms,
               2 * gf / b.median_ms);
        json_params(bc);
        fflush(stdout);
    }
    cl_mem all[] = {in, out, w, ws, dx, dw, dout};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) kd_buffer_free(ctx, all[i]);
    return st;
}

/* ---------------------------------------------------------------------------
 * Models: a training step (forward, cross-entropy, backward, Adam) and
 * inference, on random data. */

typedef struct model_cfg {
    const char *role, *spec;
    int c, h, w, classes, batch;
} model_cfg;

static kd_status bench_model(kd_ctx *ctx, const bench_cfg *bc, const model_cfg *mc) {
    kd_step_bench sb;
    double train_ms[256], infer_ms[256];
    kd_status st = kd_step_bench_open(ctx, mc->spec, mc->c, mc->h, mc->w, mc->classes, mc->batch, &sb);
    if (st == KD_OK)
        fprintf(stderr, "bench: %s %s, batch %d, input %dx%dx%d: %.2f MMACs/image\n", mc->role, kd_model_spec(sb.m),
                mc->batch, mc->c, mc->h, mc->w, (double)kd_model_macs(sb.m) * 1e-6);
#define B(x) \
    if (st == KD_OK) st = x
    B(kd_step_bench_run(&sb, bc->warmup, true, NULL));
    B(kd_step_bench_run(&sb, bc->repeat, true, train_ms));
    B(kd_step_bench_run(&sb, bc->warmup, false, NULL));
    B(kd_step_bench_run(&sb, bc->repeat, false, infer_ms));
#undef B
    if (st == KD_OK) {
        timing tr = summarise(train_ms, bc->repeat), in = summarise(infer_ms, bc->repeat);
        const char *names[2] = {"train_step", "inference"};
        timing ts[2] = {tr, in};
        for (int i = 0; i < 2; i++) {
            json_head(names[i], ctx);
            printf(",\"model\":");
            json_str(mc->role);
            printf(",\"spec\":");
            json_str(kd_model_spec(sb.m));
            printf(",\"batch\":%d,\"input\":\"%dx%dx%d\",\"ms\":%.3f,\"ms_min\":%.3f,\"images_per_s\":%.1f",
                   mc->batch, mc->c, mc->h, mc->w, ts[i].median_ms, ts[i].min_ms, 1e3 * mc->batch / ts[i].median_ms);
            /* What a training step holds on the device: parameters, gradients,
             * Adam state, activations, their gradients and the workspace. */
            if (i == 0) printf(",\"device_mib\":%.1f", sb.device_mib);
            json_params(bc);
        }
        fflush(stdout);
    }
    kd_step_bench_close(&sb);
    return st;
}

/* ---------------------------------------------------------------------------
 * The command. */

static bool has_item(const char *list, const char *item) {
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        size_t m = strcspn(p, ",");
        if (m == n && !strncmp(p, item, n)) return true;
        p += m;
        if (*p == ',') p++;
    }
    return false;
}

int kd_cmd_bench(int argc, char **argv) {
    const char *teacher = KD_BENCH_TEACHER, *student = KD_BENCH_STUDENT, *input = "1x28x28", *what = "all",
               *conv = "64,64,3,56,32", *listed = "";
    int batch = 32, classes = 10, repeat = 5, warmup = 1, nshapes = 6;
    bool compare = false;
    kd_global g = {0};
    kd_opt opts[] = {
        {.name = "teacher", .kind = KD_OPT_STR, .dest = &teacher, .metavar = "SPEC", .help = "teacher model spec"},
        {.name = "student", .kind = KD_OPT_STR, .dest = &student, .metavar = "SPEC", .help = "student model spec"},
        {.name = "batch", .kind = KD_OPT_INT, .dest = &batch, .metavar = "N",
         .help = "batch size of the model benchmarks and their GEMM shapes", .min = 1, .max = 4096},
        {.name = "input", .kind = KD_OPT_STR, .dest = &input, .metavar = "CxHxW", .help = "input shape of one image"},
        {.name = "classes", .kind = KD_OPT_INT, .dest = &classes, .metavar = "N", .help = "number of classes",
         .min = 2, .max = 1000},
        {.name = "conv", .kind = KD_OPT_STR, .dest = &conv, .metavar = "CIN,COUT,K,SIZE,BATCH",
         .help = "the convolution timed alone (stride 1, padding K/2, no bias)"},
        {.name = "gemm-shapes", .kind = KD_OPT_INT, .dest = &nshapes, .metavar = "N",
         .help = "how many of each model's heaviest distinct GEMM shapes to time", .min = 0, .max = 64},
        {.name = "repeat", .kind = KD_OPT_INT, .dest = &repeat, .metavar = "N",
         .help = "timed runs of each benchmark (the median is reported)", .min = 1, .max = 256},
        {.name = "warmup", .kind = KD_OPT_INT, .dest = &warmup, .metavar = "N",
         .help = "untimed runs first (kernel builds, caches)", .min = 0, .max = 100},
        {.name = "what", .kind = KD_OPT_STR, .dest = &what, .metavar = "LIST",
         .help = "comma-separated subset of sgemm,shapes,conv,teacher,student,models (or all)"},
        {.name = "models", .kind = KD_OPT_STR, .dest = &listed, .metavar = "SPEC@CxHxW;...",
         .help = "more models to time (train_step and inference, each at its own input; ';'-separated)"},
        {.name = "compare-untuned", .kind = KD_OPT_FLAG, .dest = &compare,
         .help = "time SGEMM 1024^3 with CLBlast's defaults first, then with the stored tuning or kdcl's preset (same process)"},
    };
    char desc[1024];
    snprintf(desc, sizeof desc,
             "Prints one JSON object per line on stdout, each with \"bench\", \"device\", the sizes, the\n"
             "measured value and its unit, \"tuned\" (whether stored 'kdcl tune' results were applied) and\n"
             "\"preset\" (whether kdcl's CLBlast preset for the device was, there being none stored):\n"
             "  sgemm        GFLOP/s at 1024^3 and at each model's heaviest GEMM shapes (batch folded in)\n"
             "  conv         forward and backward ms of one convolution layer (--conv)\n"
             "  train_step   ms and images/s of forward + cross-entropy + backward + Adam, random data\n"
             "  inference    ms and images/s of the forward pass\n"
             "Times are medians over --repeat runs after --warmup runs; notes go to stderr.");
    kd_cmdline cl = {
        .command = "bench",
        .usage = "kdcl bench [--teacher SPEC] [--student SPEC] [--batch N] [--input CxHxW] [options]",
        .description = desc,
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int done = kd_cmdline_run(&cl, &g, argc, argv);
    if (done >= 0) return done;
    kd_err err = {0};
    int c, h, w, cv[5];
    char tail;
    if (sscanf(input, "%dx%dx%d%c", &c, &h, &w, &tail) != 3 || c < 1 || c > 4 || h < 1 || w < 1 || h > 8192 ||
        w > 8192) {
        kd_fail(&err, KD_ERR_USAGE, "--input '%s' is not CxHxW with 1-4 channels (e.g. 1x28x28)", input);
        return kd_cli_report(&err);
    }
    if (sscanf(conv, "%d,%d,%d,%d,%d%c", &cv[0], &cv[1], &cv[2], &cv[3], &cv[4], &tail) != 5 || cv[0] < 1 ||
        cv[1] < 1 || cv[2] < 1 || cv[3] < 1 || cv[4] < 1) {
        kd_fail(&err, KD_ERR_USAGE,
                "--conv '%s' is not CIN,COUT,K,SIZE,BATCH with positive numbers (e.g. 64,64,3,56,32)", conv);
        return kd_cli_report(&err);
    }
    const char *items[] = {"sgemm", "shapes", "conv", "teacher", "student", "models", "all"};
    for (const char *p = what; *p;) {
        size_t m = strcspn(p, ",");
        bool ok = false;
        for (size_t i = 0; i < sizeof items / sizeof items[0]; i++)
            ok |= strlen(items[i]) == m && !strncmp(p, items[i], m);
        if (!ok) {
            kd_fail(&err, KD_ERR_USAGE, "--what: '%.*s' is not one of sgemm,shapes,conv,teacher,student,models,all",
                    (int)m, p);
            return kd_cli_report(&err);
        }
        p += m;
        if (*p == ',') p++;
    }
    bool all = has_item(what, "all");
    model_cfg models[2] = {{"teacher", teacher, c, h, w, classes, batch},
                           {"student", student, c, h, w, classes, batch}};
    bool run_model[2] = {all || has_item(what, "teacher"), all || has_item(what, "student")};
    /* Refuse a bad spec before touching the device. */
    for (int i = 0; i < 2; i++) {
        kd_model *m = NULL;
        if ((run_model[i] || all || has_item(what, "shapes")) &&
            kd_model_build(models[i].spec, c, h, w, classes, &m, &err) != KD_OK) {
            kd_err_prefix(&err, "--%s: ", models[i].role);
            return kd_cli_report(&err);
        }
        kd_model_free(m);
    }

    kd_model_ref refs[KD_MODEL_LIST_MAX];
    int nrefs = 0;
    if (*listed && kd_model_list_parse(listed, "--models", classes, refs, KD_MODEL_LIST_MAX, &nrefs, &err) != KD_OK)
        return kd_cli_report(&err);
    bool run_listed = all || has_item(what, "models");

    kd_ctx *ctx = NULL;
    if (kd_session_open_untuned(&g, NULL, &ctx, &err) != KD_OK) return kd_cli_report(&err);
    bench_cfg bc = {.repeat = repeat, .warmup = warmup};
    gemm_bufs gb = {0};
    kd_status st = KD_OK;
    kd_gemm_use big = {.m = 1024, .n = 1024, .k = 1024, .count = 1};
    snprintf(big.label, sizeof big.label, "1024^3");
    if (compare && (all || has_item(what, "sgemm"))) {
        fprintf(stderr, "bench: SGEMM with CLBlast's default parameters first\n");
        st = bench_gemm(ctx, &bc, &gb, &big, NULL);
    }
    /* CLBlast's overrides cannot be undone: from here on, tuned if stored (else the preset). */
    if (st == KD_OK) kd_session_tune(ctx);
    bc.tuned = kd_ctx_tuned(ctx);
    bc.preset = kd_ctx_preset(ctx);
    fprintf(stderr, "bench: device %s, %s\n", kd_ctx_device(ctx)->name,
            kd_ctx_tuned(ctx)    ? "stored CLBlast tuning applied"
            : kd_ctx_preset(ctx) ? "kdcl's CLBlast preset for this device (no stored tuning; see 'kdcl tune')"
                                 : "CLBlast's default parameters (no stored tuning; see 'kdcl tune')");
    if (st == KD_OK && (all || has_item(what, "sgemm"))) st = bench_gemm(ctx, &bc, &gb, &big, NULL);
    for (int i = 0; st == KD_OK && nshapes > 0 && i < 2 && (all || has_item(what, "shapes")); i++) {
        kd_model *m = NULL;
        st = kd_model_build(models[i].spec, c, h, w, classes, &m, kd_ctx_err(ctx));
        kd_gemm_use shapes[64];
        int ns = st == KD_OK ? kd_model_gemm_shapes(m, ctx, batch, shapes, nshapes) : 0;
        for (int s = 0; st == KD_OK && s < ns; s++) st = bench_gemm(ctx, &bc, &gb, &shapes[s], models[i].role);
        kd_model_free(m);
    }
    gemm_bufs_free(ctx, &gb);
    if (st == KD_OK && (all || has_item(what, "conv"))) st = bench_conv(ctx, &bc, cv[4], cv[0], cv[1], cv[2], cv[3]);
    for (int i = 0; st == KD_OK && i < 2; i++)
        if (run_model[i]) st = bench_model(ctx, &bc, &models[i]);
    for (int i = 0; st == KD_OK && run_listed && i < nrefs; i++) {
        model_cfg mc = {"listed", refs[i].spec, refs[i].c, refs[i].h, refs[i].w, classes, batch};
        st = bench_model(ctx, &bc, &mc);
    }
    int rc = 0;
    if (st != KD_OK) rc = kd_cli_report(&err);
    kd_ctx_free(ctx);
    return rc;
}
