/* Unit tests for the one error type (common/status.h). */
#include "status.h"
#include "test.h"

TEST(status_text_comes_from_the_table)
{
    CHECK_STR(sy_status_text(SY_OK), "ok");
    CHECK_STR(sy_status_text(SY_DB_DOWN), "database unavailable");
    CHECK_STR(sy_status_text((sy_status)999), "unknown status");
}

TEST(retryable_is_policy_not_guess)
{
    CHECK(sy_status_retryable(SY_DB_DOWN));
    CHECK(sy_status_retryable(SY_NATS_DOWN));
    CHECK(!sy_status_retryable(SY_INVALID));
    CHECK(!sy_status_retryable(SY_OK));
}

TEST(error_set_fills_every_field_and_returns_status)
{
    sy_error e;
    sy_error_clear(&e);
    CHECK_INT(sy_error_set(&e, SY_INVALID, "bad_type", "type", "type %s is bad", "x..y"),
              SY_INVALID);
    CHECK_STR(e.code, "bad_type");
    CHECK_STR(e.path, "type");
    CHECK_STR(e.message, "type x..y is bad");
    sy_error_prefix(&e, "event %d", 3);
    CHECK_STR(e.message, "event 3: type x..y is bad");
    CHECK_INT(sy_error_set(NULL, SY_IO, NULL, NULL, "dropped"), SY_IO);
}

TEST(error_text_prints_the_path_once_and_never_the_code)
{
    sy_error e;
    char buf[SY_ERROR_TEXT_MAX];
    sy_error_set(&e, SY_INVALID, "schema_mismatch", "payload.reviewer",
                 "required property is missing");
    CHECK_STR(sy_error_text(&e, buf, sizeof buf), "payload.reviewer: required property is missing");
    sy_error_set(&e, SY_INVALID, "bad_type", "type", "\"type\" has an empty segment");
    CHECK_STR(sy_error_text(&e, buf, sizeof buf), "\"type\" has an empty segment");
    sy_error_set(&e, SY_INVALID, "bad_type", "type", "type x..y is bad");
    CHECK_STR(sy_error_text(&e, buf, sizeof buf), "type x..y is bad");
    /* a quoted value that merely starts like the path is not the path */
    sy_error_set(&e, SY_INVALID, "bad_type", "type", "\"types\" is not \"typ\"");
    CHECK_STR(sy_error_text(&e, buf, sizeof buf), "type: \"types\" is not \"typ\"");
    sy_error_set(&e, SY_DB_DOWN, "db_connect", NULL, "could not connect to postgres: refused");
    CHECK_STR(sy_error_text(&e, buf, sizeof buf), "could not connect to postgres: refused");
    char small[8];
    sy_error_set(&e, SY_INVALID, "x", "a.b", "long message");
    CHECK_STR(sy_error_text(&e, small, sizeof small), "a.b: lo");
}

TEST(exit_codes_follow_sysexits)
{
    CHECK_INT(sy_status_exit_code(SY_OK), 0);
    CHECK_INT(sy_status_exit_code(SY_USAGE), 64);
    CHECK_INT(sy_status_exit_code(SY_INVALID), 65);
    CHECK_INT(sy_status_exit_code(SY_NATS_DOWN), 69);
    CHECK_INT(sy_status_exit_code(SY_CONFIG), 78);
    CHECK_INT(sy_status_exit_code(SY_INTERNAL), 1);
}
