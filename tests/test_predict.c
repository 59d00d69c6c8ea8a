/* kdcl predict through the binary, and the image decoder it uses.
 *
 * PNG and JPEG files are written here with libpng/libjpeg in many layouts
 * (RGB, RGBA, palette with transparency, 16-bit, interlaced, 2-bit gray,
 * gray+alpha, JPEG RGB and gray; several sizes). The test works out the
 * pixels each file should decode to (for a JPEG: its own libjpeg decode)
 * and converts them as training would (PIL's luma for a grayscale model),
 * then stores them as CIFAR-10 / IDX data directories. `kdcl predict
 * --data ... --out` on those (kd_evaluate, the engine of `kdcl eval`)
 * must give the top-1 class and the probabilities that `kdcl predict
 * --json` gives on the image files. Also: the logits file agrees with
 * `kdcl eval`, corrupt and unsupported files are reported while the rest
 * is still classified (exit 1), and usage errors exit 2. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jpeglib.h>
#include <png.h>

#include "runtime/fsutil.h"
#include "src/data/dataset.h"
#include "src/data/source.h"
#include "src/data/image_file.h"
#include "src/io/safetensors.h"
#include "src/model/weights.h"
#include "tests/harness.h"

static char dir[512];
static const char *bin;

static void path_of(char *out, size_t cap, const char *name) {
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap) th_fatal(__FILE__, __LINE__, "path_of", name);
}

/* Runs "kdcl ARGS" in dir, stdout to `out`, stderr to `errf`; returns the exit status. */
static int kdcl(const char *out, const char *errf, const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > '%s' 2> '%s'", dir, bin, args, out, errf);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *name) { return th_slurp(dir, name); }

static void show(const char *name) { th_show(dir, name); }

static void put_file(const char *name, const void *data, size_t n) {
    char path[1024];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) th_fatal(__FILE__, __LINE__, "write", path);
}

/* ---- writing images with libpng / libjpeg ---- */

typedef struct png_spec {
    int w, h, color, depth;     /* PNG_COLOR_TYPE_*, bits per sample */
    const uint8_t *rows;        /* packed rows as PNG stores them (16-bit big-endian) */
    const png_color *palette;
    int npalette;
    const uint8_t *trns;
    int ntrns;
    bool interlace;
} png_spec;

static size_t png_rowbytes(const png_spec *s) {
    int ch = s->color == PNG_COLOR_TYPE_RGB         ? 3
             : s->color == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
             : s->color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                     : 1;
    return ((size_t)s->w * (size_t)ch * (size_t)s->depth + 7) / 8;
}

static void write_png(const char *name, const png_spec *s) {
    char path[1024];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    if (!f) th_fatal(__FILE__, __LINE__, "fopen", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) th_fatal(__FILE__, __LINE__, "libpng", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trns) png_set_tRNS(png, info, s->trns, s->ntrns, NULL);
    png_write_info(png, info);
    size_t rb = png_rowbytes(s);
    png_bytep *rows = malloc((size_t)s->h * sizeof *rows);
    for (int y = 0; y < s->h; y++) rows[y] = (png_bytep)(s->rows + (size_t)y * rb);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

static void write_jpeg(const char *name, int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *px, int quality,
                       bool progressive) {
    char path[1024];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    if (!f) th_fatal(__FILE__, __LINE__, "fopen", path);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

/* The reference decode of a JPEG: plain libjpeg with its defaults (what PIL
 * runs), to interleaved samples. */
static uint8_t *read_jpeg(const char *name, int *w, int *h, int *comps) {
    char path[1024];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "rb");
    if (!f) th_fatal(__FILE__, __LINE__, "fopen", path);
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr jerr;
    d.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&d);
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    jpeg_start_decompress(&d);
    *w = (int)d.output_width;
    *h = (int)d.output_height;
    *comps = d.output_components;
    size_t stride = (size_t)*w * (size_t)*comps;
    uint8_t *px = malloc(stride * (size_t)*h);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = px + (size_t)d.output_scanline * stride;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    fclose(f);
    return px;
}

/* ---- pixels ---- */

/* A sine grating (what the synthetic classes are made of) plus noise, so a
 * trained model has a clear opinion about it. */
static uint8_t grating(th_rng *r, int x, int y, int c, double angle, double freq) {
    double v = 128 + 90 * sin(freq * (x * cos(angle) + y * sin(angle)) + 1.7 * c) + th_uniform(r, -25, 25);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Interleaved samples of c channels. */
static uint8_t *make_pixels(th_rng *r, int w, int h, int c, double angle, double freq) {
    uint8_t *p = malloc((size_t)w * (size_t)h * (size_t)c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) p[((size_t)y * w + x) * c + k] = grating(r, x, y, k, angle, freq);
    return p;
}

/* PIL's Image.convert("L") from RGB (libImaging/Convert.c, L24 >> 16). */
static uint8_t pil_luma(int r, int g, int b) { return (uint8_t)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16); }

/* 16 bits -> 8 by rounding v * 255 / 65535. */
static uint8_t scale16(int v) { return (uint8_t)floor(v / 257.0 + 0.5); }

/* An image file with the pixels it must decode to (CHW, alpha dropped). */
typedef struct image {
    char file[64];
    int c, h, w;
    uint8_t *px;
} image;

#define MAX_IMAGES 32
static image images[MAX_IMAGES];
static int nimages;

