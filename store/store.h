/* store.h -- durable state of the gateway in LMDB: events, deliveries, dead letters,
 * the idempotency index and per-subscriber counters. The only module that touches LMDB.
 *
 * Threads: one writer thread owns write transactions (store_wtxn_*); reads
 * (store_claim_due, store_get_*, store_list_dead, store_*subscriber*) may run on any
 * thread at any time, concurrently with the writer.
 * Errors: 0 or a negative errno; -ENOSPC when the map is full (the transaction is then
 * unusable and must be aborted), -ENOENT for unknown records, -EIO for other LMDB errors
 * and for records that cannot be decoded.
 * A write operation either succeeds, or fails having written nothing (its own error: a
 * record it needs cannot be decoded, -ENOENT, -EINVAL; the transaction stays good and may
 * commit the other operations), or breaks the transaction (store_wtxn_error: an LMDB
 * failure such as a full map; then only an abort remains).
 * -ENOTRECOVERABLE when LMDB is in its fatal state (MDB_PANIC, e.g. after a failed
 * meta-page write): every later call of this process (begin, commit, reads) fails the
 * same way, so the caller should stop instead of retrying; only a restart recovers.
 * Strings handed out are malloc'd and owned by the caller (free with the *_clear helpers). */
#ifndef HOOKGATE_STORE_H
#define HOOKGATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_FORMAT_VERSION 4
#define STORE_FORMAT_OLDEST 1 /* older versions this one opens, upgrading them at open */
#define STORE_MAX_HISTORY 100 /* attempts kept per delivery; older ones are dropped */

typedef struct store store_t;
typedef struct store_wtxn store_wtxn_t;

typedef enum {
    STORE_PENDING = 1,   /* waiting for its next attempt (or being attempted) */
    STORE_DELIVERED = 2, /* a 2xx was received */
    STORE_DEAD = 3,      /* in the dead-letter queue */
} store_state_t;

typedef struct {
    int64_t at_ms;        /* when the attempt started (unix ms) */
    int32_t status;       /* HTTP status, 0 when there was none (connect error, timeout) */
    uint32_t duration_ms;
    char *error;          /* "" when none, e.g. "HTTP 500", curl's message */
} store_attempt_t;

typedef struct {
    uint64_t id; /* delivery id; also the dead letter's id */
    char *event_id;
    char *event_type;
    char *subscriber;
    store_state_t state;
    uint32_t attempts;       /* attempts made since created or last redriven */
    int64_t created_ms;
    int64_t next_attempt_ms; /* PENDING: due time; otherwise 0 */
    int64_t first_attempt_ms; /* 0 before the first attempt */
    int64_t dead_ms;          /* DEAD: when it was dead-lettered; otherwise 0 */
    int32_t last_status;      /* 0 when none */
    char *last_error;         /* "" when none */
    store_attempt_t *history; /* oldest first, at most STORE_MAX_HISTORY */
    size_t nhistory;
} store_delivery_t;

typedef struct {
    char *id;
    char *type;
    int64_t received_ms;
    char *body; /* the envelope exactly as delivered */
    size_t body_len;
    uint64_t *delivery_ids; /* those made at ingest, then those replays added */
    size_t ndeliveries;
} store_event_t;

/* Durable per-subscriber counters, kept exact by every write below. */
typedef struct {
    uint64_t pending; /* deliveries in state PENDING (including those being attempted) */
    uint64_t delivered;
    uint64_t failed_attempts;
    uint64_t dead; /* deliveries currently in the dead-letter queue */
    int64_t last_success_ms; /* 0 when never */
    char *last_error;        /* "" when none */
} store_counters_t;

void store_attempt_clear(store_attempt_t *a);
void store_delivery_clear(store_delivery_t *d);
void store_event_clear(store_event_t *e);
void store_counters_clear(store_counters_t *c);

