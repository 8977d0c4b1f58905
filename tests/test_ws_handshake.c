/*
 * tests/test_ws_handshake.c — RFC 6455 §4 opening handshake, both sides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/ws_handshake.h"
#include "tests/support/ws_test_http.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* ------------------------------------------------------------ builder */

/* A request or response head assembled field by field; set() replaces
 * the first field of that name, add() appends, del() removes all. */
struct head {
    struct ws_handshake_http http;
    struct ws_handshake_header h[40];
};

static void head_init_request(struct head *r)
{
    memset(r, 0, sizeof(*r));
    r->http.method = SPAN_LIT("GET");
    r->http.version_major = 1;
    r->http.version_minor = 1;
    r->http.headers = r->h;
}

static void head_add(struct head *r, const char *name, const char *value)
{
    assert_true(r->http.nheaders < 40);
    r->h[r->http.nheaders].name = span_cstr(name);
    r->h[r->http.nheaders].value = span_cstr(value);
    r->http.nheaders++;
}

static void head_del(struct head *r, const char *name)
{
    size_t o = 0;
    for (size_t i = 0; i < r->http.nheaders; i++)
        if (!span_eq_nocase(r->h[i].name, span_cstr(name)))
            r->h[o++] = r->h[i];
    r->http.nheaders = o;
}

static void head_set(struct head *r, const char *name, const char *value)
{
    for (size_t i = 0; i < r->http.nheaders; i++)
        if (span_eq_nocase(r->h[i].name, span_cstr(name))) {
            r->h[i].value = span_cstr(value);
            return;
        }
    head_add(r, name, value);
}

/* The request of RFC 6455 §1.3. */
static void rfc_request(struct head *r)
{
    head_init_request(r);
    head_add(r, "Host", "server.example.com");
    head_add(r, "Upgrade", "websocket");
    head_add(r, "Connection", "Upgrade");
    head_add(r, "Sec-WebSocket-Key", RFC_KEY);
    head_add(r, "Origin", "http://example.com");
    head_add(r, "Sec-WebSocket-Protocol", "chat, superchat");
    head_add(r, "Sec-WebSocket-Version", "13");
}

static unsigned check(const struct head *r, const struct ws_handshake_server_config *cfg)
{
    struct ws_handshake_server hs;
    unsigned st = ws_handshake_server_check(&hs, &r->http, cfg);

    assert_int_equal(st, hs.status);
    if (st == 101) {
        assert_null(hs.reason);
        assert_int_equal(strlen(hs.accept), WS_HANDSHAKE_ACCEPT_LEN);
    } else {
        assert_non_null(hs.reason);
        assert_int_equal(hs.nprotocols, 0);
    }
    if (st == 426)
        assert_true(span_eq(hs.extra_headers, SPAN_LIT("Sec-WebSocket-Version: 13\r\n")));
    else
        assert_int_equal(hs.extra_headers.n, 0);
    return st;
}

/* -------------------------------------------------------------- tests */

static void test_accept_rfc_example(void **state)
{
    char accept[WS_HANDSHAKE_ACCEPT_LEN + 1];

    (void)state;
    ws_handshake_accept(accept, SPAN_LIT(RFC_KEY));
    assert_string_equal(accept, RFC_ACCEPT);
}

