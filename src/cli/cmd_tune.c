/* kdcl tune: search CLBlast's GEMM kernel parameters for the selected
 * device on the GEMM shapes the given models run (plus 1024^3), store the
 * best set in the cache directory; every later kdcl run on that device
 * applies it (runtime/tune_store.h, src/cli/session.c). --show prints the stored set, --reset
 * deletes it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/blas.h"
#include "runtime/tune_store.h"
#include "src/cli/commands.h"
#include "src/cli/model_list.h"
#include "src/cli/session.h"
#include "src/cli/train_common.h"
#include "src/model/model.h"
#include "src/train/progress.h"
#include "src/train/step_bench.h"
#include "src/tune/search.h"

static int show(kd_ctx *ctx) {
    char path[4200];
    kd_tune_path(kd_ctx_cache_dir(ctx), kd_ctx_device(ctx), path, sizeof path);
    char *text = NULL;
    kd_err err = {0};
    if (kd_tune_load_text(kd_ctx_cache_dir(ctx), kd_ctx_device(ctx), &text, &err) != KD_OK) {
        printf("stored tuning for %s: %s\n", kd_ctx_device(ctx)->name, err.msg);
        return 1;
    }
    if (!text) {
        printf("no stored tuning for %s (it would be %s); kdcl runs CLBlast with %s.\n"
               "Run 'kdcl tune' to create it.\n",
               kd_ctx_device(ctx)->name, path,
               kd_session_fallback_preset(kd_ctx_device(ctx), NULL)
                   ? "kdcl's preset for this device (KDCL_TUNE_PRESET=off for CLBlast's defaults)"
                   : "its default parameters");
        return 0;
    }
    printf("stored tuning for %s: %s\n\n%s", kd_ctx_device(ctx)->name, path, text);
    if (text[0] && text[strlen(text) - 1] != '\n') putchar('\n');
    kd_tune_set s;
    kd_status st = kd_tune_parse(text, strlen(text), &s, &err);
    if (st == KD_OK) st = kd_tune_check(&s, kd_ctx_device(ctx), &err);
    free(text);
    if (st != KD_OK) {
        printf("\nit is NOT applied: %s\n", err.msg);
        return 1;
    }
    printf("\napplied at start-up by every kdcl command on this device.\n");
    return 0;
}

static int reset(kd_ctx *ctx) {
    bool removed = false;
    kd_err err = {0};
    char path[4200];
    kd_tune_path(kd_ctx_cache_dir(ctx), kd_ctx_device(ctx), path, sizeof path);
    if (kd_tune_reset(kd_ctx_cache_dir(ctx), kd_ctx_device(ctx), &removed, &err) != KD_OK) return kd_cli_report(&err);
    if (removed)
        printf("deleted %s: %s is back to CLBlast's default parameters\n", path, kd_ctx_device(ctx)->name);
    else
        printf("no stored tuning for %s (%s)\n", kd_ctx_device(ctx)->name, path);
    return 0;
}

/* The shapes to tune on: the heaviest of each model's GEMMs. */
static kd_status gather_shapes(const kd_ctx *ctx, const char *const *specs, int nspecs, int c, int h, int w,
                               int classes, int batch, int per_model, kd_gemm_use *out, int cap, int *n,
                               kd_err *err) {
    *n = 0;
    for (int i = 0; i < nspecs; i++) {
        if (!specs[i] || !*specs[i]) continue;
        kd_model *m = NULL;
        KD_TRY(kd_model_build(specs[i], c, h, w, classes, &m, err));
        kd_gemm_use shapes[64];
        int ns = kd_model_gemm_shapes(m, ctx, batch, shapes, per_model < 64 ? per_model : 64);
        for (int s = 0; s < ns && *n < cap; s++) {
            out[*n] = shapes[s];
            snprintf(out[*n].label, sizeof out[*n].label, "%c:%.61s", i == 0 ? 'T' : 'S', shapes[s].label);
            (*n)++;
        }
        kd_model_free(m);
    }
    return KD_OK;
}

