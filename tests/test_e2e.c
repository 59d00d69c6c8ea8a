/* The whole job through the kdcl binary, small and fast: train a tiny
 * teacher on synthetic data, distil a tiny student, evaluate both; metrics
 * files parse; an interrupted and resumed run ends with exactly the
 * weights of an uninterrupted one.
 *
 * In parts, so that ctest runs them side by side and none comes near its
 * time-out on a slow OpenCL implementation (rusticl launches kernels at
 * tens of milliseconds each): `test_e2e teacher DIR` trains the teacher
 * into DIR (a ctest fixture), `test_e2e distill|baseline|cache DIR` use it,
 * `test_e2e resume` needs none; without arguments, all of them in one
 * directory. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "runtime/fsutil.h"
#include "src/io/safetensors.h"
#include "tests/harness.h"

static char dir[512];

/* Runs "kdcl ARGS" in dir with stdout+stderr to file `log`; returns the exit status. */
static int kdcl(const char *log, const char *args) { return th_kdcl(dir, "", log, args); }

static char *slurp(const char *name) { return th_slurp(dir, name); }

static void show(const char *name) { th_show(dir, name); }

/* "accuracy 93.12%" in an eval log. */
static double accuracy_in(const char *log) {
    char *t = slurp(log);
    const char *p = strstr(t, "accuracy ");
    double a = p ? atof(p + 9) : -1;
    free(t);
    return a;
}

/* Epoch lines of run `run` (NULL: any) that carry `need`; every line must
 * be a JSON object with an event, every epoch line of that run must carry
 * it (else -1000). */
static int metrics_lines_of(const char *name, const char *run, const char *need) {
    char *t = slurp(name);
    int good = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *ev = cJSON_GetObjectItem(o, "event"), *r = cJSON_GetObjectItem(o, "run");
        if (!cJSON_IsString(ev)) good = -1000;
        else if (strcmp(ev->valuestring, "epoch") || (run && (!cJSON_IsString(r) || strcmp(r->valuestring, run))))
            ; /* another event, or another run's line */
        else if (cJSON_GetObjectItem(o, "epoch") && cJSON_GetObjectItem(o, "train_loss") &&
                 cJSON_IsNumber(cJSON_GetObjectItem(o, need)))
            good++;
        else
            good = -1000;
        cJSON_Delete(o);
    }
    free(t);
    return good;
}

static int metrics_lines(const char *name, const char *need) { return metrics_lines_of(name, NULL, need); }

/* The "test" line of run `run` in a distill log: its test_acc, or -1. */
static double test_acc_of(const char *name, const char *run) {
    char *t = slurp(name);
    double acc = -1;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *ev = cJSON_GetObjectItem(o, "event"), *r = cJSON_GetObjectItem(o, "run"),
                    *a = cJSON_GetObjectItem(o, "test_acc");
        if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "test") && cJSON_IsString(r) &&
            !strcmp(r->valuestring, run) && cJSON_IsNumber(a))
            acc = a->valuedouble;
        cJSON_Delete(o);
    }
    free(t);
    return acc;
}

/* Every tensor of a and b bitwise equal; returns the number that differ. */
static int compare_files(const char *a, const char *b, int *count) {
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    kd_st_file fa, fb;
    kd_err err;
    MUST_E(&err, kd_st_read(pa, &fa, &err));
    MUST_E(&err, kd_st_read(pb, &fb, &err));
    int diff = 0;
    *count = fa.count;
    for (int i = 0; i < fa.count; i++) {
        const kd_st_tensor *x = &fa.tensors[i], *y = kd_st_find(&fb, x->name);
        if (!y || y->nbytes != x->nbytes || memcmp(fa.data + x->offset, fb.data + y->offset, x->nbytes)) {
            if (!diff) fprintf(stderr, "first difference: %s\n", x->name);
            diff++;
        }
    }
    kd_st_free(&fa);
    kd_st_free(&fb);
    return diff;
}

/* "kdcl ARGS --out X.safetensors --log x.jsonl" stopped after `stop` steps
 * (exit 130, log x1.log), then resumed from X.ckpt.safetensors (exit 0,
 * log x2.log); X is one capital letter. */
