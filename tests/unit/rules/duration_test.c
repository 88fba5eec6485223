/* Unit tests for human durations (common/duration.h), used by the rules
 * file's timeouts, retries and schedules. */
#include "duration.h"
#include "test.h"

static int64_t ms(const char *s)
{
    int64_t v = -1;
    sy_error err;
    CHECK_MSG(sy_duration_parse(s, &v, &err) == SY_OK, "parse(%s): %s", s, err.message);
    return v;
}

static const char *parse_error(const char *s)
{
    static sy_error err;
    int64_t v = 123;
    sy_error_clear(&err);
    CHECK(sy_duration_parse(s, &v, &err) == SY_INVALID);
    CHECK_INT(v, 123);
    CHECK_STR(err.code, "bad_duration");
    return err.message;
}

TEST(parses_every_unit)
{
    CHECK_INT(ms("500ms"), 500);
    CHECK_INT(ms("30s"), 30000);
    CHECK_INT(ms("5m"), 300000);
    CHECK_INT(ms("2h"), 7200000);
    CHECK_INT(ms("7d"), 604800000);
    CHECK_INT(ms("0"), 0);
    CHECK_INT(ms("0s"), 0);
}

TEST(parses_combinations_largest_first)
{
    CHECK_INT(ms("1h30m"), 5400000);
    CHECK_INT(ms("1d2h3m4s5ms"), 86400000 + 7200000 + 180000 + 4000 + 5);
}

TEST(errors_are_precise)
{
    CHECK(strstr(parse_error(""), "empty"));
    CHECK(strstr(parse_error("30"), "missing unit"));
    CHECK(strstr(parse_error("5x"), "unknown unit"));
    CHECK(strstr(parse_error("5min"), "unknown unit"));
    CHECK(strstr(parse_error("1.5h"), "fractions"));
    CHECK(strstr(parse_error("-5s"), "negative"));
    CHECK(strstr(parse_error("5m1h"), "largest to smallest"));
    CHECK(strstr(parse_error("1s1s"), "largest to smallest"));
    CHECK(strstr(parse_error("99999999999999999999d"), "too large"));
    CHECK(strstr(parse_error("9999999999999999d"), "too large"));
    CHECK(strstr(parse_error("h"), "expected a number"));
}

TEST(formats_back)
{
    char buf[32];
    CHECK_STR(sy_duration_format(5400000, buf, sizeof buf), "1h30m");
    CHECK_STR(sy_duration_format(500, buf, sizeof buf), "500ms");
    CHECK_STR(sy_duration_format(0, buf, sizeof buf), "0s");
    CHECK_STR(sy_duration_format(604800000, buf, sizeof buf), "7d");
    CHECK_STR(sy_duration_format(-1000, buf, sizeof buf), "-1s");
    CHECK_INT(ms(sy_duration_format(86400000 + 61001, buf, sizeof buf)), 86400000 + 61001);
}
