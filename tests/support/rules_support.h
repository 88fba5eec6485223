/* rules_support.h: rules given as text in a test, loaded the way
 * `switchyard check` loads a file: written to a temporary *.yaml file,
 * rules_load'ed, the file removed. Shared by the rules unit tests and the
 * flow-control integration tests. Header only (static functions), like
 * test.h. */
#ifndef SY_TEST_RULES_SUPPORT_H
#define SY_TEST_RULES_SUPPORT_H

#include "rules.h"
#include "test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Loads text; the set (NULL when it did not load), its diagnostics in d,
 * the status in *st (if st). A set comes back exactly when the load says
 * SY_OK. */
static __attribute__((unused)) rules_set *rules_test_load(const char *text, rules_diags *d,
                                                          sy_status *st)
{
    char path[] = "/tmp/sy-rules-test-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    rules_set *set = NULL;
    sy_error err;
    sy_error_clear(&err);
    sy_status s = rules_load(path, NULL, &set, d, &err);
    unlink(path);
    CHECK((s == SY_OK) == (set != NULL));
    if (st)
        *st = s;
    return set;
}

/* Loads text that must load; its diagnostics go to stderr. */
static __attribute__((unused)) rules_set *rules_test_load_ok(const char *text)
{
    rules_diags d = {0};
    rules_set *set = rules_test_load(text, &d, NULL);
    for (size_t i = 0; i < d.len; i++)
        fprintf(stderr, "diag: %s\n", d.lines[i]);
    rules_diags_cleanup(&d);
    CHECK(set != NULL);
    return set;
}

/* The load of text fails with a diagnostic containing needle, at at
 * ("line:col"). */
static __attribute__((unused)) void rules_test_load_fails(const char *text, const char *needle,
                                                          const char *at)
{
    rules_diags d = {0};
    rules_set *set = rules_test_load(text, &d, NULL);
    bool found = false;
    for (size_t i = 0; i < d.len; i++) {
        fprintf(stderr, "diag: %s\n", d.lines[i]);
        found |= strstr(d.lines[i], needle) && strstr(d.lines[i], at);
    }
    CHECK_MSG(set == NULL && found, "expected a diagnostic \"%s\" at %s", needle, at);
    rules_diags_cleanup(&d);
}

#endif
