/* store.c -- the gateway's durable state in one LMDB environment (layout: store/FORMAT.md). */
#include "store/store.h"

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

#include "core/buf.h"
#include "core/xalloc.h"
#include "store/codec.h"

#define KEY_MAX 511    /* LMDB's default maximum key size; our key buffers are this big */
#define ERROR_MAX 1024 /* bytes kept of an error string, so that records stay bounded */

struct store {
    int lock_fd; /* dir/lock, flock'ed exclusively while the store is open */
    MDB_env *env;
    MDB_dbi meta, events, received, deliveries, due, dead, counters, order, paused, replayed,
        ordered;
    size_t max_key;
    uint32_t opened_version; /* the format found at open; an older one is upgraded there */
    /* Next ids as last committed; read and written by the writer thread only. */
    uint64_t next_delivery_id, next_event_seq;
    /* Writer thread only. unsynced: a commit's meta page may not be on disk yet (it is
     * flushed by the next commit or store_sync). flush_failed: a commit or sync failed
     * since the last meta page that was written afresh, so a flush alone proves nothing. */
    bool unsynced, flush_failed;
    /* LMDB's read-only map of the file, found by the first store_drop_mapped_pages. */
    void *map_addr;
    size_t map_len;
};

/* One subscriber's counters as the transaction leaves them: read once, changed in memory
 * by each write, and put back once at commit, so that a batch of outcomes for one
 * subscriber costs one counters write instead of one per outcome. With them, whether the
 * subscriber has an order index to keep. */
typedef struct {
    char *name; /* NULL: a free slot */
    uint64_t hash;
    store_counters_t c;
    bool dirty;
    store_order_state_t order; /* its order index state, read with the counters */
} counters_slot_t;

struct store_wtxn {
    store_t *st;
    MDB_txn *txn;
    /* Ids handed out by this transaction; they become the store's on commit, so an
     * aborted transaction gives its ids back. */
    uint64_t next_delivery_id, next_event_seq;
    /* The first LMDB error that broke the transaction (a store failure); every later call
     * returns it. An operation's own error (a record it cannot decode, -ENOENT) is only
     * returned: the operation wrote nothing, and the transaction stays good. */
    int err;
    size_t nwrites;          /* puts and deletes so far: tells whether a failing operation wrote */
    counters_slot_t *cslots; /* open addressing, ccap a power of two (0: none yet) */
    size_t ccap, cused;
    core_buf_t buf;
};

static const char META_FORMAT[] = "format";
static const char META_NEXT_DELIVERY[] = "next_delivery_id";
static const char META_NEXT_SEQ[] = "next_event_seq";
static const char META_HEARTBEAT[] = "heartbeat";

/* Bytes kept of error string s: at most ERROR_MAX, cut on a UTF-8 character boundary. */
static size_t error_len(const char *s)
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
static char *error_dup(const char *s)
{
    return xmemdup0(s ? s : "", error_len(s));
}

static void replace_str(char **dst, char *src)
{
    free(*dst);
    *dst = src;
}

static int map_err(int rc)
{
    if (rc == MDB_PANIC) return -ENOTRECOVERABLE;
    if (rc == MDB_MAP_FULL || rc == ENOSPC) return -ENOSPC;
    if (rc == MDB_NOTFOUND) return -ENOENT;
    return -EIO;
}

static MDB_val val(const void *p, size_t n)
{
    MDB_val v = {n, (void *)p};
    return v;
}

static bool str_eq(codec_str_t s, const char *c)
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
    MDB_val k = val(name, strlen(name)), v;
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
    MDB_val k = val(META_FORMAT, strlen(META_FORMAT)), v = val(b, sizeof(b));
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
        return map_err(rc);
    }
    MDB_val k = val(META_FORMAT, strlen(META_FORMAT)), v;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND && ms.ms_entries == 0) {
        /* A new environment: nothing in it yet, so this is ours to stamp. */
        st->opened_version = STORE_FORMAT_VERSION;
        rc = stamp_format(st, txn);
        if (rc)
            snprintf(err, errlen, "store: cannot write the format version: %s", mdb_strerror(rc));
        return rc ? map_err(rc) : 0;
    }
    if (rc == MDB_NOTFOUND) {
        snprintf(err, errlen, "store: not a hookgate store (no format version)");
        return -EINVAL;
    }
    if (rc) {
        snprintf(err, errlen, "store: cannot read the format version: %s", mdb_strerror(rc));
        return map_err(rc);
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
        MDB_val okey = val(ok, kl), oval = val(dv, 8);
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
        MDB_val nk = val(name, nl), nv = val(&complete, 1);
        if ((rc = mdb_put(txn, st->ordered, &nk, &nv, 0))) break;
        name[nl] = '\1';
        k = val(name, nl + 1);
    }
    mdb_cursor_close(c);
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
            return map_err(rc);
        }
    }
    if (st->opened_version < STORE_FORMAT_VERSION) {
        /* In the transaction that read the stamp: a crash leaves the old store or the new. */
        int rc = st->opened_version < 2 ? upgrade_from_v1(st, txn) : 0;
        if (rc == 0) rc = upgrade_from_v2(st, txn);
        if (rc == 0) rc = stamp_format(st, txn);
        if (rc) {
            snprintf(err, errlen, "store: cannot upgrade the store to format version %d: %s",
                     STORE_FORMAT_VERSION, mdb_strerror(rc));
            return map_err(rc);
        }
    }
    int rc = get_u64_meta(txn, st->meta, META_NEXT_DELIVERY, &st->next_delivery_id);
    if (rc == 0) rc = get_u64_meta(txn, st->meta, META_NEXT_SEQ, &st->next_event_seq);
    if (rc) {
        snprintf(err, errlen, "store: cannot read the id counters: %s", mdb_strerror(rc));
        return map_err(rc);
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
    return map_err(rc);
}

