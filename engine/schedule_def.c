/* schedule_def.c: schedule definitions: validation of the normalised
 * object (docs/workflow-definition.md), overlap policy names, the firing's
 * workflow ID, deterministic jitter, a per-call time zone cache and small
 * SQL text helpers shared by the schedule files. */
#include "schedule_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const overlap_names[] = {"skip",         "buffer_one",      "buffer_all",
                                            "cancel_other", "terminate_other", "allow_all"};

bool engine_overlap_parse(const char *s, engine_overlap *out)
{
    for (size_t i = 0; s && i < sizeof overlap_names / sizeof overlap_names[0]; i++) {
        if (strcmp(s, overlap_names[i]) == 0) {
            *out = (engine_overlap)i;
            return true;
        }
    }
    return false;
}

const char *engine_overlap_name(engine_overlap o)
{
    return (size_t)o < sizeof overlap_names / sizeof overlap_names[0] ? overlap_names[o] : "?";
}

void engine_schedule_workflow_id(const char *id, int64_t scheduled_for_ms, char *buf, size_t size)
{
    char ts[SY_RFC3339_MAX];
    sy_format_rfc3339_utc(scheduled_for_ms, ts, sizeof ts);
    snprintf(buf, size, "%s:%s", id, ts);
}

int64_t sched__jitter(const char *id, int64_t scheduled_for_ms, int64_t jitter_ms)
{
    if (jitter_ms <= 0)
        return 0;
    uint64_t h = 1469598103934665603u; /* FNV-1a over id and the slot */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    for (int i = 0; i < 8; i++)
        h = (h ^ ((uint64_t)scheduled_for_ms >> (i * 8) & 0xff)) * 1099511628211u;
    return (int64_t)(h % (uint64_t)jitter_ms);
}

/* ---- validation ---------------------------------------------------------- */

static sy_status bad(sy_error *err, const char *path, const char *msg, const char *arg)
{
    return sy_error_set(err, SY_INVALID, "bad_schedule", path, "%s%s%s%s", msg, arg ? " \"" : "",
                        arg ? arg : "", arg ? "\"" : "");
}

static sy_status read_string(const cJSON *def, const char *key, const char *dflt, const char **out,
                             sy_error *err)
{
    const cJSON *v = sy_json_get(def, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return dflt ? SY_OK : bad(err, key, "missing required member", NULL);
    }
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return bad(err, key, "must be a non-empty string", NULL);
    *out = v->valuestring;
    return SY_OK;
}

static sy_status read_int(const cJSON *def, const char *key, int64_t dflt, int64_t *out,
                          sy_error *err)
{
    const cJSON *v = sy_json_get(def, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return SY_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9.0e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return bad(err, key, "must be a non-negative integer", NULL);
    *out = (int64_t)v->valuedouble;
    return SY_OK;
}

static sy_status check_id(const char *id, sy_error *err)
{
    char wid[300];
    engine_schedule_workflow_id(id, 1, wid, sizeof wid); /* the longest form: with ms */
    if (strlen(id) > SCHED_ID_MAX || !rules_workflow_id_valid(wid))
        return sy_error_set(err, SY_INVALID, "bad_schedule", "id",
                            "schedule id must be 1-%d characters of [A-Za-z0-9._:/-], got "
                            "\"%.40s\"",
                            SCHED_ID_MAX, id);
    return SY_OK;
}

static sy_status check_cron_tz(const sched__def *d, sy_error *err)
{
    sy_cron *c = NULL;
    sy_status st = sy_cron_parse(d->cron, &c, err);
    if (st != SY_OK) {
        if (err)
            snprintf(err->path, sizeof err->path, "cron");
        return st;
    }
    sy_tz *tz = NULL;
    st = sy_tz_load(d->timezone, &tz, err);
    sy_tz_free(tz);
    if (st == SY_OK)
        st = sy_cron_check_zone(c, d->timezone, err);
    sy_cron_free(c);
    if (st != SY_OK && err)
        snprintf(err->path, sizeof err->path, "timezone");
    return st;
}

sy_status sched__def_read(const cJSON *def, const engine *eng, sched__def *out, sy_error *err)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(def))
        return bad(err, "", "a schedule must be an object", NULL);
    const char *overlap = NULL;
    sy_status st = read_string(def, "id", NULL, &out->id, err);
    if (st == SY_OK)
        st = check_id(out->id, err);
    if (st == SY_OK)
        st = read_string(def, "cron", NULL, &out->cron, err);
    if (st == SY_OK)
        st = read_string(def, "timezone", "UTC", &out->timezone, err);
    if (st == SY_OK)
        st = read_string(def, "workflow", NULL, &out->workflow, err);
    if (st == SY_OK)
        st = read_string(def, "overlap", "skip", &overlap, err);
    if (st == SY_OK && !engine_overlap_parse(overlap, &out->overlap))
        st = bad(err, "overlap",
                 "must be skip, buffer_one, buffer_all, cancel_other, terminate_other or "
                 "allow_all, got",
                 overlap);
    if (st == SY_OK)
        st = read_int(def, "catchup_window_ms", 3600000, &out->catchup_window_ms, err);
    if (st == SY_OK)
        st = read_int(def, "jitter_ms", 0, &out->jitter_ms, err);
    if (st == SY_OK)
        st = read_int(def, "limited_actions", 0, &out->limited_actions, err);
    if (st == SY_OK && out->limited_actions > INT32_MAX)
        st = bad(err, "limited_actions", "is too large", NULL);
    if (st != SY_OK)
        return st;
    const cJSON *paused = sy_json_get(def, "paused");
    if (paused && !cJSON_IsBool(paused) && !cJSON_IsNull(paused))
        return bad(err, "paused", "must be true or false", NULL);
    out->paused = cJSON_IsTrue(paused);
    out->input = sy_json_get(def, "input");
    if (out->input && cJSON_IsNull(out->input))
        out->input = NULL;
    if ((st = check_cron_tz(out, err)) != SY_OK)
        return st;
    /* an engine without definitions (the CLI's) cannot know the types */
    if (eng && eng->ndefs > 0 && !engine__def_by_type(eng, out->workflow))
        return bad(err, "workflow", "unknown workflow type", out->workflow);
    return SY_OK;
}

