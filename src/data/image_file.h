/* Image files for `kdcl predict`: PNG (libpng) and JPEG (libjpeg-turbo),
 * recognised by their first bytes (never by the file name), decoded to
 * 8-bit pixels held as the data sets hold theirs (uint8, channel-planar).
 *
 * The conversions are PIL's, since a PyTorch pipeline reads files with
 * Image.open(f).convert("L" | "RGB"): alpha is dropped (not composited),
 * palettes are expanded, 1/2/4-bit gray is scaled to 0..255, 16-bit
 * samples are scaled to 8 bits (round(v / 257)), no gamma is applied, and
 * RGB -> gray uses the ITU-R 601-2 luma weights in PIL's fixed point.
 *
 * Decoding errors never leave the library: libpng's longjmp and libjpeg's
 * error_exit are caught and become KD_ERR_INPUT naming the file. */
#ifndef KD_DATA_IMAGE_FILE_H
#define KD_DATA_IMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

/* Larger images are refused before any pixel memory is allocated. */
#define KD_IMAGE_MAX_SIDE 65535
#define KD_IMAGE_MAX_PIXELS ((size_t)1 << 28)

typedef struct kd_image {
    int c, h, w;         /* c: 1 (gray) or 3 (RGB) */
    uint8_t *pixels;     /* c*h*w bytes, CHW */
    const char *format;  /* "PNG" or "JPEG" (static) */
} kd_image;

/* Decodes a PNG or JPEG held in memory; `what` names it in errors. Not an
 * image, corrupt or truncated data, and channel layouts other than
 * gray/RGB (+ alpha) such as CMYK JPEG are KD_ERR_INPUT. On error *out is
 * zeroed. */
kd_status kd_image_decode(const void *buf, size_t size, const char *what, kd_image *out, kd_err *err);
/* kd_image_decode of a whole file; a missing file is KD_ERR_NOT_FOUND, a
 * failing read KD_ERR_IO. */
kd_status kd_image_load(const char *path, kd_image *out, kd_err *err);
void kd_image_free(kd_image *im);

/* Converts in place to c channels (1 or 3): gray -> RGB replicates, RGB ->
 * gray is kd_image_luma. */
kd_status kd_image_convert(kd_image *im, int c, kd_err *err);
/* PIL's "L" from RGB: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, i.e. the
 * 0.299/0.587/0.114 weights in 16-bit fixed point, rounded half up. */
static inline uint8_t kd_image_luma(uint8_t r, uint8_t g, uint8_t b) {
    return (uint8_t)(((uint32_t)r * 19595u + (uint32_t)g * 38470u + (uint32_t)b * 7471u + 0x8000u) >> 16);
}

#endif
