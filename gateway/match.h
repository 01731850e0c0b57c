/* match.h -- does a subscription (event types + payload filter) match an envelope? Pure. */
#ifndef HOOKGATE_MATCH_H
#define HOOKGATE_MATCH_H

#include <stdbool.h>

#include "config/config.h"
#include "config/json.h"

/* True when sub's events list names the envelope's type (or "*") and every filter key
 * resolves, inside the envelope object at token env, to a value equal to one of the
 * listed values: strings compare decoded (so "\u0041" equals "A"), numbers compare
 * numerically (1 equals 1.0), booleans by value; a missing path, or a value of
 * another kind (object, array, null), does not match. type/type_len is the envelope's
 * (already validated) type. */
bool match_subscriber(const cfg_subscriber_t *sub, const char *type, size_t type_len,
                      const json_doc_t *doc, int env);

#endif
