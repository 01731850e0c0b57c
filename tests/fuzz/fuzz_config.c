/* fuzz_config.c -- libFuzzer driver for cfg_parse: no crash, leak or broken invariant.
 * Built with -Dfuzz=true and run by run.sh (see there). */
#include "config/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_t *cfg = NULL;
    char *errors = NULL;
    int rc = cfg_parse((const char *)data, size, &cfg, &errors);
    if (rc == 0) {
        /* Valid: no errors, and every subscriber is found under its own unique name. */
        if (!cfg || errors || !cfg->listen_host || !cfg->data_dir) abort();
        for (size_t i = 0; i < cfg->nsubscribers; i++)
            if (cfg_find_subscriber(cfg, cfg->subscribers[i].name) != &cfg->subscribers[i]) abort();
    } else {
        /* Invalid: no config, and at least one newline-terminated error line. */
        size_t n = errors ? strlen(errors) : 0;
        if (cfg || n == 0 || errors[n - 1] != '\n') abort();
    }
    cfg_free(cfg);
    free(errors);
    return 0;
}
