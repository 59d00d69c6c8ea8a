/* Status codes and error messages.
 *
 * Library code never exits: a fallible function returns a kd_status and
 * writes a human-readable message into a kd_err. There is one kd_err per
 * command, owned by it: the context is created with it (kd_ctx_create), and
 * every function that works on a context or a model reports into it through
 * ctx->err; functions without one take it as their last argument. Only the
 * CLI prints it and turns the status into an exit code
 * (kd_status_exit_code). */
#ifndef KD_STATUS_H
#define KD_STATUS_H

#include <stddef.h>

typedef enum kd_status {
    KD_OK = 0,
    KD_ERR_USAGE,       /* bad flag or argument value (exit 2) */
    KD_ERR_INPUT,       /* bad or unreadable input file (exit 2) */
    KD_ERR_NOT_FOUND,   /* no device / file / tensor matches (exit 2) */
    KD_ERR_CL,          /* an OpenCL call failed (exit 1) */
    KD_ERR_BLAS,        /* a CLBlast call failed (exit 1) */
    KD_ERR_IO,          /* reading or writing a file failed (exit 1) */
    KD_ERR_NOMEM,       /* host or device memory exhausted (exit 1) */
    KD_ERR_NUMERIC,     /* NaN/Inf in loss or gradients (exit 1) */
    KD_ERR_INTERRUPTED, /* SIGINT honoured after saving (exit 130) */
} kd_status;

typedef struct kd_err {
    kd_status code;
    char msg[2048];
} kd_err;

const char *kd_status_str(kd_status s);
int kd_status_exit_code(kd_status s);

/* Sets err (if non-NULL) to code and a printf-formatted message; returns code. */
kd_status kd_fail(kd_err *err, kd_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends context ("reading x.safetensors: ") to the message already in err. */
void kd_err_prefix(kd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kd_err_clear(kd_err *err);

/* Bugs (broken invariants), not runtime failures: abort with file:line. */
#define KD_ASSERT(cond)                                                              \
    do {                                                                             \
        if (!(cond)) kd_assert_fail(#cond, __FILE__, __LINE__);                      \
    } while (0)
_Noreturn void kd_assert_fail(const char *cond, const char *file, int line);

/* Propagate a failing status from a call that already filled the error. */
#define KD_TRY(call)                                                                 \
    do {                                                                             \
        kd_status kd_try_s_ = (call);                                                \
        if (kd_try_s_ != KD_OK) return kd_try_s_;                                    \
    } while (0)

#endif
