/* replay.h -- which stored events a replay to a subscriber selects. Pure: an event's
 * stored bytes in, a yes or no out. */
#ifndef HOOKGATE_REPLAY_H
#define HOOKGATE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* A replay's selection beyond the subscriber's own events and filter. */
typedef struct {
    const char *type;           /* "" or NULL: any type */
    bool has_since, has_until;  /* bounds on occurred_at, inclusive */
    int64_t since_ms, until_ms; /* unix ms */
    int64_t min_received_ms;    /* retention: events received earlier are not replayed */
} replay_sel_t;

/* True when the stored event (type, envelope body, receive time) matches sub's current
 * events and filter and sel. An envelope that cannot be parsed, or whose occurred_at is
 * missing or not RFC 3339 while a bound is set, is not selected. Any thread. */
bool replay_selects(const cfg_subscriber_t *sub, const replay_sel_t *sel, const char *type,
                    size_t type_len, const char *body, size_t body_len, int64_t received_ms);

#endif
