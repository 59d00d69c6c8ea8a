/* Convolution and dense helpers: im2col / col2im, the layout changes
 * between NCHW and the GEMM's channel-major [C][n*P] ("CM") layout, and the
 * bias add / bias gradient shared with the dense layer.
 *
 * col is [K = cin*kh*kw][n*P] with P = oh*ow: row k = (ci*kh + ky)*kw + kx,
 * column j = b*P + oy*ow + ox. Offsets into a workspace are in floats.
 *
 * Two kernel families (src/layers/conv.c picks one by ctx->serial_reductions):
 * - parallel (GPUs): one work-item per element or per column, the
 *   fastest-moving index in dimension 0 (coalesced). The layout changes and
 *   the bias add take 3-D launches, so no id is decoded by division; im2col
 *   and col2im still divide a few times per work-item, not per element.
 * - *_rows (CPUs): one work-item per image row, walking it serially. On
 *   POCL the per-element kernels spent most of their time decoding a flat id
 *   by division and could not be vectorised; a row loop is plain strided
 *   copying that the compiler vectorises. */

/* Inference batch norm over row (channel) r's output, (v - mean) * gamma /
 * sqrt(var + eps) + beta, as bn_fwd_infer computes it, then the ReLU that
 * follows it (bn_relu's semantics: NaN passes). Without norm, v itself.
 * Applied by whichever kernel stores a convolution's output (conv_dot, the
 * layout change after the GEMM), so that the tensor is written once. */
typedef struct dot_norm {
    float mu, scale, shift;
} dot_norm;
static inline dot_norm dot_norm_of(int r, int norm, __global const float *gamma, __global const float *beta,
                                   __global const float *mean, __global const float *var, float eps) {
    dot_norm q = {0.0f, 1.0f, 0.0f};
    if (norm) {
        q.mu = mean[r];
        q.scale = gamma[r] * (1.0f / sqrt(var[r] + eps));
        q.shift = beta[r];
    }
    return q;
}
static inline float8 dot_out8(float8 v, dot_norm q, int norm, int relu) {
    if (!norm) return v;
    v = (v - q.mu) * q.scale + q.shift;
    return relu ? select(v, (float8)0.0f, v < 0.0f) : v;
}
static inline float dot_out1(float v, dot_norm q, int norm, int relu) {
    if (!norm) return v;
    v = (v - q.mu) * q.scale + q.shift;
    return relu && v < 0.0f ? 0.0f : v;
}

/* ---- parallel family ---- */

/* 2-D launch: dim 0 walks columns j (adjacent work-items write adjacent
 * floats of a row, and for stride 1 read adjacent input pixels), dim 1 walks
 * input channels. Each work-item fills the kh*kw rows of its channel, so
 * the index divisions are paid once per kh*kw stores. */
__kernel void conv_im2col(__global float *col, const int col_off, __global const float *in, const int n,
                          const int cin, const int h, const int w, const int kh, const int kw,
                          const int stride, const int pad, const int oh, const int ow) {
    const int j = get_global_id(0), ci = get_global_id(1);
    const int P = oh * ow, NP = n * P;
    if (j >= NP || ci >= cin) return;
    const int b = j / P, p = j - b * P;
    const int oy = p / ow, ox = p - oy * ow;
    const int y0 = oy * stride - pad, x0 = ox * stride - pad;
    __global const float *src = in + (b * cin + ci) * h * w;
    __global float *dst = col + col_off + ci * kh * kw * NP + j;
    for (int ky = 0; ky < kh; ky++) {
        const int iy = y0 + ky;
        const bool row_in = iy >= 0 && iy < h;
        for (int kx = 0; kx < kw; kx++) {
            const int ix = x0 + kx;
            dst[(ky * kw + kx) * NP] = row_in && ix >= 0 && ix < w ? src[iy * w + ix] : 0.0f;
        }
    }
}

/* dx[b][ci][y][x] = sum of the dcol entries that im2col copied from that
 * pixel: a gather over the outputs (oy, ox) whose window covers it, so every
 * input is written once by one work-item: deterministic, no atomics. 3-D
 * launch (x, y, b*cin + ci); the output range is computed up front (Caffe's
 * col2im_gpu bounds), leaving no divisions inside the loops. */
