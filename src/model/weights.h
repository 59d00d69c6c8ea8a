/* Model files: safetensors with PyTorch tensor names and layouts, and a
 * __metadata__ that carries everything needed to rebuild and feed the model
 * (spec, input shape, classes, class names, preprocessing), so
 * `kdcl eval --model M.safetensors` needs nothing else. */
#ifndef KD_MODEL_WEIGHTS_H
#define KD_MODEL_WEIGHTS_H

#include <stdbool.h>

#include "src/io/safetensors.h"
#include "src/model/model.h"

#define KD_MAX_CLASSES 1000

typedef struct kd_model_meta {
    char spec[256];
    int in_c, in_h, in_w, classes;
    char *class_names[KD_MAX_CLASSES]; /* owned; NULL when unknown */
    char dataset[64];                  /* the data set it was trained on */
    int src_c;                         /* channels of that data set's images (1 or 3) */
    float mean[3], std[3];             /* normalisation after /255; std 0 = none */
} kd_model_meta;

void kd_model_meta_free(kd_model_meta *meta);
kd_status kd_model_meta_set_names(kd_model_meta *meta, char *const *names, int n, kd_err *err);

/* Adds every parameter and buffer of m, and meta, to w (which may already
 * hold a checkpoint's extra tensors and metadata), then writes `path`
 * atomically. */
kd_status kd_weights_save(kd_model *m, const kd_model_meta *meta, kd_st_writer *w, const char *path);

/* Reads the metadata of an open file. A file without kdcl metadata is
 * KD_ERR_INPUT naming the file and what is missing. */
kd_status kd_weights_meta(const kd_st_file *f, kd_model_meta *meta, kd_err *err);

typedef struct kd_load_report {
    int loaded, skipped, missing; /* skipped: in the file, not the model; missing: the reverse */
    char first_skipped[128], first_missing[128];
} kd_load_report;

/* Copies every tensor of f whose name is a parameter of m. A shape
 * mismatch is KD_ERR_INPUT naming the tensor and both shapes. With
 * `require_all`, a parameter missing from the file is an error too. */
kd_status kd_weights_load(kd_model *m, const kd_st_file *f, bool require_all, kd_load_report *rep);

/* Opens a kdcl model file: builds the model from its metadata, attaches it
 * to ctx and loads every tensor. */
kd_status kd_model_open(const char *path, kd_ctx *ctx, kd_model **model, kd_model_meta *meta);

#endif
