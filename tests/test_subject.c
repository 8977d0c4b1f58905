/*
 * tests/test_subject.c — request subject mapping and the other h8s subjects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/subject.h"

#define S(x) span_make((x), sizeof(x) - 1)

struct host_vec {
    const char *in;
    const char *out; /* NULL: SUBJECT_E_HOST */
};

static const struct host_vec host_vecs[] = {
    {"example.com", "com.example"},
    {"Example.COM:8080", "com.example"},
    {"foo.bar.example.com", "com.example.bar.foo"},
    {"app.example.com.", "com.example.app"},
    {"localhost", "localhost"},
    {"LOCALHOST:80", "localhost"},
    {"x-y.z", "z.x-y"},
    {"host:", "host"},
    {"1.2.3.4.com", "com.4.3.2.1"},
    {"123.a", "a.123"},
    /* IPv4 literals keep their order (and so their dots), as in the Go h8s */
    {"127.0.0.1", "127.0.0.1"},
    {"127.0.0.1:8080", "127.0.0.1"},
    {"10.20.30.255", "10.20.30.255"},
    {"0.0.0.0", "0.0.0.0"},
    /* IPv6 */
    {"[::1]", "__1"},
    {"[::1]:443", "__1"},
    {"[::1]:", "__1"},
    {"[2001:DB8::1]", "2001_db8__1"},
    {"[2001:db8::1]:8080", "2001_db8__1"},
    {"2001:db8::1", "2001_db8__1"},
    {"[::ffff:1.2.3.4]", "__ffff_1.2.3.4"},
    /* invalid */
    {"", NULL},
    {"my_app", NULL},
    {"__1", NULL},
    {"2001_db8__1", NULL},
    {"1.0.0.__ffff_10", NULL},
    {".", NULL},
    {"..", NULL},
    {"example..com", NULL},
    {".example.com", NULL},
    {"example.com..", NULL},
    {"a b.com", NULL},
    {"a\tb.com", NULL},
    {"a*.com", NULL},
    {"*", NULL},
    {">", NULL},
    {"a.>", NULL},
    {"a\x01"
     "b",
     NULL},
    {"a\x7f"
     "b",
     NULL},
    {"ex\xc3\xa4mple.com", NULL},
    {"a/b", NULL},
    {"a%2eb", NULL},
    {"user@host", NULL},
    {"127.1", NULL},
    {"1.2.3.256", NULL},
    {"01.2.3.4", NULL},
    {"1.2.3.4.5", NULL},
    {"123", NULL},
    {"a.123", NULL},
    {"host:abc", NULL},
    {"host:123456", NULL},
    {"host:65536", NULL},
    {"host: 80", NULL},
    {"[fe80::1%25eth0]", NULL},
    {"[fe80::1%eth0]", NULL},
    {"[::1", NULL},
    {"[::1]x", NULL},
    {"[::1]:99999", NULL},
    {"[1.2.3.4]", NULL},
    {"[]", NULL},
    {"[example.com]", NULL},
    {"1:2:3", NULL},
    {"::g", NULL},
};

static void test_host_table(void **state)
{
    (void)state;
    uint8_t out[SUBJECT_HOST_MAX];
    for (size_t i = 0; i < sizeof(host_vecs) / sizeof(host_vecs[0]); i++) {
        const struct host_vec *v = &host_vecs[i];
        int n = subject_host(out, sizeof(out), span_cstr(v->in));
        if (!v->out) {
            if (n != SUBJECT_E_HOST)
                fail_msg("host %zu \"%s\": want SUBJECT_E_HOST, got %d", i, v->in, n);
            continue;
        }
        if (n < 0)
            fail_msg("host %zu \"%s\": error %d", i, v->in, n);
        if ((size_t)n != strlen(v->out) || memcmp(out, v->out, (size_t)n) != 0)
            fail_msg("host %zu \"%s\": got \"%.*s\", want \"%s\"", i, v->in, n, out, v->out);
    }
}

