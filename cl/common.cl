/* Prepended to every kdcl program (runtime/program.c). OpenCL C 1.2, float32.
 * Kernels are launched with the global size rounded up to the work-group
 * size, so every kernel returns early for ids past its logical size. */
#define KD_GUARD1(n) if (get_global_id(0) >= (size_t)(n)) return
