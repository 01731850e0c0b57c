/* test_envelope.c -- envelope validation, UUIDv7, completion. */
#include "gateway/envelope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/civil.h"
#include "tests/unit/check.h"

static envelope_t envs[ENVELOPE_MAX_BATCH];

/* Parses and validates text; returns envelope_validate's result, err holds the detail. */
static int validate(const char *text, size_t *n, bool *batch, char *err, size_t errlen)
{
    json_doc_t doc;
    err[0] = '\0';
    if (json_parse(&doc, text, strlen(text), ENVELOPE_MAX_DEPTH, err, errlen) != 0)
        return -EBADMSG; /* not JSON: not what these tests are about */
    int rc = envelope_validate(&doc, envs, n, batch, err, errlen);
    json_free(&doc);
    return rc;
}

/* The detail for an invalid body, or "" when it was accepted. */
static const char *detail(const char *text)
{
    static char err[256];
    size_t n;
    bool batch;
    int rc = validate(text, &n, &batch, err, sizeof(err));
    return rc == -EINVAL ? err : rc == 0 ? "" : "(not JSON)";
}

static void test_charsets(void)
{
    char s[202];
    memset(s, 'a', sizeof(s));
    CHECK(envelope_id_valid("a", 1));
    CHECK(envelope_id_valid("AZaz09_:-", 9));
    CHECK(envelope_id_valid(s, 200));
    CHECK(!envelope_id_valid(s, 201));
    CHECK(!envelope_id_valid("", 0));
    CHECK(!envelope_id_valid("a.b", 3));
    CHECK(!envelope_id_valid("a b", 3));
    CHECK(!envelope_id_valid("a/b", 3));
    CHECK(!envelope_id_valid("\xc3\xa9", 2));
    CHECK(!envelope_id_valid("a\0", 2));
    CHECK(envelope_type_valid("a.b", 3));
    CHECK(envelope_type_valid("order.created:v2-x_y", 20));
    CHECK(envelope_type_valid(s, 200));
    CHECK(!envelope_type_valid(s, 201));
    CHECK(!envelope_type_valid("", 0));
    CHECK(!envelope_type_valid("a*", 2));
    CHECK(!envelope_type_valid("a\\u0041", 7));
}