/* Opens (creating if needed) the store in directory dir (created if missing) with a map
 * of map_size_mb. Refuses a store of another format version. Only one store_t may have
 * a directory open at a time (it holds an exclusive lock on dir/lock until
 * store_close): a second opener, in this or another process, gets -EBUSY and
 * "data_dir <dir> is in use (pid N)". On error returns a negative errno and a reason in
 * err. Any thread, before the store is shared. */
int store_open(const char *dir, uint64_t map_size_mb, store_t **out, char *err, size_t errlen);
void store_close(store_t *st);
/* The format version the store had when store_open found it: STORE_FORMAT_VERSION, or an
 * older one that store_open upgraded in place (a new store counts as current). */
uint32_t store_opened_version(const store_t *st);

/* ---- writes (writer thread only) ---- */

/* Durability. The environment is opened with MDB_NOMETASYNC, once: a commit flushes its
 * data pages (one fdatasync) and writes LMDB's meta page, the pointer to them, without
 * flushing it. That meta page reaches the disk with the next commit's flush or with
 * store_sync. So the store's durable state is always a prefix of its commits: a machine
 * crash may undo the commits since the last flush, never corrupt the store or keep a
 * later commit without an earlier one; a process crash (kill -9) loses nothing. */

int store_wtxn_begin(store_t *st, store_wtxn_t **out);
/* Commits tx. On 0, tx is visible to readers and the transactions committed before it
 * are durable (this commit flushed the disk after their meta page was written), unless a
 * commit or store_sync failed after them: then only a successful store_sync says they
 * are. tx itself becomes durable with the next successful store_wtxn_commit or
 * store_sync. A transaction that changed nothing costs LMDB no flush, so when an earlier
 * commit is still waiting for one, this call flushes as store_sync does, to keep that
 * promise. The transaction is freed whatever the result; on error nothing of it was
 * written. */
int store_wtxn_commit(store_wtxn_t *tx);
/* Makes every committed transaction durable: on 0 they are all on disk. After a failed
 * commit or sync (a flush that failed may have left pages marked clean that never reached
 * the disk, so a second flush could succeed without writing them), it first commits a
 * heartbeat (store_touch), so that what it flushes is a meta page written afresh. Returns 0
 * or a negative errno; -ENOTRECOVERABLE as for commits. Writer thread only. */
int store_sync(store_t *st);
void store_wtxn_abort(store_wtxn_t *tx);
/* The error that broke tx (every later call on it returns it; commit then fails with it),
 * or 0 while it is good: an operation that failed with 0 here wrote nothing. */
int store_wtxn_error(store_wtxn_t *tx);
/* Writes a tiny heartbeat record (meta "heartbeat"), so that a transaction carrying
 * nothing else still has a page to commit and flush: committing it tests whether the
 * store can commit again after a failure. Returns 0 or a negative errno. */
int store_touch(store_wtxn_t *tx);

/* Drops this process's mappings of the store file's pages once they take more than
 * budget_bytes of RSS beyond what the last drop left. LMDB reads through a read-only map of
 * the whole file, and every page a read touches stays mapped, so the process's RSS grows
 * towards the store's size (a 5M-delivery backlog: gigabytes of RssFile) although those
 * pages are only the kernel's page cache. Dropped pages stay cached: the next read of one is
 * a minor fault, not I/O, and cold ones become ordinary unmapped cache, which the kernel
 * evicts more readily than mapped pages. The budget is what makes this cheap to call
 * often: each drop costs every thread that reads the store a fault per page it touches
 * again (the writer's B-tree pages included), so a drop happens only when reads have
 * mapped that much (the process's file-backed RSS, from /proc/self/statm). Safe while other
 * threads read: the map is shared and read-only, so a dropped page reads back the file's
 * current contents. One thread at a time (the delivery worker's). Returns 1 when it
 * dropped, 0 when within the budget, or a negative errno. */
int store_trim_mapped_pages(store_t *st, size_t budget_bytes);

