/* see log.h */
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/outbuf.h"
#include "core/units.h"

const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
const char *const log_format_names[] = {"logfmt", "json", NULL};

/* The process-wide sink; see "Process-wide sink" in log.h for why. */
static struct {
    atomic_int level;
    atomic_int format;
    atomic_int fd;
} log_sink = {LOG_INFO, LOG_FORMAT_LOGFMT, 2};

/*
 * Room kept free at the end of every line for what closing it may need:
 * a string's closing quote, the truncation marker (17 bytes in JSON), '}'
 * and the newline.
 */
#define LINE_RESERVE 24
#define KEY_MAX 64

struct line {
    char *buf;
    size_t len;
    size_t lim; /* content stops here; the rest is LINE_RESERVE */
    enum log_format fmt;
    bool cut;       /* something did not fit; nothing more is added */
    bool in_string; /* an opening quote is written, its closing one not yet */
};

void log_config_defaults(struct log_config *cfg)
{
    cfg->level = LOG_INFO;
    cfg->format = LOG_FORMAT_LOGFMT;
    cfg->fd = 2;
}

void log_configure(const struct log_config *cfg)
{
    atomic_store_explicit(&log_sink.level, (int)cfg->level, memory_order_relaxed);
    atomic_store_explicit(&log_sink.format, (int)cfg->format, memory_order_relaxed);
    atomic_store_explicit(&log_sink.fd, cfg->fd, memory_order_relaxed);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load_explicit(&log_sink.level, memory_order_relaxed);
}

static int parse_name(const char *const *names, const char *s)
{
    for (int i = 0; s != NULL && names[i] != NULL; i++) {
        if (strcasecmp(names[i], s) == 0)
            return i;
    }
    return -EINVAL;
}

int log_level_parse(const char *s, enum log_level *out)
{
    int i = parse_name(log_level_names, s);
    if (i < 0)
        return i;
    *out = (enum log_level)i;
    return 0;
}

int log_format_parse(const char *s, enum log_format *out)
{
    int i = parse_name(log_format_names, s);
    if (i < 0)
        return i;
    *out = (enum log_format)i;
    return 0;
}

/* ------------------------------------------------------------- escaping */

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when invalid:
 * overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return len;
}

/* Appends s[0..n) whole or not at all; once something failed to fit the
 * line is cut and stays cut, so later fields cannot reappear after a gap. */
