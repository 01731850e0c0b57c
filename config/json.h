/* json.h -- strict JSON validation plus jsmn tokens, and the few reads hookgate needs. */
#ifndef HOOKGATE_JSON_H
#define HOOKGATE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSMN_HEADER
#include <jsmn.h>

/* A parsed document. The text is borrowed: it must outlive the document. */
typedef struct {
    const char *text;
    size_t len;
    jsmntok_t *tok; /* tok[0] is the root value */
    int ntok;
} json_doc_t;

/* Validates text against the JSON grammar (RFC 8259, one value, optional surrounding
 * whitespace), rejects nesting deeper than max_depth, then tokenizes it.
 * Returns 0, or -EINVAL with a human-readable reason in err (the doc is then empty
 * and needs no json_free). Any thread. */
int json_parse(json_doc_t *doc, const char *text, size_t len, int max_depth, char *err,
               size_t errlen);
void json_free(json_doc_t *doc);

/* Index of the token that follows the whole value starting at token i. */
int json_skip(const json_doc_t *doc, int i);

/* Value token of key in the object at token obj (the last one if the key repeats),
 * or -1. Keys are compared as raw (escaped) bytes. */
int json_object_get(const json_doc_t *doc, int obj, const char *key, size_t keylen);

/* Value at a dotted path ("payload.product_id") below the object at token root, or -1. */
int json_path_get(const json_doc_t *doc, int root, const char *path, size_t pathlen);

/* Raw bytes of token i: for strings the escaped contents without quotes. */
static inline const char *json_tok_ptr(const json_doc_t *doc, int i)
{
    return doc->text + doc->tok[i].start;
}
static inline size_t json_tok_len(const json_doc_t *doc, int i)
{
    return (size_t)(doc->tok[i].end - doc->tok[i].start);
}
static inline bool json_is_string(const json_doc_t *doc, int i)
{
    return doc->tok[i].type == JSMN_STRING;
}
/* Bytes of the value at token i including the quotes of a string. */
const char *json_value_ptr(const json_doc_t *doc, int i, size_t *len);

/* Raw comparison of token i with s (strings compare their escaped contents). */
bool json_tok_eq(const json_doc_t *doc, int i, const char *s, size_t n);

/* Decodes the string token i (escapes resolved, \u to UTF-8) into a malloc'd
 * NUL-terminated string. Returns NULL if the token is not a string. */
char *json_str_dup(const json_doc_t *doc, int i);
/* The same, also setting *len to the decoded length (which counts any \u0000). */
char *json_str_dup_n(const json_doc_t *doc, int i, size_t *len);
/* True when string token i decodes to exactly s/n (allocation-free; raw comparison when
 * the token has no escapes). False for other tokens. */
bool json_str_equals(const json_doc_t *doc, int i, const char *s, size_t n);

/* Appends s as a JSON string literal (with quotes and escapes) to buf. Bytes that are
 * not well-formed UTF-8 are written as \ufffd, so json_parse accepts every result.
 * Returns the number of bytes written, or the number needed if cap is too small (like
 * snprintf). */
size_t json_escape(char *buf, size_t cap, const char *s, size_t n);

#endif
