/* Device-side preprocessing (cl/image.cl): a uint8 batch becomes the float
 * NCHW input a model wants, in one pass, one work item per output pixel
 * (all its channels); and the bilinear resize of float activations. */
#include <limits.h>

#include "runtime/kernel.h"
#include "src/data/loader.h"

static kd_status check_count(kd_ctx *ctx, double count, const char *what) {
    if (count > (double)INT_MAX)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE,
                       "%s: %.0f output values exceed the 2^31 that one launch indexes; "
                       "use a smaller --batch or --resize",
                       what, count);
    return KD_OK;
}


kd_status kd_prep_run(kd_ctx *ctx, const kd_prep_desc *p, int src_c, int src_h, int src_w, const kd_batch *b,
                      int crop_pad, cl_mem out) {
    if (p->out_c < 1 || p->out_c > 3 || p->out_h < 1 || p->out_w < 1)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE,
                       "input preprocessing: model input %dx%dx%d is not supported "
                       "(1 or 3 channels, positive height and width)",
                       p->out_c, p->out_h, p->out_w);
    if (src_c < 1 || src_h < 1 || src_w < 1)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "input preprocessing: bad source image size %dx%dx%d", src_c,
                       src_h, src_w);
    if (src_c != p->out_c && src_c != 1)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE,
                       "the model wants %d input channel%s but the data has %d: only "
                       "grayscale -> 3 channels is converted",
                       p->out_c, p->out_c == 1 ? "" : "s", src_c);
    if (crop_pad < 0)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "input preprocessing: negative crop padding %d", crop_pad);
    if (b->n < 0) return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "input preprocessing: negative batch size %d", b->n);
    if (b->n == 0) return KD_OK;
    KD_TRY(check_count(ctx, (double)b->n * p->out_c * p->out_h * p->out_w, "input preprocessing"));
    int n = b->n, oc = p->out_c, oh = p->out_h, ow = p->out_w, pad = crop_pad;
    int has_aug = b->aug != NULL;
    cl_mem aug = b->aug;
    float m[3], s[3];
    for (int c = 0; c < 3; c++) {
        m[c] = p->mean[c];
        s[c] = p->std[c];
    }
    return kd_run3d(ctx, "image", "image_prep_u8", (size_t)ow, (size_t)oh, (size_t)n,
                    KD_ARGS(KD_ARG(out), KD_ARG(b->pixels), KD_ARG(aug), KD_ARG(has_aug), KD_ARG(n), KD_ARG(src_c),
                            KD_ARG(src_h), KD_ARG(src_w), KD_ARG(oc), KD_ARG(oh), KD_ARG(ow), KD_ARG(pad), KD_ARG(m[0]),
                            KD_ARG(m[1]), KD_ARG(m[2]), KD_ARG(s[0]), KD_ARG(s[1]), KD_ARG(s[2])));
}

kd_status kd_resize_bilinear(kd_ctx *ctx, int n, int c, int h, int w, int oh, int ow, cl_mem out, cl_mem in) {
    if (n < 0 || c < 1 || h < 1 || w < 1 || oh < 1 || ow < 1)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "bilinear resize: bad sizes %dx%dx%dx%d -> %dx%d", n, c, h, w, oh,
                       ow);
    if (n == 0) return KD_OK;
    KD_TRY(check_count(ctx, (double)n * c * oh * ow, "bilinear resize"));
    KD_TRY(check_count(ctx, (double)n * c * h * w, "bilinear resize"));
    int nc = n * c;
    return kd_run3d(ctx, "image", "image_resize_bilinear_f32", (size_t)ow, (size_t)oh, (size_t)nc,
                    KD_ARGS(KD_ARG(out), KD_ARG(in), KD_ARG(nc), KD_ARG(h), KD_ARG(w), KD_ARG(oh), KD_ARG(ow)));
}