static void test_server_rfc_request(void **state)
{
    static const char expect[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                                 "Sec-WebSocket-Protocol: chat\r\n"
                                 "\r\n";
    struct ws_handshake_server hs;
    struct head r;
    char out[512];
    int n;

    (void)state;
    rfc_request(&r);
    assert_int_equal(ws_handshake_server_check(&hs, &r.http, NULL), 101);
    assert_string_equal(hs.accept, RFC_ACCEPT);
    assert_int_equal(hs.nprotocols, 2);
    assert_true(span_eq(hs.protocols[0], SPAN_LIT("chat")));
    assert_true(span_eq(hs.protocols[1], SPAN_LIT("superchat")));
    assert_true(span_eq(hs.origin, SPAN_LIT("http://example.com")));

    assert_int_equal(ws_handshake_server_select(&hs, SPAN_LIT("chat")), 0);
    assert_int_equal(ws_handshake_server_select(&hs, SPAN_LIT("superchat")), 0);
    assert_int_equal(ws_handshake_server_select(&hs, span_make(NULL, 0)), 0);
    assert_int_equal(ws_handshake_server_select(&hs, SPAN_LIT("Chat")), WS_HANDSHAKE_ERR_PROTOCOL);
    assert_int_equal(ws_handshake_server_select(&hs, SPAN_LIT("chat, superchat")),
                     WS_HANDSHAKE_ERR_PROTOCOL);
    assert_int_equal(ws_handshake_server_select(&hs, SPAN_LIT("mqtt")), WS_HANDSHAKE_ERR_PROTOCOL);

    n = ws_handshake_server_response(out, sizeof(out), &hs, SPAN_LIT("chat"));
    assert_int_equal(n, sizeof(expect) - 1);
    assert_memory_equal(out, expect, sizeof(expect) - 1);
    /* Every buffer one byte too small is refused. */
    for (int cap = 0; cap < n; cap++)
        assert_int_equal(ws_handshake_server_response(out, (size_t)cap, &hs, SPAN_LIT("chat")),
                         WS_HANDSHAKE_ERR_SPACE);
    assert_int_equal(ws_handshake_server_response(out, sizeof(out), &hs, SPAN_LIT("mqtt")),
                     WS_HANDSHAKE_ERR_PROTOCOL);
    /* Without a subprotocol the header is left out. */
    n = ws_handshake_server_response(out, sizeof(out), &hs, span_make(NULL, 0));
    assert_true(n > 0);
    assert_null(memmem(out, (size_t)n, "Sec-WebSocket-Protocol", 22));
}

static void test_server_method_and_version(void **state)
{
    struct head r;

    (void)state;
    rfc_request(&r);
    r.http.method = SPAN_LIT("POST");
    assert_int_equal(check(&r, NULL), 400);
    r.http.method = SPAN_LIT("get");
    assert_int_equal(check(&r, NULL), 400);
    r.http.method = SPAN_LIT("GET");
    r.http.version_minor = 0;
    assert_int_equal(check(&r, NULL), 400);
    r.http.version_major = 2;
    assert_int_equal(check(&r, NULL), 400);
    r.http.version_major = 0;
    r.http.version_minor = 9;
    assert_int_equal(check(&r, NULL), 400);
    r.http.version_major = 1;
    r.http.version_minor = 2; /* a later HTTP/1.x is fine */
    assert_int_equal(check(&r, NULL), 101);
}

static void test_server_host(void **state)
{
    struct head r;

    (void)state;
    rfc_request(&r);
    head_del(&r, "host");
    assert_int_equal(check(&r, NULL), 400);
    head_add(&r, "HOST", "a");
    assert_int_equal(check(&r, NULL), 101);
    head_add(&r, "host", "b");
    assert_int_equal(check(&r, NULL), 400);
}

static void test_server_upgrade_and_connection(void **state)
{
    static const struct {
        const char *upgrade, *connection;
        unsigned status;
    } cases[] = {
        {"websocket", "Upgrade", 101},
        {"WebSocket", "upgrade", 101},
        {"WEBSOCKET", "UPGRADE", 101},
        {"  websocket\t", "\tUpgrade ", 101},
        {"h2c, websocket", "keep-alive, Upgrade", 101},
        {"websocket", "keep-alive,upgrade", 101},
        {"websocket", ",, Upgrade ,", 101},
        {"websocket", "keep-alive", 400},
        {"websocket", "upgrades", 400},
        {"websocket", "keep-alive upgrade", 400},
        {"websocket", "", 400},
        {"h2c", "Upgrade", 400},
        {"websocket2", "Upgrade", 400},
        {"web socket", "Upgrade", 400},
        {"", "Upgrade", 400},
    };
    struct head r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rfc_request(&r);
        head_set(&r, "Upgrade", cases[i].upgrade);
        head_set(&r, "Connection", cases[i].connection);
        assert_int_equal(check(&r, NULL), cases[i].status);
    }
    /* Either header missing. */
    rfc_request(&r);
    head_del(&r, "upgrade");
    assert_int_equal(check(&r, NULL), 400);
    rfc_request(&r);
    head_del(&r, "connection");
    assert_int_equal(check(&r, NULL), 400);
    /* The token may come in any of several Connection fields. */
    rfc_request(&r);
    head_set(&r, "Connection", "keep-alive");
    head_add(&r, "connection", "close, UPGRADE");
    assert_int_equal(check(&r, NULL), 101);
}

