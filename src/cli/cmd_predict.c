/* kdcl predict: the classes of image files, or the logits of a data set.
 *
 * Image files go through the very path training images take: decoded to
 * uint8 CHW at the channel count of the model's training data, then
 * kd_prep_run (bilinear resize, /255, mean/std) on the device. Images may
 * differ in size, so each is prepared alone at its own size into a
 * temporary and copied into its slot of the model's input batch. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "src/cli/commands.h"
#include "src/cli/train_common.h"
#include "src/data/image_file.h"

_Static_assert(sizeof(int) == 4, "labels are written as I32 straight from an int array");

typedef struct predict_job {
    kd_ctx *ctx;
    kd_model *m;
    const kd_model_meta *meta;
    int top;
    bool json;
    cl_mem pixels;       /* uint8 source image, grown as needed */
    size_t pixels_cap;
    cl_mem one;          /* float [in_c][in_h][in_w]: one prepared image */
    float *logits;       /* host [batch][classes] */
    double *prob;
    int *order;
} predict_job;

static char *dup_text(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

static const char *class_name(const kd_model_meta *meta, int k, char *buf, size_t cap) {
    if (meta->class_names[k]) return meta->class_names[k];
    snprintf(buf, cap, "class %d", k);
    return buf;
}

/* Softmax in double from the max-subtracted logits, then the `top` most
 * probable classes, ties to the lower index (as an argmax picks). */
static void top_classes(const float *logits, int k, int top, double *prob, int *order) {
    double mx = logits[0], sum = 0;
    for (int i = 1; i < k; i++)
        if ((double)logits[i] > mx) mx = logits[i];
    for (int i = 0; i < k; i++) sum += prob[i] = exp((double)logits[i] - mx);
    for (int i = 0; i < k; i++) prob[i] /= sum;
    /* Partial selection sort: O(top * k). */
    for (int i = 0; i < k; i++) order[i] = i;
    for (int t = 0; t < top; t++) {
        int best = t;
        for (int i = t + 1; i < k; i++) {
            double a = prob[order[i]], b = prob[order[best]];
            if (a > b || (a == b && order[i] < order[best])) best = i;
        }
        int x = order[t];
        order[t] = order[best];
        order[best] = x;
    }
}

static void print_result(const predict_job *j, const char *file, const kd_image *im, const float *logits) {
    const kd_model_meta *meta = j->meta;
    int k = meta->classes;
    top_classes(logits, k, j->top, j->prob, j->order);
    char buf[32];
    if (j->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", file);
        cJSON *arr = cJSON_AddArrayToObject(o, "top");
        for (int t = 0; t < j->top; t++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "class", j->order[t]);
            cJSON_AddStringToObject(e, "name", class_name(meta, j->order[t], buf, sizeof buf));
            cJSON_AddNumberToObject(e, "p", j->prob[j->order[t]]);
            cJSON_AddItemToArray(arr, e);
        }
        char *text = cJSON_PrintUnformatted(o);
        if (text) puts(text);
        free(text);
        cJSON_Delete(o);
        return;
    }
    printf("%s (%s, %dx%d)\n", file, im->format, im->w, im->h);
    for (int t = 0; t < j->top; t++)
        printf("  %7.2f%%  %3d %s\n", 100.0 * j->prob[j->order[t]], j->order[t],
               class_name(meta, j->order[t], buf, sizeof buf));
}

static void print_failure(const predict_job *j, const char *file, const char *msg) {
    if (!j->json) return; /* the message went to stderr already */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddStringToObject(o, "error", msg);
    char *text = cJSON_PrintUnformatted(o);
    if (text) puts(text);
    free(text);
    cJSON_Delete(o);
}

/* Prepares one decoded image into slot `slot` of the model's input. */
static kd_status prepare(predict_job *j, const kd_image *im, int slot) {
    kd_ctx *ctx = j->ctx;
    size_t bytes = (size_t)im->c * (size_t)im->h * (size_t)im->w;
    if (bytes > j->pixels_cap) {
        kd_buffer_free(ctx, j->pixels);
        j->pixels = NULL;
        j->pixels_cap = 0;
        KD_TRY(kd_buffer_alloc(ctx, bytes, "image pixels", &j->pixels));
        j->pixels_cap = bytes;
    }
    KD_TRY(kd_write(ctx, j->pixels, 0, bytes, im->pixels, true));
    kd_batch b = {.n = 1, .pixels = j->pixels};
    kd_prep_desc p = kd_prep_from_meta(j->meta);
    KD_TRY(kd_prep_run(ctx, &p, im->c, im->h, im->w, &b, 0, j->one));
    size_t one = (size_t)p.out_c * (size_t)p.out_h * (size_t)p.out_w * sizeof(float);
    return kd_copy(ctx, kd_model_input(j->m), (size_t)slot * one, j->one, 0, one);
}

