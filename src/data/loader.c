/* Batches to the device, double-buffered.
 *
 * Two slots, each a host staging area (pixels | labels int32 | aug int32)
 * and three device buffers. kd_loader_next hands out batch p from one slot
 * and, before returning, gathers batch p+1 into the other slot and enqueues
 * its upload with non-blocking writes. The host work therefore overlaps
 * whatever the device still runs from earlier calls: a training loop that
 * enqueues step p, calls kd_loader_next, and only then blocks on step p's
 * loss, gathers batch p+2 while the device computes step p.
 *
 * A slot's staging memory is rewritten only after the writes that read it
 * have completed (their events), since a non-blocking write may copy from
 * host memory at any time until then. The queue is in order, so a new
 * upload into a slot's device buffers runs after the kernels already
 * queued on the batch that slot held before.
 *
 * The staging area is a kd_staging (runtime/buffer.h): page-locked memory
 * on discrete GPUs, which DMA engines copy from asynchronously; elsewhere
 * ordinary memory.
 *
 * Order and augmentation are pure functions of (seed, epoch, position in
 * the epoch), so resuming at (epoch, start) reproduces the batches of an
 * uninterrupted run exactly. */
#include "src/data/loader.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/data/data_private.h"

typedef struct kd_slot {
    kd_staging staging;
    uint8_t *host; /* staging.host: pixels [batch][sample] | labels int32 [batch] | aug int32 [batch][3] */
    cl_mem pixels, labels, aug;
    cl_event ev[3]; /* the writes that read `host` */
    int nev;
    int *idx; /* data set indices of the samples held */
    uint8_t *hlabels;
    uint8_t *hflip; /* the flips drawn, for the teacher cache (src/train/teacher_cache.h) */
    int epoch, batch_no; /* which batch the slot holds; batch_no -1: none */
    int n, total;
} kd_slot;

struct kd_loader {
    kd_ctx *ctx;
    const kd_dataset *ds;
    int *indices, count, batch;
    bool shuffle;
    kd_aug_cfg aug;
    uint64_t seed;
    size_t sample_bytes, lab_off, aug_off, staging_bytes;
    int *order; /* this epoch's sample order */
    int epoch, pos, nbatches;
    int shard_rank, shard_size; /* kd_loader_shard; 0, 1: the whole batch */
    kd_slot slot[2];
};

int kd_loader_batches(const kd_loader *l) { return l->nbatches; }

void kd_loader_shard(kd_loader *l, int rank, int size) {
    l->shard_rank = rank;
    l->shard_size = size > 0 ? size : 1;
    for (int i = 0; i < 2; i++) l->slot[i].batch_no = -1; /* gathered unsharded: gather again */
}

static kd_status slot_wait(kd_loader *l, kd_slot *s) {
    int n = s->nev;
    s->nev = 0;
    return kd_wait(l->ctx, n, s->ev);
}

static void slot_free(kd_loader *l, kd_slot *s) {
    slot_wait(l, s);
    kd_staging_free(l->ctx, &s->staging);
    kd_buffer_free(l->ctx, s->pixels);
    kd_buffer_free(l->ctx, s->labels);
    kd_buffer_free(l->ctx, s->aug);
    free(s->idx);
    free(s->hlabels);
    free(s->hflip);
    memset(s, 0, sizeof *s);
}

static kd_status slot_init(kd_loader *l, kd_slot *s) {
    kd_ctx *ctx = l->ctx;
    s->batch_no = -1;
    KD_TRY(kd_staging_alloc(ctx, l->staging_bytes, "the batch staging area", &s->staging));
    s->host = s->staging.host;
    s->idx = malloc((size_t)l->batch * sizeof *s->idx);
    s->hlabels = malloc((size_t)l->batch);
    s->hflip = malloc((size_t)l->batch);
    if (!s->idx || !s->hlabels || !s->hflip)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of host memory for batches of %d images", l->batch);
    KD_TRY(kd_buffer_alloc(ctx, (size_t)l->batch * l->sample_bytes, "input batch pixels", &s->pixels));
    KD_TRY(kd_buffer_alloc(ctx, (size_t)l->batch * sizeof(int32_t), "input batch labels", &s->labels));
    KD_TRY(kd_buffer_alloc(ctx, (size_t)l->batch * 3 * sizeof(int32_t), "input batch augmentation", &s->aug));
    return KD_OK;
}

