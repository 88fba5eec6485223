/* read.c: the typed readers of the rules file's node tree (rules_int.h):
 * a string, duration, number, integer, boolean or one of a set of names,
 * and the check for unknown keys. Each reports a file:line:col diagnostic
 * with a "did you mean" where one is close. Every loader (load*.c,
 * tests.c) calls these; this file calls nothing of theirs. */
#include "closest.h"
#include "rules_int.h"

#include "duration.h"

#include <string.h>

static const char *node_kind_name(const rnode *n)
{
    if (n->kind == RN_MAP)
        return "a mapping";
    if (n->kind == RN_SEQ)
        return "a list";
    bool b;
    double d;
    switch (rules__scalar_kind(n, &b, &d)) {
    case RS_NULL:
        return "null";
    case RS_BOOL:
        return "a boolean";
    case RS_INT:
    case RS_FLOAT:
        return "a number";
    default:
        return "a string";
    }
}

bool rules__expect_kind(rules_loader *ld, const rnode *n, rnode_kind k, const char *what)
{
    if (n->kind == k)
        return true;
    rules__diag(ld->d, n, "%s must be %s, not %s", what,
                k == RN_MAP   ? "a mapping"
                : k == RN_SEQ ? "a list"
                              : "a scalar",
                node_kind_name(n));
    return false;
}

bool rules__get_string(rules_loader *ld, const rnode *n, const char *what, const char **out)
{
    bool b;
    double d;
    if (n->kind != RN_SCALAR || rules__scalar_kind(n, &b, &d) != RS_STR) {
        rules__diag(ld->d, n, "%s must be a string, not %s%s", what, node_kind_name(n),
                    n->kind == RN_SCALAR ? " (quote it)" : "");
        return false;
    }
    if (!*n->str) {
        rules__diag(ld->d, n, "%s must not be empty", what);
        return false;
    }
    *out = n->str;
    return true;
}

bool rules__get_duration(rules_loader *ld, const rnode *n, const char *what, int64_t *out)
{
    bool b;
    double d;
    if (n->kind != RN_SCALAR) {
        rules__diag(ld->d, n, "%s must be a duration such as 30s, not %s", what, node_kind_name(n));
        return false;
    }
    rscalar_kind k = rules__scalar_kind(n, &b, &d);
    if (k == RS_INT && d == 0) {
        *out = 0;
        return true;
    }
    if (k != RS_STR && k != RS_INT) {
        rules__diag(ld->d, n, "%s must be a duration such as 30s, not %s", what, node_kind_name(n));
        return false;
    }
    sy_error e;
    if (sy_duration_parse(n->str, out, &e) != SY_OK) {
        rules__diag(ld->d, n, "%s: %s", what, e.message);
        return false;
    }
    return true;
}

bool rules__get_number(rules_loader *ld, const rnode *n, const char *what, double *out)
{
    bool b;
    rscalar_kind k = n->kind == RN_SCALAR ? rules__scalar_kind(n, &b, out) : RS_STR;
    if (k != RS_INT && k != RS_FLOAT) {
        rules__diag(ld->d, n, "%s must be a number, not %s", what, node_kind_name(n));
        return false;
    }
    return true;
}

bool rules__get_int(rules_loader *ld, const rnode *n, const char *what, int64_t min, int64_t *out)
{
    bool b;
    double d = 0;
    rscalar_kind k = n->kind == RN_SCALAR ? rules__scalar_kind(n, &b, &d) : RS_STR;
    if (k != RS_INT) {
        rules__diag(ld->d, n, "%s must be an integer, not %s", what, node_kind_name(n));
        return false;
    }
    if (d < (double)min || d > 9007199254740991.0) {
        rules__diag(ld->d, n, "%s must be an integer >= %lld", what, (long long)min);
        return false;
    }
    *out = (int64_t)d;
    return true;
}

bool rules__get_bool(rules_loader *ld, const rnode *n, const char *what, bool *out)
{
    double d;
    if (n->kind != RN_SCALAR || rules__scalar_kind(n, out, &d) != RS_BOOL) {
        rules__diag(ld->d, n, "%s must be true or false, not %s%s", what, node_kind_name(n),
                    n->kind == RN_SCALAR && n->plain ? " (YAML 1.2: yes/no/on/off are strings)"
                                                     : "");
        return false;
    }
    return true;
}

int rules__get_enum(rules_loader *ld, const rnode *n, const char *what, const char *const *names,
                    size_t count)
{
    const char *s;
    if (!rules__get_string(ld, n, what, &s))
        return -1;
    for (size_t i = 0; i < count; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    sy_buf b = SY_BUF_INIT;
    for (size_t i = 0; i < count; i++)
        sy_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
    const char *sug = sy_closest(s, names, count);
    if (sug)
        rules__diag(ld->d, n, "%s: unknown value \"%s\" (did you mean \"%s\"?)", what, s, sug);
    else
        rules__diag(ld->d, n, "%s: unknown value \"%s\" (one of %s)", what, s, sy_buf_str(&b));
    sy_buf_cleanup(&b);
    return -1;
}

bool rules__check_keys(rules_loader *ld, const rnode *map, const char *what,
                       const char *const *known, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->str;
        size_t j = 0;
        while (j < n && strcmp(known[j], k) != 0)
            j++;
        if (j < n)
            continue;
        ok = false;
        const char *sug = sy_closest(k, known, n);
        if (sug) {
            rules__diag(ld->d, map->keys[i], "unknown key \"%s\" in %s (did you mean \"%s\"?)", k,
                        what, sug);
            continue;
        }
        sy_buf b = SY_BUF_INIT;
        for (size_t m = 0; m < n; m++)
            sy_buf_printf(&b, "%s%s", m ? ", " : "", known[m]);
        rules__diag(ld->d, map->keys[i], "unknown key \"%s\" in %s (expected one of: %s)", k, what,
                    sy_buf_str(&b));
        sy_buf_cleanup(&b);
    }
    return ok;
}
