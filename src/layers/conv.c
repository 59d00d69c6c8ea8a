#include "src/layers/conv.h"

#include <limits.h>
#include <stdint.h>

#include "runtime/blas.h"
#include "runtime/kernel.h"

/* Workspace layout (floats), the same for both directions:
 *   [0, K*NP)            col (im2col of the input), reused for dcol
 *   [K*NP, (K+cout)*NP)  the GEMM's [cout][n*P] result / dout in that layout
 *                        (not needed for one image: that layout is NCHW)
 *   then, if dW's reduction is split (dw_splits), its partials [s][cout][K]
 * with K = cin*kh*kw, NP = n*oh*ow. Kernels index it with int, so
 * kd_conv_desc_init refuses shapes whose workspace passes INT_MAX.
 * A 1x1 stride-1 conv needs no col; only its dW uses the workspace, see
 * pointwise_dw_batched. */

static bool is_pointwise(const kd_conv_desc *d) {
    return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}

/* dW of a 1x1 conv over a batch, two ways without a host loop:
 *   batched:  per-image GEMMs (k = P) into partials [n][cout][cin] in ws,
 *             then a reduction over the batch (ws n*cout*cin);
 *   gathered: in and dout changed to [c][n*P] in ws, one GEMM with k = n*P
 *             (ws (cin+cout)*n*P).
 * Measured on POCL (2 cores, batch 32, tools/conv_timing.c): batched wins
 * from P = 256 up (16x16: 24 vs 38 ms, 32x32: 108 vs 152 ms), gathered
 * below (8x8: 24 vs 31 ms, 4x4: 28 vs 43 ms), where per-image GEMMs with a
 * short inner dimension are inefficient and the partials grow large. */
static bool pointwise_dw_batched(const kd_conv_desc *d) { return d->n > 1 && d->oh * d->ow >= 128; }

/* dW of a k x k conv, dy[cout][NP] * col[K][NP]^T, reduces over NP = n*oh*ow,
 * which is long next to its small cout x K result (seed-cnn's first conv:
 * 16 x 9 over 41,472 at batch 32, 36x36). CLBlast covers such a result with
 * one or a few work-groups, leaving cores idle. Split the reduction into
 * DW_SPLITS equal parts, one strided-batched GEMM into partials behind the
 * workspace, then sum them into dW. Measured on POCL (2 cores, shared, batch
 * 32, dW GEMM + sum vs one GEMM): 16x9 k=41472 66 -> 36 ms, 32x144 k=10368
 * 22 -> 12 ms, 64x288 k=2592 9.3 -> 8.0 ms, 64x576 k=100352 1336 -> 691 ms;
 * 8 parts beat 2, 4, 16 and 32 on all four. Below 2048 there is too little
 * to split; the parts must be equal, so fewer are used when 8 does not
 * divide NP. */
enum { DW_SPLITS = 8, DW_SPLIT_MIN = 2048 };

/* Narrower still (a first layer: K = cin*kh*kw <= 32), a GEMM is the wrong
 * tool in both directions. dW: seed-cnn's first conv (16 x 9 over 41,472)
 * ran at 1.1 GFLOP/s in CLBlast where OpenBLAS reaches 70
 * (docs/gemm-shapes.md); one dot product per weight (conv_dw_dot) replaces
 * the GEMMs: measured on POCL, 40 training steps at batch 32, 1x36x36
 * (kdcl train --profile, twice each): that layer's dW 200 / 196 ms -> 134 /
 * 135 ms, the step's device time 601 / 635 -> 573 / 580 ms. Forward: with
 * the indirect kernel for every size (kdcl's preset for POCL, or a tuning
 * that chose it) CLBlast pads K = 9 to its tile depth of 32, and the same
 * layer's forward GEMM took 26-39 ms a step (0.3 GFLOP/s); conv_dot
 * writes NCHW from im2col's columns directly. */
enum { NARROW_MAX_K = 32 };
static bool narrow(const kd_conv_desc *d) {
    return !is_pointwise(d) && d->cin * d->kh * d->kw <= NARROW_MAX_K;
}
/* conv_dw_rows's work-items are 4 x 2 weights; with fewer than this many,
 * the images are split into as many partial sums as needed (at most n). */
enum { DW_ROWS_ITEMS = 256 };
static int dw_rows_splits(int n, int cout, int cols) {
    int items = ((cols + 1) / 2) * ((cout + 3) / 4), s = 1;
    while (s * 2 <= n && items * s < DW_ROWS_ITEMS) s *= 2;
    return s;
}
static int dw_splits(const kd_conv_desc *d) {
    int64_t np = (int64_t)d->n * d->oh * d->ow;
    if (is_pointwise(d) || np < DW_SPLIT_MIN) return 1;
    int s = DW_SPLITS;
    while (s > 1 && np % s) s /= 2;
    return s;
}

