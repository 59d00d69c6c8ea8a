#include "runtime/tune_preset.h"
#include "runtime/ctx_private.h"

#include <string.h>

/* Found by `kdcl tune` on POCL 3.1 (LLVM 15, 2-core AMD EPYC, AVX2) for a
 * bottleneck ResNet: 4 items per group, a 16 x 16 register tile each, no
 * local memory (SA = SB = 0), so it fits any device's limits. The indirect
 * kernel for every size (XGEMM_MIN_INDIRECT_SIZE 0): CLBlast's direct
 * kernel keeps its GPU-sized defaults, which were slower for every ResNet
 * layer measured (docs/benchmarks.md has the per-model figures). */
static const char POCL_CPU[] =
    "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=2 MDIMC=2 MWG=32 NDIMB=2 NDIMC=2 NWG=32 SA=0 SB=0 STRM=0 STRN=0 "
    "VWM=8 VWN=4\n"
    "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=0\n";

const char *kd_tune_preset_text(const kd_device_info *dev) {
    /* POCL's CPU devices only: CLBlast's database covers the vendors' own
     * CPU runtimes, and other CPU implementations (Mesa's llvmpipe) run
     * work-items differently. */
    bool pocl = strstr(dev->platform_name, "Portable Computing Language") != NULL ||
                strstr(dev->platform_version, "PoCL") != NULL;
    if (pocl && (dev->type & CL_DEVICE_TYPE_CPU)) return POCL_CPU;
    return NULL;
}

kd_status kd_tune_preset(const kd_device_info *dev, kd_tune_set *out, bool *found, kd_err *err) {
    const char *text = kd_tune_preset_text(dev);
    *found = text != NULL;
    return text ? kd_tune_parse(text, strlen(text), out, err) : KD_OK;
}

kd_status kd_tune_apply_preset(kd_ctx *ctx) {
    ctx->preset = false;
    kd_tune_set s;
    bool found;
    KD_TRY(kd_tune_preset(&ctx->dev, &s, &found, ctx->err));
    if (!found) return KD_OK;
    KD_TRY(kd_tune_apply(ctx, &s));
    ctx->preset = true;
    return KD_OK;
}