static void stop_and_resume(const char *args, const char *X, int stop) {
    char cmd[2600], log[24];
    char x = (char)(X[0] - 'A' + 'a');
    for (int part = 0; part < 2; part++) {
        char tail[96];
        if (part) snprintf(tail, sizeof tail, "--resume %s.ckpt.safetensors", X);
        else snprintf(tail, sizeof tail, "--stop-after %d", stop);
        snprintf(cmd, sizeof cmd, "%s --out %s.safetensors --log %c.jsonl %s", args, X, x, tail);
        snprintf(log, sizeof log, "%c%d.log", x, part + 1);
        int rc = kdcl(log, cmd);
        CHECK(rc == (part ? 0 : 130), "%s after --stop-after %d: %s exit %d", X, stop, part ? "resumed" : "stopped",
              rc);
        if (part && rc) show(log);
    }
}

static const char *const data = "--data synthetic:1000:3x16x16 --batch 32 --seed 3";
/* The students' recipe, spelled out: distill's defaults (the sweep's SGD
 * recipe, docs/results.md) are not train's (the tutorial's Adam), and the
 * alone run must equal 'kdcl train' given the same options. */
static const char *const recipe = "--optimizer adam --lr 0.005 --weight-decay 0 --schedule const --warmup 0";

/* 1. A tiny bottleneck-ResNet teacher, T.safetensors. */
static void part_teacher(void) {
    char args[2048];
    snprintf(args, sizeof args, "train --model resnet14:width=0.125 %s --epochs 2 --out T.safetensors --log t.jsonl",
             data);
    int rc = kdcl("train.log", args);
    CHECK(rc == 0, "teacher training exit %d", rc);
    if (rc) show("train.log");
    CHECK(metrics_lines("t.jsonl", "val_acc") == 2, "teacher metrics: one JSON object per epoch");
}

/* 2b. --baseline: the student alone beside the distilled one, with the
 * same recipe, seed, data order and augmentation, so that its file is
 * bit-identical to a 'kdcl train' of the same options; an interrupted run
 * (in the alone phase) resumes to the same files. Both KD methods: k = 0
 * classic KD (part baseline, with the resume checks), k = 1 DKD (part
 * distill). */
static const char *const bstudent = "conv16x3p1,bn,relu,maxpool2,conv32x3p1,bn,relu,gap,dense32,relu,dropout0.5";
static const char *const kds[2] = {"--temperature 4 --alpha 0.5", "--kd dkd --temperature 4 --dkd-beta 2"};

static void baseline_run(int k) {
    char args[2048];
    int rc;
    snprintf(args, sizeof args,
             "distill --teacher T.safetensors --student %s --dropout 0.1 %s --epochs 2 --augment crop,flip %s %s "
             "--baseline --out K%d.safetensors --log k%d.jsonl",
             bstudent, data, recipe, kds[k], k, k);
    char log[32];
    snprintf(log, sizeof log, "base%d.log", k);
    rc = kdcl(log, args);
    CHECK(rc == 0, "distill --baseline (%s) exit %d", kds[k], rc);
    if (rc) show(log);
    char *bl = slurp(log);
    CHECK(strstr(bl, "\nalone ") && strstr(bl, "\ndistilled ") && strstr(bl, "\nteacher ") &&
              strstr(bl, "distilled vs alone: accuracy "),
          "--baseline table has the teacher, alone and distilled rows and the difference (%s)", kds[k]);
    free(bl);
    snprintf(log, sizeof log, "k%d.jsonl", k);
    CHECK(metrics_lines_of(log, "distilled", "train_soft") == 2 && metrics_lines_of(log, "alone", "val_acc") == 2,
          "--baseline log: 2 epoch lines for each run, labelled");
    double ta = test_acc_of(log, "alone"), td = test_acc_of(log, "distilled"), tt = test_acc_of(log, "teacher");
    CHECK(ta > 0.1 && td > 0.1 && tt > 0.4, "--baseline test figures in the log: teacher %.3f alone %.3f "
          "distilled %.3f (chance 0.1)", tt, ta, td);
    /* They are those of the saved files, as 'kdcl eval' measures them. */
    const char *files[2] = {"alone", "distilled"};
    for (int f = 0; f < 2; f++) {
        snprintf(args, sizeof args, "eval --model K%d%s.safetensors --data synthetic:1000:3x16x16", k,
                 f ? "" : ".alone");
        rc = kdcl("evk.log", args);
        double ev = accuracy_in("evk.log"), lg = 100.0 * (f ? td : ta);
        CHECK(rc == 0 && ev >= 0 && ev - lg < 0.006 && lg - ev < 0.006,
              "%s: test accuracy in the log %.3f%%, kdcl eval %.2f%%", files[f], lg, ev);
    }
}

