#define _POSIX_C_SOURCE 200809L
#include "runtime/tune_params.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/ctx_private.h"

/* ---------------------------------------------------------------------------
 * Parameter sets: CLBlast 1.5.3's kernels and their parameter names, in the
 * order CLBlast lists them (its database headers). */

typedef struct kernel_def {
    const char *name;
    int n;
    const char *keys[KD_TUNE_MAX_PARAMS];
} kernel_def;


static const kernel_def DEFS[] = {
    {"Xgemm", KD_XG_N, {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
                    "STRM", "STRN", "VWM", "VWN"}},
    {"XgemmDirect", KD_XD_N, {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"}},
    {"GemmRoutine", 1, {"XGEMM_MIN_INDIRECT_SIZE"}},
    {"Copy", 4, {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT"}},
    {"Pad", 4, {"PAD_DIMX", "PAD_DIMY", "PAD_WPTX", "PAD_WPTY"}},
    {"Transpose", 4, {"TRA_DIM", "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT"}},
    {"Padtranspose", 3, {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT"}},
};
#define NDEFS (int)(sizeof DEFS / sizeof DEFS[0])

/* GEMMs with m*n*k below XGEMM_MIN_INDIRECT_SIZE^3 take the direct kernel;
 * 2^20 cubed still fits CLBlast's unsigned long long product. */
#define MAX_VALUE ((size_t)1 << 20)

static const kernel_def *find_def(const char *name) {
    size_t len = strlen(name);
    for (int i = 0; i < NDEFS; i++)
        if (strlen(DEFS[i].name) == len && !memcmp(DEFS[i].name, name, len)) return &DEFS[i];
    return NULL;
}

const kd_tune_kernel *kd_tune_find(const kd_tune_set *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->kernels[i].name, name)) return &s->kernels[i];
    return NULL;
}

bool kd_tune_get(const kd_tune_set *s, const char *name, const char *key, size_t *val) {
    const kd_tune_kernel *k = kd_tune_find(s, name);
    if (!k) return false;
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->keys[i], key)) {
            *val = k->vals[i];
            return true;
        }
    return false;
}

void kd_tune_put(kd_tune_set *s, const char *name, const size_t *vals) {
    const kernel_def *d = find_def(name);
    KD_ASSERT(d);
    kd_tune_kernel *k = NULL;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->kernels[i].name, name)) k = &s->kernels[i];
    if (!k) {
        KD_ASSERT(s->n < KD_TUNE_MAX_KERNELS);
        k = &s->kernels[s->n++];
    }
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    k->n = d->n;
    for (int i = 0; i < d->n; i++) {
        snprintf(k->keys[i], sizeof k->keys[i], "%s", d->keys[i]);
        k->vals[i] = vals[i];
    }
}

kd_status kd_tune_parse(const char *text, size_t len, kd_tune_set *out, kd_err *err) {
    memset(out, 0, sizeof *out);
    int lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        char line[1024];
        size_t n = end - pos;
        lineno++;
        if (n >= sizeof line)
            return kd_fail(err, KD_ERR_INPUT, "tuning line %d: longer than %zu characters", lineno, sizeof line - 1);
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos = end + 1;
        if (memchr(line, '\0', n))
            return kd_fail(err, KD_ERR_INPUT, "tuning line %d: contains a NUL byte (not a text file)", lineno);
        char *save = NULL, *tok = strtok_r(line, " \t\r", &save);
        if (!tok || tok[0] == '#') continue;
        const kernel_def *d = find_def(tok);
        if (!d)
            return kd_fail(err, KD_ERR_INPUT,
                           "tuning line %d: unknown CLBlast kernel '%.64s' (expected Xgemm, XgemmDirect, "
                           "GemmRoutine, Copy, Pad, Transpose or Padtranspose)",
                           lineno, tok);
        if (kd_tune_find(out, d->name))
            return kd_fail(err, KD_ERR_INPUT, "tuning line %d: kernel %s given twice", lineno, d->name);
        if (out->n == KD_TUNE_MAX_KERNELS)
            return kd_fail(err, KD_ERR_INPUT, "tuning line %d: more than %d kernels", lineno, KD_TUNE_MAX_KERNELS);
        size_t vals[KD_TUNE_MAX_PARAMS];
        bool seen[KD_TUNE_MAX_PARAMS] = {0};
        while ((tok = strtok_r(NULL, " \t\r", &save))) {
            char *eq = strchr(tok, '=');
            if (!eq)
                return kd_fail(err, KD_ERR_INPUT, "tuning line %d: '%.64s' is not KEY=VALUE", lineno, tok);
            *eq = '\0';
            int idx = -1;
            for (int i = 0; i < d->n; i++)
                if (!strcmp(d->keys[i], tok)) idx = i;
            if (idx < 0)
                return kd_fail(err, KD_ERR_INPUT, "tuning line %d: %s has no parameter '%.64s'", lineno, d->name, tok);
            if (seen[idx])
                return kd_fail(err, KD_ERR_INPUT, "tuning line %d: %s given twice", lineno, tok);
            const char *v = eq + 1;
            char *vend = NULL;
            errno = 0;
            unsigned long long x = (*v >= '0' && *v <= '9') ? strtoull(v, &vend, 10) : 0;
            if (!vend || *vend || errno || x > MAX_VALUE)
                return kd_fail(err, KD_ERR_INPUT, "tuning line %d: %s=%.64s is not an integer in [0, %zu]", lineno,
                               tok, v, MAX_VALUE);
            vals[idx] = (size_t)x;
            seen[idx] = true;
        }
        for (int i = 0; i < d->n; i++)
            if (!seen[i])
                return kd_fail(err, KD_ERR_INPUT,
                               "tuning line %d: %s lacks %s (CLBlast needs every parameter of a kernel)", lineno,
                               d->name, d->keys[i]);
        kd_tune_put(out, d->name, vals);
    }
    if (!out->n) return kd_fail(err, KD_ERR_INPUT, "tuning text names no kernel");
    return KD_OK;
}

