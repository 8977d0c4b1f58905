/*
 * tests/test_url.c — URL and URL-list parsing: a table of valid URLs (every
 * scheme, IPv4, IPv6, names, userinfo, ports, paths) and of invalid ones
 * with their exact error codes; lists; the redacted form. Every input is
 * placed right before a guard page, and every prefix of every vector is
 * parsed too, so an over-read at any length faults.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/url.h"
#include "tests/support/guardpage.h"

static struct guardpage guard;
static uint8_t dbuf[URL_MAX_LEN];

static int setup(void **state)
{
    (void)state;
    return guardpage_init(&guard, 4 * URL_MAX_LEN) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    guardpage_free(&guard);
    return 0;
}

static int parse(const char *s, unsigned flags, struct url *u)
{
    size_t n = strlen(s);
    return url_parse(guardpage_place(&guard, s, n), n, flags, u, dbuf, sizeof(dbuf));
}

/* NULL means "absent" ({NULL, 0}); "" means present and empty. */
static void assert_span(struct span sp, const char *want, const char *what, const char *in)
{
    if (want == NULL) {
        if (sp.p != NULL || sp.n != 0)
            fail_msg("%s: %s should be absent, is \"%.*s\"", in, what, (int)sp.n, sp.p);
        return;
    }
    if (sp.p == NULL || !span_eq(sp, span_cstr(want)))
        fail_msg("%s: %s is \"%.*s\" (%s), want \"%s\"", in, what, (int)sp.n,
                 sp.p ? (const char *)sp.p : "", sp.p ? "present" : "absent", want);
}

struct ok {
    const char *in;
    unsigned flags;
    enum url_scheme scheme;
    const char *host;
    enum url_host_type ht;
    uint16_t port;
    bool explicit_port;
    const char *user;
    const char *pass;
    const char *path;
    const char *query;
    const char *frag;
};

#define V4 URL_HOST_IPV4
#define V6 URL_HOST_IPV6

