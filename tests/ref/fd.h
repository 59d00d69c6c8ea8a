/* Central differences for the layers with weights (test_conv, test_dense):
 * the backward pass is checked against the gradient of L = sum(y * R) for
 * a fixed random R, where y = f(x, w, b) is the layer's float64 reference. */
#ifndef KD_TEST_REF_FD_H
#define KD_TEST_REF_FD_H

#include <stddef.h>

/* A layer's float64 reference: out = f(x, w, b) for descriptor `desc`. */
typedef void (*th_layer_ref)(const void *desc, const double *x, const double *w, const double *b, double *out);

/* g[i] = dL/dv[i] for every element of v, which is one of x, w, b (moved
 * in place and restored). L is bilinear in (x, w) and linear in b, so the
 * difference quotient has no truncation error: what remains is float64
 * rounding, far below float32. scratch holds nout doubles. */
void th_fd_grad(th_layer_ref f, const void *desc, size_t nout, const double *x, const double *w, const double *b,
                const double *rr, double *v, size_t nv, double *g, double *scratch);

#endif
