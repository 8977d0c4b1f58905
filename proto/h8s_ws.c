/*
 * proto/h8s_ws.c — see h8s_ws.h.
 */
#include "proto/h8s_ws.h"

#include <string.h>

#include "proto/h8s_wire.h"
#include "proto/http_head.h"
#include "proto/subject.h"
#include "proto/ws_frame.h"
#include "proto/ws_utf8.h"

#define INTERNAL_PREFIX SPAN_LIT(H8S_HDR_INTERNAL_PREFIX)
#define WS_PREFIX SPAN_LIT("Sec-Websocket-")

/* The tunnel headers decode looks at, as bit positions. */
enum {
    F_KIND,
    F_SEQ,
    F_CREDIT,
    F_MORE,
    F_CODE,
    F_AGENT,
    F_PROTOCOL,
    F_STATUS,
    F_COUNT,
};

static const char *const field_names[F_COUNT] = {
    H8S_WS_HDR_KIND,       H8S_HDR_SEQ,           H8S_HDR_CREDIT,      H8S_WS_HDR_MORE,
    H8S_WS_HDR_CLOSE_CODE, H8S_HDR_AGENT_SUBJECT, H8S_WS_HDR_PROTOCOL, H8S_HDR_STATUS_CODE,
};

static const char *const kind_names[] = {
    [H8S_WS_HTTP] = "http",     [H8S_WS_OPEN] = "open",
    [H8S_WS_ACCEPT] = "accept", [H8S_WS_TEXT] = "text",
    [H8S_WS_BINARY] = "binary", [H8S_WS_CLOSE] = "close",
    [H8S_WS_CREDIT] = "credit", [H8S_WS_NO_RESPONDERS] = "no_responders",
};

