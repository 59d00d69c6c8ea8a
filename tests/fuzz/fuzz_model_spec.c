/* The model-spec grammar: kd_model_build (host only: graph, shapes,
 * parameter table) on an arbitrary spec string and input shape. An
 * accepted model must be a consistent graph that ends in the classifier
 * and rebuilds identically from the spec it stores in weight files. */
#include "src/model/model.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_model_spec(const uint8_t *data, size_t size) {
    fuzz_reader r = {data, size};
    uint32_t mode = fuzz_u8(&r);
    int c, h, w, classes;
    if (mode & 1) { /* any int at all */
        c = (int)fuzz_u32(&r);
        h = (int)fuzz_u32(&r);
        w = (int)fuzz_u32(&r);
        classes = (int)fuzz_u32(&r);
    } else { /* the shapes data sets and --resize produce */
        c = (int)fuzz_u8(&r) % 5;
        h = (int)fuzz_u16(&r) % 300;
        w = mode & 2 ? h : (int)fuzz_u16(&r) % 300;
        classes = (int)fuzz_u16(&r) % 1100;
    }
    char spec[2048];
    fuzz_str(&r, spec, sizeof spec);

    kd_model *m = (kd_model *)1;
    kd_err err = {0};
    kd_status s = kd_model_build(spec, c, h, w, classes, &m, &err);
    if (s != KD_OK) {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err) && m == NULL);
        return 0;
    }
    kd_shape in = kd_model_input_shape(m);
    int nnodes = kd_model_nnodes(m), nparams = kd_model_nparams(m);
    FUZZ_REQUIRE(m && nnodes > 0 && in.c == c && in.h == h && in.w == w && kd_model_classes(m) == classes);
    for (int i = 0; i < nnodes; i++) {
        const kd_node *n = kd_model_node(m, i);
        FUZZ_REQUIRE(n->in >= -1 && n->in < i && n->in2 >= -1 && n->in2 < i);
        FUZZ_REQUIRE(n->c > 0 && n->h > 0 && n->w > 0);
        for (int j = 0; j < 4; j++) FUZZ_REQUIRE(n->param[j] >= -1 && n->param[j] < nparams);
    }
    const kd_node *last = kd_model_node(m, nnodes - 1);
    FUZZ_REQUIRE(last->op == KD_OP_DENSE && last->c == classes && last->h == 1 && last->w == 1);
    size_t total = 0;
    for (int i = 0; i < nparams; i++) {
        kd_param_view p = kd_model_param(m, i);
        size_t count = 1;
        for (int d = 0; d < p.ndim; d++) {
            FUZZ_REQUIRE(p.shape[d] > 0);
            count *= (size_t)p.shape[d];
        }
        FUZZ_REQUIRE(p.ndim >= 1 && p.ndim <= 4 && count == p.count && p.packed == total);
        FUZZ_REQUIRE(kd_model_find_param(m, p.name) == i); /* unique names */
        total += p.count;
    }
    FUZZ_REQUIRE(kd_model_total_floats(m) == total);
    FUZZ_REQUIRE(kd_model_params(m, true, false) + kd_model_params(m, false, true) == kd_model_params(m, false, false));
    (void)kd_model_macs(m);

    /* Weight files store the spec and rebuild the model from it. */
    kd_model *again = NULL;
    kd_err e2 = {0};
    s = kd_model_build(kd_model_spec(m), c, h, w, classes, &again, &e2);
    FUZZ_REQUIRE(s == KD_OK && again);
    FUZZ_REQUIRE(kd_model_nnodes(again) == nnodes && kd_model_nparams(again) == nparams &&
                 strcmp(kd_model_spec(again), kd_model_spec(m)) == 0);
    for (int i = 0; i < nparams; i++)
        FUZZ_REQUIRE(strcmp(kd_model_param(again, i).name, kd_model_param(m, i).name) == 0);
    kd_model_free(again);
    kd_model_free(m);
    return 1;
}

KD_FUZZ_ENTRY(fuzz_model_spec)
