/* match.h -- does a subscription (event types + payload filter) match an envelope? Pure. */
#ifndef HOOKGATE_MATCH_H
#define HOOKGATE_MATCH_H

#include <stdbool.h>

#include "config/config.h"
#include "config/json.h"

/* True when sub's events list names the envelope's type (or "*") and every filter key's
 * test (cfg_filter_op_t) passes for the value at its path inside the envelope object at
 * token env. Strings compare decoded (so "\u0041" equals "A"; prefix too), numbers
 * numerically as doubles (1 equals 1.0), booleans by value, and each kind only with its
 * own kind. A value of the wrong kind for the test (a string for gt, an object, array or
 * null for anything but exists) does not match; a missing path matches only exists:false
 * and not_in. type/type_len is the envelope's (already validated) type. Any thread. */
bool match_subscriber(const cfg_subscriber_t *sub, const char *type, size_t type_len,
                      const json_doc_t *doc, int env);

#endif
