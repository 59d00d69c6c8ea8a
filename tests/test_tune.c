/* Stored CLBlast tuning (runtime/tune_params.h, tune_store.h): the text
 * format and its checks, storage keyed by device, application by the
 * command-line session when it opens a context (kd_session_tune; kd_ctx_tuned(ctx),
 * GEMMs still correct against float64, the batched routine included), a
 * damaged or inapplicable entry ignored with one warning line, and the
 * cache directory taken from opts or KDCL_CACHE_DIR. Then kdcl's preset
 * (runtime/tune_preset.h): which devices get it, that it is valid there,
 * applied only when nothing is stored and KDCL_TUNE_PRESET is not off, and
 * GEMMs correct with it. Up to that last part the preset is off, so that
 * CLBlast keeps its defaults until the first stored set is applied.
 *
 * The applied set is valid, not CLBlast's default and cheap to build (small
 * vectors, no local memory, the indirect kernel for every size so that no
 * direct kernel is built): the search itself is `kdcl tune`'s business and
 * takes minutes. CLBlast's overrides are process-wide and cannot be
 * undone, so the order of the cases below matters. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/blas.h"
#include "runtime/buffer.h"
#include "runtime/cache.h"
#include "runtime/fsutil.h"
#include "runtime/tune_preset.h"
#include "runtime/tune_store.h"
#include "src/cli/session.h"
#include "tests/harness.h"

static const char *CHEAP =
    "# a comment line\n"
    "Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=4 MDIMC=4 MWG=16 NDIMB=4 NDIMC=4 NWG=16 SA=0 SB=0 STRM=0 STRN=0 "
    "VWM=2 VWN=2\n"
    "\n"
    "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=0\n";

/* Row-major float64 reference of C = op(A) op(B) + beta C. */
static void gemm_ref(bool ta, bool tb, int m, int n, int k, const float *a, const float *b, double beta,
                     const float *c0, double *c) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (double)(tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = s + beta * c0[i * n + j];
        }
}

/* The three transpositions the layers use, odd sizes, one above 1024 in a
 * dimension (several work-groups and padding), and strided batches, two
 * with the same A for every GEMM (stride 0, as a 1x1 convolution's
 * weights): sizes that are multiples of the tiles once made CLBlast
 * 1.5.3's indirect strided-batched kernel read out of bounds
 * (runtime/blas.c routes such calls to the offset-array routine). */
static void check_gemms(kd_ctx *ctx, const char *what) {
    static const struct {
        bool ta, tb;
        int m, n, k, batch;
        bool shared_a;
    } cases[] = {
        {false, false, 37, 29, 53, 1, false}, {false, true, 33, 67, 19, 1, false}, {true, false, 70, 31, 45, 1, false},
        {false, false, 1, 1, 1, 1, false},    {false, false, 5, 1031, 17, 1, false}, {false, true, 13, 11, 9, 3, false},
        {true, false, 128, 16, 512, 3, true}, {false, false, 64, 48, 32, 3, true},
    };
    th_rng r = {7};
    for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
        int m = cases[q].m, n = cases[q].n, k = cases[q].k, nb = cases[q].batch;
        size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n, a_stride = cases[q].shared_a ? 0 : sa;
        size_t na = cases[q].shared_a ? sa : sa * nb;
        float *a = malloc(na * sizeof *a), *b = malloc(sb * nb * sizeof *b), *c = malloc(sc * nb * sizeof *c);
        float *got = malloc(sc * nb * sizeof *got);
        double *want = malloc(sc * nb * sizeof *want);
        th_fill(&r, a, na, -1, 1);
        th_fill(&r, b, sb * nb, -1, 1);
        th_fill(&r, c, sc * nb, -1, 1);
        for (int i = 0; i < nb; i++)
            gemm_ref(cases[q].ta, cases[q].tb, m, n, k, a + i * a_stride, b + i * sb, 0.5, c + i * sc, want + i * sc);
        cl_mem da = th_upload(ctx, a, na), db = th_upload(ctx, b, sb * nb), dc = th_upload(ctx, c, sc * nb);
        kd_gemm_args g = {.ta = cases[q].ta, .tb = cases[q].tb, .m = (size_t)m, .n = (size_t)n, .k = (size_t)k,
                          .alpha = 1, .beta = 0.5f, .a = da, .lda = cases[q].ta ? (size_t)m : (size_t)k, .b = db,
                          .ldb = cases[q].tb ? (size_t)k : (size_t)n, .c = dc, .ldc = (size_t)n};
        if (nb > 1) MUST(ctx, kd_sgemm_batched(ctx, &g, a_stride, sb, sc, (size_t)nb));
        else MUST(ctx, kd_sgemm(ctx, &g));
        th_download(ctx, dc, got, sc * nb);
        double worst = th_max_rel(got, want, sc * nb, 1e-5, 1e-4);
        CHECK(worst <= 1, "%s: gemm %c%c %dx%dx%d batch %d%s: worst error %.3g of the tolerance", what,
              cases[q].ta ? 'T' : 'N', cases[q].tb ? 'T' : 'N', m, n, k, nb, cases[q].shared_a ? " (one A)" : "",
              worst);
        kd_buffer_free(ctx, da);
        kd_buffer_free(ctx, db);
        kd_buffer_free(ctx, dc);
        free(a), free(b), free(c), free(got), free(want);
    }
}

