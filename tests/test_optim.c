/* Optimizers (cl/optim.cl) against a float64 plain-C reference with the same
 * hyper-parameters over several steps with a changing lr: Adam, Adam + L2,
 * AdamW, Adam with other betas, SGD, SGD + momentum, SGD + nesterov, SGD +
 * L2, SGDW; the bad_flag behaviour; hyper-parameter checks; and the
 * learning-rate schedules at chosen steps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/train/optim.h"
#include "tests/harness.h"

#define N 10007 /* odd, prime: no work-group size divides it */
#define STEPS 6

/* One reference update of one element, in double; m/v or buf live in
 * st0/st1. mag0/mag1 (may be NULL) follow the same recurrences on absolute
 * values: m and buf are sums of terms of both signs that can cancel, so
 * their float error is relative to these magnitudes, not to m itself. */
static void ref_update(const kd_optim_cfg *c, double *p, double g, double *st0, double *st1, double *mag0,
                       double *mag1, double lr, long t) {
    double wd = c->weight_decay, dummy[2] = {0, 0};
    if (!mag0) mag0 = &dummy[0], mag1 = &dummy[1];
    if (c->kind == KD_OPTIM_ADAM) {
        double b1 = c->beta1, b2 = c->beta2, a = fabs(g) + (c->decoupled ? 0 : wd * fabs(*p));
        if (!c->decoupled) g += wd * *p;
        *st0 = b1 * *st0 + (1 - b1) * g;
        *st1 = b2 * *st1 + (1 - b2) * g * g;
        *mag0 = b1 * *mag0 + (1 - b1) * a;
        *mag1 = b2 * *mag1 + (1 - b2) * a * a;
        if (c->decoupled) *p -= lr * wd * *p;
        double step_lr = lr * sqrt(1 - pow(b2, (double)t)) / (1 - pow(b1, (double)t));
        *p -= step_lr * *st0 / (sqrt(*st1) + c->eps);
    } else {
        double a = fabs(g) + (c->decoupled ? 0 : wd * fabs(*p));
        if (c->decoupled) *p -= lr * wd * *p;
        else g += wd * *p;
        if (c->momentum != 0) {
            *st0 = c->momentum * *st0 + g;
            *mag0 = c->momentum * *mag0 + a;
            g = c->nesterov ? g + c->momentum * *st0 : *st0;
        }
        *p -= lr * g;
    }
}

/* Largest |got - ref| / (atol + rtol |ref|), NaN counting as failure. */
static double rel_err(const float *got, const double *ref, size_t n, double atol, double rtol) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (!(e <= w)) w = isnan(e) ? INFINITY : e;
    }
    return w;
}

static double worst_p, worst_state;

static void run_optim(kd_ctx *ctx, th_rng *r, const char *name, kd_optim_cfg cfg) {
    int spp = kd_optim_state_per_param(&cfg);
    float *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g), *st = malloc((size_t)(2 * N) * sizeof *st);
    double *pr = malloc(N * sizeof *pr), *sr = calloc((size_t)(2 * N), sizeof *sr);
    double *mag = calloc((size_t)(2 * N), sizeof *mag);
    th_fill(r, p, N, -1, 1);
    for (int i = 0; i < N; i++) pr[i] = p[i];
    cl_mem dp = th_upload(ctx, p, N), dg = th_zeros(ctx, N), ds = spp ? th_zeros(ctx, (size_t)spp * N) : NULL;
    cl_mem bad = th_zeros(ctx, 1); /* int 0 has the same bits as float 0 */
    for (long t = 1; t <= STEPS; t++) {
        /* Gradients over several decades, some exactly 0. */
        for (int i = 0; i < N; i++) {
            float u = th_uniform(r, -1, 1);
            g[i] = (i % 97 == 0) ? 0.0f : u * powf(10.0f, th_uniform(r, -4, 1));
        }
        MUST(ctx, kd_write(ctx, dg, 0, N * sizeof(float), g, true));
        float lr = 1e-2f * (float)(STEPS + 1 - t) / STEPS; /* changes every step */
        MUST(ctx, kd_optim_step(ctx, &cfg, N, dp, dg, ds, lr, t, bad));
        for (int i = 0; i < N; i++) ref_update(&cfg, &pr[i], g[i], &sr[i], &sr[N + i], &mag[i], &mag[N + i], lr, t);
    }
    th_download(ctx, dp, p, N);
    double ep = rel_err(p, pr, N, 1e-6, 1e-6), es = 0;
    if (spp) {
        th_download(ctx, ds, st, (size_t)spp * N);
        for (size_t i = 0; i < (size_t)spp * N; i++) {
            double e = fabs((double)st[i] - sr[i]) / (1e-12 + 2e-6 * mag[i]);
            if (!(e <= es)) es = isnan(e) ? INFINITY : e;
        }
    }
    int flag = -1;
    MUST(ctx, kd_read(ctx, bad, 0, sizeof flag, &flag));
    if (ep > worst_p) worst_p = ep;
    if (es > worst_state) worst_state = es;
    CHECK(ep <= 1 && es <= 1 && flag == 0, "%s: %d steps, params err/tol %.3g, state err/tol %.3g, bad_flag %d", name,
          STEPS, ep, es, flag);
    kd_buffer_free(ctx, dp);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, bad);
    free(p);
    free(g);
    free(st);
    free(pr);
    free(sr);
    free(mag);
}