/* Floats of a k x k conv's dW partials: the split GEMMs' or (CPU devices)
 * conv_dw_rows's, whichever needs more (0 when neither splits). */
static size_t dw_partials_floats(const kd_conv_desc *d) {
    int k = d->cin * d->kh * d->kw, s = dw_splits(d), r = dw_rows_splits(d->n, d->cout, k);
    int most = s > r ? s : r;
    return most > 1 ? (size_t)most * (size_t)d->cout * (size_t)k : 0;
}

/* Floats of the workspace before the dW partials: col, then (n > 1) the
 * [cout][n*P] layout. For a k x k conv only. */
static size_t dw_partials_offset(const kd_conv_desc *d) {
    size_t np = (size_t)d->n * (size_t)d->oh * (size_t)d->ow;
    return ((size_t)d->cin * (size_t)d->kh * (size_t)d->kw + (d->n > 1 ? (size_t)d->cout : 0)) * np;
}

kd_status kd_conv_desc_init(kd_conv_desc *d, kd_err *err) {
    if (d->n < 1 || d->cin < 1 || d->h < 1 || d->w < 1 || d->cout < 1)
        return kd_fail(err, KD_ERR_USAGE,
                       "conv: sizes must be positive (n=%d cin=%d h=%d w=%d cout=%d)", d->n, d->cin, d->h,
                       d->w, d->cout);
    if (d->kh < 1 || d->kw < 1 || d->stride < 1 || d->pad < 0)
        return kd_fail(err, KD_ERR_USAGE,
                       "conv: kernel %dx%d, stride %d, padding %d: kernel and stride must be >= 1 and "
                       "padding >= 0",
                       d->kh, d->kw, d->stride, d->pad);
    int ph = d->h + 2 * d->pad, pw = d->w + 2 * d->pad;
    if (d->kh > ph || d->kw > pw)
        return kd_fail(err, KD_ERR_USAGE,
                       "conv: kernel %dx%d does not fit the input %dx%d with padding %d (padded %dx%d); "
                       "use a smaller kernel, more padding or a larger input",
                       d->kh, d->kw, d->h, d->w, d->pad, ph, pw);
    d->oh = (ph - d->kh) / d->stride + 1;
    d->ow = (pw - d->kw) / d->stride + 1;
    int64_t np = (int64_t)d->n * d->oh * d->ow;
    int64_t k = (int64_t)d->cin * d->kh * d->kw;
    int64_t biggest = (k + d->cout) * np;
    int64_t in = (int64_t)d->n * d->cin * d->h * d->w;
    if (in > biggest) biggest = in;
    int64_t partials = (int64_t)d->n * d->cout * d->cin;
    if (pointwise_dw_batched(d) && partials > biggest) biggest = partials;
    if (!is_pointwise(d)) biggest += (int64_t)dw_partials_floats(d);
    if (biggest > INT_MAX)
        return kd_fail(err, KD_ERR_USAGE,
                       "conv: n=%d cin=%d %dx%d -> cout=%d %dx%d (kernel %dx%d) needs %lld floats of "
                       "activations or workspace, more than the %d that kernels index; use a smaller batch",
                       d->n, d->cin, d->h, d->w, d->cout, d->oh, d->ow, d->kh, d->kw, (long long)biggest,
                       INT_MAX);
    return KD_OK;
}

size_t kd_conv_workspace_floats(const kd_conv_desc *d) {
    size_t np = (size_t)d->n * (size_t)d->oh * (size_t)d->ow, need;
    if (!is_pointwise(d)) need = dw_partials_offset(d) + dw_partials_floats(d);
    else if (d->n == 1) need = 0;
    else if (pointwise_dw_batched(d)) need = (size_t)d->n * (size_t)d->cout * (size_t)d->cin;
    else need = ((size_t)d->cin + (size_t)d->cout) * np;
    int rows_splits = dw_rows_splits(d->n, d->cout, d->cin);
    if (is_pointwise(d) && rows_splits > 1) { /* conv_dw_rows's partials (CPU devices) */
        size_t part = (size_t)rows_splits * (size_t)d->cout * (size_t)d->cin;
        if (part > need) need = part;
    }
    return need ? need : 1; /* always a valid buffer size */
}

/* CPU devices (kd_ctx_serial_reductions(ctx)) get the *_rows kernels of
 * cl/conv.cl, one work-item per image row. Measured on POCL, 2 shared
 * cores, batch 32, medians (tools/kernel_timing.c), per call:
 *   seed-cnn conv1 (1->16, 36x36): cm_to_nchw 1.7-2.1 -> 0.05-0.08 ms,
 *     nchw_to_cm 1.7 -> 0.05, im2col 0.5 -> 0.06, bias_grad 0.9 -> 0.11;
 *   resnet 3x3 16->16 at 28x28: im2col 8.4-9.5 -> 1.0-1.1 ms,
 *     col2im 10.7-11.6 -> 0.85-1.4; 1x1 stride 2 64->128 at 28x28:
 *     col2im 15-30 -> 0.4-0.5.
 * The parallel kernels (GPUs) run 3-D launches (kd_run3d fits the groups). */