static void test_host_lengths(void **state)
{
    (void)state;
    uint8_t out[SUBJECT_HOST_MAX];
    char name[300];

    /* 63-byte label fine, 64 not */
    memset(name, 'a', 63);
    memcpy(name + 63, ".com", 5);
    assert_int_equal(subject_host(out, sizeof(out), span_cstr(name)), 67);
    memset(name, 'a', 64);
    memcpy(name + 64, ".com", 5);
    assert_int_equal(subject_host(out, sizeof(out), span_cstr(name)), SUBJECT_E_HOST);

    /* 253-byte name fine (also with its root dot), 254 not: 63+63+63+61
     * bytes of labels and three dots. */
    memset(name, 'b', 253);
    name[63] = name[127] = name[191] = '.';
    assert_int_equal(subject_host(out, sizeof(out), span_make(name, 253)), 253);
    name[253] = '.';
    assert_int_equal(subject_host(out, sizeof(out), span_make(name, 254)), 253);
    name[253] = 'b';
    assert_int_equal(subject_host(out, sizeof(out), span_make(name, 254)), SUBJECT_E_HOST);

    /* A too small buffer is reported, not overrun. */
    uint8_t small[8];
    assert_int_equal(subject_host(small, sizeof(small), S("foo.example.com")), SUBJECT_E_SPACE);
    assert_int_equal(subject_host(small, sizeof(small), S("a.com")), 5);
}

struct path_vec {
    const char *in;
    const char *out; /* NULL: SUBJECT_E_PATH */
};

static const struct path_vec path_vecs[] = {
    {"", ""},
    {"/", ""},
    {"//", ""},
    {"/a", "a"},
    {"/api/v1/users", "api.v1.users"},
    {"/a/b.txt", "a.b%2Etxt"},
    {"//a///b/", "a.b"},
    {"a/b", "a.b"},
    {"/a%2Fb", "a.b"},
    {"/a%2fb", "a.b"},
    {"/a%2F%2Fb", "a.b"},
    {"/a%252Fb", "a%2Fb"},
    {"/a%25%32%46b", "a%2Fb"},
    {"/100%25", "100%25"},
    {"/100%2525", "100%25"},
    {"/%2525", "%25"},
    {"/%25zz", "%25zz"},
    {"/a%2525%25", "a%2525%25"},
    {"/%2541", "A"},
    {"/%252541", "%2541"},
    {"/%252e", "%2E"},
    {"/%7Euser/caf%C3%A9", "~user.caf%C3%A9"},
    {"/caf\xc3\xa9", "caf%C3%A9"},
    {"/a%20b", "a%20b"},
    {"/a+b", "a+b"},
    {"/*", "%2A"},
    {"*", "%2A"},
    {"/>", "%3E"},
    {"/%2A/%3E", "%2A.%3E"},
    {"/a.b.c", "a%2Eb%2Ec"},
    {"/.", "%2E"},
    {"/..", "%2E%2E"},
    {"/./../x", "%2E.%2E%2E.x"},
    {"/$&+:=@", "$&+:=@"},
    {"/;,", "%3B%2C"},
    {"/%3F%23", "%3F%23"},
    {"/!'()", "%21%27%28%29"},
    {"/\"<>\\^`{|}", "%22%3C%3E%5C%5E%60%7B%7C%7D"},
    {"/%00%0A%0d%7F%FF%80", "%00%0A%0D%7F%FF%80"},
    {"/A-Z_a~z09", "A-Z_a~z09"},
    {"/%41%62", "Ab"},
    {"/100%zz", NULL},
    {"/100%", NULL},
    {"/%", NULL},
    {"/%4", NULL},
    {"/a%2", NULL},
    {"/%g0", NULL},
    {"/ok/%%41", NULL},
};

