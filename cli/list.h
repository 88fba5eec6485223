/* list.h: the one output shape of every list command (`workflow list`,
 * `workflow history`, `schedule list`, `dlq list`, `task list`; docs/cli.md,
 * "Lists").
 *
 * -o json: one line, {"<noun>": [items], "next_page_token": "<token>" | null}
 * (the HTTP API's shape, docs/http-api.md); the token, given back as
 * --page TOKEN, is the next page; null: this was the last. Text: the rows,
 * then "next page: --page <token>" when there is one. */
#ifndef SY_CLI_LIST_H
#define SY_CLI_LIST_H

#include "status.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Prints {"<noun>": items, "next_page_token": next} to stdout. items is
 * taken (NULL: []); next borrowed (NULL: null). */
void cli_list_print_json(const char *noun, cJSON *items, const char *next);

/* A page token that is a number (the last sequence number or id of the
 * previous page) into *out; SY_USAGE (at --page, naming the list) when it is
 * not one. Pure. */
sy_status cli_list_number_token(const char *token, const char *list, int64_t *out,
                                sy_error *err) SY_MUST_USE;

/* Text mode's last line, when next is not NULL. */
void cli_list_print_next(const char *next);

/* Prints a list object that already has the shape (an engine's answer:
 * engine_list, engine_schedule_list, engine_task_list) in the output
 * format: JSON as is, else each item through row (text) and the next line.
 * list borrowed. */
void cli_list_print(const cJSON *list, const char *noun, bool json, void (*row)(const cJSON *item));

#endif