static bool use_rows(const kd_ctx *ctx) { return kd_ctx_serial_reductions(ctx); }

/* CPU devices (the *_rows family, use_rows): cl/conv.cl's own products
 * (conv_dot, conv_dw_rows) instead of CLBlast where they were measured
 * faster. CLBlast on POCL runs a 1x1 layer's per-image GEMMs at 2-17
 * GFLOP/s (docs/gemm-shapes.md) and pads a dimension of 16 to its tile of
 * 32. tools/conv_timing.c (CONV_TIMING_CASE), batch 32, best of 3-5, the
 * 2-core EPYC (noisy: one rerun moved a row by up to 40%), ms CLBlast ->
 * own:
 *  - 1x1 (forward, dW and dx all own): forward 16->64 @28 ~4 -> 1.0,
 *    64->256 @32 59 -> 29, 256->64 @32 25 -> 26, 512->128 @16 20 -> 17,
 *    256->1024 @8 47 -> 24, 2048->512 @4 173 -> 22; backward 16->64 @28
 *    17.5 -> 1.8, 64->256 @32 76 -> 44, 256->64 @32 97 -> 82, 512->128
 *    @16 89 -> 48, 256->1024 @8 51 -> 61, 2048->512 @4 129 -> 65.
 *  - k x k dW: 16->16 @28 14.5 -> 7.8 (whole backward), 32->32 @14 14.3
 *    -> 11.4, 64->64 @32 177 -> 139, 128->128 @7 28.8 -> 24.2, 256->256 @8
 *    95 -> 86, 512->512 @4 80 -> 73, ResNet-50's 7x7 stem 233 -> 178.
 *  - k x k forward while W = cout x K is at most 4,608 floats (18 KB):
 *    16->16 @28 11.8 -> 3.0, 16->32 @64 85 -> 61 and @18 7.2 -> 2.8, 8->64
 *    @28 11.2 -> 4.5; but with 9,216 floats 32->32 @14 3.1 -> 3.8-5.0, and
 *    64->64 @32 41 -> 118 (conv_dot streams all of W per 8 outputs, which
 *    leaves L1 once W is large).
 *  - k x k column gradient dcol = W^T dY, up to 64 output channels
 *    (backward, dW own in both): 16->16 @28 21.5 -> 6.9, 32->32 @14 13.1
 *    -> 7.7, 64->64 @7 8.2 -> 8.1, 64->64 @32 159 -> 143; but 128->128 @7
 *    28.3 -> 30.7, 256->256 @8 85 -> 177.
 * GPUs keep CLBlast (not measured there: no GPU was at hand).
 * DIRECT_FWD_MAX_W: W (cout * K floats) within L1 beside the columns
 * conv_dot streams, 18 KB. */
enum { DIRECT_FWD_MAX_W = 4608, DIRECT_DCOL_MAX_COUT = 64 };
static bool direct_pointwise(const kd_ctx *ctx, const kd_conv_desc *d) {
    return use_rows(ctx) && is_pointwise(d);
}
static bool direct_fwd(const kd_ctx *ctx, const kd_conv_desc *d) {
    return narrow(d) ||
           (use_rows(ctx) && !is_pointwise(d) && (int64_t)d->cout * d->cin * d->kh * d->kw <= DIRECT_FWD_MAX_W);
}
static bool direct_dcol(const kd_ctx *ctx, const kd_conv_desc *d) {
    return use_rows(ctx) && !is_pointwise(d) && d->cout <= DIRECT_DCOL_MAX_COUT;
}
static bool direct_dw(const kd_ctx *ctx, const kd_conv_desc *d) {
    return use_rows(ctx) && !is_pointwise(d) && !narrow(d);
}

static kd_status im2col(kd_ctx *ctx, const kd_conv_desc *d, cl_mem ws, int col_off, cl_mem in) {
    int n = d->n, cin = d->cin, h = d->h, w = d->w, kh = d->kh, kw = d->kw, s = d->stride, pad = d->pad,
        oh = d->oh, ow = d->ow;
    if (use_rows(ctx))
        return kd_run3d(ctx, "conv", "conv_im2col_rows", (size_t)oh, (size_t)cin, (size_t)n,
                        KD_ARGS(KD_ARG(ws), KD_ARG(col_off), KD_ARG(in), KD_ARG(n), KD_ARG(cin), KD_ARG(h),
                                KD_ARG(w), KD_ARG(kh), KD_ARG(kw), KD_ARG(s), KD_ARG(pad), KD_ARG(oh),
                                KD_ARG(ow)));
    size_t np = (size_t)n * (size_t)oh * (size_t)ow;
    return kd_run2d(ctx, "conv", "conv_im2col", np, (size_t)cin,
                    KD_ARGS(KD_ARG(ws), KD_ARG(col_off), KD_ARG(in), KD_ARG(n), KD_ARG(cin), KD_ARG(h),
                            KD_ARG(w), KD_ARG(kh), KD_ARG(kw), KD_ARG(s), KD_ARG(pad), KD_ARG(oh),
                            KD_ARG(ow)));
}

