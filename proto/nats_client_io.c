/*
 * proto/nats_client_io.c — the client's transport: loop connection
 * callbacks, the TLS pump, the write path and the reconnect buffer.
 *
 * Write path: while connected over plain TCP a small publish is encoded
 * straight into the loop's output queue (reserve/commit: one copy of the
 * payload, no system call; the loop sends everything queued in an
 * iteration with one sendmsg). Larger ones are copied in with one writev.
 * Over TLS, plaintext goes into the engine and records are sealed at the
 * end of the iteration (a 0 ms timer), so a burst still shares records.
 * Without a connection, encoded operations wait in the reconnect buffer.
 *
 * Admission: publishes may fill the queue up to out_limit; the loop
 * connection's own limit is out_limit + NATS_CLIENT_CTRL_MARGIN, so PONGs,
 * SUBs and TLS overhead always find room behind them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proto/nats_client_internal.h"
#include "proto/nats_encode.h"
#include "proto/tls.h"

static const uint8_t crlf[2] = {'\r', '\n'};

size_t nats_client_io_pending(const struct nats_client *c)
{
    return c->conn ? loop_conn_pending(c->conn) : 0;
}

/* ------------------------------------------------------------- TLS out */

/* Moves sealed records into the loop's output queue. */
static int tls_drain(struct nats_client *c)
{
    struct tls_conn *t = nats_client_tls_engine(c);
    struct span cipher;
    while (tls_conn_pending_out(t, &cipher) > 0) {
        int rc = loop_conn_write(c->conn, cipher.p, cipher.n);
        if (rc < 0)
            return rc;
        tls_conn_out_ack(t, cipher.n);
    }
    return tls_conn_error(t) ? NATS_E_TLS : 0;
}

static void tls_flush_timer(struct loop *l, struct loop_timer *tm)
{
    struct nats_client *c = LOOP_CONTAINER_OF(tm, struct nats_client, t_tls_flush);
    (void)l;
    nats_client_io_flush_tls(c);
}

void nats_client_io_flush_tls(struct nats_client *c)
{
    if (!c->tls_active || c->conn == NULL)
        return;
    loop_timer_stop(c->loop, &c->t_tls_flush);
    tls_conn_flush(nats_client_tls_engine(c));
    int rc = tls_drain(c);
    if (rc < 0 && c->phase != NATS_PH_CLOSING)
        nats_client_lose(c, rc, LOOP_CLOSE_ABORT);
}

void nats_client_io_close_tls(struct nats_client *c)
{
    if (!c->tls_active || c->conn == NULL)
        return;
    loop_timer_stop(c->loop, &c->t_tls_flush);
    /* Seals what is buffered and queues close_notify behind it. */
    tls_conn_close(nats_client_tls_engine(c));
    tls_drain(c);
}

static int tls_write(struct nats_client *c, const struct iovec *iov, int iovcnt)
{
    struct tls_conn *t = nats_client_tls_engine(c);
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        while (n > 0) {
            size_t k = tls_conn_write(t, p, n);
            if (k == 0) {
                /* A full record is waiting: hand it to the loop, retry. */
                size_t before = loop_conn_pending(c->conn);
                int rc = tls_drain(c);
                if (rc < 0)
                    return rc;
                if (loop_conn_pending(c->conn) == before)
                    return NATS_E_TLS; /* the engine will not take data */
                continue;
            }
            p += k;
            n -= k;
        }
    }
    if (!loop_timer_armed(&c->t_tls_flush))
        loop_timer_start(c->loop, &c->t_tls_flush, 0);
    return 0;
}

/* ------------------------------------------------------------ write path */

int nats_client_io_write(struct nats_client *c, const struct iovec *iov, int iovcnt)
{
    if (c->conn == NULL || c->phase == NATS_PH_CLOSING || c->phase == NATS_PH_NONE)
        return NATS_E_DISCONNECTED;
    int rc = c->tls_active ? tls_write(c, iov, iovcnt) : loop_conn_writev(c->conn, iov, iovcnt);
    if (rc < 0) {
        log_emit(LOG_WARN, "nats_write_failed", LOG_STR("server", nats_client_server_addr(c)),
                 LOG_STR("error", nats_client_strerror(rc)));
        nats_client_lose(c, rc, LOOP_CLOSE_ABORT);
        return NATS_E_DISCONNECTED;
    }
    return 0;
}

