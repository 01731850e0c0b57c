/* field.h -- members of the admin API's JSON answers, read for display and written back.
 * Pure: no I/O; any thread. */
#ifndef HOOKGATE_CLI_FIELD_H
#define HOOKGATE_CLI_FIELD_H

#include "config/json.h"
#include "core/buf.h"

/* Member key of the object at token obj as text: strings decoded, other values as written,
 * null and absent as "-". Returns a malloc'd string, never NULL. */
char *field_text(const json_doc_t *doc, int obj, const char *key);

/* Member key of the object at token obj as an integer; 0 when absent or not a number. */
long long field_int(const json_doc_t *doc, int obj, const char *key);

/* Appends s as a JSON string literal (quoted and escaped) to b. */
void field_put_json_string(core_buf_t *b, const char *s);

#endif
