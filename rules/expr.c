/* expr.c: the `where` expression language (rules/README.md).
 *
 *   expr    := or
 *   or      := and ("||" and)*
 *   and     := unary ("&&" unary)*
 *   unary   := "!" unary | cmp
 *   cmp     := primary (("=="|"!="|"<"|"<="|">"|">="|"in") primary)?
 *   primary := number | string | true | false | null | "[" list "]"
 *            | "(" expr ")" | func "(" args ")" | path ("." method "(" args ")")?
 *   func    := exists | startsWith | endsWith | contains | matches
 *
 * Compiled once into an AST in an arena; literal regexes are compiled at
 * load. Types that are known at load (literals, the envelope's fields) are
 * checked then, so `type > 3` is a load error, not a silent false. At
 * evaluation a missing path is null; a comparison between different types is
 * false; nothing can fail or crash. */
#include "closest.h"
#include "rules_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef enum {
    X_LIT,
    X_PATH,
    X_ARR,
    X_NOT,
    X_AND,
    X_OR,
    X_EQ,
    X_NE,
    X_LT,
    X_LE,
    X_GT,
    X_GE,
    X_IN,
    X_EXISTS,
    X_STARTS,
    X_ENDS,
    X_CONTAINS,
    X_MATCHES,
} xop;

typedef struct xval {
    rtype k;
    bool b;
    double n;
    const char *s;
    const cJSON *j; /* RT_ARR / RT_OBJ */
} xval;

struct rexpr {
    xop op;
    rtype type; /* static type, RT_ANY when unknown */
    xval lit;
    rpath *path;
    rexpr *l, *r;
    rexpr **items;
    size_t n;
    regex_t *re; /* matches() with a literal pattern */
    size_t off;  /* where it starts in the source, for messages */
};

const rules_root rules__envelope_roots[] = {
    {"event_id", RT_STR, RT_ANY},       {"type", RT_STR, RT_ANY},
    {"source", RT_STR, RT_ANY},         {"subject", RT_ANY, RT_ANY},
    {"occurred_at", RT_STR, RT_ANY},    {"trace_id", RT_STR, RT_ANY},
    {"schema_version", RT_NUM, RT_ANY}, {"payload", RT_OBJ, RT_ANY},
};
const size_t rules__envelope_nroots =
    sizeof rules__envelope_roots / sizeof rules__envelope_roots[0];

static const struct {
    const char *name;
    xop op;
    int nargs;
} funcs[] = {
    {"exists", X_EXISTS, 1},     {"startsWith", X_STARTS, 2}, {"endsWith", X_ENDS, 2},
    {"contains", X_CONTAINS, 2}, {"matches", X_MATCHES, 2},
};
#define NFUNCS (sizeof funcs / sizeof funcs[0])

static const char *type_name(rtype t)
{
    static const char *const names[] = {"any",    "null",  "boolean", "number",
                                        "string", "array", "object"};
    return names[t];
}

typedef struct xp {
    rules_arena *a;
    const char *src, *p;
    const rules_root *roots;
    size_t nroots;
    bool failed;
    size_t err_off;
    char msg[300];
    int depth;
} xp;

static rexpr *fail(xp *x, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static rexpr *fail(xp *x, size_t off, const char *fmt, ...)
{
    if (x->failed)
        return NULL;
    x->failed = true;
    x->err_off = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof x->msg, fmt, ap);
    va_end(ap);
    return NULL;
}

static void ws(xp *x)
{
    while (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r')
        x->p++;
}

static size_t off(const xp *x)
{
    return (size_t)(x->p - x->src);
}

static rexpr *node(xp *x, xop op, rtype t, size_t at)
{
    rexpr *e = rules__alloc(x->a, sizeof *e);
    e->op = op;
    e->type = t;
    e->off = at;
    return e;
}

static bool word_is(const xp *x, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(x->p, w, n) != 0)
        return false;
    char c = x->p[n];
    return !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '$' || c == '-');
}

static rexpr *parse_or(xp *x);

