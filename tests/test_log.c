/*
 * tests/test_log.c — line format (logfmt and JSON), escaping, typed values,
 * level filter, truncation, redaction, and whole-line writes from several
 * threads at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/units.h"

/* 2026-11-26T19:52:37.123Z */
static int64_t fixed_ts(void)
{
    struct tm tm = {
        .tm_year = 126, .tm_mon = 10, .tm_mday = 26, .tm_hour = 19, .tm_min = 52, .tm_sec = 37};
    return (int64_t)timegm(&tm) * 1000 + 123;
}

#define TS "2026-11-26T19:52:37.123Z"

static char line[LOG_LINE_MAX + 1];

/* Formats into the static line buffer and NUL-terminates it. */
static const char *fmt_line(enum log_format f, enum log_level lvl, const char *event,
                            const struct log_kv *kv, size_t n)
{
    size_t len = log_format_line(f, fixed_ts(), lvl, event, kv, n, line, LOG_LINE_MAX);
    assert_true(len > 0 && len <= LOG_LINE_MAX);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1)); /* exactly one line */
    line[len] = '\0';
    return line;
}

#define KV(...)                                                                                    \
    ((const struct log_kv[]){__VA_ARGS__}),                                                        \
        sizeof((const struct log_kv[]){__VA_ARGS__}) / sizeof(struct log_kv)

static void test_logfmt_basic(void **state)
{
    (void)state;
    assert_string_equal(fmt_line(LOG_FORMAT_LOGFMT, LOG_INFO, "nats_connected",
                                 KV(LOG_STR("server", "nats://h:4222"), LOG_INT("rtt_ms", 3))),
                        "ts=" TS
                        " level=info event=nats_connected server=nats://h:4222 rtt_ms=3\n");
    assert_string_equal(fmt_line(LOG_FORMAT_LOGFMT, LOG_ERROR, "boom", NULL, 0),
                        "ts=" TS " level=error event=boom\n");
    assert_string_equal(fmt_line(LOG_FORMAT_LOGFMT, LOG_DEBUG, "x", NULL, 0),
                        "ts=" TS " level=debug event=x\n");
    assert_string_equal(fmt_line(LOG_FORMAT_LOGFMT, LOG_WARN, "x", NULL, 0),
                        "ts=" TS " level=warn event=x\n");
}

static void test_json_basic(void **state)
{
    (void)state;
    assert_string_equal(fmt_line(LOG_FORMAT_JSON, LOG_INFO, "nats_connected",
                                 KV(LOG_STR("server", "nats://h:4222"), LOG_INT("rtt_ms", 3))),
                        "{\"ts\":\"" TS "\",\"level\":\"info\",\"event\":\"nats_connected\","
                        "\"server\":\"nats://h:4222\",\"rtt_ms\":3}\n");
    assert_string_equal(fmt_line(LOG_FORMAT_JSON, LOG_WARN, "e", NULL, 0),
                        "{\"ts\":\"" TS "\",\"level\":\"warn\",\"event\":\"e\"}\n");
}

static void test_types(void **state)
{
    (void)state;
    const char nul[] = {'a', '\0', 'b'};
    assert_string_equal(
        fmt_line(LOG_FORMAT_LOGFMT, LOG_INFO, "t",
                 KV(LOG_INT("i", -42), LOG_INT("imin", INT64_MIN), LOG_UINT("u", UINT64_MAX),
                    LOG_BOOL("yes", 7), LOG_BOOL("no", 0), LOG_STR("null", NULL),
                    LOG_STRN("span", "abcdef", 3), LOG_STRN("nul", nul, 3),
                    LOG_STRN("empty", NULL, 0), LOG_ERRNO("err", -ECONNREFUSED),
                    LOG_ERRNO("weird", 99999), LOG_DURATION("d", 1500 * UNITS_MS),
                    LOG_DURATION("us", 1500))),
        "ts=" TS " level=info event=t i=-42 imin=-9223372036854775808 u=18446744073709551615 "
        "yes=true no=false null=null span=abc nul=\"a\\x00b\" empty=\"\" "
        "err=\"Connection refused (ECONNREFUSED)\" weird=\"errno 99999\" d=1.5s "
        "us=1.5\xc2\xb5s\n");
    assert_string_equal(
        fmt_line(LOG_FORMAT_JSON, LOG_INFO, "t",
                 KV(LOG_INT("i", -42), LOG_UINT("u", 7), LOG_BOOL("yes", 1), LOG_STR("null", NULL),
                    LOG_STRN("nul", nul, 3), LOG_ERRNO("err", ENOENT),
                    LOG_DURATION("d", 90 * UNITS_S))),
        "{\"ts\":\"" TS "\",\"level\":\"info\",\"event\":\"t\",\"i\":-42,\"u\":7,\"yes\":true,"
        "\"null\":null,\"nul\":\"a\\u0000b\",\"err\":\"No such file or directory (ENOENT)\","
        "\"d\":\"1m30s\"}\n");
}

