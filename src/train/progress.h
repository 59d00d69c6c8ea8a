/* Progress of long work: a bar redrawn in place on a terminal, plain lines
 * (about every 10% and at least every 30 s) when stdout is not a terminal,
 * nothing with --quiet. */
#ifndef KD_TRAIN_PROGRESS_H
#define KD_TRAIN_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct kd_progress {
    FILE *out;
    bool tty, quiet;
    const char *label;    /* "epoch 3/10", "eval" */
    long first, total;    /* steps: where this run starts (a resumed epoch: not 0), how many in all */
    double t_start, t_last_line;
    long last_line_step;
    int width;
} kd_progress;

double kd_now(void); /* seconds, monotonic */
void kd_progress_begin(kd_progress *p, FILE *out, bool quiet, const char *label, long first, long total);
/* `status` is the text after the bar ("loss 0.53 acc 81.2%"); images/s and
 * ETA are computed from `step`, `images` and the elapsed time. */
void kd_progress_update(kd_progress *p, long step, long images, const char *status);
void kd_progress_end(kd_progress *p);
/* "3:12" or "1:02:03" */
void kd_fmt_duration(char *buf, size_t cap, double seconds);

#endif
