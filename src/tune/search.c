#define _POSIX_C_SOURCE 200809L
#include "src/tune/search.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/blas.h"
#include "runtime/buffer.h"
#include "src/rng.h"

/* ---------------------------------------------------------------------------
 * The search.
 *
 * A candidate costs a CLBlast program build plus the timed runs. CLBlast
 * builds the whole GEMM routine (copy, pad, transpose, indirect and direct
 * kernels) whenever any parameter changes, and POCL compiles each kernel
 * again for its work-group size at the first launch: seconds per indirect
 * candidate, tens of seconds per direct one on a 2-core CPU. A budget of
 * minutes therefore buys tens of candidates, not thousands: start from a
 * few sets known to suit the device type, walk to neighbours of the best
 * (one or two parameters halved, doubled or flipped), then random ones.
 *
 * CLBlast runs a GEMM with m*n*k < XGEMM_MIN_INDIRECT_SIZE^3 with the
 * direct kernel (one launch, any size) and the others with the indirect one
 * (pad/transpose copies, then a kernel that wants multiples of its tile).
 * Phase A forces the indirect kernel for every shape and tunes Xgemm.
 * Then the small shapes where the tuned indirect kernel is inefficient (if
 * any) are timed with CLBlast's own direct kernel, the threshold set to
 * send exactly those to it; phase B tunes XgemmDirect there when the
 * budget allows (on POCL a direct candidate costs minutes of builds). The
 * threshold becomes that one or 0 (never direct), whichever measured
 * faster, and the final set is checked against float64 once more (the
 * batched routine included) and timed.
 *
 * Cost of a set, relative to CLBlast's defaults (= 1): half is 1024^3 (the
 * usual figure of merit), half the GEMM time of one training step over the
 * given shapes (each weighted by how often a step runs it). */

#define MAX_SEEN 1024

typedef struct cand {
    size_t v[KD_TUNE_MAX_PARAMS];
} cand;

typedef struct check_shape {
    bool ta, tb;
    int m, n, k, batch;
    bool shared_a; /* batched with A stride 0, as 1x1 convolutions run it */
} check_shape;

/* Odd sizes in the three transpositions kdcl's layers use (NN forward, NT
 * weight gradient, TN input gradient; TT is never called). */
static const check_shape CHECKS[] = {
    {false, false, 37, 29, 53, 1, false}, {false, true, 33, 67, 19, 1, false}, {true, false, 70, 31, 45, 1, false},
    {false, false, 1, 7, 1, 1, false},
};
#define NCHECKS (int)(sizeof CHECKS / sizeof CHECKS[0])
/* Batched ones for the final set (1x1 convolutions use that routine; the
 * second is the case runtime/blas.c works around). */
static const check_shape BATCH_CHECKS[] = {{false, true, 29, 23, 31, 3, false}, {true, false, 128, 16, 512, 3, true}};
#define NBATCH_CHECKS (int)(sizeof BATCH_CHECKS / sizeof BATCH_CHECKS[0])

enum { RUN_OK, RUN_FAILED, RUN_WRONG, RUN_LATE };

typedef struct tuner {
    kd_ctx *ctx;
    const kd_tune_opts *o;
    kd_tune_result *res;
    double t0, search_end;
    int ns;
    kd_gemm_use *sh;               /* res->shapes */
    double w[KD_TUNE_MAX_SHAPES];    /* cost per ms */
    double base[KD_TUNE_MAX_SHAPES]; /* CLBlast defaults, ms per call */
    double ind[KD_TUNE_MAX_SHAPES];  /* best indirect candidate, ms */
    double dir[KD_TUNE_MAX_SHAPES];  /* best direct candidate (INFINITY: not measured) */
    double cur[KD_TUNE_MAX_SHAPES];  /* the candidate being timed */
    bool small[KD_TUNE_MAX_SHAPES];  /* phase B's shapes */
    size_t threshold_b;
    float *ref[KD_TUNE_MAX_SHAPES];
    float *ha, *hb, *hc, *out;
    cl_mem a, b, c;
    bool have_a, have_b;
    bool b0_ok;     /* CLBlast's direct kernel timed on the small shapes (into dir) */
    double b0_cost;
    bool ran_b;     /* a phase B candidate was applied: the default direct kernel is gone */
    double a_secs[MAX_SEEN]; /* how long each phase A candidate took */
    int na_secs;
    cand best_a, best_b;
    cand seen[2][MAX_SEEN]; /* per phase */
    int nseen[2];
    kd_rng64 rng;
} tuner;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void say(const tuner *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const tuner *t, const char *fmt, ...) {
    if (!t->o->log) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(t->o->log, "tune [%4.0fs] ", now_s() - t->t0);
    vfprintf(t->o->log, fmt, ap);
    fputc('\n', t->o->log);
    fflush(t->o->log);
    va_end(ap);
}

static bool stopped(const tuner *t) { return t->o->stop && *t->o->stop; }

static const char *phase_kernel(int phase) { return phase == 0 ? "Xgemm" : "XgemmDirect"; }

static void cand_text(int phase, const cand *c, char *buf, size_t cap) {
    kd_tune_set s = {0};
    kd_tune_put(&s, phase_kernel(phase), c->v);
    int n = kd_tune_format(&s, buf, cap);
    if (n > 0 && (size_t)n <= cap && buf[n - 1] == '\n') buf[n - 1] = '\0';
}

static kd_status set_threshold(kd_ctx *ctx, size_t t) { return kd_tune_override(ctx, "GemmRoutine", &t); }

