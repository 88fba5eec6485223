/* cliopt.c: the table-driven command-line parser (cliopt.h).
 *
 * cliopt_parse walks argv twice: once only checking, once writing. The
 * second walk sees the same arguments as the first and cannot fail, which is
 * what makes a failed parse leave the caller's struct as it was, without a
 * copy of a struct whose size we do not know. */
#include "cliopt.h"
#include "closest.h"

#include "duration.h"
#include "timefmt.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 64 /* options of one command, for "did you mean" */

typedef struct walk {
    const cliopt_cmd *cmd;
    int argc;
    char **argv;
    char *out; /* NULL: check only */
    sy_error *err;
    size_t npos;      /* positionals taken */
    cliopt_rest rest; /* trailing arguments, when the command takes them */
    bool help;
} walk;

static bool is_positional(const cliopt_opt *o)
{
    return o->name[0] != '-';
}

/* The k-th positional entry of the table, or NULL. */
static const cliopt_opt *positional(const cliopt_cmd *cmd, size_t k)
{
    for (size_t i = 0; i < cmd->n_opts; i++)
        if (is_positional(&cmd->opts[i]) && k-- == 0)
            return &cmd->opts[i];
    return NULL;
}

static size_t n_positionals(const cliopt_cmd *cmd)
{
    size_t n = 0;
    while (positional(cmd, n))
        n++;
    return n;
}

/* The option named by the len bytes at name, or NULL. */
static const cliopt_opt *find_option(const cliopt_cmd *cmd, const char *name, size_t len)
{
    for (size_t i = 0; i < cmd->n_opts; i++) {
        const cliopt_opt *o = &cmd->opts[i];
        if (!is_positional(o) && strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

/* ---- errors ------------------------------------------------------------------- */

/* " (did you mean \"x\"?)" when sy_closest finds one of names, else "". */
static void suggestion(const char *s, const char *const *names, size_t n, char *buf, size_t cap)
{
    const char *best = n ? sy_closest(s, names, n) : NULL;
    if (best)
        snprintf(buf, cap, " (did you mean \"%s\"?)", best);
    else
        buf[0] = '\0';
}

static sy_status unknown_option(const walk *w, const char *arg, size_t len)
{
    char name[128], hint[160];
    snprintf(name, sizeof name, "%.*s", (int)(len < 120 ? len : 120), arg);
    const char *names[MAX_NAMES];
    size_t n = 0;
    for (size_t i = 0; i < w->cmd->n_opts && n < MAX_NAMES; i++)
        if (!is_positional(&w->cmd->opts[i]))
            names[n++] = w->cmd->opts[i].name;
    suggestion(name, names, n, hint, sizeof hint);
    return sy_error_set(w->err, SY_USAGE, "unknown_option", NULL, "unknown option \"%s\"%s", name,
                        hint);
}

/* "a, b, c" into buf. */
static void join_choices(const char *const *choices, const char *sep, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; choices[i] && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? sep : "", choices[i]);
}

static sy_status bad_choice(const walk *w, const cliopt_opt *o, const char *v)
{
    char list[256], hint[160];
    size_t n = 0;
    while (o->choices[n])
        n++;
    join_choices(o->choices, ", ", list, sizeof list);
    suggestion(v, o->choices, n, hint, sizeof hint);
    return sy_error_set(w->err, SY_USAGE, "bad_choice", o->name, "\"%s\" is not one of %s%s", v,
                        list, hint);
}

static sy_status out_of_range(const walk *w, const cliopt_opt *o, const char *v)
{
    const char *unit = o->kind == CLIOPT_DURATION ? " ms" : "";
    if (o->max == INT64_MAX)
        return sy_error_set(w->err, SY_USAGE, "out_of_range", o->name,
                            "\"%s\" is out of range (at least %lld%s)", v, (long long)o->min, unit);
    return sy_error_set(w->err, SY_USAGE, "out_of_range", o->name,
                        "\"%s\" is out of range (%lld to %lld%s)", v, (long long)o->min,
                        (long long)o->max, unit);
}

/* ---- values ------------------------------------------------------------------- */

/* A decimal integer, nothing else: no sign but '-', no spaces. *overflow
 * tells a well-formed but too large number from garbage. */
static bool parse_int(const char *s, int64_t *out, bool *overflow)
{
    bool neg = *s == '-';
    const char *p = s + neg;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    *overflow = false;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (limit - d) / 10)
            *overflow = true;
        else
            v = v * 10 + d;
    }
    if (*p != '\0' || *overflow) {
        *overflow = *overflow && *p == '\0';
        return false;
    }
    *out = neg ? -(int64_t)(v - 1) - 1 : (int64_t)v;
    return true;
}

/* The worker's older spelling, kept working: a decimal number, fractions
 * allowed, with one optional unit ms, s, m or h ("1.5s"; "2" is 2 s). */