static void test_uuid7(void)
{
    /* RFC 9562 appendix A.6: 017F22E2-79B0-7CC3-98C4-DC0C0C07398F. */
    static const unsigned char r[10] = {0x0C, 0xC3, 0x18, 0xC4, 0xDC, 0x0C, 0x0C, 0x07, 0x39, 0x8F};
    char out[37];
    envelope_uuid7(1645557742000, r, out);
    CHECK_STR(out, "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
    CHECK(envelope_id_valid(out, strlen(out)));

    /* Version and variant bits hold whatever the random bytes are. */
    static const unsigned char ones[10] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                           0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    static const unsigned char zeros[10] = {0};
    envelope_uuid7(0, ones, out);
    CHECK_STR(out, "00000000-0000-7fff-bfff-ffffffffffff");
    envelope_uuid7(0xFFFFFFFFFFFF, zeros, out);
    CHECK_STR(out, "ffffffff-ffff-7000-8000-000000000000");

    /* Later milliseconds sort later. */
    char later[37];
    envelope_uuid7(1645557742001, zeros, later);
    envelope_uuid7(1645557742000, ones, out);
    CHECK(strcmp(out, later) < 0);
}

static void test_validate_single(void)
{
    char err[256];
    size_t n = 99;
    bool batch = true;
    const char *text = "{\"type\":\"order.created\",\"payload\":{\"a\":1},\"extra\":[1,2]}";
    CHECK(validate(text, &n, &batch, err, sizeof(err)) == 0);
    CHECK(n == 1 && !batch);
    CHECK(envs[0].tok == 0);
    CHECK(envs[0].type_len == 13 && memcmp(envs[0].type, "order.created", 13) == 0);
    CHECK(envs[0].type == text + 9); /* points into the document */
    CHECK(envs[0].id == NULL && envs[0].id_len == 0);
    CHECK(!envs[0].has_occurred_at);

    text = "{\"id\":\"evt_1:a-b\",\"occurred_at\":\"2026-11-27T10:00:00Z\",\"type\":\"t\","
           "\"payload\":null}";
    CHECK(validate(text, &n, &batch, err, sizeof(err)) == 0);
    CHECK(envs[0].id_len == 9 && memcmp(envs[0].id, "evt_1:a-b", 9) == 0);
    CHECK(envs[0].has_occurred_at);

    /* Any payload value. */
    CHECK_STR(detail("{\"type\":\"t\",\"payload\":0}"), "");
    CHECK_STR(detail("{\"type\":\"t\",\"payload\":\"s\"}"), "");
    CHECK_STR(detail("{\"type\":\"t\",\"payload\":[]}"), "");
    CHECK_STR(detail(" \n{\"type\":\"t\",\"payload\":false} "), "");

    /* Errors name the field. */
    CHECK_STR(detail("{\"payload\":{}}"), "type: required");
    CHECK_STR(detail("{\"type\":null,\"payload\":{}}"), "type: must be a string");
    CHECK_STR(detail("{\"type\":7,\"payload\":{}}"), "type: must be a string");
    CHECK_STR(detail("{\"type\":\"\",\"payload\":{}}"), "type: must match [A-Za-z0-9_.:-]{1,200}");
    CHECK_STR(detail("{\"type\":\"a b\",\"payload\":{}}"),
              "type: must match [A-Za-z0-9_.:-]{1,200}");
    CHECK_STR(detail("{\"type\":\"\\u0061\",\"payload\":{}}"),
              "type: must match [A-Za-z0-9_.:-]{1,200}");
    CHECK_STR(detail("{\"type\":\"t\"}"), "payload: required");
    CHECK_STR(detail("{\"type\":\"t\",\"id\":\"a.b\",\"payload\":{}}"),
              "id: must match [A-Za-z0-9_:-]{1,200}");
    CHECK_STR(detail("{\"type\":\"t\",\"id\":\"\",\"payload\":{}}"),
              "id: must match [A-Za-z0-9_:-]{1,200}");
    CHECK_STR(detail("{\"type\":\"t\",\"id\":null,\"payload\":{}}"), "id: must be a string");
    CHECK_STR(detail("{\"type\":\"t\",\"id\":12,\"payload\":{}}"), "id: must be a string");
    CHECK_STR(detail("{\"type\":\"t\",\"occurred_at\":\"yesterday\",\"payload\":{}}"),
              "occurred_at: must be an RFC 3339 date-time");
    CHECK_STR(detail("{\"type\":\"t\",\"occurred_at\":1795773600,\"payload\":{}}"),
              "occurred_at: must be an RFC 3339 date-time");
    CHECK_STR(detail("\"text\""), "envelope must be a JSON object");
    CHECK_STR(detail("42"), "envelope must be a JSON object");
    CHECK_STR(detail("null"), "envelope must be a JSON object");
    CHECK_STR(detail("{}"), "type: required");

    /* A repeated top-level key is refused whatever the key: readers disagree on which
     * copy counts. */
    CHECK_STR(detail("{\"type\":\"t\",\"id\":\"A\",\"id\":\"B\",\"payload\":1}"),
              "duplicate key \"id\"");
    CHECK_STR(detail("{\"type\":1,\"type\":\"t\",\"payload\":{}}"), "duplicate key \"type\"");
    CHECK_STR(detail("{\"type\":\"t\",\"payload\":1,\"payload\":2}"), "duplicate key \"payload\"");
    CHECK_STR(detail("{\"type\":\"t\",\"occurred_at\":\"2026-11-27T10:00:00Z\",\"payload\":1,"
                     "\"occurred_at\":\"2026-11-27T10:00:00Z\"}"),
              "duplicate key \"occurred_at\"");
    CHECK_STR(detail("{\"x\":1,\"type\":\"t\",\"payload\":1,\"x\":1}"), "duplicate key \"x\"");
    CHECK_STR(detail("{\"\":1,\"type\":\"t\",\"payload\":1,\"\":2}"), "duplicate key \"\"");
    /* Compared decoded: an escaped spelling is the same key. */
    CHECK_STR(detail("{\"x\":1,\"type\":\"t\",\"payload\":1,\"\\u0078\":1}"),
              "duplicate key \"\\u0078\"");
    CHECK_STR(detail("{\"\\u00e9\":1,\"type\":\"t\",\"payload\":1,\"\xc3\xa9\":1}"),
              "duplicate key \"\xc3\xa9\"");
    /* ... but "a\u0000b" is not "a", nor is "A" "a". */
    CHECK_STR(detail("{\"a\":1,\"a\\u0000b\":1,\"A\":1,\"type\":\"t\",\"payload\":1}"), "");
    /* Three copies, or two repeated keys: the first repeat in the document is named. */
    CHECK_STR(detail("{\"b\":1,\"a\":1,\"type\":\"t\",\"a\":2,\"b\":2,\"payload\":1}"),
              "duplicate key \"a\"");
    CHECK_STR(detail("{\"z\":1,\"z\":2,\"z\":3,\"type\":\"t\",\"payload\":1}"),
              "duplicate key \"z\"");
    /* Keys that repeat only inside the payload (or deeper) are the producer's business. */
    CHECK_STR(detail("{\"type\":\"t\",\"payload\":{\"id\":1,\"id\":2},\"o\":{\"k\":[{\"k\":1}]}}"),
              "");
    CHECK(validate("{\"type\":\"t\",\"payload\":{\"type\":1},\"k\":{\"type\":2}}", &n, &batch, err,
                   sizeof(err)) == 0 &&
          envs[0].type_len == 1);
    /* A long key is shortened at a character boundary. */
    char longkey[300];
    snprintf(longkey, sizeof(longkey),
             "{\"%s\xc3\xa9z\":1,\"type\":\"t\",\"payload\":1,\"%s\xc3\xa9z\":2}",
             "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
             "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
    CHECK_STR(
        detail(longkey),
        "duplicate key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"");

    /* Keys are matched raw; an escaped spelling of a field hookgate reads is refused,
     * since it would be a second, unseen copy of that field. */
    CHECK_STR(detail("{\"type\":\"t\",\"\\u0069d\":\"x\",\"payload\":{}}"),
              "reserved key names must not use escapes");
    CHECK_STR(detail("{\"type\":\"t\",\"\\u0078\":1,\"payload\":{}}"), "");
    CHECK_STR(detail("{\"typ\\u0065\":\"t\",\"payload\":{}}"),
              "reserved key names must not use escapes");

    /* A small or absent err buffer is fine. */
    char small[6];
    CHECK(validate("{\"payload\":{}}", &n, &batch, small, sizeof(small)) == -EINVAL);
    CHECK_STR(small, "type:");
    json_doc_t doc;
    CHECK(json_parse(&doc, "{}", 2, ENVELOPE_MAX_DEPTH, NULL, 0) == 0);
    CHECK(envelope_validate(&doc, envs, &n, &batch, NULL, 0) == -EINVAL);
    json_free(&doc);
}

/* A batch of count envelopes; element bad_at (if < count) is replaced by bad. */
static char *make_batch(int count, int bad_at, const char *bad)
{
    size_t cap = (size_t)count * 64 + 256;
    char *s = malloc(cap), *p = s;
    *p++ = '[';
    for (int i = 0; i < count; i++) {
        if (i) *p++ = ',';
        if (i == bad_at)
            p += sprintf(p, "%s", bad);
        else
            p += sprintf(p, "{\"type\":\"t%d\",\"id\":\"e%d\",\"payload\":%d}", i, i, i);
    }
    strcpy(p, "]");
    return s;
}

static void test_validate_batch(void)
{
    char err[256];
    size_t n = 0;
    bool batch = false;
    char *s = make_batch(3, -1, NULL);
    CHECK(validate(s, &n, &batch, err, sizeof(err)) == 0);
    CHECK(n == 3 && batch);
    CHECK(envs[2].type_len == 2 && memcmp(envs[2].type, "t2", 2) == 0);
    CHECK(envs[1].id_len == 2 && memcmp(envs[1].id, "e1", 2) == 0);
    CHECK(envs[0].tok == 1 && envs[1].tok > envs[0].tok && envs[2].tok > envs[1].tok);
    free(s);

    s = make_batch(1000, -1, NULL);
    CHECK(validate(s, &n, &batch, err, sizeof(err)) == 0);
    CHECK(n == 1000 && batch);
    CHECK(envs[999].type_len == 4 && memcmp(envs[999].type, "t999", 4) == 0);
    free(s);

    s = make_batch(1001, -1, NULL);
    CHECK_STR(detail(s), "batch must hold 1 to 1000 envelopes");
    free(s);
    CHECK_STR(detail("[]"), "batch must hold 1 to 1000 envelopes");
    CHECK_STR(detail(" [ ] "), "batch must hold 1 to 1000 envelopes");

    s = make_batch(10, 7, "{\"payload\":{}}");
    CHECK_STR(detail(s), "[7].type: required");
    free(s);
    s = make_batch(10, 0, "{\"type\":\"t\",\"id\":\"x.y\",\"payload\":{}}");
    CHECK_STR(detail(s), "[0].id: must match [A-Za-z0-9_:-]{1,200}");
    free(s);
    s = make_batch(1000, 999, "{\"type\":\"t\"}");
    CHECK_STR(detail(s), "[999].payload: required");
    free(s);
    s = make_batch(10, 6, "{\"type\":\"t\",\"id\":\"A\",\"id\":\"B\",\"payload\":1}");
    CHECK_STR(detail(s), "[6]: duplicate key \"id\"");
    free(s);
    /* The same id in two envelopes of a batch is a matter for dedup, not a repeated key. */
    s = make_batch(3, 1, "{\"type\":\"t\",\"id\":\"e0\",\"payload\":1}");
    CHECK_STR(detail(s), "");
    free(s);
    s = make_batch(5, 3, "17");
    CHECK_STR(detail(s), "[3]: envelope must be a JSON object");
    free(s);
    s = make_batch(5, 4, "[{\"type\":\"t\",\"payload\":1}]");
    CHECK_STR(detail(s), "[4]: envelope must be a JSON object");
    free(s);
    /* The first problem is the one reported. */
    s = make_batch(5, 2, "{\"type\":\"t\",\"occurred_at\":\"2026-02-30T00:00:00Z\",\"payload\":1}");
    s[3] = 'X'; /* element 0's "type" key becomes "Xype": missing */
    CHECK_STR(detail(s), "[0].type: required");
    free(s);
}

static void test_depth(void)
{
    /* Nesting is bounded by json_parse: 64 levels pass, 65 do not. */
    char text[400];
    for (int depth = 64; depth <= 65; depth++) {
        char *p = text;
        p += sprintf(p, "{\"type\":\"t\",\"payload\":");
        for (int i = 0; i < depth - 1; i++)
            *p++ = '[';
        for (int i = 0; i < depth - 1; i++)
            *p++ = ']';
        strcpy(p, "}");
        CHECK_STR(detail(text), depth == 64 ? "" : "(not JSON)");
    }
}

/* Completes raw and checks the result is valid JSON whose id/occurred_at read back as
 * expected and whose envelope validates with both present. Returns the completed text. */
static char *complete_ok(const char *raw, const char *gen_id, const char *gen_at,
                         const char *want_id, const char *want_at)
{
    char *out = NULL;
    size_t len = 0;
    envelope_complete(raw, strlen(raw), gen_id, gen_at, &out, &len);
    CHECK(out != NULL && strlen(out) == len);
    json_doc_t doc;
    char err[128];
    CHECK(json_parse(&doc, out, len, ENVELOPE_MAX_DEPTH, err, sizeof(err)) == 0);
    if (doc.tok) {
        int id = json_object_get(&doc, 0, "id", 2);
        int at = json_object_get(&doc, 0, "occurred_at", 11);
        CHECK(id >= 0 && json_tok_eq(&doc, id, want_id, strlen(want_id)));
        CHECK(at >= 0 && json_tok_eq(&doc, at, want_at, strlen(want_at)));
        size_t n;
        bool batch;
        CHECK(envelope_validate(&doc, envs, &n, &batch, err, sizeof(err)) == 0);
        CHECK(envs[0].id != NULL && envs[0].has_occurred_at);
        json_free(&doc);
    }
    return out;
}

static void test_complete(void)
{
    const char *id = "0190f4a2-7b3c-7def-8123-456789abcdef";
    const char *at = "2026-11-27T10:00:00.123Z";

    /* Both present: byte for byte, whitespace and all. */
    const char *full = " { \"type\" : \"t\",\"id\":\"e1\",\"occurred_at\":\"2020-01-01T00:00:00Z\","
                       "\"payload\":{} }\n";
    char *out;
    size_t len;
    envelope_complete(full, strlen(full), NULL, NULL, &out, &len);
    CHECK(len == strlen(full) && memcmp(out, full, len) == 0);
    free(out);

    /* Only the missing fields are inserted, first. */
    out = complete_ok("{\"type\":\"t\",\"payload\":{\"x\":1}}", id, at, id, at);
    CHECK_STR(out,
              "{\"id\":\"0190f4a2-7b3c-7def-8123-456789abcdef\","
              "\"occurred_at\":\"2026-11-27T10:00:00.123Z\",\"type\":\"t\",\"payload\":{\"x\":1}}");
    free(out);
    out = complete_ok("{\"type\":\"t\",\"id\":\"mine\",\"payload\":1}", NULL, at, "mine", at);
    CHECK_STR(out, "{\"occurred_at\":\"2026-11-27T10:00:00.123Z\",\"type\":\"t\",\"id\":\"mine\","
                   "\"payload\":1}");
    free(out);
    out = complete_ok("{\"occurred_at\":\"2020-01-01T00:00:00Z\",\"type\":\"t\",\"payload\":1}", id,
                      NULL, id, "2020-01-01T00:00:00Z");
    CHECK_STR(out, "{\"id\":\"0190f4a2-7b3c-7def-8123-456789abcdef\","
                   "\"occurred_at\":\"2020-01-01T00:00:00Z\",\"type\":\"t\",\"payload\":1}");
    free(out);

    /* Surrounding whitespace is kept; insertion is right after the brace. */
    out = complete_ok("\t{ \"type\":\"t\", \"payload\":null }\n", id, at, id, at);
    CHECK(strncmp(out, "\t{\"id\":", 7) == 0);
    CHECK(strcmp(out + strlen(out) - 19, ", \"payload\":null }\n") == 0);
    free(out);

    /* An empty object gets no dangling comma (it would not validate, but stays JSON). */
    envelope_complete("{ }", 3, "i", "2026-11-27T10:00:00Z", &out, &len);
    CHECK_STR(out, "{\"id\":\"i\",\"occurred_at\":\"2026-11-27T10:00:00Z\" }");
    free(out);
    envelope_complete("{}", 2, "i", NULL, &out, &len);
    CHECK_STR(out, "{\"id\":\"i\"}");
    CHECK(len == 10);
    free(out);

    /* A batch element, completed from its own bytes. */
    const char *batch =
        "[{\"type\":\"a\",\"payload\":1},{\"type\":\"b\",\"id\":\"x\",\"payload\":2}]";
    json_doc_t doc;
    CHECK(json_parse(&doc, batch, strlen(batch), ENVELOPE_MAX_DEPTH, NULL, 0) == 0);
    int second = json_skip(&doc, 1);
    size_t raw_len;
    const char *raw = json_value_ptr(&doc, second, &raw_len);
    envelope_complete(raw, raw_len, NULL, at, &out, &len);
    CHECK_STR(
        out,
        "{\"occurred_at\":\"2026-11-27T10:00:00.123Z\",\"type\":\"b\",\"id\":\"x\",\"payload\":2}");
    free(out);
    json_free(&doc);

    /* With generated values from the real generators. */
    static const unsigned char rnd[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    char gid[37], gat[25];
    envelope_uuid7(1795773600123, rnd, gid);
    civil_format_rfc3339(1795773600123, gat);
    out = complete_ok("{\"type\":\"t\",\"payload\":{}}", gid, gat, gid, gat);
    free(out);
}

/* Validates text and applies key (NULL: no header); returns envelope_apply_key's result,
 * or -EBADMSG when text is not a valid body. */
static int apply_key(const char *text, const char *key, char *err, size_t errlen)
{
    size_t n;
    bool batch;
    err[0] = '\0';
    if (validate(text, &n, &batch, err, errlen) != 0) return -EBADMSG;
    return envelope_apply_key(key, key ? strlen(key) : 0, envs, n, batch, err, errlen);
}

static void test_idempotency_key(void)
{
    char err[512];
    static const char key[] = "order-7:v1_x";

    /* No header: nothing changes. */
    CHECK(apply_key("{\"type\":\"t\",\"payload\":1}", NULL, err, sizeof(err)) == 0);
    CHECK(envs[0].id == NULL && !envs[0].id_in_body);
    CHECK(apply_key("{\"type\":\"t\",\"id\":\"e1\",\"payload\":1}", NULL, err, sizeof(err)) == 0);
    CHECK(envs[0].id_len == 2 && memcmp(envs[0].id, "e1", 2) == 0 && envs[0].id_in_body);

    /* A single envelope without an id takes the key, which is not in its body. */
    CHECK(apply_key("{\"type\":\"t\",\"payload\":1}", key, err, sizeof(err)) == 0);
    CHECK(envs[0].id == key && envs[0].id_len == strlen(key));
    CHECK(!envs[0].id_in_body);
    CHECK_STR(err, "");

    /* With its own id, the key must be that id, byte for byte. */
    CHECK(apply_key("{\"type\":\"t\",\"id\":\"order-7:v1_x\",\"payload\":1}", key, err,
                    sizeof(err)) == 0);
    CHECK(envs[0].id_in_body && envs[0].id_len == strlen(key));
    CHECK(apply_key("{\"type\":\"t\",\"id\":\"e1\",\"payload\":1}", key, err, sizeof(err)) ==
          -EINVAL);
    CHECK_STR(err, "Idempotency-Key \"order-7:v1_x\" and the envelope's id \"e1\" must be equal");
    CHECK(envs[0].id_len == 2 && memcmp(envs[0].id, "e1", 2) == 0); /* left as it was */
    CHECK(apply_key("{\"type\":\"t\",\"id\":\"order-7:v1_X\",\"payload\":1}", key, err,
                    sizeof(err)) == -EINVAL);
    CHECK(apply_key("{\"type\":\"t\",\"id\":\"order-7:v1_x0\",\"payload\":1}", key, err,
                    sizeof(err)) == -EINVAL);
    CHECK(apply_key("{\"type\":\"t\",\"id\":\"order-7\",\"payload\":1}", key, err, sizeof(err)) ==
          -EINVAL);

    /* Two ids of the longest kind both fit in the detail. */
    char long_key[ENVELOPE_ID_MAX + 1], long_id[ENVELOPE_ID_MAX + 1], text[600];
    memset(long_key, 'k', ENVELOPE_ID_MAX);
    long_key[ENVELOPE_ID_MAX] = '\0';
    memset(long_id, 'i', ENVELOPE_ID_MAX);
    long_id[ENVELOPE_ID_MAX] = '\0';
    snprintf(text, sizeof(text), "{\"type\":\"t\",\"id\":\"%s\",\"payload\":1}", long_id);
    CHECK(apply_key(text, long_key, err, sizeof(err)) == -EINVAL);
    CHECK(strlen(err) == 2 * ENVELOPE_ID_MAX + strlen("Idempotency-Key \"\" and the envelope's id "
                                                      "\"\" must be equal"));

    /* A batch: the key only routes, whatever the envelopes' ids. */
    CHECK(apply_key("[{\"type\":\"t\",\"payload\":1},{\"type\":\"t\",\"id\":\"e2\",\"payload\":2}]",
                    key, err, sizeof(err)) == 0);
    CHECK(envs[0].id == NULL && !envs[0].id_in_body);
    CHECK(envs[1].id_len == 2 && memcmp(envs[1].id, "e2", 2) == 0);
    CHECK(apply_key("[{\"type\":\"t\",\"payload\":1}]", key, err, sizeof(err)) == 0);
    CHECK(envs[0].id == NULL);
    CHECK_STR(err, "");

    /* The detail is cut to fit a short buffer, and may be left out. */
    char small[20];
    CHECK(apply_key("{\"type\":\"t\",\"id\":\"e1\",\"payload\":1}", key, small, sizeof(small)) ==
          -EINVAL);
    CHECK(strlen(small) == sizeof(small) - 1);
    CHECK(envelope_apply_key(key, strlen(key), envs, 1, false, NULL, 0) == -EINVAL);
}

int main(void)
{
    test_charsets();
    test_uuid7();
    test_validate_single();
    test_validate_batch();
    test_depth();
    test_complete();
    test_idempotency_key();
    return check_done();
}