void store_close(store_t *st)
{
    if (!st) return;
    store_sync(st); /* the last commit's meta page */
    mdb_env_close(st->env);
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
        return map_err(rc);
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
static int tx_fail(store_wtxn_t *tx, int rc)
{
    tx->err = map_err(rc);
    return tx->err;
}

static int tx_put(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, const void *v, size_t vl)
{
    MDB_val key = val(k, kl), data = val(v, vl);
    int rc = mdb_put(tx->txn, dbi, &key, &data, 0);
    tx->nwrites++;
    return rc ? tx_fail(tx, rc) : 0;
}

/* Deleting what is already gone is fine: the goal state holds. */
static int tx_del(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl)
{
    MDB_val key = val(k, kl);
    int rc = mdb_del(tx->txn, dbi, &key, NULL);
    if (rc == MDB_NOTFOUND) return 0;
    tx->nwrites++;
    return rc ? tx_fail(tx, rc) : 0;
}

/* Ends a write operation that began when tx had made `writes` writes. Each operation
 * checks what can fail (records it must decode, counters it must change) before its first
 * write, so its own errors leave nothing behind; should one come after a write all the
 * same, half an operation must not commit: the error then breaks the transaction. */
static int op_end(store_wtxn_t *tx, size_t writes, int rc)
{
    if (rc && !tx->err && tx->nwrites != writes) tx->err = rc;
    return rc;
}

/* 0 with *v pointing into the map (valid until the next write), -ENOENT, or an error. */
static int tx_get(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, MDB_val *v)
{
    MDB_val key = val(k, kl);
    int rc = mdb_get(tx->txn, dbi, &key, v);
    if (rc == MDB_NOTFOUND) return -ENOENT;
    return rc ? tx_fail(tx, rc) : 0;
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
    return map_err(rc);
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
        rc = tx_put(tx, st->meta, META_NEXT_DELIVERY, strlen(META_NEXT_DELIVERY), b, 8);
    }
    if (rc == 0 && tx->next_event_seq != st->next_event_seq) {
        uint8_t b[8];
        codec_put_le64(b, tx->next_event_seq);
        rc = tx_put(tx, st->meta, META_NEXT_SEQ, strlen(META_NEXT_SEQ), b, 8);
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
    if (rc) return map_err(rc);
    MDB_val k = {sizeof(META_FORMAT) - 1, (void *)META_FORMAT}, v;
    rc = mdb_get(txn, st->meta, &k, &v);
    uintptr_t p = rc ? 0 : (uintptr_t)v.mv_data;
    mdb_txn_abort(txn);
    if (rc) return map_err(rc);
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

int store_drop_mapped_pages(store_t *st)
{
    int rc;
    if (!st->map_addr && (rc = find_map(st)) != 0) return rc;
    return madvise(st->map_addr, st->map_len, MADV_DONTNEED) == 0 ? 0 : -errno;
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
    if (rc) return tx_fail(tx, rc);
    uint8_t b[8];
    codec_put_le64(b, n + 1);
    return tx_put(tx, st->meta, META_HEARTBEAT, strlen(META_HEARTBEAT), b, 8);
}

/* ---- record helpers inside a write transaction ---- */

static void id_key(uint8_t k[8], uint64_t id)
{
    codec_put_be64(k, id);
}

/* Reads delivery id; -ENOENT when it is missing, -EBADMSG when its record cannot be
 * decoded. */
static int read_delivery(store_wtxn_t *tx, uint64_t id, store_delivery_t *d)
{
    uint8_t k[8];
    MDB_val v;
    id_key(k, id);
    int rc = tx_get(tx, tx->st->deliveries, k, 8, &v);
    if (rc) return rc;
    if (codec_decode_delivery(v.mv_data, v.mv_size, d)) return -EBADMSG;
    d->id = id;
    return 0;
}

/* Loads delivery id; -ENOENT when it is missing or not in state want, -EIO when its
 * record cannot be decoded. */
static int load_delivery(store_wtxn_t *tx, uint64_t id, store_state_t want, store_delivery_t *d)
{
    int rc = read_delivery(tx, id, d);
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
static int corrupt_stand_in(store_wtxn_t *tx, const char *subscriber, int64_t due_ms, uint64_t id,
                            store_delivery_t *d)
{
    uint8_t k[KEY_MAX];
    size_t kl = codec_due_key(k, subscriber, strlen(subscriber), due_ms, id);
    MDB_val v;
    int rc = tx_get(tx, tx->st->due, k, kl, &v);
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

static int save_delivery(store_wtxn_t *tx, const store_delivery_t *d)
{
    uint8_t k[8];
    id_key(k, d->id);
    if (codec_encode_delivery(&tx->buf, d)) return -EINVAL;
    return tx_put(tx, tx->st->deliveries, k, 8, tx->buf.p, tx->buf.len);
}

/* A change to apply to one subscriber's counters. */
typedef struct {
    int pending, dead; /* -1, 0 or +1 */
    bool delivered, failed;
    int64_t last_success_ms; /* 0: unchanged */
    const char *last_error;  /* NULL: unchanged */
} counters_delta_t;

static void bump(uint64_t *v, int delta)
{
    if (delta > 0) (*v)++;
    if (delta < 0 && *v > 0) (*v)--; /* never wraps, even over a damaged record */
}

/* An `ordered` table value; -EIO when it is not one. */
static int order_state_parse(const MDB_val *v, store_order_state_t *out)
{
    uint8_t b = v->mv_size == 1 ? *(const uint8_t *)v->mv_data : 0;
    if (b != STORE_ORDER_BUILDING && b != STORE_ORDER_COMPLETE) return -EIO;
    *out = (store_order_state_t)b;
    return 0;
}

static uint64_t name_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3u;
    return h;
}

/* The slot of name in the transaction's counters table, free or not. */
static counters_slot_t *counters_find(store_wtxn_t *tx, const char *name, uint64_t h)
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
        if (old[i].name) *counters_find(tx, old[i].name, old[i].hash) = old[i];
    free(old);
}

/* Reads the counters of subscriber name (all zero when it has none) and its order index
 * state into the transaction's table unless they are there already. Writes nothing; -EIO
 * when a stored record cannot be decoded. A write operation loads the subscribers it will
 * change before its first write: their counters, and whether their pending deliveries
 * need order entries. */
static int counters_load(store_wtxn_t *tx, const char *name)
{
    uint64_t h = name_hash(name);
    counters_slot_t *s = tx->ccap ? counters_find(tx, name, h) : NULL;
    if (s && s->name) return 0;
    store_counters_t c = {0};
    store_order_state_t order = STORE_ORDER_NONE;
    MDB_val v;
    size_t nl = strlen(name);
    int rc = tx_get(tx, tx->st->ordered, name, nl, &v);
    if (rc == 0) rc = order_state_parse(&v, &order);
    if (rc == -ENOENT) rc = 0;
    if (rc) return rc;
    rc = tx_get(tx, tx->st->counters, name, nl, &v);
    if (rc == 0 && codec_decode_counters(v.mv_data, v.mv_size, &c)) rc = -EIO;
    if (rc == -ENOENT) {
        c.last_error = xstrdup("");
        rc = 0;
    }
    if (rc) return rc;
    if (2 * (tx->cused + 1) > tx->ccap) counters_grow(tx);
    s = counters_find(tx, name, h);
    s->name = xstrdup(name);
    s->hash = h;
    s->c = c;
    s->order = order;
    tx->cused++;
    return 0;
}

/* Applies dl to the counters of name, which counters_load has read in this transaction
 * (so this cannot fail). */
static void counters_change(store_wtxn_t *tx, const char *name, const counters_delta_t *dl)
{
    counters_slot_t *s = counters_find(tx, name, name_hash(name));
    store_counters_t *c = &s->c;
    bump(&c->pending, dl->pending);
    bump(&c->dead, dl->dead);
    if (dl->delivered) c->delivered++;
    if (dl->failed) c->failed_attempts++;
    if (dl->last_success_ms) c->last_success_ms = dl->last_success_ms;
    if (dl->last_error) replace_str(&c->last_error, error_dup(dl->last_error));
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
            rc = tx_put(tx, tx->st->counters, s->name, strlen(s->name), tx->buf.p, tx->buf.len);
        s->dirty = false;
    }
    return rc;
}

/* Whether subscriber name (loaded with counters_load) keeps an order index. */
static bool keeps_order(store_wtxn_t *tx, const char *name)
{
    return counters_find(tx, name, name_hash(name))->order != STORE_ORDER_NONE;
}

/* A PENDING delivery is in the due index (by due time, for claims) and, when its
 * subscriber keeps one, in the order index (by id, for ordered delivery, with its due time
 * as the value). name is NUL-terminated, nl long, and loaded with counters_load. */
static int index_put(store_wtxn_t *tx, const char *name, size_t nl, int64_t due_ms, uint64_t id)
{
    uint8_t k[KEY_MAX], due[8];
    size_t kl = codec_due_key(k, name, nl, due_ms, id);
    int rc = tx_put(tx, tx->st->due, k, kl, "", 0);
    if (rc || !keeps_order(tx, name)) return rc;
    kl = codec_order_key(k, name, nl, id);
    codec_put_be64(due, codec_time_key(due_ms));
    return tx_put(tx, tx->st->order, k, kl, due, sizeof(due));
}

static int index_del(store_wtxn_t *tx, const char *name, size_t nl, int64_t due_ms, uint64_t id)
{
    uint8_t k[KEY_MAX];
    size_t kl = codec_due_key(k, name, nl, due_ms, id);
    int rc = tx_del(tx, tx->st->due, k, kl);
    if (rc || !keeps_order(tx, name)) return rc;
    kl = codec_order_key(k, name, nl, id);
    return tx_del(tx, tx->st->order, k, kl);
}

static int due_put(store_wtxn_t *tx, const store_delivery_t *d)
{
    return index_put(tx, d->subscriber, strlen(d->subscriber), d->next_attempt_ms, d->id);
}

static int due_del(store_wtxn_t *tx, const store_delivery_t *d)
{
    return index_del(tx, d->subscriber, strlen(d->subscriber), d->next_attempt_ms, d->id);
}

static int dead_put(store_wtxn_t *tx, const store_delivery_t *d)
{
    uint8_t k[CODEC_DEAD_KEY_LEN];
    codec_dead_key(k, d->dead_ms, d->id);
    return tx_put(tx, tx->st->dead, k, sizeof(k), "", 0);
}

/* The dead_ms of the newest dead letter (0 when there is none). */
static int last_dead_ms(store_wtxn_t *tx, int64_t *out)
{
    MDB_cursor *c;
    MDB_val k, v;
    *out = 0;
    int rc = mdb_cursor_open(tx->txn, tx->st->dead, &c);
    if (rc != 0) return tx_fail(tx, rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return tx_fail(tx, rc);
    uint64_t id;
    if (codec_dead_key_parse(k.mv_data, k.mv_size, out, &id) != 0)
        return tx_fail(tx, MDB_CORRUPTED);
    return 0;
}

static int dead_del(store_wtxn_t *tx, const store_delivery_t *d)
{
    uint8_t k[CODEC_DEAD_KEY_LEN];
    codec_dead_key(k, d->dead_ms, d->id);
    return tx_del(tx, tx->st->dead, k, sizeof(k));
}

/* Appends attempt a to d's history (dropping the oldest beyond STORE_MAX_HISTORY) and
 * makes it the last outcome. */
static void record_attempt(store_delivery_t *d, const store_attempt_t *a)
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
    h->error = error_dup(a->error);
    d->attempts++;
    d->last_status = a->status;
    replace_str(&d->last_error, error_dup(a->error));
    if (d->first_attempt_ms == 0) d->first_attempt_ms = a->at_ms;
}

/* ---- writes ---- */

int store_enqueue(store_wtxn_t *tx, const store_event_in_t *ev, bool *duplicate,
                  uint32_t *ndeliveries)
{
    store_t *st = tx->st;
    if (tx->err) return tx->err;
    if (ev->id_len == 0 || ev->id_len > st->max_key || ev->nsubscribers > UINT32_MAX ||
        ev->type_len > UINT32_MAX || ev->body_len > UINT32_MAX)
        return -EINVAL;
    for (size_t i = 0; i < ev->nsubscribers; i++) {
        size_t nl = strlen(ev->subscribers[i]);
        if (nl == 0 || nl + CODEC_DUE_KEY_EXTRA > st->max_key) return -EINVAL;
    }

    /* The events table doubles as the idempotency index. */
    MDB_val v;
    int rc = tx_get(tx, st->events, ev->id, ev->id_len, &v);
    if (rc == 0) {
        codec_event_view_t view;
        if (codec_event_view(v.mv_data, v.mv_size, &view)) return -EIO;
        *duplicate = true;
        *ndeliveries = view.ndeliveries;
        return 0;
    }
    if (rc != -ENOENT) return rc;
    rc = 0;
    for (size_t i = 0; i < ev->nsubscribers && rc == 0; i++)
        rc = counters_load(tx, ev->subscribers[i]);
    if (rc) return rc;

    size_t n = ev->nsubscribers, writes = tx->nwrites;
    uint64_t *ids = xmalloc(n * sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ids[i] = tx->next_delivery_id + i;
    uint64_t seq = tx->next_event_seq;
    rc = codec_encode_event(&tx->buf, ev->received_ms, seq, ev->type, ev->type_len, ids, n,
                            ev->body, ev->body_len);
    if (rc == 0) rc = tx_put(tx, st->events, ev->id, ev->id_len, tx->buf.p, tx->buf.len);
    if (rc == 0) {
        uint8_t k[8];
        id_key(k, seq);
        codec_encode_received(&tx->buf, ev->received_ms, ev->id, ev->id_len);
        rc = tx_put(tx, st->received, k, 8, tx->buf.p, tx->buf.len);
    }

    char *event_id = xmemdup0(ev->id, ev->id_len);
    char *event_type = xmemdup0(ev->type, ev->type_len);
    counters_delta_t dl = {.pending = 1};
    for (size_t i = 0; i < n && rc == 0; i++) {
        store_delivery_t d = {
            .id = ids[i],
            .event_id = event_id,
            .event_type = event_type,
            .subscriber = (char *)ev->subscribers[i],
            .state = STORE_PENDING,
            .created_ms = ev->received_ms,
            .next_attempt_ms = ev->received_ms,
            .last_error = "",
        };
        rc = save_delivery(tx, &d);
        if (rc == 0) rc = due_put(tx, &d);
        if (rc == 0) counters_change(tx, d.subscriber, &dl);
    }
    free(event_id);
    free(event_type);
    free(ids);
    if (rc) return op_end(tx, writes, rc);
    /* The ids are the transaction's only once the event is stored. */
    tx->next_delivery_id += n;
    tx->next_event_seq++;
    *duplicate = false;
    *ndeliveries = (uint32_t)n;
    return 0;
}

/* Records attempt a on PENDING delivery id: DELIVERED when delivered, else PENDING again,
 * due at due_ms. This is the work of every delivery outcome, so the record is rewritten
 * straight from its stored bytes (codec_encode_delivery_attempt) instead of being decoded
 * into allocations, and the counters change in the transaction's table, written once per
 * batch. Store work of a success: one read, one delete in due (and one in order), one
 * put of the record. */
static int record_outcome(store_wtxn_t *tx, uint64_t id, const store_attempt_t *a, bool delivered,
                          int64_t due_ms)
{
    store_t *st = tx->st;
    uint8_t k[8];
    MDB_val v;
    codec_delivery_view_t d;
    char name[KEY_MAX + 1];
    if (tx->err) return tx->err;
    if (!a) return -EINVAL;
    id_key(k, id);
    int rc = tx_get(tx, st->deliveries, k, 8, &v);
    if (rc) return rc;
    if (codec_delivery_view(v.mv_data, v.mv_size, &d)) return -EIO;
    if (d.state != STORE_PENDING) return -ENOENT;
    /* A PENDING record names a subscriber that fits a due key. */
    if (d.subscriber.len == 0 || d.subscriber.len + CODEC_DUE_KEY_EXTRA > st->max_key ||
        memchr(d.subscriber.p, '\0', d.subscriber.len))
        return -EIO;
    size_t nl = d.subscriber.len, el = error_len(a->error);
    memcpy(name, d.subscriber.p, nl);
    name[nl] = '\0';
    int64_t old_due = d.next_attempt_ms;
    /* Reads only (d stays valid): the counters, then the new record into tx->buf. */
    if ((rc = counters_load(tx, name))) return rc;
    if (codec_encode_delivery_attempt(&tx->buf, &d, delivered ? STORE_DELIVERED : STORE_PENDING,
                                      delivered ? 0 : due_ms, a, el))
        return -EINVAL;
    size_t writes = tx->nwrites;
    rc = index_del(tx, name, nl, old_due, id);
    if (rc == 0) rc = tx_put(tx, st->deliveries, k, 8, tx->buf.p, tx->buf.len);
    if (rc == 0 && !delivered) rc = index_put(tx, name, nl, due_ms, id);
    if (rc) return op_end(tx, writes, rc);
    if (delivered) {
        counters_delta_t dl = {
            .pending = -1, .delivered = true, .last_success_ms = a->at_ms + a->duration_ms};
        counters_change(tx, name, &dl);
    } else {
        char *err = xmemdup0(a->error ? a->error : "", el);
        counters_delta_t dl = {.failed = true, .last_error = err};
        counters_change(tx, name, &dl);
        free(err);
    }
    return 0;
}

int store_ack(store_wtxn_t *tx, uint64_t id, const store_attempt_t *a)
{
    return record_outcome(tx, id, a, true, 0);
}

int store_reschedule(store_wtxn_t *tx, uint64_t id, int64_t due_ms, const store_attempt_t *a)
{
    return record_outcome(tx, id, a, false, due_ms);
}

/* Dead-letters *d (read or stood in for; cleared here). */
static int bury(store_wtxn_t *tx, store_delivery_t *d, int64_t now_ms, const store_attempt_t *a,
                const char *reason)
{
    if (d->state != STORE_PENDING) {
        store_delivery_clear(d);
        return -ENOENT;
    }
    /* New dead letters always go after every existing one in the dead index (even if the
     * clock stepped back), so paging through the list by (dead_ms, id) never misses one
     * that was committed while a client was paging. */
    int64_t newest = 0;
    int rc = counters_load(tx, d->subscriber);
    if (rc == 0) rc = last_dead_ms(tx, &newest);
    if (rc) {
        store_delivery_clear(d);
        return rc;
    }
    size_t writes = tx->nwrites;
    rc = due_del(tx, d);
    if (a) record_attempt(d, a);
    if (reason) replace_str(&d->last_error, error_dup(reason));
    d->state = STORE_DEAD;
    d->next_attempt_ms = 0;
    d->dead_ms = now_ms > newest ? now_ms : newest;
    counters_delta_t dl = {.pending = -1,
                           .dead = 1,
                           .failed = a != NULL,
                           .last_error = (a || reason) ? d->last_error : NULL};
    if (rc == 0) rc = save_delivery(tx, d);
    if (rc == 0) rc = dead_put(tx, d);
    if (rc == 0) counters_change(tx, d->subscriber, &dl);
    store_delivery_clear(d);
    return op_end(tx, writes, rc);
}

int store_bury(store_wtxn_t *tx, uint64_t id, int64_t now_ms, const store_attempt_t *a,
               const char *reason)
{
    store_delivery_t d;
    if (tx->err) return tx->err;
    int rc = read_delivery(tx, id, &d);
    if (rc == -EBADMSG) rc = -EIO;
    return rc ? rc : bury(tx, &d, now_ms, a, reason);
}

int store_bury_corrupt(store_wtxn_t *tx, const char *subscriber, int64_t due_ms, uint64_t id,
                       int64_t now_ms)
{
    store_delivery_t d;
    if (tx->err) return tx->err;
    int rc = read_delivery(tx, id, &d);
    if (rc == -ENOENT || rc == -EBADMSG) rc = corrupt_stand_in(tx, subscriber, due_ms, id, &d);
    return rc ? rc : bury(tx, &d, now_ms, NULL, "corrupt record");
}

int store_kick(store_wtxn_t *tx, uint64_t id, int64_t now_ms)
{
    store_delivery_t d;
    if (tx->err) return tx->err;
    int rc = load_delivery(tx, id, STORE_DEAD, &d);
    if (rc) return rc;
    if ((rc = counters_load(tx, d.subscriber))) {
        store_delivery_clear(&d);
        return rc;
    }
    size_t writes = tx->nwrites;
    rc = dead_del(tx, &d);
    d.state = STORE_PENDING;
    d.attempts = 0;
    d.next_attempt_ms = now_ms;
    d.dead_ms = 0;
    counters_delta_t dl = {.pending = 1, .dead = -1};
    if (rc == 0) rc = save_delivery(tx, &d);
    if (rc == 0) rc = due_put(tx, &d);
    if (rc == 0) counters_change(tx, d.subscriber, &dl);
    store_delivery_clear(&d);
    return op_end(tx, writes, rc);
}

int store_delete_dead(store_wtxn_t *tx, uint64_t id)
{
    store_delivery_t d;
    uint8_t k[8];
    if (tx->err) return tx->err;
    int rc = load_delivery(tx, id, STORE_DEAD, &d);
    if (rc) return rc;
    if ((rc = counters_load(tx, d.subscriber))) {
        store_delivery_clear(&d);
        return rc;
    }
    size_t writes = tx->nwrites;
    id_key(k, id);
    rc = dead_del(tx, &d);
    counters_delta_t dl = {.dead = -1};
    if (rc == 0) rc = tx_del(tx, tx->st->deliveries, k, 8);
    if (rc == 0) counters_change(tx, d.subscriber, &dl);
    store_delivery_clear(&d);
    return op_end(tx, writes, rc);
}

/* ---- the dead-letter index ---- */

/* Positions c on the first dead key after *cur (the start when {0,0}), or from f's since
 * bound when that lies further on. Returns 0 or an LMDB code (MDB_NOTFOUND at the end). */
static int dead_seek(MDB_cursor *c, const store_dead_filter_t *f, const store_dead_cursor_t *cur,
                     MDB_val *k)
{
    MDB_val v;
    uint8_t kb[CODEC_DEAD_KEY_LEN];
    bool start = cur->dead_ms == 0 && cur->id == 0;
    bool strict = !start;
    int64_t ms = cur->dead_ms;
    uint64_t id = cur->id;
    if (f && f->since_ms && (start || f->since_ms > cur->dead_ms)) {
        ms = f->since_ms;
        id = 0; /* ids start at 1: (since, 0) precedes every entry at since */
        strict = false;
    } else if (start) {
        return mdb_cursor_get(c, k, &v, MDB_FIRST);
    }
    codec_dead_key(kb, ms, id);
    *k = val(kb, sizeof(kb));
    int rc = mdb_cursor_get(c, k, &v, MDB_SET_RANGE);
    if (rc == 0 && strict && k->mv_size == sizeof(kb) && memcmp(k->mv_data, kb, sizeof(kb)) == 0)
        rc = mdb_cursor_get(c, k, &v, MDB_NEXT);
    return rc;
}

/* Parses dead key k; false when it lies beyond f's until bound. -EIO when malformed. */
static int dead_in_range(const MDB_val *k, const store_dead_filter_t *f, int64_t *dead_ms,
                         uint64_t *id, bool *in_range)
{
    if (codec_dead_key_parse(k->mv_data, k->mv_size, dead_ms, id)) return -EIO;
    *in_range = !(f && f->until_ms && *dead_ms > f->until_ms);
    return 0;
}

/* Whether the DEAD delivery id in txn matches f's subscriber and type; *v is its record. */
static bool dead_matches(store_t *st, MDB_txn *txn, uint64_t id, const store_dead_filter_t *f,
                         MDB_val *v)
{
    uint8_t k[8];
    id_key(k, id);
    MDB_val key = val(k, 8);
    codec_delivery_view_t d;
    if (mdb_get(txn, st->deliveries, &key, v) || codec_delivery_view(v->mv_data, v->mv_size, &d) ||
        d.state != STORE_DEAD)
        return false;
    if (f && f->subscriber && !str_eq(d.subscriber, f->subscriber)) return false;
    if (f && f->type && !str_eq(d.event_type, f->type)) return false;
    return true;
}

/* Whether an entry after *cur exists within f's time bounds. */
static int dead_more(MDB_cursor *c, const store_dead_filter_t *f, const store_dead_cursor_t *cur,
                     bool *more)
{
    MDB_val k;
    int64_t ms;
    uint64_t id;
    int rc = dead_seek(c, f, cur, &k);
    if (rc == MDB_NOTFOUND) {
        *more = false;
        return 0;
    }
    if (rc) return map_err(rc);
    return dead_in_range(&k, f, &ms, &id, more);
}

/* The bounded bulk walk shared by kick and delete: examines at most max entries. */
static int dead_bulk(store_wtxn_t *tx, const store_dead_filter_t *f, store_dead_cursor_t *cursor,
                     size_t max, bool kick, int64_t now_ms, size_t *done, bool *more)
{
    MDB_cursor *c;
    *done = 0;
    *more = false;
    if (tx->err) return tx->err;
    int rc = mdb_cursor_open(tx->txn, tx->st->dead, &c);
    if (rc) return tx_fail(tx, rc);
    for (size_t examined = 0; examined < max; examined++) {
        MDB_val k;
        int64_t ms;
        uint64_t id;
        bool in_range;
        /* Re-seek every time: the previous step may have deleted entries. */
        rc = dead_seek(c, f, cursor, &k);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            goto out; /* exhausted: *more stays false */
        }
        if (rc) {
            rc = tx_fail(tx, rc);
            goto out;
        }
        if ((rc = dead_in_range(&k, f, &ms, &id, &in_range)) || !in_range) goto out;
        store_dead_cursor_t before = *cursor;
        cursor->dead_ms = ms;
        cursor->id = id;
        MDB_val v;
        if (!dead_matches(tx->st, tx->txn, id, f, &v)) continue;
        rc = kick ? store_kick(tx, id, now_ms) : store_delete_dead(tx, id);
        if (rc && !tx->err && *done > 0) {
            /* This letter cannot be changed (a record it needs is corrupt): keep what was
             * done and stop before it, so the next call fails on it with nothing written. */
            *cursor = before;
            *more = true;
            rc = 0;
            goto out;
        }
        if (rc) goto out;
        (*done)++;
    }
    rc = dead_more(c, f, cursor, more);
out:
    mdb_cursor_close(c);
    return rc;
}

int store_kick_dead(store_wtxn_t *tx, const store_dead_filter_t *f, store_dead_cursor_t *cursor,
                    size_t max, int64_t now_ms, size_t *done, bool *more)
{
    return dead_bulk(tx, f, cursor, max, true, now_ms, done, more);
}

int store_delete_dead_matching(store_wtxn_t *tx, const store_dead_filter_t *f,
                               store_dead_cursor_t *cursor, size_t max, size_t *done, bool *more)
{
    return dead_bulk(tx, f, cursor, max, false, 0, done, more);
}

/* ---- subscriber health: pause and replay ---- */

int store_set_paused(store_wtxn_t *tx, const char *subscriber, bool paused, int64_t now_ms)
{
    size_t nl = strlen(subscriber);
    if (tx->err) return tx->err;
    if (nl == 0 || nl > tx->st->max_key) return -EINVAL;
    if (!paused) return tx_del(tx, tx->st->paused, subscriber, nl);
    uint8_t v[8];
    codec_put_le64(v, (uint64_t)now_ms);
    return tx_put(tx, tx->st->paused, subscriber, nl, v, sizeof(v));
}

uint64_t store_wtxn_event_seq_end(store_wtxn_t *tx)
{
    return tx->next_event_seq;
}

/* replayed index key: the event's sequence number, then the delivery id (both BE). */
static void replayed_key(uint8_t k[16], uint64_t seq, uint64_t id)
{
    codec_put_be64(k, seq);
    codec_put_be64(k + 8, id);
}

/* Adds a PENDING delivery of event id (sequence number seq, record view v read in this
 * transaction) for subscriber, due at now_ms, and links it to the event in the replayed
 * index. Keyed by sequence number, a replay walking in ingest order appends to that index
 * instead of rewriting event records all over the events table, which kept the disk busy
 * enough to slow ingest down. A version 1 event record (no sequence number) is rewritten
 * once as version 2, so that lookups of the event find the link. v points into the map,
 * so what is needed from it is copied before the first write. */
static int replay_event(store_wtxn_t *tx, codec_str_t id, uint64_t seq, const codec_event_view_t *v,
                        const char *subscriber, int64_t now_ms)
{
    store_t *st = tx->st;
    int rc = counters_load(tx, subscriber); /* before the first write */
    if (rc) return rc;
    char *event_id = xmemdup0(id.p, id.len);
    char *type = xmemdup0(v->type.p, v->type.len);
    if (v->seq == 0) {
        size_t n = v->ndeliveries;
        uint64_t *ids = xmalloc((n ? n : 1) * sizeof(*ids));
        for (uint32_t i = 0; i < n; i++)
            ids[i] = codec_event_view_id(v, i);
        char *body = xmemdup0(v->body.p, v->body.len);
        rc = codec_encode_event(&tx->buf, v->received_ms, seq, type, strlen(type), ids, n, body,
                                v->body.len);
        if (rc == 0) rc = tx_put(tx, st->events, event_id, id.len, tx->buf.p, tx->buf.len);
        free(body);
        free(ids);
    }
    store_delivery_t d = {
        .id = tx->next_delivery_id++,
        .event_id = event_id,
        .event_type = type,
        .subscriber = (char *)subscriber,
        .state = STORE_PENDING,
        .created_ms = now_ms,
        .next_attempt_ms = now_ms,
        .last_error = "",
    };
    counters_delta_t dl = {.pending = 1};
    uint8_t k[16];
    replayed_key(k, seq, d.id);
    if (rc == 0) rc = save_delivery(tx, &d);
    if (rc == 0) rc = due_put(tx, &d);
    if (rc == 0) rc = tx_put(tx, st->replayed, k, sizeof(k), "", 0);
    if (rc == 0) counters_change(tx, subscriber, &dl);
    free(event_id);
    free(type);
    return rc;
}

/* Calls fn(ctx, delivery id) for each delivery that replays added to event seq, in txn,
 * until fn returns false. Returns 0 or an LMDB code. */
static int each_replayed(MDB_txn *txn, MDB_dbi dbi, uint64_t seq,
                         bool (*fn)(void *ctx, uint64_t id), void *ctx)
{
    MDB_cursor *c;
    uint8_t kb[16];
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc) return rc;
    replayed_key(kb, seq, 0);
    MDB_val k = val(kb, sizeof(kb)), v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || codec_get_be64(k.mv_data) != seq) break;
        if (!fn(ctx, codec_get_be64((const uint8_t *)k.mv_data + 8))) break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A growable list of delivery ids. */
