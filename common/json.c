/* json.c: the strict JSON parser of json.h, plus path and output helpers.
 *
 * One recursive-descent pass over the bytes builds the cJSON tree directly
 * (no second walk for validation): UTF-8 is checked while strings are
 * decoded, duplicate keys while members are linked (a linear scan for small
 * objects, a hash set once an object grows past DUP_LINEAR members, so a
 * hostile 1 MiB object of distinct keys stays linear), depth on every
 * container. The JSON path of an error is rebuilt only when an error happens,
 * from a stack of (key, index) frames, so the happy path never formats
 * paths. */
#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Depth is capped so that the frame stack can live on the C stack. */
#define JSON_MAX_DEPTH_CAP 256
#define DUP_LINEAR 16

typedef struct frame {
    const char *key; /* member key being parsed (objects), borrowed */
    size_t index;    /* element index being parsed (arrays) */
    bool is_array;
} frame;

typedef struct parser {
    const unsigned char *start, *p, *end;
    size_t depth, max_depth;
    const char *prefix;
    sy_error *err;
    bool failed;
    sy_status status; /* of the failure */
    frame frames[JSON_MAX_DEPTH_CAP + 1];
} parser;

static cJSON *parse_value(parser *ps);

/* ---- errors ---------------------------------------------------------- */

static void build_path(const parser *ps, sy_buf *b)
{
    if (ps->prefix && *ps->prefix)
        sy_buf_puts(b, ps->prefix);
    for (size_t i = 0; i < ps->depth; i++) {
        const frame *f = &ps->frames[i];
        if (f->is_array)
            sy_json_path_index(b, f->index);
        else if (f->key)
            sy_json_path_key(b, f->key);
    }
}

