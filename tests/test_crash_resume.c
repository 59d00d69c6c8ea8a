/* Crash safety of training, through the kdcl binary: a run killed with
 * SIGKILL at random moments always leaves a checkpoint that loads (kdcl
 * eval accepts it, --resume continues it to the end), loses no more than
 * the steps since that checkpoint, and ends with exactly the weights of a
 * run that was never killed. Ctrl-C (SIGINT) loses nothing: the checkpoint
 * holds the last step run. Then many short kills of a run that writes a
 * large checkpoint at every step: the checkpoint file is never torn, and
 * the temporary file a killed writer leaves is removed by the next run. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/fsutil.h"
#include "src/io/safetensors.h"
#include "tests/harness.h"

static char dir[512];
static const char *bin;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Splits `args` on spaces into argv after the binary. */
static int split_args(char *args, char **argv, int cap) {
    int n = 0;
    argv[n++] = (char *)bin;
    for (char *t = strtok(args, " "); t && n < cap - 1; t = strtok(NULL, " ")) argv[n++] = t;
    argv[n] = NULL;
    return n;
}

/* Starts "kdcl ARGS" in dir with stdout+stderr to `log`. */
static pid_t start(const char *log, const char *args) {
    char buf[4096], path[1024];
    snprintf(buf, sizeof buf, "%s", args);
    snprintf(path, sizeof path, "%s/%s", dir, log);
    char *argv[64];
    split_args(buf, argv, 64);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) th_fatal(__FILE__, __LINE__, "fork", "");
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || chdir(dir) != 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

static int finish(pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    /* Killed by a signal: 1000 + the signal, apart from any exit status. */
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : -1;
}

static int kdcl(const char *log, const char *args) { return finish(start(log, args)); }

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Runs "kdcl ARGS" and kills it with SIGKILL once ready(arg) holds (polled
 * every millisecond) and `extra` more seconds have passed, or after
 * `deadline` seconds. *was_running: the kill found it alive. */
static int kdcl_signalled(int sig, const char *log, const char *args, bool (*ready)(const void *), const void *arg,
                          double extra, double deadline, bool *was_running) {
    pid_t pid = start(log, args);
    double t0 = now();
    int st = 0;
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            *was_running = false;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        if ((ready && ready(arg)) || now() - t0 > deadline) break;
        sleep_s(0.001);
    }
    sleep_s(extra);
    *was_running = waitpid(pid, &st, WNOHANG) == 0;
    if (*was_running) {
        kill(pid, sig);
        return finish(pid);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int kdcl_killed(const char *log, const char *args, bool (*ready)(const void *), const void *arg, double extra,
                       double deadline, bool *was_running) {
    return kdcl_signalled(SIGKILL, log, args, ready, arg, extra, deadline, was_running);
}

static char *slurp(const char *name) { return th_slurp(dir, name); }

static void show(const char *name) { th_show(dir, name); }

/* The largest "step" of the per-step lines in a metrics log (-1: none). */
static long last_logged_step(const char *log) {
    char *t = slurp(log);
    long best = -1;
    for (const char *p = t; (p = strstr(p, "\"event\":\"step\"")); p++) {
        const char *s = strstr(p, "\"step\":");
        const char *nl = strchr(p, '\n');
        if (!s || !nl || s > nl) continue; /* a line cut by the kill */
        long v = atol(s + 7);
        if (v > best) best = v;
    }
    free(t);
    return best;
}

/* Reads checkpoint `name`: 1 and its step if it parses, 0 if absent, -1 if torn. */
static int read_ckpt(const char *name, long *step) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!kd_file_exists(path)) return 0;
    kd_st_file f;
    kd_err err = {0};
    if (kd_st_read(path, &f, &err) != KD_OK) {
        fprintf(stderr, "torn checkpoint %s: %s\n", path, err.msg);
        return -1;
    }
    const char *s = kd_st_meta(&f, "kdcl.ckpt.step");
    *step = s ? atol(s) : -1;
    int ok = s && f.count > 0 ? 1 : -1;
    kd_st_free(&f);
    return ok;
}

