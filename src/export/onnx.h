/* ONNX export: a kdcl model file as an ONNX graph of standard operators,
 * inference semantics (dropout removed, batch norm on running statistics),
 * serialised by the protobuf-c code CMake generates from the onnx.proto of
 * Debian's libonnx-dev. Host only: needs no OpenCL device.
 *
 * The graph's contract (also in `kdcl export --help` and the file's
 * metadata_props "kdcl.input_rule"): input "input", float32 N x C x H x W at
 * the model's input size, pixels scaled to [0, 1] (x / 255); the model's
 * normalisation, if it was trained with one, is inside the graph (leading Sub
 * and Div); resizing another size and replicating grayscale to 3 channels
 * are the caller's. Output "logits" N x classes, optionally "probabilities"
 * (Softmax). metadata_props also carry the kdcl spec, the class names, the
 * data set and its preprocessing. */
#ifndef KD_EXPORT_ONNX_H
#define KD_EXPORT_ONNX_H

#include <stdbool.h>

#include "runtime/status.h"

#define KD_ONNX_OPSET_MIN 13
#define KD_ONNX_OPSET_MAX 21

typedef struct kd_onnx_opts {
    int opset;      /* KD_ONNX_OPSET_MIN..MAX */
    int batch;      /* 0: dynamic (dim_param "N") */
    bool softmax;   /* a second output "probabilities" */
    bool no_fold;   /* keep BatchNormalization nodes instead of folding them into the conv/dense before */
} kd_onnx_opts;

typedef struct kd_onnx_info {
    int nodes, initializers, folded; /* folded: batch norms merged into the layer before */
    long long bytes;                 /* of the file written */
} kd_onnx_info;

/* Reads the kdcl model file `model_path` and writes `out_path` atomically
 * (temp file + rename: an interrupted export leaves no half file, a failed
 * one no file). A file that is not kdcl's or lacks a tensor is KD_ERR_INPUT;
 * a layer ONNX cannot express is KD_ERR_USAGE naming the layer. */
kd_status kd_onnx_export(const char *model_path, const char *out_path, const kd_onnx_opts *o, kd_onnx_info *info,
                         kd_err *err);

#endif
