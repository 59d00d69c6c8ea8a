/* Device preprocessing (kd_prep_run) and float resizing (kd_resize_bilinear)
 * against plain-C double references: PyTorch's bilinear (align_corners=False)
 * up and down, non-square, 1 and 3 channels, batch 1 and > 1; crop and flip
 * built the obvious way (an explicitly zero-padded image, sliced, mirrored);
 * grayscale -> 3 channels; normalisation; flip twice is the identity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/data/loader.h"
#include "tests/harness.h"

/* PyTorch upsample_bilinear2d, align_corners=False, one axis. */
static void taps_ref(int o, int in, int out, int *i0, int *i1, double *l1) {
    double src = (double)in / out * (o + 0.5) - 0.5;
    if (src < 0) src = 0;
    int i = (int)src;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : i;
    *l1 = src - i;
}

static void resize_ref(double *out, const double *in, int nc, int h, int w, int oh, int ow) {
    for (int p = 0; p < nc; p++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int y0, y1, x0, x1;
                double ly, lx;
                taps_ref(y, h, oh, &y0, &y1, &ly);
                taps_ref(x, w, ow, &x0, &x1, &lx);
                const double *im = in + (size_t)p * h * w;
                out[((size_t)p * oh + y) * ow + x] = (1 - ly) * ((1 - lx) * im[y0 * w + x0] + lx * im[y0 * w + x1]) +
                                                     ly * ((1 - lx) * im[y1 * w + x0] + lx * im[y1 * w + x1]);
            }
}

/* Crop (dx, dy) from the image zero-padded by pad, then mirror: done literally. */
static void crop_flip_ref(double *out, const uint8_t *img, int h, int w, int pad, int dx, int dy, int flip) {
    int ph = h + 2 * pad, pw = w + 2 * pad;
    double *padded = calloc((size_t)ph * pw, sizeof *padded);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) padded[(y + pad) * pw + x + pad] = img[y * w + x];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) out[y * w + (flip ? w - 1 - x : x)] = padded[(y + dy) * pw + x + dx];
    free(padded);
}

/* The whole pipeline in double. aug NULL: none. */
static void prep_ref(double *out, const uint8_t *src, const int *aug, int n, int sc, int sh, int sw,
                     const kd_prep_desc *p, int pad) {
    double *plane = malloc((size_t)sh * sw * sizeof *plane);
    double *rs = malloc((size_t)p->out_h * p->out_w * sizeof *rs);
    for (int b = 0; b < n; b++)
        for (int c = 0; c < p->out_c; c++) {
            const uint8_t *img = src + ((size_t)b * sc + (sc == 1 ? 0 : c)) * sh * sw;
            crop_flip_ref(plane, img, sh, sw, pad, aug ? aug[3 * b] : 0, aug ? aug[3 * b + 1] : 0,
                          aug ? aug[3 * b + 2] : 0);
            resize_ref(rs, plane, 1, sh, sw, p->out_h, p->out_w);
            double *o = out + ((size_t)b * p->out_c + c) * p->out_h * p->out_w;
            for (int i = 0; i < p->out_h * p->out_w; i++) {
                double v = rs[i] / 255.0;
                if (p->std[c] > 0) v = (v - p->mean[c]) / p->std[c];
                o[i] = v;
            }
        }
    free(plane);
    free(rs);
}

static cl_mem upload_bytes(kd_ctx *ctx, const void *x, size_t bytes) {
    cl_mem m;
    MUST(ctx, kd_buffer_alloc(ctx, bytes, "test bytes", &m));
    MUST(ctx, kd_write(ctx, m, 0, bytes, x, true));
    return m;
}