static kd_gemm_args shape_args(const tuner *t, bool ta, bool tb, int m, int n, int k, float beta) {
    kd_gemm_args g = {.ta = ta, .tb = tb, .m = (size_t)m, .n = (size_t)n, .k = (size_t)k, .alpha = 1.0f,
                      .beta = beta, .a = t->a, .lda = ta ? (size_t)m : (size_t)k, .b = t->b,
                      .ldb = tb ? (size_t)k : (size_t)n, .c = t->c, .ldc = (size_t)n};
    return g;
}

/* C = A*B + beta*C0 in double at (i, j); *abs_sum bounds the rounding error. */
static double ref_at(bool ta, bool tb, int m, int n, int k, float beta, const float *a, const float *b,
                     const float *c0, int i, int j, double *abs_sum) {
    double s = 0, sa = 0;
    for (int p = 0; p < k; p++) {
        double av = ta ? a[(size_t)p * (size_t)m + (size_t)i] : a[(size_t)i * (size_t)k + (size_t)p];
        double bv = tb ? b[(size_t)j * (size_t)k + (size_t)p] : b[(size_t)p * (size_t)n + (size_t)j];
        s += av * bv;
        sa += fabs(av * bv);
    }
    double c = (double)beta * (double)c0[(size_t)i * (size_t)n + (size_t)j];
    *abs_sum = sa + fabs(c);
    return s + c;
}

static bool ref_close(double got, double want, double abs_sum) { return fabs(got - want) <= 1e-4 * abs_sum + 1e-5; }

/* One call of shape i, checked against the reference (for the defaults:
 * against float64 at sampled points, then kept as the reference), then
 * timed: *ms is the best per-call time, timing stops early once above
 * limit_ms. */
static int run_shape(tuner *t, int i, double limit_ms, double *ms) {
    kd_ctx *ctx = t->ctx;
    const kd_gemm_use *s = &t->sh[i];
    size_t mn = (size_t)s->m * (size_t)s->n;
    kd_gemm_args g = shape_args(t, s->ta, s->tb, s->m, s->n, s->k, s->beta);
    if (t->ref[i] && now_s() > t->search_end) return RUN_LATE;
    if (kd_write(ctx, t->c, 0, mn * sizeof(float), t->hc, true) != KD_OK) return RUN_FAILED;
    if (kd_sgemm(ctx, &g) != KD_OK || kd_finish(ctx) != KD_OK) return RUN_FAILED;
    if (kd_read(ctx, t->c, 0, mn * sizeof(float), t->out) != KD_OK) return RUN_FAILED;
    if (!t->ref[i]) {
        /* Corners first: that is where padding goes wrong. */
        kd_rng64 rs = {12345u + (uint64_t)i};
        for (int q = 0; q < 48; q++) {
            int r = q < 4 ? (q & 1 ? s->m - 1 : 0) : (int)(kd_rng64_next(&rs) % (uint64_t)s->m);
            int c = q < 4 ? (q & 2 ? s->n - 1 : 0) : (int)(kd_rng64_next(&rs) % (uint64_t)s->n);
            double abs_sum;
            double want = ref_at(s->ta, s->tb, s->m, s->n, s->k, s->beta, t->ha, t->hb, t->hc, r, c, &abs_sum);
            double got = t->out[(size_t)r * (size_t)s->n + (size_t)c];
            if (!ref_close(got, want, abs_sum)) {
                kd_fail(kd_ctx_err(ctx), KD_ERR_NUMERIC,
                        "CLBlast's default SGEMM gives a wrong result on %s (%s at [%d][%d]: %g, expected %g); "
                        "not tuning a broken GEMM",
                        kd_ctx_device(ctx)->name, s->label, r, c, got, want);
                return RUN_WRONG;
            }
        }
        t->ref[i] = malloc(mn * sizeof(float));
        if (!t->ref[i]) {
            kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory for reference results");
            return RUN_FAILED;
        }
        memcpy(t->ref[i], t->out, mn * sizeof(float));
    } else {
        double big = 0, diff = 0;
        for (size_t e = 0; e < mn; e++) {
            double r = fabs((double)t->ref[i][e]), d = fabs((double)t->out[e] - (double)t->ref[i][e]);
            if (r > big) big = r;
            if (!(d <= diff)) diff = isnan(d) ? (double)INFINITY : d;
        }
        if (!(diff <= 1e-3 * big + 1e-6)) return RUN_WRONG;
    }
    double best = INFINITY, total = 0;
    for (int r = 0; r < 20 && (r < 3 || total < 60.0); r++) {
        double t1 = now_s();
        if (kd_sgemm(ctx, &g) != KD_OK || kd_finish(ctx) != KD_OK) return RUN_FAILED;
        double dt = (now_s() - t1) * 1e3;
        total += dt;
        if (dt < best) best = dt;
        if (best > limit_ms) break;
    }
    *ms = best;
    return RUN_OK;
}

/* A small odd shape against float64, whole result. */
static int run_check(tuner *t, const check_shape *s) {
    kd_ctx *ctx = t->ctx;
    size_t sa = (size_t)s->m * (size_t)s->k, sb = (size_t)s->k * (size_t)s->n, sc = (size_t)s->m * (size_t)s->n;
    size_t nc = sc * (size_t)s->batch, a_stride = s->shared_a ? 0 : sa;
    float beta = 0.5f;
    kd_gemm_args g = shape_args(t, s->ta, s->tb, s->m, s->n, s->k, beta);
    if (kd_write(ctx, t->c, 0, nc * sizeof(float), t->hc, true) != KD_OK) return RUN_FAILED;
    kd_status st = s->batch > 1 ? kd_sgemm_batched(ctx, &g, a_stride, sb, sc, (size_t)s->batch) : kd_sgemm(ctx, &g);
    if (st != KD_OK || kd_finish(ctx) != KD_OK) return RUN_FAILED;
    if (kd_read(ctx, t->c, 0, nc * sizeof(float), t->out) != KD_OK) return RUN_FAILED;
    for (int bi = 0; bi < s->batch; bi++)
        for (int i = 0; i < s->m; i++)
            for (int j = 0; j < s->n; j++) {
                double abs_sum;
                double want = ref_at(s->ta, s->tb, s->m, s->n, s->k, beta, t->ha + (size_t)bi * a_stride,
                                     t->hb + (size_t)bi * sb, t->hc + (size_t)bi * sc, i, j, &abs_sum);
                if (!ref_close(t->out[(size_t)bi * sc + (size_t)i * (size_t)s->n + (size_t)j], want, abs_sum))
                    return RUN_WRONG;
            }
    return RUN_OK;
}