static bool parse_decimal_duration(const char *s, int64_t *ms)
{
    size_t digits = strspn(s, "0123456789.");
    char *end = NULL;
    double v = digits ? strtod(s, &end) : 0;
    if (!digits || end != s + digits)
        return false;
    double mul = !*end                    ? 1000
                 : strcmp(end, "ms") == 0 ? 1
                 : strcmp(end, "s") == 0  ? 1000
                 : strcmp(end, "m") == 0  ? 60000
                 : strcmp(end, "h") == 0  ? 3600000
                                          : -1;
    if (mul < 0 || !(v * mul < 9.2e18))
        return false;
    *ms = (int64_t)(v * mul);
    return true;
}

/* A duration (duration.h), else the older decimal form; the message is
 * duration.h's, which names the canonical spelling. */
static sy_status parse_duration(const walk *w, const cliopt_opt *o, const char *v, int64_t *ms)
{
    sy_error derr;
    if (sy_duration_parse(v, ms, &derr) == SY_OK || parse_decimal_duration(v, ms))
        return SY_OK;
    return sy_error_set(w->err, SY_USAGE, "bad_duration", o->name, "%s", derr.message);
}

/* Stores v into a field of `size` bytes (the table promises it fits). */
static void store_int(void *field, size_t size, int64_t v)
{
    int8_t v8 = (int8_t)v;
    int16_t v16 = (int16_t)v;
    int32_t v32 = (int32_t)v;
    switch (size) {
    case 1:
        memcpy(field, &v8, 1);
        break;
    case 2:
        memcpy(field, &v16, 2);
        break;
    case 4:
        memcpy(field, &v32, 4);
        break;
    default:
        memcpy(field, &v, 8);
    }
}

/* Checks v for o and, on the writing walk, stores it. */
static sy_status apply(walk *w, const cliopt_opt *o, const char *v)
{
    char *field = w->out && o->size ? w->out + o->offset : NULL;
    int64_t n = 0;
    bool overflow = false;
    switch (o->kind) {
    case CLIOPT_STRING:
        if (field)
            memcpy(field, &v, sizeof v);
        return SY_OK;
    case CLIOPT_FLAG:
        if (field)
            *(bool *)field = true;
        return SY_OK;
    case CLIOPT_INT:
        if (!parse_int(v, &n, &overflow) && !overflow)
            return sy_error_set(w->err, SY_USAGE, "bad_integer", o->name,
                                "\"%s\" is not an integer", v);
        if (overflow || n < o->min || n > o->max)
            return out_of_range(w, o, v);
        break;
    case CLIOPT_DURATION: {
        sy_status st = parse_duration(w, o, v, &n);
        if (st != SY_OK)
            return st;
        if (o->max > 0 && (n < o->min || n > o->max))
            return out_of_range(w, o, v);
        break;
    }
    case CLIOPT_CHOICE:
    case CLIOPT_CHOICES:
        while (o->choices[n] && strcmp(o->choices[n], v) != 0)
            n++;
        if (!o->choices[n])
            return bad_choice(w, o, v);
        if (o->kind == CLIOPT_CHOICES) {
            if (field) /* repeatable: each occurrence adds its bit */
                *(uint32_t *)field |= UINT32_C(1) << n;
            return SY_OK;
        }
        break;
    }
    if (field)
        store_int(field, o->size, n);
    return SY_OK;
}

/* The value's placeholder: the table's, the choices ("text|json"), or the kind's. */
static const char *placeholder(const cliopt_opt *o, char *buf, size_t cap)
{
    if (o->arg)
        return o->arg;
    if (o->kind == CLIOPT_CHOICE || o->kind == CLIOPT_CHOICES) {
        join_choices(o->choices, "|", buf, cap);
        return buf;
    }
    return o->kind == CLIOPT_DURATION ? "DURATION" : o->kind == CLIOPT_INT ? "N" : "VALUE";
}

/* ---- the walk ----------------------------------------------------------------- */

/* argv[*i] is an option: takes it and its value. */
static sy_status take_option(walk *w, int *i)
{
    const char *a = w->argv[*i];
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL; /* only "--name=value" */
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    const cliopt_opt *o = find_option(w->cmd, a, len);
    if (!o)
        return unknown_option(w, a, len);
    if (o->kind == CLIOPT_FLAG) {
        if (eq)
            return sy_error_set(w->err, SY_USAGE, "unexpected_value", o->name,
                                "takes no value, got \"%s\"", eq + 1);
        *i += 1;
        return apply(w, o, NULL);
    }
    const char *v = eq ? eq + 1 : *i + 1 < w->argc ? w->argv[*i + 1] : NULL;
    char buf[160];
    if (!v)
        return sy_error_set(w->err, SY_USAGE, "missing_value", o->name, "missing value %s",
                            placeholder(o, buf, sizeof buf));
    *i += eq ? 1 : 2;
    return apply(w, o, v);
}

