/* Fuzz target for the cron parser and next-fire computation (common/cron.h)
 * and, with the same bytes, the TZif reader (common/tz.h). A cron spec must
 * parse or fail with a message and a column inside the spec; a parsed one
 * must give a next fire strictly after the start, or SY_CRON_NEVER. */
#include "cron.h"
#include "tz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_cron(const char *spec, size_t len, const sy_tz *tz)
{
    sy_cron *c = NULL;
    sy_error err;
    size_t col = 0;
    sy_status st = sy_cron_parse_col(spec, &c, &col, &err);
    if (st != SY_OK) {
        if (st != SY_INVALID || c != NULL || err.message[0] == '\0' || col < 1 || col > len + 1)
            abort();
        return;
    }
    int64_t t = INT64_C(1772953200000) - 86400000; /* the day before a DST change */
    for (int i = 0; i < 5; i++) {
        int64_t next = sy_cron_next(c, tz, t);
        if (next == SY_CRON_NEVER)
            break;
        if (next <= t)
            abort();
        t = next;
    }
    sy_cron_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 && memcmp(data, "TZif", 4) == 0) {
        sy_tz *tz = NULL;
        sy_error err;
        if (sy_tz_parse(data, size, "fuzz", &tz, &err) == SY_OK) {
            int64_t u = 0;
            sy_tz_local_to_utc(tz, 1772953200, &u);
            (void)sy_tz_offset(tz, INT64_C(7258118400));
            (void)sy_tz_next_transition(tz, 0);
        }
        sy_tz_free(tz);
        return 0;
    }
    char *spec = malloc(size + 1);
    if (!spec)
        return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    size_t len = strlen(spec);
    sy_tz *tz = NULL;
    sy_error err;
    if (len % 2 == 1 && sy_tz_load("America/New_York", &tz, &err) != SY_OK)
        tz = NULL;
    check_cron(spec, len, tz);
    sy_tz_free(tz);
    free(spec);
    return 0;
}
