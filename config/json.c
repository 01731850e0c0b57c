/* json.c -- strict JSON validation plus jsmn tokens, and the few reads hookgate needs. */
#include "json.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* jsmn accepts several malformed inputs ("[1 2]", "{"a" 1}", "tru"), so hookgate does not
 * run it: this small recursive-descent parser checks the grammar, bounds the nesting depth
 * (keeping its own recursion bounded) and, in the same pass, writes the tokens exactly as
 * jsmn (JSMN_STRICT, JSMN_PARENT_LINKS) lays them out for valid input: strings without
 * their quotes, a container's end after its closing bracket, size = members (keys for an
 * object, 1 for a key), parent = the container, or the key for an object's value. One
 * pass instead of a validation pass plus jsmn's: a 600-byte envelope's parse went from
 * about 17,000 instructions to 6,000. */
typedef struct {
    const char *text, *p, *end;
    int depth, max_depth;
    jsmntok_t *tok;
    int ntok, cap;
    const char *why;
} parser_t;

#define TOKENS_FIRST 32 /* an envelope has a few dozen tokens: usually one allocation */

/* Appends a token starting at start (its end is set when known); returns its index. */
static int add_token(parser_t *v, jsmntype_t type, const char *start, int parent)
{
    if (v->ntok == v->cap) {
        v->cap = v->cap ? v->cap * 2 : TOKENS_FIRST;
        v->tok = xrealloc(v->tok, sizeof(*v->tok) * (size_t)v->cap);
    }
    v->tok[v->ntok] = (jsmntok_t){
        .type = type, .start = (int)(start - v->text), .end = -1, .size = 0, .parent = parent};
    return v->ntok++;
}

static void skip_ws(parser_t *v)
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

/* True when none of the 8 bytes at p needs a look inside a string: no quote, backslash,
 * control character or non-ASCII byte. Bytewise "any zero" and "any below" tests on one
 * word (exact for "any"); most string bytes are plain, so strings are scanned 8 at a time. */
static bool plain8(const char *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    uint64_t special = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
                       ((x - ones * 0x20) & ~x) | x;
    return (special & highs) == 0;
}

/* Strings must be well-formed UTF-8 and their \u escapes must decode to Unicode scalar
 * values: a stored event is re-read, matched and delivered by other programs, and one
 * that cannot be transcoded is a poison message for them. Returns the token or -1. */
static int check_string(parser_t *v, int parent)
{
    int t = add_token(v, JSMN_STRING, v->p + 1, parent);
    const char *p = v->p + 1, *end = v->end; /* after the opening quote */
    for (;;) {
        while (end - p >= 8 && plain8(p))
            p += 8;
        if (p >= end) break;
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            v->tok[t].end = (int)(p - v->text);
            v->p = p + 1;
            return t;
        }
        if (c < 0x20) {
            v->p = p;
            v->why = "control character in string";
            return -1;
        }
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
            if (n == 0) {
                v->p = p;
                v->why = "invalid UTF-8 in string";
                return -1;
            }
            p += n;
            continue;
        }
        if (c == '\\') {
            if (end - p < 2) break;
            char e = p[1];
            if (e == 'u') {
                if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) ||
                    !is_hex(p[5])) {
                    v->p = p;
                    v->why = "bad \\u escape in string";
                    return -1;
                }
                unsigned cp = hex4(p + 2);
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    v->p = p;
                    v->why = "unpaired low surrogate escape in string";
                    return -1;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    const char *lo = p + 6;
                    if (end - lo < 6 || lo[0] != '\\' || lo[1] != 'u' || !is_hex(lo[2]) ||
                        !is_hex(lo[3]) || !is_hex(lo[4]) || !is_hex(lo[5]) ||
                        hex4(lo + 2) < 0xDC00 || hex4(lo + 2) > 0xDFFF) {
                        v->p = p;
                        v->why = "unpaired high surrogate escape in string";
                        return -1;
                    }
                    p += 6;
                }
                p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                v->p = p;
                v->why = "bad escape in string";
                return -1;
            }
            p += 2;
            continue;
        }
        p++;
    }
    v->p = p;
    v->why = "unterminated string";
    return -1;
}

