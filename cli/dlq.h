/* dlq.h -- the dead-letter commands on one dead letter (`dlq show`, `dlq retry ID`,
 * `dlq delete ID`) and on a selection on every node (`dlq retry --all`, `dlq purge`).
 * Main thread only; prints to stdout, failures through the client. */
#ifndef HOOKGATE_CLI_DLQ_H
#define HOOKGATE_CLI_DLQ_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/client.h"

/* Shows dead letter id of node with its attempts and event; qid is the id as the operator
 * wrote it, shown with several nodes. */
void dlq_show(client_t *c, size_t node, const char *id, const char *qid, bool json);

/* Redrives (retry) or deletes dead letter id of node. */
void dlq_change_one(client_t *c, bool retry, size_t node, const char *id, bool json);

/* Redrives (retry) or deletes every dead letter matching f on every node. */
void dlq_change_all(client_t *c, bool retry, const client_filters_t *f, bool json);

#endif