static image *add_image(const char *file, int c, int h, int w) {
    if (nimages >= MAX_IMAGES) th_fatal(__FILE__, __LINE__, "add_image", "too many");
    image *im = &images[nimages++];
    snprintf(im->file, sizeof im->file, "%s", file);
    im->c = c;
    im->h = h;
    im->w = w;
    im->px = malloc((size_t)c * (size_t)h * (size_t)w);
    return im;
}

static image *find_image(const char *file) {
    for (int i = 0; i < nimages; i++)
        if (!strcmp(images[i].file, file)) return &images[i];
    return NULL;
}

/* Expected CHW from interleaved samples with `ch` channels of which the first c count. */
static void planar(image *im, const uint8_t *inter, int ch) {
    size_t plane = (size_t)im->h * (size_t)im->w;
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < im->c; k++) im->px[(size_t)k * plane + i] = inter[i * (size_t)ch + (size_t)k];
}

static void make_images(void) {
    th_rng r = {42};
    /* 32x32 RGB (the CIFAR-10 size) in every PNG layout, and a JPEG. */
    {
        uint8_t *p = make_pixels(&r, 32, 32, 3, 0.0, 0.9);
        write_png("rgb.jpg", &(png_spec){.w = 32, .h = 32, .color = PNG_COLOR_TYPE_RGB, .depth = 8, .rows = p});
        planar(add_image("rgb.jpg", 3, 32, 32), p, 3); /* a PNG named .jpg: content decides */
        free(p);
    }
    {
        uint8_t *p = make_pixels(&r, 32, 32, 4, 0.63, 0.5);
        write_png("rgba.png", &(png_spec){.w = 32, .h = 32, .color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 8, .rows = p});
        planar(add_image("rgba.png", 3, 32, 32), p, 4);
        free(p);
    }
    {
        png_color pal[64];
        uint8_t trns[64];
        for (int i = 0; i < 64; i++) {
            pal[i] = (png_color){(png_byte)(i * 4), (png_byte)(255 - i * 3), (png_byte)((i * 37) & 255)};
            trns[i] = (uint8_t)(i * 5);
        }
        uint8_t idx[32 * 32];
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) idx[y * 32 + x] = grating(&r, x, y, 0, 1.26, 0.9) / 4;
        write_png("pal.png", &(png_spec){.w = 32, .h = 32, .color = PNG_COLOR_TYPE_PALETTE, .depth = 8, .rows = idx,
                                         .palette = pal, .npalette = 64, .trns = trns, .ntrns = 64});
        image *im = add_image("pal.png", 3, 32, 32);
        for (int i = 0; i < 32 * 32; i++) {
            im->px[i] = pal[idx[i]].red;
            im->px[1024 + i] = pal[idx[i]].green;
            im->px[2048 + i] = pal[idx[i]].blue;
        }
    }
    {
        uint8_t *rows = malloc(32 * 32 * 6);
        image *im = add_image("rgb16.png", 3, 32, 32);
        for (int i = 0; i < 32 * 32; i++)
            for (int k = 0; k < 3; k++) {
                int v = (int)(th_next(&r) % 65536);
                if (k == 0) v = grating(&r, i % 32, i / 32, 0, 1.88, 0.5) * 257 + (int)(th_next(&r) % 257);
                rows[i * 6 + k * 2] = (uint8_t)(v >> 8);
                rows[i * 6 + k * 2 + 1] = (uint8_t)(v & 255);
                im->px[k * 1024 + i] = scale16(v);
            }
        write_png("rgb16.png", &(png_spec){.w = 32, .h = 32, .color = PNG_COLOR_TYPE_RGB, .depth = 16, .rows = rows});
        free(rows);
    }
    {
        uint8_t *p = make_pixels(&r, 32, 32, 3, 2.51, 0.9);
        write_png("adam7.png",
                  &(png_spec){.w = 32, .h = 32, .color = PNG_COLOR_TYPE_RGB, .depth = 8, .rows = p, .interlace = true});
        planar(add_image("adam7.png", 3, 32, 32), p, 3);
        free(p);
    }
    {
        uint8_t *p = make_pixels(&r, 32, 32, 3, 0.31, 0.9);
        write_jpeg("photo", 32, 32, 3, JCS_RGB, p, 90, false); /* no extension */
        free(p);
        int w, h, c;
        uint8_t *d = read_jpeg("photo", &w, &h, &c);
        planar(add_image("photo", 3, h, w), d, c);
        free(d);
    }
    {
        uint8_t *p = make_pixels(&r, 32, 32, 3, 1.88, 0.9);
        write_jpeg("prog.jpg", 32, 32, 3, JCS_RGB, p, 80, true);
        free(p);
        int w, h, c;
        uint8_t *d = read_jpeg("prog.jpg", &w, &h, &c);
        planar(add_image("prog.jpg", 3, h, w), d, c);
        free(d);
    }
    /* Gray at several sizes. */
    {
        uint8_t *p = make_pixels(&r, 20, 24, 1, 0.95, 0.9);
        write_png("g20x24.png", &(png_spec){.w = 20, .h = 24, .color = PNG_COLOR_TYPE_GRAY, .depth = 8, .rows = p});
        planar(add_image("g20x24.png", 1, 24, 20), p, 1);
        free(p);
    }
    {
        uint8_t *p = make_pixels(&r, 20, 24, 2, 2.2, 0.5), rows[20 * 24 * 4];
        image *im = add_image("ga16.png", 1, 24, 20);
        for (int i = 0; i < 20 * 24; i++) {
            int v = p[i * 2] * 257 + (int)(th_next(&r) % 257), a = (int)(th_next(&r) % 65536);
            rows[i * 4] = (uint8_t)(v >> 8);
            rows[i * 4 + 1] = (uint8_t)v;
            rows[i * 4 + 2] = (uint8_t)(a >> 8);
            rows[i * 4 + 3] = (uint8_t)a;
            im->px[i] = scale16(v);
        }
        write_png("ga16.png",
                  &(png_spec){.w = 20, .h = 24, .color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 16, .rows = rows});
        free(p);
    }
    {
        /* 2-bit gray, 13 wide: rows of 4 bytes, the last one partly padding. */
        uint8_t rows[9 * 4] = {0};
        image *im = add_image("g2bit.png", 1, 9, 13);
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 13; x++) {
                int v = grating(&r, x, y, 0, 0.0, 1.3) >> 6;
                rows[y * 4 + x / 4] |= (uint8_t)(v << (6 - 2 * (x % 4)));
                im->px[y * 13 + x] = (uint8_t)(v * 85);
            }
        write_png("g2bit.png", &(png_spec){.w = 13, .h = 9, .color = PNG_COLOR_TYPE_GRAY, .depth = 2, .rows = rows});
    }
    {
        uint8_t *p = make_pixels(&r, 17, 23, 1, 1.57, 0.9);
        write_jpeg("gray.jpeg", 17, 23, 1, JCS_GRAYSCALE, p, 85, false);
        free(p);
        int w, h, c;
        uint8_t *d = read_jpeg("gray.jpeg", &w, &h, &c);
        planar(add_image("gray.jpeg", 1, h, w), d, c);
        free(d);
    }
    /* RGB at other sizes (the grayscale model takes their luma). */
    {
        uint8_t *p = make_pixels(&r, 16, 16, 3, 0.63, 0.9);
        write_png("rgb16x16.png", &(png_spec){.w = 16, .h = 16, .color = PNG_COLOR_TYPE_RGB, .depth = 8, .rows = p});
        planar(add_image("rgb16x16.png", 3, 16, 16), p, 3);
        free(p);
    }
    {
        uint8_t *p = make_pixels(&r, 31, 17, 3, 1.26, 0.5);
        write_jpeg("rgb31x17.jpg", 31, 17, 3, JCS_RGB, p, 75, false);
        free(p);
        int w, h, c;
        uint8_t *d = read_jpeg("rgb31x17.jpg", &w, &h, &c);
        planar(add_image("rgb31x17.jpg", 3, h, w), d, c);
        free(d);
    }
    {
        uint8_t *p = make_pixels(&r, 31, 17, 4, 2.83, 0.9);
        write_png("rgba31x17.png",
                  &(png_spec){.w = 31, .h = 17, .color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 8, .rows = p});
        planar(add_image("rgba31x17.png", 3, 17, 31), p, 4);
        free(p);
    }
}

