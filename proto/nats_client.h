/*
 * proto/nats_client.h — the NATS client both daemons use, on the io_uring
 * loop (core/loop.h).
 *
 * One client lives on one loop and is used from that loop's thread only:
 * every function here and every callback runs there, so nothing locks.
 *
 * Connection life: nats_client_connect picks a server from the pool (the
 * configured URLs plus the connect_urls servers announce), resolves it
 * without blocking the loop, connects, reads INFO, upgrades to TLS when
 * the server or the URL asks for it, sends CONNECT (with whatever
 * credentials apply) and PING, and is connected when the PONG comes back.
 * From then on it answers server PINGs, sends its own every
 * ping_interval_ms and treats max_pings_out unanswered ones as a dead
 * peer. Whenever the connection is lost (EOF, error, stale, lame-duck
 * notice, protocol error) it reconnects: exponential back-off with jitter
 * once a whole round of the pool failed, subscriptions restored with their
 * sids and queue groups, and publishes made meanwhile kept (bounded by
 * reconnect_buffer bytes) and sent in order once the new connection is up.
 *
 * Writes: publish, subscribe, ... append to the connection's output queue;
 * the loop sends everything queued during one iteration with one send, so
 * many publishes cost one system call and a lone one goes out at the end
 * of the current iteration, without added delay. Reads: a message that
 * arrived whole is handed to its callback as spans into the receive
 * buffer (no copy); only one split across reads is assembled first.
 *
 * Callback rules: callbacks may call any function here on the same client
 * except nats_client_destroy. Spans in a struct nats_msg are valid only
 * during the callback.
 *
 * Secrets (passwords, tokens, seeds, JWTs) are never logged: logs name a
 * server by host:port only.
 *
 * Errors: negative NATS_E_* codes below or -errno (-ENOMEM, -EINVAL).
 * nats_client_strerror names them all.
 */
#ifndef H8S_PROTO_NATS_CLIENT_H
#define H8S_PROTO_NATS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "proto/nats_info.h"
#include "proto/nats_parse.h"
#include "proto/span.h"

struct nats_client;
struct nats_sub;

#define NATS_E_SUBJECT (-1301)       /* invalid subject, reply subject or queue group */
#define NATS_E_MAX_PAYLOAD (-1302)   /* headers + payload exceed the server's max_payload */
#define NATS_E_BUFFER_FULL (-1303)   /* not connected and the reconnect buffer is full */
#define NATS_E_AGAIN (-1304)         /* output queue at out_limit: retry after on_drained */
#define NATS_E_CLOSED (-1305)        /* client closed or draining */
#define NATS_E_TIMEOUT (-1306)       /* request or flush deadline passed */
#define NATS_E_NO_RESPONDERS (-1307) /* request: nobody subscribes to the subject */
#define NATS_E_LIMIT (-1308)         /* too many requests or flushes in flight */
#define NATS_E_DISCONNECTED (-1309)  /* flush: not connected, or the connection dropped */
#define NATS_E_AUTH (-1310)          /* the server refused our credentials */
#define NATS_E_PROTO (-1311)         /* the server broke the protocol */
#define NATS_E_CONFIG (-1312)        /* invalid configuration (see the error text) */
#define NATS_E_TLS (-1313)           /* TLS handshake or record failure */
#define NATS_E_STALE (-1314)         /* max_pings_out PINGs unanswered */
#define NATS_E_SERVER (-1315)        /* the server sent -ERR */
#define NATS_E_NO_HEADERS (-1316)    /* headers given but the server does not support them */
#define NATS_E_LAME_DUCK (-1317)     /* the server announced lame-duck mode; moving on */

enum nats_client_state {
    NATS_CLIENT_IDLE,       /* created, nats_client_connect not called yet */
    NATS_CLIENT_CONNECTING, /* no connection up yet (first connect or reconnect) */
    NATS_CLIENT_CONNECTED,
    NATS_CLIENT_DRAINING,
    NATS_CLIENT_CLOSED,
};

/* Connection-level events; every member optional. */
struct nats_client_events {
    /* The first connection is up. */
    void (*on_connected)(struct nats_client *c, void *cookie);
    /* The connection was lost; err says why (NATS_E_* or -errno).
     * Reconnection starts at once. */
    void (*on_disconnected)(struct nats_client *c, int err, void *cookie);
    /* A new connection is up again, subscriptions restored and the
     * reconnect buffer flushed into it. */
    void (*on_reconnected)(struct nats_client *c, void *cookie);
    /* The client is closed (nats_client_close, drain done, or
     * max_reconnects exhausted); nothing more will be called. */
    void (*on_closed)(struct nats_client *c, void *cookie);
    /* The output queue went back below half of out_limit after a
     * publish failed with NATS_E_AGAIN (flow control). */
    void (*on_drained)(struct nats_client *c, void *cookie);
    /* An asynchronous error that does not close the client: -ERR text
     * from the server (permissions...), authorization failures (also
     * logged), TLS failures. text may be empty. */
    void (*on_error)(struct nats_client *c, int err, struct span text, void *cookie);
};