static bool put(struct line *l, const char *s, size_t n)
{
    if (l->cut || n > l->lim - l->len) {
        l->cut = true;
        return false;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

static bool logfmt_needs_quotes(const unsigned char *p, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t k;
        if (c <= 0x20 || c == 0x7f || c == '=' || c == '"')
            return true;
        k = utf8_len(p + i, n - i);
        if (k == 0)
            return true;
        i += k;
    }
    return false;
}

/* Appends the escaped form of one character (or invalid byte) at p and
 * returns how many input bytes it covered, or 0 when it did not fit. */
static size_t put_escaped_char(struct line *l, const unsigned char *p, size_t n)
{
    char esc[8];
    size_t k = utf8_len(p, n);
    unsigned char c = p[0];
    const char *simple = NULL;

    switch (c) {
    case '"':
        simple = "\\\"";
        break;
    case '\\':
        simple = "\\\\";
        break;
    case '\n':
        simple = "\\n";
        break;
    case '\r':
        simple = "\\r";
        break;
    case '\t':
        simple = "\\t";
        break;
    default:
        break;
    }
    if (simple != NULL)
        return put(l, simple, 2) ? 1 : 0;
    if (c < 0x20 || c == 0x7f) {
        if (l->fmt == LOG_FORMAT_JSON)
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        else
            snprintf(esc, sizeof(esc), "\\x%02x", c);
        return put(l, esc, strlen(esc)) ? 1 : 0;
    }
    if (k == 0) {
        if (l->fmt == LOG_FORMAT_JSON)
            return put(l, "\xef\xbf\xbd", 3) ? 1 : 0; /* U+FFFD */
        snprintf(esc, sizeof(esc), "\\x%02x", c);
        return put(l, esc, 4) ? 1 : 0;
    }
    return put(l, (const char *)p, k) ? k : 0;
}

/* Appends a string value, cut inside if need be. Returns false when not
 * even its first byte fitted, so the caller can take its key back. */
static bool put_string(struct line *l, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    bool quoted = l->fmt == LOG_FORMAT_JSON || logfmt_needs_quotes(p, n);
    size_t start = l->len;

    if (quoted) {
        if (!put(l, "\"", 1))
            return false;
        l->in_string = true;
    }
    for (size_t i = 0; i < n;) {
        size_t k = quoted ? put_escaped_char(l, p + i, n - i) : utf8_len(p + i, n - i);
        if (k == 0 || (!quoted && !put(l, s + i, k)))
            return l->len > start;
        i += k;
    }
    if (quoted && put(l, "\"", 1))
        l->in_string = false;
    return true;
}

/* ---------------------------------------------------------------- fields */

/* Starts a field: separator and key, all or nothing. Returns the length to
 * roll back to when the value then does not fit, or SIZE_MAX if the key
 * itself did not fit. */
static size_t put_key(struct line *l, const char *key)
{
    char tmp[KEY_MAX + 8];
    size_t k = 0, mark = l->len;

    tmp[k++] = l->fmt == LOG_FORMAT_JSON ? ',' : ' ';
    if (l->fmt == LOG_FORMAT_JSON)
        tmp[k++] = '"';
    for (size_t i = 0; key != NULL && key[i] != '\0' && i < KEY_MAX; i++) {
        char c = key[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        tmp[k++] = ok ? c : '_';
    }
    if (key == NULL || key[0] == '\0')
        tmp[k++] = '_';
    if (l->fmt == LOG_FORMAT_JSON) {
        tmp[k++] = '"';
        tmp[k++] = ':';
    } else {
        tmp[k++] = '=';
    }
    return put(l, tmp, k) ? mark : SIZE_MAX;
}

/* A value that is written whole or not at all; without it the key goes. */
static void put_atom(struct line *l, size_t mark, const char *s, size_t n)
{
    if (!put(l, s, n))
        l->len = mark;
}

static bool put_errno(struct line *l, int64_t e)
{
    char tmp[128];
    int err = e < 0 ? (int)-e : (int)e;
    const char *desc = e > -4096 && e < 4096 ? strerrordesc_np(err) : NULL;
    const char *name = e > -4096 && e < 4096 ? strerrorname_np(err) : NULL;

    if (desc != NULL && name != NULL)
        snprintf(tmp, sizeof(tmp), "%s (%s)", desc, name);
    else
        snprintf(tmp, sizeof(tmp), "errno %lld", (long long)e);
    return put_string(l, tmp, strlen(tmp));
}

static void put_field(struct line *l, const struct log_kv *kv, char *scratch, size_t scratch_cap)
{
    char num[UNITS_DURATION_BUFSZ];
    size_t mark = put_key(l, kv->key), n;
    const char *s;

    if (mark == SIZE_MAX)
        return;
    switch (kv->type) {
    case LOG_KV_CSTR:
    case LOG_KV_URL:
        s = kv->v.str.p;
        if (s == NULL) {
            put_atom(l, mark, "null", 4);
            return;
        }
        n = strlen(s);
        if (kv->type == LOG_KV_URL) {
            n = log_redact_url(s, n, scratch, scratch_cap);
            n = n < scratch_cap ? n : scratch_cap - 1;
            s = scratch;
        }
        if (!put_string(l, s, n))
            l->len = mark;
        break;
    case LOG_KV_STR:
        if (kv->v.str.p == NULL && kv->v.str.n != 0)
            put_atom(l, mark, "null", 4);
        else if (!put_string(l, kv->v.str.p, kv->v.str.n))
            l->len = mark;
        break;
    case LOG_KV_INT:
        n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)kv->v.i);
        put_atom(l, mark, num, n);
        break;
    case LOG_KV_UINT:
        n = (size_t)snprintf(num, sizeof(num), "%llu", (unsigned long long)kv->v.u);
        put_atom(l, mark, num, n);
        break;
    case LOG_KV_BOOL:
        put_atom(l, mark, kv->v.i ? "true" : "false", kv->v.i ? 4 : 5);
        break;
    case LOG_KV_ERRNO:
        if (!put_errno(l, kv->v.i))
            l->len = mark;
        break;
    case LOG_KV_DURATION:
        n = units_format_duration(kv->v.i, num, sizeof(num));
        if (!put_string(l, num, n))
            l->len = mark;
        break;
    default:
        put_atom(l, mark, "null", 4);
        break;
    }
}

