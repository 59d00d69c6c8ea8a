/* Input images: uint8 batches to float NCHW (augment, expand channels,
 * resize, normalise), and bilinear resizing of float activations.
 *
 * Bilinear sampling follows PyTorch's upsample_bilinear2d with
 * align_corners=False exactly (area_pixel_compute_source_index): the
 * source coordinate is (dst + 0.5) * in/out - 0.5, clamped at 0 below; the
 * second tap is index+1 except on the last row/column; the weights
 * combine rows outside columns in the same order as PyTorch. */

/* Taps and weight of output index `o` along an axis of `in` -> `out`. */
void image_taps(int o, int in, int out, int *i0, int *i1, float *l1) {
    float scale = (float)in / (float)out;
    float src = fmax(scale * ((float)o + 0.5f) - 0.5f, 0.0f);
    int i = (int)src;
    *i0 = i;
    *i1 = i + (i < in - 1 ? 1 : 0);
    *l1 = src - (float)i;
}

/* Pixel (y, x) of the augmented image, by reference to the source: crop at
 * (dx, dy) of the image zero-padded by `pad`, then mirror horizontally. */
float image_aug_pixel(__global const uchar *img, int h, int w, int pad, int dx, int dy, int flip,
                      int y, int x) {
    int sx = (flip ? w - 1 - x : x) + dx - pad;
    int sy = y + dy - pad;
    if (sx < 0 || sx >= w || sy < 0 || sy >= h) return 0.0f;
    return (float)img[sy * w + sx];
}

/* 3-D launch (ox, oy, b): one work item per output pixel, writing it in
 * every output channel (the taps and weights are shared by the channels,
 * and no id is decoded by division). aug: [n][3] (dx, dy, flip) or unused
 * (has_aug 0). A 1-channel source feeds every output channel. */
__kernel void image_prep_u8(__global float *out, __global const uchar *src, __global const int *aug,
                            const int has_aug, const int n, const int sc, const int sh, const int sw,
                            const int oc, const int oh, const int ow, const int pad, const float m0,
                            const float m1, const float m2, const float s0, const float s1, const float s2) {
    int ox = get_global_id(0), oy = get_global_id(1), b = get_global_id(2);
    if (ox >= ow || oy >= oh || b >= n) return;
    int dx = 0, dy = 0, flip = 0;
    if (has_aug) {
        dx = aug[3 * b];
        dy = aug[3 * b + 1];
        flip = aug[3 * b + 2];
    }
    int y0, y1, x0, x1;
    float ly, lx;
    image_taps(oy, sh, oh, &y0, &y1, &ly);
    image_taps(ox, sw, ow, &x0, &x1, &lx);
    size_t splane = (size_t)sh * sw, oplane = (size_t)oh * ow;
    __global float *o = out + (size_t)b * oc * oplane + (size_t)oy * ow + ox;
    for (int c = 0; c < oc; c++) {
        __global const uchar *img = src + ((size_t)b * sc + (sc == 1 ? 0 : c)) * splane;
        float v00 = image_aug_pixel(img, sh, sw, pad, dx, dy, flip, y0, x0);
        float v01 = image_aug_pixel(img, sh, sw, pad, dx, dy, flip, y0, x1);
        float v10 = image_aug_pixel(img, sh, sw, pad, dx, dy, flip, y1, x0);
        float v11 = image_aug_pixel(img, sh, sw, pad, dx, dy, flip, y1, x1);
        float v = (1.0f - ly) * ((1.0f - lx) * v00 + lx * v01) + ly * ((1.0f - lx) * v10 + lx * v11);
        v *= 1.0f / 255.0f;
        float m = c == 0 ? m0 : c == 1 ? m1 : m2;
        float s = c == 0 ? s0 : c == 1 ? s1 : s2;
        if (s > 0.0f) v = (v - m) / s;
        o[c * oplane] = v;
    }
}

/* out[nc][oh][ow] from in[nc][h][w]; 3-D launch (ox, oy, plane). */
__kernel void image_resize_bilinear_f32(__global float *out, __global const float *in, const int nc, const int h,
                                        const int w, const int oh, const int ow) {
    int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= ow || oy >= oh || p >= nc) return;
    __global const float *img = in + (size_t)p * h * w;
    int y0, y1, x0, x1;
    float ly, lx;
    image_taps(oy, h, oh, &y0, &y1, &ly);
    image_taps(ox, w, ow, &x0, &x1, &lx);
    out[((size_t)p * oh + oy) * ow + ox] = (1.0f - ly) * ((1.0f - lx) * img[y0 * w + x0] + lx * img[y0 * w + x1]) +
                                           ly * ((1.0f - lx) * img[y1 * w + x0] + lx * img[y1 * w + x1]);
}
