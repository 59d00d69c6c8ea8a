/* Models on the device: the whole graph's backward (residual joins, branch
 * accumulation, flatten aliasing) by finite differences; save -> load gives
 * identical logits; torchvision-named weights land in the right tensors;
 * a full ResNet-50 step at 3x64x64 runs with a finite loss; inference with
 * batch norm fused into the convolutions equals it run apart. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/layers/loss.h"
#include "src/model/model.h"
#include "src/model/weights.h"
#include "tests/harness.h"

static kd_model *make(kd_ctx *ctx, const char *spec, int c, int h, int w, int classes, int batch, bool grads) {
    kd_model *m = NULL;
    kd_err err = {0};
    if (kd_model_build(spec, c, h, w, classes, &m, &err) != KD_OK) th_fatal(__FILE__, __LINE__, spec, err.msg);
    MUST(ctx, kd_model_attach(m, ctx, 7));
    MUST(ctx, kd_model_plan(m, batch, grads));
    return m;
}

/* Mean cross-entropy of the batch in training mode (batch statistics). */
static double loss_of(kd_model *m, int n, cl_mem labels, cl_mem acc) {
    kd_ctx *ctx = kd_model_ctx(m);
    MUST(ctx, kd_fill(ctx, acc, 0, KD_ACC_COUNT * sizeof(float), 0.0f));
    kd_model_set_dropout_counter(m, 0);
    MUST(ctx, kd_model_forward(m, n, true));
    MUST(ctx, kd_ce_forward(ctx, n, kd_model_classes(m), acc, kd_model_logits(m), labels));
    float a[KD_ACC_COUNT];
    MUST(ctx, kd_read(ctx, acc, 0, sizeof a, a));
    return (double)a[KD_ACC_LOSS] / n;
}

static void grad_check(kd_ctx *ctx, const char *spec, int c, int hw) {
    const int n = 4, classes = 4;
    kd_model *m = make(ctx, spec, c, hw, hw, classes, n, true);
    th_rng r = {11};
    size_t nin = (size_t)n * c * hw * hw;
    float *x = malloc(nin * sizeof *x);
    th_fill(&r, x, nin, -1, 1);
    MUST(ctx, kd_write(ctx, kd_model_input(m), 0, nin * sizeof *x, x, true));
    int lab[64];
    for (int i = 0; i < 64; i++) lab[i] = (i * 7 + 1) % 4;
    cl_mem labels, acc;
    MUST(ctx, kd_buffer_alloc(ctx, sizeof lab, "labels", &labels));
    MUST(ctx, kd_write(ctx, labels, 0, sizeof lab, lab, true));
    MUST(ctx, kd_buffer_alloc(ctx, KD_ACC_COUNT * sizeof(float), "acc", &acc));
    /* Analytic gradients. */
    loss_of(m, n, labels, acc);
    MUST(ctx, kd_ce_backward(ctx, n, classes, 1.0f / n, kd_model_dlogits(m), kd_model_logits(m), labels));
    MUST(ctx, kd_model_zero_grad(m));
    MUST(ctx, kd_model_backward(m, n));
    float *grad = malloc(kd_model_trainable(m).floats * sizeof *grad),
          *par = malloc(kd_model_trainable(m).floats * sizeof *par);
    MUST(ctx, kd_read(ctx, kd_model_trainable(m).grads, 0, kd_model_trainable(m).floats * sizeof *grad, grad));
    MUST(ctx, kd_read(ctx, kd_model_trainable(m).values, 0, kd_model_trainable(m).floats * sizeof *par, par));
    /* Central differences on a few entries of every trainable tensor. */
    int checked = 0, bad = 0;
    double worst = 0;
    for (int i = 0; i < kd_model_nparams(m); i++) {
        kd_param_view p = kd_model_param(m, i);
        if (!p.trainable) continue;
        for (int k = 0; k < 2; k++) {
            size_t at = p.slot + (size_t)(th_next(&r) % p.count);
            /* Large steps cross ReLU kinks (the worst error fell 6.0 -> 3.3 -> 1.4
             * of tolerance as eps went 4e-3 -> 1e-3 -> 2.5e-4); tiny ones drown in
             * float32 round-off of the loss. */
            float keep = par[at], eps = 3e-4f;
            par[at] = keep + eps;
            MUST(ctx, kd_write(ctx, kd_model_trainable(m).values, at * sizeof(float), sizeof(float), &par[at], true));
            double lp = loss_of(m, n, labels, acc);
            par[at] = keep - eps;
            MUST(ctx, kd_write(ctx, kd_model_trainable(m).values, at * sizeof(float), sizeof(float), &par[at], true));
            double lm = loss_of(m, n, labels, acc);
            par[at] = keep;
            MUST(ctx, kd_write(ctx, kd_model_trainable(m).values, at * sizeof(float), sizeof(float), &par[at], true));
            double fd = (lp - lm) / (2.0 * eps), g = grad[at];
            /* A wiring error (a lost branch or a missing accumulation) is off by
             * 100%; kinks and float32 round-off stay within this. */
            double e = fabs(fd - g) / (3e-3 + 0.1 * fabs(fd));
            if (e > worst) worst = e;
            if (e > 1.0) {
                if (bad < 5)
                    fprintf(stderr, "  %s[%zu]: analytic %.6g, finite difference %.6g\n", p.name, at - p.slot, g, fd);
                bad++;
            }
            checked++;
        }
    }
    /* A wiring error puts half the gradients off by many times the tolerance
     * (tried: dropping the shortcut's gradient gave 54 of 110 off, worst 11.6);
     * an isolated kink may still touch one or two. */
    CHECK(bad <= checked / 30 && worst < 4.0, "%s: %d of %d parameter gradients off (worst %.2f of tolerance)", spec, bad,
          checked, worst);
    printf("%s: %d gradients checked, worst %.3f of tolerance\n", spec, checked, worst);
    free(x);
    free(grad);
    free(par);
    kd_buffer_free(ctx, labels);
    kd_buffer_free(ctx, acc);
    kd_model_free(m);
}