/* CHW pixels of `im` as a model with source channels src_c gets them. */
static void model_pixels(const image *im, int src_c, uint8_t *out) {
    size_t plane = (size_t)im->h * (size_t)im->w;
    if (im->c == src_c) {
        memcpy(out, im->px, plane * (size_t)src_c);
    } else if (src_c == 1) {
        for (size_t i = 0; i < plane; i++) out[i] = pil_luma(im->px[i], im->px[plane + i], im->px[2 * plane + i]);
    } else {
        for (int k = 0; k < 3; k++) memcpy(out + (size_t)k * plane, im->px, plane);
    }
}

/* ---- the decoder itself ---- */

static void test_decoder(void) {
    kd_err err;
    for (int i = 0; i < nimages; i++) {
        const image *e = &images[i];
        char path[1024];
        path_of(path, sizeof path, e->file);
        kd_image im;
        kd_status s = kd_image_load(path, &im, &err);
        CHECK(s == KD_OK, "%s decodes: %s", e->file, err.msg);
        if (s != KD_OK) continue;
        CHECK(im.c == e->c && im.h == e->h && im.w == e->w, "%s: %dx%dx%d, want %dx%dx%d", e->file, im.c, im.h, im.w,
              e->c, e->h, e->w);
        size_t n = (size_t)e->c * (size_t)e->h * (size_t)e->w, bad = 0;
        for (size_t j = 0; j < n && im.c == e->c && im.h == e->h && im.w == e->w; j++) bad += im.pixels[j] != e->px[j];
        CHECK(bad == 0, "%s: %zu of %zu pixels differ from the expected decode", e->file, bad, n);
        /* Both conversions, against PIL's rules. */
        for (int c = 1; c <= 3; c += 2) {
            uint8_t *want = malloc((size_t)c * (size_t)e->h * (size_t)e->w);
            model_pixels(e, c, want);
            kd_image cp = im;
            cp.pixels = malloc(n);
            memcpy(cp.pixels, im.pixels, n);
            MUST_E(&err, kd_image_convert(&cp, c, &err));
            CHECK(cp.c == c && !memcmp(cp.pixels, want, (size_t)c * (size_t)e->h * (size_t)e->w),
                  "%s converted to %d channels as PIL does", e->file, c);
            kd_image_free(&cp);
            free(want);
        }
        kd_image_free(&im);
    }
    /* Known PIL results: Image.new("RGB", (1, 1), colour).convert("L"). */
    CHECK(kd_image_luma(255, 0, 0) == 76 && kd_image_luma(0, 255, 0) == 150 && kd_image_luma(0, 0, 255) == 29 &&
              kd_image_luma(255, 255, 255) == 255 && kd_image_luma(0, 0, 0) == 0 && kd_image_luma(128, 128, 128) == 128,
          "luma of primaries as PIL: %d %d %d", kd_image_luma(255, 0, 0), kd_image_luma(0, 255, 0),
          kd_image_luma(0, 0, 255));
    int worst = 0;
    for (int v = 0; v < 65536; v++) worst += scale16(v) != (uint8_t)((v * 255 + 32895) >> 16);
    CHECK(worst == 0, "round(v/257) is libpng's (v*255 + 32895) >> 16 for every 16-bit value (%d differ)", worst);

    /* Every prefix and every single-byte corruption of a PNG and a JPEG:
     * a status, never a crash; prefixes that cut image data are errors. */
    const char *files[3] = {"adam7.png", "photo", "prog.jpg"};
    for (int f = 0; f < 3; f++) {
        char *data = slurp(files[f]);
        char path[1024];
        path_of(path, sizeof path, files[f]);
        size_t size = (size_t)kd_file_size(path);
        int cut_ok = 0, cuts = 0, flips_bad = 0;
        for (size_t n = 0; n + 16 < size; n++) {
            kd_image im;
            kd_status s = kd_image_decode(data, n, files[f], &im, &err);
            cuts++;
            if (s == KD_OK) cut_ok++;
            else if (s != KD_ERR_INPUT || !strstr(err.msg, files[f])) flips_bad++;
            kd_image_free(&im);
        }
        CHECK(cut_ok == 0, "%s: %d of %d truncated copies decoded without an error", files[f], cut_ok, cuts);
        for (size_t i = 0; i < size; i++) {
            data[i] ^= 0x5a;
            kd_image im;
            kd_status s = kd_image_decode(data, size, files[f], &im, &err);
            if (s != KD_OK && (s != KD_ERR_INPUT || !strstr(err.msg, files[f]))) flips_bad++;
            kd_image_free(&im);
            data[i] ^= 0x5a;
        }
        CHECK(flips_bad == 0, "%s: %d damaged copies failed with something else than KD_ERR_INPUT naming the file",
              files[f], flips_bad);
        free(data);
    }
    kd_image im;
    CHECK(kd_image_decode("GIF89a....", 10, "x.gif", &im, &err) == KD_ERR_INPUT && strstr(err.msg, "GIF"),
          "GIF named: %s", err.msg);
    CHECK(kd_image_decode("", 0, "empty", &im, &err) == KD_ERR_INPUT && strstr(err.msg, "empty"), "empty: %s", err.msg);
    CHECK(kd_image_load("/nonexistent/x.png", &im, &err) == KD_ERR_NOT_FOUND, "missing file: %s", err.msg);
}