static void test_server_version(void **state)
{
    static const char *const bad[] = {"8", "7", "12", "14", "", "13, 8", "013", "13.0", "1 3"};
    struct ws_handshake_server hs;
    struct head r;
    char out[256];
    int n;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rfc_request(&r);
        head_set(&r, "Sec-WebSocket-Version", bad[i]);
        assert_int_equal(check(&r, NULL), 426);
    }
    rfc_request(&r);
    head_set(&r, "Sec-WebSocket-Version", " 13 ");
    assert_int_equal(check(&r, NULL), 101);
    head_del(&r, "sec-websocket-version");
    assert_int_equal(check(&r, NULL), 426);
    head_add(&r, "Sec-WebSocket-Version", "13");
    head_add(&r, "Sec-WebSocket-Version", "13");
    assert_int_equal(check(&r, NULL), 426);

    rfc_request(&r);
    head_set(&r, "Sec-WebSocket-Version", "8");
    assert_int_equal(ws_handshake_server_check(&hs, &r.http, NULL), 426);
    n = ws_handshake_server_response(out, sizeof(out), &hs, span_make(NULL, 0));
    assert_int_equal(n, strlen("HTTP/1.1 426 Upgrade Required\r\n"
                               "Sec-WebSocket-Version: 13\r\n"
                               "Connection: close\r\n"
                               "Content-Length: 0\r\n\r\n"));
    assert_memory_equal(out,
                        "HTTP/1.1 426 Upgrade Required\r\n"
                        "Sec-WebSocket-Version: 13\r\n"
                        "Connection: close\r\n"
                        "Content-Length: 0\r\n\r\n",
                        (size_t)n);
}

static void test_server_key(void **state)
{
    static const char *const bad[] = {
        "",
        "not base64 at all!!!!!!!",
        "AAAAAAAAAAAAAAAAAAAA",         /* 15 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAA==", /* 19 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAA=",     /* 17 bytes */
        "dGhlIHNhbXBsZSBub25jZR==",     /* non-zero unused bits */
        "dGhlIHNhbXBsZSBub25jZQ",       /* missing padding */
        "dGhlIHNhbXBsZSBub25jZQ==,x",
        "dGhlIHNhbXBs ZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25jZQ-_", /* URL alphabet */
    };
    struct head r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rfc_request(&r);
        head_set(&r, "Sec-WebSocket-Key", bad[i]);
        assert_int_equal(check(&r, NULL), 400);
    }
    rfc_request(&r);
    head_del(&r, "sec-websocket-key");
    assert_int_equal(check(&r, NULL), 400);
    head_add(&r, "Sec-WebSocket-Key", RFC_KEY);
    head_add(&r, "Sec-WebSocket-Key", RFC_KEY);
    assert_int_equal(check(&r, NULL), 400);
    /* Surrounding whitespace is not part of the key. */
    {
        struct ws_handshake_server hs;
        rfc_request(&r);
        head_set(&r, "sec-websocket-key", "  " RFC_KEY "\t");
        assert_int_equal(ws_handshake_server_check(&hs, &r.http, NULL), 101);
        assert_string_equal(hs.accept, RFC_ACCEPT);
    }
}