static double mnk(const kd_gemm_use *s) { return (double)s->m * (double)s->n * (double)s->k; }

/* The checks a candidate of `phase` must pass. Phase B only runs the
 * transpositions its shapes use: each is a separate kernel for POCL to
 * compile, at tens of seconds apiece for the direct kernel. */
static int run_checks(tuner *t, int phase) {
    for (int q = 0; q < NCHECKS; q++) {
        const check_shape *c = &CHECKS[q];
        if (phase == 1) {
            bool used = false;
            for (int i = 0; i < t->ns; i++) used |= t->small[i] && t->sh[i].ta == c->ta && t->sh[i].tb == c->tb;
            if (!used) continue;
        }
        int r = run_check(t, c);
        if (r) return r;
    }
    return RUN_OK;
}

static double cost_of(const tuner *t, const double *ms) {
    double c = 0;
    for (int i = 0; i < t->ns; i++) c += t->w[i] * ms[i];
    return c;
}

/* Times the current CLBlast state into t->cur: phase A on every shape
 * (biggest contribution first, abandoned once the partial cost passes
 * `bound`), phase B on its small shapes (the others keep t->ind). */
static int time_all(tuner *t, int phase, double bound, double *cost) {
    int order[KD_TUNE_MAX_SHAPES];
    for (int i = 0; i < t->ns; i++) order[i] = i;
    for (int i = 0; i < t->ns; i++)
        for (int j = i + 1; j < t->ns; j++)
            if (t->w[order[j]] * t->base[order[j]] > t->w[order[i]] * t->base[order[i]]) {
                int x = order[i];
                order[i] = order[j];
                order[j] = x;
            }
    double partial = 0;
    for (int q = 0; q < t->ns; q++) {
        int i = order[q];
        t->cur[i] = INFINITY;
        if (phase == 1 && !t->small[i]) {
            t->cur[i] = t->ind[i];
            partial += t->w[i] * t->ind[i];
        }
    }
    for (int q = 0; q < t->ns; q++) {
        int i = order[q];
        if (phase == 1 && !t->small[i]) continue;
        double ms, room = isfinite(bound) ? (bound - partial) / t->w[i] : (double)INFINITY;
        int r = run_shape(t, i, room, &ms);
        if (r) return r;
        t->cur[i] = ms;
        partial += t->w[i] * ms;
        if (partial > bound) {
            *cost = INFINITY;
            return RUN_OK;
        }
    }
    *cost = cost_of(t, t->cur);
    return RUN_OK;
}

/* --- candidate generation --- */

static bool seen_before(const tuner *t, int phase, const cand *c) {
    for (int i = 0; i < t->nseen[phase]; i++)
        if (!memcmp(t->seen[phase][i].v, c->v, sizeof c->v)) return true;
    return false;
}

static void mark_seen(tuner *t, int phase, const cand *c) {
    if (t->nseen[phase] < MAX_SEEN) t->seen[phase][t->nseen[phase]++] = *c;
}

/* Without local memory the A/B loading layout (MDIMA, NDIMB) is unused:
 * tie it to the compute layout so equivalent sets are not built twice. */
static void normalise(int phase, cand *c) {
    if (phase != 0) return;
    if (!c->v[KD_XG_SA] || c->v[KD_XG_GEMMK]) c->v[KD_XG_MDIMA] = c->v[KD_XG_MDIMC];
    if (!c->v[KD_XG_SB] || c->v[KD_XG_GEMMK]) c->v[KD_XG_NDIMB] = c->v[KD_XG_NDIMC];
}

static bool cand_valid(const tuner *t, int phase, const cand *c) {
    return phase == 0 ? kd_tune_xgemm_valid(c->v, kd_ctx_device(t->ctx), NULL, 0)
                      : kd_tune_direct_valid(c->v, kd_ctx_device(t->ctx), NULL, 0);
}

static cand make_x(size_t gemmk, size_t kreg, size_t kwg, size_t kwi, size_t mdimc, size_t mwg, size_t ndimc,
                   size_t nwg, size_t sa, size_t sb, size_t vwm, size_t vwn) {
    cand c = {{0}};
    c.v[KD_XG_GEMMK] = gemmk, c.v[KD_XG_KREG] = kreg, c.v[KD_XG_KWG] = kwg, c.v[KD_XG_KWI] = kwi;
    c.v[KD_XG_MDIMC] = c.v[KD_XG_MDIMA] = mdimc, c.v[KD_XG_MWG] = mwg, c.v[KD_XG_NDIMC] = c.v[KD_XG_NDIMB] = ndimc;
    c.v[KD_XG_NWG] = nwg, c.v[KD_XG_SA] = sa, c.v[KD_XG_SB] = sb, c.v[KD_XG_VWM] = vwm, c.v[KD_XG_VWN] = vwn;
    return c;
}