struct nats_client_config {
    /* Comma-separated server URLs: nats://[user:pass@|token@]host[:port],
     * tls://... IPv6 in brackets. Default "nats://127.0.0.1:4222". */
    const char *urls;
    const char *name;       /* connection name sent in CONNECT; may be NULL */
    const char *creds_path; /* .creds file (user JWT + seed); may be NULL */
    const char *nkey_path;  /* NKEY seed file; may be NULL */
    const char *ca_path;    /* PEM CA bundle: TLS verification anchors */
    const char *cert_path;  /* PEM client certificate (mTLS); with key_path */
    const char *key_path;   /* PEM private key of cert_path */
    /* Force TLS even for nats:// URLs (a CA file alone does not). */
    bool tls_required;
    bool echo;                      /* receive our own publishes; default true */
    size_t reconnect_buffer;        /* bytes kept while disconnected; default 8 MiB */
    size_t out_limit;               /* bytes queued before NATS_E_AGAIN; default 8 MiB */
    unsigned connect_timeout_ms;    /* per attempt, resolve through PONG; default 2000 */
    unsigned ping_interval_ms;      /* default 120000 */
    unsigned max_pings_out;         /* default 2 */
    unsigned reconnect_wait_ms;     /* first back-off step; default 250 */
    unsigned reconnect_wait_max_ms; /* back-off cap; default 8000 */
    unsigned reconnect_jitter_ms;   /* random extra up to this; default 100 */
    /* Consecutive failed attempts before closing; -1 = never (default).
     * A connection lost within a second of its handshake counts as failed. */
    int max_reconnects;
    unsigned max_requests; /* requests in flight; default 65536 */
    const struct nats_client_events *events;
    void *cookie; /* passed to every event callback */
};

/* Counters since creation. Messages and bytes count payloads (headers included). */
struct nats_client_stats {
    uint64_t msgs_in, bytes_in;
    uint64_t msgs_out, bytes_out;
    uint64_t reconnects;
    size_t pending; /* bytes queued or buffered, not yet handed to the kernel */
};

/* Fills *cfg with the defaults documented above. */
void nats_client_config_defaults(struct nats_client_config *cfg);

/*
 * Creates a client on loop l. Parses the URLs and loads the credentials,
 * NKEY and TLS files now, so configuration errors surface here; cfg's
 * strings are copied (secrets into memory wiped on destroy). Nothing
 * connects until nats_client_connect. On failure returns NATS_E_CONFIG or
 * -errno, writes one line naming the problem into err (errlen bytes,
 * NUL-terminated; never containing a secret) and sets *out to NULL.
 */
int nats_client_create(struct nats_client **out, struct loop *l,
                       const struct nats_client_config *cfg, char *err, size_t errlen);

/*
 * Starts connecting (asynchronously; on_connected reports success). Until
 * then publishes go to the reconnect buffer and subscriptions are sent
 * once connected. Returns 0, or NATS_E_CLOSED when closed or already
 * started.
 */
int nats_client_connect(struct nats_client *c);

/*
 * Publishes payload to subject, with an optional reply subject (reply.n ==
 * 0 for none) and an optional header block (hdr.n == 0 for none; build it
 * with proto/nats_hdr.h). The bytes are copied before returning.
 * Returns 0, NATS_E_SUBJECT, NATS_E_MAX_PAYLOAD, NATS_E_NO_HEADERS,
 * NATS_E_AGAIN (connected, output queue full: wait for on_drained),
 * NATS_E_BUFFER_FULL (not connected and the reconnect buffer cannot take
 * it) or NATS_E_CLOSED. Nothing is sent on error.
 */
int nats_client_publish(struct nats_client *c, struct span subject, struct span reply,
                        struct span hdr, struct span payload);

/*
 * A message for a subscription: sub is the subscription, m the message
 * (spans valid during the call only). The callback may unsubscribe sub.
 */
typedef void (*nats_client_msg_fn)(struct nats_client *c, struct nats_sub *sub,
                                   const struct nats_msg *m, void *cookie);

