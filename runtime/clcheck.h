/* Checking OpenCL calls: every failure names the call, the error code's name
 * and file:line, e.g. "clBuildProgram(...) failed: CL_BUILD_PROGRAM_FAILURE
 * (-11) at runtime/program.c:120". */
#ifndef KD_CLCHECK_H
#define KD_CLCHECK_H

#include <CL/cl.h>

#include "runtime/status.h"

const char *kd_cl_error_str(cl_int code);

kd_status kd_fail_cl(kd_err *err, cl_int code, const char *call, const char *file, int line);

/* Returns from the enclosing function (which returns kd_status) on failure. */
#define KD_CL(err, call)                                                              \
    do {                                                                              \
        cl_int kd_cl_e_ = (call);                                                     \
        if (kd_cl_e_ != CL_SUCCESS)                                                   \
            return kd_fail_cl((err), kd_cl_e_, #call, __FILE__, __LINE__);            \
    } while (0)

/* Jumps to `label` with `status` set on failure, for cleanup ladders. */
#define KD_CL_GOTO(err, status, label, call)                                          \
    do {                                                                              \
        cl_int kd_cl_e_ = (call);                                                     \
        if (kd_cl_e_ != CL_SUCCESS) {                                                 \
            (status) = kd_fail_cl((err), kd_cl_e_, #call, __FILE__, __LINE__);       \
            goto label;                                                               \
        }                                                                             \
    } while (0)

/* For creators that report through an errcode_ret out-parameter. */
#define KD_CL_RET(err, code, what)                                                    \
    do {                                                                              \
        if ((code) != CL_SUCCESS) return kd_fail_cl((err), (code), (what), __FILE__, __LINE__); \
    } while (0)

#endif
