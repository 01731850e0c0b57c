/* test_config.c -- config parsing: values, defaults, merging, ${VAR} and every error path. */
#include "config/config.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define HEAD "\"listen\": \"127.0.0.1:8080\", \"data_dir\": \"d\", "

/* Parses text, expecting success; the caller frees the config. */
static cfg_t *parse_ok(const char *text)
{
    cfg_t *cfg = NULL;
    char *errs = NULL;
    int rc = cfg_parse(text, strlen(text), &cfg, &errs);
    CHECK(rc == 0 && cfg != NULL && errs == NULL);
    if (errs) printf("# unexpected errors:\n# %s", errs);
    free(errs);
    return cfg;
}

/* Parses text, expecting exactly the error lines want. */
static void parse_fails(const char *text, const char *want)
{
    cfg_t *cfg = (cfg_t *)&cfg; /* must be reset to NULL */
    char *errs = NULL;
    int rc = cfg_parse(text, strlen(text), &cfg, &errs);
    CHECK(rc == -EINVAL && cfg == NULL);
    CHECK_STR(errs, want);
    free(errs);
}

/* A document with one subscriber object and the required root keys. */
static const char *with_sub(const char *sub)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf), "{" HEAD "\"subscribers\": [%s]}", sub);
    return buf;
}

/* A subscriber with its required keys plus extra ("" for none). */
static const char *sub_with(const char *extra)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf),
             "{" HEAD "\"subscribers\": [{\"name\": \"s\", \"url\": \"http://h/x\", "
             "\"events\": [\"a\"]%s%s}]}",
             extra[0] ? ", " : "", extra);
    return buf;
}

static void test_full_file(void)
{
    setenv("HG_T_INGEST", "ingest-secret", 1);
    const char *text =
        "{\n"
        "  \"listen\": \"0.0.0.0:9090\",\n"
        "  \"data_dir\": \"/var/lib/hookgate\",\n"
        "  \"ingest_token\": \"${HG_T_INGEST}\",\n"
        "  \"admin_token\": \"adm-1\",\n"
        "  \"max_body_bytes\": 2048,\n"
        "  \"retention_hours\": 24,\n"
        "  \"map_size_mb\": 64,\n"
        "  \"max_in_flight\": 100,\n"
        "  \"shutdown_grace_ms\": 0,\n"
        "  \"retry\": {\"max_attempts\": 7, \"initial_delay_ms\": 200, \"multiplier\": 1.5,\n"
        "            \"max_delay_ms\": 90000, \"jitter\": 0},\n"
        "  \"subscribers\": [\n"
        "    {\"name\": \"crm\", \"url\": \"https://crm.example.com/hooks\",\n"
        "     \"events\": [\"conversation_created\", \"message_created\"],\n"
        "     \"filter\": {\"payload.product_id\": [\"prod_123\", \"prod_456\"],\n"
        "                \"payload.qty\": 3, \"payload.gift\": true,\n"
        "                \"payload.mix\": [\"a\\\"b\", -2.5, false]},\n"
        "     \"secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\",\n"
        "     \"headers\": {\"X-Api-Key\": \"k-123\", \"Authorization\": \"Bearer "
        "${HG_T_INGEST}\"},\n"
        "     \"timeout_ms\": 5000, \"max_in_flight\": 4,\n"
        "     \"retry\": {\"max_attempts\": 5, \"jitter\": 0.5}},\n"
        "    {\"name\": \"all.events_2\", \"url\": \"http://[::1]:9001/x?y=1\", \"events\": "
        "[\"*\"],\n"
        "     \"secret\": [\"whsec_AAAA\", \"whsec_AA==\", \"whsec_AAA=\"]}\n"
        "  ]\n"
        "}\n";
    cfg_t *cfg = parse_ok(text);
    if (!cfg) return;
    CHECK_STR(cfg->listen, "0.0.0.0:9090");
    CHECK_STR(cfg->listen_host, "0.0.0.0");
    CHECK(cfg->listen_port == 9090);
    CHECK_STR(cfg->data_dir, "/var/lib/hookgate");
    CHECK_STR(cfg->ingest_token, "ingest-secret");
    CHECK_STR(cfg->admin_token, "adm-1");
    CHECK(cfg->max_body_bytes == 2048);
    CHECK(cfg->retention_hours == 24);
    CHECK(cfg->map_size_mb == 64);
    CHECK(cfg->max_in_flight == 100);
    CHECK(cfg->shutdown_grace_ms == 0);
    CHECK(cfg->retry.max_attempts == 7 && cfg->retry.initial_delay_ms == 200);
    CHECK(cfg->retry.multiplier == 1.5 && cfg->retry.max_delay_ms == 90000);
    CHECK(cfg->retry.jitter == 0);
    CHECK(cfg->nsubscribers == 2);

    const cfg_subscriber_t *s = &cfg->subscribers[0];
    CHECK_STR(s->name, "crm");
    CHECK_STR(s->url, "https://crm.example.com/hooks");
    CHECK(s->nevents == 2 && !s->all_events);
    CHECK_STR(s->events[0], "conversation_created");
    CHECK_STR(s->events[1], "message_created");
    CHECK(s->nfilters == 4);
    CHECK_STR(s->filters[0].path, "payload.product_id");
    CHECK(s->filters[0].nvalues == 2);
    CHECK(s->filters[0].values[0].kind == CFG_VALUE_STRING);
    CHECK_STR(s->filters[0].values[0].str, "prod_123");
    CHECK(s->filters[0].values[0].len == 8);
    CHECK_STR(s->filters[0].values[1].str, "prod_456");
    CHECK_STR(s->filters[1].path, "payload.qty");
    CHECK(s->filters[1].nvalues == 1 && s->filters[1].values[0].kind == CFG_VALUE_NUMBER);
    CHECK(s->filters[1].values[0].number == 3);
    CHECK(s->filters[2].values[0].kind == CFG_VALUE_BOOL && s->filters[2].values[0].boolean);
    CHECK(s->filters[3].nvalues == 3);
    CHECK_STR(s->filters[3].values[0].str, "a\"b");
    CHECK(s->filters[3].values[0].len == 3);
    CHECK(s->filters[3].values[1].kind == CFG_VALUE_NUMBER);
    CHECK(s->filters[3].values[1].number == -2.5);
    CHECK(s->filters[3].values[2].kind == CFG_VALUE_BOOL && !s->filters[3].values[2].boolean);
    CHECK(s->nsecrets == 1);
    CHECK_STR(s->secrets[0], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    CHECK(s->nheaders == 2);
    CHECK_STR(s->headers[0].name, "X-Api-Key");
    CHECK_STR(s->headers[0].value, "k-123");
    CHECK_STR(s->headers[1].name, "Authorization");
    CHECK_STR(s->headers[1].value, "Bearer ingest-secret");
    CHECK(s->timeout_ms == 5000 && s->max_in_flight == 4);
    /* Overridden field by field: the rest comes from the global policy, not the defaults. */
    CHECK(s->retry.max_attempts == 5 && s->retry.jitter == 0.5);
    CHECK(s->retry.initial_delay_ms == 200 && s->retry.multiplier == 1.5);
    CHECK(s->retry.max_delay_ms == 90000);

    s = &cfg->subscribers[1];
    CHECK_STR(s->name, "all.events_2");
    CHECK(s->all_events && s->nevents == 1);
    CHECK_STR(s->events[0], "*");
    CHECK(s->nsecrets == 3);
    CHECK_STR(s->secrets[2], "whsec_AAA=");
    CHECK(s->nfilters == 0 && s->nheaders == 0);
    CHECK(s->timeout_ms == 10000 && s->max_in_flight == 32);
    CHECK(s->retry.max_attempts == 7 && s->retry.jitter == 0);

    CHECK(cfg_find_subscriber(cfg, "crm") == &cfg->subscribers[0]);
    CHECK(cfg_find_subscriber(cfg, "all.events_2") == &cfg->subscribers[1]);
    CHECK(cfg_find_subscriber(cfg, "nope") == NULL);
    CHECK(cfg_find_subscriber(cfg, "cr") == NULL);
    cfg_free(cfg);
    unsetenv("HG_T_INGEST");
}

static void test_defaults(void)
{
    cfg_t *cfg = parse_ok("{" HEAD "\"subscribers\": []}");
    if (!cfg) return;
    CHECK_STR(cfg->listen_host, "127.0.0.1");
    CHECK(cfg->listen_port == 8080);
    CHECK(cfg->ingest_token == NULL && cfg->admin_token == NULL);
    CHECK(cfg->max_body_bytes == 1048576);
    CHECK(cfg->retention_hours == 168);
    CHECK(cfg->map_size_mb == 1024);
    CHECK(cfg->max_in_flight == 256);
    CHECK(cfg->shutdown_grace_ms == 10000);
    CHECK(cfg->max_connections == 1024);
    CHECK(cfg->max_buffered_body_bytes == 67108864);
    CHECK(cfg->store_failure_exit_ms == 10000);
    CHECK(cfg->retry.max_attempts == 10);
    CHECK(cfg->retry.initial_delay_ms == 1000);
    CHECK(cfg->retry.multiplier == 2.0);
    CHECK(cfg->retry.max_delay_ms == 3600000);
    CHECK(cfg->retry.jitter == 0.2);
    CHECK(cfg->nsubscribers == 0);
    cfg_free(cfg);

    /* A subscriber retry override on top of the defaults. */
    cfg = parse_ok(sub_with("\"retry\": {\"max_attempts\": 3, \"max_delay_ms\": 5000}"));
    if (!cfg) return;
    const cfg_retry_t *r = &cfg->subscribers[0].retry;
    CHECK(r->max_attempts == 3 && r->max_delay_ms == 5000);
    CHECK(r->initial_delay_ms == 1000 && r->multiplier == 2.0 && r->jitter == 0.2);
    CHECK(cfg->retry.max_attempts == 10 && cfg->retry.max_delay_ms == 3600000);
    cfg_free(cfg);

    /* Integral numbers in other spellings are integers. */
    cfg = parse_ok(sub_with("\"timeout_ms\": 1e3, \"max_in_flight\": 7.0"));
    if (!cfg) return;
    CHECK(cfg->subscribers[0].timeout_ms == 1000 && cfg->subscribers[0].max_in_flight == 7);
    cfg_free(cfg);

    /* Key order does not matter: the global retry is read before the subscribers. */
    cfg = parse_ok("{\"subscribers\": [{\"name\": \"s\", \"url\": \"http://h\", \"events\": "
                   "[\"a\"]}], \"retry\": {\"max_attempts\": 2}, " HEAD "\"max_in_flight\": 1}");
    if (!cfg) return;
    CHECK(cfg->subscribers[0].retry.max_attempts == 2);
    cfg_free(cfg);
}

static void test_listen(void)
{
    static const struct {
        const char *listen, *host;
        unsigned port;
    } good[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080},
        {"localhost:1", "localhost", 1},
        {"[::1]:80", "::1", 80},
        {"[::]:65535", "::", 65535},
        {"gw-1.internal:443", "gw-1.internal", 443},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"listen\": \"%s\", \"data_dir\": \"d\", \"subscribers\": []}", good[i].listen);
        cfg_t *cfg = parse_ok(text);
        if (!cfg) continue;
        CHECK_STR(cfg->listen, good[i].listen);
        CHECK_STR(cfg->listen_host, good[i].host);
        CHECK(cfg->listen_port == good[i].port);
        cfg_free(cfg);
    }
    static const struct {
        const char *listen, *error;
    } bad[] = {
        {"127.0.0.1", "listen: expected host:port\n"},
        {"127.0.0.1:", "listen: expected host:port\n"},
        {":8080", "listen: expected host:port\n"},
        {"::1:8080", "listen: expected host:port\n"},
        {"[::1]8080", "listen: expected host:port\n"},
        {"[zz]:80", "listen: expected host:port\n"},
        {"999.0.0.1:80", "listen: expected host:port\n"},
        {"1.2.3:80", "listen: expected host:port\n"},
        {"bad host:80", "listen: expected host:port\n"},
        {"a..b:80", "listen: expected host:port\n"},
        {"host:8o", "listen: expected host:port\n"},
        {"host:-1", "listen: expected host:port\n"},
        {"127.0.0.1:0", "listen: port must be 1..65535\n"},
        {"127.0.0.1:65536", "listen: port must be 1..65535\n"},
        {"127.0.0.1:1234567", "listen: port must be 1..65535\n"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"listen\": \"%s\", \"data_dir\": \"d\", \"subscribers\": []}", bad[i].listen);
        parse_fails(text, bad[i].error);
    }
    parse_fails("{\"listen\": 8080, \"data_dir\": \"d\", \"subscribers\": []}",
                "listen: expected a string\n");
}