static kd_status col2im(kd_ctx *ctx, const kd_conv_desc *d, cl_mem dx, cl_mem ws, int col_off) {
    int n = d->n, cin = d->cin, h = d->h, w = d->w, kh = d->kh, kw = d->kw, s = d->stride, pad = d->pad,
        oh = d->oh, ow = d->ow;
    if (use_rows(ctx))
        return kd_run3d(ctx, "conv", "conv_col2im_rows", (size_t)h, (size_t)cin, (size_t)n,
                        KD_ARGS(KD_ARG(dx), KD_ARG(ws), KD_ARG(col_off), KD_ARG(n), KD_ARG(cin), KD_ARG(h),
                                KD_ARG(w), KD_ARG(kh), KD_ARG(kw), KD_ARG(s), KD_ARG(pad), KD_ARG(oh),
                                KD_ARG(ow)));
    return kd_run3d(ctx, "conv", "conv_col2im", (size_t)w, (size_t)h, (size_t)n * (size_t)cin,
                    KD_ARGS(KD_ARG(dx), KD_ARG(ws), KD_ARG(col_off), KD_ARG(n), KD_ARG(cin), KD_ARG(h),
                            KD_ARG(w), KD_ARG(kh), KD_ARG(kw), KD_ARG(s), KD_ARG(pad), KD_ARG(oh),
                            KD_ARG(ow)));
}

/* NCHW [n][c][plane] -> [c][n*plane] at ws + off. */
static kd_status nchw_to_cm(kd_ctx *ctx, cl_mem ws, int off, cl_mem x, int n, int c, int plane) {
    if (use_rows(ctx))
        return kd_run2d(ctx, "conv", "conv_nchw_to_cm_rows", (size_t)c, (size_t)n,
                        KD_ARGS(KD_ARG(ws), KD_ARG(off), KD_ARG(x), KD_ARG(n), KD_ARG(c), KD_ARG(plane)));
    return kd_run3d(ctx, "conv", "conv_nchw_to_cm", (size_t)plane, (size_t)c, (size_t)n,
                    KD_ARGS(KD_ARG(ws), KD_ARG(off), KD_ARG(x), KD_ARG(n), KD_ARG(c), KD_ARG(plane)));
}

/* The kernel arguments of an optional kd_conv_norm (absent: valid dummy
 * buffers the kernels never read). */
typedef struct norm_args {
    int on, relu;
    cl_mem gamma, beta, mean, var;
    float eps;
} norm_args;
static norm_args norm_args_of(const kd_conv_norm *norm, cl_mem dummy) {
    if (!norm) return (norm_args){0, 0, dummy, dummy, dummy, dummy, 0.0f};
    return (norm_args){1, norm->relu, norm->gamma, norm->beta, norm->mean, norm->var, norm->eps};
}

/* [c][n*plane] at ws + off -> NCHW, plus the bias (NULL: none), then norm's
 * batch norm and ReLU when given. */
static kd_status cm_to_nchw(kd_ctx *ctx, cl_mem out, cl_mem ws, int off, cl_mem bias, int n, int c, int plane,
                            const kd_conv_norm *norm) {
    int has_bias = bias != NULL;
    cl_mem b = bias ? bias : ws; /* any valid buffer when there is no bias */
    norm_args q = norm_args_of(norm, ws);
    if (use_rows(ctx))
        return kd_run2d(ctx, "conv", "conv_cm_to_nchw_rows", (size_t)c, (size_t)n,
                        KD_ARGS(KD_ARG(out), KD_ARG(ws), KD_ARG(off), KD_ARG(b), KD_ARG(has_bias), KD_ARG(n),
                                KD_ARG(c), KD_ARG(plane), KD_ARG(q.on), KD_ARG(q.gamma), KD_ARG(q.beta),
                                KD_ARG(q.mean), KD_ARG(q.var), KD_ARG(q.eps), KD_ARG(q.relu)));
    return kd_run3d(ctx, "conv", "conv_cm_to_nchw", (size_t)plane, (size_t)c, (size_t)n,
                    KD_ARGS(KD_ARG(out), KD_ARG(ws), KD_ARG(off), KD_ARG(b), KD_ARG(has_bias), KD_ARG(n),
                            KD_ARG(c), KD_ARG(plane), KD_ARG(q.on), KD_ARG(q.gamma), KD_ARG(q.beta),
                            KD_ARG(q.mean), KD_ARG(q.var), KD_ARG(q.eps), KD_ARG(q.relu)));
}

