#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/commands.h"
#include "src/cli/train_common.h"
#include "src/model/summary.h"
#include "src/train/progress.h"

#define MAX_OPTS 64

typedef struct row {
    const char *role, *path;
    kd_model *m;
    kd_model_meta meta;
    kd_eval_result r;
    bool owned;
} row;


static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static double agreement(const kd_eval_result *a, const kd_eval_result *b) {
    if (!a->logits || !b->logits || a->n != b->n || !a->n) return -1;
    long same = 0;
    for (long i = 0; i < a->n; i++)
        same += argmax(a->logits + i * a->classes, a->classes) == argmax(b->logits + i * b->classes, b->classes);
    return (double)same / (double)a->n;
}

/* The comparison table of DESIGN.md section 1: teacher vs student (vs baseline). */
static void print_table(row *rows, int n, FILE *out) {
    fprintf(out, "\n%-9s %-34s %9s %13s %15s %10s %9s %10s\n", "", "model", "test acc", "parameters", "MACs/image",
            "images/s", "file MiB", "agreement");
    for (int i = 0; i < n; i++) {
        row *r = &rows[i];
        char p[32], f[32], ag[16];
        kd_fmt_count(p, sizeof p, kd_model_params(r->m, false, false));
        kd_fmt_count(f, sizeof f, kd_model_macs(r->m));
        double a = i == 0 ? 1.0 : agreement(&rows[0].r, &r->r);
        if (a < 0) snprintf(ag, sizeof ag, "-");
        else snprintf(ag, sizeof ag, "%.2f%%", 100.0 * a);
        fprintf(out, "%-9s %-34.34s %8.2f%% %13s %15s %10.0f %9.2f %10s\n", r->role, r->m->spec, 100.0 * r->r.acc, p, f,
                r->r.images_per_s, kd_file_mib(r->path), ag);
    }
    if (n > 1) {
        double ratio_p = (double)kd_model_params(rows[0].m, false, false) / (double)kd_model_params(rows[1].m, false, false);
        double ratio_f = (double)kd_model_macs(rows[0].m) / (double)kd_model_macs(rows[1].m);
        fprintf(out,
                "student vs teacher: %.1fx fewer parameters, %.1fx fewer MACs, %.1fx the inference speed, accuracy "
                "%+.2f points\n",
                ratio_p, ratio_f, rows[1].r.images_per_s / (rows[0].r.images_per_s > 0 ? rows[0].r.images_per_s : 1),
                100.0 * (rows[1].r.acc - rows[0].r.acc));
    }
    fprintf(out, "(agreement: share of test images where the model's top-1 equals the teacher's)\n");
}