static void test_url(void)
{
    static const char *const good[] = {
        "http://h",
        "https://crm.example.com/hooks",
        "HTTPS://Example.COM:8443/p?q=1#f",
        "http://user:pw@host:80/x",
        "http://[::1]:9000/x",
        "http://127.0.0.1:9001",
        "http://h?x",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char sub[512];
        snprintf(sub, sizeof(sub), "{\"name\": \"s\", \"url\": \"%s\", \"events\": [\"a\"]}",
                 good[i]);
        cfg_t *cfg = parse_ok(with_sub(sub));
        if (cfg) CHECK_STR(cfg->subscribers[0].url, good[i]);
        cfg_free(cfg);
    }
    static const struct {
        const char *url, *error;
    } bad[] = {
        {"ftp://h/x", "expected an http:// or https:// URL"},
        {"crm.example.com", "expected an http:// or https:// URL"},
        {"", "expected an http:// or https:// URL"},
        {"http:/h", "expected an http:// or https:// URL"},
        {"http://h/a b",
         "expected an http:// or https:// URL without spaces or control characters"},
        {"http://", "URL has no host"},
        {"https:///path", "URL has no host"},
        {"http://:80/x", "URL has no host"},
        {"http://user@/x", "URL has no host"},
        {"http://exa$mple.com/", "URL has an invalid host"},
        {"http://[::1/x", "URL has an invalid host"},
        {"http://[nope]/x", "URL has an invalid host"},
        {"http://h:0/x", "URL has an invalid port"},
        {"http://h:65536", "URL has an invalid port"},
        {"http://h:/x", "URL has an invalid port"},
        {"http://h:8a/x", "URL has an invalid port"},
        {"http://[::1]x/", "URL has an invalid port"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char sub[512], want[256];
        snprintf(sub, sizeof(sub), "{\"name\": \"s\", \"url\": \"%s\", \"events\": [\"a\"]}",
                 bad[i].url);
        snprintf(want, sizeof(want), "subscribers[0].url: %s\n", bad[i].error);
        parse_fails(with_sub(sub), want);
    }
    /* The URL (which may carry credentials) is not echoed. */
    parse_fails(
        with_sub("{\"name\": \"s\", \"url\": \"ftp://user:hunter2@h\", \"events\": [\"a\"]}"),
        "subscribers[0].url: expected an http:// or https:// URL\n");
}

static void test_numbers(void)
{
    static const struct {
        const char *extra, *error;
    } bad[] = {
        {"\"timeout_ms\": 0", "subscribers[0].timeout_ms: expected an integer 1..3600000\n"},
        {"\"timeout_ms\": 3600001", "subscribers[0].timeout_ms: expected an integer 1..3600000\n"},
        {"\"timeout_ms\": 1.5", "subscribers[0].timeout_ms: expected an integer 1..3600000\n"},
        {"\"timeout_ms\": -1", "subscribers[0].timeout_ms: expected an integer 1..3600000\n"},
        {"\"timeout_ms\": \"10\"", "subscribers[0].timeout_ms: expected an integer 1..3600000\n"},
        {"\"timeout_ms\": true", "subscribers[0].timeout_ms: expected an integer 1..3600000\n"},
        {"\"timeout_ms\": null", "subscribers[0].timeout_ms: expected an integer 1..3600000\n"},
        {"\"timeout_ms\": 1e999", "subscribers[0].timeout_ms: expected an integer 1..3600000\n"},
        {"\"max_in_flight\": 0", "subscribers[0].max_in_flight: expected an integer 1..10000\n"},
        {"\"max_in_flight\": 10001",
         "subscribers[0].max_in_flight: expected an integer 1..10000\n"},
        {"\"retry\": {\"max_attempts\": 0}",
         "subscribers[0].retry.max_attempts: expected an integer 1..1000000\n"},
        {"\"retry\": {\"multiplier\": 0.5}",
         "subscribers[0].retry.multiplier: expected a number >= 1\n"},
        {"\"retry\": {\"multiplier\": 1e999}",
         "subscribers[0].retry.multiplier: expected a number >= 1\n"},
        {"\"retry\": {\"multiplier\": \"2\"}",
         "subscribers[0].retry.multiplier: expected a number >= 1\n"},
        {"\"retry\": {\"jitter\": 1.01}", "subscribers[0].retry.jitter: expected a number 0..1\n"},
        {"\"retry\": {\"jitter\": -0.1}", "subscribers[0].retry.jitter: expected a number 0..1\n"},
        {"\"retry\": {\"initial_delay_ms\": -5}",
         "subscribers[0].retry.initial_delay_ms: expected an integer 0..2592000000\n"},
        {"\"retry\": 3", "subscribers[0].retry: expected an object\n"},
        /* The subscriber's initial delay passes the global max_delay_ms. */
        {"\"retry\": {\"initial_delay_ms\": 3600001}",
         "subscribers[0].retry.initial_delay_ms: must be <= max_delay_ms (3600000)\n"},
        {"\"retry\": {\"max_delay_ms\": 999}",
         "subscribers[0].retry.max_delay_ms: must be >= initial_delay_ms (1000)\n"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_fails(sub_with(bad[i].extra), bad[i].error);

    /* Edges that are valid. */
    cfg_t *cfg = parse_ok(sub_with("\"timeout_ms\": 3600000, \"max_in_flight\": 10000, "
                                   "\"retry\": {\"multiplier\": 1, \"jitter\": 1, "
                                   "\"initial_delay_ms\": 0, \"max_delay_ms\": 0}"));
    if (cfg) {
        const cfg_subscriber_t *s = &cfg->subscribers[0];
        CHECK(s->timeout_ms == 3600000 && s->max_in_flight == 10000);
        CHECK(s->retry.multiplier == 1 && s->retry.jitter == 1);
        CHECK(s->retry.initial_delay_ms == 0 && s->retry.max_delay_ms == 0);
    }
    cfg_free(cfg);

    parse_fails("{" HEAD "\"subscribers\": [], \"max_body_bytes\": 0, \"retention_hours\": -1, "
                "\"map_size_mb\": 0, \"max_in_flight\": 0, \"shutdown_grace_ms\": -1}",
                "max_body_bytes: expected an integer 1..1073741824\n"
                "retention_hours: expected an integer 0..87600\n"
                "map_size_mb: expected an integer 1..16777216\n"
                "max_in_flight: expected an integer 1..100000\n"
                "shutdown_grace_ms: expected an integer 0..3600000\n");
    parse_fails("{" HEAD "\"subscribers\": [], \"retry\": {\"initial_delay_ms\": 5000, "
                "\"max_delay_ms\": 4000}}",
                "retry.max_delay_ms: must be >= initial_delay_ms (5000)\n");
    /* Every bad field of the global policy is reported. */
    parse_fails("{" HEAD "\"subscribers\": [], \"retry\": {\"multiplier\": 0, \"jitter\": 2, "
                "\"max_attempts\": 1.5}}",
                "retry.max_attempts: expected an integer 1..1000000\n"
                "retry.multiplier: expected a number >= 1\n"
                "retry.jitter: expected a number 0..1\n");
}

/* The extensions max_connections, max_buffered_body_bytes and store_failure_exit_ms. */
static void test_limits(void)
{
    cfg_t *cfg = parse_ok("{" HEAD "\"subscribers\": [], \"max_connections\": 1, "
                          "\"max_buffered_body_bytes\": 4096, \"max_body_bytes\": 4096, "
                          "\"store_failure_exit_ms\": 0}");
    if (cfg) {
        CHECK(cfg->max_connections == 1);
        CHECK(cfg->max_buffered_body_bytes == 4096 && cfg->max_body_bytes == 4096);
        CHECK(cfg->store_failure_exit_ms == 0);
    }
    cfg_free(cfg);
    /* An unset cap grows to a larger max_body_bytes instead of failing the file. */
    cfg = parse_ok("{" HEAD "\"subscribers\": [], \"max_body_bytes\": 100000000}");
    if (cfg) CHECK(cfg->max_buffered_body_bytes == 100000000);
    cfg_free(cfg);
    parse_fails("{" HEAD "\"subscribers\": [], \"max_body_bytes\": 4097, "
                "\"max_buffered_body_bytes\": 4096}",
                "max_buffered_body_bytes: must be >= max_body_bytes (4097)\n");
    /* A bad max_body_bytes is reported once, not again as a comparison. */
    parse_fails("{" HEAD "\"subscribers\": [], \"max_body_bytes\": 0, "
                "\"max_buffered_body_bytes\": 1}",
                "max_body_bytes: expected an integer 1..1073741824\n");
    parse_fails("{" HEAD "\"subscribers\": [], \"max_connections\": 0, "
                "\"max_buffered_body_bytes\": 0, \"store_failure_exit_ms\": -1}",
                "max_connections: expected an integer 1..1000000\n"
                "store_failure_exit_ms: expected an integer 0..86400000\n"
                "max_buffered_body_bytes: expected an integer 1..1099511627776\n");
    parse_fails("{" HEAD "\"subscribers\": [], \"max_connections\": 1.5, "
                "\"max_buffered_body_bytes\": \"1\", \"store_failure_exit_ms\": null}",
                "max_connections: expected an integer 1..1000000\n"
                "store_failure_exit_ms: expected an integer 0..86400000\n"
                "max_buffered_body_bytes: expected an integer 1..1099511627776\n");
}

static void test_unknown_and_required(void)
{
    parse_fails("{" HEAD "\"subscribers\": [], \"lisen\": 1}", "lisen: unknown key\n");
    parse_fails(sub_with("\"retyr\": {}"), "subscribers[0].retyr: unknown key\n");
    parse_fails(sub_with("\"retry\": {\"max_attempt\": 3}"),
                "subscribers[0].retry.max_attempt: unknown key\n");
    parse_fails("{" HEAD "\"subscribers\": [], \"retry\": {\"jiter\": 0.1}}",
                "retry.jiter: unknown key\n");
    /* Odd keys are quoted; long ones shortened. */
    parse_fails("{" HEAD "\"subscribers\": [], \"a b\": 1, \"x.y\": 2, \"\": 3}",
                "[\"a b\"]: unknown key\n[\"x.y\"]: unknown key\n[\"\"]: unknown key\n");
    char text[512], want[256];
    snprintf(text, sizeof(text), "{" HEAD "\"subscribers\": [], \"%070d\": 1}", 0);
    snprintf(want, sizeof(want), "[\"%064d...\"]: unknown key\n", 0);
    parse_fails(text, want);
    /* Repeated keys are reported, whatever their values. */
    parse_fails("{" HEAD "\"subscribers\": [], \"listen\": \"127.0.0.1:1\"}",
                "listen: duplicate key\n");
    parse_fails(sub_with("\"name\": \"t\""), "subscribers[0].name: duplicate key\n");

    parse_fails("{}", "listen: required\ndata_dir: required\nsubscribers: required\n");
    parse_fails(with_sub("{}"), "subscribers[0].name: required\nsubscribers[0].url: required\n"
                                "subscribers[0].events: required\n");
    parse_fails("{" HEAD "\"subscribers\": {}}", "subscribers: expected an array\n");
    parse_fails(with_sub("[], 3"), "subscribers[0]: expected an object\n"
                                   "subscribers[1]: expected an object\n");
    parse_fails("{\"listen\": \"h:1\", \"data_dir\": \"\", \"subscribers\": []}",
                "data_dir: expected a non-empty string\n");
    parse_fails("{\"listen\": \"h:1\", \"data_dir\": [], \"subscribers\": []}",
                "data_dir: expected a string\n");
}

static void test_root_and_json(void)
{
    parse_fails("[]", "(root): expected an object\n");
    parse_fails("\"x\"", "(root): expected an object\n");
    parse_fails("", "(root): invalid JSON: unexpected end of input at byte 0\n");
    parse_fails("{\"listen\": \"h:1\" \"data_dir\": \"d\"}",
                "(root): invalid JSON: expected ',' or '}' at byte 17\n");
    parse_fails("{\"a\": 1,}", "(root): invalid JSON: expected a string key at byte 8\n");
    char deep[128];
    memset(deep, 0, sizeof(deep));
    strcpy(deep, "{\"x\":");
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    parse_fails(deep, "(root): invalid JSON: nesting too deep at byte 36\n");
    /* A NUL character would cut the C string short. */
    parse_fails("{" HEAD "\"subscribers\": [], \"admin_token\": \"ab\\u0000cd\"}",
                "admin_token: contains a NUL character\n");
    parse_fails(sub_with("\"filter\": {\"payload.a\\u0000b\": 1}, \"headers\": {\"X\\u0000\": \"v\"}"),
                "subscribers[0].filter[\"payload.a\\u0000b\"]: expected a dotted path with non-empty "
                "segments as the key\n"
                "subscribers[0].headers[\"X\\u0000\"]: invalid header name\n");
    /* An escaped backslash before "u0000" is no NUL. */
    cfg_t *nul = parse_ok("{" HEAD "\"subscribers\": [], \"admin_token\": \"ab\\\\u0000cd\"}");
    if (nul) CHECK_STR(nul->admin_token, "ab\\u0000cd");
    cfg_free(nul);
    /* Config files are held to the JSON reader's UTF-8 rules like ingest bodies. */
    parse_fails("{\"listen\": \"h:1\", \"data_dir\": \"d\xff\", \"subscribers\": []}",
                "(root): invalid JSON: invalid UTF-8 in string at byte 32\n");
    parse_fails("{\"listen\": \"h:1\", \"data_dir\": \"d\xed\xa0\x80\", \"subscribers\": []}",
                "(root): invalid JSON: invalid UTF-8 in string at byte 32\n");
    parse_fails("{\"listen\": \"h:1\", \"data_dir\": \"\\ud800\", \"subscribers\": []}",
                "(root): invalid JSON: unpaired high surrogate escape in string at byte 31\n");
    /* Escapes are decoded. */
    cfg_t *cfg =
        parse_ok("{\"listen\": \"h:1\", \"data_dir\": \"a\\/b\\u00e9\", \"subscribers\": []}");
    if (cfg) CHECK_STR(cfg->data_dir, "a/b\xc3\xa9");
    cfg_free(cfg);
    /* Length is honoured: trailing bytes past len are not read. */
    const char *text = "{\"listen\": \"h:1\", \"data_dir\": \"d\", \"subscribers\": []}garbage";
    cfg = NULL;
    char *errs = NULL;
    CHECK(cfg_parse(text, strlen(text) - 7, &cfg, &errs) == 0 && errs == NULL);
    cfg_free(cfg);
    /* errors may be NULL when the caller only needs the verdict. */
    cfg = NULL;
    CHECK(cfg_parse("{}", 2, &cfg, NULL) == -EINVAL && cfg == NULL);
    CHECK(cfg_parse("{", 1, &cfg, NULL) == -EINVAL && cfg == NULL);
}

static void test_env(void)
{
    setenv("HG_T_A", "alpha", 1);
    setenv("HG_T_EMPTY", "", 1);
    setenv("HG_T_PORT", "7000", 1);
    unsetenv("HG_T_UNSET");
    unsetenv("HG_T_UNSET2");
    cfg_t *cfg = parse_ok(
        "{\"listen\": \"127.0.0.1:${HG_T_PORT}\", \"data_dir\": \"/srv/${HG_T_A}/${HG_T_A}x\", "
        "\"ingest_token\": \"${HG_T_EMPTY}\", \"admin_token\": \"\", \"subscribers\": ["
        "{\"name\": \"${HG_T_A}\", \"url\": \"http://${HG_T_A}:${HG_T_PORT}/$x\", "
        "\"events\": [\"${HG_T_A}\"], \"filter\": {\"p\": \"${HG_T_A}\"}, "
        "\"headers\": {\"X-Cost\": \"$5 or ${HG_T_EMPTY}\"}}]}");
    if (cfg) {
        CHECK_STR(cfg->listen, "127.0.0.1:7000");
        CHECK(cfg->listen_port == 7000);
        CHECK_STR(cfg->data_dir, "/srv/alpha/alphax");
        CHECK(cfg->ingest_token == NULL); /* set but empty */
        CHECK(cfg->admin_token == NULL);  /* empty */
        const cfg_subscriber_t *s = &cfg->subscribers[0];
        CHECK_STR(s->name, "alpha");
        CHECK_STR(s->url, "http://alpha:7000/$x");
        CHECK_STR(s->events[0], "alpha");
        CHECK_STR(s->filters[0].values[0].str, "alpha");
        CHECK(s->filters[0].values[0].len == 5);
        CHECK_STR(s->headers[0].value, "$5 or ");
    }
    cfg_free(cfg);

    parse_fails("{" HEAD "\"subscribers\": [], \"ingest_token\": \"${HG_T_UNSET}\"}",
                "ingest_token: environment variable HG_T_UNSET is not set\n");
    parse_fails(sub_with("\"secret\": \"whsec_${HG_T_UNSET}\", "
                         "\"headers\": {\"X-K\": \"${HG_T_UNSET}-${HG_T_UNSET2}\"}"),
                "subscribers[0].secret: environment variable HG_T_UNSET is not set\n"
                "subscribers[0].headers.X-K: environment variable HG_T_UNSET is not set\n"
                "subscribers[0].headers.X-K: environment variable HG_T_UNSET2 is not set\n");
    parse_fails("{" HEAD "\"subscribers\": [], \"admin_token\": \"${HG_T_A\"}",
                "admin_token: malformed ${NAME} reference\n");
    parse_fails("{" HEAD "\"subscribers\": [], \"admin_token\": \"${}\"}",
                "admin_token: malformed ${NAME} reference\n");
    parse_fails("{" HEAD "\"subscribers\": [], \"admin_token\": \"${1A}\"}",
                "admin_token: malformed ${NAME} reference\n");
    /* The expanded value is what gets validated. */
    parse_fails("{\"listen\": \"${HG_T_A}\", \"data_dir\": \"d\", \"subscribers\": []}",
                "listen: expected host:port\n");
    setenv("HG_T_SPACE", "two words", 1);
    parse_fails("{" HEAD "\"subscribers\": [], \"admin_token\": \"${HG_T_SPACE}\"}",
                "admin_token: expected visible ASCII characters without spaces\n");
    parse_fails("{" HEAD "\"subscribers\": [], \"ingest_token\": 5}",
                "ingest_token: expected a string\n");
    unsetenv("HG_T_A");
    unsetenv("HG_T_EMPTY");
    unsetenv("HG_T_PORT");
    unsetenv("HG_T_SPACE");
}

static void test_names_and_events(void)
{
    parse_fails(with_sub("{\"name\": \"a\", \"url\": \"http://h\", \"events\": [\"x\"]},"
                         "{\"name\": \"b\", \"url\": \"http://h\", \"events\": [\"x\"]},"
                         "{\"name\": \"a\", \"url\": \"http://h\", \"events\": [\"x\"]}"),
                "subscribers[2].name: duplicate subscriber name \"a\" (also subscribers[0])\n");
    char name[80], sub[256];
    memset(name, 'n', 65);
    name[65] = '\0';
    snprintf(sub, sizeof(sub), "{\"name\": \"%s\", \"url\": \"http://h\", \"events\": [\"x\"]}",
             name);
    parse_fails(with_sub(sub), "subscribers[0].name: expected 1 to 64 of [A-Za-z0-9_.-]\n");
    name[64] = '\0';
    snprintf(sub, sizeof(sub), "{\"name\": \"%s\", \"url\": \"http://h\", \"events\": [\"x\"]}",
             name);
    cfg_t *cfg = parse_ok(with_sub(sub));
    cfg_free(cfg);
    parse_fails(with_sub("{\"name\": \"a b\", \"url\": \"http://h\", \"events\": [\"x\"]}"),
                "subscribers[0].name: expected 1 to 64 of [A-Za-z0-9_.-]\n");
    parse_fails(with_sub("{\"name\": \"\", \"url\": \"http://h\", \"events\": [\"x\"]}"),
                "subscribers[0].name: expected 1 to 64 of [A-Za-z0-9_.-]\n");

    parse_fails(with_sub("{\"name\": \"a\", \"url\": \"http://h\", \"events\": []}"),
                "subscribers[0].events: expected a non-empty array of event types\n");
    parse_fails(with_sub("{\"name\": \"a\", \"url\": \"http://h\", \"events\": \"x\"}"),
                "subscribers[0].events: expected a non-empty array of event types\n");
    parse_fails(with_sub("{\"name\": \"a\", \"url\": \"http://h\", "
                         "\"events\": [\"ok.type:v1\", \"bad type\", 3, \"\"]}"),
                "subscribers[0].events[1]: expected \"*\" or an event type of 1 to 200 "
                "[A-Za-z0-9_.:-]\n"
                "subscribers[0].events[2]: expected a string\n"
                "subscribers[0].events[3]: expected \"*\" or an event type of 1 to 200 "
                "[A-Za-z0-9_.:-]\n");
    char type[210], big[512];
    memset(type, 't', 201);
    type[201] = '\0';
    snprintf(big, sizeof(big), "{\"name\": \"a\", \"url\": \"http://h\", \"events\": [\"%s\"]}",
             type);
    parse_fails(with_sub(big), "subscribers[0].events[0]: expected \"*\" or an event type of 1 "
                               "to 200 [A-Za-z0-9_.:-]\n");
    cfg =
        parse_ok(with_sub("{\"name\": \"a\", \"url\": \"http://h\", \"events\": [\"x\", \"*\"]}"));
    if (cfg) CHECK(cfg->subscribers[0].all_events && cfg->subscribers[0].nevents == 2);
    cfg_free(cfg);

    /* The exported validators that the admin API and ingest share. */
    CHECK(cfg_name_valid("a", 1) && cfg_name_valid("Az09_.-", 7));
    CHECK(cfg_name_valid(name, 64) && !cfg_name_valid(name, 65));
    CHECK(!cfg_name_valid("", 0) && !cfg_name_valid("a b", 3) && !cfg_name_valid("a:b", 3));
    CHECK(!cfg_name_valid("a\0", 2) && !cfg_name_valid("\xc3\xa9", 2));
    CHECK(cfg_event_type_valid("order.created:v2-x_y", 20));
    CHECK(cfg_event_type_valid(type, 200) && !cfg_event_type_valid(type, 201));
    CHECK(!cfg_event_type_valid("", 0) && !cfg_event_type_valid("*", 1));
    CHECK(!cfg_event_type_valid("a\\u0041", 7) && !cfg_event_type_valid("a/b", 3));
}

static void test_secrets(void)
{
    static const char *const bad[] = {
        "whsec_abc",  "whsec_",      "whsec_ab=c", "whsec_a===",  "whsec_====", "sk_abcd",
        "whsec_ab!d", "whsec_abcd ", "WHSEC_abcd", "whsec_abcd=", "whsec_ab-_", "whsec_abc\\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "\"secret\": \"%s\"", bad[i]);
        parse_fails(sub_with(extra), "subscribers[0].secret: expected \"whsec_\" followed by "
                                     "base64 of 1 to 128 bytes\n");
    }
    /* 129 bytes is one more than the signer holds; 128 is fine */
    char key[300], extra[400];
    memset(key, 'A', 172);
    key[172] = '\0';
    snprintf(extra, sizeof(extra), "\"secret\": \"whsec_%s\"", key);
    parse_fails(sub_with(extra), "subscribers[0].secret: expected \"whsec_\" followed by "
                                 "base64 of 1 to 128 bytes\n");
    memcpy(key + 170, "==", 2);
    snprintf(extra, sizeof(extra), "\"secret\": \"whsec_%s\"", key);
    cfg_t *ok;
    CHECK(cfg_parse(sub_with(extra), strlen(sub_with(extra)), &ok, NULL) == 0);
    cfg_free(ok);
    parse_fails(sub_with("\"secret\": [\"whsec_AAAA\", \"whsec_hunter2\", 1]"),
                "subscribers[0].secret[1]: expected \"whsec_\" followed by base64 of 1 to 128 bytes\n"
                "subscribers[0].secret[2]: expected a string\n");
    parse_fails(sub_with("\"secret\": []"),
                "subscribers[0].secret: expected a string or a non-empty array of strings\n");
    parse_fails(sub_with("\"secret\": 7"),
                "subscribers[0].secret: expected a string or a non-empty array of strings\n");
    setenv("HG_T_SECRET", "whsec_Zm9vYmFy", 1);
    cfg_t *cfg = parse_ok(sub_with("\"secret\": [\"${HG_T_SECRET}\", \"whsec_+/+/\"]"));
    if (cfg) {
        CHECK(cfg->subscribers[0].nsecrets == 2);
        CHECK_STR(cfg->subscribers[0].secrets[0], "whsec_Zm9vYmFy");
        CHECK_STR(cfg->subscribers[0].secrets[1], "whsec_+/+/");
    }
    cfg_free(cfg);
    unsetenv("HG_T_SECRET");
}

static void test_headers(void)
{
    parse_fails(sub_with("\"headers\": {\"Content-Type\": \"text/plain\", \"HOST\": \"x\", "
                         "\"Webhook-Signature\": \"v1,x\", \"user-agent\": \"x\", "
                         "\"webhook-id\": \"x\", \"webhook-timestamp\": \"1\", "
                         "\"Content-Length\": \"1\"}"),
                "subscribers[0].headers.Content-Type: header is set by hookgate and cannot be "
                "overridden\n"
                "subscribers[0].headers.HOST: header is set by hookgate and cannot be overridden\n"
                "subscribers[0].headers.Webhook-Signature: header is set by hookgate and cannot "
                "be overridden\n"
                "subscribers[0].headers.user-agent: header is set by hookgate and cannot be "
                "overridden\n"
                "subscribers[0].headers.webhook-id: header is set by hookgate and cannot be "
                "overridden\n"
                "subscribers[0].headers.webhook-timestamp: header is set by hookgate and cannot "
                "be overridden\n"
                "subscribers[0].headers.Content-Length: header is set by hookgate and cannot be "
                "overridden\n");
    parse_fails(sub_with("\"headers\": {\"X Bad\": \"v\", \"X:y\": \"v\", \"\": \"v\"}"),
                "subscribers[0].headers[\"X Bad\"]: invalid header name\n"
                "subscribers[0].headers[\"X:y\"]: invalid header name\n"
                "subscribers[0].headers[\"\"]: invalid header name\n");
    parse_fails(sub_with("\"headers\": {\"X-A\": \"1\", \"x-a\": \"2\"}"),
                "subscribers[0].headers.x-a: duplicate header\n");
    parse_fails(sub_with("\"headers\": {\"X-A\": \"evil\\r\\nX-B: 1\", \"X-C\": \"\", "
                         "\"X-D\": 5}"),
                "subscribers[0].headers.X-A: expected a non-empty header value without control "
                "characters\n"
                "subscribers[0].headers.X-C: expected a non-empty header value without control "
                "characters\n"
                "subscribers[0].headers.X-D: expected a string\n");
    parse_fails(sub_with("\"headers\": []"), "subscribers[0].headers: expected an object\n");
    cfg_t *cfg = parse_ok(sub_with("\"headers\": {\"X-Tab\": \"a\\tb\", \"x_odd!\": \"v v\"}"));
    if (cfg) {
        CHECK(cfg->subscribers[0].nheaders == 2);
        CHECK_STR(cfg->subscribers[0].headers[0].value, "a\tb");
        CHECK_STR(cfg->subscribers[0].headers[1].name, "x_odd!");
    }
    cfg_free(cfg);
}

static void test_filters(void)
{
    parse_fails(sub_with("\"filter\": {\"a\": null, \"b\": {}, \"c\": [], \"d\": [1, [2], null, "
                         "{}], \"e\": 1e999}"),
                "subscribers[0].filter.a: expected a string, number or boolean, a non-empty "
                "array of them, or an object with one operator\n"
                "subscribers[0].filter.b: expected exactly one operator: gt, gte, lt, lte, "
                "prefix, exists, in or not_in\n"
                "subscribers[0].filter.c: expected a string, number or boolean, a non-empty "
                "array of them, or an object with one operator\n"
                "subscribers[0].filter.d[1]: expected a string, number or boolean\n"
                "subscribers[0].filter.d[2]: expected a string, number or boolean\n"
                "subscribers[0].filter.d[3]: expected a string, number or boolean\n"
                "subscribers[0].filter.e: number out of range\n");
    parse_fails(sub_with("\"filter\": {\"\": 1, \".a\": 1, \"a.\": 1, \"a..b\": 1, \"ok.k\": 1}"),
                "subscribers[0].filter[\"\"]: expected a dotted path with non-empty segments as "
                "the key\n"
                "subscribers[0].filter[\".a\"]: expected a dotted path with non-empty segments as "
                "the key\n"
                "subscribers[0].filter[\"a.\"]: expected a dotted path with non-empty segments as "
                "the key\n"
                "subscribers[0].filter[\"a..b\"]: expected a dotted path with non-empty segments "
                "as the key\n");
    parse_fails(sub_with("\"filter\": {\"p.q\": 1, \"p.\\u0071\": 2}"),
                "subscribers[0].filter[\"p.\\u0071\"]: duplicate key\n");
    parse_fails(sub_with("\"filter\": [\"a\"]"), "subscribers[0].filter: expected an object\n");
    cfg_t *cfg = parse_ok(sub_with("\"filter\": {\"payload.\\u0041\": \"\", \"type\": [0, -0]}"));
    if (cfg) {
        const cfg_subscriber_t *s = &cfg->subscribers[0];
        CHECK(s->nfilters == 2);
        CHECK_STR(s->filters[0].path, "payload.A");
        CHECK(s->filters[0].values[0].kind == CFG_VALUE_STRING && s->filters[0].values[0].len == 0);
        CHECK(s->filters[1].nvalues == 2 && s->filters[1].values[1].number == 0);
    }
    cfg_free(cfg);
}

/* Operator objects: {"gt": N} and friends, one operator each, operands of its type. */
static void test_filter_operators(void)
{
    cfg_t *cfg = parse_ok(sub_with(
        "\"filter\": {\"p.gt\": {\"gt\": 1}, \"p.gte\": {\"gte\": -2.5}, \"p.lt\": {\"lt\": 1e3}, "
        "\"p.lte\": {\"lte\": 0}, \"p.prefix\": {\"prefix\": \"ord_\\u0041\"}, "
        "\"p.ex\": {\"exists\": true}, \"p.nex\": {\"exists\": false}, "
        "\"p.in\": {\"in\": [\"a\", 2, true]}, \"p.nin\": {\"not_in\": [\"x\"]}, "
        "\"p.plain\": [1, 2], \"p.one\": \"v\", \"p.empty\": {\"prefix\": \"\"}}"));
    if (cfg) {
        const cfg_filter_t *f = cfg->subscribers[0].filters;
        CHECK(cfg->subscribers[0].nfilters == 12);
        CHECK(f[0].op == CFG_FILTER_GT && f[0].nvalues == 1 && f[0].values[0].number == 1);
        CHECK(f[1].op == CFG_FILTER_GTE && f[1].values[0].number == -2.5);
        CHECK(f[2].op == CFG_FILTER_LT && f[2].values[0].number == 1000);
        CHECK(f[3].op == CFG_FILTER_LTE && f[3].values[0].kind == CFG_VALUE_NUMBER);
        CHECK(f[4].op == CFG_FILTER_PREFIX && f[4].values[0].kind == CFG_VALUE_STRING);
        CHECK_STR(f[4].values[0].str, "ord_A");
        CHECK(f[4].values[0].len == 5);
        CHECK(f[5].op == CFG_FILTER_EXISTS && f[5].values[0].boolean);
        CHECK(f[6].op == CFG_FILTER_EXISTS && !f[6].values[0].boolean);
        CHECK(f[7].op == CFG_FILTER_IN && f[7].nvalues == 3);
        CHECK(f[7].values[1].kind == CFG_VALUE_NUMBER && f[7].values[2].kind == CFG_VALUE_BOOL);
        CHECK(f[8].op == CFG_FILTER_NOT_IN && f[8].nvalues == 1);
        CHECK_STR(f[8].values[0].str, "x");
        CHECK(f[9].op == CFG_FILTER_IN && f[9].nvalues == 2);
        CHECK(f[10].op == CFG_FILTER_IN && f[10].nvalues == 1);
        CHECK(f[11].op == CFG_FILTER_PREFIX && f[11].values[0].len == 0);
    }
    cfg_free(cfg);

    /* Wrong operand types, each naming the operator's path. */
    parse_fails(
        sub_with("\"filter\": {\"payload.amount\": {\"gte\": \"5\"}, \"a\": {\"gt\": true}, "
                 "\"b\": {\"lt\": null}, \"c\": {\"lte\": [1]}, \"d\": {\"gt\": 1e999}, "
                 "\"e\": {\"prefix\": 1}, \"f\": {\"prefix\": [\"x\"]}, \"g\": {\"exists\": 1}, "
                 "\"h\": {\"exists\": \"true\"}, \"i\": {\"in\": \"x\"}, \"j\": {\"in\": []}, "
                 "\"k\": {\"not_in\": 1}, \"l\": {\"not_in\": [1, null, {}, [2]]}, "
                 "\"m\": {\"prefix\": \"a\\u0000\"}}"),
        "subscribers[0].filter[\"payload.amount\"].gte: expected a number\n"
        "subscribers[0].filter.a.gt: expected a number\n"
        "subscribers[0].filter.b.lt: expected a number\n"
        "subscribers[0].filter.c.lte: expected a number\n"
        "subscribers[0].filter.d.gt: number out of range\n"
        "subscribers[0].filter.e.prefix: expected a string\n"
        "subscribers[0].filter.f.prefix: expected a string\n"
        "subscribers[0].filter.g.exists: expected true or false\n"
        "subscribers[0].filter.h.exists: expected true or false\n"
        "subscribers[0].filter.i.in: expected a non-empty array of strings, numbers or "
        "booleans\n"
        "subscribers[0].filter.j.in: expected a non-empty array of strings, numbers or "
        "booleans\n"
        "subscribers[0].filter.k.not_in: expected a non-empty array of strings, numbers or "
        "booleans\n"
        "subscribers[0].filter.l.not_in[1]: expected a string, number or boolean\n"
        "subscribers[0].filter.l.not_in[2]: expected a string, number or boolean\n"
        "subscribers[0].filter.l.not_in[3]: expected a string, number or boolean\n"
        "subscribers[0].filter.m.prefix: contains a NUL character\n");

    /* Unknown operators and objects with no operator or several. Operator names are
     * exact: no "$gte", no "GT", no escaped spelling. */
    parse_fails(
        sub_with("\"filter\": {\"payload.amount\": {\"$gte\": 5}, \"a\": {\"GT\": 1}, "
                 "\"b\": {\"eq\": 1}, \"c\": {\"g\\u0074\": 1}, \"d\": {}, "
                 "\"e\": {\"gt\": 1, \"lt\": 5}, \"f\": {\"gt\": 1, \"gt\": 2}}"),
        "subscribers[0].filter[\"payload.amount\"][\"$gte\"]: unknown operator (expected gt, "
        "gte, lt, lte, prefix, exists, in or not_in)\n"
        "subscribers[0].filter.a.GT: unknown operator (expected gt, gte, lt, lte, prefix, "
        "exists, in or not_in)\n"
        "subscribers[0].filter.b.eq: unknown operator (expected gt, gte, lt, lte, prefix, "
        "exists, in or not_in)\n"
        "subscribers[0].filter.c[\"g\\u0074\"]: unknown operator (expected gt, gte, lt, lte, "
        "prefix, exists, in or not_in)\n"
        "subscribers[0].filter.d: expected exactly one operator: gt, gte, lt, lte, prefix, "
        "exists, in or not_in\n"
        "subscribers[0].filter.e: expected exactly one operator: gt, gte, lt, lte, prefix, "
        "exists, in or not_in\n"
        "subscribers[0].filter.f: expected exactly one operator: gt, gte, lt, lte, prefix, "
        "exists, in or not_in\n");

    /* An operator object inside an array is not a value. */
    parse_fails(sub_with("\"filter\": {\"a\": [1, {\"gt\": 1}]}"),
                "subscribers[0].filter.a[1]: expected a string, number or boolean\n");
}

/* All problems come back together, in a stable order, without secret values. */
static void test_many_errors(void)
{
    setenv("HG_T_KEY", "s3cr3t-value", 1);
    const char *text =
        "{\"listen\": \"nope\", \"data_dir\": \"d\", \"admin_token\": \"tok en\", "
        "\"retry\": {\"multiplier\": 0.5}, \"extra\": true, \"subscribers\": ["
        "{\"name\": \"ok\", \"url\": \"http://h\", \"events\": [\"a\"]},"
        "{\"name\": \"b\", \"url\": \"mailto:x\", \"events\": [\"a\"], \"retyr\": 1, "
        "\"secret\": \"whsec_s3cr3t!\", \"headers\": {\"X-K\": \"${HG_T_KEY}\\n\"}},"
        "{\"name\": \"ok\", \"url\": \"http://h\", \"events\": [\"a\"], \"timeout_ms\": 0}]}";
    cfg_t *cfg = (cfg_t *)&cfg;
    char *errs = NULL;
    CHECK(cfg_parse(text, strlen(text), &cfg, &errs) == -EINVAL && cfg == NULL);
    CHECK_STR(errs, "extra: unknown key\n"
                    "listen: expected host:port\n"
                    "admin_token: expected visible ASCII characters without spaces\n"
                    "retry.multiplier: expected a number >= 1\n"
                    "subscribers[1].retyr: unknown key\n"
                    "subscribers[1].url: expected an http:// or https:// URL\n"
                    "subscribers[1].secret: expected \"whsec_\" followed by base64 of 1 to 128 bytes\n"
                    "subscribers[1].headers.X-K: expected a non-empty header value without "
                    "control characters\n"
                    "subscribers[2].name: duplicate subscriber name \"ok\" (also subscribers[0])\n"
                    "subscribers[2].timeout_ms: expected an integer 1..3600000\n");
    CHECK(errs && !strstr(errs, "s3cr3t") && !strstr(errs, "tok en") && !strstr(errs, "mailto"));
    free(errs);
    unsetenv("HG_T_KEY");

    /* Past 100 problems the rest are counted, not listed. */
    static char big[16384];
    size_t n = (size_t)snprintf(big, sizeof(big), "{" HEAD "\"subscribers\": []");
    for (int i = 0; i < 150; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, ", \"k%d\": 1", i);
    snprintf(big + n, sizeof(big) - n, "}");
    cfg = NULL;
    errs = NULL;
    CHECK(cfg_parse(big, strlen(big), &cfg, &errs) == -EINVAL);
    size_t lines = 0;
    for (const char *p = errs; p && *p; p++)
        lines += *p == '\n';
    CHECK(lines == 101);
    CHECK(errs && strstr(errs, "k99: unknown key\n(50 more problems not shown)\n") != NULL);
    CHECK(errs && !strstr(errs, "k100:"));
    free(errs);
}

static void test_load_file(const char *example)
{
    cfg_t *cfg = (cfg_t *)&cfg;
    char *errs = NULL;
    CHECK(cfg_load_file("/nonexistent/hookgate.json", &cfg, &errs) == -ENOENT && cfg == NULL);
    CHECK_STR(errs, "/nonexistent/hookgate.json: cannot read: No such file or directory\n");
    free(errs);
    errs = NULL;
    CHECK(cfg_load_file("/", &cfg, &errs) == -EISDIR && cfg == NULL);
    CHECK_STR(errs, "/: cannot read: Is a directory\n");
    free(errs);

    /* A file larger than one read buffer. */
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        static char text[20000];
        size_t n = (size_t)snprintf(text, sizeof(text), "{" HEAD "\"subscribers\": [");
        for (int i = 0; i < 150; i++)
            n += (size_t)snprintf(text + n, sizeof(text) - n,
                                  "%s{\"name\": \"s%d\", \"url\": \"http://h/%d\", "
                                  "\"events\": [\"e\"]}",
                                  i ? "," : "", i, i);
        n += (size_t)snprintf(text + n, sizeof(text) - n, "]}");
        CHECK(write(fd, text, n) == (ssize_t)n);
        close(fd);
        errs = NULL;
        CHECK(cfg_load_file(path, &cfg, &errs) == 0 && errs == NULL);
        if (cfg) {
            CHECK(cfg->nsubscribers == 150);
            const cfg_subscriber_t *s = cfg_find_subscriber(cfg, "s149");
            CHECK(s != NULL && strcmp(s->url, "http://h/149") == 0);
        }
        cfg_free(cfg);
        unlink(path);
    }

    /* The shipped example passes validation. */
    errs = NULL;
    cfg = NULL;
    int rc = cfg_load_file(example, &cfg, &errs);
    CHECK(rc == 0 && cfg != NULL);
    if (errs) printf("# %s: %s", example, errs);
    free(errs);
    if (!cfg) return;
    CHECK_STR(cfg->listen, "127.0.0.1:8080");
    CHECK_STR(cfg->data_dir, "var/hookgate");
    CHECK(cfg->ingest_token == NULL && cfg->admin_token == NULL);
    CHECK(cfg->nsubscribers == 5);
    static const char *const types[] = {
        "conversation_created", "message_created", "message_viewed", "appointment_scheduled",
        "product_purchased",    "form_submission", "task_completed"};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        size_t listed = 0;
        for (size_t i = 0; i < cfg->nsubscribers; i++)
            for (size_t e = 0; e < cfg->subscribers[i].nevents; e++)
                listed += strcmp(cfg->subscribers[i].events[e], types[t]) == 0;
        CHECK(listed == 1);
    }
    size_t catch_all = 0, signed_with_header = 0, overrides = 0, filtered = 0;
    for (size_t i = 0; i < cfg->nsubscribers; i++) {
        const cfg_subscriber_t *s = &cfg->subscribers[i];
        catch_all += s->all_events;
        signed_with_header += s->nsecrets == 1 && s->nheaders == 1;
        overrides += s->retry.max_attempts != cfg->retry.max_attempts;
        filtered += s->nfilters == 1;
        CHECK(strncmp(s->url, "http://127.0.0.1:9001/", 22) == 0);
    }
    CHECK(catch_all == 1 && signed_with_header == 1 && overrides == 1 && filtered == 2);
    const cfg_subscriber_t *f = cfg_find_subscriber(cfg, "fulfilment");
    CHECK(f && f->nfilters == 1 && strcmp(f->filters[0].path, "payload.product_id") == 0);
    CHECK(f && f->filters[0].nvalues == 1 && strcmp(f->filters[0].values[0].str, "prod_123") == 0);
    const cfg_subscriber_t *form = cfg_find_subscriber(cfg, "contact-form");
    CHECK(form && form->nfilters == 1 && strcmp(form->filters[0].path, "payload.form_id") == 0);
    CHECK(form && form->filters[0].op == CFG_FILTER_PREFIX &&
          strcmp(form->filters[0].values[0].str, "form_") == 0);
    cfg_free(cfg);
}