const char *h8s_ws_kind_name(enum h8s_ws_kind kind)
{
    if ((unsigned)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
        return "unknown";
    return kind_names[kind];
}

static int has_prefix_nocase(struct span s, struct span prefix)
{
    return s.n >= prefix.n && span_eq_nocase(span_make(s.p, prefix.n), prefix);
}

/*
 * Strict decimal: 1..19 digits, no sign, no leading zero (but "0"), at most
 * H8S_WS_VALUE_MAX. Nineteen digits cannot overflow a uint64_t, so the
 * range check is a single comparison at the end.
 */
static int parse_u64(struct span v, uint64_t *out)
{
    uint64_t x = 0;

    if (v.n == 0 || v.n > 19 || (v.n > 1 && v.p[0] == '0'))
        return -1;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (x > H8S_WS_VALUE_MAX)
        return -1;
    *out = x;
    return 0;
}

static enum h8s_ws_kind kind_of(struct span v)
{
    for (unsigned k = H8S_WS_OPEN; k <= H8S_WS_CREDIT; k++)
        if (span_eq(v, span_cstr(kind_names[k])))
            return (enum h8s_ws_kind)k;
    return H8S_WS_HTTP;
}

int h8s_ws_subject_ok(struct span s)
{
    const struct span pre = SPAN_LIT(SUBJECT_INBOX_PREFIX);
    const uint8_t *dot;
    size_t rest;

    if (s.n > H8S_WS_SUBJECT_MAX || s.n <= pre.n || memcmp(s.p, pre.p, pre.n) != 0)
        return 0;
    rest = s.n - pre.n;
    dot = memchr(s.p + pre.n, '.', rest);
    if (dot == NULL)
        return 0;
    return subject_id_ok(span_make(s.p + pre.n, (size_t)(dot - (s.p + pre.n)))) &&
           subject_id_ok(span_make(dot + 1, (size_t)(s.p + s.n - (dot + 1))));
}

/* Decodes the values every kind shares once the block has been walked. */
static int decode_fields(struct h8s_ws_msg *m, const struct span *val, unsigned seen)
{
    uint64_t x;

    if (seen & (1u << F_SEQ)) {
        if (parse_u64(val[F_SEQ], &m->seq) != 0 || m->seq == 0)
            return H8S_WS_E_VALUE;
    }
    if (seen & (1u << F_CREDIT)) {
        if (parse_u64(val[F_CREDIT], &m->credit) != 0)
            return H8S_WS_E_VALUE;
        m->has_credit = 1;
    }
    if (seen & (1u << F_MORE)) {
        if (!span_eq(val[F_MORE], SPAN_LIT("1")))
            return H8S_WS_E_VALUE;
        m->more = 1;
    }
    if (seen & (1u << F_CODE)) {
        if (parse_u64(val[F_CODE], &x) != 0 || x > 0xFFFF ||
            !ws_frame_close_code_valid((unsigned)x))
            return H8S_WS_E_VALUE;
        m->close_code = (uint16_t)x;
    }
    return 0;
}

static int decode_kind(struct h8s_ws_msg *m, const struct span *val, unsigned seen)
{
    int has_data = m->data.n != 0;

    switch (m->kind) {
    case H8S_WS_OPEN:
        if (!m->has_credit)
            return H8S_WS_E_MISSING;
        return has_data ? H8S_WS_E_DATA : 0;
    case H8S_WS_ACCEPT:
        if (!m->has_credit || !(seen & (1u << F_AGENT)))
            return H8S_WS_E_MISSING;
        if (!h8s_ws_subject_ok(val[F_AGENT]))
            return H8S_WS_E_VALUE;
        m->agent_subject = val[F_AGENT];
        if (seen & (1u << F_PROTOCOL)) {
            if (!http_head_token(val[F_PROTOCOL]))
                return H8S_WS_E_VALUE;
            m->protocol = val[F_PROTOCOL];
        }
        if ((seen & (1u << F_STATUS)) && !span_eq(val[F_STATUS], SPAN_LIT("101")))
            return H8S_WS_E_VALUE;
        m->status = 101;
        return has_data ? H8S_WS_E_DATA : 0;
    case H8S_WS_TEXT:
    case H8S_WS_BINARY:
        return (seen & (1u << F_SEQ)) ? 0 : H8S_WS_E_MISSING;
    case H8S_WS_CLOSE:
        /* Without a sequence number: an abort from a hop that has no
         * state for the connection; it must say why with a code. */
        if (!(seen & (1u << F_SEQ)) && m->close_code == 0)
            return H8S_WS_E_MISSING;
        if (m->close_code == 0)
            return has_data ? H8S_WS_E_DATA : 0;
        if (m->data.n > WS_FRAME_CLOSE_REASON_MAX || !ws_utf8_valid(m->data.p, m->data.n))
            return H8S_WS_E_DATA;
        return 0;
    case H8S_WS_CREDIT:
        if (!m->has_credit)
            return H8S_WS_E_MISSING;
        return has_data ? H8S_WS_E_DATA : 0;
    default:
        return 0;
    }
}

int h8s_ws_decode(struct h8s_ws_msg *m, struct span hdr, struct span data)
{
    struct span val[F_COUNT], key, v;
    unsigned seen = 0, repeated = 0;
    struct nats_hdr_iter it;
    struct nats_hdr h;
    int rc;

    memset(m, 0, sizeof(*m));
    memset(val, 0, sizeof(val));
    m->data = data;
    m->hdr = hdr;
    if (hdr.n == 0)
        return 0; /* a plain response (§3 rule 4) */
    if (nats_hdr_parse(&h, hdr) != 0)
        return H8S_WS_E_FORMAT;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &key, &v)) {
        for (unsigned f = 0; f < F_COUNT; f++) {
            if (!span_eq_nocase(key, span_cstr(field_names[f])))
                continue;
            if (seen & (1u << f))
                repeated |= 1u << f;
            else
                val[f] = v;
            seen |= 1u << f;
            break;
        }
    }
    if (h.status != 0) {
        if (h.status != NATS_HDR_STATUS_NO_RESPONDERS || (seen & (1u << F_KIND)))
            return H8S_WS_E_KIND;
        m->kind = H8S_WS_NO_RESPONDERS;
        m->data = span_make(NULL, 0);
        return 0;
    }
    if (!(seen & (1u << F_KIND))) {
        uint64_t st;
        /* An HTTP response: only its status is read here, leniently, as
         * the §3 reader does; the rest is the gateway's business. */
        if ((seen & (1u << F_STATUS)) && val[F_STATUS].n == 3 &&
            parse_u64(val[F_STATUS], &st) == 0 && st >= 100)
            m->status = (unsigned)st;
        return 0;
    }
    m->kind = kind_of(val[F_KIND]);
    if (m->kind == H8S_WS_HTTP)
        return H8S_WS_E_KIND;
    /* An open carries the client's offers, which may span several fields. */
    if (m->kind != H8S_WS_ACCEPT)
        repeated &= ~(1u << F_PROTOCOL);
    if (repeated)
        return H8S_WS_E_REPEAT;
    if ((rc = decode_fields(m, val, seen)) != 0)
        return rc;
    return decode_kind(m, val, seen);
}

