/* Prepended to every kdcl program (runtime/program.c). OpenCL C 1.2, float32.
 * Kernels are launched with the global size rounded up to the work-group
 * size, so every kernel returns early for ids past its logical size. */
#define KD_GUARD1(n) if (get_global_id(0) >= (size_t)(n)) return

/* The sum of a float8's eight lanes, in a fixed order. Kernels that reduce
 * serially on a CPU keep eight running sums in a float8: one running float
 * is a chain of dependent adds the compiler may not reorder (no
 * fast-math). Through private memory, not v.s0 + v.s1 ...: oclgrind
 * 21.10's uninitialised-value check crashes on those lane reads of a
 * computed vector (POCL compiles both the same). */
static inline float kd_lanes_sum(float8 v) {
    float t[8];
    vstore8(v, 0, t);
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}