/* Runs kd_prep_run on random images and compares with prep_ref; returns the output for further checks. */
static float *run_case(kd_ctx *ctx, th_rng *r, int n, int sc, int sh, int sw, const kd_prep_desc *p, bool with_aug,
                       int pad, const uint8_t *given, const int *given_aug) {
    size_t src_bytes = (size_t)n * sc * sh * sw, out_n = (size_t)n * p->out_c * p->out_h * p->out_w;
    uint8_t *src = malloc(src_bytes);
    int *aug = malloc((size_t)n * 3 * sizeof *aug);
    for (size_t i = 0; i < src_bytes; i++) src[i] = given ? given[i] : (uint8_t)(th_next(r) & 0xff);
    for (int b = 0; b < n; b++) {
        aug[3 * b] = given_aug ? given_aug[3 * b] : (int)(th_next(r) % (uint64_t)(2 * pad + 1));
        aug[3 * b + 1] = given_aug ? given_aug[3 * b + 1] : (int)(th_next(r) % (uint64_t)(2 * pad + 1));
        aug[3 * b + 2] = given_aug ? given_aug[3 * b + 2] : (int)(th_next(r) & 1);
    }
    kd_batch batch = {.n = n};
    batch.pixels = upload_bytes(ctx, src, src_bytes);
    batch.aug = with_aug ? upload_bytes(ctx, aug, (size_t)n * 3 * sizeof *aug) : NULL;
    cl_mem out = th_zeros(ctx, out_n);
    MUST(ctx, kd_prep_run(ctx, p, sc, sh, sw, &batch, pad, out));
    float *got = malloc(out_n * sizeof *got);
    double *ref = malloc(out_n * sizeof *ref);
    th_download(ctx, out, got, out_n);
    prep_ref(ref, src, with_aug ? aug : NULL, n, sc, sh, sw, p, with_aug ? pad : 0);
    double e = th_max_rel(got, ref, out_n, 1e-5, 1e-5);
    CHECK(e <= 1, "prep n=%d %dx%dx%d -> %dx%dx%d aug=%d pad=%d: max rel err %.3g", n, sc, sh, sw, p->out_c, p->out_h,
          p->out_w, with_aug, pad, e);
    kd_buffer_free(ctx, batch.pixels);
    kd_buffer_free(ctx, batch.aug);
    kd_buffer_free(ctx, out);
    free(src);
    free(aug);
    free(ref);
    return got;
}