/* Temporary files of interrupted atomic writes left in dir; `remove`
 * deletes them. */
static int count_tmp_keep(bool remove) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (remove) unlink(path);
            n++;
        }
    if (d) closedir(d);
    return n;
}

typedef struct step_target {
    const char *log;
    long step;
} step_target;

static bool step_reached(const void *arg) {
    const step_target *t = arg;
    return last_logged_step(t->log) >= t->step;
}

/* A temporary file of an atomic write exists: a write is under way. */
static bool writing(const void *arg) {
    (void)arg;
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));) found = strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return found;
}

static int count_tmp(void) { return count_tmp_keep(true); }

static void rm(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* Tensors of a and b bitwise equal; returns how many differ. */
static int compare_files(const char *a, const char *b) {
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    kd_st_file fa, fb;
    kd_err err;
    if (kd_st_read(pa, &fa, &err) != KD_OK) return -1;
    if (kd_st_read(pb, &fb, &err) != KD_OK) {
        kd_st_free(&fa);
        return -1;
    }
    int diff = 0;
    for (int i = 0; i < fa.count; i++) {
        const kd_st_tensor *x = &fa.tensors[i], *y = kd_st_find(&fb, x->name);
        if (!y || y->nbytes != x->nbytes || memcmp(fa.data + x->offset, fb.data + y->offset, x->nbytes)) diff++;
    }
    kd_st_free(&fa);
    kd_st_free(&fb);
    return diff;
}

int main(void) {
    bin = th_kdcl_bin();
    th_tempdir(dir, sizeof dir, "crash");
    th_rng rng = {20261129};
    double t_start = now();

    /* 1. Kill at random moments, check, resume to the end. 432 training
     * images in batches of 16: 27 steps an epoch, 81 in all, a checkpoint
     * every 5 steps and at each epoch's end. */
    const int every = 5, total_steps = 81;
    const char *run = "train --model conv8x3p1,bn,relu,maxpool2,conv16x3p1,relu,gap,dense32,relu,dropout0.3 "
                      "--data synthetic:480:3x12x12 --batch 16 --epochs 3 --seed 5 --augment flip --no-test --quiet "
                      "--checkpoint-every 5 --log-every 1";
    char args[2048];
    snprintf(args, sizeof args, "%s --out R.safetensors --log r.jsonl", run);
    double t0 = now();
    int rc = kdcl("ref.log", args);
    double t_ref = now() - t0;
    CHECK(rc == 0, "uninterrupted reference run exit %d", rc);
    if (rc) show("ref.log");
    CHECK(last_logged_step("r.jsonl") == total_steps, "reference logs %d steps (%ld)", total_steps,
          last_logged_step("r.jsonl"));
    count_tmp();

    int cycles = 0, resumed = 0, fresh = 0, killed = 0, torn = 0, lost_max = 0;
    /* Eight cycles, fewer on a machine so loaded that they would not fit
     * in about half a minute. */
    const int ncycles = 8;
    for (int c = 0; c < ncycles && (c < 3 || now() - t_start < 30.0); c++) {
        rm("K.safetensors");
        rm("K.ckpt.safetensors");
        rm("k.jsonl");
        snprintf(args, sizeof args, "%s --out K.safetensors --log k.jsonl", run);
        /* The first kill lands in the start-up (device, kernels, data),
         * the others at a random step plus up to 20 ms: anywhere in a step,
         * a log line or a checkpoint write. */
        step_target tgt = {"k.jsonl", 1 + (long)(th_next(&rng) % (uint64_t)(total_steps - 1))};
        double at = th_uniform(&rng, 0.0f, 0.02f);
        bool was_running = false;
        if (c == 0)
            rc = kdcl_killed("k1.log", args, NULL, NULL, 0.0, t_ref * th_uniform(&rng, 0.01f, 0.1f), &was_running);
        else
            rc = kdcl_killed("k1.log", args, step_reached, &tgt, at, 60.0, &was_running);
        cycles++;
        if (!was_running) {
            /* Finished before the kill (the machine was faster this time). */
            CHECK(rc == 0, "cycle %d: run ended by itself with exit %d", c, rc);
            continue;
        }
        killed++;
        CHECK(rc == 1000 + SIGKILL, "cycle %d: killed (%d)", c, rc);
        long logged = last_logged_step("k.jsonl"), step = -1;
        int have = read_ckpt("K.ckpt.safetensors", &step);
        if (have < 0) torn++;
        CHECK(have >= 0, "cycle %d: the checkpoint after a kill at step %ld parses", c, logged);
        long lost = logged - (have > 0 ? step : 0);
        if (lost > lost_max) lost_max = (int)lost;
        /* The checkpoint is written after the step's log line, so a kill
         * between the two loses at most `every` steps. */
        CHECK(lost <= every, "cycle %d: %ld steps logged, checkpoint at step %ld: %ld steps lost (at most %d)", c,
              logged, have > 0 ? step : 0, lost, every);
        CHECK(have == 0 || step <= logged, "cycle %d: checkpoint step %ld is not ahead of the log (%ld)", c, step,
              logged);
        if (have > 0) {
            rc = kdcl("e.log", "eval --model K.ckpt.safetensors --data synthetic:480:3x12x12 --quiet");
            CHECK(rc == 0, "cycle %d: kdcl eval accepts the checkpoint of step %ld (exit %d)", c, step, rc);
            if (rc) show("e.log");
            snprintf(args, sizeof args, "%s --out K.safetensors --log k.jsonl --resume K.ckpt.safetensors", run);
            rc = kdcl("k2.log", args);
            CHECK(rc == 0, "cycle %d: --resume from step %ld finishes (exit %d)", c, step, rc);
            if (rc) show("k2.log");
            resumed++;
        } else {
            rc = kdcl("k2.log", args); /* nothing saved yet: start again */
            CHECK(rc == 0, "cycle %d: restart finishes (exit %d)", c, rc);
            fresh++;
        }
        CHECK(last_logged_step("k.jsonl") == total_steps, "cycle %d: the run reaches step %d", c, total_steps);
        int d = compare_files("R.ckpt.safetensors", "K.ckpt.safetensors");
        CHECK(d == 0, "cycle %d: final weights and optimizer state equal the uninterrupted run's (%d tensors differ)",
              c, d);
        d = compare_files("R.safetensors", "K.safetensors");
        CHECK(d == 0, "cycle %d: best model equals the uninterrupted run's (%d tensors differ)", c, d);
        count_tmp();
    }
    /* Ctrl-C mid-epoch: the step finishes, the checkpoint holds it (nothing
     * lost), exit 130 with the resume command, and resuming ends where an
     * uninterrupted run does. */
    int interrupts = 0;
    for (int c = 0; c < 2; c++) {
        rm("K.ckpt.safetensors");
        rm("k.jsonl");
        snprintf(args, sizeof args, "%s --out K.safetensors --log k.jsonl", run);
        step_target tgt = {"k.jsonl", 3 + (long)(th_next(&rng) % (uint64_t)(total_steps - 6))};
        bool was_running = false;
        rc = kdcl_signalled(SIGINT, "i1.log", args, step_reached, &tgt, th_uniform(&rng, 0.0f, 0.01f), 60.0,
                            &was_running);
        if (!was_running) continue;
        interrupts++;
        long logged = last_logged_step("k.jsonl"), step = -1;
        int have = read_ckpt("K.ckpt.safetensors", &step);
        char *out = slurp("i1.log");
        CHECK(rc == 130 && strstr(out, "--resume K.ckpt.safetensors"), "Ctrl-C %d: exit 130 with the resume command (%d)",
              c, rc);
        free(out);
        CHECK(have == 1 && step == logged, "Ctrl-C %d: the checkpoint holds the last step run (%ld of %ld logged)", c,
              step, logged);
        snprintf(args, sizeof args, "%s --out K.safetensors --log k.jsonl --resume K.ckpt.safetensors", run);
        rc = kdcl("i2.log", args);
        CHECK(rc == 0, "Ctrl-C %d: --resume finishes (%d)", c, rc);
        int d = compare_files("R.ckpt.safetensors", "K.ckpt.safetensors");
        CHECK(d == 0, "Ctrl-C %d: final state equals the uninterrupted run's (%d tensors differ)", c, d);
    }
    printf("Ctrl-C: %d interrupted runs saved their last step and resumed to the same result\n", interrupts);
    printf("kill/resume: %d cycles (reference run %.2f s), %d killed: %d resumed from a checkpoint, %d restarted "
           "(killed before the first), at most %d steps lost, %d torn\n",
           cycles, t_ref, killed, resumed, fresh, lost_max, torn);

    /* 2. Torn files: a model whose checkpoint is ~6 MB (dense 2048 -> 256
     * with Adam state), written at every step, killed many times. A kill
     * that leaves a temporary file behind interrupted a write. */
    const char *big = "train --model conv8x3p1,relu,flatten,dense256 --data synthetic:320:3x16x16 --batch 32 --epochs 1 "
                      "--val-split 0 --no-test --quiet --checkpoint-every 1 --out B.safetensors";
    t0 = now();
    rc = kdcl("big.log", big);
    double t_big = now() - t0;
    CHECK(rc == 0, "checkpoint-every-step run exit %d", rc);
    if (rc) show("big.log");
    count_tmp();
    int kills = 0, mid_write = 0, parsed = 0, absent = 0, torn2 = 0;
    /* Sixteen kills, at least six however slow the machine (a sanitizer
     * build under parallel tests takes twice as long). */
    double t_phase2 = now();
    for (int k = 0; k < 16 && (k < 6 || now() - t_phase2 < 15.0); k++) {
        /* Even kills: as soon as a write is seen under way (plus up to 2
         * ms); odd ones: at a random moment. */
        bool was_running = false;
        if (k % 2 == 0)
            kdcl_killed("big_k.log", big, writing, NULL, th_uniform(&rng, 0.0f, 0.002f), 60.0, &was_running);
        else
            kdcl_killed("big_k.log", big, NULL, NULL, 0.0, t_big * th_uniform(&rng, 0.3f, 1.0f), &was_running);
        if (!was_running) continue;
        kills++;
        int tmp = count_tmp();
        mid_write += tmp > 0;
        long step = -1;
        int have = read_ckpt("B.ckpt.safetensors", &step);
        if (have > 0) parsed++;
        else if (have == 0) absent++;
        else torn2++;
    }
    /* What a killed writer leaves is cleaned by the next write of the same
     * file: kill one mid-write, then let a run go to the end. */
    bool was_running = false;
    kdcl_killed("big_k.log", big, writing, NULL, 0.0, 60.0, &was_running);
    int left = count_tmp_keep(false);
    rc = kdcl("big.log", big);
    int after = count_tmp_keep(false);
    CHECK(rc == 0 && after == 0,
          "a finished run removes the %d temporary file(s) a killed writer left (%d remain, exit %d)", left, after, rc);
    CHECK(torn2 == 0, "%d of %d killed checkpoint writers left a torn checkpoint", torn2, kills);
    CHECK(kills >= 3, "only %d of the short runs were still running when killed", kills);
    printf("short kills: %d (run %.2f s), %d interrupted a write (temporary file left), checkpoint parsed %d, "
           "absent %d, torn %d; %d stale temporary file(s) removed by the next run; %.1f s in all\n",
           kills, t_big, mid_write, parsed, absent, torn2, left, now() - t_start);
    return th_done("test_crash_resume");
}
