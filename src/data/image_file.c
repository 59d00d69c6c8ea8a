/* PNG and JPEG decoding with the classic libpng / libjpeg APIs. libpng's
 * simplified API would be shorter, but it converts 16-bit data as linear
 * light to sRGB and composites alpha onto a background, neither of which
 * PIL (and so training pipelines) does.
 *
 * Both libraries report fatal errors by longjmp. Everything a decoder
 * allocates lives in a job struct owned by the caller's frame, so nothing
 * the cleanup path reads is a local of the function that called setjmp. */
#include "src/data/image_file.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "runtime/fsutil.h"

void kd_image_free(kd_image *im) {
    free(im->pixels);
    memset(im, 0, sizeof *im);
}

static kd_status check_size(const char *what, const char *format, size_t w, size_t h, kd_err *err) {
    if (w == 0 || h == 0)
        return kd_fail(err, KD_ERR_INPUT, "%s: %s image of %zux%zu pixels is empty", what, format, w, h);
    if (w > KD_IMAGE_MAX_SIDE || h > KD_IMAGE_MAX_SIDE || w * h > KD_IMAGE_MAX_PIXELS)
        return kd_fail(err, KD_ERR_INPUT,
                       "%s: %s image of %zux%zu pixels is larger than kdcl accepts (sides up to %d, %zu pixels in "
                       "all); scale it down first",
                       what, format, w, h, KD_IMAGE_MAX_SIDE, KD_IMAGE_MAX_PIXELS);
    return KD_OK;
}

/* Interleaved rows of `ch` channels -> planar CHW with 1 (gray, gray+alpha)
 * or 3 (RGB, RGBA) channels: the alpha channel is simply left out. */
static kd_status to_planar(const uint8_t *src, size_t stride, int ch, int w, int h, kd_image *out, kd_err *err,
                           const char *what) {
    int c = ch <= 2 ? 1 : 3;
    size_t plane = (size_t)w * (size_t)h;
    out->pixels = malloc(plane * (size_t)c);
    if (!out->pixels) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for %dx%d pixels", what, w, h);
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * stride;
        uint8_t *dst = out->pixels + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) dst[(size_t)k * plane + (size_t)x] = row[x * ch + k];
    }
    out->c = c;
    out->h = h;
    out->w = w;
    return KD_OK;
}

/* ---- PNG ---- */

typedef struct png_job {
    const uint8_t *data;
    size_t size, pos;
    const char *what;
    char msg[512];
    png_structp png;
    png_infop info;
    uint8_t *rows;
    png_bytep *ptrs;
} png_job;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (a bad ancillary chunk, an unknown profile) do not stop PIL either. */
static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n) {
    png_job *j = png_get_io_ptr(png);
    if (n > j->size - j->pos) png_error(png, "the file ends early (truncated)");
    memcpy(dst, j->data + j->pos, n);
    j->pos += n;
}

static kd_status png_decode(png_job *j, kd_image *out, kd_err *err) {
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, png_on_error, png_on_warning);
    if (!j->png) return kd_fail(err, KD_ERR_NOMEM, "%s: cannot create a PNG reader (out of memory)", j->what);
    j->info = png_create_info_struct(j->png);
    if (!j->info) return kd_fail(err, KD_ERR_NOMEM, "%s: cannot create a PNG reader (out of memory)", j->what);
    if (setjmp(png_jmpbuf(j->png)))
        return kd_fail(err, KD_ERR_INPUT, "%s: corrupt PNG: %s", j->what, j->msg[0] ? j->msg : "libpng error");
    png_set_read_fn(j->png, j, png_read_mem);
    png_set_user_limits(j->png, KD_IMAGE_MAX_SIDE, KD_IMAGE_MAX_SIDE);
    png_read_info(j->png, j->info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    KD_TRY(check_size(j->what, "PNG", w, h, err));
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(j->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(j->png);
    /* (v * 255 + 32895) >> 16 = round(v / 257), where strip_16 would truncate. */
    if (depth == 16) png_set_scale_16(j->png);
    png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    int ch = png_get_channels(j->png, j->info);
    size_t stride = png_get_rowbytes(j->png, j->info);
    if (ch < 1 || ch > 4 || png_get_bit_depth(j->png, j->info) != 8 || stride != (size_t)w * (size_t)ch)
        return kd_fail(err, KD_ERR_INPUT, "%s: PNG layout libpng could not turn into 8-bit samples (%d channels)",
                       j->what, ch);
    j->rows = malloc(stride * h);
    j->ptrs = malloc(h * sizeof *j->ptrs);
    if (!j->rows || !j->ptrs) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for %ux%u pixels", j->what, w, h);
    for (png_uint_32 y = 0; y < h; y++) j->ptrs[y] = j->rows + (size_t)y * stride;
    png_read_image(j->png, j->ptrs);
    /* No png_read_end: what follows the image data (text, time, IEND) cannot
     * change a pixel, and viewers show such files. */
    return to_planar(j->rows, stride, ch, (int)w, (int)h, out, err, j->what);
}

/* ---- JPEG ---- */

typedef struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    jmp_buf jmp;
    bool created, truncated;
    const char *what;
    uint8_t *rows;
} jpeg_job;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_job *j = cinfo->client_data;
    longjmp(j->jmp, 1);
}

