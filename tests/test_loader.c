/* The double-buffered loader: what reaches the device is the data set's
 * pixels and labels for the indices reported; every index once per epoch;
 * shuffles differ across epochs and seeds and repeat for the same seed;
 * resuming at (epoch, start) reproduces the uninterrupted run (order and
 * augmentation); the last batch is partial; augmentation parameters are in
 * range; and kernels queued on a batch still see it after the loader has
 * moved on (slot reuse is ordered behind them). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/data/loader.h"
#include "tests/harness.h"

enum { NDS = 150, C = 1, H = 6, W = 5, SAMPLE = C * H * W, COUNT = 103, BATCH = 10, NB = 11 };

typedef struct epoch_rec {
    int idx[COUNT], aug[COUNT][3], nbatches, sizes[NB + 1];
} epoch_rec;

static kd_dataset make_ds(void) {
    kd_dataset d = {.n = NDS, .c = C, .h = H, .w = W, .classes = 10};
    strcpy(d.name, "test");
    d.images = malloc((size_t)NDS * SAMPLE);
    d.labels = malloc(NDS);
    for (int i = 0; i < NDS; i++) {
        for (int j = 0; j < SAMPLE; j++) d.images[i * SAMPLE + j] = (uint8_t)(i + 17 * j);
        d.labels[i] = (uint8_t)((i * 7) % 10);
    }
    return d;
}

/* Runs the rest of epoch `epoch` from batch `start`, checking every batch's
 * device contents against the data set; records order and augmentation. */
static void run_epoch(kd_ctx *ctx, kd_loader *l, const kd_dataset *ds, int epoch, int start, epoch_rec *rec, int pad) {
    memset(rec, 0xff, sizeof *rec);
    rec->nbatches = 0;
    MUST(ctx, kd_loader_start(l, epoch, start));
    int pos = start * BATCH, content_ok = 1, host_ok = 1, aug_ok = 1;
    for (;;) {
        kd_batch b;
        bool done = false;
        MUST(ctx, kd_loader_next(l, &b, &done));
        if (done) {
            CHECK(b.n == 0, "done with n = %d", b.n);
            break;
        }
        rec->sizes[rec->nbatches++] = b.n;
        uint8_t px[BATCH * SAMPLE];
        int32_t lab[BATCH], aug[BATCH * 3];
        MUST(ctx, kd_read(ctx, b.pixels, 0, (size_t)b.n * SAMPLE, px));
        MUST(ctx, kd_read(ctx, b.labels, 0, (size_t)b.n * sizeof(int32_t), lab));
        MUST(ctx, kd_read(ctx, b.aug, 0, (size_t)b.n * 3 * sizeof(int32_t), aug));
        for (int i = 0; i < b.n && pos < COUNT; i++, pos++) {
            int idx = b.indices[i];
            rec->idx[pos] = idx;
            memcpy(rec->aug[pos], aug + 3 * i, sizeof rec->aug[pos]);
            content_ok &= idx >= 0 && idx < NDS && memcmp(px + i * SAMPLE, ds->images + idx * SAMPLE, SAMPLE) == 0 &&
                          lab[i] == ds->labels[idx];
            host_ok &= b.host_labels[i] == ds->labels[idx];
            aug_ok &= aug[3 * i] >= 0 && aug[3 * i] <= 2 * pad && aug[3 * i + 1] >= 0 && aug[3 * i + 1] <= 2 * pad &&
                      (aug[3 * i + 2] == 0 || aug[3 * i + 2] == 1);
        }
    }
    CHECK(content_ok, "epoch %d: pixels or labels on the device do not match the reported indices", epoch);
    CHECK(host_ok, "epoch %d: host labels do not match", epoch);
    CHECK(aug_ok, "epoch %d: augmentation parameters out of range (pad %d)", epoch, pad);
}

static bool same_from(const epoch_rec *a, const epoch_rec *b, int from) {
    return memcmp(a->idx + from, b->idx + from, (size_t)(COUNT - from) * sizeof(int)) == 0 &&
           memcmp(a->aug + from, b->aug + from, (size_t)(COUNT - from) * sizeof a->aug[0]) == 0;
}

static void check_cover(const epoch_rec *r, const int *indices, const char *what) {
    int seen[NDS] = {0}, ok = 1;
    for (int i = 0; i < COUNT; i++) {
        if (r->idx[i] < 0 || r->idx[i] >= NDS) {
            ok = 0;
            continue;
        }
        seen[r->idx[i]]++;
    }
    for (int i = 0; i < COUNT; i++) ok &= seen[indices[i]] == 1;
    CHECK(ok, "%s: an index is missing or repeated", what);
    int sizes_ok = r->nbatches == NB;
    for (int b = 0; b < r->nbatches; b++) sizes_ok &= r->sizes[b] == (b < NB - 1 ? BATCH : COUNT - (NB - 1) * BATCH);
    CHECK(sizes_ok, "%s: %d batches, sizes wrong (want %d of %d, the last %d)", what, r->nbatches, NB, BATCH,
          COUNT - (NB - 1) * BATCH);
}

