/* Data-parallel training across processes over MPI (`mpirun -np N kdcl
 * train|distill`). Each rank trains on its shard of every global batch; the
 * gradients are summed across ranks before every optimizer step, so every
 * rank takes the identical step. Built when CMake finds MPI (KDCL_MPI);
 * without it, or when kdcl is not started by an MPI launcher, there is one
 * rank and every call here is a no-op.
 *
 * The world is process-wide state: MPI itself is (MPI_Init once per
 * process), so kd_dist_world() hands out the one description of it. */
#ifndef KD_DIST_DIST_H
#define KD_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/status.h"

typedef struct kd_dist {
    int rank, size;  /* this process among size (1: not distributed) */
    int local_rank;  /* among the ranks on this host: picks the device */
    bool mpi;        /* MPI was initialised */
} kd_dist;

/* Called once, first thing in main: initialises MPI when an MPI launcher
 * started this process (its environment says so), else a world of one. */
void kd_dist_init(int *argc, char ***argv);
/* Leaves MPI (normal exit, the same status on every rank). */
void kd_dist_finalize(void);
/* A failure on any rank ends the whole job with `status`: the others may
 * wait in a collective call that would never complete. */
void kd_dist_abort(int status);
const kd_dist *kd_dist_world(void);
bool kd_dist_on(const kd_dist *d); /* more than one rank */
bool kd_dist_leader(const kd_dist *d); /* rank 0 prints, logs and writes files */

/* The share [*lo, *hi) of rank `rank` out of `count` items cut into
 * d->size contiguous, near-equal parts (the first count % size get one more). */
void kd_dist_shard(const kd_dist *d, long count, long *lo, long *hi);

/* In-place sums across ranks (every rank calls with the same n). */
kd_status kd_dist_sum_f32(const kd_dist *d, float *x, size_t n, kd_err *err);
kd_status kd_dist_sum_f64(const kd_dist *d, double *x, size_t n, kd_err *err);
kd_status kd_dist_sum_i64(const kd_dist *d, int64_t *x, size_t n, kd_err *err);
kd_status kd_dist_max_f64(const kd_dist *d, double *x, kd_err *err);
/* Rank 0's floats to every rank. */
kd_status kd_dist_bcast_f32(const kd_dist *d, float *x, size_t n, kd_err *err);
/* Concatenates every rank's `n` floats (counts may differ) in rank order
 * into out (every rank gets the whole). */
kd_status kd_dist_gather_f32(const kd_dist *d, const float *x, long n, float *out, kd_err *err);
kd_status kd_dist_gather_i32(const kd_dist *d, const int *x, long n, int *out, kd_err *err);

/* Start-up agreement: every rank must pass the same text (its model, data,
 * seed and recipe); a rank that differs from rank 0 is named, and every
 * rank gets KD_ERR_USAGE. `what` says what the text is. */
kd_status kd_dist_same(const kd_dist *d, const char *text, const char *what, kd_err *err);

#endif
