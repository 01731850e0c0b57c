/* store.c -- the gateway's durable state in one LMDB environment (layout: store/FORMAT.md):
 * opening, locking, format checks and upgrades, write transactions, commit and sync, and
 * the record helpers the other store files share. */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/xalloc.h"

static const char META_FORMAT[] = "format";
static const char META_NEXT_DELIVERY[] = "next_delivery_id";
static const char META_NEXT_SEQ[] = "next_event_seq";
static const char META_HEARTBEAT[] = "heartbeat";

/* Bytes kept of error string s: at most ERROR_MAX, cut on a UTF-8 character boundary. */
size_t store__error_len(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len > ERROR_MAX) {
        len = ERROR_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    return len;
}

/* A copy of an error string cut as error_len says. */
char *store__error_dup(const char *s)
{
    return xmemdup0(s ? s : "", store__error_len(s));
}

void store__replace_str(char **dst, char *src)
{
    free(*dst);
    *dst = src;
}

int store__map_err(int rc)
{
    if (rc == MDB_PANIC) return -ENOTRECOVERABLE;
    if (rc == MDB_MAP_FULL || rc == ENOSPC) return -ENOSPC;
    if (rc == MDB_NOTFOUND) return -ENOENT;
    return -EIO;
}

MDB_val store__val(const void *p, size_t n)
{
    MDB_val v = {n, (void *)p};
    return v;
}

bool store__str_eq(codec_str_t s, const char *c)
{
    return strlen(c) == s.len && memcmp(s.p, c, s.len) == 0;
}

/* ---- open / close ---- */

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char *path = xstrdup(dir);
    int rc = 0;
    for (char *p = path + 1; *p && rc == 0; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0700) && errno != EEXIST) rc = -errno;
        *p = '/';
    }
    if (rc == 0 && mkdir(path, 0700) && errno != EEXIST) rc = -errno;
    free(path);
    return rc;
}

static int get_u64_meta(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out)
{
    MDB_val k = store__val(name, strlen(name)), v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *out = 1; /* ids start at 1 so that 0 can mean "none" / "the start" */
        return 0;
    }
    if (rc) return rc;
    if (v.mv_size != 8) return MDB_CORRUPTED;
    *out = codec_get_le64(v.mv_data);
    return 0;
}

/* Writes this version's format stamp. Returns an LMDB code. */
static int stamp_format(store_t *st, MDB_txn *txn)
{
    uint8_t b[4];
    codec_put_le32(b, STORE_FORMAT_VERSION);
    MDB_val k = store__val(META_FORMAT, strlen(META_FORMAT)), v = store__val(b, sizeof(b));
    return mdb_put(txn, st->meta, &k, &v, 0);
}

/* Checks the format version of the environment in txn, stamping a new one; on refusal
 * writes the reason to err and returns -EINVAL. */
static int check_format(store_t *st, MDB_txn *txn, char *err, size_t errlen)
{
    MDB_dbi main_dbi;
    MDB_stat ms;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0) rc = mdb_stat(txn, main_dbi, &ms);
    if (rc == 0) rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta);
    if (rc) {
        snprintf(err, errlen, "store: cannot read the format version: %s", mdb_strerror(rc));
        return store__map_err(rc);
    }
    MDB_val k = store__val(META_FORMAT, strlen(META_FORMAT)), v;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND && ms.ms_entries == 0) {
        /* A new environment: nothing in it yet, so this is ours to stamp. */
        st->opened_version = STORE_FORMAT_VERSION;
        rc = stamp_format(st, txn);
        if (rc)
            snprintf(err, errlen, "store: cannot write the format version: %s", mdb_strerror(rc));
        return rc ? store__map_err(rc) : 0;
    }
    if (rc == MDB_NOTFOUND) {
        snprintf(err, errlen, "store: not a hookgate store (no format version)");
        return -EINVAL;
    }
    if (rc) {
        snprintf(err, errlen, "store: cannot read the format version: %s", mdb_strerror(rc));
        return store__map_err(rc);
    }
    if (v.mv_size != 4) {
        snprintf(err, errlen, "store: unreadable format version record");
        return -EINVAL;
    }
    uint32_t version = codec_get_le32(v.mv_data);
    if (version < STORE_FORMAT_OLDEST || version > STORE_FORMAT_VERSION) {
        snprintf(err, errlen,
                 "store: format version %u, but this hookgate reads only versions %d to %d "
                 "(migrate or use another data_dir)",
                 version, STORE_FORMAT_OLDEST, STORE_FORMAT_VERSION);
        return -EINVAL;
    }
    st->opened_version = version;
    return 0;
}

