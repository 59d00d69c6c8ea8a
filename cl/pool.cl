/* Pooling, NCHW. Floor mode with pad <= k/2 (checked on the host)
 * guarantees every window holds at least one real input and never reaches
 * past h+pad, so the average's divisor is always k*k.
 *
 * Two kernel families (src/layers/pool.c picks one by ctx->serial_reductions):
 * - parallel (GPUs): 3-D launches (x, y, plane) so that no id is decoded by
 *   division; one work-item per output forward, and backward a gather with
 *   one work-item per input that visits every window that can contain it,
 *   so overlapping windows need no atomics.
 * - serial (CPUs): one work-item per plane. Backward zeroes the plane and
 *   scatters every output into its window, which does one pass over the
 *   outputs instead of k*k/stride^2 window tests per input (the gather spent
 *   ~19 cycles per input on POCL, mostly in divisions).
 * Both add an input's window contributions in the same order (windows by
 * row, then column), so both families give the same bits. */

/* First window index o with o*stride - pad + k > i (window reaches i), and
 * the last with o*stride - pad <= i, clamped to [0, on-1]. */
static inline int pool_first_window(int i, int k, int stride, int pad) {
    int t = i + pad - k + 1;
    return t <= 0 ? 0 : (t + stride - 1) / stride;
}
static inline int pool_last_window(int i, int stride, int pad, int on) {
    int o = (i + pad) / stride;
    return o < on - 1 ? o : on - 1;
}

/* Max over the window at (oy, ox) of one plane; *best gets its flat index.
 * Strict > keeps the first maximum; a NaN wins so it propagates, the last
 * NaN if there are several (PyTorch: take when v > m || isnan(v)). The
 * NaNs are tracked beside the max rather than inside its comparison: with
 * the NaN test in it, the compare-and-select chain ran 4.5x slower on POCL;
 * branch-free because random data makes a branch unpredictable. */
static inline float pool_window_max(__global const float *src, int h, int w, int k, int stride, int pad, int oy, int ox,
                             int *best) {
    int y0 = oy * stride - pad, x0 = ox * stride - pad;
    int y1 = min(y0 + k, h), x1 = min(x0 + k, w);
    y0 = max(y0, 0);
    x0 = max(x0, 0);
    float m = -INFINITY;
    int b = y0 * w + x0, nan_at = -1;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            float v = src[y * w + x];
            bool take = v > m;
            m = take ? v : m;
            b = take ? y * w + x : b;
            nan_at = v != v ? y * w + x : nan_at;
        }
    *best = nan_at >= 0 ? nan_at : b;
    return nan_at >= 0 ? NAN : m;
}

static inline float pool_window_sum(__global const float *src, int h, int w, int k, int stride, int pad, int oy, int ox) {
    int y0 = oy * stride - pad, x0 = ox * stride - pad;
    int y1 = min(y0 + k, h), x1 = min(x0 + k, w);
    y0 = max(y0, 0);
    x0 = max(x0, 0);
    float s = 0.0f;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) s += src[y * w + x];
    return s;
}

/* ---- parallel family: 3-D launches (x, y, plane) ---- */

__kernel void pool_max_fwd(__global float *out, __global int *argmax, __global const float *in, const int planes,
                           const int h, const int w, const int k, const int stride, const int pad, const int oh,
                           const int ow) {
    int ox = get_global_id(0), oy = get_global_id(1), plane = get_global_id(2);
    if (ox >= ow || oy >= oh || plane >= planes) return;
    int best;
    float m = pool_window_max(in + (size_t)plane * h * w, h, w, k, stride, pad, oy, ox, &best);
    size_t o = ((size_t)plane * oh + oy) * ow + ox;
    out[o] = m;
    argmax[o] = best;
}

__kernel void pool_max_bwd(__global float *dx, __global const float *dout, __global const int *argmax,
                           const int planes, const int h, const int w, const int k, const int stride,
                           const int pad, const int oh, const int ow) {
    int x = get_global_id(0), y = get_global_id(1), plane = get_global_id(2);
    if (x >= w || y >= h || plane >= planes) return;
    int self = y * w + x;
    size_t base = (size_t)plane * oh * ow;
    int oy0 = pool_first_window(y, k, stride, pad), oy1 = pool_last_window(y, stride, pad, oh);
    int ox0 = pool_first_window(x, k, stride, pad), ox1 = pool_last_window(x, stride, pad, ow);
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++) {
            size_t o = base + (size_t)(oy * ow + ox);
            if (argmax[o] == self) s += dout[o];
        }
    dx[(size_t)plane * h * w + self] = s;
}

__kernel void pool_avg_fwd(__global float *out, __global const float *in, const int planes, const int h,
                           const int w, const int k, const int stride, const int pad, const int oh,
                           const int ow) {
    int ox = get_global_id(0), oy = get_global_id(1), plane = get_global_id(2);
    if (ox >= ow || oy >= oh || plane >= planes) return;
    float s = pool_window_sum(in + (size_t)plane * h * w, h, w, k, stride, pad, oy, ox);
    out[((size_t)plane * oh + oy) * ow + ox] = s / (float)(k * k);
}