/* 3. Both files load and are well above chance (10%). */
static void evaluate_teacher_and_student(void) {
    int rc = kdcl("eval_t.log", "eval --model T.safetensors --data synthetic:1000:3x16x16");
    double at = accuracy_in("eval_t.log");
    CHECK(rc == 0 && at > 40.0, "teacher eval exit %d, accuracy %.2f%%", rc, at);
    rc = kdcl("eval_s.log", "eval --model S.safetensors --data synthetic:1000:3x16x16");
    double as = accuracy_in("eval_s.log");
    CHECK(rc == 0 && as > 40.0, "student eval exit %d, accuracy %.2f%%", rc, as);
    char *el = slurp("eval_s.log");
    CHECK(strstr(el, "confusion matrix") != NULL, "confusion matrix printed");
    free(el);
}

/* 2. Distil a tiny student from T.safetensors; the comparison table prints. */
static void part_distill(void) {
    char args[2048];
    snprintf(args, sizeof args,
             "distill --teacher T.safetensors --student conv16x3p1,bn,relu,maxpool2,conv32x3p1,bn,relu,gap %s --epochs 2 "
             "%s --temperature 4 --alpha 0.1 --out S.safetensors --log s.jsonl",
             data, recipe);
    int rc = kdcl("distill.log", args);
    CHECK(rc == 0, "distill exit %d", rc);
    char *dl = slurp("distill.log");
    CHECK(strstr(dl, "teacher") && strstr(dl, "student") && strstr(dl, "agreement") && strstr(dl, "MACs/image"),
          "comparison table printed");
    free(dl);
    if (rc) show("distill.log");
    CHECK(metrics_lines("s.jsonl", "train_soft") == 2, "distill metrics carry the soft part");

    baseline_run(1);
    evaluate_teacher_and_student();
}

/* 2b with classic KD, then: the alone run equals 'kdcl train'; --baseline
 * stopped and resumed in either phase equals the uninterrupted run. */
static void part_baseline(void) {
    char args[2048];
    baseline_run(0);
    snprintf(args, sizeof args,
             "train --model %s --dropout 0.1 %s --epochs 2 --augment crop,flip %s --out K0t.safetensors --no-test "
             "--quiet",
             bstudent, data, recipe);
    int rc = kdcl("k0t.log", args);
    int nk = 0, dk = compare_files("K0.alone.safetensors", "K0t.safetensors", &nk), dk2;
    CHECK(rc == 0 && dk == 0 && nk > 0, "the alone run equals 'kdcl train' with the same options: %d of %d differ",
          dk, nk);
    /* Stopped in the alone phase (the distilled run takes 2 x 29 steps), then resumed. */
    snprintf(args, sizeof args, "distill --teacher T.safetensors --student %s --dropout 0.1 %s --epochs 2 --augment "
             "crop,flip %s %s --baseline --quiet", bstudent, data, recipe, kds[0]);
    stop_and_resume(args, "R", 80);
    /* Stopped in the distilled phase, with a stale alone checkpoint of an
     * older run lying beside it: the fresh run removes that, the resumed one
     * trains the alone run from the start. */
    char stale[1100];
    snprintf(stale, sizeof stale, "%s/Q.alone.ckpt.safetensors", dir);
    FILE *sf = fopen(stale, "w");
    if (sf) {
        fputs("an older run's checkpoint", sf);
        fclose(sf);
    }
    stop_and_resume(args, "Q", 20);
    dk = compare_files("K0.alone.safetensors", "Q.alone.safetensors", &nk);
    dk2 = compare_files("K0.safetensors", "Q.safetensors", &nk);
    CHECK(dk == 0 && dk2 == 0, "--baseline resumed from the distilled phase equals uninterrupted: alone %d, "
          "distilled %d tensors differ", dk, dk2);
    CHECK(metrics_lines_of("q.jsonl", "distilled", "train_soft") == 2 && metrics_lines_of("q.jsonl", "alone", "val_acc") == 2,
          "--baseline resumed from the distilled phase: each run's epochs once in the log");
    char *r1 = slurp("r1.log");
    CHECK(strstr(r1, "R.alone.ckpt.safetensors") && strstr(r1, "--resume R.ckpt.safetensors"),
          "the interrupt names the alone run's checkpoint and resumes with the distill one");
    free(r1);
    dk = compare_files("K0.alone.safetensors", "R.alone.safetensors", &nk);
    dk2 = compare_files("K0.safetensors", "R.safetensors", &nk);
    CHECK(dk == 0 && dk2 == 0, "--baseline resumed equals uninterrupted: alone %d, distilled %d tensors differ", dk,
          dk2);
    CHECK(test_acc_of("r.jsonl", "alone") == test_acc_of("k0.jsonl", "alone") &&
              metrics_lines_of("r.jsonl", "alone", "val_acc") == 2,
          "--baseline resumed log: the alone run's epochs once each, same test figures");
}

