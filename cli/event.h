/* event.h -- `event ID`: an event and the state of each of its deliveries, looked up on
 * every node. Main thread only; prints to stdout, failures through the client. */
#ifndef HOOKGATE_CLI_EVENT_H
#define HOOKGATE_CLI_EVENT_H

#include <stdbool.h>

#include "cli/client.h"

/* Shows event id from every node that has it. With several nodes, a 404 from a node only
 * means "not here"; no node having it is a failure (c->failed). */
void event_show(client_t *c, const char *id, bool json);

#endif