/* libjpeg repairs corrupt entropy-coded data with warnings and goes on, as
 * PIL does; only a premature end of the file (a truncated download) is an
 * error, as it is for PIL. Nothing is printed from the library. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    jpeg_job *j = cinfo->client_data;
    if (level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) j->truncated = true;
    }
}

static kd_status jpeg_decode(jpeg_job *j, const uint8_t *data, size_t size, kd_image *out, kd_err *err) {
    j->cinfo.err = jpeg_std_error(&j->jerr);
    j->jerr.error_exit = jpeg_on_error;
    j->jerr.emit_message = jpeg_on_message;
    j->cinfo.client_data = j;
    if (setjmp(j->jmp)) {
        char msg[JMSG_LENGTH_MAX];
        (*j->jerr.format_message)((j_common_ptr)&j->cinfo, msg);
        return kd_fail(err, KD_ERR_INPUT, "%s: corrupt JPEG: %s", j->what, msg);
    }
    jpeg_create_decompress(&j->cinfo);
    j->created = true;
    jpeg_mem_src(&j->cinfo, data, (unsigned long)size);
    jpeg_read_header(&j->cinfo, TRUE);
    KD_TRY(check_size(j->what, "JPEG", j->cinfo.image_width, j->cinfo.image_height, err));
    switch (j->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: j->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: j->cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK:
        return kd_fail(err, KD_ERR_INPUT,
                       "%s: CMYK JPEG (print colours, 4 components): kdcl takes grayscale and RGB images; "
                       "convert it to RGB first (e.g. 'convert %s -colorspace sRGB out.png')",
                       j->what, j->what);
    default:
        return kd_fail(err, KD_ERR_INPUT,
                       "%s: JPEG with %d components in an unknown colour space: kdcl takes grayscale and RGB "
                       "images",
                       j->what, j->cinfo.num_components);
    }
    jpeg_start_decompress(&j->cinfo);
    int ch = j->cinfo.output_components, w = (int)j->cinfo.output_width, h = (int)j->cinfo.output_height;
    size_t stride = (size_t)w * (size_t)ch;
    if (ch != 1 && ch != 3)
        return kd_fail(err, KD_ERR_INPUT, "%s: JPEG decodes to %d channels; kdcl takes grayscale and RGB", j->what, ch);
    j->rows = malloc(stride * (size_t)h);
    if (!j->rows) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory for %dx%d pixels", j->what, w, h);
    while (j->cinfo.output_scanline < j->cinfo.output_height) {
        JSAMPROW row = j->rows + (size_t)j->cinfo.output_scanline * stride;
        jpeg_read_scanlines(&j->cinfo, &row, 1);
        if (j->truncated) break;
    }
    if (j->truncated)
        return kd_fail(err, KD_ERR_INPUT, "%s: corrupt JPEG: the file ends early (truncated)", j->what);
    jpeg_finish_decompress(&j->cinfo);
    return to_planar(j->rows, stride, ch, w, h, out, err, j->what);
}

/* ---- entry points ---- */

