/* What happens when training meets trouble, through the kdcl binary:
 *  1. a loss or gradient that goes non-finite stops the run with a message
 *     naming the epoch, the step and the learning rate, and the last good
 *     checkpoint survives and loads;
 *  2. an output directory that turns read-only after the first epoch's
 *     checkpoint gives a clear error and leaves that checkpoint intact;
 *  3. a full disk (a small tmpfs when this process may mount one, and a
 *     file-size limit always) likewise;
 *  4. a checkpoint with damaged metadata is refused by name;
 *  5. a batch that does not fit the device is refused up front with the
 *     memory needed and available and a batch size that fits (checked
 *     against kd_model_memory), and a single allocation beyond the device
 *     names its size, not a driver error code.
 * Running as root, permissions do not stop writes: the directory is then
 * made immutable (FS_IOC_SETFLAGS) or a read-only tmpfs; what could not be
 * simulated here is printed as SKIP. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/buffer.h"
#include "runtime/fsutil.h"
#include "src/io/safetensors.h"
#include "src/model/model.h"
#include "src/model/weights.h"
#include "tests/harness.h"

static char dir[512];

/* Runs "kdcl ARGS" in dir (after `prefix`, shell commands such as a
 * ulimit) with stdout+stderr to `log`; returns the exit status. */
static int kdcl_pre(const char *prefix, const char *log, const char *args) { return th_kdcl(dir, prefix, log, args); }

static int kdcl(const char *log, const char *args) { return kdcl_pre("", log, args); }

static char *slurp(const char *name) { return th_slurp(dir, name); }

static void show(const char *name) { th_show(dir, name); }

static bool log_has(const char *log, const char *what) {
    char *t = slurp(log);
    bool yes = strstr(t, what) != NULL;
    free(t);
    return yes;
}

/* Step of a checkpoint whose tensors are all finite; -1 if it does not
 * parse, -2 if some value is not finite. */
static long ckpt_step(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    kd_st_file f;
    kd_err err;
    if (kd_st_read(path, &f, &err) != KD_OK) return -1;
    const char *s = kd_st_meta(&f, "kdcl.ckpt.step");
    long step = s ? atol(s) : -1;
    for (int i = 0; i < f.count && step >= 0; i++) {
        size_t n = kd_st_numel(&f.tensors[i]);
        float *v = malloc((n ? n : 1) * sizeof *v);
        if (kd_st_to_f32(&f, &f.tensors[i], v, &err) != KD_OK) step = -1;
        for (size_t j = 0; j < n && step >= 0; j++)
            if (!isfinite(v[j])) step = -2;
        free(v);
    }
    kd_st_free(&f);
    return step;
}

static bool same_bytes(const char *a, const char *b) {
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    void *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    kd_err err;
    bool same = kd_read_file(pa, &x, &nx, &err) == KD_OK && kd_read_file(pb, &y, &ny, &err) == KD_OK && nx == ny &&
                nx > 0 && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static void copy(const char *from, const char *to) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/%s'", dir, from, dir, to);
    if (system(cmd) != 0) th_fatal(__FILE__, __LINE__, "cp", cmd);
}

static int leftover_tmp(const char *sub) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls '%s/%s' | grep -c '\\.tmp\\.' > /dev/null", dir, sub);
    return system(cmd) == 0;
}

/* The same small run everywhere: 432 training images in batches of 16 (27
 * steps an epoch); the model file is 2.4 MB, the checkpoint with Adam
 * state 7.1 MB (larger than any file the OpenCL driver writes itself, for
 * the file-size limit below). */
#define RUN                                                                                                           \
    "train --model conv8x3p1,relu,flatten,dense512 --data synthetic:480:3x12x12 --batch 16 --epochs 2 --seed 4 "     \
    "--no-test --quiet"
#define STEPS_PER_EPOCH 27

/* Trains through epoch 1 and two steps of epoch 2 into SUB/M.safetensors
 * (the first epoch's model and checkpoint exist, then a mid-epoch one) and
 * keeps a copy of the checkpoint as SUB/saved.ckpt. */
