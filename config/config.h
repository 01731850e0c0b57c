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

typedef struct {
    char *path; /* dotted path into the envelope, e.g. "payload.product_id" */
    cfg_value_t *values;
    size_t nvalues; /* >= 1 */
} cfg_filter_t;

typedef struct {
    char *name;
    char *value;
} cfg_header_t;

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
    cfg_retry_t retry;
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
