/* templates.c: the engine's use of rules/'s template and expression code
 * (one copy of it, in rules/). A value without "{{" is used as is, which
 * spares the renderer on the hot path of one-step workflows. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

static bool has_template(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strstr(v->valuestring, "{{") != NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        if (has_template(c))
            return true;
    }
    return false;
}

sy_status engine__render(const cJSON *tmpl, const cJSON *ctx, cJSON **out, sy_error *err)
{
    *out = NULL;
    if (!has_template(tmpl)) {
        *out = cJSON_Duplicate(tmpl, 1);
        return SY_OK;
    }
    return rules_render(tmpl, ctx, out, err);
}

sy_status engine__eval(const char *expr, const cJSON *ctx, bool *out, sy_error *err)
{
    *out = false;
    if (strcmp(expr, "true") == 0 || strcmp(expr, "false") == 0) {
        *out = expr[0] == 't';
        return SY_OK;
    }
    return rules_eval(expr, ctx, out, err);
}

sy_status engine__render_text(const cJSON *tmpl, const cJSON *ctx, char **out, sy_error *err)
{
    *out = NULL;
    if (!cJSON_IsString(tmpl))
        return SY_OK; /* absent or null: no value */
    if (!strstr(tmpl->valuestring, "{{")) {
        *out = strdup(tmpl->valuestring);
        return *out ? SY_OK : SY_NOMEM;
    }
    return rules_render_text(tmpl->valuestring, ctx, out, err);
}