struct esc {
    const char *in;
    const char *logfmt;
    const char *json;
};

static const struct esc escapes[] = {
    {"plain", "plain", "\"plain\""},
    {"", "\"\"", "\"\""},
    {"two words", "\"two words\"", "\"two words\""},
    {"a=b", "\"a=b\"", "\"a=b\""},
    {"say \"hi\"", "\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\""},
    {"q\"", "\"q\\\"\"", "\"q\\\"\""},
    {"back\\slash", "back\\slash", "\"back\\\\slash\""},
    {"back\\ slash", "\"back\\\\ slash\"", "\"back\\\\ slash\""},
    {"l1\nl2", "\"l1\\nl2\"", "\"l1\\nl2\""},
    {"cr\rtab\t", "\"cr\\rtab\\t\"", "\"cr\\rtab\\t\""},
    {"bell\x07", "\"bell\\x07\"", "\"bell\\u0007\""},
    {"del\x7f", "\"del\\x7f\"", "\"del\\u007f\""},
    {"esc\x1b[31m", "\"esc\\x1b[31m\"", "\"esc\\u001b[31m\""},
    {"bad\xff", "\"bad\\xff\"", "\"bad\xef\xbf\xbd\""},
    {"\xc3\xa6\xc3\xb8\xc3\xa5", "\xc3\xa6\xc3\xb8\xc3\xa5", "\"\xc3\xa6\xc3\xb8\xc3\xa5\""},
    {"\xe2\x82\xac\xf0\x9f\x98\x80", "\xe2\x82\xac\xf0\x9f\x98\x80",
     "\"\xe2\x82\xac\xf0\x9f\x98\x80\""},
    /* overlong '/', surrogate, above U+10FFFF, truncated sequence */
    {"\xc0\xaf", "\"\\xc0\\xaf\"", "\"\xef\xbf\xbd\xef\xbf\xbd\""},
    {"\xed\xa0\x80", "\"\\xed\\xa0\\x80\"", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
    {"\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\"",
     "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
    {"x\xe2\x82", "\"x\\xe2\\x82\"", "\"x\xef\xbf\xbd\xef\xbf\xbd\""},
    {"\xe0\x80\x80", "\"\\xe0\\x80\\x80\"", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
    {"\xf0\x80\x80\x80", "\"\\xf0\\x80\\x80\\x80\"",
     "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
};

static void test_escaping(void **state)
{
    char want[512];
    (void)state;
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        snprintf(want, sizeof(want), "ts=" TS " level=info event=e v=%s\n", escapes[i].logfmt);
        assert_string_equal(
            fmt_line(LOG_FORMAT_LOGFMT, LOG_INFO, "e", KV(LOG_STR("v", escapes[i].in))), want);
        snprintf(want, sizeof(want),
                 "{\"ts\":\"" TS "\",\"level\":\"info\",\"event\":\"e\",\"v\":%s}\n",
                 escapes[i].json);
        assert_string_equal(
            fmt_line(LOG_FORMAT_JSON, LOG_INFO, "e", KV(LOG_STR("v", escapes[i].in))), want);
    }
    /* The event name is escaped like a value; an empty one gets a name. */
    assert_string_equal(fmt_line(LOG_FORMAT_LOGFMT, LOG_INFO, "bad event\n", NULL, 0),
                        "ts=" TS " level=info event=\"bad event\\n\"\n");
    assert_string_equal(fmt_line(LOG_FORMAT_LOGFMT, LOG_INFO, "", NULL, 0),
                        "ts=" TS " level=info event=unnamed\n");
    assert_string_equal(fmt_line(LOG_FORMAT_LOGFMT, LOG_INFO, NULL, NULL, 0),
                        "ts=" TS " level=info event=unnamed\n");
    /* Keys can never break the line or the JSON. */
    assert_string_equal(fmt_line(LOG_FORMAT_LOGFMT, LOG_INFO, "e",
                                 KV(LOG_INT("a b=\"c\n", 1), LOG_INT("", 2), LOG_INT(NULL, 3),
                                    LOG_INT("ok.key-1_x", 4))),
                        "ts=" TS " level=info event=e a_b__c_=1 _=2 _=3 ok.key-1_x=4\n");
    assert_string_equal(fmt_line(LOG_FORMAT_JSON, LOG_INFO, "e", KV(LOG_INT("k\"\\", 1))),
                        "{\"ts\":\"" TS "\",\"level\":\"info\",\"event\":\"e\",\"k__\":1}\n");
}

/* ------------------------------------------------------------ truncation */

static int valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        if (k == 0 || i + k > n)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if (((unsigned char)s[i + j] & 0xc0) != 0x80)
                return 0;
        }
        i += k;
    }
    return 1;
}