static void test_server_origins(void **state)
{
    const struct span allowed[] = {SPAN_LIT("https://app.example.com"),
                                   SPAN_LIT("http://localhost:8080")};
    struct ws_handshake_server_config cfg = {allowed, 2, 0};
    struct ws_handshake_server hs;
    struct head r;
    char out[256];
    int n;

    (void)state;
    rfc_request(&r);
    head_set(&r, "Origin", "https://app.example.com");
    assert_int_equal(check(&r, &cfg), 101);
    head_set(&r, "Origin", "HTTPS://APP.example.COM");
    assert_int_equal(check(&r, &cfg), 101);
    head_set(&r, "Origin", " http://localhost:8080 ");
    assert_int_equal(check(&r, &cfg), 101);
    head_set(&r, "Origin", "https://evil.example.com");
    assert_int_equal(check(&r, &cfg), 403);
    head_set(&r, "Origin", "https://app.example.com.evil.com");
    assert_int_equal(check(&r, &cfg), 403);
    head_set(&r, "Origin", "https://app.example.co");
    assert_int_equal(check(&r, &cfg), 403);
    head_set(&r, "Origin", "null");
    assert_int_equal(check(&r, &cfg), 403);
    head_set(&r, "Origin", "");
    assert_int_equal(check(&r, &cfg), 403);
    /* Two Origin fields are refused even if both are allowed. */
    head_set(&r, "Origin", "https://app.example.com");
    head_add(&r, "Origin", "https://app.example.com");
    assert_int_equal(check(&r, &cfg), 403);
    /* No Origin: a non-browser client, let in unless required. */
    head_del(&r, "origin");
    assert_int_equal(check(&r, &cfg), 101);
    cfg.origin_required = 1;
    assert_int_equal(check(&r, &cfg), 403);
    /* Without a list there is no check at all. */
    head_add(&r, "Origin", "https://anything.example");
    assert_int_equal(check(&r, NULL), 101);
    cfg.norigins = 0;
    assert_int_equal(check(&r, &cfg), 101);

    cfg.norigins = 2;
    head_set(&r, "Origin", "https://evil.example.com");
    assert_int_equal(ws_handshake_server_check(&hs, &r.http, &cfg), 403);
    n = ws_handshake_server_response(out, sizeof(out), &hs, span_make(NULL, 0));
    assert_int_equal(n, strlen("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n"
                               "Content-Length: 0\r\n\r\n"));
    assert_memory_equal(out, "HTTP/1.1 403 Forbidden\r\n", 24);
}

