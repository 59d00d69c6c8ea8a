#include "tests/ref/logits.h"

#include <math.h>

#include "runtime/buffer.h"

void th_note(double *w, double v) {
    if (!(v <= *w)) *w = isnan(v) ? INFINITY : v;
}

cl_mem th_upload_labels(kd_ctx *ctx, const int *y, int n) {
    cl_mem m;
    MUST(ctx, kd_buffer_alloc(ctx, (size_t)n * sizeof(int), "labels", &m));
    MUST(ctx, kd_write(ctx, m, 0, (size_t)n * sizeof(int), y, true));
    return m;
}

void th_make_logits(th_rng *r, float *s, size_t n, float spread, float big) {
    th_fill(r, s, n, -spread, spread);
    if (big <= 0) return;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = th_next(r) % 5;
        if (u == 0) s[i] = big;
        else if (u == 1) s[i] = -big;
    }
}

void th_make_labels(th_rng *r, int *y, int n, int c) {
    for (int b = 0; b < n; b++) y[b] = (int)(th_next(r) % (uint64_t)c);
}

int th_argmax(const float *x, int c) {
    int a = 0;
    for (int j = 1; j < c; j++)
        if (x[j] > x[a]) a = j;
    return a;
}

double th_logit_mag(const float *s, const float *t, int c) {
    double m = 0;
    for (int j = 0; j < c; j++) m = fmax(m, fmax(fabs((double)s[j]), fabs((double)t[j])));
    return 1 + m;
}

bool th_all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}
