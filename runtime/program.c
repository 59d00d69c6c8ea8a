#define _POSIX_C_SOURCE 200809L
#include "runtime/program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cache.h"
#include "runtime/clcheck.h"
#include "runtime/ctx.h"
#include "runtime/ctx_private.h"
#include "runtime/fsutil.h"

/* With KDCL_KERNELS_FROM_SOURCE the kernels are read from the source tree
 * at run time, so editing a .cl file needs no rebuild. */
static kd_status source_text(const char *name, char **text, kd_err *err) {
#ifdef KDCL_CL_DIR
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.cl", KDCL_CL_DIR, name);
    size_t n;
    return kd_read_file(path, (void **)text, &n, err);
#else
    for (const kd_cl_source *s = kd_cl_sources; s->name; s++)
        if (!strcmp(s->name, name)) {
            *text = strdup(s->text);
            return *text ? KD_OK : kd_fail(err, KD_ERR_NOMEM, "out of memory");
        }
    return kd_fail(err, KD_ERR_NOT_FOUND, "no OpenCL source cl/%s.cl is embedded in this kdcl", name);
#endif
}

static uint64_t program_key(const kd_ctx *ctx, const char *common, const char *src) {
    uint64_t h = KD_HASH_SEED;
    uint32_t fmt = KD_CACHE_FORMAT;
    h = kd_hash64(h, &fmt, sizeof fmt);
    h = kd_hash_str(h, common);
    h = kd_hash_str(h, src);
    h = kd_hash_str(h, KD_CL_BUILD_OPTIONS);
    h = kd_hash_str(h, ctx->dev.name);
    h = kd_hash_str(h, ctx->dev.driver_version);
    h = kd_hash_str(h, ctx->dev.platform_version);
    return h;
}

static void build_log(kd_ctx *ctx, cl_program p, char *log, size_t cap) {
    size_t n = 0;
    log[0] = '\0';
    if (clGetProgramBuildInfo(p, ctx->dev.device, CL_PROGRAM_BUILD_LOG, cap - 1, log, &n) == CL_SUCCESS)
        log[n < cap ? n : cap - 1] = '\0';
}

/* A program entry's payload is PROG_MAGIC then the driver's binary exactly
 * as clGetProgramInfo gave it. The cache file's own checksum catches
 * damage; the magic keeps anything kdcl did not take from the driver (a
 * blob of another kind under the same key, a hand-made file) away from
 * clCreateProgramWithBinary: rusticl (Mesa 22.3) aborts the whole process
 * on a binary it does not recognise (a Rust panic, "unknown version",
 * core/program.rs) instead of returning CL_INVALID_BINARY. */
static const char PROG_MAGIC[8] = {'K', 'D', 'C', 'L', 'P', 'R', 'G', '1'};

/* Tries the cached binary; false (quietly) if it is missing, damaged or refused. */
static bool build_from_cache(kd_ctx *ctx, const char *name, uint64_t key, cl_program *out) {
    if (!ctx->cache_enabled) return false;
    void *blob = NULL;
    size_t size = 0;
    char kind[96];
    snprintf(kind, sizeof kind, "prog-%s", name);
    if (!kd_cache_load(ctx->cache_dir, kind, key, &blob, &size)) return false;
    if (size <= sizeof PROG_MAGIC || memcmp(blob, PROG_MAGIC, sizeof PROG_MAGIC)) {
        free(blob);
        return false;
    }
    size -= sizeof PROG_MAGIC;
    const unsigned char *bins[1] = {(const unsigned char *)blob + sizeof PROG_MAGIC};
    cl_int status = CL_SUCCESS, e = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->dev.device, &size, bins, &status, &e);
    free(blob);
    if (e != CL_SUCCESS || status != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return false;
    }
    if (clBuildProgram(p, 1, &ctx->dev.device, KD_CL_BUILD_OPTIONS, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return false;
    }
    *out = p;
    return true;
}

