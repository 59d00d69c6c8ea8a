#define _POSIX_C_SOURCE 200809L
#include "src/cli/model_list.h"

#include <stdio.h>
#include <string.h>

#include "src/model/model.h"

bool kd_parse_input(const char *s, int *c, int *h, int *w) {
    char tail;
    return sscanf(s, "%dx%dx%d%c", c, h, w, &tail) == 3 && *c >= 1 && *c <= 4 && *h >= 1 && *w >= 1 && *h <= 8192 &&
           *w <= 8192;
}

kd_status kd_model_ref_make(const char *spec, int c, int h, int w, int classes, kd_model_ref *out, kd_err *err) {
    if (strlen(spec) >= sizeof out->spec)
        return kd_fail(err, KD_ERR_USAGE, "model spec '%.40s...' is too long", spec);
    snprintf(out->spec, sizeof out->spec, "%s", spec);
    out->c = c, out->h = h, out->w = w;
    kd_model *probe = NULL;
    kd_status st = kd_model_build(spec, c, h, w, classes, &probe, err);
    kd_model_free(probe);
    return st;
}

kd_status kd_model_list_parse(const char *list, const char *flag, int classes, kd_model_ref *out, int cap, int *n,
                              kd_err *err) {
    char buf[4096];
    *n = 0;
    if (strlen(list) >= sizeof buf) return kd_fail(err, KD_ERR_USAGE, "%s is longer than %zu bytes", flag, sizeof buf);
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *item = strtok_r(buf, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *at = strrchr(item, '@');
        int c, h, w;
        if (!at || !kd_parse_input(at + 1, &c, &h, &w))
            return kd_fail(err, KD_ERR_USAGE, "%s: '%s' is not SPEC@CxHxW (e.g. seed-cnn@1x36x36)", flag, item);
        *at = '\0';
        if (*n == cap) return kd_fail(err, KD_ERR_USAGE, "%s: at most %d models", flag, cap);
        kd_model_ref r;
        if (kd_model_ref_make(item, c, h, w, classes, &r, err) != KD_OK) {
            kd_err_prefix(err, "%s: model %d: ", flag, *n + 1);
            return err->code;
        }
        out[(*n)++] = r;
    }
    return KD_OK;
}