static const struct ok valid[] = {
    {.in = "nats://localhost", .host = "localhost", .port = 4222},
    {.in = "nats://localhost:4222", .host = "localhost", .port = 4222, .explicit_port = true},
    {.in = "NATS://LOCALHOST:4223", .host = "LOCALHOST", .port = 4223, .explicit_port = true},
    {.in = "Nats://h", .host = "h", .port = 4222},
    {.in = "tls://nats.example.com:4443",
     .scheme = URL_SCHEME_TLS,
     .host = "nats.example.com",
     .port = 4443,
     .explicit_port = true},
    {.in = "tls://h", .scheme = URL_SCHEME_TLS, .host = "h", .port = 4222},
    {.in = "nats://127.0.0.1:4222",
     .host = "127.0.0.1",
     .ht = V4,
     .port = 4222,
     .explicit_port = true},
    {.in = "nats://0.0.0.0", .host = "0.0.0.0", .ht = V4, .port = 4222},
    {.in = "nats://255.255.255.255:65535",
     .host = "255.255.255.255",
     .ht = V4,
     .port = 65535,
     .explicit_port = true},
    {.in = "nats://10.0.0.1:1", .host = "10.0.0.1", .ht = V4, .port = 1, .explicit_port = true},
    {.in = "nats://[::1]:4222", .host = "::1", .ht = V6, .port = 4222, .explicit_port = true},
    {.in = "nats://[::1]", .host = "::1", .ht = V6, .port = 4222},
    {.in = "nats://[::]", .host = "::", .ht = V6, .port = 4222},
    {.in = "nats://[2001:db8::1]:443",
     .host = "2001:db8::1",
     .ht = V6,
     .port = 443,
     .explicit_port = true},
    {.in = "nats://[2001:DB8:0:0:8:800:200C:417A]",
     .host = "2001:DB8:0:0:8:800:200C:417A",
     .ht = V6,
     .port = 4222},
    {.in = "nats://[::ffff:192.0.2.1]:4222",
     .host = "::ffff:192.0.2.1",
     .ht = V6,
     .port = 4222,
     .explicit_port = true},
    {.in = "nats://user:pass@host:4222",
     .host = "host",
     .port = 4222,
     .explicit_port = true,
     .user = "user",
     .pass = "pass"},
    {.in = "nats://token@host", .host = "host", .port = 4222, .user = "token"},
    {.in = "nats://user:@host", .host = "host", .port = 4222, .user = "user", .pass = ""},
    {.in = "nats://us%40er:p%3Ass%2fw0rd@host",
     .host = "host",
     .port = 4222,
     .user = "us@er",
     .pass = "p:ss/w0rd"},
    {.in = "nats://u:pa:ss@h", .host = "h", .port = 4222, .user = "u", .pass = "pa:ss"},
    {.in = "nats://u:!$&'()*+;=-._~@h",
     .host = "h",
     .port = 4222,
     .user = "u",
     .pass = "!$&'()*+;=-._~"},
    {.in = "nats://%C3%A6:%E2%82%AC@h",
     .host = "h",
     .port = 4222,
     .user = "\xc3\xa6",
     .pass = "\xe2\x82\xac"},
    {.in = "tls://u:p@[::1]:4443",
     .scheme = URL_SCHEME_TLS,
     .host = "::1",
     .ht = V6,
     .port = 4443,
     .explicit_port = true,
     .user = "u",
     .pass = "p"},
    {.in = "nats://host/", .host = "host", .port = 4222, .path = "/"},
    {.in = "http://example.com", .scheme = URL_SCHEME_HTTP, .host = "example.com", .port = 80},
    {.in = "https://example.com", .scheme = URL_SCHEME_HTTPS, .host = "example.com", .port = 443},
    {.in = "ws://h", .scheme = URL_SCHEME_WS, .host = "h", .port = 80},
    {.in = "wss://h:8443/socket",
     .scheme = URL_SCHEME_WSS,
     .host = "h",
     .port = 8443,
     .explicit_port = true,
     .path = "/socket"},
    {.in = "http://127.0.0.1:8080/base/path",
     .scheme = URL_SCHEME_HTTP,
     .host = "127.0.0.1",
     .ht = V4,
     .port = 8080,
     .explicit_port = true,
     .path = "/base/path"},
    {.in = "http://h/base?x=1&y=2#frag",
     .scheme = URL_SCHEME_HTTP,
     .host = "h",
     .port = 80,
     .path = "/base",
     .query = "x=1&y=2",
     .frag = "frag"},
    {.in = "http://h?q", .scheme = URL_SCHEME_HTTP, .host = "h", .port = 80, .query = "q"},
    {.in = "http://h?", .scheme = URL_SCHEME_HTTP, .host = "h", .port = 80, .query = ""},
    {.in = "http://h#", .scheme = URL_SCHEME_HTTP, .host = "h", .port = 80, .frag = ""},
    {.in = "http://h/?a/b?c#d/e?f",
     .scheme = URL_SCHEME_HTTP,
     .host = "h",
     .port = 80,
     .path = "/",
     .query = "a/b?c",
     .frag = "d/e?f"},
    {.in = "http://h/a%20b/%7E",
     .scheme = URL_SCHEME_HTTP,
     .host = "h",
     .port = 80,
     .path = "/a%20b/%7E"},
    {.in = "http://h/a:b@c;d=e,f",
     .scheme = URL_SCHEME_HTTP,
     .host = "h",
     .port = 80,
     .path = "/a:b@c;d=e,f"},
    {.in = "http://h//x//", .scheme = URL_SCHEME_HTTP, .host = "h", .port = 80, .path = "//x//"},
    {.in = "http://my_service:8080",
     .scheme = URL_SCHEME_HTTP,
     .host = "my_service",
     .port = 8080,
     .explicit_port = true},
    {.in = "http://example.com.", .scheme = URL_SCHEME_HTTP, .host = "example.com.", .port = 80},
    {.in = "http://a-b.c-d.example",
     .scheme = URL_SCHEME_HTTP,
     .host = "a-b.c-d.example",
     .port = 80},
    {.in = "http://xn--bcher-kva.example",
     .scheme = URL_SCHEME_HTTP,
     .host = "xn--bcher-kva.example",
     .port = 80},
    {.in = "http://1a.2b", .scheme = URL_SCHEME_HTTP, .host = "1a.2b", .port = 80},
    {.in = "http://123.example", .scheme = URL_SCHEME_HTTP, .host = "123.example", .port = 80},
    {.in = "http://h:00080",
     .scheme = URL_SCHEME_HTTP,
     .host = "h",
     .port = 80,
     .explicit_port = true},
    /* scheme-less, when asked for */
    {.in = "localhost:4222",
     .flags = URL_NO_SCHEME_NATS,
     .host = "localhost",
     .port = 4222,
     .explicit_port = true},
    {.in = "localhost", .flags = URL_NO_SCHEME_NATS, .host = "localhost", .port = 4222},
    {.in = "127.0.0.1:4222",
     .flags = URL_NO_SCHEME_NATS,
     .host = "127.0.0.1",
     .ht = V4,
     .port = 4222,
     .explicit_port = true},
    {.in = "[::1]:4222",
     .flags = URL_NO_SCHEME_NATS,
     .host = "::1",
     .ht = V6,
     .port = 4222,
     .explicit_port = true},
    {.in = "u:p@h:1",
     .flags = URL_NO_SCHEME_NATS,
     .host = "h",
     .port = 1,
     .explicit_port = true,
     .user = "u",
     .pass = "p"},
    {.in = "tls://h",
     .flags = URL_NO_SCHEME_NATS,
     .scheme = URL_SCHEME_TLS,
     .host = "h",
     .port = 4222},
    /* scheme restrictions that allow the scheme */
    {.in = "nats://h", .flags = URL_ALLOW_NATS, .host = "h", .port = 4222},
    {.in = "wss://h",
     .flags = URL_ALLOW_HTTP | URL_ALLOW_WS,
     .scheme = URL_SCHEME_WSS,
     .host = "h",
     .port = 443},
};

