#include "runtime/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/fsutil.h"

static const char MAGIC[8] = {'K', 'D', 'C', 'L', 'B', 'L', 'O', 'B'};

typedef struct entry_header {
    char magic[8];
    uint32_t format;
    uint32_t reserved;
    uint64_t key;
    uint64_t size;
    uint64_t checksum;
} entry_header;

void kd_cache_dir_resolve(const char *override, char *dir, size_t cap, bool *enabled) {
    const char *v = override ? override : getenv("KDCL_CACHE_DIR");
    *enabled = true;
    if (v && *v) {
        if (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "none")) {
            *enabled = false;
            dir[0] = '\0';
            return;
        }
        snprintf(dir, cap, "%s", v);
        return;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) {
        snprintf(dir, cap, "%s/kdcl", xdg);
        return;
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        snprintf(dir, cap, "%s/.cache/kdcl", home);
        return;
    }
    *enabled = false;
    dir[0] = '\0';
}

uint64_t kd_hash64(uint64_t h, const void *data, size_t n) {
    /* FNV-1a: enough to key a cache; the entry's checksum guards the payload. */
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t kd_hash_str(uint64_t h, const char *s) {
    return kd_hash64(h, s, strlen(s) + 1); /* the NUL separates fields */
}

void kd_cache_path(const char *dir, const char *kind, uint64_t key, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s-%016llx.bin", dir, kind, (unsigned long long)key);
}

bool kd_cache_load(const char *dir, const char *kind, uint64_t key, void **data, size_t *size) {
    char path[4200];
    kd_cache_path(dir, kind, key, path, sizeof path);
    void *buf;
    size_t n;
    if (kd_read_file(path, &buf, &n, NULL) != KD_OK) return false;
    entry_header h;
    bool ok = n >= sizeof h;
    if (ok) {
        memcpy(&h, buf, sizeof h);
        ok = !memcmp(h.magic, MAGIC, sizeof MAGIC) && h.format == KD_CACHE_FORMAT && h.key == key &&
             h.size == n - sizeof h &&
             kd_hash64(KD_HASH_SEED, (char *)buf + sizeof h, (size_t)h.size) == h.checksum;
    }
    if (!ok) {
        free(buf);
        return false;
    }
    memmove(buf, (char *)buf + sizeof h, (size_t)h.size);
    *data = buf;
    *size = (size_t)h.size;
    return true;
}

kd_status kd_cache_store(const char *dir, const char *kind, uint64_t key, const void *data,
                         size_t size, kd_err *err) {
    KD_TRY(kd_mkdirs(dir, err));
    entry_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MAGIC, sizeof MAGIC);
    h.format = KD_CACHE_FORMAT;
    h.key = key;
    h.size = size;
    h.checksum = kd_hash64(KD_HASH_SEED, data, size);
    char path[4200];
    kd_cache_path(dir, kind, key, path, sizeof path);
    kd_chunk parts[2] = {{&h, sizeof h}, {data, size}};
    return kd_write_atomic(path, parts, 2, err);
}
