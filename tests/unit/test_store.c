/* test_store.c -- the LMDB store against real files in a temporary directory: enqueue and
 * idempotency, claiming, every state transition, counters, dead-letter paging and bulk
 * operations, retention, a full map, the format-version check, the data_dir lock,
 * corrupt records and LMDB's fatal state. */
#include <errno.h>
#include <ftw.h>
#include <lmdb.h> /* only to forge a store of another format version or corrupt records */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/check.h"

static char base[64];
static int ndirs;

/* A fresh store directory under the test's temp dir (not created: store_open does it). */
static const char *new_dir(void)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/s%d/nested", base, ++ndirs);
    return path;
}

static store_t *open_at(const char *dir, uint64_t mb)
{
    store_t *st = NULL;
    char err[256] = "";
    int rc = store_open(dir, mb, &st, err, sizeof(err));
    if (rc) printf("# store_open(%s): %d %s\n", dir, rc, err);
    return rc ? NULL : st;
}

static int enqueue(store_t *st, const char *id, const char *type, int64_t ms, const char **subs,
                   size_t n, bool *dup, uint32_t *nd)
{
    store_wtxn_t *tx;
    char body[128];
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"type\":\"%s\",\"payload\":{}}", id, type);
    store_event_in_t ev = {id, strlen(id), type, strlen(type), body, strlen(body), ms, subs, n};
    int rc = store_wtxn_begin(st, &tx);
    if (rc) return rc;
    rc = store_enqueue(tx, &ev, dup, nd);
    if (rc) {
        store_wtxn_abort(tx);
        return rc;
    }
    return store_wtxn_commit(tx);
}

/* Enqueues a new event with one delivery to sub and returns the delivery id (0 on error). */
static uint64_t enqueue1(store_t *st, const char *id, const char *type, int64_t ms, const char *sub)
{
    bool dup;
    uint32_t nd;
    if (enqueue(st, id, type, ms, &sub, 1, &dup, &nd) || dup || nd != 1) return 0;
    store_event_t e;
    if (store_get_event(st, id, strlen(id), &e)) return 0;
    uint64_t did = e.delivery_ids[0];
    store_event_clear(&e);
    return did;
}

static store_attempt_t attempt(int64_t at, int32_t status, const char *error)
{
    store_attempt_t a = {.at_ms = at, .status = status, .duration_ms = 5, .error = (char *)error};
    return a;
}

typedef enum { OP_ACK, OP_RESCHEDULE, OP_BURY, OP_BURY_NOATTEMPT, OP_KICK, OP_DELETE } op_t;

/* Runs one outcome in its own transaction; returns the operation's result (the
 * transaction is committed either way: -ENOENT must leave it usable). */
static int run_op(store_t *st, op_t op, uint64_t id, int64_t t, int32_t status, const char *error)
{
    store_wtxn_t *tx;
    store_attempt_t a = attempt(t, status, error);
    int rc = store_wtxn_begin(st, &tx);
    if (rc) return rc;
    switch (op) {
    case OP_ACK: rc = store_ack(tx, id, &a); break;
    case OP_RESCHEDULE: rc = store_reschedule(tx, id, t + 1000, &a); break;
    case OP_BURY: rc = store_bury(tx, id, t, &a, NULL); break;
    case OP_BURY_NOATTEMPT: rc = store_bury(tx, id, t, NULL, error); break;
    case OP_KICK: rc = store_kick(tx, id, t); break;
    case OP_DELETE: rc = store_delete_dead(tx, id); break;
    }
    int crc = store_wtxn_commit(tx);
    return rc ? rc : crc;
}

static bool counters_are(store_t *st, const char *name, uint64_t pending, uint64_t delivered,
                         uint64_t failed, uint64_t dead)
{
    store_counters_t c;
    if (store_get_counters(st, name, &c)) return false;
    bool ok = c.pending == pending && c.delivered == delivered && c.failed_attempts == failed &&
              c.dead == dead;
    if (!ok)
        printf("#   counters of %s: pending %llu delivered %llu failed %llu dead %llu\n", name,
               (unsigned long long)c.pending, (unsigned long long)c.delivered,
               (unsigned long long)c.failed_attempts, (unsigned long long)c.dead);
    store_counters_clear(&c);
    return ok;
}

static store_state_t state_of(store_t *st, uint64_t id)
{
    store_delivery_t d;
    if (store_get_delivery(st, id, &d)) return 0;
    store_state_t s = d.state;
    store_delivery_clear(&d);
    return s;
}

/* ---- enqueue and idempotency ---- */

static void test_enqueue(void)
{
    const char *dir = new_dir();
    store_t *st = open_at(dir, 16);
    CHECK(st != NULL);
    if (!st) return;
    const char *subs[] = {"crm", "billing"};
    bool dup = true;
    uint32_t nd = 0;
    CHECK(enqueue(st, "evt_1", "message_created", 1000, subs, 2, &dup, &nd) == 0);
    CHECK(!dup && nd == 2);

    store_event_t e;
    CHECK(store_get_event(st, "evt_1", 5, &e) == 0);
    CHECK_STR(e.id, "evt_1");
    CHECK_STR(e.type, "message_created");
    CHECK(e.received_ms == 1000 && e.ndeliveries == 2);
    CHECK(e.body_len == strlen(e.body) && strstr(e.body, "\"evt_1\"") != NULL);
    uint64_t d0 = e.delivery_ids[0], d1 = e.delivery_ids[1];
    CHECK(d0 != d1 && d0 != 0 && d1 != 0);
    store_event_clear(&e);

    store_delivery_t d;
    CHECK(store_get_delivery(st, d1, &d) == 0);
    CHECK(d.id == d1 && d.state == STORE_PENDING && d.attempts == 0);
    CHECK_STR(d.subscriber, "billing");
    CHECK_STR(d.event_id, "evt_1");
    CHECK_STR(d.event_type, "message_created");
    CHECK_STR(d.last_error, "");
    CHECK(d.created_ms == 1000 && d.next_attempt_ms == 1000 && d.first_attempt_ms == 0);
    CHECK(d.dead_ms == 0 && d.last_status == 0 && d.nhistory == 0);
    store_delivery_clear(&d);
    CHECK(counters_are(st, "crm", 1, 0, 0, 0));
    CHECK(counters_are(st, "billing", 1, 0, 0, 0));

    /* Duplicate: nothing new, the stored count is reported. */
    const char *one[] = {"crm"};
    CHECK(enqueue(st, "evt_1", "other", 2000, one, 1, &dup, &nd) == 0);
    CHECK(dup && nd == 2);
    CHECK(counters_are(st, "crm", 1, 0, 0, 0));

    /* A duplicate inside the same transaction. */
    store_wtxn_t *tx;
    store_event_in_t ev = {"evt_2", 5, "t", 1, "{}", 2, 3000, one, 1};
    CHECK(store_wtxn_begin(st, &tx) == 0);
    CHECK(store_enqueue(tx, &ev, &dup, &nd) == 0 && !dup && nd == 1);
    CHECK(store_enqueue(tx, &ev, &dup, &nd) == 0 && dup && nd == 1);
    /* Invalid input is refused without breaking the transaction. */
    store_event_in_t bad = ev;
    bad.id_len = 0;
    CHECK(store_enqueue(tx, &bad, &dup, &nd) == -EINVAL);
    const char *empty_name[] = {""};
    bad = ev;
    bad.id = "evt_x";
    bad.subscribers = empty_name;
    CHECK(store_enqueue(tx, &bad, &dup, &nd) == -EINVAL);
    CHECK(store_wtxn_commit(tx) == 0);
    CHECK(store_get_event(st, "evt_x", 5, &e) == -ENOENT);

    /* An aborted transaction leaves nothing behind. */
    ev.id = "evt_3";
    CHECK(store_wtxn_begin(st, &tx) == 0);
    CHECK(store_enqueue(tx, &ev, &dup, &nd) == 0 && !dup);
    store_wtxn_abort(tx);
    CHECK(store_get_event(st, "evt_3", 5, &e) == -ENOENT);
    CHECK(counters_are(st, "crm", 2, 0, 0, 0));

    /* Events with no subscriber are stored too (and still deduplicated). */
    CHECK(enqueue(st, "evt_none", "t", 3500, NULL, 0, &dup, &nd) == 0 && !dup && nd == 0);
    CHECK(enqueue(st, "evt_none", "t", 3500, NULL, 0, &dup, &nd) == 0 && dup && nd == 0);

    /* Across close and reopen: still a duplicate, and new ids are never reused. */
    store_close(st);
    st = open_at(dir, 16);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(enqueue(st, "evt_1", "message_created", 1000, subs, 2, &dup, &nd) == 0);
    CHECK(dup && nd == 2);
    CHECK(enqueue(st, "evt_2", "t", 1000, subs, 2, &dup, &nd) == 0 && dup && nd == 1);
    uint64_t d4 = enqueue1(st, "evt_4", "t", 4000, "crm");
    CHECK(d4 > d1 && d4 > d0);
    CHECK(store_get_delivery(st, d4 - 1, &d) == 0); /* evt_2's delivery */
    CHECK_STR(d.event_id, "evt_2");
    store_delivery_clear(&d);
    CHECK(counters_are(st, "crm", 3, 0, 0, 0));
    CHECK(counters_are(st, "billing", 1, 0, 0, 0));
    CHECK(counters_are(st, "nobody", 0, 0, 0, 0));

    CHECK(store_get_event(st, "nope", 4, &e) == -ENOENT);
    CHECK(store_get_delivery(st, 999999, &d) == -ENOENT);

    uint64_t file_bytes = 0, used_bytes = 0;
    CHECK(store_usage(st, &file_bytes, &used_bytes) == 0);
    CHECK(used_bytes > 0 && used_bytes <= file_bytes);
    store_close(st);
}

/* ---- claiming ---- */

typedef struct {
    uint64_t ids[8];
    size_t n;
} idset_t;

static bool in_set(void *ctx, uint64_t id)
{
    idset_t *s = ctx;
    for (size_t i = 0; i < s->n; i++)
        if (s->ids[i] == id) return true;
    return false;
}

typedef struct {
    char names[8][16];
    size_t n;
} names_t;

static void on_name(void *ctx, const char *name)
{
    names_t *ns = ctx;
    if (ns->n < 8) snprintf(ns->names[ns->n], sizeof(ns->names[0]), "%s", name);
    ns->n++;
}

static void test_claim(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t a100 = enqueue1(st, "e100", "t", 100, "s");
    uint64_t a300 = enqueue1(st, "e300", "t", 300, "s");
    uint64_t a200 = enqueue1(st, "e200", "t", 200, "s");
    uint64_t sa = enqueue1(st, "esa", "t", 50, "sa"); /* a name with "s" as prefix */
    uint64_t s2 = enqueue1(st, "es2", "t", 60, "s2");
    CHECK(a100 && a200 && a300 && sa && s2);

    store_claim_t c[8];
    int64_t next = 0;
    int n = store_claim_due(st, "s", 250, 8, NULL, NULL, c, &next);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(c[0].id == a100 && c[1].id == a200);
        CHECK_STR(c[0].event_id, "e100");
        CHECK(c[0].attempts == 0 && c[0].first_attempt_ms == 0);
        CHECK(c[0].body_len == strlen(c[0].body) && strstr(c[0].body, "\"e100\"") != NULL);
    }
    CHECK(next == 300);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);

    /* Skipped (in-flight) deliveries are neither returned nor the next due. */
    idset_t skip = {{a100}, 1};
    n = store_claim_due(st, "s", 250, 8, in_set, &skip, c, &next);
    CHECK(n == 1 && c[0].id == a200 && next == 300);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);

    /* max stops the claim; the first one not returned is next. */
    n = store_claim_due(st, "s", 1000, 1, NULL, NULL, c, &next);
    CHECK(n == 1 && c[0].id == a100 && next == 200);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);
    n = store_claim_due(st, "s", 1000, 0, in_set, &skip, c, &next);
    CHECK(n == 0 && next == 200);

    n = store_claim_due(st, "s", 50, 8, NULL, NULL, c, &next);
    CHECK(n == 0 && next == 100);
    idset_t all = {{a100, a200, a300}, 3};
    n = store_claim_due(st, "s", 1000, 8, in_set, &all, c, &next);
    CHECK(n == 0 && next == INT64_MAX);
    n = store_claim_due(st, "nobody", 1000, 8, NULL, NULL, c, &next);
    CHECK(n == 0 && next == INT64_MAX);

    /* Each subscriber sees only its own range. */
    n = store_claim_due(st, "sa", 1000, 8, NULL, NULL, c, &next);
    CHECK(n == 1 && c[0].id == sa && next == INT64_MAX);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);

    /* Claiming writes nothing: the same deliveries are still due. */
    n = store_claim_due(st, "s", 1000, 8, NULL, NULL, c, &next);
    CHECK(n == 3);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);

    names_t ns = {0};
    CHECK(store_pending_subscribers(st, on_name, &ns) == 0);
    CHECK(ns.n == 3);
    if (ns.n == 3) {
        CHECK_STR(ns.names[0], "s");
        CHECK_STR(ns.names[1], "s2");
        CHECK_STR(ns.names[2], "sa");
    }
    /* A rescheduled delivery moves in the order; an acked one leaves the index. */
    CHECK(run_op(st, OP_RESCHEDULE, a100, 400, 500, "HTTP 500") == 0); /* due 1400 */
    CHECK(run_op(st, OP_ACK, s2, 100, 200, "") == 0);
    n = store_claim_due(st, "s", 1000, 8, NULL, NULL, c, &next);
    CHECK(n == 2 && c[0].id == a200 && c[1].id == a300 && next == 1400);
    if (n > 0) CHECK(c[0].attempts == 0);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);
    n = store_claim_due(st, "s", 1400, 8, NULL, NULL, c, &next);
    CHECK(n == 3 && c[2].id == a100 && c[2].attempts == 1 && c[2].first_attempt_ms == 400);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);
    ns.n = 0;
    CHECK(store_pending_subscribers(st, on_name, &ns) == 0);
    CHECK(ns.n == 2);
    if (ns.n == 2) {
        CHECK_STR(ns.names[0], "s");
        CHECK_STR(ns.names[1], "sa");
    }
    store_close(st);
}

