/* The bottleneck ResNet family exactly as torchvision builds it (v1.5: the
 * stride sits on the 3x3 conv; 1x1 conv + BN projection shortcut when the
 * shape changes; no conv biases), with the tutorial's head
 * GAP -> Dense(256) -> ReLU -> Dense(classes), named fc.0 / fc.2 like an
 * nn.Sequential in place of torchvision's fc.
 *
 * Spec: NAME[:width=W][,stem=imagenet|small|auto], e.g. "resnet50",
 * "resnet26:width=0.5,stem=small". The small stem (3x3 stride-1 conv, no
 * max-pool) suits 28-32 px images; auto picks it below 64 px. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/model/graph.h"

typedef struct preset {
    const char *name;
    int blocks[4];
} preset;

static const preset PRESETS[] = {
    {"resnet14", {1, 1, 1, 1}},  {"resnet26", {2, 2, 2, 2}},  {"resnet38", {3, 3, 3, 3}},
    {"resnet50", {3, 4, 6, 3}},  {"resnet101", {3, 4, 23, 3}}, {"resnet152", {3, 8, 36, 3}},
};
#define NPRESETS (int)(sizeof PRESETS / sizeof PRESETS[0])

static const preset *find_preset(const char *spec, size_t len) {
    for (int i = 0; i < NPRESETS; i++)
        if (strlen(PRESETS[i].name) == len && !strncmp(PRESETS[i].name, spec, len)) return &PRESETS[i];
    return NULL;
}

bool kd_resnet_is_spec(const char *spec) {
    return find_preset(spec, strcspn(spec, ":")) != NULL;
}

typedef struct resnet_opts {
    double width;
    int stem; /* 0 auto, 1 imagenet, 2 small */
} resnet_opts;

static kd_status parse_opts(const char *spec, const char *opts, resnet_opts *o, kd_err *err) {
    o->width = 1.0;
    o->stem = 0;
    const char *p = opts;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        char tok[128];
        snprintf(tok, sizeof tok, "%.*s", (int)(len < 127 ? len : 127), p);
        char *eq = strchr(tok, '=');
        if (!eq)
            return kd_fail(err, KD_ERR_USAGE, "model spec '%s': option '%s' is not KEY=VALUE (width=W, stem=imagenet|small|auto)",
                           spec, tok);
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(tok, "width")) {
            char *end;
            o->width = strtod(v, &end);
            if (*end || !(o->width > 0.0) || o->width > 16.0)
                return kd_fail(err, KD_ERR_USAGE, "model spec '%s': width '%s' must be a number in (0, 16]", spec, v);
        } else if (!strcmp(tok, "stem")) {
            if (!strcmp(v, "auto")) o->stem = 0;
            else if (!strcmp(v, "imagenet")) o->stem = 1;
            else if (!strcmp(v, "small")) o->stem = 2;
            else
                return kd_fail(err, KD_ERR_USAGE, "model spec '%s': stem '%s' is not imagenet, small or auto", spec, v);
        } else {
            return kd_fail(err, KD_ERR_USAGE, "model spec '%s': unknown option '%s' (width=W, stem=imagenet|small|auto)",
                           spec, tok);
        }
        p += len;
        if (*p == ',') p++;
    }
    return KD_OK;
}

static int scaled(int base, double width) {
    int c = (int)lround(base * width);
    return c < 1 ? 1 : c;
}

kd_status kd_resnet_build(kd_graph *g, const char *spec, kd_err *err) {
    kd_model *m = g->m;
    size_t len = strcspn(spec, ":");
    const preset *pr = find_preset(spec, len);
    KD_ASSERT(pr != NULL);
    resnet_opts o;
    KD_TRY(parse_opts(spec, spec[len] == ':' ? spec + len + 1 : NULL, &o, err));
    bool small = o.stem == 2 || (o.stem == 0 && m->in_h < 64 && m->in_w < 64);

    /* Canonical spec: everything explicit, so a weight file rebuilds the same graph. */
    char wbuf[32];
    snprintf(wbuf, sizeof wbuf, "%g", o.width);
    snprintf(m->spec, sizeof m->spec, "%s:width=%s,stem=%s", pr->name, wbuf, small ? "small" : "imagenet");

    int stem_c = scaled(64, o.width);
    int x;
    if (small) {
        x = kd_g_conv(g, -1, "conv1", stem_c, 3, 1, 1, false);
        x = kd_g_bn(g, x, "bn1");
        x = kd_g_relu(g, x, "relu");
    } else {
        x = kd_g_conv(g, -1, "conv1", stem_c, 7, 2, 3, false);
        x = kd_g_bn(g, x, "bn1");
        x = kd_g_relu(g, x, "relu");
        x = kd_g_pool(g, x, "maxpool", KD_OP_MAXPOOL, 3, 2, 1);
    }
    int in_planes = stem_c;
    const int base[4] = {64, 128, 256, 512};
    for (int s = 0; s < 4; s++) {
        int planes = scaled(base[s], o.width), out_planes = planes * 4;
        for (int b = 0; b < pr->blocks[s]; b++) {
            int stride = (s > 0 && b == 0) ? 2 : 1;
            char p[64], nm[96];
            snprintf(p, sizeof p, "layer%d.%d", s + 1, b);
            int identity = x;
#define N(leaf) (snprintf(nm, sizeof nm, "%s.%s", p, leaf), nm)
            int y = kd_g_conv(g, x, N("conv1"), planes, 1, 1, 0, false);
            y = kd_g_bn(g, y, N("bn1"));
            y = kd_g_relu(g, y, N("relu1"));
            y = kd_g_conv(g, y, N("conv2"), planes, 3, stride, 1, false);
            y = kd_g_bn(g, y, N("bn2"));
            y = kd_g_relu(g, y, N("relu2"));
            y = kd_g_conv(g, y, N("conv3"), out_planes, 1, 1, 0, false);
            y = kd_g_bn(g, y, N("bn3"));
            if (stride != 1 || in_planes != out_planes) {
                identity = kd_g_conv(g, x, N("downsample.0"), out_planes, 1, stride, 0, false);
                identity = kd_g_bn(g, identity, N("downsample.1"));
            }
            y = kd_g_add(g, y, identity, N("add"));
            x = kd_g_relu(g, y, N("relu3"));
#undef N
            in_planes = out_planes;
        }
    }
    g->head = true;
    x = kd_g_gap(g, x, "avgpool");
    x = kd_g_dense(g, x, "fc.0", 256);
    x = kd_g_relu(g, x, "fc.1");
    kd_g_dense(g, x, "fc.2", m->classes);
    return KD_OK;
}