static rexpr *parse_string(xp *x)
{
    size_t at = off(x);
    char q = *x->p++;
    sy_buf b = SY_BUF_INIT;
    for (; *x->p && *x->p != q; x->p++) {
        char c = *x->p;
        if (c == '\\' && x->p[1]) {
            c = *++x->p;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
        }
        sy_buf_putc(&b, c);
    }
    if (*x->p != q) {
        sy_buf_cleanup(&b);
        return fail(x, at, "unterminated string");
    }
    x->p++;
    rexpr *e = node(x, X_LIT, RT_STR, at);
    e->lit.k = RT_STR;
    e->lit.s = rules__strdup(x->a, sy_buf_str(&b));
    sy_buf_cleanup(&b);
    return e;
}

static rexpr *parse_number(xp *x)
{
    size_t at = off(x);
    char *end;
    double v = strtod(x->p, &end);
    if (end == x->p || !isfinite(v))
        return fail(x, at, "invalid number");
    x->p = end;
    rexpr *e = node(x, X_LIT, RT_NUM, at);
    e->lit.k = RT_NUM;
    e->lit.n = v;
    return e;
}

/* Parses "(" args ")" for a function; first may be a method's receiver. */
static rexpr *parse_call(xp *x, size_t fi, rexpr *first, size_t at)
{
    rexpr *args[2] = {first, NULL};
    int n = first ? 1 : 0;
    x->p++; /* ( */
    ws(x);
    while (*x->p != ')') {
        if (n >= funcs[fi].nargs)
            return fail(x, off(x), "%s() takes %d argument%s", funcs[fi].name, funcs[fi].nargs,
                        funcs[fi].nargs == 1 ? "" : "s");
        if (n > (first ? 1 : 0)) {
            if (*x->p != ',')
                return fail(x, off(x), "expected \",\" or \")\"");
            x->p++;
        }
        args[n] = parse_or(x);
        if (!args[n])
            return NULL;
        n++;
        ws(x);
    }
    x->p++;
    if (n != funcs[fi].nargs)
        return fail(x, at, "%s() takes %d argument%s", funcs[fi].name, funcs[fi].nargs,
                    funcs[fi].nargs == 1 ? "" : "s");
    rexpr *e = node(x, funcs[fi].op, RT_BOOL, at);
    e->l = args[0];
    e->r = args[1];
    return e;
}

