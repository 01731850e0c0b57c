/* fuzz_envelope.c -- libFuzzer driver: parse, validate and complete ingest bodies.
 * Built with -Dfuzz=true and run by run.sh (see there). */
#include <stdlib.h>
#include <string.h>

#include "gateway/envelope.h"

static envelope_t envs[ENVELOPE_MAX_BATCH], again[ENVELOPE_MAX_BATCH];

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    json_doc_t doc, done;
    char err[256];
    size_t n, n2;
    bool batch, batch2;
    if (json_parse(&doc, (const char *)data, size, ENVELOPE_MAX_DEPTH, err, sizeof(err)) != 0)
        return 0;
    if (envelope_validate(&doc, envs, &n, &batch, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < n; i++) {
            size_t raw_len, len;
            const char *raw = json_value_ptr(&doc, envs[i].tok, &raw_len);
            char *body;
            envelope_complete(raw, raw_len, envs[i].id ? NULL : "gen-id",
                              envs[i].has_occurred_at ? NULL : "2026-11-27T10:00:00.000Z", &body,
                              &len);
            /* A completed envelope is valid JSON and a valid envelope with both fields. */
            if (json_parse(&done, body, len, ENVELOPE_MAX_DEPTH, err, sizeof(err)) != 0 ||
                envelope_validate(&done, again, &n2, &batch2, err, sizeof(err)) != 0 || batch2 ||
                !again[0].id || !again[0].has_occurred_at ||
                again[0].type_len != envs[i].type_len ||
                memcmp(again[0].type, envs[i].type, envs[i].type_len) != 0)
                abort();
            json_free(&done);
            free(body);
        }
    }
    json_free(&doc);
    return 0;
}
