/* Unit tests for W3C trace context and span ids (common/trace.h). */
#include "test.h"
#include "trace.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

TEST(traceparent_gives_its_trace_and_parent_ids)
{
    char trace[33], parent[17];
    sy_error e;
    CHECK_INT(sy_traceparent_parse(TP, trace, parent, &e), SY_OK);
    CHECK_STR(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(parent, "00f067aa0ba902b7");
    /* a later version may append fields */
    CHECK_INT(sy_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                                   trace, parent, &e),
              SY_OK);
}

TEST(a_bad_traceparent_says_which_part_is_wrong)
{
    static const struct {
        const char *tp, *why;
    } cases[] = {
        {"", "four dash-separated"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "four dash-separated"},
        {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version"},
        {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "trace id"},
        {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "trace id"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "parent id"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x", "flags"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "exactly four"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sy_error e;
        sy_error_clear(&e);
        CHECK_INT(sy_traceparent_parse(cases[i].tp, NULL, NULL, &e), SY_INVALID);
        CHECK_STR(e.code, "bad_trace_id");
        CHECK_STR(e.path, "traceparent");
        CHECK_MSG(strstr(e.message, cases[i].why), "%s: %s", cases[i].tp, e.message);
    }
}

TEST(tracestate_is_bounded_printable_ascii)
{
    sy_error e;
    CHECK_INT(sy_tracestate_check("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", &e), SY_OK);
    CHECK_INT(sy_tracestate_check("", &e), SY_OK);
    CHECK_INT(sy_tracestate_check("a=\x01", &e), SY_INVALID);
    CHECK_STR(e.path, "tracestate");
    char many[200] = "";
    for (int i = 0; i < 33; i++)
        strcat(many, "a=b,");
    CHECK_INT(sy_tracestate_check(many, &e), SY_INVALID);
}

TEST(span_ids_are_stable_hex_and_never_zero)
{
    char a[17], b[17], c[17];
    sy_span_id("e1", a);
    sy_span_id("e1", b);
    sy_span_id("e2", c);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK_INT(strlen(a), 16);
    CHECK_STR(a, "9bb99600c666aeb9"); /* FNV-1a 64 of "e1", as "%016llx" wrote it */
    sy_span_id(NULL, c);
    CHECK_STR(c, "14650fb0739d0383");
    char tp[SY_TRACEPARENT_MAX];
    sy_traceparent_format("4bf92f3577b34da6a3ce929d0e0e4736", a, tp);
    char parent[17];
    CHECK_INT(sy_traceparent_parse(tp, NULL, parent, NULL), SY_OK);
    CHECK_STR(parent, a);
}
