/* Unit tests of router/admin_query.c, the workflow list's query box: every
 * field and operator, dates, quoting, and errors that say where and why. */
#include "admin_query.h"
#include "test.h"

#include <string.h>

static admin_query q;
static sy_error err;

static sy_status parse(const char *text)
{
    sy_error_clear(&err);
    return admin_query_parse(text, &q, &err);
}

TEST(every_field_and_operator)
{
    CHECK_INT(parse("status = running AND type = gap-drain and queue=gaps AND id ^= gap-drain-4"),
              SY_OK);
    CHECK_STR(q.status, "running");
    CHECK_STR(q.type, "gap-drain");
    CHECK_STR(q.queue, "gaps");
    CHECK_STR(q.id_prefix, "gap-drain-4");
    CHECK_INT(parse("id = order-1*"), SY_OK);
    CHECK_STR(q.id_prefix, "order-1");
    CHECK_INT(parse(""), SY_OK);
    CHECK_INT(parse("   "), SY_OK);
    CHECK_STR(q.status, "");
}

TEST(started_bounds_are_inclusive_after_and_exclusive_before)
{
    CHECK_INT(parse("started >= 2026-01-01 AND started < 2026-01-02T00:00:00Z"), SY_OK);
    CHECK(q.started_after_ms == 1767225600000LL);
    CHECK(q.started_before_ms == 1767312000000LL);
    CHECK_INT(parse("started > 2026-01-01T00:00:00Z AND started <= 2026-01-01T00:00:01Z"), SY_OK);
    CHECK(q.started_after_ms == 1767225600001LL);
    CHECK(q.started_before_ms == 1767225601001LL);
}

TEST(quoted_values_keep_their_text)
{
    CHECK_INT(parse("type = \"gap-drain\""), SY_OK);
    CHECK_STR(q.type, "gap-drain");
    /* quoting never lets a forbidden character through */
    CHECK_INT(parse("type = \"a'; DROP TABLE runs; --\""), SY_INVALID);
    CHECK_STR(err.path, "q");
}

TEST(errors_name_the_column_and_the_problem)
{
    CHECK_INT(parse("colour = red"), SY_INVALID);
    CHECK_MSG(strstr(err.message, "q:1:1: unknown field \"colour\"") != NULL, "%s", err.message);
    CHECK_INT(parse("status = running OR status = failed"), SY_INVALID);
    CHECK_MSG(strstr(err.message, "q:1:18: AND is expected") != NULL, "%s", err.message);
    CHECK_INT(parse("status = sleeping"), SY_INVALID);
    CHECK_MSG(strstr(err.message, "q:1:10:") != NULL, "%s", err.message);
    CHECK_INT(parse("status = running AND status = failed"), SY_INVALID);
    CHECK_MSG(strstr(err.message, "given twice") != NULL, "%s", err.message);
    CHECK_INT(parse("status running"), SY_INVALID);
    CHECK_MSG(strstr(err.message, "an operator") != NULL, "%s", err.message);
    CHECK_INT(parse("type ="), SY_INVALID);
    CHECK_MSG(strstr(err.message, "value is missing") != NULL, "%s", err.message);
    CHECK_INT(parse("type = \"open"), SY_INVALID);
    CHECK_MSG(strstr(err.message, "unterminated") != NULL, "%s", err.message);
    CHECK_INT(parse("id = exact"), SY_INVALID);
    CHECK_INT(parse("started = 2026-01-01"), SY_INVALID);
    CHECK_INT(parse("started > soon"), SY_INVALID);
    CHECK_INT(parse("type = <script>"), SY_INVALID);
    CHECK_INT(parse("status = running AND"), SY_INVALID);
}
