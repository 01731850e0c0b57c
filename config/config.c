/* config.c -- parses and validates the gateway's JSON config: schema, defaults, ${VAR}; the
 * syntax of single values (URLs, host:port, headers) is syntax.c's. */
#include "config/config.h"
#include "config/json.h"
#include "config/syntax.h"
#include "config/secret.h"
#include "core/buf.h"
#include "core/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_DEPTH 32
#define MAX_ERRORS 100 /* lines shown; a summary line counts the rest */
#define PATH_CAP 256
#define KEY_SHOW 64                /* bytes of an odd key quoted in an error path */
#define MAX_FILE_BYTES (16u << 20) /* a config is a few KiB; this only bounds a mistake */
#define MAX_DELAY_MS 2592000000u   /* 30 days */

/* Problems are collected, not returned at the first one, so that one --check run
 * shows everything wrong with a file. Messages never quote string values, which
 * may hold secrets; they quote keys, subscriber names and numbers only. */
typedef struct {
    const json_doc_t *doc;
    core_buf_t errors; /* one line per problem */
    unsigned nerr;
} ctx_t;

static void fail(ctx_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(ctx_t *c, const char *path, const char *fmt, ...)
{
    if (++c->nerr > MAX_ERRORS) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    core_buf_printf(&c->errors, "%s: %s\n", path, msg);
}

/* ---- JSON paths for error lines ---- */

static void path_fmt(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path_fmt(char *out, const char *fmt, ...)
{
    /* Paths are short (keys are shortened below); truncation would only cut a message. */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, PATH_CAP, fmt, ap);
    va_end(ap);
}

/* parent.key, or parent["key"] (raw JSON escapes, shortened) when the key is not a
 * plain identifier, e.g. filter["payload.product_id"]. */
static void key_path(char *out, const char *parent, const char *key, size_t klen)
{
    if (klen > 0 && klen <= KEY_SHOW && syntax_chars(key, klen, "_-")) {
        path_fmt(out, "%s%s%.*s", parent, parent[0] ? "." : "", (int)klen, key);
        return;
    }
    size_t show = klen;
    if (show > KEY_SHOW) {
        show = KEY_SHOW;
        while (show > 0 && ((unsigned char)key[show] & 0xC0) == 0x80) /* whole UTF-8 chars */
            show--;
    }
    path_fmt(out, "%s[\"%.*s%s\"]", parent, (int)show, key, show < klen ? "..." : "");
}

static void index_path(char *out, const char *parent, size_t i)
{
    path_fmt(out, "%s[%zu]", parent, i);
}

/* ---- token readers ---- */

static jsmntype_t tok_type(const ctx_t *c, int t)
{
    return c->doc->tok[t].type;
}

static bool is_number(const ctx_t *c, int t)
{
    char ch = *json_tok_ptr(c->doc, t);
    return tok_type(c, t) == JSMN_PRIMITIVE && (ch == '-' || (ch >= '0' && ch <= '9'));
}

static bool is_bool(const ctx_t *c, int t)
{
    char ch = *json_tok_ptr(c->doc, t);
    return tok_type(c, t) == JSMN_PRIMITIVE && (ch == 't' || ch == 'f');
}

/* The value of a number token (the validator has checked its syntax). */
static double number_value(const ctx_t *c, int t)
{
    char *s = xmemdup0(json_tok_ptr(c->doc, t), json_tok_len(c->doc, t));
    double v = strtod(s, NULL);
    free(s);
    return v;
}

static bool get_uint(ctx_t *c, int t, const char *path, uint64_t lo, uint64_t hi, uint64_t *out)
{
    /* The ranges stay far below 2^53, so the double holds every accepted integer exactly. */
    double v = is_number(c, t) ? number_value(c, t) : -1;
    if (v < (double)lo || v > (double)hi || v != (double)(uint64_t)v) {
        fail(c, path, "expected an integer %" PRIu64 "..%" PRIu64, lo, hi);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool get_u32(ctx_t *c, int t, const char *path, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v;
    if (!get_uint(c, t, path, lo, hi, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

/* String token t decoded (malloc'd); *has_nul is set when it holds a NUL character
 * (\u0000), which would silently cut the C string short. */
static char *dup_string(const ctx_t *c, int t, bool *has_nul)
{
    size_t len;
    char *s = json_str_dup_n(c->doc, t, &len);
    *has_nul = strlen(s) != len;
    return s;
}

/* Replaces each ${NAME} in s by getenv(NAME). Returns a malloc'd string, or NULL
 * after reporting an unset variable or a malformed reference. */
static char *expand_env(ctx_t *c, const char *path, const char *s)
{
    if (!strstr(s, "${")) return xstrdup(s);
    core_buf_t out = {0};
    bool ok = true;
    const char *p = s;
    while (*p) {
        const char *val = p;
        size_t vlen = 1;
        if (p[0] == '$' && p[1] == '{') {
            const char *name = p + 2, *e = name;
            while (syntax_alnum((unsigned char)*e) || *e == '_')
                e++;
            if (e == name || *e != '}' || (*name >= '0' && *name <= '9')) {
                fail(c, path, "malformed ${NAME} reference");
                core_buf_free(&out);
                return NULL;
            }
            char *key = xmemdup0(name, (size_t)(e - name));
            val = getenv(key);
            if (!val) {
                fail(c, path, "environment variable %.64s is not set", key);
                ok = false;
                val = "";
            }
            free(key);
            vlen = strlen(val);
            p = e + 1;
        } else {
            p++;
        }
        core_buf_put(&out, val, vlen);
    }
    if (!ok) {
        core_buf_free(&out);
        return NULL;
    }
    return core_buf_cstr(&out);
}

/* A string value with escapes decoded and ${NAME} expanded (malloc'd), or NULL after
 * reporting the problem. */
static char *get_string(ctx_t *c, int t, const char *path)
{
    if (tok_type(c, t) != JSMN_STRING) {
        fail(c, path, "expected a string");
        return NULL;
    }
    bool has_nul;
    char *raw = dup_string(c, t, &has_nul);
    if (has_nul) {
        fail(c, path, "contains a NUL character");
        free(raw);
        return NULL;
    }
    char *s = expand_env(c, path, raw);
    free(raw);
    return s;
}

/* ---- object schemas ---- */

typedef struct {
    const char *key;
    int tok; /* value token, -1 when absent */
} field_t;

/* Records the value token of each known key of the object at obj; unknown and
 * repeated keys are errors (the first occurrence is used). */
static void scan_fields(ctx_t *c, int obj, const char *path, field_t *f, size_t nf)
{
    const json_doc_t *d = c->doc;
    int k = obj + 1;
    for (int n = 0; n < d->tok[obj].size; n++) {
        int v = k + 1;
        size_t i = 0;
        while (i < nf && !json_tok_eq(d, k, f[i].key, strlen(f[i].key)))
            i++;
        char p[PATH_CAP];
        key_path(p, path, json_tok_ptr(d, k), json_tok_len(d, k));
        if (i == nf)
            fail(c, p, "unknown key");
        else if (f[i].tok >= 0)
            fail(c, p, "duplicate key");
        else
            f[i].tok = v;
        k = json_skip(d, v);
    }
}

static void field_path(char *out, const char *parent, const field_t *f)
{
    key_path(out, parent, f->key, strlen(f->key));
}

/* ---- sections ---- */

static void parse_log_format(ctx_t *c, int t, cfg_t *cfg)
{
    char *v = get_string(c, t, "log_format");
    if (v && strcmp(v, "json") == 0)
        cfg->log_json = true;
    else if (v && strcmp(v, "text") != 0)
        fail(c, "log_format", "expected \"text\" or \"json\"");
    free(v);
}

enum { TLS_CERT, TLS_KEY, TLS_COUNT };

/* Both paths are required; whether the files are readable PEM is checked when the
 * listener's TLS context is built (at --check and at start), not by the parser. */
static void parse_tls(ctx_t *c, int t, cfg_t *cfg)
{
    if (tok_type(c, t) != JSMN_OBJECT) {
        fail(c, "tls", "expected an object");
        return;
    }
    field_t f[TLS_COUNT] = {[TLS_CERT] = {"cert_file", -1}, [TLS_KEY] = {"key_file", -1}};
    scan_fields(c, t, "tls", f, TLS_COUNT);
    char *paths[TLS_COUNT] = {NULL, NULL};
    for (int i = 0; i < TLS_COUNT; i++) {
        char p[PATH_CAP];
        field_path(p, "tls", &f[i]);
        if (f[i].tok < 0) {
            fail(c, p, "required");
            continue;
        }
        paths[i] = get_string(c, f[i].tok, p);
        if (paths[i] && !*paths[i]) {
            fail(c, p, "expected a non-empty path");
            free(paths[i]);
            paths[i] = NULL;
        }
    }
    cfg->tls_cert_file = paths[TLS_CERT];
    cfg->tls_key_file = paths[TLS_KEY];
}

enum { R_MAX_ATTEMPTS, R_INITIAL, R_MULTIPLIER, R_MAX_DELAY, R_JITTER, R_COUNT };

/* Overrides the fields of r present in the retry object at t, then checks that the
 * resulting delays are ordered when this object set either of them. */
static void parse_retry(ctx_t *c, int t, const char *path, cfg_retry_t *r)
{
    if (tok_type(c, t) != JSMN_OBJECT) {
        fail(c, path, "expected an object");
        return;
    }
    field_t f[R_COUNT] = {
        [R_MAX_ATTEMPTS] = {"max_attempts", -1},
        [R_INITIAL] = {"initial_delay_ms", -1},
        [R_MULTIPLIER] = {"multiplier", -1},
        [R_MAX_DELAY] = {"max_delay_ms", -1},
        [R_JITTER] = {"jitter", -1},
    };
    scan_fields(c, t, path, f, R_COUNT);
    char p[PATH_CAP];
    bool delays_ok = true;
    if (f[R_MAX_ATTEMPTS].tok >= 0) {
        field_path(p, path, &f[R_MAX_ATTEMPTS]);
        get_u32(c, f[R_MAX_ATTEMPTS].tok, p, 1, 1000000, &r->max_attempts);
    }
    if (f[R_INITIAL].tok >= 0) {
        field_path(p, path, &f[R_INITIAL]);
        delays_ok &= get_uint(c, f[R_INITIAL].tok, p, 0, MAX_DELAY_MS, &r->initial_delay_ms);
    }
    if (f[R_MAX_DELAY].tok >= 0) {
        field_path(p, path, &f[R_MAX_DELAY]);
        delays_ok &= get_uint(c, f[R_MAX_DELAY].tok, p, 0, MAX_DELAY_MS, &r->max_delay_ms);
    }
    if (f[R_MULTIPLIER].tok >= 0) {
        int v = f[R_MULTIPLIER].tok;
        double x = is_number(c, v) ? number_value(c, v) : 0;
        field_path(p, path, &f[R_MULTIPLIER]);
        if (x >= 1 && isfinite(x))
            r->multiplier = x;
        else
            fail(c, p, "expected a number >= 1");
    }
    if (f[R_JITTER].tok >= 0) {
        int v = f[R_JITTER].tok;
        double x = is_number(c, v) ? number_value(c, v) : -1;
        field_path(p, path, &f[R_JITTER]);
        if (x >= 0 && x <= 1)
            r->jitter = x;
        else
            fail(c, p, "expected a number 0..1");
    }
    if (!delays_ok || r->max_delay_ms >= r->initial_delay_ms) return;
    if (f[R_MAX_DELAY].tok >= 0) {
        field_path(p, path, &f[R_MAX_DELAY]);
        fail(c, p, "must be >= initial_delay_ms (%" PRIu64 ")", r->initial_delay_ms);
    } else if (f[R_INITIAL].tok >= 0) {
        field_path(p, path, &f[R_INITIAL]);
        fail(c, p, "must be <= max_delay_ms (%" PRIu64 ")", r->max_delay_ms);
    }
}

/* A scalar filter value; anything else is reported with the expected shapes. */
static void get_filter_value(ctx_t *c, int t, const char *path, const char *expected,
                             cfg_value_t *out)
{
    if (tok_type(c, t) == JSMN_STRING) {
        out->kind = CFG_VALUE_STRING;
        out->str = get_string(c, t, path);
        out->len = out->str ? strlen(out->str) : 0;
    } else if (is_bool(c, t)) {
        out->kind = CFG_VALUE_BOOL;
        out->boolean = *json_tok_ptr(c->doc, t) == 't';
    } else if (is_number(c, t)) {
        out->kind = CFG_VALUE_NUMBER;
        out->number = number_value(c, t);
        if (!isfinite(out->number)) fail(c, path, "number out of range");
    } else {
        fail(c, path, "%s", expected);
    }
}

/* A non-empty array of scalar filter values at t; expected describes the accepted shapes
 * when t is something else. */
static void get_filter_values(ctx_t *c, int t, const char *path, const char *expected,
                              cfg_filter_t *f)
{
    const json_doc_t *d = c->doc;
    if (tok_type(c, t) != JSMN_ARRAY || d->tok[t].size == 0) {
        fail(c, path, "%s", expected);
        return;
    }
    f->values = xcalloc((size_t)d->tok[t].size, sizeof(*f->values));
    for (int e = t + 1, j = 0; j < d->tok[t].size; j++, e = json_skip(d, e)) {
        char q[PATH_CAP];
        index_path(q, path, (size_t)j);
        get_filter_value(c, e, q, "expected a string, number or boolean", &f->values[f->nvalues++]);
    }
}

static const struct {
    const char *name;
    cfg_filter_op_t op;
} filter_ops[] = {
    {"gt", CFG_FILTER_GT},   {"gte", CFG_FILTER_GTE},       {"lt", CFG_FILTER_LT},
    {"lte", CFG_FILTER_LTE}, {"prefix", CFG_FILTER_PREFIX}, {"exists", CFG_FILTER_EXISTS},
    {"in", CFG_FILTER_IN},   {"not_in", CFG_FILTER_NOT_IN},
};

/* An operator object at t: exactly one known operator with an operand of its type. */
static void parse_filter_op(ctx_t *c, int t, const char *path, cfg_filter_t *f)
{
    const json_doc_t *d = c->doc;
    if (d->tok[t].size != 1) {
        fail(c, path,
             "expected exactly one operator: gt, gte, lt, lte, prefix, exists, in or not_in");
        return;
    }
    int k = t + 1, v = t + 2;
    char p[PATH_CAP];
    key_path(p, path, json_tok_ptr(d, k), json_tok_len(d, k));
    size_t i = 0, nops = sizeof(filter_ops) / sizeof(filter_ops[0]);
    while (i < nops && !json_tok_eq(d, k, filter_ops[i].name, strlen(filter_ops[i].name)))
        i++;
    if (i == nops) {
        fail(c, p, "unknown operator (expected gt, gte, lt, lte, prefix, exists, in or not_in)");
        return;
    }
    f->op = filter_ops[i].op;
    if (f->op == CFG_FILTER_IN || f->op == CFG_FILTER_NOT_IN) {
        get_filter_values(c, v, p, "expected a non-empty array of strings, numbers or booleans", f);
        return;
    }
    const char *expected = f->op == CFG_FILTER_PREFIX   ? "expected a string"
                           : f->op == CFG_FILTER_EXISTS ? "expected true or false"
                                                        : "expected a number";
    bool fits = f->op == CFG_FILTER_PREFIX   ? tok_type(c, v) == JSMN_STRING
                : f->op == CFG_FILTER_EXISTS ? is_bool(c, v)
                                             : is_number(c, v);
    f->values = xcalloc(1, sizeof(*f->values));
    f->nvalues = 1;
    if (fits)
        get_filter_value(c, v, p, expected, &f->values[0]);
    else
        fail(c, p, "%s", expected);
}

static void parse_filter(ctx_t *c, int t, const char *path, cfg_subscriber_t *s)
{
    static const char value_shapes[] = "expected a string, number or boolean, a non-empty array "
                                       "of them, or an object with one operator";
    const json_doc_t *d = c->doc;
    if (tok_type(c, t) != JSMN_OBJECT) {
        fail(c, path, "expected an object");
        return;
    }
    s->filters = xcalloc((size_t)d->tok[t].size, sizeof(*s->filters));
    int k = t + 1;
    for (int n = 0; n < d->tok[t].size; n++, k = json_skip(d, k + 1)) {
        int v = k + 1;
        char p[PATH_CAP];
        key_path(p, path, json_tok_ptr(d, k), json_tok_len(d, k));
        cfg_filter_t *f = &s->filters[s->nfilters++];
        bool has_nul;
        f->path = dup_string(c, k, &has_nul);
        if (has_nul || !syntax_filter_path(f->path)) {
            fail(c, p, "expected a dotted path with non-empty segments as the key");
        } else {
            for (size_t j = 0; j + 1 < s->nfilters; j++) {
                if (strcmp(s->filters[j].path, f->path) == 0) {
                    fail(c, p, "duplicate key");
                    break;
                }
            }
        }
        if (tok_type(c, v) == JSMN_OBJECT) {
            parse_filter_op(c, v, p, f);
        } else if (tok_type(c, v) == JSMN_ARRAY) {
            get_filter_values(c, v, p, value_shapes, f);
        } else {
            f->values = xcalloc(1, sizeof(*f->values));
            f->nvalues = 1;
            get_filter_value(c, v, p, value_shapes, &f->values[0]);
        }
    }
}

static void add_secret(ctx_t *c, int t, const char *path, cfg_subscriber_t *s)
{
    char *v = get_string(c, t, path);
    if (!v) return;
    unsigned char key[CFG_SECRET_MAX];
    size_t keylen;
    if (cfg_secret_decode(v, key, &keylen) != 0) {
        fail(c, path, "expected \"whsec_\" followed by base64 of 1 to 128 bytes");
        free(v);
        return;
    }
    s->secrets[s->nsecrets++] = v;
}

static void parse_secret(ctx_t *c, int t, const char *path, cfg_subscriber_t *s)
{
    const json_doc_t *d = c->doc;
    if (tok_type(c, t) == JSMN_STRING) {
        s->secrets = xcalloc(1, sizeof(*s->secrets));
        add_secret(c, t, path, s);
        return;
    }
    if (tok_type(c, t) != JSMN_ARRAY || d->tok[t].size == 0) {
        fail(c, path, "expected a string or a non-empty array of strings");
        return;
    }
    s->secrets = xcalloc((size_t)d->tok[t].size, sizeof(*s->secrets));
    for (int e = t + 1, j = 0; j < d->tok[t].size; j++, e = json_skip(d, e)) {
        char q[PATH_CAP];
        index_path(q, path, (size_t)j);
        add_secret(c, e, q, s);
    }
}

static void parse_headers(ctx_t *c, int t, const char *path, cfg_subscriber_t *s)
{
    const json_doc_t *d = c->doc;
    if (tok_type(c, t) != JSMN_OBJECT) {
        fail(c, path, "expected an object");
        return;
    }
    s->headers = xcalloc((size_t)d->tok[t].size, sizeof(*s->headers));
    int k = t + 1;
    for (int n = 0; n < d->tok[t].size; n++, k = json_skip(d, k + 1)) {
        char p[PATH_CAP];
        key_path(p, path, json_tok_ptr(d, k), json_tok_len(d, k));
        bool has_nul, ok = true;
        char *name = dup_string(c, k, &has_nul);
        if (has_nul || !syntax_header_name(name)) {
            fail(c, p, "invalid header name");
            ok = false;
        } else if (syntax_header_reserved(name)) {
            fail(c, p, "header is set by hookgate and cannot be overridden");
            ok = false;
        } else {
            for (size_t j = 0; j < s->nheaders; j++) {
                if (strcasecmp(s->headers[j].name, name) == 0) {
                    fail(c, p, "duplicate header");
                    ok = false;
                    break;
                }
            }
        }
        char *value = get_string(c, k + 1, p);
        if (value && !syntax_header_value(value)) {
            fail(c, p, "expected a non-empty header value without control characters");
            ok = false;
        }
        if (!ok || !value) {
            free(name);
            free(value);
            continue;
        }
        s->headers[s->nheaders++] = (cfg_header_t){.name = name, .value = value};
    }
}

static void parse_events(ctx_t *c, int t, const char *path, cfg_subscriber_t *s)
{
    const json_doc_t *d = c->doc;
    if (tok_type(c, t) != JSMN_ARRAY || d->tok[t].size == 0) {
        fail(c, path, "expected a non-empty array of event types");
        return;
    }
    s->events = xcalloc((size_t)d->tok[t].size, sizeof(*s->events));
    for (int e = t + 1, j = 0; j < d->tok[t].size; j++, e = json_skip(d, e)) {
        char q[PATH_CAP];
        index_path(q, path, (size_t)j);
        char *v = get_string(c, e, q);
        if (!v) continue;
        if (strcmp(v, "*") == 0) {
            s->all_events = true;
        } else if (!cfg_event_type_valid(v, strlen(v))) {
            fail(c, q, "expected \"*\" or an event type of 1 to 200 [A-Za-z0-9_.:-]");
            free(v);
            continue;
        }
        s->events[s->nevents++] = v;
    }
}

/* Subscriber health: circuit_breaker, rate_limit_per_s, ordered (top level and per
 * subscriber, parsed alike). */

enum { B_THRESHOLD, B_OPEN, B_MAX_OPEN, B_COUNT };

/* true, false or an object whose fields default to the documented values (docs/config.md);
 * replaces *b whole. */
static void parse_breaker(ctx_t *c, int t, const char *path, cfg_breaker_t *b)
{
    cfg_breaker_t nb = {
        .enabled = true, .failure_threshold = 10, .open_ms = 30000, .max_open_ms = 600000};
    if (is_bool(c, t)) {
        nb.enabled = *json_tok_ptr(c->doc, t) == 't';
        *b = nb;
        return;
    }
    if (tok_type(c, t) != JSMN_OBJECT) {
        fail(c, path, "expected true, false or an object");
        return;
    }
    field_t f[B_COUNT] = {
        [B_THRESHOLD] = {"failure_threshold", -1},
        [B_OPEN] = {"open_ms", -1},
        [B_MAX_OPEN] = {"max_open_ms", -1},
    };
    scan_fields(c, t, path, f, B_COUNT);
    char p[PATH_CAP];
    bool ok = true;
    if (f[B_THRESHOLD].tok >= 0) {
        field_path(p, path, &f[B_THRESHOLD]);
        ok &= get_u32(c, f[B_THRESHOLD].tok, p, 1, 1000000, &nb.failure_threshold);
    }
    if (f[B_OPEN].tok >= 0) {
        field_path(p, path, &f[B_OPEN]);
        ok &= get_uint(c, f[B_OPEN].tok, p, 1, MAX_DELAY_MS, &nb.open_ms);
    }
    if (f[B_MAX_OPEN].tok >= 0) {
        field_path(p, path, &f[B_MAX_OPEN]);
        ok &= get_uint(c, f[B_MAX_OPEN].tok, p, 1, MAX_DELAY_MS, &nb.max_open_ms);
    }
    if (ok && nb.max_open_ms < nb.open_ms) {
        const field_t *at = f[B_MAX_OPEN].tok >= 0 ? &f[B_MAX_OPEN] : &f[B_OPEN];
        field_path(p, path, at);
        if (at == &f[B_MAX_OPEN])
            fail(c, p, "must be >= open_ms (%" PRIu64 ")", nb.open_ms);
        else
            fail(c, p, "must be <= max_open_ms (%" PRIu64 ")", nb.max_open_ms);
        return;
    }
    *b = nb;
}

#define RATE_LIMIT_MAX 10000 /* attempts per second; the limiter keeps one slot per attempt */

static void parse_rate_limit(ctx_t *c, int t, const char *path, double *out)
{
    double x = is_number(c, t) ? number_value(c, t) : 0;
    if (x > 0 && x <= RATE_LIMIT_MAX)
        *out = x;
    else
        fail(c, path, "expected a number > 0 and <= %d", RATE_LIMIT_MAX);
}

static void parse_bool(ctx_t *c, int t, const char *path, bool *out)
{
    if (is_bool(c, t))
        *out = *json_tok_ptr(c->doc, t) == 't';
    else
        fail(c, path, "expected true or false");
}

enum {
    S_NAME,
    S_URL,
    S_EVENTS,
    S_FILTER,
    S_SECRET,
    S_HEADERS,
    S_TIMEOUT,
    S_MAX_IN_FLIGHT,
    S_RETRY,
    S_BREAKER,
    S_RATE_LIMIT,
    S_ORDERED,
    S_COUNT
};

static void parse_subscriber(ctx_t *c, int t, const char *path, const cfg_t *cfg,
                             cfg_subscriber_t *s)
{
    s->timeout_ms = 10000;
    s->max_in_flight = 32;
    s->retry = cfg->retry;
    s->breaker = cfg->breaker;
    s->rate_limit_per_s = cfg->rate_limit_per_s;
    s->ordered = cfg->ordered;
    if (tok_type(c, t) != JSMN_OBJECT) {
        fail(c, path, "expected an object");
        return;
    }
    field_t f[S_COUNT] = {
        [S_NAME] = {"name", -1},
        [S_URL] = {"url", -1},
        [S_EVENTS] = {"events", -1},
        [S_FILTER] = {"filter", -1},
        [S_SECRET] = {"secret", -1},
        [S_HEADERS] = {"headers", -1},
        [S_TIMEOUT] = {"timeout_ms", -1},
        [S_MAX_IN_FLIGHT] = {"max_in_flight", -1},
        [S_RETRY] = {"retry", -1},
        [S_BREAKER] = {"circuit_breaker", -1},
        [S_RATE_LIMIT] = {"rate_limit_per_s", -1},
        [S_ORDERED] = {"ordered", -1},
    };
    scan_fields(c, t, path, f, S_COUNT);
    char p[PATH_CAP];
    for (int i = S_NAME; i <= S_EVENTS; i++) {
        if (f[i].tok < 0) {
            field_path(p, path, &f[i]);
            fail(c, p, "required");
        }
    }
    if (f[S_NAME].tok >= 0) {
        field_path(p, path, &f[S_NAME]);
        char *name = get_string(c, f[S_NAME].tok, p);
        if (name && !cfg_name_valid(name, strlen(name))) {
            fail(c, p, "expected 1 to 64 of [A-Za-z0-9_.-]");
            free(name);
            name = NULL;
        }
        for (size_t i = 0; name && i < (size_t)(s - cfg->subscribers); i++) {
            if (cfg->subscribers[i].name && strcmp(cfg->subscribers[i].name, name) == 0) {
                fail(c, p, "duplicate subscriber name \"%s\" (also subscribers[%zu])", name, i);
                break;
            }
        }
        s->name = name;
    }
    if (f[S_URL].tok >= 0) {
        field_path(p, path, &f[S_URL]);
        char *url = get_string(c, f[S_URL].tok, p);
        const char *why = url ? syntax_url(url) : NULL;
        if (why) {
            fail(c, p, "%s", why);
            free(url);
            url = NULL;
        }
        s->url = url;
    }
    if (f[S_EVENTS].tok >= 0) {
        field_path(p, path, &f[S_EVENTS]);
        parse_events(c, f[S_EVENTS].tok, p, s);
    }
    if (f[S_FILTER].tok >= 0) {
        field_path(p, path, &f[S_FILTER]);
        parse_filter(c, f[S_FILTER].tok, p, s);
    }
    if (f[S_SECRET].tok >= 0) {
        field_path(p, path, &f[S_SECRET]);
        parse_secret(c, f[S_SECRET].tok, p, s);
    }
    if (f[S_HEADERS].tok >= 0) {
        field_path(p, path, &f[S_HEADERS]);
        parse_headers(c, f[S_HEADERS].tok, p, s);
    }
    if (f[S_TIMEOUT].tok >= 0) {
        field_path(p, path, &f[S_TIMEOUT]);
        get_u32(c, f[S_TIMEOUT].tok, p, 1, 3600000, &s->timeout_ms);
    }
    if (f[S_MAX_IN_FLIGHT].tok >= 0) {
        field_path(p, path, &f[S_MAX_IN_FLIGHT]);
        get_u32(c, f[S_MAX_IN_FLIGHT].tok, p, 1, 10000, &s->max_in_flight);
    }
    if (f[S_RETRY].tok >= 0) {
        field_path(p, path, &f[S_RETRY]);
        parse_retry(c, f[S_RETRY].tok, p, &s->retry);
    }
    if (f[S_BREAKER].tok >= 0) {
        field_path(p, path, &f[S_BREAKER]);
        parse_breaker(c, f[S_BREAKER].tok, p, &s->breaker);
    }
    if (f[S_RATE_LIMIT].tok >= 0) {
        field_path(p, path, &f[S_RATE_LIMIT]);
        parse_rate_limit(c, f[S_RATE_LIMIT].tok, p, &s->rate_limit_per_s);
    }
    if (f[S_ORDERED].tok >= 0) {
        field_path(p, path, &f[S_ORDERED]);
        parse_bool(c, f[S_ORDERED].tok, p, &s->ordered);
    }
}

/* An optional token: absent or empty means none. */
static void parse_token(ctx_t *c, const field_t *f, char **out)
{
    char p[PATH_CAP];
    if (f->tok < 0) return;
    field_path(p, "", f);
    char *v = get_string(c, f->tok, p);
    if (v && !syntax_token(v)) {
        fail(c, p, "expected visible ASCII characters without spaces");
        free(v);
        return;
    }
    if (v && !*v) {
        free(v);
        return;
    }
    *out = v;
}

enum {
    T_LISTEN,
    T_DATA_DIR,
    T_INGEST_TOKEN,
    T_ADMIN_TOKEN,
    T_MAX_BODY,
    T_RETENTION,
    T_MAP_SIZE,
    T_MAX_IN_FLIGHT,
    T_GRACE,
    T_MAX_CONNECTIONS,
    T_MAX_BUFFERED,
    T_STORE_FAILURE_EXIT,
    T_LOG_FORMAT,
    T_TLS,
    T_RETRY,
    T_BREAKER,
    T_RATE_LIMIT,
    T_ORDERED,
    T_SUBSCRIBERS,
    T_COUNT
};

static void parse_root(ctx_t *c, cfg_t *cfg)
{
    const json_doc_t *d = c->doc;
    field_t f[T_COUNT] = {
        [T_LISTEN] = {"listen", -1},
        [T_DATA_DIR] = {"data_dir", -1},
        [T_INGEST_TOKEN] = {"ingest_token", -1},
        [T_ADMIN_TOKEN] = {"admin_token", -1},
        [T_MAX_BODY] = {"max_body_bytes", -1},
        [T_RETENTION] = {"retention_hours", -1},
        [T_MAP_SIZE] = {"map_size_mb", -1},
        [T_MAX_IN_FLIGHT] = {"max_in_flight", -1},
        [T_GRACE] = {"shutdown_grace_ms", -1},
        [T_MAX_CONNECTIONS] = {"max_connections", -1},
        [T_MAX_BUFFERED] = {"max_buffered_body_bytes", -1},
        [T_STORE_FAILURE_EXIT] = {"store_failure_exit_ms", -1},
        [T_LOG_FORMAT] = {"log_format", -1},
        [T_TLS] = {"tls", -1},
        [T_RETRY] = {"retry", -1},
        [T_BREAKER] = {"circuit_breaker", -1},
        [T_RATE_LIMIT] = {"rate_limit_per_s", -1},
        [T_ORDERED] = {"ordered", -1},
        [T_SUBSCRIBERS] = {"subscribers", -1},
    };
    scan_fields(c, 0, "", f, T_COUNT);
    static const int required[] = {T_LISTEN, T_DATA_DIR, T_SUBSCRIBERS};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (f[required[i]].tok < 0) fail(c, f[required[i]].key, "required");

    if (f[T_LISTEN].tok >= 0) {
        char *v = get_string(c, f[T_LISTEN].tok, "listen");
        const char *why = v ? syntax_listen(v, &cfg->listen_host, &cfg->listen_port) : NULL;
        if (why) {
            fail(c, "listen", "%s", why);
            free(v);
            v = NULL;
        }
        cfg->listen = v;
    }
    if (f[T_DATA_DIR].tok >= 0) {
        char *v = get_string(c, f[T_DATA_DIR].tok, "data_dir");
        if (v && !*v) {
            fail(c, "data_dir", "expected a non-empty string");
            free(v);
            v = NULL;
        }
        cfg->data_dir = v;
    }
    parse_token(c, &f[T_INGEST_TOKEN], &cfg->ingest_token);
    parse_token(c, &f[T_ADMIN_TOKEN], &cfg->admin_token);
    bool body_ok = f[T_MAX_BODY].tok < 0 || get_uint(c, f[T_MAX_BODY].tok, "max_body_bytes", 1,
                                                     1u << 30, &cfg->max_body_bytes);
    if (f[T_RETENTION].tok >= 0)
        get_u32(c, f[T_RETENTION].tok, "retention_hours", 0, 87600, &cfg->retention_hours);
    if (f[T_MAP_SIZE].tok >= 0)
        get_uint(c, f[T_MAP_SIZE].tok, "map_size_mb", 1, 1u << 24, &cfg->map_size_mb);
    if (f[T_MAX_IN_FLIGHT].tok >= 0)
        get_u32(c, f[T_MAX_IN_FLIGHT].tok, "max_in_flight", 1, 100000, &cfg->max_in_flight);
    if (f[T_GRACE].tok >= 0)
        get_u32(c, f[T_GRACE].tok, "shutdown_grace_ms", 0, 3600000, &cfg->shutdown_grace_ms);
    if (f[T_MAX_CONNECTIONS].tok >= 0)
        get_u32(c, f[T_MAX_CONNECTIONS].tok, "max_connections", 1, 1000000, &cfg->max_connections);
    if (f[T_STORE_FAILURE_EXIT].tok >= 0)
        get_u32(c, f[T_STORE_FAILURE_EXIT].tok, "store_failure_exit_ms", 0, 86400000,
                &cfg->store_failure_exit_ms);
    /* One whole body must always fit under the buffering cap, so an unset cap grows to
     * a max_body_bytes above its default rather than failing a config that never named it. */
    if (f[T_MAX_BUFFERED].tok < 0) {
        if (cfg->max_buffered_body_bytes < cfg->max_body_bytes)
            cfg->max_buffered_body_bytes = cfg->max_body_bytes;
    } else if (get_uint(c, f[T_MAX_BUFFERED].tok, "max_buffered_body_bytes", 1, UINT64_C(1) << 40,
                        &cfg->max_buffered_body_bytes) &&
               body_ok && cfg->max_buffered_body_bytes < cfg->max_body_bytes) {
        fail(c, "max_buffered_body_bytes", "must be >= max_body_bytes (%" PRIu64 ")",
             cfg->max_body_bytes);
    }
    if (f[T_LOG_FORMAT].tok >= 0) parse_log_format(c, f[T_LOG_FORMAT].tok, cfg);
    if (f[T_TLS].tok >= 0) parse_tls(c, f[T_TLS].tok, cfg);
    /* Before the subscribers: theirs override it field by field. */
    if (f[T_RETRY].tok >= 0) parse_retry(c, f[T_RETRY].tok, "retry", &cfg->retry);
    if (f[T_BREAKER].tok >= 0) parse_breaker(c, f[T_BREAKER].tok, "circuit_breaker", &cfg->breaker);
    if (f[T_RATE_LIMIT].tok >= 0)
        parse_rate_limit(c, f[T_RATE_LIMIT].tok, "rate_limit_per_s", &cfg->rate_limit_per_s);
    if (f[T_ORDERED].tok >= 0) parse_bool(c, f[T_ORDERED].tok, "ordered", &cfg->ordered);

    int t = f[T_SUBSCRIBERS].tok;
    if (t < 0) return;
    if (tok_type(c, t) != JSMN_ARRAY) {
        fail(c, "subscribers", "expected an array");
        return;
    }
    cfg->subscribers = xcalloc((size_t)d->tok[t].size, sizeof(*cfg->subscribers));
    cfg->nsubscribers = (size_t)d->tok[t].size;
    for (int e = t + 1, j = 0; j < d->tok[t].size; j++, e = json_skip(d, e)) {
        char p[PATH_CAP];
        index_path(p, "subscribers", (size_t)j);
        parse_subscriber(c, e, p, cfg, &cfg->subscribers[j]);
    }
}

/* Gives the problems collected in c to *errors (a malloc'd string), or drops them. */
static void hand_over_errors(ctx_t *c, char **errors)
{
    if (errors)
        *errors = core_buf_cstr(&c->errors);
    else
        core_buf_free(&c->errors);
}

int cfg_parse(const char *text, size_t len, cfg_t **out, char **errors)
{
    ctx_t c = {0};
    json_doc_t doc;
    char jerr[128];
    *out = NULL;
    if (errors) *errors = NULL;
    if (json_parse(&doc, text, len, MAX_DEPTH, jerr, sizeof(jerr)) != 0) {
        fail(&c, "(root)", "invalid JSON: %s", jerr);
        hand_over_errors(&c, errors);
        return -EINVAL;
    }
    c.doc = &doc;
    cfg_t *cfg = xcalloc(1, sizeof(*cfg));
    cfg->max_body_bytes = 1048576;
    cfg->retention_hours = 168;
    cfg->map_size_mb = 1024;
    cfg->max_in_flight = 256;
    cfg->shutdown_grace_ms = 10000;
    cfg->max_connections = 1024;
    cfg->max_buffered_body_bytes = UINT64_C(64) << 20;
    cfg->store_failure_exit_ms = 10000;
    cfg->retry = (cfg_retry_t){.max_attempts = 10,
                               .initial_delay_ms = 1000,
                               .multiplier = 2.0,
                               .max_delay_ms = 3600000,
                               .jitter = 0.2};
    if (doc.tok[0].type != JSMN_OBJECT)
        fail(&c, "(root)", "expected an object");
    else
        parse_root(&c, cfg);
    json_free(&doc);
    if (c.nerr == 0) {
        *out = cfg;
        return 0;
    }
    if (c.nerr > MAX_ERRORS)
        core_buf_printf(&c.errors, "(%u more problems not shown)\n", c.nerr - MAX_ERRORS);
    cfg_free(cfg);
    hand_over_errors(&c, errors);
    return -EINVAL;
}

int cfg_load_file(const char *path, cfg_t **out, char **errors)
{
    *out = NULL;
    if (errors) *errors = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    core_buf_t text = {0};
    int err = fd < 0 ? errno : 0;
    while (!err) {
        if (text.len >= MAX_FILE_BYTES) {
            err = EFBIG;
            break;
        }
        core_buf_reserve(&text, 4096);
        ssize_t n = read(fd, text.p + text.len, text.cap - text.len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) err = errno;
        if (n <= 0) break;
        text.len += (size_t)n;
    }
    if (fd >= 0) close(fd);
    if (err) {
        core_buf_free(&text);
        ctx_t c = {0};
        fail(&c, path, "cannot read: %s", strerror(err));
        hand_over_errors(&c, errors);
        return -err;
    }
    int rc = cfg_parse(text.p, text.len, out, errors);
    core_buf_free(&text);
    return rc;
}

const cfg_subscriber_t *cfg_find_subscriber(const cfg_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nsubscribers; i++)
        if (cfg->subscribers[i].name && strcmp(cfg->subscribers[i].name, name) == 0)
            return &cfg->subscribers[i];
    return NULL;
}

static void free_subscriber(cfg_subscriber_t *s)
{
    free(s->name);
    free(s->url);
    for (size_t i = 0; i < s->nevents; i++)
        free(s->events[i]);
    free(s->events);
    for (size_t i = 0; i < s->nfilters; i++) {
        for (size_t j = 0; j < s->filters[i].nvalues; j++)
            free(s->filters[i].values[j].str);
        free(s->filters[i].values);
        free(s->filters[i].path);
    }
    free(s->filters);
    for (size_t i = 0; i < s->nsecrets; i++)
        free(s->secrets[i]);
    free(s->secrets);
    for (size_t i = 0; i < s->nheaders; i++) {
        free(s->headers[i].name);
        free(s->headers[i].value);
    }
    free(s->headers);
}

void cfg_free(cfg_t *cfg)
{
    if (!cfg) return;
    free(cfg->listen);
    free(cfg->listen_host);
    free(cfg->data_dir);
    free(cfg->ingest_token);
    free(cfg->admin_token);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    for (size_t i = 0; i < cfg->nsubscribers; i++)
        free_subscriber(&cfg->subscribers[i]);
    free(cfg->subscribers);
    free(cfg);
}