/* Appends to buf like snprintf, counting what would have been written. */
static void append(char *buf, size_t cap, int *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, int *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t at = (size_t)*len;
    int n = vsnprintf(buf && at < cap ? buf + at : NULL, buf && at < cap ? cap - at : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *len += n;
}

int kd_tune_format(const kd_tune_set *s, char *buf, size_t cap) {
    int len = 0;
    if (buf && cap) buf[0] = '\0';
    for (int i = 0; i < s->n; i++) {
        const kd_tune_kernel *k = &s->kernels[i];
        append(buf, cap, &len, "%s", k->name);
        for (int j = 0; j < k->n; j++) append(buf, cap, &len, " %s=%zu", k->keys[j], k->vals[j]);
        append(buf, cap, &len, "\n");
    }
    return len;
}

/* ---------------------------------------------------------------------------
 * Constraints. These follow CLBlast's tuners (src/tuning/kernels/xgemm.hpp,
 * xgemm_direct.hpp): a set outside them may compile and still compute
 * garbage, so a stored file that breaks one is not applied. */

static bool pow2_in(size_t v, size_t lo, size_t hi) { return v >= lo && v <= hi && (v & (v - 1)) == 0; }
static bool divides(size_t num, size_t den) { return den && num % den == 0; }

bool kd_tune_xgemm_valid(const size_t *v, const kd_device_info *dev, char *why, size_t cap) {
#define NEED(c, ...)                                   \
    do {                                               \
        if (!(c)) {                                    \
            if (why) snprintf(why, cap, __VA_ARGS__); \
            return false;                              \
        }                                              \
    } while (0)
    NEED(v[KD_XG_GEMMK] <= 1 && v[KD_XG_SA] <= 1 && v[KD_XG_SB] <= 1 && v[KD_XG_STRM] <= 1 && v[KD_XG_STRN] <= 1,
         "GEMMK, SA, SB, STRM and STRN must be 0 or 1");
    NEED(pow2_in(v[KD_XG_VWM], 1, 16) && pow2_in(v[KD_XG_VWN], 1, 16), "VWM and VWN must be 1, 2, 4, 8 or 16");
    const int ids[] = {KD_XG_KREG, KD_XG_KWG,   KD_XG_KWI,   KD_XG_MDIMA, KD_XG_MDIMC,
                       KD_XG_MWG,  KD_XG_NDIMB, KD_XG_NDIMC, KD_XG_NWG};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        NEED(v[ids[i]] >= 1, "%s must be at least 1", DEFS[0].keys[ids[i]]);
    NEED(divides(v[KD_XG_KWG], v[KD_XG_KWI]), "KWG=%zu is not a multiple of KWI=%zu", v[KD_XG_KWG], v[KD_XG_KWI]);
    NEED(divides(v[KD_XG_MWG], v[KD_XG_MDIMC] * v[KD_XG_VWM]), "MWG=%zu is not a multiple of MDIMC*VWM=%zu",
         v[KD_XG_MWG], v[KD_XG_MDIMC] * v[KD_XG_VWM]);
    NEED(divides(v[KD_XG_NWG], v[KD_XG_NDIMC] * v[KD_XG_VWN]), "NWG=%zu is not a multiple of NDIMC*VWN=%zu",
         v[KD_XG_NWG], v[KD_XG_NDIMC] * v[KD_XG_VWN]);
    NEED(divides(v[KD_XG_MWG], v[KD_XG_MDIMA] * v[KD_XG_VWM]), "MWG=%zu is not a multiple of MDIMA*VWM=%zu",
         v[KD_XG_MWG], v[KD_XG_MDIMA] * v[KD_XG_VWM]);
    NEED(divides(v[KD_XG_NWG], v[KD_XG_NDIMB] * v[KD_XG_VWN]), "NWG=%zu is not a multiple of NDIMB*VWN=%zu",
         v[KD_XG_NWG], v[KD_XG_NDIMB] * v[KD_XG_VWN]);
    size_t threads = v[KD_XG_MDIMC] * v[KD_XG_NDIMC];
    if (v[KD_XG_GEMMK] == 0) {
        NEED(divides(threads, v[KD_XG_MDIMA]) && divides(v[KD_XG_KWG], threads / v[KD_XG_MDIMA]),
             "KWG=%zu is not a multiple of MDIMC*NDIMC/MDIMA", v[KD_XG_KWG]);
        NEED(divides(threads, v[KD_XG_NDIMB]) && divides(v[KD_XG_KWG], threads / v[KD_XG_NDIMB]),
             "KWG=%zu is not a multiple of MDIMC*NDIMC/NDIMB", v[KD_XG_KWG]);
        NEED(v[KD_XG_KREG] == 1, "KREG must be 1 when GEMMK=0");
    } else {
        /* The 2-D register-tiled kernel: what CLBlast's tuner explores for it. */
        NEED(v[KD_XG_KWG] == 1 && v[KD_XG_KWI] == 1 && v[KD_XG_SA] == 0 && v[KD_XG_SB] == 0 && v[KD_XG_STRM] == 0 &&
                 v[KD_XG_STRN] == 0,
             "GEMMK=1 needs KWG=1, KWI=1, SA=SB=STRM=STRN=0");
        NEED(v[KD_XG_MDIMA] == v[KD_XG_MDIMC] && v[KD_XG_NDIMB] == v[KD_XG_NDIMC],
             "GEMMK=1 needs MDIMA=MDIMC and NDIMB=NDIMC");
        NEED(pow2_in(v[KD_XG_KREG], 1, 64) && divides(v[KD_XG_KREG], v[KD_XG_VWN]),
             "GEMMK=1 needs KREG a multiple of VWN");
    }
    NEED(!dev || !dev->max_work_group || threads <= dev->max_work_group,
         "MDIMC*NDIMC=%zu work-items exceed the device's %zu per work-group", threads,
         dev ? dev->max_work_group : (size_t)0);
    size_t local = 4 * (v[KD_XG_SA] * v[KD_XG_KWG] * v[KD_XG_MWG] + v[KD_XG_SB] * v[KD_XG_KWG] * v[KD_XG_NWG]);
    NEED(!dev || !dev->local_mem || local <= dev->local_mem, "needs %zu bytes of local memory, the device has %llu",
         local, dev ? (unsigned long long)dev->local_mem : 0ull);
    return true;
}

bool kd_tune_direct_valid(const size_t *v, const kd_device_info *dev, char *why, size_t cap) {
    NEED(v[KD_XD_PADA] <= 1 && v[KD_XD_PADB] <= 1, "PADA and PADB must be 0 or 1");
    NEED(pow2_in(v[KD_XD_VWMD], 1, 16) && pow2_in(v[KD_XD_VWND], 1, 16), "VWMD and VWND must be 1, 2, 4, 8 or 16");
    const int ids[] = {KD_XD_KWID, KD_XD_MDIMAD, KD_XD_MDIMCD, KD_XD_NDIMBD, KD_XD_NDIMCD, KD_XD_WGD};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        NEED(v[ids[i]] >= 1, "%s must be at least 1", DEFS[1].keys[ids[i]]);
    size_t w = v[KD_XD_WGD], threads = v[KD_XD_MDIMCD] * v[KD_XD_NDIMCD];
    NEED(divides(w, v[KD_XD_KWID]), "WGD=%zu is not a multiple of KWID=%zu", w, v[KD_XD_KWID]);
    NEED(divides(w, v[KD_XD_MDIMCD] * v[KD_XD_VWMD]), "WGD=%zu is not a multiple of MDIMCD*VWMD", w);
    NEED(divides(w, v[KD_XD_NDIMCD] * v[KD_XD_VWND]), "WGD=%zu is not a multiple of NDIMCD*VWND", w);
    NEED(divides(w, v[KD_XD_MDIMAD] * v[KD_XD_VWMD]), "WGD=%zu is not a multiple of MDIMAD*VWMD", w);
    NEED(divides(w, v[KD_XD_NDIMBD] * v[KD_XD_VWND]), "WGD=%zu is not a multiple of NDIMBD*VWND", w);
    NEED(divides(threads, v[KD_XD_MDIMAD]) && divides(w, threads / v[KD_XD_MDIMAD]),
         "WGD=%zu is not a multiple of MDIMCD*NDIMCD/MDIMAD", w);
    NEED(divides(threads, v[KD_XD_NDIMBD]) && divides(w, threads / v[KD_XD_NDIMBD]),
         "WGD=%zu is not a multiple of MDIMCD*NDIMCD/NDIMBD", w);
    NEED(!dev || !dev->max_work_group || threads <= dev->max_work_group,
         "MDIMCD*NDIMCD=%zu work-items exceed the device's %zu per work-group", threads,
         dev ? dev->max_work_group : (size_t)0);
    size_t local = 4 * (w * (w + v[KD_XD_PADA]) + w * (w + v[KD_XD_PADB]));
    NEED(!dev || !dev->local_mem || local <= dev->local_mem, "needs %zu bytes of local memory, the device has %llu",
         local, dev ? (unsigned long long)dev->local_mem : 0ull);
    return true;
}

/* The copy kernels: only what keeps a launch legal. */
static bool aux_valid(const kd_tune_kernel *k, const kd_device_info *dev, char *why, size_t cap) {
    size_t threads = 1;
    for (int i = 0; i < k->n; i++) {
        const char *key = k->keys[i];
        size_t v = k->vals[i];
        bool flag = strstr(key, "_PAD") || strstr(key, "SHUFFLE"); /* TRA_PAD, TRA_SHUFFLE, PADTRA_PAD */
        NEED(flag ? v <= 1 : v >= 1, flag ? "%s must be 0 or 1" : "%s must be at least 1", key);
        if (strstr(key, "_VW") || strstr(key, "WPT")) NEED(pow2_in(v, 1, 16), "%s must be 1, 2, 4, 8 or 16", key);
        if (strstr(key, "DIMX") || strstr(key, "DIMY")) threads *= v;
        if (!strcmp(key, "TRA_DIM") || !strcmp(key, "PADTRA_TILE")) threads *= v * v;
    }
    NEED(!dev || !dev->max_work_group || threads <= dev->max_work_group,
         "%s: %zu work-items exceed the device's %zu per work-group", k->name, threads,
         dev ? dev->max_work_group : (size_t)0);
    return true;
#undef NEED
}

kd_status kd_tune_check(const kd_tune_set *s, const kd_device_info *dev, kd_err *err) {
    char why[256] = "";
    for (int i = 0; i < s->n; i++) {
        const kd_tune_kernel *k = &s->kernels[i];
        const kernel_def *d = find_def(k->name);
        if (!d || k->n != d->n) return kd_fail(err, KD_ERR_INPUT, "tuning: kernel %s is incomplete", k->name);
        bool ok = true;
        if (!strcmp(k->name, "Xgemm")) ok = kd_tune_xgemm_valid(k->vals, dev, why, sizeof why);
        else if (!strcmp(k->name, "XgemmDirect")) ok = kd_tune_direct_valid(k->vals, dev, why, sizeof why);
        else if (!strcmp(k->name, "GemmRoutine")) ok = k->vals[0] <= MAX_VALUE;
        else ok = aux_valid(k, dev, why, sizeof why);
        if (!ok)
            return kd_fail(err, KD_ERR_INPUT, "tuning for %s does not satisfy CLBlast's constraints: %s", k->name,
                           why);
    }
    return KD_OK;
}

kd_status kd_tune_override(kd_ctx *ctx, const char *name, const size_t *vals) {
    const kernel_def *d = find_def(name);
    if (!d) return kd_fail(ctx->err, KD_ERR_USAGE, "tuning: unknown CLBlast kernel %s", name);
    const char *keys[KD_TUNE_MAX_PARAMS];
    for (int i = 0; i < d->n; i++) keys[i] = d->keys[i];
    return kd_blas_override(ctx, name, (size_t)d->n, keys, vals);
}

kd_status kd_tune_apply(kd_ctx *ctx, const kd_tune_set *s) {
    KD_TRY(kd_tune_check(s, &ctx->dev, ctx->err));
    for (int i = 0; i < s->n; i++) KD_TRY(kd_tune_override(ctx, s->kernels[i].name, s->kernels[i].vals));
    return KD_OK;
}
