/* Losses on logits (never probabilities), computed on the device with a
 * stable log-softmax (row max subtracted).
 *
 * Statistics stay on the device during training: each forward *adds* into
 * an accumulator buffer `acc` of KD_ACC_COUNT floats (NULL: skip), which the
 * host reads only when it prints, so a step transfers no scalars. */
#ifndef KD_LAYERS_LOSS_H
#define KD_LAYERS_LOSS_H

#include <stdbool.h>

#include "runtime/ctx.h"

enum {
    KD_ACC_LOSS,    /* sum over samples of the per-sample loss */
    KD_ACC_HARD,    /* sum of the hard part: CE(y, softmax(s)) (unweighted) */
    KD_ACC_SOFT,    /* sum of the soft part: T^2 * KL(softmax(t/T) || softmax(s/T)) (unweighted) */
    KD_ACC_CORRECT, /* samples whose argmax equals the label */
    KD_ACC_SEEN,    /* samples */
    KD_ACC_AGREE,   /* samples where argmax(s) == argmax(t) (distillation only) */
    KD_ACC_COUNT
};

/* Forwards run as one work-group over the batch and reduce in local memory:
 * no scratch buffer, no allocation, and sums that depend only on (n, device),
 * never on timing. A label outside [0, classes) makes that sample's loss and
 * gradient NaN (the device cannot report it otherwise). Backwards OVERWRITE
 * the gradient, which may alias the logits buffer (in-place). */

/* labels: int32 [n]. Cross-entropy from logits [n][classes]. */
kd_status kd_ce_forward(kd_ctx *ctx, int n, int classes, cl_mem acc, cl_mem logits, cl_mem labels);
/* dlogits = scale * (softmax(logits) - onehot(label)); scale = 1/n for the batch mean. */
kd_status kd_ce_backward(kd_ctx *ctx, int n, int classes, float scale, cl_mem dlogits, cl_mem logits,
                         cl_mem labels);

/* Distillation, one of two logit methods (--kd):
 *
 * classic KD (../shared/DESIGN.md section 2), per sample b:
 *   L_b = alpha * CE(y, softmax(s)) + (1-alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))
 *
 * Decoupled KD (Zhao et al., CVPR 2022), with q = softmax(s/T), r = softmax(t/T),
 * target g = y, and qhat, rhat the softmaxes over the classes other than g:
 *   L_b = CE(y, softmax(s)) + dkd_alpha * TCKD + dkd_beta * NCKD
 *   TCKD = T^2 KL([r_g, 1-r_g] || [q_g, 1-q_g]),  NCKD = T^2 KL(rhat || qhat)
 *
 * The batch loss is (1/n) sum_b L_b; the teacher gets no gradient. In the
 * accumulator HARD is CE and SOFT the rest of L_b without alpha: (classic)
 * T^2 KL, (DKD) dkd_alpha TCKD + dkd_beta NCKD with the weights passed. */
typedef enum kd_kd_method {
    KD_KD_CLASSIC = 0,
    KD_KD_DKD,
} kd_kd_method;

typedef struct kd_distill_cfg {
    float temperature;   /* T > 0 */
    float alpha;         /* classic: weight of the hard-label term, in [0, 1] */
    kd_kd_method method;
    float dkd_alpha;     /* DKD: weight of TCKD (>= 0) */
    float dkd_beta;      /* DKD: weight of NCKD (>= 0) */
} kd_distill_cfg;

/* KD_ERR_USAGE with a clear message unless T > 0 and the method's weights
 * are in range (classic: 0 <= alpha <= 1; DKD: dkd_alpha, dkd_beta >= 0). */
kd_status kd_distill_check(const kd_distill_cfg *cfg, kd_err *err);
/* DKD needs a non-target class: KD_ERR_USAGE for DKD with classes < 2. */
kd_status kd_distill_check_classes(const kd_distill_cfg *cfg, int classes, kd_err *err);
kd_status kd_distill_forward(kd_ctx *ctx, const kd_distill_cfg *cfg, int n, int classes, cl_mem acc,
                             cl_mem student_logits, cl_mem teacher_logits, cl_mem labels);
/* ds = scale * dL_b/ds (classic: alpha (p - y) + (1-alpha) T (p_s^T - p_t^T));
 * scale = 1/n. */
kd_status kd_distill_backward(kd_ctx *ctx, const kd_distill_cfg *cfg, int n, int classes, float scale,
                              cl_mem dstudent, cl_mem student_logits, cl_mem teacher_logits, cl_mem labels);

#endif
