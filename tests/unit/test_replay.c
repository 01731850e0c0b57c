/* test_replay.c -- the replay selection: the subscriber's events and filter, type,
 * since/until on occurred_at (inclusive) and the retention bound. */
#include "gateway/replay.h"
#include "tests/unit/check.h"

#include <stdlib.h>

static cfg_t *load(const char *sub)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:1\", \"data_dir\": \"d\", \"subscribers\": [%s]}", sub);
    cfg_t *cfg = NULL;
    char *errs = NULL;
    CHECK(cfg_parse(text, strlen(text), &cfg, &errs) == 0);
    free(errs);
    return cfg;
}

static bool sel(const cfg_t *cfg, const replay_sel_t *s, const char *type, const char *body,
                int64_t received_ms)
{
    return replay_selects(&cfg->subscribers[0], s, type, strlen(type), body, strlen(body),
                          received_ms);
}

#define EV(type, at, product)                                                                      \
    "{\"type\":\"" type "\",\"id\":\"e\",\"occurred_at\":\"" at "\",\"payload\":{\"p\":\"" product \
    "\"}}"

static void test_subscription(void)
{
    cfg_t *cfg = load("{\"name\": \"s\", \"url\": \"http://h/\", \"events\": [\"a\", \"b\"], "
                      "\"filter\": {\"payload.p\": \"x\"}}");
    if (!cfg) return;
    replay_sel_t all = {0};
    CHECK(sel(cfg, &all, "a", EV("a", "2026-01-01T00:00:00Z", "x"), 5));
    CHECK(sel(cfg, &all, "b", EV("b", "2026-01-01T00:00:00Z", "x"), 5));
    CHECK(!sel(cfg, &all, "c", EV("c", "2026-01-01T00:00:00Z", "x"), 5)); /* not subscribed */
    CHECK(!sel(cfg, &all, "a", EV("a", "2026-01-01T00:00:00Z", "y"), 5)); /* filter */
    CHECK(!sel(cfg, &all, "a", "{\"type\":\"a\",", 5));                   /* unreadable */
    replay_sel_t only_b = {.type = "b"};
    CHECK(!sel(cfg, &only_b, "a", EV("a", "2026-01-01T00:00:00Z", "x"), 5));
    CHECK(sel(cfg, &only_b, "b", EV("b", "2026-01-01T00:00:00Z", "x"), 5));
    replay_sel_t kept = {.min_received_ms = 6};
    CHECK(!sel(cfg, &kept, "a", EV("a", "2026-01-01T00:00:00Z", "x"), 5));
    CHECK(sel(cfg, &kept, "a", EV("a", "2026-01-01T00:00:00Z", "x"), 6));
    cfg_free(cfg);
}

static void test_bounds(void)
{
    cfg_t *cfg = load("{\"name\": \"s\", \"url\": \"http://h/\", \"events\": [\"*\"]}");
    if (!cfg) return;
    /* 2026-01-01T00:00:10Z is 1767225610000 ms. */
    replay_sel_t s = {
        .has_since = true, .since_ms = 1767225610000, .has_until = true, .until_ms = 1767225620000};
    CHECK(!sel(cfg, &s, "a", EV("a", "2026-01-01T00:00:09.999Z", "x"), 0));
    CHECK(sel(cfg, &s, "a", EV("a", "2026-01-01T00:00:10Z", "x"), 0));      /* inclusive */
    CHECK(sel(cfg, &s, "a", EV("a", "2026-01-01T01:00:15+01:00", "x"), 0)); /* an offset */
    CHECK(sel(cfg, &s, "a", EV("a", "2026-01-01T00:00:20.000Z", "x"), 0));  /* inclusive */
    CHECK(!sel(cfg, &s, "a", EV("a", "2026-01-01T00:00:20.001Z", "x"), 0));
    CHECK(!sel(cfg, &s, "a", "{\"type\":\"a\",\"payload\":1}", 0)); /* no occurred_at */
    replay_sel_t none = {0};
    CHECK(sel(cfg, &none, "a", "{\"type\":\"a\",\"payload\":1}", 0));
    cfg_free(cfg);
}

int main(void)
{
    test_subscription();
    test_bounds();
    return check_done();
}
