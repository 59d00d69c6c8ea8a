/* The command line of `kdcl train`: kd_cmdline_parse on an argv carved
 * from the input (NUL-separated words) with train's option table and the
 * global device options, then what the command does with the values
 * before touching data or a device: the --data grammar
 * (kd_data_spec_parse), the training configuration and the resume
 * command line (kd_command_line). */
#include "src/cli/train_common.h"
#include "src/data/source.h"
#include "tests/fuzz/fuzz_common.h"

static int fuzz_cli_args(const uint8_t *data, size_t size) {
    /* Words: copies, NUL-terminated; at most 40. */
    char *buf = malloc(size + 1);
    FUZZ_REQUIRE(buf != NULL);
    if (size) memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[41];
    int argc = 0;
    for (size_t i = 0; i < size && argc < 40;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;

    kd_train_opts o;
    kd_train_opts_defaults(&o);
    const char *model = "resnet50", *init = NULL;
    kd_opt opts[64];
    int n = 0;
    opts[n++] = (kd_opt){.name = "model", .kind = KD_OPT_STR, .dest = &model, .metavar = "SPEC", .help = ""};
    opts[n++] = (kd_opt){.name = "init", .kind = KD_OPT_STR, .dest = &init, .metavar = "W", .help = ""};
    kd_train_opts_table(&o, opts, &n, 64);
    kd_global g = {0};
    kd_global_opts(&g);
    const char *positional[2];
    kd_cmdline cl = {.command = "train",
                     .usage = "",
                     .description = "",
                     .opts = opts,
                     .nopts = n,
                     .global = g.opts,
                     .nglobal = KD_GLOBAL_NOPTS,
                     .positional = positional,
                     .max_positional = 0};
    kd_err err = {0};
    kd_status s = kd_cmdline_parse(&cl, argc, argv, &err);
    int ok = 0;
    if (s != KD_OK) {
        FUZZ_REQUIRE(s == KD_ERR_USAGE && err.code == s && err.msg[0]);
    } else {
        ok = 1;
        /* Ranges hold for what was accepted. */
        FUZZ_REQUIRE(o.epochs >= 1 && o.batch >= 1 && o.batch <= 65536 && o.lr > 0 && o.val_split >= 0 &&
                     o.val_split <= 0.9);
        kd_data_spec spec;
        if (o.data && kd_data_spec_parse(o.data, &spec, &err) == KD_OK) {
            FUZZ_REQUIRE(memchr(spec.kind, 0, sizeof spec.kind) && memchr(spec.dir, 0, sizeof spec.dir));
            FUZZ_REQUIRE(spec.synth_n >= 1 && spec.synth_c >= 1 && spec.synth_h >= 1 && spec.synth_w >= 1);
        } else if (o.data) {
            FUZZ_REQUIRE(err.code == KD_ERR_USAGE && err.msg[0]);
        }
        kd_train_cfg cfg;
        char ckpt[1200], line[2048];
        if (kd_train_cfg_from_opts(&o, &cfg, ckpt, sizeof ckpt, &err) == KD_OK)
            FUZZ_REQUIRE(cfg.ckpt == ckpt && strlen(ckpt) < sizeof ckpt);
        kd_command_line("train", argc, argv, line, sizeof line);
        FUZZ_REQUIRE(strlen(line) < sizeof line);
    }
    free(buf);
    return ok;
}

KD_FUZZ_ENTRY(fuzz_cli_args)
