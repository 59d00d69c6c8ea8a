#include "src/text.h"

#include <string.h>

static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[na][nb];
}

const char *kd_closest(const char *word, const char *const *candidates, int n) {
    const char *best = NULL;
    int bd = 3; /* at most two edits away */
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, candidates[i]);
        if (d < bd || (strlen(word) >= 3 && !strncmp(candidates[i], word, strlen(word)) && d < bd + 3)) {
            bd = d;
            best = candidates[i];
        }
    }
    return best;
}


bool kd_parse_chw(const char *s, int *c, int *h, int *w) {
    int *out[3] = {c, h, w};
    for (int i = 0; i < 3; i++) {
        int v = 0, digits = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (++digits > 9) return false;
            v = v * 10 + (*s - '0');
        }
        if (!digits || *s != (i < 2 ? 'x' : '\0')) return false;
        if (i < 2) s++;
        *out[i] = v;
    }
    return true;
}
