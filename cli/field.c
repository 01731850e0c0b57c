/* field.c -- members of the admin API's JSON answers, read for display and written back. */
#include "cli/field.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

char *field_text(const json_doc_t *doc, int obj, const char *key)
{
    int t = json_object_get(doc, obj, key, strlen(key));
    if (t < 0 || json_tok_eq(doc, t, "null", 4)) return xstrdup("-");
    if (json_is_string(doc, t)) return json_str_dup(doc, t);
    size_t n;
    const char *p = json_value_ptr(doc, t, &n);
    return xmemdup0(p, n);
}

long long field_int(const json_doc_t *doc, int obj, const char *key)
{
    int t = json_object_get(doc, obj, key, strlen(key));
    if (t < 0 || doc->tok[t].type != JSMN_PRIMITIVE) return 0;
    return strtoll(json_tok_ptr(doc, t), NULL, 10);
}

void field_put_json_string(core_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    size_t need = json_escape(NULL, 0, s, n);
    core_buf_reserve(b, need + 1);
    b->len += json_escape(b->p + b->len, need + 1, s, n);
}
