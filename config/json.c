/* json.c -- strict JSON validation plus jsmn tokens, and the few reads hookgate needs. */
#include <jsmn.h> /* the one translation unit that compiles jsmn's code */

#include "json.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* jsmn accepts several malformed inputs ("[1 2]", "{"a" 1}", "tru"), so the text is
 * first checked by this small recursive-descent validator, which also bounds the
 * nesting depth (keeping its own recursion bounded) and counts the tokens jsmn
 * will need. */
typedef struct {
    const char *p, *end;
    int depth, max_depth;
    int ntok;
    const char *why;
} validator_t;

static void skip_ws(validator_t *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7: no overlong forms,
 * no encoded surrogates, nothing above U+10FFFF), or 0. Its first byte is >= 0x80. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0; /* below: overlong */
        if (c == 0xED) hi = 0x9F; /* above: U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90; /* below: overlong */
        if (c == 0xF4) hi = 0x8F; /* above: beyond U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* Strings must be well-formed UTF-8 and their \u escapes must decode to Unicode scalar
 * values: a stored event is re-read, matched and delivered by other programs, and one
 * that cannot be transcoded is a poison message for them. */
static int check_string(validator_t *v)
{
    v->p++; /* opening quote */
    while (v->p < v->end) {
        unsigned char c = (unsigned char)*v->p;
        if (c == '"') {
            v->p++;
            v->ntok++;
            return 0;
        }
        if (c < 0x20) {
            v->why = "control character in string";
            return -1;
        }
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)v->p, (const unsigned char *)v->end);
            if (n == 0) {
                v->why = "invalid UTF-8 in string";
                return -1;
            }
            v->p += n;
            continue;
        }
        if (c == '\\') {
            if (v->end - v->p < 2) break;
            char e = v->p[1];
            if (e == 'u') {
                if (v->end - v->p < 6 || !is_hex(v->p[2]) || !is_hex(v->p[3]) ||
                    !is_hex(v->p[4]) || !is_hex(v->p[5])) {
                    v->why = "bad \\u escape in string";
                    return -1;
                }
                unsigned cp = hex4(v->p + 2);
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    v->why = "unpaired low surrogate escape in string";
                    return -1;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    const char *lo = v->p + 6;
                    if (v->end - lo < 6 || lo[0] != '\\' || lo[1] != 'u' || !is_hex(lo[2]) ||
                        !is_hex(lo[3]) || !is_hex(lo[4]) || !is_hex(lo[5]) ||
                        hex4(lo + 2) < 0xDC00 || hex4(lo + 2) > 0xDFFF) {
                        v->why = "unpaired high surrogate escape in string";
                        return -1;
                    }
                    v->p += 6;
                }
                v->p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                v->why = "bad escape in string";
                return -1;
            }
            v->p += 2;
            continue;
        }
        v->p++;
    }
    v->why = "unterminated string";
    return -1;
}

static int check_digits(validator_t *v)
{
    const char *start = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return v->p > start ? 0 : -1;
}

static int check_number(validator_t *v)
{
    if (*v->p == '-') v->p++;
    if (v->p < v->end && *v->p == '0')
        v->p++;
    else if (check_digits(v) != 0)
        goto bad;
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (check_digits(v) != 0) goto bad;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-')) v->p++;
        if (check_digits(v) != 0) goto bad;
    }
    v->ntok++;
    return 0;
bad:
    v->why = "malformed number";
    return -1;
}

static int check_literal(validator_t *v, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0) {
        v->why = "unexpected token";
        return -1;
    }
    v->p += n;
    v->ntok++;
    return 0;
}

static int check_value(validator_t *v);

static int check_container(validator_t *v, char close)
{
    if (++v->depth > v->max_depth) {
        v->why = "nesting too deep";
        return -1;
    }
    v->p++;
    v->ntok++;
    skip_ws(v);
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            skip_ws(v);
            if (v->p >= v->end || *v->p != '"') {
                v->why = "expected a string key";
                return -1;
            }
            if (check_string(v) != 0) return -1;
            skip_ws(v);
            if (v->p >= v->end || *v->p != ':') {
                v->why = "expected ':'";
                return -1;
            }
            v->p++;
        }
        if (check_value(v) != 0) return -1;
        skip_ws(v);
        if (v->p < v->end && *v->p == ',') {
            v->p++;
            continue;
        }
        if (v->p < v->end && *v->p == close) {
            v->p++;
            v->depth--;
            return 0;
        }
        v->why = close == '}' ? "expected ',' or '}'" : "expected ',' or ']'";
        return -1;
    }
}

static int check_value(validator_t *v)
{
    skip_ws(v);
    if (v->p >= v->end) {
        v->why = "unexpected end of input";
        return -1;
    }
    switch (*v->p) {
    case '{': return check_container(v, '}');
    case '[': return check_container(v, ']');
    case '"': return check_string(v);
    case 't': return check_literal(v, "true");
    case 'f': return check_literal(v, "false");
    case 'n': return check_literal(v, "null");
    default:
        if (*v->p == '-' || (*v->p >= '0' && *v->p <= '9')) return check_number(v);
        v->why = "unexpected character";
        return -1;
    }
}