/* ---- predictions through the binary ---- */

/* Images of one size and kind, stored as one data directory. */
typedef struct group {
    char name[32];
    bool cifar;
    int c, h, w, n;
    const image *members[MAX_IMAGES];
    float *logits; /* n x 10 from kdcl predict --data */
} group;

static void write_group(const group *g, int src_c) {
    char path[1024];
    path_of(path, sizeof path, g->name);
    mkdir(path, 0755);
    size_t sz = (size_t)g->c * (size_t)g->h * (size_t)g->w;
    uint8_t *px = malloc(sz);
    char name[sizeof g->name + 32];
    if (g->cifar) {
        uint8_t *rec = malloc((size_t)g->n * (1 + sz));
        for (int i = 0; i < g->n; i++) {
            rec[(size_t)i * (1 + sz)] = (uint8_t)(i % 10);
            model_pixels(g->members[i], src_c, rec + (size_t)i * (1 + sz) + 1);
        }
        snprintf(name, sizeof name, "%.31s/test_batch.bin", g->name);
        put_file(name, rec, (size_t)g->n * (1 + sz));
        free(rec);
    } else {
        size_t hdr = 16, bytes = hdr + (size_t)g->n * sz;
        uint8_t *f = calloc(bytes, 1), lab[8 + MAX_IMAGES];
        const uint8_t magic_i[4] = {0, 0, 8, 3}, magic_l[4] = {0, 0, 8, 1};
        memcpy(f, magic_i, 4);
        memcpy(lab, magic_l, 4);
        int dims[3] = {g->n, g->h, g->w};
        for (int d = 0; d < 3; d++)
            for (int b = 0; b < 4; b++) f[4 + d * 4 + b] = (uint8_t)(dims[d] >> (24 - 8 * b));
        for (int b = 0; b < 4; b++) lab[4 + b] = (uint8_t)(g->n >> (24 - 8 * b));
        for (int i = 0; i < g->n; i++) {
            model_pixels(g->members[i], 1, px);
            memcpy(f + hdr + (size_t)i * sz, px, sz);
            lab[8 + i] = (uint8_t)(i % 10);
        }
        snprintf(name, sizeof name, "%.31s/t10k-images-idx3-ubyte", g->name);
        put_file(name, f, bytes);
        snprintf(name, sizeof name, "%.31s/t10k-labels-idx1-ubyte", g->name);
        put_file(name, lab, 8 + (size_t)g->n);
        free(f);
    }
    free(px);
}

static float *read_tensor(const char *file, const char *tensor, int64_t *rows, kd_st_file *keep) {
    char path[1024];
    path_of(path, sizeof path, file);
    kd_st_file f;
    kd_err err;
    MUST_E(&err, kd_st_read(path, &f, &err));
    const kd_st_tensor *t = kd_st_find(&f, tensor);
    if (!t) th_fatal(__FILE__, __LINE__, "kd_st_find", tensor);
    float *x = malloc(kd_st_numel(t) * sizeof(float) + 1);
    MUST_E(&err, kd_st_to_f32(&f, t, x, &err));
    *rows = t->shape[0];
    if (keep) *keep = f;
    else kd_st_free(&f);
    return x;
}

