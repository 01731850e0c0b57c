/* test_match.c -- subscription matching: event types and payload filters. */
#include "gateway/match.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

/* Subscribers are built by hand (not through cfg_parse) so this test stands alone. */
static cfg_value_t str_n(const char *s, size_t n)
{
    return (cfg_value_t){.kind = CFG_VALUE_STRING, .str = (char *)s, .len = n};
}
static cfg_value_t str(const char *s)
{
    return str_n(s, strlen(s));
}
static cfg_value_t num(double d)
{
    return (cfg_value_t){.kind = CFG_VALUE_NUMBER, .number = d};
}
static cfg_value_t boolean(bool b)
{
    return (cfg_value_t){.kind = CFG_VALUE_BOOL, .boolean = b};
}

static const char *const one_event[] = {"message_created"};

static cfg_subscriber_t sub_events(const char *const *events, size_t n, bool all)
{
    return (cfg_subscriber_t){
        .name = "s", .events = (char **)events, .nevents = n, .all_events = all};
}

static const char body[] =
    "{\"type\":\"message_created\",\"id\":\"e1\",\"source\":\"web\",\"payload\":{"
    "\"product_id\":\"prod_123\",\"count\":1,\"price\":1.5,\"big\":1e3,\"neg\":-0,"
    "\"flag\":true,\"off\":false,\"nothing\":null,\"obj\":{\"a\":\"b\"},\"arr\":[\"prod_123\"],"
    "\"strnum\":\"1\",\"esc\":\"A\\u0042\\n\\\"q\\\"\",\"emoji\":\"\\ud83d\\ude00\","
    "\"nul\":\"a\\u0000b\",\"slash\":\"a\\/b\","
    "\"long\":1.0000000000000000000000000000000000000000000000000000000000000000000000000,"
    "\"deep\":{\"x\":{\"y\":\"z\"}}}}";

static json_doc_t doc;
static const char *type;
static size_t type_len;

/* Does a subscriber for message_created with the single filter path = values match? */
static bool filter1(const char *path, cfg_value_t *values, size_t n)
{
    cfg_filter_t f = {.path = (char *)path, .values = values, .nvalues = n};
    cfg_subscriber_t s = sub_events(one_event, 1, false);
    s.filters = &f;
    s.nfilters = 1;
    return match_subscriber(&s, type, type_len, &doc, 0);
}

#define F1(path, ...)                                                                              \
    filter1(path, (cfg_value_t[]){__VA_ARGS__},                                                    \
            sizeof((cfg_value_t[]){__VA_ARGS__}) / sizeof(cfg_value_t))

static void test_types(void)
{
    cfg_subscriber_t s = sub_events(one_event, 1, false);
    CHECK(match_subscriber(&s, type, type_len, &doc, 0));

    const char *const prefix[] = {"message"};
    s = sub_events(prefix, 1, false);
    CHECK(!match_subscriber(&s, type, type_len, &doc, 0));
    const char *const longer[] = {"message_created_x", "Message_created"};
    s = sub_events(longer, 2, false);
    CHECK(!match_subscriber(&s, type, type_len, &doc, 0));
    const char *const several[] = {"conversation_created", "message_created"};
    s = sub_events(several, 2, false);
    CHECK(match_subscriber(&s, type, type_len, &doc, 0));
    const char *const star[] = {"*"};
    s = sub_events(star, 1, true);
    CHECK(match_subscriber(&s, type, type_len, &doc, 0));
    CHECK(match_subscriber(&s, "anything.else", 13, &doc, 0));

    /* The type is taken by length, not up to a NUL. */
    s = sub_events(one_event, 1, false);
    CHECK(!match_subscriber(&s, "message_created_more", 20, &doc, 0));
    CHECK(match_subscriber(&s, "message_created_more", 15, &doc, 0));

    /* The type must match even when the filter does. */
    cfg_filter_t f = {.path = "source", .values = (cfg_value_t[]){str("web")}, .nvalues = 1};
    s = sub_events(prefix, 1, false);
    s.filters = &f;
    s.nfilters = 1;
    CHECK(!match_subscriber(&s, type, type_len, &doc, 0));
}

static void test_strings(void)
{
    CHECK(F1("payload.product_id", str("prod_123")));
    CHECK(F1("payload.product_id", str("prod_456"), str("prod_123")));
    CHECK(!F1("payload.product_id", str("prod_456")));
    CHECK(!F1("payload.product_id", str("prod_12")));
    CHECK(!F1("payload.product_id", str("prod_1234")));
    CHECK(F1("source", str("web")));
    CHECK(F1("payload.deep.x.y", str("z")));
    CHECK(!F1("payload.deep.x", str("z")));

    /* Escapes are decoded before comparing. */
    CHECK(F1("payload.esc", str("AB\n\"q\"")));
    CHECK(!F1("payload.esc", str("A\\u0042\\n\\\"q\\\"")));
    CHECK(!F1("payload.esc", str("AB\n\"q")));
    CHECK(!F1("payload.esc", str("AB\n\"q\"x")));
    CHECK(!F1("payload.esc", str("")));
    CHECK(F1("payload.emoji", str("\xF0\x9F\x98\x80")));
    CHECK(!F1("payload.emoji", str("\xF0\x9F\x98")));
    CHECK(F1("payload.nul", str_n("a\0b", 3)));
    CHECK(!F1("payload.nul", str_n("a\0c", 3)));
    CHECK(!F1("payload.nul", str("a")));
    CHECK(F1("payload.slash", str("a/b")));

    /* Strings never equal numbers or booleans, in either direction. */
    CHECK(!F1("payload.strnum", num(1)));
    CHECK(F1("payload.strnum", num(1), str("1")));
    CHECK(!F1("payload.count", str("1")));
    CHECK(!F1("payload.flag", str("true")));
}

