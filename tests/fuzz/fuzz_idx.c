/* IDX readers (Fashion-MNIST): the same bytes through the image and the
 * label parser; at most one can accept them (the magics differ). */
#include "src/data/dataset.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_idx(const uint8_t *data, size_t size) {
    int accepted = 0;
    int n = -1, h = -1, w = -1;
    uint8_t *px = (uint8_t *)1;
    kd_err err = {0};
    kd_status s = kd_idx_parse_images(data, size, "fuzz-images-idx3-ubyte", &n, &h, &w, &px, &err);
    if (s == KD_OK) {
        FUZZ_REQUIRE(n > 0 && h > 0 && w > 0 && px != NULL);
        FUZZ_REQUIRE(16 + (size_t)n * (size_t)h * (size_t)w == size);
        FUZZ_REQUIRE(memcmp(px, data + 16, size - 16) == 0);
        free(px);
        accepted++;
    } else {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err) && px == NULL && n == 0);
    }
    uint8_t *lb = (uint8_t *)1;
    n = -1;
    memset(&err, 0, sizeof err);
    s = kd_idx_parse_labels(data, size, "fuzz-labels-idx1-ubyte", &n, &lb, &err);
    if (s == KD_OK) {
        FUZZ_REQUIRE(n > 0 && lb != NULL && 8 + (size_t)n == size);
        FUZZ_REQUIRE(memcmp(lb, data + 8, (size_t)n) == 0);
        free(lb);
        accepted++;
    } else {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err) && lb == NULL && n == 0);
    }
    FUZZ_REQUIRE(accepted <= 1);
    return accepted;
}

KD_FUZZ_ENTRY(fuzz_idx)
