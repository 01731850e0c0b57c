/* subscribers.h -- the subscriber commands: `subscribers` (delivery counters, summed over the
 * nodes or per node) and `subscribers pause|resume|replay NAME` on every node.
 * Main thread only; prints to stdout, failures through the client. */
#ifndef HOOKGATE_CLI_SUBSCRIBERS_H
#define HOOKGATE_CLI_SUBSCRIBERS_H

#include <stdbool.h>

#include "cli/client.h"

/* Lists the subscribers; with several nodes one summed row each, or with per_node one row
 * per node that has it. */
void subs_list(client_t *c, bool per_node, bool json);

/* action "pause", "resume" or "replay" of subscriber name on every node; f (replay only,
 * else NULL) selects the events replayed. */
void subs_action(client_t *c, const char *action, const char *name, const client_filters_t *f,
                 bool json);

#endif
