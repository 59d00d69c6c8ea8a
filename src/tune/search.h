/* `kdcl tune`'s search for CLBlast GEMM parameters on this device.
 *
 * It times candidate parameter sets on the GEMM shapes a model actually
 * runs, refuses any that fail to build or give wrong results, and returns
 * the best one; `kdcl tune` decides what to store (by timing whole training
 * steps, src/cli/cmd_tune.c) in runtime/tune_store.h's cache. Only `kdcl
 * tune` uses it, so it lives above the runtime. */
#ifndef KD_TUNE_SEARCH_H
#define KD_TUNE_SEARCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "runtime/blas.h"
#include "runtime/tune_params.h"

typedef struct kd_tune_opts {
    double budget_s;            /* wall-clock limit for the search */
    const kd_gemm_use *shapes; /* the model's GEMMs; 1024^3 is added */
    int nshapes;
    const kd_tune_set *seed;    /* a previously stored set to try first (may be NULL) */
    volatile sig_atomic_t *stop; /* set (SIGINT): finish with the best so far */
    FILE *log;                  /* progress lines (NULL: silent) */
    bool verbose;               /* a line per candidate, not only per improvement */
} kd_tune_opts;

#define KD_TUNE_MAX_SHAPES 24

typedef struct kd_tune_result {
    bool improved;              /* best beats CLBlast's defaults */
    kd_tune_set best;           /* valid when improved */
    bool direct_overridden;     /* phase B overrode XgemmDirect in this process: CLBlast's own direct
                                 * kernel cannot come back here, so thresholds cannot be re-tried */
    double score;               /* best's cost relative to the defaults (< 1 is faster) */
    int nshapes;
    kd_gemm_use shapes[KD_TUNE_MAX_SHAPES];
    double base_ms[KD_TUNE_MAX_SHAPES], best_ms[KD_TUNE_MAX_SHAPES]; /* per call */
    int tried, failed, wrong;   /* candidates timed, refused (build/launch), wrong results */
    double seconds;
} kd_tune_result;

/* Runs the search on ctx's device. ctx must not have any tuning applied
 * (src/cli/session.h: kd_session_open_untuned): the first measurement is CLBlast's
 * defaults, which are also the reference results. */
kd_status kd_tune_search(kd_ctx *ctx, const kd_tune_opts *opts, kd_tune_result *res);

#endif
