/*
 * proto/ws_handshake.c — see ws_handshake.h.
 */
#include "proto/ws_handshake.h"

#include <bearssl.h>
#include <limits.h>
#include <string.h>

#include "proto/base64.h"

#define WS_HANDSHAKE_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ------------------------------------------------------------ helpers */

static struct span ws_handshake_trim(struct span s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

/* RFC 7230 §3.2.6 tchar. */
static int ws_handshake_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int ws_handshake_token(struct span s)
{
    if (s.n == 0)
        return 0;
    for (size_t i = 0; i < s.n; i++)
        if (!ws_handshake_tchar(s.p[i]))
            return 0;
    return 1;
}

/* Visible ASCII, no space: what may appear in Host, a request-target or an
 * Origin without breaking the request line or a header line. */
static int ws_handshake_visible(struct span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < 0x21 || s.p[i] > 0x7E)
            return 0;
    return 1;
}

/*
 * Iterates a comma-separated list (RFC 7230 §7 #rule): stores the next
 * element, trimmed, in *elem and returns 1, or returns 0 at the end. Empty
 * elements are skipped, as the #rule allows.
 */
static int ws_handshake_list_next(struct span *rest, struct span *elem)
{
    while (rest->n) {
        const uint8_t *comma = memchr(rest->p, ',', rest->n);
        size_t len = comma ? (size_t)(comma - rest->p) : rest->n;

        *elem = ws_handshake_trim(span_make(rest->p, len));
        rest->p += comma ? len + 1 : len;
        rest->n -= comma ? len + 1 : len;
        if (elem->n)
            return 1;
    }
    return 0;
}

static int ws_handshake_list_has(struct span value, struct span token)
{
    struct span e;

    while (ws_handshake_list_next(&value, &e))
        if (span_eq_nocase(e, token))
            return 1;
    return 0;
}

static int ws_handshake_is(const struct ws_handshake_header *h, const char *name)
{
    return span_eq_nocase(h->name, span_cstr(name));
}

/* Bounded writer: appends until full, then only remembers it overflowed. */
struct ws_handshake_out {
    char *p;
    size_t cap;
    size_t len;
    int full;
};

static void ws_handshake_put(struct ws_handshake_out *o, struct span s)
{
    if (o->full || s.n > o->cap - o->len) {
        o->full = 1;
        return;
    }
    if (s.n)
        memcpy(o->p + o->len, s.p, s.n);
    o->len += s.n;
}

static void ws_handshake_puts(struct ws_handshake_out *o, const char *s)
{
    ws_handshake_put(o, span_cstr(s));
}

static int ws_handshake_done(const struct ws_handshake_out *o)
{
    if (o->full || o->len > INT_MAX)
        return WS_HANDSHAKE_ERR_SPACE;
    return (int)o->len;
}

/* ------------------------------------------------------------- common */

void ws_handshake_accept(char out[WS_HANDSHAKE_ACCEPT_LEN + 1], struct span key)
{
    br_sha1_context sha;
    uint8_t digest[br_sha1_SIZE];
    size_t len;

    br_sha1_init(&sha);
    br_sha1_update(&sha, key.p, key.n);
    br_sha1_update(&sha, WS_HANDSHAKE_GUID, sizeof(WS_HANDSHAKE_GUID) - 1);
    br_sha1_out(&sha, digest);
    /* Cannot fail: 20 bytes always encode to 28 characters. */
    (void)base64_encode(BASE64_STD, out, WS_HANDSHAKE_ACCEPT_LEN, digest, sizeof(digest), &len);
    out[WS_HANDSHAKE_ACCEPT_LEN] = '\0';
}

const char *ws_handshake_strerror(int err)
{
    switch (err) {
    case WS_HANDSHAKE_ERR_SPACE:
        return "output buffer too small";
    case WS_HANDSHAKE_ERR_INVALID:
        return "invalid argument";
    case WS_HANDSHAKE_ERR_STATUS:
        return "response is not HTTP/1.1 101";
    case WS_HANDSHAKE_ERR_UPGRADE:
        return "response lacks Upgrade: websocket";
    case WS_HANDSHAKE_ERR_CONNECTION:
        return "response lacks Connection: upgrade";
    case WS_HANDSHAKE_ERR_ACCEPT:
        return "Sec-WebSocket-Accept missing or wrong";
    case WS_HANDSHAKE_ERR_PROTOCOL:
        return "subprotocol was not offered";
    case WS_HANDSHAKE_ERR_EXTENSION:
        return "extension was not offered";
    default:
        return "unknown error";
    }
}