static void check_valid(const struct ok *v)
{
    struct url u;
    int rc = parse(v->in, v->flags, &u);
    if (rc < 0)
        fail_msg("\"%s\": %s (%d)", v->in, url_strerror(rc), rc);
    if (u.scheme != v->scheme || u.host_type != v->ht || u.port != v->port ||
        u.port_explicit != v->explicit_port)
        fail_msg("\"%s\": scheme %d type %d port %u explicit %d", v->in, u.scheme, u.host_type,
                 u.port, u.port_explicit);
    assert_int_equal(u.tls, v->scheme == URL_SCHEME_TLS || v->scheme == URL_SCHEME_HTTPS ||
                                v->scheme == URL_SCHEME_WSS);
    assert_span(u.host, v->host, "host", v->in);
    assert_span(u.user, v->user, "user", v->in);
    assert_span(u.password, v->pass, "password", v->in);
    assert_int_equal(u.has_password, v->pass != NULL);
    assert_span(u.path, v->path, "path", v->in);
    assert_span(u.query, v->query, "query", v->in);
    assert_span(u.fragment, v->frag, "fragment", v->in);
    /* The return value counts the decode buffer bytes used. */
    assert_int_equal((size_t)rc, u.user.n + u.password.n);
    if (u.user.p != NULL)
        assert_ptr_equal(u.user.p, dbuf);
    if (v->ht == V4 || v->ht == V6) {
        char text[64], want[64];
        int af = v->ht == V4 ? AF_INET : AF_INET6;
        uint8_t bin[16];
        snprintf(want, sizeof(want), "%s", v->host);
        assert_int_equal(inet_pton(af, want, bin), 1);
        assert_memory_equal(u.ip, bin, v->ht == V4 ? 4 : 16);
        assert_non_null(inet_ntop(af, u.ip, text, sizeof(text)));
    }
}

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        check_valid(&valid[i]);
}

static void test_long_names(void **state)
{
    char in[600], label63[64];
    struct url u;
    (void)state;

    memset(label63, 'a', 63);
    label63[63] = '\0';
    snprintf(in, sizeof(in), "http://%s.example", label63);
    assert_true(parse(in, 0, &u) >= 0);
    snprintf(in, sizeof(in), "http://%sb.example", label63); /* 64 */
    assert_int_equal(parse(in, 0, &u), URL_EHOST);

    /* 253 bytes is the limit (a trailing dot not counted). */
    char host[300];
    size_t k = 0;
    while (k < 253) {
        size_t take = 253 - k > 50 ? 49 : 253 - k;
        memset(host + k, 'x', take);
        k += take;
        if (k < 253)
            host[k++] = '.';
    }
    host[253] = '\0';
    snprintf(in, sizeof(in), "nats://%s:1", host);
    assert_true(parse(in, 0, &u) >= 0);
    assert_int_equal(u.host.n, 253);
    snprintf(in, sizeof(in), "nats://%s.:1", host);
    assert_true(parse(in, 0, &u) >= 0);
    snprintf(in, sizeof(in), "nats://%sx:1", host);
    assert_int_equal(parse(in, 0, &u), URL_EHOST);

    /* URL_MAX_LEN is accepted, one more byte is not. */
    static char big[URL_MAX_LEN + 2];
    memcpy(big, "http://h/", 9);
    memset(big + 9, 'p', URL_MAX_LEN - 9);
    big[URL_MAX_LEN] = '\0';
    assert_true(parse(big, 0, &u) >= 0);
    assert_int_equal(u.path.n, URL_MAX_LEN - 8);
    big[URL_MAX_LEN] = 'p';
    big[URL_MAX_LEN + 1] = '\0';
    assert_int_equal(parse(big, 0, &u), URL_ETOOLONG);
}