static bool first_session(const char *sub) {
    char args[1024];
    snprintf(args, sizeof args, RUN " --out %s/M.safetensors --stop-after %d", sub, STEPS_PER_EPOCH + 2);
    int rc = kdcl("s1.log", args);
    CHECK(rc == 130, "%s: first session stops after epoch 1 + 2 steps (exit %d)", sub, rc);
    if (rc != 130) {
        show("s1.log");
        return false;
    }
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/M.ckpt.safetensors", sub);
    snprintf(b, sizeof b, "%s/saved.ckpt", sub);
    copy(a, b);
    return true;
}

/* After a failed second session: the checkpoint is byte for byte the one
 * before, loads in kdcl eval, and resumes to the end once writes work. */
static void check_intact(const char *sub, const char *why, bool can_resume) {
    char a[256], b[256], args[1024];
    snprintf(a, sizeof a, "%s/M.ckpt.safetensors", sub);
    snprintf(b, sizeof b, "%s/saved.ckpt", sub);
    CHECK(same_bytes(a, b), "%s: the previous checkpoint is unchanged", why);
    CHECK(ckpt_step(a) == STEPS_PER_EPOCH + 2, "%s: the checkpoint still holds step %d (%ld)", why,
          STEPS_PER_EPOCH + 2, ckpt_step(a));
    snprintf(args, sizeof args, "eval --model %s --data synthetic:480:3x12x12 --quiet", a);
    int rc = kdcl("e.log", args);
    CHECK(rc == 0, "%s: kdcl eval loads the checkpoint (exit %d)", why, rc);
    if (!can_resume) return;
    snprintf(args, sizeof args, RUN " --out %s/M.safetensors --resume %s", sub, a);
    rc = kdcl("s3.log", args);
    CHECK(rc == 0, "%s: once writable again, --resume finishes (exit %d)", why, rc);
    if (rc) show("s3.log");
}

static void numeric_guard(void) {
    /* A deep linear net (no ReLU, no BN) under SGD at lr 100: gradients
     * overflow within a few steps; a checkpoint every 2 steps before that. */
    int rc = kdcl("nan.log", "train --model conv16x3p1,conv16x3p1,conv16x3p1,gap,dense64,dense64 --data "
                             "synthetic:480:3x12x12 --batch 16 --epochs 2 --lr 100 --optimizer sgd --checkpoint-every 2 "
                             "--out N.safetensors --quiet");
    char *t = slurp("nan.log");
    const char *e = strstr(t, "kdcl: error: training diverged in epoch 1, step ");
    long step = e ? atol(e + strlen("kdcl: error: training diverged in epoch 1, step ")) : -1;
    CHECK(rc == 1, "a diverging run exits 1 (%d)", rc);
    CHECK(e && step > 0, "the message names the epoch and step: %s", t);
    CHECK(strstr(t, "not finite") && strstr(t, "learning rate (100)") && strstr(t, "--lr"),
          "the message names the cause (a non-finite value) and the learning rate as the likely culprit: %s", t);
    CHECK(strstr(t, "N.ckpt.safetensors") != NULL, "the message names the checkpoint kept: %s", t);
    free(t);
    long good = ckpt_step("N.ckpt.safetensors");
    CHECK(good > 0 && good < step, "the last good checkpoint (step %ld, every value finite) predates step %ld", good,
          step);
    rc = kdcl("nan_eval.log", "eval --model N.ckpt.safetensors --data synthetic:480:3x12x12 --quiet");
    CHECK(rc == 0 && log_has("nan_eval.log", "loss") && !log_has("nan_eval.log", "nan"),
          "kdcl eval loads the last good checkpoint, finite loss (exit %d)", rc);
    printf("numeric guard: diverged at step %ld, checkpoint of step %ld kept and loads\n", step, good);
}

