/* fuzz_rules.c: libFuzzer target for the rules loader (rules_load): any
 * bytes as a rules file must load or give diagnostics, never crash or leak,
 * and a set that loads must route an event and run its tests. */
#include "rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/sy-fuzz-rules-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    rules_set *set = NULL;
    rules_diags d = {0};
    sy_error err;
    if (rules_load(path, NULL, &set, &d, &err) == SY_OK) {
        if (d.len != 0 || !set)
            abort(); /* a loaded set has no errors */
        rules_diags fails = {0};
        (void)rules_run_tests(set, &fails);
        rules_diags_cleanup(&fails);
        (void)rules_set_workflows(set);
        rules_set_free(set);
    } else if (set || d.len == 0) {
        abort(); /* a failed load returns nothing and says why */
    }
    rules_diags_cleanup(&d);
    unlink(path);
    return 0;
}