typedef struct {
    uint64_t *ids;
    size_t n, cap;
} id_list_t;

static bool id_list_add(void *ctx, uint64_t id)
{
    id_list_t *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->ids = xrealloc(l->ids, l->cap * sizeof(*l->ids));
    }
    l->ids[l->n++] = id;
    return true;
}

int store_replay(store_wtxn_t *tx, const char *subscriber, uint64_t *cursor, uint64_t end_seq,
                 size_t max, int64_t now_ms, store_replay_select_t select, void *ctx, size_t *added,
                 bool *more)
{
    store_t *st = tx->st;
    MDB_cursor *c;
    *added = 0;
    *more = false;
    if (tx->err) return tx->err;
    size_t nl = strlen(subscriber);
    if (nl == 0 || nl + CODEC_DUE_KEY_EXTRA > st->max_key) return -EINVAL;
    int rc = mdb_cursor_open(tx->txn, st->received, &c);
    if (rc) return tx_fail(tx, rc);
    uint64_t seq = *cursor;
    for (size_t examined = 0;; examined++) {
        uint8_t kb[8];
        MDB_val k, v, ev;
        int64_t received_ms;
        codec_str_t id;
        codec_event_view_t view;
        /* Sought afresh each time: the writes below may move the pages under a cursor. */
        id_key(kb, seq);
        k = val(kb, 8);
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = tx_fail(tx, rc);
            break;
        }
        if (k.mv_size != 8 || codec_received_parse(v.mv_data, v.mv_size, &received_ms, &id)) {
            rc = -EIO;
            break;
        }
        seq = codec_get_be64(k.mv_data);
        if (seq >= end_seq) break;
        if (examined == max) {
            *more = true;
            break;
        }
        rc = tx_get(tx, st->events, id.p, id.len, &ev);
        if (rc == -ENOENT) rc = -EIO; /* the received index names an event that must exist */
        if (rc == 0 && codec_event_view(ev.mv_data, ev.mv_size, &view)) rc = -EIO;
        if (rc == 0 &&
            select(ctx, view.type.p, view.type.len, view.body.p, view.body.len, view.received_ms)) {
            rc = replay_event(tx, id, seq, &view, subscriber, now_ms);
            if (rc == 0) (*added)++;
        }
        if (rc) break;
        seq++;
    }
    mdb_cursor_close(c);
    if (rc && !tx->err && *added > 0) {
        /* An event that cannot be replayed after others were: keep those and stop before
         * it, so the next call fails on it with nothing written. */
        *more = true;
        rc = 0;
    }
    if (rc == 0) *cursor = seq;
    return rc;
}

