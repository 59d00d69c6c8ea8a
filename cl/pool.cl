/* Pooling, NCHW. One work-item per output element forward; backward is a
 * gather with one work-item per input element that visits every window that
 * can contain it, so overlapping windows need no atomics and the sum order
 * is fixed (deterministic). Floor mode with pad <= k/2 (checked on the
 * host) guarantees every window holds at least one real input and never
 * reaches past h+pad, so the average's divisor is always k*k. */

/* First window index o with o*stride - pad + k > i (window reaches i), and
 * the last with o*stride - pad <= i, clamped to [0, on-1]. */
inline int pool_first_window(int i, int k, int stride, int pad) {
    int t = i + pad - k + 1;
    return t <= 0 ? 0 : (t + stride - 1) / stride;
}
inline int pool_last_window(int i, int stride, int pad, int on) {
    int o = (i + pad) / stride;
    return o < on - 1 ? o : on - 1;
}

__kernel void pool_max_fwd(__global float *out, __global int *argmax, __global const float *in,
                           const int planes, const int h, const int w, const int k, const int stride,
                           const int pad, const int oh, const int ow) {
    int gid = get_global_id(0);
    if (gid >= planes * oh * ow) return;
    int ox = gid % ow, oy = (gid / ow) % oh, plane = gid / (ow * oh);
    __global const float *src = in + (size_t)plane * h * w;
    int y0 = oy * stride - pad, x0 = ox * stride - pad;
    int y1 = min(y0 + k, h), x1 = min(x0 + k, w);
    y0 = max(y0, 0);
    x0 = max(x0, 0);
    float m = -INFINITY;
    int best = y0 * w + x0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            float v = src[y * w + x];
            /* Strict > keeps the first maximum; NaN wins so it propagates (PyTorch). */
            if (v > m || isnan(v)) {
                m = v;
                best = y * w + x;
            }
        }
    out[gid] = m;
    argmax[gid] = best;
}

__kernel void pool_max_bwd(__global float *dx, __global const float *dout, __global const int *argmax,
                           const int planes, const int h, const int w, const int k, const int stride,
                           const int pad, const int oh, const int ow) {
    int gid = get_global_id(0);
    if (gid >= planes * h * w) return;
    int x = gid % w, y = (gid / w) % h, plane = gid / (w * h);
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
    dx[gid] = s;
}

__kernel void pool_avg_fwd(__global float *out, __global const float *in, const int planes, const int h,
                           const int w, const int k, const int stride, const int pad, const int oh,
                           const int ow) {
    int gid = get_global_id(0);
    if (gid >= planes * oh * ow) return;
    int ox = gid % ow, oy = (gid / ow) % oh, plane = gid / (ow * oh);
    __global const float *src = in + (size_t)plane * h * w;
    int y0 = oy * stride - pad, x0 = ox * stride - pad;
    int y1 = min(y0 + k, h), x1 = min(x0 + k, w);
    y0 = max(y0, 0);
    x0 = max(x0, 0);
    float s = 0.0f;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) s += src[y * w + x];
    out[gid] = s / (float)(k * k);
}

__kernel void pool_avg_bwd(__global float *dx, __global const float *dout, const int planes, const int h,
                           const int w, const int k, const int stride, const int pad, const int oh,
                           const int ow) {
    int gid = get_global_id(0);
    if (gid >= planes * h * w) return;
    int x = gid % w, y = (gid / w) % h, plane = gid / (w * h);
    __global const float *g = dout + (size_t)plane * oh * ow;
    int oy0 = pool_first_window(y, k, stride, pad), oy1 = pool_last_window(y, stride, pad, oh);
    int ox0 = pool_first_window(x, k, stride, pad), ox1 = pool_last_window(x, stride, pad, ow);
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++) s += g[oy * ow + ox];
    dx[gid] = s / (float)(k * k);
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

__kernel void pool_gap_bwd(__global float *dx, __global const float *dout, const int planes, const int hw) {
    int gid = get_global_id(0);
    if (gid >= planes * hw) return;
    dx[gid] = dout[gid / hw] / (float)hw;
}
