/* output.h -- the answers as hookgate-admin prints them whole: one node's JSON as it came,
 * every node's answer wrapped in {"nodes": [...]}, and counts summed over the nodes.
 * Main thread only (stdout). */
#ifndef HOOKGATE_CLI_OUTPUT_H
#define HOOKGATE_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/client.h"

/* Prints r's answer as it came, with a newline after it if it has none. */
void out_raw(const client_reply_t *r);

/* Prints {"nodes": [{"node", "url", "status", "answer" | "error"}]}: for each reply its
 * node's own JSON answer, or why there is none (the body of a non-2xx or unparsable answer,
 * or the reason no answer came, with status null). */
void out_nodes_json(const client_t *c, const client_reply_t *r, size_t n);

/* The count the answers carry under key (requeued, deleted), summed over the nodes that
 * answered and printed as "<key> N <one|many>" plus, with several nodes, each node's part;
 * with json, the answers instead (out_nodes_json, or the one node's answer). Replies that
 * failed are reported through the client. */
void out_counts(client_t *c, const client_reply_t *r, size_t n, const char *method, const char *key,
                const char *one, const char *many, bool json);

#endif