/* Cached teacher logits (T.safetensors) give exactly the online teacher's result. */
static void part_cache(void) {
    char args[2048];
    int rc;
    /* Without augmentation, and with flips (both views of each image kept;
     * 3 epochs, so that later epochs draw views the first one did not show). */
    for (int flip = 0; flip <= 1; flip++) {
        for (int cached = 0; cached <= 1; cached++) {
            snprintf(args, sizeof args,
                     "distill --teacher T.safetensors --student conv8x3p1,bn,relu,gap,dense16,relu,dropout0.2 %s "
                     "--epochs %d --out C%d%d.safetensors --no-test --quiet%s%s",
                     data, 2 + flip, flip, cached, cached ? " --cache-teacher" : "", flip ? " --augment flip" : "");
            char log[32];
            snprintf(log, sizeof log, "cache%d%d.log", flip, cached);
            rc = kdcl(log, args);
            CHECK(rc == 0, "distill %s the teacher cache%s: exit %d", cached ? "with" : "without",
                  flip ? ", flips" : "", rc);
            if (rc) show(log);
        }
        char a0[32], a1[32];
        snprintf(a0, sizeof a0, "C%d0.safetensors", flip);
        snprintf(a1, sizeof a1, "C%d1.safetensors", flip);
        int nc = 0, dc = compare_files(a0, a1, &nc);
        CHECK(dc == 0 && nc > 0, "cached teacher logits%s change the student: %d of %d tensors differ",
              flip ? " (flips)" : "", dc, nc);
    }
    rc = kdcl("cache2.log", "distill --teacher T.safetensors --student conv8x3p1,gap --data synthetic:1000:3x16x16 "
                            "--augment crop,flip --cache-teacher --out C2.safetensors");
    CHECK(rc == 2, "--cache-teacher with crops is refused (%d)", rc);
}