int kd_cmd_distill(int argc, char **argv) {
    kd_train_opts o;
    kd_train_opts_defaults(&o);
    const char *teacher_path = NULL, *student = "seed-cnn", *baseline = NULL;
    double temperature = 4.0, alpha = 0.1;
    bool cache = false;
    kd_global g = {0};
    kd_opt opts[MAX_OPTS];
    int n = 0;
    opts[n++] = (kd_opt){.name = "teacher", .kind = KD_OPT_STR, .dest = &teacher_path, .metavar = "T.safetensors",
                         .help = "the trained teacher (from kdcl train); it runs in inference mode on every batch"};
    opts[n++] = (kd_opt){.name = "student", .kind = KD_OPT_STR, .dest = &student, .metavar = "SPEC",
                         .help = "student model spec (see 'kdcl summary --help')"};
    opts[n++] = (kd_opt){.name = "temperature", .kind = KD_OPT_FLOAT, .dest = &temperature, .metavar = "T",
                         .help = "softmax temperature T > 0 (typically 2-8)", .min = 1e-6, .max = 1000};
    opts[n++] = (kd_opt){.name = "alpha", .kind = KD_OPT_FLOAT, .dest = &alpha, .metavar = "A",
                         .help = "weight of the hard-label cross-entropy in [0,1]; 1 - A goes to T^2 * KL", .min = 0, .max = 1};
    opts[n++] = (kd_opt){.name = "baseline", .kind = KD_OPT_STR, .dest = &baseline, .metavar = "B.safetensors",
                         .help = "a student trained alone (kdcl train), added to the final comparison"};
    opts[n++] = (kd_opt){.name = "cache-teacher", .kind = KD_OPT_FLAG, .dest = &cache,
                         .help = "with --augment none: compute each image's teacher logits once and reuse them "
                                 "(same result, faster epochs)"};
    kd_train_opts_table(&o, opts, &n, MAX_OPTS);
    kd_opt global[KD_GLOBAL_NOPTS];
    kd_global_opts(&g, global);
    kd_cmdline cl = {
        .command = "distill",
        .usage = "kdcl distill --teacher T.safetensors --student SPEC --data DATA --out S.safetensors "
                 "[--temperature T] [--alpha A] [options]",
        .description =
            "Knowledge distillation: every step the teacher runs in inference mode on the very batch the student\n"
            "sees (after augmentation; each model gets it at its own input size), and the student minimises\n"
            "  L = (1/B) sum_b [ A * CE(y, softmax(s)) + (1-A) * T^2 * KL(softmax(t/T) || softmax(s/T)) ]\n"
            "on logits. Ends with a table: teacher vs student (vs --baseline) on the test split: accuracy,\n"
            "parameters, multiply-accumulates, inference images/s, file size and top-1 agreement.",
        .opts = opts,
        .nopts = n,
        .global = global,
        .nglobal = KD_GLOBAL_NOPTS,
    };
    int done = kd_cmdline_run(&cl, argc, argv);
    if (done >= 0) return done;
    kd_err err = {0};
    if (!teacher_path) {
        kd_fail(&err, KD_ERR_USAGE, "--teacher T.safetensors is required (train one with 'kdcl train')");
        return kd_cli_report(&err);
    }
    kd_train_cfg cfg;
    char ckpt[1200];
    if (kd_train_cfg_from_opts(&o, &cfg, ckpt, sizeof ckpt, &err) != KD_OK) return kd_cli_report(&err);
    cfg.distill = true;
    cfg.kd.temperature = (float)temperature;
    cfg.kd.alpha = (float)alpha;
    if (kd_distill_check(&cfg.kd, &err) != KD_OK) return kd_cli_report(&err);
    if (cache && (cfg.aug.crop || cfg.aug.flip)) {
        kd_fail(&err, KD_ERR_USAGE,
                "--cache-teacher needs --augment none: with augmentation every batch is new, so the teacher must "
                "see it");
        return kd_cli_report(&err);
    }
    cfg.cache_teacher = cache;
    if (baseline && o.no_test) {
        kd_fail(&err, KD_ERR_USAGE, "--baseline only feeds the final comparison on the test split, which --no-test "
                                    "skips: drop one of them");
        return kd_cli_report(&err);
    }

    kd_job_data data;
    kd_ctx *ctx = NULL;
    row rows[3];
    memset(rows, 0, sizeof rows);
    int nrows = 0, rc = 0;
    char *cfg_text = NULL;
    if (kd_job_data_load(&o, &data, &err) != KD_OK) return kd_cli_report(&err);
    const kd_dataset *ds = &data.train;
    kd_ctx_opts co = {.profiling = o.profile};
    if (kd_session_open(&g, &co, &ctx, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    row *t = &rows[nrows++], *s = &rows[nrows++];
    t->role = "teacher";
    t->path = teacher_path;
    s->role = "student";
    s->path = o.out;
    if (kd_model_open(teacher_path, ctx, &t->m, &t->meta, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    if (t->m->classes != ds->classes) {
        kd_fail(&err, KD_ERR_INPUT, "--teacher %s predicts %d classes but %s has %d", teacher_path, t->m->classes,
                ds->name, ds->classes);
        rc = kd_cli_report(&err);
        goto done;
    }
    /* The baseline is opened now, not after the whole run, so a wrong path
     * or file fails in seconds. */
    if (baseline) {
        row *b = &rows[nrows++];
        b->role = "baseline";
        b->path = baseline;
        if (kd_model_open(baseline, ctx, &b->m, &b->meta, &err) != KD_OK) {
            rc = kd_cli_report(&err);
            goto done;
        }
        if (b->m->classes != ds->classes) {
            kd_fail(&err, KD_ERR_INPUT, "--baseline %s predicts %d classes but %s has %d", baseline, b->m->classes,
                    ds->name, ds->classes);
            rc = kd_cli_report(&err);
            goto done;
        }
    }
    int c = o.channels ? o.channels : ds->c, sz = o.resize ? o.resize : ds->h;
    if (kd_model_build(student, c, sz, o.resize ? sz : ds->w, ds->classes, &s->m, &err) != KD_OK ||
        kd_meta_for(ds, s->m, o.normalize, &s->meta, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    if (kd_model_attach(s->m, ctx, (uint64_t)o.seed) != KD_OK) {
        rc = kd_cli_report(&ctx->err);
        goto done;
    }
    kd_prep_desc sprep = kd_prep_from_meta(&s->meta), tprep = kd_prep_from_meta(&t->meta);
    cfg_text = kd_resume_config("distill", s->m->spec, &o, teacher_path, temperature, alpha, cache);
    char hint[2048];
    kd_command_line("distill", argc, argv, hint, sizeof hint);
    cfg.config_json = cfg_text;
    cfg.resume_hint = hint;
    cfg.stop = kd_sigint_flag();
    kd_install_sigint(cfg.stop);
    if (!o.quiet)
        printf("distilling %s (%dx%dx%d) into %s (%dx%dx%d) on %s, T=%g alpha=%g: %d training, %d validation images, "
               "device %s\n",
               t->m->spec, t->m->in_c, t->m->in_h, t->m->in_w, s->m->spec, s->m->in_c, s->m->in_h, s->m->in_w,
               ds->name, temperature, alpha, data.ntrain, data.nval, ctx->dev.name);
    kd_train_data td = {ds, data.train_idx, data.ntrain, data.val_idx, data.nval};
    kd_train_result res;
    double t0 = kd_now();
    kd_status st = kd_train(s->m, &sprep, &s->meta, t->m, &tprep, &td, &cfg, &res, &err);
    if (o.profile) {
        kd_finish(ctx);
        kd_prof_print(ctx, (kd_now() - t0) * 1000.0, stdout);
    }
    if (st != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    if (!o.quiet) printf("saved %s (epoch %d); checkpoint %s\n", o.out, res.best_epoch, ckpt);
    if (o.no_test) goto done;

    /* The comparison on the test split, each model from its file as users will run it. */
    kd_model_free(s->m);
    s->m = NULL;
    kd_model_meta_free(&s->meta);
    if (kd_model_open(o.out, ctx, &s->m, &s->meta, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    if (kd_job_data_load_test(&o, &data, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        kd_prep_desc p = kd_prep_from_meta(&r->meta);
        kd_eval_cfg ec = {.batch = o.batch, .keep_logits = true, .quiet = o.quiet, .label = r->role};
        if (kd_model_plan(r->m, o.batch, false) != KD_OK) {
            rc = kd_cli_report(&ctx->err);
            goto done;
        }
        if (kd_evaluate(r->m, &p, &data.test, data.test_idx, data.ntest, &ec, &r->r, &err) != KD_OK) {
            rc = kd_cli_report(&err);
            goto done;
        }
    }
    print_table(rows, nrows, stdout);
done:
    free(cfg_text);
    for (int i = 0; i < 3; i++) {
        kd_model_free(rows[i].m);
        kd_model_meta_free(&rows[i].meta);
        kd_eval_result_free(&rows[i].r);
    }
    kd_job_data_free(&data);
    kd_ctx_free(ctx);
    return rc;
}