static void save_load(kd_ctx *ctx, const char *dir) {
    kd_model *a = make(ctx, "resnet14:width=0.125", 1, 20, 20, 5, 4, false);
    kd_err err = {0};
    th_rng r = {5};
    float x[4 * 20 * 20];
    th_fill(&r, x, 4 * 20 * 20, 0, 1);
    /* Non-trivial BN statistics, so the buffers' round trip matters. */
    float *host = malloc(kd_model_total_floats(a) * sizeof(float));
    MUST(ctx, kd_model_download(a, host));
    for (size_t i = 0; i < kd_model_total_floats(a); i++) host[i] += 0.01f * (float)(i % 7);
    MUST(ctx, kd_model_upload(a, host));
    free(host);
    kd_model_meta meta = {0};
    char *names[5] = {"a", "b", "c", "d", "e"};
    snprintf(meta.dataset, sizeof meta.dataset, "synthetic");
    meta.src_c = 1;
    MUST_E(&err, kd_model_meta_set_names(&meta, names, 5, &err));
    char path[600];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    kd_st_writer *w = kd_st_writer_new();
    MUST(ctx, kd_weights_save(a, &meta, w, path));
    kd_st_writer_free(w);
    MUST(ctx, kd_write(ctx, kd_model_input(a), 0, sizeof x, x, true));
    MUST(ctx, kd_model_forward(a, 4, false));
    float la[20], lb[20];
    MUST(ctx, kd_read(ctx, kd_model_logits(a), 0, sizeof la, la));

    kd_model *b = NULL;
    kd_model_meta mb;
    MUST(ctx, kd_model_open(path, ctx, &b, &mb));
    CHECK(!strcmp(kd_model_spec(b), kd_model_spec(a)) && kd_model_input_shape(b).h == 20 && kd_model_classes(b) == 5,
          "rebuilt from metadata: %s", kd_model_spec(b));
    CHECK(mb.class_names[4] && !strcmp(mb.class_names[4], "e") && !strcmp(mb.dataset, "synthetic") && mb.src_c == 1,
          "metadata round trip");
    MUST(ctx, kd_model_plan(b, 4, false));
    MUST(ctx, kd_write(ctx, kd_model_input(b), 0, sizeof x, x, true));
    MUST(ctx, kd_model_forward(b, 4, false));
    MUST(ctx, kd_read(ctx, kd_model_logits(b), 0, sizeof lb, lb));
    CHECK(!memcmp(la, lb, sizeof la), "save -> load gives identical logits");

    /* A file without kdcl metadata, a truncated file: refused with the file named. */
    kd_model *c = NULL;
    kd_model_meta mc;
    char bare[600];
    snprintf(bare, sizeof bare, "%s/bare.safetensors", dir);
    kd_st_writer *bw = kd_st_writer_new();
    float one = 1;
    int64_t shape[1] = {1};
    MUST_E(&err, kd_st_writer_add(bw, "x", KD_F32, 1, shape, &one, &err));
    MUST_E(&err, kd_st_writer_write(bw, bare, &err));
    kd_st_writer_free(bw);
    CHECK(kd_model_open(bare, ctx, &c, &mc) == KD_ERR_INPUT && strstr(kd_ctx_err(ctx)->msg, "bare.safetensors") &&
              strstr(kd_ctx_err(ctx)->msg, "metadata"),
          "no metadata: %s", kd_ctx_err(ctx)->msg);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "head -c 3000 '%s' > '%s/cut.safetensors'", path, dir);
    CHECK(system(cmd) == 0, "truncate");
    snprintf(bare, sizeof bare, "%s/cut.safetensors", dir);
    CHECK(kd_model_open(bare, ctx, &c, &mc) == KD_ERR_INPUT && strstr(kd_ctx_err(ctx)->msg, "cut.safetensors"),
          "truncated: %s", kd_ctx_err(ctx)->msg);
    kd_model_meta_free(&meta);
    kd_model_meta_free(&mb);
    kd_model_free(a);
    kd_model_free(b);
}

