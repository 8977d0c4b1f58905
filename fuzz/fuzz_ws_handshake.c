/*
 * fuzz/fuzz_ws_handshake.c — proto/ws_handshake.c on arbitrary header sets.
 *
 * Input: byte 0 holds flags (HTTP version, response status, Origin
 * required); the rest is lines split at '\n': the method, then "name:value"
 * fields. The same fields go through the server check, the response builder,
 * the client-side 101 check and, as extra headers, the request builder.
 * Invariants: a known status and matching reason, a well-formed Accept,
 * offered subprotocols that are tokens inside the input, a client check that
 * passes only with the right Accept, and a request builder that never lets
 * a CR, LF or NUL out of its fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws_handshake.h"

#define CHECK(c) ((c) ? (void)0 : abort())
#define MAX_FIELDS 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(struct span s, const uint8_t *p, size_t n)
{
    return s.n == 0 || (s.p >= p && s.n <= n && s.p + s.n <= p + n);
}

static int is_b64(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct span origins[] = {SPAN_LIT("http://h8s.test"), SPAN_LIT("https://a.b")};
    struct ws_handshake_header f[MAX_FIELDS];
    struct ws_handshake_http req = {0}, resp;
    struct ws_handshake_server_config cfg = {origins, 2, 0};
    struct ws_handshake_server hs;
    struct ws_handshake_client cl = {0};
    struct span key = SPAN_LIT("dGhlIHNhbXBsZSBub25jZQ=="), chosen, line;
    char *out, k[WS_HANDSHAKE_KEY_LEN + 1], acc[WS_HANDSHAKE_ACCEPT_LEN + 1];
    uint8_t nonce[WS_HANDSHAKE_NONCE_LEN] = {0};
    size_t cap, nf = 0, pos = 1;
    unsigned st;
    int n;

    if (size < 1)
        return 0;
    cfg.origin_required = data[0] & 1;
    req.version_major = data[0] & 8 ? 2 : 1;
    req.version_minor = (data[0] >> 1) & 3;
    /* Split into lines; the first is the method. */
    for (int first = 1; pos <= size && nf < MAX_FIELDS; first = 0) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
        const uint8_t *colon = memchr(data + pos, ':', len);
        line = span_make(data + pos, len);
        pos += len + 1;
        if (first) {
            req.method = line;
            continue;
        }
        f[nf].name = span_make(line.p, colon ? (size_t)(colon - line.p) : line.n);
        f[nf].value = colon ? span_make(colon + 1, line.n - f[nf].name.n - 1) : span_make(NULL, 0);
        nf++;
    }
    req.headers = f;
    req.nheaders = nf;

    st = ws_handshake_server_check(&hs, &req, &cfg);
    CHECK(st == hs.status && (st == 101 || st == 400 || st == 403 || st == 426));
    CHECK((st == 101) == (hs.reason == NULL));
    CHECK((st == 426) == (hs.extra_headers.n > 0));
    if (st == 101) {
        CHECK(strlen(hs.accept) == WS_HANDSHAKE_ACCEPT_LEN);
        for (size_t i = 0; i < WS_HANDSHAKE_ACCEPT_LEN; i++)
            CHECK(is_b64((uint8_t)hs.accept[i]));
        CHECK(hs.nprotocols <= WS_HANDSHAKE_MAX_PROTOCOLS && inside(hs.origin, data, size));
        for (size_t i = 0; i < hs.nprotocols; i++) {
            CHECK(hs.protocols[i].n > 0 && inside(hs.protocols[i], data, size));
            CHECK(memchr(hs.protocols[i].p, ',', hs.protocols[i].n) == NULL);
            CHECK(ws_handshake_server_select(&hs, hs.protocols[i]) == 0);
        }
    }
    cap = size + 512;
    out = malloc(cap);
    CHECK(out != NULL);
    n = ws_handshake_server_response(out, cap, &hs, hs.nprotocols ? hs.protocols[0] : key);
    CHECK(n > 0 || (st == 101 && hs.nprotocols == 0 && n == WS_HANDSHAKE_ERR_PROTOCOL));
    if (n > 0)
        CHECK(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0);

    /* The same fields as a server's response to a request made with key. */
    resp = req;
    resp.status = data[0] & 16 ? 200 : 101;
    resp.version_major = 1;
    if (ws_handshake_client_check(&resp, key, hs.protocols, hs.nprotocols, &chosen) == 0) {
        int found = 0;
        ws_handshake_accept(acc, key);
        for (size_t i = 0; i < nf; i++)
            found |= span_eq_nocase(f[i].name, SPAN_LIT("sec-websocket-accept")) &&
                     memmem(f[i].value.p, f[i].value.n, acc, WS_HANDSHAKE_ACCEPT_LEN) != NULL;
        CHECK(found && resp.status == 101);
        CHECK(chosen.n == 0 || ws_handshake_server_select(&hs, chosen) == 0);
    }

    /* Fuzzed fields into the request builder: no header injection. */
    cl.host = nf ? f[0].value : req.method;
    cl.target = req.method;
    cl.origin = nf > 1 ? f[1].value : span_make(NULL, 0);
    cl.protocols = hs.protocols;
    cl.nprotocols = hs.nprotocols;
    cl.headers = nf > 2 ? f + 2 : NULL;
    cl.nheaders = nf > 2 ? nf - 2 : 0;
    memcpy(nonce, data, size < sizeof(nonce) ? size : sizeof(nonce));
    n = ws_handshake_client_request(out, cap, &cl, nonce, k);
    if (n > 0) {
        size_t lines = 0, expect = 6 + (cl.origin.n > 0) + (cl.nprotocols > 0) + cl.nheaders + 1;
        for (int i = 0; i < n; i++) {
            CHECK(out[i] != '\0');
            if (out[i] == '\n') {
                CHECK(i > 0 && out[i - 1] == '\r');
                lines++;
            } else if (out[i] == '\r') {
                CHECK(i + 1 < n && out[i + 1] == '\n');
            }
        }
        CHECK(lines == expect);
    } else {
        CHECK(n == WS_HANDSHAKE_ERR_INVALID || n == WS_HANDSHAKE_ERR_SPACE);
    }
    free(out);
    return 0;
}