/* ------------------------------------------------------------- server */

static unsigned ws_handshake_refuse(struct ws_handshake_server *hs, unsigned status,
                                    const char *reason)
{
    hs->status = status;
    hs->reason = reason;
    hs->nprotocols = 0;
    hs->origin = span_make(NULL, 0);
    hs->extra_headers =
        status == 426 ? SPAN_LIT("Sec-WebSocket-Version: 13\r\n") : span_make(NULL, 0);
    return status;
}

static int ws_handshake_origin_listed(const struct ws_handshake_server_config *cfg,
                                      struct span origin)
{
    for (size_t i = 0; i < cfg->norigins; i++)
        if (span_eq_nocase(cfg->origins[i], origin))
            return 1;
    return 0;
}

unsigned ws_handshake_server_check(struct ws_handshake_server *hs,
                                   const struct ws_handshake_http *req,
                                   const struct ws_handshake_server_config *cfg)
{
    size_t nhost = 0, nkey = 0, nversion = 0, norigin = 0;
    int upgrade = 0, connection = 0, version_ok = 0;
    const char *proto_err = NULL;
    struct span key = {0};
    uint8_t nonce[WS_HANDSHAKE_NONCE_LEN];
    size_t nonce_len;

    memset(hs, 0, sizeof(*hs));
    if (!span_eq(req->method, SPAN_LIT("GET")))
        return ws_handshake_refuse(hs, 400, "method is not GET");
    if (req->version_major != 1 || req->version_minor < 1)
        return ws_handshake_refuse(hs, 400, "HTTP version is not 1.1");

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct ws_handshake_header *h = &req->headers[i];
        struct span v = ws_handshake_trim(h->value);

        if (ws_handshake_is(h, "host")) {
            nhost++;
        } else if (ws_handshake_is(h, "upgrade")) {
            upgrade |= ws_handshake_list_has(v, SPAN_LIT("websocket"));
        } else if (ws_handshake_is(h, "connection")) {
            connection |= ws_handshake_list_has(v, SPAN_LIT("upgrade"));
        } else if (ws_handshake_is(h, "sec-websocket-version")) {
            nversion++;
            version_ok = span_eq(v, SPAN_LIT("13"));
        } else if (ws_handshake_is(h, "sec-websocket-key")) {
            nkey++;
            key = v;
        } else if (ws_handshake_is(h, "origin")) {
            norigin++;
            hs->origin = v;
        } else if (ws_handshake_is(h, "sec-websocket-protocol")) {
            struct span e;
            while (!proto_err && ws_handshake_list_next(&v, &e)) {
                if (!ws_handshake_token(e))
                    proto_err = "subprotocol is not a token";
                else if (hs->nprotocols == WS_HANDSHAKE_MAX_PROTOCOLS)
                    proto_err = "too many subprotocols offered";
                else
                    hs->protocols[hs->nprotocols++] = e;
            }
        }
    }

    if (nhost != 1)
        return ws_handshake_refuse(hs, 400, "Host header missing or repeated");
    if (!upgrade)
        return ws_handshake_refuse(hs, 400, "Upgrade header lacks websocket");
    if (!connection)
        return ws_handshake_refuse(hs, 400, "Connection header lacks upgrade");
    if (nversion != 1 || !version_ok)
        return ws_handshake_refuse(hs, 426, "Sec-WebSocket-Version is not 13");
    if (nkey != 1)
        return ws_handshake_refuse(hs, 400, "Sec-WebSocket-Key missing or repeated");
    if (base64_decode(BASE64_STD, nonce, sizeof(nonce), key.p, key.n, &nonce_len) != 0 ||
        nonce_len != WS_HANDSHAKE_NONCE_LEN)
        return ws_handshake_refuse(hs, 400, "Sec-WebSocket-Key is not base64 of 16 bytes");
    if (proto_err)
        return ws_handshake_refuse(hs, 400, proto_err);
    if (cfg && cfg->norigins) {
        if (norigin > 1)
            return ws_handshake_refuse(hs, 403, "Origin repeated");
        if (norigin == 0 && cfg->origin_required)
            return ws_handshake_refuse(hs, 403, "Origin missing");
        if (norigin == 1 && !ws_handshake_origin_listed(cfg, hs->origin))
            return ws_handshake_refuse(hs, 403, "Origin not allowed");
    }

    ws_handshake_accept(hs->accept, key);
    hs->status = 101;
    return 101;
}

