/* Device selection (--platform / --device / --device-type / KDCL_DEVICE)
 * on a synthetic list of platforms and devices with fuzzed names, types
 * and query strings; also the two listings printed with it. */
#include "runtime/device.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_device_select(const uint8_t *data, size_t size) {
    fuzz_reader r = {data, size};
    kd_device_info items[8];
    memset(items, 0, sizeof items);
    int count = (int)(fuzz_u8(&r) % 9), per_platform[4] = {0};
    static const cl_device_type types[] = {CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_ACCELERATOR,
                                           CL_DEVICE_TYPE_CUSTOM, CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_DEFAULT};
    for (int i = 0; i < count; i++) {
        kd_device_info *d = &items[i];
        uint32_t t = fuzz_u8(&r);
        d->type = types[t % 5];
        d->platform_index = (int)(t >> 4) % 4;
        d->device_index = per_platform[d->platform_index]++;
        d->global_mem = (uint64_t)fuzz_u32(&r) << 8;
        d->max_alloc = d->global_mem / 4;
        fuzz_str(&r, d->platform_name, sizeof d->platform_name);
        fuzz_str(&r, d->platform_vendor, sizeof d->platform_vendor);
        fuzz_str(&r, d->name, sizeof d->name);
    }
    kd_device_list list = {items, count, 4};
    uint32_t present = fuzz_u8(&r);
    char s[4][600];
    for (int i = 0; i < 4; i++) fuzz_str(&r, s[i], sizeof s[i]);
    kd_device_query q = {present & 1 ? s[0] : NULL, present & 2 ? s[1] : NULL, present & 4 ? s[2] : NULL,
                         present & 8 ? s[3] : NULL};
    int index = -1;
    kd_err err = {0};
    kd_status st = kd_device_select(&list, &q, &index, &err);
    if (st == KD_OK) {
        FUZZ_REQUIRE(index >= 0 && index < count);
        if (q.type && !strcmp(q.type, "gpu")) FUZZ_REQUIRE(items[index].type & CL_DEVICE_TYPE_GPU);
        if (q.type && !strcmp(q.type, "cpu")) FUZZ_REQUIRE(items[index].type & CL_DEVICE_TYPE_CPU);
    } else {
        FUZZ_REQUIRE(fuzz_refused_ok(st, &err) && (st == KD_ERR_USAGE || st == KD_ERR_NOT_FOUND));
    }
    char buf[4096];
    size_t cap = 1 + (present >> 4) * 300;
    kd_device_list_print_short(&list, buf, cap < sizeof buf ? cap : sizeof buf);
    FUZZ_REQUIRE(strlen(buf) < sizeof buf);
    static FILE *devnull;
    if (!devnull) devnull = fopen("/dev/null", "w");
    if (devnull) kd_device_list_print(&list, st == KD_OK ? index : -1, devnull);
    return st == KD_OK;
}

KD_FUZZ_ENTRY(fuzz_device_select)
