/* On-disk cache of compiled OpenCL programs (and other per-device blobs such
 * as CLBlast tuning results). Modelled on ggml's cl-program-cache: the key is
 * a hash of everything that could change the binary; an entry is a file
 * with magic, format version, key, size and checksum, written atomically;
 * anything that does not check out is ignored and rebuilt, never trusted. */
#ifndef KD_CACHE_H
#define KD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

#define KD_CACHE_FORMAT 1

/* Directory: `override` if given, else $KDCL_CACHE_DIR, else
 * $XDG_CACHE_HOME/kdcl, else ~/.cache/kdcl. "off" (or "0", "none") disables. */
void kd_cache_dir_resolve(const char *override, char *dir, size_t cap, bool *enabled);

uint64_t kd_hash64(uint64_t h, const void *data, size_t n);
uint64_t kd_hash_str(uint64_t h, const char *s);
#define KD_HASH_SEED 1469598103934665603ull

/* Path of the entry: <dir>/<kind>-<key as hex>.bin */
void kd_cache_path(const char *dir, const char *kind, uint64_t key, char *path, size_t cap);

/* Returns true and a malloc'ed payload only if the entry exists and checks out. */
bool kd_cache_load(const char *dir, const char *kind, uint64_t key, void **data, size_t *size);
kd_status kd_cache_store(const char *dir, const char *kind, uint64_t key, const void *data,
                         size_t size, kd_err *err);

#endif
