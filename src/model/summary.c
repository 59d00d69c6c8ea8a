#include "src/model/summary.h"

#include <string.h>

const char *kd_op_name(kd_op op) {
    switch (op) {
    case KD_OP_CONV: return "Conv2d";
    case KD_OP_BN: return "BatchNorm2d";
    case KD_OP_RELU: return "ReLU";
    case KD_OP_MAXPOOL: return "MaxPool2d";
    case KD_OP_AVGPOOL: return "AvgPool2d";
    case KD_OP_GAP: return "GlobalAvgPool";
    case KD_OP_FLATTEN: return "Flatten";
    case KD_OP_DENSE: return "Linear";
    case KD_OP_DROPOUT: return "Dropout";
    case KD_OP_ADD: return "Add";
    }
    return "?";
}

void kd_fmt_count(char *buf, size_t cap, unsigned long long v) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        buf[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1) buf[o++] = ',';
    }
    buf[o] = '\0';
}

void kd_model_summary(const kd_model *m, FILE *out) {
    kd_shape in = kd_model_input_shape(m);
    fprintf(out, "model %s, input %dx%dx%d, %d classes\n", kd_model_spec(m), in.c, in.h, in.w, kd_model_classes(m));
    fprintf(out, "%-28s %-14s %-16s %14s %16s\n", "layer", "type", "output (CxHxW)", "parameters", "MACs");
    char shape[48], p[32], f[32];
    unsigned long long macs_bb = 0, macs_head = 0;
    for (int i = 0; i < kd_model_nnodes(m); i++) {
        const kd_node *n = kd_model_node(m, i);
        snprintf(shape, sizeof shape, "%dx%dx%d", n->c, n->h, n->w);
        unsigned long long macs = kd_node_macs(m, n);
        kd_fmt_count(p, sizeof p, kd_node_params(m, n));
        kd_fmt_count(f, sizeof f, macs);
        fprintf(out, "%-28s %-14s %-16s %14s %16s\n", n->name, kd_op_name(n->op), shape, p, f);
        if (n->head) macs_head += macs;
        else macs_bb += macs;
    }
    size_t pb = kd_model_params(m, false, true), ph = kd_model_params(m, true, false);
    size_t buffers = 0;
    for (int i = 0; i < kd_model_nparams(m); i++) {
        kd_param_view v = kd_model_param(m, i);
        if (!v.trainable) buffers += v.count;
    }
    fprintf(out, "%.*s\n", 92, "--------------------------------------------------------------------------------------------");
    kd_fmt_count(p, sizeof p, pb);
    kd_fmt_count(f, sizeof f, macs_bb);
    fprintf(out, "%-60s %14s %16s\n", "backbone", p, f);
    kd_fmt_count(p, sizeof p, ph);
    kd_fmt_count(f, sizeof f, macs_head);
    fprintf(out, "%-60s %14s %16s\n", "head", p, f);
    kd_fmt_count(p, sizeof p, pb + ph);
    kd_fmt_count(f, sizeof f, macs_bb + macs_head);
    fprintf(out, "%-60s %14s %16s\n", "total (trainable parameters; MACs per image)", p, f);
    kd_fmt_count(p, sizeof p, buffers);
    fprintf(out, "non-trainable buffers (batch-norm running statistics): %s floats\n", p);
    fprintf(out, "%.2f M parameters (%.1f MiB as float32), %.3f G multiply-accumulates per image\n",
            (double)(pb + ph) / 1e6, (double)(pb + ph + buffers) * 4.0 / (1024.0 * 1024.0),
            (double)(macs_bb + macs_head) / 1e9);
}
