/*
 * proto/h8s_ctl.c — see h8s_ctl.h.
 *
 * Parsing goes through nats_hdr (which has already refused control bytes,
 * bare CR/LF and non-token names), so this file only interprets values.
 */
#include "proto/h8s_ctl.h"

#include "proto/h8s_wire.h"
#include "proto/http_head.h"
#include "proto/nats_hdr.h"

int h8s_ctl_number(struct span s, uint64_t *v)
{
    uint64_t x = 0;
    if (s.n == 0 || s.n > 20 || (s.n > 1 && s.p[0] == '0'))
        return H8S_CTL_E_FORMAT;
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (c < '0' || c > '9')
            return H8S_CTL_E_FORMAT;
        uint64_t d = (uint64_t)(c - '0');
        if (x > (UINT64_MAX - d) / 10)
            return H8S_CTL_E_FORMAT;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int h8s_ctl_subject_ok(struct span s)
{
    if (s.n == 0 || s.n > H8S_CTL_SUBJECT_MAX)
        return 0;
    size_t tok = 0; /* start of the current token */
    for (size_t i = 0; i <= s.n; i++) {
        if (i == s.n || s.p[i] == '.') {
            size_t len = i - tok;
            if (len == 0)
                return 0;
            if (len == 1 && (s.p[tok] == '*' || s.p[tok] == '>'))
                return 0;
            tok = i + 1;
            continue;
        }
        if (s.p[i] <= ' ' || s.p[i] >= 0x7f)
            return 0;
    }
    return 1;
}

/* Stores a singular value; a repeat must be identical. */
static int once(struct span *dst, unsigned *has, unsigned bit, struct span v)
{
    if ((*has & bit) && !span_eq(*dst, v))
        return H8S_CTL_E_FORMAT;
    *dst = v;
    *has |= bit;
    return 0;
}

int h8s_ctl_parse(struct h8s_ctl *c, struct span hdr)
{
    struct nats_hdr h;
    struct nats_hdr_iter it;
    struct span k, v, control = {0}, seq = {0}, credit = {0};
    unsigned seen = 0;

    c->kind = H8S_CTL_DATA;
    c->has = 0;
    c->status = 0;
    c->seq = c->credit = 0;
    c->agent_subject = c->reason = span_make(NULL, 0);
    if (hdr.n == 0)
        return 0;
    if (nats_hdr_parse(&h, hdr) != 0)
        return H8S_CTL_E_FORMAT;
    if (h.status) {
        c->status = h.status;
        c->has |= H8S_CTL_HAS_STATUS;
    }
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &k, &v)) {
        int rc = 0;
        if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_CONTROL)))
            rc = once(&control, &seen, 1u, v);
        else if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_SEQ)))
            rc = once(&seq, &c->has, H8S_CTL_HAS_SEQ, v);
        else if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_CREDIT)))
            rc = once(&credit, &c->has, H8S_CTL_HAS_CREDIT, v);
        else if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_AGENT_SUBJECT)))
            rc = once(&c->agent_subject, &c->has, H8S_CTL_HAS_AGENT, v);
        else if (span_eq_nocase(k, SPAN_LIT(H8S_HDR_REASON)))
            rc = once(&c->reason, &c->has, H8S_CTL_HAS_REASON, v);
        if (rc)
            return rc;
    }
    if ((c->has & H8S_CTL_HAS_SEQ) && h8s_ctl_number(seq, &c->seq) != 0)
        return H8S_CTL_E_FORMAT;
    if ((c->has & H8S_CTL_HAS_CREDIT) && h8s_ctl_number(credit, &c->credit) != 0)
        return H8S_CTL_E_FORMAT;
    if ((c->has & H8S_CTL_HAS_AGENT) && !h8s_ctl_subject_ok(c->agent_subject))
        return H8S_CTL_E_FORMAT;
    if ((c->has & H8S_CTL_HAS_REASON) &&
        (c->reason.n > H8S_CTL_REASON_MAX || !http_head_token(c->reason)))
        return H8S_CTL_E_FORMAT;
    if (seen) {
        if (span_eq_nocase(control, SPAN_LIT(H8S_CONTROL_READY)))
            c->kind = H8S_CTL_READY;
        else if (span_eq_nocase(control, SPAN_LIT(H8S_CONTROL_CREDIT)))
            c->kind = H8S_CTL_CREDIT;
        else if (span_eq_nocase(control, SPAN_LIT(H8S_CONTROL_ABORT)))
            c->kind = H8S_CTL_ABORT;
        else
            c->kind = H8S_CTL_OTHER;
    }
    return 0;
}

/* ------------------------------------------------------------ builders */