/* A file named like torchvision's resnet50 state_dict (with its 1000-class fc
 * and num_batches_tracked) loads into our resnet50: backbone loaded, fc
 * skipped, the new head missing; values in the right tensors. */
static void torchvision_names(kd_ctx *ctx, const char *dir) {
    kd_err err = {0};
    kd_model *m = NULL;
    if (kd_model_build("resnet50", 3, 64, 64, 10, &m, &err) != KD_OK) th_fatal(__FILE__, __LINE__, "build", err.msg);
    MUST(ctx, kd_model_attach(m, ctx, 1));
    kd_st_writer *w = kd_st_writer_new();
    float **bufs = calloc((size_t)kd_model_nparams(m) + 4, sizeof *bufs);
    int nb = 0, nbackbone = 0;
    for (int i = 0; i < kd_model_nparams(m); i++) {
        kd_param_view p = kd_model_param(m, i);
        if (!strncmp(p.name, "fc.", 3)) continue;
        float *v = malloc(p.count * sizeof *v);
        for (size_t j = 0; j < p.count; j++) v[j] = (float)i + 0.001f * (float)(j % 100);
        bufs[nb++] = v;
        MUST_E(&err, kd_st_writer_add(w, p.name, KD_F32, p.ndim, p.shape, v, &err));
        nbackbone++;
        if (strstr(p.name, "running_var")) {
            /* torchvision also stores bn*.num_batches_tracked (int64 scalars). */
            static const int64_t tracked = 100;
            char nm[160];
            snprintf(nm, sizeof nm, "%.*snum_batches_tracked", (int)(strlen(p.name) - strlen("running_var")), p.name);
            MUST_E(&err, kd_st_writer_add(w, nm, KD_I64, 0, NULL, &tracked, &err));
        }
    }
    float *fcw = calloc(1000 * 2048, sizeof(float)), *fcb = calloc(1000, sizeof(float));
    int64_t sw[2] = {1000, 2048}, sb[1] = {1000};
    MUST_E(&err, kd_st_writer_add(w, "fc.weight", KD_F32, 2, sw, fcw, &err));
    MUST_E(&err, kd_st_writer_add(w, "fc.bias", KD_F32, 1, sb, fcb, &err));
    char path[600];
    snprintf(path, sizeof path, "%s/tv.safetensors", dir);
    MUST_E(&err, kd_st_writer_write(w, path, &err));
    kd_st_writer_free(w);
    kd_st_file f;
    kd_load_report rep;
    MUST_E(&err, kd_st_read(path, &f, &err));
    MUST(ctx, kd_weights_load(m, &f, false, &rep));
    CHECK(rep.loaded == nbackbone && rep.missing == 4 && rep.skipped == 2 + 53,
          "loaded %d (want %d), missing %d (fc.0/fc.2 weight+bias), skipped %d (fc + 53 num_batches_tracked)",
          rep.loaded, nbackbone, rep.missing, rep.skipped);
    float *host = malloc(kd_model_total_floats(m) * sizeof(float));
    MUST(ctx, kd_model_download(m, host));
    size_t at = 0;
    int wrong = 0;
    for (int i = 0; i < kd_model_nparams(m); i++) {
        kd_param_view p = kd_model_param(m, i);
        if (strncmp(p.name, "fc.", 3)) {
            size_t j = p.count - 1;
            if (host[at] != (float)i || host[at + j] != (float)i + 0.001f * (float)(j % 100)) wrong++;
        }
        at += p.count;
    }
    CHECK(wrong == 0, "%d tensors hold another tensor's values", wrong);
    kd_st_free(&f);
    /* A shape mismatch is an error naming the tensor. */
    kd_model *small = NULL;
    kd_model_build("resnet50:width=0.5", 3, 64, 64, 10, &small, &err);
    MUST(ctx, kd_model_attach(small, ctx, 1));
    MUST_E(&err, kd_st_read(path, &f, &err));
    CHECK(kd_weights_load(small, &f, false, &rep) == KD_ERR_INPUT && strstr(kd_ctx_err(ctx)->msg, "conv1.weight") &&
              strstr(kd_ctx_err(ctx)->msg, "[64, 3, 7, 7]"),
          "shape mismatch: %s", kd_ctx_err(ctx)->msg);
    kd_st_free(&f);
    kd_model_free(small);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    free(fcw);
    free(fcb);
    free(host);
    kd_model_free(m);
}