int ws_handshake_server_select(const struct ws_handshake_server *hs, struct span protocol)
{
    if (protocol.n == 0)
        return 0;
    for (size_t i = 0; i < hs->nprotocols; i++)
        if (span_eq(hs->protocols[i], protocol))
            return 0;
    return WS_HANDSHAKE_ERR_PROTOCOL;
}

static const char *ws_handshake_status_line(unsigned status)
{
    switch (status) {
    case 400:
        return "HTTP/1.1 400 Bad Request\r\n";
    case 403:
        return "HTTP/1.1 403 Forbidden\r\n";
    case 426:
        return "HTTP/1.1 426 Upgrade Required\r\n";
    default:
        return NULL;
    }
}

int ws_handshake_server_response(char *out, size_t cap, const struct ws_handshake_server *hs,
                                 struct span protocol)
{
    struct ws_handshake_out o = {out, cap, 0, 0};
    const char *line;

    if (hs->status != 101) {
        if ((line = ws_handshake_status_line(hs->status)) == NULL)
            return WS_HANDSHAKE_ERR_INVALID;
        ws_handshake_puts(&o, line);
        ws_handshake_put(&o, hs->extra_headers);
        ws_handshake_puts(&o, "Connection: close\r\nContent-Length: 0\r\n\r\n");
        return ws_handshake_done(&o);
    }
    if (ws_handshake_server_select(hs, protocol) != 0)
        return WS_HANDSHAKE_ERR_PROTOCOL;
    ws_handshake_puts(&o, "HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: ");
    ws_handshake_put(&o, span_make(hs->accept, WS_HANDSHAKE_ACCEPT_LEN));
    ws_handshake_puts(&o, "\r\n");
    if (protocol.n) {
        ws_handshake_puts(&o, "Sec-WebSocket-Protocol: ");
        ws_handshake_put(&o, protocol);
        ws_handshake_puts(&o, "\r\n");
    }
    ws_handshake_puts(&o, "\r\n");
    return ws_handshake_done(&o);
}

/* ------------------------------------------------------------- client */

/* Header fields a caller may not add: this module writes them, or they
 * would give a GET upgrade request a body. */
static const char *const ws_handshake_reserved[] = {
    "host",
    "origin",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "content-length",
    "transfer-encoding",
};

static int ws_handshake_header_ok(const struct ws_handshake_header *h)
{
    if (!ws_handshake_token(h->name))
        return 0;
    for (size_t i = 0; i < sizeof(ws_handshake_reserved) / sizeof(ws_handshake_reserved[0]); i++)
        if (ws_handshake_is(h, ws_handshake_reserved[i]))
            return 0;
    for (size_t i = 0; i < h->value.n; i++) {
        uint8_t ch = h->value.p[i];
        if (ch == '\r' || ch == '\n' || ch == '\0')
            return 0;
    }
    return 1;
}