static cand make_d(size_t wgd, size_t mdimcd, size_t ndimcd, size_t kwid, size_t vwmd, size_t vwnd, size_t pad) {
    cand c = {{0}};
    c.v[KD_XD_WGD] = wgd, c.v[KD_XD_MDIMCD] = c.v[KD_XD_MDIMAD] = mdimcd,
    c.v[KD_XD_NDIMCD] = c.v[KD_XD_NDIMBD] = ndimcd;
    c.v[KD_XD_KWID] = kwid, c.v[KD_XD_VWMD] = vwmd, c.v[KD_XD_VWND] = vwnd, c.v[KD_XD_PADA] = c.v[KD_XD_PADB] = pad;
    return c;
}

/* Starting points. On CPUs (POCL) a work-group is a loop over its
 * work-items and every barrier splits that loop, so few work-items with
 * large register tiles, wide vectors and no local memory do best (on a
 * 2-core EPYC: 16x16 floats per work-item in float8, about 3x CLBlast's
 * generic defaults); GPUs want many work-items and local memory. Each list
 * ends with the other kind's picks. */
static int seeds(const tuner *t, int phase, cand *out) {
    bool cpu = (kd_ctx_device(t->ctx)->type & CL_DEVICE_TYPE_CPU) != 0;
    cand cpu_x[] = {
        make_x(0, 1, 32, 2, 4, 64, 4, 64, 0, 0, 8, 8), make_x(0, 1, 32, 2, 2, 32, 2, 32, 0, 0, 8, 8),
        make_x(0, 1, 32, 2, 4, 64, 2, 32, 0, 0, 8, 8), make_x(0, 1, 32, 2, 8, 128, 2, 32, 0, 0, 16, 8),
        make_x(1, 8, 1, 1, 4, 64, 4, 64, 0, 0, 8, 8),
    };
    cand gpu_x[] = {
        make_x(0, 1, 32, 2, 16, 64, 16, 64, 1, 1, 2, 2), make_x(0, 1, 16, 2, 16, 128, 16, 128, 1, 1, 4, 4),
        make_x(0, 1, 16, 2, 8, 64, 8, 64, 1, 1, 4, 4), make_x(1, 4, 1, 1, 16, 64, 16, 64, 0, 0, 2, 2),
    };
    cand cpu_d[] = {make_d(16, 2, 2, 2, 4, 4, 0), make_d(32, 4, 4, 2, 8, 8, 0)};
    cand gpu_d[] = {make_d(32, 8, 8, 2, 4, 4, 1), make_d(32, 16, 16, 2, 2, 2, 1)};
    const cand *lists[2][2] = {{cpu_x, gpu_x}, {cpu_d, gpu_d}};
    int counts[2][2] = {{5, 4}, {2, 2}};
    int first = cpu ? 0 : 1, n = 0;
    for (int l = 0; l < 2; l++) {
        int which = l == 0 ? first : 1 - first;
        for (int i = 0; i < counts[phase][which]; i++) out[n++] = lists[phase][which][i];
    }
    return n;
}

typedef struct move {
    int p, q; /* parameters changed together (q < 0: one) */
} move;

static const move XMOVES[] = {
    {KD_XG_VWM, -1},          {KD_XG_VWN, -1},        {KD_XG_MWG, -1},
    {KD_XG_NWG, -1},          {KD_XG_MDIMC, -1},      {KD_XG_NDIMC, -1},
    {KD_XG_KWG, -1},          {KD_XG_KWI, -1},        {KD_XG_MWG, KD_XG_MDIMC},
    {KD_XG_NWG, KD_XG_NDIMC}, {KD_XG_MWG, KD_XG_VWM}, {KD_XG_NWG, KD_XG_VWN},
    {KD_XG_MWG, KD_XG_NWG},   {KD_XG_VWM, KD_XG_VWN}, {KD_XG_MDIMC, KD_XG_NDIMC},
    {KD_XG_STRM, -1},         {KD_XG_STRN, -1},       {KD_XG_SA, -1},
    {KD_XG_SB, -1},           {KD_XG_MDIMA, -1},      {KD_XG_NDIMB, -1},
    {KD_XG_KREG, -1},
};
static const move DMOVES[] = {
    {KD_XD_VWMD, -1},          {KD_XD_VWND, -1},
    {KD_XD_WGD, -1},           {KD_XD_MDIMCD, -1},
    {KD_XD_NDIMCD, -1},        {KD_XD_KWID, -1},
    {KD_XD_WGD, KD_XD_MDIMCD}, {KD_XD_WGD, KD_XD_NDIMCD},
    {KD_XD_VWMD, KD_XD_VWND},  {KD_XD_MDIMCD, KD_XD_NDIMCD},
    {KD_XD_PADA, -1},          {KD_XD_PADB, -1},
    {KD_XD_MDIMAD, -1},        {KD_XD_NDIMBD, -1},
};

static bool is_flag(int phase, int p) {
    return phase == 0 ? (p == KD_XG_SA || p == KD_XG_SB || p == KD_XG_STRM || p == KD_XG_STRN)
                      : (p == KD_XD_PADA || p == KD_XD_PADB);
}

static bool step(int phase, cand *c, int p, bool up) {
    if (is_flag(phase, p)) {
        c->v[p] ^= 1;
        return true;
    }
    if (up) c->v[p] *= 2;
    else if (c->v[p] >= 2) c->v[p] /= 2;
    else return false;
    return c->v[p] <= 256;
}

/* The first untried valid neighbour of `from`, in move order. */
static bool next_neighbour(const tuner *t, int phase, const cand *from, cand *out) {
    const move *mv = phase == 0 ? XMOVES : DMOVES;
    int nm = phase == 0 ? (int)(sizeof XMOVES / sizeof XMOVES[0]) : (int)(sizeof DMOVES / sizeof DMOVES[0]);
    for (int i = 0; i < nm; i++)
        for (int dir = 0; dir < 2; dir++) {
            if (is_flag(phase, mv[i].p) && dir) continue;
            cand c = *from;
            if (!step(phase, &c, mv[i].p, dir == 0)) continue;
            if (mv[i].q >= 0 && !step(phase, &c, mv[i].q, dir == 0)) continue;
            normalise(phase, &c);
            if (!cand_valid(t, phase, &c) || seen_before(t, phase, &c)) continue;
            *out = c;
            return true;
        }
    return false;
}