/* Inference where the convolutions apply their batch norm (+ ReLU) as they
 * store against the same model with every batch norm run as its own kernel
 * (kd_model_set_fused_norm), both kernel families: equal logits, with random
 * weights, gamma, beta and running statistics. */
static void fused_inference(kd_ctx *ctx, const char *spec, int c, int hw) {
    const int n = 3, classes = 5;
    kd_model *m = make(ctx, spec, c, hw, hw, classes, n, false);
    th_rng r = {5};
    float *v = malloc(kd_model_total_floats(m) * sizeof *v);
    for (int i = 0; i < kd_model_nparams(m); i++) {
        kd_param_view p = kd_model_param(m, i);
        bool var = strstr(p.name, "running_var") != NULL;
        th_fill(&r, v + p.packed, p.count, var ? 0.3f : -0.6f, var ? 2.0f : 0.6f);
    }
    MUST(ctx, kd_model_upload(m, v));
    free(v);
    size_t nin = (size_t)n * c * hw * hw;
    float *x = malloc(nin * sizeof *x), out[2][3 * 5];
    th_fill(&r, x, nin, -1, 1);
    bool serial = kd_ctx_serial_reductions(ctx);
    for (int family = 0; family <= 1; family++) {
        kd_ctx_set_serial_reductions(ctx, family);
        for (int fused = 0; fused <= 1; fused++) {
            kd_model_set_fused_norm(m, !(!fused));
            MUST(ctx, kd_write(ctx, kd_model_input(m), 0, nin * sizeof *x, x, true));
            MUST(ctx, kd_model_forward(m, n, false));
            MUST(ctx, kd_read(ctx, kd_model_logits(m), 0, sizeof out[0], out[fused]));
        }
        double worst = 0, scale = 0;
        for (int i = 0; i < n * classes; i++) {
            worst = fmax(worst, fabs((double)out[0][i] - out[1][i]));
            scale = fmax(scale, fabs((double)out[0][i]));
        }
        CHECK(worst <= 1e-4 * (1 + scale) && scale > 0,
              "%s inference (serial %d), fused batch norm vs separate: max diff %.3g (logits up to %.3g)", spec,
              family, worst, scale);
    }
    kd_ctx_set_serial_reductions(ctx, serial);
    kd_model_set_fused_norm(m, !(false));
    free(x);
    kd_model_free(m);
}