__kernel void conv_col2im(__global float *dx, __global const float *dcol, const int col_off, const int n,
                          const int cin, const int h, const int w, const int kh, const int kw,
                          const int stride, const int pad, const int oh, const int ow) {
    const int x = get_global_id(0), y = get_global_id(1), plane = get_global_id(2);
    if (x >= w || y >= h || plane >= n * cin) return;
    const int b = plane / cin, ci = plane - b * cin;
    const int P = oh * ow, NP = n * P;
    const int yp = y + pad, xp = x + pad;
    /* oy covers the pixel when 0 <= yp - oy*stride < kh. */
    const int oy0 = yp < kh ? 0 : (yp - kh) / stride + 1, oy1 = min(yp / stride + 1, oh);
    const int ox0 = xp < kw ? 0 : (xp - kw) / stride + 1, ox1 = min(xp / stride + 1, ow);
    __global const float *base = dcol + col_off + ci * kh * kw * NP + b * P;
    float s = 0.0f;
    for (int oy = oy0; oy < oy1; oy++) {
        const int ky = yp - oy * stride;
        for (int ox = ox0; ox < ox1; ox++) {
            const int kx = xp - ox * stride;
            s += base[(ky * kw + kx) * NP + oy * ow + ox];
        }
    }
    dx[((size_t)plane * h + y) * w + x] = s;
}

/* out[b][c][p] = cm[c][b*P + p] (+ bias[c]). 3-D launch (p, c, b). */
__kernel void conv_cm_to_nchw(__global float *out, __global const float *cm, const int cm_off,
                              __global const float *bias, const int has_bias, const int n, const int c,
                              const int plane, const int norm, __global const float *gamma,
                              __global const float *beta, __global const float *mean, __global const float *var,
                              const float eps, const int relu) {
    const int p = get_global_id(0), ch = get_global_id(1), b = get_global_id(2);
    if (p >= plane || ch >= c || b >= n) return;
    float v = cm[cm_off + (ch * n + b) * plane + p];
    if (has_bias) v += bias[ch];
    out[(b * c + ch) * plane + p] = dot_out1(v, dot_norm_of(ch, norm, gamma, beta, mean, var, eps), norm, relu);
}

/* cm[c][b*P + p] = x[b][c][p]. 3-D launch (p, c, b). */
__kernel void conv_nchw_to_cm(__global float *cm, const int cm_off, __global const float *x, const int n,
                              const int c, const int plane) {
    const int p = get_global_id(0), ch = get_global_id(1), b = get_global_id(2);
    if (p >= plane || ch >= c || b >= n) return;
    cm[cm_off + (ch * n + b) * plane + p] = x[(b * c + ch) * plane + p];
}

/* x[b][c][p] += bias[c], in place. 3-D launch (p, c, b). */
__kernel void conv_bias_add(__global float *x, __global const float *bias, const int n, const int c,
                            const int plane) {
    const int p = get_global_id(0), ch = get_global_id(1), b = get_global_id(2);
    if (p >= plane || ch >= c || b >= n) return;
    x[(b * c + ch) * plane + p] += bias[ch];
}

/* db[c] += sum over b, p of x[b][c][p]. One work-group per channel, its
 * size a power of two: each work-item sums a strided slice, then a tree in
 * local memory. Fixed order, so the result is reproducible run to run. */
__kernel void conv_bias_grad(__global float *db, __global const float *x, const int n, const int c,
                             const int plane, __local float *part) {
    const int ch = get_group_id(0), t = get_local_id(0), wg = get_local_size(0);
    const int total = n * plane;
    float s = 0.0f;
    /* (b, p) of element i = t + k*wg advanced without a division per step. */
    int b = t / plane, p = t - b * plane;
    const int db_ = wg / plane, dp_ = wg - db_ * plane;
    for (int i = t; i < total; i += wg) {
        s += x[(b * c + ch) * plane + p];
        b += db_;
        p += dp_;
        if (p >= plane) {
            p -= plane;
            b++;
        }
    }
    part[t] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = wg / 2; off > 0; off /= 2) {
        if (t < off) part[t] += part[t + off];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t == 0 && ch < c) db[ch] += part[0];
}

