/* BatchNorm2d, NCHW. The training kernels run one work-group per channel
 * (group id = channel) with a power-of-two local size: each work-item
 * strides over the channel's n*hw values, then a local-memory tree reduces
 * the partial sums. Statistics are two-pass (mean, then the mean of squared
 * deviations) because E[x^2]-E[x]^2 cancels catastrophically in float when
 * |mean| >> std. Every output element is written by the work-item that read
 * it, so out may alias in (and dx may alias dout). */

/* Sums `v` over the work-group; every work-item gets the total. */
inline float bn_reduce(__local float *scratch, float v) {
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

/* Offset of the j-th value (j < n*hw) of channel ch. */
inline size_t bn_at(int j, int ch, int c, int hw) {
    int b = j / hw;
    return ((size_t)b * c + ch) * hw + (j - b * hw);
}

__kernel void bn_fwd_train(__global float *out, __global float *mean, __global float *invstd,
                           __global float *running_mean, __global float *running_var,
                           __global const float *in, __global const float *gamma, __global const float *beta,
                           const int n, const int c, const int hw, const float eps, const float momentum,
                           __local float *scratch) {
    int ch = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    if (ch >= c) return; /* whole group leaves together: no barrier is skipped by half a group */
    int cnt = n * hw;

    float s = 0.0f;
    for (int j = lid; j < cnt; j += L) s += in[bn_at(j, ch, c, hw)];
    float mu = bn_reduce(scratch, s) / (float)cnt;

    float q = 0.0f;
    for (int j = lid; j < cnt; j += L) {
        float dlt = in[bn_at(j, ch, c, hw)] - mu;
        q += dlt * dlt;
    }
    float var = bn_reduce(scratch, q) / (float)cnt;
    float is = 1.0f / sqrt(var + eps);

    float g = gamma[ch] * is, b = beta[ch];
    for (int j = lid; j < cnt; j += L) {
        size_t o = bn_at(j, ch, c, hw);
        out[o] = (in[o] - mu) * g + b;
    }
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

/* Inference: element-wise with the running statistics, one work-item per value. */
__kernel void bn_fwd_infer(__global float *out, __global const float *in, __global const float *gamma,
                           __global const float *beta, __global const float *running_mean,
                           __global const float *running_var, const int total, const int c, const int hw,
                           const float eps) {
    int gid = get_global_id(0);
    if (gid >= total) return;
    int ch = (gid / hw) % c;
    float is = 1.0f / sqrt(running_var[ch] + eps);
    out[gid] = (in[gid] - running_mean[ch]) * (gamma[ch] * is) + beta[ch];
}

/* dx = gamma*invstd/N * (N*dy - sum(dy) - xhat*sum(dy*xhat)),
 * dgamma += sum(dy*xhat), dbeta += sum(dy). */
__kernel void bn_bwd(__global float *dx, __global float *dgamma, __global float *dbeta,
                     __global const float *dout, __global const float *in, __global const float *mean,
                     __global const float *invstd, __global const float *gamma, const int n, const int c,
                     const int hw, __local float *scratch) {
    int ch = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    if (ch >= c) return;
    int cnt = n * hw;
    float mu = mean[ch], is = invstd[ch];

    float sd = 0.0f, sdx = 0.0f;
    for (int j = lid; j < cnt; j += L) {
        size_t o = bn_at(j, ch, c, hw);
        float dy = dout[o];
        sd += dy;
        sdx += dy * ((in[o] - mu) * is);
    }
    sd = bn_reduce(scratch, sd);
    sdx = bn_reduce(scratch, sdx);

    float k = gamma[ch] * is / (float)cnt, fn = (float)cnt;
    for (int j = lid; j < cnt; j += L) {
        size_t o = bn_at(j, ch, c, hw);
        float xh = (in[o] - mu) * is;
        dx[o] = k * (fn * dout[o] - sd - xh * sdx);
    }
    if (lid == 0) {
        dgamma[ch] += sdx;
        dbeta[ch] += sd;
    }
}