kd_status kd_conv_bias_add(kd_ctx *ctx, cl_mem x, cl_mem bias, int n, int c, int plane) {
    if (use_rows(ctx))
        return kd_run2d(ctx, "conv", "conv_bias_add_rows", (size_t)c, (size_t)n,
                        KD_ARGS(KD_ARG(x), KD_ARG(bias), KD_ARG(n), KD_ARG(c), KD_ARG(plane)));
    return kd_run3d(ctx, "conv", "conv_bias_add", (size_t)plane, (size_t)c, (size_t)n,
                    KD_ARGS(KD_ARG(x), KD_ARG(bias), KD_ARG(n), KD_ARG(c), KD_ARG(plane)));
}

kd_status kd_conv_bias_grad(kd_ctx *ctx, cl_mem dbias, cl_mem dout, int n, int c, int plane) {
    if (use_rows(ctx))
        return kd_run1d(ctx, "conv", "conv_bias_grad_rows", (size_t)c,
                        KD_ARGS(KD_ARG(dbias), KD_ARG(dout), KD_ARG(n), KD_ARG(c), KD_ARG(plane)));
    kd_kernel *k;
    KD_TRY(kd_kernel_get(ctx, "conv", "conv_bias_grad", &k));
    /* The tree reduction needs a power-of-two work-group; no wider than the
     * data, so a dense layer's short columns do not idle 256 work-items. */
    size_t limit = kd_reduction_cap(ctx, k, sizeof(float));
    size_t total = (size_t)n * (size_t)plane, wg = 1;
    while (wg * 2 <= limit && wg < total) wg *= 2;
    size_t global[1] = {(size_t)c * wg}, local[1] = {wg};
    return kd_launch(ctx, k, 1, global, local,
                     KD_ARGS(KD_ARG(dbias), KD_ARG(dout), KD_ARG(n), KD_ARG(c), KD_ARG(plane),
                             KD_LOCAL(wg * sizeof(float))));
}

int kd_conv_gemm_shapes(const kd_ctx *ctx, const kd_conv_desc *d, bool need_dx, kd_gemm_shape out[3]) {
    int P = d->oh * d->ow, K = d->cin * d->kh * d->kw, NP = d->n * P, n = 0;
    if (direct_pointwise(ctx, d)) return 0; /* conv_dot, conv_dw_rows */
    if (is_pointwise(d)) {
        out[n++] = (kd_gemm_shape){"fwd", false, false, d->cout, P, d->cin, 0.0f, d->n};
        if (pointwise_dw_batched(d)) out[n++] = (kd_gemm_shape){"dW", false, true, d->cout, d->cin, P, 0.0f, d->n};
        else out[n++] = (kd_gemm_shape){"dW", false, true, d->cout, d->cin, NP, 1.0f, 1};
        if (need_dx) out[n++] = (kd_gemm_shape){"dx", true, false, d->cin, P, d->cout, 0.0f, d->n};
        return n;
    }
    if (!direct_fwd(ctx, d)) out[n++] = (kd_gemm_shape){"fwd", false, false, d->cout, NP, K, 0.0f, 1};
    int s = dw_splits(d);
    if (direct_dw(ctx, d) || narrow(d)) {
        /* no GEMM: conv_dw_rows, conv_dw_dot */
    } else if (s > 1) {
        out[n++] = (kd_gemm_shape){"dW", false, true, d->cout, K, NP / s, 0.0f, s};
    } else {
        out[n++] = (kd_gemm_shape){"dW", false, true, d->cout, K, NP, 1.0f, 1};
    }
    if (need_dx && !direct_dcol(ctx, d)) out[n++] = (kd_gemm_shape){"dx", true, false, K, NP, d->cout, 0.0f, 1};
    return n;
}

/* Where conv_dot reads or writes: [b][row][p] at buf + off + b*img + row*row_stride + p. */
typedef struct dot_layout {
    cl_mem buf;
    int off, img, row;
} dot_layout;

/* out[b][r][p] = bias[r] + sum over j < k of w[r*w_r + j*w_j] * src[b][j][p]
 * (cl/conv.cl), then norm's batch norm and ReLU when given. */
