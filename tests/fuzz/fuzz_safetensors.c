/* safetensors reader: kd_st_parse on arbitrary bytes, then every accepted
 * tensor converted with kd_st_to_f32 and looked up by name, every metadata
 * key looked up. */
#include <math.h>

#include "src/io/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_safetensors(const uint8_t *data, size_t size) {
    static const size_t esize[] = {[KD_F32] = 4, [KD_F16] = 2, [KD_BF16] = 2, [KD_I32] = 4, [KD_I64] = 8, [KD_U8] = 1};
    kd_st_file f;
    kd_err err = {0};
    kd_status s = kd_st_parse(data, size, "fuzz.safetensors", &f, &err);
    if (s != KD_OK) {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err));
        FUZZ_REQUIRE(f.buf == NULL && f.tensors == NULL && f.count == 0 && f.meta_count == 0);
        kd_st_free(&f);
        return 0;
    }
    FUZZ_REQUIRE(f.count >= 0 && f.meta_count >= 0 && f.data_size <= size);
    for (int i = 0; i < f.count; i++) {
        const kd_st_tensor *t = &f.tensors[i];
        FUZZ_REQUIRE(t->name && t->ndim >= 0 && t->ndim <= KD_ST_MAX_DIMS);
        FUZZ_REQUIRE((int)t->dtype >= 0 && (int)t->dtype <= KD_U8);
        FUZZ_REQUIRE(t->offset <= f.data_size && t->nbytes <= f.data_size - t->offset);
        size_t n = kd_st_numel(t);
        FUZZ_REQUIRE(n * esize[t->dtype] == t->nbytes);
        FUZZ_REQUIRE(kd_st_find(&f, t->name) == t); /* names are unique */
        float *out = malloc((n ? n : 1) * sizeof(float));
        FUZZ_REQUIRE(out != NULL);
        kd_err e2 = {0};
        FUZZ_REQUIRE(kd_st_to_f32(&f, t, out, &e2) == KD_OK);
        /* Integer dtypes convert to finite floats. */
        if (t->dtype == KD_U8 || t->dtype == KD_I32 || t->dtype == KD_I64)
            for (size_t j = 0; j < n; j++) FUZZ_REQUIRE(isfinite(out[j]));
        free(out);
    }
    for (int i = 0; i < f.meta_count; i++) {
        FUZZ_REQUIRE(f.meta_keys[i] && f.meta_values[i]);
        FUZZ_REQUIRE(kd_st_meta(&f, f.meta_keys[i]) == f.meta_values[i]); /* keys are unique */
    }
    kd_st_free(&f);
    FUZZ_REQUIRE(f.buf == NULL && f.count == 0);
    return 1;
}

KD_FUZZ_ENTRY(fuzz_safetensors)
