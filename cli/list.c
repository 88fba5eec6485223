/* list.c: printing the one shape of every list command (list.h). */
#include "list.h"

#include "json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static void print_line(const cJSON *o)
{
    char *t = cJSON_PrintUnformatted(o);
    printf("%s\n", t ? t : "{}");
    free(t);
}

void cli_list_print_json(const char *noun, cJSON *items, const char *next)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, noun, items ? items : cJSON_CreateArray());
    cJSON_AddItemToObject(o, "next_page_token",
                          next ? cJSON_CreateString(next) : cJSON_CreateNull());
    print_line(o);
    cJSON_Delete(o);
}

void cli_list_print_next(const char *next)
{
    if (next)
        printf("next page: --page %s\n", next);
}

void cli_list_print(const cJSON *list, const char *noun, bool json, void (*row)(const cJSON *item))
{
    if (json) {
        print_line(list);
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, sy_json_get(list, noun))
    {
        row(it);
    }
    cli_list_print_next(sy_json_get_string(list, "next_page_token"));
}

sy_status cli_list_number_token(const char *token, const char *list, int64_t *out, sy_error *err)
{
    char *end = NULL;
    long long v = strtoll(token, &end, 10);
    if (*token < '0' || *token > '9' || *end || v < 0)
        return sy_error_set(err, SY_USAGE, "bad_page_token", "--page",
                            "\"%.40s\" is not a page token of %s", token, list);
    *out = v;
    return SY_OK;
}
