/* PNG and JPEG decoding for `kdcl predict` (libpng / libjpeg behind
 * kd_image_decode, whose error paths longjmp): decode, then convert to
 * gray and to RGB as the prediction pipeline does. */
#include "src/data/image_file.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_image(const uint8_t *data, size_t size) {
    kd_image im;
    kd_err err = {0};
    kd_status s = kd_image_decode(data, size, "fuzz-image", &im, &err);
    if (s != KD_OK) {
        FUZZ_REQUIRE(fuzz_refused_ok(s, &err) && im.pixels == NULL);
        return 0;
    }
    FUZZ_REQUIRE(im.pixels && (im.c == 1 || im.c == 3) && im.h >= 1 && im.w >= 1 && im.h <= KD_IMAGE_MAX_SIDE &&
                 im.w <= KD_IMAGE_MAX_SIDE && (size_t)im.h * (size_t)im.w <= KD_IMAGE_MAX_PIXELS);
    /* Touch every pixel: ASan sees a short allocation, MSan-like garbage
     * would at least be read. */
    size_t n = (size_t)im.c * (size_t)im.h * (size_t)im.w;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) sum += im.pixels[i];
    (void)sum;
    int h = im.h, w = im.w;
    FUZZ_REQUIRE(kd_image_convert(&im, 3, &err) == KD_OK && im.c == 3 && im.h == h && im.w == w);
    FUZZ_REQUIRE(kd_image_convert(&im, 1, &err) == KD_OK && im.c == 1 && im.h == h && im.w == w);
    kd_image_free(&im);
    return 1;
}

KD_FUZZ_ENTRY(fuzz_image)
