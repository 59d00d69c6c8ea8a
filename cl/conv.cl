/* Convolution and dense helpers: im2col / col2im, the layout changes
 * between NCHW and the GEMM's channel-major [C][n*P] ("CM") layout, and the
 * bias add / bias gradient shared with the dense layer.
 *
 * col is [K = cin*kh*kw][n*P] with P = oh*ow: row k = (ci*kh + ky)*kw + kx,
 * column j = b*P + oy*ow + ox. Offsets into a workspace are in floats. */

/* 2-D launch: dim 0 walks columns j (adjacent work-items write adjacent
 * floats of a row, and for stride 1 read adjacent input pixels), dim 1 walks
 * input channels. Each work-item fills the kh*kw rows of its channel, so
 * the index divisions are paid once per kh*kw stores, and the tap loops
 * have the same trip count in every work-item (CPU compilers vectorise
 * across work-items). */
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
 * input is written once by one work-item: deterministic, no atomics. The
 * output range is computed up front (Caffe's col2im_gpu bounds), leaving no
 * divisions inside the loops. */
__kernel void conv_col2im(__global float *dx, __global const float *dcol, const int col_off, const int n,
                          const int cin, const int h, const int w, const int kh, const int kw,
                          const int stride, const int pad, const int oh, const int ow) {
    const int i = get_global_id(0);
    if (i >= n * cin * h * w) return;
    const int x = i % w, t = i / w;
    const int y = t % h, t2 = t / h;
    const int ci = t2 % cin, b = t2 / cin;
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
    dx[i] = s;
}

/* out[b][c][p] = cm[c][b*P + p] (+ bias[c]). One work-item per output. */
__kernel void conv_cm_to_nchw(__global float *out, __global const float *cm, const int cm_off,
                              __global const float *bias, const int has_bias, const int n, const int c,
                              const int plane) {
    const int i = get_global_id(0);
    if (i >= n * c * plane) return;
    const int p = i % plane, t = i / plane;
    const int ch = t % c, b = t / c;
    float v = cm[cm_off + ch * n * plane + b * plane + p];
    if (has_bias) v += bias[ch];
    out[i] = v;
}

/* cm[c][b*P + p] = x[b][c][p]. One work-item per element, read in order. */
__kernel void conv_nchw_to_cm(__global float *cm, const int cm_off, __global const float *x, const int n,
                              const int c, const int plane) {
    const int i = get_global_id(0);
    if (i >= n * c * plane) return;
    const int p = i % plane, t = i / plane;
    const int ch = t % c, b = t / c;
    cm[cm_off + ch * n * plane + b * plane + p] = x[i];
}

/* x[b][c][p] += bias[c], in place. */
__kernel void conv_bias_add(__global float *x, __global const float *bias, const int n, const int c,
                            const int plane) {
    const int i = get_global_id(0);
    if (i >= n * c * plane) return;
    x[i] += bias[(i / plane) % c];
}

/* db[c] += sum over b, p of x[b][c][p]. One work-group per channel, its
 * size a power of two: each work-item sums a strided slice, then a tree in
 * local memory. Fixed order, so the result is reproducible run to run. */
__kernel void conv_bias_grad(__global float *db, __global const float *x, const int n, const int c,
                             const int plane, __local float *part) {
    const int ch = get_group_id(0), t = get_local_id(0), wg = get_local_size(0);
    const int total = n * plane;
    float s = 0.0f;
    for (int i = t; i < total; i += wg) {
        const int b = i / plane, p = i - b * plane;
        s += x[(b * c + ch) * plane + p];
    }
    part[t] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = wg / 2; off > 0; off /= 2) {
        if (t < off) part[t] += part[t + off];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t == 0 && ch < c) db[ch] += part[0];
}

/* dst[i] += sum over b of part[b*len + i]: folds per-image partial weight
 * gradients, in a fixed order. */
__kernel void conv_sum_batches(__global float *dst, __global const float *part, const int nb, const int len) {
    const int i = get_global_id(0);
    if (i >= len) return;
    float s = 0.0f;
    for (int b = 0; b < nb; b++) s += part[b * len + i];
    dst[i] += s;
}