/* A NaN or +-Inf gradient raises the flag and leaves that element and its
 * state bit-identical; every other element is updated as usual. */
static void check_bad_flag(kd_ctx *ctx, th_rng *r, kd_optim_cfg cfg, const char *name, bool with_flag) {
    int spp = kd_optim_state_per_param(&cfg);
    const int badi[3] = {3, 5000, N - 1};
    float *p = malloc(N * sizeof *p), *p0 = malloc(N * sizeof *p0), *g = malloc(N * sizeof *g);
    float *st = malloc((size_t)(2 * N) * sizeof *st), *st0 = malloc((size_t)(2 * N) * sizeof *st0);
    double *pr = malloc(N * sizeof *pr), *sr = malloc((size_t)(2 * N) * sizeof *sr);
    th_fill(r, p0, N, -1, 1);
    th_fill(r, st0, (size_t)(2 * N), 0.01f, 0.1f); /* a run in progress: non-zero state */
    th_fill(r, g, N, -1, 1);
    g[badi[0]] = NAN;
    g[badi[1]] = INFINITY;
    g[badi[2]] = -INFINITY;
    for (int i = 0; i < N; i++) pr[i] = p0[i];
    for (int i = 0; i < 2 * N; i++) sr[i] = st0[i];
    cl_mem dp = th_upload(ctx, p0, N), dg = th_upload(ctx, g, N);
    cl_mem ds = spp ? th_upload(ctx, st0, (size_t)spp * N) : NULL, bad = with_flag ? th_zeros(ctx, 1) : NULL;
    MUST(ctx, kd_optim_step(ctx, &cfg, N, dp, dg, ds, 1e-2f, 3, bad));
    th_download(ctx, dp, p, N);
    if (spp) th_download(ctx, ds, st, (size_t)spp * N);
    bool kept = true;
    for (int k = 0; k < 3; k++) {
        int i = badi[k];
        kept &= !memcmp(&p[i], &p0[i], sizeof(float));
        for (int q = 0; q < spp; q++) kept &= !memcmp(&st[q * N + i], &st0[q * N + i], sizeof(float));
        pr[i] = p0[i];
    }
    for (int i = 0; i < N; i++)
        if (isfinite(g[i])) ref_update(&cfg, &pr[i], g[i], &sr[i], &sr[N + i], NULL, NULL, 1e-2, 3);
    double ep = rel_err(p, pr, N, 1e-6, 1e-6);
    CHECK(kept && ep <= 1, "%s: bad gradients: elements kept %d, others err/tol %.3g", name, kept, ep);
    if (with_flag) {
        int flag = 0;
        MUST(ctx, kd_read(ctx, bad, 0, sizeof flag, &flag));
        CHECK(flag == 1, "%s: bad_flag %d after NaN/Inf gradients, want 1", name, flag);
        /* A clean step leaves a reset flag at 0. */
        th_fill(r, g, N, -1, 1);
        MUST(ctx, kd_write(ctx, dg, 0, N * sizeof(float), g, true));
        MUST(ctx, kd_fill(ctx, bad, 0, sizeof(int), 0.0f));
        MUST(ctx, kd_optim_step(ctx, &cfg, N, dp, dg, ds, 1e-2f, 4, bad));
        MUST(ctx, kd_read(ctx, bad, 0, sizeof flag, &flag));
        CHECK(flag == 0, "%s: bad_flag %d after a clean step, want 0", name, flag);
    }
    kd_buffer_free(ctx, dp);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, ds);
    kd_buffer_free(ctx, bad);
    free(p);
    free(p0);
    free(g);
    free(st);
    free(st0);
    free(pr);
    free(sr);
}

