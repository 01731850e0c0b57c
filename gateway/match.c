/* match.c -- subscription matching (event type + filter) against a parsed envelope. */
#include "gateway/match.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* JSON numbers are not NUL-terminated inside the document; strtod needs a copy. */
static double token_number(const char *p, size_t len)
{
    char buf[64];
    if (len < sizeof(buf)) {
        memcpy(buf, p, len);
        buf[len] = '\0';
        return strtod(buf, NULL);
    }
    char *copy = xmemdup0(p, len);
    double v = strtod(copy, NULL);
    free(copy);
    return v;
}

/* Does the value at token v equal one of the filter's values? */
static bool filter_matches(const cfg_filter_t *f, const json_doc_t *doc, int v)
{
    const char *raw = json_tok_ptr(doc, v);
    size_t len = json_tok_len(doc, v);
    if (doc->tok[v].type == JSMN_STRING) {
        for (size_t i = 0; i < f->nvalues; i++) {
            const cfg_value_t *want = &f->values[i];
            if (want->kind == CFG_VALUE_STRING && json_str_equals(doc, v, want->str, want->len))
                return true;
        }
        return false;
    }
    if (doc->tok[v].type != JSMN_PRIMITIVE || raw[0] == 'n') return false; /* null */
    if (raw[0] == 't' || raw[0] == 'f') {
        bool b = raw[0] == 't';
        for (size_t i = 0; i < f->nvalues; i++)
            if (f->values[i].kind == CFG_VALUE_BOOL && f->values[i].boolean == b) return true;
        return false;
    }
    double num = token_number(raw, len);
    for (size_t i = 0; i < f->nvalues; i++)
        if (f->values[i].kind == CFG_VALUE_NUMBER && f->values[i].number == num) return true;
    return false;
}

bool match_subscriber(const cfg_subscriber_t *sub, const char *type, size_t type_len,
                      const json_doc_t *doc, int env)
{
    bool type_ok = sub->all_events;
    for (size_t i = 0; i < sub->nevents && !type_ok; i++)
        type_ok = strlen(sub->events[i]) == type_len && memcmp(sub->events[i], type, type_len) == 0;
    if (!type_ok) return false;

    for (size_t i = 0; i < sub->nfilters; i++) {
        const cfg_filter_t *f = &sub->filters[i];
        int v = json_path_get(doc, env, f->path, strlen(f->path));
        if (v < 0 || !filter_matches(f, doc, v)) return false;
    }
    return true;
}
