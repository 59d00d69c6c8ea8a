#include "runtime/device.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/clcheck.h"

static void get_platform_str(cl_platform_id p, cl_platform_info what, char *buf, size_t cap) {
    if (clGetPlatformInfo(p, what, cap, buf, NULL) != CL_SUCCESS) snprintf(buf, cap, "?");
    buf[cap - 1] = '\0';
}

static void get_device_str(cl_device_id d, cl_device_info what, char *buf, size_t cap) {
    if (clGetDeviceInfo(d, what, cap, buf, NULL) != CL_SUCCESS) snprintf(buf, cap, "?");
    buf[cap - 1] = '\0';
}

static void describe(kd_device_info *info) {
    cl_device_id d = info->device;
    get_platform_str(info->platform, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    get_platform_str(info->platform, CL_PLATFORM_VENDOR, info->platform_vendor, sizeof info->platform_vendor);
    get_platform_str(info->platform, CL_PLATFORM_VERSION, info->platform_version, sizeof info->platform_version);
    get_device_str(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_device_str(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_device_str(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    get_device_str(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version);
    cl_uint u = 0;
    cl_ulong ul = 0;
    /* A property a driver will not tell stays at its default (0, "?"):
     * listing and selection still work, and nothing here is fatal. */
    if (clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof info->type, &info->type, NULL) != CL_SUCCESS) info->type = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL) == CL_SUCCESS) info->compute_units = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL) == CL_SUCCESS) info->clock_mhz = u;
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->global_mem = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->max_alloc = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->local_mem = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof u, &u, NULL) == CL_SUCCESS)
        info->mem_base_align_bytes = u / 8;
    if (info->mem_base_align_bytes < 16) info->mem_base_align_bytes = 128;
    size_t wg = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) == CL_SUCCESS)
        info->max_work_group = wg;
    /* The array is as long as the device has dimensions (3 or more). */
    cl_uint dims = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, sizeof dims, &dims, NULL) == CL_SUCCESS && dims >= 1 &&
        dims <= 64) {
        size_t items[64] = {0};
        if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, dims * sizeof items[0], items, NULL) == CL_SUCCESS)
            for (cl_uint i = 0; i < 3 && i < dims; i++) info->max_item[i] = items[i];
    }
    for (int i = 0; i < 3; i++)
        if (!info->max_item[i]) info->max_item[i] = i < 2 ? info->max_work_group : 64;
    cl_bool little = CL_TRUE;
    if (clGetDeviceInfo(d, CL_DEVICE_ENDIAN_LITTLE, sizeof little, &little, NULL) == CL_SUCCESS)
        info->big_endian = little == CL_FALSE;
    /* The extension string has no length limit: ask for its size first. */
    size_t n = 0;
    char *ext = NULL;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) == CL_SUCCESS && n > 0 && (ext = malloc(n + 1)) &&
        clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, ext, NULL) == CL_SUCCESS) {
        ext[n] = '\0';
        info->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
        info->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    }
    free(ext);
}

#define NO_ICD_HINT                                                                       \
    "no OpenCL platform found: the ICD loader sees no driver. Install one, e.g. on "      \
    "Debian 'apt-get install ocl-icd-libopencl1 pocl-opencl-icd' (CPU), or your GPU "     \
    "vendor's OpenCL ICD (nvidia-opencl-icd, mesa-opencl-icd, intel-opencl-icd), then "   \
    "check with 'clinfo -l'"

kd_status kd_device_list_load(kd_device_list *out, kd_err *err) {
    memset(out, 0, sizeof *out);
    cl_uint np = 0;
    cl_int e = clGetPlatformIDs(0, NULL, &np);
    if (e == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (e == CL_SUCCESS && np == 0))
        return kd_fail(err, KD_ERR_NOT_FOUND, NO_ICD_HINT);
    KD_CL_RET(err, e, "clGetPlatformIDs");
    cl_platform_id plats[32];
    if (np > 32) np = 32;
    KD_CL(err, clGetPlatformIDs(np, plats, NULL));
    out->platform_count = (int)np;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        e = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (e == CL_DEVICE_NOT_FOUND || nd == 0) continue; /* a platform with no device is not an error */
        KD_CL_RET(err, e, "clGetDeviceIDs");
        cl_device_id devs[64];
        if (nd > 64) nd = 64;
        KD_CL(err, clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL));
        kd_device_info *grown = realloc(out->items, (size_t)(out->count + (int)nd) * sizeof *grown);
        if (!grown) {
            kd_device_list_free(out);
            return kd_fail(err, KD_ERR_NOMEM, "out of host memory listing devices");
        }
        out->items = grown;
        for (cl_uint d = 0; d < nd; d++) {
            kd_device_info *info = &out->items[out->count++];
            memset(info, 0, sizeof *info);
            info->platform_index = (int)p;
            info->device_index = (int)d;
            info->platform = plats[p];
            info->device = devs[d];
            describe(info);
        }
    }
    if (out->count == 0) return kd_fail(err, KD_ERR_NOT_FOUND, NO_ICD_HINT);
    return KD_OK;
}

void kd_device_list_free(kd_device_list *list) {
    free(list->items);
    memset(list, 0, sizeof *list);
}

const char *kd_device_type_str(cl_device_type t) {
    if (t & CL_DEVICE_TYPE_GPU) return "gpu";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    if (t & CL_DEVICE_TYPE_CPU) return "cpu";
    return "other";
}

static bool is_index(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

static bool contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return true;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return false;
}

