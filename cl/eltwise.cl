/* Element-wise layers, one work-item per float. Every output element is
 * written by the work-item that read it, so the forwards run in place. */

/* x < 0 rather than max(x, 0): a NaN passes through (as PyTorch) so the
 * trainer's finite-loss check still sees it. */
__kernel void eltwise_relu_fwd(__global float *out, __global const float *in, const int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    float x = in[i];
    out[i] = x < 0.0f ? 0.0f : x;
}

__kernel void eltwise_relu_bwd(__global float *dx, __global const float *dout, __global const float *out,
                               const int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    dx[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

/* relu != 0: the ReLU after a residual join, fused (NaN passes). */
__kernel void eltwise_add_fwd(__global float *out, __global const float *a, __global const float *b,
                              const int n, const int relu) {
    int i = get_global_id(0);
    if (i >= n) return;
    float v = a[i] + b[i];
    out[i] = relu && v < 0.0f ? 0.0f : v;
}

/* murmur3's 32-bit finaliser: a bijection with full avalanche. */
static inline uint eltwise_fmix32(uint h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Counter-based dropout: element i is kept when hash(seed, counter, i) >=
 * threshold (= p * 2^32), so forward and backward rebuild the same mask
 * from (seed, counter) and no mask is stored. Forward and backward are the
 * same map: y = x * mask * scale. The 64-bit seed and counter arrive as
 * 32-bit halves and the hash stays in 32-bit integer ops (fast everywhere). */
__kernel void eltwise_dropout(__global float *out, __global const float *in, const int n, const uint threshold,
                              const float scale, const uint seed_lo, const uint seed_hi, const uint ctr_lo,
                              const uint ctr_hi) {
    int i = get_global_id(0);
    if (i >= n) return;
    uint ka = eltwise_fmix32(seed_lo ^ eltwise_fmix32(seed_hi + 0x9e3779b9u));
    uint kb = eltwise_fmix32(ctr_lo ^ eltwise_fmix32(ctr_hi + ka));
    uint h = eltwise_fmix32(eltwise_fmix32((uint)i + ka) ^ kb);
    out[i] = h >= threshold ? in[i] * scale : 0.0f;
}
