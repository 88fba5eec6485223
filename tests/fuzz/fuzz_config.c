/* Fuzz target for router/config.c: any bytes as a YAML configuration must
 * parse or fail with a file:line:col error, never crash or leak. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    router_config cfg;
    sy_error err;
    router_config_init(&cfg);
    sy_status st = router_config_parse(&cfg, "fuzz.yaml", (const char *)data, size, &err);
    if (st == SY_OK)
        st = router_config_validate(&cfg, &err);
    if (st != SY_OK && strncmp(err.message, "fuzz.yaml:", 10) != 0 && err.path[0] == '\0')
        __builtin_trap(); /* every error names where it is */
    router_config_cleanup(&cfg);
    return 0;
}