int ws_handshake_client_request(char *out, size_t cap, const struct ws_handshake_client *c,
                                const uint8_t nonce[WS_HANDSHAKE_NONCE_LEN],
                                char key_out[WS_HANDSHAKE_KEY_LEN + 1])
{
    struct ws_handshake_out o = {out, cap, 0, 0};
    size_t key_len;

    if (c->host.n == 0 || !ws_handshake_visible(c->host) || c->target.n == 0 ||
        !ws_handshake_visible(c->target) || !ws_handshake_visible(c->origin))
        return WS_HANDSHAKE_ERR_INVALID;
    for (size_t i = 0; i < c->nprotocols; i++)
        if (!ws_handshake_token(c->protocols[i]))
            return WS_HANDSHAKE_ERR_INVALID;
    for (size_t i = 0; i < c->nheaders; i++)
        if (!ws_handshake_header_ok(&c->headers[i]))
            return WS_HANDSHAKE_ERR_INVALID;

    /* Cannot fail: 16 bytes always encode to 24 characters. */
    (void)base64_encode(BASE64_STD, key_out, WS_HANDSHAKE_KEY_LEN, nonce, WS_HANDSHAKE_NONCE_LEN,
                        &key_len);
    key_out[WS_HANDSHAKE_KEY_LEN] = '\0';

    ws_handshake_puts(&o, "GET ");
    ws_handshake_put(&o, c->target);
    ws_handshake_puts(&o, " HTTP/1.1\r\nHost: ");
    ws_handshake_put(&o, c->host);
    ws_handshake_puts(&o, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    ws_handshake_put(&o, span_make(key_out, WS_HANDSHAKE_KEY_LEN));
    ws_handshake_puts(&o, "\r\nSec-WebSocket-Version: 13\r\n");
    if (c->origin.n) {
        ws_handshake_puts(&o, "Origin: ");
        ws_handshake_put(&o, c->origin);
        ws_handshake_puts(&o, "\r\n");
    }
    if (c->nprotocols) {
        ws_handshake_puts(&o, "Sec-WebSocket-Protocol: ");
        for (size_t i = 0; i < c->nprotocols; i++) {
            if (i)
                ws_handshake_puts(&o, ", ");
            ws_handshake_put(&o, c->protocols[i]);
        }
        ws_handshake_puts(&o, "\r\n");
    }
    for (size_t i = 0; i < c->nheaders; i++) {
        ws_handshake_put(&o, c->headers[i].name);
        ws_handshake_puts(&o, ": ");
        ws_handshake_put(&o, c->headers[i].value);
        ws_handshake_puts(&o, "\r\n");
    }
    ws_handshake_puts(&o, "\r\n");
    return ws_handshake_done(&o);
}

int ws_handshake_client_check(const struct ws_handshake_http *resp, struct span key,
                              const struct span *protocols, size_t nprotocols,
                              struct span *protocol)
{
    int upgrade = 0, connection = 0, extension = 0;
    size_t naccept = 0, nproto = 0;
    struct span accept = {0}, chosen = {0};
    char expect[WS_HANDSHAKE_ACCEPT_LEN + 1];
    size_t i;

    if (resp->status != 101 || resp->version_major != 1 || resp->version_minor < 1)
        return WS_HANDSHAKE_ERR_STATUS;
    for (i = 0; i < resp->nheaders; i++) {
        const struct ws_handshake_header *h = &resp->headers[i];
        struct span v = ws_handshake_trim(h->value);

        if (ws_handshake_is(h, "upgrade")) {
            upgrade |= ws_handshake_list_has(v, SPAN_LIT("websocket"));
        } else if (ws_handshake_is(h, "connection")) {
            connection |= ws_handshake_list_has(v, SPAN_LIT("upgrade"));
        } else if (ws_handshake_is(h, "sec-websocket-accept")) {
            naccept++;
            accept = v;
        } else if (ws_handshake_is(h, "sec-websocket-protocol")) {
            nproto++;
            chosen = v;
        } else if (ws_handshake_is(h, "sec-websocket-extensions")) {
            extension |= v.n != 0;
        }
    }
    if (!upgrade)
        return WS_HANDSHAKE_ERR_UPGRADE;
    if (!connection)
        return WS_HANDSHAKE_ERR_CONNECTION;
    ws_handshake_accept(expect, key);
    if (naccept != 1 || !span_eq(accept, span_make(expect, WS_HANDSHAKE_ACCEPT_LEN)))
        return WS_HANDSHAKE_ERR_ACCEPT;
    if (nproto > 1)
        return WS_HANDSHAKE_ERR_PROTOCOL;
    if (nproto == 1) {
        for (i = 0; i < nprotocols; i++)
            if (span_eq(protocols[i], chosen))
                break;
        if (i == nprotocols)
            return WS_HANDSHAKE_ERR_PROTOCOL;
    }
    if (extension)
        return WS_HANDSHAKE_ERR_EXTENSION;
    if (protocol)
        *protocol = chosen;
    return 0;
}
