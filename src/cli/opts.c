#include "src/cli/opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static kd_opt *find(kd_cmdline *cl, const char *name, size_t len) {
    for (int t = 0; t < 2; t++) {
        kd_opt *opts = t ? cl->global : cl->opts;
        int n = t ? cl->nglobal : cl->nopts;
        for (int i = 0; i < n; i++)
            if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len)) return &opts[i];
    }
    return NULL;
}

static kd_status unknown(kd_cmdline *cl, const char *arg, size_t len, kd_err *err) {
    const char *names[256];
    int n = 0;
    for (int i = 0; i < cl->nopts && n < 256; i++) names[n++] = cl->opts[i].name;
    for (int i = 0; i < cl->nglobal && n < 256; i++) names[n++] = cl->global[i].name;
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), arg);
    const char *hint = kd_closest(word, names, n);
    return kd_fail(err, KD_ERR_USAGE, "unknown option '--%s' for 'kdcl %s'%s%s%s; see 'kdcl %s --help'", word,
                   cl->command, hint ? " (did you mean --" : "", hint ? hint : "", hint ? "?)" : "",
                   cl->command);
}

static kd_status set_value(kd_cmdline *cl, kd_opt *o, const char *v, kd_err *err) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case KD_OPT_FLAG: *(bool *)o->dest = true; break;
    case KD_OPT_STR:
        if (o->choices) {
            size_t n = strlen(v);
            const char *c = o->choices;
            bool ok = false;
            while (*c) {
                size_t m = strcspn(c, "|");
                if (m == n && !strncmp(c, v, n)) ok = true;
                c += m;
                if (*c == '|') c++;
            }
            if (!ok)
                return kd_fail(err, KD_ERR_USAGE, "--%s: '%s' is not one of %s (kdcl %s)", o->name, v, o->choices,
                               cl->command);
        }
        *(const char **)o->dest = v;
        break;
    case KD_OPT_INT:
    case KD_OPT_LONG: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return kd_fail(err, KD_ERR_USAGE, "--%s: '%s' is not an integer (kdcl %s)", o->name, v, cl->command);
        if (o->min < o->max && ((double)x < o->min || (double)x > o->max))
            return kd_fail(err, KD_ERR_USAGE, "--%s: %lld is out of range [%.0f, %.0f] (kdcl %s)", o->name, x,
                           o->min, o->max, cl->command);
        if (o->kind == KD_OPT_INT) *(int *)o->dest = (int)x;
        else *(long long *)o->dest = x;
        break;
    }
    case KD_OPT_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return kd_fail(err, KD_ERR_USAGE, "--%s: '%s' is not a finite number (kdcl %s)", o->name, v,
                           cl->command);
        if (o->min < o->max && (x < o->min || x > o->max))
            return kd_fail(err, KD_ERR_USAGE, "--%s: %g is out of range [%g, %g] (kdcl %s)", o->name, x, o->min,
                           o->max, cl->command);
        *(double *)o->dest = x;
        break;
    }
    }
    o->seen = true;
    return KD_OK;
}

kd_status kd_cmdline_parse(kd_cmdline *cl, int argc, char **argv, kd_err *err) {
    cl->npositional = 0;
    bool only_positional = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_positional && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            cl->help = true;
            continue;
        }
        if (!only_positional && !strcmp(a, "--")) {
            only_positional = true;
            continue;
        }
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            if (cl->npositional >= cl->max_positional)
                return kd_fail(err, KD_ERR_USAGE, "unexpected argument '%s' for 'kdcl %s'; see 'kdcl %s --help'", a,
                               cl->command, cl->command);
            cl->positional[cl->npositional++] = a;
            continue;
        }
        if (a[1] != '-')
            return kd_fail(err, KD_ERR_USAGE, "options are spelt with two dashes: '%s' is not understood by 'kdcl %s'",
                           a, cl->command);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        kd_opt *o = find(cl, name, len);
        /* --no-FLAG turns a flag off (for flags a command sets by default). */
        if (!o && len > 3 && !strncmp(name, "no-", 3)) {
            kd_opt *f = find(cl, name + 3, len - 3);
            if (f && f->kind == KD_OPT_FLAG) {
                if (eq) return kd_fail(err, KD_ERR_USAGE, "--%.*s takes no value", (int)len, name);
                *(bool *)f->dest = false;
                f->seen = true;
                continue;
            }
        }
        if (!o) return unknown(cl, name, len, err);
        if (o->kind == KD_OPT_FLAG) {
            if (eq) return kd_fail(err, KD_ERR_USAGE, "--%s takes no value", o->name);
            KD_TRY(set_value(cl, o, "", err));
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc)
                return kd_fail(err, KD_ERR_USAGE, "--%s needs a value (%s); see 'kdcl %s --help'", o->name,
                               o->metavar ? o->metavar : "VALUE", cl->command);
            v = argv[++i];
        }
        if (o->seen && o->kind != KD_OPT_FLAG)
            return kd_fail(err, KD_ERR_USAGE, "--%s given twice", o->name);
        KD_TRY(set_value(cl, o, v, err));
    }
    return KD_OK;
}

bool kd_opt_seen(const kd_cmdline *cl, const char *name) {
    for (int i = 0; i < cl->nopts; i++)
        if (!strcmp(cl->opts[i].name, name)) return cl->opts[i].seen;
    for (int i = 0; i < cl->nglobal; i++)
        if (!strcmp(cl->global[i].name, name)) return cl->global[i].seen;
    return false;
}

static void print_opts(const kd_opt *opts, int n, FILE *out) {
    for (int i = 0; i < n; i++) {
        const kd_opt *o = &opts[i];
        char left[80];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(out, "  %-26s %s", left, o->help);
        switch (o->kind) {
        case KD_OPT_STR:
            if (*(const char *const *)o->dest) fprintf(out, " [default: %s]", *(const char *const *)o->dest);
            break;
        case KD_OPT_INT: fprintf(out, " [default: %d]", *(const int *)o->dest); break;
        case KD_OPT_LONG: fprintf(out, " [default: %lld]", *(const long long *)o->dest); break;
        case KD_OPT_FLOAT: fprintf(out, " [default: %g]", *(const double *)o->dest); break;
        case KD_OPT_FLAG: break;
        }
        fputc('\n', out);
    }
}

void kd_cmdline_help(const kd_cmdline *cl, FILE *out) {
    fprintf(out, "usage: %s\n\n%s\n", cl->usage, cl->description);
    if (cl->nopts) {
        fprintf(out, "\noptions:\n");
        print_opts(cl->opts, cl->nopts, out);
    }
    if (cl->nglobal) {
        fprintf(out, "\ndevice selection (also from env KDCL_DEVICE='P:D' or a name substring):\n");
        print_opts(cl->global, cl->nglobal, out);
    }
    fprintf(out, "  %-26s %s\n", "--help", "show this help");
}
