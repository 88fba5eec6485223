/* A minimal test framework: TEST(name) defines a test function that the
 * runner (test_main.c) finds by name; CMake turns each TEST into its own
 * CTest case, so one behaviour = one test = one process. CHECK failures print
 * file:line and the failed expression and end the test with exit status 1. */
#ifndef SY_TEST_H
#define SY_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sy_test_fn)(void);
void sy_test__register(const char *name, sy_test_fn fn);
void sy_test__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        sy_test__register(#name, test_##name);                                                     \
    }                                                                                              \
    static void test_##name(void)

/* Ends the test as skipped (CTest's SKIP_RETURN_CODE 77) with a reason:
 * for a tool the machine lacks, never for a failure. */
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        printf("SKIP: ");                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
        exit(77);                                                                                  \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sy_test__fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sy_test__fail(__FILE__, __LINE__, __VA_ARGS__);                                        \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            sy_test__fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_);  \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            sy_test__fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,                 \
                          a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                 \
    } while (0)

#endif
