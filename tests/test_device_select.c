/* Device selection on a synthetic list of platforms and devices (the rule is
 * a pure function), plus the real list: the default pick exists. */
#include <string.h>

#include "runtime/device.h"
#include "tests/harness.h"

static kd_device_info dev(int p, int d, const char *pname, const char *name, cl_device_type t) {
    kd_device_info x;
    memset(&x, 0, sizeof x);
    x.platform_index = p;
    x.device_index = d;
    snprintf(x.platform_name, sizeof x.platform_name, "%s", pname);
    snprintf(x.name, sizeof x.name, "%s", name);
    x.type = t;
    return x;
}

static int pick(const kd_device_list *l, const char *p, const char *d, const char *t, const char *env,
                kd_status *st) {
    kd_device_query q = {p, d, t, env};
    int idx = -1;
    kd_err err = {0};
    *st = kd_device_select(l, &q, &idx, &err);
    return *st == KD_OK ? idx : -1;
}

int main(void) {
    kd_device_info items[] = {
        dev(0, 0, "Portable Computing Language", "pthread-skylake-avx512-AMD EPYC", CL_DEVICE_TYPE_CPU),
        dev(1, 0, "NVIDIA CUDA", "NVIDIA H100 80GB HBM3", CL_DEVICE_TYPE_GPU),
        dev(1, 1, "NVIDIA CUDA", "NVIDIA A100-SXM4", CL_DEVICE_TYPE_GPU),
        dev(2, 0, "Intel(R) FPGA Emulation Platform", "Intel FPGA Emulation Device", CL_DEVICE_TYPE_ACCELERATOR),
    };
    kd_device_list l = {items, 4, 3};
    kd_status st;

    CHECK(pick(&l, NULL, NULL, NULL, NULL, &st) == 1, "default prefers the first GPU");
    CHECK(pick(&l, "0", NULL, NULL, NULL, &st) == 0, "platform by index");
    CHECK(pick(&l, "1", "1", NULL, NULL, &st) == 2, "platform and device by index");
    CHECK(pick(&l, "nvidia", "a100", NULL, NULL, &st) == 2, "substrings, case-insensitive");
    CHECK(pick(&l, "PORTABLE", NULL, NULL, NULL, &st) == 0, "platform name substring");
    CHECK(pick(&l, NULL, "epyc", NULL, NULL, &st) == 0, "device substring across platforms");
    CHECK(pick(&l, NULL, NULL, "cpu", NULL, &st) == 0, "type cpu");
    CHECK(pick(&l, NULL, NULL, "accelerator", NULL, &st) == 3, "type accelerator");
    CHECK(pick(&l, NULL, NULL, "all", NULL, &st) == 0, "type all takes the first");
    CHECK(pick(&l, NULL, NULL, NULL, "0:0", &st) == 0, "env P:D");
    CHECK(pick(&l, NULL, NULL, NULL, "1:1", &st) == 2, "env P:D second device");
    CHECK(pick(&l, NULL, NULL, NULL, "h100", &st) == 1, "env name substring");
    CHECK(pick(&l, NULL, NULL, NULL, "nvidia:a100", &st) == 2, "env substrings");
    CHECK(pick(&l, "0", NULL, NULL, "1:1", &st) == 0, "a flag wins over the env");

    CHECK(pick(&l, "7", NULL, NULL, NULL, &st) == -1 && st == KD_ERR_NOT_FOUND, "no platform 7");
    CHECK(pick(&l, NULL, "radeon", NULL, NULL, &st) == -1 && st == KD_ERR_NOT_FOUND, "no radeon");
    CHECK(pick(&l, "0", NULL, "gpu", NULL, &st) == -1 && st == KD_ERR_NOT_FOUND, "POCL has no GPU");
    CHECK(pick(&l, NULL, NULL, "fpga", NULL, &st) == -1 && st == KD_ERR_USAGE, "bad type is usage");
    CHECK(pick(&l, NULL, NULL, NULL, "9:9", &st) == -1 && st == KD_ERR_NOT_FOUND, "env no match");

    /* The no-match message lists what exists. */
    kd_device_query q = {NULL, "radeon", NULL, NULL};
    int idx;
    kd_err err = {0};
    kd_device_select(&l, &q, &idx, &err);
    CHECK(strstr(err.msg, "[1:1]") && strstr(err.msg, "A100") && strstr(err.msg, "--device radeon"),
          "message lists devices: %s", err.msg);

    /* The machine's own list: some device is selected by default. */
    kd_device_list real;
    MUST_E(&err, kd_device_list_load(&real, &err));
    kd_device_query none = {NULL, NULL, NULL, NULL};
    CHECK(kd_device_select(&real, &none, &idx, &err) == KD_OK && idx >= 0 && idx < real.count,
          "default device exists");
    kd_device_list_free(&real);
    return th_done("test_device_select");
}
