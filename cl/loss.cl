/* Softmax cross-entropy and the distillation loss, on logits.
 *
 * Every log-softmax subtracts the row max first, so logits of magnitude 1e3
 * (or 1e3/T) never overflow exp(); probabilities come from exp(log p)
 * rather than exp(x)/sum so that log p and p are computed from the same
 * numbers, and CE with alpha = 1 matches the distillation kernels exactly.
 *
 * Forward kernels run as ONE work-group: work-item l takes samples l,
 * l+wg, l+2wg, ..., keeps private sums, and a tree reduction in local memory
 * adds the totals into acc. A batch has at most a few thousand samples of
 * ~10 classes, so one group is plenty, and without float atomics (OpenCL 1.2)
 * this is what makes the sums deterministic: the order of additions depends
 * only on (n, wg). wg must be a power of two.
 *
 * A label outside [0, classes) cannot be reported from here: it makes that
 * sample's loss and gradient NaN, which the trainer's finiteness checks turn
 * into an error, instead of reading out of bounds. */

#define LOSS_NACC 6 /* KD_ACC_COUNT in src/train/loss.h, same order */
#define LOSS_ACC_LOSS 0
#define LOSS_ACC_HARD 1
#define LOSS_ACC_SOFT 2
#define LOSS_ACC_CORRECT 3
#define LOSS_ACC_SEEN 4
#define LOSS_ACC_AGREE 5

/* Log-softmax of x/T is written (x_j/T - m) - z with m = max_j x_j/T and
 * z = log sum_j exp(x_j/T - m), never x_j/T - (m + z): m + z would be
 * rounded at the size of the logits (1000 + log 2 loses 4e-5), and that
 * error, times log-prob differences of size 2000 in the KL, would grow
 * quadratically with the logits. Hence two helpers, not one lse().
 * A NaN logit propagates through z (fmax skips it, exp does not). */
float loss_max(__global const float *x, int c, float T) {
    float m = x[0] / T;
    for (int j = 1; j < c; j++) m = fmax(m, x[j] / T);
    return m;
}

float loss_logz(__global const float *x, int c, float T, float m) {
    float z = 0.0f;
    for (int j = 0; j < c; j++) z += exp(x[j] / T - m);
    return log(z);
}

/* First index of the largest logit (ties go to the lower class, as numpy). */
int loss_argmax(__global const float *x, int c) {
    int a = 0;
    for (int j = 1; j < c; j++)
        if (x[j] > x[a]) a = j;
    return a;
}

