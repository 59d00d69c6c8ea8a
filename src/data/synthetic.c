/* The built-in synthetic data set: 10 classes of oriented sine gratings,
 * 5 orientations x 2 spatial frequencies, under a Gaussian window.
 *
 * What makes a class is the orientation and the frequency, i.e. local
 * edge structure that 3x3 convolutions pick up at once; everything else
 * is random per image and shared by all classes: the phase (so the mean
 * intensity says nothing about the class), the window's position and
 * width, background and grating colour, small jitter of angle and
 * frequency, and pixel noise. Every image is a function of (seed, split,
 * index) alone, so any subset can be regenerated identically. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/data/data_private.h"

#define KD_PI 3.14159265358979323846

static kd_status synth_labels(uint8_t *labels, int n, uint64_t seed, kd_split split) {
    /* Balanced classes in a seeded order. */
    for (int i = 0; i < n; i++) labels[i] = (uint8_t)(i % 10);
    kd_rng64 r = {kd_hash3(KD_HASH_SYNTH_LABELS, seed, (uint64_t)split, (uint64_t)n)};
    for (int i = n - 1; i > 0; i--) {
        int j = (int)kd_rng64_below(&r, (uint32_t)i + 1);
        uint8_t t = labels[i];
        labels[i] = labels[j];
        labels[j] = t;
    }
    return KD_OK;
}

static void synth_image(uint8_t *img, int label, int c, int h, int w, uint64_t seed, kd_split split, int index) {
    kd_rng64 r = {kd_hash3(KD_HASH_SYNTH_IMAGE, seed, (uint64_t)split, (uint64_t)index)};
    double m = h < w ? h : w;
    double theta = (label % 5) * (KD_PI / 5) + (kd_rng64_unit(&r) - 0.5) * (KD_PI / 20);
    double cycles = (label < 5 ? 2.5 : 5.0) * (0.9 + 0.2 * kd_rng64_unit(&r));
    double k = 2 * KD_PI * cycles / m;
    double phase = 2 * KD_PI * kd_rng64_unit(&r);
    double cx = 0.5 * (w - 1) + (kd_rng64_unit(&r) - 0.5) * w / 3;
    double cy = 0.5 * (h - 1) + (kd_rng64_unit(&r) - 0.5) * h / 3;
    double sigma = m * (0.28 + 0.12 * kd_rng64_unit(&r));
    double kc = k * cos(theta), ks = k * sin(theta), inv2s2 = 1.0 / (2 * sigma * sigma);
    double bg[64], amp[64];
    for (int ch = 0; ch < c; ch++) {
        bg[ch] = 0.35 + 0.3 * kd_rng64_unit(&r);
        amp[ch] = 0.2 + 0.2 * kd_rng64_unit(&r);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = x - cx, dy = y - cy;
            double g = exp(-(dx * dx + dy * dy) * inv2s2) * cos(kc * dx + ks * dy + phase);
            for (int ch = 0; ch < c; ch++) {
                double noise = 0.12 * (kd_rng64_unit(&r) - 0.5);
                double v = 255.0 * (bg[ch] + amp[ch] * g + noise);
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                img[((size_t)ch * h + y) * w + x] = (uint8_t)(v + 0.5);
            }
        }
}

kd_status kd_synthetic_load(const kd_data_spec *spec, kd_split split, uint64_t seed, kd_dataset *out, kd_err *err) {
    int n = split == KD_SPLIT_TRAIN ? spec->synth_n : spec->synth_n / 5;
    if (n < 1) n = 1;
    int c = spec->synth_c, h = spec->synth_h, w = spec->synth_w;
    if (spec->synth_n < 1 || c < 1 || c > 64 || h < 1 || w < 1 || h > 4096 || w > 4096)
        return kd_fail(err, KD_ERR_USAGE, "synthetic data: bad size %d images of %dx%dx%d", spec->synth_n, c, h, w);
    size_t per = (size_t)c * h * w;
    out->images = malloc((size_t)n * per);
    out->labels = malloc((size_t)n);
    if (!out->images || !out->labels)
        return kd_fail(err, KD_ERR_NOMEM, "out of memory for %d synthetic images of %dx%dx%d", n, c, h, w);
    synth_labels(out->labels, n, seed, split);
    for (int i = 0; i < n; i++) synth_image(out->images + (size_t)i * per, out->labels[i], c, h, w, seed, split, i);
    strcpy(out->name, "synthetic");
    out->n = n;
    out->c = c;
    out->h = h;
    out->w = w;
    static const char *const names[10] = {"coarse-0deg",   "coarse-36deg", "coarse-72deg", "coarse-108deg",
                                          "coarse-144deg", "fine-0deg",    "fine-36deg",   "fine-72deg",
                                          "fine-108deg",   "fine-144deg"};
    return kd_dataset_set_names(out, names, 10, err);
}