static int check_digits(parser_t *v)
{
    const char *start = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return v->p > start ? 0 : -1;
}

/* A primitive's token ends where its text does: valid input has a delimiter, blank or the
 * end of the text there, which is where jsmn ends it too. */
static int check_number(parser_t *v, int parent)
{
    const char *start = v->p;
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
    int t = add_token(v, JSMN_PRIMITIVE, start, parent);
    v->tok[t].end = (int)(v->p - v->text);
    return t;
bad:
    v->why = "malformed number";
    return -1;
}

static int check_literal(parser_t *v, const char *lit, size_t n, int parent)
{
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0) {
        v->why = "unexpected token";
        return -1;
    }
    int t = add_token(v, JSMN_PRIMITIVE, v->p, parent);
    v->p += n;
    v->tok[t].end = (int)(v->p - v->text);
    return t;
}

static int check_value(parser_t *v, int parent);

static int check_container(parser_t *v, char close, int parent)
{
    if (++v->depth > v->max_depth) {
        v->why = "nesting too deep";
        return -1;
    }
    int t = add_token(v, close == '}' ? JSMN_OBJECT : JSMN_ARRAY, v->p, parent);
    v->p++;
    skip_ws(v);
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->tok[t].end = (int)(v->p - v->text);
        v->depth--;
        return t;
    }
    for (;;) {
        int member_parent = t; /* an array's element, or an object's key */
        if (close == '}') {
            skip_ws(v);
            if (v->p >= v->end || *v->p != '"') {
                v->why = "expected a string key";
                return -1;
            }
            if ((member_parent = check_string(v, t)) < 0) return -1;
            v->tok[t].size++;
            skip_ws(v);
            if (v->p >= v->end || *v->p != ':') {
                v->why = "expected ':'";
                return -1;
            }
            v->p++;
        }
        if (check_value(v, member_parent) < 0) return -1;
        v->tok[member_parent].size++; /* the array's count, or 1 for the key */
        skip_ws(v);
        if (v->p < v->end && *v->p == ',') {
            v->p++;
            continue;
        }
        if (v->p < v->end && *v->p == close) {
            v->p++;
            v->tok[t].end = (int)(v->p - v->text);
            v->depth--;
            return t;
        }
        v->why = close == '}' ? "expected ',' or '}'" : "expected ',' or ']'";
        return -1;
    }
}

/* Returns the value's token, or -1 with v->why set. */
static int check_value(parser_t *v, int parent)
{
    skip_ws(v);
    if (v->p >= v->end) {
        v->why = "unexpected end of input";
        return -1;
    }
    switch (*v->p) {
    case '{': return check_container(v, '}', parent);
    case '[': return check_container(v, ']', parent);
    case '"': return check_string(v, parent);
    case 't': return check_literal(v, "true", 4, parent);
    case 'f': return check_literal(v, "false", 5, parent);
    case 'n': return check_literal(v, "null", 4, parent);
    default:
        if (*v->p == '-' || (*v->p >= '0' && *v->p <= '9')) return check_number(v, parent);
        v->why = "unexpected character";
        return -1;
    }
}

int json_parse(json_doc_t *doc, const char *text, size_t len, int max_depth, char *err,
               size_t errlen)
{
    memset(doc, 0, sizeof(*doc));
    parser_t v = {.text = text, .p = text, .end = text + len, .max_depth = max_depth};
    if (check_value(&v, -1) >= 0) {
        skip_ws(&v);
        if (v.p != v.end) v.why = "trailing characters after the JSON value";
    }
    if (v.why) {
        free(v.tok);
        if (err) snprintf(err, errlen, "%s at byte %zu", v.why, (size_t)(v.p - text));
        return -EINVAL;
    }
    doc->text = text;
    doc->len = len;
    doc->tok = v.tok;
    doc->ntok = v.ntok;
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
