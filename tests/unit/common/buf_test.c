/* buf_test.c: common/buf.c's string copy, concatenation and integers. */
#include "buf.h"
#include "test.h"

#include <string.h>

TEST(strlcpy_copies_and_truncates_always_terminated)
{
    char d[6];
    memset(d, 'x', sizeof d);
    CHECK(!sy_strlcpy(d, sizeof d, "abc"));
    CHECK_STR(d, "abc");
    CHECK(!sy_strlcpy(d, sizeof d, "abcde"));
    CHECK_STR(d, "abcde");
    CHECK(sy_strlcpy(d, sizeof d, "abcdef"));
    CHECK_STR(d, "abcde");
    CHECK(!sy_strlcpy(d, sizeof d, ""));
    CHECK_STR(d, "");
    char one[1];
    CHECK(sy_strlcpy(one, sizeof one, "a"));
    CHECK_STR(one, "");
}

TEST(concat_joins_and_truncates_always_terminated)
{
    char d[8];
    CHECK(!sy_concat(d, sizeof d, "ab", ":", "cd"));
    CHECK_STR(d, "ab:cd");
    CHECK(!sy_concat(d, sizeof d, "abc", "", "defg")); /* exactly fills d */
    CHECK_STR(d, "abcdefg");
    CHECK(sy_concat(d, sizeof d, "abcd", "efgh", "ij"));
    CHECK_STR(d, "abcdefg");
    CHECK(sy_concat(d, sizeof d, "abcdefg", "h")); /* the cut falls between parts */
    CHECK_STR(d, "abcdefg");
    CHECK(!sy_concat(d, sizeof d, ""));
    CHECK_STR(d, "");
    char one[1];
    CHECK(sy_concat(one, sizeof one, "a"));
    CHECK_STR(one, "");
}

TEST(i64_formats_every_range)
{
    char n[21];
    CHECK_STR(sy_i64(n, 0), "0");
    CHECK_STR(sy_i64(n, 7), "7");
    CHECK_STR(sy_i64(n, -42), "-42");
    CHECK_STR(sy_i64(n, 1234567890123LL), "1234567890123");
    CHECK_STR(sy_i64(n, 9223372036854775807LL), "9223372036854775807");
    CHECK_STR(sy_i64(n, -9223372036854775807LL - 1), "-9223372036854775808");
}