static void test_server_subprotocols(void **state)
{
    struct ws_handshake_server hs;
    struct head r;
    char many[16 * 4 + 1];

    (void)state;
    rfc_request(&r);
    head_set(&r, "Sec-WebSocket-Protocol", " chat ,, superchat,");
    head_add(&r, "sec-websocket-protocol", "v2.h8s.example");
    assert_int_equal(ws_handshake_server_check(&hs, &r.http, NULL), 101);
    assert_int_equal(hs.nprotocols, 3);
    assert_true(span_eq(hs.protocols[0], SPAN_LIT("chat")));
    assert_true(span_eq(hs.protocols[1], SPAN_LIT("superchat")));
    assert_true(span_eq(hs.protocols[2], SPAN_LIT("v2.h8s.example")));
    assert_int_equal(ws_handshake_server_select(&hs, SPAN_LIT("v2.h8s.example")), 0);

    /* No offer: only "no subprotocol" can be selected. */
    head_del(&r, "sec-websocket-protocol");
    assert_int_equal(ws_handshake_server_check(&hs, &r.http, NULL), 101);
    assert_int_equal(hs.nprotocols, 0);
    assert_int_equal(ws_handshake_server_select(&hs, SPAN_LIT("chat")), WS_HANDSHAKE_ERR_PROTOCOL);
    assert_int_equal(ws_handshake_server_select(&hs, span_make(NULL, 0)), 0);

    /* Elements must be tokens. */
    head_set(&r, "Sec-WebSocket-Protocol", "chat, super chat");
    assert_int_equal(check(&r, NULL), 400);
    head_set(&r, "Sec-WebSocket-Protocol", "chat;v=1");
    assert_int_equal(check(&r, NULL), 400);
    head_set(&r, "Sec-WebSocket-Protocol", "\"chat\"");
    assert_int_equal(check(&r, NULL), 400);
    head_set(&r, "Sec-WebSocket-Protocol", "ch\x80t");
    assert_int_equal(check(&r, NULL), 400);

    /* At most WS_HANDSHAKE_MAX_PROTOCOLS. */
    many[0] = '\0';
    for (int i = 0; i < 16; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sp%c", i ? ", " : "", 'a' + i);
    head_set(&r, "Sec-WebSocket-Protocol", many);
    assert_int_equal(check(&r, NULL), 101);
    head_add(&r, "Sec-WebSocket-Protocol", "one-more");
    assert_int_equal(check(&r, NULL), 400);
}

/* An extension offer is ignored: still 101, and nothing about extensions
 * in the response. */
static void test_server_declines_extensions(void **state)
{
    struct ws_handshake_server hs;
    struct head r;
    char out[512];
    int n;

    (void)state;
    rfc_request(&r);
    head_add(&r, "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");
    assert_int_equal(ws_handshake_server_check(&hs, &r.http, NULL), 101);
    n = ws_handshake_server_response(out, sizeof(out), &hs, SPAN_LIT("superchat"));
    assert_true(n > 0);
    assert_null(memmem(out, (size_t)n, "xtension", 8));
    assert_null(memmem(out, (size_t)n, "deflate", 7));
}

static void test_server_response_invalid_status(void **state)
{
    struct ws_handshake_server hs;
    char out[256];

    (void)state;
    memset(&hs, 0, sizeof(hs));
    hs.status = 200;
    assert_int_equal(ws_handshake_server_response(out, sizeof(out), &hs, span_make(NULL, 0)),
                     WS_HANDSHAKE_ERR_INVALID);
    hs.status = 400;
    assert_int_equal(ws_handshake_server_response(out, sizeof(out), &hs, span_make(NULL, 0)),
                     (int)strlen("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                                 "Content-Length: 0\r\n\r\n"));
    assert_int_equal(ws_handshake_server_response(out, 10, &hs, span_make(NULL, 0)),
                     WS_HANDSHAKE_ERR_SPACE);
}

/* ------------------------------------------------------------- client */

static const uint8_t rfc_nonce[16] = "the sample nonce";

static void test_client_request(void **state)
{
    static const char expect[] = "GET /chat?room=1 HTTP/1.1\r\n"
                                 "Host: server.example.com:8080\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Key: " RFC_KEY "\r\n"
                                 "Sec-WebSocket-Version: 13\r\n"
                                 "Origin: http://example.com\r\n"
                                 "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                 "Authorization: Bearer abc\r\n"
                                 "X-Trace: 1 2\t3\r\n"
                                 "\r\n";
    const struct span protos[] = {SPAN_LIT("chat"), SPAN_LIT("superchat")};
    const struct ws_handshake_header extra[] = {
        {SPAN_LIT("Authorization"), SPAN_LIT("Bearer abc")},
        {SPAN_LIT("X-Trace"), SPAN_LIT("1 2\t3")},
    };
    struct ws_handshake_client c = {
        SPAN_LIT("server.example.com:8080"),
        SPAN_LIT("/chat?room=1"),
        SPAN_LIT("http://example.com"),
        protos,
        2,
        extra,
        2,
    };
    char out[512], key[WS_HANDSHAKE_KEY_LEN + 1];
    int n;

    (void)state;
    n = ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key);
    assert_string_equal(key, RFC_KEY);
    assert_int_equal(n, sizeof(expect) - 1);
    assert_memory_equal(out, expect, sizeof(expect) - 1);
    for (int cap = 0; cap < n; cap++)
        assert_int_equal(ws_handshake_client_request(out, (size_t)cap, &c, rfc_nonce, key),
                         WS_HANDSHAKE_ERR_SPACE);

    /* Minimal: no origin, no subprotocols, no extra headers. */
    memset(&c, 0, sizeof(c));
    c.host = SPAN_LIT("[::1]:9");
    c.target = SPAN_LIT("/");
    n = ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key);
    assert_true(n > 0);
    assert_null(memmem(out, (size_t)n, "Origin", 6));
    assert_null(memmem(out, (size_t)n, "Sec-WebSocket-Protocol", 22));
    assert_memory_equal(out, "GET / HTTP/1.1\r\nHost: [::1]:9\r\n", 31);
}

static void test_client_request_rejects_injection(void **state)
{
    static const char *const bad_hosts[] = {"", "a b", "a\r\nX: y", "a\n", "a\t", "\x7f", "h\x80"};
    static const char *const bad_targets[] = {"", "/a b", "/\r\nX: y", "/\n", "/\x01"};
    static const char *const bad_names[] = {"",
                                            "X Y",
                                            "X:",
                                            "X\r\nY",
                                            "Host",
                                            "host",
                                            "Origin",
                                            "Upgrade",
                                            "CONNECTION",
                                            "Sec-WebSocket-Key",
                                            "sec-websocket-version",
                                            "Sec-WebSocket-Protocol",
                                            "Sec-WebSocket-Extensions",
                                            "Sec-WebSocket-Accept",
                                            "Content-Length",
                                            "Transfer-Encoding"};
    static const char *const bad_values[] = {"a\r\nX: y", "a\n", "a\r"};
    struct ws_handshake_header hdr;
    struct span proto;
    struct ws_handshake_client c;
    char out[512], key[WS_HANDSHAKE_KEY_LEN + 1];

    (void)state;
#define BASE()                                                                                     \
    do {                                                                                           \
        memset(&c, 0, sizeof(c));                                                                  \
        c.host = SPAN_LIT("h");                                                                    \
        c.target = SPAN_LIT("/");                                                                  \
    } while (0)
    BASE();
    assert_true(ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key) > 0);
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        BASE();
        c.host = span_cstr(bad_hosts[i]);
        assert_int_equal(ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key),
                         WS_HANDSHAKE_ERR_INVALID);
    }
    for (size_t i = 0; i < sizeof(bad_targets) / sizeof(bad_targets[0]); i++) {
        BASE();
        c.target = span_cstr(bad_targets[i]);
        assert_int_equal(ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key),
                         WS_HANDSHAKE_ERR_INVALID);
    }
    BASE();
    c.origin = SPAN_LIT("http://x\r\nEvil: 1");
    assert_int_equal(ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key),
                     WS_HANDSHAKE_ERR_INVALID);
    for (size_t i = 0; i < 3; i++) {
        static const char *const bad_protos[] = {"", "a b", "a,b"};
        BASE();
        proto = span_cstr(bad_protos[i]);
        c.protocols = &proto;
        c.nprotocols = 1;
        assert_int_equal(ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key),
                         WS_HANDSHAKE_ERR_INVALID);
    }
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        BASE();
        hdr.name = span_cstr(bad_names[i]);
        hdr.value = SPAN_LIT("v");
        c.headers = &hdr;
        c.nheaders = 1;
        assert_int_equal(ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key),
                         WS_HANDSHAKE_ERR_INVALID);
    }
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        BASE();
        hdr.name = SPAN_LIT("X-Ok");
        hdr.value = span_cstr(bad_values[i]);
        c.headers = &hdr;
        c.nheaders = 1;
        assert_int_equal(ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key),
                         WS_HANDSHAKE_ERR_INVALID);
    }
    BASE();
    hdr.name = SPAN_LIT("X-Nul");
    hdr.value = span_make("a\0b", 3);
    c.headers = &hdr;
    c.nheaders = 1;
    assert_int_equal(ws_handshake_client_request(out, sizeof(out), &c, rfc_nonce, key),
                     WS_HANDSHAKE_ERR_INVALID);
