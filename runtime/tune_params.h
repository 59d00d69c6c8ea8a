/* CLBlast GEMM kernel parameters, as `kdcl tune` stores them: the set
 * type, its text form, CLBlast's constraints on the values, and applying a
 * set to the process (CLBlastOverrideParameters).
 *
 * CLBlast picks its kernel parameters from a database; a device it does not
 * know (POCL on an AMD CPU, say) gets generic defaults that can be several
 * times slower than what the kernels can do; `kdcl tune` (src/tune/search.h)
 * searches for better ones and runtime/tune_store.h keeps them per device.
 *
 * Text form: one CLBlast kernel per line, every parameter of that kernel
 * given (CLBlast requires the full set), '#' lines are comments:
 *   Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=4 MDIMC=4 MWG=64 ...
 *   XgemmDirect KWID=2 MDIMAD=8 ...
 *   GemmRoutine XGEMM_MIN_INDIRECT_SIZE=160
 * CLBlast's overrides are process-wide per device and cannot be undone, so
 * whatever must be measured untuned has to be measured first. */
#ifndef KD_TUNE_PARAMS_H
#define KD_TUNE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/ctx.h"

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

/* Indices of Xgemm's (KD_XG_) and XgemmDirect's (KD_XD_) parameters in
 * kd_tune_kernel.vals. */
enum { KD_XG_GEMMK, KD_XG_KREG, KD_XG_KWG, KD_XG_KWI, KD_XG_MDIMA, KD_XG_MDIMC, KD_XG_MWG, KD_XG_NDIMB,
       KD_XG_NDIMC, KD_XG_NWG, KD_XG_SA, KD_XG_SB, KD_XG_STRM, KD_XG_STRN, KD_XG_VWM, KD_XG_VWN, KD_XG_N };
enum { KD_XD_KWID, KD_XD_MDIMAD, KD_XD_MDIMCD, KD_XD_NDIMBD, KD_XD_NDIMCD, KD_XD_PADA, KD_XD_PADB, KD_XD_VWMD,
       KD_XD_VWND, KD_XD_WGD, KD_XD_N };

/* Value of `key` in kernel `name` of s; false if absent. */
bool kd_tune_get(const kd_tune_set *s, const char *name, const char *key, size_t *val);
/* Kernel `name` of s, or NULL. */
const kd_tune_kernel *kd_tune_find(const kd_tune_set *s, const char *name);
/* Replaces (or adds) kernel `name` in s, vals in CLBlast's parameter order. */
void kd_tune_put(kd_tune_set *s, const char *name, const size_t *vals);

/* Parses the text form. Unknown kernels or keys, missing or repeated keys,
 * malformed values: KD_ERR_INPUT naming the line and what is wrong. */
kd_status kd_tune_parse(const char *text, size_t len, kd_tune_set *out, kd_err *err);
/* Text form of s (no comments); returns the length snprintf would write. */
int kd_tune_format(const kd_tune_set *s, char *buf, size_t cap);

/* CLBlast's constraints on Xgemm's / XgemmDirect's values (divisibility,
 * vector widths, local memory and work-group size of `dev`); false with the
 * reason in why (may be NULL) when one fails. */
bool kd_tune_xgemm_valid(const size_t *v, const kd_device_info *dev, char *why, size_t cap);
bool kd_tune_direct_valid(const size_t *v, const kd_device_info *dev, char *why, size_t cap);
/* Every kernel of s against its constraints; KD_ERR_INPUT saying which one fails. */
kd_status kd_tune_check(const kd_tune_set *s, const kd_device_info *dev, kd_err *err);

/* CLBlastOverrideParameters for one kernel, unchecked (the search checks its
 * candidates itself). */
kd_status kd_tune_override(kd_ctx *ctx, const char *name, const size_t *vals);
/* Every kernel of s, checked first. */
kd_status kd_tune_apply(kd_ctx *ctx, const kd_tune_set *s);

#endif
