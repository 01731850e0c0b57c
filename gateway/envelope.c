/* envelope.c -- ingest body validation and completion of envelopes with id/occurred_at. */
#include "gateway/envelope.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "config/config.h"
#include "gateway/civil.h"

static bool is_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':' || c == '-';
}

bool envelope_id_valid(const char *s, size_t n)
{
    if (n < 1 || n > ENVELOPE_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!is_id_char(s[i])) return false;
    return true;
}

/* The same format subscribers name in their events list, so it has one validator. */
bool envelope_type_valid(const char *s, size_t n)
{
    return cfg_event_type_valid(s, n);
}

void envelope_uuid7(int64_t unix_ms, const unsigned char random[10], char out[37])
{
    /* RFC 9562 section 5.7: 48-bit big-endian ms timestamp, version 7 in the high
     * nibble of byte 6, variant 0b10 in the top bits of byte 8, the rest random. */
    unsigned char b[16];
    uint64_t ts = (uint64_t)unix_ms;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ts >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (random[0] & 0x0F));
    b[7] = random[1];
    b[8] = (unsigned char)(0x80 | (random[2] & 0x3F));
    memcpy(b + 9, random + 3, 7);

    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
}

/* Writes "<prefix><what>" into err: prefix is "" or "[i]." for batches. */
static int fail(char *err, size_t errlen, const char *prefix, const char *what)
{
    if (err && errlen) snprintf(err, errlen, "%s%s", prefix, what);
    return -EINVAL;
}

/* Key names hookgate reads; an escaped spelling of one ("\u0069d") would be a second,
 * unseen copy of the field, so it is refused rather than silently ignored. */
static const char *const reserved_keys[] = {"type", "id", "occurred_at", "payload"};

static bool escaped_reserved_key(const json_doc_t *doc, int k)
{
    if (!memchr(json_tok_ptr(doc, k), '\\', json_tok_len(doc, k))) return false;
    char *name = json_str_dup(doc, k);
    bool reserved = false;
    for (size_t i = 0; i < sizeof(reserved_keys) / sizeof(reserved_keys[0]); i++)
        reserved = reserved || strcmp(name, reserved_keys[i]) == 0;
    free(name);
    return reserved;
}

/* One key of an envelope, decoded, with its position among the keys. */
typedef struct {
    const char *s;
    size_t n;
    int at;      /* index among the object's keys */
    int tok;     /* its token */
    char *owned; /* the decoded copy when the raw key has escapes */
} seen_key_t;

static int key_cmp(const void *a, const void *b)
{
    const seen_key_t *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    int c = memcmp(x->s, y->s, x->n);
    if (c) return c;
    return x->at < y->at ? -1 : x->at > y->at;
}