#undef BASE
}

static void ok_response(struct head *r)
{
    memset(r, 0, sizeof(*r));
    r->http.status = 101;
    r->http.version_major = 1;
    r->http.version_minor = 1;
    r->http.headers = r->h;
    head_add(r, "Upgrade", "websocket");
    head_add(r, "Connection", "Upgrade");
    head_add(r, "Sec-WebSocket-Accept", RFC_ACCEPT);
}

static void test_client_check(void **state)
{
    const struct span offered[] = {SPAN_LIT("chat"), SPAN_LIT("superchat")};
    struct span chosen = SPAN_LIT("junk");
    const struct span key = SPAN_LIT(RFC_KEY);
    struct head r;

    (void)state;
    ok_response(&r);
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, &chosen), 0);
    assert_int_equal(chosen.n, 0);
    assert_int_equal(ws_handshake_client_check(&r.http, key, offered, 2, NULL), 0);

    /* Status line. */
    r.http.status = 200;
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_STATUS);
    r.http.status = 426;
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_STATUS);
    r.http.status = 101;
    r.http.version_minor = 0;
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_STATUS);

    /* Upgrade and Connection tokens, any case, in lists. */
    ok_response(&r);
    head_set(&r, "upgrade", "WebSocket");
    head_set(&r, "connection", "keep-alive, UPGRADE");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL), 0);
    head_set(&r, "upgrade", "h2c");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_UPGRADE);
    ok_response(&r);
    head_del(&r, "upgrade");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_UPGRADE);
    ok_response(&r);
    head_set(&r, "connection", "keep-alive");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_CONNECTION);

    /* Accept: exact, once. */
    ok_response(&r);
    head_set(&r, "Sec-WebSocket-Accept", "S3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_ACCEPT);
    head_set(&r, "Sec-WebSocket-Accept", " " RFC_ACCEPT " ");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL), 0);
    head_add(&r, "Sec-WebSocket-Accept", RFC_ACCEPT);
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_ACCEPT);
    ok_response(&r);
    head_del(&r, "sec-websocket-accept");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_ACCEPT);
    ok_response(&r);
    assert_int_equal(
        ws_handshake_client_check(&r.http, SPAN_LIT("AAAAAAAAAAAAAAAAAAAAAA=="), NULL, 0, NULL),
        WS_HANDSHAKE_ERR_ACCEPT);

    /* Subprotocol: one of those offered, or none. */
    ok_response(&r);
    head_add(&r, "Sec-WebSocket-Protocol", "superchat");
    assert_int_equal(ws_handshake_client_check(&r.http, key, offered, 2, &chosen), 0);
    assert_true(span_eq(chosen, SPAN_LIT("superchat")));
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_PROTOCOL);
    assert_int_equal(ws_handshake_client_check(&r.http, key, offered, 1, NULL),
                     WS_HANDSHAKE_ERR_PROTOCOL);
    head_set(&r, "Sec-WebSocket-Protocol", "Chat");
    assert_int_equal(ws_handshake_client_check(&r.http, key, offered, 2, NULL),
                     WS_HANDSHAKE_ERR_PROTOCOL);
    head_set(&r, "Sec-WebSocket-Protocol", "chat, superchat");
    assert_int_equal(ws_handshake_client_check(&r.http, key, offered, 2, NULL),
                     WS_HANDSHAKE_ERR_PROTOCOL);
    head_set(&r, "Sec-WebSocket-Protocol", "chat");
    head_add(&r, "Sec-WebSocket-Protocol", "chat");
    assert_int_equal(ws_handshake_client_check(&r.http, key, offered, 2, NULL),
                     WS_HANDSHAKE_ERR_PROTOCOL);

    /* Extensions: none was offered, so none may be accepted. */
    ok_response(&r);
    head_add(&r, "Sec-WebSocket-Extensions", "permessage-deflate");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL),
                     WS_HANDSHAKE_ERR_EXTENSION);
    head_set(&r, "Sec-WebSocket-Extensions", " ");
    assert_int_equal(ws_handshake_client_check(&r.http, key, NULL, 0, NULL), 0);

    assert_string_equal(ws_handshake_strerror(WS_HANDSHAKE_ERR_ACCEPT),
                        "Sec-WebSocket-Accept missing or wrong");
    assert_string_equal(ws_handshake_strerror(12345), "unknown error");
}