int store__find_event(MDB_txn *txn, const store_t *st, const char *id, size_t id_len,
                      uint64_t *seq, codec_event_view_t *v)
{
    MDB_val key = store__val(id, id_len), val;
    int rc = mdb_get(txn, st->events, &key, &val);
    if (rc) return store__map_err(rc);
    if (val.mv_size != CODEC_EVENT_SEQ_LEN) return -EBADMSG;
    *seq = codec_get_le64(val.mv_data);
    uint8_t k[8];
    store__id_key(k, *seq);
    key = store__val(k, 8);
    rc = mdb_get(txn, st->received, &key, &val);
    if (rc == MDB_NOTFOUND) return -EBADMSG;
    if (rc) return store__map_err(rc);
    if (codec_event_view(val.mv_data, val.mv_size, v) || v->id.len != id_len ||
        memcmp(v->id.p, id, id_len) != 0)
        return -EBADMSG;
    return 0;
}

/* Version 1 had no order index: build it from the due index (which holds the same
 * deliveries with their due times), as version 2 had it. Returns an LMDB code. */
static int upgrade_from_v1(store_t *st, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, st->due, &c);
    if (rc) return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        size_t nl;
        int64_t due;
        uint64_t id;
        if (codec_due_key_parse(k.mv_data, k.mv_size, &nl, &due, &id)) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint8_t ok[KEY_MAX], dv[8];
        size_t kl = codec_order_key(ok, k.mv_data, nl, id);
        codec_put_be64(dv, codec_time_key(due));
        MDB_val okey = store__val(ok, kl), oval = store__val(dv, 8);
        if ((rc = mdb_put(txn, st->order, &okey, &oval, 0))) break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Version 2 kept an order entry for every pending delivery; version 3 keeps them for the
 * subscribers marked in `ordered`. Marking every subscriber that has order entries as
 * complete keeps the store exact; the delivery worker then drops the indexes of those not
 * configured ordered (store_order_step). Returns an LMDB code. */
static int upgrade_from_v2(store_t *st, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    char name[KEY_MAX + 1];
    uint8_t complete = STORE_ORDER_COMPLETE;
    int rc = mdb_cursor_open(txn, st->order, &c);
    if (rc) return rc;
    /* After each name, jump past all of its keys (name + '\0' + ...) to name + '\1'. */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) {
        size_t nl;
        uint64_t id;
        if (codec_order_key_parse(k.mv_data, k.mv_size, &nl, &id)) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(name, k.mv_data, nl);
        MDB_val nk = store__val(name, nl), nv = store__val(&complete, 1);
        if ((rc = mdb_put(txn, st->ordered, &nk, &nv, 0))) break;
        name[nl] = '\1';
        k = store__val(name, nl + 1);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Rewrites the event that received key seq names (value v, formats 1 to 3) as format 4
 * keeps it, into rec (scratch). An event whose received entry or record cannot be read is
 * left as it is: the damaged store's readers pass it over as before. Returns an LMDB code. */
static int event_to_v4(store_t *st, MDB_txn *txn, uint64_t seq, MDB_val v, core_buf_t *rec)
{
    int64_t received_ms;
    codec_str_t id;
    codec_event_view_t old, now;
    MDB_val ev;
    if (codec_received_parse(v.mv_data, v.mv_size, &received_ms, &id)) return 0;
    MDB_val ik = store__val(id.p, id.len);
    int rc = mdb_get(txn, st->events, &ik, &ev);
    if (rc) return rc == MDB_NOTFOUND ? 0 : rc;
    if (codec_legacy_event_view(ev.mv_data, ev.mv_size, &old)) return 0;
    /* Both views point into the map: encode (a copy) first, and write from the copy. */
    uint64_t *ids = xmalloc((old.ndeliveries ? old.ndeliveries : 1) * sizeof(*ids));
    for (uint32_t i = 0; i < old.ndeliveries; i++)
        ids[i] = codec_event_view_id(&old, i);
    rc = codec_encode_event(rec, old.received_ms, id.p, id.len, old.type.p, old.type.len, ids,
                            old.ndeliveries, old.body.p, old.body.len);
    free(ids);
    if (rc || codec_event_view(rec->p, rec->len, &now)) return MDB_CORRUPTED;
    uint8_t k[8], sv[CODEC_EVENT_SEQ_LEN];
    store__id_key(k, seq);
    codec_put_le64(sv, seq);
    MDB_val rk = store__val(k, 8), rv = store__val(rec->p, rec->len);
    MDB_val nk = store__val(now.id.p, now.id.len), nv = store__val(sv, sizeof(sv));
    rc = mdb_put(txn, st->received, &rk, &rv, 0);
    return rc ? rc : mdb_put(txn, st->events, &nk, &nv, 0);
}

/* Up to version 3 the events table held each event's record under its id, and received
 * mapped sequence numbers to ids. Version 4 keeps the record in received (appended in
 * ingest order, so its pages fill up instead of splitting in the middle of the id order)
 * and only the sequence number under the id. Each key is sought afresh: the puts rewrite
 * the table being walked. Returns an LMDB code. */
static int upgrade_from_v3(store_t *st, MDB_txn *txn)
{
    MDB_cursor *c;
    core_buf_t rec = {0};
    int rc = mdb_cursor_open(txn, st->received, &c);
    if (rc) return rc;
    for (uint64_t seq = 0; rc == 0; seq++) {
        uint8_t kb[8];
        store__id_key(kb, seq);
        MDB_val k = store__val(kb, 8), v;
        if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE))) break;
        if (k.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        seq = codec_get_be64(k.mv_data);
        rc = event_to_v4(st, txn, seq, v, &rec);
    }
    mdb_cursor_close(c);
    core_buf_free(&rec);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int open_dbis(store_t *st, MDB_txn *txn, char *err, size_t errlen)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"events", &st->events},  {"received", &st->received}, {"deliveries", &st->deliveries},
        {"due", &st->due},        {"dead", &st->dead},         {"counters", &st->counters},
        {"order", &st->order},    {"paused", &st->paused},     {"replayed", &st->replayed},
        {"ordered", &st->ordered}};
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc) {
            snprintf(err, errlen, "store: cannot open table %s: %s", dbs[i].name, mdb_strerror(rc));
            return store__map_err(rc);
        }
    }
    if (st->opened_version < STORE_FORMAT_VERSION) {
        /* In the transaction that read the stamp: a crash leaves the old store or the new. */
        int rc = st->opened_version < 2 ? upgrade_from_v1(st, txn) : 0;
        if (rc == 0 && st->opened_version < 3) rc = upgrade_from_v2(st, txn);
        if (rc == 0) rc = upgrade_from_v3(st, txn);
        if (rc == 0) rc = stamp_format(st, txn);
        if (rc) {
            snprintf(err, errlen, "store: cannot upgrade the store to format version %d: %s",
                     STORE_FORMAT_VERSION, mdb_strerror(rc));
            return store__map_err(rc);
        }
    }
    int rc = get_u64_meta(txn, st->meta, META_NEXT_DELIVERY, &st->next_delivery_id);
    if (rc == 0) rc = get_u64_meta(txn, st->meta, META_NEXT_SEQ, &st->next_event_seq);
    if (rc) {
        snprintf(err, errlen, "store: cannot read the id counters: %s", mdb_strerror(rc));
        return store__map_err(rc);
    }
    return 0;
}

