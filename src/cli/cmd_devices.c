#include <stdio.h>

#include "runtime/device.h"
#include "src/cli/commands.h"
#include "src/cli/session.h"

int kd_cmd_devices(int argc, char **argv) {
    kd_global g = {0};
    kd_opt global[KD_GLOBAL_NOPTS];
    kd_global_opts(&g, global);
    kd_cmdline cl = {
        .command = "devices",
        .usage = "kdcl devices [--platform P] [--device D] [--device-type TYPE]",
        .description = "Lists every OpenCL platform and device with its indices, type, vendor, driver,\n"
                       "OpenCL C version, compute units, clock, memory and fp16/fp64 support, and marks\n"
                       "with '*' the device that the given selection flags (or KDCL_DEVICE) pick.",
        .global = global,
        .nglobal = KD_GLOBAL_NOPTS,
    };
    kd_err err = {0};
    if (kd_cmdline_parse(&cl, argc, argv, &err) != KD_OK) return kd_cli_report(&err);
    if (cl.help) {
        kd_cmdline_help(&cl, stdout);
        return 0;
    }
    kd_device_list list;
    int index = -1;
    if (kd_session_select(&g, &list, &index, &err) != KD_OK) return kd_cli_report(&err);
    kd_device_list_print(&list, index, stdout);
    kd_device_list_free(&list);
    return 0;
}
