/* Unit tests for the TZif reader and zone arithmetic (common/tz.h). Expected
 * instants are written as UTC text and converted with libc's timegm, and were
 * checked against Python's zoneinfo, an independent reader of the same
 * files. */
#include "test.h"
#include "tz.h"

#include <stdint.h>
#include <time.h>

/* "YYYY-MM-DD HH:MM:SS" in UTC -> Unix seconds (libc, independent of tz.c). */
static int64_t utc(const char *s)
{
    struct tm tm = {0};
    CHECK(sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                 &tm.tm_min, &tm.tm_sec) == 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static sy_tz *load(const char *name)
{
    sy_tz *tz = NULL;
    sy_error err;
    sy_status st = sy_tz_load(name, &tz, &err);
    CHECK_MSG(st == SY_OK, "load %s: %s", name, err.message);
    return tz;
}

TEST(new_york_offsets_in_winter_and_summer)
{
    sy_tz *tz = load("America/New_York");
    CHECK_INT(sy_tz_offset(tz, utc("2026-01-15 12:00:00")), -5 * 3600);
    CHECK_INT(sy_tz_offset(tz, utc("2026-07-15 12:00:00")), -4 * 3600);
    CHECK_STR(sy_tz_name(tz), "America/New_York");
    sy_tz_free(tz);
}

TEST(offset_changes_exactly_at_the_transition)
{
    sy_tz *tz = load("America/New_York");
    int64_t t = utc("2026-03-08 07:00:00");
    CHECK_INT(sy_tz_offset(tz, t - 1), -5 * 3600);
    CHECK_INT(sy_tz_offset(tz, t), -4 * 3600);
    CHECK_INT(sy_tz_next_transition(tz, utc("2026-01-01 00:00:00")), t);
    CHECK_INT(sy_tz_next_transition(tz, t), utc("2026-11-01 06:00:00"));
    sy_tz_free(tz);
}

TEST(footer_rule_governs_beyond_the_table)
{
    sy_tz *tz = load("America/New_York");
    int64_t start = utc("2200-03-09 07:00:00");
    CHECK_INT(sy_tz_offset(tz, start - 1), -5 * 3600);
    CHECK_INT(sy_tz_offset(tz, start), -4 * 3600);
    CHECK_INT(sy_tz_next_transition(tz, utc("2100-01-01 00:00:00")), utc("2100-03-14 07:00:00"));
    CHECK_INT(sy_tz_next_transition(tz, utc("2200-03-10 00:00:00")), utc("2200-11-02 06:00:00"));
    sy_tz_free(tz);
}

TEST(southern_hemisphere_half_hour_dst)
{
    sy_tz *tz = load("Australia/Lord_Howe");
    CHECK_INT(sy_tz_offset(tz, utc("2026-01-15 00:00:00")), 11 * 3600);
    CHECK_INT(sy_tz_offset(tz, utc("2026-07-15 00:00:00")), 10 * 3600 + 1800);
    CHECK_INT(sy_tz_next_transition(tz, utc("2026-09-25 00:00:00")), utc("2026-10-03 15:30:00"));
    CHECK_INT(sy_tz_next_transition(tz, utc("2026-03-25 00:00:00")), utc("2026-04-04 15:00:00"));
    /* far future: the footer rule "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0" */
    CHECK_INT(sy_tz_offset(tz, utc("2300-01-15 00:00:00")), 11 * 3600);
    CHECK_INT(sy_tz_offset(tz, utc("2300-07-15 00:00:00")), 10 * 3600 + 1800);
    sy_tz_free(tz);
}

TEST(negative_dst_rule_of_dublin)
{
    sy_tz *tz = load("Europe/Dublin");
    CHECK_INT(sy_tz_offset(tz, utc("2026-01-15 00:00:00")), 0);
    CHECK_INT(sy_tz_offset(tz, utc("2026-07-15 00:00:00")), 3600);
    CHECK_INT(sy_tz_offset(tz, utc("2250-01-15 00:00:00")), 0);
    CHECK_INT(sy_tz_offset(tz, utc("2250-07-15 00:00:00")), 3600);
    sy_tz_free(tz);
}

TEST(local_time_in_spring_gap_maps_to_the_transition)
{
    sy_tz *tz = load("America/New_York");
    int64_t u = 0;
    /* 2026-03-08 02:30 does not exist in New York */
    CHECK_INT(sy_tz_local_to_utc(tz, utc("2026-03-08 02:30:00"), &u), SY_TZ_GAP);
    CHECK_INT(u, utc("2026-03-08 07:00:00"));
    CHECK_INT(sy_tz_local_to_utc(tz, utc("2026-03-08 03:00:00"), &u), SY_TZ_UNIQUE);
    CHECK_INT(u, utc("2026-03-08 07:00:00"));
    CHECK_INT(sy_tz_local_to_utc(tz, utc("2026-03-08 01:59:59"), &u), SY_TZ_UNIQUE);
    CHECK_INT(u, utc("2026-03-08 06:59:59"));
    sy_tz_free(tz);
}

TEST(repeated_local_time_maps_to_first_occurrence)
{
    sy_tz *tz = load("Europe/Berlin");
    int64_t u = 0;
    /* 2026-10-25 02:30 happens at 00:30 UTC (CEST) and 01:30 UTC (CET) */
    CHECK_INT(sy_tz_local_to_utc(tz, utc("2026-10-25 02:30:00"), &u), SY_TZ_AMBIGUOUS);
    CHECK_INT(u, utc("2026-10-25 00:30:00"));
    CHECK_INT(sy_tz_local_to_utc(tz, utc("2026-10-25 03:00:00"), &u), SY_TZ_UNIQUE);
    CHECK_INT(u, utc("2026-10-25 02:00:00"));
    sy_tz_free(tz);
}

TEST(utc_zone_and_null_zone_are_identity)
{
    sy_tz *tz = load("UTC");
    int64_t u = 0;
    CHECK_INT(sy_tz_offset(tz, utc("2026-07-01 00:00:00")), 0);
    CHECK_INT(sy_tz_local_to_utc(tz, 12345, &u), SY_TZ_UNIQUE);
    CHECK_INT(u, 12345);
    CHECK_INT(sy_tz_offset(NULL, 99), 0);
    CHECK_INT(sy_tz_local_to_utc(NULL, 77, &u), SY_TZ_UNIQUE);
    CHECK_INT(u, 77);
    sy_tz_free(tz);
    sy_tz *fixed = NULL;
    CHECK(sy_tz_new_utc(&fixed) == SY_OK);
    CHECK_INT(sy_tz_next_transition(fixed, 0), INT64_MAX);
    sy_tz_free(fixed);
}

TEST(unknown_zone_is_an_error_naming_it)
{
    sy_tz *tz = (sy_tz *)1;
    sy_error err;
    CHECK(sy_tz_load("Mars/Olympus_Mons", &tz, &err) == SY_INVALID);
    CHECK(tz == NULL);
    CHECK_STR(err.code, "bad_timezone");
    CHECK_STR(err.message, "unknown time zone \"Mars/Olympus_Mons\"");
}

TEST(zone_names_cannot_escape_the_zoneinfo_dir)
{
    sy_tz *tz = NULL;
    sy_error err;
    CHECK(sy_tz_load("../../etc/passwd", &tz, &err) == SY_INVALID);
    CHECK_STR(err.message, "invalid time zone name \"../../etc/passwd\"");
    CHECK(sy_tz_load("/etc/localtime", &tz, &err) == SY_INVALID);
    CHECK(sy_tz_load("", &tz, &err) == SY_INVALID);
    CHECK(tz == NULL);
}

TEST(corrupt_tzif_is_rejected_not_crashed)
{
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    CHECK(f != NULL);
    static uint8_t data[65536];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    sy_tz *tz = NULL;
    sy_error err;
    CHECK(sy_tz_parse(data, n, "Berlin", &tz, &err) == SY_OK);
    sy_tz_free(tz);
    for (size_t cut = 0; cut < n; cut += 7) { /* every truncation fails cleanly */
        sy_status st = sy_tz_parse(data, cut, "Berlin", &tz, &err);
        CHECK_MSG(st == SY_INVALID && tz == NULL, "truncated at %zu", cut);
    }
    CHECK(sy_tz_parse((const uint8_t *)"TZxf", 4, NULL, &tz, &err) == SY_INVALID);
    CHECK_STR(err.code, "bad_tzif");
}

TEST(civil_calendar_helpers)
{
    CHECK_INT(sy_days_from_civil(1970, 1, 1), 0);
    CHECK_INT(sy_days_from_civil(2000, 3, 1) * 86400, utc("2000-03-01 00:00:00"));
    CHECK_INT(sy_days_in_month(2028, 2), 29);
    CHECK_INT(sy_days_in_month(2100, 2), 28);
    CHECK_INT(sy_days_in_month(2000, 2), 29);
    sy_civil c;
    sy_civil_from_secs(utc("1969-12-31 23:59:59"), &c);
    CHECK(c.year == 1969 && c.month == 12 && c.day == 31 && c.hour == 23 && c.second == 59);
    CHECK_INT(c.wday, 3); /* a Wednesday */
    char buf[SY_RFC3339_MAX];
    sy_format_rfc3339_utc(utc("2026-03-08 07:00:00") * 1000, buf, sizeof buf);
    CHECK_STR(buf, "2026-03-08T07:00:00Z");
    sy_format_rfc3339_utc(utc("2026-03-08 07:00:00") * 1000 + 5, buf, sizeof buf);
    CHECK_STR(buf, "2026-03-08T07:00:00.005Z");
}
