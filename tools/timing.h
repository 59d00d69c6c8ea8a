/* What the timing tools (conv_timing, kernel_timing) share: a wall clock in
 * milliseconds and TRY, which stops the tool with the context's error
 * message. A tool defines TOOL_CTX, the context TRY reports from, before
 * including this. */
#ifndef KD_TOOLS_TIMING_H
#define KD_TOOLS_TIMING_H

#include <stdio.h>
#include <stdlib.h>

#include "runtime/ctx.h"
#include "src/train/progress.h"

static inline double now_ms(void) { return kd_now() * 1e3; }

static inline void tool_check(kd_status s, const kd_ctx *ctx, const char *file, int line, const char *call) {
    if (s == KD_OK) return;
    fprintf(stderr, "%s:%d: %s: %s\n", file, line, call, ctx ? kd_ctx_err(ctx)->msg : "");
    exit(1);
}
#define TRY(call) tool_check((call), TOOL_CTX, __FILE__, __LINE__, #call)

#endif