/* Adds the LOSS_NACC private sums of every work-item into acc, in a fixed order. */
void loss_reduce(__local float *red, float *mine, __global float *acc) {
    int l = get_local_id(0), wg = get_local_size(0);
    for (int q = 0; q < LOSS_NACC; q++) red[q * wg + l] = mine[q];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = wg / 2; h > 0; h >>= 1) {
        if (l < h)
            for (int q = 0; q < LOSS_NACC; q++) red[q * wg + l] += red[q * wg + l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        for (int q = 0; q < LOSS_NACC; q++) acc[q] += red[q * wg];
}

/* One distillation sample's share of a work-item's private sums. */
void loss_add_distill(float *mine, float loss, float hard, float soft, __global const float *s,
                      __global const float *t, int c, int y) {
    int as = loss_argmax(s, c);
    mine[LOSS_ACC_LOSS] += loss;
    mine[LOSS_ACC_HARD] += hard;
    mine[LOSS_ACC_SOFT] += soft;
    mine[LOSS_ACC_CORRECT] += as == y ? 1.0f : 0.0f;
    mine[LOSS_ACC_SEEN] += 1.0f;
    mine[LOSS_ACC_AGREE] += as == loss_argmax(t, c) ? 1.0f : 0.0f;
}

/* acc += per-sample sums of CE(y, softmax(s)); SOFT and AGREE get 0. */
__kernel void loss_ce_fwd(__global float *acc, __global const float *logits, __global const int *labels,
                              const int n, const int c, __local float *red) {
    float mine[LOSS_NACC] = {0};
    for (int b = get_local_id(0); b < n; b += get_local_size(0)) {
        __global const float *s = logits + (size_t)b * c;
        int y = labels[b];
        float m = loss_max(s, c, 1.0f);
        float hard = (y >= 0 && y < c) ? loss_logz(s, c, 1.0f, m) - (s[y] - m) : NAN;
        mine[LOSS_ACC_LOSS] += hard;
        mine[LOSS_ACC_HARD] += hard;
        mine[LOSS_ACC_CORRECT] += loss_argmax(s, c) == y ? 1.0f : 0.0f;
        mine[LOSS_ACC_SEEN] += 1.0f;
    }
    loss_reduce(red, mine, acc);
}

/* One work-item per sample. d may alias s: each item reads its whole row
 * (the lse) before writing, and element k is read before it is written. */
__kernel void loss_ce_bwd(__global float *d, __global const float *logits, __global const int *labels,
                               const int n, const int c, const float scale) {
    int b = get_global_id(0);
    if (b >= n) return;
    __global const float *s = logits + (size_t)b * c;
    __global float *g = d + (size_t)b * c;
    int y = labels[b];
    float m = loss_max(s, c, 1.0f);
    float z = (y >= 0 && y < c) ? loss_logz(s, c, 1.0f, m) : NAN;
    for (int k = 0; k < c; k++) {
        float p = exp((s[k] - m) - z);
        g[k] = scale * (p - (k == y ? 1.0f : 0.0f));
    }
}

/* acc += per-sample sums of alpha*CE + (1-alpha)*T^2*KL(p_t^T || p_s^T), with
 * the hard and soft parts unweighted, correct, seen and top-1 agreement. */
__kernel void loss_distill_fwd(__global float *acc, __global const float *student,
                                   __global const float *teacher, __global const int *labels, const int n,
                                   const int c, const float T, const float alpha, __local float *red) {
    float mine[LOSS_NACC] = {0};
    for (int b = get_local_id(0); b < n; b += get_local_size(0)) {
        __global const float *s = student + (size_t)b * c;
        __global const float *t = teacher + (size_t)b * c;
        int y = labels[b];
        float m = loss_max(s, c, 1.0f);
        float hard = (y >= 0 && y < c) ? loss_logz(s, c, 1.0f, m) - (s[y] - m) : NAN;
        float ms = loss_max(s, c, T), mt = loss_max(t, c, T);
        float zs = loss_logz(s, c, T, ms), zt = loss_logz(t, c, T, mt);
        /* p_t * (log p_t - log p_s): a teacher probability that underflows
         * to 0 has a finite log, so the term is 0, never 0 * -inf. */
        float kl = 0.0f;
        for (int j = 0; j < c; j++) {
            float lt = (t[j] / T - mt) - zt, ls = (s[j] / T - ms) - zs;
            kl += exp(lt) * (lt - ls);
        }
        /* KL >= 0; rounding can leave -1e-8. The comparison keeps a NaN. */
        if (kl < 0.0f) kl = 0.0f;
        float soft = T * T * kl;
        loss_add_distill(mine, alpha * hard + (1.0f - alpha) * soft, hard, soft, s, t, c, y);
    }
    loss_reduce(red, mine, acc);
}

/* ds = scale * [alpha (p - y) + (1-alpha) T (p_s^T - p_t^T)], one work-item
 * per sample; d may alias the student logits (see loss_ce_bwd). With
 * alpha = 1 the second term is exactly 0, so this equals loss_ce_bwd. */
__kernel void loss_distill_bwd(__global float *d, __global const float *student,
                                    __global const float *teacher, __global const int *labels, const int n,
                                    const int c, const float T, const float alpha, const float scale) {
    int b = get_global_id(0);
    if (b >= n) return;
    __global const float *s = student + (size_t)b * c;
    __global const float *t = teacher + (size_t)b * c;
    __global float *g = d + (size_t)b * c;
    int y = labels[b];
    float m = loss_max(s, c, 1.0f);
    float z = (y >= 0 && y < c) ? loss_logz(s, c, 1.0f, m) : NAN;
    float ms = loss_max(s, c, T), mt = loss_max(t, c, T);
    float zs = loss_logz(s, c, T, ms), zt = loss_logz(t, c, T, mt);
    for (int k = 0; k < c; k++) {
        float p = exp((s[k] - m) - z);
        float ps = exp((s[k] / T - ms) - zs), pt = exp((t[k] / T - mt) - zt);
        g[k] = scale * (alpha * (p - (k == y ? 1.0f : 0.0f)) + (1.0f - alpha) * T * (ps - pt));
    }
}

/* Decoupled KD (Zhao et al., CVPR 2022), per sample with target g = y:
 *   L_b = CE(y, softmax(s)) + a * TCKD + b * NCKD
 *   TCKD = T^2 KL([r_g, 1-r_g] || [q_g, 1-q_g])         (target vs the rest)
 *   NCKD = T^2 KL(rhat || qhat), the softmaxes over the non-target classes
 * with q = softmax(s/T), r = softmax(t/T). Every probability comes from a
 * log computed by the helpers below: log(1 - q_g) is the non-target lse
 * minus the full lse, so a confident student (q_g -> 1) keeps it finite.
 * Needs c >= 2 (the host refuses fewer). */

/* Max and log-sum-exp of x/T over j != skip (skip < 0: all j). */
float loss_max_skip(__global const float *x, int c, float T, int skip) {
    float m = -INFINITY;
    for (int j = 0; j < c; j++)
        if (j != skip) m = fmax(m, x[j] / T);
    return m;
}

float loss_logz_skip(__global const float *x, int c, float T, float m, int skip) {
    float z = 0.0f;
    for (int j = 0; j < c; j++)
        if (j != skip) z += exp(x[j] / T - m);
    return log(z);
}

/* The four logs DKD needs of one row at temperature T and target g:
 * lg = log p_g, lng = log(1 - p_g), and (mn, zn) for log phat_j =
 * (x_j/T - mn) - zn over the non-target classes. */
typedef struct dkd_row {
    float lg, lng, mn, zn;
} dkd_row;

dkd_row dkd_logs(__global const float *x, int c, float T, int g) {
    dkd_row r;
    float m = loss_max(x, c, T), z = loss_logz(x, c, T, m);
    r.mn = loss_max_skip(x, c, T, g);
    r.zn = loss_logz_skip(x, c, T, r.mn, g);
    r.lg = (x[g] / T - m) - z;
    r.lng = (r.mn - m) + (r.zn - z);
    return r;
}

/* acc += per-sample sums: LOSS = CE + a*TCKD + b*NCKD, HARD = CE, SOFT =
 * a*TCKD + b*NCKD (the weights as given: the host folds its warm-up into
 * them), correct, seen and top-1 agreement. */
__kernel void loss_dkd_fwd(__global float *acc, __global const float *student, __global const float *teacher,
                               __global const int *labels, const int n, const int c, const float T, const float a,
                               const float bw, __local float *red) {
    float mine[LOSS_NACC] = {0};
    for (int b = get_local_id(0); b < n; b += get_local_size(0)) {
        __global const float *s = student + (size_t)b * c;
        __global const float *t = teacher + (size_t)b * c;
        int y = labels[b];
        float hard = NAN, soft = NAN;
        if (y >= 0 && y < c) {
            float m = loss_max(s, c, 1.0f);
            hard = loss_logz(s, c, 1.0f, m) - (s[y] - m);
            dkd_row rs = dkd_logs(s, c, T, y), rt = dkd_logs(t, c, T, y);
            float tckd = exp(rt.lg) * (rt.lg - rs.lg) + exp(rt.lng) * (rt.lng - rs.lng);
            float nckd = 0.0f;
            for (int j = 0; j < c; j++) {
                if (j == y) continue;
                float lt = (t[j] / T - rt.mn) - rt.zn, ls = (s[j] / T - rs.mn) - rs.zn;
                nckd += exp(lt) * (lt - ls);
            }
            /* Both are KL divergences, >= 0 but for rounding; a NaN stays. */
            if (tckd < 0.0f) tckd = 0.0f;
            if (nckd < 0.0f) nckd = 0.0f;
            soft = T * T * (a * tckd + bw * nckd);
        }
        loss_add_distill(mine, hard + soft, hard, soft, s, t, c, y);
    }
    loss_reduce(red, mine, acc);
}

/* d = scale * dL_b/ds, one work-item per sample; d may alias the student
 * logits (every read of the row happens before the first write). With
 * q, r at temperature T and qhat, rhat over the non-target classes:
 *   k == g: (p_g - 1) + a T (q_g - r_g)
 *   k != g: p_k + a T qhat_k (r_g - q_g) + b T (qhat_k - rhat_k)
 * (the TCKD term of k != g is the chain rule through q_g = 1 - sum q_k). */
__kernel void loss_dkd_bwd(__global float *d, __global const float *student, __global const float *teacher,
                                __global const int *labels, const int n, const int c, const float T, const float a,
                                const float bw, const float scale) {
    int b = get_global_id(0);
    if (b >= n) return;
    __global const float *s = student + (size_t)b * c;
    __global const float *t = teacher + (size_t)b * c;
    __global float *g = d + (size_t)b * c;
    int y = labels[b];
    if (y < 0 || y >= c) {
        for (int k = 0; k < c; k++) g[k] = NAN;
        return;
    }
    float m = loss_max(s, c, 1.0f), z = loss_logz(s, c, 1.0f, m);
    dkd_row rs = dkd_logs(s, c, T, y), rt = dkd_logs(t, c, T, y);
    float qg = exp(rs.lg), rg = exp(rt.lg);
    float pg = exp((s[y] - m) - z);
    /* With the row-wide logs known, iteration k reads only s[k] and t[k],
     * so writing g[k] never spoils a later read when d aliases s. */
    for (int k = 0; k < c; k++) {
        float gk;
        if (k == y) {
            gk = (pg - 1.0f) + a * T * (qg - rg);
        } else {
            float sk = s[k], tk = t[k];
            float p = exp((sk - m) - z);
            float qh = exp((sk / T - rs.mn) - rs.zn), rh = exp((tk / T - rt.mn) - rt.zn);
            gk = p + a * T * qh * (rg - qg) + bw * T * (qh - rh);
        }
        g[k] = scale * gk;
    }
}