/* ---- transitions and counters ---- */

static void test_transitions(void)
{
    const char *dir = new_dir();
    store_t *st = open_at(dir, 16);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t a = enqueue1(st, "ea", "t", 100, "x");
    uint64_t b = enqueue1(st, "eb", "t", 100, "x");
    uint64_t c = enqueue1(st, "ec", "t", 100, "x");
    CHECK(counters_are(st, "x", 3, 0, 0, 0));

    /* a: fails once, then succeeds. */
    CHECK(run_op(st, OP_RESCHEDULE, a, 200, 503, "HTTP 503") == 0);
    CHECK(counters_are(st, "x", 3, 0, 1, 0));
    CHECK(run_op(st, OP_ACK, a, 1200, 200, "") == 0);
    CHECK(counters_are(st, "x", 2, 1, 1, 0));
    store_delivery_t d;
    CHECK(store_get_delivery(st, a, &d) == 0);
    CHECK(d.state == STORE_DELIVERED && d.attempts == 2 && d.nhistory == 2);
    CHECK(d.first_attempt_ms == 200 && d.next_attempt_ms == 0 && d.last_status == 200);
    CHECK(d.history[0].status == 503 && d.history[1].at_ms == 1200);
    CHECK_STR(d.history[0].error, "HTTP 503");
    store_delivery_clear(&d);
    store_counters_t cn;
    CHECK(store_get_counters(st, "x", &cn) == 0);
    CHECK(cn.last_success_ms == 1205); /* the attempt's start plus its duration */
    CHECK_STR(cn.last_error, "HTTP 503");
    store_counters_clear(&cn);

    /* No outcome applies to a delivery that is not PENDING. */
    CHECK(run_op(st, OP_ACK, a, 1300, 200, "") == -ENOENT);
    CHECK(run_op(st, OP_RESCHEDULE, a, 1300, 500, "x") == -ENOENT);
    CHECK(run_op(st, OP_BURY, a, 1300, 500, "x") == -ENOENT);
    CHECK(run_op(st, OP_KICK, a, 1300, 0, "") == -ENOENT);
    CHECK(run_op(st, OP_DELETE, a, 1300, 0, "") == -ENOENT);
    CHECK(run_op(st, OP_ACK, 424242, 1300, 200, "") == -ENOENT);
    CHECK(run_op(st, OP_KICK, 424242, 1300, 0, "") == -ENOENT);
    CHECK(counters_are(st, "x", 2, 1, 1, 0));

    /* b: dead after a failed attempt. */
    CHECK(run_op(st, OP_BURY, b, 2000, 410, "HTTP 410") == 0);
    CHECK(counters_are(st, "x", 1, 1, 2, 1));
    CHECK(store_get_delivery(st, b, &d) == 0);
    CHECK(d.state == STORE_DEAD && d.dead_ms == 2000 && d.attempts == 1 && d.last_status == 410);
    CHECK_STR(d.last_error, "HTTP 410");
    store_delivery_clear(&d);
    CHECK(run_op(st, OP_ACK, b, 2100, 200, "") == -ENOENT);
    CHECK(run_op(st, OP_BURY, b, 2100, 500, "x") == -ENOENT);

    /* c: dead without an attempt (its subscriber was removed). */
    CHECK(run_op(st, OP_BURY_NOATTEMPT, c, 2500, 0, "subscriber removed") == 0);
    CHECK(counters_are(st, "x", 0, 1, 2, 2));
    CHECK(store_get_delivery(st, c, &d) == 0);
    CHECK(d.state == STORE_DEAD && d.attempts == 0 && d.nhistory == 0 && d.first_attempt_ms == 0);
    CHECK_STR(d.last_error, "subscriber removed");
    store_delivery_clear(&d);
    CHECK(store_get_counters(st, "x", &cn) == 0);
    CHECK_STR(cn.last_error, "subscriber removed");
    store_counters_clear(&cn);

    /* Redrive b: PENDING, due now, fresh attempt count, history kept. */
    CHECK(run_op(st, OP_KICK, b, 3000, 0, "") == 0);
    CHECK(counters_are(st, "x", 1, 1, 2, 1));
    CHECK(store_get_delivery(st, b, &d) == 0);
    CHECK(d.state == STORE_PENDING && d.attempts == 0 && d.next_attempt_ms == 3000);
    CHECK(d.dead_ms == 0 && d.nhistory == 1 && d.first_attempt_ms == 2000);
    store_delivery_clear(&d);
    CHECK(run_op(st, OP_KICK, b, 3000, 0, "") == -ENOENT);
    CHECK(run_op(st, OP_DELETE, b, 3000, 0, "") == -ENOENT);
    store_claim_t cl[4];
    int64_t next;
    int n = store_claim_due(st, "x", 3000, 4, NULL, NULL, cl, &next);
    CHECK(n == 1 && cl[0].id == b && next == INT64_MAX);
    for (int i = 0; i < n; i++)
        store_claim_clear(&cl[i]);

    /* Delete c: gone, its event stays. */
    CHECK(run_op(st, OP_DELETE, c, 0, 0, "") == 0);
    CHECK(counters_are(st, "x", 1, 1, 2, 0));
    CHECK(store_get_delivery(st, c, &d) == -ENOENT);
    CHECK(run_op(st, OP_DELETE, c, 0, 0, "") == -ENOENT);
    store_event_t e;
    CHECK(store_get_event(st, "ec", 2, &e) == 0 && e.ndeliveries == 1);
    store_event_clear(&e);

    /* An -ENOENT outcome leaves its transaction usable for the rest of the batch. */
    store_wtxn_t *tx;
    store_attempt_t at = attempt(4000, 200, "");
    CHECK(store_wtxn_begin(st, &tx) == 0);
    CHECK(store_ack(tx, c, &at) == -ENOENT);
    CHECK(store_ack(tx, b, &at) == 0);
    CHECK(store_wtxn_commit(tx) == 0);
    CHECK(state_of(st, b) == STORE_DELIVERED);
    CHECK(counters_are(st, "x", 0, 2, 2, 0));

    /* Counters survive a reopen exactly. */
    store_close(st);
    st = open_at(dir, 16);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(counters_are(st, "x", 0, 2, 2, 0));
    CHECK(store_get_counters(st, "x", &cn) == 0);
    CHECK(cn.last_success_ms == 4005);
    store_counters_clear(&cn);
    store_close(st);
}

static void test_history_cap(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t id = enqueue1(st, "eh", "t", 0, "h");
    int fails = 0;
    for (int i = 1; i <= STORE_MAX_HISTORY + 5; i++)
        if (run_op(st, OP_RESCHEDULE, id, i * 10, 500, "HTTP 500")) fails++;
    CHECK(fails == 0);
    /* A very long error is kept bounded. */
    char *big = malloc(100000);
    memset(big, 'e', 99999);
    big[99999] = '\0';
    CHECK(run_op(st, OP_RESCHEDULE, id, 5000, 0, big) == 0);
    free(big);

    store_delivery_t d;
    CHECK(store_get_delivery(st, id, &d) == 0);
    CHECK(d.attempts == STORE_MAX_HISTORY + 6);
    CHECK(d.nhistory == STORE_MAX_HISTORY);
    if (d.nhistory == STORE_MAX_HISTORY) {
        CHECK(d.history[0].at_ms == 70); /* the six oldest were dropped */
        CHECK(d.history[STORE_MAX_HISTORY - 2].at_ms == (STORE_MAX_HISTORY + 5) * 10);
        CHECK(d.history[STORE_MAX_HISTORY - 1].at_ms == 5000);
        CHECK(strlen(d.history[STORE_MAX_HISTORY - 1].error) == 1024);
    }
    CHECK(d.first_attempt_ms == 10);
    CHECK(strlen(d.last_error) == 1024);
    store_delivery_clear(&d);
    CHECK(counters_are(st, "h", 1, 0, STORE_MAX_HISTORY + 6, 0));
    store_close(st);
}

/* ---- dead letters ---- */

/* Makes a dead letter of a new event for sub, dead at dead_ms. */
static uint64_t make_dead(store_t *st, const char *sub, const char *type, int64_t dead_ms)
{
    static int seq;
    char id[32];
    snprintf(id, sizeof(id), "dl_%d", ++seq);
    uint64_t d = enqueue1(st, id, type, dead_ms - 10, sub);
    if (!d || run_op(st, OP_BURY, d, dead_ms, 500, "HTTP 500")) return 0;
    return d;
}

/* A dead letter buried with an earlier clock than the newest one still goes last. */
static void test_dead_order_is_commit_order(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t first = make_dead(st, "a", "t", 9000);
    uint64_t second = make_dead(st, "a", "t", 4000); /* the clock stepped back */
    store_delivery_t d;
    CHECK(store_get_delivery(st, second, &d) == 0 && d.dead_ms == 9000);
    store_delivery_clear(&d);
    store_dead_filter_t f = {0};
    store_dead_cursor_t cur = {0, 0};
    store_delivery_t page[2];
    bool more;
    CHECK(store_list_dead(st, &f, &cur, 2, page, &more) == 2);
    CHECK(page[0].id == first && page[1].id == second);
    store_delivery_clear(&page[0]);
    store_delivery_clear(&page[1]);
    store_close(st);
}