static void store_binary(kd_ctx *ctx, const char *name, uint64_t key, cl_program p) {
    if (!ctx->cache_enabled) return;
    size_t size = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || !size)
        return;
    unsigned char *blob = malloc(sizeof PROG_MAGIC + size);
    if (!blob) return;
    memcpy(blob, PROG_MAGIC, sizeof PROG_MAGIC);
    unsigned char *bins[1] = {blob + sizeof PROG_MAGIC};
    char kind[96];
    snprintf(kind, sizeof kind, "prog-%s", name);
    kd_err ignored;
    /* A cache that cannot be written (read-only home) only costs build time. */
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
        kd_cache_store(ctx->cache_dir, kind, key, blob, sizeof PROG_MAGIC + size, &ignored);
    free(blob);
}

kd_status kd_program_get(kd_ctx *ctx, const char *name, cl_program *out) {
    for (int i = 0; i < ctx->nprograms; i++)
        if (!strcmp(ctx->programs[i].name, name)) {
            *out = ctx->programs[i].program;
            return KD_OK;
        }
    if (ctx->nprograms == KD_MAX_PROGRAMS)
        return kd_fail(ctx->err, KD_ERR_CL, "too many programs (raise KD_MAX_PROGRAMS in runtime/ctx.h)");
    const char *stored_name = NULL;
    for (const kd_cl_source *s = kd_cl_sources; s->name; s++)
        if (!strcmp(s->name, name)) stored_name = s->name;
    if (!stored_name)
        return kd_fail(ctx->err, KD_ERR_NOT_FOUND, "no OpenCL program cl/%s.cl in this kdcl", name);

    char *common = NULL, *src = NULL, *full = NULL;
    kd_status st = KD_OK;
    KD_TRY(source_text("common", &common, ctx->err));
    if ((st = source_text(name, &src, ctx->err)) != KD_OK) goto done;
    size_t nc = strlen(common), ns = strlen(src);
    full = malloc(nc + ns + 64);
    if (!full) {
        st = kd_fail(ctx->err, KD_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* #line keeps compiler messages pointing into the right file. */
    snprintf(full, nc + ns + 64, "%s\n#line 1\n%s", common, src);

    uint64_t key = program_key(ctx, common, src);
    cl_program p = NULL;
    if (build_from_cache(ctx, name, key, &p)) {
        ctx->programs_from_cache++;
    } else {
        cl_int e = CL_SUCCESS;
        const char *srcs[1] = {full};
        p = clCreateProgramWithSource(ctx->context, 1, srcs, NULL, &e);
        if (e != CL_SUCCESS) {
            st = kd_fail_cl(ctx->err, e, "clCreateProgramWithSource", __FILE__, __LINE__);
            goto done;
        }
        e = clBuildProgram(p, 1, &ctx->dev.device, KD_CL_BUILD_OPTIONS, NULL, NULL);
        if (e != CL_SUCCESS) {
            char log[8192];
            build_log(ctx, p, log, sizeof log);
            st = kd_fail(ctx->err, KD_ERR_CL,
                         "building cl/%s.cl failed: %s (%d) with options '%s' on %s\nbuild log:\n%s", name,
                         kd_cl_error_str(e), (int)e, KD_CL_BUILD_OPTIONS, ctx->dev.name, log);
            clReleaseProgram(p);
            goto done;
        }
        ctx->programs_from_source++;
        store_binary(ctx, name, key, p);
    }
    ctx->programs[ctx->nprograms].name = stored_name;
    ctx->programs[ctx->nprograms].program = p;
    ctx->nprograms++;
    *out = p;
done:
    free(common);
    free(src);
    free(full);
    return st;
}

kd_status kd_programs_build_all(kd_ctx *ctx) {
    for (const kd_cl_source *s = kd_cl_sources; s->name; s++) {
        if (!strcmp(s->name, "common")) continue;
        cl_program p;
        KD_TRY(kd_program_get(ctx, s->name, &p));
    }
    return KD_OK;
}
