/* config.h -- the gateway's JSON config file: parse, validate, defaults, ${VAR}. */
#ifndef HOOKGATE_CONFIG_H
#define HOOKGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t max_attempts;     /* >= 1; default 10 */
    uint64_t initial_delay_ms; /* default 1000 */
    double multiplier;         /* >= 1.0; default 2.0 */
    uint64_t max_delay_ms;     /* >= initial_delay_ms; default 3600000 */
    double jitter;             /* 0..1; default 0.2 */
} cfg_retry_t;

typedef enum { CFG_VALUE_STRING, CFG_VALUE_NUMBER, CFG_VALUE_BOOL } cfg_value_kind_t;

/* One accepted value of a filter key. */
typedef struct {
    cfg_value_kind_t kind;
    char *str;     /* STRING: the decoded string (escapes resolved), NUL-terminated */
    size_t len;    /* STRING: its length */
    double number; /* NUMBER */
    bool boolean;  /* BOOL */
} cfg_value_t;

/* How a filter key tests the value at its path. Strings, numbers and booleans are the
 * comparable kinds; a value of another kind (object, array, null) never matches, except
 * under EXISTS. */
typedef enum {
    CFG_FILTER_IN,     /* a plain value or array, or {"in": [..]}: equal to one of values */
    CFG_FILTER_NOT_IN, /* {"not_in": [..]}: the path is missing, or equal to none of values */
    CFG_FILTER_GT,     /* {"gt": N} etc.: a number compared with values[0].number */
    CFG_FILTER_GTE,
    CFG_FILTER_LT,
    CFG_FILTER_LTE,
    CFG_FILTER_PREFIX, /* {"prefix": "s"}: a string that starts with values[0].str */
    CFG_FILTER_EXISTS, /* {"exists": b}: the path is present (any value) iff values[0].boolean */
} cfg_filter_op_t;

typedef struct {
    char *path; /* dotted path into the envelope, e.g. "payload.product_id" */
    cfg_filter_op_t op;
    cfg_value_t *values; /* the operand(s); exactly one unless op is IN or NOT_IN */
    size_t nvalues;      /* >= 1 */
} cfg_filter_t;

typedef struct {
    char *name;
    char *value;
} cfg_header_t;

/* A subscriber's circuit breaker (off unless the config turns it on). */
typedef struct {
    bool enabled;
    uint32_t failure_threshold; /* consecutive failed attempts that open it; default 10 */
    uint64_t open_ms;           /* first open period; default 30000 */
    uint64_t max_open_ms;       /* >= open_ms; the doubling stops here; default 600000 */
} cfg_breaker_t;

typedef struct {
    char *name; /* [A-Za-z0-9_.-]{1,64}, unique */
    char *url;  /* http:// or https:// */
    char **events;
    size_t nevents;  /* >= 1 */
    bool all_events; /* events contains "*" */
    cfg_filter_t *filters;
    size_t nfilters;
    char **secrets; /* each "whsec_" + base64; none when nsecrets == 0 */
    size_t nsecrets;
    cfg_header_t *headers;
    size_t nheaders;
    uint32_t timeout_ms;    /* default 10000 */
    uint32_t max_in_flight; /* default 32 */
    cfg_retry_t retry;      /* the global retry policy overridden field by field */
    /* Subscriber health and flow control: the top-level values unless the subscriber sets
     * its own (a circuit_breaker value replaces the top-level one whole). */
    cfg_breaker_t breaker;
    double rate_limit_per_s; /* > 0; 0 when there is no limit */
    bool ordered;            /* one attempt at a time, in accept order */
} cfg_subscriber_t;

typedef struct {
    char *listen;      /* "host:port" as written */
    char *listen_host; /* "127.0.0.1" ("[::1]:80" gives "::1") */
    uint16_t listen_port;
    char *data_dir;
    char *ingest_token; /* NULL when absent or empty */
    char *admin_token;  /* NULL when absent or empty */
    uint64_t max_body_bytes;   /* default 1048576 */
    uint32_t retention_hours;  /* default 168 */
    uint64_t map_size_mb;      /* extension; default 1024 */
    uint32_t max_in_flight;    /* extension: global cap on concurrent deliveries; default 256 */
    uint32_t shutdown_grace_ms; /* extension: SIGTERM grace for in-flight deliveries; default 10000 */
    /* extension: cap on open client connections; >= 1, default 1024 */
    uint32_t max_connections;
    /* extension: cap on the bytes of request bodies held in memory at once; >= max_body_bytes,
     * default 64 MiB (raised to max_body_bytes when that is larger and this is not set) */
    uint64_t max_buffered_body_bytes;
    /* extension: how long store commits may keep failing before the gateway exits (fail-stop)
     * so that a supervisor restarts it; default 10000 */
    uint32_t store_failure_exit_ms;
    bool log_json; /* extension: "log_format": "json" (true) or "text" (false, the default) */
    /* extension: "tls": {"cert_file", "key_file"}, PEM paths; both NULL without "tls" */
    char *tls_cert_file, *tls_key_file;
    cfg_retry_t retry;
    /* defaults of the subscribers' keys of the same names */
    cfg_breaker_t breaker;
    double rate_limit_per_s;
    bool ordered;
    cfg_subscriber_t *subscribers;
    size_t nsubscribers;
} cfg_t;

/* Parses and validates a config document. On success returns 0 and a config owned by
 * the caller (cfg_free). On failure returns -EINVAL and *errors holds a malloc'd,
 * newline-terminated list with one line per problem, each naming the JSON path
 * ("subscribers[1].url: expected an http:// or https:// URL"); the caller frees it.
 * ${NAME} strings are replaced from the process environment (getenv). Any thread. */
int cfg_parse(const char *text, size_t len, cfg_t **out, char **errors);

/* Reads path and parses it as cfg_parse does; an unreadable file is one error line. */
int cfg_load_file(const char *path, cfg_t **out, char **errors);

/* True when s/n is a subscriber name: [A-Za-z0-9_.-]{1,64}. Any thread. */
bool cfg_name_valid(const char *s, size_t n);

/* True when s/n is an event type: [A-Za-z0-9_.:-]{1,200} ("*" is not one). Any thread. */
#define CFG_EVENT_TYPE_MAX 200
bool cfg_event_type_valid(const char *s, size_t n);

/* Subscriber by name, or NULL. */
const cfg_subscriber_t *cfg_find_subscriber(const cfg_t *cfg, const char *name);

void cfg_free(cfg_t *cfg);

#endif
