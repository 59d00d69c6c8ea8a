/* Element-wise helpers used across layers and the optimizers' bookkeeping. */

__kernel void fill_f32(__global float *x, const int n, const float v) {
    int i = get_global_id(0);
    if (i < n) x[i] = v;
}

/* y = a*x + y */
__kernel void axpy_f32(__global float *y, __global const float *x, const int n, const float a) {
    int i = get_global_id(0);
    if (i < n) y[i] += a * x[i];
}

/* y = a*x */
__kernel void scale_copy_f32(__global float *y, __global const float *x, const int n, const float a) {
    int i = get_global_id(0);
    if (i < n) y[i] = a * x[i];
}