static void check_validation(kd_ctx *ctx) {
    cl_mem dp = th_zeros(ctx, 8), dg = th_zeros(ctx, 8), ds = th_zeros(ctx, 16);
    struct {
        kd_optim_cfg cfg;
        float lr;
        long step;
        const char *want;
    } cases[8];
    for (int i = 0; i < 8; i++) {
        cases[i].cfg = kd_optim_default(i < 5 ? KD_OPTIM_ADAM : KD_OPTIM_SGD);
        cases[i].lr = 1e-3f;
        cases[i].step = 1;
    }
    cases[0].lr = -1, cases[0].want = "--lr";
    cases[1].lr = NAN, cases[1].want = "--lr";
    cases[2].cfg.beta1 = 1, cases[2].want = "beta";
    cases[3].cfg.eps = 0, cases[3].want = "epsilon";
    cases[4].step = 0, cases[4].want = "step";
    cases[5].cfg.momentum = 1, cases[5].want = "--momentum";
    cases[6].cfg.weight_decay = -1e-4f, cases[6].want = "--weight-decay";
    cases[7].cfg.momentum = -0.5f, cases[7].want = "--momentum";
    for (int i = 0; i < 8; i++) {
        kd_status st = kd_optim_step(ctx, &cases[i].cfg, 8, dp, dg, ds, cases[i].lr, cases[i].step, NULL);
        CHECK(st == KD_ERR_USAGE && strstr(kd_ctx_err(ctx)->msg, cases[i].want),
              "bad optimizer setting %d: status %d, message '%s', want a usage error naming %s", i, (int)st,
              kd_ctx_err(ctx)->msg, cases[i].want);
    }
    kd_optim_cfg a = kd_optim_default(KD_OPTIM_ADAM), s = kd_optim_default(KD_OPTIM_SGD);
    CHECK(a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-7f && a.weight_decay == 0 && !a.decoupled,
          "Adam defaults are not Keras's");
    CHECK(kd_optim_state_per_param(&a) == 2 && kd_optim_state_per_param(&s) == (s.momentum != 0 ? 1 : 0),
          "state per parameter");
    s.momentum = 0;
    CHECK(kd_optim_state_per_param(&s) == 0, "plain SGD needs no state");
    kd_buffer_free(ctx, dp);
    kd_buffer_free(ctx, dg);
    kd_buffer_free(ctx, ds);
}

static void expect_lr(const char *what, const kd_sched *s, long step, double want) {
    float got = kd_sched_lr(s, step);
    CHECK(fabs(got - want) <= 1e-6 * fabs(want) + 1e-12, "%s: lr at step %ld is %.9g, want %.9g", what, step, got,
          want);
}