static bool starts_with(const uint8_t *b, size_t n, const char *magic, size_t m) {
    return n >= m && memcmp(b, magic, m) == 0;
}

/* A hint for files that are images, just not ones kdcl reads. */
static const char *other_format(const uint8_t *b, size_t n) {
    if (starts_with(b, n, "GIF8", 4)) return "a GIF image";
    if (starts_with(b, n, "BM", 2)) return "a BMP image";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "a WebP image";
    if (starts_with(b, n, "II*\0", 4) || starts_with(b, n, "MM\0*", 4)) return "a TIFF image";
    if (n >= 12 && !memcmp(b + 4, "ftyp", 4)) return "an HEIF/AVIF or MP4 file";
    if (starts_with(b, n, "\xff\xd8", 2)) return "a damaged JPEG (no marker after SOI)";
    if (starts_with(b, n, "\x89PNG", 4)) return "a damaged PNG (bad signature)";
    return NULL;
}

kd_status kd_image_decode(const void *buf, size_t size, const char *what, kd_image *out, kd_err *err) {
    memset(out, 0, sizeof *out);
    const uint8_t *b = buf;
    kd_status s;
    if (starts_with(b, size, "\x89PNG\r\n\x1a\n", 8)) {
        out->format = "PNG";
        png_job j;
        memset(&j, 0, sizeof j);
        j.data = b;
        j.size = size;
        j.what = what;
        s = png_decode(&j, out, err);
        png_destroy_read_struct(j.png ? &j.png : NULL, j.info ? &j.info : NULL, NULL);
        free(j.rows);
        free(j.ptrs);
    } else if (starts_with(b, size, "\xff\xd8\xff", 3)) {
        out->format = "JPEG";
        jpeg_job *j = calloc(1, sizeof *j); /* jmp_buf and the decompressor are large */
        if (!j) return kd_fail(err, KD_ERR_NOMEM, "%s: out of memory", what);
        j->what = what;
        s = jpeg_decode(j, b, size, out, err);
        if (j->created) jpeg_destroy_decompress(&j->cinfo);
        free(j->rows);
        free(j);
    } else {
        const char *other = other_format(b, size);
        if (size == 0) return kd_fail(err, KD_ERR_INPUT, "%s: empty file, not an image", what);
        if (other)
            return kd_fail(err, KD_ERR_INPUT, "%s is %s: kdcl reads PNG and JPEG; convert it to PNG first", what,
                           other);
        return kd_fail(err, KD_ERR_INPUT,
                       "%s is not a PNG or JPEG image (its first bytes are neither; the file name does not count)",
                       what);
    }
    if (s != KD_OK) kd_image_free(out);
    return s;
}

kd_status kd_image_load(const char *path, kd_image *out, kd_err *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kd_fail(err, KD_ERR_INPUT, "%s is a directory, not an image file", path);
    void *data = NULL;
    size_t size = 0;
    KD_TRY(kd_read_file(path, &data, &size, err));
    kd_status s = kd_image_decode(data, size, path, out, err);
    free(data);
    return s;
}

kd_status kd_image_convert(kd_image *im, int c, kd_err *err) {
    if (c != 1 && c != 3) return kd_fail(err, KD_ERR_USAGE, "images convert to 1 or 3 channels, not %d", c);
    if (im->c == c) return KD_OK;
    size_t plane = (size_t)im->h * (size_t)im->w;
    uint8_t *p = malloc(plane * (size_t)c);
    if (!p) return kd_fail(err, KD_ERR_NOMEM, "out of memory converting a %dx%d image", im->w, im->h);
    if (c == 3) {
        for (int k = 0; k < 3; k++) memcpy(p + (size_t)k * plane, im->pixels, plane);
    } else {
        const uint8_t *r = im->pixels, *g = r + plane, *b = g + plane;
        for (size_t i = 0; i < plane; i++) p[i] = kd_image_luma(r[i], g[i], b[i]);
    }
    free(im->pixels);
    im->pixels = p;
    im->c = c;
    return KD_OK;
}