struct bad {
    const char *in;
    int err;
    unsigned flags;
};

static const struct bad invalid[] = {
    {"", URL_EEMPTY, 0},
    {"nats://", URL_ENOHOST, 0},
    {"nats://:4222", URL_ENOHOST, 0},
    {"nats://user@", URL_ENOHOST, 0},
    {"nats://u:p@:1", URL_ENOHOST, 0},
    {"http:///path", URL_ENOHOST, 0},
    {":4222", URL_ENOHOST, URL_NO_SCHEME_NATS},
    /* schemes */
    {"localhost:4222", URL_ESCHEME, 0},
    {"localhost", URL_ESCHEME, 0},
    {"ftp://h", URL_ESCHEME, 0},
    {"natss://h", URL_ESCHEME, 0},
    {"nats:/h", URL_ESCHEME, 0},
    {"nats:h", URL_ESCHEME, 0},
    {"://h", URL_ESCHEME, 0},
    {"ftp://h", URL_ESCHEME, URL_NO_SCHEME_NATS},
    {"http://h", URL_ENOTALLOWED, URL_ALLOW_NATS},
    {"ws://h", URL_ENOTALLOWED, URL_ALLOW_NATS | URL_ALLOW_HTTP},
    {"nats://h", URL_ENOTALLOWED, URL_ALLOW_HTTP},
    {"tls://h", URL_ENOTALLOWED, URL_ALLOW_WS},
    /* bytes */
    {"nats://h h", URL_EBADCHAR, 0},
    {" nats://h", URL_EBADCHAR, 0},
    {"nats://h\t", URL_EBADCHAR, 0},
    {"nats://h\r\n", URL_EBADCHAR, 0},
    {"nats://h\x01", URL_EBADCHAR, 0},
    {"nats://h\x7f", URL_EBADCHAR, 0},
    {"nats://h\xc3\xb8", URL_EBADCHAR, 0},
    {"http://h/a<b", URL_EBADCHAR, 0},
    {"http://h/a\\b", URL_EBADCHAR, 0},
    {"http://h/{x}", URL_EBADCHAR, 0},
    {"http://h/a\"b", URL_EBADCHAR, 0},
    {"http://h/?a|b", URL_EBADCHAR, 0},
    {"http://h/#a^b", URL_EBADCHAR, 0},
    /* percent-encoding */
    {"nats://u%zz@h", URL_EPERCENT, 0},
    {"nats://u%4@h", URL_EPERCENT, 0},
    {"nats://u:p%@h", URL_EPERCENT, 0},
    {"http://h/%", URL_EPERCENT, 0},
    {"http://h/%4", URL_EPERCENT, 0},
    {"http://h/%g0", URL_EPERCENT, 0},
    {"http://h/?%G0", URL_EPERCENT, 0},
    {"http://h/#%", URL_EPERCENT, 0},
    /* user info */
    {"nats://u:p@h@x", URL_EUSERINFO, 0},
    {"nats://@h", URL_EUSERINFO, 0},
    {"nats://:pass@h", URL_EUSERINFO, 0},
    {"nats://u%00@h", URL_EUSERINFO, 0},
    {"nats://u:%0a@h", URL_EUSERINFO, 0},
    {"nats://u:%7F@h", URL_EUSERINFO, 0},
    {"nats://u[@h", URL_EUSERINFO, 0},
    {"nats://u:p]@h", URL_EUSERINFO, 0},
    {"nats://u:p\"@h", URL_EUSERINFO, 0},
    /* IPv6 */
    {"nats://[::1", URL_EIPV6, 0},
    {"nats://[::1]x", URL_EIPV6, 0},
    {"nats://[::1]:", URL_EPORT, 0},
    {"nats://[]", URL_EIPV6, 0},
    {"nats://[zz::1]", URL_EIPV6, 0},
    {"nats://[1.2.3.4]", URL_EIPV6, 0},
    {"nats://[::1::2]", URL_EIPV6, 0},
    {"nats://[1:2:3:4:5:6:7:8:9]", URL_EIPV6, 0},
    {"nats://::1", URL_EIPV6, 0},
    {"nats://fe80::1:4222", URL_EIPV6, 0},
    {"::1", URL_EIPV6, URL_NO_SCHEME_NATS},
    {"nats://[fe80::1%25eth0]:4222", URL_EZONE, 0},
    {"nats://[fe80::1%eth0]", URL_EZONE, 0},
    /* ports */
    {"nats://h:0", URL_EPORT, 0},
    {"nats://h:00000", URL_EPORT, 0},
    {"nats://h:65536", URL_EPORT, 0},
    {"nats://h:99999", URL_EPORT, 0},
    {"nats://h:123456", URL_EPORT, 0},
    {"nats://h:", URL_EPORT, 0},
    {"nats://h:42a", URL_EPORT, 0},
    {"nats://h:-1", URL_EPORT, 0},
    {"nats://h:+80", URL_EPORT, 0},
    {"nats://h:0x50", URL_EPORT, 0},
    {"http://h:8080:9", URL_EIPV6, 0},
    /* host names and IPv4 */
    {"nats://-h", URL_EHOST, 0},
    {"nats://h-", URL_EHOST, 0},
    {"nats://a.-b", URL_EHOST, 0},
    {"nats://a..b", URL_EHOST, 0},
    {"nats://.a", URL_EHOST, 0},
    {"nats://a.b..", URL_EHOST, 0},
    {"nats://.", URL_EHOST, 0},
    {"nats://1.2.3", URL_EHOST, 0},
    {"nats://1", URL_EHOST, 0},
    {"nats://01.2.3.4", URL_EHOST, 0},
    {"nats://1.2.3.04", URL_EHOST, 0},
    {"nats://1.2.3.256", URL_EHOST, 0},
    {"nats://1.2.3.4.5", URL_EHOST, 0},
    {"nats://1.2.3.4.", URL_EHOST, 0},
    {"nats://1234.1.1.1", URL_EHOST, 0},
    {"nats://example.123", URL_EHOST, 0},
    {"nats://0x7f.1", URL_EHOST, 0},
    {"nats://h%41", URL_EHOST, 0},
    {"nats://h!", URL_EHOST, 0},
    {"nats://h,i", URL_EHOST, 0},
    {"nats://h;x", URL_EHOST, 0},
    {"nats://h~", URL_EHOST, 0},
    /* nats/tls take no path, query or fragment */
    {"nats://h/x", URL_EPATH, 0},
    {"nats://h//", URL_EPATH, 0},
    {"nats://u/x@h", URL_EPATH, 0},
    {"nats://h?x", URL_EQUERY, 0},
    {"nats://h?", URL_EQUERY, 0},
    {"nats://h#f", URL_EQUERY, 0},
    {"tls://h/?", URL_EQUERY, 0},
    {"h/x", URL_EPATH, URL_NO_SCHEME_NATS},
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct url u;
        int rc = parse(invalid[i].in, invalid[i].flags, &u);
        if (rc != invalid[i].err)
            fail_msg("\"%s\": got %d (%s), want %d (%s)", invalid[i].in, rc, url_strerror(rc),
                     invalid[i].err, url_strerror(invalid[i].err));
    }
}