static int rbuf_append(struct nats_client *c, const struct iovec *iov, int iovcnt, size_t total)
{
    if (c->rbuf == NULL) {
        c->rbuf = malloc(c->cfg.reconnect_buffer);
        if (c->rbuf == NULL)
            return -ENOMEM;
        c->rbuf_cap = c->cfg.reconnect_buffer;
    }
    if (total > c->rbuf_cap - c->rbuf_len && c->rbuf_off > 0) {
        memmove(c->rbuf, c->rbuf + c->rbuf_off, c->rbuf_len - c->rbuf_off);
        c->rbuf_len -= c->rbuf_off;
        c->rbuf_off = 0;
    }
    if (total > c->rbuf_cap - c->rbuf_len) {
        c->want_drained = true;
        return NATS_E_BUFFER_FULL;
    }
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len)
            memcpy(c->rbuf + c->rbuf_len, iov[i].iov_base, iov[i].iov_len);
        c->rbuf_len += iov[i].iov_len;
    }
    return 0;
}

int nats_client_io_flush_rbuf(struct nats_client *c)
{
    while (c->rbuf_off < c->rbuf_len && c->phase == NATS_PH_UP) {
        size_t pending = nats_client_io_pending(c);
        size_t room = c->out_limit > pending ? c->out_limit - pending : 0;
        if (room == 0)
            return 0; /* the rest goes when the loop reports a drain */
        size_t k = c->rbuf_len - c->rbuf_off;
        if (k > room)
            k = room;
        struct iovec v = {c->rbuf + c->rbuf_off, k};
        int rc = nats_client_io_write(c, &v, 1);
        if (rc < 0)
            return rc;
        c->rbuf_off += k;
    }
    if (c->rbuf_off == c->rbuf_len)
        c->rbuf_off = c->rbuf_len = 0;
    return 0;
}

static int map_enc(int rc)
{
    switch (rc) {
    case NATS_ENC_ESUBJECT:
    case NATS_ENC_EREPLY:
    case NATS_ENC_ELINE:
        return NATS_E_SUBJECT;
    case NATS_ENC_ESIZE:
        return NATS_E_MAX_PAYLOAD;
    }
    return -EINVAL;
}

static int encode_line(uint8_t *out, size_t cap, struct span subject, struct span reply,
                       struct span hdr, struct span payload)
{
    return hdr.n ? nats_encode_hpub_line(out, cap, subject, reply, hdr.n, payload.n)
                 : nats_encode_pub_line(out, cap, subject, reply, payload.n);
}

static void count_out(struct nats_client *c, size_t n)
{
    c->stats.msgs_out++;
    c->stats.bytes_out += n;
}

static int no_room(struct nats_client *c)
{
    c->want_drained = true;
    return NATS_E_AGAIN;
}

int nats_client_io_publish(struct nats_client *c, struct span subject, struct span reply,
                           struct span hdr, struct span payload)
{
    if (hdr.n && c->have_info && !c->info.headers)
        return NATS_E_NO_HEADERS;
    if (payload.n > c->max_payload || hdr.n > c->max_payload - payload.n)
        return NATS_E_MAX_PAYLOAD;
    size_t body = hdr.n + payload.n + 2;
    bool direct = c->phase == NATS_PH_UP && c->rbuf_len == c->rbuf_off;

    /* Line overhead: "HPUB " + 2 spaces + two 20-digit numbers + CRLF. */
    size_t est = subject.n + reply.n + 64;
    if (direct && !c->tls_active && est + body <= NATS_CLIENT_RESERVE_MAX) {
        if (loop_conn_pending(c->conn) + est + body > c->out_limit)
            return no_room(c);
        uint8_t *p = loop_conn_reserve(c->conn, est + body);
        if (p != NULL) {
            int n = encode_line(p, est, subject, reply, hdr, payload);
            if (n < 0) {
                loop_conn_commit(c->conn, 0);
                return map_enc(n);
            }
            uint8_t *q = p + n;
            if (hdr.n)
                memcpy(q, hdr.p, hdr.n);
            if (payload.n)
                memcpy(q + hdr.n, payload.p, payload.n);
            q[hdr.n + payload.n] = '\r';
            q[hdr.n + payload.n + 1] = '\n';
            loop_conn_commit(c->conn, (size_t)n + body);
            count_out(c, hdr.n + payload.n);
            return 0;
        }
        /* No contiguous room of that size: take the general path. */
    }