int json_parse(json_doc_t *doc, const char *text, size_t len, int max_depth, char *err,
               size_t errlen)
{
    memset(doc, 0, sizeof(*doc));
    validator_t v = {.p = text, .end = text + len, .max_depth = max_depth};
    if (check_value(&v) == 0) {
        skip_ws(&v);
        if (v.p != v.end) v.why = "trailing characters after the JSON value";
    }
    if (v.why) {
        if (err) snprintf(err, errlen, "%s at byte %zu", v.why, (size_t)(v.p - text));
        return -EINVAL;
    }
    jsmntok_t *tok = xmalloc(sizeof(*tok) * (size_t)v.ntok);
    int n;
    v.p = text;
    skip_ws(&v);
    if (v.ntok == 1 && !strchr("\"{[", *v.p)) {
        /* jsmn's strict mode wants a delimiter after a primitive, so it rejects a bare
         * scalar root that ends the input ("1", "true"); the validator has already
         * checked it, so its single token is filled in here. */
        const char *e = v.p;
        while (e < v.end && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r')
            e++;
        tok[0] = (jsmntok_t){.type = JSMN_PRIMITIVE,
                             .start = (int)(v.p - text),
                             .end = (int)(e - text),
                             .size = 0,
                             .parent = -1};
        n = 1;
    } else {
        jsmn_parser parser;
        jsmn_init(&parser);
        n = jsmn_parse(&parser, text, len, tok, (unsigned)v.ntok);
    }
    if (n != v.ntok) { /* cannot happen for validated input; fail closed */
        free(tok);
        if (err) snprintf(err, errlen, "invalid JSON");
        return -EINVAL;
    }
    doc->text = text;
    doc->len = len;
    doc->tok = tok;
    doc->ntok = n;
    return 0;
}

void json_free(json_doc_t *doc)
{
    free(doc->tok);
    memset(doc, 0, sizeof(*doc));
}

int json_skip(const json_doc_t *doc, int i)
{
    /* Tokens are in document order, so a value's subtree ends at the first token
     * that starts after the value's end. */
    int end = doc->tok[i].end;
    int j = i + 1;
    while (j < doc->ntok && doc->tok[j].start < end)
        j++;
    return j;
}

int json_object_get(const json_doc_t *doc, int obj, const char *key, size_t keylen)
{
    if (obj < 0 || obj >= doc->ntok || doc->tok[obj].type != JSMN_OBJECT) return -1;
    int found = -1;
    int k = obj + 1;
    for (int n = 0; n < doc->tok[obj].size; n++) {
        int val = k + 1;
        if (json_tok_eq(doc, k, key, keylen)) found = val;
        k = json_skip(doc, val);
    }
    return found;
}

int json_path_get(const json_doc_t *doc, int root, const char *path, size_t pathlen)
{
    int cur = root;
    const char *p = path, *end = path + pathlen;
    while (cur >= 0) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *seg_end = dot ? dot : end;
        cur = json_object_get(doc, cur, p, (size_t)(seg_end - p));
        if (!dot) return cur;
        p = dot + 1;
    }
    return -1;
}

const char *json_value_ptr(const json_doc_t *doc, int i, size_t *len)
{
    int start = doc->tok[i].start, end = doc->tok[i].end;
    if (doc->tok[i].type == JSMN_STRING) {
        start--;
        end++;
    }
    *len = (size_t)(end - start);
    return doc->text + start;
}

bool json_tok_eq(const json_doc_t *doc, int i, const char *s, size_t n)
{
    return json_tok_len(doc, i) == n && memcmp(json_tok_ptr(doc, i), s, n) == 0;
}

/* Decodes one character of a validated JSON string at *p into out (up to 4 bytes of
 * UTF-8), advancing *p. The validator admits surrogate escapes only in pairs. */
static size_t decode_char(const char **p, unsigned char out[4])
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
        if (cp >= 0xD800 && cp < 0xDC00) { /* the validator has checked the pair */
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(s + 2) - 0xDC00);
            s += 6;
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

char *json_str_dup(const json_doc_t *doc, int i)
{
    size_t len;
    return json_str_dup_n(doc, i, &len);
}

char *json_str_dup_n(const json_doc_t *doc, int i, size_t *len)
{
    if (doc->tok[i].type != JSMN_STRING) return NULL;
    const char *p = json_tok_ptr(doc, i), *end = p + json_tok_len(doc, i);
    /* a character never decodes to more bytes than its escaped form takes */
    char *out = xmalloc((size_t)(end - p) + 1), *o = out;
    while (p < end)
        o += decode_char(&p, (unsigned char *)o);
    *o = '\0';
    *len = (size_t)(o - out);
    return out;
}

bool json_str_equals(const json_doc_t *doc, int i, const char *s, size_t n)
{
    if (doc->tok[i].type != JSMN_STRING) return false;
    const char *p = json_tok_ptr(doc, i), *end = p + json_tok_len(doc, i);
    if (!memchr(p, '\\', (size_t)(end - p)))
        return (size_t)(end - p) == n && memcmp(p, s, n) == 0;
    size_t at = 0;
    while (p < end) {
        unsigned char buf[4];
        size_t k = decode_char(&p, buf);
        if (k > n - at || memcmp(buf, s + at, k) != 0) return false;
        at += k;
    }
    return at == n;
}

size_t json_escape(char *buf, size_t cap, const char *s, size_t n)
{
    size_t w = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (w < cap) buf[w] = (c);                                                                 \
        w++;                                                                                       \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hex[c >> 4]);
            PUT(hex[c & 15]);
        } else if (c >= 0x80) {
            /* Output is always well-formed UTF-8, which json_parse demands of what it
             * reads back: an ill-formed byte (say from a peer's error text) becomes
             * U+FFFD, each byte on its own. */
            const unsigned char *u = (const unsigned char *)s + i;
            size_t k = utf8_len(u, (const unsigned char *)s + n);
            if (k == 0) {
                PUT('\\');
                PUT('u');
                PUT('f');
                PUT('f');
                PUT('f');
                PUT('d');
            }
            for (size_t j = 0; j < k; j++)
                PUT((char)u[j]);
            if (k > 0) i += k - 1;
        } else {
            PUT((char)c);
        }
    }
    PUT('"');
#undef PUT
    return w;
}
