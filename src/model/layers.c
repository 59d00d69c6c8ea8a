/* Layer-string models (custom students) and the tutorial's student.
 *
 * A layer string is a comma-separated list of layers; it describes
 * everything before the classifier, and kdcl appends flatten (when the
 * tensor is still spatial) and dense(classes). Tensors are named like the
 * equivalent PyTorch nn.Sequential: layer i's tensors are "i.weight",
 * "i.bias" (and "i.running_mean"/"i.running_var" for batchnorm). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/model/graph.h"
#include "src/text.h"

/* The tutorial's student as intended (Conv2D where it wrote Dense). */
#define SEED_CNN "conv16x3,relu,maxpool3,conv32x3,relu,maxpool3,conv64x3,relu,flatten,dense128,relu,dropout0.5"

const char *kd_model_spec_help(void) {
    return "Model specs (--model, --student):\n"
           "  resnet50, resnet101, resnet152   torchvision's bottleneck ResNets (the teacher; resnet50 is\n"
           "                                   the default) with the head GAP -> Dense(256) -> ReLU -> Dense(classes)\n"
           "  resnet14, resnet26, resnet38     smaller bottleneck presets (1, 2, 3 blocks per stage) for CPUs\n"
           "    options: NAME:width=W,stem=imagenet|small|auto   width multiplier (0.25 = a quarter of the\n"
           "    channels); stem small = 3x3 stride-1 conv and no max-pool (28-32 px images); auto (default)\n"
           "    picks small below 64 px. Example: resnet26:width=0.5,stem=small\n"
           "  seed-cnn                         the tutorial's student: " SEED_CNN ",dense(classes)\n"
           "    option: seed-cnn:dropout=P     its dropout probability (0 allowed; train/distill --dropout P)\n"
           "  a layer string                   comma-separated layers; kdcl appends flatten and dense(classes):\n"
           "    conv<C>x<K>[s<S>][p<P>]  C filters K x K, stride S (1), zero padding P (0); bias unless a\n"
           "                             batchnorm follows\n"
           "    maxpool<K>[s<S>][p<P>]   max pooling, stride defaults to K;  avgpool<K>[s<S>][p<P>] likewise\n"
           "    bn | batchnorm           BatchNorm2d;  relu;  flatten;  gap (global average pooling)\n"
           "    dropout[P]               dropout with probability P (0.5);  dense<N>  N units\n"
           "    Example: conv32x3p1,bn,relu,maxpool2,conv64x3p1,bn,relu,gap,dense64,relu";
}

static const char *const LAYER_WORDS[] = {"conv", "maxpool", "avgpool", "bn", "batchnorm", "relu",
                                          "flatten", "gap", "global-avg-pool", "dropout", "dense"};

/* Reads an unsigned integer at *p; false if none. */
static bool read_int(const char **p, int *out) {
    if (!isdigit((unsigned char)**p)) return false;
    long v = 0;
    while (isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        if (v > 1000000) return false;
        (*p)++;
    }
    *out = (int)v;
    return true;
}

typedef struct tok_ctx {
    const char *spec;
    const char *tok;
    int index; /* 1-based token position, for messages */
} tok_ctx;

static kd_status bad(const tok_ctx *t, kd_err *err, const char *why) {
    return kd_fail(err, KD_ERR_USAGE,
                   "model spec '%s': layer %d '%s': %s. See 'kdcl summary --help' for the layer grammar", t->spec,
                   t->index, t->tok, why);
}

/* Kernels index a tensor with int: every per-image activation and every
 * parameter tensor must stay below 2^31 elements (a fuzzed spec such as
 * conv1000000x1,flatten on a large input overflowed the flatten's size). */
#define KD_LAYER_MAX_ELEMS 2147483647.0

static bool too_many(double elems) { return elems > KD_LAYER_MAX_ELEMS; }

/* Refuses flattening node x when C*H*W does not fit the limit. */
static kd_status check_flat(const tok_ctx *t, kd_graph *g, int x, kd_err *err) {
    int c, h, w;
    kd_g_shape(g, x, &c, &h, &w);
    if (!too_many((double)c * (double)h * (double)w)) return KD_OK;
    char why[160];
    snprintf(why, sizeof why, "flattening %dx%dx%d gives %.3g features per image, more than 2^31; shrink the input "
             "or add pooling", c, h, w, (double)c * (double)h * (double)w);
    return bad(t, err, why);
}

/* Parses window options [s<S>][p<P>] after the kernel size. */
static bool read_window(const char **p, int *stride, int *pad) {
    while (**p) {
        char c = **p;
        if (c != 's' && c != 'p') return false;
        (*p)++;
        if (!read_int(p, c == 's' ? stride : pad)) return false;
    }
    return true;
}