/* ------------------------------------------------------------ encoders */

/* Decimal digits of x into buf (at least 20 bytes); returns the span. */
static struct span fmt_u64(char *buf, uint64_t x)
{
    char tmp[20];
    size_t n = 0, i = 0;

    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    while (n)
        buf[i++] = tmp[--n];
    return span_make(buf, i);
}

static int finish(struct nats_hdr_builder *b, struct span *out)
{
    int rc = nats_hdr_build_finish(b, out);
    if (rc == NATS_HDR_ENOSPC)
        return H8S_WS_E_SPACE;
    return rc == 0 ? 0 : H8S_WS_E_ARG;
}

int h8s_ws_encode_data(uint8_t *buf, size_t cap, struct span *out, enum h8s_ws_kind kind,
                       uint64_t seq, int more)
{
    struct nats_hdr_builder b;
    char num[20];

    if ((kind != H8S_WS_TEXT && kind != H8S_WS_BINARY) || seq == 0 || seq > H8S_WS_VALUE_MAX)
        return H8S_WS_E_ARG;
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_WS_HDR_KIND), span_cstr(kind_names[kind]));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_SEQ), fmt_u64(num, seq));
    if (more)
        nats_hdr_build_add(&b, SPAN_LIT(H8S_WS_HDR_MORE), SPAN_LIT("1"));
    return finish(&b, out);
}

int h8s_ws_encode_close(uint8_t *buf, size_t cap, struct span *out, uint64_t seq, unsigned code)
{
    struct nats_hdr_builder b;
    char num[20], cnum[20];

    if (seq > H8S_WS_VALUE_MAX || (code != 0 && !ws_frame_close_code_valid(code)) ||
        (seq == 0 && code == 0))
        return H8S_WS_E_ARG;
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_WS_HDR_KIND), SPAN_LIT("close"));
    if (seq)
        nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_SEQ), fmt_u64(num, seq));
    if (code)
        nats_hdr_build_add(&b, SPAN_LIT(H8S_WS_HDR_CLOSE_CODE), fmt_u64(cnum, code));
    return finish(&b, out);
}

int h8s_ws_encode_credit(uint8_t *buf, size_t cap, struct span *out, uint64_t credit)
{
    struct nats_hdr_builder b;
    char num[20];

    if (credit > H8S_WS_VALUE_MAX)
        return H8S_WS_E_ARG;
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_WS_HDR_KIND), SPAN_LIT("credit"));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_CREDIT), fmt_u64(num, credit));
    return finish(&b, out);
}

static int add_result(const struct nats_hdr_builder *b)
{
    if (b->err == NATS_HDR_ENOSPC)
        return H8S_WS_E_SPACE;
    return b->err ? H8S_WS_E_ARG : 0;
}