/*
 * Subscribes to subject (wildcards allowed), in queue group queue when
 * queue.n > 0. The subscription lives until nats_client_unsubscribe or
 * nats_client_destroy, across reconnects. *out (may be NULL) receives the
 * handle. Returns 0, NATS_E_SUBJECT, NATS_E_CLOSED or -ENOMEM.
 */
int nats_client_subscribe(struct nats_client *c, struct span subject, struct span queue,
                          nats_client_msg_fn fn, void *cookie, struct nats_sub **out);

/*
 * With max == 0, removes s now: its callback is not called again and s is
 * invalid once this returns (or once its running callback returns).
 * With max > 0, s goes away by itself after max messages in total
 * (counting those already delivered); the server is told too.
 * Returns 0.
 */
int nats_client_unsubscribe(struct nats_client *c, struct nats_sub *s, uint64_t max);

/* The subscription's sid (the number on the wire). */
uint64_t nats_client_sub_sid(const struct nats_sub *s);

/*
 * The outcome of a request: err 0 and the reply in m, or err
 * NATS_E_TIMEOUT, NATS_E_NO_RESPONDERS or NATS_E_CLOSED with m NULL.
 */
typedef void (*nats_client_reply_fn)(struct nats_client *c, int err, const struct nats_msg *m,
                                     void *cookie);

/*
 * Publishes a request to subject with a reply subject on this client's
 * inbox (one wildcard subscription per client, created on first use) and
 * a fresh random token; fn is called exactly once, with the reply or an
 * error, unless the request is cancelled. timeout_ms > 0 is required.
 * *id (may be NULL) receives a handle for nats_client_request_cancel.
 * Returns 0, or the same errors as nats_client_publish plus NATS_E_LIMIT
 * (max_requests in flight), -EINVAL and -ENOMEM; fn is not called then.
 */
int nats_client_request(struct nats_client *c, struct span subject, struct span hdr,
                        struct span payload, unsigned timeout_ms, nats_client_reply_fn fn,
                        void *cookie, uint64_t *id);

/* Cancels a request: its callback will not be called. Returns 0, or
 * -ENOENT when it already completed. */
int nats_client_request_cancel(struct nats_client *c, uint64_t id);

/* Completion of nats_client_flush: err 0, NATS_E_TIMEOUT,
 * NATS_E_DISCONNECTED or NATS_E_CLOSED. */
typedef void (*nats_client_done_fn)(struct nats_client *c, int err, void *cookie);

/*
 * Sends a PING; fn is called once the server's PONG proves everything
 * written before it was processed, or with an error (timeout_ms > 0 is
 * required). Returns 0, NATS_E_DISCONNECTED (not connected), NATS_E_LIMIT
 * (too many flushes in flight), NATS_E_CLOSED, -EINVAL; fn is not called
 * then.
 */
int nats_client_flush(struct nats_client *c, unsigned timeout_ms, nats_client_done_fn fn,
                      void *cookie);

/*
 * Graceful shutdown: unsubscribes everything, still delivers the messages
 * the server sent before it saw the unsubscribes, waits for requests in
 * flight, sends what is queued, then closes (on_closed). Gives up waiting
 * after timeout_ms. Publishing is still allowed until closed; subscribing
 * and new requests are not. Returns 0 or NATS_E_CLOSED.
 */
int nats_client_drain(struct nats_client *c, unsigned timeout_ms);

/*
 * Closes now: requests in flight complete with NATS_E_CLOSED (their
 * callbacks run before this returns), so do flushes (before this returns
 * or once the connection is down), queued output is still sent (bounded
 * by a 2 s linger), then on_closed is called, always asynchronously from
 * the loop. Idempotent.
 */
void nats_client_close(struct nats_client *c);

/*
 * Frees the client. If it is not closed yet it is closed first without
 * calling any callback. Must not be called from one of this client's
 * callbacks, and must come before loop_destroy of its loop (the client's
 * timers live in that loop). nats_client_destroy(NULL) is a no-op.
 */
void nats_client_destroy(struct nats_client *c);

enum nats_client_state nats_client_state(const struct nats_client *c);

/* Counters; pending is also available alone, cheaply. */
void nats_client_stats(const struct nats_client *c, struct nats_client_stats *st);
size_t nats_client_pending(const struct nats_client *c);

/* The last INFO of the current (or last) server; NULL before the first. */
const struct nats_info *nats_client_server_info(const struct nats_client *c);

/* "host:port" of the server connected to (or being tried); "" if none.
 * Never contains credentials. */
const char *nats_client_server_addr(const struct nats_client *c);

/* A static description of a NATS_E_* code or -errno. */
const char *nats_client_strerror(int err);

#endif
