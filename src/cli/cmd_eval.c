#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/commands.h"
#include "src/cli/train_common.h"

int kd_cmd_eval(int argc, char **argv) {
    kd_train_opts o;
    kd_train_opts_defaults(&o);
    /* Not larger: CLBlast's padded temporaries grow with the batch, and on
     * POCL batch 128 ran seed-cnn's evaluation 2.6x slower than 32. */
    o.batch = 32;
    const char *model_path = NULL, *split = "test";
    kd_global g = {0};
    kd_opt opts[] = {
        {.name = "model", .kind = KD_OPT_STR, .dest = &model_path, .metavar = "M.safetensors",
         .help = "a model written by kdcl train/distill"},
        {.name = "data", .kind = KD_OPT_STR, .dest = &o.data, .metavar = "DATA",
         .help = "fashion-mnist[:DIR] | cifar10:DIR | synthetic[:N[:CxHxW]]"},
        {.name = "split", .kind = KD_OPT_STR, .dest = &split, .metavar = "train|val|test",
         .help = "which images (val: the hold-out of --val-split, as in training)", .choices = "train|val|test"},
        {.name = "batch", .kind = KD_OPT_INT, .dest = &o.batch, .metavar = "N", .help = "batch size", .min = 1, .max = 65536},
        {.name = "limit", .kind = KD_OPT_LONG, .dest = &o.limit, .metavar = "N", .help = "only the first N images",
         .min = 1, .max = 1e9},
        {.name = "val-split", .kind = KD_OPT_FLOAT, .dest = &o.val_split, .metavar = "F",
         .help = "validation fraction used in training (for --split val/train)", .min = 0, .max = 0.9},
        {.name = "quiet", .kind = KD_OPT_FLAG, .dest = &o.quiet, .help = "no progress output"},
        {.name = "profile", .kind = KD_OPT_FLAG, .dest = &o.profile,
         .help = "per-kernel device time from OpenCL events, GEMM vs own kernels, at the end"},
    };
    kd_cmdline cl = {
        .command = "eval",
        .usage = "kdcl eval --model M.safetensors --data DATA [--split test] [options]",
        .description = "Evaluates a model in inference mode: accuracy, mean cross-entropy, per-class accuracy,\n"
                       "the confusion matrix with class names, and inference images/s on the selected device.\n"
                       "The model file carries its input shape, classes and preprocessing.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int done = kd_cmdline_run(&cl, &g, argc, argv);
    if (done >= 0) return done;
    kd_err err = {0};
    if (!model_path || !o.data) {
        kd_fail(&err, KD_ERR_USAGE, "--model M.safetensors and --data DATA are required; see 'kdcl eval --help'");
        return kd_cli_report(&err);
    }
    kd_eval_job j;
    kd_eval_result r;
    memset(&r, 0, sizeof r);
    int rc = 0;
    if (kd_eval_job_open(&g, model_path, &o, split, &j, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    kd_prep_desc p = kd_prep_from_meta(&j.meta);
    kd_eval_cfg ec = {.batch = j.batch, .quiet = o.quiet, .label = "eval"};
    if (kd_evaluate(j.m, &p, j.ds, j.idx, j.count, &ec, &r) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    printf("model %s (%s), %s %s split: %ld images on %s\n", model_path, kd_model_spec(j.m), j.ds->name, split, r.n,
           kd_ctx_device(j.ctx)->name);
    printf("accuracy %.2f%%  loss %.4f  %.0f images/s\n\n", 100.0 * r.acc, r.loss, r.images_per_s);
    kd_eval_print(&r, j.meta.class_names, stdout);
    if (o.profile) {
        kd_finish(j.ctx);
        printf("\n");
        kd_prof_print(j.ctx, r.seconds * 1000.0, stdout);
    }
done:
    kd_eval_result_free(&r);
    kd_eval_job_close(&j);
    return rc;
}
