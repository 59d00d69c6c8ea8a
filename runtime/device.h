/* OpenCL platforms and devices: enumeration, description and selection by
 * the CLI's --platform / --device / --device-type flags or env KDCL_DEVICE. */
#ifndef KD_DEVICE_H
#define KD_DEVICE_H

#include <CL/cl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/status.h"

typedef struct kd_device_info {
    int platform_index, device_index; /* index of the platform, and within it */
    cl_platform_id platform;
    cl_device_id device;
    char platform_name[128], platform_vendor[128], platform_version[128];
    char name[256], vendor[128], driver_version[128], opencl_c_version[128];
    cl_device_type type;
    unsigned compute_units, clock_mhz;
    uint64_t global_mem, max_alloc, local_mem;
    size_t max_work_group;
    size_t max_item[3];        /* CL_DEVICE_MAX_WORK_ITEM_SIZES (NVIDIA: 1024, 1024, 64) */
    unsigned mem_base_align_bytes;
    bool big_endian;           /* !CL_DEVICE_ENDIAN_LITTLE: kdcl's files and host data are little-endian */
    bool fp16, fp64;
} kd_device_info;

typedef struct kd_device_list {
    kd_device_info *items;
    int count;
    int platform_count;
} kd_device_list;

/* What the user asked for; NULL fields are unset. */
typedef struct kd_device_query {
    const char *platform;    /* index or case-insensitive name substring */
    const char *device;      /* index within the platform or name substring */
    const char *type;        /* cpu|gpu|accelerator|all */
    const char *env;         /* value of KDCL_DEVICE, used when no flag is set */
} kd_device_query;

/* Every device of every platform. No platform at all (no ICD installed) is
 * KD_ERR_NOT_FOUND with a message naming the Debian packages to install. */
kd_status kd_device_list_load(kd_device_list *out, kd_err *err);
void kd_device_list_free(kd_device_list *list);

/* Picks one entry of `list` for query `q` (pure: usable on synthetic lists).
 * On no match returns KD_ERR_NOT_FOUND with the list of what exists. An
 * unknown --device-type is KD_ERR_USAGE. */
kd_status kd_device_select(const kd_device_list *list, const kd_device_query *q, int *index,
                           kd_err *err);

const char *kd_device_type_str(cl_device_type t);
/* One line per device: "[P:D] type name (platform)". */
void kd_device_list_print_short(const kd_device_list *list, char *buf, size_t cap);
/* The full table of `kdcl devices`; `selected` (or -1) is marked. */
void kd_device_list_print(const kd_device_list *list, int selected, FILE *out);

#endif
