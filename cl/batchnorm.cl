/* BatchNorm2d, NCHW. The training kernels run one work-group per channel
 * (group id = channel) with a power-of-two local size: each work-item
 * strides over the channel's n*hw values, then a local-memory tree reduces
 * the partial sums. Statistics take one pass over data shifted by one of
 * the channel's values (sum(x-K), sum((x-K)^2)), because E[x^2]-E[x]^2
 * cancels catastrophically in float when |mean| >> std, while a K within a
 * few deviations of the mean does not. Every output element is written by the work-item that read
 * it, so out may alias in (and dx may alias dout).
 *
 * relu != 0 fuses the ReLU that follows (in place over this output, see
 * src/model/plan.c): forward writes max(y, 0) (a NaN passes, as
 * eltwise_relu_fwd), backward takes dout as the ReLU's gradient and masks
 * it by y > 0, y being that fused output (as eltwise_relu_bwd). */

static inline float bn_relu(float v, int relu) { return relu && v < 0.0f ? 0.0f : v; }
/* The gradient that reaches batch norm's output through the fused ReLU. */
static inline float bn_dy(__global const float *dout, __global const float *y, size_t o, int relu) {
    return relu && !(y[o] > 0.0f) ? 0.0f : dout[o];
}

/* Sums `v` over the work-group; every work-item gets the total. */
static inline float bn_reduce(__local float *scratch, float v) {
    int lid = get_local_id(0), L = get_local_size(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = scratch[0];
    /* The scratch is reused by the next reduction: nobody may overwrite it
     * before everyone has read the total. */
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* Walks the channel's n*hw values from j = lid in steps of L without a
 * division per element (a division in the loop defeats POCL's
 * vectorisation across work-items): (b, p) is the image and the position
 * in its plane, advanced by (L / hw, L % hw) with one carry. */
#define BN_FOR_EACH(o, body)                                                        \
    {                                                                                \
        int b_ = lid / hw, p_ = lid - b_ * hw, db_ = L / hw, dp_ = L - db_ * hw;     \
        while (b_ < n) {                                                             \
            size_t o = ((size_t)b_ * c + ch) * hw + p_;                              \
            body;                                                                    \
            b_ += db_;                                                               \
            p_ += dp_;                                                               \
            if (p_ >= hw) {                                                          \
                p_ -= hw;                                                            \
                b_++;                                                                \
            }                                                                        \
        }                                                                            \
    }

__kernel void bn_fwd_train(__global float *out, __global float *mean, __global float *invstd,
                           __global float *running_mean, __global float *running_var,
                           __global const float *in, __global const float *gamma, __global const float *beta,
                           const int n, const int c, const int hw, const float eps, const float momentum,
                           const int relu, __local float *scratch) {
    int ch = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    if (ch >= c) return; /* whole group leaves together: no barrier is skipped by half a group */
    int cnt = n * hw;

    /* One pass over shifted data: with K a value of the channel, sum(x-K)
     * and sum((x-K)^2) give the variance without the cancellation of
     * E[x^2]-E[x]^2 (K sits within a few deviations of the mean). */
    float K = in[(size_t)ch * hw];
    float s = 0.0f, q = 0.0f;
    BN_FOR_EACH(o, {
        float v = in[o] - K;
        s += v;
        q += v * v;
    })
    s = bn_reduce(scratch, s);
    q = bn_reduce(scratch, q);
    float ms = s / (float)cnt;
    float mu = K + ms;
    float var = fmax(q / (float)cnt - ms * ms, 0.0f);
    float is = 1.0f / sqrt(var + eps);

    float g = gamma[ch] * is, bb = beta[ch] - mu * g;
    BN_FOR_EACH(o, out[o] = bn_relu(in[o] * g + bb, relu);)
    if (lid == 0) {
        mean[ch] = mu;
        invstd[ch] = is;
        /* PyTorch stores the unbiased variance; one value has none, so it
         * falls back to the biased one (0) instead of dividing by zero. */
        float unbiased = cnt > 1 ? var * ((float)cnt / (float)(cnt - 1)) : var;
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mu;
        running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
    }
}

/* Inference: element-wise with the running statistics. A 2-D launch
 * (column, plane) whose columns stride over the plane, so that the channel,
 * its scale and shift are computed once per work-item and plane, not per
 * value: on POCL the 1-D form, a division, a modulo, a square root and a
 * division per value, took 6x a ReLU's time on the same tensor (16.6% of a
 * ResNet's evaluation). */
__kernel void bn_fwd_infer(__global float *out, __global const float *in, __global const float *gamma,
                           __global const float *beta, __global const float *running_mean,
                           __global const float *running_var, const int planes, const int c, const int hw,
                           const float eps, const int relu) {
    int col = get_global_id(0), cols = get_global_size(0), p = get_global_id(1);
    if (p >= planes) return;
    int ch = p % c;
    float is = 1.0f / sqrt(running_var[ch] + eps), scale = gamma[ch] * is, mu = running_mean[ch], b = beta[ch];
    __global const float *x = in + (size_t)p * hw;
    __global float *y = out + (size_t)p * hw;
    for (int i = col; i < hw; i += cols) y[i] = bn_relu((x[i] - mu) * scale + b, relu);
}

/* dx = gamma*invstd/N * (N*dy - sum(dy) - xhat*sum(dy*xhat)),
 * dgamma += sum(dy*xhat), dbeta += sum(dy). */
__kernel void bn_bwd(__global float *dx, __global float *dgamma, __global float *dbeta,
                     __global const float *dout, __global const float *in, __global const float *mean,
                     __global const float *invstd, __global const float *gamma, __global const float *y,
                     const int n, const int c, const int hw, const int relu, __local float *scratch) {
    int ch = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    if (ch >= c) return;
    int cnt = n * hw;
    float mu = mean[ch], is = invstd[ch];

    float sd = 0.0f, sdx = 0.0f;
    BN_FOR_EACH(o, {
        float dy = bn_dy(dout, y, o, relu);
        sd += dy;
        sdx += dy * (in[o] - mu);
    })
    sd = bn_reduce(scratch, sd);
    sdx = bn_reduce(scratch, sdx) * is;

    /* dx = k*(N*dy - sd - xhat*sdx) with xhat = (x-mu)*is, folded into a*dy + b*x + c0. */
    float k = gamma[ch] * is / (float)cnt, fn = (float)cnt;
    float a = k * fn, bx = -k * sdx * is, c0 = -k * sd + k * sdx * is * mu;
    BN_FOR_EACH(o, dx[o] = a * bn_dy(dout, y, o, relu) + bx * in[o] + c0;)
    if (lid == 0) {
        dgamma[ch] += sdx;
        dbeta[ch] += sd;
    }
}

/* CPU devices: one work-item per channel walking it serially, no barriers
 * (see src/layers/batchnorm.c for the measurements). Same arithmetic as the
 * work-group kernels above, except that the sums run in the eight lanes of
 * a float8: one running float is a chain of dependent adds that the
 * compiler may not reorder (no fast-math), one add per add latency. */
__kernel void bn_fwd_train_small(__global float *out, __global float *mean, __global float *invstd,
                                 __global float *running_mean, __global float *running_var,
                                 __global const float *in, __global const float *gamma, __global const float *beta,
                                 const int n, const int c, const int hw, const float eps, const float momentum,
                                 const int relu) {
    int ch = get_global_id(0);
    if (ch >= c) return;
    int cnt = n * hw;
    float K = in[(size_t)ch * hw];
    float8 s8 = 0.0f, q8 = 0.0f;
    float s = 0.0f, q = 0.0f;
    for (int b = 0; b < n; b++) {
        __global const float *x = in + ((size_t)b * c + ch) * hw;
        int p = 0;
        for (; p + 8 <= hw; p += 8) {
            float8 v = vload8(0, x + p) - K;
            s8 += v;
            q8 += v * v;
        }
        for (; p < hw; p++) {
            float v = x[p] - K;
            s += v;
            q += v * v;
        }
    }
    s += kd_lanes_sum(s8);
    q += kd_lanes_sum(q8);
    float ms = s / (float)cnt, mu = K + ms;
    float var = fmax(q / (float)cnt - ms * ms, 0.0f);
    float is = 1.0f / sqrt(var + eps);
    float g = gamma[ch] * is, bb = beta[ch] - mu * g;
    for (int b = 0; b < n; b++) {
        size_t o = ((size_t)b * c + ch) * hw;
        for (int p = 0; p < hw; p++) out[o + p] = bn_relu(in[o + p] * g + bb, relu);
    }
    mean[ch] = mu;
    invstd[ch] = is;
    float unbiased = cnt > 1 ? var * ((float)cnt / (float)(cnt - 1)) : var;
    running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mu;
    running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
}

__kernel void bn_bwd_small(__global float *dx, __global float *dgamma, __global float *dbeta,
                           __global const float *dout, __global const float *in, __global const float *mean,
                           __global const float *invstd, __global const float *gamma, __global const float *y,
                           const int n, const int c, const int hw, const int relu) {
    int ch = get_global_id(0);
    if (ch >= c) return;
    int cnt = n * hw;
    float mu = mean[ch], is = invstd[ch], sd = 0.0f, sdx = 0.0f;
    float8 sd8 = 0.0f, sdx8 = 0.0f;
    for (int b = 0; b < n; b++) {
        size_t o = ((size_t)b * c + ch) * hw;
        int p = 0;
        for (; p + 8 <= hw; p += 8) {
            float8 dy = vload8(0, dout + o + p);
            if (relu) dy = select((float8)0.0f, dy, vload8(0, y + o + p) > 0.0f);
            sd8 += dy;
            sdx8 += dy * (vload8(0, in + o + p) - mu);
        }
        for (; p < hw; p++) {
            float dy = bn_dy(dout, y, o + p, relu);
            sd += dy;
            sdx += dy * (in[o + p] - mu);
        }
    }
    sd += kd_lanes_sum(sd8);
    sdx += kd_lanes_sum(sdx8);
    sdx *= is;
    float k = gamma[ch] * is / (float)cnt, fn = (float)cnt;
    float a = k * fn, bx = -k * sdx * is, c0 = -k * sd + k * sdx * is * mu;
    for (int b = 0; b < n; b++) {
        size_t o = ((size_t)b * c + ch) * hw;
        for (int p = 0; p < hw; p++) dx[o + p] = a * bn_dy(dout, y, o + p, relu) + bx * in[o + p] + c0;
    }
    dgamma[ch] += sdx;
    dbeta[ch] += sd;
}