/* Our request through llhttp into the server check, our response through
 * llhttp into the client check: the two halves agree on the wire. */
static void test_both_sides_through_llhttp(void **state)
{
    const struct span protos[] = {SPAN_LIT("v1.h8s"), SPAN_LIT("v2.h8s")};
    const struct span origins[] = {SPAN_LIT("https://ui.example")};
    const struct ws_handshake_server_config cfg = {origins, 1, 1};
    struct ws_handshake_client c = {SPAN_LIT("127.0.0.1:4000"),
                                    SPAN_LIT("/t"),
                                    SPAN_LIT("https://ui.example"),
                                    protos,
                                    2,
                                    NULL,
                                    0};
    struct ws_test_http req, resp;
    struct ws_handshake_server hs;
    char rq[512], rs[512], key[WS_HANDSHAKE_KEY_LEN + 1];
    uint8_t nonce[16];
    struct span chosen;
    int n, m;

    (void)state;
    for (int i = 0; i < 16; i++)
        nonce[i] = (uint8_t)(i * 37 + 1);
    n = ws_handshake_client_request(rq, sizeof(rq), &c, nonce, key);
    assert_true(n > 0);
    assert_int_equal(ws_test_http_parse(&req, 1, rq, (size_t)n - 1), 0);
    assert_int_equal(ws_test_http_parse(&req, 1, rq, (size_t)n), 1);
    assert_int_equal(req.head_len, n);
    assert_int_equal(ws_handshake_server_check(&hs, &req.head, &cfg), 101);
    assert_int_equal(hs.nprotocols, 2);
    m = ws_handshake_server_response(rs, sizeof(rs), &hs, SPAN_LIT("v2.h8s"));
    assert_true(m > 0);
    assert_int_equal(ws_test_http_parse(&resp, 0, rs, (size_t)m), 1);
    assert_int_equal(ws_handshake_client_check(&resp.head, span_cstr(key), protos, 2, &chosen), 0);
    assert_true(span_eq(chosen, SPAN_LIT("v2.h8s")));
    /* A different key does not validate. */
    nonce[0] ^= 1;
    n = ws_handshake_client_request(rq, sizeof(rq), &c, nonce, key);
    assert_true(n > 0);
    assert_int_equal(ws_handshake_client_check(&resp.head, span_cstr(key), protos, 2, &chosen),
                     WS_HANDSHAKE_ERR_ACCEPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_rfc_example),
        cmocka_unit_test(test_server_rfc_request),
        cmocka_unit_test(test_server_method_and_version),
        cmocka_unit_test(test_server_host),
        cmocka_unit_test(test_server_upgrade_and_connection),
        cmocka_unit_test(test_server_version),
        cmocka_unit_test(test_server_key),
        cmocka_unit_test(test_server_origins),
        cmocka_unit_test(test_server_subprotocols),
        cmocka_unit_test(test_server_declines_extensions),
        cmocka_unit_test(test_server_response_invalid_status),
        cmocka_unit_test(test_client_request),
        cmocka_unit_test(test_client_request_rejects_injection),
        cmocka_unit_test(test_client_check),
        cmocka_unit_test(test_both_sides_through_llhttp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
