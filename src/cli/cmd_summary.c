#include <stdio.h>

#include "src/cli/commands.h"
#include "src/cli/opts.h"
#include "src/cli/session.h"
#include "src/model/model.h"
#include "src/model/summary.h"

int kd_cmd_summary(int argc, char **argv) {
    const char *spec = "resnet50", *input = "3x128x128";
    int classes = 10;
    kd_opt opts[] = {
        {.name = "model", .kind = KD_OPT_STR, .dest = &spec, .metavar = "SPEC", .help = "model spec (see below)"},
        {.name = "input", .kind = KD_OPT_STR, .dest = &input, .metavar = "CxHxW", .help = "input shape of one image"},
        {.name = "classes", .kind = KD_OPT_INT, .dest = &classes, .metavar = "N", .help = "number of classes",
         .min = 2, .max = 1000},
    };
    char desc[4096];
    snprintf(desc, sizeof desc,
             "Prints the model's layers (name, type, output shape, parameters, multiply-accumulates),\n"
             "the backbone and head subtotals and the totals. Needs no device.\n\n%s",
             kd_model_spec_help());
    kd_cmdline cl = {.command = "summary",
                     .usage = "kdcl summary --model SPEC [--input CxHxW] [--classes N]",
                     .description = desc,
                     .opts = opts,
                     .nopts = (int)(sizeof opts / sizeof opts[0])};
    int done = kd_cmdline_run(&cl, NULL, argc, argv);
    if (done >= 0) return done;
    kd_err err = {0};
    int c, h, w;
    if (!kd_parse_chw(input, &c, &h, &w) || c < 1 || c > 4 || h < 1 || w < 1 || h > 8192 || w > 8192) {
        kd_fail(&err, KD_ERR_USAGE, "--input '%s' is not CxHxW with 1-4 channels (e.g. 3x128x128)", input);
        return kd_cli_report(&err);
    }
    kd_model *m = NULL;
    if (kd_model_build(spec, c, h, w, classes, &m, &err) != KD_OK) return kd_cli_report(&err);
    kd_model_summary(m, stdout);
    kd_model_free(m);
    return 0;
}
