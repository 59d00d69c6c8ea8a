/* Small text helpers shared by the CLI and the spec parsers. */
#ifndef KD_TEXT_H
#define KD_TEXT_H

/* "Did you mean": the candidate closest to a mistyped word (at most two
 * edits, or a prefix of it), NULL if nothing is close. */
const char *kd_closest(const char *word, const char *const *candidates, int n);

#endif
