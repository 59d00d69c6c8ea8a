/* Data-set files through the reader that every loader uses: plain or gzip
 * (zlib), read whole from a file with a 2 GiB cap, then parsed as IDX
 * images. Corrupt and truncated gzip streams must be refused, never read
 * short in silence. The input goes to a file in /dev/shm (or TMPDIR). */
#include <unistd.h>

#include "src/data/data_private.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_gzip(const uint8_t *data, size_t size) {
    char path[256];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/kdcl-fuzz-gzip-%ld", dir, (long)getpid());
    FILE *f = fopen(path, "wb");
    FUZZ_REQUIRE(f != NULL);
    FUZZ_REQUIRE(fwrite(data, 1, size, f) == size || size == 0);
    fclose(f);
    uint8_t *raw = (uint8_t *)1;
    size_t n = 12345;
    kd_err err = {0};
    kd_status s = kd_read_maybe_gz(path, &raw, &n, &err);
    unlink(path);
    if (s != KD_OK) {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err) && raw == NULL && n == 0);
        return 0;
    }
    FUZZ_REQUIRE(raw != NULL);
    /* Not gzip: the bytes come back as they are. */
    if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) FUZZ_REQUIRE(n == size && memcmp(raw, data, n) == 0);
    int ni, h, w;
    uint8_t *px = NULL;
    if (kd_idx_parse_images(raw, n, path, &ni, &h, &w, &px, &err) == KD_OK) free(px);
    free(raw);
    return 1;
}

KD_FUZZ_ENTRY(fuzz_gzip)