/* Makes directory `path` unwritable even for root: 1 chmod, 2 immutable
 * attribute, 3 read-only tmpfs (needs `mounted`), 0 none worked. */
static int make_readonly(const char *path, bool mounted) {
    if (geteuid() != 0) return chmod(path, 0555) == 0 ? 1 : 0;
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        int flags = 0;
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
            flags |= FS_IMMUTABLE_FL;
            if (ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0) {
                close(fd);
                return 2;
            }
        }
        close(fd);
    }
    if (mounted && mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0) return 3;
    return 0;
}

static void undo_readonly(const char *path, int how) {
    if (how == 1) chmod(path, 0755);
    if (how == 2) {
        int fd = open(path, O_RDONLY | O_DIRECTORY), flags = 0;
        if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
            flags &= ~FS_IMMUTABLE_FL;
            ioctl(fd, FS_IOC_SETFLAGS, &flags);
        }
        if (fd >= 0) close(fd);
    }
    if (how == 3) mount(NULL, path, NULL, MS_REMOUNT, NULL);
}

/* A tmpfs of `kib` at dir/sub in this process's own mount namespace (gone
 * when the test exits); false where this process may not mount. */
static bool namespace_ok;
static bool mount_tmpfs(const char *sub, long kib) {
    if (!namespace_ok) return false;
    char path[1024], opts[64];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    snprintf(opts, sizeof opts, "size=%ldk", kib);
    return mount("tmpfs", path, "tmpfs", 0, opts) == 0;
}

static void readonly_dir(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ro", dir);
    mkdir(path, 0755);
    bool mounted = mount_tmpfs("ro", 65536);
    if (!first_session("ro")) return;
    int how = make_readonly(path, mounted);
    if (!how) {
        printf("SKIP read-only directory: running as root and neither the immutable attribute nor a read-only "
               "tmpfs is available here\n");
        return;
    }
    static const char *const names[] = {"", "chmod 0555", "immutable attribute (root)", "read-only tmpfs (root)"};
    int rc = kdcl("ro.log", RUN " --out ro/M.safetensors --resume ro/M.ckpt.safetensors");
    char *t = slurp("ro.log");
    CHECK(rc == 1, "read-only directory (%s): the run fails with exit 1 (%d)", names[how], rc);
    CHECK(strstr(t, "kdcl: error: ") && strstr(t, "cannot write ro/M") &&
              (strstr(t, "ermission denied") || strstr(t, "not permitted") || strstr(t, "Read-only")),
          "read-only directory: the message names the file and the reason: %s", t);
    printf("read-only directory: %s", t);
    free(t);
    check_intact("ro", "read-only directory", false);
    undo_readonly(path, how);
    check_intact("ro", "read-only directory", true);
    printf("read-only directory (%s): clear error, checkpoint intact, loads and resumes\n", names[how]);
}