/* The pid the holder wrote into the lock file fd (0 when unreadable). */
static long lock_holder(int fd)
{
    char b[32];
    ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
    if (n <= 0) return 0;
    b[n] = '\0';
    return strtol(b, NULL, 10);
}

/* LMDB itself lets several processes share an environment, but each gateway keeps the
 * next delivery id in memory, so two of them on one data_dir would hand out the same
 * ids. An flock on dir/lock (released by the kernel however the holder dies) keeps out
 * a second store_open, in this process too: flock locks belong to the open file. */
static int lock_dir(store_t *st, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "store: cannot open %s: %s", path, strerror(e));
        return -e;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long pid = 0;
        /* The holder writes its pid right after locking: wait up to 100 ms for it. */
        for (int i = 0; e == EWOULDBLOCK && i < 20 && (pid = lock_holder(fd)) == 0; i++)
            nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
        close(fd);
        if (e != EWOULDBLOCK) {
            snprintf(err, errlen, "store: cannot lock %s: %s", path, strerror(e));
            return -e;
        }
        snprintf(err, errlen, "data_dir %s is in use (pid %ld)", dir, pid);
        return -EBUSY;
    }
    char b[32];
    int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, b, (size_t)n, 0) != n) {
        int e = errno;
        snprintf(err, errlen, "store: cannot write %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    st->lock_fd = fd;
    return 0;
}

int store_open(const char *dir, uint64_t map_size_mb, store_t **out, char *err, size_t errlen)
{
    store_t *st = xcalloc(1, sizeof(*st));
    st->statm_fd = -1;
    MDB_txn *txn = NULL;
    int rc = make_dirs(dir);
    if (rc) {
        snprintf(err, errlen, "store: cannot create %s: %s", dir, strerror(-rc));
        free(st);
        return rc;
    }
    if ((rc = lock_dir(st, dir, err, errlen))) {
        free(st);
        return rc;
    }
    /* MDB_NOTLS: read transactions are opened on several threads (HTTP, delivery).
     * MDB_NOMETASYNC, set here once and never changed (changing flags while other threads
     * begin transactions is a data race): one flush per commit, and the meta page rides
     * with the next flush (store.h, "Durability"). */
    if ((rc = mdb_env_create(&st->env)) || (rc = mdb_env_set_maxdbs(st->env, 12)) ||
        (rc = mdb_env_set_mapsize(st->env, (size_t)map_size_mb << 20)) ||
        (rc = mdb_env_open(st->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600))) {
        snprintf(err, errlen, "store: cannot open %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    /* Frees reader slots left behind by a process that was killed. */
    int dead_readers;
    mdb_reader_check(st->env, &dead_readers);
    int mk = mdb_env_get_maxkeysize(st->env);
    st->max_key = mk < KEY_MAX ? (size_t)mk : KEY_MAX;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn))) {
        snprintf(err, errlen, "store: cannot open %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    if ((rc = check_format(st, txn, err, errlen)) || (rc = open_dbis(st, txn, err, errlen))) {
        mdb_txn_abort(txn);
        mdb_env_close(st->env);
        close(st->lock_fd);
        free(st);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc == 0) rc = mdb_env_sync(st->env, 1); /* a new store's stamp is durable at once */
    if (rc) {
        snprintf(err, errlen, "store: cannot initialise %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    *out = st;
    return 0;

fail:
    if (st->env) mdb_env_close(st->env);
    close(st->lock_fd);
    free(st);
    return store__map_err(rc);
}

void store_close(store_t *st)
{
    if (!st) return;
    store_sync(st); /* the last commit's meta page */
    mdb_env_close(st->env);
    if (st->statm_fd >= 0) close(st->statm_fd);
    close(st->lock_fd); /* last: the next opener must find the environment closed */
    free(st);
}

/* ---- write transactions ---- */

int store_wtxn_begin(store_t *st, store_wtxn_t **out)
{
    store_wtxn_t *tx = xcalloc(1, sizeof(*tx));
    int rc = mdb_txn_begin(st->env, NULL, 0, &tx->txn);
    if (rc) {
        free(tx);
        return store__map_err(rc);
    }
    tx->st = st;
    tx->next_delivery_id = st->next_delivery_id;
    tx->next_event_seq = st->next_event_seq;
    *out = tx;
    return 0;
}

static void wtxn_free(store_wtxn_t *tx)
{
    for (size_t i = 0; i < tx->ccap; i++) {
        free(tx->cslots[i].name);
        store_counters_clear(&tx->cslots[i].c);
    }
    free(tx->cslots);
    core_buf_free(&tx->buf);
    free(tx);
}

int store_wtxn_error(store_wtxn_t *tx)
{
    return tx->err;
}

void store_wtxn_abort(store_wtxn_t *tx)
{
    mdb_txn_abort(tx->txn);
    wtxn_free(tx);
}

/* Records the LMDB error rc as the one that broke tx. */
int store__tx_fail(store_wtxn_t *tx, int rc)
{
    tx->err = store__map_err(rc);
    return tx->err;
}

static int tx_put(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, const void *v,
                  size_t vl, unsigned flags)
{
    MDB_val key = store__val(k, kl), data = store__val(v, vl);
    int rc = mdb_put(tx->txn, dbi, &key, &data, flags);
    tx->nwrites++;
    return rc ? store__tx_fail(tx, rc) : 0;
}

int store__tx_put(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, const void *v, size_t vl)
{
    return tx_put(tx, dbi, k, kl, v, vl, 0);
}

int store__tx_append(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, const void *v,
                     size_t vl)
{
    return tx_put(tx, dbi, k, kl, v, vl, MDB_APPEND);
}

/* Deleting what is already gone is fine: the goal state holds. */
int store__tx_del(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl)
{
    MDB_val key = store__val(k, kl);
    int rc = mdb_del(tx->txn, dbi, &key, NULL);
    if (rc == MDB_NOTFOUND) return 0;
    tx->nwrites++;
    return rc ? store__tx_fail(tx, rc) : 0;
}

/* Ends a write operation that began when tx had made `writes` writes. Each operation
 * checks what can fail (records it must decode, counters it must change) before its first
 * write, so its own errors leave nothing behind; should one come after a write all the
 * same, half an operation must not commit: the error then breaks the transaction. */
int store__op_end(store_wtxn_t *tx, size_t writes, int rc)
{
    if (rc && !tx->err && tx->nwrites != writes) tx->err = rc;
    return rc;
}

/* 0 with *v pointing into the map (valid until the next write), -ENOENT, or an error. */
int store__tx_get(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, MDB_val *v)
{
    MDB_val key = store__val(k, kl);
    int rc = mdb_get(tx->txn, dbi, &key, v);
    if (rc == MDB_NOTFOUND) return -ENOENT;
    return rc ? store__tx_fail(tx, rc) : 0;
}

/* The error of a failed mdb_txn_commit. A failed meta-page write puts LMDB into its
 * fatal state but returns the plain errno (e.g. EIO); only later transactions get
 * MDB_PANIC. Beginning a read transaction tells the two apart, so the commit that broke
 * the environment already reports -ENOTRECOVERABLE. LMDB also reports a short write as
 * EIO, which is what a full disk gives: with less than DISK_FULL_BYTES free on the store's
 * filesystem the failure is taken for a full disk (-ENOSPC), which heals by itself. */
#define DISK_FULL_BYTES (8u << 20)
static int commit_err(store_t *st, int rc)
{
    MDB_txn *probe;
    int prc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &probe);
    if (prc == 0) mdb_txn_abort(probe);
    if (prc == MDB_PANIC) return -ENOTRECOVERABLE;
    struct statvfs fs;
    if (rc == EIO && fstatvfs(st->lock_fd, &fs) == 0 &&
        (uint64_t)fs.f_bavail * fs.f_frsize < DISK_FULL_BYTES)
        return -ENOSPC;
    return store__map_err(rc);
}

/* Commits tx without the extra flush of store_wtxn_commit; sets *wrote when LMDB wrote
 * (and flushed) anything: a transaction that changed nothing costs it no I/O at all. */
static int counters_flush(store_wtxn_t *tx);

static int commit(store_wtxn_t *tx, bool *wrote)
{
    store_t *st = tx->st;
    int rc = tx->err;
    *wrote = false;
    if (rc == 0) rc = counters_flush(tx);
    if (rc == 0 && tx->next_delivery_id != st->next_delivery_id) {
        uint8_t b[8];
        codec_put_le64(b, tx->next_delivery_id);
        rc = store__tx_put(tx, st->meta, META_NEXT_DELIVERY, strlen(META_NEXT_DELIVERY), b, 8);
    }
    if (rc == 0 && tx->next_event_seq != st->next_event_seq) {
        uint8_t b[8];
        codec_put_le64(b, tx->next_event_seq);
        rc = store__tx_put(tx, st->meta, META_NEXT_SEQ, strlen(META_NEXT_SEQ), b, 8);
    }
    if (rc) {
        store_wtxn_abort(tx);
        return rc;
    }
    size_t txnid = mdb_txn_id(tx->txn);
    rc = mdb_txn_commit(tx->txn); /* frees the LMDB transaction whatever the result */
    if (rc == 0) {
        st->next_delivery_id = tx->next_delivery_id;
        st->next_event_seq = tx->next_event_seq;
        if (tx->paused_written) atomic_fetch_add(&st->paused_changes, 1);
    }
    wtxn_free(tx);
    if (rc) {
        /* A full map is found before any I/O; anything else may have been a failed flush. */
        if (rc != MDB_MAP_FULL) st->flush_failed = true;
        return commit_err(st, rc);
    }
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    *wrote = info.me_last_txnid == txnid;
    if (*wrote) st->unsynced = true;
    return 0;
}

int store_wtxn_commit(store_wtxn_t *tx)
{
    store_t *st = tx->st;
    bool wrote;
    int rc = commit(tx, &wrote);
    /* No flush happened, but the caller may count on this commit's flush for an earlier
     * commit's meta page. */
    if (rc == 0 && !wrote && st->unsynced) rc = store_sync(st);
    return rc;
}

/* Finds LMDB's map: mdb_env_info reports only a fixed address (none here), so the map is
 * the mapping in /proc/self/maps that holds a value read from it. */
static int find_map(store_t *st)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc) return store__map_err(rc);
    MDB_val k = {sizeof(META_FORMAT) - 1, (void *)META_FORMAT}, v;
    rc = mdb_get(txn, st->meta, &k, &v);
    uintptr_t p = rc ? 0 : (uintptr_t)v.mv_data;
    mdb_txn_abort(txn);
    if (rc) return store__map_err(rc);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -errno;
    char line[512];
    unsigned long lo, hi;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= p && p < hi) {
            st->map_addr = (void *)lo;
            st->map_len = hi - lo;
            break;
        }
        while (!strchr(line, '\n') && fgets(line, sizeof(line), f)) /* rest of a long line */
            ;
    }
    fclose(f);
    return st->map_addr ? 0 : -ENOENT;
}