static void test_list_dead(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    enum { N = 40 };
    uint64_t ids[N];
    size_t made = 0;
    /* 10 dead letters to "a", interleaved with some to "b". */
    for (int i = 0; i < 10; i++) {
        ids[made++] = make_dead(st, "a", i % 2 ? "odd" : "even", 1000 + i * 10);
        if (i % 3 == 0) make_dead(st, "b", "even", 1000 + i * 10);
    }
    /* Page through a's dead letters, three at a time, adding more between pages. */
    store_dead_filter_t f = {.subscriber = "a"};
    store_dead_cursor_t cur = {0, 0};
    store_delivery_t page[3];
    int seen[N] = {0}, pages = 0, stray = 0;
    bool more = true;
    while (more && pages < 50) {
        int n = store_list_dead(st, &f, &cur, 3, page, &more);
        CHECK(n >= 0);
        if (n < 0) break;
        for (int i = 0; i < n; i++) {
            size_t j = 0;
            while (j < made && ids[j] != page[i].id)
                j++;
            if (j < made)
                seen[j]++;
            else
                stray++;
            if (strcmp(page[i].subscriber, "a") != 0) stray++;
            store_delivery_clear(&page[i]);
        }
        pages++;
        if (pages <= 4 && made < N) {
            ids[made++] = make_dead(st, "a", "late", 5000 + pages);
            make_dead(st, "b", "late", 5000 + pages);
        }
    }
    CHECK(!more);
    CHECK(made == 14);
    CHECK(stray == 0);
    int once = 1;
    for (size_t j = 0; j < made; j++)
        if (seen[j] != 1) once = 0;
    CHECK(once);

    /* Oldest first; type and time filters; an exact page end. */
    store_delivery_t all[N];
    cur = (store_dead_cursor_t){0, 0};
    int n = store_list_dead(st, NULL, &cur, N, all, &more);
    CHECK(n == 14 + 4 + 4 && !more);
    int sorted = 1;
    for (int i = 1; i < n; i++)
        if (all[i - 1].dead_ms > all[i].dead_ms ||
            (all[i - 1].dead_ms == all[i].dead_ms && all[i - 1].id > all[i].id))
            sorted = 0;
    CHECK(sorted);
    for (int i = 0; i < n; i++)
        store_delivery_clear(&all[i]);

    f = (store_dead_filter_t){.type = "odd"};
    cur = (store_dead_cursor_t){0, 0};
    n = store_list_dead(st, &f, &cur, N, all, &more);
    CHECK(n == 5);
    for (int i = 0; i < n; i++) {
        CHECK_STR(all[i].event_type, "odd");
        store_delivery_clear(&all[i]);
    }
    /* A page that ends exactly at the until bound says nothing more follows. */
    f = (store_dead_filter_t){.since_ms = 1030, .until_ms = 1060};
    cur = (store_dead_cursor_t){0, 0};
    n = store_list_dead(st, &f, &cur, 6, all, &more);
    CHECK(n == 4 + 2 && !more); /* a at 1030..1060, b at 1030 and 1060 */
    for (int i = 0; i < n; i++) {
        CHECK(all[i].dead_ms >= 1030 && all[i].dead_ms <= 1060);
        store_delivery_clear(&all[i]);
    }
    f = (store_dead_filter_t){.subscriber = "b", .until_ms = 1090};
    cur = (store_dead_cursor_t){0, 0};
    n = store_list_dead(st, &f, &cur, 4, all, &more);
    CHECK(n == 4);
    for (int i = 0; i < n; i++)
        store_delivery_clear(&all[i]);
    n = store_list_dead(st, &f, &cur, 4, all, &more);
    CHECK(n == 0 && !more);
    store_close(st);
}

static void test_bulk(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    for (int i = 0; i < 20; i++)
        make_dead(st, i % 2 ? "a" : "b", "t", 1000 + i);
    CHECK(counters_are(st, "a", 0, 0, 10, 10));

    /* Nothing matches: every call still examines at most max entries. */
    store_dead_filter_t none = {.subscriber = "zzz"};
    store_dead_cursor_t cur = {0, 0};
    size_t done = 99;
    bool more = true;
    int calls = 0, over = 0;
    store_wtxn_t *tx;
    while (more && calls < 100) {
        if (store_wtxn_begin(st, &tx)) break;
        CHECK(store_kick_dead(tx, &none, &cur, 5, 9000, &done, &more) == 0);
        if (done != 0) over++;
        CHECK(store_wtxn_commit(tx) == 0);
        calls++;
        if (calls == 1) CHECK(cur.dead_ms == 1004 && more);
    }
    CHECK(calls == 4 && over == 0 && !more);

    /* Kick a's ten dead letters three at a time. */
    store_dead_filter_t fa = {.subscriber = "a"};
    cur = (store_dead_cursor_t){0, 0};
    size_t total = 0;
    calls = 0;
    more = true;
    while (more && calls < 100) {
        if (store_wtxn_begin(st, &tx)) break;
        CHECK(store_kick_dead(tx, &fa, &cur, 3, 9000, &done, &more) == 0);
        if (done > 3) over++;
        total += done;
        CHECK(store_wtxn_commit(tx) == 0);
        calls++;
    }
    CHECK(total == 10 && over == 0 && calls >= 7);
    CHECK(counters_are(st, "a", 10, 0, 10, 0));
    CHECK(counters_are(st, "b", 0, 0, 10, 10));
    store_claim_t cl[16];
    int64_t next;
    int n = store_claim_due(st, "a", 9000, 16, NULL, NULL, cl, &next);
    CHECK(n == 10);
    for (int i = 0; i < n; i++) {
        CHECK(cl[i].attempts == 0);
        store_claim_clear(&cl[i]);
    }

    /* Delete b's dead letters after 1010, four examined per call. */
    store_dead_filter_t fb = {.since_ms = 1010};
    cur = (store_dead_cursor_t){0, 0};
    total = 0;
    calls = 0;
    more = true;
    while (more && calls < 100) {
        if (store_wtxn_begin(st, &tx)) break;
        CHECK(store_delete_dead_matching(tx, &fb, &cur, 4, &done, &more) == 0);
        total += done;
        CHECK(store_wtxn_commit(tx) == 0);
        calls++;
    }
    CHECK(total == 5 && calls == 2);
    CHECK(counters_are(st, "b", 0, 0, 10, 5));
    store_delivery_t all[20];
    cur = (store_dead_cursor_t){0, 0};
    n = store_list_dead(st, NULL, &cur, 20, all, &more);
    CHECK(n == 5);
    for (int i = 0; i < n; i++) {
        CHECK(all[i].dead_ms < 1010);
        store_delivery_clear(&all[i]);
    }
    store_close(st);
}

/* ---- retention ---- */

static bool exists(store_t *st, const char *id)
{
    store_event_t e;
    if (store_get_event(st, id, strlen(id), &e)) return false;
    store_event_clear(&e);
    return true;
}

static void test_prune(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    const char *two[] = {"p", "q"};
    bool dup;
    uint32_t nd;
    store_event_t e;
    /* old_done: both delivered. old_pending: one still pending. old_deleted: one delivered,
     * one dead letter deleted. old_dead: a dead letter. old_empty: no deliveries.
     * new_done: delivered but received at the cutoff. */
    CHECK(enqueue(st, "old_done", "t", 100, two, 2, &dup, &nd) == 0);
    CHECK(enqueue(st, "old_pending", "t", 100, two, 2, &dup, &nd) == 0);
    CHECK(enqueue(st, "old_deleted", "t", 150, two, 2, &dup, &nd) == 0);
    uint64_t dead = enqueue1(st, "old_dead", "t", 160, "p");
    CHECK(enqueue(st, "old_empty", "t", 170, NULL, 0, &dup, &nd) == 0);
    uint64_t newd = enqueue1(st, "new_done", "t", 1000, "p");
    uint64_t done_ids[2], pend_ids[2], del_ids[2];
    CHECK(store_get_event(st, "old_done", 8, &e) == 0);
    memcpy(done_ids, e.delivery_ids, sizeof(done_ids));
    store_event_clear(&e);
    CHECK(store_get_event(st, "old_pending", 11, &e) == 0);
    memcpy(pend_ids, e.delivery_ids, sizeof(pend_ids));
    store_event_clear(&e);
    CHECK(store_get_event(st, "old_deleted", 11, &e) == 0);
    memcpy(del_ids, e.delivery_ids, sizeof(del_ids));
    store_event_clear(&e);
    CHECK(run_op(st, OP_ACK, done_ids[0], 200, 200, "") == 0);
    CHECK(run_op(st, OP_ACK, done_ids[1], 200, 200, "") == 0);
    CHECK(run_op(st, OP_ACK, pend_ids[0], 200, 200, "") == 0);
    CHECK(run_op(st, OP_ACK, del_ids[0], 200, 200, "") == 0);
    CHECK(run_op(st, OP_BURY, del_ids[1], 200, 500, "x") == 0);
    CHECK(run_op(st, OP_DELETE, del_ids[1], 0, 0, "") == 0);
    CHECK(run_op(st, OP_BURY, dead, 200, 500, "x") == 0);
    CHECK(run_op(st, OP_ACK, newd, 1100, 200, "") == 0);

    /* Two events examined per call: the five old ones take three calls, the third
     * stopping at new_done, received at the cutoff. */
    uint64_t cursor = 0;
    size_t pruned, total = 0;
    store_prune_corrupt_t corrupt;
    bool more = true;
    int calls = 0;
    while (more && calls < 20) {
        store_wtxn_t *tx;
        if (store_wtxn_begin(st, &tx)) break;
        CHECK(store_prune(tx, 1000, 2, &cursor, &pruned, &more, &corrupt) == 0);
        CHECK(pruned <= 2);
        total += pruned;
        CHECK(store_wtxn_commit(tx) == 0);
        calls++;
    }
    CHECK(total == 3 && calls == 3 && !more);
    CHECK(!exists(st, "old_done"));
    CHECK(!exists(st, "old_deleted"));
    CHECK(!exists(st, "old_empty"));
    CHECK(exists(st, "old_pending"));
    CHECK(exists(st, "old_dead"));
    CHECK(exists(st, "new_done"));
    store_delivery_t d;
    CHECK(store_get_delivery(st, done_ids[0], &d) == -ENOENT);
    CHECK(store_get_delivery(st, del_ids[0], &d) == -ENOENT);
    CHECK(store_get_delivery(st, pend_ids[0], &d) == 0); /* the kept event keeps all */
    store_delivery_clear(&d);
    CHECK(counters_are(st, "p", 0, 4, 1, 1)); /* delivered stays a running total */

    /* The idempotency entry went with the event: the id is new again. */
    CHECK(enqueue(st, "old_done", "t", 2000, two, 2, &dup, &nd) == 0 && !dup && nd == 2);
    CHECK(enqueue(st, "old_pending", "t", 2000, two, 2, &dup, &nd) == 0 && dup);

    /* A second pass from the start keeps what must be kept and ends. */
    cursor = 0;
    more = true;
    total = 0;
    calls = 0;
    while (more && calls < 20) {
        store_wtxn_t *tx;
        if (store_wtxn_begin(st, &tx)) break;
        CHECK(store_prune(tx, 5000, 1, &cursor, &pruned, &more, &corrupt) == 0);
        total += pruned;
        CHECK(store_wtxn_commit(tx) == 0);
        calls++;
    }
    CHECK(total == 1 && !more); /* new_done */
    CHECK(exists(st, "old_pending") && exists(st, "old_dead") && exists(st, "old_done"));
    store_close(st);
}

/* Many kept events received in the same millisecond do not stall the scan. */
static void test_prune_progress(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    int fails = 0;
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "same_%d", i);
        if (!enqueue1(st, id, "t", 100, "p")) fails++;
    }
    CHECK(fails == 0);
    uint64_t cursor = 0;
    size_t pruned;
    store_prune_corrupt_t corrupt;
    bool more = true;
    int calls = 0;
    while (more && calls < 20) {
        store_wtxn_t *tx;
        if (store_wtxn_begin(st, &tx)) break;
        CHECK(store_prune(tx, 1000, 3, &cursor, &pruned, &more, &corrupt) == 0);
        CHECK(pruned == 0);
        CHECK(store_wtxn_commit(tx) == 0);
        calls++;
    }
    CHECK(calls == 4 && !more);
    store_close(st);
}

/* ---- a full map ---- */

/* The process's file-backed resident memory (RssFile in /proc/self/status), in KiB. */
static long rss_file_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "RssFile: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

/* Reading a store maps its pages into the process. A trim leaves them mapped while they
 * fit in its budget; past it, it drops them, which lowers RSS by about the data read, and
 * every record still reads back whole. */