static void make_order(kd_loader *l) {
    memcpy(l->order, l->indices, (size_t)l->count * sizeof *l->order);
    if (!l->shuffle) return;
    kd_rng64 r = {kd_hash3(KD_HASH_SHUFFLE, l->seed, (uint64_t)l->epoch, (uint64_t)l->count)};
    for (int i = l->count - 1; i > 0; i--) {
        int j = (int)kd_rng64_below(&r, (uint32_t)i + 1);
        int t = l->order[i];
        l->order[i] = l->order[j];
        l->order[j] = t;
    }
}

/* Gathers batch `b` of the current epoch into slot `s` and starts its upload. */
static kd_status slot_fill(kd_loader *l, kd_slot *s, int b) {
    kd_ctx *ctx = l->ctx;
    KD_TRY(slot_wait(l, s));
    int first = b * l->batch, total = l->count - first < l->batch ? l->count - first : l->batch;
    /* This rank's shard of the batch, as kd_dist_shard cuts it. */
    int base = total / l->shard_size, extra = total % l->shard_size, r = l->shard_rank;
    int lo = r * base + (r < extra ? r : extra), n = base + (r < extra ? 1 : 0);
    first += lo;
    int32_t *lab = (int32_t *)(s->host + l->lab_off), *aug = (int32_t *)(s->host + l->aug_off);
    uint32_t span = 2 * (uint32_t)l->aug.crop_pad + 1;
    for (int i = 0; i < n; i++) {
        int idx = l->order[first + i];
        memcpy(s->host + (size_t)i * l->sample_bytes, l->ds->images + (size_t)idx * l->sample_bytes, l->sample_bytes);
        lab[i] = l->ds->labels[idx];
        s->idx[i] = idx;
        s->hlabels[i] = l->ds->labels[idx];
        /* Keyed by position in the epoch, not by sample: a resumed run draws the same. */
        uint64_t h = kd_hash3(KD_HASH_AUGMENT, l->seed, (uint64_t)l->epoch, (uint64_t)(first + i));
        aug[3 * i + 0] = l->aug.crop ? (int32_t)(((h & 0xffffffffu) * span) >> 32) : 0;
        aug[3 * i + 1] = l->aug.crop ? (int32_t)((((h >> 32) & 0x7fffffffu) * span) >> 31) : 0;
        aug[3 * i + 2] = l->aug.flip ? (int32_t)(h >> 63) : 0;
        s->hflip[i] = (uint8_t)aug[3 * i + 2];
    }
    s->n = n;
    s->total = total;
    s->epoch = l->epoch;
    s->batch_no = b;
    size_t bytes[3] = {(size_t)n * l->sample_bytes, (size_t)n * sizeof(int32_t), (size_t)n * 3 * sizeof(int32_t)};
    size_t offs[3] = {0, l->lab_off, l->aug_off};
    cl_mem dst[3] = {s->pixels, s->labels, s->aug};
    for (int i = 0; i < 3; i++) {
        KD_TRY(kd_write_async(ctx, dst[i], 0, bytes[i], s->host + offs[i], &s->ev[i]));
        s->nev = i + 1;
    }
    /* Start the copies now rather than at the caller's next blocking call. */
    return kd_flush(ctx);
}