uint32_t store_opened_version(const store_t *st)
{
    return st->opened_version;
}

uint64_t store_paused_changes(store_t *st)
{
    return atomic_load(&st->paused_changes);
}

/* The process's file-backed resident bytes: statm's third field ("shared"), which counts
 * the store's mapped pages along with the mapped parts of the binary and its libraries. */
static int mapped_file_bytes(store_t *st, uint64_t *out)
{
    if (st->statm_fd < 0 && (st->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    char b[128];
    ssize_t n = pread(st->statm_fd, b, sizeof(b) - 1, 0);
    if (n < 0) return -errno;
    b[n] = '\0';
    unsigned long long size, resident, shared;
    if (sscanf(b, "%llu %llu %llu", &size, &resident, &shared) != 3) return -EINVAL;
    *out = (uint64_t)shared * (uint64_t)sysconf(_SC_PAGESIZE);
    return 0;
}

int store_trim_mapped_pages(store_t *st, size_t budget_bytes)
{
    uint64_t mapped;
    int rc;
    if ((rc = mapped_file_bytes(st, &mapped)) != 0) return rc;
    /* The floor follows what a drop leaves (libraries' pages, which come and go), so the
     * budget counts the store's pages only. */
    if (mapped < st->mapped_floor_bytes + budget_bytes) return 0;
    if (!st->map_addr && (rc = find_map(st)) != 0) return rc;
    if (madvise(st->map_addr, st->map_len, MADV_DONTNEED) != 0) return -errno;
    if ((rc = mapped_file_bytes(st, &st->mapped_floor_bytes)) != 0) return rc;
    return 1;
}

int store_sync(store_t *st)
{
    if (st->flush_failed) {
        /* Write a meta page afresh: one that was pending when a flush failed may be marked
         * clean in the page cache without being on disk, and no later flush would write it. */
        store_wtxn_t *tx;
        bool wrote;
        int rc = store_wtxn_begin(st, &tx);
        if (rc) return rc;
        if ((rc = store_touch(tx)) != 0) {
            store_wtxn_abort(tx);
            return rc;
        }
        if ((rc = commit(tx, &wrote)) != 0) return rc;
        st->flush_failed = false; /* its meta page was written after every failure */
    }
    if (!st->unsynced) return 0;
    int rc = mdb_env_sync(st->env, 1);
    if (rc) {
        st->flush_failed = true;
        return commit_err(st, rc);
    }
    st->unsynced = false;
    return 0;
}

int store_touch(store_wtxn_t *tx)
{
    store_t *st = tx->st;
    uint64_t n;
    if (tx->err) return tx->err;
    int rc = get_u64_meta(tx->txn, st->meta, META_HEARTBEAT, &n);
    if (rc) return store__tx_fail(tx, rc);
    uint8_t b[8];
    codec_put_le64(b, n + 1);
    return store__tx_put(tx, st->meta, META_HEARTBEAT, strlen(META_HEARTBEAT), b, 8);
}

/* ---- record helpers inside a write transaction ---- */

void store__id_key(uint8_t k[8], uint64_t id)
{
    codec_put_be64(k, id);
}

/* Reads delivery id; -ENOENT when it is missing, -EBADMSG when its record cannot be
 * decoded. */
int store__read_delivery(store_wtxn_t *tx, uint64_t id, store_delivery_t *d)
{
    uint8_t k[8];
    MDB_val v;
    store__id_key(k, id);
    int rc = store__tx_get(tx, tx->st->deliveries, k, 8, &v);
    if (rc) return rc;
    if (codec_decode_delivery(v.mv_data, v.mv_size, d)) return -EBADMSG;
    d->id = id;
    return 0;
}

/* Loads delivery id; -ENOENT when it is missing or not in state want, -EIO when its
 * record cannot be decoded. */
int store__load_delivery(store_wtxn_t *tx, uint64_t id, store_state_t want, store_delivery_t *d)
{
    int rc = store__read_delivery(tx, id, d);
    if (rc) return rc == -EBADMSG ? -EIO : rc;
    if (d->state != want) {
        store_delivery_clear(d);
        return -ENOENT;
    }
    return 0;
}

/* Stands in for delivery id of subscriber, due at due_ms, whose record is missing or cannot
 * be decoded: a PENDING record with what its due key says and nothing else known (the
 * minimal record of FORMAT.md), so that it can be dead-lettered with exact counters.
 * -ENOENT when the due index does not name it. */
int store__corrupt_stand_in(store_wtxn_t *tx, const char *subscriber, int64_t due_ms, uint64_t id,
                            store_delivery_t *d)
{
    uint8_t k[KEY_MAX];
    size_t kl = codec_due_key(k, subscriber, strlen(subscriber), due_ms, id);
    MDB_val v;
    int rc = store__tx_get(tx, tx->st->due, k, kl, &v);
    if (rc) return rc;
    memset(d, 0, sizeof(*d));
    d->id = id;
    d->state = STORE_PENDING;
    d->next_attempt_ms = due_ms;
    d->subscriber = xstrdup(subscriber);
    d->event_id = xstrdup("");
    d->event_type = xstrdup("");
    d->last_error = xstrdup("");
    return 0;
}

int store__save_delivery(store_wtxn_t *tx, const store_delivery_t *d)
{
    uint8_t k[8];
    store__id_key(k, d->id);
    if (codec_encode_delivery(&tx->buf, d)) return -EINVAL;
    return store__tx_put(tx, tx->st->deliveries, k, 8, tx->buf.p, tx->buf.len);
}

static void bump(uint64_t *v, int delta)
{
    if (delta > 0) (*v)++;
    if (delta < 0 && *v > 0) (*v)--; /* never wraps, even over a damaged record */
}

/* An `ordered` table value; -EIO when it is not one. */
int store__order_state_parse(const MDB_val *v, store_order_state_t *out)
{
    uint8_t b = v->mv_size == 1 ? *(const uint8_t *)v->mv_data : 0;
    if (b != STORE_ORDER_BUILDING && b != STORE_ORDER_COMPLETE) return -EIO;
    *out = (store_order_state_t)b;
    return 0;
}

uint64_t store__name_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3u;
    return h;
}

/* The slot of name in the transaction's counters table, free or not. */
counters_slot_t *store__counters_find(store_wtxn_t *tx, const char *name, uint64_t h)
{
    size_t mask = tx->ccap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        counters_slot_t *s = &tx->cslots[i];
        if (!s->name || (s->hash == h && strcmp(s->name, name) == 0)) return s;
    }
}

