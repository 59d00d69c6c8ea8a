#include "runtime/blas.h"
#include "runtime/ctx_private.h"

#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>

const char *kd_clblast_status_str(int code) {
    switch (code) {
#define E(x) case CLBlast##x: return "CLBlast" #x;
    E(Success) E(OpenCLCompilerNotAvailable) E(TempBufferAllocFailure) E(OpenCLOutOfResources)
    E(OpenCLOutOfHostMemory) E(OpenCLBuildProgramFailure) E(InvalidValue) E(InvalidCommandQueue)
    E(InvalidMemObject) E(InvalidBinary) E(InvalidBuildOptions) E(InvalidProgram)
    E(InvalidProgramExecutable) E(InvalidKernelName) E(InvalidKernelDefinition) E(InvalidKernel)
    E(InvalidArgIndex) E(InvalidArgValue) E(InvalidArgSize) E(InvalidKernelArgs)
    E(InvalidLocalNumDimensions) E(InvalidLocalThreadsTotal) E(InvalidLocalThreadsDim)
    E(InvalidGlobalOffset) E(InvalidEventWaitList) E(InvalidEvent) E(InvalidOperation)
    E(InvalidBufferSize) E(InvalidGlobalWorkSize) E(NotImplemented) E(InvalidMatrixA)
    E(InvalidMatrixB) E(InvalidMatrixC) E(InvalidVectorX) E(InvalidVectorY) E(InvalidDimension)
    E(InvalidLeadDimA) E(InvalidLeadDimB) E(InvalidLeadDimC) E(InvalidIncrementX)
    E(InvalidIncrementY) E(InsufficientMemoryA) E(InsufficientMemoryB) E(InsufficientMemoryC)
    E(InsufficientMemoryX) E(InsufficientMemoryY) E(InsufficientMemoryTemp) E(InvalidBatchCount)
    E(InvalidOverrideKernel) E(MissingOverrideParameter) E(InvalidLocalMemUsage)
    E(NoHalfPrecision) E(NoDoublePrecision) E(InvalidVectorScalar) E(InsufficientMemoryScalar)
    E(DatabaseError) E(UnknownError) E(UnexpectedError)
#undef E
    default: return "unknown CLBlast status";
    }
}

static kd_status check(kd_ctx *ctx, CLBlastStatusCode s, const char *call, const kd_gemm_args *g) {
    if (s == CLBlastSuccess) return KD_OK;
    return kd_fail(ctx->err, s == CLBlastTempBufferAllocFailure ? KD_ERR_NOMEM : KD_ERR_BLAS,
                   "%s(%s%s m=%zu n=%zu k=%zu lda=%zu ldb=%zu ldc=%zu) failed: %s (%d)", call,
                   g->ta ? "A^T" : "A", g->tb ? " B^T" : " B", g->m, g->n, g->k, g->lda, g->ldb, g->ldc,
                   kd_clblast_status_str(s), (int)s);
}

static kd_status track(kd_ctx *ctx, CLBlastStatusCode s, const char *call, const char *label, const kd_gemm_args *g,
                       cl_event from, cl_event ev) {
    ctx->blas_calls++;
    kd_status st = check(ctx, s, call, g);
    if (st != KD_OK || !ev) {
        if (from) clReleaseEvent(from);
        if (ev) clReleaseEvent(ev);
        return st;
    }
    char name[64];
    snprintf(name, sizeof name, "%s %s%s", label, g->ta ? "T" : "N", g->tb ? "T" : "N");
    return kd_prof_track_span(ctx, kd_prof_id(ctx, name, true), from, ev);
}

static CLBlastTranspose tr(bool t) { return t ? CLBlastTransposeYes : CLBlastTransposeNo; }

kd_status kd_sgemm(kd_ctx *ctx, const kd_gemm_args *g) {
    if (!g->m || !g->n) return KD_OK;
    /* CLBlast may run pad/transpose kernels before the GEMM but returns the
     * last kernel's event only: time the call from a marker queued before it. */
    cl_event from = kd_prof_marker(ctx), ev = NULL;
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, tr(g->ta), tr(g->tb), g->m, g->n, g->k,
                                       g->alpha, g->a, g->a_off, g->lda, g->b, g->b_off, g->ldb, g->beta,
                                       g->c, g->c_off, g->ldc, &ctx->queue, ctx->profiling ? &ev : NULL);
    return track(ctx, s, "CLBlastSgemm", "sgemm", g, from, ev);
}