static void full_disk(void) {
    /* 1. A tmpfs with room for the first session's files and 100 KiB more:
     * the next write (0.3 MB model or 0.9 MB checkpoint) cannot fit. */
    char path[1024];
    snprintf(path, sizeof path, "%s/full", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/full_src", dir);
    mkdir(path, 0755);
    if (first_session("full_src")) {
        long used = 0;
        static const char *const files[] = {"M.safetensors", "M.ckpt.safetensors", "saved.ckpt"};
        for (int i = 0; i < 3; i++) {
            char p[1024];
            snprintf(p, sizeof p, "%s/full_src/%s", dir, files[i]);
            used += (kd_file_size(p) + 4095) / 4096 * 4;
        }
        if (mount_tmpfs("full", used + 100)) {
            copy("full_src/M.safetensors", "full/M.safetensors");
            copy("full_src/M.ckpt.safetensors", "full/M.ckpt.safetensors");
            copy("full_src/saved.ckpt", "full/saved.ckpt");
            int rc = kdcl("full.log", RUN " --out full/M.safetensors --resume full/M.ckpt.safetensors");
            char *t = slurp("full.log");
            CHECK(rc == 1, "full disk: the run fails with exit 1 (%d)", rc);
            CHECK(strstr(t, "cannot write full/M") && strstr(t, "No space left on device") && strstr(t, "intact"),
                  "full disk: the message names the file, the reason and that the old file is intact: %s", t);
            printf("full disk: %s", t);
            free(t);
            CHECK(!leftover_tmp("full"), "full disk: no temporary file left taking the space");
            check_intact("full", "full disk", false);
            printf("full disk (tmpfs of %ld KiB): clear error, checkpoint intact and loads\n", used + 100);
        } else {
            printf("SKIP full disk on a tmpfs: this process may not mount one (needs root with CAP_SYS_ADMIN)\n");
        }
    }
    /* 2. A file-size limit (works for anyone): writes past 5 MiB (10240
     * blocks of 512 bytes in sh) fail with EFBIG, as on a disk that fills
     * up mid-file: the 2.4 MB model file
     * fits, the 7.1 MB checkpoint does not. The OpenCL driver writes its
     * own cache files under the same limit; should it die of that
     * ("LLVM ERROR"), the case says so and is skipped. */
    snprintf(path, sizeof path, "%s/fsize", dir);
    mkdir(path, 0755);
    if (!first_session("fsize")) return;
    int rc = kdcl_pre("trap '' XFSZ; ulimit -f 10240;", "fsize.log",
                      RUN " --out fsize/M.safetensors --resume fsize/M.ckpt.safetensors");
    char *t = slurp("fsize.log");
    if (strstr(t, "LLVM ERROR")) {
        printf("SKIP file-size limit: the OpenCL driver itself failed under it: %s", t);
        free(t);
        return;
    }
    CHECK(rc == 1, "file-size limit: the run fails with exit 1 (%d)", rc);
    CHECK(strstr(t, "cannot write fsize/M.ckpt") && strstr(t, "File too large") && strstr(t, "intact"),
          "file-size limit: the message names the file and the reason: %s", t);
    printf("file-size limit: %s", t);
    free(t);
    CHECK(!leftover_tmp("fsize"), "file-size limit: no temporary file left behind");
    check_intact("fsize", "file-size limit", true);
    printf("file-size limit (ulimit -f 10240: 5 MiB): clear error, checkpoint intact, loads and resumes\n");
}

/* Copies checkpoint `src` to `dst` with metadata `key` set to `value`. */
static void patch_meta(const char *src, const char *dst, const char *key, const char *value) {
    char ps[1024], pd[1024];
    snprintf(ps, sizeof ps, "%s/%s", dir, src);
    snprintf(pd, sizeof pd, "%s/%s", dir, dst);
    kd_st_file f;
    kd_err err = {0};
    MUST_E(&err, kd_st_read(ps, &f, &err));
    kd_st_writer *w = kd_st_writer_new();
    for (int i = 0; i < f.meta_count; i++)
        MUST_E(&err, kd_st_writer_meta(w, f.meta_keys[i], strcmp(f.meta_keys[i], key) ? f.meta_values[i] : value, &err));
    for (int i = 0; i < f.count; i++) {
        const kd_st_tensor *t = &f.tensors[i];
        MUST_E(&err, kd_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, f.data + t->offset, &err));
    }
    MUST_E(&err, kd_st_writer_write(w, pd, &err));
    kd_st_writer_free(w);
    kd_st_free(&f);
}

/* A damaged checkpoint's position and statistics are refused by name
 * instead of being converted blindly ((int)1e300) or trained from ("epoch
 * -4"); a batch past the epoch once ended in "kdcl: error: ok", exit 0. */
