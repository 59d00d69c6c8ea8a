#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cache.h"
#include "runtime/device.h"
#include "runtime/tune_store.h"
#include "src/cli/commands.h"
#include "src/cli/session.h"

/* What the commands will run CLBlast with on the selected device when
 * nothing is stored (or it cannot be applied): kdcl's preset or CLBlast's
 * defaults (src/cli/session.c). */
static const char *fallback(const kd_device_info *dev) {
    if (kd_session_fallback_preset(dev, NULL))
        return "kdcl's preset for this device ('kdcl tune' may find better; KDCL_TUNE_PRESET=off for CLBlast's defaults)";
    return "CLBlast's defaults ('kdcl tune' creates a tuning)";
}

/* Whether the commands will apply stored CLBlast tuning (kdcl tune) on the selected device. */
static void print_tuning(const kd_device_info *dev) {
    char dir[1024], path[4200];
    bool enabled;
    kd_cache_dir_resolve(NULL, dir, sizeof dir, &enabled);
    if (!enabled) {
        printf("\nCLBlast tuning: none stored (the cache directory is disabled): %s\n", fallback(dev));
        return;
    }
    kd_tune_path(dir, dev, path, sizeof path);
    char *text = NULL;
    kd_err err = {0};
    kd_tune_set s;
    kd_status st = kd_tune_load_text(dir, dev, &text, &err);
    if (st == KD_OK && !text) {
        printf("\nCLBlast tuning for the selected device: none stored, %s\n", fallback(dev));
        return;
    }
    if (st == KD_OK) st = kd_tune_parse(text, strlen(text), &s, &err);
    if (st == KD_OK) st = kd_tune_check(&s, dev, &err);
    free(text);
    if (st == KD_OK) printf("\nCLBlast tuning for the selected device: applied from %s ('kdcl tune --show')\n", path);
    else printf("\nCLBlast tuning for the selected device: NOT applied, %s; %s instead\n", err.msg, fallback(dev));
}

int kd_cmd_devices(int argc, char **argv) {
    kd_global g = {0};
    kd_cmdline cl = {
        .command = "devices",
        .usage = "kdcl devices [--platform P] [--device D] [--device-type TYPE]",
        .description = "Lists every OpenCL platform and device with its indices, type, vendor, driver,\n"
                       "OpenCL C version, compute units, clock, memory and fp16/fp64 support, and marks\n"
                       "with '*' the device that the given selection flags (or KDCL_DEVICE) pick.",
    };
    int done = kd_cmdline_run(&cl, &g, argc, argv);
    if (done >= 0) return done;
    kd_err err = {0};
    kd_device_list list;
    int index = -1;
    if (kd_session_select(&g, &list, &index, &err) != KD_OK) return kd_cli_report(&err);
    kd_device_list_print(&list, index, stdout);
    print_tuning(&list.items[index]);
    kd_device_list_free(&list);
    return 0;
}
