/* Shapes of NCHW float32 activations. Device tensors are plain cl_mem
 * buffers (one per activation, or a sub-buffer of an arena); layers take a
 * descriptor struct with the sizes, llm.c style: outputs, then inputs. */
#ifndef KD_TENSOR_H
#define KD_TENSOR_H

#include <stddef.h>

typedef struct kd_shape {
    int n, c, h, w;
} kd_shape;

static inline size_t kd_numel(kd_shape s) { return (size_t)s.n * (size_t)s.c * (size_t)s.h * (size_t)s.w; }
/* Elements of one sample (C*H*W). */
static inline size_t kd_sample_numel(kd_shape s) { return (size_t)s.c * (size_t)s.h * (size_t)s.w; }

#endif