static void counters_grow(store_wtxn_t *tx)
{
    counters_slot_t *old = tx->cslots;
    size_t oldcap = tx->ccap;
    tx->ccap = oldcap ? oldcap * 2 : 8;
    tx->cslots = xcalloc(tx->ccap, sizeof(*tx->cslots));
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].name) *store__counters_find(tx, old[i].name, old[i].hash) = old[i];
    free(old);
}

/* Reads the counters of subscriber name (all zero when it has none) and its order index
 * state into the transaction's table unless they are there already. Writes nothing; -EIO
 * when a stored record cannot be decoded. A write operation loads the subscribers it will
 * change before its first write: their counters, and whether their pending deliveries
 * need order entries. */
int store__counters_load(store_wtxn_t *tx, const char *name)
{
    uint64_t h = store__name_hash(name);
    counters_slot_t *s = tx->ccap ? store__counters_find(tx, name, h) : NULL;
    if (s && s->name) return 0;
    store_counters_t c = {0};
    store_order_state_t order = STORE_ORDER_NONE;
    MDB_val v;
    size_t nl = strlen(name);
    int rc = store__tx_get(tx, tx->st->ordered, name, nl, &v);
    if (rc == 0) rc = store__order_state_parse(&v, &order);
    if (rc == -ENOENT) rc = 0;
    if (rc) return rc;
    rc = store__tx_get(tx, tx->st->counters, name, nl, &v);
    if (rc == 0 && codec_decode_counters(v.mv_data, v.mv_size, &c)) rc = -EIO;
    if (rc == -ENOENT) {
        c.last_error = xstrdup("");
        rc = 0;
    }
    if (rc) return rc;
    if (2 * (tx->cused + 1) > tx->ccap) counters_grow(tx);
    s = store__counters_find(tx, name, h);
    s->name = xstrdup(name);
    s->hash = h;
    s->c = c;
    s->order = order;
    tx->cused++;
    return 0;
}

