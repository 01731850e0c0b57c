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

/* What a filter finds at its path: a value of a kind it compares, another value (object,
 * array, null), or nothing. */
typedef enum { KIND_STRING, KIND_NUMBER, KIND_BOOL, KIND_OTHER, KIND_MISSING } kind_t;

static kind_t value_kind(const json_doc_t *doc, int v)
{
    if (v < 0) return KIND_MISSING;
    if (doc->tok[v].type == JSMN_STRING) return KIND_STRING;
    if (doc->tok[v].type != JSMN_PRIMITIVE) return KIND_OTHER;
    char c = *json_tok_ptr(doc, v);
    if (c == 't' || c == 'f') return KIND_BOOL;
    return c == 'n' ? KIND_OTHER : KIND_NUMBER;
}

static bool is_scalar(kind_t k)
{
    return k == KIND_STRING || k == KIND_NUMBER || k == KIND_BOOL;
}

/* Does the value at token v (of a scalar kind k) equal one of the filter's values? */
static bool equals_one_of(const cfg_filter_t *f, const json_doc_t *doc, int v, kind_t k)
{
    const char *raw = json_tok_ptr(doc, v);
    double num = k == KIND_NUMBER ? token_number(raw, json_tok_len(doc, v)) : 0;
    for (size_t i = 0; i < f->nvalues; i++) {
        const cfg_value_t *want = &f->values[i];
        if (k == KIND_STRING && want->kind == CFG_VALUE_STRING &&
            json_str_equals(doc, v, want->str, want->len))
            return true;
        if (k == KIND_BOOL && want->kind == CFG_VALUE_BOOL && want->boolean == (raw[0] == 't'))
            return true;
        if (k == KIND_NUMBER && want->kind == CFG_VALUE_NUMBER && want->number == num) return true;
    }
    return false;
}

/* Does the string token v start with prefix/n once decoded? Only a string with escapes
 * is decoded (allocating); the rest compare in place. */
static bool has_prefix(const json_doc_t *doc, int v, const char *prefix, size_t n)
{
    const char *raw = json_tok_ptr(doc, v);
    size_t len = json_tok_len(doc, v);
    if (!memchr(raw, '\\', len)) return len >= n && memcmp(raw, prefix, n) == 0;
    size_t dlen;
    char *decoded = json_str_dup_n(doc, v, &dlen);
    bool yes = dlen >= n && memcmp(decoded, prefix, n) == 0;
    free(decoded);
    return yes;
}

/* Is x in the relation op (GT, GTE, LT or LTE) to n? */
static bool compare(cfg_filter_op_t op, double x, double n)
{
    switch (op) {
    case CFG_FILTER_GT: return x > n;
    case CFG_FILTER_GTE: return x >= n;
    case CFG_FILTER_LT: return x < n;
    default: return x <= n;
    }
}

/* Does the value at token v (-1 when the path is missing) pass filter f? */
static bool filter_matches(const cfg_filter_t *f, const json_doc_t *doc, int v)
{
    kind_t k = value_kind(doc, v);
    switch (f->op) {
    case CFG_FILTER_EXISTS: return (k != KIND_MISSING) == f->values[0].boolean;
    case CFG_FILTER_IN: return is_scalar(k) && equals_one_of(f, doc, v, k);
    case CFG_FILTER_NOT_IN:
        return k == KIND_MISSING || (is_scalar(k) && !equals_one_of(f, doc, v, k));
    case CFG_FILTER_PREFIX:
        return k == KIND_STRING && has_prefix(doc, v, f->values[0].str, f->values[0].len);
    case CFG_FILTER_GT:
    case CFG_FILTER_GTE:
    case CFG_FILTER_LT:
    case CFG_FILTER_LTE:
        return k == KIND_NUMBER &&
               compare(f->op, token_number(json_tok_ptr(doc, v), json_tok_len(doc, v)),
                       f->values[0].number);
    }
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
        if (!filter_matches(f, doc, json_path_get(doc, env, f->path, strlen(f->path))))
            return false;
    }
    return true;
}
