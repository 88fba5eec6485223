/* buf_test.c: common/buf.c's string copy. */
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