static void softmax(const float *z, int k, double *p) {
    double mx = z[0], s = 0;
    for (int i = 1; i < k; i++) mx = z[i] > mx ? z[i] : mx;
    for (int i = 0; i < k; i++) s += p[i] = exp(z[i] - mx);
    for (int i = 0; i < k; i++) p[i] /= s;
}

static int argmax(const float *z, int k) {
    int b = 0;
    for (int i = 1; i < k; i++)
        if (z[i] > z[b]) b = i;
    return b;
}

/* The reference row (logits from kdcl predict --data) of an image file. */
static const float *reference(group *groups, int ngroups, const char *file) {
    for (int g = 0; g < ngroups; g++)
        for (int i = 0; i < groups[g].n; i++)
            if (!strcmp(groups[g].members[i]->file, file)) return groups[g].logits + (size_t)i * 10;
    return NULL;
}

/* Checks JSON lines from `out` against the references; returns the number of image objects seen. */
static int check_json(const char *out, group *groups, int ngroups, const kd_model_meta *meta, int top, double *worst_p,
                      int *errors_seen) {
    char *t = slurp(out);
    int seen = 0;
    *errors_seen = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *file = cJSON_GetObjectItem(o, "file"), *arr = cJSON_GetObjectItem(o, "top");
        CHECK(cJSON_IsString(file), "JSON line with a file: %s", line);
        if (!cJSON_IsString(file)) {
            cJSON_Delete(o);
            continue;
        }
        if (cJSON_IsString(cJSON_GetObjectItem(o, "error"))) {
            (*errors_seen)++;
            cJSON_Delete(o);
            continue;
        }
        seen++;
        const float *ref = reference(groups, ngroups, file->valuestring);
        CHECK(ref != NULL, "%s has a reference", file->valuestring);
        CHECK(cJSON_GetArraySize(arr) == top, "%s: %d entries, want %d", file->valuestring, cJSON_GetArraySize(arr),
              top);
        if (!ref) {
            cJSON_Delete(o);
            continue;
        }
        double p[10];
        softmax(ref, 10, p);
        int want = argmax(ref, 10);
        double prev = 2;
        for (int r = 0; r < cJSON_GetArraySize(arr); r++) {
            const cJSON *e = cJSON_GetArrayItem(arr, r);
            int k = cJSON_GetObjectItem(e, "class")->valueint;
            double pk = cJSON_GetObjectItem(e, "p")->valuedouble;
            const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"));
            if (r == 0) {
                double second = 0;
                for (int i = 0; i < 10; i++)
                    if (i != want && p[i] > second) second = p[i];
                CHECK(k == want, "%s: top-1 %d, eval on the decoded pixels says %d (p %.4f vs next %.4f)",
                      file->valuestring, k, want, p[want], second);
            }
            CHECK(k >= 0 && k < 10 && pk <= prev, "%s: rank %d class %d p %g not sorted", file->valuestring, r, k, pk);
            if (k >= 0 && k < 10) {
                double d = fabs(pk - p[k]);
                if (d > *worst_p) *worst_p = d;
                CHECK(nm && meta->class_names[k] && !strcmp(nm, meta->class_names[k]), "%s: name '%s' of class %d",
                      file->valuestring, nm ? nm : "(null)", k);
            }
            prev = pk;
        }
        cJSON_Delete(o);
    }
    free(t);
    return seen;
}

static void read_meta(const char *model, kd_model_meta *meta) {
    char path[1024];
    path_of(path, sizeof path, model);
    kd_st_file f;
    kd_err err;
    MUST_E(&err, kd_st_read(path, &f, &err));
    MUST_E(&err, kd_weights_meta(&f, meta, &err));
    kd_st_free(&f);
}

/* All images through one model: data directories for the references,
 * then predict --json on the files in a mixed order. */
