#include "tests/ref/fd.h"

static double loss_ref(th_layer_ref f, const void *desc, size_t nout, const double *x, const double *w,
                       const double *b, const double *rr, double *scratch) {
    f(desc, x, w, b, scratch);
    double s = 0;
    for (size_t i = 0; i < nout; i++) s += scratch[i] * rr[i];
    return s;
}

void th_fd_grad(th_layer_ref f, const void *desc, size_t nout, const double *x, const double *w, const double *b,
                const double *rr, double *v, size_t nv, double *g, double *scratch) {
    const double eps = 1e-3;
    for (size_t i = 0; i < nv; i++) {
        double keep = v[i];
        v[i] = keep + eps;
        double lp = loss_ref(f, desc, nout, x, w, b, rr, scratch);
        v[i] = keep - eps;
        double lm = loss_ref(f, desc, nout, x, w, b, rr, scratch);
        v[i] = keep;
        g[i] = (lp - lm) / (2 * eps);
    }
}
