/* Per-device tuning of CLBlast's GEMM kernels (`kdcl tune`).
 *
 * CLBlast picks its kernel parameters from a database; a device it does not
 * know (POCL on an AMD CPU, say) gets generic defaults that can be several
 * times slower than what the kernels can do. The search below times
 * candidate parameter sets on the GEMM shapes a model actually runs,
 * refuses any that fail to build or give wrong results, and stores the best
 * one in the cache directory, keyed by device, driver, platform and CLBlast
 * version. kd_ctx_create applies the stored set (CLBlastOverrideParameters)
 * so every later GEMM on that device uses it.
 *
 * Stored form: text, one CLBlast kernel per line, every parameter of that
 * kernel given (CLBlast requires the full set), '#' lines are comments:
 *   Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=4 MDIMC=4 MWG=64 ...
 *   XgemmDirect KWID=2 MDIMAD=8 ...
 *   GemmRoutine XGEMM_MIN_INDIRECT_SIZE=160
 * CLBlast's overrides are process-wide per device and cannot be undone, so
 * whatever must be measured untuned has to be measured first. */
#ifndef KD_TUNE_H
#define KD_TUNE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/ctx.h"

#define KD_TUNE_FORMAT 1
#define KD_TUNE_MAX_KERNELS 8
#define KD_TUNE_MAX_PARAMS 16

/* One CLBlast kernel's parameters, in CLBlast's own (alphabetical) order. */
typedef struct kd_tune_kernel {
    char name[32]; /* "Xgemm", "XgemmDirect", "GemmRoutine", "Copy", "Pad", "Transpose", "Padtranspose" */
    int n;
    char keys[KD_TUNE_MAX_PARAMS][32];
    size_t vals[KD_TUNE_MAX_PARAMS];
} kd_tune_kernel;

typedef struct kd_tune_set {
    kd_tune_kernel kernels[KD_TUNE_MAX_KERNELS];
    int n;
} kd_tune_set;

/* Value of `key` in kernel `name` of s; false if absent. */
bool kd_tune_get(const kd_tune_set *s, const char *name, const char *key, size_t *val);

/* Parses the text form. Unknown kernels or keys, missing or repeated keys,
 * malformed values: KD_ERR_INPUT naming the line and what is wrong. */
kd_status kd_tune_parse(const char *text, size_t len, kd_tune_set *out, kd_err *err);
/* Text form of s (no comments); returns the length snprintf would write. */
int kd_tune_format(const kd_tune_set *s, char *buf, size_t cap);
/* CLBlast's constraints on the values (divisibility, vector widths, local
 * memory and work-group size of `dev`); KD_ERR_INPUT saying which one fails. */
kd_status kd_tune_check(const kd_tune_set *s, const kd_device_info *dev, kd_err *err);
/* CLBlastOverrideParameters for each kernel of s (checked first). */
kd_status kd_tune_apply(kd_ctx *ctx, const kd_tune_set *s);

/* Cache key: device name, driver version, platform version, CLBlast version, format. */
uint64_t kd_tune_key(const kd_device_info *dev);
/* Where the entry for dev lives in cache directory `dir`. */
void kd_tune_path(const char *dir, const kd_device_info *dev, char *path, size_t cap);
/* Stores `text` (the text form, comments allowed) after parsing and checking it. */
kd_status kd_tune_store(const char *dir, const kd_device_info *dev, const char *text, kd_err *err);
/* The stored text (malloc'ed, NUL-terminated) in *text. Absent: KD_OK with
 * *text NULL. Present but damaged (checksum, header): KD_ERR_INPUT. */
kd_status kd_tune_load_text(const char *dir, const kd_device_info *dev, char **text, kd_err *err);
/* Deletes the entry; *removed says whether there was one. */
kd_status kd_tune_reset(const char *dir, const kd_device_info *dev, bool *removed, kd_err *err);

/* Loads, checks and applies the entry for ctx's device from ctx->cache_dir.
 * Sets ctx->tuned. No entry: KD_OK, nothing applied. A damaged or
 * inapplicable entry: an error in ctx->err and nothing applied (the caller
 * warns and goes on untuned). */
kd_status kd_tune_apply_stored(kd_ctx *ctx);

/* A GEMM shape as kd_sgemm runs it (row-major, batch folded in by the caller). */
typedef struct kd_tune_shape {
    bool ta, tb;
    int m, n, k;
    float beta;    /* 0 or 1: dW accumulates, which changes CLBlast's path */
    double count;  /* how often one training step runs it (weight) */
    char label[64];
} kd_tune_shape;

typedef struct kd_tune_opts {
    double budget_s;            /* wall-clock limit for the search */
    const kd_tune_shape *shapes; /* the model's GEMMs; 1024^3 is added */
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
    kd_tune_shape shapes[KD_TUNE_MAX_SHAPES];
    double base_ms[KD_TUNE_MAX_SHAPES], best_ms[KD_TUNE_MAX_SHAPES]; /* per call */
    int tried, failed, wrong;   /* candidates timed, refused (build/launch), wrong results */
    double seconds;
} kd_tune_result;

/* Runs the search on ctx's device. ctx must not have any tuning applied
 * (create it with opts.no_tuning): the first measurement is CLBlast's
 * defaults, which are also the reference results. */
kd_status kd_tune_search(kd_ctx *ctx, const kd_tune_opts *opts, kd_tune_result *res);

#endif