static void test_trim_mapped_pages(void)
{
    store_t *st = open_at(new_dir(), 64);
    CHECK(st != NULL);
    if (!st) return;
    enum { BODY = 60000, N = 320, PER_TX = 32 };
    char *body = malloc(BODY);
    memset(body, 'y', BODY);
    const char *sub[] = {"m"};
    int rc = 0;
    for (int i = 0; i < N && rc == 0; i += PER_TX) {
        store_wtxn_t *tx;
        if ((rc = store_wtxn_begin(st, &tx))) break;
        for (int j = i; j < i + PER_TX && rc == 0; j++) {
            char id[16];
            bool dup;
            uint32_t nd;
            snprintf(id, sizeof(id), "map_%d", j);
            store_event_in_t ev = {id, strlen(id), "t", 1, body, BODY, 1000 + j, sub, 1};
            rc = store_enqueue(tx, &ev, &dup, &nd);
        }
        if (rc) {
            store_wtxn_abort(tx);
            break;
        }
        rc = store_wtxn_commit(tx);
    }
    free(body);
    CHECK(rc == 0);
    long read_kib[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) {
        int intact = 0;
        for (int i = 0; i < N; i++) {
            char id[16];
            store_event_t e;
            snprintf(id, sizeof(id), "map_%d", i);
            if (store_get_event(st, id, strlen(id), &e) == 0) {
                intact += e.body_len == BODY && e.body[0] == 'y' && e.body[BODY - 1] == 'y';
                store_event_clear(&e);
            }
        }
        CHECK(intact == N);
        long before = rss_file_kib();
        /* About 18 MiB were read: within a 256 MiB budget nothing is dropped. */
        int kept = store_trim_mapped_pages(st, (size_t)256 << 20);
        long unchanged = rss_file_kib();
        CHECK(kept == 0);
        CHECK(unchanged > before - 2 * 1024);
        int drc = store_trim_mapped_pages(st, (size_t)4 << 20);
        if (drc < 0) printf("# trim: %s\n", strerror(-drc));
        CHECK(drc == 1);
        long after = rss_file_kib();
        read_kib[pass] = unchanged - after;
        printf("# pass %d: RssFile %ld KiB -> %ld KiB after dropping the mapped pages\n", pass,
               unchanged, after);
        /* Nothing was read since: the budget counts from what the drop left (the binary's
         * and the libraries' pages, more than 1 MiB), not from zero. */
        CHECK(after > 1024);
        CHECK(store_trim_mapped_pages(st, (size_t)1 << 20) == 0);
    }
    /* About 18 MiB of bodies were read through the map in each pass. */
    CHECK(read_kib[0] > 12 * 1024);
    CHECK(read_kib[1] > 12 * 1024);
    store_close(st);
}

static void test_map_full(void)
{
    const char *dir = new_dir();
    store_t *st = open_at(dir, 1);
    CHECK(st != NULL);
    if (!st) return;
    enum { BODY = 60000 };
    char *body = malloc(BODY);
    memset(body, 'x', BODY);
    const char *sub[] = {"m"};
    int committed = 0, rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++) {
        char id[16];
        bool dup;
        uint32_t nd;
        snprintf(id, sizeof(id), "big_%d", i);
        store_event_in_t ev = {id, strlen(id), "t", 1, body, BODY, 1000 + i, sub, 1};
        store_wtxn_t *tx;
        if ((rc = store_wtxn_begin(st, &tx))) break;
        rc = store_enqueue(tx, &ev, &dup, &nd);
        if (rc) {
            /* The transaction is unusable now: every later call reports the same. */
            CHECK(store_enqueue(tx, &ev, &dup, &nd) == rc);
            store_wtxn_abort(tx);
            break;
        }
        rc = store_wtxn_commit(tx);
        if (rc == 0) committed++;
    }
    free(body);
    CHECK(rc == -ENOSPC);
    CHECK(committed > 3 && committed < 20);
    printf("# map full after %d events\n", committed);

    /* Everything committed before is intact and the store still works. */
    int intact = 0;
    for (int i = 0; i < committed; i++) {
        char id[16];
        store_event_t e;
        snprintf(id, sizeof(id), "big_%d", i);
        if (store_get_event(st, id, strlen(id), &e) == 0) {
            if (e.body_len == BODY && e.body[0] == 'x' && e.body[BODY - 1] == 'x') intact++;
            store_event_clear(&e);
        }
    }
    CHECK(intact == committed);
    CHECK(counters_are(st, "m", (uint64_t)committed, 0, 0, 0));
    store_claim_t cl[1];
    int64_t next;
    int n = store_claim_due(st, "m", 5000, 1, NULL, NULL, cl, &next);
    CHECK(n == 1 && next == 1001);
    if (n == 1) store_claim_clear(&cl[0]);

    /* After a reopen too. */
    store_close(st);
    st = open_at(dir, 1);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(counters_are(st, "m", (uint64_t)committed, 0, 0, 0));
    bool dup;
    uint32_t nd;
    CHECK(enqueue(st, "big_0", "t", 1, sub, 1, &dup, &nd) == 0 && dup);
    store_close(st);
}

/* ---- format version ---- */

/* Rewrites the format version of the store in dir with LMDB directly. */
static int forge_version(const char *dir, uint32_t version)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint8_t b[4] = {(uint8_t)version, (uint8_t)(version >> 8), (uint8_t)(version >> 16),
                    (uint8_t)(version >> 24)};
    MDB_val k = {6, "format"}, v = {4, b};
    int rc = mdb_env_create(&env);
    if (rc) return rc;
    mdb_env_set_maxdbs(env, 8);
    if ((rc = mdb_env_open(env, dir, 0, 0600)) == 0 &&
        (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
        if ((rc = mdb_dbi_open(txn, "meta", 0, &dbi)) == 0) rc = mdb_put(txn, dbi, &k, &v, 0);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return rc;
}

/* Rewrites the events of the store in dir (at most 16, ids < 64 bytes) as formats 1 to 3
 * kept them: the record (version 2, with its sequence number) in events under the id, and
 * received mapping the sequence number to the received time and the id. Read first, then
 * written: a put that changes a record's size moves it under an open cursor. */
static int events_to_v3(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi events, received;
    MDB_cursor *c;
    MDB_val k, v;
    uint8_t keys[16][8], recs[16][512], rcvd[16][72];
    size_t rlen[16], clen[16], n = 0;
    int rc = mdb_env_create(&env);
    if (rc) return rc;
    mdb_env_set_maxdbs(env, 12);
    if ((rc = mdb_env_open(env, dir, 0, 0600)) || (rc = mdb_txn_begin(env, NULL, 0, &txn))) {
        mdb_env_close(env);
        return rc;
    }
    if ((rc = mdb_dbi_open(txn, "events", 0, &events)) == 0 &&
        (rc = mdb_dbi_open(txn, "received", 0, &received)) == 0 &&
        (rc = mdb_cursor_open(txn, received, &c)) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            /* Version 3: u8 3, i64 received_ms, str id, then what version 2 has after seq. */
            const uint8_t *r = v.mv_data;
            uint32_t il = v.mv_size > 13 ? r[9] | r[10] << 8 | (uint32_t)r[11] << 16 : 0;
            if (n == 16 || k.mv_size != 8 || r[0] != 3 || il == 0 || il >= 64 ||
                v.mv_size > 500 || v.mv_size < 13 + il) {
                rc = MDB_CORRUPTED;
                break;
            }
            memcpy(keys[n], k.mv_data, 8);
            recs[n][0] = 2;
            memcpy(recs[n] + 1, r + 1, 8);
            for (int i = 0; i < 8; i++) /* seq, LE */
                recs[n][9 + i] = keys[n][7 - i];
            memcpy(recs[n] + 17, r + 13 + il, v.mv_size - 13 - il);
            rlen[n] = 17 + v.mv_size - 13 - il;
            memcpy(rcvd[n], r + 1, 8);
            memcpy(rcvd[n] + 8, r + 13, il);
            clen[n++] = 8 + il;
        }
        mdb_cursor_close(c);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        MDB_val sk = {8, keys[i]}, id = {clen[i] - 8, rcvd[i] + 8};
        MDB_val rec = {rlen[i], recs[i]}, rv = {clen[i], rcvd[i]};
        rc = mdb_put(txn, events, &id, &rec, 0);
        if (rc == 0) rc = mdb_put(txn, received, &sk, &rv, 0);
    }
    rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    mdb_env_close(env);
    return rc;
}

/* An LMDB environment that is not a hookgate store. */
static int foreign_env(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {3, "key"}, v = {5, "value"};
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
    if (system(cmd)) return -1;
    int rc = mdb_env_create(&env);
    if (rc) return rc;
    if ((rc = mdb_env_open(env, dir, 0, 0600)) == 0 &&
        (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
        if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) == 0) rc = mdb_put(txn, dbi, &k, &v, 0);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return rc;
}

static void test_format_version(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(enqueue1(st, "kept", "t", 1, "v") != 0);
    store_close(st);

    CHECK(forge_version(path, STORE_FORMAT_VERSION + 1) == 0);
    char err[256] = "";
    st = NULL;
    int rc = store_open(path, 16, &st, err, sizeof(err));
    CHECK(rc < 0 && st == NULL);
    char want[64];
    snprintf(want, sizeof(want), "format version %d", STORE_FORMAT_VERSION + 1);
    CHECK(strstr(err, want) != NULL);
    printf("# %s\n", err);

    /* Back to ours: the data is untouched. */
    CHECK(forge_version(path, STORE_FORMAT_VERSION) == 0);
    st = open_at(path, 16);
    CHECK(st != NULL && exists(st, "kept"));
    store_close(st);

    const char *other = new_dir();
    CHECK(foreign_env(other) == 0);
    err[0] = '\0';
    rc = store_open(other, 16, &st, err, sizeof(err));
    CHECK(rc < 0 && strstr(err, "not a hookgate store") != NULL);

    err[0] = '\0';
    rc = store_open("/proc/hookgate-no-such-dir", 16, &st, err, sizeof(err));
    CHECK(rc < 0 && err[0] != '\0');
}

/* ---- the data_dir lock ---- */

static void test_lock(void)
{
    const char *dir = new_dir();
    char path[128], want[256], err[256] = "";
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16), *st2 = NULL;
    CHECK(st != NULL);
    if (!st) return;
    /* flock locks belong to the open file, so a second open in this process is refused
     * just like one from another process. */
    int rc = store_open(path, 16, &st2, err, sizeof(err));
    CHECK(rc == -EBUSY && st2 == NULL);
    snprintf(want, sizeof(want), "data_dir %s is in use (pid %ld)", path, (long)getpid());
    CHECK_STR(err, want);
    CHECK(enqueue1(st, "still_ours", "t", 1, "a") != 0);
    store_close(st);
    st = open_at(path, 16);
    CHECK(st != NULL && exists(st, "still_ours"));
    store_close(st);
}

/* ---- dead-letter listing stops after STORE_DEAD_SCAN_MAX entries ---- */

/* count dead letters to sub of type, dead at from_ms, from_ms + 1, ... in two
 * transactions. Returns the first delivery id (the others follow it) or 0. */
static uint64_t make_dead_many(store_t *st, const char *sub, const char *type, int64_t from_ms,
                               int count)
{
    static int seq;
    store_wtxn_t *tx;
    char first_event[32];
    bool dup;
    uint32_t nd;
    if (store_wtxn_begin(st, &tx)) return 0;
    snprintf(first_event, sizeof(first_event), "many_%d", seq + 1);
    for (int i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof(id), "many_%d", ++seq);
        store_event_in_t ev = {id, strlen(id), type, strlen(type), "{}", 2, from_ms, &sub, 1};
        if (store_enqueue(tx, &ev, &dup, &nd) || dup) {
            store_wtxn_abort(tx);
            return 0;
        }
    }
    if (store_wtxn_commit(tx)) return 0;
    /* One transaction hands out consecutive delivery ids. */
    store_event_t e;
    if (store_get_event(st, first_event, strlen(first_event), &e)) return 0;
    uint64_t first = e.delivery_ids[0];
    store_event_clear(&e);
    if (store_wtxn_begin(st, &tx)) return 0;
    for (int i = 0; i < count; i++) {
        if (store_bury(tx, first + (uint64_t)i, from_ms + i, NULL, "x")) {
            store_wtxn_abort(tx);
            return 0;
        }
    }
    return store_wtxn_commit(tx) ? 0 : first;
}

/* Pages through f with limit 10; every id in want must come exactly once. */
static void page_all(store_t *st, const store_dead_filter_t *f, const uint64_t *want, int nwant)
{
    store_dead_cursor_t cur = {0, 0};
    store_delivery_t page[10];
    int seen[8] = {0}, stray = 0, calls = 0, short_more = 0;
    bool more = true;
    while (more && calls < 20) {
        int n = store_list_dead(st, f, &cur, 10, page, &more);
        calls++;
        CHECK(n >= 0);
        if (n < 0) return;
        if (n < 10 && more) short_more++;
        for (int i = 0; i < n; i++) {
            int j = 0;
            while (j < nwant && want[j] != page[i].id)
                j++;
            if (j < nwant)
                seen[j]++;
            else
                stray++;
            store_delivery_clear(&page[i]);
        }
    }
    CHECK(!more);
    CHECK(short_more > 0); /* the cap did cut pages short */
    CHECK(stray == 0);
    for (int j = 0; j < nwant; j++)
        CHECK(seen[j] == 1);
}

