/* log.h -- the gateway's log lines on stderr: an RFC 3339 UTC timestamp with milliseconds,
 * a level, then the message; as text or as one JSON object per line.
 *
 *   text: 2026-12-01T18:00:00.123Z info hookgate: message
 *   json: {"ts":"2026-12-01T18:00:00.123Z","level":"info","msg":"message"}
 *
 * Audit lines (admin actions) are info lines that also carry the client's address and the
 * action: in text "... info hookgate: audit client=127.0.0.1 action=redrive <message>", in
 * JSON the extra members "audit":true, "client" and "action".
 *
 * Each line goes out in one write(2), so lines from different threads never interleave.
 * Control characters and invalid UTF-8 in a message are escaped, so a message built from
 * request data cannot forge a second line. A message longer than LOG_MSG_MAX bytes is cut.
 * Callers never pass secrets (tokens, signing keys) into a message.
 * Any thread may call any of these functions. */
#ifndef HOOKGATE_CORE_LOG_H
#define HOOKGATE_CORE_LOG_H

#include <stdbool.h>

#define LOG_MSG_MAX 2048

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

/* Chooses JSON lines (true) or text lines (false, the default) for every later line. */
void log_set_format_json(bool json);
/* Writes one line at level. */
void log_line(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes one audit line (level info): client is the peer's address, action a short verb
 * ("redrive", "delete", ...), the message says what the action selected. */
void log_audit(const char *client, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