typedef struct {
    const char *id;
    size_t id_len;
    const char *type;
    size_t type_len;
    const char *body;
    size_t body_len;
    int64_t received_ms; /* also the due time of the first attempts */
    const char *const *subscribers; /* names matched at ingest, one delivery each */
    size_t nsubscribers;
} store_event_in_t;

/* Stores an event with one PENDING delivery per subscriber. If an event with this id is
 * already stored, writes nothing and sets *duplicate with the stored delivery count. */
int store_enqueue(store_wtxn_t *tx, const store_event_in_t *ev, bool *duplicate,
                  uint32_t *ndeliveries);

/* Outcomes of an attempt on a PENDING delivery. -ENOENT when it is gone or no longer
 * PENDING (nothing written). The attempt is appended to the history; attempts++. */
int store_ack(store_wtxn_t *tx, uint64_t id, const store_attempt_t *a);
int store_reschedule(store_wtxn_t *tx, uint64_t id, int64_t due_ms, const store_attempt_t *a);
/* Dead-letters a PENDING delivery at now_ms. a may be NULL (no attempt was made, e.g. its
 * subscriber was removed); reason, when not NULL, replaces last_error. */
int store_bury(store_wtxn_t *tx, uint64_t id, int64_t now_ms, const store_attempt_t *a,
               const char *reason);
/* Dead-letters a corrupt claim (store_claim_t.corrupt) of subscriber, due at due_ms, with
 * the error "corrupt record". A record that is missing or cannot be decoded is replaced by
 * a minimal dead letter (store/FORMAT.md: subscriber and id known, event_id and event_type
 * ""), found through its due key; a readable one is buried as by store_bury. -ENOENT when
 * it is no longer due. */
int store_bury_corrupt(store_wtxn_t *tx, const char *subscriber, int64_t due_ms, uint64_t id,
                       int64_t now_ms);
/* Redrives a DEAD delivery: PENDING, due at now_ms, attempts reset to 0 (history kept).
 * -ENOENT when it is not DEAD. */
int store_kick(store_wtxn_t *tx, uint64_t id, int64_t now_ms);
/* Deletes a DEAD delivery; its event stays until retention prunes it (a missing
 * delivery counts as finished there). -ENOENT when it is not DEAD. */
int store_delete_dead(store_wtxn_t *tx, uint64_t id);

/* Dead-letter selection for lists and bulk operations; NULL/0 fields do not filter. */
typedef struct {
    const char *subscriber;
    const char *type;
    int64_t since_ms; /* dead_ms >= since_ms; 0: no bound */
    int64_t until_ms; /* dead_ms <= until_ms; 0: no bound */
} store_dead_filter_t;

/* Position in the dead-letter index (ordered by dead_ms, then id); {0,0} is the start. */
typedef struct {
    int64_t dead_ms;
    uint64_t id;
} store_dead_cursor_t;

/* Bulk kick / delete of up to max matching dead letters after *cursor, advancing it.
 * *done is the number changed; *more is false once the index is exhausted. Callers
 * loop over several small transactions so ingest is never stalled for long. A letter that
 * cannot be changed (a record it needs cannot be decoded) after others were ends the call
 * before it with *more set; the next call then fails on it, having written nothing. */
int store_kick_dead(store_wtxn_t *tx, const store_dead_filter_t *f, store_dead_cursor_t *cursor,
                    size_t max, int64_t now_ms, size_t *done, bool *more);
int store_delete_dead_matching(store_wtxn_t *tx, const store_dead_filter_t *f,
                               store_dead_cursor_t *cursor, size_t max, size_t *done, bool *more);

/* ---- subscriber health (writer thread) ---- */

/* Marks subscriber paused (stamped with now_ms) or not. Paused state is independent of the
 * config: it is kept for a name until it is resumed. */
int store_set_paused(store_wtxn_t *tx, const char *subscriber, bool paused, int64_t now_ms);

/* The sequence number the next event stored will get: a replay that starts now examines
 * the events before it. */