/* ---- order indexes ---- */

static int rtxn_begin(store_t *st, MDB_txn **txn);

/* Marks name (loaded with counters_load) with state, in the table and in the transaction's
 * slot, so that the writes after it in this transaction follow it. */
static int set_order_state(store_wtxn_t *tx, const char *name, store_order_state_t state)
{
    size_t nl = strlen(name);
    uint8_t b = (uint8_t)state;
    int rc = state == STORE_ORDER_NONE ? tx_del(tx, tx->st->ordered, name, nl)
                                       : tx_put(tx, tx->st->ordered, name, nl, &b, 1);
    if (rc == 0) counters_find(tx, name, name_hash(name))->order = state;
    return rc;
}

/* Deletes up to max order entries of name (nl bytes); *left when some remain. */
static int order_drop(store_wtxn_t *tx, const char *name, size_t nl, size_t max, bool *left)
{
    MDB_cursor *c;
    uint8_t prefix[KEY_MAX];
    memcpy(prefix, name, nl);
    prefix[nl] = '\0';
    *left = false;
    int rc = mdb_cursor_open(tx->txn, tx->st->order, &c);
    if (rc) return tx_fail(tx, rc);
    for (size_t n = 0;; n++) {
        MDB_val k = val(prefix, nl + 1), v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND ||
            (rc == 0 && (k.mv_size < nl + 1 || memcmp(k.mv_data, prefix, nl + 1) != 0))) {
            rc = 0;
            break;
        }
        if (rc == 0 && n == max) {
            *left = true;
            break;
        }
        if (rc == 0) {
            rc = mdb_cursor_del(c, 0);
            tx->nwrites++;
        }
        if (rc) {
            rc = tx_fail(tx, rc);
            break;
        }
    }
    mdb_cursor_close(c);
    return rc;
}

