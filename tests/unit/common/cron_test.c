/* Unit tests for cron specs and next-fire times (common/cron.h): every
 * syntax, precise errors, DST gaps and repeats, leap days and month ends.
 * Expected instants are UTC text converted with libc's timegm; the DST ones
 * were checked against Python's zoneinfo. */
#include "cron.h"
#include "test.h"

#include <stdint.h>
#include <time.h>

static int64_t utc_ms(const char *s)
{
    struct tm tm = {0};
    CHECK(sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                 &tm.tm_min, &tm.tm_sec) == 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

static sy_cron *parse(const char *spec)
{
    sy_cron *c = NULL;
    sy_error err;
    sy_status st = sy_cron_parse(spec, &c, &err);
    CHECK_MSG(st == SY_OK, "parse \"%s\": %s", spec, err.message);
    return c;
}

static sy_tz *zone(const char *name)
{
    sy_tz *tz = NULL;
    sy_error err;
    CHECK_MSG(sy_tz_load(name, &tz, &err) == SY_OK, "%s", err.message);
    return tz;
}

/* Checks that spec, from 'after' in zone tz, fires at each of want[] in turn. */
static void expect_fires(const char *spec, const char *tzname, const char *after,
                         const char *const *want, size_t n)
{
    sy_cron *c = parse(spec);
    sy_tz *tz = tzname ? zone(tzname) : NULL;
    int64_t t = utc_ms(after);
    for (size_t i = 0; i < n; i++) {
        int64_t next = sy_cron_next(c, tz, t);
        char got[SY_RFC3339_MAX];
        sy_format_rfc3339_utc(next, got, sizeof got);
        CHECK_MSG(next == utc_ms(want[i]), "\"%s\" in %s firing %zu: got %s, want %s UTC", spec,
                  tzname ? tzname : "UTC", i + 1, got, want[i]);
        t = next;
    }
    sy_tz_free(tz);
    sy_cron_free(c);
}

#define FIRES(spec, tz, after, ...)                                                                \
    do {                                                                                           \
        static const char *const w_[] = {__VA_ARGS__};                                             \
        expect_fires(spec, tz, after, w_, sizeof w_ / sizeof w_[0]);                               \
    } while (0)

/* Checks that spec fails with exactly msg and column col. */
static void expect_error(const char *spec, const char *msg, size_t col)
{
    sy_cron *c = (sy_cron *)1;
    sy_error err;
    size_t got_col = 0;
    CHECK_MSG(sy_cron_parse_col(spec, &c, &got_col, &err) == SY_INVALID, "\"%s\" parsed", spec);
    CHECK(c == NULL);
    CHECK_STR(err.code, "bad_cron");
    CHECK_STR(err.message, msg);
    CHECK_INT(got_col, col);
}

TEST(every_field_wildcard_fires_every_minute)
{
    FIRES("* * * * *", NULL, "2026-01-01 00:00:30", "2026-01-01 00:01:00", "2026-01-01 00:02:00");
}

TEST(steps_ranges_and_lists)
{
    FIRES("*/15 * * * *", NULL, "2026-01-01 00:07:00", "2026-01-01 00:15:00", "2026-01-01 00:30:00",
          "2026-01-01 00:45:00", "2026-01-01 01:00:00");
    FIRES("5,10-12,50-59/5 8 * * *", NULL, "2026-01-01 00:00:00", "2026-01-01 08:05:00",
          "2026-01-01 08:10:00", "2026-01-01 08:11:00", "2026-01-01 08:12:00",
          "2026-01-01 08:50:00", "2026-01-01 08:55:00", "2026-01-02 08:05:00");
    FIRES("0 22/1 * * *", NULL, "2026-01-01 00:00:00", "2026-01-01 22:00:00", "2026-01-01 23:00:00",
          "2026-01-02 22:00:00");
}

TEST(optional_seconds_field)
{
    FIRES("30 * * * * *", NULL, "2026-01-01 00:00:00", "2026-01-01 00:00:30",
          "2026-01-01 00:01:30");
    FIRES("*/20 0 12 * * *", NULL, "2026-01-01 12:00:50", "2026-01-02 12:00:00",
          "2026-01-02 12:00:20");
}

TEST(month_and_day_names_any_case)
{
    /* 2026-01-03 is a Saturday */
    FIRES("0 9 * * mon-FRI", NULL, "2026-01-03 00:00:00", "2026-01-05 09:00:00",
          "2026-01-06 09:00:00");
    FIRES("0 0 1 JAN,jul *", NULL, "2026-01-01 00:00:00", "2026-07-01 00:00:00",
          "2027-01-01 00:00:00");
    FIRES("0 0 * * FRI-SUN", NULL, "2026-01-01 00:00:00", "2026-01-02 00:00:00",
          "2026-01-03 00:00:00", "2026-01-04 00:00:00", "2026-01-09 00:00:00");
}

TEST(sunday_is_zero_and_seven)
{
    FIRES("0 0 * * 7", NULL, "2026-01-01 00:00:00", "2026-01-04 00:00:00", "2026-01-11 00:00:00");
    FIRES("0 0 * * 0", NULL, "2026-01-01 00:00:00", "2026-01-04 00:00:00");
}

TEST(macros_expand_to_their_specs)
{
    FIRES("@hourly", NULL, "2026-05-05 10:10:00", "2026-05-05 11:00:00");
    FIRES("@daily", NULL, "2026-05-05 10:10:00", "2026-05-06 00:00:00");
    FIRES("@midnight", NULL, "2026-05-05 10:10:00", "2026-05-06 00:00:00");
    FIRES("@weekly", NULL, "2026-05-05 10:10:00", "2026-05-10 00:00:00");
    FIRES("@monthly", NULL, "2026-05-05 10:10:00", "2026-06-01 00:00:00");
    FIRES("@yearly", NULL, "2026-05-05 10:10:00", "2027-01-01 00:00:00");
    FIRES("  @ANNUALLY ", NULL, "2026-05-05 10:10:00", "2027-01-01 00:00:00");
}

TEST(every_duration_is_anchored_at_the_epoch)
{
    FIRES("@every 15m", NULL, "2026-01-01 10:07:00", "2026-01-01 10:15:00", "2026-01-01 10:30:00");
    FIRES("@every 1h30m", "America/New_York", "2026-01-01 00:10:00", "2026-01-01 01:30:00",
          "2026-01-01 03:00:00");
    sy_cron *c = parse("@every 90s");
    CHECK_INT(sy_cron_interval_ms(c), 90000);
    CHECK_INT(sy_cron_next(c, NULL, 0), 90000);
    CHECK_INT(sy_cron_next(c, NULL, 89999), 90000);
    CHECK_INT(sy_cron_next(c, NULL, 90000), 180000);
    CHECK_STR(sy_cron_spec(c), "@every 90s");
    sy_cron_free(c);
}

TEST(day_of_month_or_day_of_week_when_both_restricted)
{
    /* Vixie: "13 or Friday". Jan 2026: Fri 2, Fri 9, Tue 13, Fri 16 */
    FIRES("0 0 13 * FRI", NULL, "2026-01-01 00:00:00", "2026-01-02 00:00:00", "2026-01-09 00:00:00",
          "2026-01-13 00:00:00", "2026-01-16 00:00:00");
}

TEST(day_of_month_and_day_of_week_when_one_is_star)
{
    /* "* /2" starts with '*': AND. Odd days that are Mondays: 2026-01-05 is
     * Monday (odd), 2026-01-12 even (no), 2026-01-19 odd */
    FIRES("0 0 */2 * MON", NULL, "2026-01-01 00:00:00", "2026-01-05 00:00:00",
          "2026-01-19 00:00:00");
    FIRES("0 0 1 * *", NULL, "2026-01-01 00:00:00", "2026-02-01 00:00:00");
}

TEST(leap_day_fires_only_in_leap_years)
{
    FIRES("0 0 29 2 *", NULL, "2026-03-01 00:00:00", "2028-02-29 00:00:00", "2032-02-29 00:00:00");
    /* 2100 is not a leap year: 2096 -> 2104 */
    FIRES("0 0 29 2 *", NULL, "2096-03-01 00:00:00", "2104-02-29 00:00:00");
}

TEST(month_ends_skip_short_months)
{
    FIRES("0 0 31 * *", NULL, "2026-01-31 00:00:00", "2026-03-31 00:00:00", "2026-05-31 00:00:00",
          "2026-07-31 00:00:00", "2026-08-31 00:00:00");
    FIRES("0 0 30 * *", NULL, "2026-01-30 00:00:00", "2026-03-30 00:00:00");
    FIRES("59 23 28-31 2 *", NULL, "2027-02-28 23:59:00", "2028-02-28 23:59:00",
          "2028-02-29 23:59:00");
}

TEST(spring_forward_gap_fires_once_after_the_gap_new_york)
{
    /* 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00 UTC) */
    FIRES("30 2 * * *", "America/New_York", "2026-03-07 17:00:00", "2026-03-08 07:00:00",
          "2026-03-09 06:30:00");
    /* 02:00, 02:15, 02:30, 02:45 and 03:00 all collapse onto 07:00 UTC: once */
    FIRES("*/15 * * * *", "America/New_York", "2026-03-08 06:40:00", "2026-03-08 06:45:00",
          "2026-03-08 07:00:00", "2026-03-08 07:15:00");
}

TEST(fall_back_repeated_hour_fires_once_first_occurrence_new_york)
{
    /* 2026-11-01 02:00 EDT falls back to 01:00 EST (06:00 UTC) */
    FIRES("30 1 * * *", "America/New_York", "2026-10-31 12:00:00", "2026-11-01 05:30:00",
          "2026-11-02 06:30:00");
    FIRES("0 * * * *", "America/New_York", "2026-11-01 04:30:00", "2026-11-01 05:00:00",
          "2026-11-01 07:00:00", "2026-11-01 08:00:00");
    /* starting inside the second pass of the hour: the repeat is not fired */
    FIRES("45 1 * * *", "America/New_York", "2026-11-01 06:10:00", "2026-11-02 06:45:00");
}

TEST(dst_transitions_europe_berlin)
{
    /* 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC); 2026-10-25 03:00 CEST
     * -> 02:00 CET (01:00 UTC) */
    FIRES("30 2 * * *", "Europe/Berlin", "2026-03-28 12:00:00", "2026-03-29 01:00:00",
          "2026-03-30 00:30:00");
    FIRES("30 2 * * *", "Europe/Berlin", "2026-10-24 12:00:00", "2026-10-25 00:30:00",
          "2026-10-26 01:30:00");
    FIRES("0 9 * * *", "Europe/Berlin", "2026-03-28 12:00:00", "2026-03-29 07:00:00");
}

TEST(half_hour_dst_lord_howe)
{
    /* 2026-10-04 02:00 (+10:30) -> 02:30 (+11) at 2026-10-03 15:30 UTC */
    FIRES("15 2 * * *", "Australia/Lord_Howe", "2026-10-02 12:00:00", "2026-10-02 15:45:00",
          "2026-10-03 15:30:00", "2026-10-04 15:15:00");
    /* 2026-04-05 02:00 (+11) -> 01:30 (+10:30): 01:45 repeats */
    FIRES("45 1 * * *", "Australia/Lord_Howe", "2026-04-03 12:00:00", "2026-04-03 14:45:00",
          "2026-04-04 14:45:00", "2026-04-05 15:15:00");
}

TEST(next_is_strictly_after_and_whole_seconds)
{
    sy_cron *c = parse("0 * * * *");
    int64_t t = utc_ms("2026-01-01 10:00:00");
    CHECK_INT(sy_cron_next(c, NULL, t), t + 3600000);
    CHECK_INT(sy_cron_next(c, NULL, t - 1), t);
    CHECK_INT(sy_cron_next(c, NULL, t + 1), t + 3600000);
    /* before 1970 works too */
    CHECK_INT(sy_cron_next(c, NULL, utc_ms("1969-12-31 23:10:00")), 0);
    sy_cron_free(c);
}

TEST(errors_name_field_value_range_and_column)
{
    expect_error("0 25 * * *", "field 2 (hour): 25 is out of range 0-23 (column 3)", 3);
    expect_error("0 0 0 * *", "field 3 (day-of-month): 0 is out of range 1-31 (column 5)", 5);
    expect_error("60 0 0 * * *", "field 1 (second): 60 is out of range 0-59 (column 1)", 1);
    expect_error("0 0 * 13 *", "field 4 (month): 13 is out of range 1-12 (column 7)", 7);
    expect_error("0 0 * * 8", "field 5 (day-of-week): 8 is out of range 0-7 (column 9)", 9);
    expect_error("0 0 * * 99999999999999",
                 "field 5 (day-of-week): 100000 is out of range 0-7 (column 9)", 9);
}

TEST(errors_for_bad_syntax)
{
    expect_error("* * * *",
                 "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a "
                 "leading second), got 4 (column 8)",
                 8);
    expect_error("* * * * * * *",
                 "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a "
                 "leading second), got 7 (column 13)",
                 13);
    expect_error("",
                 "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a "
                 "leading second), got 0 (column 1)",
                 1);
    expect_error("0 0 * FOO *", "field 4 (month): unknown name \"FOO\" (column 7)", 7);
    expect_error("0 0 * * MONDAY", "field 5 (day-of-week): unknown name \"MONDAY\" (column 9)", 9);
    expect_error("0 MON * * *", "field 2 (hour): names are not allowed here (\"MON\") (column 3)",
                 3);
    expect_error("0 5-2 * * *",
                 "field 2 (hour): range 5-2 is reversed (start after end) (column 3)", 3);
    expect_error("*/0 * * * *", "field 1 (minute): step 0 is out of range 1-60 (column 3)", 3);
    expect_error("*/61 * * * *", "field 1 (minute): step 61 is out of range 1-60 (column 3)", 3);
    expect_error("*/ * * * *", "field 1 (minute): missing step after '/' (column 3)", 3);
    expect_error("1,,2 * * * *", "field 1 (minute): empty list element (column 3)", 3);
    expect_error("1, * * * *", "field 1 (minute): empty list element (column 3)", 3);
    expect_error("1-* * * * *", "field 1 (minute): unexpected character '*' (column 3)", 3);
    expect_error("5x * * * *", "field 1 (minute): unexpected character 'x' (column 2)", 2);
    expect_error("0 0 1- * *", "field 3 (day-of-month): missing value (column 7)", 7);
}

TEST(errors_for_impossible_days_and_macros)
{
    expect_error("0 0 30 2 *",
                 "field 3 (day-of-month): no selected day exists in the selected months (column 5)",
                 5);
    expect_error("0 0 31 4,6,9,11 *",
                 "field 3 (day-of-month): no selected day exists in the selected months (column 5)",
                 5);
    expect_error("@fortnightly",
                 "unknown macro \"@fortnightly\" (use @yearly, @annually, @monthly, @weekly, "
                 "@daily, @midnight, @hourly or @every <duration>) (column 1)",
                 1);
    expect_error("@daily 5",
                 "unknown macro \"@daily\" (use @yearly, @annually, @monthly, @weekly, "
                 "@daily, @midnight, @hourly or @every <duration>) (column 1)",
                 1);
    expect_error("@every 500ms", "@every interval \"500ms\" is shorter than 1s (column 8)", 8);
    expect_error("@every 5m 3", "unexpected text after the @every duration (column 11)", 11);
    sy_cron *c = NULL;
    sy_error err;
    CHECK(sy_cron_parse("@every 5 parsecs", &c, &err) == SY_INVALID);
    CHECK(sy_cron_parse("@every", &c, &err) == SY_INVALID);
    CHECK(sy_cron_parse("@every 10y", &c, &err) == SY_INVALID);
    CHECK(strstr(err.message, "(column 8)") != NULL);
    /* both restricted: Feb 30 OR Monday is fine */
    c = parse("0 0 30 2 MON");
    sy_cron_free(c);
}