static int func_index(const char *name, size_t len)
{
    for (size_t i = 0; i < NFUNCS; i++)
        if (strlen(funcs[i].name) == len && strncmp(funcs[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static rexpr *parse_array(xp *x)
{
    size_t at = off(x);
    x->p++;
    rexpr *e = node(x, X_ARR, RT_ARR, at);
    size_t cap = 0;
    ws(x);
    while (*x->p != ']') {
        if (e->n) {
            if (*x->p != ',')
                return fail(x, off(x), "expected \",\" or \"]\"");
            x->p++;
            ws(x);
        }
        rexpr *it = parse_or(x);
        if (!it)
            return NULL;
        if (e->n == cap) {
            cap = cap ? cap * 2 : 4;
            rexpr **items = rules__alloc(x->a, cap * sizeof *items);
            if (e->n)
                memcpy(items, e->items, e->n * sizeof *items);
            e->items = items;
        }
        e->items[e->n++] = it;
        ws(x);
    }
    x->p++;
    return e;
}

static rtype root_type(xp *x, const rpath *path, size_t at, bool *ok)
{
    *ok = true;
    if (!x->roots)
        return RT_ANY;
    const char *root = path->segs[0].key;
    for (size_t i = 0; i < x->nroots; i++) {
        if (strcmp(x->roots[i].name, root) != 0)
            continue;
        if (path->n == 1)
            return x->roots[i].type;
        rtype t = x->roots[i].type;
        if (t == RT_STR || t == RT_NUM || t == RT_BOOL) {
            fail(x, at, "\"%s\" is a %s and has no members", root, type_name(t));
            *ok = false;
        }
        return x->roots[i].sub_type;
    }
    const char *names[16];
    size_t n = x->nroots < 16 ? x->nroots : 16;
    for (size_t i = 0; i < n; i++)
        names[i] = x->roots[i].name;
    const char *sug = sy_closest(root, names, n);
    fail(x, at, "unknown name \"%s\"%s%s%s", root, sug ? " (did you mean \"" : "", sug ? sug : "",
         sug ? "\"?)" : "");
    *ok = false;
    return RT_ANY;
}

static rexpr *parse_path_or_call(xp *x)
{
    size_t at = off(x);
    const char *start = x->p;
    while ((*x->p >= 'A' && *x->p <= 'Z') || (*x->p >= 'a' && *x->p <= 'z'))
        x->p++;
    int fi = func_index(start, (size_t)(x->p - start));
    const char *after = x->p;
    x->p = start;
    if (fi >= 0) {
        while (*after == ' ')
            after++;
        if (*after == '(') {
            x->p = after;
            return parse_call(x, (size_t)fi, NULL, at);
        }
    }
    char msg[200];
    rpath *path = rules__path_parse(x->a, &x->p, msg, sizeof msg);
    if (!path)
        return fail(x, at, "%s", msg);
    /* method syntax: payload.name.startsWith("x") */
    const char *last = path->segs[path->n - 1].key;
    int mi = path->n > 1 && last && *x->p == '(' ? func_index(last, strlen(last)) : -1;
    if (mi >= 0)
        path->n--;
    bool ok;
    rexpr *e = node(x, X_PATH, root_type(x, path, at, &ok), at);
    if (!ok)
        return NULL;
    e->path = path;
    if (mi >= 0) {
        if (funcs[mi].nargs != 2)
            return fail(x, at, "%s() cannot be called as a method", funcs[mi].name);
        return parse_call(x, (size_t)mi, e, at);
    }
    return e;
}

static rexpr *parse_primary(xp *x)
{
    ws(x);
    size_t at = off(x);
    char c = *x->p;
    if (c == '"' || c == '\'')
        return parse_string(x);
    if ((c >= '0' && c <= '9') || (c == '-' && x->p[1] >= '0' && x->p[1] <= '9') ||
        (c == '.' && x->p[1] >= '0' && x->p[1] <= '9'))
        return parse_number(x);
    if (c == '[')
        return parse_array(x);
    if (c == '(') {
        x->p++;
        rexpr *e = parse_or(x);
        ws(x);
        if (!e)
            return NULL;
        if (*x->p != ')')
            return fail(x, off(x), "expected \")\"");
        x->p++;
        return e;
    }
    if (word_is(x, "true") || word_is(x, "false") || word_is(x, "null")) {
        rexpr *e = node(x, X_LIT, c == 'n' ? RT_NULL : RT_BOOL, at);
        e->lit.k = e->type;
        e->lit.b = c == 't';
        x->p += c == 'f' ? 5 : 4;
        return e;
    }
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '$')
        return parse_path_or_call(x);
    if (!c)
        return fail(x, at, "unexpected end of expression");
    return fail(x, at, "unexpected \"%c\"", c);
}

/* Load-time type rules for a binary operator (see the file comment). */
static bool check_cmp(xp *x, xop op, const rexpr *l, const rexpr *r, size_t at)
{
    rtype a = l->type, b = r->type;
    if (l->op == X_ARR && op != X_IN)
        return fail(x, l->off, "an array literal may only follow \"in\""), false;
    if (r->op == X_ARR && op != X_IN)
        return fail(x, r->off, "an array literal may only follow \"in\""), false;
    if (op == X_IN) {
        if (b != RT_ANY && b != RT_ARR && b != RT_STR)
            return fail(x, r->off, "\"in\" needs an array or a string on its right, not a %s",
                        type_name(b)),
                   false;
        return true;
    }
    if (a == RT_ANY || b == RT_ANY)
        return true;
    if (op == X_EQ || op == X_NE) {
        if (a != b && a != RT_NULL && b != RT_NULL)
            return fail(x, at, "comparing a %s with a %s is always %s", type_name(a), type_name(b),
                        op == X_EQ ? "false" : "true"),
                   false;
        return true;
    }
    if (!((a == RT_NUM && b == RT_NUM) || (a == RT_STR && b == RT_STR)))
        return fail(x, at, "cannot order a %s and a %s (only numbers or strings)", type_name(a),
                    type_name(b)),
               false;
    return true;
}

static rexpr *parse_cmp(xp *x)
{
    rexpr *l = parse_primary(x);
    if (!l)
        return NULL;
    ws(x);
    static const struct {
        const char *tok;
        xop op;
    } ops[] = {{"==", X_EQ}, {"!=", X_NE}, {"<=", X_LE}, {">=", X_GE}, {"<", X_LT}, {">", X_GT}};
    size_t at = off(x);
    xop op = X_LIT;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0] && op == X_LIT; i++)
        if (strncmp(x->p, ops[i].tok, strlen(ops[i].tok)) == 0) {
            op = ops[i].op;
            x->p += strlen(ops[i].tok);
        }
    if (op == X_LIT && word_is(x, "in")) {
        op = X_IN;
        x->p += 2;
    }
    if (op == X_LIT) {
        if (*x->p == '=' && x->p[1] != '=')
            return fail(x, at, "use \"==\" to compare");
        if (l->op == X_ARR)
            return fail(x, l->off, "an array literal may only follow \"in\"");
        return l;
    }
    rexpr *r = parse_primary(x);
    if (!r || !check_cmp(x, op, l, r, at))
        return NULL;
    rexpr *e = node(x, op, RT_BOOL, at);
    e->l = l;
    e->r = r;
    return e;
}

static bool want_bool(xp *x, const rexpr *e, const char *what)
{
    if (e->type == RT_ANY || e->type == RT_BOOL)
        return true;
    fail(x, e->off, "%s needs a boolean, not a %s", what, type_name(e->type));
    return false;
}

static rexpr *parse_unary(xp *x)
{
    ws(x);
    if (*x->p == '!' && x->p[1] != '=') {
        size_t at = off(x);
        x->p++;
        if (++x->depth > MAX_DEPTH)
            return fail(x, at, "expression nested too deeply");
        rexpr *in = parse_unary(x);
        x->depth--;
        if (!in || !want_bool(x, in, "\"!\""))
            return NULL;
        rexpr *e = node(x, X_NOT, RT_BOOL, at);
        e->l = in;
        return e;
    }
    return parse_cmp(x);
}

static rexpr *parse_chain(xp *x, bool is_or)
{
    rexpr *l = is_or ? parse_chain(x, false) : parse_unary(x);
    for (;;) {
        if (!l)
            return NULL;
        ws(x);
        const char *tok = is_or ? "||" : "&&";
        if (strncmp(x->p, tok, 2) != 0)
            return l;
        size_t at = off(x);
        x->p += 2;
        rexpr *r = is_or ? parse_chain(x, false) : parse_unary(x);
        if (!r || !want_bool(x, l, tok) || !want_bool(x, r, tok))
            return NULL;
        rexpr *e = node(x, is_or ? X_OR : X_AND, RT_BOOL, at);
        e->l = l;
        e->r = r;
        l = e;
    }
}

static rexpr *parse_or(xp *x)
{
    if (++x->depth > MAX_DEPTH)
        return fail(x, off(x), "expression nested too deeply");
    rexpr *e = parse_chain(x, true);
    x->depth--;
    return e;
}

/* Type checks of function arguments; compiles literal regexes. */
static bool check_funcs(xp *x, rexpr *e)
{
    if (!e)
        return true;
    if (!check_funcs(x, e->l) || !check_funcs(x, e->r))
        return false;
    for (size_t i = 0; i < e->n; i++)
        if (!check_funcs(x, e->items[i]))
            return false;
    switch (e->op) {
    case X_EXISTS:
        if (e->l->op != X_PATH)
            return fail(x, e->l->off, "exists() takes a path"), false;
        return true;
    case X_STARTS:
    case X_ENDS:
    case X_MATCHES:
        if ((e->l->type != RT_ANY && e->l->type != RT_STR) ||
            (e->r->type != RT_ANY && e->r->type != RT_STR))
            return fail(x, e->off, "%s() takes strings",
                        e->op == X_STARTS ? "startsWith"
                        : e->op == X_ENDS ? "endsWith"
                                          : "matches"),
                   false;
        break;
    case X_CONTAINS:
        if (e->l->type != RT_ANY && e->l->type != RT_STR && e->l->type != RT_ARR)
            return fail(x, e->l->off, "contains() takes a string or an array, not a %s",
                        type_name(e->l->type)),
                   false;
        if (e->l->op == X_ARR)
            return fail(x, e->l->off, "use \"in\" to test an array literal"), false;
        return true;
    default:
        return true;
    }
    if (e->op == X_MATCHES && e->r->op == X_LIT) {
        e->re = rules__regex(x->a);
        int rc = regcomp(e->re, e->r->lit.s, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char m[128];
            regerror(rc, e->re, m, sizeof m);
            return fail(x, e->r->off, "invalid regular expression: %s", m), false;
        }
        rules__regex_compiled(x->a, e->re);
    }
    return true;
}

rexpr *rules__expr_compile(rules_arena *a, const char *src, const rules_root *roots, size_t nroots,
                           sy_error *err)
{
    xp x = {.a = a, .src = src, .p = src, .roots = roots, .nroots = nroots};
    rexpr *e = parse_or(&x);
    if (e) {
        ws(&x);
        if (*x.p)
            fail(&x, off(&x), "unexpected \"%.20s\"", x.p);
        else if (!want_bool(&x, e, "a condition"))
            e = NULL;
        else if (e->op == X_ARR)
            fail(&x, e->off, "a condition cannot be an array");
        else
            check_funcs(&x, e);
    }
    if (x.failed) {
        char where[32];
        snprintf(where, sizeof where, "@%zu", x.err_off);
        sy_error_set(err, SY_INVALID, "bad_expression", where, "%s", x.msg);
        return NULL;
    }
    return e;
}

/* ---- evaluation ------------------------------------------------------------- */

static xval from_json(const cJSON *j)
{
    xval v = {.k = RT_NULL};
    if (!j || cJSON_IsNull(j))
        return v;
    if (cJSON_IsBool(j)) {
        v.k = RT_BOOL;
        v.b = cJSON_IsTrue(j);
    } else if (cJSON_IsNumber(j)) {
        v.k = RT_NUM;
        v.n = j->valuedouble;
    } else if (cJSON_IsString(j)) {
        v.k = RT_STR;
        v.s = j->valuestring;
    } else {
        v.k = cJSON_IsArray(j) ? RT_ARR : RT_OBJ;
        v.j = j;
    }
    return v;
}

static xval eval(const rexpr *e, const cJSON *ctx);

static bool equal(const xval *a, const xval *b)
{
    if (a->k != b->k)
        return false;
    switch (a->k) {
    case RT_NULL:
        return true;
    case RT_BOOL:
        return a->b == b->b;
    case RT_NUM:
        return a->n == b->n;
    case RT_STR:
        return strcmp(a->s, b->s) == 0;
    case RT_ARR:
    case RT_OBJ:
        return a->j && b->j && cJSON_Compare(a->j, b->j, true);
    default:
        return false;
    }
}

static bool order(xop op, const xval *a, const xval *b)
{
    int c;
    if (a->k == RT_NUM && b->k == RT_NUM)
        c = a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
    else if (a->k == RT_STR && b->k == RT_STR)
        c = strcmp(a->s, b->s);
    else
        return false;
    if (a->k == RT_NUM && (isnan(a->n) || isnan(b->n)))
        return false;
    return op == X_LT ? c < 0 : op == X_LE ? c <= 0 : op == X_GT ? c > 0 : c >= 0;
}

static bool in_json_array(const xval *needle, const cJSON *arr)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        xval v = from_json(it);
        if (equal(needle, &v))
            return true;
    }
    return false;
}