kd_status kd_loader_create(kd_ctx *ctx, const kd_dataset *ds, const int *indices, int count, int batch, bool shuffle,
                           const kd_aug_cfg *aug, uint64_t seed, kd_loader **out) {
    *out = NULL;
    if (count < 1 || batch < 1)
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE,
                       "a data loader needs at least one image (got %d) and a batch size of "
                       "at least 1 (got %d)",
                       count, batch);
    if (aug && aug->crop && (aug->crop_pad < 0 || aug->crop_pad > 1024))
        return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE, "crop padding %d is outside 0..1024", aug->crop_pad);
    for (int i = 0; i < count; i++)
        if (indices[i] < 0 || indices[i] >= ds->n)
            return kd_fail(kd_ctx_err(ctx), KD_ERR_USAGE,
                           "data loader: index %d (position %d) is outside the %d images of %s", indices[i], i, ds->n,
                           ds->name);
    kd_loader *l = calloc(1, sizeof *l);
    if (!l) return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of memory for a data loader");
    l->ctx = ctx;
    l->ds = ds;
    l->count = count;
    l->batch = batch < count ? batch : count;
    l->shuffle = shuffle;
    l->shard_size = 1;
    if (aug) l->aug = *aug;
    if (!l->aug.crop) l->aug.crop_pad = 0;
    l->seed = seed;
    l->nbatches = (count + l->batch - 1) / l->batch;
    l->sample_bytes = (size_t)ds->c * ds->h * ds->w;
    l->lab_off = kd_align_up((size_t)l->batch * l->sample_bytes, 64);
    l->aug_off = kd_align_up(l->lab_off + (size_t)l->batch * sizeof(int32_t), 64);
    l->staging_bytes = l->aug_off + (size_t)l->batch * 3 * sizeof(int32_t);
    l->indices = malloc((size_t)count * sizeof *l->indices);
    l->order = malloc((size_t)count * sizeof *l->order);
    if (!l->indices || !l->order) {
        kd_loader_free(l);
        return kd_fail(kd_ctx_err(ctx), KD_ERR_NOMEM, "out of memory for a data loader over %d images", count);
    }
    memcpy(l->indices, indices, (size_t)count * sizeof *indices);
    for (int i = 0; i < 2; i++) {
        kd_status s = slot_init(l, &l->slot[i]);
        if (s != KD_OK) {
            kd_loader_free(l);
            return s;
        }
    }
    make_order(l);
    *out = l;
    return KD_OK;
}

void kd_loader_free(kd_loader *l) {
    if (!l) return;
    for (int i = 0; i < 2; i++) slot_free(l, &l->slot[i]);
    free(l->indices);
    free(l->order);
    free(l);
}

kd_status kd_loader_start(kd_loader *l, int epoch, int start) {
    if (epoch < 0 || start < 0 || start > l->nbatches)
        return kd_fail(kd_ctx_err(l->ctx), KD_ERR_USAGE, "cannot start epoch %d at batch %d: an epoch has %d batches",
                       epoch, start, l->nbatches);
    l->epoch = epoch;
    l->pos = start;
    for (int i = 0; i < 2; i++) l->slot[i].batch_no = -1;
    make_order(l);
    return KD_OK;
}

kd_status kd_loader_next(kd_loader *l, kd_batch *out, bool *done) {
    memset(out, 0, sizeof *out);
    *done = l->pos >= l->nbatches;
    if (*done) return KD_OK;
    int cur = -1;
    for (int i = 0; i < 2; i++)
        if (l->slot[i].batch_no == l->pos && l->slot[i].epoch == l->epoch) cur = i;
    if (cur < 0) {
        cur = 0;
        KD_TRY(slot_fill(l, &l->slot[cur], l->pos));
    }
    kd_slot *s = &l->slot[cur];
    out->n = s->n;
    out->total = s->total;
    out->pixels = s->pixels;
    out->labels = s->labels;
    out->aug = s->aug;
    out->indices = s->idx;
    out->host_labels = s->hlabels;
    out->host_flips = s->hflip;
    /* The other slot held the previous batch, which the caller just gave up. */
    if (l->pos + 1 < l->nbatches) KD_TRY(slot_fill(l, &l->slot[cur ^ 1], l->pos + 1));
    l->pos++;
    return KD_OK;
}
