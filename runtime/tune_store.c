#include "runtime/tune_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/cache.h"
#include "runtime/ctx_private.h"
#include "runtime/fsutil.h"

/* ---------------------------------------------------------------------------
 * Storage in the cache directory. */

uint64_t kd_tune_key(const kd_device_info *dev) {
    uint64_t h = kd_hash_str(KD_HASH_SEED, "kdcl CLBlast tuning");
    h = kd_hash_str(h, dev->name);
    h = kd_hash_str(h, dev->vendor);
    h = kd_hash_str(h, dev->driver_version);
    h = kd_hash_str(h, dev->platform_name);
    h = kd_hash_str(h, dev->platform_version);
    h = kd_hash_str(h, kd_blas_version());
    uint32_t format = KD_TUNE_FORMAT;
    return kd_hash64(h, &format, sizeof format);
}

void kd_tune_path(const char *dir, const kd_device_info *dev, char *path, size_t cap) {
    kd_cache_path(dir, "tune", kd_tune_key(dev), path, cap);
}

kd_status kd_tune_store(const char *dir, const kd_device_info *dev, const char *text, kd_err *err) {
    kd_tune_set s;
    KD_TRY(kd_tune_parse(text, strlen(text), &s, err));
    KD_TRY(kd_tune_check(&s, dev, err));
    return kd_cache_store(dir, "tune", kd_tune_key(dev), text, strlen(text), err);
}

kd_status kd_tune_load_text(const char *dir, const kd_device_info *dev, char **text, kd_err *err) {
    *text = NULL;
    char path[4200];
    kd_tune_path(dir, dev, path, sizeof path);
    if (!kd_file_exists(path)) return KD_OK;
    void *data = NULL;
    size_t size = 0;
    if (!kd_cache_load(dir, "tune", kd_tune_key(dev), &data, &size))
        return kd_fail(err, KD_ERR_INPUT,
                       "%s is damaged (bad header or checksum); run 'kdcl tune' again or 'kdcl tune --reset'", path);
    char *t = realloc(data, size + 1);
    if (!t) {
        free(data);
        return kd_fail(err, KD_ERR_NOMEM, "out of host memory reading %s", path);
    }
    t[size] = '\0';
    *text = t;
    return KD_OK;
}

kd_status kd_tune_reset(const char *dir, const kd_device_info *dev, bool *removed, kd_err *err) {
    char path[4200];
    kd_tune_path(dir, dev, path, sizeof path);
    *removed = false;
    if (!kd_file_exists(path)) return KD_OK;
    if (remove(path) != 0) return kd_fail(err, KD_ERR_IO, "cannot delete %s: %s", path, strerror(errno));
    *removed = true;
    return KD_OK;
}

kd_status kd_tune_apply_stored(kd_ctx *ctx) {
    ctx->tuned = false;
    if (!ctx->cache_enabled) return KD_OK;
    char *text = NULL;
    KD_TRY(kd_tune_load_text(ctx->cache_dir, &ctx->dev, &text, ctx->err));
    if (!text) return KD_OK;
    kd_tune_set s;
    char path[4200];
    kd_tune_path(ctx->cache_dir, &ctx->dev, path, sizeof path);
    kd_status st = kd_tune_parse(text, strlen(text), &s, ctx->err);
    free(text);
    if (st == KD_OK) st = kd_tune_apply(ctx, &s);
    if (st != KD_OK) {
        kd_err_prefix(ctx->err, "%s: ", path);
        return st;
    }
    ctx->tuned = true;
    return KD_OK;
}