static void test_numbers_bools(void)
{
    CHECK(F1("payload.count", num(1)));
    CHECK(F1("payload.count", num(1.0)));
    CHECK(!F1("payload.count", num(2)));
    CHECK(F1("payload.count", num(2), num(1)));
    CHECK(F1("payload.price", num(1.5)));
    CHECK(!F1("payload.price", num(1)));
    CHECK(F1("payload.big", num(1000)));
    CHECK(F1("payload.neg", num(0)));
    CHECK(F1("payload.long", num(1)));
    CHECK(!F1("payload.count", boolean(true)));

    CHECK(F1("payload.flag", boolean(true)));
    CHECK(!F1("payload.flag", boolean(false)));
    CHECK(F1("payload.off", boolean(false)));
    CHECK(!F1("payload.off", boolean(true)));
    CHECK(F1("payload.off", boolean(true), boolean(false)));
    CHECK(!F1("payload.flag", num(1)));
    /* Mixed kinds in one list: each value is compared only with its own kind. */
    CHECK(F1("payload.flag", str("x"), num(1), boolean(true)));
    CHECK(F1("payload.count", str("x"), num(1), boolean(true)));
}

static void test_other_kinds_and_missing(void)
{
    CHECK(!F1("payload.nothing", str("null"), num(0), boolean(false)));
    CHECK(!F1("payload.obj", str("b"), str("{\"a\":\"b\"}")));
    CHECK(!F1("payload.arr", str("prod_123")));
    CHECK(!F1("payload.missing", str("prod_123")));
    CHECK(!F1("payload.product_id.more", str("prod_123")));
    CHECK(!F1("missing.product_id", str("prod_123")));
    CHECK(!F1("type.x", str("message_created")));
    CHECK(!F1("", str("prod_123")));
    CHECK(!F1("payload.", str("prod_123")));
}

static void test_and_or(void)
{
    cfg_filter_t f[2] = {
        {.path = "payload.product_id",
         .values = (cfg_value_t[]){str("prod_456"), str("prod_123")},
         .nvalues = 2},
        {.path = "payload.count", .values = (cfg_value_t[]){num(2)}, .nvalues = 1},
    };
    cfg_subscriber_t s = sub_events(one_event, 1, false);
    s.filters = f;
    s.nfilters = 2;
    CHECK(!match_subscriber(&s, type, type_len, &doc, 0));
    f[1].values[0] = num(1);
    CHECK(match_subscriber(&s, type, type_len, &doc, 0));
    f[0].nvalues = 1; /* only prod_456 left */
    CHECK(!match_subscriber(&s, type, type_len, &doc, 0));
}

/* Matching an envelope inside a batch: env is that object's token. */
static void test_batch_element(void)
{
    static const char batch[] = "[{\"type\":\"a\",\"payload\":{\"k\":1}},"
                                "{\"type\":\"a\",\"payload\":{\"k\":2}}]";
    json_doc_t d;
    CHECK(json_parse(&d, batch, strlen(batch), 64, NULL, 0) == 0);
    int second = json_skip(&d, 1);
    const char *const a[] = {"a"};
    cfg_filter_t f = {.path = "payload.k", .values = (cfg_value_t[]){num(2)}, .nvalues = 1};
    cfg_subscriber_t s = sub_events(a, 1, false);
    s.filters = &f;
    s.nfilters = 1;
    CHECK(!match_subscriber(&s, "a", 1, &d, 1));
    CHECK(match_subscriber(&s, "a", 1, &d, second));
    json_free(&d);
}

/* Every string value, decoded by json_str_dup (as the config's values are), matches
 * itself: the allocation-free comparison decodes the same way. */
static void test_agrees_with_json_str_dup(void)
{
    static const char *const keys[] = {"product_id", "esc", "emoji", "slash"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "payload.%s", keys[i]);
        int t = json_path_get(&doc, 0, path, strlen(path));
        char *decoded = json_str_dup(&doc, t);
        CHECK(F1(path, str(decoded)));
        free(decoded);
    }
}

int main(void)
{
    CHECK(json_parse(&doc, body, strlen(body), 64, NULL, 0) == 0);
    int t = json_object_get(&doc, 0, "type", 4);
    type = json_tok_ptr(&doc, t);
    type_len = json_tok_len(&doc, t);
    test_types();
    test_strings();
    test_numbers_bools();
    test_other_kinds_and_missing();
    test_and_or();
    test_batch_element();
    test_agrees_with_json_str_dup();
    json_free(&doc);
    return check_done();
}