/* One training step's gradients at a model's real size, by the GPU kernel
 * family (CLBlast for every product but a narrow first layer) and by the
 * CPU family (kdcl's own conv_dot / conv_dw_rows where conv.c's rules pick
 * them): the same function, so every parameter's gradient agrees to float
 * rounding, relative to the largest gradient of that tensor. */
static void families_agree(kd_ctx *ctx, const char *spec, int c, int hw, int n) {
    const int classes = 10;
    kd_model *m = make(ctx, spec, c, hw, hw, classes, n, true);
    th_rng r = {9};
    size_t nin = (size_t)n * c * hw * hw;
    float *x = malloc(nin * sizeof *x), *g[2];
    th_fill(&r, x, nin, -1, 1);
    int *lab = malloc((size_t)n * sizeof *lab);
    for (int i = 0; i < n; i++) lab[i] = (i * 3 + 1) % classes;
    cl_mem labels, acc;
    MUST(ctx, kd_buffer_alloc(ctx, (size_t)n * sizeof *lab, "labels", &labels));
    MUST(ctx, kd_write(ctx, labels, 0, (size_t)n * sizeof *lab, lab, true));
    MUST(ctx, kd_buffer_alloc(ctx, KD_ACC_COUNT * sizeof(float), "acc", &acc));
    bool serial = kd_ctx_serial_reductions(ctx);
    for (int family = 0; family <= 1; family++) {
        kd_ctx_set_serial_reductions(ctx, family);
        MUST(ctx, kd_write(ctx, kd_model_input(m), 0, nin * sizeof *x, x, true));
        loss_of(m, n, labels, acc);
        MUST(ctx, kd_ce_backward(ctx, n, classes, 1.0f / n, kd_model_dlogits(m), kd_model_logits(m), labels));
        MUST(ctx, kd_model_zero_grad(m));
        MUST(ctx, kd_model_backward(m, n));
        g[family] = malloc(kd_model_trainable(m).floats * sizeof *g[family]);
        MUST(ctx,
             kd_read(ctx, kd_model_trainable(m).grads, 0, kd_model_trainable(m).floats * sizeof *g[family], g[family]));
    }
    kd_ctx_set_serial_reductions(ctx, serial);
    double worst = 0;
    const char *where = "";
    for (int i = 0; i < kd_model_nparams(m); i++) {
        kd_param_view p = kd_model_param(m, i);
        if (!p.trainable) continue;
        double big = 0, diff = 0;
        for (size_t j = 0; j < p.count; j++) {
            big = fmax(big, fabs((double)g[0][p.slot + j]));
            diff = fmax(diff, fabs((double)g[0][p.slot + j] - g[1][p.slot + j]));
        }
        double e = diff / (big > 0 ? big : 1);
        if (!(e <= worst)) worst = e, where = p.name;
    }
    CHECK(worst <= 1e-4, "%s %dx%dx%d batch %d: gradients of the two kernel families differ by %.3g of the largest (%s)",
          spec, c, hw, hw, n, worst, where);
    printf("%s %dx%dx%d batch %d: kernel families' gradients agree to %.2g of each tensor's largest (worst %s)\n",
           spec, c, hw, hw, n, worst, where);
    free(x), free(lab), free(g[0]), free(g[1]);
    kd_buffer_free(ctx, labels);
    kd_buffer_free(ctx, acc);
    kd_model_free(m);
}