/* "seed-cnn:dropout=P" is seed-cnn with its dropout probability set to P
 * (0 allowed); the layer text goes to buf. Returns NULL if spec is not
 * that form, so that the caller reports it as a layer string. */
static const char *seed_cnn_text(const char *spec, char *buf, size_t cap, bool *bad_p) {
    *bad_p = false;
    if (!strcmp(spec, "seed-cnn")) return SEED_CNN;
    const char *opt = "seed-cnn:dropout=";
    if (strncmp(spec, opt, strlen(opt))) return NULL;
    char *end;
    const char *num = spec + strlen(opt);
    float p = strtof(num, &end);
    if (end == num || *end || !(p >= 0.0f && p < 1.0f)) {
        *bad_p = true;
        return NULL;
    }
    /* SEED_CNN ends in its dropout layer: swap that layer's probability. */
    size_t keep = strlen(SEED_CNN) - strlen("0.5");
    snprintf(buf, cap, "%.*s%.9g", (int)keep, SEED_CNN, (double)p);
    return buf;
}

kd_status kd_spec_with_dropout(const char *spec, double p, char *out, size_t cap, kd_err *err) {
    /* The probability is written with 9 digits, which a float parses back
     * to itself; one that rounds to 1 as a float is refused here. */
    if (!(p >= 0 && p < 1) || !((float)p < 1.0f))
        return kd_fail(err, KD_ERR_USAGE, "--dropout must be in [0, 1) (got %g); 0 removes dropout's effect", p);
    if (!strcmp(spec, "seed-cnn") || !strncmp(spec, "seed-cnn:dropout=", 17)) {
        if ((size_t)snprintf(out, cap, "seed-cnn:dropout=%.9g", (double)(float)p) >= cap)
            return kd_fail(err, KD_ERR_USAGE, "model spec is too long");
        return KD_OK;
    }
    if (kd_resnet_is_spec(spec))
        return kd_fail(err, KD_ERR_USAGE, "--dropout: model '%s' has no dropout layer (the ResNets have none)", spec);
    /* A layer string: every dropout[P] layer gets P; every other layer,
     * empty ones included (the parser reports them), is copied as it is. */
    size_t o = 0;
    bool found = false;
    for (const char *t = spec;;) {
        size_t len = strcspn(t, ",");
        int w;
        if (!strncmp(t, "dropout", 7) && len >= 7) {
            w = snprintf(out + o, cap - o, "%sdropout%.9g", t == spec ? "" : ",", (double)(float)p);
            found = true;
        } else {
            w = snprintf(out + o, cap - o, "%s%.*s", t == spec ? "" : ",", (int)len, t);
        }
        if (w < 0 || (size_t)w >= cap - o) return kd_fail(err, KD_ERR_USAGE, "model spec is too long");
        o += (size_t)w;
        if (!t[len]) break;
        t += len + 1;
    }
    if (!found) return kd_fail(err, KD_ERR_USAGE, "--dropout: model '%s' has no dropout layer to set", spec);
    return KD_OK;
}