static bool same_key(const seen_key_t *a, const seen_key_t *b)
{
    return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

#define KEY_SHOW 64     /* bytes of a repeated key quoted in the detail */
#define KEYS_ON_STACK 16 /* envelopes have a handful of keys: no allocation for those */

/* Refuses an envelope that repeats a top-level key (compared decoded, so "id" and
 * "\u0069d" are the same key). JSON leaves repeated keys to the reader and readers
 * differ, some taking the first copy and some the last: hookgate could dedup, route and
 * sign by one "id" or "type" while a subscriber acts on the other. Sorting keeps this
 * O(n log n) for envelopes with very many keys. Reports the repeat that comes first in
 * the document. */
static int check_repeated_keys(const json_doc_t *doc, int obj, const char *prefix, char *err,
                               size_t errlen)
{
    int nkeys = doc->tok[obj].size;
    if (nkeys < 2) return 0;
    seen_key_t small[KEYS_ON_STACK];
    seen_key_t *keys = nkeys <= KEYS_ON_STACK ? small : xmalloc(sizeof(*keys) * (size_t)nkeys);
    int k = obj + 1;
    for (int i = 0; i < nkeys; i++) {
        const char *raw = json_tok_ptr(doc, k);
        size_t len = json_tok_len(doc, k);
        keys[i] = (seen_key_t){.s = raw, .n = len, .at = i, .tok = k};
        if (memchr(raw, '\\', len)) {
            keys[i].owned = json_str_dup_n(doc, k, &keys[i].n);
            keys[i].s = keys[i].owned;
        }
        k = json_skip(doc, k + 1);
    }
    int first = -1, tok = -1; /* the earliest second occurrence */
    if (keys == small) {
        /* A handful of keys: comparing each with the ones before it is cheaper than a sort. */
        for (int i = 1; i < nkeys && first < 0; i++) {
            for (int j = 0; j < i; j++) {
                if (same_key(&keys[i], &keys[j])) {
                    first = i;
                    tok = keys[i].tok;
                    break;
                }
            }
        }
    } else {
        qsort(keys, (size_t)nkeys, sizeof(*keys), key_cmp);
        for (int i = 1; i < nkeys; i++) {
            /* Equal keys sort by position, so keys[i] repeats one that came before it. */
            if (same_key(&keys[i], &keys[i - 1]) && (first < 0 || keys[i].at < first)) {
                first = keys[i].at;
                tok = keys[i].tok;
            }
        }
    }
    for (int i = 0; i < nkeys; i++)
        free(keys[i].owned);
    if (keys != small) free(keys);
    if (first < 0) return 0;
    if (err && errlen) {
        const char *raw = json_tok_ptr(doc, tok);
        size_t show = json_tok_len(doc, tok);
        const char *more = "";
        if (show > KEY_SHOW) {
            show = KEY_SHOW;
            while (show > 0 && ((unsigned char)raw[show] & 0xC0) == 0x80) /* whole characters */
                show--;
            more = "...";
        }
        /* "[3]." names a batch element as "[3]: ..." here: the key is in the message. */
        int plen = prefix[0] ? (int)strlen(prefix) - 1 : 0;
        snprintf(err, errlen, "%.*s%sduplicate key \"%.*s%s\"", plen, prefix, plen ? ": " : "",
                 (int)show, raw, more);
    }
    return -EINVAL;
}

/* Validates the envelope object at token obj in one pass over its keys. */
static int validate_one(const json_doc_t *doc, int obj, envelope_t *out, const char *prefix,
                        char *err, size_t errlen)
{
    int rc = check_repeated_keys(doc, obj, prefix, err, errlen);
    if (rc != 0) return rc;
    int type = -1, id = -1, occurred_at = -1, payload = -1;
    int k = obj + 1;
    for (int i = 0; i < doc->tok[obj].size; i++) {
        int v = k + 1;
        if (json_tok_eq(doc, k, "type", 4))
            type = v;
        else if (json_tok_eq(doc, k, "id", 2))
            id = v;
        else if (json_tok_eq(doc, k, "occurred_at", 11))
            occurred_at = v;
        else if (json_tok_eq(doc, k, "payload", 7))
            payload = v;
        else if (escaped_reserved_key(doc, k))
            return fail(err, errlen, prefix, "reserved key names must not use escapes");
        k = json_skip(doc, v);
    }

    if (type < 0) return fail(err, errlen, prefix, "type: required");
    if (!json_is_string(doc, type)) return fail(err, errlen, prefix, "type: must be a string");
    if (!envelope_type_valid(json_tok_ptr(doc, type), json_tok_len(doc, type)))
        return fail(err, errlen, prefix, "type: must match [A-Za-z0-9_.:-]{1,200}");
    if (id >= 0 && !json_is_string(doc, id))
        return fail(err, errlen, prefix, "id: must be a string");
    if (id >= 0 && !envelope_id_valid(json_tok_ptr(doc, id), json_tok_len(doc, id)))
        return fail(err, errlen, prefix, "id: must match [A-Za-z0-9_:-]{1,200}");
    if (occurred_at >= 0 &&
        (!json_is_string(doc, occurred_at) ||
         !civil_parse_rfc3339(json_tok_ptr(doc, occurred_at), json_tok_len(doc, occurred_at),
                              false, NULL)))
        return fail(err, errlen, prefix, "occurred_at: must be an RFC 3339 date-time");
    if (payload < 0) return fail(err, errlen, prefix, "payload: required");

    out->tok = obj;
    out->type = json_tok_ptr(doc, type);
    out->type_len = json_tok_len(doc, type);
    out->id = id >= 0 ? json_tok_ptr(doc, id) : NULL;
    out->id_len = id >= 0 ? json_tok_len(doc, id) : 0;
    out->id_in_body = id >= 0;
    out->has_occurred_at = occurred_at >= 0;
    return 0;
}

int envelope_validate(const json_doc_t *doc, envelope_t *out, size_t *n, bool *is_batch, char *err,
                      size_t errlen)
{
    if (doc->tok[0].type == JSMN_OBJECT) {
        int rc = validate_one(doc, 0, &out[0], "", err, errlen);
        if (rc != 0) return rc;
        *n = 1;
        *is_batch = false;
        return 0;
    }
    if (doc->tok[0].type != JSMN_ARRAY)
        return fail(err, errlen, "", "envelope must be a JSON object");
    int count = doc->tok[0].size;
    if (count < 1 || count > ENVELOPE_MAX_BATCH)
        return fail(err, errlen, "", "batch must hold 1 to 1000 envelopes");
    int t = 1;
    for (int i = 0; i < count; i++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "[%d].", i);
        if (doc->tok[t].type != JSMN_OBJECT) {
            if (err && errlen) snprintf(err, errlen, "[%d]: envelope must be a JSON object", i);
            return -EINVAL;
        }
        int rc = validate_one(doc, t, &out[i], prefix, err, errlen);
        if (rc != 0) return rc;
        t = json_skip(doc, t);
    }
    *n = (size_t)count;
    *is_batch = true;
    return 0;
}