static void check_truncated(enum log_format f, const char *s, size_t len)
{
    const char *tail = f == LOG_FORMAT_JSON ? ",\"truncated\":true}\n" : " truncated=true\n";
    assert_true(len <= LOG_LINE_MAX);
    assert_true(len >= strlen(tail));
    assert_memory_equal(s + len - strlen(tail), tail, strlen(tail));
    assert_null(memchr(s, '\n', len - 1));
    assert_true(valid_utf8(s, len));
}

static void test_truncation_long_value(void **state)
{
    static char big[3 * LOG_LINE_MAX];
    (void)state;

    for (int f = 0; f < 2; f++) {
        /* Plain bytes: the line fills up to the limit exactly. */
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        size_t len =
            log_format_line((enum log_format)f, fixed_ts(), LOG_INFO, "e",
                            KV(LOG_STR("v", big), LOG_INT("after", 1)), line, sizeof(line));
        check_truncated((enum log_format)f, line, len);
        assert_true(len > LOG_LINE_MAX - 32);
        line[len] = '\0';
        assert_null(strstr(line, "after"));
        /* The cut string value is closed properly. */
        const char *close = f == LOG_FORMAT_JSON ? "a\",\"truncated\"" : "a truncated";
        assert_non_null(strstr(line, close));

        /* Escapes are never split: every backslash still has its pair. */
        memset(big, '"', sizeof(big) - 1);
        len = log_format_line((enum log_format)f, fixed_ts(), LOG_INFO, "e", KV(LOG_STR("v", big)),
                              line, sizeof(line));
        check_truncated((enum log_format)f, line, len);
        size_t end = len - (f == LOG_FORMAT_JSON ? strlen(",\"truncated\":true}\n")
                                                 : strlen(" truncated=true\n"));
        assert_int_equal(line[end - 1], '"'); /* closing quote */
        assert_int_equal(line[end - 2], '"'); /* ... after a whole \" pair */
        assert_int_equal(line[end - 3], '\\');

        /* Multi-byte characters are never split. */
        for (size_t i = 0; i + 3 < sizeof(big); i += 3)
            memcpy(big + i, "\xe2\x82\xac", 3);
        big[sizeof(big) - 1 - (sizeof(big) - 1) % 3] = '\0';
        len = log_format_line((enum log_format)f, fixed_ts(), LOG_INFO, "e", KV(LOG_STR("v", big)),
                              line, sizeof(line));
        check_truncated((enum log_format)f, line, len);

        /* Control bytes (4-6 byte escapes). */
        memset(big, '\x01', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        len = log_format_line((enum log_format)f, fixed_ts(), LOG_INFO, "e", KV(LOG_STR("v", big)),
                              line, sizeof(line));
        check_truncated((enum log_format)f, line, len);
    }
}

static void test_truncation_many_fields(void **state)
{
    struct log_kv kv[600];
    (void)state;
    for (size_t i = 0; i < 600; i++)
        kv[i] = LOG_UINT("counter_name", UINT64_MAX - i);
    for (int f = 0; f < 2; f++) {
        size_t len = log_format_line((enum log_format)f, fixed_ts(), LOG_INFO, "e", kv, 600, line,
                                     sizeof(line));
        check_truncated((enum log_format)f, line, len);
        /* Cut at a field boundary: the field before the marker is whole. */
        line[len] = '\0';
        const char *marker = strstr(line, f == LOG_FORMAT_JSON ? ",\"truncated\"" : " truncated");
        assert_non_null(marker);
        assert_true(marker[-1] >= '0' && marker[-1] <= '9');
        const char *last = f == LOG_FORMAT_JSON ? "\"counter_name\":" : "counter_name=";
        const char *p = line, *prev = NULL;
        while ((p = strstr(p, last)) != NULL)
            prev = p++;
        assert_non_null(prev);
        unsigned long long v = strtoull(prev + strlen(last), NULL, 10);
        assert_true(v > UINT64_MAX - 600); /* a complete number, not a prefix */
    }
    /* Also with a key that fits but whose value does not: the key goes too. */
    static char big[LOG_LINE_MAX];
    memset(big, 'x', LOG_LINE_MAX - 200);
    big[LOG_LINE_MAX - 200] = '\0';
    for (int f = 0; f < 2; f++) {
        size_t len =
            log_format_line((enum log_format)f, fixed_ts(), LOG_INFO, "e",
                            KV(LOG_STR("pad", big), LOG_STR("pad2", big)), line, sizeof(line));
        check_truncated((enum log_format)f, line, len);
    }
}

static void test_truncation_small_cap(void **state)
{
    char small[128 + 1];
    (void)state;
    assert_int_equal(log_format_line(LOG_FORMAT_JSON, 0, LOG_INFO, "e", NULL, 0, small, 127), 0);
    for (int f = 0; f < 2; f++) {
        size_t len = log_format_line((enum log_format)f, fixed_ts(), LOG_INFO, "event",
                                     KV(LOG_STR("v", "0123456789012345678901234567890123456789"
                                                     "0123456789012345678901234567890123456789")),
                                     small, 128);
        assert_true(len <= 128);
        check_truncated((enum log_format)f, small, len);
    }
    /* A long event name is cut like a value. */
    static char big[LOG_LINE_MAX * 2];
    memset(big, 'e', sizeof(big) - 1);
    size_t len =
        log_format_line(LOG_FORMAT_JSON, fixed_ts(), LOG_INFO, big, NULL, 0, line, sizeof(line));
    check_truncated(LOG_FORMAT_JSON, line, len);
}

/* ------------------------------------------------------------- redaction */

struct redact {
    const char *in;
    const char *out;
};

static const struct redact redactions[] = {
    {"nats://user:pass@host:4222", "nats://user:***@host:4222"},
    {"nats://token@host", "nats://***@host"},
    {"tls://u:p@[::1]:4443", "tls://u:***@[::1]:4443"},
    {"nats://host:4222", "nats://host:4222"},
    {"nats://a:b@h1,nats://tok@h2,nats://h3", "nats://a:***@h1,nats://***@h2,nats://h3"},
    {"nats://a:b@h1, nats://c:d@h2", "nats://a:***@h1, nats://c:***@h2"},
    {"user:pass@host:4222", "user:***@host:4222"},
    {"tok@host", "***@host"},
    {"host:4222", "host:4222"},
    {"nats://u:p@ss@h", "nats://u:***@h"},
    {"nats://u:p/ss@h", "nats://u:***@h"},
    {"nats://u:p?#@h", "nats://u:***@h"},
    {"nats://:pass@h", "nats://:***@h"},
    {"nats://user:@h", "nats://user:***@h"},
    {"nats://@h", "nats://***@h"},
    {"http://host/path@x", "http://***@x"},
    {"http://tok@h:80/a@b", "http://***@b"},
    {"nats://u@x:p@h", "nats://***@h"},
    {"https://u:p%40w@host/base", "https://u:***@host/base"},
    {"", ""},
    {",", ","},
    {"nats://a:b@h,", "nats://a:***@h,"},
    /* A raw comma inside a password does not split the list there. */
    {"nats://u:p,w@h", "nats://u:***@h"},
    {"nats://u:p,w@h,tls://x:y@z", "nats://u:***@h,tls://x:***@z"},
    {"nats://a:b@h1,h2:4222", "nats://a:***@h1,h2:4222"},
    {"a:4222,b:4223", "a:4222,b:4223"},
    {"u:p@a,u:q@b", "u:***@b"},
    {"nats://h1, NATS://u:p@h2", "nats://h1, NATS://u:***@h2"},
    {"://x:y@z", "://x:***@z"},
};

static void test_redact(void **state)
{
    char out[256];
    (void)state;
    for (size_t i = 0; i < sizeof(redactions) / sizeof(redactions[0]); i++) {
        size_t n = log_redact_url(redactions[i].in, strlen(redactions[i].in), out, sizeof(out));
        assert_string_equal(out, redactions[i].out);
        assert_int_equal(n, strlen(redactions[i].out));
    }
    /* A short buffer only ever holds a prefix of the redacted text. */
    const char *in = "nats://user:secretpw@host:4222";
    const char *full = "nats://user:***@host:4222";
    for (size_t cap = 0; cap <= strlen(full) + 1; cap++) {
        char small[64];
        memset(small, 'Z', sizeof(small));
        size_t n = log_redact_url(in, strlen(in), small, cap);
        assert_int_equal(n, strlen(full));
        if (cap > 0) {
            assert_int_equal(strlen(small), cap - 1 < n ? cap - 1 : n);
            assert_memory_equal(small, full, strlen(small));
        }
        assert_int_equal(small[cap], 'Z'); /* nothing written past cap */
    }
    /* Through the typed value in a log line: the secret never appears. */
    fmt_line(LOG_FORMAT_LOGFMT, LOG_INFO, "e",
             KV(LOG_URL("url", "nats://alice:s3cr3t@h:4222,nats://t0k3n@h2")));
    assert_null(strstr(line, "s3cr3t"));
    assert_null(strstr(line, "t0k3n"));
    assert_non_null(strstr(line, "url=nats://alice:***@h:4222,nats://***@h2"));
    fmt_line(LOG_FORMAT_JSON, LOG_INFO, "e", KV(LOG_URL("url", "nats://alice:s3cr3t@h")));
    assert_null(strstr(line, "s3cr3t"));
    fmt_line(LOG_FORMAT_JSON, LOG_INFO, "e", KV(LOG_URL("url", NULL)));
    assert_non_null(strstr(line, "\"url\":null"));
}

/* -------------------------------------------------------------- the sink */

static int pipe_fds[2];

static int sink_setup(void **state)
{
    (void)state;
    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        return -1;
    return 0;
}

static int sink_teardown(void **state)
{
    struct log_config cfg;
    (void)state;
    log_config_defaults(&cfg);
    log_configure(&cfg);
    close(pipe_fds[0]);
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]);
    return 0;
}

