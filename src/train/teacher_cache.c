#include "src/train/teacher_cache.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/kernel.h"

kd_status kd_teacher_cache_open(kd_ctx *ctx, int images, bool flips, int classes, int batch, kd_teacher_cache *c) {
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->classes = classes;
    c->batch = batch;
    c->views = flips ? 2 : 1;
    size_t rows = (size_t)images * (size_t)c->views;
    KD_TRY(kd_buffer_alloc(ctx, rows * (size_t)classes * sizeof(float), "teacher-logit cache", &c->rows));
    for (int i = 0; i < 2; i++) {
        KD_TRY(kd_buffer_alloc(ctx, (size_t)batch * sizeof(int), "teacher-cache indices", &c->idx[i]));
        c->idx_host[i] = malloc((size_t)batch * sizeof(int));
        if (!c->idx_host[i]) return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory");
    }
    c->have = calloc(rows, sizeof(bool));
    if (!c->have) return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory");
    return KD_OK;
}

void kd_teacher_cache_close(kd_teacher_cache *c) {
    if (!c->ctx) return;
    kd_wait(c->ctx, 2, c->idx_ev); /* best effort: the run's status is already decided */
    for (int i = 0; i < 2; i++) {
        kd_buffer_free(c->ctx, c->idx[i]);
        free(c->idx_host[i]);
    }
    kd_buffer_free(c->ctx, c->rows);
    free(c->have);
    memset(c, 0, sizeof *c);
}

/* Row of sample i of b: its image, and with flips the view (toggled for the other one). */
static int row_of(const kd_teacher_cache *c, const kd_batch *b, int i, bool other_view) {
    if (c->views == 1) return b->indices[i];
    return 2 * b->indices[i] + ((b->host_flips[i] != 0) ^ other_view);
}

bool kd_teacher_cache_has(const kd_teacher_cache *c, const kd_batch *b) {
    for (int i = 0; i < b->n; i++)
        if (!c->have[row_of(c, b, i, false)]) return false;
    return true;
}

/* b's rows into the next slot of the ring, once the upload that last read
 * that slot's host memory has completed. */
static kd_status upload_indices(kd_teacher_cache *c, const kd_batch *b, bool other_view, cl_mem *idx) {
    int slot = c->slot;
    c->slot ^= 1;
    KD_TRY(kd_wait(c->ctx, 1, &c->idx_ev[slot]));
    for (int i = 0; i < b->n; i++) c->idx_host[slot][i] = row_of(c, b, i, other_view);
    KD_TRY(kd_write_async(c->ctx, c->idx[slot], 0, (size_t)b->n * sizeof(int), c->idx_host[slot], &c->idx_ev[slot]));
    *idx = c->idx[slot];
    return KD_OK;
}

kd_status kd_teacher_cache_get(kd_teacher_cache *c, const kd_batch *b, cl_mem logits) {
    KD_ASSERT(b->n <= c->batch);
    cl_mem idx;
    KD_TRY(upload_indices(c, b, false, &idx));
    int n = b->n, k = c->classes;
    return kd_run1d(c->ctx, "util", "rows_gather", (size_t)n * (size_t)k,
                    KD_ARGS(KD_ARG(logits), KD_ARG(c->rows), KD_ARG(idx), KD_ARG(n), KD_ARG(k)));
}

kd_status kd_teacher_cache_put(kd_teacher_cache *c, const kd_batch *b, bool other_view, cl_mem logits) {
    KD_ASSERT(b->n <= c->batch && (!other_view || c->views == 2));
    cl_mem idx;
    KD_TRY(upload_indices(c, b, other_view, &idx));
    int n = b->n, k = c->classes;
    for (int i = 0; i < n; i++) c->have[row_of(c, b, i, other_view)] = true;
    return kd_run1d(c->ctx, "util", "rows_scatter", (size_t)n * (size_t)k,
                    KD_ARGS(KD_ARG(c->rows), KD_ARG(logits), KD_ARG(idx), KD_ARG(n), KD_ARG(k)));
}