static cJSON *fail_at(parser *ps, const unsigned char *at, const char *code, const char *what)
{
    if (ps->failed)
        return NULL;
    ps->failed = true;
    ps->status = strcmp(code, "nomem") == 0 ? SY_NOMEM : SY_INVALID;
    size_t line = 1, col = 1;
    for (const unsigned char *q = ps->start; q < at && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    sy_buf path = SY_BUF_INIT;
    build_path(ps, &path);
    sy_error_set(ps->err, ps->status, code, sy_buf_str(&path),
                 "%s at byte %zu (line %zu, column %zu)", what, (size_t)(at - ps->start), line,
                 col);
    sy_buf_cleanup(&path);
    return NULL;
}

static cJSON *fail(parser *ps, const char *code, const char *what)
{
    return fail_at(ps, ps->p, code, what);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

/* ---- strings --------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (< end), or 0 when invalid
 * (overlong, surrogate, above U+10FFFF, truncated). s[0] >= 0x80. */
static size_t utf8_seq_len(const unsigned char *s, const unsigned char *end)
{
    unsigned char c = s[0];
    size_t n = end - s;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
            return 0; /* overlong, or a UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
            return 0; /* overlong, or above U+10FFFF */
        return 4;
    }
    return 0;
}

static int hex4(const unsigned char *s, const unsigned char *end, unsigned *out)
{
    if (end - s < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes a \u escape at ps->p (pointing after the 'u') into o. */
static bool decode_u_escape(parser *ps, char *o, size_t *olen)
{
    unsigned cp, lo;
    if (hex4(ps->p, ps->end, &cp) != 0)
        return fail(ps, SY_JSON_ERR_BAD_JSON, "bad \\u escape in string"), false;
    ps->p += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(ps, SY_JSON_ERR_BAD_UTF8, "lone low surrogate \\u escape in string"), false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
            hex4(ps->p + 2, ps->end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return fail(ps, SY_JSON_ERR_BAD_UTF8, "lone high surrogate \\u escape in string"),
                   false;
        ps->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return fail(ps, SY_JSON_ERR_BAD_JSON, "\\u0000 is not allowed in strings"), false;
    *olen += put_utf8(o + *olen, cp);
    return true;
}

static bool decode_escape(parser *ps, char *o, size_t *olen)
{
    unsigned char c = *ps->p++;
    char r;
    switch (c) {
    case '"':
        r = '"';
        break;
    case '\\':
        r = '\\';
        break;
    case '/':
        r = '/';
        break;
    case 'b':
        r = '\b';
        break;
    case 'f':
        r = '\f';
        break;
    case 'n':
        r = '\n';
        break;
    case 'r':
        r = '\r';
        break;
    case 't':
        r = '\t';
        break;
    case 'u':
        return decode_u_escape(ps, o, olen);
    default:
        ps->p--;
        return fail(ps, SY_JSON_ERR_BAD_JSON, "bad escape in string"), false;
    }
    o[(*olen)++] = r;
    return true;
}

/* Parses a string at ps->p (the opening quote). Returns a malloc'd,
 * NUL-terminated copy, or NULL with the error set. The decoded form is never
 * longer than the raw form, so one allocation of the raw length suffices. */
static char *parse_string(parser *ps)
{
    const unsigned char *q = ++ps->p;
    /* fast path: printable ASCII without escapes is copied as is */
    while (q < ps->end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
        q++;
    if (q < ps->end && *q == '"') {
        char *plain = malloc((size_t)(q - ps->p) + 1);
        if (!plain)
            return fail(ps, "nomem", "out of memory"), NULL;
        memcpy(plain, ps->p, (size_t)(q - ps->p));
        plain[q - ps->p] = '\0';
        ps->p = q + 1;
        return plain;
    }
    while (q < ps->end && *q != '"')
        q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    if (q >= ps->end)
        return fail(ps, SY_JSON_ERR_BAD_JSON, "unterminated string"), NULL;
    char *o = malloc((size_t)(q - ps->p) + 1);
    if (!o)
        return fail(ps, "nomem", "out of memory"), NULL;
    size_t olen = 0;
    while (ps->p < q) {
        unsigned char c = *ps->p;
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            o[olen++] = (char)c;
            ps->p++;
        } else if (c == '\\') {
            ps->p++;
            if (!decode_escape(ps, o, &olen))
                goto bad;
        } else if (c < 0x20) {
            fail(ps, SY_JSON_ERR_BAD_JSON, "control character in string");
            goto bad;
        } else {
            size_t n = utf8_seq_len(ps->p, q);
            if (n == 0) {
                fail(ps, SY_JSON_ERR_BAD_UTF8, "invalid UTF-8 in string");
                goto bad;
            }
            memcpy(o + olen, ps->p, n);
            olen += n;
            ps->p += n;
        }
    }
    o[olen] = '\0';
    ps->p = q + 1;
    return o;
bad:
    free(o);
    return NULL;
}

/* ---- numbers and literals --------------------------------------------- */

static size_t scan_digits(parser *ps)
{
    const unsigned char *s = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
        ps->p++;
    return (size_t)(ps->p - s);
}

static cJSON *parse_number(parser *ps)
{
    const unsigned char *s = ps->p;
    if (*ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return fail(ps, SY_JSON_ERR_BAD_JSON, "bad number");
    size_t nint = scan_digits(ps);
    if (nint > 1 && s[s[0] == '-'] == '0')
        return fail_at(ps, s, SY_JSON_ERR_BAD_JSON, "leading zero in number");
    bool is_int = true;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        is_int = false;
        if (scan_digits(ps) == 0)
            return fail(ps, SY_JSON_ERR_BAD_JSON, "bad number: digits expected after '.'");
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        is_int = false;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (scan_digits(ps) == 0)
            return fail(ps, SY_JSON_ERR_BAD_JSON, "bad number: digits expected in exponent");
    }
    double d;
    if (is_int && nint <= 15) {
        /* exact in a double: skip strtod, the common case for ids and counts */
        int64_t v = 0;
        for (const unsigned char *q = s + (s[0] == '-'); q < ps->p; q++)
            v = v * 10 + (*q - '0');
        d = (double)(s[0] == '-' ? -v : v);
    } else {
        size_t n = (size_t)(ps->p - s);
        char small[64], *tmp = n < sizeof small ? small : malloc(n + 1);
        if (!tmp)
            return fail(ps, "nomem", "out of memory");
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        d = strtod(tmp, NULL);
        if (tmp != small)
            free(tmp);
        if (!isfinite(d))
            return fail_at(ps, s, SY_JSON_ERR_BAD_JSON, "number out of range");
    }
    cJSON *item = cJSON_CreateNumber(d);
    return item ? item : fail(ps, "nomem", "out of memory");
}

static cJSON *parse_literal(parser *ps)
{
    static const struct {
        const char *word;
        size_t len;
        int type;
    } lits[] = {{"true", 4, cJSON_True}, {"false", 5, cJSON_False}, {"null", 4, cJSON_NULL}};
    for (size_t i = 0; i < 3; i++) {
        if ((size_t)(ps->end - ps->p) >= lits[i].len &&
            memcmp(ps->p, lits[i].word, lits[i].len) == 0) {
            ps->p += lits[i].len;
            cJSON *item = lits[i].type == cJSON_True    ? cJSON_CreateTrue()
                          : lits[i].type == cJSON_False ? cJSON_CreateFalse()
                                                        : cJSON_CreateNull();
            return item ? item : fail(ps, "nomem", "out of memory");
        }
    }
    return fail(ps, SY_JSON_ERR_BAD_JSON, "unexpected character");
}

/* ---- containers -------------------------------------------------------- */

static void link_child(cJSON *parent, cJSON **tail, cJSON *item)
{
    if (!*tail) {
        parent->child = item;
    } else {
        (*tail)->next = item;
        item->prev = *tail;
    }
    parent->child->prev = item; /* cJSON keeps the last element in child->prev */
    *tail = item;
}

typedef struct keyset {
    const cJSON **slots; /* open addressing; NULL = empty */
    size_t cap, n;
    uint32_t small[DUP_LINEAR]; /* key hashes of the first members */
} keyset;

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Inserts item's key; returns 1 when it was already there, -1 on NOMEM. */
static int keyset_add(keyset *ks, const cJSON *item)
{
    if (ks->n * 2 >= ks->cap) {
        size_t ncap = ks->cap ? ks->cap * 2 : 64;
        const cJSON **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < ks->cap; i++) {
            if (!ks->slots[i])
                continue;
            size_t j = hash_key(ks->slots[i]->string) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = ks->slots[i];
        }
        free(ks->slots);
        ks->slots = ns;
        ks->cap = ncap;
    }
    size_t j = hash_key(item->string) & (ks->cap - 1);
    for (; ks->slots[j]; j = (j + 1) & (ks->cap - 1))
        if (strcmp(ks->slots[j]->string, item->string) == 0)
            return 1;
    ks->slots[j] = item;
    ks->n++;
    return 0;
}

/* Returns 1 when item's key duplicates an earlier member, -1 on NOMEM.
 * Small objects compare a cheap hash of each key first (ks->small), so
 * strcmp runs only on a likely duplicate. */
static int check_duplicate(keyset *ks, const cJSON *obj, const cJSON *item, size_t n)
{
    if (n < DUP_LINEAR) {
        uint32_t h = (uint32_t)hash_key(item->string);
        size_t i = 0;
        for (const cJSON *c = obj->child; c; c = c->next, i++)
            if (ks->small[i] == h && strcmp(c->string, item->string) == 0)
                return 1;
        ks->small[n] = h;
        return 0;
    }
    if (!ks->slots) {
        for (const cJSON *c = obj->child; c; c = c->next)
            if (keyset_add(ks, c) < 0)
                return -1;
    }
    return keyset_add(ks, item);
}

static bool enter(parser *ps, bool is_array)
{
    if (ps->depth >= ps->max_depth) {
        fail(ps, SY_JSON_ERR_TOO_DEEP, "nesting is deeper than the limit");
        return false;
    }
    frame *f = &ps->frames[ps->depth++];
    f->is_array = is_array;
    f->key = NULL;
    f->index = 0;
    return true;
}

/* Parses one "key": value member of obj; returns false on error. */
static bool parse_member(parser *ps, cJSON *obj, cJSON **tail, keyset *ks, size_t n)
{
    frame *f = &ps->frames[ps->depth - 1];
    f->key = NULL;
    if (ps->p >= ps->end || *ps->p != '"')
        return fail(ps, SY_JSON_ERR_BAD_JSON, "expected a string key"), false;
    const unsigned char *key_at = ps->p;
    char *key = parse_string(ps);
    if (!key)
        return false;
    f->key = key;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':') {
        fail(ps, SY_JSON_ERR_BAD_JSON, "expected ':'");
        return free(key), false;
    }
    ps->p++;
    skip_ws(ps);
    cJSON *val = parse_value(ps);
    if (!val)
        return free(key), false;
    val->string = key;
    int dup = check_duplicate(ks, obj, val, n);
    if (dup != 0) {
        /* the error path names the duplicate; frames still point at key */
        fail_at(ps, key_at, dup < 0 ? "nomem" : SY_JSON_ERR_DUPLICATE_KEY,
                dup < 0 ? "out of memory" : "duplicate key");
        cJSON_Delete(val);
        return false;
    }
    link_child(obj, tail, val);
    return true;
}

static cJSON *parse_object(parser *ps)
{
    if (!enter(ps, false))
        return NULL;
    cJSON *obj = cJSON_CreateObject(), *tail = NULL;
    keyset ks;
    ks.slots = NULL;
    ks.cap = ks.n = 0;
    if (!obj)
        return fail(ps, "nomem", "out of memory");
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        goto done;
    }
    for (size_t n = 0;; n++) {
        if (!parse_member(ps, obj, &tail, &ks, n))
            goto bad;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        fail(ps, SY_JSON_ERR_BAD_JSON, "expected ',' or '}'");
        goto bad;
    }
done:
    free(ks.slots);
    ps->depth--;
    return obj;
bad:
    free(ks.slots);
    cJSON_Delete(obj);
    return NULL;
}

static cJSON *parse_array(parser *ps)
{
    if (!enter(ps, true))
        return NULL;
    frame *f = &ps->frames[ps->depth - 1];
    cJSON *arr = cJSON_CreateArray(), *tail = NULL;
    if (!arr)
        return fail(ps, "nomem", "out of memory");
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ps->depth--;
        return arr;
    }
    for (;; f->index++) {
        cJSON *val = parse_value(ps);
        if (!val)
            goto bad;
        link_child(arr, &tail, val);
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            break;
        }
        fail(ps, SY_JSON_ERR_BAD_JSON, "expected ',' or ']'");
        goto bad;
    }
    ps->depth--;
    return arr;