uint64_t store_wtxn_event_seq_end(store_wtxn_t *tx);

/* Whether a replay takes a stored event: its type, envelope body and receive time. The
 * pointers are valid during the call only. Called on the writer thread. */
typedef bool (*store_replay_select_t)(void *ctx, const char *type, size_t type_len,
                                      const char *body, size_t body_len, int64_t received_ms);

/* Replay: examines up to max stored events in ingest order from event sequence number
 * *cursor (0 = the oldest) up to, not including, end_seq, and adds one PENDING delivery
 * to subscriber, due at now_ms with no attempts, for each event select takes (the event
 * lists it, like its other deliveries, so retention keeps the event until it is
 * delivered). *added counts them; *more is true when events before end_seq remain;
 * *cursor is advanced. Replaying the same events twice adds two deliveries each. An event
 * that cannot be read after others were replayed ends the call before it with *more set;
 * the next call then fails on it, having written nothing. */
int store_replay(store_wtxn_t *tx, const char *subscriber, uint64_t *cursor, uint64_t end_seq,
                 size_t max, int64_t now_ms, store_replay_select_t select, void *ctx,
                 size_t *added, bool *more);

/* Events a retention step kept because one of their records cannot be decoded. */
typedef struct {
    size_t n;             /* how many */
    uint64_t seq;         /* the last one's sequence number */
    uint64_t delivery_id; /* its undecodable delivery record; 0 when it is the event's own
                             record (or its received entry) */
} store_prune_corrupt_t;

/* Retention: deletes events received before cutoff_ms all of whose deliveries (replayed
 * ones included) are DELIVERED or gone (with those deliveries and their idempotency
 * entry), examining at most max
 * events from *cursor on (0 = the oldest). *pruned counts deleted events; *more is
 * false when the scan reached cutoff_ms. An event with a record that cannot be decoded
 * is kept, counted in *corrupt and passed over, so the scan goes on. */
int store_prune(store_wtxn_t *tx, int64_t cutoff_ms, size_t max, uint64_t *cursor,
                size_t *pruned, bool *more, store_prune_corrupt_t *corrupt);

/* ---- reads (any thread) ---- */

/* A due delivery handed to the delivery worker. */
typedef struct {
    uint64_t id;
    /* The record (or its event) is missing or could not be decoded: event_id and body
     * are NULL and attempts/first_attempt_ms are 0. The caller should bury it with
     * store_bury_corrupt instead of retrying it forever. */
    bool corrupt;
    int64_t due_ms; /* its due time (with the subscriber, its key in the due index) */
    uint32_t attempts; /* attempts made so far */
    int64_t first_attempt_ms;
    char *event_id;
    char *body;
    size_t body_len;
} store_claim_t;
void store_claim_clear(store_claim_t *c);

/* Reads up to max PENDING deliveries of subscriber due at or before now_ms, earliest
 * first, skipping those for which skip(ctx, id) is true (the caller's in-flight set).
 * Nothing is written: the lease lives in the caller's memory, so after a crash the
 * delivery is simply still due. *next_due_ms is the due time of the earliest PENDING
 * delivery of that subscriber that was neither returned nor skipped (INT64_MAX when
 * none). Returns the number of entries filled in out, or a negative errno. */
int store_claim_due(store_t *st, const char *subscriber, int64_t now_ms, size_t max,
                    bool (*skip)(void *ctx, uint64_t id), void *ctx, store_claim_t *out,
                    int64_t *next_due_ms);

/* For an ordered subscriber: its PENDING delivery with the lowest id (the first accepted),
 * filled into out when it is due at now_ms and not skipped; returns 1, or 0 when it is not
 * due (*next_due_ms is then its due time), is being attempted (skip says so; then
 * *next_due_ms is INT64_MAX: its outcome comes first), there is none, or its order index
 * is not COMPLETE (*next_due_ms INT64_MAX: the caller tries again once it is). Never returns a
 * later delivery while an earlier one is pending. A negative errno on a failed read. */