static void resnet50_step(kd_ctx *ctx) {
    kd_model *m = make(ctx, "resnet50", 3, 64, 64, 10, 2, true);
    th_rng r = {3};
    size_t nin = 2 * 3 * 64 * 64;
    float *x = malloc(nin * sizeof *x);
    th_fill(&r, x, nin, 0, 1);
    MUST(ctx, kd_write(ctx, kd_model_input(m), 0, nin * sizeof *x, x, true));
    int lab[2] = {3, 7};
    cl_mem labels, acc;
    MUST(ctx, kd_buffer_alloc(ctx, sizeof lab, "labels", &labels));
    MUST(ctx, kd_write(ctx, labels, 0, sizeof lab, lab, true));
    MUST(ctx, kd_buffer_alloc(ctx, KD_ACC_COUNT * sizeof(float), "acc", &acc));
    double loss = loss_of(m, 2, labels, acc);
    MUST(ctx, kd_ce_backward(ctx, 2, 10, 0.5f, kd_model_dlogits(m), kd_model_logits(m), labels));
    MUST(ctx, kd_model_zero_grad(m));
    MUST(ctx, kd_model_backward(m, 2));
    float *g = malloc(kd_model_trainable(m).floats * sizeof *g);
    MUST(ctx, kd_read(ctx, kd_model_trainable(m).grads, 0, kd_model_trainable(m).floats * sizeof *g, g));
    double norm = 0;
    for (size_t i = 0; i < kd_model_trainable(m).floats; i++) norm += (double)g[i] * g[i];
    CHECK(isfinite(loss) && loss > 0 && isfinite(norm) && norm > 0, "resnet50 step: loss %g, |grad|^2 %g", loss, norm);
    printf("resnet50 3x64x64 batch 2: loss %.4f, gradient norm %.4g, peak device memory %.1f MiB\n", loss, sqrt(norm),
           (double)kd_ctx_counters(ctx).mem_peak / (1024.0 * 1024.0));
    free(x);
    free(g);
    kd_buffer_free(ctx, labels);
    kd_buffer_free(ctx, acc);
    kd_model_free(m);
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    char dir[512];
    th_tempdir(dir, sizeof dir, "model");
    grad_check(ctx, "resnet14:width=0.0625", 2, 12);
    grad_check(ctx, "resnet14:width=0.0625,stem=imagenet", 3, 17);
    grad_check(ctx, "conv4x3p1,bn,relu,maxpool2,conv6x3s2p1,relu,avgpool2,flatten,dense7,relu,dropout0.25", 2, 9);
    grad_check(ctx, "bn,conv4x3p1,relu,gap", 2, 7);        /* batch norm as the first layer */
    grad_check(ctx, "flatten,dense5,relu", 2, 5);          /* flatten of the input itself */
    families_agree(ctx, "seed-cnn:dropout=0", 1, 36, 32);
    families_agree(ctx, "resnet14:width=0.25", 1, 28, 8);
    fused_inference(ctx, "resnet14:width=0.0625", 2, 12);
    fused_inference(ctx, "conv20x3p1,bn,relu,conv240x3p1,bn,conv6x1,bn,relu,gap", 3, 9); /* 240: a GEMM */
    save_load(ctx, dir);
    torchvision_names(ctx, dir);
    resnet50_step(ctx);
    kd_ctx_free(ctx);
    return th_done("test_model");
}