static void test_path_table(void **state)
{
    (void)state;
    uint8_t out[512];
    for (size_t i = 0; i < sizeof(path_vecs) / sizeof(path_vecs[0]); i++) {
        const struct path_vec *v = &path_vecs[i];
        int n = subject_path(out, sizeof(out), span_cstr(v->in));
        if (!v->out) {
            if (n != SUBJECT_E_PATH)
                fail_msg("path %zu \"%s\": want SUBJECT_E_PATH, got %d", i, v->in, n);
            continue;
        }
        if (n < 0)
            fail_msg("path %zu \"%s\": error %d", i, v->in, n);
        if ((size_t)n != strlen(v->out) || memcmp(out, v->out, (size_t)n) != 0)
            fail_msg("path %zu \"%s\": got \"%.*s\", want \"%s\"", i, v->in, n, out, v->out);

        /* The whole subject is prefix + host + "." + tokens. */
        uint8_t subj[SUBJECT_MAX];
        char want[600];
        snprintf(want, sizeof(want), "h8s.http.GET.com.example%s%s", *v->out ? "." : "", v->out);
        int m = subject_request(subj, sizeof(subj), S("GET"), S("example.com"), span_cstr(v->in));
        assert_int_equal(m, (int)strlen(want));
        assert_memory_equal(subj, want, (size_t)m);
    }
}

static void test_path_space(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(subject_path(out, sizeof(out), S("/abcd")), 4);
    assert_int_equal(subject_path(out, sizeof(out), S("/abcde")), SUBJECT_E_SPACE);
    assert_int_equal(subject_path(out, sizeof(out), S("/ab.")), SUBJECT_E_SPACE);
    /* Invalid encoding is reported even when it would not fit either. */
    assert_int_equal(subject_path(out, sizeof(out), S("/abcdefgh%zz")), SUBJECT_E_PATH);
    /* Worst case is 3 bytes per input byte. */
    uint8_t big[3 * 6];
    assert_int_equal(subject_path(big, sizeof(big), S("/.....")), 15);
    assert_int_equal(subject_path(big, 0, S("")), 0);
}

static void test_method(void **state)
{
    (void)state;
    assert_true(subject_method_ok(S("GET")));
    assert_true(subject_method_ok(S("M-SEARCH")));
    assert_true(subject_method_ok(S("PROPFIND")));
    assert_true(subject_method_ok(S("get")));
    assert_false(subject_method_ok(S("")));
    assert_false(subject_method_ok(S("A.B")));
    assert_false(subject_method_ok(S("*")));
    assert_false(subject_method_ok(S("G*T")));
    assert_false(subject_method_ok(S(">")));
    assert_false(subject_method_ok(S("GET ")));
    assert_false(subject_method_ok(S("GE\tT")));
    assert_false(subject_method_ok(S("G\x80T")));
    assert_false(subject_method_ok(S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))); /* 33 */
    assert_true(subject_method_ok(S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")));   /* 32 */

    uint8_t out[SUBJECT_MAX];
    assert_int_equal(subject_request(out, sizeof(out), S("A.B"), S("a.com"), S("/")),
                     SUBJECT_E_METHOD);
    assert_int_equal(subject_request(out, sizeof(out), S("GET"), S("a b"), S("/")), SUBJECT_E_HOST);
    assert_int_equal(subject_request(out, sizeof(out), S("GET"), S("a.com"), S("/%")),
                     SUBJECT_E_PATH);
    assert_int_equal(subject_error_status(SUBJECT_E_HOST), 400);
    assert_int_equal(subject_error_status(SUBJECT_E_PATH), 400);
    assert_int_equal(subject_error_status(SUBJECT_E_METHOD), 400);
    assert_int_equal(subject_error_status(SUBJECT_E_TOO_LONG), 414);
}

static void test_request_examples(void **state)
{
    (void)state;
    static const struct {
        const char *method, *host, *path, *want;
    } v[] = {
        {"GET", "Example.COM:8080", "/", "h8s.http.GET.com.example"},
        {"POST", "api.example.com", "/a/b.txt", "h8s.http.POST.com.example.api.a.b%2Etxt"},
        {"DELETE", "127.0.0.1:80", "/x", "h8s.http.DELETE.127.0.0.1.x"},
        {"PUT", "[::1]:8080", "/v1/", "h8s.http.PUT.__1.v1"},
        {"OPTIONS", "a.b", "*", "h8s.http.OPTIONS.b.a.%2A"},
        {"M-SEARCH", "a.b", "", "h8s.http.M-SEARCH.b.a"},
    };
    uint8_t out[SUBJECT_MAX];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int n = subject_request(out, sizeof(out), span_cstr(v[i].method), span_cstr(v[i].host),
                                span_cstr(v[i].path));
        if (n < 0 || (size_t)n != strlen(v[i].want) || memcmp(out, v[i].want, (size_t)n))
            fail_msg("example %zu: got %d \"%.*s\"", i, n, n > 0 ? n : 0, out);
    }
}

