/* test_json.c -- the strict JSON validator, token helpers, string decoding and escaping. */
#include "config/json.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdlib.h>

static int parse(json_doc_t *doc, const char *text, int max_depth, char *err, size_t errlen)
{
    return json_parse(doc, text, strlen(text), max_depth, err, errlen);
}

/* Valid documents parse, with the expected token count and root type. */
static void valid(const char *text, int ntok, jsmntype_t root)
{
    json_doc_t doc;
    char err[128] = "";
    int rc = parse(&doc, text, 64, err, sizeof(err));
    CHECK(rc == 0);
    if (rc != 0) {
        printf("#   %s -> %s\n", text, err);
        return;
    }
    CHECK(doc.ntok == ntok && doc.tok[0].type == root);
    if (doc.ntok != ntok) printf("#   %s: %d tokens\n", text, doc.ntok);
    json_free(&doc);
    CHECK(doc.tok == NULL && doc.ntok == 0);
}

/* Invalid documents fail with exactly the reason want, and leave an empty doc. */
static void invalid_n(const char *text, size_t len, int max_depth, const char *want)
{
    json_doc_t doc;
    char err[128] = "";
    CHECK(json_parse(&doc, text, len, max_depth, err, sizeof(err)) == -EINVAL);
    CHECK(doc.tok == NULL && doc.ntok == 0);
    CHECK_STR(err, want);
}

static void invalid(const char *text, const char *want)
{
    invalid_n(text, strlen(text), 64, want);
}

/* Strings hold well-formed UTF-8 only (Unicode table 3-7) and \\u escapes only Unicode
 * scalar values: surrogate escapes come in high-low pairs. */
