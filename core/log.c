/* log.c -- timestamped log lines, as text or JSON, one write(2) each. */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Client and action are short by nature (an address, a verb); cut them well before the
 * message so the line buffer below can always hold everything escaped. */
#define LOG_FIELD_MAX 128
/* Worst case: every byte escaped as \u00XX (6 bytes) plus the fixed parts. */
#define LOG_LINE_MAX (6 * (LOG_MSG_MAX + 2 * LOG_FIELD_MAX) + 256)

static atomic_bool json_lines;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_format_json(bool json)
{
    atomic_store_explicit(&json_lines, json, memory_order_relaxed);
}

typedef struct {
    char p[LOG_LINE_MAX];
    size_t len;
} line_t;

static void put(line_t *l, const char *s, size_t n)
{
    if (n > sizeof(l->p) - l->len) n = sizeof(l->p) - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_(line_t *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 if it is not one:
 * overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Appends s escaped: as the inside of a JSON string (json), or for a text line, where
 * only control characters and invalid UTF-8 are escaped (\n, \t, \xHH) so that the line
 * stays one line and readable. */
static void put_escaped(line_t *l, const char *s, size_t n, bool json)
{
    const unsigned char *u = (const unsigned char *)s;
    char esc[8];
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t len = utf8_len(u + i, n - i);
            if (len > 0) {
                put(l, s + i, len);
                i += len;
                continue;
            }
            if (json)
                puts_(l, "\\ufffd");
            else
                put(l, esc, (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c));
            i++;
            continue;
        }
        i++;
        if (c == '\n') {
            puts_(l, "\\n");
        } else if (c == '\r') {
            puts_(l, "\\r");
        } else if (c == '\t') {
            puts_(l, "\\t");
        } else if (c < 0x20 || (c == 0x7f && !json)) {
            put(l, esc,
                (size_t)snprintf(esc, sizeof(esc), json ? "\\u%04x" : "\\x%02x", (unsigned)c));
        } else if (json && (c == '"' || c == '\\')) {
            char pair[2] = {'\\', (char)c};
            put(l, pair, 2);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
}

static void put_field(line_t *l, const char *s, bool json)
{
    size_t n = strnlen(s, LOG_FIELD_MAX);
    put_escaped(l, s, n, json);
}

/* "2026-12-01T18:00:00.123Z", from the real-time clock. */
static void put_timestamp(line_t *l)
{
    struct timespec ts;
    struct tm tm;
    char s[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(s + n, sizeof(s) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    put(l, s, n);
}

/* Writes the whole line with as few write(2) calls as the kernel allows: one, unless
 * interrupted or cut short. A failed write to stderr has nowhere to be reported. */
static void emit(const line_t *l)
{
    size_t off = 0;
    while (off < l->len) {
        ssize_t w = write(STDERR_FILENO, l->p + off, l->len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        off += (size_t)w;
    }
}

static void vlog(log_level_t level, const char *client, const char *action, const char *fmt,
                 va_list ap)
{
    char msg[LOG_MSG_MAX + 1];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t msg_len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    if ((unsigned)level > LOG_ERROR) level = LOG_ERROR;
    bool json = atomic_load_explicit(&json_lines, memory_order_relaxed);

    static _Thread_local line_t l; /* ~15 KiB: off the stack of small-stack threads */
    l.len = 0;
    if (json) {
        puts_(&l, "{\"ts\":\"");
        put_timestamp(&l);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, level_names[level]);
        puts_(&l, "\"");
        if (action) {
            puts_(&l, ",\"audit\":true,\"client\":\"");
            put_field(&l, client, true);
            puts_(&l, "\",\"action\":\"");
            put_field(&l, action, true);
            puts_(&l, "\"");
        }
        puts_(&l, ",\"msg\":\"");
        put_escaped(&l, msg, msg_len, true);
        puts_(&l, "\"}\n");
    } else {
        put_timestamp(&l);
        puts_(&l, " ");
        puts_(&l, level_names[level]);
        puts_(&l, " hookgate: ");
        if (action) {
            puts_(&l, "audit client=");
            put_field(&l, client, false);
            puts_(&l, " action=");
            put_field(&l, action, false);
            puts_(&l, " ");
        }
        put_escaped(&l, msg, msg_len, false);
        puts_(&l, "\n");
    }
    emit(&l);
}

void log_line(log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, NULL, fmt, ap);
    va_end(ap);
}

void log_audit(const char *client, const char *action, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_INFO, client ? client : "-", action ? action : "-", fmt, ap);
    va_end(ap);
}