static void test_model(const char *model, int src_c, const char *const *files, int nfiles) {
    group groups[8];
    int ngroups = 0;
    memset(groups, 0, sizeof groups);
    for (int i = 0; i < nfiles; i++) {
        const image *im = find_image(files[i]);
        if (!im) th_fatal(__FILE__, __LINE__, "find_image", files[i]);
        bool cifar = src_c == 3 && im->c == 3;
        if (cifar && (im->h != 32 || im->w != 32)) th_fatal(__FILE__, __LINE__, "cifar", "RGB needs 32x32");
        int g = 0;
        while (g < ngroups && !(groups[g].cifar == cifar && groups[g].h == im->h && groups[g].w == im->w)) g++;
        if (g == ngroups) {
            snprintf(groups[g].name, sizeof groups[g].name, "%.2s_data%d", model, g);
            groups[g].cifar = cifar;
            groups[g].c = cifar ? 3 : 1;
            groups[g].h = im->h;
            groups[g].w = im->w;
            ngroups++;
        }
        groups[g].members[groups[g].n++] = im;
    }
    char args[4096], out[sizeof groups[0].name + 16];
    for (int g = 0; g < ngroups; g++) {
        write_group(&groups[g], src_c);
        snprintf(out, sizeof out, "%.31s.safetensors", groups[g].name);
        snprintf(args, sizeof args, "predict --model %s --data %s:%s --split test --out %s --quiet", model,
                 groups[g].cifar ? "cifar10" : "fashion-mnist", groups[g].name, out);
        int rc = kdcl("ref.out", "ref.err", args);
        CHECK(rc == 0, "%s: exit %d", args, rc);
        if (rc) {
            show("ref.out");
            show("ref.err");
            th_fatal(__FILE__, __LINE__, "reference", args);
        }
        int64_t rows;
        groups[g].logits = read_tensor(out, "logits", &rows, NULL);
        CHECK(rows == groups[g].n, "%s: %lld rows for %d images", out, (long long)rows, groups[g].n);
    }
    kd_model_meta meta;
    read_meta(model, &meta);
    size_t o = (size_t)snprintf(args, sizeof args, "predict --model %s --json --top 3 --batch 3", model);
    for (int i = 0; i < nfiles; i++) o += (size_t)snprintf(args + o, sizeof args - o, " '%s'", files[i]);
    int rc = kdcl("p.out", "p.err", args);
    CHECK(rc == 0, "predict on %d files: exit %d", nfiles, rc);
    if (rc) show("p.err");
    double worst = 0;
    int nerr = 0, seen = check_json("p.out", groups, ngroups, &meta, 3, &worst, &nerr);
    CHECK(seen == nfiles && nerr == 0, "%s: %d results for %d files (%d errors)", model, seen, nfiles, nerr);
    CHECK(worst < 1e-4, "%s: probabilities within 1e-4 of softmax(eval logits): worst %.3g", model, worst);
    printf("%s: %d files in %d groups, top-1 as eval, worst |p - p_eval| %.3g\n", model, nfiles, ngroups, worst);

    /* Default top 5; --top above the class count is capped. */
    snprintf(args, sizeof args, "predict --model %s --json '%s' '%s'", model, files[0], files[nfiles - 1]);
    rc = kdcl("p5.out", "p5.err", args);
    worst = 0;
    seen = check_json("p5.out", groups, ngroups, &meta, 5, &worst, &nerr);
    CHECK(rc == 0 && seen == 2, "default --top 5 (exit %d, %d results)", rc, seen);
    snprintf(args, sizeof args, "predict --model %s --json --top 50 '%s'", model, files[1]);
    rc = kdcl("p50.out", "p50.err", args);
    seen = check_json("p50.out", groups, ngroups, &meta, 10, &worst, &nerr);
    CHECK(rc == 0 && seen == 1, "--top 50 capped at 10 classes (exit %d)", rc);
    CHECK(worst < 1e-4, "probabilities of every rank: worst %.3g", worst);

    /* The table. */
    snprintf(args, sizeof args, "predict --model %s '%s'", model, files[0]);
    rc = kdcl("t.out", "t.err", args);
    char *t = slurp("t.out");
    const float *ref = reference(groups, ngroups, files[0]);
    const char *want = meta.class_names[argmax(ref, 10)];
    CHECK(rc == 0 && strstr(t, files[0]) && strstr(t, "%") && strstr(t, want), "table names the file and '%s':\n%s",
          want, t);
    free(t);
    kd_model_meta_free(&meta);
    for (int g = 0; g < ngroups; g++) free(groups[g].logits);
}

/* Accuracy of a logits file == kdcl eval's. */
static void test_logits_vs_eval(void) {
    int rc = kdcl("e.out", "e.err", "eval --model m3.safetensors --data synthetic:400:3x16x16 --quiet");
    CHECK(rc == 0, "eval exit %d", rc);
    char *t = slurp("e.out");
    const char *p = strstr(t, "accuracy ");
    double eval_acc = p ? atof(p + 9) : -1;
    free(t);
    rc = kdcl("l.out", "l.err",
              "predict --model m3.safetensors --data synthetic:400:3x16x16 --out syn.safetensors --batch 7 --quiet");
    CHECK(rc == 0, "predict --data exit %d", rc);
    if (rc) show("l.err");
    int64_t n, nl;
    kd_st_file f;
    float *z = read_tensor("syn.safetensors", "logits", &n, &f);
    float *y = read_tensor("syn.safetensors", "labels", &nl, NULL);
    const kd_st_tensor *lt = kd_st_find(&f, "labels"), *zt = kd_st_find(&f, "logits");
    CHECK(lt && lt->dtype == KD_I32 && zt && zt->dtype == KD_F32 && zt->ndim == 2 && zt->shape[1] == 10,
          "logits F32 [N, 10], labels I32");
    CHECK(n == 80 && nl == 80, "the synthetic test split has 80 images: %lld logits, %lld labels", (long long)n,
          (long long)nl);
    const char *spec = kd_st_meta(&f, "kdcl.spec"), *data = kd_st_meta(&f, "kdcl.data"),
               *split = kd_st_meta(&f, "kdcl.split");
    CHECK(spec && strstr(spec, "conv8x3p1"), "model spec stored: %s", spec ? spec : "(none)");
    CHECK(data && !strcmp(data, "synthetic:400:3x16x16") && split && !strcmp(split, "test"),
          "metadata names the data and split");
    /* The labels are the data set's, in order. */
    kd_dataset ds;
    kd_data_spec sp;
    kd_err err;
    MUST_E(&err, kd_data_spec_parse("synthetic:400:3x16x16", &sp, &err));
    MUST_E(&err, kd_data_load(&sp, KD_SPLIT_TEST, 0, &ds, &err));
    int correct = 0, same = 0;
    for (int i = 0; i < n && i < ds.n; i++) {
        correct += argmax(z + i * 10, 10) == (int)y[i];
        same += (int)y[i] == ds.labels[i];
    }
    CHECK(same == n, "labels in data-set order: %d of %lld", same, (long long)n);
    double acc = 100.0 * correct / (double)n;
    CHECK(fabs(acc - eval_acc) < 0.006, "argmax accuracy of the logits %.2f%% == eval's %.2f%%", acc, eval_acc);
    printf("logits file: %lld images, argmax accuracy %.2f%%, eval %.2f%%\n", (long long)n, acc, eval_acc);
    kd_dataset_free(&ds);
    /* --limit: the first rows of the full run. */
    rc = kdcl("l2.out", "l2.err",
              "predict --model m3.safetensors --data synthetic:400:3x16x16 --limit 13 --out syn13.safetensors --quiet");
    int64_t n13;
    float *z13 = read_tensor("syn13.safetensors", "logits", &n13, NULL);
    double d = 0;
    for (int i = 0; i < 13 * 10 && n13 == 13; i++) d = fmax(d, fabs((double)z13[i] - z[i]));
    CHECK(rc == 0 && n13 == 13 && d < 1e-4, "--limit 13: %lld rows, max difference %.3g to the full run",
          (long long)n13, d);
    free(z13);
    free(z);
    free(y);
    kd_st_free(&f);
}