kd_status kd_layers_build(kd_graph *g, const char *spec, kd_err *err) {
    kd_model *m = g->m;
    char seed_buf[sizeof SEED_CNN + 32];
    bool bad_p;
    const char *text = seed_cnn_text(spec, seed_buf, sizeof seed_buf, &bad_p);
    if (bad_p)
        return kd_fail(err, KD_ERR_USAGE, "model spec '%s': dropout=P needs P in [0, 1), e.g. seed-cnn:dropout=0.2",
                       spec);
    if (!text) text = spec;
    /* The spec is stored in weight files to rebuild the model: a longer
     * one would be cut and rebuild into something else (found by
     * fuzz_model_spec). */
    if (strlen(spec) >= sizeof m->spec)
        return kd_fail(err, KD_ERR_USAGE, "model spec is too long (%zu characters; at most %zu)", strlen(spec),
                       sizeof m->spec - 1);
    snprintf(m->spec, sizeof m->spec, "%s", spec);
    if (!*text) return kd_fail(err, KD_ERR_USAGE, "model spec is empty; see 'kdcl summary --help'");

    /* Split into tokens first: "bias unless a batchnorm follows" looks ahead. */
    char buf[1024];
    if (strlen(text) >= sizeof buf) return kd_fail(err, KD_ERR_USAGE, "model spec is too long (%zu characters)", strlen(text));
    snprintf(buf, sizeof buf, "%s", text);
    char *toks[256];
    int nt = 0;
    for (char *p = buf;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (nt == 256) return kd_fail(err, KD_ERR_USAGE, "model spec '%s' has more than 256 layers", spec);
        toks[nt++] = p;
        if (!comma) break;
        p = comma + 1;
    }
    int x = -1;
    for (int i = 0; i < nt; i++) {
        tok_ctx t = {spec, toks[i], i + 1};
        const char *p = toks[i];
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        if (!*p) return bad(&t, err, "empty layer (two commas in a row?)");
        if (!strncmp(p, "conv", 4)) {
            p += 4;
            int c = 0, k = 0, s = 1, pad = 0;
            if (!read_int(&p, &c) || c < 1 || *p++ != 'x' || !read_int(&p, &k) || k < 1 || !read_window(&p, &s, &pad))
                return bad(&t, err, "expected conv<C>x<K>[s<S>][p<P>], e.g. conv32x3 or conv64x3s2p1");
            if (s < 1) return bad(&t, err, "stride must be at least 1");
            int cin, ih, iw;
            kd_g_shape(g, x, &cin, &ih, &iw);
            if (too_many((double)c * (double)cin * (double)k * (double)k))
                return bad(&t, err, "the weight tensor would have more than 2^31 elements");
            bool next_bn = i + 1 < nt && (!strcmp(toks[i + 1], "bn") || !strcmp(toks[i + 1], "batchnorm"));
            x = kd_g_conv(g, x, name, c, k, s, pad, !next_bn);
        } else if (!strncmp(p, "maxpool", 7) || !strncmp(p, "avgpool", 7)) {
            kd_op op = p[0] == 'm' ? KD_OP_MAXPOOL : KD_OP_AVGPOOL;
            p += 7;
            int k = 0, s = 0, pad = 0;
            if (!read_int(&p, &k) || k < 1 || !read_window(&p, &s, &pad))
                return bad(&t, err, "expected maxpool<K>[s<S>][p<P>], e.g. maxpool2 or maxpool3s2p1");
            if (s == 0) s = k;
            if (2 * pad > k) return bad(&t, err, "padding must be at most half the window (as in PyTorch)");
            x = kd_g_pool(g, x, name, op, k, s, pad);
        } else if (!strcmp(p, "bn") || !strcmp(p, "batchnorm")) {
            x = kd_g_bn(g, x, name);
        } else if (!strcmp(p, "relu")) {
            x = kd_g_relu(g, x, name);
        } else if (!strcmp(p, "flatten")) {
            g->head = true; /* from the flattening on, the layers are the classifier head */
            KD_TRY(check_flat(&t, g, x, err));
            x = kd_g_flatten(g, x, name);
        } else if (!strcmp(p, "gap") || !strcmp(p, "global-avg-pool")) {
            g->head = true;
            x = kd_g_gap(g, x, name);
        } else if (!strncmp(p, "dropout", 7)) {
            p += 7;
            float prob = 0.5f;
            if (*p) {
                char *end;
                prob = strtof(p, &end);
                if (*end || !(prob >= 0.0f && prob < 1.0f))
                    return bad(&t, err, "dropout probability must be in [0, 1), e.g. dropout0.5");
            }
            x = kd_g_dropout(g, x, name, prob);
        } else if (!strncmp(p, "dense", 5)) {
            p += 5;
            int units = 0;
            if (!read_int(&p, &units) || units < 1 || *p) return bad(&t, err, "expected dense<N>, e.g. dense128");
            int c, h, w;
            kd_g_shape(g, x, &c, &h, &w);
            if (h != 1 || w != 1)
                return bad(&t, err, "dense needs a flat input: put flatten or gap before it");
            if (too_many((double)units * (double)c))
                return bad(&t, err, "the weight tensor would have more than 2^31 elements");
            g->head = true;
            x = kd_g_dense(g, x, name, units);
        } else {
            char word[64];
            size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
            snprintf(word, sizeof word, "%.*s", (int)(n < 63 ? n : 63), p);
            const char *hint = kd_closest(word, LAYER_WORDS, (int)(sizeof LAYER_WORDS / sizeof LAYER_WORDS[0]));
            char why[160];
            snprintf(why, sizeof why, "unknown layer%s%s%s", hint ? " (did you mean " : "", hint ? hint : "",
                     hint ? "?)" : "");
            return bad(&t, err, why);
        }
        if (g->oom) return kd_fail(err, KD_ERR_NOMEM, "out of memory building the model");
    }
    /* The classifier. */
    int c, h, w;
    kd_g_shape(g, x, &c, &h, &w);
    char name[16];
    int idx = nt;
    g->head = true;
    if (h != 1 || w != 1) {
        tok_ctx t = {spec, "(the classifier's flatten)", nt + 1};
        KD_TRY(check_flat(&t, g, x, err));
        snprintf(name, sizeof name, "%d", idx++);
        x = kd_g_flatten(g, x, name);
        kd_g_shape(g, x, &c, &h, &w);
    }
    if (too_many((double)c * (double)m->classes)) {
        tok_ctx t = {spec, "(the classifier)", nt + 1};
        return bad(&t, err, "the classifier's weight tensor would have more than 2^31 elements");
    }
    snprintf(name, sizeof name, "%d", idx);
    kd_g_dense(g, x, name, m->classes);
    return KD_OK;
}
