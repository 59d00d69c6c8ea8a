#include "src/cli/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tune_preset.h"
#include "runtime/tune_store.h"
#include "src/dist/dist.h"

void kd_global_opts(kd_global *g) {
    kd_opt *opts = g->opts;
    opts[0] = (kd_opt){.name = "platform", .kind = KD_OPT_STR, .dest = &g->platform, .metavar = "P",
                       .help = "OpenCL platform: index or case-insensitive name substring"};
    opts[1] = (kd_opt){.name = "device", .kind = KD_OPT_STR, .dest = &g->device, .metavar = "D",
                       .help = "device within the platform: index or name substring"};
    opts[2] = (kd_opt){.name = "device-type", .kind = KD_OPT_STR, .dest = &g->device_type, .metavar = "TYPE",
                       .help = "cpu|gpu|accelerator|all (default: a GPU if there is one, else anything)",
                       .choices = "cpu|gpu|accelerator|all"};
}

bool kd_global_takes_value(const char *arg) {
    kd_global g;
    kd_global_opts(&g);
    if (strncmp(arg, "--", 2) != 0) return false;
    for (int i = 0; i < KD_GLOBAL_NOPTS; i++)
        if (g.opts[i].metavar && !strcmp(arg + 2, g.opts[i].name)) return true;
    return false;
}

/* Data-parallel ranks on one host take one device each: the local rank's
 * among the devices of the selected one's platform and type (round robin
 * when there are more ranks than devices), unless --device or KDCL_DEVICE
 * names one. */
static int rank_device(const kd_device_list *list, int chosen) {
    const kd_dist *d = kd_dist_world();
    if (!kd_dist_on(d)) return chosen;
    const kd_device_info *c = &list->items[chosen];
    int same = 0;
    for (int i = 0; i < list->count; i++)
        same += list->items[i].platform_index == c->platform_index && list->items[i].type == c->type;
    int want = d->local_rank % (same > 0 ? same : 1);
    for (int i = 0, k = 0; i < list->count; i++)
        if (list->items[i].platform_index == c->platform_index && list->items[i].type == c->type && k++ == want)
            return i;
    return chosen;
}

kd_status kd_session_select(const kd_global *g, kd_device_list *list, int *index, kd_err *err) {
    KD_TRY(kd_device_list_load(list, err));
    const char *env = getenv("KDCL_DEVICE");
    kd_device_query q = {g->platform, g->device, g->device_type, env};
    kd_status s = kd_device_select(list, &q, index, err);
    if (s != KD_OK) kd_device_list_free(list);
    else if (!g->device && !(env && *env && !g->platform && !g->device_type)) *index = rank_device(list, *index);
    return s;
}

kd_status kd_session_open_untuned(const kd_global *g, const kd_ctx_opts *opts, kd_ctx **ctx, kd_err *err) {
    kd_device_list list;
    int index = -1;
    KD_TRY(kd_session_select(g, &list, &index, err));
    kd_status s = kd_ctx_create(&list.items[index], opts, ctx, err);
    kd_device_list_free(&list);
    return s;
}

bool kd_session_preset_off(void) {
    const char *v = getenv("KDCL_TUNE_PRESET");
    return v && (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "none"));
}

bool kd_session_fallback_preset(const kd_device_info *dev, kd_tune_set *preset) {
    if (kd_session_preset_off()) return false;
    kd_tune_set set;
    bool found = false;
    kd_err err = {0};
    if (kd_tune_preset(dev, &set, &found, &err) != KD_OK) return false;
    if (found && preset) *preset = set;
    return found;
}

void kd_session_tune(kd_ctx *ctx) {
    if (kd_tune_apply_stored(ctx) != KD_OK) {
        if (!kd_ctx_quiet(ctx))
            fprintf(stderr, "kdcl: warning: ignoring the stored CLBlast tuning: %s\n", kd_ctx_err(ctx)->msg);
        kd_err_clear(kd_ctx_err(ctx));
    }
    if (kd_ctx_tuned(ctx) || kd_session_preset_off()) return;
    if (kd_tune_apply_preset(ctx) != KD_OK) {
        if (!kd_ctx_quiet(ctx))
            fprintf(stderr, "kdcl: warning: CLBlast's defaults instead of kdcl's preset: %s\n", kd_ctx_err(ctx)->msg);
        kd_err_clear(kd_ctx_err(ctx));
    }
}

kd_status kd_session_open(const kd_global *g, const kd_ctx_opts *opts, kd_ctx **ctx, kd_err *err) {
    KD_TRY(kd_session_open_untuned(g, opts, ctx, err));
    kd_session_tune(*ctx);
    return KD_OK;
}

int kd_cli_report(const kd_err *err) {
    const kd_dist *d = kd_dist_world();
    if (kd_dist_on(d)) fprintf(stderr, "kdcl: rank %d: error: %s\n", d->rank, err->msg[0] ? err->msg : kd_status_str(err->code));
    else fprintf(stderr, "kdcl: error: %s\n", err->msg[0] ? err->msg : kd_status_str(err->code));
    return kd_status_exit_code(err->code);
}

int kd_cmdline_run(kd_cmdline *cl, kd_global *g, int argc, char **argv) {
    kd_err err = {0};
    if (g) {
        kd_global_opts(g);
        cl->global = g->opts;
        cl->nglobal = KD_GLOBAL_NOPTS;
    }
    if (kd_cmdline_parse(cl, argc, argv, &err) != KD_OK) return kd_cli_report(&err);
    if (cl->help) {
        kd_cmdline_help(cl, stdout);
        return 0;
    }
    return -1;
}