/* dst[i] += sum over b of part[part_off + b*len + i]: folds partial weight
 * gradients (per image, or per slice of a split reduction) in a fixed order. */
/* dW[o] += sum over i < np of dy[co][i] * col[j][i], o = co * k + j: a
 * narrow layer's weight gradient (k = cin*kh*kw small, np = n*oh*ow long)
 * as one dot product per weight, one work-group each. The group's items
 * stride over i and a local tree adds their sums. A local size of 1 (CPUs)
 * is a serial loop over 16 running sums in two float8: one running sum is
 * a chain of dependent adds that the compiler may not reorder (no
 * fast-math), which ran at one add per add latency, 0.6 GFLOP/s on POCL. */
__kernel void conv_dw_dot(__global float *dw, __global const float *dy, const int dy_off,
                          __global const float *col, const int col_off, const int np, const int k,
                          __local float *scratch) {
    int o = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    int co = o / k, j = o - co * k;
    __global const float *a = dy + dy_off + (size_t)co * np, *b = col + col_off + (size_t)j * np;
    float s = 0.0f;
    if (L == 1) {
        float8 v0 = 0.0f, v1 = 0.0f;
        int i = 0;
        for (; i + 16 <= np; i += 16) {
            v0 += vload8(0, a + i) * vload8(0, b + i);
            v1 += vload8(0, a + i + 8) * vload8(0, b + i + 8);
        }
        s = kd_lanes_sum(v0 + v1);
        for (; i < np; i++) s += a[i] * b[i];
    } else {
        for (int i = lid; i < np; i += L) s += a[i] * b[i];
    }
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = L / 2; h > 0; h >>= 1) {
        if (lid < h) scratch[lid] += scratch[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) dw[o] += scratch[0];
}

/* out[b][r][p] = bias[r] + sum over j < k of w[r*w_r + j*w_j] * src[b][j][p]
 * for r < rows, p < plane, b < n, where [b][j][p] of src and [b][r][p] of out
 * are addressed through strides (an image's, a row's; p is contiguous). One
 * kernel for the convolutions that CLBlast serves poorly on CPUs (see
 * conv.c's direct rules): a narrow layer's forward from im2col's columns
 * (src = col, k = cin*kh*kw), a 1x1 layer's forward and input gradient
 * straight on NCHW (no per-image GEMMs), and the column gradient of a layer
 * with few output channels (w transposed through w_r = 1, w_j = K). Each
 * work-item computes 8 adjacent outputs of one image for every row, four
 * rows at a time so that each float8 of src loaded serves four FMAs. With
 * norm, an inference batch norm (and relu, its ReLU) is applied to each
 * output as it is stored, so that the normalised tensor is written once
 * (dot_norm_of). 2-D launch: dim 0 walks groups of 8 columns of the plane,
 * dim 1 the images. */
