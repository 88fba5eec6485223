/* Fuzz target: engine_report_parse (worker reports) never crashes and
 * either gives a report or a precise error, never half a result. */
#include "reports.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = NULL;
    engine_report r;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = engine_report_parse((const char *)data, size, &j, &r, &err);
    if (st == SY_OK && (!j || !r.task_id || r.attempt < 1))
        abort();
    if (st != SY_OK && (j || !err.code[0]))
        abort();
    cJSON_Delete(j);
    return 0;
}
