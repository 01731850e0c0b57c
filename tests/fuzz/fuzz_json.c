/* fuzz_json.c -- libFuzzer driver for the strict JSON validator in front of jsmn: no input
 * may crash it, and what it accepts must tokenize consistently and decode back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* String token i decodes to what json_str_equals agrees with, and escaping the decoded
 * bytes gives a literal that parses back to the same bytes. */
static void check_string(const json_doc_t *doc, int i)
{
    size_t len;
    char *s = json_str_dup_n(doc, i, &len);
    if (!s || !json_str_equals(doc, i, s, len)) abort();
    size_t need = json_escape(NULL, 0, s, len);
    char *lit = malloc(need + 1);
    if (!lit || json_escape(lit, need + 1, s, len) != need) abort();
    json_doc_t again;
    char err[128];
    if (json_parse(&again, lit, need, 1, err, sizeof(err)) != 0 || again.ntok != 1 ||
        !json_is_string(&again, 0) || !json_str_equals(&again, 0, s, len))
        abort();
    json_free(&again);
    free(lit);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_doc_t doc, deep;
    char err[128];
    if (json_parse(&doc, text, size, 64, err, sizeof(err)) != 0) {
        if (err[0] == '\0') abort(); /* a rejection always says why */
        return 0;
    }
    /* The root value spans every token; a deeper limit accepts the same document. */
    if (doc.ntok < 1 || json_skip(&doc, 0) != doc.ntok) abort();
    if (json_parse(&deep, text, size, 1000, err, sizeof(err)) != 0 || deep.ntok != doc.ntok)
        abort();
    json_free(&deep);
    for (int i = 0; i < doc.ntok; i++) {
        size_t vlen;
        const char *v = json_value_ptr(&doc, i, &vlen);
        if (v < text || v + vlen > text + size) abort();
        if (json_is_string(&doc, i)) check_string(&doc, i);
    }
    /* Each key of a root object finds a value whose key token has the same raw bytes. */
    if (doc.tok[0].type == JSMN_OBJECT) {
        for (int k = 1; k < doc.ntok; k = json_skip(&doc, k + 1)) {
            int v = json_object_get(&doc, 0, json_tok_ptr(&doc, k), json_tok_len(&doc, k));
            if (v < 2 || !json_tok_eq(&doc, v - 1, json_tok_ptr(&doc, k), json_tok_len(&doc, k)))
                abort();
        }
    }
    json_free(&doc);
    return 0;
}