/* 4. Resume: interrupted mid-epoch and at an epoch end, then resumed, equals uninterrupted. */
static void part_resume(void) {
    char args[2048];
    const char *student = "--model conv8x3p1,bn,relu,maxpool2,conv16x3p1,relu,gap,dense32,relu,dropout0.3";
    snprintf(args, sizeof args, "train %s %s --epochs 3 --augment crop,flip --out A.safetensors --no-test", student,
             data);
    int rc = kdcl("a.log", args);
    CHECK(rc == 0, "uninterrupted run exit %d", rc);
    snprintf(args, sizeof args, "train %s %s --epochs 3 --augment crop,flip --out B.safetensors --no-test --stop-after 11 --log b.jsonl --log-every 4",
             student, data);
    rc = kdcl("b1.log", args);
    char *b1 = slurp("b1.log");
    CHECK(rc == 130 && strstr(b1, "--resume B.ckpt.safetensors"), "interrupted run exits 130 with a resume hint (%d)",
          rc);
    free(b1);
    snprintf(args, sizeof args,
             "train %s %s --epochs 3 --augment crop,flip --out B.safetensors --no-test --stop-after 17 --resume "
             "B.ckpt.safetensors --log b.jsonl --log-every 4",
             student, data);
    rc = kdcl("b2.log", args);
    CHECK(rc == 130, "second session stops again (%d)", rc);
    snprintf(args, sizeof args,
             "train %s %s --epochs 3 --augment crop,flip --out B.safetensors --no-test --resume B.ckpt.safetensors "
             "--log b.jsonl --log-every 4",
             student, data);
    rc = kdcl("b3.log", args);
    CHECK(rc == 0, "resumed run finishes (%d)", rc);
    if (rc) show("b3.log");
    /* The log of the interrupted run holds each step once, in order. */
    char *bl = slurp("b.jsonl");
    int epochs = 0, steps = 0, last = 0, ordered = 1;
    for (char *line = strtok(bl, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *st = cJSON_GetObjectItem(o, "step"), *ev = cJSON_GetObjectItem(o, "event");
        if (cJSON_IsNumber(st) && cJSON_IsString(ev)) {
            if (!strcmp(ev->valuestring, "epoch")) epochs++;
            else if (st->valueint <= last) ordered = 0;
            else steps++;
            if (!strcmp(ev->valuestring, "step")) last = st->valueint;
        }
        cJSON_Delete(o);
    }
    free(bl);
    CHECK(epochs == 3 && ordered && steps == 87 / 4, "resumed log: %d epoch lines, %d step lines, %s", epochs, steps,
          ordered ? "in order" : "steps repeated");
    int n = 0, diff = compare_files("A.ckpt.safetensors", "B.ckpt.safetensors", &n);
    CHECK(diff == 0 && n > 0, "resumed weights and optimizer state equal the uninterrupted run: %d of %d differ", diff, n);
    diff = compare_files("A.safetensors", "B.safetensors", &n);
    CHECK(diff == 0, "best models equal: %d of %d differ", diff, n);

    /* A changed setting is refused on resume. */
    snprintf(args, sizeof args, "train %s %s --epochs 3 --lr 0.01 --out B.safetensors --resume B.ckpt.safetensors",
             student, data);
    rc = kdcl("b4.log", args);
    CHECK(rc == 2, "resume with another --lr refused (%d)", rc);
}

int main(int argc, char **argv) {
    const char *part = argc > 1 ? argv[1] : "all", *shared = argc > 2 ? argv[2] : NULL;
    bool needs_teacher = !strcmp(part, "distill") || !strcmp(part, "baseline") || !strcmp(part, "cache");
    if (!strcmp(part, "teacher") && shared) {
        if (snprintf(dir, sizeof dir, "%s", shared) >= (int)sizeof dir) th_fatal(__FILE__, __LINE__, "argv", "DIR too long");
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
        if (system(cmd) != 0) th_fatal(__FILE__, __LINE__, "mkdir", dir);
        part_teacher();
    } else if (needs_teacher && shared) {
        th_tempdir(dir, sizeof dir, part);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "cp '%s/T.safetensors' '%s/'", shared, dir);
        if (system(cmd) != 0) th_fatal(__FILE__, __LINE__, "cp", "no teacher: run 'test_e2e teacher DIR' first");
        if (!strcmp(part, "distill")) part_distill();
        else if (!strcmp(part, "baseline")) part_baseline();
        else part_cache();
    } else if (!strcmp(part, "resume")) {
        th_tempdir(dir, sizeof dir, part);
        part_resume();
    } else if (!strcmp(part, "all")) {
        th_tempdir(dir, sizeof dir, "e2e");
        part_teacher();
        part_distill();
        part_baseline();
        part_cache();
        part_resume();
    } else {
        fprintf(stderr, "usage: test_e2e [teacher DIR | distill DIR | baseline DIR | cache DIR | resume]\n");
        return 2;
    }
    return th_done("test_e2e");
}
