/* CIFAR-10 binary reader: records of 1 label byte + 3072 pixel bytes. */
#include "src/data/dataset.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_cifar(const uint8_t *data, size_t size) {
    int n = -1;
    uint8_t *px = (uint8_t *)1, *lb = (uint8_t *)1;
    kd_err err = {0};
    kd_status s = kd_cifar_parse(data, size, "fuzz_batch.bin", &n, &px, &lb, &err);
    if (s != KD_OK) {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err) && n == 0 && px == NULL && lb == NULL);
        return 0;
    }
    FUZZ_REQUIRE(n > 0 && (size_t)n * 3073 == size && px && lb);
    for (int i = 0; i < n; i++) {
        FUZZ_REQUIRE(lb[i] < 10 && lb[i] == data[(size_t)i * 3073]);
        FUZZ_REQUIRE(memcmp(px + (size_t)i * 3072, data + (size_t)i * 3073 + 1, 3072) == 0);
    }
    free(px);
    free(lb);
    return 1;
}

KD_FUZZ_ENTRY(fuzz_cifar)