/* Applies dl to the counters of name, which counters_load has read in this transaction
 * (so this cannot fail). */
void store__counters_change(store_wtxn_t *tx, const char *name, const counters_delta_t *dl)
{
    counters_slot_t *s = store__counters_find(tx, name, store__name_hash(name));
    store_counters_t *c = &s->c;
    bump(&c->pending, dl->pending);
    bump(&c->dead, dl->dead);
    if (dl->delivered) c->delivered++;
    if (dl->failed) c->failed_attempts++;
    if (dl->last_success_ms) c->last_success_ms = dl->last_success_ms;
    if (dl->last_error) store__replace_str(&c->last_error, store__error_dup(dl->last_error));
    s->dirty = true;
}

/* Puts the counters this transaction changed back into the table (at commit). */
static int counters_flush(store_wtxn_t *tx)
{
    int rc = 0;
    for (size_t i = 0; i < tx->ccap && rc == 0; i++) {
        counters_slot_t *s = &tx->cslots[i];
        if (!s->name || !s->dirty) continue;
        rc = codec_encode_counters(&tx->buf, &s->c);
        if (rc == 0)
            rc = store__tx_put(tx, tx->st->counters, s->name, strlen(s->name), tx->buf.p,
                               tx->buf.len);
        s->dirty = false;
    }
    return rc;
}

