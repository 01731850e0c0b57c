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

/* Does a subscriber for message_created with the single filter path {op: values} match? */
static bool op1(const char *path, cfg_filter_op_t op, cfg_value_t *values, size_t n)
{
    cfg_filter_t f = {.path = (char *)path, .op = op, .values = values, .nvalues = n};
    cfg_subscriber_t s = sub_events(one_event, 1, false);
    s.filters = &f;
    s.nfilters = 1;
    return match_subscriber(&s, type, type_len, &doc, 0);
}

#define OP(path, op, ...)                                                                          \
    op1(path, CFG_FILTER_##op, (cfg_value_t[]){__VA_ARGS__},                                       \
        sizeof((cfg_value_t[]){__VA_ARGS__}) / sizeof(cfg_value_t))

/* Paths to a value of each kind no comparison takes, and paths that lead nowhere. */
static const char *const others[] = {"payload.nothing", "payload.obj", "payload.arr"};
static const char *const missing[] = {"payload.missing", "missing.product_id",
                                      "payload.product_id.more", "payload.deep.x.y.z",
                                      "payload.arr.0"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void test_gt_gte_lt_lte(void)
{
    /* count 1, price 1.5, big 1e3, neg -0, long 1.000... */
    CHECK(OP("payload.price", GT, num(1)));
    CHECK(!OP("payload.count", GT, num(1)));
    CHECK(!OP("payload.count", GT, num(1.5)));
    CHECK(OP("payload.big", GT, num(999.5)));
    CHECK(OP("payload.neg", GT, num(-1)));
    CHECK(!OP("payload.neg", GT, num(0)));
    CHECK(!OP("payload.long", GT, num(1)));

    CHECK(OP("payload.count", GTE, num(1)));
    CHECK(OP("payload.long", GTE, num(1)));
    CHECK(OP("payload.price", GTE, num(1.5)));
    CHECK(!OP("payload.price", GTE, num(1.5000001)));
    CHECK(OP("payload.neg", GTE, num(0)));

    CHECK(OP("payload.count", LT, num(1.5)));
    CHECK(!OP("payload.count", LT, num(1)));
    CHECK(!OP("payload.big", LT, num(1000)));
    CHECK(OP("payload.neg", LT, num(0.001)));
    CHECK(!OP("payload.neg", LT, num(0)));

    CHECK(OP("payload.count", LTE, num(1)));
    CHECK(OP("payload.big", LTE, num(1000)));
    CHECK(!OP("payload.big", LTE, num(999.99)));
    CHECK(OP("payload.neg", LTE, num(0)));

    /* Only numbers compare: a numeric string, a boolean and the other kinds never do. */
    static const cfg_filter_op_t cmp[] = {CFG_FILTER_GT, CFG_FILTER_GTE, CFG_FILTER_LT,
                                          CFG_FILTER_LTE};
    for (size_t i = 0; i < NELEM(cmp); i++) {
        cfg_value_t lo = num(-1e9), hi = num(1e9);
        cfg_value_t *either = cmp[i] == CFG_FILTER_GT || cmp[i] == CFG_FILTER_GTE ? &lo : &hi;
        CHECK(op1("payload.count", cmp[i], either, 1)); /* the control: a number passes */
        CHECK(!op1("payload.strnum", cmp[i], either, 1));
        CHECK(!op1("payload.product_id", cmp[i], either, 1));
        CHECK(!op1("payload.flag", cmp[i], either, 1));
        CHECK(!op1("payload.off", cmp[i], either, 1));
        for (size_t j = 0; j < NELEM(others); j++)
            CHECK(!op1(others[j], cmp[i], either, 1));
        for (size_t j = 0; j < NELEM(missing); j++)
            CHECK(!op1(missing[j], cmp[i], either, 1));
    }
}

static void test_prefix(void)
{
    CHECK(OP("payload.product_id", PREFIX, str("prod_")));
    CHECK(OP("payload.product_id", PREFIX, str("prod_123")));
    CHECK(OP("payload.product_id", PREFIX, str("")));
    CHECK(!OP("payload.product_id", PREFIX, str("prod_1234")));
    CHECK(!OP("payload.product_id", PREFIX, str("Prod_")));
    CHECK(!OP("payload.product_id", PREFIX, str("rod")));
    /* Escaped strings compare decoded. */
    CHECK(OP("payload.esc", PREFIX, str("AB\n")));
    CHECK(OP("payload.esc", PREFIX, str("AB\n\"q\"")));
    CHECK(!OP("payload.esc", PREFIX, str("A\\u0042")));
    CHECK(!OP("payload.esc", PREFIX, str("AB\n\"q\"!")));
    CHECK(OP("payload.emoji", PREFIX, str("\xF0\x9F")));
    CHECK(OP("payload.nul", PREFIX, str_n("a\0", 2)));
    CHECK(!OP("payload.nul", PREFIX, str_n("a\0c", 3)));
    CHECK(OP("payload.slash", PREFIX, str("a/")));
    /* Only strings: not the number 1 for "1", not booleans, not the other kinds. */
    CHECK(OP("payload.strnum", PREFIX, str("1")));
    CHECK(!OP("payload.count", PREFIX, str("1")));
    CHECK(!OP("payload.count", PREFIX, str("")));
    CHECK(!OP("payload.flag", PREFIX, str("t")));
    CHECK(!OP("payload.nothing", PREFIX, str("n")));
    for (size_t j = 0; j < NELEM(others); j++)
        CHECK(!OP(others[j], PREFIX, str("")));
    for (size_t j = 0; j < NELEM(missing); j++)
        CHECK(!OP(missing[j], PREFIX, str("")));
}

static void test_exists(void)
{
    /* Any value is there, null and containers included. */
    static const char *const present[] = {"payload.product_id", "payload.count",   "payload.flag",
                                          "payload.off",        "payload.nothing", "payload.obj",
                                          "payload.arr",        "payload.deep.x",  "source"};
    for (size_t j = 0; j < NELEM(present); j++) {
        CHECK(OP(present[j], EXISTS, boolean(true)));
        CHECK(!OP(present[j], EXISTS, boolean(false)));
    }
    for (size_t j = 0; j < NELEM(missing); j++) {
        CHECK(!OP(missing[j], EXISTS, boolean(true)));
        CHECK(OP(missing[j], EXISTS, boolean(false)));
    }
}

static void test_in_not_in(void)
{
    /* in is the plain list: equal to one of, each kind compared with its own kind. */
    CHECK(OP("payload.product_id", IN, str("prod_456"), str("prod_123")));
    CHECK(!OP("payload.product_id", IN, str("prod_456")));
    CHECK(OP("payload.count", IN, str("1"), num(1.0)));
    CHECK(!OP("payload.count", IN, str("1"), boolean(true)));
    CHECK(OP("payload.off", IN, num(0), boolean(false)));
    CHECK(!OP("payload.strnum", IN, num(1)));
    CHECK(OP("payload.esc", IN, str("AB\n\"q\"")));

    CHECK(!OP("payload.product_id", NOT_IN, str("prod_456"), str("prod_123")));
    CHECK(OP("payload.product_id", NOT_IN, str("prod_456")));
    CHECK(!OP("payload.count", NOT_IN, num(1)));
    CHECK(OP("payload.count", NOT_IN, num(2), str("1")));
    CHECK(!OP("payload.flag", NOT_IN, boolean(true)));
    CHECK(OP("payload.flag", NOT_IN, boolean(false), num(1), str("true")));
    CHECK(OP("payload.strnum", NOT_IN, num(1)));
    CHECK(!OP("payload.esc", NOT_IN, str("AB\n\"q\"")));

    /* null, objects and arrays are the wrong kind for both. */
    for (size_t j = 0; j < NELEM(others); j++) {
        CHECK(!OP(others[j], IN, str("prod_123"), num(0), boolean(false), str("null")));
        CHECK(!OP(others[j], NOT_IN, str("prod_123"), num(0), boolean(false), str("null")));
    }
    /* A missing path is in nothing, so it is "not in" any list. */
    for (size_t j = 0; j < NELEM(missing); j++) {
        CHECK(!OP(missing[j], IN, str("prod_123")));
        CHECK(OP(missing[j], NOT_IN, str("prod_123")));
    }
}

/* Operators combine with plain keys and each other: every key must pass. */
static void test_operators_together(void)
{
    cfg_filter_t f[3] = {
        {.path = "payload.price",
         .op = CFG_FILTER_GTE,
         .values = (cfg_value_t[]){num(1)},
         .nvalues = 1},
        {.path = "payload.product_id",
         .op = CFG_FILTER_PREFIX,
         .values = (cfg_value_t[]){str("prod_")},
         .nvalues = 1},
        {.path = "payload.coupon",
         .op = CFG_FILTER_EXISTS,
         .values = (cfg_value_t[]){boolean(false)},
         .nvalues = 1},
    };
    cfg_subscriber_t s = sub_events(one_event, 1, false);
    s.filters = f;
    s.nfilters = 3;
    CHECK(match_subscriber(&s, type, type_len, &doc, 0));
    f[0].values[0] = num(2);
    CHECK(!match_subscriber(&s, type, type_len, &doc, 0));
    f[0].values[0] = num(1);
    f[2].path = "payload.flag";
    CHECK(!match_subscriber(&s, type, type_len, &doc, 0));
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
    test_gt_gte_lt_lte();
    test_prefix();
    test_exists();
    test_in_not_in();
    test_operators_together();
    test_and_or();
    test_batch_element();
    test_agrees_with_json_str_dup();
    json_free(&doc);
    return check_done();
}