/* The last due entry of name (nl bytes): *any is false when it has none. */
static int last_due(store_wtxn_t *tx, const char *name, size_t nl, int64_t *due_ms, uint64_t *id,
                    bool *any)
{
    MDB_cursor *c;
    uint8_t after[KEY_MAX];
    memcpy(after, name, nl);
    after[nl] = '\1'; /* just past every key name + '\0' + ... */
    *any = false;
    int rc = mdb_cursor_open(tx->txn, tx->st->due, &c);
    if (rc) return tx_fail(tx, rc);
    MDB_val k = val(after, nl + 1), v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    size_t kn;
    if (rc == 0 && codec_due_key_parse(k.mv_data, k.mv_size, &kn, due_ms, id) == 0 && kn == nl &&
        memcmp(k.mv_data, name, nl) == 0)
        *any = true;
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : tx_fail(tx, rc);
}

/* LMDB's default key order: bytes, then length. */
static int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    int r = memcmp(a, b, al < bl ? al : bl);
    return r ? r : (al > bl) - (al < bl);
}

/* Adds the order entries of up to max due entries of name (nl bytes), from cur's position
 * up to its end entry; *left when some remain. */
static int order_fill(store_wtxn_t *tx, const char *name, size_t nl, store_order_cursor_t *cur,
                      size_t max, bool *left)
{
    MDB_cursor *c;
    uint8_t end[KEY_MAX];
    size_t endl = codec_due_key(end, name, nl, cur->end_due_ms, cur->end_id);
    *left = false;
    int rc = mdb_cursor_open(tx->txn, tx->st->due, &c);
    if (rc) return tx_fail(tx, rc);
    for (size_t n = 0;; n++) {
        uint8_t kb[KEY_MAX], ok[KEY_MAX], dv[8];
        MDB_val k = val(kb, codec_due_key(kb, name, nl, cur->due_ms, cur->id)), v;
        int64_t due;
        uint64_t id;
        size_t kn;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND || (rc == 0 && key_cmp(k.mv_data, k.mv_size, end, endl) > 0)) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = tx_fail(tx, rc);
            break;
        }
        if (n == max) {
            *left = true;
            break;
        }
        if (codec_due_key_parse(k.mv_data, k.mv_size, &kn, &due, &id) || kn != nl) {
            rc = tx_fail(tx, MDB_CORRUPTED);
            break;
        }
        codec_put_be64(dv, codec_time_key(due));
        if ((rc = tx_put(tx, tx->st->order, ok, codec_order_key(ok, name, nl, id), dv, 8))) break;
        cur->due_ms = due;
        cur->id = id + 1; /* the next key after this one */
    }
    mdb_cursor_close(c);
    return rc;
}