static void test_bad_inputs(void) {
    /* Damaged and unsupported files among good ones. */
    char *png = slurp("rgba.png"), *jpg = slurp("photo");
    char path[1024];
    path_of(path, sizeof path, "rgba.png");
    size_t npng = (size_t)kd_file_size(path);
    path_of(path, sizeof path, "photo");
    size_t njpg = (size_t)kd_file_size(path);
    put_file("trunc.png", png, npng * 6 / 10);
    png[npng / 2] ^= 0x10; /* inside IDAT: the CRC no longer matches */
    put_file("flip.png", png, npng);
    put_file("trunc.jpg", jpg, njpg / 2);
    put_file("text.png", "this is not an image\n", 21);
    put_file("empty.png", "", 0);
    put_file("anim.png", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 13);
    path_of(path, sizeof path, "adir");
    mkdir(path, 0755);
    uint8_t cmyk[16 * 16 * 4];
    for (int i = 0; i < 16 * 16 * 4; i++) cmyk[i] = (uint8_t)(i * 7);
    write_jpeg("cmyk.jpg", 16, 16, 4, JCS_CMYK, cmyk, 90, false);
    free(png);
    free(jpg);
    const char *bad[] = {"trunc.png", "text.png", "cmyk.jpg", "missing.png", "trunc.jpg",
                         "flip.png",  "empty.png", "adir",    "anim.png"};
    int nbad = (int)(sizeof bad / sizeof bad[0]);
    int rc = kdcl("b.out", "b.err",
                  "predict --model m3.safetensors --json --batch 2 trunc.png rgb.jpg text.png cmyk.jpg photo "
                  "missing.png trunc.jpg flip.png pal.png empty.png adir anim.png");
    CHECK(rc == 1, "some images failed: exit 1, got %d", rc);
    char *err = slurp("b.err"), *out = slurp("b.out");
    for (int i = 0; i < nbad; i++) CHECK(strstr(err, bad[i]) != NULL, "stderr names %s:\n%s", bad[i], err);
    CHECK(strstr(err, "CMYK") && strstr(err, "truncated") && strstr(err, "not a PNG or JPEG") && strstr(err, "GIF") &&
              strstr(err, "flip.png: corrupt PNG"),
          "messages say what is wrong:\n%s", err);
    /* One object per file, in order, good ones classified. */
    const char *order[] = {"trunc.png", "rgb.jpg",   "text.png", "cmyk.jpg", "photo", "missing.png",
                           "trunc.jpg", "flip.png",  "pal.png",  "empty.png", "adir", "anim.png"};
    int line_no = 0, good = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), line_no++) {
        cJSON *o = cJSON_Parse(line);
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(o, "file"));
        bool is_good = cJSON_IsArray(cJSON_GetObjectItem(o, "top"));
        CHECK(line_no < 12 && file && !strcmp(file, order[line_no]), "line %d is %s", line_no, file ? file : "?");
        bool want_good = line_no < 12 && (!strcmp(order[line_no], "rgb.jpg") || !strcmp(order[line_no], "photo") ||
                                          !strcmp(order[line_no], "pal.png"));
        CHECK(is_good == want_good, "%s: %s", file ? file : "?", line);
        good += is_good;
        cJSON_Delete(o);
    }
    CHECK(line_no == 12 && good == 3, "12 JSON objects, 3 classified: %d, %d", line_no, good);
    free(err);
    free(out);

    /* The same files give the same classes with the failures around them. */
    rc = kdcl("c.out", "c.err", "predict --model m3.safetensors --json --top 1 rgb.jpg photo pal.png");
    char *a = slurp("c.out");
    int rc2 = kdcl("d.out", "d.err",
                   "predict --model m3.safetensors --json --top 1 text.png rgb.jpg trunc.png photo pal.png");
    char *b = slurp("d.out");
    CHECK(rc == 0 && rc2 == 1, "exit 0 with good files only, 1 with two bad ones: %d, %d", rc, rc2);
    int ca[3], cb[3], na = 0, nb = 0;
    for (char *line = strtok(a, "\n"); line && na < 3; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *top = cJSON_GetObjectItem(o, "top");
        if (top) ca[na++] = cJSON_GetObjectItem(cJSON_GetArrayItem(top, 0), "class")->valueint;
        cJSON_Delete(o);
    }
    for (char *line = strtok(b, "\n"); line && nb < 3; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *top = cJSON_GetObjectItem(o, "top");
        if (top) cb[nb++] = cJSON_GetObjectItem(cJSON_GetArrayItem(top, 0), "class")->valueint;
        cJSON_Delete(o);
    }
    CHECK(na == 3 && nb == 3 && !memcmp(ca, cb, sizeof ca), "failures do not shift the others' slots");
    free(a);
    free(b);

    /* A model file without kdcl metadata. */
    kd_st_writer *w = kd_st_writer_new();
    float x[4] = {1, 2, 3, 4};
    int64_t shape[1] = {4};
    kd_err e;
    MUST_E(&e, kd_st_writer_add(w, "0.weight", KD_F32, 1, shape, x, &e));
    path_of(path, sizeof path, "bare.safetensors");
    MUST_E(&e, kd_st_writer_write(w, path, &e));
    kd_st_writer_free(w);
    rc = kdcl("m.out", "m.err", "predict --model bare.safetensors photo");
    err = slurp("m.err");
    CHECK(rc == 2 && strstr(err, "bare.safetensors") && strstr(err, "metadata"), "model without metadata: exit %d: %s",
          rc, err);
    free(err);
    /* A model whose weights hold a NaN: reported per image, not printed as probabilities. */
    kd_st_file mf;
    path_of(path, sizeof path, "m3.safetensors");
    MUST_E(&e, kd_st_read(path, &mf, &e));
    w = kd_st_writer_new();
    float *copy = NULL;
    for (int i = 0; i < mf.count; i++) {
        const kd_st_tensor *t = &mf.tensors[i];
        const void *d = mf.data + t->offset;
        if (!copy && t->dtype == KD_F32 && strstr(t->name, "weight")) {
            copy = malloc(t->nbytes);
            memcpy(copy, d, t->nbytes);
            copy[0] = NAN;
            d = copy;
        }
        MUST_E(&e, kd_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, d, &e));
    }
    for (int i = 0; i < mf.meta_count; i++) MUST_E(&e, kd_st_writer_meta(w, mf.meta_keys[i], mf.meta_values[i], &e));
    path_of(path, sizeof path, "nan.safetensors");
    MUST_E(&e, kd_st_writer_write(w, path, &e));
    kd_st_writer_free(w);
    free(copy);
    kd_st_free(&mf);
    rc = kdcl("n.out", "n.err", "predict --model nan.safetensors --json photo");
    err = slurp("n.err");
    out = slurp("n.out");
    CHECK(rc == 1 && strstr(err, "not finite") && strstr(out, "\"error\"") && !strstr(out, "\"top\""),
          "NaN logits: exit %d: %s %s", rc, err, out);
    free(err);
    free(out);
    rc = kdcl("m.out", "m.err", "predict --model nothere.safetensors photo");
    err = slurp("m.err");
    CHECK(rc == 2 && strstr(err, "nothere.safetensors"), "missing model: exit %d: %s", rc, err);
    free(err);

    /* Usage errors. */
    rc = kdcl("u.out", "u.err", "predict --model m3.safetensors");
    err = slurp("u.err");
    CHECK(rc == 2 && strstr(err, "no images"), "no images: exit %d: %s", rc, err);
    free(err);
    rc = kdcl("u.out", "u.err", "predict --model m3.safetensors --colour photo");
    CHECK(rc == 2, "unknown flag: exit %d", rc);
    rc = kdcl("u.out", "u.err", "predict --model m3.safetensors --data synthetic:400:3x16x16");
    CHECK(rc == 2, "--data without --out: exit %d", rc);
    rc = kdcl("u.out", "u.err", "predict --model m3.safetensors --data synthetic --out x.safetensors photo");
    CHECK(rc == 2, "--data and images: exit %d", rc);
    rc = kdcl("u.out", "u.err", "predict --model m3.safetensors --top 0 photo");
    CHECK(rc == 2, "--top 0: exit %d", rc);
    rc = kdcl("u.out", "u.err", "predict --help");
    char *h = slurp("u.out");
    CHECK(rc == 0 && strstr(h, "--top") && strstr(h, "--json") && strstr(h, "--data"), "--help documents the options");
    free(h);
}