int main(void) {
    kd_ctx *ctx = th_ctx();
    kd_dataset ds = make_ds();
    int indices[COUNT];
    for (int k = 0; k < COUNT; k++) indices[k] = (k * 37) % NDS; /* distinct: gcd(37, 150) = 1 */
    kd_aug_cfg aug = {.crop = true, .crop_pad = 4, .flip = true};
    kd_loader *l1, *l2, *l3, *lother, *lplain;
    MUST(ctx, kd_loader_create(ctx, &ds, indices, COUNT, BATCH, true, &aug, 42, &l1));
    MUST(ctx, kd_loader_create(ctx, &ds, indices, COUNT, BATCH, true, &aug, 42, &l2));
    MUST(ctx, kd_loader_create(ctx, &ds, indices, COUNT, BATCH, true, &aug, 42, &l3));
    MUST(ctx, kd_loader_create(ctx, &ds, indices, COUNT, BATCH, true, &aug, 43, &lother));
    MUST(ctx, kd_loader_create(ctx, &ds, indices, COUNT, BATCH, false, NULL, 42, &lplain));
    CHECK(kd_loader_batches(l1) == NB, "batches per epoch %d, want %d", kd_loader_batches(l1), NB);

    static epoch_rec e0, e1, e2, again1, other1, resumed, resumed2, plain;
    run_epoch(ctx, l1, &ds, 0, 0, &e0, 4);
    run_epoch(ctx, l1, &ds, 1, 0, &e1, 4);
    run_epoch(ctx, l1, &ds, 2, 0, &e2, 4);
    check_cover(&e0, indices, "epoch 0");
    check_cover(&e1, indices, "epoch 1");
    check_cover(&e2, indices, "epoch 2");
    CHECK(memcmp(e0.idx, e1.idx, sizeof e0.idx) != 0 && memcmp(e1.idx, e2.idx, sizeof e0.idx) != 0,
          "the shuffle repeats across epochs");
    CHECK(memcmp(e0.idx, indices, sizeof e0.idx) != 0, "shuffled epoch 0 is the given order");

    /* Same seed, another loader: same epoch 1 (without running epoch 0 first). */
    run_epoch(ctx, l2, &ds, 1, 0, &again1, 4);
    CHECK(same_from(&e1, &again1, 0), "same seed and epoch, different batches");
    run_epoch(ctx, lother, &ds, 1, 0, &other1, 4);
    CHECK(memcmp(e1.idx, other1.idx, sizeof e1.idx) != 0, "another seed, same shuffle");
    CHECK(memcmp(e1.aug, other1.aug, sizeof e1.aug) != 0, "another seed, same augmentation");

    /* Resume mid-epoch, from a loader that was somewhere else before. */
    {
        kd_batch b;
        bool done;
        MUST(ctx, kd_loader_start(l3, 0, 0));
        for (int i = 0; i < 3; i++) MUST(ctx, kd_loader_next(l3, &b, &done));
    }
    run_epoch(ctx, l3, &ds, 1, 4, &resumed, 4);
    CHECK(resumed.nbatches == NB - 4, "resumed at batch 4: %d batches, want %d", resumed.nbatches, NB - 4);
    CHECK(same_from(&e1, &resumed, 4 * BATCH), "resuming epoch 1 at batch 4 gives other batches");
    run_epoch(ctx, l3, &ds, 2, NB - 1, &resumed2, 4);
    CHECK(resumed2.nbatches == 1 && resumed2.sizes[0] == COUNT - (NB - 1) * BATCH &&
              same_from(&e2, &resumed2, (NB - 1) * BATCH),
          "resuming at the last (partial) batch");
    run_epoch(ctx, l3, &ds, 2, NB, &resumed2, 4);
    CHECK(resumed2.nbatches == 0, "resuming at the end of the epoch yields %d batches", resumed2.nbatches);

    /* Augmentation statistics: both flips, several crop offsets, independent of the sample. */
    {
        int flips = 0, dxs[9] = {0}, dys[9] = {0}, ndx = 0, ndy = 0;
        for (int i = 0; i < COUNT; i++) {
            flips += e0.aug[i][2] + e1.aug[i][2];
            dxs[e0.aug[i][0]]++;
            dys[e0.aug[i][1]]++;
        }
        for (int k = 0; k < 9; k++) {
            ndx += dxs[k] > 0;
            ndy += dys[k] > 0;
        }
        CHECK(flips > 0.35 * 2 * COUNT && flips < 0.65 * 2 * COUNT, "%d flips in %d samples", flips, 2 * COUNT);
        CHECK(ndx >= 7 && ndy >= 7, "crop offsets use %d / %d of the 9 values", ndx, ndy);
    }

    /* No shuffle, no augmentation: the given order, all-zero aug. */
    run_epoch(ctx, lplain, &ds, 3, 0, &plain, 0);
    check_cover(&plain, indices, "unshuffled");
    int zeros = 1;
    for (int i = 0; i < COUNT; i++) zeros &= !plain.aug[i][0] && !plain.aug[i][1] && !plain.aug[i][2];
    CHECK(memcmp(plain.idx, indices, sizeof plain.idx) == 0, "unshuffled order differs from the given indices");
    CHECK(zeros, "augmentation parameters without augmentation are not all 0");

    /* Done stays done; bad starts are refused. */
    {
        kd_batch b;
        bool done = false;
        MUST(ctx, kd_loader_next(lplain, &b, &done));
        CHECK(done && b.n == 0, "after the epoch: done %d n %d", done, b.n);
        CHECK(kd_loader_start(lplain, 0, NB + 1) == KD_ERR_USAGE, "start past the end accepted");
        CHECK(kd_loader_start(lplain, -1, 0) == KD_ERR_USAGE, "negative epoch accepted");
    }

    /* Kernels queued on a batch read that batch even though the loader has
     * since refilled both slots: nothing blocks between batches here. */
    {
        kd_prep_desc p = {.out_c = 1, .out_h = H, .out_w = W};
        cl_mem outs[NB];
        int idx[NB][BATCH], ns[NB];
        MUST(ctx, kd_loader_start(l1, 5, 0));
        for (int k = 0; k < NB; k++) {
            kd_batch b;
            bool done;
            MUST(ctx, kd_loader_next(l1, &b, &done));
            outs[k] = th_zeros(ctx, (size_t)BATCH * SAMPLE);
            ns[k] = b.n;
            memcpy(idx[k], b.indices, (size_t)b.n * sizeof(int));
            MUST(ctx, kd_prep_run(ctx, &p, C, H, W, &b, aug.crop_pad, outs[k]));
        }
        MUST(ctx, kd_finish(ctx));
        static float got[NB][BATCH * SAMPLE];
        for (int k = 0; k < NB; k++) {
            th_download(ctx, outs[k], got[k], (size_t)BATCH * SAMPLE);
            kd_buffer_free(ctx, outs[k]);
        }
        /* The same epoch step by step gives the order and augmentation; the
         * pipelined outputs must be those samples, cropped and flipped. */
        static epoch_rec e5;
        run_epoch(ctx, l1, &ds, 5, 0, &e5, 4);
        int same_idx = 1, ok = 1;
        for (int k = 0; k < NB; k++)
            for (int i = 0; i < ns[k]; i++) {
                int pos = k * BATCH + i, dx = e5.aug[pos][0], dy = e5.aug[pos][1], fl = e5.aug[pos][2];
                same_idx &= idx[k][i] == e5.idx[pos];
                const uint8_t *src = ds.images + idx[k][i] * SAMPLE;
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++) {
                        int sx = (fl ? W - 1 - x : x) + dx - aug.crop_pad, sy = y + dy - aug.crop_pad;
                        float want = sx >= 0 && sx < W && sy >= 0 && sy < H ? src[sy * W + sx] * (1.0f / 255.0f) : 0;
                        ok &= fabsf(got[k][i * SAMPLE + y * W + x] - want) <= 1e-6f;
                    }
            }
        CHECK(same_idx, "pipelined and step-by-step runs of one epoch differ in order");
        CHECK(ok, "kernels queued on a batch saw other data once the loader moved on");
    }

    /* Batch larger than the set: one batch with everything. */
    {
        kd_loader *big;
        MUST(ctx, kd_loader_create(ctx, &ds, indices, 7, 64, true, &aug, 1, &big));
        kd_batch b;
        bool done;
        CHECK(kd_loader_batches(big) == 1, "batch > count: %d batches", kd_loader_batches(big));
        MUST(ctx, kd_loader_next(big, &b, &done));
        CHECK(!done && b.n == 7, "batch > count: n = %d", b.n);
        MUST(ctx, kd_loader_next(big, &b, &done));
        CHECK(done, "batch > count: a second batch");
        kd_loader_free(big);
    }
    /* Bad arguments. */
    {
        kd_loader *bad = NULL;
        int oob[2] = {0, NDS};
        CHECK(kd_loader_create(ctx, &ds, oob, 2, 4, true, &aug, 1, &bad) == KD_ERR_USAGE && !bad,
              "an index past the data set accepted");
        CHECK(kd_loader_create(ctx, &ds, indices, 0, 4, true, &aug, 1, &bad) == KD_ERR_USAGE, "no images accepted");
        CHECK(kd_loader_create(ctx, &ds, indices, 5, 0, true, &aug, 1, &bad) == KD_ERR_USAGE, "batch 0 accepted");
    }
    kd_loader_free(l1);
    kd_loader_free(l2);
    kd_loader_free(l3);
    kd_loader_free(lother);
    kd_loader_free(lplain);
    kd_dataset_free(&ds);
    kd_ctx_free(ctx);
    return th_done("test_loader");
}