static void test_list_dead_bounded(void)
{
    store_t *st = open_at(new_dir(), 64);
    CHECK(st != NULL);
    if (!st) return;
    const int cap = STORE_DEAD_SCAN_MAX;
    uint64_t want[3];
    CHECK(make_dead_many(st, "noise", "n", 10000, cap + 500) != 0);
    CHECK((want[0] = make_dead_many(st, "x", "wanted", 20000, 1)) != 0);
    CHECK(make_dead_many(st, "noise", "n", 30000, 2 * cap + 10) != 0);
    CHECK((want[1] = make_dead_many(st, "x", "wanted", 40000, 1)) != 0);
    CHECK((want[2] = make_dead_many(st, "x", "wanted", 40001, 1)) != 0);
    CHECK(make_dead_many(st, "noise", "n", 50000, 5) != 0);

    /* The first call stops after cap entries: nothing found yet, but more may follow. */
    store_dead_filter_t f = {.subscriber = "x"};
    store_dead_cursor_t cur = {0, 0};
    store_delivery_t page[10];
    bool more = false;
    int n = store_list_dead(st, &f, &cur, 10, page, &more);
    CHECK(n == 0 && more);
    CHECK(cur.dead_ms == 10000 + cap - 1);
    n = store_list_dead(st, &f, &cur, 10, page, &more);
    CHECK(n == 1 && more && page[0].id == want[0]);
    for (int i = 0; i < n; i++)
        store_delivery_clear(&page[i]);

    page_all(st, &f, want, 3);
    f = (store_dead_filter_t){.type = "wanted"};
    page_all(st, &f, want, 3);
    /* Unfiltered pages are always full. */
    cur = (store_dead_cursor_t){0, 0};
    n = store_list_dead(st, NULL, &cur, 10, page, &more);
    CHECK(n == 10 && more);
    for (int i = 0; i < n; i++)
        store_delivery_clear(&page[i]);
    store_close(st);
}

/* ---- corrupt records ---- */

/* Overwrites (val != NULL) or deletes key in table db of the closed store in dir. */
static int raw_set(const char *dir, const char *db, const void *key, size_t klen, const void *val,
                   size_t vlen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_env_create(&env);
    if (rc) return rc;
    mdb_env_set_maxdbs(env, 8);
    if ((rc = mdb_env_open(env, dir, 0, 0600)) == 0 &&
        (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
        if ((rc = mdb_dbi_open(txn, db, 0, &dbi)) == 0)
            rc = val ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, NULL);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return rc;
}

static void be64(uint8_t k[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        k[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Buries delivery id of subscriber "c", due at due (its claim's due_ms), as corrupt. */
static int bury_corrupt(store_t *st, int64_t due, uint64_t id, int64_t now)
{
    store_wtxn_t *tx;
    int rc = store_wtxn_begin(st, &tx);
    if (rc) return rc;
    rc = store_bury_corrupt(tx, "c", due, id, now);
    int crc = store_wtxn_commit(tx);
    return rc ? rc : crc;
}

static void test_corrupt(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t bad_rec = enqueue1(st, "c_rec", "t", 100, "c");
    uint64_t bad_ev = enqueue1(st, "c_ev", "t", 200, "c");
    uint64_t no_ev = enqueue1(st, "c_noev", "t", 300, "c");
    uint64_t good = enqueue1(st, "c_good", "t", 400, "c");
    uint64_t other = enqueue1(st, "c_other", "t", 100, "d");
    uint64_t done = enqueue1(st, "c_done", "t", 50, "c");
    CHECK(bad_rec && bad_ev && no_ev && good && other && done);
    CHECK(run_op(st, OP_ACK, done, 60, 200, "") == 0);
    store_close(st);

    uint8_t k[8];
    static const char garbage[] = "\x01\xff garbage";
    be64(k, bad_rec);
    CHECK(raw_set(path, "deliveries", k, 8, garbage, sizeof(garbage)) == 0);
    CHECK(raw_set(path, "events", "c_ev", 4, garbage, 3) == 0);
    CHECK(raw_set(path, "events", "c_noev", 6, NULL, 0) == 0);
    /* A DELIVERED record the due index still names (a stale entry) is passed over. */
    uint8_t due[1 + 1 + 8 + 8] = {'c', 0};
    be64(due + 2, (uint64_t)50 ^ (1ull << 63));
    be64(due + 10, done);
    CHECK(raw_set(path, "due", due, sizeof(due), "", 0) == 0);

    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    store_claim_t c[8];
    int64_t next;
    int n = store_claim_due(st, "c", 1000, 8, NULL, NULL, c, &next);
    CHECK(n == 4);
    if (n == 4) {
        CHECK(c[0].id == bad_rec && c[0].corrupt && !c[0].event_id && !c[0].body);
        CHECK(c[1].id == bad_ev && c[1].corrupt && !c[1].event_id && !c[1].body);
        CHECK(c[2].id == no_ev && c[2].corrupt && !c[2].body);
        CHECK(c[3].id == good && !c[3].corrupt);
        CHECK_STR(c[3].event_id, "c_good");
        CHECK(c[0].due_ms == 100 && c[1].due_ms == 200 && c[2].due_ms == 300);
    }
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);
    CHECK(counters_are(st, "c", 4, 1, 0, 0));

    /* Buried, they stop being due; counters stay exact. */
    CHECK(bury_corrupt(st, 100, bad_rec, 2000) == 0);
    CHECK(bury_corrupt(st, 200, bad_ev, 2001) == 0);
    CHECK(bury_corrupt(st, 300, no_ev, 2002) == 0);
    CHECK(bury_corrupt(st, 100, bad_rec, 2003) == -ENOENT);
    CHECK(bury_corrupt(st, 100, 999999, 2003) == -ENOENT);
    CHECK(counters_are(st, "c", 1, 1, 0, 3));
    CHECK(counters_are(st, "d", 1, 0, 0, 0));
    n = store_claim_due(st, "c", 1000, 8, NULL, NULL, c, &next);
    CHECK(n == 1 && c[0].id == good && !c[0].corrupt);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);

    /* Listed as dead letters, filterable by subscriber. */
    store_dead_filter_t f = {.subscriber = "c"};
    store_dead_cursor_t cur = {0, 0};
    store_delivery_t dl[8];
    bool more;
    n = store_list_dead(st, &f, &cur, 8, dl, &more);
    CHECK(n == 3 && !more);
    if (n == 3) {
        CHECK(dl[0].id == bad_rec && dl[0].state == STORE_DEAD && dl[0].dead_ms == 2000);
        CHECK_STR(dl[0].subscriber, "c");
        CHECK_STR(dl[0].event_id, "");
        CHECK_STR(dl[0].last_error, "corrupt record");
        CHECK_STR(dl[1].event_id, "c_ev");
        CHECK_STR(dl[1].last_error, "corrupt record");
        CHECK_STR(dl[2].event_id, "c_noev");
    }
    for (int i = 0; i < n; i++)
        store_delivery_clear(&dl[i]);

    /* ... and deletable. */
    CHECK(run_op(st, OP_DELETE, bad_rec, 0, 0, "") == 0);
    CHECK(run_op(st, OP_DELETE, bad_ev, 0, 0, "") == 0);
    CHECK(counters_are(st, "c", 1, 1, 0, 1));
    CHECK(state_of(st, bad_rec) == 0);
    store_close(st);
}

/* Many outcomes for two subscribers in one transaction (as in one writer batch): each
 * subscriber's counters are written once, at commit, and come out exact; readers see the
 * old counters until then. */
static void test_counters_batch(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    const char *two[] = {"a", "b"};
    uint64_t ids[20][2];
    int fails = 0;
    for (int i = 0; i < 20; i++) {
        char id[16];
        bool dup;
        uint32_t nd;
        store_event_t e;
        snprintf(id, sizeof(id), "cb_%d", i);
        if (enqueue(st, id, "t", 100 + i, two, 2, &dup, &nd) ||
            store_get_event(st, id, strlen(id), &e)) {
            fails++;
            continue;
        }
        ids[i][0] = e.delivery_ids[0];
        ids[i][1] = e.delivery_ids[1];
        store_event_clear(&e);
    }
    CHECK(fails == 0);
    CHECK(counters_are(st, "a", 20, 0, 0, 0) && counters_are(st, "b", 20, 0, 0, 0));
    store_wtxn_t *tx;
    CHECK(store_wtxn_begin(st, &tx) == 0);
    store_attempt_t ok = attempt(5000, 200, ""), bad = attempt(5000, 500, "HTTP 500");
    for (int i = 0; i < 20 && fails == 0; i++) {
        if (i < 12 && store_ack(tx, ids[i][0], &ok)) fails++;
        if (i >= 12 && i < 16 && store_reschedule(tx, ids[i][0], 9000, &bad)) fails++;
        if (i >= 16 && store_bury(tx, ids[i][0], 6000, &bad, NULL)) fails++;
        if (i < 5 && store_ack(tx, ids[i][1], &ok)) fails++;
    }
    /* The same delivery again within the transaction: it is no longer PENDING. */
    CHECK(store_ack(tx, ids[0][0], &ok) == -ENOENT);
    CHECK(fails == 0);
    CHECK(counters_are(st, "a", 20, 0, 0, 0)); /* not committed yet */
    CHECK(store_wtxn_commit(tx) == 0);
    CHECK(counters_are(st, "a", 4, 12, 8, 4));
    CHECK(counters_are(st, "b", 15, 5, 0, 0));
    store_counters_t c;
    CHECK(store_get_counters(st, "a", &c) == 0);
    CHECK(c.last_success_ms == 5005);
    CHECK_STR(c.last_error, "HTTP 500");
    store_counters_clear(&c);
    store_delivery_t d;
    CHECK(store_get_delivery(st, ids[3][0], &d) == 0);
    CHECK(d.state == STORE_DELIVERED && d.attempts == 1 && d.last_status == 200 &&
          d.nhistory == 1 && d.first_attempt_ms == 5000 && d.next_attempt_ms == 0);
    CHECK_STR(d.subscriber, "a");
    CHECK_STR(d.event_id, "cb_3");
    store_delivery_clear(&d);
    CHECK(store_get_delivery(st, ids[13][0], &d) == 0);
    CHECK(d.state == STORE_PENDING && d.attempts == 1 && d.next_attempt_ms == 9000);
    CHECK_STR(d.last_error, "HTTP 500");
    store_delivery_clear(&d);
    /* An aborted transaction leaves the counters alone. */
    CHECK(store_wtxn_begin(st, &tx) == 0);
    CHECK(store_ack(tx, ids[19][1], &ok) == 0);
    store_wtxn_abort(tx);
    CHECK(counters_are(st, "b", 15, 5, 0, 0));
    store_close(st);
}

/* An operation that fails by itself (a record it needs cannot be decoded) writes nothing
 * and leaves the transaction good: the other operations in it commit. */
static void test_op_error_keeps_tx(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t bad = enqueue1(st, "oe_bad", "t", 100, "c");
    uint64_t good = enqueue1(st, "oe_good", "t", 100, "c");
    uint64_t other = enqueue1(st, "oe_other", "t", 100, "z");
    CHECK(bad && good && other);
    store_close(st);
    uint8_t k[8];
    static const char garbage[] = "\x01\xff garbage";
    be64(k, bad);
    CHECK(raw_set(path, "deliveries", k, 8, garbage, sizeof(garbage)) == 0);
    CHECK(raw_set(path, "counters", "z", 1, garbage, sizeof(garbage)) == 0);
    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;

    store_wtxn_t *tx;
    store_attempt_t ok = attempt(5000, 200, "");
    const char *z[] = {"z"};
    bool dup;
    uint32_t nd;
    store_event_in_t ev = {.id = "oe_new",
                           .id_len = 6,
                           .type = "t",
                           .type_len = 1,
                           .body = "{}",
                           .body_len = 2,
                           .received_ms = 200,
                           .subscribers = z,
                           .nsubscribers = 1};
    CHECK(store_wtxn_begin(st, &tx) == 0);
    CHECK(store_ack(tx, bad, &ok) == -EIO);
    CHECK(store_wtxn_error(tx) == 0);
    CHECK(store_ack(tx, other, &ok) == -EIO); /* its counters record is damaged */
    CHECK(store_enqueue(tx, &ev, &dup, &nd) == -EIO);
    CHECK(store_bury(tx, bad, 6000, &ok, NULL) == -EIO);
    CHECK(store_wtxn_error(tx) == 0);
    CHECK(store_ack(tx, good, &ok) == 0);
    CHECK(store_wtxn_commit(tx) == 0);
    CHECK(state_of(st, good) == STORE_DELIVERED);
    CHECK(state_of(st, other) == STORE_PENDING);
    CHECK(counters_are(st, "c", 1, 1, 0, 0));
    CHECK(!exists(st, "oe_new"));
    /* Nothing of the failed ones was written: still due, found by a claim. */
    store_claim_t c[4];
    int64_t next;
    int n = store_claim_due(st, "z", 1000, 4, NULL, NULL, c, &next);
    CHECK(n == 1 && c[0].id == other && !c[0].corrupt);
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);
    /* The ids the failed enqueue would have used are handed out to the next event. */
    uint64_t next_id = enqueue1(st, "oe_after", "t", 300, "c");
    CHECK(next_id == other + 1);
    store_close(st);
}

/* A delivery record (or an event record) that cannot be decoded does not stop retention:
 * that event is kept and reported, and the events around it are pruned, pass after pass. */
static void test_prune_corrupt(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    const char *names[] = {"pc_0", "pc_bad_delivery", "pc_2", "pc_bad_event", "pc_4"};
    uint64_t ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = enqueue1(st, names[i], "t", 100 + i, "p");
        CHECK(ids[i] != 0 && run_op(st, OP_ACK, ids[i], 200, 200, "") == 0);
    }
    store_close(st);
    uint8_t k[8];
    static const char garbage[] = "\x01\xff garbage";
    be64(k, ids[1]);
    CHECK(raw_set(path, "deliveries", k, 8, garbage, sizeof(garbage)) == 0);
    be64(k, 4); /* pc_bad_event's sequence number: its record's key */
    CHECK(raw_set(path, "received", k, 8, garbage, sizeof(garbage)) == 0);
    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t cursor = 0;
        size_t pruned, total = 0, corrupt_total = 0;
        store_prune_corrupt_t corrupt;
        bool more = true;
        int calls = 0;
        while (more && calls < 20) {
            store_wtxn_t *tx;
            if (store_wtxn_begin(st, &tx)) break;
            CHECK(store_prune(tx, 1000, 2, &cursor, &pruned, &more, &corrupt) == 0);
            CHECK(store_wtxn_error(tx) == 0);
            CHECK(store_wtxn_commit(tx) == 0);
            total += pruned;
            corrupt_total += corrupt.n;
            if (corrupt.n && corrupt.delivery_id)
                CHECK(corrupt.delivery_id == ids[1] && corrupt.seq != 0);
            calls++;
        }
        CHECK(!more);
        CHECK(total == (pass == 0 ? 3 : 0));
        CHECK(corrupt_total == 2);
    }
    CHECK(!exists(st, "pc_0") && !exists(st, "pc_2") && !exists(st, "pc_4"));
    CHECK(exists(st, "pc_bad_delivery"));
    store_close(st);
}