/* Building: phase 0 drops what an older index left (unmarked meanwhile, so no write adds to
 * it), then marks BUILDING and notes the last due entry: every delivery due from then on
 * gets its order entry from the write that makes it due, and phase 1 adds those due
 * before, up to that entry; then COMPLETE. A delivery rescheduled meanwhile got its entry
 * from the reschedule, wherever it moved. */
int store_order_step(store_wtxn_t *tx, const char *subscriber, bool on, store_order_cursor_t *cur,
                     size_t max, bool *more)
{
    *more = false;
    if (tx->err) return tx->err;
    size_t nl = strlen(subscriber);
    if (nl == 0 || nl + CODEC_DUE_KEY_EXTRA > tx->st->max_key) return -EINVAL;
    int rc = counters_load(tx, subscriber);
    if (rc) return rc;
    store_order_state_t state = counters_find(tx, subscriber, name_hash(subscriber))->order;
    size_t writes = tx->nwrites;
    bool left = false;
    if (!on || cur->phase == 0) {
        if (on && state == STORE_ORDER_COMPLETE) return 0;
        if (state != STORE_ORDER_NONE) rc = set_order_state(tx, subscriber, STORE_ORDER_NONE);
        if (rc == 0) rc = order_drop(tx, subscriber, nl, max, &left);
        if (rc == 0 && on && !left) {
            bool any;
            rc = last_due(tx, subscriber, nl, &cur->end_due_ms, &cur->end_id, &any);
            if (rc == 0)
                rc = set_order_state(tx, subscriber,
                                     any ? STORE_ORDER_BUILDING : STORE_ORDER_COMPLETE);
            cur->phase = 1;
            cur->due_ms = INT64_MIN;
            cur->id = 0;
            left = any;
        }
    } else if (state != STORE_ORDER_BUILDING) {
        cur->phase = 0; /* unmarked under this job: start over */
        left = true;
    } else {
        rc = order_fill(tx, subscriber, nl, cur, max, &left);
        if (rc == 0 && !left) rc = set_order_state(tx, subscriber, STORE_ORDER_COMPLETE);
    }
    *more = rc == 0 && left;
    return op_end(tx, writes, rc);
}

int store_order_state(store_t *st, const char *subscriber, store_order_state_t *out)
{
    MDB_txn *txn;
    MDB_val v;
    size_t nl = strlen(subscriber);
    *out = STORE_ORDER_NONE;
    if (nl == 0 || nl > st->max_key) return 0;
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    MDB_val k = val(subscriber, nl);
    rc = mdb_get(txn, st->ordered, &k, &v);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND) return 0;
    return rc ? map_err(rc) : order_state_parse(&v, out);
}

/* ---- retention ---- */

/* Whether delivery id is DELIVERED or gone; *corrupt when its record cannot be decoded
 * (then it counts as not finished: the event is kept). */
static int delivery_finished(store_wtxn_t *tx, uint64_t id, bool *finished, bool *corrupt)
{
    uint8_t k[8];
    MDB_val v;
    codec_delivery_view_t d;
    id_key(k, id);
    int rc = tx_get(tx, tx->st->deliveries, k, 8, &v);
    *finished = true;
    if (rc == -ENOENT) return 0;
    if (rc) return rc;
    if (codec_delivery_view(v.mv_data, v.mv_size, &d)) {
        *finished = false;
        *corrupt = true;
        return 0;
    }
    *finished = d.state == STORE_DELIVERED;
    return 0;
}

/* Whether every delivery of the event (sequence number seq) is DELIVERED or gone, those
 * that replays added included. *corrupt_id: the first delivery met whose record cannot be
 * decoded (0: none); the event is then not finished. */
static int event_finished(store_wtxn_t *tx, const codec_event_view_t *ev, uint64_t seq,
                          bool *finished, uint64_t *corrupt_id)
{
    bool corrupt = false;
    uint64_t id = 0;
    *finished = true;
    int rc = 0;
    for (uint32_t i = 0; i < ev->ndeliveries && *finished && rc == 0; i++)
        rc = delivery_finished(tx, id = codec_event_view_id(ev, i), finished, &corrupt);
    id_list_t extra = {0};
    if (rc == 0 && *finished) {
        int mrc = each_replayed(tx->txn, tx->st->replayed, seq, id_list_add, &extra);
        if (mrc) rc = tx_fail(tx, mrc);
    }
    for (size_t i = 0; i < extra.n && *finished && rc == 0; i++)
        rc = delivery_finished(tx, id = extra.ids[i], finished, &corrupt);
    free(extra.ids);
    *corrupt_id = corrupt ? id : 0;
    return rc;
}

/* Deletes the event id (its record, its deliveries, those replays added and their links)
 * and its received entry rkey (its sequence number). */