static kd_status dot_run(kd_ctx *ctx, dot_layout out, dot_layout src, cl_mem w, int w_r, int w_j, cl_mem bias,
                         int n, int rows, int k, int plane, const kd_conv_norm *norm) {
    int has_bias = bias != NULL;
    cl_mem b = bias ? bias : w; /* any valid buffer when there is no bias */
    norm_args q = norm_args_of(norm, w);
    return kd_run2d(ctx, "conv", "conv_dot", ((size_t)plane + 7) / 8, (size_t)n,
                    KD_ARGS(KD_ARG(out.buf), KD_ARG(out.off), KD_ARG(out.img), KD_ARG(out.row), KD_ARG(src.buf),
                            KD_ARG(src.off), KD_ARG(src.img), KD_ARG(src.row), KD_ARG(w), KD_ARG(w_r),
                            KD_ARG(w_j), KD_ARG(b), KD_ARG(has_bias), KD_ARG(n), KD_ARG(rows), KD_ARG(k),
                            KD_ARG(plane), KD_ARG(q.on), KD_ARG(q.gamma), KD_ARG(q.beta), KD_ARG(q.mean),
                            KD_ARG(q.var), KD_ARG(q.eps), KD_ARG(q.relu)));
}

/* dW[co][j] += sum over b, p of dy[b][co][p] * x[b][j][p] (cl/conv.cl's
 * conv_dw_rows), through partial sums at ws + part_off when split. */
static kd_status dw_rows_run(kd_ctx *ctx, cl_mem dw, cl_mem ws, int part_off, dot_layout dy, dot_layout x, int n,
                             int cout, int cols, int plane) {
    int S = dw_rows_splits(n, cout, cols), acc = S == 1, len = cout * cols;
    cl_mem dst = S == 1 ? dw : ws;
    int dst_off = S == 1 ? 0 : part_off;
    size_t global[3] = {((size_t)cols + 1) / 2, ((size_t)cout + 3) / 4, (size_t)S};
    kd_kernel *kn;
    KD_TRY(kd_kernel_get(ctx, "conv", "conv_dw_rows", &kn));
    KD_TRY(kd_launch(ctx, kn, 3, global, NULL,
                     KD_ARGS(KD_ARG(dst), KD_ARG(dst_off), KD_ARG(acc), KD_ARG(dy.buf), KD_ARG(dy.off),
                             KD_ARG(dy.img), KD_ARG(dy.row), KD_ARG(x.buf), KD_ARG(x.off), KD_ARG(x.img),
                             KD_ARG(x.row), KD_ARG(n), KD_ARG(cout), KD_ARG(cols), KD_ARG(plane), KD_ARG(S))));
    if (S == 1) return KD_OK;
    return kd_run1d(ctx, "conv", "conv_sum_batches", (size_t)len,
                    KD_ARGS(KD_ARG(dw), KD_ARG(ws), KD_ARG(part_off), KD_ARG(S), KD_ARG(len)));
}

bool kd_conv_fuses_norm(const kd_ctx *ctx, const kd_conv_desc *d) {
    /* conv_dot stores the output, or (k x k, a batch) the layout change
     * after the GEMM does; a 1x1 GEMM or one image's writes NCHW itself. */
    return direct_pointwise(ctx, d) || direct_fwd(ctx, d) || (!is_pointwise(d) && d->n > 1);
}

static kd_status forward(kd_ctx *ctx, const kd_conv_desc *d, cl_mem out, cl_mem in, cl_mem weight, cl_mem bias,
                         cl_mem ws, const kd_conv_norm *norm) {
    KD_ASSERT(d->oh > 0 && d->ow > 0 && (!d->bias || bias));
    int n = d->n, cout = d->cout, plane = d->oh * d->ow;
    size_t P = (size_t)plane, NP = (size_t)n * P, K = (size_t)d->cin * (size_t)d->kh * (size_t)d->kw;
    if (direct_pointwise(ctx, d)) {
        dot_layout o = {out, 0, cout * plane, plane}, src = {in, 0, d->cin * plane, plane};
        return dot_run(ctx, o, src, weight, d->cin, 1, d->bias ? bias : NULL, n, cout, d->cin, plane, norm);
    }
    if (is_pointwise(d)) {
        /* The input already is [cin][P] per image: one GEMM per image, all
         * in one strided-batched call, writing NCHW directly. */
        KD_ASSERT(!norm); /* kd_conv_fuses_norm */
        kd_gemm_args g = {.m = (size_t)cout, .n = P, .k = K, .alpha = 1, .beta = 0,
                          .a = weight, .lda = K, .b = in, .ldb = P, .c = out, .ldc = P};
        KD_TRY(kd_sgemm_batched(ctx, &g, 0, K * P, (size_t)cout * P, (size_t)n));
        if (d->bias) KD_TRY(kd_conv_bias_add(ctx, out, bias, n, cout, plane));
        return KD_OK;
    }
    int col_off = 0, tmp_off = (int)(K * NP);
    KD_TRY(im2col(ctx, d, ws, col_off, in));
    if (direct_fwd(ctx, d)) { /* no GEMM (see direct_fwd) */
        dot_layout o = {out, 0, cout * plane, plane}, src = {ws, col_off, plane, (int)NP};
        return dot_run(ctx, o, src, weight, (int)K, 1, d->bias ? bias : NULL, n, cout, (int)K, plane, norm);
    }
    kd_gemm_args g = {.m = (size_t)cout, .n = NP, .k = K, .alpha = 1, .beta = 0,
                      .a = weight, .lda = K, .b = ws, .b_off = (size_t)col_off, .ldb = NP,
                      .c = ws, .c_off = (size_t)tmp_off, .ldc = NP};
    if (n == 1) { /* [cout][P] already is NCHW */
        KD_ASSERT(!norm); /* kd_conv_fuses_norm */
        g.c = out;
        g.c_off = 0;
        KD_TRY(kd_sgemm(ctx, &g));
        if (d->bias) KD_TRY(kd_conv_bias_add(ctx, out, bias, n, cout, plane));
        return KD_OK;
    }
    KD_TRY(kd_sgemm(ctx, &g));
    return cm_to_nchw(ctx, out, ws, tmp_off, d->bias ? bias : NULL, n, cout, plane, norm);
}