int envelope_apply_key(const char *key, size_t key_len, envelope_t *envs, size_t n, bool is_batch,
                       char *err, size_t errlen)
{
    if (!key || is_batch || n != 1) return 0;
    envelope_t *e = &envs[0];
    if (!e->id) {
        e->id = key;
        e->id_len = key_len;
        return 0;
    }
    if (e->id_len == key_len && memcmp(e->id, key, key_len) == 0) return 0;
    /* Both are ids, whose charset needs no quoting or escaping. */
    if (err && errlen)
        snprintf(err, errlen,
                 "Idempotency-Key \"%.*s\" and the envelope's id \"%.*s\" must be equal",
                 (int)key_len, key, (int)e->id_len, e->id);
    return -EINVAL;
}

void envelope_complete(const char *raw, size_t raw_len, const char *gen_id,
                       const char *gen_occurred_at, char **out, size_t *out_len)
{
    /* raw is a validated object: the first '{' opens it (only blanks come before). */
    size_t open = 0;
    while (open < raw_len && raw[open] != '{')
        open++;
    size_t at = open < raw_len ? open + 1 : 0; /* insertion point */
    size_t rest = at;
    while (rest < raw_len &&
           (raw[rest] == ' ' || raw[rest] == '\t' || raw[rest] == '\n' || raw[rest] == '\r'))
        rest++;
    bool empty = rest < raw_len && raw[rest] == '}';

    size_t id_len = gen_id ? json_escape(NULL, 0, gen_id, strlen(gen_id)) : 0;
    size_t ts_len =
        gen_occurred_at ? json_escape(NULL, 0, gen_occurred_at, strlen(gen_occurred_at)) : 0;
    size_t extra = (gen_id ? 5 + id_len + 1 : 0) + (gen_occurred_at ? 14 + ts_len + 1 : 0);
    if (open == raw_len) extra = 0; /* not an object: nothing to insert into */

    char *buf = xmalloc(raw_len + extra + 1);
    size_t w = 0;
    if (extra == 0) {
        memcpy(buf, raw, raw_len);
        w = raw_len;
    } else {
        memcpy(buf, raw, at);
        w = at;
        if (gen_id) {
            memcpy(buf + w, "\"id\":", 5);
            w += 5;
            w += json_escape(buf + w, id_len, gen_id, strlen(gen_id));
            buf[w++] = ',';
        }
        if (gen_occurred_at) {
            memcpy(buf + w, "\"occurred_at\":", 14);
            w += 14;
            w += json_escape(buf + w, ts_len, gen_occurred_at, strlen(gen_occurred_at));
            buf[w++] = ',';
        }
        if (empty) w--; /* no member follows: drop the last comma */
        memcpy(buf + w, raw + at, raw_len - at);
        w += raw_len - at;
    }
    buf[w] = '\0';
    *out = buf;
    *out_len = w;
}