static void test_every_prefix(void **state)
{
    (void)state;
    /* Any length of any vector: no crash, no over-read, a defined result. */
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const char *s = valid[i].in;
        for (size_t k = 0; k <= strlen(s); k++) {
            struct url u;
            int rc =
                url_parse(guardpage_place(&guard, s, k), k, valid[i].flags, &u, dbuf, sizeof(dbuf));
            assert_true(rc >= URL_EEMPTYITEM);
            assert_true(rc < 0 || (u.host.n > 0 && u.port > 0));
        }
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        const char *s = invalid[i].in;
        for (size_t k = 0; k <= strlen(s); k++) {
            struct url u;
            int rc = url_parse(guardpage_place(&guard, s, k), k, invalid[i].flags, &u, dbuf,
                               sizeof(dbuf));
            assert_true(rc >= URL_EEMPTYITEM);
        }
    }
}

static void test_decode_buffer(void **state)
{
    struct url u;
    uint8_t small[8];
    const char *s = "nats://user:password@h";
    (void)state;

    /* The raw user info length (13) is what must fit. */
    assert_int_equal(url_parse(s, strlen(s), 0, &u, small, sizeof(small)), URL_ENOSPC);
    assert_int_equal(url_parse(s, strlen(s), 0, &u, NULL, 0), URL_ENOSPC);
    uint8_t exact[12];
    assert_int_equal(url_parse(s, strlen(s), 0, &u, exact, sizeof(exact)), 12);
    assert_true(span_eq(u.password, SPAN_LIT("password")));
    /* No user info: no buffer needed. */
    assert_int_equal(url_parse("nats://h", 8, 0, &u, NULL, 0), 0);
}