/* ---- heartbeat ---- */

static void test_touch(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    for (int i = 0; i < 2; i++) {
        store_wtxn_t *tx;
        CHECK(store_wtxn_begin(st, &tx) == 0);
        CHECK(store_touch(tx) == 0);
        CHECK(store_wtxn_commit(tx) == 0);
    }
    uint64_t file, used;
    CHECK(store_usage(st, &file, &used) == 0 && used > 0);
    store_close(st);
}

/* ---- I/O seen by LMDB: meta-page writes and flushes ---- */

/* liblmdb calls libc's pwrite and fdatasync, and a definition in the executable takes
 * precedence (the asm name sidesteps the header's renaming of pwrite to pwrite64). On
 * data.mdb they are journalled while `journal_on`: "M" a meta-page write (the first two
 * pages) on a plain descriptor, "D" one on an O_DSYNC descriptor (a flush of its own),
 * "F" a flush, "f" a flush failed on purpose. Armed faults: fail_meta_write makes the
 * next meta-page write fail, fail_flush the next fdatasync. */
static volatile int fail_meta_write, fail_flush, journal_on;
static char journal[256];

static bool is_data_mdb(int fd)
{
    char link[64], target[256];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t tl = readlink(link, target, sizeof(target) - 1);
    return tl > 9 && memcmp(target + tl - 9, "/data.mdb", 9) == 0;
}

static void journal_add(char c)
{
    size_t n = strlen(journal);
    if (journal_on && n + 1 < sizeof(journal)) journal[n] = c;
}

/* Returns the journal since the last call, and empties it. */
static const char *journal_take(void)
{
    static char copy[sizeof(journal)];
    memcpy(copy, journal, sizeof(copy));
    memset(journal, 0, sizeof(journal));
    return copy;
}

ssize_t meta_fault_pwrite(int fd, const void *buf, size_t n, off_t off) __asm__("pwrite");
ssize_t meta_fault_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (off < 2 * (off_t)sysconf(_SC_PAGESIZE) && is_data_mdb(fd)) {
        if (fail_meta_write) {
            fail_meta_write = 0;
            errno = EIO;
            return -1;
        }
        int fl = fcntl(fd, F_GETFL);
        journal_add(fl >= 0 && (fl & O_DSYNC) == O_DSYNC ? 'D' : 'M');
    }
    return syscall(SYS_pwrite64, fd, buf, n, off);
}

int fdatasync(int fd)
{
    if (is_data_mdb(fd)) {
        if (fail_flush) {
            fail_flush = 0;
            journal_add('f');
            errno = EIO;
            return -1;
        }
        journal_add('F');
    }
    return (int)syscall(SYS_fdatasync, fd);
}

/* Commits an empty transaction (LMDB then does no I/O of its own). */
static int commit_nothing(store_t *st)
{
    store_wtxn_t *tx;
    int rc = store_wtxn_begin(st, &tx);
    return rc ? rc : store_wtxn_commit(tx);
}

/* One flush per commit; the meta page rides with the next flush or store_sync; after a
 * failed flush, store_sync writes a meta page afresh before it flushes. */
static void test_durability(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    journal_take();
    journal_on = 1;

    /* A commit: its data flushed, then its meta page written without a flush. Nothing is
     * ever written through an O_DSYNC descriptor. */
    CHECK(enqueue1(st, "d1", "t", 1, "a") != 0);
    CHECK_STR(journal_take(), "FM");
    /* The next commit's flush carries d1's meta page; its own waits in turn. */
    CHECK(enqueue1(st, "d2", "t", 2, "a") != 0);
    CHECK_STR(journal_take(), "FM");
    /* A commit that changed nothing costs LMDB no flush, so the store flushes for the
     * meta page still waiting; once nothing waits, an empty commit and a sync are free. */
    CHECK(commit_nothing(st) == 0);
    CHECK_STR(journal_take(), "F");
    CHECK(commit_nothing(st) == 0);
    CHECK(store_sync(st) == 0);
    CHECK_STR(journal_take(), "");
    CHECK(enqueue1(st, "d3", "t", 3, "a") != 0);
    CHECK(store_sync(st) == 0);
    CHECK_STR(journal_take(), "FMF");

    /* A commit whose flush fails: nothing of it stays, and the next sync does not trust a
     * bare flush: it commits a heartbeat (flush, fresh meta page) and flushes that. */
    CHECK(enqueue1(st, "d4", "t", 4, "a") != 0);
    CHECK_STR(journal_take(), "FM");
    fail_flush = 1;
    CHECK(enqueue1(st, "d5", "t", 5, "a") == 0);
    CHECK_STR(journal_take(), "f");
    CHECK(store_sync(st) == 0);
    CHECK_STR(journal_take(), "FMF");
    CHECK(store_sync(st) == 0);
    CHECK_STR(journal_take(), "");

    /* A failed sync likewise: the next one rewrites the meta page first. */
    CHECK(enqueue1(st, "d6", "t", 6, "a") != 0);
    fail_flush = 1;
    CHECK(store_sync(st) == -EIO);
    CHECK_STR(journal_take(), "FMf");
    CHECK(store_sync(st) == 0);
    CHECK_STR(journal_take(), "FMF");
    /* ...and a commit after it flushes as usual (its meta page is written afresh). */
    CHECK(enqueue1(st, "d7", "t", 7, "a") != 0);
    CHECK_STR(journal_take(), "FM");
    journal_on = 0;
    store_close(st);

    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(exists(st, "d1") && exists(st, "d2") && exists(st, "d3") && exists(st, "d4"));
    CHECK(!exists(st, "d5") && exists(st, "d6") && exists(st, "d7"));
    CHECK(counters_are(st, "a", 6, 0, 0, 0));
    store_close(st);
}

/* ---- LMDB's fatal state ---- */

/* A failing meta-page write (fail_meta_write, above) is what puts LMDB into its fatal
 * state. */
static void test_panic(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t kept = enqueue1(st, "p_kept", "t", 1, "p");
    CHECK(kept != 0);

    store_wtxn_t *tx;
    bool dup;
    uint32_t nd;
    const char *sub = "p";
    store_event_in_t ev = {"p_lost", 6, "t", 1, "{}", 2, 2, &sub, 1};
    CHECK(store_wtxn_begin(st, &tx) == 0);
    CHECK(store_enqueue(tx, &ev, &dup, &nd) == 0);
    fail_meta_write = 1;
    CHECK(store_wtxn_commit(tx) == -ENOTRECOVERABLE);
    CHECK(fail_meta_write == 0);

    /* From now on every call says so, reads included. */
    CHECK(store_wtxn_begin(st, &tx) == -ENOTRECOVERABLE);
    store_delivery_t d;
    CHECK(store_get_delivery(st, kept, &d) == -ENOTRECOVERABLE);
    store_claim_t c[2];
    int64_t next;
    CHECK(store_claim_due(st, "p", 100, 2, NULL, NULL, c, &next) == -ENOTRECOVERABLE);
    store_delivery_t dl[2];
    store_dead_cursor_t cur = {0, 0};
    bool more;
    CHECK(store_list_dead(st, NULL, &cur, 2, dl, &more) == -ENOTRECOVERABLE);
    store_counters_t cn;
    CHECK(store_get_counters(st, "p", &cn) == -ENOTRECOVERABLE);
    store_close(st);

    /* A restart recovers: the failed transaction is not there, the one before is. */
    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(exists(st, "p_kept") && !exists(st, "p_lost"));
    CHECK(counters_are(st, "p", 1, 0, 0, 0));
    store_close(st);
}

/* ---- readers on other threads while the writer commits ---- */

typedef struct {
    store_t *st;
    int errors, rounds;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    for (int i = 0; i < 300; i++) {
        store_claim_t cl[16];
        store_delivery_t dl[8];
        store_dead_cursor_t cur = {0, 0};
        int64_t next;
        bool more;
        int n = store_claim_due(r->st, "r", INT64_MAX - 1, 16, NULL, NULL, cl, &next);
        if (n < 0) r->errors++;
        for (int j = 0; j < n; j++)
            store_claim_clear(&cl[j]);
        n = store_list_dead(r->st, NULL, &cur, 8, dl, &more);
        if (n < 0) r->errors++;
        for (int j = 0; j < n; j++)
            store_delivery_clear(&dl[j]);
        r->rounds++;
    }
    return NULL;
}