static size_t pick(kd_rng64 *rng, const size_t *vals, int n) { return vals[kd_rng64_next(rng) % (uint64_t)n]; }

static bool random_cand(tuner *t, int phase, cand *out) {
    static const size_t VW[] = {1, 2, 4, 8, 16}, KI[] = {1, 2, 4, 8}, WG[] = {16, 32, 64, 128},
                        DIM[] = {1, 2, 4, 8, 16}, K[] = {8, 16, 32, 64}, BIT[] = {0, 1};
    for (int tries = 0; tries < 5000; tries++) {
        cand c = {{0}};
        if (phase == 0) {
            c.v[KD_XG_GEMMK] = 0, c.v[KD_XG_KREG] = 1;
            c.v[KD_XG_MWG] = pick(&t->rng, WG, 4), c.v[KD_XG_NWG] = pick(&t->rng, WG, 4);
            c.v[KD_XG_KWG] = pick(&t->rng, K, 4), c.v[KD_XG_KWI] = pick(&t->rng, KI, 4);
            c.v[KD_XG_MDIMC] = pick(&t->rng, DIM, 5), c.v[KD_XG_NDIMC] = pick(&t->rng, DIM, 5);
            c.v[KD_XG_MDIMA] = pick(&t->rng, DIM, 5), c.v[KD_XG_NDIMB] = pick(&t->rng, DIM, 5);
            c.v[KD_XG_VWM] = pick(&t->rng, VW, 5), c.v[KD_XG_VWN] = pick(&t->rng, VW, 5);
            c.v[KD_XG_SA] = pick(&t->rng, BIT, 2), c.v[KD_XG_SB] = pick(&t->rng, BIT, 2);
            c.v[KD_XG_STRM] = pick(&t->rng, BIT, 2), c.v[KD_XG_STRN] = pick(&t->rng, BIT, 2);
        } else {
            c.v[KD_XD_WGD] = pick(&t->rng, WG, 4) / 2, c.v[KD_XD_KWID] = pick(&t->rng, KI, 4);
            c.v[KD_XD_MDIMCD] = pick(&t->rng, DIM, 5), c.v[KD_XD_NDIMCD] = pick(&t->rng, DIM, 5);
            c.v[KD_XD_MDIMAD] = pick(&t->rng, DIM, 5), c.v[KD_XD_NDIMBD] = pick(&t->rng, DIM, 5);
            c.v[KD_XD_VWMD] = pick(&t->rng, KI, 4), c.v[KD_XD_VWND] = pick(&t->rng, KI, 4);
            c.v[KD_XD_PADA] = pick(&t->rng, BIT, 2), c.v[KD_XD_PADB] = pick(&t->rng, BIT, 2);
        }
        normalise(phase, &c);
        /* Work-groups of fewer than 4 work-items never win and cost a build. */
        size_t threads = phase == 0 ? c.v[KD_XG_MDIMC] * c.v[KD_XG_NDIMC] : c.v[KD_XD_MDIMCD] * c.v[KD_XD_NDIMCD];
        if (threads < 4) continue;
        if (!cand_valid(t, phase, &c) || seen_before(t, phase, &c)) continue;
        *out = c;
        return true;
    }
    return false;
}

/* Builds, checks and times one candidate; *cost INFINITY when it failed,
 * was wrong, lost early or ran out of time (*late). */
static kd_status try_cand(tuner *t, int phase, const cand *c, double bound, double *cost, bool *late,
                          const char *origin) {
    kd_ctx *ctx = t->ctx;
    char txt[512];
    cand_text(phase, c, txt, sizeof txt);
    mark_seen(t, phase, c);
    *cost = INFINITY;
    double t1 = now_s();
    KD_TRY(kd_tune_override(ctx, phase_kernel(phase), c->v));
    int r = run_checks(t, phase);
    if (!r) r = time_all(t, phase, bound, cost);
    *late = r == RUN_LATE;
    const char *verdict = r == RUN_FAILED  ? "refused (build or launch failed)"
                          : r == RUN_WRONG ? "refused: WRONG RESULTS"
                          : r == RUN_LATE  ? "abandoned: out of time"
                                           : "slower";
    if (r == RUN_FAILED) t->res->failed++;
    else if (r == RUN_WRONG) t->res->wrong++;
    else if (r == RUN_OK) t->res->tried++;
    bool better = r == RUN_OK && *cost < bound;
    char extra[600] = "";
    if (r == RUN_FAILED) snprintf(extra, sizeof extra, ": %.500s", kd_ctx_err(ctx)->msg);
    if (t->o->verbose || better || r == RUN_FAILED || r == RUN_WRONG) {
        if (r == RUN_OK && isfinite(*cost))
            say(t, "%-6s cost %.3f%s %s (%.0fs)", origin, *cost, better ? " best so far:" : "", txt, now_s() - t1);
        else say(t, "%-6s %s: %s (%.0fs)%s", origin, verdict, txt, now_s() - t1, extra);
    } else {
        say(t, "%-6s %s (%.0fs)", origin, isfinite(*cost) ? "slower" : verdict, now_s() - t1);
    }
    kd_err_clear(kd_ctx_err(ctx));
    return KD_OK;
}

/* The smallest XGEMM_MIN_INDIRECT_SIZE that sends every m*n*k <= v to the
 * direct kernel (CLBlast: direct iff m*n*k < size^3). */