static void test_request_length(void **state)
{
    (void)state;
    static char path[SUBJECT_MAX + 16];
    static uint8_t out[SUBJECT_MAX + 64];
    /* "h8s.http.GET.com.example." is 25 bytes: fill exactly to the limit. */
    size_t k = SUBJECT_MAX - 25;
    path[0] = '/';
    memset(path + 1, 'a', k);
    assert_int_equal(
        subject_request(out, SUBJECT_MAX, S("GET"), S("example.com"), span_make(path, k + 1)),
        SUBJECT_MAX);
    memset(path + 1, 'a', k + 1);
    assert_int_equal(
        subject_request(out, SUBJECT_MAX, S("GET"), S("example.com"), span_make(path, k + 2)),
        SUBJECT_E_TOO_LONG);
    /* The limit holds whatever the buffer size. */
    assert_int_equal(
        subject_request(out, sizeof(out), S("GET"), S("example.com"), span_make(path, k + 2)),
        SUBJECT_E_TOO_LONG);
    /* Expansion counts: 1300 dots are 3900 bytes of tokens. */
    memset(path + 1, '.', 1300);
    assert_int_equal(
        subject_request(out, sizeof(out), S("GET"), S("example.com"), span_make(path, 1301)),
        SUBJECT_E_TOO_LONG);
    /* A small buffer is SUBJECT_E_SPACE, not 414. */
    assert_int_equal(subject_request(out, 20, S("GET"), S("example.com"), S("/abc")),
                     SUBJECT_E_SPACE);
    /* A huge, bad path is a 400, not a 414. */
    memset(path + 1, 'a', SUBJECT_MAX);
    path[SUBJECT_MAX] = '%';
    assert_int_equal(subject_request(out, sizeof(out), S("GET"), S("example.com"),
                                     span_make(path, SUBJECT_MAX + 1)),
                     SUBJECT_E_PATH);
}

static void test_agent_subs(void **state)
{
    (void)state;
    uint8_t a[SUBJECT_HOST_MAX + 16], b[SUBJECT_HOST_MAX + 16];
    size_t an = 0, bn = 0;
    assert_int_equal(subject_agent_subs(a, b, sizeof(a), S("App.Example.com:8080"), &an, &bn), 0);
    assert_int_equal(an, strlen("h8s.http.*.com.example.app"));
    assert_memory_equal(a, "h8s.http.*.com.example.app", an);
    assert_int_equal(bn, strlen("h8s.http.*.com.example.app.>"));
    assert_memory_equal(b, "h8s.http.*.com.example.app.>", bn);
    assert_int_equal(subject_agent_subs(a, b, sizeof(a), S("bad host"), &an, &bn), SUBJECT_E_HOST);
    assert_int_equal(subject_agent_subs(a, b, 27, S("app.example.com"), &an, &bn), SUBJECT_E_SPACE);
    assert_int_equal(subject_agent_subs(a, b, 28, S("app.example.com"), &an, &bn), 0);
}

