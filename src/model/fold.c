#include "src/model/fold.h"

#include <math.h>

void kd_fold_bn(float *w, const float *bias, float *bias_out, int cout, size_t per_out, const kd_bn_params *bn) {
    for (int o = 0; o < cout; o++) {
        double s = (double)bn->gamma[o] / sqrt((double)bn->var[o] + (double)bn->eps);
        for (size_t i = 0; i < per_out; i++) w[(size_t)o * per_out + i] = (float)(s * (double)w[(size_t)o * per_out + i]);
        double b = bias ? (double)bias[o] : 0.0;
        bias_out[o] = (float)(s * (b - (double)bn->mean[o]) + (double)bn->beta[o]);
    }
}