__kernel void conv_dot(__global float *out, const int out_off, const int out_img, const int out_row,
                       __global const float *src, const int src_off, const int src_img, const int src_row,
                       __global const float *w, const int w_r, const int w_j, __global const float *bias,
                       const int has_bias, const int n, const int rows, const int k, const int plane,
                       const int norm, __global const float *gamma, __global const float *beta,
                       __global const float *mean, __global const float *var, const float eps, const int relu) {
    const int p0 = get_global_id(0) * 8, b = get_global_id(1);
    if (p0 >= plane || b >= n) return;
    __global const float *s = src + src_off + (size_t)b * src_img + p0;
    __global float *d = out + out_off + (size_t)b * out_img + p0;
    if (p0 + 8 <= plane) {
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            float8 a0 = (float8)(has_bias ? bias[r] : 0.0f), a1 = (float8)(has_bias ? bias[r + 1] : 0.0f);
            float8 a2 = (float8)(has_bias ? bias[r + 2] : 0.0f), a3 = (float8)(has_bias ? bias[r + 3] : 0.0f);
            __global const float *w0 = w + (size_t)r * w_r;
            for (int j = 0; j < k; j++) {
                const float8 x = vload8(0, s + (size_t)j * src_row);
                const size_t o = (size_t)j * w_j;
                a0 += w0[o] * x;
                a1 += w0[o + w_r] * x;
                a2 += w0[o + 2 * w_r] * x;
                a3 += w0[o + 3 * w_r] * x;
            }
            float8 acc[4] = {a0, a1, a2, a3};
            for (int i = 0; i < 4; i++)
                vstore8(dot_out8(acc[i], dot_norm_of(r + i, norm, gamma, beta, mean, var, eps), norm, relu), 0,
                        d + (size_t)(r + i) * out_row);
        }
        for (; r < rows; r++) {
            float8 acc = (float8)(has_bias ? bias[r] : 0.0f);
            for (int j = 0; j < k; j++) acc += w[(size_t)r * w_r + (size_t)j * w_j] * vload8(0, s + (size_t)j * src_row);
            vstore8(dot_out8(acc, dot_norm_of(r, norm, gamma, beta, mean, var, eps), norm, relu), 0,
                    d + (size_t)r * out_row);
        }
        return;
    }
    for (int r = 0; r < rows; r++) {
        const dot_norm q = dot_norm_of(r, norm, gamma, beta, mean, var, eps);
        for (int i = 0; i < plane - p0; i++) {
            float acc = has_bias ? bias[r] : 0.0f;
            for (int j = 0; j < k; j++) acc += w[(size_t)r * w_r + (size_t)j * w_j] * s[(size_t)j * src_row + i];
            d[(size_t)r * out_row + i] = dot_out1(acc, q, norm, relu);
        }
    }
}

/* dst[s][co][j] (+)= sum over images b = s, s + S, ... < n and p < plane of
 * dy[b][co][p] * x[b][j][p], the [b][row][p] of dy and x addressed through
 * strides (an image's, a row's; p contiguous): a convolution's weight
 * gradient without a GEMM, from NCHW (1x1 layers: x is the input) or from
 * the [row][n*P] layouts (dy gathered, x im2col's columns). 4 output
 * channels by 2 columns per work-item, so that each pair of float8 loads
 * feeds 8 FMAs. S > 1 splits the images into partial sums (added after by
 * conv_sum_batches) when the weights alone give too few work-items; with
 * S = 1 the sums add into dW itself (accumulate = 1).
 * 3-D launch (cols / 2, cout / 4, S), sizes that kd_launch may round up. */
__kernel void conv_dw_rows(__global float *dst, const int dst_off, const int accumulate, __global const float *dy,
                           const int dy_off, const int dy_img, const int dy_row, __global const float *x,
                           const int x_off, const int x_img, const int x_row, const int n, const int cout,
                           const int cols, const int plane, const int S) {
    const int j0 = get_global_id(0) * 2, co0 = get_global_id(1) * 4, sp = get_global_id(2);
    if (j0 >= cols || co0 >= cout || sp >= S) return;
    const int nco = min(4, cout - co0), nj = min(2, cols - j0);
    float acc[4][2] = {{0.0f}};
    if (nco == 4 && nj == 2) {
        float8 s00 = 0.0f, s01 = 0.0f, s10 = 0.0f, s11 = 0.0f, s20 = 0.0f, s21 = 0.0f, s30 = 0.0f, s31 = 0.0f;
        for (int b = sp; b < n; b += S) {
            __global const float *g0 = dy + dy_off + (size_t)b * dy_img + (size_t)co0 * dy_row;
            __global const float *x0 = x + x_off + (size_t)b * x_img + (size_t)j0 * x_row;
            int p = 0;
            for (; p + 8 <= plane; p += 8) {
                const float8 u = vload8(0, x0 + p), v = vload8(0, x0 + x_row + p);
                float8 g = vload8(0, g0 + p);
                s00 += g * u;
                s01 += g * v;
                g = vload8(0, g0 + dy_row + p);
                s10 += g * u;
                s11 += g * v;
                g = vload8(0, g0 + 2 * dy_row + p);
                s20 += g * u;
                s21 += g * v;
                g = vload8(0, g0 + 3 * dy_row + p);
                s30 += g * u;
                s31 += g * v;
            }
            for (; p < plane; p++)
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 2; j++) acc[i][j] += g0[i * dy_row + p] * x0[j * x_row + p];
        }
        float8 all[8] = {s00, s01, s10, s11, s20, s21, s30, s31};
        for (int q = 0; q < 8; q++) acc[q / 2][q % 2] += kd_lanes_sum(all[q]);
    } else {
        for (int b = sp; b < n; b += S) {
            __global const float *g0 = dy + dy_off + (size_t)b * dy_img + (size_t)co0 * dy_row;
            __global const float *x0 = x + x_off + (size_t)b * x_img + (size_t)j0 * x_row;
            for (int i = 0; i < nco; i++)
                for (int j = 0; j < nj; j++) {
                    float t = 0.0f;
                    for (int p = 0; p < plane; p++) t += g0[i * dy_row + p] * x0[j * x_row + p];
                    acc[i][j] += t;
                }
        }
    }
    __global float *o = dst + dst_off + ((size_t)sp * cout + co0) * cols + j0;
    for (int i = 0; i < nco; i++)
        for (int j = 0; j < nj; j++) o[i * cols + j] = (accumulate ? o[i * cols + j] : 0.0f) + acc[i][j];
}

