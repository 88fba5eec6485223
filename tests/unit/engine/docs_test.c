/* The engine's documented formats, read from the docs themselves, so a page
 * that drifts from the code fails here: the task.created example of
 * docs/worker-protocol.md carries a task_id of the engine's form,
 * <run_id>:<step key> (engine/interp.c), never <run_id>:<step name>. */
#include "fixture.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* The whole file under the source tree (owned). */
static char *slurp(const char *rel)
{
    FILE *f = fopen(fixture_source_path(rel), "rb");
    CHECK_MSG(f != NULL, "cannot open %s", rel);
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

/* The first ```json block of text that contains needle (owned), or NULL. */
static char *json_block_with(const char *text, const char *needle)
{
    for (const char *p = strstr(text, "```json\n"); p; p = strstr(p + 1, "```json\n")) {
        const char *start = p + 8, *end = strstr(start, "```");
        if (!end)
            return NULL;
        char *block = strndup(start, (size_t)(end - start));
        if (strstr(block, needle))
            return block;
        free(block);
    }
    return NULL;
}

TEST(worker_protocol_example_task_id_is_run_id_and_step_key)
{
    char *doc = slurp("docs/worker-protocol.md");
    char *block = json_block_with(doc, "\"switchyard.task.created\"");
    CHECK_MSG(block != NULL, "no task.created example in docs/worker-protocol.md");
    cJSON *ev = cJSON_Parse(block);
    CHECK_MSG(ev != NULL, "the example is not JSON:\n%s", block);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(ev, "payload");
    const char *run = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "run_id"));
    const char *step = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "step"));
    const char *task_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "task_id"));
    CHECK(run && task_id);
    CHECK_MSG(step != NULL, "the example has no payload.step");
    char want[256];
    snprintf(want, sizeof want, "%s:%s", run, step);
    CHECK_STR(task_id, want);
    cJSON_Delete(ev);
    free(block);
    free(doc);
}

/* No page describes the id by the step's name. */
TEST(no_doc_says_task_ids_use_the_step_name)
{
    const char *pages[] = {"docs/worker-protocol.md", "docs/outcome-events.md",
                           "docs/workflow-definition.md", "engine/README.md", "README.md"};
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
        char *doc = slurp(pages[i]);
        CHECK_MSG(strstr(doc, ":<step name>") == NULL, "%s: task ids are <run_id>:<step key>",
                  pages[i]);
        free(doc);
    }
}
