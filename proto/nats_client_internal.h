/*
 * proto/nats_client_internal.h — private to the nats_client*.c files.
 *
 * The client is split by concept:
 *   nats_client.c       lifecycle, the connection state machine, protocol events
 *   nats_client_io.c    transport: loop callbacks, TLS pump, write path, reconnect buffer
 *   nats_client_sub.c   subscription table and message dispatch
 *   nats_client_req.c   request/reply over one wildcard inbox
 *   nats_client_pool.c  server pool, back-off, non-blocking name resolution
 *   nats_client_auth.c  credentials and the CONNECT line
 *   nats_client_tls.c   TLS material and engine set-up
 */
#ifndef H8S_PROTO_NATS_CLIENT_INTERNAL_H
#define H8S_PROTO_NATS_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/rand.h"
#include "core/resolve.h"
#include "proto/creds.h"
#include "proto/nats_client.h"
#include "proto/nats_info.h"
#include "proto/nats_parse.h"

#define NATS_CLIENT_POOL_MAX 64                         /* servers in the pool */
#define NATS_CLIENT_HOST_MAX 256                        /* host name bytes, NUL included */
#define NATS_CLIENT_ADDR_MAX (NATS_CLIENT_HOST_MAX + 8) /* "[host]:port" */
#define NATS_CLIENT_PING_MAX 64 /* PINGs awaiting a PONG (keep-alive + flushes) */
/* Output allowed beyond out_limit for protocol control lines (PONG, SUB,
 * the CONNECT, TLS record overhead), so they never fail for lack of room. */
#define NATS_CLIENT_CTRL_MARGIN (256 * 1024)
/* Messages up to this size are encoded straight into the output queue. */
#define NATS_CLIENT_RESERVE_MAX 4096
#define NATS_CLIENT_REQ_CHUNK 256                         /* request slots allocated together */
#define NATS_CLIENT_TOKEN_RND 12                          /* random characters of a request token */
#define NATS_CLIENT_TOKEN_LEN (8 + NATS_CLIENT_TOKEN_RND) /* hex slot + random */
#define NATS_CLIENT_INBOX_MAX (7 + RAND_ID_LEN + 1 + 1)   /* "_INBOX.<id>." + NUL */
#define NATS_CLIENT_CLOSE_LINGER_MS 2000
/* A connection up at least this long resets the reconnect back-off. */
#define NATS_CLIENT_STABLE_MS 1000
#define NATS_CLIENT_VERSION "0.1.0"

/* Where the current connection attempt stands. */
enum nats_phase {
    NATS_PH_NONE,      /* no attempt running (idle, waiting to retry, closed) */
    NATS_PH_RESOLVING, /* name resolution on the helper thread */
    NATS_PH_TCP,       /* TCP connect in flight */
    NATS_PH_INFO,      /* waiting for the server's INFO */
    NATS_PH_TLS,       /* TLS handshake */
    NATS_PH_CONNECT,   /* CONNECT + PING sent, waiting for PONG */
    NATS_PH_UP,        /* connected */
    NATS_PH_CLOSING,   /* connection being torn down; on_close pending */
};

struct nats_server {
    char host[NATS_CLIENT_HOST_MAX]; /* no brackets */
    char addr[NATS_CLIENT_ADDR_MAX]; /* host:port for logs, IPv6 bracketed */
    uint16_t port;
    bool tls;      /* tls:// URL */
    bool implicit; /* learned from INFO connect_urls */
    bool lame;     /* announced lame-duck mode: avoid while others exist */
    char *user;    /* URL userinfo; secret, wiped on free */
    char *pass;
    char *token;
    unsigned addr_next; /* which resolved address to try next */
};

enum nats_ping_kind {
    NATS_PING_FREE,
    NATS_PING_KEEPALIVE,
    NATS_PING_FLUSH,
    NATS_PING_DRAIN,
    NATS_PING_ABANDONED, /* flush timed out; its PONG is still expected */
};