__kernel void pool_avg_bwd(__global float *dx, __global const float *dout, const int planes, const int h,
                           const int w, const int k, const int stride, const int pad, const int oh,
                           const int ow) {
    int x = get_global_id(0), y = get_global_id(1), plane = get_global_id(2);
    if (x >= w || y >= h || plane >= planes) return;
    __global const float *g = dout + (size_t)plane * oh * ow;
    int oy0 = pool_first_window(y, k, stride, pad), oy1 = pool_last_window(y, stride, pad, oh);
    int ox0 = pool_first_window(x, k, stride, pad), ox1 = pool_last_window(x, stride, pad, ow);
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++) s += g[oy * ow + ox];
    dx[((size_t)plane * h + y) * w + x] = s / (float)(k * k);
}


/* ---- serial family: one work-item per plane ---- */

__kernel void pool_max_fwd_serial(__global float *out, __global int *argmax, __global const float *in,
                                  const int planes, const int h, const int w, const int k, const int stride,
                                  const int pad, const int oh, const int ow) {
    int plane = get_global_id(0);
    if (plane >= planes) return;
    __global const float *src = in + (size_t)plane * h * w;
    __global float *o = out + (size_t)plane * oh * ow;
    __global int *a = argmax + (size_t)plane * oh * ow;
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            int best;
            o[oy * ow + ox] = pool_window_max(src, h, w, k, stride, pad, oy, ox, &best);
            a[oy * ow + ox] = best;
        }
}

/* dx = 0, then dx[argmax[o]] += dout[o] in output order: for any input the
 * windows arrive by row then column, as in the gather above. */
__kernel void pool_max_bwd_serial(__global float *dx, __global const float *dout, __global const int *argmax,
                                  const int planes, const int h, const int w, const int k, const int stride,
                                  const int pad, const int oh, const int ow) {
    int plane = get_global_id(0);
    if (plane >= planes) return;
    __global float *d = dx + (size_t)plane * h * w;
    __global const float *g = dout + (size_t)plane * oh * ow;
    __global const int *a = argmax + (size_t)plane * oh * ow;
    int hw = h * w, ohw = oh * ow;
    for (int i = 0; i < hw; i++) d[i] = 0.0f;
    for (int o = 0; o < ohw; o++) d[a[o]] += g[o];
}

__kernel void pool_avg_fwd_serial(__global float *out, __global const float *in, const int planes, const int h,
                                  const int w, const int k, const int stride, const int pad, const int oh,
                                  const int ow) {
    int plane = get_global_id(0);
    if (plane >= planes) return;
    __global const float *src = in + (size_t)plane * h * w;
    __global float *o = out + (size_t)plane * oh * ow;
    float inv = 1.0f / (float)(k * k);
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            o[oy * ow + ox] = pool_window_sum(src, h, w, k, stride, pad, oy, ox) * inv;
}

/* dx = 0, dx[window(o)] += dout[o] for every o in order, then dx /= k*k:
 * the same sums, in the same order, as the gather. */
__kernel void pool_avg_bwd_serial(__global float *dx, __global const float *dout, const int planes, const int h,
                                  const int w, const int k, const int stride, const int pad, const int oh,
                                  const int ow) {
    int plane = get_global_id(0);
    if (plane >= planes) return;
    __global float *d = dx + (size_t)plane * h * w;
    __global const float *g = dout + (size_t)plane * oh * ow;
    int hw = h * w;
    for (int i = 0; i < hw; i++) d[i] = 0.0f;
    for (int oy = 0; oy < oh; oy++) {
        int y0 = max(oy * stride - pad, 0), y1 = min(oy * stride - pad + k, h);
        for (int ox = 0; ox < ow; ox++) {
            int x0 = max(ox * stride - pad, 0), x1 = min(ox * stride - pad + k, w);
            float v = g[oy * ow + ox];
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) d[y * w + x] += v;
        }
    }
    float k2 = (float)(k * k);
    for (int i = 0; i < hw; i++) d[i] /= k2;
}

/* Global average pooling: one work-item per (n, c) plane. The planes that
 * reach GAP are small (7x7 in a ResNet), so a serial sum is cheap. */
__kernel void pool_gap_fwd(__global float *out, __global const float *in, const int planes, const int hw) {
    int gid = get_global_id(0);
    if (gid >= planes) return;
    __global const float *src = in + (size_t)gid * hw;
    float s = 0.0f;
    for (int i = 0; i < hw; i++) s += src[i];
    out[gid] = s / (float)hw;
}

/* 2-D launch (position, plane). */
__kernel void pool_gap_bwd(__global float *dx, __global const float *dout, const int planes, const int hw) {
    int p = get_global_id(0), plane = get_global_id(1);
    if (p >= hw || plane >= planes) return;
    dx[(size_t)plane * hw + p] = dout[plane] / (float)hw;
}
