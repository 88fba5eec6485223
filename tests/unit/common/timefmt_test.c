/* Unit tests for RFC 3339 parsing and formatting (common/timefmt.h). */
#include "test.h"
#include "timefmt.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = -1;
    sy_error e;
    sy_error_clear(&e);
    sy_status st = sy_time_parse_rfc3339(s, "t", &ms, &e);
    CHECK_MSG(st == SY_OK, "%s: %s", s, e.message);
    return ms;
}

static void check_bad(const char *s, const char *needle)
{
    int64_t ms;
    sy_error e;
    sy_error_clear(&e);
    CHECK_INT(sy_time_parse_rfc3339(s, "occurred_at", &ms, &e), SY_INVALID);
    CHECK_STR(e.code, "bad_timestamp");
    CHECK_STR(e.path, "occurred_at");
    CHECK_MSG(strstr(e.message, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", s, e.message,
              needle);
}

TEST(parses_utc_and_offsets_to_the_same_instant)
{
    CHECK_INT(parse_ok("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(parse_ok("2026-11-21T10:00:00Z"), 1795255200000LL);
    CHECK_INT(parse_ok("2026-11-21T12:30:00+02:30"), 1795255200000LL);
    CHECK_INT(parse_ok("2026-11-21T05:00:00-05:00"), 1795255200000LL);
    CHECK_INT(parse_ok("2026-11-21t10:00:00z"), 1795255200000LL);
}

TEST(fractions_are_truncated_to_milliseconds)
{
    CHECK_INT(parse_ok("1970-01-01T00:00:01.5Z"), 1500);
    CHECK_INT(parse_ok("1970-01-01T00:00:01.123456789Z"), 1123);
    CHECK_INT(parse_ok("1969-12-31T23:59:59.999Z"), -1);
}

TEST(leap_days)
{
    CHECK_INT(parse_ok("2024-02-29T00:00:00Z"), 1709164800000LL);
    check_bad("2023-02-29T00:00:00Z", "day 29 is out of range");
    check_bad("1900-02-29T00:00:00Z", "day 29 is out of range");
    parse_ok("2000-02-29T00:00:00Z");
}

TEST(out_of_range_fields_are_named)
{
    check_bad("2026-13-01T00:00:00Z", "month 13 is out of range");
    check_bad("2026-00-01T00:00:00Z", "month 00 is out of range");
    check_bad("2026-04-31T00:00:00Z", "day 31 is out of range");
    check_bad("2026-01-01T24:00:00Z", "hour 24 is out of range");
    check_bad("2026-01-01T00:60:00Z", "minute 60 is out of range");
    check_bad("2026-01-01T00:00:60Z", "second 60 is out of range");
    check_bad("2026-01-01T00:00:00+24:00", "zone hour 24 is out of range");
    check_bad("2026-01-01T00:00:00+01:60", "zone minute 60 is out of range");
}

TEST(malformed_timestamps_are_rejected)
{
    check_bad("2026-01-01T00:00:00", "zone");
    check_bad("2026-01-01 00:00:00Z", "'T'");
    check_bad("2026-1-01T00:00:00Z", "month");
    check_bad("2026-01-01T00:00:00.Z", "fraction");
    check_bad("2026-01-01T00:00:00+0100", "':'");
    check_bad("2026-01-01T00:00:00Zjunk", "unexpected characters");
    check_bad("", "year");
    check_bad("26-01-01T00:00:00Z", "year");
}

/* the whole message, so a stray conversion cannot creep back (these two
 * ended in a literal "0": the format had a %ld with nothing to say) */
static void check_message(const char *s, const char *want)
{
    int64_t ms;
    sy_error e;
    sy_error_clear(&e);
    CHECK_INT(sy_time_parse_rfc3339(s, "occurred_at", &ms, &e), SY_INVALID);
    CHECK_STR(e.message, want);
}

TEST(messages_have_no_stray_digits)
{
    check_message("2026-01-01T00:00:00.Z",
                  "could not parse \"occurred_at\" as an RFC 3339 timestamp: fraction: expected "
                  "digits after '.'");
    check_message("2026-01-01T00:00:00",
                  "could not parse \"occurred_at\" as an RFC 3339 timestamp: zone: missing "
                  "(expected 'Z' or +hh:mm)");
}

TEST(formats_utc_with_milliseconds)
{
    char buf[SY_TIME_RFC3339_MAX];
    CHECK_STR(sy_time_format_rfc3339(0, buf), "1970-01-01T00:00:00.000Z");
    CHECK_STR(sy_time_format_rfc3339(1795255200123LL, buf), "2026-11-21T10:00:00.123Z");
    CHECK_STR(sy_time_format_rfc3339(-1, buf), "1969-12-31T23:59:59.999Z");
    CHECK_STR(sy_time_format_rfc3339(1709164800000LL, buf), "2024-02-29T00:00:00.000Z");
}

TEST(format_then_parse_round_trips)
{
    char buf[SY_TIME_RFC3339_MAX];
    for (int64_t ms = -86400000LL * 800; ms < 4102444800000LL; ms += 86400000LL * 37 + 3601007)
        CHECK_INT(parse_ok(sy_time_format_rfc3339(ms, buf)), ms);
}