int store_claim_first(store_t *st, const char *subscriber, int64_t now_ms,
                      bool (*skip)(void *ctx, uint64_t id), void *ctx, store_claim_t *out,
                      int64_t *next_due_ms);

/* ---- order indexes (ordered delivery) ----
 *
 * Ordered delivery needs each PENDING delivery of the subscriber in the order index. Only
 * subscribers marked in the store keep one, so that the others pay nothing for it at
 * ingest and at each outcome. The delivery worker keeps the marks in step with the
 * config's `ordered` through store_order_step, one bounded transaction at a time. */
typedef enum {
    STORE_ORDER_NONE = 0,     /* no order index is kept */
    STORE_ORDER_BUILDING = 1, /* every write keeps it, older deliveries are being added */
    STORE_ORDER_COMPLETE = 2, /* it holds every PENDING delivery: store_claim_first works */
} store_order_state_t;

/* Where a store_order_step job stands; zero-initialised is the start. */
typedef struct {
    int phase;
    int64_t due_ms, end_due_ms; /* building: the next due entry to add, the last one */
    uint64_t id, end_id;
} store_order_cursor_t;

/* One step of making subscriber's order index kept (on: build it) or not (drop it), doing
 * at most max entries; call again with the same cursor while *more. Building drops what
 * is left of an older index, marks the subscriber BUILDING (from then on every write keeps
 * its order entries), adds the entries of the deliveries already due, then marks it
 * COMPLETE; dropping unmarks it, then deletes its order entries. Writer thread. */
int store_order_step(store_wtxn_t *tx, const char *subscriber, bool on, store_order_cursor_t *cur,
                     size_t max, bool *more);
/* The order index state of subscriber. Any thread. */
int store_order_state(store_t *st, const char *subscriber, store_order_state_t *out);

/* Whether subscriber is paused (false for a name never paused). */
int store_is_paused(store_t *st, const char *subscriber, bool *paused);
/* Calls fn once for each paused subscriber name (configured or not). */
int store_paused_subscribers(store_t *st, void (*fn)(void *ctx, const char *name), void *ctx);
/* How many committed transactions have paused or resumed a subscriber since the store was
 * opened. A reader that takes this count before store_paused_subscribers has seen every
 * change up to that count, so it need not read the table again until the count moves.
 * Any thread. */
uint64_t store_paused_changes(store_t *st);

/* Calls fn once for each subscriber name that has PENDING deliveries (configured or not). */
int store_pending_subscribers(store_t *st, void (*fn)(void *ctx, const char *name), void *ctx);

int store_get_event(store_t *st, const char *id, size_t id_len, store_event_t *out);
int store_get_delivery(store_t *st, uint64_t id, store_delivery_t *out);

/* Index entries one store_list_dead call examines at most, so that a selective filter
 * cannot make one call (on the HTTP loop thread) walk the whole dead-letter index. At
 * least the largest page the admin API serves, so an unfiltered page is always full. */
#define STORE_DEAD_SCAN_MAX 2000

/* Up to limit dead letters matching f after *cursor, oldest first; *cursor is advanced
 * past the last entry examined; *more tells whether any matching one may follow. After
 * STORE_DEAD_SCAN_MAX entries it stops with what it found (possibly nothing) and *more
 * set, so a page may hold fewer than limit letters while more follow: page on until
 * *more is false. Returns the number filled in out. */
int store_list_dead(store_t *st, const store_dead_filter_t *f, store_dead_cursor_t *cursor,
                    size_t limit, store_delivery_t *out, bool *more);

/* Counters of one subscriber (all zero when it never had a delivery). */
int store_get_counters(store_t *st, const char *subscriber, store_counters_t *out);

/* Size of the data file in bytes and pages in use (for metrics and the retention soak). */
int store_usage(store_t *st, uint64_t *file_bytes, uint64_t *used_bytes);

#endif
