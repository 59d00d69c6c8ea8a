/* Where a data set comes from: the --data argument parsed into a
 * kd_data_spec, and a split loaded by the loader of its kind. */
#ifndef KD_DATA_SOURCE_H
#define KD_DATA_SOURCE_H

#include <stdint.h>

#include "src/data/dataset.h"

/* "fashion-mnist[:DIR]", "cifar10:DIR", "synthetic[:N[:CxHxW]]" (default
 * N 2000, 3x32x32). KD_ERR_USAGE with the accepted forms otherwise. */
kd_status kd_data_spec_parse(const char *text, kd_data_spec *out, kd_err *err);

/* Loads one split. Bad files are KD_ERR_INPUT (missing ones KD_ERR_NOT_FOUND)
 * with the file name and the reason; for fashion-mnist a missing directory
 * names the Debian package. Synthetic data depends only on `seed`. */
kd_status kd_data_load(const kd_data_spec *spec, kd_split split, uint64_t seed, kd_dataset *out, kd_err *err);

#endif