/* Whether subscriber name (loaded with counters_load) keeps an order index. */
static bool keeps_order(store_wtxn_t *tx, const char *name)
{
    return store__counters_find(tx, name, store__name_hash(name))->order != STORE_ORDER_NONE;
}

/* A PENDING delivery is in the due index (by due time, for claims) and, when its
 * subscriber keeps one, in the order index (by id, for ordered delivery, with its due time
 * as the value). name is NUL-terminated, nl long, and loaded with counters_load. */
int store__index_put(store_wtxn_t *tx, const char *name, size_t nl, int64_t due_ms, uint64_t id)
{
    uint8_t k[KEY_MAX], due[8];
    size_t kl = codec_due_key(k, name, nl, due_ms, id);
    int rc = store__tx_put(tx, tx->st->due, k, kl, "", 0);
    if (rc || !keeps_order(tx, name)) return rc;
    kl = codec_order_key(k, name, nl, id);
    codec_put_be64(due, codec_time_key(due_ms));
    return store__tx_put(tx, tx->st->order, k, kl, due, sizeof(due));
}

int store__index_del(store_wtxn_t *tx, const char *name, size_t nl, int64_t due_ms, uint64_t id)
{
    uint8_t k[KEY_MAX];
    size_t kl = codec_due_key(k, name, nl, due_ms, id);
    int rc = store__tx_del(tx, tx->st->due, k, kl);
    if (rc || !keeps_order(tx, name)) return rc;
    kl = codec_order_key(k, name, nl, id);
    return store__tx_del(tx, tx->st->order, k, kl);
}