bad:
    cJSON_Delete(arr);
    return NULL;
}

static cJSON *parse_value(parser *ps)
{
    if (ps->p >= ps->end)
        return fail(ps, SY_JSON_ERR_BAD_JSON, "unexpected end of input");
    switch (*ps->p) {
    case '{':
        return parse_object(ps);
    case '[':
        return parse_array(ps);
    case '"': {
        char *s = parse_string(ps);
        if (!s)
            return NULL;
        cJSON *item = cJSON_CreateStringReference(""); /* then own s */
        if (!item) {
            free(s);
            return fail(ps, "nomem", "out of memory");
        }
        item->type = cJSON_String;
        item->valuestring = s;
        return item;
    }
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number(ps);
    default:
        if (*ps->p >= 0x80 && utf8_seq_len(ps->p, ps->end) == 0)
            return fail(ps, SY_JSON_ERR_BAD_UTF8, "invalid UTF-8");
        return parse_literal(ps);
    }
}

sy_status sy_json_parse(const char *text, size_t len, size_t max_depth, const char *path_prefix,
                        cJSON **out, sy_error *err)
{
    parser ps; /* ~6 KiB of frames on the stack: no allocation per parse */
    *out = NULL;
    if (!text && len == 0)
        text = ""; /* e.g. an empty protobuf bytes field: NULL + 0 is undefined */
    ps.start = ps.p = (const unsigned char *)text;
    ps.end = ps.start + len;
    ps.depth = 0;
    ps.max_depth = max_depth == 0                   ? SY_JSON_DEFAULT_DEPTH
                   : max_depth > JSON_MAX_DEPTH_CAP ? JSON_MAX_DEPTH_CAP
                                                    : max_depth;
    ps.prefix = path_prefix;
    ps.err = err;
    ps.failed = false;
    ps.status = SY_OK;
    skip_ws(&ps);
    cJSON *root = ps.p < ps.end ? parse_value(&ps) : fail(&ps, SY_JSON_ERR_BAD_JSON, "empty input");
    if (root) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            fail(&ps, SY_JSON_ERR_BAD_JSON, "trailing characters after the JSON value");
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (!root)
        return ps.status;
    *out = root;
    return SY_OK;
}

