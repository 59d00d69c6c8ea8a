#define _POSIX_C_SOURCE 200809L
#include "tests/harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/buffer.h"
#include "runtime/device.h"
#include "runtime/fsutil.h"

/* Test processes are single-threaded: plain counters are fine here, and so
 * is one error for every context a test opens (a context reports into the
 * kd_err it was created with, which must outlive it, as a command's does). */
static int checks, failures;
static kd_err ctx_err;

void th_count_check(void) { checks++; }
void th_count_failure(void) { failures++; }

_Noreturn void th_fatal(const char *file, int line, const char *call, const char *msg) {
    fprintf(stderr, "FATAL %s:%d: %s failed: %s\n", file, line, call, msg);
    exit(1);
}

int th_done(const char *name) {
    printf("%s: %d checks, %d failures\n", name, checks, failures);
    return failures ? 1 : 0;
}

kd_ctx *th_ctx_opts(const kd_ctx_opts *opts) {
    kd_err err = {0};
    kd_device_list list;
    int index = -1;
    if (kd_device_list_load(&list, &err) != KD_OK) th_fatal(__FILE__, __LINE__, "kd_device_list_load", err.msg);
    kd_device_query q = {NULL, NULL, NULL, getenv("KDCL_DEVICE")};
    if (kd_device_select(&list, &q, &index, &err) != KD_OK) th_fatal(__FILE__, __LINE__, "kd_device_select", err.msg);
    kd_ctx *ctx = NULL;
    if (kd_ctx_create(&list.items[index], opts, &ctx, &ctx_err) != KD_OK)
        th_fatal(__FILE__, __LINE__, "kd_ctx_create", ctx_err.msg);
    kd_device_list_free(&list);
    return ctx;
}

kd_ctx *th_ctx(void) { return th_ctx_opts(NULL); }

uint64_t th_next(th_rng *r) { return kd_rng64_next(r); }

float th_uniform(th_rng *r, float lo, float hi) { return lo + (hi - lo) * (float)kd_rng64_unit(r); }

void th_fill(th_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = th_uniform(r, lo, hi);
}

cl_mem th_upload(kd_ctx *ctx, const float *x, size_t n) {
    cl_mem m;
    MUST(ctx, kd_buffer_alloc(ctx, n * sizeof(float), "test buffer", &m));
    MUST(ctx, kd_write(ctx, m, 0, n * sizeof(float), x, true));
    return m;
}

cl_mem th_zeros(kd_ctx *ctx, size_t n) {
    cl_mem m;
    MUST(ctx, kd_buffer_alloc(ctx, n * sizeof(float), "test buffer", &m));
    MUST(ctx, kd_fill(ctx, m, 0, n * sizeof(float), 0.0f));
    return m;
}

cl_mem th_nan_buffer(kd_ctx *ctx, size_t n) {
    cl_mem m;
    MUST(ctx, kd_buffer_alloc(ctx, (n ? n : 1) * sizeof(float), "test buffer", &m));
    MUST(ctx, kd_fill(ctx, m, 0, (n ? n : 1) * sizeof(float), NAN));
    return m;
}

double *th_to_double(const float *x, size_t n) {
    double *y = malloc((n ? n : 1) * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

void th_download(kd_ctx *ctx, cl_mem m, float *x, size_t n) {
    MUST(ctx, kd_read(ctx, m, 0, n * sizeof(float), x));
}

double th_nmse(const float *got, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    if (!isfinite(num)) return INFINITY;
    return den > 0 ? num / den : num;
}

double th_nmse_f(const float *got, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    if (!isfinite(num)) return INFINITY;
    return den > 0 ? num / den : num;
}

double th_max_rel(const float *got, const double *ref, size_t n, double atol, double rtol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (isnan(e)) return INFINITY; /* a NaN anywhere is a failure, whatever follows */
        if (e > worst) worst = e;
    }
    return worst;
}

void th_tempdir(char *out, size_t cap, const char *tag) {
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/kdcl-test-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(out)) th_fatal(__FILE__, __LINE__, "mkdtemp", out);
}

const char *th_kdcl_bin(void) {
    const char *bin = getenv("KDCL_BIN");
    if (!bin || !*bin) th_fatal(__FILE__, __LINE__, "getenv", "KDCL_BIN is not set (run the test through ctest)");
    return bin;
}

/* Every kdcl run of a test is small: seconds on POCL, a few minutes on a
 * slow implementation sharing the cores (rusticl launches kernels at tens
 * of milliseconds each: one epoch of test_e2e's teacher took 270 s there on
 * a loaded machine). One that has not finished after this many seconds is
 * stuck, and is stopped with a message naming it and its log, before
 * ctest's time-out (900 s) would end the whole test without saying which
 * command hung. */
#define TH_KDCL_WATCHDOG_S 800

int th_kdcl(const char *dir, const char *prefix, const char *log, const char *args) {
    size_t cap = strlen(dir) + strlen(prefix) + strlen(args) + strlen(log) + 4096;
    char *cmd = malloc(cap);
    if (!cmd) th_fatal(__FILE__, __LINE__, "malloc", "command line");
    snprintf(cmd, cap, "cd '%s' && %s timeout -k 10 %d '%s' %s > '%s' 2>&1", dir, prefix, TH_KDCL_WATCHDOG_S,
             th_kdcl_bin(), args, log);
    int rc = system(cmd);
    int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (code == 124) {
        fprintf(stderr, "harness: 'kdcl %s' (in %s) did not finish within %d s and was stopped; its output:\n", args,
                dir, TH_KDCL_WATCHDOG_S);
        th_show(dir, log);
    }
    free(cmd);
    return code;
}

char *th_slurp(const char *dir, const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    void *data = NULL;
    size_t n;
    kd_err err;
    if (kd_read_file(path, &data, &n, &err) != KD_OK) return strdup("");
    return data;
}

void th_show(const char *dir, const char *name) {
    char *t = th_slurp(dir, name);
    fprintf(stderr, "---- %s ----\n%s\n", name, t);
    free(t);
}