static sy_status unexpected(const walk *w, const char *a)
{
    if (w->cmd->rest == CLIOPT_REST_COMMAND)
        return sy_error_set(w->err, SY_USAGE, "unexpected_argument", NULL,
                            "unexpected argument \"%s\" (%s goes after --)", a,
                            w->cmd->rest_arg ? w->cmd->rest_arg : "the command");
    return sy_error_set(w->err, SY_USAGE, "unexpected_argument", NULL, "unexpected argument \"%s\"",
                        a);
}

/* argv[i] is a positional. Sets *done when it starts the trailing arguments. */
static sy_status take_positional(walk *w, int i, bool *done)
{
    const cliopt_opt *slot = positional(w->cmd, w->npos);
    if (!slot) {
        if (w->cmd->rest != CLIOPT_REST_ARGS)
            return unexpected(w, w->argv[i]);
        w->rest = (cliopt_rest){w->argv + i, w->argc - i};
        *done = true;
        return SY_OK;
    }
    sy_status st = apply(w, slot, w->argv[i]);
    w->npos++;
    if (st == SY_OK && w->cmd->rest == CLIOPT_REST_SUBCOMMAND && !positional(w->cmd, w->npos)) {
        w->rest = (cliopt_rest){w->argv + i, w->argc - i};
        *done = true;
    }
    return st;
}

static sy_status missing(const walk *w)
{
    const cliopt_opt *slot = positional(w->cmd, w->npos);
    if (slot->kind == CLIOPT_CHOICE) {
        char list[256];
        join_choices(slot->choices, ", ", list, sizeof list);
        return sy_error_set(w->err, SY_USAGE, "missing_argument", NULL, "missing %s (one of %s)",
                            slot->name, list);
    }
    return sy_error_set(w->err, SY_USAGE, "missing_argument", NULL, "missing %s", slot->name);
}

static sy_status walk_argv(walk *w)
{
    bool dashdash = false, done = false;
    sy_status st = SY_OK;
    for (int i = 1; st == SY_OK && !done && i < w->argc;) {
        const char *a = w->argv[i];
        bool option = !dashdash && a[0] == '-' && a[1] != '\0'; /* "-" alone is stdin */
        if (option && strcmp(a, "--") == 0) {
            dashdash = true;
            i++;
            if (w->cmd->rest == CLIOPT_REST_COMMAND) {
                w->rest = (cliopt_rest){w->argv + i, w->argc - i};
                done = true;
            }
        } else if (option && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            w->help = true;
            return SY_OK;
        } else if (option) {
            st = take_option(w, &i);
        } else {
            st = take_positional(w, i++, &done);
        }
    }
    if (st != SY_OK)
        return st;
    if (w->npos < w->cmd->required)
        return missing(w);
    if (w->cmd->rest == CLIOPT_REST_COMMAND && w->rest.argc == 0)
        return sy_error_set(w->err, SY_USAGE, "missing_argument", NULL, "missing %s after --",
                            w->cmd->rest_arg ? w->cmd->rest_arg : "a command");
    return SY_OK;
}

/* The table's promises, checked once per parse: programmer errors only. */
static void check_table(const cliopt_cmd *cmd)
{
    assert(cmd->n_opts <= MAX_NAMES);
    assert(cmd->required <= n_positionals(cmd));
    assert(cmd->rest != CLIOPT_REST_SUBCOMMAND || n_positionals(cmd) > 0);
    for (size_t i = 0; i < cmd->n_opts; i++) {
        const cliopt_opt *o = &cmd->opts[i];
        (void)o;
        assert(o->name && o->name[0]);
        assert(o->kind != CLIOPT_STRING || o->size == 0 || o->size == sizeof(char *));
        assert(o->kind != CLIOPT_FLAG || o->size == sizeof(bool));
        assert(o->kind != CLIOPT_DURATION || o->size == sizeof(int64_t));
        assert(o->kind != CLIOPT_INT || o->min < o->max);
        assert(o->kind != CLIOPT_INT || o->size >= 8 ||
               (o->min >= -(INT64_C(1) << (8 * o->size - 1)) &&
                o->max < (INT64_C(1) << (8 * o->size - 1))));
        assert(o->kind != CLIOPT_CHOICE || (o->choices && o->choices[0]));
        assert(o->kind != CLIOPT_CHOICES ||
               (o->choices && o->choices[0] && o->size == sizeof(uint32_t) && !is_positional(o)));
        assert(o->kind != CLIOPT_FLAG || !is_positional(o));
    }
}