int main(void) {
    bin = th_kdcl_bin();
    th_tempdir(dir, sizeof dir, "predict");

    /* Two tiny models: RGB and grayscale training data. */
    const char *train = "train --model conv8x3p1,bn,relu,maxpool2,conv16x3p1,bn,relu,gap --epochs 2 --lr 0.01 "
                        "--no-test --quiet --seed 5";
    char args[1024];
    snprintf(args, sizeof args, "%s --data synthetic:400:3x16x16 --out m3.safetensors", train);
    int rc = kdcl("train3.out", "train3.err", args);
    if (rc) show("train3.err");
    snprintf(args, sizeof args, "%s --data synthetic:400:1x16x16 --out m1.safetensors", train);
    rc |= kdcl("train1.out", "train1.err", args);
    if (rc) {
        show("train1.err");
        th_fatal(__FILE__, __LINE__, "train", "the models did not train");
    }

    make_images();
    test_decoder();
    const char *rgb_model[] = {"rgb.jpg",    "g20x24.png", "rgba.png", "pal.png",  "ga16.png",
                               "rgb16.png",  "g2bit.png",  "photo",    "adam7.png", "gray.jpeg", "prog.jpg"};
    test_model("m3.safetensors", 3, rgb_model, (int)(sizeof rgb_model / sizeof rgb_model[0]));
    const char *gray_model[] = {"rgb16x16.png", "rgb31x17.jpg", "g20x24.png", "pal.png", "rgba31x17.png",
                                "photo",        "gray.jpeg",    "rgb.jpg",    "ga16.png"};
    test_model("m1.safetensors", 1, gray_model, (int)(sizeof gray_model / sizeof gray_model[0]));
    test_logits_vs_eval();
    test_bad_inputs();
    for (int i = 0; i < nimages; i++) free(images[i].px);
    return th_done("test_predict");
}
