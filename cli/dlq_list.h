/* dlq_list.h -- `dlq list`: a page of dead letters, oldest first, from one gateway as it
 * answers, or merged over several nodes with node-qualified ids and a composite cursor.
 * Main thread only; prints to stdout, failures through the client. */
#ifndef HOOKGATE_CLI_DLQ_LIST_H
#define HOOKGATE_CLI_DLQ_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/client.h"
#include "cli/merge.h"

/* One gateway's page: limit and cursor are passed on as given (NULL when not given); the
 * gateway checks them. */
void dlq_list_single(client_t *c, const client_filters_t *f, const char *limit, const char *cursor,
                     bool json);

/* A merged page of at most limit (1..1000) items over every node, each node continuing from
 * pos[node] (the parsed --cursor; borrowed). Prints the table (or JSON) and the composite
 * cursor of the next page. */
void dlq_list_merged(client_t *c, const client_filters_t *f, size_t limit, const merge_pos_t *pos,
                     bool json);

#endif