__kernel void conv_sum_batches(__global float *dst, __global const float *part, const int part_off, const int nb,
                               const int len) {
    const int i = get_global_id(0);
    if (i >= len) return;
    part += part_off;
    float s = 0.0f;
    for (int b = 0; b < nb; b++) s += part[b * len + i];
    dst[i] += s;
}

/* ---- serial (CPU) family: one work-item per row ---- */

/* Output columns ox in [*lo, *hi) whose tap kx lands inside the input row,
 * i.e. 0 <= ox*stride - pad + kx < w. Stride 1 needs no division. */
static inline void conv_tap_range(int kx, int w, int stride, int pad, int ow, int *lo, int *hi) {
    int first = pad - kx;        /* ox*stride >= first */
    int last = w - 1 + pad - kx; /* ox*stride <= last */
    int l, e;
    if (stride == 1) {
        l = max(first, 0);
        e = last < 0 ? 0 : min(last + 1, ow);
    } else {
        l = first <= 0 ? 0 : (first + stride - 1) / stride;
        e = last < 0 ? 0 : min(last / stride + 1, ow);
    }
    *lo = min(l, e);
    *hi = e;
}

/* 3-D launch (oy, ci, b): the kh*kw col rows of output row oy of one image
 * and channel, each a strided copy with zeros where the tap is padding. */
__kernel void conv_im2col_rows(__global float *restrict col, const int col_off, __global const float *restrict in,
                               const int n, const int cin, const int h, const int w, const int kh, const int kw,
                               const int stride, const int pad, const int oh, const int ow) {
    const int oy = get_global_id(0), ci = get_global_id(1), b = get_global_id(2);
    if (oy >= oh || ci >= cin || b >= n) return;
    const int NP = n * oh * ow;
    __global const float *src = in + (b * cin + ci) * h * w;
    __global float *dst = col + col_off + ci * kh * kw * NP + (b * oh + oy) * ow;
    for (int ky = 0; ky < kh; ky++) {
        const int iy = oy * stride - pad + ky;
        for (int kx = 0; kx < kw; kx++, dst += NP) {
            if (iy < 0 || iy >= h) {
                for (int ox = 0; ox < ow; ox++) dst[ox] = 0.0f;
                continue;
            }
            int lo, hi;
            conv_tap_range(kx, w, stride, pad, ow, &lo, &hi);
            __global const float *s = src + iy * w - pad + kx;
            for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
            for (int ox = lo; ox < hi; ox++) dst[ox] = s[ox * stride];
            for (int ox = hi; ox < ow; ox++) dst[ox] = 0.0f;
        }
    }
}