/* ---------------------------------------------------------------------------
 * Whole training steps. A set that is faster on each GEMM shape alone can
 * still make a model's step slower (CLBlast's indirect kernel pads and
 * copies every operand, which dominates many small GEMMs), so the set to
 * store is chosen by timing the models' whole training steps with what
 * runs when nothing is stored (the baseline: CLBlast's defaults, timed
 * before any override, or kdcl's preset for the device, timed after the
 * search) and with each candidate. */

#define STEP_WARMUP 2
#define STEP_REPEAT 7

#define STEP_MAX_MODELS 8

typedef struct step_model {
    char role[16];
    kd_model_ref ref;
    double default_ms; /* CLBlast's defaults */
    double base_ms;    /* the baseline: the preset's when there is one, else default_ms */
} step_model;

typedef struct step_env {
    step_model models[STEP_MAX_MODELS];
    int nmodels, classes, batch;
    const char *base_name; /* "CLBlast's defaults" or "kdcl's preset" */
} step_env;

static void add_model(step_env *e, const char *role, const kd_model_ref *r) {
    step_model *m = &e->models[e->nmodels++];
    snprintf(m->role, sizeof m->role, "%s", role);
    m->ref = *r;
}

/* The fastest ms of one training step of each model (into ms[]). */
static kd_status time_steps(kd_ctx *ctx, const step_env *e, double *ms) {
    for (int i = 0; i < e->nmodels; i++) {
        kd_step_bench b;
        const step_model *sm = &e->models[i];
        kd_status st = kd_step_bench_open(ctx, sm->ref.spec, sm->ref.c, sm->ref.h, sm->ref.w, e->classes, e->batch, &b);
        if (st == KD_OK) st = kd_step_bench_min(&b, STEP_WARMUP, STEP_REPEAT, true, &ms[i]);
        kd_step_bench_close(&b);
        if (st != KD_OK) {
            kd_err_prefix(kd_ctx_err(ctx), "timing %s '%s': ", e->models[i].role, e->models[i].ref.spec);
            return st;
        }
    }
    return KD_OK;
}

static void set_threshold(kd_tune_set *s, size_t thr) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->kernels[i].name, "GemmRoutine") && s->kernels[i].n == 1) s->kernels[i].vals[0] = thr;
}

typedef struct step_choice {
    bool found;
    kd_tune_set set;
    size_t thr;
    double ms[STEP_MAX_MODELS], mean; /* mean of tuned/untuned step time over the models */
} step_choice;

/* Applies each candidate and times the steps, keeping the candidate with
 * the lowest mean time ratio among those that make no model slower than the
 * baseline. The candidates are the search's set with CLBlast's direct
 * kernel below a ladder of sizes, while the direct kernel in this process is
 * still CLBlast's own; once the search has replaced it (phase B), only a
 * set whose direct kernel is the one loaded here can be timed: the search's
 * own (when it carries its direct kernel), else the direct kernel never
 * launched (size 0). */
