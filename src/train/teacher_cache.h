/* Teacher logits kept per training image for distillation without
 * augmentation or with flips only (`kdcl distill --cache-teacher`): the
 * teacher sees every image, or each of its two views, unchanged every
 * epoch, so its logits are computed once and gathered from the device
 * after that.
 *
 * The rows live on the device, indexed by data-set index (times two plus
 * the flip, with flips). A batch's row indices go up in a two-slot ring of
 * non-blocking uploads, so the host never rewrites memory the queue may
 * still read. */
#ifndef KD_TRAIN_TEACHER_CACHE_H
#define KD_TRAIN_TEACHER_CACHE_H

#include <stdbool.h>

#include "runtime/ctx.h"
#include "src/data/loader.h"

typedef struct kd_teacher_cache {
    kd_ctx *ctx;
    int classes, batch, views;
    cl_mem rows;      /* float [images * views][classes] */
    bool *have;       /* [images * views]: row computed */
    cl_mem idx[2];    /* int32 [batch] */
    int *idx_host[2];
    cl_event idx_ev[2];
    int slot;
} kd_teacher_cache;

/* Room for `images` rows of `classes` logits, or two per image when
 * `flips` (one per view), batches of up to `batch`. */
kd_status kd_teacher_cache_open(kd_ctx *ctx, int images, bool flips, int classes, int batch, kd_teacher_cache *c);
void kd_teacher_cache_close(kd_teacher_cache *c);

/* Whether every sample of b has its row. */
bool kd_teacher_cache_has(const kd_teacher_cache *c, const kd_batch *b);
/* b's rows into logits [b->n][classes] (kd_teacher_cache_has first). */
kd_status kd_teacher_cache_get(kd_teacher_cache *c, const kd_batch *b, cl_mem logits);
/* Keeps logits [b->n][classes], the teacher's output on b, as b's rows;
 * with `other_view`, the output on b with every flip toggled (the other
 * view of each image) as those views' rows. */
kd_status kd_teacher_cache_put(kd_teacher_cache *c, const kd_batch *b, bool other_view, cl_mem logits);

#endif