static void put_u64(uint8_t *tmp, size_t *n, uint64_t v)
{
    uint8_t rev[20];
    size_t k = 0;
    do {
        rev[k++] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        tmp[(*n)++] = rev[--k];
}

static int finish(struct nats_hdr_builder *b, struct span *out)
{
    int rc = nats_hdr_build_finish(b, out);
    if (rc == NATS_HDR_ENOSPC)
        return H8S_CTL_E_NOSPC;
    return rc ? H8S_CTL_E_ARG : 0;
}

static void add_num(struct nats_hdr_builder *b, const char *key, uint64_t v)
{
    uint8_t tmp[20];
    size_t n = 0;
    put_u64(tmp, &n, v);
    nats_hdr_build_add(b, span_cstr(key), span_make(tmp, n));
}

int h8s_ctl_build_ready(uint8_t *buf, size_t cap, struct span agent_subject, uint64_t credit,
                        struct span *out)
{
    struct nats_hdr_builder b;
    if (!h8s_ctl_subject_ok(agent_subject))
        return H8S_CTL_E_ARG;
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_CONTROL), SPAN_LIT(H8S_CONTROL_READY));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_AGENT_SUBJECT), agent_subject);
    add_num(&b, H8S_HDR_CREDIT, credit);
    return finish(&b, out);
}

int h8s_ctl_build_credit(uint8_t *buf, size_t cap, uint64_t credit, struct span *out)
{
    struct nats_hdr_builder b;
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_CONTROL), SPAN_LIT(H8S_CONTROL_CREDIT));
    add_num(&b, H8S_HDR_CREDIT, credit);
    return finish(&b, out);
}

int h8s_ctl_build_abort(uint8_t *buf, size_t cap, struct span reason, struct span *out)
{
    struct nats_hdr_builder b;
    if (reason.n > H8S_CTL_REASON_MAX || !http_head_token(reason))
        return H8S_CTL_E_ARG;
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_CONTROL), SPAN_LIT(H8S_CONTROL_ABORT));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_REASON), reason);
    return finish(&b, out);
}

int h8s_ctl_build_seq(uint8_t *buf, size_t cap, uint64_t seq, struct span *out)
{
    struct nats_hdr_builder b;
    nats_hdr_build_init(&b, buf, cap, 0, span_make(NULL, 0));
    add_num(&b, H8S_HDR_SEQ, seq);
    return finish(&b, out);
}

/* ------------------------------------------------------------ receiver */

void h8s_ctl_rx_init(struct h8s_ctl_rx *rx, uint64_t credit, uint64_t declared)
{
    rx->next_seq = 1;
    rx->received = 0;
    rx->granted = credit;
    rx->declared = declared;
    rx->done = 0;
    rx->err = 0;
}

static int rx_fail(struct h8s_ctl_rx *rx, int err)
{
    rx->err = err;
    return err;
}

int h8s_ctl_rx_msg(struct h8s_ctl_rx *rx, const struct h8s_ctl *c, size_t n)
{
    if (rx->err)
        return rx->err;
    if (rx->done)
        return rx_fail(rx, H8S_CTL_E_AFTER_END);
    if (!(c->has & H8S_CTL_HAS_SEQ) || c->seq != rx->next_seq)
        return rx_fail(rx, H8S_CTL_E_SEQ);
    rx->next_seq++;
    if (n == 0) {
        if (rx->declared != UINT64_MAX && rx->received != rx->declared)
            return rx_fail(rx, H8S_CTL_E_LENGTH);
        rx->done = 1;
        return H8S_CTL_RX_END;
    }
    if (n > rx->granted - rx->received)
        return rx_fail(rx, H8S_CTL_E_OVERFLOW);
    if (rx->declared != UINT64_MAX && n > rx->declared - rx->received)
        return rx_fail(rx, H8S_CTL_E_LENGTH);
    rx->received += n;
    return H8S_CTL_RX_DATA;
}

int h8s_ctl_rx_grant(struct h8s_ctl_rx *rx, uint64_t consumed, uint64_t window, uint64_t *credit)
{
    if (rx->err || rx->done || consumed > UINT64_MAX - window)
        return 0;
    uint64_t want = consumed + window;
    if (want <= rx->granted || want - rx->granted < window / 2)
        return 0;
    rx->granted = want;
    *credit = want;
    return 1;
}

const char *h8s_ctl_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case H8S_CTL_E_FORMAT:
        return "malformed flow-control header";
    case H8S_CTL_E_SEQ:
        return "sequence gap or repeat";
    case H8S_CTL_E_OVERFLOW:
        return "more data than the credit allows";
    case H8S_CTL_E_AFTER_END:
        return "message after the end of the stream";
    case H8S_CTL_E_LENGTH:
        return "body length differs from the declared length";
    case H8S_CTL_E_NOSPC:
        return "header buffer too small";
    case H8S_CTL_E_ARG:
        return "invalid subject or reason";
    }
    return "unknown error";
}
