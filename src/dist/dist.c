#include "src/dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KDCL_MPI
#include <mpi.h>
#endif

static kd_dist world = {0, 1, 0, false};

const kd_dist *kd_dist_world(void) { return &world; }
bool kd_dist_on(const kd_dist *d) { return d && d->size > 1; }
bool kd_dist_leader(const kd_dist *d) { return !d || d->rank == 0; }

void kd_dist_shard(const kd_dist *d, long count, long *lo, long *hi) {
    long size = d ? d->size : 1, rank = d ? d->rank : 0;
    long base = count / size, extra = count % size;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}

#ifdef KDCL_MPI

/* Open MPI, MPICH (Hydra) and PMIx launchers all leave one of these. */
static bool launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

void kd_dist_init(int *argc, char ***argv) {
    if (!launched_by_mpi()) return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "kdcl: error: MPI_Init failed: is this an MPI launch (mpirun -np N kdcl ...)?\n");
        exit(1);
    }
    /* Errors stay fatal (MPI's default): a peer that died makes the job end
     * in every rank instead of a collective that never returns. */
    world.mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &world.local_rank);
        MPI_Comm_free(&node);
    }
}

void kd_dist_finalize(void) {
    if (world.mpi) MPI_Finalize();
    world.mpi = false;
}

void kd_dist_abort(int status) {
    if (!world.mpi || world.size < 2) return;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
}

static kd_status check(int rc, const char *call, kd_err *err) {
    if (rc == MPI_SUCCESS) return KD_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return kd_fail(err, KD_ERR_IO, "%s failed: %s", call, msg);
}

static kd_status sum(const kd_dist *d, void *x, size_t n, MPI_Datatype t, MPI_Op op, kd_err *err) {
    if (!kd_dist_on(d) || n == 0) return KD_OK;
    if (n > (size_t)0x7fffffff) return kd_fail(err, KD_ERR_USAGE, "MPI reduction of %zu values: too many", n);
    return check(MPI_Allreduce(MPI_IN_PLACE, x, (int)n, t, op, MPI_COMM_WORLD), "MPI_Allreduce", err);
}

kd_status kd_dist_sum_f32(const kd_dist *d, float *x, size_t n, kd_err *err) {
    return sum(d, x, n, MPI_FLOAT, MPI_SUM, err);
}
kd_status kd_dist_sum_f64(const kd_dist *d, double *x, size_t n, kd_err *err) {
    return sum(d, x, n, MPI_DOUBLE, MPI_SUM, err);
}
kd_status kd_dist_sum_i64(const kd_dist *d, int64_t *x, size_t n, kd_err *err) {
    return sum(d, x, n, MPI_INT64_T, MPI_SUM, err);
}
kd_status kd_dist_max_f64(const kd_dist *d, double *x, kd_err *err) { return sum(d, x, 1, MPI_DOUBLE, MPI_MAX, err); }

kd_status kd_dist_bcast_f32(const kd_dist *d, float *x, size_t n, kd_err *err) {
    if (!kd_dist_on(d) || n == 0) return KD_OK;
    if (n > (size_t)0x7fffffff) return kd_fail(err, KD_ERR_USAGE, "MPI broadcast of %zu values: too many", n);
    return check(MPI_Bcast(x, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast", err);
}

static kd_status gather(const kd_dist *d, const void *x, long n, void *out, MPI_Datatype t, size_t elem,
                        kd_err *err) {
    if (!kd_dist_on(d)) {
        if (n > 0) memcpy(out, x, (size_t)n * elem);
        return KD_OK;
    }
    int mine = (int)n, *counts = malloc((size_t)d->size * sizeof *counts),
        *offs = malloc((size_t)d->size * sizeof *offs);
    if (!counts || !offs) {
        free(counts), free(offs);
        return kd_fail(err, KD_ERR_NOMEM, "out of host memory");
    }
    kd_status s = check(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather", err);
    for (int r = 0, o = 0; r < d->size; r++) {
        offs[r] = o;
        o += counts[r];
    }
    if (s == KD_OK)
        s = check(MPI_Allgatherv(x, mine, t, out, counts, offs, t, MPI_COMM_WORLD), "MPI_Allgatherv", err);
    free(counts), free(offs);
    return s;
}

kd_status kd_dist_gather_f32(const kd_dist *d, const float *x, long n, float *out, kd_err *err) {
    return gather(d, x, n, out, MPI_FLOAT, sizeof(float), err);
}
kd_status kd_dist_gather_i32(const kd_dist *d, const int *x, long n, int *out, kd_err *err) {
    return gather(d, x, n, out, MPI_INT, sizeof(int), err);
}

kd_status kd_dist_same(const kd_dist *d, const char *text, const char *what, kd_err *err) {
    if (!kd_dist_on(d)) return KD_OK;
    uint64_t h = 1469598103934665603ull, h0; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) h = (h ^ *p) * 1099511628211ull;
    h0 = h;
    KD_TRY(check(MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast", err));
    int first = h == h0 ? d->size : d->rank;
    KD_TRY(check(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce", err));
    if (first == d->size) return KD_OK;
    if (d->rank == first)
        return kd_fail(err, KD_ERR_USAGE,
                       "rank %d of %d was started with other %s than rank 0: every rank must get the same command "
                       "line (model, data, seed, recipe); this rank has: %s",
                       d->rank, d->size, what, text);
    return kd_fail(err, KD_ERR_USAGE,
                   "rank %d of %d was started with other %s than rank 0: every rank must get the same command line "
                   "(model, data, seed, recipe)",
                   first, d->size, what);
}

#else /* without MPI: a world of one */

void kd_dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}
void kd_dist_finalize(void) {}
void kd_dist_abort(int status) { (void)status; }
kd_status kd_dist_sum_f32(const kd_dist *d, float *x, size_t n, kd_err *err) {
    (void)d, (void)x, (void)n, (void)err;
    return KD_OK;
}
kd_status kd_dist_sum_f64(const kd_dist *d, double *x, size_t n, kd_err *err) {
    (void)d, (void)x, (void)n, (void)err;
    return KD_OK;
}
kd_status kd_dist_sum_i64(const kd_dist *d, int64_t *x, size_t n, kd_err *err) {
    (void)d, (void)x, (void)n, (void)err;
    return KD_OK;
}
kd_status kd_dist_max_f64(const kd_dist *d, double *x, kd_err *err) {
    (void)d, (void)x, (void)err;
    return KD_OK;
}
kd_status kd_dist_bcast_f32(const kd_dist *d, float *x, size_t n, kd_err *err) {
    (void)d, (void)x, (void)n, (void)err;
    return KD_OK;
}
kd_status kd_dist_gather_f32(const kd_dist *d, const float *x, long n, float *out, kd_err *err) {
    (void)d, (void)err;
    if (n > 0) memcpy(out, x, (size_t)n * sizeof *x);
    return KD_OK;
}
kd_status kd_dist_gather_i32(const kd_dist *d, const int *x, long n, int *out, kd_err *err) {
    (void)d, (void)err;
    if (n > 0) memcpy(out, x, (size_t)n * sizeof *x);
    return KD_OK;
}
kd_status kd_dist_same(const kd_dist *d, const char *text, const char *what, kd_err *err) {
    (void)d, (void)text, (void)what, (void)err;
    return KD_OK;
}

#endif