struct nats_ping {
    struct loop_timer timer; /* flush deadline */
    struct nats_client *c;
    nats_client_done_fn fn;
    void *cookie;
    enum nats_ping_kind kind;
};

struct nats_sub {
    struct nats_sub *next; /* hash chain */
    struct nats_client *c;
    uint64_t sid;
    uint64_t max; /* auto-unsubscribe after this many in total; 0 = none */
    uint64_t delivered;
    nats_client_msg_fn fn;
    void *cookie;
    struct span subject; /* into this allocation */
    struct span queue;
    bool dead;     /* unsubscribed while its callback runs: freed after */
    bool internal; /* the request inbox */
};

struct nats_req {
    struct loop_timer timer;
    struct nats_client *c;
    nats_client_reply_fn fn;
    void *cookie;
    uint32_t idx;
    uint32_t gen;
    uint32_t next_free;
    bool active;
    char rnd[NATS_CLIENT_TOKEN_RND + 1];
};

struct nats_client_tls; /* TLS material + engine, see nats_client_tls.c */

struct nats_client {
    struct loop *loop;
    struct nats_client_config cfg; /* string members point at copies below */
    const struct nats_client_events *ev;
    void *cookie;
    char *name;

    enum nats_client_state state;
    enum nats_phase phase;
    bool ever_connected;
    bool up_announced; /* on_disconnected owed when this connection drops */
    bool close_requested;
    bool closed_announced;
    bool want_drained; /* a publish failed for room: tell on_drained */
    int lose_err;      /* why the current connection is being torn down */

    /* Transport. */
    struct loop_conn *conn;
    struct nats_client_tls *tls; /* NULL unless TLS material was given */
    bool tls_active;             /* the current connection runs TLS */
    bool tls_switch;             /* parser stopped after INFO to start TLS */
    size_t out_limit;            /* effective publish admission limit */
    struct nats_parse parser;
    uint8_t *pbuf;
    size_t pbuf_cap;
    struct nats_info info;
    bool have_info;
    size_t max_payload;

    /* Reconnect buffer: encoded operations waiting for a connection. */
    uint8_t *rbuf;
    size_t rbuf_cap, rbuf_off, rbuf_len;

    /* Server pool and attempts. */
    struct nats_server *servers[NATS_CLIENT_POOL_MAX];
    size_t nservers;
    size_t cur;        /* server of the current/last attempt */
    unsigned attempts; /* consecutive failed attempts */
    uint64_t up_since_ms;
    struct resolve resolve; /* host names, off the loop thread */
    struct sockaddr_storage sa;
    socklen_t salen;

    /* Timers. */
    struct loop_timer t_handshake; /* bounds one attempt, resolve to PONG */
    struct loop_timer t_reconnect;
    struct loop_timer t_ping;
    struct loop_timer t_tls_flush;
    struct loop_timer t_drain;
    struct loop_timer t_closed; /* delivers on_closed from the loop */

    /* PINGs in flight, in send order: a ring. */
    struct nats_ping pings[NATS_CLIENT_PING_MAX];
    unsigned ping_head, ping_count;
    unsigned pings_out; /* keep-alives unanswered */

    /* Subscriptions: chained hash by sid. */
    struct nats_sub **subs;
    size_t subs_mask; /* buckets - 1 */
    size_t nsubs;
    uint64_t next_sid;
    struct nats_sub *dispatching;

    /* Request/reply. */
    struct nats_sub *inbox_sub;
    char inbox[NATS_CLIENT_INBOX_MAX]; /* "_INBOX.<id>." */
    struct nats_req **req_chunks;
    size_t req_nchunks;
    uint32_t req_free; /* head of the free list; UINT32_MAX when empty */
    size_t req_active;

    /* Draining. */
    bool draining_subs_done;

    /* Credentials (creds_path or nkey_path). */
    struct creds_file creds;
    bool have_creds;

    struct rand_pool rnd;
    struct nats_client_stats stats;
};