/* Reads whatever is in the pipe without blocking. */
static size_t drain(char *buf, size_t cap)
{
    int fl = fcntl(pipe_fds[0], F_GETFL);
    fcntl(pipe_fds[0], F_SETFL, fl | O_NONBLOCK);
    ssize_t n = read(pipe_fds[0], buf, cap - 1);
    fcntl(pipe_fds[0], F_SETFL, fl);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    return (size_t)n;
}

static int evaluated;

static int64_t side_effect(void)
{
    evaluated++;
    return 5;
}

static void test_level_filter(void **state)
{
    struct log_config cfg;
    char buf[8192];
    (void)state;

    log_config_defaults(&cfg);
    assert_int_equal(cfg.level, LOG_INFO);
    assert_int_equal(cfg.format, LOG_FORMAT_LOGFMT);
    assert_int_equal(cfg.fd, 2);
    cfg.fd = pipe_fds[1];
    cfg.level = LOG_WARN;
    log_configure(&cfg);

    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));

    evaluated = 0;
    log_emit(LOG_INFO, "dropped", LOG_INT("x", side_effect()));
    log_emit(LOG_DEBUG, "dropped");
    assert_int_equal(evaluated, 0); /* arguments of a filtered line are not evaluated */
    assert_int_equal(drain(buf, sizeof(buf)), 0);

    log_emit(LOG_WARN, "kept", LOG_INT("x", side_effect()));
    log_emit(LOG_ERROR, "also_kept");
    assert_int_equal(evaluated, 1);
    drain(buf, sizeof(buf));
    char *second = strchr(buf, '\n');
    assert_non_null(second);
    assert_non_null(strstr(buf, " level=warn event=kept x=5\n"));
    assert_non_null(strstr(second + 1, " level=error event=also_kept\n"));
    assert_memory_equal(buf, "ts=", 3);

    cfg.level = LOG_DEBUG;
    cfg.format = LOG_FORMAT_JSON;
    log_configure(&cfg);
    log_emit(LOG_DEBUG, "dbg", LOG_STR("k", "v"));
    drain(buf, sizeof(buf));
    assert_non_null(strstr(buf, "\"level\":\"debug\",\"event\":\"dbg\",\"k\":\"v\"}\n"));
    assert_int_equal(buf[0], '{');

    /* log_write preserves errno, so a caller can log and then report it. */
    errno = ETIMEDOUT;
    log_emit(LOG_ERROR, "x", LOG_ERRNO("err", errno));
    assert_int_equal(errno, ETIMEDOUT);
    drain(buf, sizeof(buf));
    assert_non_null(strstr(buf, "(ETIMEDOUT)"));

    /* A closed fd drops the line without failing the caller. */
    cfg.fd = 1000;
    log_configure(&cfg);
    errno = 0;
    log_emit(LOG_ERROR, "nowhere");
    assert_int_equal(errno, 0);
}

