/* What `kdcl eval --model FILE` does with a file before touching a device:
 * safetensors parse, kdcl metadata (spec, input shape, classes, class
 * names, preprocessing), kd_model_build from it, and the name/shape match
 * of every parameter against the file's tensors. */
#include <math.h>

#include "src/model/weights.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_model_file(const uint8_t *data, size_t size) {
    kd_st_file f;
    kd_err err = {0};
    if (kd_st_parse(data, size, "fuzz-model.safetensors", &f, &err) != KD_OK) return 0;
    kd_model_meta meta;
    kd_status s = kd_weights_meta(&f, &meta, &err);
    if (s != KD_OK) {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err));
        kd_model_meta_free(&meta);
        kd_st_free(&f);
        return 0;
    }
    FUZZ_REQUIRE(meta.in_c >= 1 && meta.in_h >= 1 && meta.in_w >= 1 && meta.classes >= 2 &&
                 meta.classes <= KD_MAX_CLASSES && (meta.src_c == 1 || meta.src_c == 3 || meta.src_c == meta.in_c));
    FUZZ_REQUIRE(memchr(meta.spec, 0, sizeof meta.spec) && memchr(meta.dataset, 0, sizeof meta.dataset));
    for (int i = 0; i < KD_MAX_CLASSES; i++) FUZZ_REQUIRE(i < meta.classes || meta.class_names[i] == NULL);
    kd_model *m = NULL;
    s = kd_model_build(meta.spec, meta.in_c, meta.in_h, meta.in_w, meta.classes, &m, &err);
    int ok = 0;
    if (s == KD_OK) {
        ok = 1;
        for (int i = 0; i < kd_model_nparams(m); i++) {
            kd_param_view p = kd_model_param(m, i);
            const kd_st_tensor *t = kd_st_find(&f, p.name);
            if (!t || t->ndim != p.ndim) continue;
            bool same = true;
            for (int d = 0; d < p.ndim; d++) same = same && t->shape[d] == p.shape[d];
            if (!same) continue;
            FUZZ_REQUIRE(kd_st_numel(t) == p.count);
            float *host = malloc((p.count ? p.count : 1) * sizeof(float));
            FUZZ_REQUIRE(host && kd_st_to_f32(&f, t, host, &err) == KD_OK);
            free(host);
        }
        kd_model_free(m);
    } else {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err) && m == NULL);
    }
    kd_model_meta_free(&meta);
    kd_st_free(&f);
    return ok;
}

KD_FUZZ_ENTRY(fuzz_model_file)