    uint8_t line[NATS_ENC_LINE_MAX];
    int n = encode_line(line, sizeof(line), subject, reply, hdr, payload);
    if (n < 0)
        return map_enc(n);
    struct iovec v[4] = {
        {line, (size_t)n},
        {(void *)hdr.p, hdr.n},
        {(void *)payload.p, payload.n},
        {(void *)crlf, 2},
    };
    size_t total = (size_t)n + body;
    if (direct) {
        if (nats_client_io_pending(c) + total > c->out_limit)
            return no_room(c);
        if (nats_client_io_write(c, v, 4) == 0) {
            count_out(c, hdr.n + payload.n);
            return 0;
        }
        /* The connection just failed: keep the message for the next one. */
    }
    int rc = rbuf_append(c, v, 4, total);
    if (rc == 0)
        count_out(c, hdr.n + payload.n);
    return rc;
}

/* ------------------------------------------------------------ TLS in */

int nats_client_io_start_tls(struct nats_client *c)
{
    struct nats_server *s = nats_client_pool_current(c);
    int rc = nats_client_tls_begin(c, s->host);
    if (rc == 0) {
        c->tls_active = true;
        c->phase = NATS_PH_TLS;
        rc = tls_drain(c); /* the ClientHello */
    }
    if (rc != 0) {
        log_emit(LOG_ERROR, "nats_tls_failed", LOG_STR("server", s->addr),
                 LOG_STR("error", rc == NATS_E_CONFIG
                                      ? "TLS required but no CA configured"
                                      : tls_strerror(tls_conn_error(nats_client_tls_engine(c)))));
        nats_client_lose(c, NATS_E_TLS, LOOP_CLOSE_ABORT);
    }
    return rc;
}

/* Feeds plaintext to the protocol parser; 0 to go on, 1 to stop. */
static int parse_in(struct nats_client *c, const uint8_t *p, size_t n)
{
    int rc = nats_parse_feed(&c->parser, p, n);
    if (rc == 0)
        return 0;
    if (rc == NATS_PARSE_ECALLBACK) {
        if (c->tls_switch) {
            c->tls_switch = false;
            /* Stopped after INFO to switch to TLS: a fresh parser reads
             * the protocol inside the TLS stream. */
            nats_parse_init(&c->parser, &nats_client_parse_ops, c);
            nats_parse_set_buffer(&c->parser, c->pbuf, c->pbuf_cap);
            nats_parse_set_max_payload(&c->parser, c->max_payload);
            return 0;
        }
        return 1; /* a handler dropped the connection */
    }
    log_emit(LOG_ERROR, "nats_protocol_error", LOG_STR("server", nats_client_server_addr(c)),
             LOG_STR("error", nats_parse_strerror(rc)));
    nats_client_lose(c, NATS_E_PROTO, LOOP_CLOSE_ABORT);
    return 1;
}

static void tls_fail(struct nats_client *c, int err)
{
    log_emit(LOG_ERROR, "nats_tls_failed", LOG_STR("server", nats_client_server_addr(c)),
             LOG_STR("error", tls_strerror(err)));
    if (c->ev && c->ev->on_error)
        c->ev->on_error(c, NATS_E_TLS, span_cstr(tls_strerror(err)), c->cookie);
    nats_client_lose(c, NATS_E_TLS, LOOP_CLOSE_ABORT);
}

