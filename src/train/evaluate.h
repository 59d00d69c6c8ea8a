/* Inference over a set of images: loss and accuracy (on the device, from
 * the loss kernels' accumulator), confusion matrix, images/s, optional
 * teacher agreement and logits. */
#ifndef KD_TRAIN_EVALUATE_H
#define KD_TRAIN_EVALUATE_H

#include <stdbool.h>

#include "src/data/loader.h"
#include "src/dist/dist.h"
#include "src/model/model.h"

typedef struct kd_eval_result {
    long n;
    double loss, acc;         /* mean cross-entropy, top-1 accuracy */
    int classes;
    long *confusion;          /* classes x classes: row = true class, column = predicted */
    double seconds, images_per_s;
    double agree;             /* share of images where teacher and model top-1 agree (teacher given) */
    float *logits;            /* n x classes when keep_logits, in input order */
    int *labels;              /* n when keep_logits */
} kd_eval_result;

typedef struct kd_eval_cfg {
    int batch;
    bool keep_logits;
    bool quiet;
    const char *label;        /* progress label ("val", "test") */
    kd_model *teacher;        /* optional: agreement with this model */
    const kd_prep_desc *teacher_prep;
    const kd_dist *dist;      /* distributed: each rank evaluates its shard, every rank gets the whole's figures */
} kd_eval_cfg;

/* Evaluates m (planned for at least cfg->batch) on ds[idx[0..count)). */
kd_status kd_evaluate(kd_model *m, const kd_prep_desc *prep, const kd_dataset *ds, const int *idx, int count,
                      const kd_eval_cfg *cfg, kd_eval_result *out);
void kd_eval_result_free(kd_eval_result *r);
/* Per-class accuracy and the confusion matrix with class names. */
void kd_eval_print(const kd_eval_result *r, char *const *class_names, FILE *out);

#endif