/* CLBlast 1.5.3's strided-batched indirect path computes wrong results, or
 * reads out of bounds, when a stride is smaller than its matrix (0: the
 * same A for every GEMM, as a 1x1 convolution's weights) and that matrix
 * needs no padding copy: it then steps through the operand as if packed.
 * Seen with tuned parameters that send small GEMMs to the indirect kernel
 * (kdcl tune), e.g. A^T*B with m=128 n=16 k=512, A stride 0; the defaults
 * mostly use the direct kernel there. The offset-array batched routine
 * takes every operand's offset explicitly and is correct. */
static kd_status sgemm_batched_offsets(kd_ctx *ctx, const kd_gemm_args *g, size_t a_stride, size_t b_stride,
                                       size_t c_stride, size_t batch) {
    size_t *off = malloc(3 * batch * sizeof *off);
    float *ab = malloc(2 * batch * sizeof *ab);
    if (!off || !ab) {
        free(off);
        free(ab);
        return kd_fail(ctx->err, KD_ERR_NOMEM, "out of host memory for %zu batched GEMM offsets", batch);
    }
    for (size_t i = 0; i < batch; i++) {
        off[i] = g->a_off + i * a_stride;
        off[batch + i] = g->b_off + i * b_stride;
        off[2 * batch + i] = g->c_off + i * c_stride;
        ab[i] = g->alpha;
        ab[batch + i] = g->beta;
    }
    cl_event from = kd_prof_marker(ctx), ev = NULL;
    CLBlastStatusCode s = CLBlastSgemmBatched(CLBlastLayoutRowMajor, tr(g->ta), tr(g->tb), g->m, g->n, g->k, ab,
                                              g->a, off, g->lda, g->b, off + batch, g->ldb, ab + batch, g->c,
                                              off + 2 * batch, g->ldc, batch, &ctx->queue,
                                              ctx->profiling ? &ev : NULL);
    free(off);
    free(ab);
    return track(ctx, s, "CLBlastSgemmBatched", "sgemm batched", g, from, ev);
}

kd_status kd_sgemm_batched(kd_ctx *ctx, const kd_gemm_args *g, size_t a_stride, size_t b_stride,
                           size_t c_stride, size_t batch) {
    if (!g->m || !g->n || !batch) return KD_OK;
    if (batch == 1) return kd_sgemm(ctx, g);
    if (a_stride < g->m * g->k || b_stride < g->k * g->n || c_stride < g->m * g->n)
        return sgemm_batched_offsets(ctx, g, a_stride, b_stride, c_stride, batch);
    cl_event from = kd_prof_marker(ctx), ev = NULL;
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, tr(g->ta), tr(g->tb), g->m, g->n, g->k, g->alpha, g->a, g->a_off, g->lda,
        a_stride, g->b, g->b_off, g->ldb, b_stride, g->beta, g->c, g->c_off, g->ldc, c_stride, batch,
        &ctx->queue, ctx->profiling ? &ev : NULL);
    return track(ctx, s, "CLBlastSgemmStridedBatched", "sgemm batched", g, from, ev);
}

kd_status kd_blas_override(kd_ctx *ctx, const char *kernel_name, size_t n, const char **names,
                           const size_t *values) {
    CLBlastStatusCode s =
        CLBlastOverrideParameters(ctx->dev.device, kernel_name, CLBlastPrecisionSingle, n, names, values);
    if (s != CLBlastSuccess)
        return kd_fail(ctx->err, KD_ERR_BLAS, "CLBlastOverrideParameters(%s) failed: %s (%d)", kernel_name,
                       kd_clblast_status_str(s), (int)s);
    return KD_OK;
}

/* Kept apart from the GEMM wrappers: used by runtime/tune_store.c for its cache key. */
#define KD_STR2(x) #x
#define KD_STR(x) KD_STR2(x)
const char *kd_blas_version(void) {
    return KD_STR(CLBLAST_VERSION_MAJOR) "." KD_STR(CLBLAST_VERSION_MINOR) "." KD_STR(CLBLAST_VERSION_PATCH);
}
