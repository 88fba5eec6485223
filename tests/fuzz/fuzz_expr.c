/* fuzz_expr.c: libFuzzer target for the `where` language and templates:
 * the input (up to the first NUL) is compiled and evaluated as an
 * expression and rendered as a template against a fixed event; nothing may
 * crash, whatever the input. */
#include "rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char event_json[] =
    "{\"event_id\":\"e1\",\"type\":\"kg.gap.ready\",\"source\":\"monolith\",\"subject\":\"s/1\","
    "\"schema_version\":2,\"occurred_at\":\"2026-01-02T03:04:05Z\",\"payload\":{\"priority\":3,"
    "\"kind\":\"kg\",\"tags\":[\"a\",\"b\"],\"n\":null,\"o\":{\"l\":[{\"id\":7}]}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    cJSON *ctx = cJSON_Parse(event_json);
    bool out;
    sy_error err;
    if (rules_eval(src, ctx, &out, &err) == SY_OK && out)
        out = false; /* the value does not matter, only that nothing crashes */
    char *text = NULL;
    if (rules_render_string(src, ctx, &text, &err) == SY_OK)
        free(text);
    cJSON *t = cJSON_CreateString(src), *r = NULL;
    if (rules_render(t, ctx, &r, &err) == SY_OK)
        cJSON_Delete(r);
    cJSON_Delete(t);
    (void)rules_workflow_id_valid(src);
    cJSON_Delete(ctx);
    free(src);
    return 0;
}