/* nats_client.c */
extern const struct nats_parse_ops nats_client_parse_ops;
/* Tears the current attempt or connection down (how: LOOP_CLOSE_*); user
 * callbacks follow from the loop once the close completes. */
void nats_client_lose(struct nats_client *c, int err, int how);
/* The loop closed the connection we had asked to close. */
void nats_client_conn_closed(struct nats_client *c);
/* A new attempt starts: fresh parser, handshake deadline armed. */
void nats_client_attempt_begin(struct nats_client *c);
void nats_client_handshake_done(struct nats_client *c);
void nats_client_send_connect(struct nats_client *c);
/* 1 when parsing must stop because the connection is going away. */
int nats_client_parse_stop(const struct nats_client *c);
/* A request completed or was cancelled (a drain may be waiting for it). */
void nats_client_req_done_hook(struct nats_client *c);

/* nats_client_io.c */
extern const struct loop_conn_ops nats_client_io_ops;
void nats_client_io_init_timers(struct nats_client *c);
/* Writes to the current connection (plain or TLS) regardless of
 * out_limit; on failure the connection is dropped and
 * NATS_E_DISCONNECTED returned. */
int nats_client_io_write(struct nats_client *c, const struct iovec *iov, int iovcnt);
int nats_client_io_publish(struct nats_client *c, struct span subject, struct span reply,
                           struct span hdr, struct span payload);
/* Moves the reconnect buffer into the connection, as far as out_limit allows. */
int nats_client_io_flush_rbuf(struct nats_client *c);
/* Seals buffered TLS plaintext and queues the records now. */
void nats_client_io_flush_tls(struct nats_client *c);
/* Same, followed by close_notify (a graceful end of the TLS stream). */
void nats_client_io_close_tls(struct nats_client *c);
size_t nats_client_io_pending(const struct nats_client *c);
int nats_client_io_start_tls(struct nats_client *c);

/* nats_client_sub.c */
int nats_client_sub_init(struct nats_client *c);
void nats_client_sub_free_all(struct nats_client *c);
int nats_client_sub_dispatch(struct nats_client *c, const struct nats_msg *m);
int nats_client_sub_resend_all(struct nats_client *c);
int nats_client_sub_add(struct nats_client *c, struct span subject, struct span queue,
                        nats_client_msg_fn fn, void *cookie, bool internal, struct nats_sub **out);
void nats_client_sub_drain_all(struct nats_client *c);
void nats_client_sub_remove_all(struct nats_client *c, bool user_only);

/* nats_client_req.c */
void nats_client_req_fail_all(struct nats_client *c, int err);
void nats_client_req_free_all(struct nats_client *c);

/* nats_client_pool.c */
void nats_client_pool_init_timers(struct nats_client *c);
int nats_client_pool_add_urls(struct nats_client *c, const char *urls, char *err, size_t errlen);
void nats_client_pool_learn(struct nats_client *c, const struct nats_info *info);
void nats_client_pool_free(struct nats_client *c);
void nats_client_pool_start_attempt(struct nats_client *c);
void nats_client_pool_schedule(struct nats_client *c);
void nats_client_pool_cancel(struct nats_client *c);
struct nats_server *nats_client_pool_current(const struct nats_client *c);

/* nats_client_auth.c */
int nats_client_auth_load(struct nats_client *c, char *err, size_t errlen);
int nats_client_auth_connect(struct nats_client *c, const struct nats_server *s);
void nats_client_auth_free(struct nats_client *c);

/* nats_client_tls.c */
struct tls_conn;
int nats_client_tls_load(struct nats_client *c, char *err, size_t errlen);
void nats_client_tls_free(struct nats_client *c);
struct tls_conn *nats_client_tls_engine(struct nats_client *c);
/* Prepares the engine for a handshake with server_name; the ClientHello
 * is then pending. Returns 0, NATS_E_CONFIG (no usable CA) or NATS_E_TLS. */
int nats_client_tls_begin(struct nats_client *c, const char *server_name);

#endif