/* 3-D launch (y, ci, b): input row y of one image and channel, zeroed, then
 * the dcol row segment of every tap whose window covers it added in. Each
 * pixel gets its sum in (ky, kx) order, deterministic and without atomics. */
__kernel void conv_col2im_rows(__global float *restrict dx, __global const float *restrict dcol, const int col_off,
                               const int n, const int cin, const int h, const int w, const int kh, const int kw,
                               const int stride, const int pad, const int oh, const int ow) {
    const int y = get_global_id(0), ci = get_global_id(1), b = get_global_id(2);
    if (y >= h || ci >= cin || b >= n) return;
    const int NP = n * oh * ow;
    __global float *d = dx + ((b * cin + ci) * h + y) * w;
    for (int x = 0; x < w; x++) d[x] = 0.0f;
    for (int ky = 0; ky < kh; ky++) {
        const int t = y + pad - ky; /* = oy * stride */
        if (t < 0) break;
        const int oy = stride == 1 ? t : t / stride;
        if (oy * stride != t || oy >= oh) continue;
        __global const float *src = dcol + col_off + (ci * kh + ky) * kw * NP + (b * oh + oy) * ow;
        for (int kx = 0; kx < kw; kx++, src += NP) {
            int lo, hi;
            conv_tap_range(kx, w, stride, pad, ow, &lo, &hi);
            __global float *dd = d - pad + kx;
            for (int ox = lo; ox < hi; ox++) dd[ox * stride] += src[ox];
        }
    }
}

/* 2-D launch (c, b): one row of P floats, copied with the bias added. */
__kernel void conv_cm_to_nchw_rows(__global float *restrict out, __global const float *restrict cm, const int cm_off,
                                   __global const float *bias, const int has_bias, const int n, const int c,
                                   const int plane, const int norm, __global const float *gamma,
                                   __global const float *beta, __global const float *mean,
                                   __global const float *var, const float eps, const int relu) {
    const int ch = get_global_id(0), b = get_global_id(1);
    if (ch >= c || b >= n) return;
    __global const float *s = cm + cm_off + (ch * n + b) * plane;
    __global float *d = out + (b * c + ch) * plane;
    const float bb = has_bias ? bias[ch] : 0.0f;
    if (!norm) {
        for (int p = 0; p < plane; p++) d[p] = s[p] + bb;
        return;
    }
    const dot_norm q = dot_norm_of(ch, norm, gamma, beta, mean, var, eps);
    for (int p = 0; p < plane; p++) d[p] = dot_out1(s[p] + bb, q, norm, relu);
}

__kernel void conv_nchw_to_cm_rows(__global float *restrict cm, const int cm_off, __global const float *restrict x,
                                   const int n, const int c, const int plane) {
    const int ch = get_global_id(0), b = get_global_id(1);
    if (ch >= c || b >= n) return;
    __global const float *s = x + (b * c + ch) * plane;
    __global float *d = cm + cm_off + (ch * n + b) * plane;
    for (int p = 0; p < plane; p++) d[p] = s[p];
}

__kernel void conv_bias_add_rows(__global float *x, __global const float *bias, const int n, const int c,
                                 const int plane) {
    const int ch = get_global_id(0), b = get_global_id(1);
    if (ch >= c || b >= n) return;
    __global float *d = x + (b * c + ch) * plane;
    const float bb = bias[ch];
    for (int p = 0; p < plane; p++) d[p] += bb;
}

/* One work-item per channel. Four interleaved partial sums break the
 * dependency chain of one running sum (float adds are not reassociated
 * by the compiler); the order is still fixed. */
__kernel void conv_bias_grad_rows(__global float *db, __global const float *x, const int n, const int c,
                                  const int plane) {
    const int ch = get_global_id(0);
    if (ch >= c) return;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (int b = 0; b < n; b++) {
        __global const float *r = x + (b * c + ch) * plane;
        int p = 0;
        for (; p + 4 <= plane; p += 4) {
            s0 += r[p];
            s1 += r[p + 1];
            s2 += r[p + 2];
            s3 += r[p + 3];
        }
        for (; p < plane; p++) s0 += r[p];
    }
    db[ch] += (s0 + s1) + (s2 + s3);
}