/* ------------------------------------------------------------------ lists */

static void test_lists(void **state)
{
    struct url v[4];
    size_t bad = 99;
    uint8_t buf[256];
    (void)state;

#define LIST(s, flags, max)                                                                        \
    url_parse_list((s), strlen(s), (flags), v, (max), buf, sizeof(buf), &bad)

    assert_int_equal(LIST("nats://a:4222, nats://b:4223", 0, 4), 2);
    assert_true(span_eq(v[0].host, SPAN_LIT("a")));
    assert_true(span_eq(v[1].host, SPAN_LIT("b")));
    assert_int_equal(v[1].port, 4223);

    assert_int_equal(LIST("nats://u:p@a,nats://tok@b,tls://[::1]", 0, 4), 3);
    assert_true(span_eq(v[0].user, SPAN_LIT("u")));
    assert_true(span_eq(v[0].password, SPAN_LIT("p")));
    assert_true(span_eq(v[1].user, SPAN_LIT("tok")));
    assert_false(v[1].has_password);
    assert_true(v[1].user.p >= v[0].password.p + v[0].password.n); /* no overlap */
    assert_int_equal(v[2].host_type, URL_HOST_IPV6);

    assert_int_equal(LIST("a:4222,b:4223", URL_NO_SCHEME_NATS, 4), 2);
    assert_int_equal(v[0].scheme, URL_SCHEME_NATS);
    assert_int_equal(LIST(" \tnats://a \t", 0, 4), 1);
    assert_int_equal(LIST("nats://a", 0, 1), 1);

    /* Errors carry the failing item's index. */
    assert_int_equal(LIST("", 0, 4), URL_EEMPTY);
    assert_int_equal(bad, 0);
    assert_int_equal(LIST("  ", 0, 4), URL_EEMPTY);
    assert_int_equal(LIST("nats://a,,nats://b", 0, 4), URL_EEMPTYITEM);
    assert_int_equal(bad, 1);
    assert_int_equal(LIST("nats://a,", 0, 4), URL_EEMPTYITEM);
    assert_int_equal(bad, 1);
    assert_int_equal(LIST(",nats://a", 0, 4), URL_EEMPTYITEM);
    assert_int_equal(bad, 0);
    assert_int_equal(LIST("nats://a, ,nats://b", 0, 4), URL_EEMPTYITEM);
    assert_int_equal(bad, 1);
    assert_int_equal(LIST("nats://a,nats://b,nats://c:0", 0, 4), URL_EPORT);
    assert_int_equal(bad, 2);
    assert_int_equal(LIST("nats://a,nats://b,nats://c", 0, 2), URL_ETOOMANY);
    assert_int_equal(bad, 2);
    assert_int_equal(LIST("nats://a,http://b", URL_ALLOW_NATS, 4), URL_ENOTALLOWED);
    assert_int_equal(bad, 1);
    /* A password with a raw comma splits the list: it must be encoded. */
    assert_int_equal(LIST("nats://u:p,w@h", 0, 4), URL_EPORT); /* "u:p" is host:port */
    assert_int_equal(bad, 0);
    assert_int_equal(LIST("nats://u:p%2Cw@h", 0, 4), 1);
    assert_true(span_eq(v[0].password, SPAN_LIT("p,w")));
    /* The shared buffer runs out. */
    assert_int_equal(url_parse_list("nats://aaaa@h,nats://bbbb@h", 27, 0, v, 4, buf, 6, &bad),
                     URL_ENOSPC);
    assert_int_equal(bad, 1);
    assert_int_equal(url_parse_list("nats://h", 8, 0, v, 4, NULL, 0, NULL), 1);
#undef LIST

    /* Under the guard page, every prefix of a list. */
    const char *s = "nats://u:p@a:1, tls://[::1]:2 ,b:3";
    for (size_t k = 0; k <= strlen(s); k++) {
        int rc = url_parse_list(guardpage_place(&guard, s, k), k, URL_NO_SCHEME_NATS, v, 4, buf,
                                sizeof(buf), &bad);
        assert_true(rc >= URL_EEMPTYITEM && rc <= 3);
    }
}