static void test_parse_names(void **state)
{
    enum log_level l = LOG_INFO;
    enum log_format f = LOG_FORMAT_LOGFMT;
    (void)state;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("WARN", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOG_ERROR);
    assert_int_equal(log_level_parse("verbose", &l), -EINVAL);
    assert_int_equal(log_level_parse(NULL, &l), -EINVAL);
    assert_int_equal(l, LOG_ERROR);
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("text", &f), -EINVAL);
    assert_string_equal(log_level_names[LOG_INFO], "info");
    assert_null(log_level_names[4]);
    assert_string_equal(log_format_names[LOG_FORMAT_LOGFMT], "logfmt");
    assert_null(log_format_names[2]);
}

/* ------------------------------------------------------------ concurrency */

#define THREADS 4
#define LINES_PER_THREAD 1500
#define PAD 3800

struct reader {
    size_t lines;
    size_t bad;
    unsigned next_seq[THREADS];
};

static void check_line(struct reader *r, char *s)
{
    unsigned t, seq;
    char *pad = strstr(s, " pad=");
    if (sscanf(s, "ts=%*s level=info event=stress thread=%u seq=%u", &t, &seq) != 2 ||
        t >= THREADS || seq != r->next_seq[t] || pad == NULL || strlen(pad + 5) != PAD ||
        strspn(pad + 5, "abcd") != PAD || pad[5] != (char)('a' + t)) {
        r->bad++;
        return;
    }
    r->next_seq[t]++;
    r->lines++;
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    static char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(pipe_fds[0], buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL) {
            *nl = '\0';
            check_line(r, start);
            start = nl + 1;
        }
        have -= (size_t)(start - buf);
        memmove(buf, start, have);
        if (r->lines + r->bad == THREADS * LINES_PER_THREAD)
            break;
    }
    return NULL;
}