static void test_ids_and_control(void **state)
{
    (void)state;
    uint8_t out[SUBJECT_REPLY_MAX];
    assert_true(subject_id_ok(S("abc123")));
    assert_false(subject_id_ok(S("")));
    assert_false(subject_id_ok(S("a.b")));
    assert_false(subject_id_ok(S("a*")));
    assert_false(subject_id_ok(S(">")));
    assert_false(subject_id_ok(S("a b")));
    assert_false(subject_id_ok(S("a\x7f")));
    assert_false(subject_id_ok(S("a\xc3\xa4")));
    char longid[SUBJECT_ID_MAX + 1];
    memset(longid, 'x', sizeof(longid));
    assert_true(subject_id_ok(span_make(longid, SUBJECT_ID_MAX)));
    assert_false(subject_id_ok(span_make(longid, SUBJECT_ID_MAX + 1)));

    uint8_t rnd[4] = {0x00, 0x9f, 0xa0, 0xff};
    uint8_t hex[8];
    assert_int_equal(subject_id_hex(hex, rnd, 4), 8);
    assert_memory_equal(hex, "009fa0ff", 8);

    int n = subject_reply(out, sizeof(out), S("gw1"), S("0042"));
    assert_int_equal(n, (int)strlen("_INBOX.h8s.gw1.0042"));
    assert_memory_equal(out, "_INBOX.h8s.gw1.0042", (size_t)n);
    assert_int_equal(subject_reply(out, sizeof(out), S("g.w"), S("1")), SUBJECT_E_ID);
    assert_int_equal(subject_reply(out, sizeof(out), S("gw"), S("")), SUBJECT_E_ID);
    assert_int_equal(subject_reply(out, 10, S("gw"), S("1")), SUBJECT_E_SPACE);
    assert_int_equal(subject_reply(out, sizeof(out), span_make(longid, SUBJECT_ID_MAX),
                                   span_make(longid, SUBJECT_ID_MAX)),
                     SUBJECT_REPLY_MAX);

    n = subject_reply_wildcard(out, sizeof(out), S("gw1"));
    assert_int_equal(n, (int)strlen("_INBOX.h8s.gw1.*"));
    assert_memory_equal(out, "_INBOX.h8s.gw1.*", (size_t)n);

    struct span id;
    assert_true(subject_reply_match(S("_INBOX.h8s.gw1.0042"), S("gw1"), &id));
    assert_int_equal(id.n, 4);
    assert_memory_equal(id.p, "0042", 4);
    assert_false(subject_reply_match(S("_INBOX.h8s.gw1."), S("gw1"), &id));
    assert_false(subject_reply_match(S("_INBOX.h8s.gw10.1"), S("gw1"), &id));
    assert_false(subject_reply_match(S("_INBOX.h8s.gw1.1.2"), S("gw1"), &id));
    assert_false(subject_reply_match(S("_INBOX.x8s.gw1.1"), S("gw1"), &id));
    assert_false(subject_reply_match(S("_INBOX.h8s.gw"), S("gw1"), &id));

    n = subject_conn_closed(out, sizeof(out), S("gw1-0042"));
    assert_int_equal(n, (int)strlen("h8s.control.connection.closed.gw1-0042"));
    assert_memory_equal(out, "h8s.control.connection.closed.gw1-0042", (size_t)n);
    assert_int_equal(subject_conn_closed(out, sizeof(out), S("a.b")), SUBJECT_E_ID);

    n = subject_interest(out, sizeof(out), 0, S("App.Example.com"));
    assert_int_equal(n, (int)strlen("h8s.control.interest.register.com.example.app"));
    assert_memory_equal(out, "h8s.control.interest.register.com.example.app", (size_t)n);
    n = subject_interest(out, sizeof(out), 1, S("app.example.com"));
    assert_int_equal(n, (int)strlen("h8s.control.interest.unregister.com.example.app"));
    assert_memory_equal(out, "h8s.control.interest.unregister.com.example.app", (size_t)n);
    assert_int_equal(subject_interest(out, sizeof(out), 0, S("a*b")), SUBJECT_E_HOST);
    assert_int_equal(subject_interest(out, 12, 0, S("a.b")), SUBJECT_E_SPACE);
}

