/* safetensors: what the reader and the writer share (src/io/st_format.h). */
#include "src/io/st_format.h"

#include <stdio.h>
#include <string.h>

const kd_st_dtype_info kd_st_dtypes[] = {
    [KD_F32] = {"F32", 4}, [KD_F16] = {"F16", 2}, [KD_BF16] = {"BF16", 2},
    [KD_I32] = {"I32", 4}, [KD_I64] = {"I64", 8}, [KD_U8] = {"U8", 1},
};
_Static_assert(sizeof kd_st_dtypes / sizeof kd_st_dtypes[0] == KD_ST_NDTYPES, "one entry per kd_dtype");

bool kd_st_dtype_valid(kd_dtype d) { return (int)d >= 0 && (int)d < KD_ST_NDTYPES; }

bool kd_st_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0) return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

kd_st_shown kd_st_show(const char *name) {
    kd_st_shown r;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (o + 8 >= sizeof r.s) {
            memcpy(r.s + o, "...", 4);
            return r;
        }
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
            o += (size_t)snprintf(r.s + o, sizeof r.s - o, "\\x%02x", *p);
        else r.s[o++] = (char)*p;
    }
    r.s[o] = '\0';
    return r;
}

size_t kd_st_align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }
