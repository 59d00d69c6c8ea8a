#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/commands.h"
#include "src/cli/train_common.h"
#include "src/model/summary.h"
#include "src/train/progress.h"

#define MAX_OPTS 64


/* Everything after the model is built: attach, optional --init, train, test. */
typedef struct job {
    kd_train_opts o;
    const char *spec, *init;
    kd_global g;
    kd_job_data data;
    kd_ctx *ctx;
    kd_model *m;
    kd_model_meta meta;
} job;

static int finish(job *j, int rc) {
    kd_model_free(j->m);
    kd_model_meta_free(&j->meta);
    kd_job_data_free(&j->data);
    kd_ctx_free(j->ctx);
    return rc;
}

int kd_cmd_train(int argc, char **argv) {
    job j;
    memset(&j, 0, sizeof j);
    kd_train_opts_defaults(&j.o);
    j.spec = "resnet50";
    kd_opt opts[MAX_OPTS];
    int n = 0;
    opts[n++] = (kd_opt){.name = "model", .kind = KD_OPT_STR, .dest = &j.spec, .metavar = "SPEC",
                         .help = "model to train (see 'kdcl summary --help' for specs)"};
    opts[n++] = (kd_opt){.name = "init", .kind = KD_OPT_STR, .dest = &j.init, .metavar = "W.safetensors",
                         .help = "start from these weights (torchvision names; tensors of other shapes are refused, "
                                 "tensors the model lacks are skipped and reported)"};
    kd_train_opts_table(&j.o, opts, &n, MAX_OPTS);
    kd_cmdline cl = {
        .command = "train",
        .usage = "kdcl train --model SPEC --data DATA --out M.safetensors [--init W.safetensors] [options]",
        .description =
            "Trains a model with cross-entropy: the teacher, or the student-alone baseline. Each epoch prints\n"
            "training and validation loss/accuracy; the best model by validation accuracy is written to --out\n"
            "and a resumable checkpoint (weights, optimizer state, position, RNG counters) beside it. Ctrl-C\n"
            "finishes the step, saves the checkpoint and exits with status 130. At the end the saved model is\n"
            "evaluated on the test split." KD_MPI_HELP,
        .opts = opts,
        .nopts = n,
    };
    int done = kd_cmdline_run(&cl, &j.g, argc, argv);
    if (done >= 0) return done;
    kd_err err = {0};
    kd_train_cfg cfg;
    char ckpt[1200];
    if (kd_train_cfg_from_opts(&j.o, &cfg, ckpt, sizeof ckpt, &err) != KD_OK) return kd_cli_report(&err);
    if (kd_job_data_load(&j.o, &j.data, &err) != KD_OK) return finish(&j, kd_cli_report(&err));
    const kd_dataset *ds = &j.data.train;
    int c = j.o.channels ? j.o.channels : ds->c, s = j.o.resize ? j.o.resize : ds->h;
    if (c < ds->c) {
        kd_fail(&err, KD_ERR_USAGE, "--channels %d: %s has %d-channel images; a model can take as many or 3", c,
                ds->name, ds->c);
        return finish(&j, kd_cli_report(&err));
    }
    char spec_buf[256];
    const char *spec;
    if (kd_train_spec(&j.o, j.spec, spec_buf, sizeof spec_buf, &spec, &err) != KD_OK ||
        kd_model_build(spec, c, s, j.o.resize ? s : ds->w, ds->classes, &j.m, &err) != KD_OK)
        return finish(&j, kd_cli_report(&err));
    kd_ctx_opts co = {.profiling = j.o.profile};
    if (kd_session_open(&j.g, &co, &j.ctx, &err) != KD_OK) return finish(&j, kd_cli_report(&err));
    if (kd_model_attach(j.m, j.ctx, (uint64_t)j.o.seed) != KD_OK) return finish(&j, kd_cli_report(&err));
    if (j.init && !j.o.resume) {
        kd_st_file f;
        kd_load_report rep;
        if (kd_st_read(j.init, &f, &err) != KD_OK) return finish(&j, kd_cli_report(&err));
        kd_status st = kd_weights_load(j.m, &f, false, &rep);
        kd_st_free(&f);
        if (st != KD_OK) return finish(&j, kd_cli_report(&err));
        if (rep.loaded == 0) {
            kd_fail(&err, KD_ERR_INPUT, "--init %s: no tensor of the file matches a parameter of %s (names like %s)",
                    j.init, kd_model_spec(j.m), kd_model_param(j.m, 0).name);
            return finish(&j, kd_cli_report(&err));
        }
        printf("--init %s: %d tensors loaded, %d skipped (not in this model%s%s), %d missing (left initialised%s%s)\n",
               j.init, rep.loaded, rep.skipped, rep.skipped ? ", e.g. " : "", rep.first_skipped, rep.missing,
               rep.missing ? ", e.g. " : "", rep.first_missing);
    }
    if (kd_meta_for(ds, j.m, j.o.normalize, &j.meta, &err) != KD_OK) return finish(&j, kd_cli_report(&err));
    kd_prep_desc prep = kd_prep_from_meta(&j.meta);
    char *cfg_text = kd_resume_config("train", kd_model_spec(j.m), &j.o, NULL, 0, 0, false, NULL);
    char hint[2048];
    kd_command_line("train", argc, argv, hint, sizeof hint);
    volatile sig_atomic_t *stop = kd_sigint_flag();
    cfg.run_label = "train";
    cfg.config_json = cfg_text;
    cfg.resume_hint = hint;
    cfg.stop = stop;
    kd_install_sigint(stop);
    char macs[32], params[32];
    kd_fmt_count(params, sizeof params, kd_model_params(j.m, false, false));
    kd_fmt_count(macs, sizeof macs, kd_model_macs(j.m));
    kd_shape in = kd_model_input_shape(j.m);
    if (!j.o.quiet)
        printf("training %s (%s parameters, %s MACs/image) on %s: %d training, %d validation images at %dx%dx%d, "
               "device %s\n",
               kd_model_spec(j.m), params, macs, ds->name, j.data.ntrain, j.data.nval, in.c, in.h, in.w,
               kd_ctx_device(j.ctx)->name);
    kd_train_data td = {ds, j.data.train_idx, j.data.ntrain, j.data.val_idx, j.data.nval};
    kd_train_result res;
    double t0 = kd_now();
    kd_status st = kd_train(j.m, &prep, &j.meta, NULL, NULL, &td, &cfg, &res);
    free(cfg_text);
    if (j.o.profile) {
        kd_finish(j.ctx);
        kd_prof_print(j.ctx, (kd_now() - t0) * 1000.0, stdout);
        kd_prof_print_steps(j.ctx, kd_model_spec(j.m), res.steps, res.step_commands, res.step_blas_calls, stdout);
    }
    if (st != KD_OK) return finish(&j, kd_cli_report(&err));
    if (!j.o.quiet && res.best_acc >= 0)
        printf("saved %s: epoch %d, validation accuracy %.2f%%; checkpoint %s\n", j.o.out, res.best_epoch,
               100.0 * res.best_acc, ckpt);
    else if (!j.o.quiet)
        printf("saved %s (last epoch; no validation split); checkpoint %s\n", j.o.out, ckpt);
    if (!j.o.no_test) {
        /* Evaluate what was saved (the best epoch), not the last weights in memory. */
        kd_st_file f;
        kd_load_report rep;
        kd_eval_result r;
        if (kd_st_read(j.o.out, &f, &err) != KD_OK) return finish(&j, kd_cli_report(&err));
        st = kd_weights_load(j.m, &f, true, &rep);
        kd_st_free(&f);
        if (st == KD_OK) st = kd_job_data_load_test(&j.o, &j.data, &err);
        kd_eval_cfg ec = {.batch = j.o.batch, .quiet = j.o.quiet, .label = "test", .dist = kd_dist_world()};
        if (st == KD_OK)
            st = kd_evaluate(j.m, &prep, &j.data.test, j.data.test_idx, j.data.ntest, &ec, &r);
        if (st != KD_OK) return finish(&j, kd_cli_report(&err));
        printf("test: accuracy %.2f%%, loss %.4f on %ld images (%.0f images/s)\n", 100.0 * r.acc, r.loss, r.n,
               r.images_per_s);
        kd_eval_result_free(&r);
    }
    return finish(&j, 0);
}
