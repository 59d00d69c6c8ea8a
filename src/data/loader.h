/* The input pipeline: a batch is gathered on the host as uint8, uploaded
 * without blocking, and turned into float NCHW on the device (scale to
 * [0,1], optional per-channel mean/std, grayscale -> 3 channels, random
 * crop with padding and horizontal flip, bilinear resize). The next batch
 * is gathered and uploaded while the device computes the current one.
 *
 * Augmentation happens in source pixel space, once per batch, so a teacher
 * and a student fed at different sizes (kd_prep_run twice on the same
 * kd_batch) see the very same crop and flip. */
#ifndef KD_DATA_LOADER_H
#define KD_DATA_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/ctx.h"
#include "src/data/dataset.h"

typedef struct kd_aug_cfg {
    bool crop;     /* random crop after zero-padding by crop_pad pixels */
    int crop_pad;  /* 4 */
    bool flip;     /* random horizontal flip */
} kd_aug_cfg;

/* One uploaded batch, valid until the next kd_loader_next. */
typedef struct kd_batch {
    int n;                /* samples in this batch (the last may be short) */
    int total;            /* samples of the global batch this is a shard of (= n unless sharded) */
    cl_mem pixels;        /* uint8 [n][c][h][w] at the data set's size */
    cl_mem labels;        /* int32 [n] */
    cl_mem aug;           /* int32 [n][3]: crop dx, crop dy, flip (all 0 without augmentation) */
    const int *indices;   /* host: data set indices of the samples, in order */
    const uint8_t *host_labels;
    const uint8_t *host_flips; /* host: 1 where the sample is flipped (aug's third column) */
} kd_batch;

typedef struct kd_loader kd_loader;

/* Batches over `indices` (copied) of `ds`; shuffle reorders per epoch from
 * (seed, epoch). Everything is reproducible from seed, epoch and position. */
kd_status kd_loader_create(kd_ctx *ctx, const kd_dataset *ds, const int *indices, int count, int batch,
                           bool shuffle, const kd_aug_cfg *aug, uint64_t seed, kd_loader **out);
void kd_loader_free(kd_loader *l);
int kd_loader_batches(const kd_loader *l); /* per epoch, last partial batch included */
/* Data parallelism: every batch (of the size the loader was created with:
 * the global batch) is cut into `size` contiguous near-equal shards, and
 * this loader hands out shard `rank` only. Order and augmentation stay
 * those of the unsharded loader, so N ranks together see exactly what one
 * process would, each image once per epoch. */
void kd_loader_shard(kd_loader *l, int rank, int size);
/* Starts epoch `epoch` at batch `start` (for --resume mid-epoch). */
kd_status kd_loader_start(kd_loader *l, int epoch, int start);
/* Next batch of the epoch; *done is set when the epoch has no more. */
kd_status kd_loader_next(kd_loader *l, kd_batch *out, bool *done);

/* How a model wants its input. mean/std per output channel; std 0 = none. */
typedef struct kd_prep_desc {
    int out_c, out_h, out_w;
    float mean[3], std[3];
} kd_prep_desc;

/* out: float [b->n][out_c][out_h][out_w] from the batch's uint8 pixels of
 * size src_c x src_h x src_w: crop/flip from b->aug, channel expansion
 * (1 -> 3 replicates), bilinear resize as PyTorch interpolate(...,
 * mode='bilinear', align_corners=False, antialias=False), then (x/255 - mean)/std.
 * crop_pad is the padding the crop offsets were drawn for: the loader's
 * aug.crop ? aug.crop_pad : 0 (a crop at dx = dy = crop_pad is the identity).
 * b->aug may be NULL (no augmentation). src_c must be out_c or 1; out_c <= 3. */
kd_status kd_prep_run(kd_ctx *ctx, const kd_prep_desc *p, int src_c, int src_h, int src_w, const kd_batch *b,
                      int crop_pad, cl_mem out);

/* Bilinear resize of float NCHW (the layer form, PyTorch align_corners=False). */
kd_status kd_resize_bilinear(kd_ctx *ctx, int n, int c, int h, int w, int oh, int ow, cl_mem out, cl_mem in);

#endif