static void test_threads(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    reader_t r[3] = {{st, 0, 0}, {st, 0, 0}, {st, 0, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, reader_main, &r[i]);
    int fails = 0;
    for (int i = 0; i < 60; i++) {
        char id[16];
        snprintf(id, sizeof(id), "t_%d", i);
        uint64_t d = enqueue1(st, id, "t", i, "r");
        if (!d)
            fails++;
        else if (i % 2 && run_op(st, OP_BURY, d, 100 + i, 500, "x"))
            fails++;
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK(fails == 0);
    CHECK(r[0].errors + r[1].errors + r[2].errors == 0);
    CHECK(r[0].rounds == 300 && r[1].rounds == 300 && r[2].rounds == 300);
    CHECK(counters_are(st, "r", 30, 0, 30, 30));
    store_close(st);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---- subscriber health: pause, ordered claims, replay, the version 1 upgrade ---- */

static int set_paused(store_t *st, const char *name, bool paused)
{
    store_wtxn_t *tx;
    int rc = store_wtxn_begin(st, &tx);
    if (rc) return rc;
    rc = store_set_paused(tx, name, paused, 1000);
    int crc = store_wtxn_commit(tx);
    return rc ? rc : crc;
}

static void test_paused(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    bool p = true;
    CHECK(store_is_paused(st, "a", &p) == 0 && !p);
    CHECK(set_paused(st, "a", true) == 0 && set_paused(st, "gone", true) == 0);
    CHECK(set_paused(st, "a", true) == 0); /* pausing twice is fine */
    CHECK(store_is_paused(st, "a", &p) == 0 && p);
    store_close(st);
    st = open_at(path, 16); /* kept across a restart */
    CHECK(st != NULL);
    if (!st) return;
    CHECK(store_is_paused(st, "a", &p) == 0 && p);
    names_t ns = {0};
    CHECK(store_paused_subscribers(st, on_name, &ns) == 0);
    CHECK(ns.n == 2 && strcmp(ns.names[0], "a") == 0 && strcmp(ns.names[1], "gone") == 0);
    CHECK(store_paused_changes(st) == 0); /* counted since this open */
    CHECK(set_paused(st, "a", false) == 0 && set_paused(st, "a", false) == 0);
    CHECK(store_paused_changes(st) == 2);
    CHECK(store_is_paused(st, "a", &p) == 0 && !p);
    ns.n = 0;
    CHECK(store_paused_subscribers(st, on_name, &ns) == 0 && ns.n == 1);
    /* Only committed changes count: an aborted pause and a transaction without one do not. */
    store_wtxn_t *tx;
    CHECK(store_wtxn_begin(st, &tx) == 0 && store_set_paused(tx, "b", true, 1000) == 0);
    store_wtxn_abort(tx);
    CHECK(enqueue1(st, "pc1", "t", 100, "a") != 0);
    CHECK(store_paused_changes(st) == 2);
    store_close(st);
}

/* The ordered head: the lowest pending id, however the due times are ordered. */
static uint64_t head_of(store_t *st, const char *sub, int64_t now, idset_t *skip, int64_t *next)
{
    store_claim_t c;
    int got = store_claim_first(st, sub, now, in_set, skip, &c, next);
    if (got != 1) return 0;
    uint64_t id = c.id;
    store_claim_clear(&c);
    return id;
}

static int order_set(store_t *st, const char *sub, bool on, size_t max);

static void test_claim_first(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    idset_t none = {0};
    int64_t next;
    CHECK(order_set(st, "o", true, 100) == 1 && order_set(st, "p", true, 100) == 1);
    CHECK(head_of(st, "o", 5000, &none, &next) == 0 && next == INT64_MAX);
    uint64_t a = enqueue1(st, "oa", "t", 100, "o");
    uint64_t b = enqueue1(st, "ob", "t", 200, "o");
    uint64_t other = enqueue1(st, "ox", "t", 50, "p");
    CHECK(a && b && other);
    CHECK(head_of(st, "o", 5000, &none, &next) == a);
    /* The head being attempted holds everything back. */
    idset_t busy = {{a}, 1};
    CHECK(head_of(st, "o", 5000, &busy, &next) == 0 && next == INT64_MAX);
    /* The head failed and is due later than b: b still waits for it. */
    CHECK(run_op(st, OP_RESCHEDULE, a, 300, 500, "HTTP 500") == 0); /* due at 1300 */
    CHECK(head_of(st, "o", 1000, &none, &next) == 0 && next == 1300);
    CHECK(head_of(st, "o", 1300, &none, &next) == a);
    CHECK(run_op(st, OP_ACK, a, 1300, 200, "") == 0);
    CHECK(head_of(st, "o", 1300, &none, &next) == b);
    CHECK(run_op(st, OP_BURY, b, 1400, 500, "HTTP 500") == 0);
    CHECK(head_of(st, "o", 5000, &none, &next) == 0 && next == INT64_MAX);
    /* A redriven dead letter is pending again with its old (lower) id: first in line. */
    uint64_t c = enqueue1(st, "oc", "t", 1500, "o");
    CHECK(run_op(st, OP_KICK, b, 1600, 0, "") == 0);
    CHECK(head_of(st, "o", 5000, &none, &next) == b);
    CHECK(c > b);
    CHECK(head_of(st, "p", 5000, &none, &next) == other);
    store_close(st);
}

/* Makes subscriber keep an order index (on) or not, max entries per transaction; returns
 * the number of transactions it took, or -1 on an error. */
static int order_set(store_t *st, const char *sub, bool on, size_t max)
{
    store_order_cursor_t cur = {0};
    bool more = true;
    int steps = 0;
    while (more && steps < 1000) {
        store_wtxn_t *tx;
        if (store_wtxn_begin(st, &tx)) return -1;
        int rc = store_order_step(tx, sub, on, &cur, max, &more);
        if (store_wtxn_commit(tx) || rc) return -1;
        steps++;
    }
    return more ? -1 : steps;
}

static store_order_state_t order_state(store_t *st, const char *sub)
{
    store_order_state_t s = 99;
    if (store_order_state(st, sub, &s)) return 99;
    return s;
}

/* Entries of table db in the closed store in dir whose key starts with prefix (n bytes). */
static long raw_count(const char *dir, const char *db, const void *prefix, size_t n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k = {n, (void *)prefix}, v;
    long count = -1;
    if (mdb_env_create(&env)) return -1;
    mdb_env_set_maxdbs(env, 12);
    if (mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0 &&
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        if (mdb_dbi_open(txn, db, 0, &dbi) == 0 && mdb_cursor_open(txn, dbi, &c) == 0) {
            count = 0;
            for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
                 rc == 0 && k.mv_size >= n && memcmp(k.mv_data, prefix, n) == 0;
                 rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
                count++;
            mdb_cursor_close(c);
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return count;
}

/* Only subscribers marked ordered keep order entries. Building the index of one with
 * pending deliveries takes bounded steps, and the writes between the steps (new events,
 * a reschedule, an ack, a redrive) keep it exact: afterwards the head is always the lowest
 * pending id. Dropping it removes every entry and stops claims by order. */
static void test_order_index(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    idset_t none = {0};
    int64_t next;
    uint64_t ids[12];
    int fails = 0;
    for (int i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof(id), "oi_%d", i);
        if (!(ids[i] = enqueue1(st, id, "t", 100 + i, "u"))) fails++;
    }
    CHECK(fails == 0);
    CHECK(order_state(st, "u") == STORE_ORDER_NONE);
    CHECK(head_of(st, "u", 5000, &none, &next) == 0 && next == INT64_MAX);
    CHECK(run_op(st, OP_RESCHEDULE, ids[0], 200, 500, "HTTP 500") == 0); /* due at 1200 */
    CHECK(run_op(st, OP_BURY, ids[5], 200, 500, "x") == 0);
    store_close(st);
    CHECK(raw_count(path, "order", "u", 2) == 0); /* "u\0": none kept */
    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;

    /* Two entries per step, with writes between the steps. */
    store_order_cursor_t cur = {0};
    bool more = true;
    int steps = 0;
    while (more && steps < 50) {
        store_wtxn_t *tx;
        if (store_wtxn_begin(st, &tx)) break;
        CHECK(store_order_step(tx, "u", true, &cur, 2, &more) == 0);
        CHECK(store_wtxn_commit(tx) == 0);
        steps++;
        if (steps == 1) CHECK(order_state(st, "u") == STORE_ORDER_BUILDING);
        if (steps == 2) {
            ids[8] = enqueue1(st, "oi_8", "t", 50, "u"); /* due before the others */
            CHECK(run_op(st, OP_RESCHEDULE, ids[7], 300, 500, "HTTP 500") == 0);
            CHECK(run_op(st, OP_ACK, ids[1], 300, 200, "") == 0);
            CHECK(run_op(st, OP_KICK, ids[5], 300, 0, "") == 0);
        }
    }
    CHECK(!more && steps >= 4);
    CHECK(order_state(st, "u") == STORE_ORDER_COMPLETE);
    /* Acking the head each time walks the pending ids in ascending order. */
    uint64_t want[] = {ids[0], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7], ids[8]};
    bool in_order = true;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        uint64_t h = head_of(st, "u", 5000, &none, &next);
        if (h != want[i]) {
            printf("#   head %zu: got %llu, want %llu\n", i, (unsigned long long)h,
                   (unsigned long long)want[i]);
            in_order = false;
            break;
        }
        if (i < 4 && run_op(st, OP_ACK, h, 5000, 200, "") != 0) in_order = false;
        if (i >= 4 && run_op(st, OP_RESCHEDULE, h, 5000, 500, "x") != 0) in_order = false;
        if (i >= 4) {
            /* Rescheduled to 6000: the head stays, not due yet. */
            CHECK(head_of(st, "u", 5000, &none, &next) == 0 && next == 6000);
            if (run_op(st, OP_ACK, h, 6000, 200, "") != 0) in_order = false;
        }
    }
    CHECK(in_order);
    CHECK(head_of(st, "u", 9000, &none, &next) == 0 && next == INT64_MAX);
    CHECK(counters_are(st, "u", 0, 9, 7, 0));

    /* Building again is a no-op; dropping takes bounded steps and stops ordered claims. */
    CHECK(order_set(st, "u", true, 2) == 1);
    uint64_t p[5];
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "oi_p%d", i);
        p[i] = enqueue1(st, id, "t", 7000 + i, "u");
    }
    CHECK(head_of(st, "u", 9000, &none, &next) == p[0]);
    CHECK(order_set(st, "u", false, 2) == 3);
    CHECK(order_state(st, "u") == STORE_ORDER_NONE);
    CHECK(head_of(st, "u", 9000, &none, &next) == 0 && next == INT64_MAX);
    CHECK(run_op(st, OP_ACK, p[0], 9000, 200, "") == 0); /* no order entry to delete */
    store_close(st);
    CHECK(raw_count(path, "order", "u", 2) == 0);
    CHECK(raw_count(path, "ordered", "u", 1) == 0);
}

/* A version 2 store kept order entries for every subscriber: opening it marks those that
 * have entries COMPLETE (ordered claims go on working) and stamps version 3. */
static void test_upgrade_v2(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(order_set(st, "o", true, 100) == 1 && order_set(st, "q", true, 100) == 1);
    uint64_t a = enqueue1(st, "v2a", "t", 100, "o");
    uint64_t b = enqueue1(st, "v2b", "t", 200, "o");
    uint64_t q = enqueue1(st, "v2q", "t", 100, "q");
    CHECK(a && b && q);
    CHECK(run_op(st, OP_ACK, q, 300, 200, "") == 0); /* q: no pending delivery left */
    store_close(st);
    /* Forge a version 2 store: no `ordered` table, events as formats 1 to 3 kept them. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = events_to_v3(path);
    if (rc == 0) rc = mdb_env_create(&env);
    if (rc == 0) {
        mdb_env_set_maxdbs(env, 12);
        if ((rc = mdb_env_open(env, path, 0, 0600)) == 0 &&
            (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
            if ((rc = mdb_dbi_open(txn, "ordered", 0, &dbi)) == 0) rc = mdb_drop(txn, dbi, 1);
            rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
        }
        mdb_env_close(env);
    }
    CHECK(rc == 0 && forge_version(path, 2) == 0);
    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(store_opened_version(st) == 2);
    idset_t none = {0};
    int64_t next;
    CHECK(order_state(st, "o") == STORE_ORDER_COMPLETE);
    CHECK(order_state(st, "q") == STORE_ORDER_NONE);
    CHECK(head_of(st, "o", 5000, &none, &next) == a);
    CHECK(run_op(st, OP_ACK, a, 5000, 200, "") == 0);
    CHECK(head_of(st, "o", 5000, &none, &next) == b);
    store_close(st);
    CHECK(raw_count(path, "meta", "format", 6) == 1);
    st = open_at(path, 16); /* upgraded once: it opens as an ordinary store */
    CHECK(st != NULL && order_state(st, "o") == STORE_ORDER_COMPLETE);
    CHECK(st != NULL && store_opened_version(st) == STORE_FORMAT_VERSION);
    if (st) store_close(st);
}

/* Prunes everything received before cutoff; returns the number of events pruned. */
static size_t prune_all(store_t *st, int64_t cutoff)
{
    uint64_t cursor = 0;
    size_t total = 0, pruned;
    store_prune_corrupt_t corrupt;
    bool more = true;
    while (more) {
        store_wtxn_t *tx;
        if (store_wtxn_begin(st, &tx)) return SIZE_MAX;
        int rc = store_prune(tx, cutoff, 100, &cursor, &pruned, &more, &corrupt);
        if (store_wtxn_commit(tx) || rc) return SIZE_MAX;
        total += pruned;
    }
    return total;
}

typedef struct {
    const char *type; /* take only this type; NULL: all */
    int calls;
} sel_t;