/* The model's training data decides the conversion: its source channels
 * (1 or 3), fed to an input of the same count or, from gray, 3. */
static kd_status check_channels(const kd_model_meta *meta, const char *path, kd_err *err) {
    bool ok = (meta->src_c == 1 || meta->src_c == 3) && (meta->in_c == 1 || meta->in_c == 3) &&
              (meta->src_c == meta->in_c || meta->src_c == 1);
    if (!ok)
        return kd_fail(err, KD_ERR_INPUT,
                       "%s takes %d-channel input made from %d-channel images: image files (gray or RGB) cannot be "
                       "fed to it",
                       path, meta->in_c, meta->src_c);
    return KD_OK;
}

static int predict_files(const kd_global *g, const char *model_path, const char **files, int nfiles, int batch,
                         int top, bool json) {
    kd_err err = {0};
    kd_ctx *ctx = NULL;
    kd_model *m = NULL;
    kd_model_meta meta;
    memset(&meta, 0, sizeof meta);
    predict_job j;
    memset(&j, 0, sizeof j);
    char **errors = NULL; /* per slot of the batch: the message of an image that failed */
    bool *bad = NULL;
    kd_image *images = NULL;
    int rc = 0, failed = 0;
    if (kd_session_open(g, NULL, &ctx, &err) != KD_OK || kd_model_open(model_path, ctx, &m, &meta) != KD_OK ||
        check_channels(&meta, model_path, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    if (batch > nfiles) batch = nfiles;
    if (kd_model_plan(m, batch, false) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    int k = meta.classes;
    j.ctx = ctx;
    j.m = m;
    j.meta = &meta;
    j.top = top < k ? top : k;
    j.json = json;
    j.logits = malloc((size_t)batch * (size_t)k * sizeof(float));
    j.prob = malloc((size_t)k * sizeof(double));
    j.order = malloc((size_t)k * sizeof(int));
    errors = calloc((size_t)batch, sizeof *errors);
    bad = calloc((size_t)batch, sizeof *bad);
    images = calloc((size_t)batch, sizeof *images);
    if (!j.logits || !j.prob || !j.order || !errors || !bad || !images) {
        kd_fail(&err, KD_ERR_NOMEM, "out of host memory for a batch of %d", batch);
        rc = kd_cli_report(&err);
        goto done;
    }
    size_t one = (size_t)meta.in_c * (size_t)meta.in_h * (size_t)meta.in_w * sizeof(float);
    if (kd_buffer_alloc(ctx, one, "one prepared image", &j.one) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    for (int start = 0; start < nfiles; start += batch) {
        int n = nfiles - start < batch ? nfiles - start : batch, used = 0;
        for (int i = 0; i < n; i++) {
            const char *file = files[start + i];
            kd_image *im = &images[i];
            kd_status s = kd_image_load(file, im, &err);
            if (s == KD_OK) s = kd_image_convert(im, meta.src_c, &err);
            if (s != KD_OK) {
                fprintf(stderr, "kdcl: error: %s\n", err.msg);
                bad[i] = true;
                errors[i] = dup_text(err.msg);
                kd_image_free(im);
                failed++;
                continue;
            }
            if (prepare(&j, im, used) != KD_OK) {
                kd_err_prefix(kd_ctx_err(ctx), "%s: ", file);
                rc = kd_cli_report(&err);
                goto done;
            }
            /* Only the format and size are printed later: a batch of photos need not stay in memory. */
            free(im->pixels);
            im->pixels = NULL;
            used++;
        }
        size_t lbytes = (size_t)used * (size_t)k * sizeof(float);
        if (used && (kd_model_forward(m, used, false) != KD_OK ||
                     kd_read(ctx, kd_model_logits(m), 0, lbytes, j.logits) != KD_OK)) {
            rc = kd_cli_report(&err);
            goto done;
        }
        for (int i = 0, slot = 0; i < n; i++) {
            if (bad[i]) {
                print_failure(&j, files[start + i], errors[i] ? errors[i] : "unreadable");
                free(errors[i]);
                errors[i] = NULL;
                bad[i] = false;
                continue;
            }
            const float *z = j.logits + (size_t)slot++ * (size_t)k;
            bool finite = true;
            for (int c = 0; c < k; c++) finite = finite && isfinite(z[c]);
            if (finite) {
                print_result(&j, files[start + i], &images[i], z);
            } else {
                char msg[1200];
                snprintf(msg, sizeof msg, "%s: the logits are not finite (NaN or infinity); are the weights in %s damaged?",
                         files[start + i], model_path);
                fprintf(stderr, "kdcl: error: %s\n", msg);
                print_failure(&j, files[start + i], msg);
                failed++;
            }
            kd_image_free(&images[i]);
        }
        fflush(stdout);
    }
    if (failed) {
        fprintf(stderr, "kdcl: %d of %d image%s could not be classified\n", failed, nfiles, nfiles == 1 ? "" : "s");
        rc = 1;
    }
done:
    if (errors)
        for (int i = 0; i < batch; i++) free(errors[i]);
    if (images)
        for (int i = 0; i < batch; i++) kd_image_free(&images[i]);
    free(errors);
    free(bad);
    free(images);
    free(j.logits);
    free(j.prob);
    free(j.order);
    if (ctx) {
        kd_buffer_free(ctx, j.pixels);
        kd_buffer_free(ctx, j.one);
    }
    kd_model_free(m);
    kd_model_meta_free(&meta);
    kd_ctx_free(ctx);
    return rc;
}

static kd_status write_logits(const char *path, const kd_eval_result *r, const kd_model_meta *meta,
                              const char *model_path, const char *data, const char *split, kd_err *err) {
    kd_st_writer *w = kd_st_writer_new();
    if (!w) return kd_fail(err, KD_ERR_NOMEM, "out of memory writing %s", path);
    int64_t ls[2] = {r->n, r->classes}, ys[1] = {r->n};
    char buf[64];
    kd_status s = kd_st_writer_add(w, "logits", KD_F32, 2, ls, r->logits, err);
    if (s == KD_OK) s = kd_st_writer_add(w, "labels", KD_I32, 1, ys, r->labels, err);
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.version", KDCL_VERSION, err);
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.model", model_path, err);
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.spec", meta->spec, err);
    snprintf(buf, sizeof buf, "%dx%dx%d", meta->in_c, meta->in_h, meta->in_w);
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.input", buf, err);
    snprintf(buf, sizeof buf, "%d", meta->classes);
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.classes", buf, err);
    if (s == KD_OK) {
        cJSON *names = cJSON_CreateArray();
        for (int i = 0; i < meta->classes; i++)
            cJSON_AddItemToArray(names, cJSON_CreateString(meta->class_names[i] ? meta->class_names[i] : ""));
        char *text = cJSON_PrintUnformatted(names);
        cJSON_Delete(names);
        s = text ? kd_st_writer_meta(w, "kdcl.class_names", text, err) : kd_fail(err, KD_ERR_NOMEM, "out of memory");
        free(text);
    }
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.data", data, err);
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.split", split, err);
    snprintf(buf, sizeof buf, "%.6f", r->acc);
    if (s == KD_OK) s = kd_st_writer_meta(w, "kdcl.accuracy", buf, err);
    if (s == KD_OK) s = kd_st_writer_write(w, path, err);
    kd_st_writer_free(w);
    return s;
}

static int predict_data(const kd_global *g, const char *model_path, kd_train_opts *o, const char *split,
                        const char *out) {
    kd_err err = {0};
    kd_eval_job j;
    kd_eval_result r;
    memset(&r, 0, sizeof r);
    int rc = 0;
    if (kd_eval_job_open(g, model_path, o, split, &j, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    kd_prep_desc p = kd_prep_from_meta(&j.meta);
    kd_eval_cfg ec = {.batch = j.batch, .keep_logits = true, .quiet = o->quiet, .label = "predict"};
    if (kd_evaluate(j.m, &p, j.ds, j.idx, j.count, &ec, &r) != KD_OK ||
        write_logits(out, &r, &j.meta, model_path, o->data, split, &err) != KD_OK) {
        rc = kd_cli_report(&err);
        goto done;
    }
    printf("%ld images of %s (%s split), accuracy %.2f%%: logits [%ld, %d] and labels written to %s\n", r.n,
           j.ds->name, split, 100.0 * r.acc, r.n, r.classes, out);
done:
    kd_eval_result_free(&r);
    kd_eval_job_close(&j);
    return rc;
}

int kd_cmd_predict(int argc, char **argv) {
    kd_train_opts o;
    kd_train_opts_defaults(&o);
    o.batch = 32;
    const char *model_path = NULL, *split = "test", *out = NULL;
    int top = 5;
    bool json = false;
    kd_global g = {0};
    kd_opt opts[] = {
        {.name = "model", .kind = KD_OPT_STR, .dest = &model_path, .metavar = "M.safetensors",
         .help = "a model written by kdcl train/distill"},
        {.name = "top", .kind = KD_OPT_INT, .dest = &top, .metavar = "K",
         .help = "classes shown per image, most probable first (at most the model's classes)", .min = 1,
         .max = KD_MAX_CLASSES},
        {.name = "json", .kind = KD_OPT_FLAG, .dest = &json,
         .help = "one JSON object per image: {\"file\", \"top\": [{\"class\", \"name\", \"p\"}]} or {\"file\", "
                 "\"error\"}"},
        {.name = "batch", .kind = KD_OPT_INT, .dest = &o.batch, .metavar = "N", .help = "images per forward pass",
         .min = 1, .max = 65536},
        {.name = "data", .kind = KD_OPT_STR, .dest = &o.data, .metavar = "DATA",
         .help = "instead of image files: a data set, fashion-mnist[:DIR] | cifar10:DIR | synthetic[:N[:CxHxW]]"},
        {.name = "split", .kind = KD_OPT_STR, .dest = &split, .metavar = "train|val|test",
         .help = "with --data: which images (val: the hold-out of --val-split, as in training)",
         .choices = "train|val|test"},
        {.name = "limit", .kind = KD_OPT_LONG, .dest = &o.limit, .metavar = "N",
         .help = "with --data: only the first N images", .min = 1, .max = 1e9},
        {.name = "val-split", .kind = KD_OPT_FLOAT, .dest = &o.val_split, .metavar = "F",
         .help = "with --data: validation fraction used in training (for --split val/train)", .min = 0, .max = 0.9},
        {.name = "out", .kind = KD_OPT_STR, .dest = &out, .metavar = "logits.safetensors",
         .help = "with --data: write \"logits\" (N x classes, F32) and \"labels\" (N, I32) in data-set order"},
        {.name = "quiet", .kind = KD_OPT_FLAG, .dest = &o.quiet, .help = "with --data: no progress output"},
    };
    const char **files = malloc((size_t)(argc ? argc : 1) * sizeof *files);
    if (!files) return 1;
    kd_cmdline cl = {
        .command = "predict",
        .usage = "kdcl predict --model M.safetensors [--top K] [--json] IMAGE...\n"
                 "       kdcl predict --model M.safetensors --data DATA [--split test] [--limit N] --out "
                 "logits.safetensors",
        .description =
            "Classifies PNG and JPEG files (recognised by content, not name) with a trained model, in\n"
            "inference mode on the selected device, and prints the most probable classes with their\n"
            "softmax probabilities. Each image is converted as the model's training images were: to\n"
            "grayscale (ITU-R 601 luma, as PIL) or RGB, alpha dropped, 16-bit scaled to 8, then resized\n"
            "bilinearly to the model's input, scaled to [0,1] and normalised as stored in the model file.\n"
            "An image that cannot be read is reported and the others are still classified (exit 1).\n"
            "With --data, runs a whole data set split instead and writes its logits and labels, in\n"
            "data-set order, to a safetensors file.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
        .positional = files,
        .max_positional = argc,
    };
    int rc = kd_cmdline_run(&cl, &g, argc, argv);
    if (rc >= 0) {
        free(files);
        return rc;
    }
    kd_err err = {0};
    if (!model_path) {
        kd_fail(&err, KD_ERR_USAGE, "--model M.safetensors is required; see 'kdcl predict --help'");
        rc = kd_cli_report(&err);
    } else if (o.data) {
        if (cl.npositional)
            kd_fail(&err, KD_ERR_USAGE, "give either image files or --data, not both ('%s')", files[0]);
        else if (!out)
            kd_fail(&err, KD_ERR_USAGE, "--data needs --out logits.safetensors: where the logits and labels go");
        else if (kd_opt_seen(&cl, "top") || json)
            kd_fail(&err, KD_ERR_USAGE, "--top and --json apply to image files, not to --data");
        rc = err.code ? kd_cli_report(&err) : predict_data(&g, model_path, &o, split, out);
    } else {
        if (!cl.npositional)
            kd_fail(&err, KD_ERR_USAGE, "no images given: kdcl predict --model M.safetensors IMAGE... (or --data "
                                        "DATA --out logits.safetensors)");
        else if (out || kd_opt_seen(&cl, "split") || kd_opt_seen(&cl, "limit") || kd_opt_seen(&cl, "val-split"))
            kd_fail(&err, KD_ERR_USAGE, "--out, --split, --limit and --val-split go with --data DATA");
        rc = err.code ? kd_cli_report(&err) : predict_files(&g, model_path, files, cl.npositional, o.batch, top, json);
    }
    free(files);
    return rc;
}