static void check_schedules(void) {
    const double pi = 3.14159265358979323846;
    kd_sched c = {.kind = KD_SCHED_CONST, .base_lr = 1e-3f};
    expect_lr("const", &c, 0, 1e-3f);
    expect_lr("const", &c, 123456, 1e-3f);
    expect_lr("const", &c, -5, 1e-3f);
    c.warmup_steps = 10;
    expect_lr("const+warmup", &c, 0, 1e-3f / 10);
    expect_lr("const+warmup", &c, 4, 1e-3f * 5 / 10);
    expect_lr("const+warmup", &c, 9, 1e-3f);
    expect_lr("const+warmup", &c, 10, 1e-3f);
    expect_lr("const+warmup", &c, 5000, 1e-3f);

    kd_sched st = {.kind = KD_SCHED_STEP, .base_lr = 0.1f, .step_size = 30, .gamma = 0.1f};
    expect_lr("step", &st, 0, 0.1f);
    expect_lr("step", &st, 29, 0.1f);
    expect_lr("step", &st, 30, 0.1f * (double)0.1f);
    expect_lr("step", &st, 65, 0.1f * pow(0.1f, 2));
    st.warmup_steps = 5;
    expect_lr("step+warmup", &st, 0, 0.1f / 5);
    expect_lr("step+warmup", &st, 4, 0.1f);
    expect_lr("step+warmup", &st, 34, 0.1f);
    expect_lr("step+warmup", &st, 35, 0.1f * (double)0.1f);
    st.step_size = 0;
    expect_lr("step, step_size 0", &st, 1000, 0.1f);

    double b = 1e-3f, lo = 1e-5f;
    kd_sched cs = {.kind = KD_SCHED_COSINE, .base_lr = 1e-3f, .min_lr = 1e-5f, .total_steps = 100};
    expect_lr("cosine", &cs, 0, b);
    expect_lr("cosine", &cs, 25, lo + (b - lo) * 0.5 * (1 + cos(pi * 0.25)));
    expect_lr("cosine", &cs, 50, lo + (b - lo) * 0.5);
    expect_lr("cosine", &cs, 99, lo + (b - lo) * 0.5 * (1 + cos(pi * 0.99)));
    expect_lr("cosine", &cs, 100, lo);
    expect_lr("cosine", &cs, 1000, lo);
    cs.warmup_steps = 10;
    cs.total_steps = 110;
    expect_lr("cosine+warmup", &cs, 0, b / 10);
    expect_lr("cosine+warmup", &cs, 9, b);
    expect_lr("cosine+warmup", &cs, 10, b);
    expect_lr("cosine+warmup", &cs, 60, lo + (b - lo) * 0.5);
    expect_lr("cosine+warmup", &cs, 110, lo);
    cs.total_steps = 8; /* shorter than the warm-up: min_lr once it is over */
    expect_lr("cosine, total < warmup", &cs, 9, b);
    expect_lr("cosine, total < warmup", &cs, 10, lo);
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng r = {2024};
    kd_optim_cfg adam = kd_optim_default(KD_OPTIM_ADAM), sgd = kd_optim_default(KD_OPTIM_SGD);
    run_optim(ctx, &r, "adam", adam);
    kd_optim_cfg c = adam;
    c.weight_decay = 0.05f;
    run_optim(ctx, &r, "adam+l2", c);
    c.decoupled = true;
    run_optim(ctx, &r, "adamw", c);
    c = adam;
    c.beta1 = 0.5f, c.beta2 = 0.9f, c.eps = 1e-3f;
    run_optim(ctx, &r, "adam betas 0.5/0.9 eps 1e-3", c);
    c = sgd;
    c.momentum = 0;
    run_optim(ctx, &r, "sgd", c);
    c.weight_decay = 0.05f;
    run_optim(ctx, &r, "sgd+l2", c);
    c = sgd;
    c.momentum = 0.9f;
    run_optim(ctx, &r, "sgd+momentum", c);
    c.nesterov = true;
    run_optim(ctx, &r, "sgd+nesterov", c);
    c.weight_decay = 0.05f;
    run_optim(ctx, &r, "sgd+nesterov+l2", c);
    c.nesterov = false;
    c.decoupled = true;
    run_optim(ctx, &r, "sgdw (momentum, decoupled)", c);
    printf("largest error/tolerance over %d steps of %d elements: params %.3g (1e-6 abs + 1e-6 rel), state %.3g "
           "(2e-6 of the summed terms' magnitude)\n",
           STEPS, N, worst_p, worst_state);

    check_bad_flag(ctx, &r, adam, "adam", true);
    check_bad_flag(ctx, &r, adam, "adam, no flag buffer", false);
    c = sgd;
    c.momentum = 0.9f;
    check_bad_flag(ctx, &r, c, "sgd+momentum", true);
    c.momentum = 0;
    check_bad_flag(ctx, &r, c, "sgd", true);
    check_validation(ctx);
    check_schedules();
    kd_ctx_free(ctx);
    return th_done("test_optim");
}
