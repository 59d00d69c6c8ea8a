/* Table-driven command-line options. The same table parses argv and prints
 * --help, so the help text cannot drift from what is accepted. */
#ifndef KD_OPTS_H
#define KD_OPTS_H

#include <stdbool.h>
#include <stdio.h>

#include "runtime/status.h"
#include "src/text.h"

typedef enum kd_opt_kind {
    KD_OPT_FLAG,   /* bool, no value */
    KD_OPT_STR,    /* const char* (points into argv) */
    KD_OPT_INT,    /* int, range-checked when min < max */
    KD_OPT_LONG,   /* long long, range-checked when min < max */
    KD_OPT_FLOAT,  /* double, range-checked when min < max */
} kd_opt_kind;

typedef struct kd_opt {
    const char *name;    /* "epochs" for --epochs */
    kd_opt_kind kind;
    void *dest;
    const char *metavar; /* "N"; NULL for flags */
    const char *help;
    double min, max;     /* inclusive range, checked when min < max */
    const char *choices; /* "adam|sgd": a KD_OPT_STR value must be one of them */
    bool seen;           /* set by the parser */
} kd_opt;

typedef struct kd_cmdline {
    const char *command;      /* "train" */
    const char *usage;        /* "kdcl train --model SPEC --data DATA --out M.safetensors [options]" */
    const char *description;  /* a paragraph */
    kd_opt *opts;
    int nopts;
    kd_opt *global;           /* device-selection options, also accepted */
    int nglobal;
    const char **positional;  /* filled with non-option arguments */
    int max_positional, npositional;
    bool help;                /* --help was given */
} kd_cmdline;

/* Parses argv[0..argc) (after the command name). Unknown options, missing
 * or malformed values are KD_ERR_USAGE with a message that says which
 * option and what is expected. */
kd_status kd_cmdline_parse(kd_cmdline *cl, int argc, char **argv, kd_err *err);
void kd_cmdline_help(const kd_cmdline *cl, FILE *out);
/* True if option `name` was given explicitly. */
bool kd_opt_seen(const kd_cmdline *cl, const char *name);

#endif