/* Creates a context with stderr captured; returns what was written there. */
/* A context as a kdcl command opens it: created, then the stored tuning applied. */
static kd_ctx *session_ctx(const kd_ctx_opts *opts) {
    kd_ctx *ctx = th_ctx_opts(opts);
    kd_session_tune(ctx);
    return ctx;
}

static kd_ctx *ctx_capture(const kd_ctx_opts *opts, char *log, size_t cap) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/kdcl-test-tune-stderr-%d.txt", (int)getpid());
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w+");
    if (!f || saved < 0) th_fatal(__FILE__, __LINE__, "capture stderr", path);
    dup2(fileno(f), 2);
    kd_ctx *ctx = session_ctx(opts);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(log, 1, cap - 1, f);
    log[n] = '\0';
    fclose(f);
    remove(path);
    return ctx;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_text(const kd_device_info *dev) {
    kd_err err = {0};
    kd_tune_set s;
    CHECK(kd_tune_parse(CHEAP, strlen(CHEAP), &s, &err) == KD_OK, "parse: %s", err.msg);
    CHECK(s.n == 2, "kernels parsed: %d", s.n);
    size_t v = 0;
    CHECK(kd_tune_get(&s, "Xgemm", "MWG", &v) && v == 16, "MWG = %zu", v);
    CHECK(kd_tune_get(&s, "GemmRoutine", "XGEMM_MIN_INDIRECT_SIZE", &v) && v == 0, "threshold = %zu", v);
    CHECK(!kd_tune_get(&s, "XgemmDirect", "WGD", &v), "XgemmDirect is not in the set");
    CHECK(kd_tune_check(&s, dev, &err) == KD_OK, "check: %s", err.msg);
    /* Round trip through the text form. */
    char buf[2048];
    int len = kd_tune_format(&s, buf, sizeof buf);
    kd_tune_set s2;
    CHECK(len > 0 && (size_t)len < sizeof buf && kd_tune_parse(buf, (size_t)len, &s2, &err) == KD_OK &&
              !memcmp(&s, &s2, sizeof s),
          "format/parse round trip: %s", buf);
    CHECK(kd_tune_format(&s, NULL, 0) == len, "format's length without a buffer");

    struct {
        const char *text, *expect;
    } bad[] = {
        {"Xgemmm KWG=1\n", "unknown CLBlast kernel"},
        {"GemmRoutine\n", "lacks XGEMM_MIN_INDIRECT_SIZE"},
        {"GemmRoutine XGEMM_MIN_INDIRECT_SIZE=-3\n", "not an integer"},
        {"GemmRoutine XGEMM_MIN_INDIRECT_SIZE=12x\n", "not an integer"},
        {"GemmRoutine XGEMM_MIN_INDIRECT_SIZE=1 XGEMM_MIN_INDIRECT_SIZE=2\n", "given twice"},
        {"GemmRoutine XGEMM_MIN_INDIRECT_SIZE=1\nGemmRoutine XGEMM_MIN_INDIRECT_SIZE=1\n",
         "line 2: kernel GemmRoutine given twice"},
        {"GemmRoutine FOO=1\n", "has no parameter 'FOO'"},
        {"GemmRoutine XGEMM_MIN_INDIRECT_SIZE\n", "is not KEY=VALUE"},
        {"# only a comment\n", "names no kernel"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kd_err e = {0};
        kd_status st = kd_tune_parse(bad[i].text, strlen(bad[i].text), &s2, &e);
        CHECK(st == KD_ERR_INPUT && strstr(e.msg, bad[i].expect), "parse '%s': status %d, message '%s'", bad[i].text,
              (int)st, e.msg);
    }
    /* Parses, but breaks CLBlast's constraints. */
    struct {
        const char *text, *expect;
    } invalid[] = {
        {"Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=4 MDIMC=4 MWG=40 NDIMB=4 NDIMC=4 NWG=16 SA=0 SB=0 STRM=0 STRN=0 "
         "VWM=4 VWN=2\n",
         "MWG=40 is not a multiple of MDIMC*VWM=16"},
        {"Xgemm GEMMK=0 KREG=1 KWG=16 KWI=3 MDIMA=4 MDIMC=4 MWG=16 NDIMB=4 NDIMC=4 NWG=16 SA=0 SB=0 STRM=0 STRN=0 "
         "VWM=2 VWN=2\n",
         "KWG=16 is not a multiple of KWI=3"},
        {"Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=4 MDIMC=4 MWG=16 NDIMB=4 NDIMC=4 NWG=16 SA=0 SB=0 STRM=0 STRN=0 "
         "VWM=3 VWN=2\n",
         "VWM and VWN must be"},
        {"Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=4 MDIMC=4 MWG=16 NDIMB=4 NDIMC=4 NWG=16 SA=2 SB=0 STRM=0 STRN=0 "
         "VWM=2 VWN=2\n",
         "must be 0 or 1"},
        {"XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=16\n",
         "WGD=16 is not a multiple of MDIMCD*VWMD"},
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        kd_err e = {0};
        CHECK(kd_tune_parse(invalid[i].text, strlen(invalid[i].text), &s2, &e) == KD_OK, "parse: %s", e.msg);
        kd_status st = kd_tune_check(&s2, dev, &e);
        CHECK(st == KD_ERR_INPUT && strstr(e.msg, invalid[i].expect), "check '%s': status %d, message '%s'",
              invalid[i].text, (int)st, e.msg);
    }
    /* Work-group and local-memory limits come from the device. */
    kd_device_info small = *dev;
    small.max_work_group = 8;
    kd_err e = {0};
    CHECK(kd_tune_check(&s, &small, &e) == KD_ERR_INPUT && strstr(e.msg, "exceed the device's 8"),
          "16 work-items on an 8-work-item device: %s", e.msg);
    const char *local = "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=1 "
                        "SB=1 STRM=0 STRN=0 VWM=4 VWN=4\n";
    CHECK(kd_tune_parse(local, strlen(local), &s2, &e) == KD_OK, "parse: %s", e.msg);
    small = *dev;
    small.local_mem = 8192;
    CHECK(kd_tune_check(&s2, &small, &e) == KD_ERR_INPUT && strstr(e.msg, "16384 bytes of local memory"),
          "16 KiB of local memory on an 8 KiB device: %s", e.msg);

    /* The key follows the device, driver, platform and CLBlast version. */
    kd_device_info other = *dev;
    other.driver_version[0] ^= 1;
    CHECK(kd_tune_key(&other) != kd_tune_key(dev), "another driver version shares the key");
    other = *dev;
    snprintf(other.name, sizeof other.name, "another device");
    CHECK(kd_tune_key(&other) != kd_tune_key(dev), "another device shares the key");
    CHECK(strlen(kd_blas_version()) >= 5, "CLBlast version '%s'", kd_blas_version());
}

/* Which devices get the preset: POCL's CPU device only. */
static void test_preset_choice(const kd_device_info *dev) {
    kd_device_info d = *dev;
    snprintf(d.platform_name, sizeof d.platform_name, "Portable Computing Language");
    snprintf(d.platform_version, sizeof d.platform_version, "OpenCL 3.0 PoCL 3.1+debian");
    d.type = CL_DEVICE_TYPE_CPU;
    CHECK(kd_tune_preset_text(&d) != NULL, "POCL's CPU device has no preset");
    d.type = CL_DEVICE_TYPE_GPU;
    CHECK(kd_tune_preset_text(&d) == NULL, "a POCL GPU (CUDA/Level Zero back-ends) got the CPU preset");
    d.type = CL_DEVICE_TYPE_CPU;
    snprintf(d.platform_name, sizeof d.platform_name, "rusticl");
    snprintf(d.platform_version, sizeof d.platform_version, "OpenCL 3.0 ");
    CHECK(kd_tune_preset_text(&d) == NULL, "Mesa's llvmpipe got POCL's preset");
    snprintf(d.platform_name, sizeof d.platform_name, "Intel(R) CPU Runtime for OpenCL(TM) Applications");
    CHECK(kd_tune_preset_text(&d) == NULL, "a CPU runtime CLBlast knows got POCL's preset");
}

/* The preset (on POCL) or none (elsewhere): valid for this device, applied
 * when nothing is stored, not over a stored set, not when turned off. */
static void test_preset(const kd_device_info *dev, const char *dir, const char *empty) {
    const char *text = kd_tune_preset_text(dev);
    kd_err err = {0};
    if (text) {
        kd_tune_set s;
        CHECK(kd_tune_parse(text, strlen(text), &s, &err) == KD_OK, "preset: %s", err.msg);
        CHECK(kd_tune_check(&s, dev, &err) == KD_OK, "preset on %s: %s", dev->name, err.msg);
    }
    char log[4096];
    kd_ctx *ctx = ctx_capture(&(kd_ctx_opts){.cache_dir = empty}, log, sizeof log);
    CHECK(!kd_ctx_tuned(ctx) && kd_ctx_preset(ctx) == (text != NULL) && !log[0],
          "nothing stored: tuned %d, preset %d, stderr '%s'", kd_ctx_tuned(ctx), kd_ctx_preset(ctx), log);
    check_gemms(ctx, text ? "preset" : "no preset");
    kd_ctx_free(ctx);
    ctx = session_ctx(&(kd_ctx_opts){.cache_dir = "off"});
    CHECK(kd_ctx_preset(ctx) == (text != NULL), "cache disabled: preset %d", kd_ctx_preset(ctx));
    kd_ctx_free(ctx);
    MUST_E(&err, kd_tune_store(dir, dev, CHEAP, &err));
    ctx = session_ctx(&(kd_ctx_opts){.cache_dir = dir});
    CHECK(kd_ctx_tuned(ctx) && !kd_ctx_preset(ctx), "a stored set: tuned %d, preset %d", kd_ctx_tuned(ctx),
          kd_ctx_preset(ctx));
    kd_ctx_free(ctx);
    setenv("KDCL_TUNE_PRESET", "off", 1);
    ctx = session_ctx(&(kd_ctx_opts){.cache_dir = empty});
    CHECK(!kd_ctx_tuned(ctx) && !kd_ctx_preset(ctx), "KDCL_TUNE_PRESET=off: tuned %d, preset %d", kd_ctx_tuned(ctx),
          kd_ctx_preset(ctx));
    kd_ctx_free(ctx);
}

int main(void) {
    setenv("KDCL_TUNE_PRESET", "off", 1);
    kd_ctx *probe = session_ctx(&(kd_ctx_opts){.cache_dir = "off"});
    kd_device_info dev = *kd_ctx_device(probe);
    CHECK(!kd_ctx_tuned(probe), "no cache directory, yet tuned");
    kd_ctx_free(probe);
    test_text(&dev);

    char dir[512], empty[512], log[4096];
    th_tempdir(dir, sizeof dir, "tune");
    th_tempdir(empty, sizeof empty, "tune-empty");
    kd_err err = {0};

    /* Nothing stored: untuned, no warning. */
    kd_ctx *ctx = ctx_capture(&(kd_ctx_opts){.cache_dir = dir}, log, sizeof log);
    CHECK(!kd_ctx_tuned(ctx) && !log[0], "empty cache: tuned %d, stderr '%s'", kd_ctx_tuned(ctx), log);
    kd_ctx_free(ctx);

    /* A stored set that breaks the constraints is refused by kd_tune_store. */
    const char *bad = "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=1\nXgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 "
                      "PADA=1 PADB=1 VWMD=4 VWND=4 WGD=16\n";
    CHECK(kd_tune_store(dir, &dev, bad, &err) == KD_ERR_INPUT, "an invalid set was stored");

    /* An inapplicable entry (right checksum, bad content) and a damaged one
     * (bad checksum): one warning line each, not applied, GEMMs correct.
     * Written before anything is applied, so CLBlast still has its defaults. */
    char path[4200];
    kd_tune_path(dir, &dev, path, sizeof path);
    MUST_E(&err, kd_cache_store(dir, "tune", kd_tune_key(&dev), bad, strlen(bad), &err));
    ctx = ctx_capture(&(kd_ctx_opts){.cache_dir = dir}, log, sizeof log);
    CHECK(!kd_ctx_tuned(ctx) && count_lines(log) == 1 && strstr(log, "warning") && strstr(log, "WGD=16") &&
              strstr(log, path),
          "inapplicable entry: tuned %d, stderr '%s'", kd_ctx_tuned(ctx), log);
    check_gemms(ctx, "inapplicable entry ignored");
    kd_ctx_free(ctx);

    MUST_E(&err, kd_cache_store(dir, "tune", kd_tune_key(&dev), CHEAP, strlen(CHEAP), &err));
    void *raw;
    size_t n;
    MUST_E(&err, kd_read_file(path, &raw, &n, &err));
    ((char *)raw)[n - 3] ^= 0x20; /* flip a bit of the payload: the checksum no longer matches */
    kd_chunk part = {raw, n};
    MUST_E(&err, kd_write_atomic(path, &part, 1, &err));
    free(raw);
    ctx = ctx_capture(&(kd_ctx_opts){.cache_dir = dir}, log, sizeof log);
    CHECK(!kd_ctx_tuned(ctx) && count_lines(log) == 1 && strstr(log, "damaged"), "damaged entry: tuned %d, stderr '%s'",
          kd_ctx_tuned(ctx), log);
    kd_ctx_free(ctx);
    ctx = ctx_capture(&(kd_ctx_opts){.cache_dir = dir, .quiet = true}, log, sizeof log);
    CHECK(!kd_ctx_tuned(ctx) && !log[0], "damaged entry, quiet: tuned %d, stderr '%s'", kd_ctx_tuned(ctx), log);
    kd_ctx_free(ctx);

    /* A good entry is applied; GEMMs stay correct with it. */
    MUST_E(&err, kd_tune_store(dir, &dev, CHEAP, &err));
    char *text = NULL;
    MUST_E(&err, kd_tune_load_text(dir, &dev, &text, &err));
    CHECK(text && !strcmp(text, CHEAP), "stored text comes back as written: '%s'", text ? text : "(none)");
    free(text);
    ctx = th_ctx_opts(&(kd_ctx_opts){.cache_dir = dir});
    CHECK(!kd_ctx_tuned(ctx), "a context without kd_session_tune (kdcl tune's and bench's start), yet tuned");
    kd_ctx_free(ctx);
    ctx = ctx_capture(&(kd_ctx_opts){.cache_dir = dir}, log, sizeof log);
    CHECK(kd_ctx_tuned(ctx) && !log[0], "good entry: tuned %d, stderr '%s'", kd_ctx_tuned(ctx), log);
    check_gemms(ctx, "tuned");
    kd_ctx_free(ctx);

    /* KDCL_CACHE_DIR picks the directory when opts do not. */
    setenv("KDCL_CACHE_DIR", dir, 1);
    ctx = session_ctx(NULL);
    CHECK(kd_ctx_tuned(ctx), "KDCL_CACHE_DIR=%s holds an entry, yet not tuned", dir);
    kd_ctx_free(ctx);
    setenv("KDCL_CACHE_DIR", empty, 1);
    ctx = session_ctx(NULL);
    CHECK(!kd_ctx_tuned(ctx), "KDCL_CACHE_DIR=%s is empty, yet tuned", empty);
    kd_ctx_free(ctx);
    setenv("KDCL_CACHE_DIR", "off", 1);
    ctx = session_ctx(NULL);
    CHECK(!kd_ctx_tuned(ctx), "KDCL_CACHE_DIR=off, yet tuned");
    kd_ctx_free(ctx);

    /* Reset deletes it. */
    bool removed = false;
    MUST_E(&err, kd_tune_reset(dir, &dev, &removed, &err));
    CHECK(removed && !kd_file_exists(path), "reset did not delete %s", path);
    MUST_E(&err, kd_tune_reset(dir, &dev, &removed, &err));
    CHECK(!removed, "a second reset found something");
    ctx = session_ctx(&(kd_ctx_opts){.cache_dir = dir});
    CHECK(!kd_ctx_tuned(ctx), "tuned after reset");
    kd_ctx_free(ctx);

    unsetenv("KDCL_CACHE_DIR");
    unsetenv("KDCL_TUNE_PRESET");
    test_preset_choice(&dev);
    test_preset(&dev, dir, empty);
    return th_done("test_tune");
}