static bool eval_in(const rexpr *e, const cJSON *ctx)
{
    xval l = eval(e->l, ctx);
    if (e->r->op == X_ARR) {
        for (size_t i = 0; i < e->r->n; i++) {
            xval v = eval(e->r->items[i], ctx);
            if (equal(&l, &v))
                return true;
        }
        return false;
    }
    xval r = eval(e->r, ctx);
    if (r.k == RT_ARR)
        return in_json_array(&l, r.j);
    if (r.k == RT_STR && l.k == RT_STR)
        return strstr(r.s, l.s) != NULL;
    return false;
}

static bool eval_matches(const rexpr *e, const xval *s, const xval *pat)
{
    if (s->k != RT_STR)
        return false;
    if (e->re)
        return regexec(e->re, s->s, 0, NULL, 0) == 0;
    if (pat->k != RT_STR)
        return false;
    regex_t re;
    if (regcomp(&re, pat->s, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool m = regexec(&re, s->s, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

static bool eval_func(const rexpr *e, const cJSON *ctx)
{
    if (e->op == X_EXISTS)
        return rules__path_get(e->l->path, ctx) != NULL;
    xval a = eval(e->l, ctx);
    xval b = e->op == X_MATCHES && e->re ? (xval){.k = RT_NULL} : eval(e->r, ctx);
    size_t la, lb;
    switch (e->op) {
    case X_STARTS:
    case X_ENDS:
        if (a.k != RT_STR || b.k != RT_STR)
            return false;
        la = strlen(a.s);
        lb = strlen(b.s);
        if (lb > la)
            return false;
        return memcmp(e->op == X_STARTS ? a.s : a.s + la - lb, b.s, lb) == 0;
    case X_CONTAINS:
        if (a.k == RT_STR && b.k == RT_STR)
            return strstr(a.s, b.s) != NULL;
        return a.k == RT_ARR && in_json_array(&b, a.j);
    case X_MATCHES:
        return eval_matches(e, &a, &b);
    default:
        return false;
    }
}

static xval boolean(bool b)
{
    return (xval){.k = RT_BOOL, .b = b};
}

static bool truthy(const xval *v)
{
    return v->k == RT_BOOL && v->b;
}

static xval eval(const rexpr *e, const cJSON *ctx)
{
    xval l, r;
    switch (e->op) {
    case X_LIT:
        return e->lit;
    case X_PATH:
        return from_json(rules__path_get(e->path, ctx));
    case X_ARR:
        return (xval){.k = RT_NULL};
    case X_NOT:
        l = eval(e->l, ctx);
        return boolean(!truthy(&l));
    case X_AND:
        l = eval(e->l, ctx);
        if (!truthy(&l))
            return boolean(false);
        r = eval(e->r, ctx);
        return boolean(truthy(&r));
    case X_OR:
        l = eval(e->l, ctx);
        if (truthy(&l))
            return boolean(true);
        r = eval(e->r, ctx);
        return boolean(truthy(&r));
    case X_EQ:
    case X_NE:
        l = eval(e->l, ctx);
        r = eval(e->r, ctx);
        return boolean(equal(&l, &r) == (e->op == X_EQ));
    case X_LT:
    case X_LE:
    case X_GT:
    case X_GE:
        l = eval(e->l, ctx);
        r = eval(e->r, ctx);
        return boolean(order(e->op, &l, &r));
    case X_IN:
        return boolean(eval_in(e, ctx));
    default:
        return boolean(eval_func(e, ctx));
    }
}

bool rules__expr_eval(const rexpr *e, const cJSON *ctx)
{
    xval v = eval(e, ctx);
    return truthy(&v);
}

sy_status rules_eval(const char *expr, const cJSON *ctx, bool *out, sy_error *err)
{
    rules_arena a = {0};
    rexpr *e = rules__expr_compile(&a, expr ? expr : "", NULL, 0, err);
    if (!e) {
        sy_error_prefix(err, "invalid expression \"%.100s\"", expr ? expr : "");
        rules__arena_free(&a);
        return SY_INVALID;
    }
    *out = rules__expr_eval(e, ctx);
    rules__arena_free(&a);
    return SY_OK;
}

/* ---- correlation keys (rules_corr_key, rules_corr_event_key) ---------------------- */

static bool is_event_path(const rexpr *e)
{
    return e->op == X_PATH && e->path->n > 0 && e->path->segs[0].key &&
           strcmp(e->path->segs[0].key, "event") == 0;
}

/* Whether e reads anything under `event`. */
static bool reads_event(const rexpr *e)
{
    if (!e)
        return false;
    if (is_event_path(e))
        return true;
    for (size_t i = 0; i < e->n; i++)
        if (reads_event(e->items[i]))
            return true;
    return reads_event(e->l) || reads_event(e->r);
}

/* The key text of a scalar (the same text for two values exactly when
 * `==` holds between them: a kind, then the value; -0 is 0); NULL for an
 * array, an object or NaN, which are never looked up by key. */
static char *key_text(const xval *v)
{
    sy_buf b = SY_BUF_INIT;
    switch (v->k) {
    case RT_NULL:
        sy_buf_puts(&b, "z:");
        break;
    case RT_BOOL:
        sy_buf_puts(&b, v->b ? "b:true" : "b:false");
        break;
    case RT_NUM:
        if (isnan(v->n))
            return NULL;
        sy_buf_printf(&b, "n:%.17g", v->n == 0 ? 0.0 : v->n);
        break;
    case RT_STR:
        sy_buf_printf(&b, "s:%s", v->s);
        break;
    default:
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

/* The first operand of e's top-level && chain that is `event.<path> ==
 * <value>` (either way round) with a value that does not read the event;
 * *ev_side is its event path. with_ctx: only a value that is no literal
 * (`input.order_id` keys a run apart from the others, `true` does not). */
static const rexpr *key_equality(const rexpr *e, bool with_ctx, const rexpr **ev_side,
                                 const rexpr **other)
{
    if (e->op == X_AND) {
        const rexpr *f = key_equality(e->l, with_ctx, ev_side, other);
        return f ? f : key_equality(e->r, with_ctx, ev_side, other);
    }
    if (e->op != X_EQ)
        return NULL;
    for (int flip = 0; flip < 2; flip++) {
        const rexpr *a = flip ? e->r : e->l, *b = flip ? e->l : e->r;
        if (is_event_path(a) && a->path->n > 1 && !reads_event(b) &&
            (!with_ctx || b->op != X_LIT)) {
            *ev_side = a;
            *other = b;
            return e;
        }
    }
    return NULL;
}

void rules_corr_key(const char *where, const cJSON *ctx, char **path, char **key)
{
    *path = *key = NULL;
    rules_arena a = {0};
    sy_error err;
    rexpr *e = where ? rules__expr_compile(&a, where, NULL, 0, &err) : NULL;
    const rexpr *ev = NULL, *other = NULL;
    if (e && (key_equality(e, true, &ev, &other) || key_equality(e, false, &ev, &other))) {
        xval v = eval(other, ctx);
        *key = key_text(&v);
        if (*key) {
            cJSON *p = cJSON_CreateArray();
            for (size_t i = 1; i < ev->path->n; i++) {
                const rpath_seg *sg = &ev->path->segs[i];
                cJSON_AddItemToArray(p, sg->key ? cJSON_CreateString(sg->key)
                                                : cJSON_CreateNumber((double)sg->index));
            }
            *path = cJSON_PrintUnformatted(p);
            cJSON_Delete(p);
        }
    }
    rules__arena_free(&a);
}

char *rules_corr_event_key(const cJSON *ev, const char *path)
{
    cJSON *p = cJSON_Parse(path);
    const cJSON *cur = ev, *sg;
    bool ok = cJSON_IsArray(p);
    cJSON_ArrayForEach(sg, p)
    {
        if (!cur)
            break;
        if (cJSON_IsString(sg))
            cur =
                cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, sg->valuestring) : NULL;
        else if (cJSON_IsNumber(sg))
            cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, (int)sg->valuedouble) : NULL;
        else
            ok = false;
    }
    cJSON_Delete(p);
    if (!ok)
        return NULL;
    xval v = from_json(cur);
    return key_text(&v);
}
