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

/* Teacher-logit cache (distillation without augmentation): rows keyed by
 * data-set index. */
__kernel void rows_gather(__global float *out, __global const float *table, __global const int *idx, const int n,
                          const int k) {
    int i = get_global_id(0);
    if (i >= n * k) return;
    out[i] = table[(size_t)idx[i / k] * k + i % k];
}

__kernel void rows_scatter(__global float *table, __global const float *in, __global const int *idx, const int n,
                           const int k) {
    int i = get_global_id(0);
    if (i >= n * k) return;
    table[(size_t)idx[i / k] * k + i % k] = in[i];
}
