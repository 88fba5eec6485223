/* The test runner: `t_x name` runs the test called name; `t_x` alone lists
 * the tests. Registration happens in constructors (see TEST in test.h), so
 * this table is the test binary's only static state. */
#include "test.h"

#include <stdarg.h>

#define SY_TEST_MAX 512

static struct {
    const char *name;
    sy_test_fn fn;
} tests[SY_TEST_MAX];
static size_t ntests;

void sy_test__register(const char *name, sy_test_fn fn)
{
    if (ntests == SY_TEST_MAX) {
        fprintf(stderr, "too many tests in one file\n");
        abort();
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void sy_test__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: FAILED: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        for (size_t i = 0; i < ntests; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    for (size_t i = 0; i < ntests; i++) {
        if (strcmp(tests[i].name, argv[1]) == 0) {
            tests[i].fn();
            printf("ok %s\n", argv[1]);
            return 0;
        }
    }
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
}
