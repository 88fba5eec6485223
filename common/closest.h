/* closest.h: "did you mean" for every parser of the project (rules file,
 * templates, expressions, command line). */
#ifndef SY_CLOSEST_H
#define SY_CLOSEST_H

#include <stddef.h>

/* The closest of names[0..n) to s by edit distance (insertions, deletions,
 * substitutions, swaps of neighbours), or NULL when none is close enough
 * to suggest (1 edit for names up to 4 characters, 2 up to 8, else 3).
 * Borrowed strings; any thread. */
const char *sy_closest(const char *s, const char *const *names, size_t n);

#endif