int h8s_ws_add_open(struct nats_hdr_builder *b, uint64_t credit)
{
    char num[20];

    if (credit > H8S_WS_VALUE_MAX)
        return H8S_WS_E_ARG;
    nats_hdr_build_add(b, SPAN_LIT(H8S_WS_HDR_KIND), SPAN_LIT("open"));
    nats_hdr_build_add(b, SPAN_LIT(H8S_HDR_CREDIT), fmt_u64(num, credit));
    return add_result(b);
}

int h8s_ws_add_accept(struct nats_hdr_builder *b, struct span agent_subject, struct span protocol,
                      uint64_t credit)
{
    char num[20];

    if (credit > H8S_WS_VALUE_MAX || !h8s_ws_subject_ok(agent_subject) ||
        (protocol.n && !http_head_token(protocol)))
        return H8S_WS_E_ARG;
    nats_hdr_build_add(b, SPAN_LIT(H8S_WS_HDR_KIND), SPAN_LIT("accept"));
    nats_hdr_build_add(b, SPAN_LIT(H8S_HDR_STATUS_CODE), SPAN_LIT("101"));
    nats_hdr_build_add(b, SPAN_LIT(H8S_HDR_STATUS), SPAN_LIT("101 Switching Protocols"));
    nats_hdr_build_add(b, SPAN_LIT(H8S_HDR_AGENT_SUBJECT), agent_subject);
    nats_hdr_build_add(b, SPAN_LIT(H8S_HDR_CREDIT), fmt_u64(num, credit));
    if (protocol.n)
        nats_hdr_build_add(b, SPAN_LIT(H8S_WS_HDR_PROTOCOL), protocol);
    return add_result(b);
}

/* ------------------------------------------------------------- filters */

static int name_in(struct span name, const char *const *list)
{
    for (; *list; list++)
        if (span_eq_nocase(name, span_cstr(*list)))
            return 1;
    return 0;
}

static const char *const hop_by_hop[] = {
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Te",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
    NULL,
};

static int common_drop(struct span name)
{
    return name.n == 0 || name_in(name, hop_by_hop) || has_prefix_nocase(name, INTERNAL_PREFIX);
}

int h8s_ws_open_forwards(struct span name)
{
    static const char *const drop[] = {
        "Sec-Websocket-Key",
        "Sec-Websocket-Accept",
        "Sec-Websocket-Version",
        "Sec-Websocket-Extensions",
        NULL,
    };
    return !common_drop(name) && !name_in(name, drop);
}

int h8s_ws_backend_forwards(struct span name)
{
    static const char *const drop[] = {
        "Host", "Origin", "Content-Length", H8S_HDR_STATUS, H8S_HDR_STATUS_CODE, NULL,
    };
    return !common_drop(name) && !has_prefix_nocase(name, WS_PREFIX) && !name_in(name, drop);
}

int h8s_ws_accept_forwards(struct span name)
{
    static const char *const drop[] = {
        "Content-Length",
        H8S_HDR_STATUS,
        H8S_HDR_STATUS_CODE,
        NULL,
    };
    return !common_drop(name) && !has_prefix_nocase(name, WS_PREFIX) && !name_in(name, drop);
}

const char *h8s_ws_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case H8S_WS_E_FORMAT:
        return "malformed NATS header block";
    case H8S_WS_E_KIND:
        return "unknown tunnel message kind";
    case H8S_WS_E_MISSING:
        return "required tunnel header missing";
    case H8S_WS_E_VALUE:
        return "malformed tunnel header value";
    case H8S_WS_E_REPEAT:
        return "tunnel header repeated";
    case H8S_WS_E_DATA:
        return "unexpected or invalid message data";
    case H8S_WS_E_SPACE:
        return "buffer too small";
    case H8S_WS_E_ARG:
        return "invalid argument";
    case H8S_WS_E_STATE:
        return "not allowed in the tunnel's state";
    case H8S_WS_E_CREDIT:
        return "beyond the peer's credit";
    default:
        return "unknown error";
    }
}