/* -------------------------------------------------------------- redaction */

static void test_redacted(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } v[] = {
        {"nats://user:pass@host", "nats://user:***@host:4222"},
        {"nats://tok@host:4223", "nats://***@host:4223"},
        {"nats://user:@host", "nats://user:***@host:4222"},
        {"https://[::1]/base?secret=1#frag", "https://[::1]:443/base?***"},
        {"http://h?", "http://h:80?***"},
        {"nats://us%40er:p%3Aw@h", "nats://us%40er:***@h:4222"},
        {"nats://%C3%A6:x@h", "nats://%C3%A6:***@h:4222"},
        {"h", "nats://h:4222"},
        {"TLS://H:1/", "tls://H:1/"},
        {"ws://10.1.2.3/x/y", "ws://10.1.2.3:80/x/y"},
    };
    char out[URL_REDACTED_MAX];
    (void)state;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct url u, back;
        uint8_t b2[64];
        assert_true(parse(v[i].in, URL_NO_SCHEME_NATS, &u) >= 0);
        size_t n = url_format_redacted(&u, out, sizeof(out));
        assert_string_equal(out, v[i].want);
        assert_int_equal(n, strlen(v[i].want));
        /* The redacted form parses back to the same place, with the
         * same user and "***" where the secret was. */
        assert_true(url_parse(out, n, 0, &back, b2, sizeof(b2)) >= 0);
        assert_int_equal(back.scheme, u.scheme);
        assert_int_equal(back.port, u.port);
        assert_true(span_eq(back.host, u.host));
        assert_true(span_eq(back.path, u.path));
        if (u.has_password) {
            assert_true(span_eq(back.user, u.user));
            assert_true(span_eq(back.password, SPAN_LIT("***")));
        } else if (u.user.p != NULL) {
            assert_true(span_eq(back.user, SPAN_LIT("***")));
        }
    }
    /* Cut output is NUL-terminated and a prefix of the full form. */
    struct url u;
    assert_true(parse("nats://alice:s3cret@host:4222", 0, &u) >= 0);
    const char *full = "nats://alice:***@host:4222";
    for (size_t cap = 0; cap <= strlen(full) + 1; cap++) {
        char small[64];
        memset(small, 'Z', sizeof(small));
        assert_int_equal(url_format_redacted(&u, small, cap), strlen(full));
        if (cap > 0)
            assert_memory_equal(small, full, strlen(small));
        assert_int_equal(small[cap], 'Z');
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(url_scheme_name(URL_SCHEME_WSS), "wss");
    assert_string_equal(url_scheme_name((enum url_scheme)42), "?");
    assert_int_equal(url_default_port(URL_SCHEME_NATS), 4222);
    assert_int_equal(url_default_port(URL_SCHEME_TLS), 4222);
    assert_int_equal(url_default_port(URL_SCHEME_HTTP), 80);
    assert_int_equal(url_default_port(URL_SCHEME_WS), 80);
    assert_int_equal(url_default_port(URL_SCHEME_HTTPS), 443);
    assert_int_equal(url_default_port(URL_SCHEME_WSS), 443);
    for (int e = URL_EEMPTYITEM; e <= URL_EEMPTY; e++) {
        assert_true(strlen(url_strerror(e)) > 5);
        assert_string_not_equal(url_strerror(e), "unknown error");
    }
    assert_string_equal(url_strerror(-1000), "unknown error");
    assert_string_equal(url_strerror(URL_EZONE), "IPv6 zone ids are not supported");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),         cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_invalid),       cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_decode_buffer), cmocka_unit_test(test_lists),
        cmocka_unit_test(test_redacted),      cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