static void test_resize_float(kd_ctx *ctx, th_rng *r) {
    const int cases[][6] = {{1, 1, 28, 28, 128, 128}, {3, 2, 37, 37, 16, 16}, {1, 3, 23, 31, 17, 45},
                            {2, 3, 5, 7, 5, 7},       {4, 1, 9, 4, 30, 3},    {1, 1, 1, 1, 3, 2},
                            /* rows wider than a work-group; many 1x1 planes */
                            {1, 1, 3, 5, 2, 300},     {3, 100, 4, 4, 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int n = cases[k][0], c = cases[k][1], h = cases[k][2], w = cases[k][3], oh = cases[k][4], ow = cases[k][5];
        size_t ni = (size_t)n * c * h * w, no = (size_t)n * c * oh * ow;
        float *x = malloc(ni * sizeof *x), *got = malloc(no * sizeof *got);
        double *xd = malloc(ni * sizeof *xd), *ref = malloc(no * sizeof *ref);
        th_fill(r, x, ni, -2, 2);
        for (size_t i = 0; i < ni; i++) xd[i] = x[i];
        resize_ref(ref, xd, n * c, h, w, oh, ow);
        cl_mem din = th_upload(ctx, x, ni), dout = th_zeros(ctx, no);
        MUST(ctx, kd_resize_bilinear(ctx, n, c, h, w, oh, ow, dout, din));
        th_download(ctx, dout, got, no);
        double e = th_max_rel(got, ref, no, 1e-5, 1e-5);
        CHECK(e <= 1, "resize %dx%dx%dx%d -> %dx%d: max rel err %.3g", n, c, h, w, oh, ow, e);
        if (oh == h && ow == w) {
            int same = memcmp(got, x, ni * sizeof *x) == 0;
            CHECK(same, "resize to the same size is not the identity");
        }
        kd_buffer_free(ctx, din);
        kd_buffer_free(ctx, dout);
        free(x);
        free(got);
        free(xd);
        free(ref);
    }
    /* Values PyTorch gives (F.interpolate, mode='bilinear', align_corners=False),
     * as anchors independent of the reference above. */
    struct {
        int w, ow;
        float in[4], want[5];
    } anchors[] = {{2, 4, {0, 1}, {0, 0.25f, 0.75f, 1}},
                   {4, 2, {0, 1, 2, 3}, {0.5f, 2.5f}},
                   {3, 5, {0, 10, 20}, {0, 4, 10, 16, 20}}};
    for (size_t k = 0; k < sizeof anchors / sizeof anchors[0]; k++) {
        cl_mem din = th_upload(ctx, anchors[k].in, (size_t)anchors[k].w), dout = th_zeros(ctx, 5);
        float got[5] = {0};
        MUST(ctx, kd_resize_bilinear(ctx, 1, 1, 1, anchors[k].w, 1, anchors[k].ow, dout, din));
        th_download(ctx, dout, got, (size_t)anchors[k].ow);
        for (int i = 0; i < anchors[k].ow; i++)
            CHECK(fabsf(got[i] - anchors[k].want[i]) <= 1e-6f * (1 + fabsf(anchors[k].want[i])),
                  "anchor %zu: out[%d] = %g, PyTorch gives %g", k, i, got[i], anchors[k].want[i]);
        kd_buffer_free(ctx, din);
        kd_buffer_free(ctx, dout);
    }
}

/* Float [0,1] output back to the uint8 it came from (exact when no resize and no normalisation). */
static void to_bytes(uint8_t *dst, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)lrintf(x[i] * 255.0f);
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    th_rng r = {7};
    test_resize_float(ctx, &r);

    kd_prep_desc none1 = {.out_c = 1, .out_h = 29, .out_w = 29};
    kd_prep_desc gray3_up = {
        .out_c = 3, .out_h = 128, .out_w = 128, .mean = {0.5f, 0.45f, 0.4f}, .std = {0.25f, 0.3f, 0.2f}};
    kd_prep_desc down3 = {.out_c = 3, .out_h = 16, .out_w = 16};
    kd_prep_desc nonsq = {.out_c = 3, .out_h = 17, .out_w = 45, .mean = {0.1f, 0.2f, 0.3f}, .std = {0.9f, 0, 0.5f}};
    kd_prep_desc up1 = {.out_c = 1, .out_h = 64, .out_w = 40, .mean = {0.3f}, .std = {0.7f}};

    /* Resizing: up 28 -> 128 with gray -> 3 and normalisation, down 37 -> 16,
     * non-square both ways, batch 1 and > 1, with and without augmentation. */
    free(run_case(ctx, &r, 2, 1, 28, 28, &gray3_up, true, 4, NULL, NULL));
    free(run_case(ctx, &r, 1, 1, 28, 28, &gray3_up, false, 0, NULL, NULL));
    free(run_case(ctx, &r, 3, 3, 37, 37, &down3, false, 0, NULL, NULL));
    free(run_case(ctx, &r, 5, 3, 37, 37, &down3, true, 3, NULL, NULL));
    free(run_case(ctx, &r, 1, 3, 23, 31, &nonsq, true, 4, NULL, NULL));
    free(run_case(ctx, &r, 3, 1, 19, 13, &up1, true, 2, NULL, NULL));

    /* Crop and flip alone (no resize): every combination of offsets at the
     * corners and the middle, both flips, one image per combination. */
    {
        int pad = 4, combos[][3] = {{0, 0, 0}, {8, 8, 0}, {0, 8, 1}, {8, 0, 1}, {4, 4, 0},
                                    {4, 4, 1}, {1, 7, 0}, {7, 2, 1}, {3, 5, 1}};
        int n = (int)(sizeof combos / sizeof combos[0]);
        free(run_case(ctx, &r, n, 1, 29, 29, &none1, true, pad, NULL, &combos[0][0]));
        free(run_case(ctx, &r, 2, 3, 9, 29, &(kd_prep_desc){.out_c = 3, .out_h = 9, .out_w = 29}, true, 2, NULL, NULL));
    }
    {
        /* Identity crop and zero padding, checked exactly rather than against the reference. */
        int h = 11, w = 13, pad = 3, n = 2;
        uint8_t src[2 * 11 * 13];
        for (int i = 0; i < n * h * w; i++) src[i] = (uint8_t)(1 + i % 250); /* never 0: padding shows */
        int aug[6] = {pad, pad, 0, 0, 0, 0};
        kd_prep_desc d = {.out_c = 1, .out_h = h, .out_w = w};
        float *got = run_case(ctx, &r, n, 1, h, w, &d, true, pad, src, aug);
        int ident = 1, zeros = 1;
        for (int i = 0; i < h * w; i++) ident &= lrintf(got[i] * 255.0f) == src[i];
        /* Image 1 cropped at (0,0): the top `pad` rows and left `pad` columns are padding. */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float v = got[h * w + y * w + x];
                if (y < pad || x < pad)
                    zeros &= v == 0.0f;
                else
                    zeros &= lrintf(v * 255.0f) == src[h * w + (y - pad) * w + x - pad];
            }
        CHECK(ident, "crop at (pad, pad) without flip is not the identity");
        CHECK(zeros, "crop at (0, 0): padding is not zero or the image is not shifted by pad");
        free(got);
    }
    {
        /* Flip twice is the identity, and gray -> 3 replicates the channel. */
        int n = 3, h = 17, w = 22;
        uint8_t *src = malloc((size_t)n * h * w), *once = malloc((size_t)n * h * w);
        for (int i = 0; i < n * h * w; i++) src[i] = (uint8_t)(th_next(&r) & 0xff);
        int aug[9] = {0, 0, 1, 0, 0, 1, 0, 0, 1};
        kd_prep_desc d1 = {.out_c = 1, .out_h = h, .out_w = w};
        float *f1 = run_case(ctx, &r, n, 1, h, w, &d1, true, 0, src, aug);
        to_bytes(once, f1, (size_t)n * h * w);
        int differs = memcmp(once, src, (size_t)n * h * w) != 0;
        CHECK(differs, "a flip changed nothing");
        float *f2 = run_case(ctx, &r, n, 1, h, w, &d1, true, 0, once, aug);
        float *f0 = run_case(ctx, &r, n, 1, h, w, &d1, false, 0, src, NULL);
        int back = memcmp(f2, f0, (size_t)n * h * w * sizeof *f0) == 0;
        CHECK(back, "flipping twice is not the identity");
        free(f0);

        kd_prep_desc d3 = {.out_c = 3, .out_h = h, .out_w = w};
        float *f3 = run_case(ctx, &r, n, 1, h, w, &d3, true, 0, src, aug);
        int repl = 1;
        for (int b = 0; b < n; b++)
            for (int c = 0; c < 3; c++)
                repl &=
                    memcmp(f3 + ((size_t)b * 3 + c) * h * w, f1 + (size_t)b * h * w, (size_t)h * w * sizeof *f1) == 0;
        CHECK(repl, "gray -> 3 channels: a channel differs from the 1-channel output");
        free(f1);
        free(f2);
        free(f3);
        free(src);
        free(once);
    }
    {
        /* Normalisation: (x/255 - mean)/std per channel; std 0 leaves x/255. */
        int n = 2, h = 5, w = 6;
        uint8_t src[2 * 3 * 5 * 6];
        for (int i = 0; i < n * 3 * h * w; i++) src[i] = (uint8_t)(th_next(&r) & 0xff);
        kd_prep_desc d = {
            .out_c = 3, .out_h = h, .out_w = w, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.0f, 0.225f}};
        float *f = run_case(ctx, &r, n, 3, h, w, &d, false, 0, src, NULL);
        int ok = 1;
        for (int b = 0; b < n; b++)
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < h * w; i++) {
                    size_t k = ((size_t)b * 3 + c) * h * w + i;
                    double x = src[k] / 255.0, want = d.std[c] > 0 ? (x - d.mean[c]) / d.std[c] : x;
                    ok &= fabs(f[k] - want) < 1e-5;
                }
        CHECK(ok, "normalisation differs from (x/255 - mean)/std");
        free(f);
    }
    {
        /* Three channels cannot feed a one-channel model; the error says so. */
        kd_batch b = {.n = 1};
        kd_prep_desc d = {.out_c = 1, .out_h = 4, .out_w = 4};
        kd_status s = kd_prep_run(ctx, &d, 3, 4, 4, &b, 0, NULL);
        CHECK(s == KD_ERR_USAGE && strstr(kd_ctx_err(ctx)->msg, "channel"), "3 -> 1 channels: status %d, '%s'", s,
              kd_ctx_err(ctx)->msg);
        kd_prep_desc d4 = {.out_c = 4, .out_h = 4, .out_w = 4};
        s = kd_prep_run(ctx, &d4, 4, 4, 4, &b, 0, NULL);
        CHECK(s == KD_ERR_USAGE, "4 output channels: status %d", s);
    }
    kd_ctx_free(ctx);
    return th_done("test_prep");
}