static size_t threshold_above(double v) {
    size_t x = (size_t)cbrt(v);
    while (x > 1 && (double)(x - 1) * (double)(x - 1) * (double)(x - 1) > v) x--;
    while ((double)x * (double)x * (double)x <= v) x++;
    return x;
}

/* Phase B's shapes: up to the largest one where the best indirect kernel so
 * far runs at under half its 1024^3 rate (padding to its tiles, copies, too
 * little work), and every smaller one, since the threshold is a size.
 * Returns that largest m*n*k, or -1 when there is none. */
static double small_limit(const tuner *t) {
    if (!isfinite(t->ind[0])) return 0; /* no indirect result yet: assume there will be */
    double rate0 = mnk(&t->sh[0]) / t->ind[0], lim = -1;
    for (int i = 1; i < t->ns; i++)
        if (mnk(&t->sh[i]) / t->ind[i] < 0.5 * rate0 && mnk(&t->sh[i]) > lim) lim = mnk(&t->sh[i]);
    return lim;
}

static bool pick_small(tuner *t) {
    double lim = small_limit(t);
    bool any = false;
    for (int i = 0; i < t->ns; i++) {
        t->small[i] = i > 0 && mnk(&t->sh[i]) <= lim;
        any |= t->small[i];
    }
    t->threshold_b = any ? threshold_above(lim) : 0;
    return any;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* What a phase A candidate typically takes (build included; 0 before the
 * first): the larger of the median and the mean of the last five, since
 * candidates found in POCL's kernel cache take no time at all to build. */
static double median_a(const tuner *t) {
    if (!t->na_secs) return 0;
    double v[MAX_SEEN], recent = 0;
    memcpy(v, t->a_secs, (size_t)t->na_secs * sizeof v[0]);
    qsort(v, (size_t)t->na_secs, sizeof v[0], cmp_double);
    int last = t->na_secs < 5 ? t->na_secs : 5;
    for (int i = t->na_secs - last; i < t->na_secs; i++) recent += t->a_secs[i] / last;
    return fmax(v[t->na_secs / 2], recent);
}

/* A direct candidate costs several indirect ones (POCL: its kernels take
 * tens of seconds to build, and they are in every program once set), so
 * phase B gets 30% of the search only where that buys a few of them;
 * otherwise phase A keeps the whole search. */
#define B_SHARE 0.3
#define B_COST 8.0

static double phase_a_end(const tuner *t) {
    if (small_limit(t) < 0) return t->search_end; /* no shape for a direct kernel */
    double b = B_SHARE * (t->search_end - t->t0);
    if (t->na_secs && b < B_COST * median_a(t)) b = 0;
    /* Timing CLBlast's own direct kernel costs about two builds. */
    return t->search_end - fmax(b, 5 * median_a(t));
}

static kd_status run_phase(tuner *t, int phase) {
    cand list[16];
    int nseed = seeds(t, phase, list), next_seed = 0;
    bool have = false;
    cand best = {{0}};
    /* Phase B must beat CLBlast's direct kernel, timed before it. */
    double best_cost = phase == 1 && t->b0_ok ? t->b0_cost : (double)INFINITY;
    /* A previously stored set goes first: it is often still the best. */
    const kd_tune_kernel *k = t->o->seed ? kd_tune_find(t->o->seed, phase_kernel(phase)) : NULL;
    if (k) {
        cand c = {{0}};
        memcpy(c.v, k->vals, sizeof(size_t) * (size_t)k->n);
        if (cand_valid(t, phase, &c)) {
            for (int i = nseed; i > 0; i--) list[i] = list[i - 1];
            list[0] = c;
            nseed++;
        }
    }
    /* Start a candidate only when a typical one still fits. */
    double typical = phase == 0 ? 0 : B_COST * median_a(t);
    while (!stopped(t)) {
        double end = phase == 0 ? phase_a_end(t) : t->search_end;
        if (phase == 0) typical = median_a(t);
        if (now_s() + typical > end) break;
        cand c;
        const char *origin;
        if (next_seed < nseed) {
            c = list[next_seed++];
            normalise(phase, &c);
            if (!cand_valid(t, phase, &c) || seen_before(t, phase, &c)) continue;
            origin = next_seed == 1 && k ? "stored" : "seed";
        } else if (have && next_neighbour(t, phase, &best, &c)) {
            origin = "near";
        } else if (random_cand(t, phase, &c)) {
            origin = "random";
        } else break;
        double cost, t1 = now_s();
        bool late;
        KD_TRY(try_cand(t, phase, &c, best_cost, &cost, &late, origin));
        if (phase == 1) t->ran_b = true;
        double took = now_s() - t1;
        if (phase == 0 && t->na_secs < MAX_SEEN) t->a_secs[t->na_secs++] = took;
        if (phase == 1) typical = took;
        if (late) break;
        if (cost < best_cost) {
            best_cost = cost;
            best = c;
            have = true;
            memcpy(phase == 0 ? t->ind : t->dir, t->cur, sizeof t->cur);
        }
    }
    if (phase == 0) {
        t->have_a = have;
        t->best_a = best;
    } else {
        t->have_b = have;
        t->best_b = best;
    }
    return KD_OK;
}

static void tuner_free(tuner *t) {
    for (int i = 0; i < KD_TUNE_MAX_SHAPES; i++) free(t->ref[i]);
    free(t->ha);
    free(t->hb);
    free(t->hc);
    free(t->out);
    kd_buffer_free(t->ctx, t->a);
    kd_buffer_free(t->ctx, t->b);
    kd_buffer_free(t->ctx, t->c);
}

static void grow(size_t *have, size_t want) {
    if (want > *have) *have = want;
}

static kd_status setup(tuner *t) {
    kd_ctx *ctx = t->ctx;
    kd_tune_result *res = t->res;
    /* 1024^3 first, then the model's shapes (equal ones merged). */
    kd_gemm_use big = {.m = 1024, .n = 1024, .k = 1024, .count = 1};
    snprintf(big.label, sizeof big.label, "1024^3");
    res->shapes[res->nshapes++] = big;
    for (int i = 0; i < t->o->nshapes && res->nshapes < KD_TUNE_MAX_SHAPES; i++) {
        const kd_gemm_use *s = &t->o->shapes[i];
        if (s->m < 1 || s->n < 1 || s->k < 1 || !(s->count > 0))
            return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "tune: shape '%s' has a zero size or count", s->label);
        int dup = -1;
        for (int j = 1; j < res->nshapes; j++) {
            const kd_gemm_use *o = &res->shapes[j];
            if (o->ta == s->ta && o->tb == s->tb && o->m == s->m && o->n == s->n && o->k == s->k && o->beta == s->beta)
                dup = j;
        }
        if (dup > 0) res->shapes[dup].count += s->count;
        else res->shapes[res->nshapes++] = *s;
    }
    t->ns = res->nshapes;
    t->sh = res->shapes;
    size_t na = 1, nb = 1, nc = 1;
    for (int i = 0; i < t->ns; i++) {
        size_t m = (size_t)t->sh[i].m, n = (size_t)t->sh[i].n, k = (size_t)t->sh[i].k;
        grow(&na, m * k), grow(&nb, k * n), grow(&nc, m * n);
    }
    for (int q = 0; q < NCHECKS + NBATCH_CHECKS; q++) {
        const check_shape *c = q < NCHECKS ? &CHECKS[q] : &BATCH_CHECKS[q - NCHECKS];
        size_t m = (size_t)c->m, n = (size_t)c->n, k = (size_t)c->k, b = (size_t)c->batch;
        grow(&na, m * k * b), grow(&nb, k * n * b), grow(&nc, m * n * b);
    }
    t->ha = malloc(na * sizeof(float));
    t->hb = malloc(nb * sizeof(float));
    t->hc = malloc(nc * sizeof(float));
    t->out = malloc(nc * sizeof(float));
    if (!t->ha || !t->hb || !t->hc || !t->out)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory for the tuning matrices");
    kd_rng64 rs = {42};
    float *arrs[3] = {t->ha, t->hb, t->hc};
    size_t lens[3] = {na, nb, nc};
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < lens[a]; i++)
            arrs[a][i] = (float)(kd_rng64_unit(&rs) * 2.0 - 1.0);
    KD_TRY(kd_buffer_alloc(ctx, na * sizeof(float), "tuning matrix A", &t->a));
    KD_TRY(kd_buffer_alloc(ctx, nb * sizeof(float), "tuning matrix B", &t->b));
    KD_TRY(kd_buffer_alloc(ctx, nc * sizeof(float), "tuning matrix C", &t->c));
    KD_TRY(kd_write(ctx, t->a, 0, na * sizeof(float), t->ha, true));
    KD_TRY(kd_write(ctx, t->b, 0, nb * sizeof(float), t->hb, true));
    return KD_OK;
}

