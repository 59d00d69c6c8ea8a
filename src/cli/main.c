/* kdcl: knowledge distillation on OpenCL. Dispatches to one command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/device.h"
#include "src/cli/commands.h"
#include "src/cli/opts.h"
#include "src/cli/session.h"
#include "src/dist/dist.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"devices", kd_cmd_devices, "list OpenCL platforms and devices; mark the selected one"},
    {"summary", kd_cmd_summary, "per-layer table of a model: shapes, parameters, multiply-accumulates"},
    {"train", kd_cmd_train, "train a model with cross-entropy (the teacher, or a student alone)"},
    {"distill", kd_cmd_distill, "distil a trained teacher into a student; compare them on the test split"},
    {"eval", kd_cmd_eval, "accuracy, loss, per-class accuracy, confusion matrix and images/s of a model"},
    {"predict", kd_cmd_predict, "top-k classes of PNG/JPEG files; logits of a data set to a safetensors file"},
    {"export", kd_cmd_export, "write a model file as ONNX (for ONNX Runtime, OpenVINO, TensorRT)"},
    {"bench", kd_cmd_bench, "throughput as JSON lines: GEMM GFLOP/s, conv ms, training/inference images/s"},
    {"tune", kd_cmd_tune, "tune CLBlast's GEMM kernels for the selected device; stored, applied at start-up"},
};
#define NCOMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *out) {
    fprintf(out,
            "kdcl %s: train neural networks on any OpenCL device and distil a large teacher\n"
            "into a small student.\n\n"
            "usage: kdcl [global options] COMMAND [options]\n\ncommands:\n",
            KDCL_VERSION);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out,
            "\nglobal options (accepted before or after the command):\n"
            "  --platform P         OpenCL platform: index or case-insensitive name substring\n"
            "  --device D           device within the platform: index or name substring\n"
            "  --device-type TYPE   cpu|gpu|accelerator|all (default: a GPU if any, else anything)\n"
            "  --help, -h           this help; 'kdcl COMMAND --help' for a command's options\n"
            "  --version            versions of kdcl, the OpenCL platforms and CLBlast\n"
            "\nenvironment:\n"
            "  KDCL_DEVICE          'P:D' (indices or name substrings) or a device name substring,\n"
            "                       used when no device flag is given\n"
            "  KDCL_CACHE_DIR       where compiled kernels and tuning are cached (default\n"
            "                       $XDG_CACHE_HOME/kdcl or ~/.cache/kdcl); 'off' disables the cache\n"
            "  KDCL_TUNE_PRESET     'off': CLBlast's default GEMM parameters where kdcl would apply\n"
            "                       its preset (POCL's CPU device, when 'kdcl tune' stored nothing)\n"
            "\nexit status: 0 success, 1 runtime failure, 2 bad usage or bad input, 130 interrupted\n");
}

static int version(void) {
    printf("kdcl %s\n", KDCL_VERSION);
    printf("CLBlast %s (headers kdcl was built with)\n", kd_blas_version());
    kd_device_list list;
    kd_err err = {0};
    if (kd_device_list_load(&list, &err) != KD_OK) {
        printf("OpenCL: %s\n", err.msg);
        return 0;
    }
    int last = -1;
    for (int i = 0; i < list.count; i++)
        if (list.items[i].platform_index != last) {
            last = list.items[i].platform_index;
            printf("OpenCL platform %d: %s, %s\n", last, list.items[i].platform_name,
                   list.items[i].platform_version);
        }
    kd_device_list_free(&list);
    return 0;
}

static int dispatch(int argc, char **argv);

/* Under mpirun every rank runs the command; rank 0 alone talks to the user
 * (the others' stdout goes to /dev/null, their errors still reach stderr,
 * marked with the rank), and a rank that fails ends them all. */
int main(int argc, char **argv) {
    kd_dist_init(&argc, &argv);
    const kd_dist *d = kd_dist_world();
    if (kd_dist_on(d) && d->rank > 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "kdcl: rank %d: cannot silence stdout; its progress lines mix with rank 0's\n", d->rank);
    int rc = dispatch(argc, argv);
    /* 130: an interruption, which the ranks agree on step by step (src/train/trainer.c): all stop together. */
    if (rc != 0 && rc != 130 && kd_dist_on(d)) {
        /* The other ranks may wait for this one in a collective call: end them all, now. */
        fprintf(stderr, "kdcl: rank %d of %d failed (exit %d): stopping every rank\n", d->rank, d->size, rc);
        kd_dist_abort(rc);
    }
    kd_dist_finalize();
    return rc;
}

static int dispatch(int argc, char **argv) {
    /* The command is the first word that is neither an option nor a global option's value. */
    int cmd = -1;
    for (int i = 1; i < argc; i++) {
        if (kd_global_takes_value(argv[i])) {
            i++;
            continue;
        }
        if (argv[i][0] != '-') {
            cmd = i;
            break;
        }
        if (!strcmp(argv[i], "--version")) return version();
    }
    if (cmd < 0) {
        for (int i = 1; i < argc; i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                usage(stdout);
                return 0;
            }
        usage(stderr);
        fprintf(stderr, "\nkdcl: error: no command given\n");
        return 2;
    }
    const command *c = NULL;
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, argv[cmd])) c = &COMMANDS[i];
    if (!c) {
        const char *names[NCOMMANDS];
        for (int i = 0; i < NCOMMANDS; i++) names[i] = COMMANDS[i].name;
        const char *hint = kd_closest(argv[cmd], names, NCOMMANDS);
        fprintf(stderr, "kdcl: error: unknown command '%s'%s%s%s; 'kdcl --help' lists the commands\n", argv[cmd],
                hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        return 2;
    }
    /* Hand the command everything but its own name: global options may sit on either side. */
    char **rest = malloc((size_t)argc * sizeof *rest);
    if (!rest) return 1;
    int n = 0;
    for (int i = 1; i < argc; i++)
        if (i != cmd) rest[n++] = argv[i];
    int rc = c->run(n, rest);
    free(rest);
    return rc;
}