static int prune_event(store_wtxn_t *tx, codec_str_t id, const uint8_t rkey[8])
{
    store_t *st = tx->st;
    MDB_val v;
    store_event_t ev;
    id_list_t extra = {0};
    uint64_t seq = codec_get_be64(rkey);
    int rc = tx_get(tx, st->events, id.p, id.len, &v);
    if (rc) return rc == -ENOENT ? -EIO : rc;
    if (codec_decode_event(v.mv_data, v.mv_size, &ev)) return -EIO;
    int mrc = each_replayed(tx->txn, st->replayed, seq, id_list_add, &extra);
    if (mrc) rc = tx_fail(tx, mrc);
    for (size_t i = 0; i < ev.ndeliveries && rc == 0; i++) {
        uint8_t k[8];
        id_key(k, ev.delivery_ids[i]);
        rc = tx_del(tx, st->deliveries, k, 8);
    }
    for (size_t i = 0; i < extra.n && rc == 0; i++) {
        uint8_t k[8], rk[16];
        id_key(k, extra.ids[i]);
        replayed_key(rk, seq, extra.ids[i]);
        rc = tx_del(tx, st->deliveries, k, 8);
        if (rc == 0) rc = tx_del(tx, st->replayed, rk, sizeof(rk));
    }
    free(extra.ids);
    store_event_clear(&ev);
    if (rc == 0) rc = tx_del(tx, st->events, id.p, id.len);
    if (rc == 0) rc = tx_del(tx, st->received, rkey, 8);
    return rc;
}

/* The received table is keyed by an ingest sequence number, and *cursor is the sequence
 * number of the next event to examine (0 and 1 both mean the oldest). A sequence number
 * is an exact position, so a scan makes progress however many kept events share one
 * millisecond. Events are examined in ingest order and the scan stops at the first one
 * received at or after cutoff_ms: after a clock step back, an older event behind it is
 * pruned by a later pass, never too early. An event with a record that cannot be decoded
 * (its received entry, its event record, a delivery of it) is kept and reported in
 * *corrupt, and the scan goes on past it: one damaged record must not stop retention. */
int store_prune(store_wtxn_t *tx, int64_t cutoff_ms, size_t max, uint64_t *cursor, size_t *pruned,
                bool *more, store_prune_corrupt_t *corrupt)
{
    store_t *st = tx->st;
    MDB_cursor *c;
    *pruned = 0;
    *more = false;
    memset(corrupt, 0, sizeof(*corrupt));
    if (tx->err) return tx->err;
    int rc = mdb_cursor_open(tx->txn, st->received, &c);
    if (rc) return tx_fail(tx, rc);
    uint64_t seq = *cursor;
    for (size_t examined = 0;; examined++) {
        uint8_t kb[8];
        MDB_val k, v;
        int64_t received_ms;
        codec_str_t id;
        id_key(kb, seq);
        k = val(kb, 8);
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = tx_fail(tx, rc);
            break;
        }
        if (k.mv_size != 8) {
            rc = tx_fail(tx, MDB_CORRUPTED); /* the table itself is damaged */
            break;
        }
        seq = codec_get_be64(k.mv_data);
        bool bad = codec_received_parse(v.mv_data, v.mv_size, &received_ms, &id) != 0;
        if (!bad && received_ms >= cutoff_ms) break;
        if (examined == max) {
            *more = true;
            break;
        }
        memcpy(kb, k.mv_data, 8);
        MDB_val ev;
        codec_event_view_t view;
        bool finished = false;
        uint64_t corrupt_id = 0;
        if (bad || (rc = tx_get(tx, st->events, id.p, id.len, &ev)) == -ENOENT ||
            (rc == 0 && codec_event_view(ev.mv_data, ev.mv_size, &view))) {
            rc = 0; /* its received entry or event record is damaged (or gone): keep it */
            corrupt->n++;
            corrupt->seq = seq;
            corrupt->delivery_id = 0;
            seq++;
            continue;
        }
        if (rc) break;
        if ((rc = event_finished(tx, &view, seq, &finished, &corrupt_id))) break;
        if (corrupt_id) {
            corrupt->n++;
            corrupt->seq = seq;
            corrupt->delivery_id = corrupt_id;
        }
        if (finished) {
            /* id points into the map: copy it before the deletes move pages. */
            char *idc = xmemdup0(id.p, id.len);
            codec_str_t ids = {idc, id.len};
            rc = prune_event(tx, ids, kb);
            free(idc);
            if (rc) break;
            (*pruned)++;
        }
        seq++;
    }
    mdb_cursor_close(c);
    if (rc == 0) *cursor = seq;
    return rc;
}

/* ---- reads ---- */

static int rtxn_begin(store_t *st, MDB_txn **txn)
{
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    return rc ? map_err(rc) : 0;
}

void store_claim_clear(store_claim_t *c)
{
    free(c->event_id);
    free(c->body);
    memset(c, 0, sizeof(*c));
}

/* Fills out with PENDING delivery id and its event's body, read in txn. A delivery the
 * due index names but whose record or event is missing or undecodable is handed out as
 * corrupt rather than failing the claim: the caller buries it, so it is neither retried
 * forever nor holding back the deliveries due after it. -ESTALE when the record says it
 * is not PENDING: the record wins over a stale index entry, which is passed over. */
static int claim_fill(store_t *st, MDB_txn *txn, uint64_t id, store_claim_t *out)
{
    uint8_t k[8];
    codec_delivery_view_t d;
    codec_event_view_t e;
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->corrupt = true;
    id_key(k, id);
    MDB_val key = val(k, 8), v, ev;
    int rc = mdb_get(txn, st->deliveries, &key, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return map_err(rc);
    if (codec_delivery_view(v.mv_data, v.mv_size, &d)) return 0;
    if (d.state != STORE_PENDING) return -ESTALE;
    key = val(d.event_id.p, d.event_id.len);
    rc = d.event_id.len > 0 ? mdb_get(txn, st->events, &key, &ev) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return map_err(rc);
    if (codec_event_view(ev.mv_data, ev.mv_size, &e)) return 0;
    out->corrupt = false;
    out->attempts = d.attempts;
    out->first_attempt_ms = d.first_attempt_ms;
    out->event_id = xmemdup0(d.event_id.p, d.event_id.len);
    out->body = xmemdup0(e.body.p, e.body.len);
    out->body_len = e.body.len;
    return 0;
}

/* The due index is per subscriber, so a subscriber at its concurrency limit (everything
 * skipped) or with a large backlog costs only its own range: the scan starts at its
 * first key and stops at the first entry that is neither claimed nor skipped. */
int store_claim_due(store_t *st, const char *subscriber, int64_t now_ms, size_t max,
                    bool (*skip)(void *ctx, uint64_t id), void *ctx, store_claim_t *out,
                    int64_t *next_due_ms)
{
    MDB_txn *txn;
    MDB_cursor *c;
    size_t nl = strlen(subscriber), n = 0;
    *next_due_ms = INT64_MAX;
    if (nl + CODEC_DUE_KEY_EXTRA > st->max_key) return 0; /* such a name has no deliveries */
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    int mrc = mdb_cursor_open(txn, st->due, &c);
    if (mrc) {
        mdb_txn_abort(txn);
        return map_err(mrc);
    }
    uint8_t prefix[KEY_MAX];
    memcpy(prefix, subscriber, nl);
    prefix[nl] = '\0';
    MDB_val k = val(prefix, nl + 1), v;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        size_t kn;
        int64_t due;
        uint64_t id;
        if (k.mv_size < nl + 1 || memcmp(k.mv_data, prefix, nl + 1) != 0) break;
        if (codec_due_key_parse(k.mv_data, k.mv_size, &kn, &due, &id) || kn != nl) {
            rc = -EIO;
            break;
        }
        if (skip && skip(ctx, id)) continue;
        if (n == max || due > now_ms) {
            *next_due_ms = due;
            break;
        }
        if ((rc = claim_fill(st, txn, id, &out[n])) == -ESTALE) {
            rc = 0;
            continue;
        }
        if (rc) break;
        out[n++].due_ms = due;
    }
    if (rc == 0 && mrc && mrc != MDB_NOTFOUND) rc = map_err(mrc);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc) {
        while (n > 0)
            store_claim_clear(&out[--n]);
        *next_due_ms = INT64_MAX;
        return rc;
    }
    return (int)n;
}

/* The ordered subscriber's next delivery is the first entry of its range in the order
 * index: the lowest delivery id still PENDING, whatever its due time. */