/* Indices longer than 5 digits match nothing (and atoi of 20 digits would be undefined). */
static bool match_platform(const kd_device_info *d, const char *spec) {
    if (!spec) return true;
    if (is_index(spec)) return strlen(spec) < 6 && atoi(spec) == d->platform_index;
    return contains_nocase(d->platform_name, spec) || contains_nocase(d->platform_vendor, spec);
}

static bool match_device(const kd_device_info *d, const char *spec) {
    if (!spec) return true;
    if (is_index(spec)) return strlen(spec) < 6 && atoi(spec) == d->device_index;
    return contains_nocase(d->name, spec);
}

static kd_status parse_type(const char *s, cl_device_type *t, kd_err *err) {
    if (!s || !strcmp(s, "all")) *t = CL_DEVICE_TYPE_ALL;
    else if (!strcmp(s, "cpu")) *t = CL_DEVICE_TYPE_CPU;
    else if (!strcmp(s, "gpu")) *t = CL_DEVICE_TYPE_GPU;
    else if (!strcmp(s, "accelerator")) *t = CL_DEVICE_TYPE_ACCELERATOR;
    else
        return kd_fail(err, KD_ERR_USAGE, "--device-type '%s' is not one of cpu, gpu, accelerator, all", s);
    return KD_OK;
}

void kd_device_list_print_short(const kd_device_list *list, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < list->count && used < cap; i++) {
        const kd_device_info *d = &list->items[i];
        int n = snprintf(buf + used, cap - used, "  [%d:%d] %-11s %s (platform '%s')\n",
                         d->platform_index, d->device_index, kd_device_type_str(d->type), d->name,
                         d->platform_name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

kd_status kd_device_select(const kd_device_list *list, const kd_device_query *q, int *index,
                           kd_err *err) {
    cl_device_type want = CL_DEVICE_TYPE_ALL;
    KD_TRY(parse_type(q->type, &want, err));
    const char *pspec = q->platform, *dspec = q->device;
    char envp[256], envd[256];
    const char *env_name = NULL; /* KDCL_DEVICE as a plain name substring */
    bool from_env = false;
    if (!q->platform && !q->device && !q->type && q->env && *q->env) {
        from_env = true;
        const char *colon = strchr(q->env, ':');
        if (colon) {
            snprintf(envp, sizeof envp, "%.*s", (int)(colon - q->env), q->env);
            snprintf(envd, sizeof envd, "%s", colon + 1);
            pspec = envp[0] ? envp : NULL;
            dspec = envd[0] ? envd : NULL;
        } else {
            env_name = q->env;
        }
    }
    int best = -1;
    for (int i = 0; i < list->count; i++) {
        const kd_device_info *d = &list->items[i];
        if (!(d->type & want)) continue;
        if (!match_platform(d, pspec) || !match_device(d, dspec)) continue;
        if (env_name && !contains_nocase(d->name, env_name) && !contains_nocase(d->platform_name, env_name))
            continue;
        /* With no type asked for, a GPU wins over anything else. */
        if (best < 0 || (!q->type && (d->type & CL_DEVICE_TYPE_GPU) &&
                         !(list->items[best].type & CL_DEVICE_TYPE_GPU)))
            best = i;
    }
    if (best >= 0) {
        *index = best;
        return KD_OK;
    }
    char have[4096];
    kd_device_list_print_short(list, have, sizeof have);
    char asked[600];
    if (from_env)
        snprintf(asked, sizeof asked, "KDCL_DEVICE='%s'", q->env);
    else
        snprintf(asked, sizeof asked, "%s%s%s%s%s%s", q->platform ? "--platform " : "",
                 q->platform ? q->platform : "", q->device ? " --device " : "", q->device ? q->device : "",
                 q->type ? " --device-type " : "", q->type ? q->type : "");
    return kd_fail(err, KD_ERR_NOT_FOUND,
                   "no OpenCL device matches %s; these exist (select with --platform P --device D, "
                   "indices or name substrings):\n%s",
                   asked, have);
}

static void mib(char *buf, size_t cap, uint64_t bytes) {
    if (bytes >= (1ull << 30)) snprintf(buf, cap, "%.1f GiB", (double)bytes / (double)(1ull << 30));
    else snprintf(buf, cap, "%.0f MiB", (double)bytes / (double)(1ull << 20));
}

void kd_device_list_print(const kd_device_list *list, int selected, FILE *out) {
    int last_platform = -1;
    for (int i = 0; i < list->count; i++) {
        const kd_device_info *d = &list->items[i];
        if (d->platform_index != last_platform) {
            fprintf(out, "platform %d: %s (%s), %s\n", d->platform_index, d->platform_name,
                    d->platform_vendor, d->platform_version);
            last_platform = d->platform_index;
        }
        char gm[32], ma[32];
        mib(gm, sizeof gm, d->global_mem);
        mib(ma, sizeof ma, d->max_alloc);
        fprintf(out, "%s device %d:%d  %s [%s]\n", i == selected ? "*" : " ", d->platform_index,
                d->device_index, d->name, kd_device_type_str(d->type));
        fprintf(out, "      vendor          %s\n", d->vendor);
        fprintf(out, "      driver          %s\n", d->driver_version);
        fprintf(out, "      OpenCL C        %s\n", d->opencl_c_version);
        fprintf(out, "      compute units   %u @ %u MHz\n", d->compute_units, d->clock_mhz);
        fprintf(out, "      global memory   %s (max allocation %s)\n", gm, ma);
        fprintf(out, "      fp16 / fp64     %s / %s\n", d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
    }
    if (selected >= 0)
        fprintf(out, "* = selected by the current flags (--platform/--device/--device-type or KDCL_DEVICE)\n");
}