static kd_status choose_by_steps(kd_ctx *ctx, const step_env *e, const kd_tune_result *res,
                                 volatile sig_atomic_t *stop, step_choice *out) {
    memset(out, 0, sizeof *out);
    size_t found_thr = 0, wgd;
    kd_tune_get(&res->best, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE", &found_thr);
    /* 512: CLBlast's own default for devices it does not know. */
    size_t ladder[] = {found_thr, 0, 128, 192, 256, 384, 512};
    int nl = (int)(sizeof ladder / sizeof ladder[0]);
    if (res->direct_overridden) {
        nl = 1;
        if (!kd_tune_get(&res->best, "XgemmDirect", "WGD", &wgd)) ladder[0] = 0;
    }
    printf("\nwhole training steps, batch %d (fastest of %d after %d warm-up), speed-up over %s:\n", e->batch,
           STEP_REPEAT, STEP_WARMUP, e->base_name);
    printf("  %-40s", "");
    for (int i = 0; i < e->nmodels; i++) printf(" %8s", e->models[i].role);
    printf("\n");
    for (int l = 0; l < nl; l++) {
        if (*stop) {
            printf("  (interrupted: the candidates timed so far decide)\n");
            break;
        }
        bool dup = false;
        for (int j = 0; j < l; j++) dup |= ladder[j] == ladder[l];
        if (dup) continue;
        kd_tune_set cand = res->best;
        set_threshold(&cand, ladder[l]);
        /* The kernels stay; only the switch-over size changes (a full
         * override would have CLBlast rebuild its programs each time). */
        const char *key = "XGEMM_MIN_INDIRECT_SIZE";
        if (l == 0) KD_TRY(kd_tune_apply(ctx, &cand));
        else KD_TRY(kd_blas_override(ctx, "GemmRoutine", 1, &key, &ladder[l]));
        double ms[STEP_MAX_MODELS] = {0}, mean = 0, worst = 0, t0 = kd_now();
        KD_TRY(time_steps(ctx, e, ms));
        double took = kd_now() - t0;
        char name[64];
        if (ladder[l]) snprintf(name, sizeof name, "tuned Xgemm, direct kernel below %zu^3", ladder[l]);
        else snprintf(name, sizeof name, "tuned Xgemm for every size");
        printf("  %-40s", name);
        for (int i = 0; i < e->nmodels; i++) {
            double r = ms[i] / e->models[i].base_ms;
            mean += r / e->nmodels;
            worst = fmax(worst, r);
            printf(" %7.2fx", 1.0 / r);
        }
        bool ok = worst <= 1.0;
        printf("  (%.0f s)%s\n", took, ok ? "" : " slower");
        fflush(stdout);
        if (ok && (!out->found || mean < out->mean)) {
            out->found = true;
            out->set = cand;
            out->thr = ladder[l];
            out->mean = mean;
            memcpy(out->ms, ms, sizeof ms);
        }
    }
    return KD_OK;
}

int kd_cmd_tune(int argc, char **argv) {
    const char *teacher = KD_BENCH_TEACHER, *student = KD_BENCH_STUDENT, *input = "1x28x28", *check = "";
    double budget = 300;
    int batch = 32, classes = 10, per_model = 5;
    bool do_show = false, do_reset = false, verbose = false, dry = false;
    kd_global g = {0};
    kd_opt opts[] = {
        {.name = "budget", .kind = KD_OPT_FLOAT, .dest = &budget, .metavar = "SECONDS",
         .help = "time for the search, kernel builds included (the result is checked and timed after)", .min = 10,
         .max = 7200},
        {.name = "teacher", .kind = KD_OPT_STR, .dest = &teacher, .metavar = "SPEC",
         .help = "tune on this model's GEMM shapes ('' for none)"},
        {.name = "student", .kind = KD_OPT_STR, .dest = &student, .metavar = "SPEC",
         .help = "and on this one's ('' for none)"},
        {.name = "batch", .kind = KD_OPT_INT, .dest = &batch, .metavar = "N", .help = "training batch size",
         .min = 1, .max = 4096},
        {.name = "input", .kind = KD_OPT_STR, .dest = &input, .metavar = "CxHxW", .help = "input shape of one image"},
        {.name = "classes", .kind = KD_OPT_INT, .dest = &classes, .metavar = "N", .help = "number of classes",
         .min = 2, .max = 1000},
        {.name = "shapes", .kind = KD_OPT_INT, .dest = &per_model, .metavar = "N",
         .help = "heaviest distinct GEMM shapes per model to time each candidate on", .min = 0, .max = 10},
        {.name = "check", .kind = KD_OPT_STR, .dest = &check, .metavar = "SPEC@CxHxW;...",
         .help = "more models whose whole training step must not get slower (';'-separated)"},
        {.name = "show", .kind = KD_OPT_FLAG, .dest = &do_show, .help = "print the stored tuning and exit"},
        {.name = "reset", .kind = KD_OPT_FLAG, .dest = &do_reset,
         .help = "delete the stored tuning (back to CLBlast's defaults) and exit"},
        {.name = "dry-run", .kind = KD_OPT_FLAG, .dest = &dry, .help = "search and report, but store nothing"},
        {.name = "verbose", .kind = KD_OPT_FLAG, .dest = &verbose, .help = "a line for every candidate"},
    };
    kd_cmdline cl = {
        .command = "tune",
        .usage = "kdcl tune [--budget SECONDS] [--teacher SPEC] [--student SPEC] [--check LIST] [--batch N]\n"
                 "                 [--input CxHxW]\n"
                 "       kdcl tune --show | --reset",
        .description =
            "Searches the kernel parameters of CLBlast's SGEMM (the indirect kernel Xgemm, the direct kernel\n"
            "XgemmDirect and the size at which CLBlast switches between them) for the selected device. Each\n"
            "candidate is built, checked against a float64 reference and timed on 1024x1024x1024 and on the\n"
            "heaviest GEMM shapes of the given models (one training step at --batch); wrong or failing ones\n"
            "are refused. The best set is stored in the cache directory (see 'kdcl --help'), keyed by device,\n"
            "driver, platform and CLBlast version, and applied at start-up by every kdcl command on this\n"
            "device: 'kdcl devices' and 'kdcl bench' say whether it was. Ctrl-C ends the search early and\n"
            "keeps the best found so far. What is stored is then chosen by whole training steps: the models'\n"
            "steps (teacher, student and --check, each at --batch) are timed with CLBlast's defaults before\n"
            "the search and, after it, with the tuned kernel for every size and with CLBlast's direct kernel\n"
            "below each of a ladder of sizes (a CLBlast build and a few steps each, about a minute on POCL,\n"
            "outside --budget); the fastest on average that makes no model's step slower is stored. Nothing\n"
            "is stored unless it beats CLBlast's defaults on the GEMM shapes and, on every model's step, what\n"
            "runs when nothing is stored: on POCL's CPU device that is kdcl's preset (see 'kdcl devices';\n"
            "timed after the search, and the search's first candidate), elsewhere CLBlast's defaults. All\n"
            "of it runs in this one process (CLBlast's defaults cannot be brought back after an override),\n"
            "and after the search a small model's steps can run slower than in a fresh process (measured on\n"
            "POCL: about 15% for seed-cnn at 36x36), so the check errs towards storing nothing; 'kdcl bench'\n"
            "in new processes gives the figures to compare.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int done = kd_cmdline_run(&cl, &g, argc, argv);
    if (done >= 0) return done;
    kd_err err = {0};
    if (do_show && do_reset) {
        kd_fail(&err, KD_ERR_USAGE, "--show and --reset do not go together");
        return kd_cli_report(&err);
    }
    int c, h, w;
    if (!kd_parse_input(input, &c, &h, &w)) {
        kd_fail(&err, KD_ERR_USAGE, "--input '%s' is not CxHxW with 1-4 channels (e.g. 1x28x28)", input);
        return kd_cli_report(&err);
    }
    step_env se = {.classes = classes, .batch = batch};
    if (!do_show && !do_reset) {
        const char *roles[2] = {"teacher", "student"}, *specs[2] = {teacher, student};
        for (int i = 0; i < 2; i++) {
            if (!specs[i] || !*specs[i]) continue;
            kd_model_ref r;
            if (kd_model_ref_make(specs[i], c, h, w, classes, &r, &err) != KD_OK) {
                kd_err_prefix(&err, "%s: ", roles[i]);
                return kd_cli_report(&err);
            }
            add_model(&se, roles[i], &r);
        }
        kd_model_ref refs[KD_MODEL_LIST_MAX];
        int nrefs = 0;
        int room = STEP_MAX_MODELS - se.nmodels;
        if (*check && kd_model_list_parse(check, "--check", classes, refs, room, &nrefs, &err) != KD_OK)
            return kd_cli_report(&err);
        for (int i = 0; i < nrefs; i++) {
            char role[16]; /* i < KD_MODEL_LIST_MAX: "check" and a few digits */
            snprintf(role, sizeof role, "check%d", (i + 1) % 1000);
            add_model(&se, role, &refs[i]);
        }
    }
    /* Without the stored set: CLBlast's defaults are the baseline. */
    kd_ctx *ctx = NULL;
    if (kd_session_open_untuned(&g, NULL, &ctx, &err) != KD_OK) return kd_cli_report(&err);
    int rc = 0;
    /* The GEMMs the layers run on this device (some are no GEMM on CPUs). */
    kd_gemm_use shapes[KD_TUNE_MAX_SHAPES - 1];
    int nshapes = 0;
    if (!do_show && !do_reset) {
        const char *specs[2] = {teacher, student};
        if (gather_shapes(ctx, specs, 2, c, h, w, classes, batch, per_model, shapes, KD_TUNE_MAX_SHAPES - 1,
                          &nshapes, &err) != KD_OK) {
            rc = kd_cli_report(&err);
            goto done;
        }
    }
    if (!kd_ctx_cache_dir(ctx)[0]) {
        kd_fail(&err, KD_ERR_USAGE,
                "the cache directory is disabled (KDCL_CACHE_DIR=off) or unknown (no HOME): tuning has nowhere to "
                "live; set KDCL_CACHE_DIR to a directory");
        rc = kd_cli_report(&err);
        goto done;
    }
    if (do_show) {
        rc = show(ctx);
        goto done;
    }
    if (do_reset) {
        rc = reset(ctx);
        goto done;
    }

    /* A previous result is tried first. */
    kd_tune_set prev;
    bool have_prev = false;
    char *old = NULL;
    if (kd_tune_load_text(kd_ctx_cache_dir(ctx), kd_ctx_device(ctx), &old, &err) == KD_OK && old)
        have_prev = kd_tune_parse(old, strlen(old), &prev, &err) == KD_OK &&
                    kd_tune_check(&prev, kd_ctx_device(ctx), &err) == KD_OK;
    free(old);
    kd_err_clear(&err);

    /* What runs when nothing is stored: kdcl's preset for this device if
     * it has one (timed after the search: CLBlast's defaults, the search's
     * reference, must come first), else CLBlast's defaults. */
    kd_tune_set preset;
    bool have_preset = kd_session_fallback_preset(kd_ctx_device(ctx), &preset);
    se.base_name = have_preset ? "kdcl's preset" : "CLBlast's defaults";

    if (se.nmodels > 0) {
        printf("timing whole training steps with CLBlast's defaults first (batch %d):\n", batch);
        fflush(stdout);
        double base_ms[STEP_MAX_MODELS] = {0};
        if (time_steps(ctx, &se, base_ms) != KD_OK) {
            rc = kd_cli_report(&err);
            goto done;
        }
        for (int i = 0; i < se.nmodels; i++) {
            step_model *sm = &se.models[i];
            sm->default_ms = sm->base_ms = base_ms[i];
            printf("  %-8s %s at %dx%dx%d: %.1f ms\n", sm->role, sm->ref.spec, sm->ref.c, sm->ref.h, sm->ref.w,
                   sm->base_ms);
        }
    }

    volatile sig_atomic_t *stop = kd_sigint_flag();
    kd_install_sigint(stop);
    /* The stored set, else the preset, is the search's first candidate. */
    kd_tune_opts to = {.budget_s = budget, .shapes = shapes, .nshapes = nshapes,
                       .seed = have_prev ? &prev : have_preset ? &preset : NULL, .stop = stop, .log = stdout,
                       .verbose = verbose};
    kd_tune_result *res = calloc(1, sizeof *res);
    if (!res) {
        kd_fail(&err, KD_ERR_NOMEM, "out of host memory");
        rc = kd_cli_report(&err);
        goto done;
    }
    printf("tuning CLBlast %s SGEMM on %s (%s, driver %s); budget %.0f s, Ctrl-C stops early\n", kd_blas_version(),
           kd_ctx_device(ctx)->name, kd_ctx_device(ctx)->platform_version, kd_ctx_device(ctx)->driver_version, budget);
    fflush(stdout);
    if (kd_tune_search(ctx, &to, res) != KD_OK) {
        rc = kd_cli_report(&err);
        free(res);
        goto done;
    }
    printf("\n%-52s %10s %10s %8s\n", "GEMM (m x n x k; T: teacher, S: student)", "default", "tuned", "speed-up");
    for (int i = 0; i < res->nshapes; i++) {
        const kd_gemm_use *s = &res->shapes[i];
        double gf = 2e-6 * (double)s->m * (double)s->n * (double)s->k;
        bool have = res->best_ms[i] > 0;
        printf("%-52.52s %5.1f GF/s", s->label, gf / res->base_ms[i]);
        if (have) printf(" %5.1f GF/s %7.2fx\n", gf / res->best_ms[i], res->base_ms[i] / res->best_ms[i]);
        else printf(" %10s %8s\n", "-", "-");
    }
    printf("%d candidates timed, %d refused (build or launch failed), %d refused for wrong results; %.0f s\n",
           res->tried, res->failed, res->wrong, res->seconds);
    if (!res->improved) {
        printf("nothing beats CLBlast's defaults clearly here; nothing stored%s\n",
               have_prev ? " (the stored tuning is left as it was)" : "");
        free(res);
        goto done;
    }
    char steps_line[512] = "";
    if (se.nmodels > 0 && have_preset) {
        /* The preset launches only the indirect kernel, so it can be timed
         * whatever the search did to CLBlast's direct one. */
        double pre_ms[STEP_MAX_MODELS] = {0};
        if (kd_tune_apply(ctx, &preset) != KD_OK || time_steps(ctx, &se, pre_ms) != KD_OK) {
            rc = kd_cli_report(&err);
            free(res);
            goto done;
        }
        printf("\nwhole training steps with kdcl's preset (what runs when nothing is stored), over CLBlast's "
               "defaults:\n");
        for (int i = 0; i < se.nmodels; i++) {
            step_model *sm = &se.models[i];
            sm->base_ms = pre_ms[i];
            printf("  %-8s %.1f -> %.1f ms, %.2fx\n", sm->role, sm->default_ms, sm->base_ms,
                   sm->default_ms / sm->base_ms);
        }
    }
    if (se.nmodels > 0) {
        step_choice ch;
        if (choose_by_steps(ctx, &se, res, stop, &ch) != KD_OK) {
            rc = kd_cli_report(&err);
            free(res);
            goto done;
        }
        if (!ch.found) {
            printf("%s; nothing stored%s\n",
                   *stop ? "interrupted before a candidate passed the whole-step check"
                         : have_preset ? "no candidate beats kdcl's preset on every model's training step"
                                       : "every candidate makes a model's training step slower than CLBlast's defaults",
                   have_prev ? " (the stored tuning is left as it was)" : "");
            if (*stop) rc = 130;
            free(res);
            goto done;
        }
        res->best = ch.set;
        if (ch.mean > 0) {
            int len = snprintf(steps_line, sizeof steps_line, "# whole training steps at batch %d, %s -> tuned:",
                               batch, have_preset ? "preset" : "defaults");
            for (int i = 0; i < se.nmodels && len > 0 && (size_t)len < sizeof steps_line; i++)
                len += snprintf(steps_line + len, sizeof steps_line - (size_t)len, " %s %.1f -> %.1f ms%s",
                                se.models[i].role, se.models[i].base_ms, ch.ms[i], i + 1 < se.nmodels ? ";" : "\n");
            printf("chosen by whole steps: %s\n",
                   ch.thr ? "the tuned Xgemm, CLBlast's direct kernel for the smaller products"
                          : "the tuned Xgemm for every size");
        }
    }
    double gf = 2e-6 * 1024.0 * 1024.0 * 1024.0;
    char body[4096];
    kd_tune_format(&res->best, body, sizeof body);
    char text[6144];
    time_t now = time(NULL);
    char when[64] = "";
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tmv);
    snprintf(text, sizeof text,
             "# kdcl tune, %s: %s, driver %s, %s, CLBlast %s\n"
             "# SGEMM 1024^3: %.1f GFLOP/s with CLBlast's defaults, %.1f tuned (same run); cost %.3f of the "
             "defaults over %d shapes\n%s%s",
             when, kd_ctx_device(ctx)->name, kd_ctx_device(ctx)->driver_version, kd_ctx_device(ctx)->platform_version,
             kd_blas_version(), gf / res->base_ms[0], gf / res->best_ms[0], res->score, res->nshapes, steps_line, body);
    printf("\n%s", text);
    if (dry) {
        printf("(--dry-run: not stored)\n");
    } else if (kd_tune_store(kd_ctx_cache_dir(ctx), kd_ctx_device(ctx), text, &err) != KD_OK) {
        rc = kd_cli_report(&err);
    } else {
        char path[4200];
        kd_tune_path(kd_ctx_cache_dir(ctx), kd_ctx_device(ctx), path, sizeof path);
        printf("stored in %s; applied by every kdcl command on this device from now on\n", path);
    }
    if (rc == 0 && *stop) rc = 130;
    free(res);
done:
    kd_ctx_free(ctx);
    return rc;
}