sy_status engine_schedule_validate(const cJSON *def, sy_error *err)
{
    sched__def d;
    return sched__def_read(def, NULL, &d, err);
}

char *sched__def_text(const sched__def *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", d->id);
    cJSON_AddStringToObject(o, "cron", d->cron);
    cJSON_AddStringToObject(o, "timezone", d->timezone);
    cJSON_AddStringToObject(o, "workflow", d->workflow);
    cJSON_AddItemToObject(o, "input",
                          d->input ? cJSON_Duplicate(d->input, 1) : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "overlap", engine_overlap_name(d->overlap));
    cJSON_AddNumberToObject(o, "catchup_window_ms", (double)d->catchup_window_ms);
    cJSON_AddNumberToObject(o, "jitter_ms", (double)d->jitter_ms);
    cJSON_AddBoolToObject(o, "paused", d->paused);
    cJSON_AddNumberToObject(o, "limited_actions", (double)d->limited_actions);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* ---- zones ------------------------------------------------------------------ */

const sy_tz *sched__tz_get(sched__tzcache *c, const char *name, sy_error *err)
{
    for (size_t i = 0; i < c->len; i++)
        if (strcmp(c->items[i].name, name) == 0)
            return c->items[i].tz;
    sy_tz *tz = NULL;
    if (sy_tz_load(name, &tz, err) != SY_OK)
        return NULL;
    if (c->len == sizeof c->items / sizeof c->items[0]) { /* full: evict the oldest */
        free(c->items[0].name);
        sy_tz_free(c->items[0].tz);
        memmove(&c->items[0], &c->items[1], (c->len - 1) * sizeof c->items[0]);
        c->len--;
    }
    c->items[c->len].name = strdup(name);
    c->items[c->len].tz = tz;
    c->len++;
    return tz;
}

void sched__tzcache_cleanup(sched__tzcache *c)
{
    for (size_t i = 0; i < c->len; i++) {
        free(c->items[i].name);
        sy_tz_free(c->items[i].tz);
    }
    c->len = 0;
}

/* ---- SQL text ------------------------------------------------------------------ */

void sched__pg_array_str(sy_buf *b, const char *s)
{
    if (b->len > 0 && b->data[b->len - 1] != '{')
        sy_buf_putc(b, ',');
    if (!s) {
        sy_buf_puts(b, "NULL");
        return;
    }
    /* copies the runs between escapes whole: outcome bodies are long */
    sy_buf_putc(b, '"');
    for (const char *p = s;;) {
        size_t run = strcspn(p, "\"\\");
        sy_buf_append(b, p, run);
        p += run;
        if (!*p)
            break;
        sy_buf_putc(b, '\\');
        sy_buf_putc(b, *p++);
    }
    sy_buf_putc(b, '"');
}

void sched__ms_text(int64_t ms, char *buf, size_t size)
{
    if (ms < 0)
        snprintf(buf, size, "NULL");
    else
        snprintf(buf, size, "%lld", (long long)ms);
}