size_t log_format_line(enum log_format format, int64_t ts_ms, enum log_level level,
                       const char *event, const struct log_kv *kv, size_t n, char *buf, size_t cap)
{
    char scratch[LOG_LINE_MAX];
    char head[96];
    struct tm tm;
    time_t secs = (time_t)(ts_ms / 1000);
    int ms = (int)(ts_ms % 1000);
    const char *lname;
    struct line l;

    if (cap < 128)
        return 0;
    if (cap > LOG_LINE_MAX)
        cap = LOG_LINE_MAX;
    l = (struct line){.buf = buf, .lim = cap - LINE_RESERVE, .fmt = format};
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    if (gmtime_r(&secs, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    lname = (unsigned)level <= LOG_ERROR ? log_level_names[level] : "error";
    if (format == LOG_FORMAT_JSON)
        snprintf(head, sizeof(head),
                 "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"event\":",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms,
                 lname);
    else
        snprintf(head, sizeof(head),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s event=", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms, lname);
    put(&l, head, strlen(head));
    if (event == NULL || event[0] == '\0')
        event = "unnamed";
    put_string(&l, event, strlen(event));
    for (size_t i = 0; i < n && !l.cut; i++)
        put_field(&l, &kv[i], scratch, sizeof(scratch));

    /* The reserve always has room for these, whatever was cut. */
    if (l.in_string)
        l.buf[l.len++] = '"';
    if (l.cut) {
        const char *mark = format == LOG_FORMAT_JSON ? ",\"truncated\":true" : " truncated=true";
        memcpy(l.buf + l.len, mark, strlen(mark));
        l.len += strlen(mark);
    }
    if (format == LOG_FORMAT_JSON)
        l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    return l.len;
}

void log_write(enum log_level level, const char *event, const struct log_kv *kv, size_t n)
{
    char buf[LOG_LINE_MAX];
    struct timespec now;
    size_t len, off = 0;
    int saved_errno = errno;
    int fd;

    if (!log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    len = log_format_line(
        (enum log_format)atomic_load_explicit(&log_sink.format, memory_order_relaxed),
        (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, level, event, kv, n, buf, sizeof(buf));
    fd = atomic_load_explicit(&log_sink.fd, memory_order_relaxed);
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    /* Logging an error must not change the errno the caller reports next. */
    errno = saved_errno;
}

/* ------------------------------------------------------------- redaction */

/* Whether p[0..n) starts, after blanks, with "scheme://". */
static bool starts_with_scheme(const char *p, size_t n)
{
    size_t i = 0, start;

    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    start = i;
    while (i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                     (i > start &&
                      ((p[i] >= '0' && p[i] <= '9') || p[i] == '+' || p[i] == '-' || p[i] == '.'))))
        i++;
    return i > start && n - i >= 3 && memcmp(p + i, "://", 3) == 0;
}

/*
 * End of the list item starting at a: the next comma that is followed by
 * another "scheme://". A comma elsewhere may be an unescaped one inside a
 * password, so it does not end the item: the item then spans to the last
 * '@' and everything up to it gets hidden.
 */
static size_t item_end(const char *in, size_t a, size_t n)
{
    for (size_t i = a; i < n; i++) {
        if (in[i] == ',' && starts_with_scheme(in + i + 1, n - i - 1))
            return i;
    }
    return n;
}

size_t log_redact_url(const char *in, size_t n, char *out, size_t cap)
{
    struct outbuf o = outbuf_make(out, cap);
    size_t a = 0;

    for (;;) {
        size_t b = item_end(in, a, n);
        size_t auth = a, at = SIZE_MAX;

        for (size_t i = a; i + 3 <= b; i++) {
            if (memcmp(in + i, "://", 3) == 0) {
                auth = i + 3;
                break;
            }
        }
        size_t first_at = SIZE_MAX;
        for (size_t i = auth; i < b; i++) {
            if (in[i] == '@') {
                at = i;
                first_at = first_at == SIZE_MAX ? i : first_at;
            }
        }
        if (at == SIZE_MAX) {
            outbuf_put(&o, in + a, b - a);
        } else {
            /* The user name ends at a ':' before the first '@' (it cannot
             * hold a raw '@'); without one the whole userinfo is a token.
             * A ':' after it may belong to a "host:port" of a later '@'. */
            const char *colon = memchr(in + auth, ':', first_at - auth);
            size_t keep = colon != NULL ? (size_t)(colon - in) + 1 : auth;
            outbuf_put(&o, in + a, keep - a);
            outbuf_put(&o, "***", 3);
            outbuf_put(&o, in + at, b - at);
        }
        if (b == n)
            break;
        outbuf_put(&o, ",", 1);
        a = b + 1;
    }
    return outbuf_finish(&o);
}
