/* Model graphs without a device: parameter counts against torchvision and
 * Keras, MACs of ResNet-50, spec errors and the smallest input that fits. */
#include <string.h>

#include "src/model/model.h"
#include "tests/harness.h"

static kd_model *build(const char *spec, int c, int h, int w, int classes) {
    kd_model *m = NULL;
    kd_err err = {0};
    if (kd_model_build(spec, c, h, w, classes, &m, &err) != KD_OK) th_fatal(__FILE__, __LINE__, spec, err.msg);
    return m;
}

int main(void) {
    /* Backbones equal torchvision's models without fc. */
    struct { const char *spec; size_t backbone; } tv[] = {
        {"resnet50", 23508032}, {"resnet101", 42500160}, {"resnet152", 58143808}};
    for (int i = 0; i < 3; i++) {
        kd_model *m = build(tv[i].spec, 3, 224, 224, 1000);
        size_t bb = kd_model_params(m, false, true);
        CHECK(bb == tv[i].backbone, "%s backbone %zu, torchvision %zu", tv[i].spec, bb, tv[i].backbone);
        kd_model_free(m);
    }
    /* The tutorial's teacher: resnet50 + GAP -> Dense(256) -> Dense(10) at 3x128x128. */
    kd_model *t = build("resnet50", 3, 128, 128, 10);
    size_t total = kd_model_params(t, false, false);
    CHECK(total == 24035146, "resnet50 + head total %zu, want 24,035,146", total);
    CHECK(strstr(kd_model_spec(t), "stem=imagenet") != NULL, "128 px uses the ImageNet stem: %s", kd_model_spec(t));
    CHECK(kd_model_find_param(t, "layer2.0.downsample.1.running_var") >= 0, "torchvision names");
    CHECK(kd_model_find_param(t, "layer3.2.conv2.weight") >= 0, "torchvision names");
    CHECK(kd_model_find_param(t, "fc.0.weight") >= 0 && kd_model_find_param(t, "fc.2.bias") >= 0, "head names");
    kd_model_free(t);

    /* ResNet-50 at 224: 4.09 G multiply-accumulates within 2%. */
    kd_model *r = build("resnet50", 3, 224, 224, 1000);
    double g = (double)kd_model_macs(r) / 1e9;
    CHECK(g > 4.09 * 0.98 && g < 4.09 * 1.02, "resnet50 MACs %.3f G", g);
    kd_model_free(r);

    /* seed-cnn at 3x128x128, 10 classes, as Keras counts it. */
    kd_model *s = build("seed-cnn", 3, 128, 128, 10);
    CHECK(kd_model_params(s, false, false) == 1016234, "seed-cnn %zu, want 1,016,234", kd_model_params(s, false, false));
    CHECK(kd_model_find_param(s, "0.weight") >= 0 && kd_model_find_param(s, "3.weight") >= 0 &&
              kd_model_find_param(s, "9.weight") >= 0 && kd_model_find_param(s, "12.weight") >= 0,
          "nn.Sequential indices");
    kd_model_free(s);

    /* Too small: seed-cnn needs 35x35. */
    kd_model *x = NULL;
    kd_err err = {0};
    CHECK(kd_model_build("seed-cnn", 1, 28, 28, 10, &x, &err) == KD_ERR_USAGE && strstr(err.msg, "35x35"),
          "seed-cnn at 28x28 refused naming 35x35: %s", err.msg);
    CHECK(kd_model_build("seed-cnn", 1, 35, 35, 10, &x, &err) == KD_OK, "35x35 fits");
    kd_model_free(x);

    /* Small presets, width, stem. */
    kd_model *p = build("resnet14:width=0.25", 1, 28, 28, 10);
    CHECK(strstr(kd_model_spec(p), "stem=small") != NULL, "auto stem small at 28 px: %s", kd_model_spec(p));
    const kd_node *stem = kd_model_node(p, 0);
    CHECK(stem->op == KD_OP_CONV && stem->conv.k == 3 && stem->conv.stride == 1 && stem->conv.cout == 16,
          "small stem 3x3 s1, 16 ch");
    kd_model_free(p);
    kd_model *q = build("resnet26:width=0.5,stem=imagenet", 3, 32, 32, 10);
    CHECK(kd_model_node(q, 0)->conv.k == 7 && kd_model_node(q, 3)->op == KD_OP_MAXPOOL, "imagenet stem forced");
    kd_model_free(q);

    /* Layer strings: grammar, head, bias dropped before batchnorm, errors name the token. */
    kd_model *l = build("conv8x3p1,bn,relu,maxpool2,conv16x3s2p1,relu,gap,dense32,relu", 3, 32, 32, 10);
    CHECK(kd_model_find_param(l, "0.bias") < 0 && kd_model_find_param(l, "1.running_mean") >= 0, "bias before bn");
    CHECK(kd_model_find_param(l, "4.bias") >= 0 && kd_model_find_param(l, "9.weight") >= 0, "classifier appended at 9");
    CHECK(kd_model_node(l, kd_model_nnodes(l) - 1)->c == 10, "classes out");
    kd_model_free(l);
    CHECK(kd_model_build("conv8x3,relu,maxpol2", 3, 32, 32, 10, &x, &err) == KD_ERR_USAGE &&
              strstr(err.msg, "layer 3 'maxpol2'") && strstr(err.msg, "did you mean maxpool"),
          "unknown layer: %s", err.msg);
    CHECK(kd_model_build("conv8x,relu", 3, 32, 32, 10, &x, &err) == KD_ERR_USAGE && strstr(err.msg, "'conv8x'"),
          "bad conv: %s", err.msg);
    CHECK(kd_model_build("conv8x3,dense10", 3, 32, 32, 10, &x, &err) == KD_ERR_USAGE && strstr(err.msg, "flatten"),
          "dense on spatial: %s", err.msg);
    CHECK(kd_model_build("resnet50:width=abc", 3, 32, 32, 10, &x, &err) == KD_ERR_USAGE, "bad width: %s", err.msg);
    CHECK(kd_model_build("resnet50:depth=3", 3, 32, 32, 10, &x, &err) == KD_ERR_USAGE, "bad option: %s", err.msg);
    CHECK(kd_model_build("dropout1.5", 3, 32, 32, 10, &x, &err) == KD_ERR_USAGE, "bad dropout: %s", err.msg);
    CHECK(kd_model_build("", 3, 32, 32, 10, &x, &err) == KD_ERR_USAGE, "empty spec");
    return th_done("test_model_counts");
}
