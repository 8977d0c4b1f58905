/*
 * core/log.h — structured, one-line-per-event logging.
 *
 * Every line carries ts, level and a stable event name, followed by typed
 * key/value pairs, in logfmt (default) or JSON:
 *
 *   ts=2026-11-26T19:52:37.123Z level=info event=nats_connected server=nats://h:4222 rtt_ms=3
 *   {"ts":"2026-11-26T19:52:37.123Z","level":"info","event":"nats_connected",...}
 *
 *   log_emit(LOG_INFO, "listen", LOG_STR("addr", addr), LOG_INT("fd", fd));
 *
 * Values are typed, never printf-formatted, so both formats escape them
 * correctly: logfmt quotes a value containing a space, '=', '"', a control
 * byte or invalid UTF-8 and escapes \" \\ \n \r \t and \xNN inside the
 * quotes; JSON escapes every string fully and replaces invalid UTF-8 with
 * U+FFFD. Keys are program constants; any byte in a key outside
 * [A-Za-z0-9_.-] is written as '_' so a key never breaks a line. Keys must
 * not repeat ts, level or event.
 *
 * A line is at most LOG_LINE_MAX bytes and goes out in a single write(2),
 * so lines from several threads never interleave (LOG_LINE_MAX equals
 * PIPE_BUF: writes to a pipe of that size are atomic). A longer line is cut
 * at a value boundary or inside a string value (the quote is closed) and
 * ends with the field truncated=true, so it stays well-formed.
 *
 * Process-wide sink. This is the one piece of process-wide state in h8s,
 * on purpose: stderr already is a process-wide resource, and every module
 * (the loop, the NATS client, both daemons) logs to the same place with the
 * same level and format; threading a logger pointer through every API would
 * buy nothing. The state is three atomics (level, format, fd), set by
 * log_configure at start-up (and safely again later, e.g. on SIGHUP); until
 * then lines go to fd 2 at level info in logfmt.
 *
 * Secrets: LOG_URL redacts the password or token of a URL (or a comma list
 * of URLs) before it is written; use it for every URL that may carry
 * credentials. log_redact_url does the same for a caller buffer.
 */
#ifndef H8S_CORE_LOG_H
#define H8S_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON = 1 };

/* Maximum bytes in one line, newline included (equal to PIPE_BUF). */
#define LOG_LINE_MAX 4096

/*
 * Names accepted by log_level_parse / log_format_parse, indexed by the enum
 * value and NULL-terminated; usable as the choices of a FLAGS_ENUM flag
 * (core/flags.h): "debug", "info", "warn", "error" and "logfmt", "json".
 */
extern const char *const log_level_names[];
extern const char *const log_format_names[];

struct log_config {
    enum log_level level; /* lines below this level are dropped */
    enum log_format format;
    int fd; /* written with write(2); not closed by log */
};

enum log_kv_type {
    LOG_KV_CSTR, /* NUL-terminated string (NULL prints as null) */
    LOG_KV_STR,  /* pointer + length; any bytes */
    LOG_KV_INT,
    LOG_KV_UINT,
    LOG_KV_BOOL,
    LOG_KV_ERRNO,   /* an errno value (either sign), printed as its message */
    LOG_KV_URL,     /* NUL-terminated URL or comma list of URLs, redacted */
    LOG_KV_DURATION /* nanoseconds, printed in Go's form ("1.5s") */
};

/* One typed key/value pair. Build with the LOG_* macros below. */
struct log_kv {
    const char *key;
    enum log_kv_type type;
    union {
        struct {
            const char *p;
            size_t n;
        } str;
        int64_t i;
        uint64_t u;
    } v;
};

#define LOG_STR(k, s) ((struct log_kv){.key = (k), .type = LOG_KV_CSTR, .v.str = {(s), 0}})
#define LOG_STRN(k, s, len)                                                                        \
    ((struct log_kv){.key = (k), .type = LOG_KV_STR, .v.str = {(const char *)(s), (len)}})