static bool select_type(void *ctx, const char *type, size_t type_len, const char *body,
                        size_t body_len, int64_t received_ms)
{
    sel_t *s = ctx;
    (void)body;
    (void)received_ms;
    s->calls++;
    return body_len > 0 &&
           (!s->type || (strlen(s->type) == type_len && memcmp(s->type, type, type_len) == 0));
}

static int replay(store_t *st, const char *sub, uint64_t *cursor, uint64_t end, size_t max,
                  sel_t *sel, size_t *added, bool *more)
{
    store_wtxn_t *tx;
    int rc = store_wtxn_begin(st, &tx);
    if (rc) return rc;
    if (end == 0) end = store_wtxn_event_seq_end(tx);
    rc = store_replay(tx, sub, cursor, end, max, 9000, select_type, sel, added, more);
    int crc = store_wtxn_commit(tx);
    return rc ? rc : crc;
}

static void test_replay(void)
{
    store_t *st = open_at(new_dir(), 16);
    CHECK(st != NULL);
    if (!st) return;
    char id[16];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        CHECK(enqueue1(st, id, i % 2 ? "odd" : "even", 100 + i, "old") != 0);
    }
    /* Three chunks of at most 3 events, taking the 4 "even" ones. */
    sel_t sel = {.type = "even"};
    uint64_t cursor = 0;
    size_t added, total = 0;
    bool more = true;
    int chunks = 0;
    while (more && chunks < 10) {
        CHECK(replay(st, "new", &cursor, 0, 3, &sel, &added, &more) == 0);
        total += added;
        chunks++;
    }
    CHECK(chunks == 3 && total == 4 && sel.calls == 7);
    CHECK(counters_are(st, "new", 4, 0, 0, 0));
    CHECK(counters_are(st, "old", 7, 0, 0, 0));
    /* The new delivery is listed in its event, pending, due at the replay's time. */
    store_event_t e;
    CHECK(store_get_event(st, "r2", 2, &e) == 0);
    CHECK(e.ndeliveries == 2);
    store_delivery_t d;
    CHECK(store_get_delivery(st, e.delivery_ids[1], &d) == 0);
    CHECK(d.state == STORE_PENDING && d.attempts == 0 && d.next_attempt_ms == 9000);
    CHECK(strcmp(d.subscriber, "new") == 0 && strcmp(d.event_id, "r2") == 0);
    CHECK(strcmp(d.event_type, "even") == 0);
    store_delivery_clear(&d);
    store_event_clear(&e);
    /* Claimable, in ingest order for an ordered subscriber (its index built now). */
    idset_t none = {0};
    int64_t next;
    store_claim_t c;
    CHECK(order_set(st, "new", true, 2) == 3);
    CHECK(store_claim_first(st, "new", 9000, in_set, &none, &c, &next) == 1);
    CHECK(strcmp(c.event_id, "r0") == 0);
    store_claim_clear(&c);
    /* Twice delivers twice; end_seq bounds the walk (events stored later are left out). */
    sel_t all = {0};
    cursor = 0;
    CHECK(replay(st, "new", &cursor, 3, 100, &all, &added, &more) == 0);
    CHECK(added == 2 && !more); /* sequence numbers 1 and 2 */
    CHECK(counters_are(st, "new", 6, 0, 0, 0));
    CHECK(store_get_event(st, "r0", 2, &e) == 0 && e.ndeliveries == 3);
    uint64_t r0[3];
    memcpy(r0, e.delivery_ids, sizeof(r0));
    store_event_clear(&e);

    /* Retention keeps an event while a delivery a replay added is pending, and removes
     * those deliveries with it once they are delivered. */
    CHECK(run_op(st, OP_ACK, r0[0], 9100, 200, "") == 0); /* its own delivery */
    CHECK(prune_all(st, 10000) == 0);
    CHECK(exists(st, "r0"));
    CHECK(run_op(st, OP_ACK, r0[1], 9100, 200, "") == 0);
    CHECK(run_op(st, OP_BURY, r0[2], 9100, 500, "HTTP 500") == 0);
    CHECK(prune_all(st, 10000) == 0);
    CHECK(exists(st, "r0"));
    CHECK(run_op(st, OP_DELETE, r0[2], 9200, 0, "") == 0);
    CHECK(prune_all(st, 10000) == 1);
    CHECK(!exists(st, "r0"));
    store_delivery_t gone;
    CHECK(store_get_delivery(st, r0[1], &gone) == -ENOENT);
    store_close(st);
}

/* Rewrites every event record of txn (at most 16, keys < 64 bytes) in the version 1
 * layout (no sequence number). Read first, then written: a put that changes a record's
 * size moves it under an open cursor. */
static int events_to_v1(MDB_txn *txn)
{
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    char keys[16][64];
    uint8_t recs[16][512];
    size_t klen[16], rlen[16], n = 0;
    int rc = mdb_dbi_open(txn, "events", 0, &dbi);
    if (rc == 0) rc = mdb_cursor_open(txn, dbi, &c);
    if (rc) return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *old = v.mv_data;
        if (n == 16 || k.mv_size > 64 || v.mv_size > 512 || v.mv_size < 17 || old[0] != 2) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(keys[n], k.mv_data, k.mv_size);
        klen[n] = k.mv_size;
        recs[n][0] = 1;
        memcpy(recs[n] + 1, old + 1, 8);
        memcpy(recs[n] + 9, old + 17, v.mv_size - 17);
        rlen[n++] = v.mv_size - 8;
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) return rc;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        MDB_val nk = {klen[i], keys[i]}, nv = {rlen[i], recs[i]};
        rc = mdb_put(txn, dbi, &nk, &nv, 0);
    }
    return rc;
}

/* Drops the tables version 2 added, writes event records as version 1 did and stamps
 * version 1: a store as version 1 wrote it. */
static int forge_v1(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = events_to_v3(dir);
    if (rc == 0) rc = mdb_env_create(&env);
    if (rc) return rc;
    if ((rc = mdb_env_set_maxdbs(env, 12)) == 0 && (rc = mdb_env_open(env, dir, 0, 0600)) == 0 &&
        (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
        static const char *const added[] = {"order", "paused", "replayed", "ordered"};
        for (size_t i = 0; i < 4 && rc == 0; i++)
            if ((rc = mdb_dbi_open(txn, added[i], 0, &dbi)) == 0) rc = mdb_drop(txn, dbi, 1);
        if (rc == 0) rc = events_to_v1(txn);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return rc ? rc : forge_version(dir, 1);
}

static void test_upgrade_v1(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t a = enqueue1(st, "ua", "t", 100, "o");
    uint64_t b = enqueue1(st, "ub", "t", 200, "o");
    CHECK(run_op(st, OP_RESCHEDULE, a, 300, 500, "HTTP 500") == 0); /* due at 1300 */
    store_close(st);
    CHECK(forge_v1(path) == 0);
    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    idset_t none = {0};
    int64_t next;
    CHECK(head_of(st, "o", 1000, &none, &next) == 0 && next == 1300);
    CHECK(head_of(st, "o", 1300, &none, &next) == a);
    CHECK(run_op(st, OP_ACK, a, 1300, 200, "") == 0);
    CHECK(head_of(st, "o", 1300, &none, &next) == b);
    /* Version 1 event records are read as they are, and replayed: the replayed delivery is
     * listed with the event (its record is rewritten once, with its sequence number). */
    store_event_t e;
    CHECK(store_get_event(st, "ua", 2, &e) == 0 && e.ndeliveries == 1 && e.delivery_ids[0] == a);
    store_event_clear(&e);
    sel_t all = {0};
    uint64_t cursor = 0;
    size_t added;
    bool more;
    CHECK(replay(st, "r", &cursor, 0, 100, &all, &added, &more) == 0 && added == 2);
    cursor = 0; /* twice: the second finds the records rewritten */
    CHECK(replay(st, "r", &cursor, 0, 100, &all, &added, &more) == 0 && added == 2);
    CHECK(store_get_event(st, "ua", 2, &e) == 0 && e.ndeliveries == 3 && e.delivery_ids[0] == a);
    store_event_clear(&e);
    CHECK(counters_are(st, "r", 4, 0, 0, 0));
    store_close(st);
    /* Upgraded once: it opens again as an ordinary store. */
    st = open_at(path, 16);
    CHECK(st != NULL && exists(st, "ub"));
    if (st) store_close(st);
}

/* Formats 1 to 3 kept each event's record in events under its id: opening such a store
 * moves the records into received (with their ids) and leaves the sequence number under the
 * id, and the store answers as before. An event whose record cannot be read is left as it
 * was, and the upgrade goes on. */
static void test_upgrade_v3(void)
{
    const char *dir = new_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s", dir);
    store_t *st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    const char *two[] = {"o", "q"};
    bool dup;
    uint32_t nd;
    uint64_t a = enqueue1(st, "u3a", "t", 100, "o");
    uint64_t b = enqueue1(st, "u3b", "t", 200, "o");
    CHECK(enqueue(st, "u3c", "t", 300, two, 2, &dup, &nd) == 0 && !dup && nd == 2);
    uint64_t bad = enqueue1(st, "u3bad", "t", 400, "o");
    CHECK(a && b && bad && run_op(st, OP_ACK, a, 500, 200, "") == 0);
    sel_t all = {0};
    uint64_t cursor = 0;
    size_t added;
    bool more;
    CHECK(replay(st, "r", &cursor, 0, 100, &all, &added, &more) == 0 && added == 4);
    store_close(st);
    static const char garbage[] = "\x02\xff garbage";
    CHECK(events_to_v3(path) == 0 && forge_version(path, 3) == 0);
    CHECK(raw_set(path, "events", "u3bad", 5, garbage, sizeof(garbage)) == 0);

    st = open_at(path, 16);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(store_opened_version(st) == 3);
    store_event_t e;
    CHECK(store_get_event(st, "u3c", 3, &e) == 0 && e.ndeliveries == 3 && e.received_ms == 300);
    CHECK_STR(e.id, "u3c");
    CHECK_STR(e.type, "t");
    CHECK(e.body && strstr(e.body, "\"u3c\"") != NULL);
    store_event_clear(&e);
    CHECK(store_get_event(st, "u3a", 3, &e) == 0 && e.ndeliveries == 2 && e.delivery_ids[0] == a);
    store_event_clear(&e);
    CHECK(store_get_event(st, "u3bad", 5, &e) == -EIO);
    /* Still the idempotency index. */
    CHECK(enqueue(st, "u3c", "t", 600, two, 2, &dup, &nd) == 0 && dup && nd == 2);
    /* Claims carry their event's body; the damaged event's delivery is handed out corrupt. */
    store_claim_t c[4];
    int64_t next;
    int n = store_claim_due(st, "o", 1000, 4, NULL, NULL, c, &next);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(c[0].id == b && !c[0].corrupt && c[0].body && strstr(c[0].body, "\"u3b\""));
        CHECK(!c[1].corrupt && c[1].body && strstr(c[1].body, "\"u3c\""));
        CHECK(c[2].id == bad && c[2].corrupt);
    }
    for (int i = 0; i < n; i++)
        store_claim_clear(&c[i]);
    CHECK(prune_all(st, 100000) == 0); /* replayed deliveries pending; the damaged one kept */
    /* New events go after the old ones in received. */
    CHECK(enqueue1(st, "u3d", "t", 700, "o") != 0 && exists(st, "u3d"));
    store_close(st);
    st = open_at(path, 16); /* upgraded once: it opens as an ordinary store */
    CHECK(st != NULL && store_opened_version(st) == STORE_FORMAT_VERSION);
    CHECK(st != NULL && exists(st, "u3a") && exists(st, "u3d") && !exists(st, "u3bad"));
    if (st) store_close(st);
}

int main(void)
{
    snprintf(base, sizeof(base), "/tmp/hookgate-store-XXXXXX");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    test_enqueue();
    test_claim();
    test_transitions();
    test_history_cap();
    test_list_dead();
    test_dead_order_is_commit_order();
    test_bulk();
    test_prune();
    test_prune_progress();
    test_map_full();
    test_trim_mapped_pages();
    test_format_version();
    test_threads();
    test_lock();
    test_list_dead_bounded();
    test_corrupt();
    test_counters_batch();
    test_op_error_keeps_tx();
    test_prune_corrupt();
    test_touch();
    test_durability();
    test_panic();
    test_paused();
    test_claim_first();
    test_replay();
    test_upgrade_v1();
    test_order_index();
    test_upgrade_v2();
    test_upgrade_v3();
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_done();
}