static void damaged_checkpoint(void) {
    int rc = kdcl("d0.log", "train --model conv2x3,gap --data synthetic:64:1x8x8 --epochs 2 --batch 16 --out D.safetensors "
                            "--no-test --quiet --stop-after 2");
    CHECK(rc == 130, "checkpoint for the damage cases (exit %d)", rc);
    static const char *const cases[][3] = {
        {"kdcl.ckpt.epoch", "-5", "kdcl.ckpt.epoch is -5"},     {"kdcl.ckpt.epoch", "1e300", "kdcl.ckpt.epoch is 1e+300"},
        {"kdcl.ckpt.batch", "-3", "kdcl.ckpt.batch is -3"},     {"kdcl.ckpt.batch", "1000", "at batch 1000: an epoch has 4"},
        {"kdcl.ckpt.step", "nan", "kdcl.ckpt.step is nan"},     {"kdcl.ckpt.step", "2.5", "kdcl.ckpt.step is 2.5"},
        {"kdcl.ckpt.best_acc", "nan", "kdcl.ckpt.best_acc is nan"},
        {"kdcl.ckpt.epoch", "one", "not a kdcl training checkpoint"},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        patch_meta("D.ckpt.safetensors", "bad.ckpt.safetensors", cases[i][0], cases[i][1]);
        rc = kdcl("d.log", "train --model conv2x3,gap --data synthetic:64:1x8x8 --epochs 2 --batch 16 --out D2.safetensors "
                           "--no-test --quiet --resume bad.ckpt.safetensors");
        CHECK(rc == 2 && log_has("d.log", cases[i][2]) && !log_has("d.log", "error: ok"),
              "--resume with %s = %s: exit %d, message naming it", cases[i][0], cases[i][1], rc);
        if (rc != 2 || !log_has("d.log", cases[i][2])) show("d.log");
    }
    /* A model file's preprocessing: a negative std or a huge mean would
     * feed the model inverted or infinite pixels without a word. */
    static const char *const pre[] = {
        "{\"dataset\":\"synthetic\",\"source_channels\":1,\"mean\":[0,0,0],\"std\":[-1,-1,-1]}",
        "{\"dataset\":\"synthetic\",\"source_channels\":1,\"mean\":[1e300,0,0],\"std\":[0,0,0]}",
    };
    for (int i = 0; i < 2; i++) {
        patch_meta("D.ckpt.safetensors", "bad.safetensors", "kdcl.preprocess", pre[i]);
        rc = kdcl("d.log", "eval --model bad.safetensors --data synthetic:64:1x8x8 --quiet");
        CHECK(rc == 2 && log_has("d.log", "kdcl.preprocess"), "eval of a model with preprocessing %s: exit %d", pre[i],
              rc);
    }
    printf("damaged checkpoints: %d kinds of damage refused with exit 2; 2 kinds of damaged preprocessing\n", n);
}

/* "--batch N would fit" in a log; 0 if absent. */
static int batch_hint(const char *log) {
    char *t = slurp(log);
    const char *p = strstr(t, "--batch ");
    int n = 0;
    for (; p; p = strstr(p + 1, "--batch "))
        if (strstr(p, " would fit") == p + 8 + strspn(p + 8, "0123456789")) n = atoi(p + 8);
    free(t);
    return n;
}