static int tls_in(struct nats_client *c, const uint8_t *p, size_t n)
{
    struct tls_conn *t = nats_client_tls_engine(c);
    for (;;) {
        size_t used = 0;
        int rc = n ? tls_conn_feed(t, p, n, &used) : 0;
        if (rc != 0) {
            tls_fail(c, rc);
            return 0;
        }
        p += used;
        n -= used;
        struct span plain;
        bool progress = used > 0;
        while (tls_conn_read(t, &plain) > 0) {
            /* Messages are handed over as spans into the engine's buffer,
             * valid until the ack below. */
            int stop = parse_in(c, plain.p, plain.n);
            if (c->conn == NULL || c->phase == NATS_PH_CLOSING || !c->tls_active)
                return 0;
            tls_conn_read_ack(t, plain.n);
            progress = true;
            if (stop)
                return 0;
        }
        if ((rc = tls_drain(c)) < 0) {
            tls_fail(c, tls_conn_error(t) ? tls_conn_error(t) : rc);
            return 0;
        }
        if (c->phase == NATS_PH_TLS && tls_conn_handshake_done(t)) {
            nats_client_handshake_done(c);
            if (c->phase == NATS_PH_CLOSING || c->conn == NULL)
                return 0;
        }
        if (n == 0)
            return 0;
        if (!progress) {
            tls_fail(c, tls_conn_error(t) ? tls_conn_error(t) : TLS_E_USAGE);
            return 0;
        }
    }
}

/* -------------------------------------------------------- loop callbacks */

static struct nats_client *owner(struct loop_conn *conn)
{
    struct nats_client *c = loop_conn_cookie(conn);
    return c && c->conn == conn ? c : NULL;
}

static void io_on_connect(struct loop_conn *conn, int res)
{
    struct nats_client *c = owner(conn);
    if (c == NULL || res != 0)
        return; /* on_close follows a failure */
    if (c->phase == NATS_PH_TCP)
        c->phase = NATS_PH_INFO;
}

static int io_on_data(struct loop_conn *conn, const uint8_t *p, size_t n)
{
    struct nats_client *c = owner(conn);
    if (c == NULL)
        return -ECANCELED;
    if (c->phase == NATS_PH_CLOSING)
        return 0;
    if (n == 0) {
        /* The server closed its side (after an -ERR, or a refused TLS
         * handshake): either way this connection is over. */
        if (c->phase != NATS_PH_UP)
            log_emit(LOG_WARN, "nats_connect_failed", LOG_STR("server", nats_client_server_addr(c)),
                     LOG_STR("error", "connection closed by server"));
        nats_client_lose(c, -ECONNRESET, LOOP_CLOSE_ABORT);
        return 0;
    }
    if (c->tls_active)
        return tls_in(c, p, n);
    parse_in(c, p, n);
    return 0;
}

static void io_on_drain(struct loop_conn *conn)
{
    struct nats_client *c = owner(conn);
    if (c == NULL || c->phase != NATS_PH_UP)
        return;
    if (c->rbuf_off < c->rbuf_len && nats_client_io_flush_rbuf(c) != 0)
        return;
    /* The loop calls this once its queue is at or below half its limit,
     * which is below out_limit: there is room again. */
    if (c->want_drained && c->rbuf_off == c->rbuf_len) {
        c->want_drained = false;
        if (c->ev && c->ev->on_drained)
            c->ev->on_drained(c, c->cookie);
    }
}

static void io_on_close(struct loop_conn *conn, int err)
{
    struct nats_client *c = owner(conn);
    if (c == NULL)
        return;
    c->conn = NULL;
    c->tls_active = false;
    loop_timer_stop(c->loop, &c->t_tls_flush);
    if (c->phase == NATS_PH_CLOSING) {
        nats_client_conn_closed(c);
        return;
    }
    /* The connection died on its own (refused, reset, timed out). */
    int why = err ? err : -ECONNRESET;
    if (c->phase != NATS_PH_UP)
        log_emit(LOG_WARN, "nats_connect_failed", LOG_STR("server", nats_client_server_addr(c)),
                 LOG_ERRNO("error", why));
    nats_client_lose(c, why, LOOP_CLOSE_ABORT);
}

const struct loop_conn_ops nats_client_io_ops = {
    .on_data = io_on_data,
    .on_connect = io_on_connect,
    .on_drain = io_on_drain,
    .on_close = io_on_close,
};

void nats_client_io_init_timers(struct nats_client *c)
{
    loop_timer_init(&c->t_tls_flush, tls_flush_timer);
}
