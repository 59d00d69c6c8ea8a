#include "runtime/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kd_status_str(kd_status s) {
    switch (s) {
    case KD_OK: return "ok";
    case KD_ERR_USAGE: return "bad usage";
    case KD_ERR_INPUT: return "bad input";
    case KD_ERR_NOT_FOUND: return "not found";
    case KD_ERR_CL: return "OpenCL error";
    case KD_ERR_BLAS: return "CLBlast error";
    case KD_ERR_IO: return "I/O error";
    case KD_ERR_NOMEM: return "out of memory";
    case KD_ERR_NUMERIC: return "numerical error";
    case KD_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

int kd_status_exit_code(kd_status s) {
    switch (s) {
    case KD_OK: return 0;
    case KD_ERR_USAGE:
    case KD_ERR_INPUT:
    case KD_ERR_NOT_FOUND: return 2;
    case KD_ERR_INTERRUPTED: return 130;
    default: return 1;
    }
}

kd_status kd_fail(kd_err *err, kd_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void kd_err_prefix(kd_err *err, const char *fmt, ...) {
    if (!err) return;
    char head[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    size_t h = strlen(head), m = strlen(err->msg);
    if (h >= sizeof err->msg) h = sizeof err->msg - 1;
    if (h + m >= sizeof err->msg) m = sizeof err->msg - 1 - h;
    memmove(err->msg + h, err->msg, m);
    memcpy(err->msg, head, h);
    err->msg[h + m] = '\0';
}

void kd_err_clear(kd_err *err) {
    if (!err) return;
    err->code = KD_OK;
    err->msg[0] = '\0';
}

_Noreturn void kd_assert_fail(const char *cond, const char *file, int line) {
    fprintf(stderr, "kdcl: internal error: assertion '%s' failed at %s:%d\n", cond, file, line);
    abort();
}
