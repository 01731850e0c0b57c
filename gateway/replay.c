/* replay.c -- which stored events a replay selects (replay.h). */
#include "gateway/replay.h"

#include <string.h>

#include "config/json.h"
#include "gateway/civil.h"
#include "gateway/envelope.h"
#include "gateway/match.h"

/* Whether the envelope's occurred_at lies within sel's bounds. */
static bool occurred_within(const replay_sel_t *sel, const json_doc_t *doc)
{
    if (!sel->has_since && !sel->has_until) return true;
    int t = json_object_get(doc, 0, "occurred_at", strlen("occurred_at"));
    int64_t at;
    if (t < 0 || !json_is_string(doc, t) ||
        !civil_parse_rfc3339(json_tok_ptr(doc, t), json_tok_len(doc, t), false, &at))
        return false;
    return (!sel->has_since || at >= sel->since_ms) && (!sel->has_until || at <= sel->until_ms);
}

bool replay_selects(const cfg_subscriber_t *sub, const replay_sel_t *sel, const char *type,
                    size_t type_len, const char *body, size_t body_len, int64_t received_ms)
{
    if (received_ms < sel->min_received_ms) return false;
    if (sel->type && sel->type[0] &&
        (strlen(sel->type) != type_len || memcmp(sel->type, type, type_len) != 0))
        return false;
    json_doc_t doc;
    char err[64];
    if (json_parse(&doc, body, body_len, ENVELOPE_MAX_DEPTH, err, sizeof(err)) != 0) return false;
    bool ok = doc.tok[0].type == JSMN_OBJECT && occurred_within(sel, &doc) &&
              match_subscriber(sub, type, type_len, &doc, 0);
    json_free(&doc);
    return ok;
}