/* ---- helpers ------------------------------------------------------------ */

bool sy_json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_seq_len(p, end);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

const cJSON *sy_json_get(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

const char *sy_json_get_string(const cJSON *obj, const char *key)
{
    const cJSON *v = sy_json_get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool plain_key(const char *key)
{
    if (!*key)
        return false;
    for (const char *s = key; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '$'))
            return false;
    }
    return true;
}

void sy_json_path_key(sy_buf *b, const char *key)
{
    if (plain_key(key)) {
        if (b->len)
            sy_buf_putc(b, '.');
        sy_buf_puts(b, key);
        return;
    }
    sy_buf_putc(b, '[');
    sy_json_append_string(b, key);
    sy_buf_putc(b, ']');
}

void sy_json_path_index(sy_buf *b, size_t index)
{
    sy_buf_printf(b, "[%zu]", index);
}

void sy_json_append_string(sy_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sy_buf_putc(b, '"');
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sy_buf_append(b, run, (size_t)(s - run));
        run = s + 1;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
        }
        sy_buf_puts(b, esc);
    }
    sy_buf_append(b, run, (size_t)(s - run));
    sy_buf_putc(b, '"');
}

void sy_json_append(sy_buf *b, const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    if (!text)
        abort(); /* out of memory: same policy as sy_buf */
    sy_buf_puts(b, text);
    free(text);
}