static double gflops(const kd_gemm_use *s, double ms) { return 2e-6 * mnk(s) / ms; }

static kd_status search(tuner *t) {
    kd_ctx *ctx = t->ctx;
    kd_tune_result *res = t->res;
    KD_TRY(setup(t));
    say(t, "%s; budget %.0f s; %d GEMM shapes (m x n x k, row-major as kd_sgemm runs them)", kd_ctx_device(ctx)->name,
        t->o->budget_s, t->ns);

    /* CLBlast's defaults: the baseline, and the reference results. */
    for (int i = 0; i < t->ns; i++) {
        int r = run_shape(t, i, INFINITY, &t->base[i]);
        if (r) {
            if (r == RUN_FAILED) kd_err_prefix(kd_ctx_err(ctx), "CLBlast with its default parameters: ");
            return kd_ctx_err(ctx)->code ? kd_ctx_err(ctx)->code : KD_ERR_BLAS;
        }
        res->base_ms[i] = t->base[i];
        t->ind[i] = t->dir[i] = INFINITY;
        say(t, "defaults  %-44s %8.2f ms %6.1f GFLOP/s", t->sh[i].label, t->base[i], gflops(&t->sh[i], t->base[i]));
    }
    double wsum = 0;
    for (int i = 1; i < t->ns; i++) wsum += t->sh[i].count * t->base[i];
    t->w[0] = (t->ns > 1 ? 0.5 : 1.0) / t->base[0];
    for (int i = 1; i < t->ns; i++) t->w[i] = 0.5 * t->sh[i].count / wsum;

    /* The final check builds the batched routine and times every shape once more. */
    double reserve = fmax(20.0, 0.1 * t->o->budget_s);
    t->search_end = t->t0 + t->o->budget_s - reserve;
    say(t, "phase A: the indirect kernel Xgemm, forced for every shape");
    KD_TRY(set_threshold(ctx, 0));
    KD_TRY(run_phase(t, 0));
    if (!t->have_a) {
        say(t, "no Xgemm candidate built and gave correct results; keeping CLBlast's defaults");
        return KD_OK;
    }
    if (pick_small(t) && !stopped(t)) {
        /* CLBlast's own direct kernel may well be the best one for them:
         * time it first (cheap: its default parameters build quickly). */
        KD_TRY(set_threshold(ctx, t->threshold_b));
        double end = t->search_end;
        t->search_end = INFINITY; /* phase A left time for this */
        int r = run_checks(t, 1);
        for (int q = 0; !r && q < NBATCH_CHECKS; q++) r = run_check(t, &BATCH_CHECKS[q]);
        double cost = INFINITY;
        if (!r) r = time_all(t, 1, INFINITY, &cost);
        t->search_end = end;
        if (!r) {
            t->b0_ok = true;
            t->b0_cost = cost;
            memcpy(t->dir, t->cur, sizeof t->cur);
            say(t, "CLBlast's direct kernel for m*n*k < %zu^3: cost %.3f (indirect kernel only: %.3f)",
                t->threshold_b, cost, cost_of(t, t->ind));
        } else {
            say(t, "CLBlast's direct kernel for m*n*k < %zu^3 %s", t->threshold_b,
                r == RUN_WRONG ? "gives WRONG results here" : "failed");
        }
        kd_err_clear(kd_ctx_err(ctx));
        double left = t->search_end - now_s();
        if (stopped(t) || left < B_COST * median_a(t)) {
            say(t, "phase B (tuning the direct kernel) skipped: %.0f s left, a candidate takes about %.0f s here",
                left > 0 ? left : 0.0, B_COST * median_a(t));
        } else {
            say(t, "phase B: the direct kernel XgemmDirect for m*n*k < %zu^3, until %.0f s", t->threshold_b,
                t->search_end - t->t0);
            KD_TRY(run_phase(t, 1));
        }
    } else if (!stopped(t)) {
        say(t, "the tuned indirect kernel is efficient on every shape: no direct kernel");
    }

    /* Threshold 0 (the indirect kernel for everything) or phase B's, with
     * CLBlast's direct kernel or phase B's best. The set must be the very
     * program that was checked: after phase B, CLBlast's direct kernel
     * cannot be brought back in this process (overrides are final), and
     * with threshold 0 the direct kernel is never launched but still built,
     * so a light one goes in rather than whatever phase B left behind. */
    kd_tune_set *best = &res->best;
    memset(best, 0, sizeof *best);
    kd_tune_put(best, "Xgemm", t->best_a.v);
    size_t thr = 0;
    bool recheck = true;
    if (t->b0_ok || t->have_b) {
        double with_b = 0;
        for (int i = 0; i < t->ns; i++) with_b += t->w[i] * (t->small[i] ? t->dir[i] : t->ind[i]);
        if (with_b < cost_of(t, t->ind)) {
            thr = t->threshold_b;
            if (t->have_b) kd_tune_put(best, "XgemmDirect", t->best_b.v);
            else recheck = !t->ran_b;
        }
    }
    if (!thr && t->ran_b) {
        static const size_t light[KD_XD_N] = {
            [KD_XD_KWID] = 1, [KD_XD_MDIMAD] = 8, [KD_XD_MDIMCD] = 8, [KD_XD_NDIMBD] = 8, [KD_XD_NDIMCD] = 8,
            [KD_XD_PADA] = 1, [KD_XD_PADB] = 1,   [KD_XD_VWMD] = 1,   [KD_XD_VWND] = 1,   [KD_XD_WGD] = 8};
        kd_tune_put(best, "XgemmDirect", light);
    }
    kd_tune_put(best, "GemmRoutine", &thr);
    if (recheck) {
        say(t, "final: %s; checking it against float64 (the batched routine too) and timing it",
            thr ? "the direct kernel for the small shapes" : "the indirect kernel for every size");
        KD_TRY(kd_tune_apply(ctx, best));
        t->search_end = INFINITY;
        int r = run_checks(t, 0);
        for (int q = 0; !r && q < NBATCH_CHECKS; q++) r = run_check(t, &BATCH_CHECKS[q]);
        for (int i = 0; !r && i < t->ns; i++) r = run_shape(t, i, INFINITY, &res->best_ms[i]);
        if (r) {
            say(t, "the final set %s; keeping CLBlast's defaults%s%s",
                r == RUN_FAILED ? "failed" : "gave WRONG results", r == RUN_FAILED ? ": " : "",
                r == RUN_FAILED ? kd_ctx_err(ctx)->msg : "");
            kd_err_clear(kd_ctx_err(ctx));
            memset(res->best_ms, 0, sizeof res->best_ms);
            return KD_OK;
        }
    } else {
        /* Both halves were checked as they will run: every shape with this
         * Xgemm in phase A, the small ones with CLBlast's direct kernel. */
        say(t, "final: CLBlast's direct kernel for the small shapes; times from the search");
        for (int i = 0; i < t->ns; i++) res->best_ms[i] = t->small[i] ? t->dir[i] : t->ind[i];
    }
    res->score = cost_of(t, res->best_ms);
    /* Timing noise on a shared machine is a few percent: demand more. */
    res->improved = res->score < 0.95;
    say(t, "final cost %.3f of CLBlast's defaults; 1024^3: %.1f -> %.1f GFLOP/s", res->score,
        gflops(&t->sh[0], t->base[0]), gflops(&t->sh[0], res->best_ms[0]));
    return KD_OK;
}

kd_status kd_tune_search(kd_ctx *ctx, const kd_tune_opts *opts, kd_tune_result *res) {
    memset(res, 0, sizeof *res);
    if (kd_ctx_tuned(ctx))
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE,
                       "kd_tune_search needs a context without stored tuning (kd_session_open_untuned): CLBlast's "
                       "defaults are the baseline and the reference");
    if (!(opts->budget_s > 0))
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "tune: the time budget must be positive (got %g s)",
                       opts->budget_s);
    tuner *t = calloc(1, sizeof *t);
    if (!t) return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory for the tuner");
    t->ctx = ctx;
    t->o = opts;
    t->res = res;
    t->t0 = now_s();
    t->search_end = INFINITY;
    t->rng = (kd_rng64){0x6b64636c74756e65ull};
    kd_status st = search(t);
    res->direct_overridden = t->ran_b;
    res->seconds = now_s() - t->t0;
    tuner_free(t);
    free(t);
    return st;
}

