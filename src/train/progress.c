#define _POSIX_C_SOURCE 200809L
#include "src/train/progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

double kd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void kd_fmt_duration(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void kd_progress_begin(kd_progress *p, FILE *out, bool quiet, const char *label, long first, long total) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->quiet = quiet;
    p->tty = isatty(fileno(out));
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->first = p->last_line_step = first;
    p->t_start = p->t_last_line = kd_now();
    p->width = 24;
}

void kd_progress_update(kd_progress *p, long step, long images, const char *status) {
    if (p->quiet) return;
    double now = kd_now(), el = now - p->t_start;
    double ips = el > 0 ? (double)images / el : 0;
    /* The rate is that of this run's steps: a resumed epoch starts at `first`. */
    double eta = step > p->first ? el * (double)(p->total - step) / (double)(step - p->first) : -1;
    char etab[32], elb[32];
    kd_fmt_duration(etab, sizeof etab, eta);
    kd_fmt_duration(elb, sizeof elb, el);
    if (p->tty) {
        char bar[64];
        int fill = (int)((double)p->width * (double)step / (double)p->total);
        for (int i = 0; i < p->width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[p->width] = '\0';
        fprintf(p->out, "\r\033[K%s [%s] %ld/%ld %s %.0f img/s ETA %s", p->label, bar, step, p->total, status, ips,
                etab);
        fflush(p->out);
        return;
    }
    /* Plain lines for logs: about every 10% (not more than one per 2 s) and at
     * least every 30 s; short work prints nothing but its result. */
    long tenth = p->total / 10 > 0 ? p->total / 10 : 1;
    bool due = (step - p->last_line_step >= tenth && now - p->t_last_line >= 2.0) || now - p->t_last_line >= 30.0;
    if (due || (step == p->total && el >= 2.0)) {
        fprintf(p->out, "%s step %ld/%ld %s %.0f img/s elapsed %s ETA %s\n", p->label, step, p->total, status, ips,
                elb, etab);
        fflush(p->out);
        p->last_line_step = step;
        p->t_last_line = now;
    }
}

void kd_progress_end(kd_progress *p) {
    if (!p->quiet && p->tty) {
        fprintf(p->out, "\r\033[K");
        fflush(p->out);
    }
}
