/* match.c -- subscription matching (event type + filter) against a parsed envelope. */
#include "gateway/match.h"

#include <stdlib.h>
#include <string.h>

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Decodes one character of a validated JSON string at *p into out (up to 4 bytes),
 * advancing *p; the same decoding as json_str_dup, so that config values (decoded
 * by it) and event values compare alike, lone surrogates included. */
static size_t decode_char(const char **p, const char *end, unsigned char out[4])
{
    const char *s = *p;
    if (*s != '\\') {
        out[0] = (unsigned char)*s;
        *p = s + 1;
        return 1;
    }
    char e = s[1];
    s += 2;
    unsigned cp;
    switch (e) {
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u':
        cp = hex4(s);
        s += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && end - s >= 6 && s[0] == '\\' && s[1] == 'u') {
            unsigned lo = hex4(s + 2);
            if (lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                s += 6;
            }
        }
        break;
    default: cp = (unsigned char)e; break; /* \" \\ \/ */
    }
    *p = s;
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Does the escaped string raw/len decode to want/want_len? Allocation-free. */
static bool decoded_eq(const char *raw, size_t len, bool escaped, const char *want, size_t want_len)
{
    if (!escaped) return len == want_len && memcmp(raw, want, len) == 0;
    const char *p = raw, *end = raw + len;
    size_t at = 0;
    while (p < end) {
        unsigned char buf[4];
        size_t n = decode_char(&p, end, buf);
        if (n > want_len - at || memcmp(buf, want + at, n) != 0) return false;
        at += n;
    }
    return at == want_len;
}

/* JSON numbers are not NUL-terminated inside the document; strtod needs a copy. */
static double token_number(const char *p, size_t len)
{
    char buf[64];
    if (len < sizeof(buf)) {
        memcpy(buf, p, len);
        buf[len] = '\0';
        return strtod(buf, NULL);
    }
    char *copy = strndup(p, len);
    if (!copy) abort();
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
        bool escaped = memchr(raw, '\\', len) != NULL;
        for (size_t i = 0; i < f->nvalues; i++) {
            const cfg_value_t *want = &f->values[i];
            if (want->kind == CFG_VALUE_STRING &&
                decoded_eq(raw, len, escaped, want->str, want->len))
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
