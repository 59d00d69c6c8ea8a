/* kdcl export: a model file as ONNX (src/export/onnx.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/commands.h"
#include "src/cli/opts.h"
#include "src/cli/session.h"
#ifdef KDCL_ONNX
#include "src/export/onnx.h"
#endif

#define EXPORT_DESC                                                                                                 \
    "Writes a kdcl model file (a teacher or a student) as an ONNX model of standard operators (Conv, Relu,\n"      \
    "MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm, Add, BatchNormalization unless folded, Softmax)\n"    \
    "with inference semantics: dropout removed, batch norm on its running statistics and by default folded into\n" \
    "the convolution or dense layer before it. Needs no device.\n\n"                                              \
    "The graph's input, \"input\", is float32 N x C x H x W at the model's input size with pixels scaled to\n"    \
    "[0, 1] (x / 255). If the model was trained with --normalize, that normalisation is inside the graph\n"       \
    "(leading Sub and Div nodes). Resizing an image of another size and replicating grayscale to 3 channels\n"    \
    "are the caller's, as the model's metadata says. The output \"logits\" is N x classes (with --softmax also\n"  \
    "\"probabilities\"). metadata_props carry kdcl.spec, kdcl.input, kdcl.classes, kdcl.class_names (JSON),\n"    \
    "kdcl.preprocess (data set, source channels, mean/std) and kdcl.input_rule (this rule).\n\n"                   \
    "The file is written to a temporary name and renamed: an interrupted or failed export leaves none.\n\n"        \
    "Run it with ONNX Runtime:\n"                                                                                 \
    "  import onnxruntime as ort, numpy as np\n"                                                                  \
    "  s = ort.InferenceSession(\"student.onnx\")\n"                                                             \
    "  logits = s.run([\"logits\"], {\"input\": images.astype(np.float32) / 255})[0]"

int kd_cmd_export(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *batch = "dynamic";
    int opset = 13;
    bool softmax = false, no_fold = false;
    kd_opt opts[] = {
        {.name = "model", .kind = KD_OPT_STR, .dest = &model, .metavar = "M.safetensors",
         .help = "a model file kdcl wrote (train, distill)"},
        {.name = "out", .kind = KD_OPT_STR, .dest = &out, .metavar = "M.onnx", .help = "the ONNX file to write"},
        {.name = "opset", .kind = KD_OPT_INT, .dest = &opset, .metavar = "N",
         .help = "ONNX operator set version (13 to 21; the IR version follows it)", .min = 13, .max = 21},
        {.name = "batch", .kind = KD_OPT_STR, .dest = &batch, .metavar = "dynamic|N",
         .help = "the batch dimension: dynamic (named N) or a fixed size"},
        {.name = "softmax", .kind = KD_OPT_FLAG, .dest = &softmax,
         .help = "add a second output \"probabilities\" (Softmax of the logits)"},
        {.name = "no-fold", .kind = KD_OPT_FLAG, .dest = &no_fold,
         .help = "keep BatchNormalization nodes instead of folding batch norm into the layer before"},
    };
    kd_cmdline cl = {.command = "export",
                     .usage = "kdcl export --model M.safetensors --out M.onnx [--opset 13] [--batch dynamic|N] "
                              "[--softmax] [--no-fold]",
                     .description = EXPORT_DESC,
                     .opts = opts,
                     .nopts = (int)(sizeof opts / sizeof opts[0])};
    int done = kd_cmdline_run(&cl, NULL, argc, argv);
    if (done >= 0) return done;
    kd_err err = {0};
    if (!model || !out) {
        kd_fail(&err, KD_ERR_USAGE, "--model M.safetensors and --out M.onnx are required; see 'kdcl export --help'");
        return kd_cli_report(&err);
    }
    int nbatch = 0;
    if (strcmp(batch, "dynamic") != 0) {
        char *end;
        long v = strtol(batch, &end, 10);
        if (end == batch || *end || v < 1 || v > 1000000) {
            kd_fail(&err, KD_ERR_USAGE, "--batch '%s': expected 'dynamic' or a size from 1 to 1000000", batch);
            return kd_cli_report(&err);
        }
        nbatch = (int)v;
    }
#ifdef KDCL_ONNX
    kd_onnx_opts o = {.opset = opset, .batch = nbatch, .softmax = softmax, .no_fold = no_fold};
    kd_onnx_info info;
    if (kd_onnx_export(model, out, &o, &info, &err) != KD_OK) return kd_cli_report(&err);
    printf("wrote %s: opset %d, %s batch, %d nodes, %d initializers, %d batch norm%s folded, %lld bytes\n", out,
           opset, nbatch ? batch : "dynamic", info.nodes, info.initializers, info.folded, info.folded == 1 ? "" : "s",
           info.bytes);
    return 0;
#else
    (void)softmax, (void)no_fold, (void)nbatch, (void)opset;
    kd_fail(&err, KD_ERR_USAGE,
            "this kdcl was built without ONNX support: install protobuf-c-compiler libprotobuf-c-dev libonnx-dev "
            "and configure with -DKDCL_ONNX=ON");
    return kd_cli_report(&err);
#endif
}