static void test_fallback_path(void **state)
{
    (void)state;
    static const struct {
        const char *subject, *rhost, *want; /* want NULL: SUBJECT_E_SUBJECT */
    } v[] = {
        {"h8s.http.GET.com.example.a.b%2Etxt", "com.example", "/a/b%2Etxt"},
        {"h8s.http.GET.com.example", "com.example", "/"},
        {"h8s.http.POST.127.0.0.1.x", "127.0.0.1", "/x"},
        {"h8s.http.GET.com.example.100%25.$&+:=@~", "com.example", "/100%25/$&+:=@~"},
        {"h8s.http.GET.com.examplex.a", "com.example", NULL},
        {"h8s.http.GET.com.example.", "com.example", NULL},
        {"h8s.http.GET.com.example..a", "com.example", NULL},
        {"h8s.http.GET.com.example.a..b", "com.example", NULL},
        {"h8s.http.GET.com.example.a.", "com.example", NULL},
        {"h8s.http.GET.com.example.a?b", "com.example", NULL},
        {"h8s.http.GET.com.example.a#b", "com.example", NULL},
        {"h8s.http.GET.com.example.a/b", "com.example", NULL},
        {"h8s.http.GET.com.example.a%2", "com.example", NULL},
        {"h8s.http.GET.com.example.a%zz", "com.example", NULL},
        {"h8s.http.GET.com.example.a\r\n", "com.example", NULL},
        {"h8s.http.GET.org.example", "com.example", NULL},
        {"h8s.ws.ws.com.example", "com.example", NULL},
        {"h8s.http..com.example", "com.example", NULL},
        {"h8s.http.GET", "com.example", NULL},
        {"h8s.http.", "com.example", NULL},
        {"h8s.http.GET.com.example.a", "", NULL},
    };
    uint8_t out[128];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct span m = {0};
        int n = subject_fallback_path(out, sizeof(out), span_cstr(v[i].subject),
                                      span_cstr(v[i].rhost), &m);
        if (!v[i].want) {
            if (n != SUBJECT_E_SUBJECT)
                fail_msg("fallback %zu: want SUBJECT_E_SUBJECT, got %d", i, n);
            continue;
        }
        if (n < 0 || (size_t)n != strlen(v[i].want) || memcmp(out, v[i].want, (size_t)n))
            fail_msg("fallback %zu: got %d \"%.*s\"", i, n, n > 0 ? n : 0, out);
        assert_true(m.n > 0);
    }
    struct span m;
    assert_int_equal(
        subject_fallback_path(out, sizeof(out), S("h8s.http.PATCH.b.a.x.y"), S("b.a"), &m), 4);
    assert_int_equal(m.n, 5);
    assert_memory_equal(m.p, "PATCH", 5);
    assert_int_equal(subject_fallback_path(out, 3, S("h8s.http.GET.b.a.x.y"), S("b.a"), NULL),
                     SUBJECT_E_SPACE);
}

/* The fallback path of a mapped subject maps back to the same subject for
 * paths whose segments do not change under a further decode. */
static void test_fallback_round_trip(void **state)
{
    (void)state;
    static const char *paths[] = {
        "/",        "/a/b/c",  "/a.b/c~d", "/100%25",        "/caf%C3%A9/x y",
        "/%2A/%3E", "/$&+:=@", "//x//y//", "/a%20b/%22q%22",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        uint8_t s1[SUBJECT_MAX], s2[SUBJECT_MAX], fp[SUBJECT_MAX];
        int n1 = subject_request(s1, sizeof(s1), S("GET"), S("x.example.com"), span_cstr(paths[i]));
        assert_true(n1 > 0);
        int fn = subject_fallback_path(fp, sizeof(fp), span_make(s1, (size_t)n1),
                                       S("com.example.x"), NULL);
        assert_true(fn > 0);
        int n2 = subject_request(s2, sizeof(s2), S("GET"), S("x.example.com"),
                                 span_make(fp, (size_t)fn));
        assert_int_equal(n1, n2);
        assert_memory_equal(s1, s2, (size_t)n1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_table),
        cmocka_unit_test(test_host_lengths),
        cmocka_unit_test(test_path_table),
        cmocka_unit_test(test_path_space),
        cmocka_unit_test(test_method),
        cmocka_unit_test(test_request_examples),
        cmocka_unit_test(test_request_length),
        cmocka_unit_test(test_agent_subs),
        cmocka_unit_test(test_ids_and_control),
        cmocka_unit_test(test_fallback_path),
        cmocka_unit_test(test_fallback_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