static void test_utf8(void)
{
    /* 1- to 4-byte characters at the edges of each length and of the excluded ranges. */
    valid("\"\x7f \xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf\"", 1,
          JSMN_STRING);
    valid("\"\xf0\x90\x80\x80 \xf0\x9f\x98\x80 \xf3\xbf\xbf\xbf \xf4\x8f\xbf\xbf\"", 1,
          JSMN_STRING);
    valid("{\"k\xc3\xa9\": \"\xe2\x82\xac\"}", 3, JSMN_OBJECT);
    valid("\"\\ud83d\\ude00\\uD800\\uDC00\\uDBFF\\uDFFF\\ud7ff\\ue000\\uffff\"", 1, JSMN_STRING);

    static const struct {
        const char *text, *why;
    } bad[] = {
        /* bytes that never appear in UTF-8 */
        {"\"\xff\"", "invalid UTF-8 in string at byte 1"},
        {"\"a\xfe\"", "invalid UTF-8 in string at byte 2"},
        {"\"\xf5\x80\x80\x80\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xf8\x88\x80\x80\x80\"", "invalid UTF-8 in string at byte 1"},
        /* a continuation byte without a lead */
        {"\"\x80\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xc3\xa9\xa9\"", "invalid UTF-8 in string at byte 3"},
        /* overlong forms */
        {"\"\xc0\x80\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xc1\xbf\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xe0\x80\x80\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xe0\x9f\xbf\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xf0\x80\x80\x80\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xf0\x8f\xbf\xbf\"", "invalid UTF-8 in string at byte 1"},
        /* UTF-8-encoded surrogates U+D800..U+DFFF */
        {"\"\xed\xa0\x80\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xed\xbf\xbf\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xed\xa0\xbd\xed\xb8\x80\"", "invalid UTF-8 in string at byte 1"},
        /* above U+10FFFF */
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xf4\xbf\xbf\xbf\"", "invalid UTF-8 in string at byte 1"},
        /* truncated sequences: cut by the quote, by ASCII, or by the end of input */
        {"\"\xc3\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xe2\x82\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xf0\x9f\x98\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xe2\x82z\"", "invalid UTF-8 in string at byte 1"},
        {"\"\xf0\x9f\x98", "invalid UTF-8 in string at byte 1"},
        {"\"\xe2", "invalid UTF-8 in string at byte 1"},
        /* in keys too, and deep inside a document */
        {"{\"\xff\": 1}", "invalid UTF-8 in string at byte 2"},
        {"[1, {\"a\": [\"ok\", \"\xc0\xaf\"]}]", "invalid UTF-8 in string at byte 18"},
        /* escaped surrogates that do not form a pair */
        {"\"\\ud800\"", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\uDBFF\"", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\ud83dz\"", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\ud83d\\u0041\"", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\ud83d\\ud83d\\ude00\"", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\ud83d\\n\"", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\ud83d\\ude0\"", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\ud83d\\ue000\"", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\ud83d", "unpaired high surrogate escape in string at byte 1"},
        {"\"\\udc00\"", "unpaired low surrogate escape in string at byte 1"},
        {"\"\\uDFFF\"", "unpaired low surrogate escape in string at byte 1"},
        {"\"ok \\ude00\\ud83d\"", "unpaired low surrogate escape in string at byte 4"},
        {"\"\\ud83d\\ude00\\ude00\"", "unpaired low surrogate escape in string at byte 13"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        invalid(bad[i].text, bad[i].why);
    /* A NUL byte cannot continue a sequence. */
    invalid_n("\"\xc3\0\"", 4, 64, "invalid UTF-8 in string at byte 1");
}

static void test_validator(void)
{
    valid("{}", 1, JSMN_OBJECT);
    valid("[]", 1, JSMN_ARRAY);
    valid(" \t\r\n[ ] \n", 1, JSMN_ARRAY);
    valid("\"\"", 1, JSMN_STRING);
    valid("\"s\"", 1, JSMN_STRING);
    /* Scalar roots, with and without trailing whitespace. */
    valid("1", 1, JSMN_PRIMITIVE);
    valid("0", 1, JSMN_PRIMITIVE);
    valid("-0.5e+10", 1, JSMN_PRIMITIVE);
    valid("1E-3 ", 1, JSMN_PRIMITIVE);
    valid("true", 1, JSMN_PRIMITIVE);
    valid("false", 1, JSMN_PRIMITIVE);
    valid(" null\n", 1, JSMN_PRIMITIVE);
    valid("{\"a\": [1, {\"b\": null}], \"c\": \"\\u00e9\\\"\"}", 9, JSMN_OBJECT);
    valid("[[], {}, \"\", 0, -1.25, true, false, null]", 9, JSMN_ARRAY);
    valid("{\"\": \"\"}", 3, JSMN_OBJECT);
    valid("\"caf\xc3\xa9 \\/ \\b\\f\\n\\r\\t \\uD83D\\uDE00\"", 1, JSMN_STRING);

    invalid("[1 2]", "expected ',' or ']' at byte 3");
    invalid("{\"a\" 1}", "expected ':' at byte 5");
    invalid("{\"a\": 1 \"b\": 2}", "expected ',' or '}' at byte 8");
    invalid("tru", "unexpected token at byte 0");
    invalid("nul", "unexpected token at byte 0");
    invalid("True", "unexpected character at byte 0");
    invalid("[truex]", "expected ',' or ']' at byte 5");
    invalid("01", "trailing characters after the JSON value at byte 1");
    invalid("-01", "trailing characters after the JSON value at byte 2");
    invalid("1.", "malformed number at byte 2");
    invalid("1.e5", "malformed number at byte 2");
    invalid("1e", "malformed number at byte 2");
    invalid("1e+", "malformed number at byte 3");
    invalid("-", "malformed number at byte 1");
    invalid("+1", "unexpected character at byte 0");
    invalid(".5", "unexpected character at byte 0");
    invalid("NaN", "unexpected character at byte 0");
    invalid("[1,]", "unexpected character at byte 3");
    invalid("[,1]", "unexpected character at byte 1");
    invalid("{\"a\": 1,}", "expected a string key at byte 8");
    invalid("{1: 2}", "expected a string key at byte 1");
    invalid("{\"a\"}", "expected ':' at byte 4");
    invalid("[1}", "expected ',' or ']' at byte 2");
    invalid("[", "unexpected end of input at byte 1");
    invalid("{", "expected a string key at byte 1");
    invalid("", "unexpected end of input at byte 0");
    invalid("   ", "unexpected end of input at byte 3");
    invalid("{} x", "trailing characters after the JSON value at byte 3");
    invalid("\"a\" \"b\"", "trailing characters after the JSON value at byte 4");
    invalid("[] []", "trailing characters after the JSON value at byte 3");
    invalid("\"a\x01\"", "control character in string at byte 2");
    invalid("\"a\nb\"", "control character in string at byte 2");
    invalid("\"a\tb\"", "control character in string at byte 2");
    invalid("\"\\x\"", "bad escape in string at byte 1");
    invalid("\"\\u12G4\"", "bad \\u escape in string at byte 1");
    invalid("\"\\u12\"", "bad \\u escape in string at byte 1");
    invalid("\"abc", "unterminated string at byte 4");
    invalid("\"\\\"", "unterminated string at byte 3");
    invalid("\"\\", "unterminated string at byte 1");
    invalid("'a'", "unexpected character at byte 0");
    test_utf8();
    /* A NUL byte inside len is a character like any other, not an end. */
    invalid_n("[1]\0", 4, 64, "trailing characters after the JSON value at byte 3");
    invalid_n("\"a\0b\"", 5, 64, "control character in string at byte 2");
    /* len bounds the input: bytes after it are never read. */
    invalid_n("[1, 2]", 5, 64, "expected ',' or ']' at byte 5");
    invalid_n("true", 3, 64, "unexpected token at byte 0");
    json_doc_t doc;
    CHECK(json_parse(&doc, "[1, 2]xyz", 6, 64, NULL, 0) == 0 && doc.ntok == 3);
    json_free(&doc);
    /* err may be NULL. */
    CHECK(json_parse(&doc, "[", 1, 64, NULL, 0) == -EINVAL);

    /* Depth counts arrays and objects alike; max_depth itself is allowed. */
    char err[128];
    CHECK(parse(&doc, "[[[1]]]", 3, err, sizeof(err)) == 0);
    json_free(&doc);
    CHECK(parse(&doc, "[{\"a\": [1]}]", 3, err, sizeof(err)) == 0);
    json_free(&doc);
    CHECK(parse(&doc, "1", 0, err, sizeof(err)) == 0);
    json_free(&doc);
    invalid_n("[[[[1]]]]", 9, 3, "nesting too deep at byte 3");
    invalid_n("{\"a\": {\"b\": [{}]}}", 18, 3, "nesting too deep at byte 13");
    invalid_n("[]", 2, 0, "nesting too deep at byte 0");
    /* Deep input fails cleanly rather than exhausting the stack. */
    static char deep[200001];
    memset(deep, '[', sizeof(deep) - 1);
    invalid_n(deep, sizeof(deep) - 1, 64, "nesting too deep at byte 64");
    /* Siblings do not add depth. */
    CHECK(parse(&doc, "[[1], [2], [3], {\"a\": 1}]", 2, err, sizeof(err)) == 0);
    CHECK(doc.ntok == 10);
    json_free(&doc);
    /* A long error is cut to errlen. */
    char small[8];
    CHECK(parse(&doc, "[1 2]", 64, small, sizeof(small)) == -EINVAL);
    CHECK_STR(small, "expecte");
}

static const char nested[] =
    "{\"type\": \"product_purchased\", \"n\": 1, "
    "\"payload\": {\"product_id\": \"prod_123\", \"tags\": [\"a\", {\"x\": 1}],"
    " \"deep\": {\"k\": {\"v\": true}}, \"dup\": 1, \"dup\": 2,"
    " \"e\\u0073c\": \"esc\"}, \"last\": null}";

static void test_lookup(void)
{
    json_doc_t doc;
    char err[128];
    int rc = parse(&doc, nested, 64, err, sizeof(err));
    CHECK(rc == 0);
    if (rc != 0) return;

    int type = json_object_get(&doc, 0, "type", 4);
    CHECK(type > 0 && json_is_string(&doc, type));
    CHECK(json_tok_eq(&doc, type, "product_purchased", 17));
    CHECK(!json_tok_eq(&doc, type, "product_purchase", 16));
    size_t len;
    const char *raw = json_value_ptr(&doc, type, &len);
    CHECK(len == 19 && memcmp(raw, "\"product_purchased\"", 19) == 0);

    int n = json_object_get(&doc, 0, "n", 1);
    CHECK(n > 0 && !json_is_string(&doc, n) && json_tok_eq(&doc, n, "1", 1));
    raw = json_value_ptr(&doc, n, &len);
    CHECK(len == 1 && raw[0] == '1');

    int payload = json_object_get(&doc, 0, "payload", 7);
    CHECK(payload > 0 && doc.tok[payload].type == JSMN_OBJECT);
    raw = json_value_ptr(&doc, payload, &len);
    CHECK(raw[0] == '{' && raw[len - 1] == '}');
    /* Only direct members: nested keys are not found from the root. */
    CHECK(json_object_get(&doc, 0, "product_id", 10) == -1);
    CHECK(json_object_get(&doc, 0, "typ", 3) == -1);
    CHECK(json_object_get(&doc, 0, "", 0) == -1);
    /* Not an object, or out of range. */
    CHECK(json_object_get(&doc, type, "x", 1) == -1);
    CHECK(json_object_get(&doc, -1, "type", 4) == -1);
    CHECK(json_object_get(&doc, doc.ntok, "type", 4) == -1);
    /* A repeated key gives the last value. */
    int dup = json_object_get(&doc, payload, "dup", 3);
    CHECK(dup > 0 && json_tok_eq(&doc, dup, "2", 1));
    /* Keys compare raw: an escaped key matches only its escaped spelling. */
    CHECK(json_object_get(&doc, payload, "esc", 3) == -1);
    CHECK(json_object_get(&doc, payload, "e\\u0073c", 8) > 0);

    int pid = json_path_get(&doc, 0, "payload.product_id", 18);
    CHECK(pid > 0 && json_tok_eq(&doc, pid, "prod_123", 8));
    int v = json_path_get(&doc, 0, "payload.deep.k.v", 16);
    CHECK(v > 0 && json_tok_eq(&doc, v, "true", 4));
    CHECK(json_path_get(&doc, 0, "type", 4) == type);
    CHECK(json_path_get(&doc, 0, "payload", 7) == payload);
    CHECK(json_path_get(&doc, payload, "deep.k.v", 8) == v);
    CHECK(json_path_get(&doc, 0, "payload.missing", 15) == -1);
    CHECK(json_path_get(&doc, 0, "payload.product_id.x", 20) == -1); /* through a string */
    CHECK(json_path_get(&doc, 0, "payload.tags.0", 14) == -1);       /* arrays are not indexed */
    CHECK(json_path_get(&doc, 0, "payload.deep.k.v.w", 18) == -1);
    CHECK(json_path_get(&doc, 0, "payload..product_id", 19) == -1);
    CHECK(json_path_get(&doc, 0, "nope.x", 6) == -1);
    /* pathlen bounds the path. */
    CHECK(json_path_get(&doc, 0, "payload.product_id.x", 18) == pid);

    /* json_skip steps over a whole value to its next sibling. */
    int tags = json_object_get(&doc, payload, "tags", 4);
    CHECK(tags > 0 && doc.tok[tags].type == JSMN_ARRAY && doc.tok[tags].size == 2);
    int after = json_skip(&doc, tags);
    CHECK(json_tok_eq(&doc, after, "deep", 4));
    CHECK(json_skip(&doc, tags + 1) == tags + 2); /* "a" -> {"x": 1} */
    CHECK(json_skip(&doc, tags + 2) == tags + 5); /* the object and its x: 1 */
    CHECK(json_skip(&doc, 0) == doc.ntok);        /* the root spans everything */
    int last = json_object_get(&doc, 0, "last", 4);
    CHECK(last == doc.ntok - 1 && json_skip(&doc, last) == doc.ntok);
    CHECK(json_tok_eq(&doc, json_skip(&doc, payload), "last", 4));
    json_free(&doc);

    /* Empty containers and strings. */
    CHECK(parse(&doc, "{\"a\": {}, \"b\": [], \"c\": \"\", \"d\": 0}", 64, err, sizeof(err)) == 0);
    int a = json_object_get(&doc, 0, "a", 1);
    CHECK(json_skip(&doc, a) == a + 1);
    int b = json_object_get(&doc, 0, "b", 1);
    CHECK(json_skip(&doc, b) == b + 1);
    int c = json_object_get(&doc, 0, "c", 1);
    CHECK(json_tok_len(&doc, c) == 0 && json_skip(&doc, c) == c + 1);
    raw = json_value_ptr(&doc, c, &len);
    CHECK(len == 2 && memcmp(raw, "\"\"", 2) == 0);
    CHECK(json_path_get(&doc, 0, "d", 1) == doc.ntok - 1);
    json_free(&doc);
}

/* Decodes the single string value of text. */
static char *decode(const char *text)
{
    json_doc_t doc;
    char err[128];
    if (parse(&doc, text, 64, err, sizeof(err)) != 0) return NULL;
    char *s = json_str_dup(&doc, 0);
    json_free(&doc);
    return s;
}

/* json_str_dup and json_str_equals must agree on every string. */
static void check_decode(const char *text, const char *want)
{
    char *s = decode(text);
    CHECK_STR(s, want);
    free(s);
    json_doc_t doc;
    char err[128];
    if (parse(&doc, text, 64, err, sizeof(err)) != 0) return;
    size_t n = strlen(want);
    CHECK(json_str_equals(&doc, 0, want, n));
    CHECK(!json_str_equals(&doc, 0, want, n + 1)); /* want[n] is its NUL */
    if (n > 0) CHECK(!json_str_equals(&doc, 0, want, n - 1));
    json_free(&doc);
}

static void test_str_dup(void)
{
    check_decode("\"plain\"", "plain");
    check_decode("\"\"", "");
    check_decode("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    check_decode("\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9");
    check_decode("\"\\u20ac\"", "\xe2\x82\xac");
    check_decode("\"\\u07ff\\u0800\\uffff\"", "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    /* A surrogate pair is one 4-byte character. */
    check_decode("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
    check_decode("\"x\\uD834\\uDD1Ey\"", "x\xf0\x9d\x84\x9ey");
    check_decode("\"\\udbff\\udfff\\ud800\\udc00\"", "\xf4\x8f\xbf\xbf\xf0\x90\x80\x80");
    check_decode("\"raw \xc3\xa9 utf-8\"", "raw \xc3\xa9 utf-8");

    json_doc_t doc;
    char err[128];
    CHECK(parse(&doc, "{\"k\\n\": [\"v\\t\", 5]}", 64, err, sizeof(err)) == 0);
    CHECK(json_str_dup(&doc, 0) == NULL); /* not a string */
    size_t len = 99;
    CHECK(json_str_dup_n(&doc, 0, &len) == NULL && len == 99);
    CHECK(json_str_dup(&doc, 2) == NULL); /* the array */
    CHECK(json_str_dup(&doc, 4) == NULL); /* the number */
    char *k = json_str_dup(&doc, 1);
    CHECK_STR(k, "k\n");
    free(k);
    char *v = json_str_dup(&doc, 3);
    CHECK_STR(v, "v\t");
    free(v);
    json_free(&doc);

    /* The decoded length counts an escaped NUL, which strlen would not. */
    CHECK(parse(&doc, "\"a\\u0000b\\u00e9\"", 64, err, sizeof(err)) == 0);
    char *nul = json_str_dup_n(&doc, 0, &len);
    CHECK(nul && len == 5 && memcmp(nul, "a\0b\xc3\xa9", 6) == 0);
    free(nul);
    json_free(&doc);
}

static void test_escape(void)
{
    char buf[64];
    size_t n = json_escape(buf, sizeof(buf), "plain", 5);
    CHECK(n == 7 && memcmp(buf, "\"plain\"", 7) == 0);
    n = json_escape(buf, sizeof(buf), "", 0);
    CHECK(n == 2 && memcmp(buf, "\"\"", 2) == 0);
    n = json_escape(buf, sizeof(buf), "a\"b\\c\n\x01\x1f/\xc3\xa9", 11);
    const char *want = "\"a\\\"b\\\\c\\u000a\\u0001\\u001f/\xc3\xa9\"";
    CHECK(n == strlen(want) && memcmp(buf, want, n) == 0);
    /* n bounds the input, so NUL bytes are escaped too. */
    n = json_escape(buf, sizeof(buf), "a\0b", 3);
    CHECK(n == 10 && memcmp(buf, "\"a\\u0000b\"", 10) == 0);

    /* Ill-formed UTF-8 becomes U+FFFD byte by byte; well-formed characters stay. */
    n = json_escape(buf, sizeof(buf), "a\xff\xc3\xa9\xed\xa0\x80\xe2\x82", 9);
    want = "\"a\\ufffd\xc3\xa9\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"";
    CHECK(n == strlen(want) && memcmp(buf, want, n) == 0);
    CHECK(json_escape(NULL, 0, "\xf0\x9f\x98\x80\xf0\x9f\x98", 7) == 2 + 4 + 18);

    /* Too small: returns the size needed and writes nothing past cap. */
    memset(buf, '#', sizeof(buf));
    n = json_escape(buf, 4, "a\"b", 3);
    CHECK(n == 6);
    CHECK(memcmp(buf, "\"a\\\"", 4) == 0 && buf[4] == '#');
    n = json_escape(NULL, 0, "\n", 1);
    CHECK(n == 8);

    /* What json_escape writes, json_parse accepts and json_str_dup restores. */
    const char original[] = "q\"\\\x01\x7f\n\t end \xe2\x82\xac\xf0\x9f\x98\x80";
    n = json_escape(buf, sizeof(buf), original, sizeof(original) - 1);
    CHECK(n < sizeof(buf));
    json_doc_t doc;
    char err[128];
    CHECK(json_parse(&doc, buf, n, 1, err, sizeof(err)) == 0);
    char *back = doc.ntok == 1 ? json_str_dup(&doc, 0) : NULL;
    CHECK_STR(back, original);
    free(back);
    json_free(&doc);
    n = json_escape(buf, sizeof(buf), "\xc0\x80\xed\xbf\xbfx", 6);
    CHECK(json_parse(&doc, buf, n, 1, err, sizeof(err)) == 0);
    back = doc.ntok == 1 ? json_str_dup(&doc, 0) : NULL;
    CHECK_STR(back, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
    free(back);
    json_free(&doc);
}

int main(void)
{
    test_validator();
    test_lookup();
    test_str_dup();
    test_escape();
    return check_done();
}