int store_claim_first(store_t *st, const char *subscriber, int64_t now_ms,
                      bool (*skip)(void *ctx, uint64_t id), void *ctx, store_claim_t *out,
                      int64_t *next_due_ms)
{
    MDB_txn *txn;
    MDB_cursor *c;
    size_t nl = strlen(subscriber);
    int n = 0;
    *next_due_ms = INT64_MAX;
    if (nl == 0 || nl + CODEC_DUE_KEY_EXTRA > st->max_key) return 0;
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    /* Only a COMPLETE index names the first pending delivery. */
    MDB_val nk = val(subscriber, nl), nv;
    int mrc = mdb_get(txn, st->ordered, &nk, &nv);
    if (mrc == MDB_NOTFOUND ||
        (mrc == 0 && (nv.mv_size != 1 || *(const uint8_t *)nv.mv_data != STORE_ORDER_COMPLETE))) {
        mdb_txn_abort(txn);
        return 0;
    }
    if (mrc == 0) mrc = mdb_cursor_open(txn, st->order, &c);
    if (mrc) {
        mdb_txn_abort(txn);
        return map_err(mrc);
    }
    uint8_t prefix[KEY_MAX];
    memcpy(prefix, subscriber, nl);
    prefix[nl] = '\0';
    MDB_val k = val(prefix, nl + 1), v;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        size_t kn;
        uint64_t id;
        if (k.mv_size < nl + 1 || memcmp(k.mv_data, prefix, nl + 1) != 0) break;
        if (codec_order_key_parse(k.mv_data, k.mv_size, &kn, &id) || kn != nl || v.mv_size != 8) {
            rc = -EIO;
            break;
        }
        int64_t due = codec_time_from_key(codec_get_be64(v.mv_data));
        if (skip && skip(ctx, id)) break; /* the head is being attempted: nothing else may */
        if (due > now_ms) {
            *next_due_ms = due;
            break;
        }
        if ((rc = claim_fill(st, txn, id, out)) == -ESTALE) {
            rc = 0; /* a stale entry: the record says it is finished */
            continue;
        }
        if (rc == 0) {
            out->due_ms = due;
            n = 1;
        }
        break;
    }
    if (rc == 0 && mrc && mrc != MDB_NOTFOUND) rc = map_err(mrc);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc) {
        if (n) store_claim_clear(out);
        *next_due_ms = INT64_MAX;
        return rc;
    }
    return n;
}

int store_is_paused(store_t *st, const char *subscriber, bool *paused)
{
    MDB_txn *txn;
    MDB_val v;
    size_t nl = strlen(subscriber);
    *paused = false;
    if (nl == 0 || nl > st->max_key) return 0;
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    MDB_val k = val(subscriber, nl);
    rc = mdb_get(txn, st->paused, &k, &v);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return map_err(rc);
    *paused = true;
    return 0;
}

int store_paused_subscribers(store_t *st, void (*fn)(void *ctx, const char *name), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    int mrc = mdb_cursor_open(txn, st->paused, &c);
    if (mrc) {
        mdb_txn_abort(txn);
        return map_err(mrc);
    }
    MDB_val k, v;
    char name[KEY_MAX + 1];
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size == 0 || k.mv_size > KEY_MAX) continue;
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        fn(ctx, name);
    }
    if (mrc != MDB_NOTFOUND) rc = map_err(mrc);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc;
}

int store_pending_subscribers(store_t *st, void (*fn)(void *ctx, const char *name), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    int mrc = mdb_cursor_open(txn, st->due, &c);
    if (mrc) {
        mdb_txn_abort(txn);
        return map_err(mrc);
    }
    MDB_val k, v;
    char name[KEY_MAX + 1];
    /* After each name, jump past all of its keys (name + '\0' + ...) to name + '\1'. */
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) {
        size_t nl;
        int64_t due;
        uint64_t id;
        if (codec_due_key_parse(k.mv_data, k.mv_size, &nl, &due, &id)) {
            rc = -EIO;
            break;
        }
        memcpy(name, k.mv_data, nl);
        name[nl] = '\0';
        fn(ctx, name);
        name[nl] = '\1';
        k = val(name, nl + 1);
    }
    if (rc == 0 && mrc != MDB_NOTFOUND) rc = map_err(mrc);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc;
}

int store_get_event(store_t *st, const char *id, size_t id_len, store_event_t *out)
{
    MDB_txn *txn;
    MDB_val v;
    memset(out, 0, sizeof(*out));
    if (id_len == 0 || id_len > st->max_key) return -ENOENT;
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    MDB_val k = val(id, id_len);
    codec_event_view_t view;
    rc = mdb_get(txn, st->events, &k, &v);
    if (rc == 0)
        rc = codec_event_view(v.mv_data, v.mv_size, &view) ||
                     codec_decode_event(v.mv_data, v.mv_size, out)
                 ? -EIO
                 : 0;
    else
        rc = map_err(rc);
    if (rc == 0 && view.seq != 0) {
        /* The deliveries replays added follow the event's own. */
        id_list_t l = {out->delivery_ids, out->ndeliveries, out->ndeliveries};
        int mrc = each_replayed(txn, st->replayed, view.seq, id_list_add, &l);
        out->delivery_ids = l.ids;
        out->ndeliveries = l.n;
        if (mrc) {
            rc = map_err(mrc);
            store_event_clear(out);
        }
    }
    mdb_txn_abort(txn);
    if (rc == 0) out->id = xmemdup0(id, id_len);
    return rc;
}

int store_get_delivery(store_t *st, uint64_t id, store_delivery_t *out)
{
    MDB_txn *txn;
    MDB_val v;
    uint8_t kb[8];
    memset(out, 0, sizeof(*out));
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    id_key(kb, id);
    MDB_val k = val(kb, 8);
    rc = mdb_get(txn, st->deliveries, &k, &v);
    if (rc == 0)
        rc = codec_decode_delivery(v.mv_data, v.mv_size, out) ? -EIO : 0;
    else
        rc = map_err(rc);
    mdb_txn_abort(txn);
    out->id = rc == 0 ? id : 0;
    return rc;
}

int store_list_dead(store_t *st, const store_dead_filter_t *f, store_dead_cursor_t *cursor,
                    size_t limit, store_delivery_t *out, bool *more)
{
    MDB_txn *txn;
    MDB_cursor *c;
    size_t n = 0;
    *more = false;
    int rc = rtxn_begin(st, &txn);
    if (rc) return rc;
    int mrc = mdb_cursor_open(txn, st->dead, &c);
    if (mrc) {
        mdb_txn_abort(txn);
        return map_err(mrc);
    }
    MDB_val k, v;
    size_t examined = 0;
    for (mrc = dead_seek(c, f, cursor, &k); mrc == 0 && n < limit;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        store_dead_cursor_t pos;
        bool in_range;
        if ((rc = dead_in_range(&k, f, &pos.dead_ms, &pos.id, &in_range)) || !in_range) break;
        if (examined++ == STORE_DEAD_SCAN_MAX) {
            *more = true; /* resume after *cursor, the last entry examined */
            break;
        }
        *cursor = pos;
        if (!dead_matches(st, txn, pos.id, f, &v)) continue;
        if (codec_decode_delivery(v.mv_data, v.mv_size, &out[n])) {
            rc = -EIO;
            break;
        }
        out[n++].id = pos.id;
    }
    if (rc == 0 && mrc && mrc != MDB_NOTFOUND) rc = map_err(mrc);
    if (rc == 0 && n == limit) rc = dead_more(c, f, cursor, more);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc) {
        while (n > 0)
            store_delivery_clear(&out[--n]);
        return rc;
    }
    return (int)n;
}

int store_get_counters(store_t *st, const char *subscriber, store_counters_t *out)
{
    MDB_txn *txn;
    MDB_val v;
    size_t nl = strlen(subscriber);
    memset(out, 0, sizeof(*out));
    int rc = 0;
    if (nl > 0 && nl <= st->max_key) {
        if ((rc = rtxn_begin(st, &txn))) return rc;
        MDB_val k = val(subscriber, nl);
        rc = mdb_get(txn, st->counters, &k, &v);
        if (rc == 0)
            rc = codec_decode_counters(v.mv_data, v.mv_size, out) ? -EIO : 0;
        else
            rc = rc == MDB_NOTFOUND ? 0 : map_err(rc);
        mdb_txn_abort(txn);
    }
    if (rc == 0 && !out->last_error) out->last_error = xstrdup("");
    return rc;
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