static void device_memory(void) {
    kd_ctx *ctx = th_ctx();
    double free_mib = (double)(kd_ctx_device(ctx)->global_mem - kd_ctx_counters(ctx).mem_in_use) / 1048576.0;
    /* Training: seed-cnn at 36x36 with a batch of 65536 needs ~35 GB. */
    int rc = kdcl("mem.log", "train --model seed-cnn --data synthetic:200:1x36x36 --batch 65536 --epochs 1 "
                             "--out X.safetensors --quiet");
    char *t = slurp("mem.log");
    int fit = batch_hint("mem.log");
    CHECK(rc == 1, "a batch that does not fit exits 1 (%d)", rc);
    CHECK(strstr(t, "at batch 65536 needs about") && strstr(t, "MiB free of") && strstr(t, "single buffers up to") &&
              fit > 0,
          "the message names the memory needed and available and a batch size that fits: %s", t);
    CHECK(!strstr(t, "CL_") && !strstr(t, "clCreateBuffer"), "no driver error code: %s", t);
    printf("train --batch 65536: %s", t);
    free(t);
    kd_model *m = NULL;
    kd_err err = {0};
    MUST_E(&err, kd_model_build("seed-cnn", 1, 36, 36, 10, &m, &err));
    MUST(ctx, kd_model_attach(m, ctx, 1));
    uint64_t need, largest, need_big, largest_big;
    kd_model_memory(m, fit, true, &need, &largest);
    kd_model_memory(m, 65536, true, &need_big, &largest_big);
    CHECK(need <= kd_ctx_device(ctx)->global_mem && largest <= kd_ctx_device(ctx)->max_alloc,
          "the suggested --batch %d fits: %.0f MiB of %.0f, largest buffer %.0f MiB of %.0f", fit,
          (double)need / 1048576.0, (double)kd_ctx_device(ctx)->global_mem / 1048576.0, (double)largest / 1048576.0,
          (double)kd_ctx_device(ctx)->max_alloc / 1048576.0);
    CHECK(need_big > kd_ctx_device(ctx)->global_mem || largest_big > kd_ctx_device(ctx)->max_alloc,
          "and 65536 indeed does not");
    kd_model_free(m);

    /* Inference (eval) with a model file: the same kind of message. eval
     * never plans more than the split's images, so the model is wide
     * instead: two 512-filter 3x3 convolutions at 64x64 need ~90 MB per
     * image (the im2col workspace alone 75 MB), and 1000 test images do
     * not fit. The file is written here, untrained. */
    kd_model *w = NULL;
    MUST_E(&err, kd_model_build("conv512x3p1,conv512x3p1,gap", 1, 64, 64, 10, &w, &err));
    MUST(ctx, kd_model_attach(w, ctx, 1));
    kd_model_meta meta = {0};
    snprintf(meta.dataset, sizeof meta.dataset, "synthetic");
    meta.src_c = 1;
    char wpath[1024];
    snprintf(wpath, sizeof wpath, "%s/W.safetensors", dir);
    kd_st_writer *wr = kd_st_writer_new();
    MUST(ctx, kd_weights_save(w, &meta, wr, wpath));
    kd_st_writer_free(wr);
    kd_model_free(w);
    rc = kdcl("mem_e.log", "eval --model W.safetensors --data synthetic:5000:1x64x64 --batch 1000 --quiet");
    int fit_e = batch_hint("mem_e.log");
    CHECK(rc == 1 && fit_e > 0 && fit_e < 1000, "eval --batch 1000: exit %d, suggests --batch %d", rc, fit_e);
    if (rc != 1 || fit_e <= 0) show("mem_e.log");

    /* One allocation larger than the device allows: sizes, not a code. */
    cl_mem x = NULL;
    size_t huge = (size_t)kd_ctx_device(ctx)->max_alloc + 4096;
    kd_status s = kd_buffer_alloc(ctx, huge, "a test buffer", &x);
    CHECK(s == KD_ERR_NOMEM && x == NULL, "an allocation above max_alloc is refused (%d)", s);
    CHECK(strstr(kd_ctx_err(ctx)->msg, "a test buffer") && strstr(kd_ctx_err(ctx)->msg, "MiB") &&
              !strstr(kd_ctx_err(ctx)->msg, "CL_"),
          "the message names the buffer and the sizes: %s", kd_ctx_err(ctx)->msg);
    kd_err_clear(kd_ctx_err(ctx));
    printf("device memory: %.0f MiB free; suggested --batch %d (train), %d (eval)\n", free_mib, fit, fit_e);
    kd_ctx_free(ctx);
}

int main(void) {
    th_kdcl_bin(); /* fails early with a clear message outside ctest */
    th_tempdir(dir, sizeof dir, "reliability");
    /* A private mount namespace for the tmpfs cases: the mounts vanish
     * with this process and nobody else sees them. */
    namespace_ok = unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
    numeric_guard();
    damaged_checkpoint();
    readonly_dir();
    full_disk();
    device_memory();
    return th_done("test_reliability");
}