sy_status cliopt_parse(const cliopt_cmd *cmd, int argc, char **argv, void *out, bool *help,
                       sy_error *err)
{
    check_table(cmd);
    sy_error_clear(err);
    *help = false;
    walk w = {.cmd = cmd, .argc = argc, .argv = argv, .err = err};
    sy_status st = walk_argv(&w);
    if (st != SY_OK)
        return st;
    *help = w.help;
    if (w.help)
        return SY_OK;
    /* everything checked: the same walk again, writing; it cannot fail */
    w = (walk){.cmd = cmd, .argc = argc, .argv = argv, .out = out, .err = err};
    st = walk_argv(&w);
    assert(st == SY_OK);
    if (cmd->rest != CLIOPT_REST_NONE)
        memcpy((char *)out + cmd->rest_offset, &w.rest, sizeof w.rest);
    return st;
}

/* ---- help --------------------------------------------------------------------- */

static void usage_line(const cliopt_opt *o, FILE *out)
{
    char left[200], arg[160], extra[192];
    if (is_positional(o) || o->kind == CLIOPT_FLAG)
        snprintf(left, sizeof left, "%s", o->name);
    else
        snprintf(left, sizeof left, "%s %s", o->name, placeholder(o, arg, sizeof arg));
    extra[0] = '\0';
    const char *sep = o->help ? "; " : "";
    if (o->kind == CLIOPT_INT && o->max == INT64_MAX)
        snprintf(extra, sizeof extra, "%sat least %lld", sep, (long long)o->min);
    else if (o->kind == CLIOPT_INT)
        snprintf(extra, sizeof extra, "%s%lld to %lld", sep, (long long)o->min, (long long)o->max);
    else if (o->kind == CLIOPT_CHOICES)
        snprintf(extra, sizeof extra, "%srepeatable", sep);
    else if (o->kind == CLIOPT_CHOICE && is_positional(o)) {
        char list[256];
        join_choices(o->choices, ", ", list, sizeof list);
        snprintf(extra, sizeof extra, "%sone of %s", sep, list);
    }
    if (strlen(left) > 26) /* a long name or choice list: the help on a line of its own */
        fprintf(out, "  %s\n  %-26s", left, "");
    else
        fprintf(out, "  %-26s", left);
    fprintf(out, " %s%s\n", o->help ? o->help : "", extra);
}

void cliopt_usage(const cliopt_cmd *cmd, FILE *out)
{
    fprintf(out, "usage: %s\n", cmd->synopsis);
    if (n_positionals(cmd) > 0) {
        fprintf(out, "arguments:\n");
        for (size_t i = 0; i < cmd->n_opts; i++)
            if (is_positional(&cmd->opts[i]))
                usage_line(&cmd->opts[i], out);
    }
    fprintf(out, "options:\n");
    for (size_t i = 0; i < cmd->n_opts; i++)
        if (!is_positional(&cmd->opts[i]))
            usage_line(&cmd->opts[i], out);
    fprintf(out, "  %-26s %s\n", "-h, --help", "print this help");
}

int cliopt_fail(const char *cmd, sy_status st, const sy_error *err)
{
    char text[SY_ERROR_TEXT_MAX];
    fprintf(stderr, "switchyard %s: %s\n", cmd, sy_error_text(err, text, sizeof text));
    return sy_status_exit_code(st);
}

bool cliopt_db(const char *cmd, const char **db)
{
    if (!*db)
        *db = getenv("SWITCHYARD_DB");
    if (*db)
        return true;
    fprintf(stderr, "switchyard %s: give --db CONNINFO or set SWITCHYARD_DB\n", cmd);
    return false;
}

int cliopt_usage_exit(const cliopt_cmd *cmd, sy_status st, const sy_error *err)
{
    if (st == SY_OK) {
        cliopt_usage(cmd, stdout);
        return SY_EXIT_OK;
    }
    cliopt_fail(cmd->name, SY_USAGE, err);
    fprintf(stderr, "usage: %s\n", cmd->synopsis);
    return SY_EXIT_USAGE;
}

const char *const cliopt_output_formats[] = {"text", "json", NULL};
const char *const cliopt_json_only[] = {"json", NULL};

sy_status cliopt_check_time(const char *opt, const char *s, sy_error *err)
{
    int64_t ms;
    if (sy_duration_parse(s, &ms, NULL) == SY_OK ||
        sy_time_parse_rfc3339(s, NULL, &ms, NULL) == SY_OK)
        return SY_OK;
    return sy_error_set(err, SY_USAGE, "bad_time", opt,
                        "\"%s\" is neither an RFC 3339 time nor a duration ago (e.g. 1h)", s);
}

int64_t cliopt_time(const char *s, int64_t now_ms)
{
    int64_t ms = 0;
    if (sy_duration_parse(s, &ms, NULL) == SY_OK)
        return now_ms - ms;
    if (sy_time_parse_rfc3339(s, NULL, &ms, NULL) != SY_OK)
        ms = 0; /* unreachable after cliopt_check_time */
    return ms;
}