kd_status kd_conv_forward(kd_ctx *ctx, const kd_conv_desc *d, cl_mem out, cl_mem in, cl_mem weight,
                          cl_mem bias, cl_mem ws) {
    return forward(ctx, d, out, in, weight, bias, ws, NULL);
}

kd_status kd_conv_forward_norm(kd_ctx *ctx, const kd_conv_desc *d, cl_mem out, cl_mem in, cl_mem weight,
                               cl_mem bias, cl_mem ws, const kd_conv_norm *norm) {
    KD_ASSERT(norm && kd_conv_fuses_norm(ctx, d));
    return forward(ctx, d, out, in, weight, bias, ws, norm);
}

static kd_status dw_dot_run(kd_ctx *ctx, cl_mem dw, cl_mem dy, int dy_off, cl_mem col, int col_off, int np,
                            int cout, int k) {
    kd_kernel *kn;
    KD_TRY(kd_kernel_get(ctx, "conv", "conv_dw_dot", &kn));
    /* CPUs: one item per weight (on POCL, groups of 8, 16, 64, 256 items
     * were as fast or up to 1.7x slower: seed-cnn's first layer, 40 steps,
     * 129 / 130 / 128 / 217 / 224 ms); GPUs: a power-of-two group per
     * weight, up to 256. */
    size_t cap = kd_reduction_cap(ctx, kn, sizeof(float)), l = 1;
    if (!kd_ctx_serial_reductions(ctx))
        while (l * 2 <= cap && l * 2 <= 256 && l * 64 < (size_t)np) l *= 2;
    size_t global = (size_t)cout * (size_t)k * l;
    return kd_launch(ctx, kn, 1, &global, &l,
                     KD_ARGS(KD_ARG(dw), KD_ARG(dy), KD_ARG(dy_off), KD_ARG(col), KD_ARG(col_off), KD_ARG(np),
                             KD_ARG(k), KD_LOCAL(l * sizeof(float))));
}

