/* The one place that calls CLBlast. Row-major SGEMM on cl_mem + offsets:
 * C = alpha * op(A) * op(B) + beta * C with op(A) m x k, op(B) k x n. */
#ifndef KD_BLAS_H
#define KD_BLAS_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/ctx.h"

typedef struct kd_gemm_args {
    bool ta, tb;
    size_t m, n, k;
    float alpha, beta;
    cl_mem a; size_t a_off, lda;
    cl_mem b; size_t b_off, ldb;
    cl_mem c; size_t c_off, ldc;
} kd_gemm_args;

/* A GEMM shape as kd_sgemm runs it (row-major, batch folded in by the
 * caller), with how often one training step runs it: what a model reports
 * (src/model/gemm_shapes.c) and what `kdcl tune` and `kdcl bench` time. */
typedef struct kd_gemm_use {
    bool ta, tb;
    int m, n, k;
    float beta;    /* 0 or 1: dW accumulates, which changes CLBlast's path */
    double count;  /* how often one training step runs it (weight) */
    char label[64];
} kd_gemm_use;

kd_status kd_sgemm(kd_ctx *ctx, const kd_gemm_args *g);
/* `batch` independent GEMMs, operand i at offset + i*stride. */
kd_status kd_sgemm_batched(kd_ctx *ctx, const kd_gemm_args *g, size_t a_stride, size_t b_stride,
                           size_t c_stride, size_t batch);

const char *kd_clblast_status_str(int code);

/* Applies GEMM kernel parameters (from `kdcl tune`) for this device. */
kd_status kd_blas_override(kd_ctx *ctx, const char *kernel_name, size_t n, const char **names,
                           const size_t *values);

/* CLBlast's version, "MAJOR.MINOR.PATCH", from the headers kdcl was built
 * with (CLBlast has no run-time query); part of the tuning cache key. */
const char *kd_blas_version(void);

#endif