#define LOG_INT(k, x) ((struct log_kv){.key = (k), .type = LOG_KV_INT, .v.i = (int64_t)(x)})
#define LOG_UINT(k, x) ((struct log_kv){.key = (k), .type = LOG_KV_UINT, .v.u = (uint64_t)(x)})
#define LOG_BOOL(k, x) ((struct log_kv){.key = (k), .type = LOG_KV_BOOL, .v.i = (x) ? 1 : 0})
#define LOG_ERRNO(k, e) ((struct log_kv){.key = (k), .type = LOG_KV_ERRNO, .v.i = (int64_t)(e)})
#define LOG_URL(k, s) ((struct log_kv){.key = (k), .type = LOG_KV_URL, .v.str = {(s), 0}})
#define LOG_DURATION(k, ns)                                                                        \
    ((struct log_kv){.key = (k), .type = LOG_KV_DURATION, .v.i = (int64_t)(ns)})

/*
 * log_emit(level, "event", kv...) — formats and writes one line when level
 * is enabled; the key/value arguments are not evaluated otherwise. Event
 * names are stable snake_case identifiers operators grep for.
 */
#define log_emit(level, ...) LOG_EMIT_((level), __VA_ARGS__, LOG_KV_END_)
#define LOG_KV_END_ ((struct log_kv){.key = NULL})
#define LOG_EMIT_(level, event, ...)                                                               \
    do {                                                                                           \
        enum log_level log_lvl_ = (level);                                                         \
        if (log_enabled(log_lvl_))                                                                 \
            log_write(log_lvl_, (event), (const struct log_kv[]){__VA_ARGS__},                     \
                      sizeof((const struct log_kv[]){__VA_ARGS__}) / sizeof(struct log_kv) - 1);   \
    } while (0)

/* Fills *cfg with the start-up defaults: info, logfmt, fd 2. */
void log_config_defaults(struct log_config *cfg);

/*
 * Installs cfg as the process-wide sink. Each field is stored atomically;
 * a line being written concurrently uses either the old or the new value
 * of each field. The fd stays owned by the caller and must stay open while
 * anything may log.
 */
void log_configure(const struct log_config *cfg);

/* True when a line at level would be written. Cheap (one atomic load). */
bool log_enabled(enum log_level level);

/*
 * Writes one line for event with the n pairs in kv (kv may be NULL when n
 * is 0) if level is enabled: the current time, formatted with
 * log_format_line, one write(2) (resumed on EINTR or a short write; on any
 * other error, EAGAIN included, the line is dropped: logging never blocks
 * the caller on a full non-blocking fd or fails it). Thread-safe.
 */
void log_write(enum log_level level, const char *event, const struct log_kv *kv, size_t n);

/*
 * Formats one line (terminated by '\n', not NUL-terminated) into buf and
 * returns its length, at most min(cap, LOG_LINE_MAX). ts_ms is the
 * timestamp in milliseconds since the Unix epoch (UTC). Pure: the caller
 * picks format and time, so tests get exact output. cap must be at least
 * 128 (returns 0 otherwise).
 */
size_t log_format_line(enum log_format format, int64_t ts_ms, enum log_level level,
                       const char *event, const struct log_kv *kv, size_t n, char *buf, size_t cap);

/*
 * Copies in[0..n) into out (cap bytes, always NUL-terminated when cap > 0),
 * replacing credentials: a password becomes *** ("nats://user:pass@h" ->
 * "nats://user:***@h") and so does a token, as a whole ("tok@h" -> "***@h"),
 * for each item of a comma-separated list, with or without a scheme.
 * Conservative on malformed input: the userinfo is taken to end at the last
 * '@' of an item, and an item ends only at a comma followed by another
 * "scheme://", so an unescaped '/', '?', '#' or ',' inside a password is
 * still hidden ("nats://u:p,w@h" -> "nats://u:***@h"). The price is
 * over-redaction: "http://h/a@b" loses "h/a" to ***, and scheme-less lists
 * with credentials are redacted as one item ("u:p@a,u:q@b" -> "u:***@b").
 * When out is too small the result is cut, never leaking more than the full
 * redaction would. Returns the length of the full redacted text (excluding
 * the NUL), like snprintf.
 */
size_t log_redact_url(const char *in, size_t n, char *out, size_t cap);

/*
 * Parse a name of log_level_names / log_format_names (ASCII
 * case-insensitive). Return 0, or -EINVAL with *out untouched.
 */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);

#endif
