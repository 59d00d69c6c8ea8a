#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/commands.h"
#include "src/cli/train_common.h"

/* Indices of `split` (train | val | test) with the same hold-out rule as training. */
kd_status kd_split_select(const char *split, const kd_train_opts *o, kd_job_data *d, const kd_dataset **ds,
                          const int **idx, int *count, kd_err *err) {
    if (!strcmp(split, "test")) {
        KD_TRY(kd_data_spec_parse(o->data, &d->spec, err));
        KD_TRY(kd_job_data_load_test(o, d, err));
        *ds = &d->test;
        *idx = d->test_idx;
        *count = d->ntest;
        return KD_OK;
    }
    KD_TRY(kd_job_data_load(o, d, err));
    *ds = &d->train;
    *idx = !strcmp(split, "val") ? d->val_idx : d->train_idx;
    *count = !strcmp(split, "val") ? d->nval : d->ntrain;
    if (*count == 0)
        return kd_fail(err, KD_ERR_USAGE, "the %s split is empty (--val-split %g)", split, o->val_split);
    return KD_OK;
}

kd_status kd_check_data_fits(const kd_model_meta *meta, const kd_dataset *ds, const char *path, kd_err *err) {
    if (meta->classes != ds->classes)
        return kd_fail(err, KD_ERR_INPUT, "%s predicts %d classes but %s has %d", path, meta->classes, ds->name,
                       ds->classes);
    if (meta->in_c < ds->c)
        return kd_fail(err, KD_ERR_INPUT, "%s takes %d-channel images but %s has %d channels", path, meta->in_c,
                       ds->name, ds->c);
    return KD_OK;
}

int kd_cmd_eval(int argc, char **argv) {
    kd_train_opts o;
    kd_train_opts_defaults(&o);
    o.batch = 128;
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
    };
    kd_opt global[KD_GLOBAL_NOPTS];
    kd_global_opts(&g, global);
    kd_cmdline cl = {
        .command = "eval",
        .usage = "kdcl eval --model M.safetensors --data DATA [--split test] [options]",
        .description = "Evaluates a model in inference mode: accuracy, mean cross-entropy, per-class accuracy,\n"
                       "the confusion matrix with class names, and inference images/s on the selected device.\n"
                       "The model file carries its input shape, classes and preprocessing.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
        .global = global,
        .nglobal = KD_GLOBAL_NOPTS,
    };
    kd_err err = {0};
    if (kd_cmdline_parse(&cl, argc, argv, &err) != KD_OK) return kd_cli_report(&err);
    if (cl.help) {
        kd_cmdline_help(&cl, stdout);
        return 0;
    }
    if (!model_path || !o.data) {
        kd_fail(&err, KD_ERR_USAGE, "--model M.safetensors and --data DATA are required; see 'kdcl eval --help'");
        return kd_cli_report(&err);
    }
    kd_job_data data;
    memset(&data, 0, sizeof data);
    kd_ctx *ctx = NULL;
    kd_model *m = NULL;
    kd_model_meta meta;
    memset(&meta, 0, sizeof meta);
    kd_eval_result r;
    memset(&r, 0, sizeof r);
    const kd_dataset *ds = NULL;
    const int *idx = NULL;
    int count = 0, rc = 0;
    if (kd_split_select(split, &o, &data, &ds, &idx, &count, &err) != KD_OK ||
        kd_session_open(&g, NULL, &ctx, &err) != KD_OK || kd_model_open(model_path, ctx, &m, &meta, &err) != KD_OK ||
        kd_check_data_fits(&meta, ds, model_path, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    if (kd_model_plan(m, o.batch, false) != KD_OK) {
        rc = kd_cli_report(&ctx->err);
        goto done;
    }
    kd_prep_desc p = kd_prep_from_meta(&meta);
    kd_eval_cfg ec = {.batch = o.batch, .quiet = o.quiet, .label = "eval"};
    if (kd_evaluate(m, &p, ds, idx, count, &ec, &r, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    printf("model %s (%s), %s %s split: %ld images on %s\n", model_path, m->spec, ds->name, split, r.n, ctx->dev.name);
    printf("accuracy %.2f%%  loss %.4f  %.0f images/s\n\n", 100.0 * r.acc, r.loss, r.images_per_s);
    kd_eval_print(&r, meta.class_names, stdout);
done:
    kd_eval_result_free(&r);
    kd_model_free(m);
    kd_model_meta_free(&meta);
    kd_job_data_free(&data);
    kd_ctx_free(ctx);
    return rc;
}