static void *writer_main(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    char pad[PAD + 1];
    memset(pad, 'a' + (int)t, PAD);
    pad[PAD] = '\0';
    for (unsigned i = 0; i < LINES_PER_THREAD; i++)
        log_emit(LOG_INFO, "stress", LOG_UINT("thread", t), LOG_UINT("seq", i),
                 LOG_STR("pad", pad));
    return NULL;
}

static void test_threads_whole_lines(void **state)
{
    struct log_config cfg = {.level = LOG_INFO, .format = LOG_FORMAT_LOGFMT, .fd = pipe_fds[1]};
    struct reader r = {0};
    pthread_t rt, wt[THREADS];
    (void)state;

    log_configure(&cfg);
    assert_int_equal(pthread_create(&rt, NULL, reader_main, &r), 0);
    for (uintptr_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&wt[t], NULL, writer_main, (void *)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(wt[t], NULL);
    /* EOF for the reader even if lines were lost or merged. */
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    pthread_join(rt, NULL);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.lines, THREADS * LINES_PER_THREAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_basic),
        cmocka_unit_test(test_json_basic),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_truncation_long_value),
        cmocka_unit_test(test_truncation_many_fields),
        cmocka_unit_test(test_truncation_small_cap),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test_setup_teardown(test_level_filter, sink_setup, sink_teardown),
        cmocka_unit_test_setup_teardown(test_threads_whole_lines, sink_setup, sink_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
