/* Optimizer updates over a flat parameter array, one work-item per element.
 *
 * An element whose gradient is NaN or +-Inf is left untouched (parameter and
 * state), so one bad gradient cannot poison Adam's moments for the rest of the
 * run; it raises *bad (int atomics are core OpenCL 1.2, float ones are not).
 * The other elements are updated as usual: the trainer reads the flag and
 * decides (it stops with KD_ERR_NUMERIC). */

/* Adam as Keras writes it: m and v are not bias-corrected themselves; the
 * correction is folded into step_lr = lr*sqrt(1-b2^t)/(1-b1^t), computed on
 * the host in double, and eps is added to sqrt(v) ("epsilon hat" of the Adam
 * paper). state = [m (n floats) | v (n floats)]: two halves, so that
 * neighbouring work-items read neighbouring words.
 * decoupled: AdamW, p -= lr*wd*p beside the adaptive step; else wd*p is added
 * to the gradient (L2) before the moments see it. */
__kernel void optim_adam(__global float *p, __global const float *g, __global float *state, const int n,
                         const float lr, const float step_lr, const float b1, const float b2, const float eps,
                         const float wd, const int decoupled, const int has_bad, __global int *bad) {
    int i = get_global_id(0);
    if (i >= n) return;
    float gi = g[i];
    if (!isfinite(gi)) {
        if (has_bad) atomic_xchg(bad, 1);
        return;
    }
    float pi = p[i];
    if (!decoupled) gi += wd * pi;
    float m = b1 * state[i] + (1.0f - b1) * gi;
    float v = b2 * state[(size_t)n + i] + (1.0f - b2) * gi * gi;
    state[i] = m;
    state[(size_t)n + i] = v;
    if (decoupled) pi -= lr * wd * pi;
    p[i] = pi - step_lr * m / (sqrt(v) + eps);
}

/* SGD as PyTorch writes it (no dampening): g += wd*p (L2, unless decoupled:
 * p -= lr*wd*p); with momentum buf = mu*buf + g, then the step is buf, or
 * g + mu*buf with nesterov. The first step's buf = g follows from buf = 0.
 * buf is not read when momentum is 0 (the caller may pass any buffer). */
__kernel void optim_sgd(__global float *p, __global const float *g, __global float *buf, const int n,
                        const float lr, const float mu, const int nesterov, const float wd, const int decoupled,
                        const int has_bad, __global int *bad) {
    int i = get_global_id(0);
    if (i >= n) return;
    float gi = g[i];
    if (!isfinite(gi)) {
        if (has_bad) atomic_xchg(bad, 1);
        return;
    }
    float pi = p[i];
    if (decoupled) pi -= lr * wd * pi;
    else gi += wd * pi;
    if (mu != 0.0f) {
        float b = mu * buf[i] + gi;
        buf[i] = b;
        gi = nesterov ? gi + mu * b : b;
    }
    p[i] = pi - lr * gi;
}
