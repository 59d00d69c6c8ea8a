/* What every device-touching command shares: the device-selection options
 * and opening a kd_ctx on the selected device. */
#ifndef KD_SESSION_H
#define KD_SESSION_H

#include "runtime/ctx.h"
#include "runtime/tune_params.h"
#include "src/cli/opts.h"

#define KD_GLOBAL_NOPTS 3

/* The device-selection flags every device-touching command accepts, and
 * their option-table entries (filled by kd_cmdline_run). */
typedef struct kd_global {
    const char *platform, *device, *device_type;
    kd_opt opts[KD_GLOBAL_NOPTS];
} kd_global;
/* Fills g->opts, pointing into g. */
void kd_global_opts(kd_global *g);
/* Whether arg is one of those options written apart from its value
 * ("--device", then "1"): how main finds the command word after them. */
bool kd_global_takes_value(const char *arg);

/* Lists devices and selects one per g (or KDCL_DEVICE; under mpirun the
 * local rank's); *index gets the selected entry of *list. */
kd_status kd_session_select(const kd_global *g, kd_device_list *list, int *index, kd_err *err);
/* Selects the device, creates the context and applies the stored CLBlast
 * tuning, or kdcl's preset (kd_session_tune). */
kd_status kd_session_open(const kd_global *g, const kd_ctx_opts *opts, kd_ctx **ctx, kd_err *err);
/* The same without stored tuning or preset: `kdcl tune` and `kdcl bench`
 * measure CLBlast's defaults first (its overrides cannot be undone in a
 * process). */
kd_status kd_session_open_untuned(const kd_global *g, const kd_ctx_opts *opts, kd_ctx **ctx, kd_err *err);
/* Applies the stored CLBlast tuning (`kdcl tune`) for ctx's device, or,
 * when none is stored, kdcl's preset for it (runtime/tune_preset.h) unless
 * the environment has KDCL_TUNE_PRESET=off. A damaged or inapplicable
 * entry must not stop anything: one warning on stderr (none when
 * kd_ctx_quiet(ctx)), and the preset or CLBlast's defaults. */
void kd_session_tune(kd_ctx *ctx);
/* Whether KDCL_TUNE_PRESET turns the preset off ("off", "0" or "none"). */
bool kd_session_preset_off(void);
/* What kd_session_tune runs on dev when nothing is stored: kdcl's preset
 * (true, its set in *preset when preset is not NULL) unless
 * KDCL_TUNE_PRESET turns it off, else CLBlast's defaults (false). The one
 * answer `kdcl devices` prints and `kdcl tune` compares against. */
bool kd_session_fallback_preset(const kd_device_info *dev, kd_tune_set *preset);

/* Parses the command line, with the device-selection flags into g when g
 * is not NULL; bad usage is reported, --help printed. Returns the exit
 * status when the command is done already, -1 to go on. */
int kd_cmdline_run(kd_cmdline *cl, kd_global *g, int argc, char **argv);

/* Prints "kdcl: error: ..." and returns the exit code for err->code. */
int kd_cli_report(const kd_err *err);

#endif