int store__due_put(store_wtxn_t *tx, const store_delivery_t *d)
{
    return store__index_put(tx, d->subscriber, strlen(d->subscriber), d->next_attempt_ms, d->id);
}

int store__due_del(store_wtxn_t *tx, const store_delivery_t *d)
{
    return store__index_del(tx, d->subscriber, strlen(d->subscriber), d->next_attempt_ms, d->id);
}

int store__dead_put(store_wtxn_t *tx, const store_delivery_t *d)
{
    uint8_t k[CODEC_DEAD_KEY_LEN];
    codec_dead_key(k, d->dead_ms, d->id);
    return store__tx_put(tx, tx->st->dead, k, sizeof(k), "", 0);
}

/* The dead_ms of the newest dead letter (0 when there is none). */
int store__last_dead_ms(store_wtxn_t *tx, int64_t *out)
{
    MDB_cursor *c;
    MDB_val k, v;
    *out = 0;
    int rc = mdb_cursor_open(tx->txn, tx->st->dead, &c);
    if (rc != 0) return store__tx_fail(tx, rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return store__tx_fail(tx, rc);
    uint64_t id;
    if (codec_dead_key_parse(k.mv_data, k.mv_size, out, &id) != 0)
        return store__tx_fail(tx, MDB_CORRUPTED);
    return 0;
}

int store__dead_del(store_wtxn_t *tx, const store_delivery_t *d)
{
    uint8_t k[CODEC_DEAD_KEY_LEN];
    codec_dead_key(k, d->dead_ms, d->id);
    return store__tx_del(tx, tx->st->dead, k, sizeof(k));
}

/* Appends attempt a to d's history (dropping the oldest beyond STORE_MAX_HISTORY) and
 * makes it the last outcome. */
void store__record_attempt(store_delivery_t *d, const store_attempt_t *a)
{
    if (d->nhistory == STORE_MAX_HISTORY) {
        store_attempt_clear(&d->history[0]);
        memmove(d->history, d->history + 1, (d->nhistory - 1) * sizeof(*d->history));
        d->nhistory--;
    } else {
        d->history = xrealloc(d->history, (d->nhistory + 1) * sizeof(*d->history));
    }
    store_attempt_t *h = &d->history[d->nhistory++];
    h->at_ms = a->at_ms;
    h->status = a->status;
    h->duration_ms = a->duration_ms;
    h->error = store__error_dup(a->error);
    d->attempts++;
    d->last_status = a->status;
    store__replace_str(&d->last_error, store__error_dup(a->error));
    if (d->first_attempt_ms == 0) d->first_attempt_ms = a->at_ms;
}

int store__rtxn_begin(store_t *st, MDB_txn **txn)
{
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    return rc ? store__map_err(rc) : 0;
}

int store__rcursor_begin(store_t *st, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **c)
{
    int rc = store__rtxn_begin(st, txn);
    if (rc) return rc;
    if ((rc = mdb_cursor_open(*txn, dbi, c)) != 0) {
        mdb_txn_abort(*txn);
        return store__map_err(rc);
    }
    return 0;
}

int store_usage(store_t *st, uint64_t *file_bytes, uint64_t *used_bytes)
{
    MDB_envinfo info;
    MDB_stat ms;
    const char *dir;
    struct stat sb;
    char path[4096];
    if (mdb_env_info(st->env, &info) || mdb_env_stat(st->env, &ms) ||
        mdb_env_get_path(st->env, &dir))
        return -EIO;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (stat(path, &sb)) return -errno;
    *file_bytes = (uint64_t)sb.st_size;
    *used_bytes = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    return 0;
}