/* circuit_breaker, rate_limit_per_s and ordered: defaults, top-level defaults, per-subscriber
 * overrides (a circuit_breaker value replaces the top-level one whole) and every error. */
static void test_subscriber_health(void)
{
    cfg_t *cfg = parse_ok(sub_with(""));
    if (cfg) {
        const cfg_subscriber_t *s = &cfg->subscribers[0];
        CHECK(!s->breaker.enabled && s->rate_limit_per_s == 0 && !s->ordered);
        cfg_free(cfg);
    }
    cfg = parse_ok(
        sub_with("\"circuit_breaker\": true, \"rate_limit_per_s\": 2.5, \"ordered\": true"));
    if (cfg) {
        const cfg_subscriber_t *s = &cfg->subscribers[0];
        CHECK(s->breaker.enabled && s->breaker.failure_threshold == 10);
        CHECK(s->breaker.open_ms == 30000 && s->breaker.max_open_ms == 600000);
        CHECK(s->rate_limit_per_s == 2.5 && s->ordered);
        cfg_free(cfg);
    }
    cfg = parse_ok(sub_with("\"circuit_breaker\": {\"failure_threshold\": 5, \"open_ms\": 200}"));
    if (cfg) {
        const cfg_breaker_t *b = &cfg->subscribers[0].breaker;
        CHECK(b->enabled && b->failure_threshold == 5 && b->open_ms == 200);
        CHECK(b->max_open_ms == 600000);
        cfg_free(cfg);
    }
    /* Top-level defaults, and a subscriber that turns the breaker off for itself. */
    cfg = parse_ok("{" HEAD "\"circuit_breaker\": {\"failure_threshold\": 3}, "
                   "\"rate_limit_per_s\": 50, \"ordered\": true, \"subscribers\": ["
                   "{\"name\": \"a\", \"url\": \"http://h/\", \"events\": [\"*\"]},"
                   "{\"name\": \"b\", \"url\": \"http://h/\", \"events\": [\"*\"], "
                   "\"circuit_breaker\": false, \"rate_limit_per_s\": 0.5, \"ordered\": false},"
                   "{\"name\": \"c\", \"url\": \"http://h/\", \"events\": [\"*\"], "
                   "\"circuit_breaker\": {\"open_ms\": 10}}]}");
    if (cfg) {
        CHECK(cfg->breaker.enabled && cfg->breaker.failure_threshold == 3);
        const cfg_subscriber_t *a = &cfg->subscribers[0], *b = &cfg->subscribers[1],
                               *c = &cfg->subscribers[2];
        CHECK(a->breaker.enabled && a->breaker.failure_threshold == 3);
        CHECK(a->rate_limit_per_s == 50 && a->ordered);
        CHECK(!b->breaker.enabled && b->rate_limit_per_s == 0.5 && !b->ordered);
        CHECK(c->breaker.enabled && c->breaker.failure_threshold == 10 && c->breaker.open_ms == 10);
        cfg_free(cfg);
    }
    parse_fails(sub_with("\"circuit_breaker\": 1"),
                "subscribers[0].circuit_breaker: expected true, false or an object\n");
    parse_fails(sub_with("\"circuit_breaker\": {\"open\": 1}"),
                "subscribers[0].circuit_breaker.open: unknown key\n");
    parse_fails(sub_with("\"circuit_breaker\": {\"failure_threshold\": 0}"),
                "subscribers[0].circuit_breaker.failure_threshold: expected an integer "
                "1..1000000\n");
    parse_fails(sub_with("\"circuit_breaker\": {\"open_ms\": 0}"),
                "subscribers[0].circuit_breaker.open_ms: expected an integer 1..2592000000\n");
    parse_fails(sub_with("\"circuit_breaker\": {\"open_ms\": 5000, \"max_open_ms\": 1000}"),
                "subscribers[0].circuit_breaker.max_open_ms: must be >= open_ms (5000)\n");
    parse_fails(sub_with("\"circuit_breaker\": {\"open_ms\": 700000}"),
                "subscribers[0].circuit_breaker.open_ms: must be <= max_open_ms (600000)\n");
    parse_fails(sub_with("\"rate_limit_per_s\": 0"),
                "subscribers[0].rate_limit_per_s: expected a number > 0 and <= 10000\n");
    parse_fails(sub_with("\"rate_limit_per_s\": -1"),
                "subscribers[0].rate_limit_per_s: expected a number > 0 and <= 10000\n");
    parse_fails(sub_with("\"rate_limit_per_s\": \"5\""),
                "subscribers[0].rate_limit_per_s: expected a number > 0 and <= 10000\n");
    parse_fails(sub_with("\"rate_limit_per_s\": 10001"),
                "subscribers[0].rate_limit_per_s: expected a number > 0 and <= 10000\n");
    parse_fails(sub_with("\"ordered\": 1"), "subscribers[0].ordered: expected true or false\n");
    parse_fails("{" HEAD "\"ordered\": null, \"rate_limit_per_s\": false, "
                "\"circuit_breaker\": [], \"subscribers\": []}",
                "circuit_breaker: expected true, false or an object\n"
                "rate_limit_per_s: expected a number > 0 and <= 10000\n"
                "ordered: expected true or false\n");
}

int main(int argc, char **argv)
{
    test_full_file();
    test_defaults();
    test_listen();
    test_url();
    test_numbers();
    test_limits();
    test_unknown_and_required();
    test_root_and_json();
    test_env();
    test_names_and_events();
    test_secrets();
    test_headers();
    test_filters();
    test_filter_operators();
    test_subscriber_health();
    test_many_errors();
    test_load_file(argc > 1 ? argv[1] : "config/example.json");
    return check_done();
}
