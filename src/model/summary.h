/* The per-layer table of `kdcl summary`: name, type, output shape,
 * parameters, multiply-accumulates; totals with backbone and head subtotals. */
#ifndef KD_MODEL_SUMMARY_H
#define KD_MODEL_SUMMARY_H

#include <stdio.h>

#include "src/model/model.h"

const char *kd_op_name(kd_op op);
void kd_model_summary(const kd_model *m, FILE *out);
/* "1,016,234" */
void kd_fmt_count(char *buf, size_t cap, unsigned long long v);

#endif