kd_status kd_conv_backward(kd_ctx *ctx, const kd_conv_desc *d, cl_mem dx, cl_mem dweight, cl_mem dbias,
                           cl_mem dout, cl_mem in, cl_mem weight, cl_mem ws) {
    KD_ASSERT(d->oh > 0 && d->ow > 0);
    int n = d->n, cin = d->cin, cout = d->cout, plane = d->oh * d->ow;
    size_t P = (size_t)plane, NP = (size_t)n * P, K = (size_t)cin * (size_t)d->kh * (size_t)d->kw;
    if (d->bias && dbias) KD_TRY(kd_conv_bias_grad(ctx, dbias, dout, n, cout, plane));

    if (is_pointwise(d)) {
        if (dweight && direct_pointwise(ctx, d)) {
            dot_layout g = {dout, 0, cout * plane, plane}, x = {in, 0, cin * plane, plane};
            KD_TRY(dw_rows_run(ctx, dweight, ws, 0, g, x, n, cout, cin, plane));
        } else if (dweight && pointwise_dw_batched(d)) {
            kd_gemm_args g = {.tb = true, .m = (size_t)cout, .n = K, .k = P, .alpha = 1, .beta = 0,
                              .a = dout, .lda = P, .b = in, .ldb = P, .c = ws, .ldc = K};
            KD_TRY(kd_sgemm_batched(ctx, &g, (size_t)cout * P, K * P, (size_t)cout * K, (size_t)n));
            int len = cout * cin, part_off = 0;
            KD_TRY(kd_run1d(ctx, "conv", "conv_sum_batches", (size_t)len,
                            KD_ARGS(KD_ARG(dweight), KD_ARG(ws), KD_ARG(part_off), KD_ARG(n), KD_ARG(len))));
        } else if (dweight) {
            /* dW += dout[cout][n*P] * in[cin][n*P]^T. With one image both
             * already are in that layout; otherwise gather them in ws. */
            kd_gemm_args g = {.tb = true, .m = (size_t)cout, .n = K, .k = NP, .alpha = 1, .beta = 1,
                              .a = dout, .lda = NP, .b = in, .ldb = NP, .c = dweight, .ldc = K};
            if (n > 1) {
                int in_off = 0, dy_off = (int)(K * NP);
                KD_TRY(nchw_to_cm(ctx, ws, in_off, in, n, cin, plane));
                KD_TRY(nchw_to_cm(ctx, ws, dy_off, dout, n, cout, plane));
                g.a = ws;
                g.a_off = (size_t)dy_off;
                g.b = ws;
                g.b_off = (size_t)in_off;
            }
            KD_TRY(kd_sgemm(ctx, &g));
        }
        if (dx && direct_pointwise(ctx, d)) {
            dot_layout o = {dx, 0, cin * plane, plane}, src = {dout, 0, cout * plane, plane};
            KD_TRY(dot_run(ctx, o, src, weight, 1, cin, NULL, n, cin, cout, plane, NULL));
        } else if (dx) {
            kd_gemm_args g = {.ta = true, .m = K, .n = P, .k = (size_t)cout, .alpha = 1, .beta = 0,
                              .a = weight, .lda = K, .b = dout, .ldb = P, .c = dx, .ldc = P};
            KD_TRY(kd_sgemm_batched(ctx, &g, 0, (size_t)cout * P, K * P, (size_t)n));
        }
        return KD_OK;
    }

    if (!dweight && !dx) return KD_OK;
    int col_off = 0, dy_off = (int)(K * NP);
    cl_mem dy = ws; /* dout as [cout][n*P] */
    if (n == 1) {
        dy = dout;
        dy_off = 0;
    } else {
        KD_TRY(nchw_to_cm(ctx, ws, dy_off, dout, n, cout, plane));
    }
    if (dweight) {
        /* The forward's col may have been overwritten by other layers. */
        KD_TRY(im2col(ctx, d, ws, col_off, in));
        kd_gemm_args g = {.tb = true, .m = (size_t)cout, .n = K, .k = NP, .alpha = 1, .beta = 1,
                          .a = dy, .a_off = (size_t)dy_off, .lda = NP, .b = ws, .b_off = (size_t)col_off,
                          .ldb = NP, .c = dweight, .ldc = K};
        int splits = dw_splits(d);
        if (direct_dw(ctx, d)) {
            dot_layout gy = {dy, dy_off, plane, (int)NP}, x = {ws, col_off, plane, (int)NP};
            KD_TRY(dw_rows_run(ctx, dweight, ws, (int)dw_partials_offset(d), gy, x, n, cout, (int)K, plane));
        } else if (narrow(d)) {
            KD_TRY(dw_dot_run(ctx, dweight, dy, dy_off, ws, col_off, (int)NP, cout, (int)K));
        } else if (splits == 1) {
            KD_TRY(kd_sgemm(ctx, &g));
        } else {
            size_t part = NP / (size_t)splits;
            int len = cout * (int)K, part_off = (int)dw_partials_offset(d);
            g.k = part;
            g.beta = 0;
            g.c = ws;
            g.c_off = (size_t)part_off;
            KD_TRY(kd_sgemm_batched(ctx, &g, part, part, (size_t)len, (size_t)splits));
            KD_TRY(kd_run1d(ctx, "conv", "conv_sum_batches", (size_t)len,
                            KD_ARGS(KD_ARG(dweight), KD_ARG(ws), KD_ARG(part_off), KD_ARG(splits), KD_ARG(len))));
        }
    }
    if (dx && direct_dcol(ctx, d)) {
        /* dcol overwrites col: the queue is in order, so dW has read col
         * by the time this writes it. */
        dot_layout o = {ws, col_off, plane, (int)NP}, src = {dy, dy_off, plane, (int)NP};
        KD_TRY(dot_run(ctx, o, src, weight, 1, (int)K, NULL, n, (int)K, cout, plane, NULL));
        KD_TRY(col2im(ctx, d, dx, ws, col_off));
    } else if (dx) {
        /* dcol overwrites col: the queue is in order, so the dW GEMM has
         * read col by the time this one writes it. */
        kd_gemm_args g = {.ta = true, .m = K, .n = NP, .k = (size_t)cout, .alpha = 1, .beta = 0,
                          .a = weight, .lda = K, .b = dy, .b_off = (size_t)dy_off, .ldb = NP,
                          .c = ws, .c_off = (size_t)col_off, .ldc = NP};
        KD_TRY(kd_sgemm(ctx, &g));
        KD_TRY(col2im(ctx, d, dx, ws, col_off));
    }
    return KD_OK;
}
