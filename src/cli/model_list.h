/* "SPEC@CxHxW;SPEC@CxHxW": models with their input shapes, as `kdcl bench
 * --models` and `kdcl tune --check` take them (';' between them, since
 * layer strings contain commas). */
#ifndef KD_CLI_MODEL_LIST_H
#define KD_CLI_MODEL_LIST_H

#include <stdbool.h>

#include "runtime/ctx.h"

#define KD_MODEL_LIST_MAX 8

typedef struct kd_model_ref {
    char spec[512];
    int c, h, w;
} kd_model_ref;

/* "CxHxW" with 1-4 channels and sides up to 8192. */
bool kd_parse_input(const char *s, int *c, int *h, int *w);
/* One model at an input shape, built once for `classes` so that a bad spec
 * or size is refused before any device work. */
kd_status kd_model_ref_make(const char *spec, int c, int h, int w, int classes, kd_model_ref *out, kd_err *err);
/* Parses `list` into out[0..*n) (at most cap), building each model once for
 * `classes` so that a bad spec or size is refused before any device work;
 * `flag` names the option in errors. */
kd_status kd_model_list_parse(const char *list, const char *flag, int classes, kd_model_ref *out, int cap, int *n,
                              kd_err *err);

#endif
