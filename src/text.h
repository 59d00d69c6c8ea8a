/* Small text helpers shared by the CLI and the spec parsers. */
#ifndef KD_TEXT_H
#define KD_TEXT_H

#include <stdbool.h>

/* "Did you mean": the candidate closest to a mistyped word (at most two
 * edits, or a prefix of it), NULL if nothing is close. */
const char *kd_closest(const char *word, const char *const *candidates, int n);

/* "CxHxW" as three decimal numbers of at most 9 digits each and nothing
 * else (sscanf's %d would wrap 4294967328 to 32 and accept trailing junk);
 * false if malformed. Ranges are the caller's. */
bool kd_parse_chw(const char *s, int *c, int *h, int *w);

#endif
