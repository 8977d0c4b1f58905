/*
 * gateway/gw_internal.h — h8sd's private structures and the functions its
 * files share. Nothing outside gateway/ includes this.
 *
 * Shape: one struct gw (configuration, read-only once workers run, and
 * atomic counters) and one struct gw_worker per thread. A worker owns its
 * loop, its NATS client, its listener (one SO_REUSEPORT port shared by all
 * workers), its gateway id and reply subscription, its interest table and
 * a pool of connection slots; nothing is shared between workers but the
 * read-only configuration and the counters. A connection carries at most
 * one exchange at a time: pipelined requests wait in the parser, so
 * responses go out in order by construction.
 *
 * Files: gw_config.c (flags), gw_main.c (start, threads, signals),
 * gw_worker.c (loop, NATS, reply dispatch, drain), gw_conn.c (client
 * connection: bytes in, parser, timers), gw_xchg.c (one exchange: checks,
 * publish, reply events), gw_resp.c (writing responses), gw_body.c
 * (request bodies: inline and streamed with credit), gw_interest.c
 * (--track-interest).
 */
#ifndef H8S_GATEWAY_GW_INTERNAL_H
#define H8S_GATEWAY_GW_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/daemon.h"
#include "core/flags.h"
#include "core/loop.h"
#include "core/rand.h"
#include "proto/h8s_reply.h"
#include "proto/h8s_req_encode.h"
#include "proto/http_req.h"
#include "proto/nats_client.h"
#include "proto/nats_flags.h"
#include "proto/subject.h"

/* ------------------------------------------------------------- config */

#define GW_MAX_WORKERS 64
#define GW_MAX_FILTERS FLAGS_LIST_MAX

/* One --host-filters entry, as subject host tokens ("com.example.app");
 * wildcard: "*.example.com" matches every name below example.com. */
struct gw_filter {
    uint8_t rhost[SUBJECT_HOST_MAX];
    size_t len;
    bool wildcard;
};

struct gw_config {
    /* Flag destinations. */
    const char *listen;
    int64_t request_timeout_ns;
    int64_t header_timeout_ns;
    int64_t idle_timeout_ns;
    int64_t drain_timeout_ns;
    uint64_t max_body;
    uint64_t max_header;
    struct flags_list host_filters;
    const char *auth_key;
    bool publish_only;
    bool track_interest;
    bool trust_forwarded;
    bool access_log;
    int64_t workers;
    int64_t max_conns;
    struct nats_flags nats;
    struct daemon_log log;

    /* Derived after parsing. */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    size_t auth_key_len;
    struct gw_filter filters[GW_MAX_FILTERS];
    size_t nfilters;
};

/*
 * Parses argv and the environment into cfg (exits 2 with one line on a bad
 * value, 0 after --help/--version) and derives the fields after it.
 */
void gw_config_parse(struct gw_config *cfg, int argc, char **argv);

/* 1 when the subject host tokens rhost pass the filters (or there are none). */
int gw_config_host_allowed(const struct gw_config *cfg, const uint8_t *rhost, size_t len);

/* ------------------------------------------------------------ counters */

/* Process-wide counters, summed over workers; logged at shutdown. */
struct gw_stats {
    atomic_ullong requests;
    atomic_ullong rejected;       /* answered by the gateway itself (4xx) */
    atomic_ullong no_responders;  /* 503 */
    atomic_ullong timeouts;       /* 504/408 or cut streams */
    atomic_ullong client_closed;  /* client left during an exchange */
    atomic_ullong overflow;       /* a responder outran flow control or the buffer */
    atomic_ullong protocol;       /* malformed replies, sequence gaps */
    atomic_ullong responder_abort;
};

struct gw_worker;

struct gw {
    struct gw_config cfg;
    struct gw_stats stats;
    unsigned nworkers;
    struct gw_worker *workers[GW_MAX_WORKERS];
    atomic_int stop_now; /* a second signal: workers stop without draining */
};

/* ---------------------------------------------------------- interest */

#define GW_INTEREST_MAX 4096
#define GW_INTEREST_BUCKETS 1024
#define GW_INTEREST_PATH_MAX 1024
#define GW_INTEREST_METHOD_MAX 32

struct gw_interest_entry {
    uint8_t rhost[SUBJECT_HOST_MAX];
    uint8_t path[GW_INTEREST_PATH_MAX];
    uint8_t method[GW_INTEREST_METHOD_MAX];
    uint16_t rhost_len, path_len;
    uint8_t method_len;
    uint64_t expires_ms;
    int32_t next; /* chain in the bucket or the free list; -1 ends */
};

struct gw_interest {
    struct gw_interest_entry *e; /* GW_INTEREST_MAX entries */
    int32_t bucket[GW_INTEREST_BUCKETS];
    int32_t free_head;
    size_t used;
};

int gw_interest_init(struct gw_interest *t);
void gw_interest_free(struct gw_interest *t);

/*
 * A message on h8s.control.interest.>: registers (or, for an unregister
 * subject, removes) the JSON {"host","path","method"} it carries.
 * Returns 0, or -EINVAL for a message that is not a valid registration.
 */
int gw_interest_msg(struct gw_interest *t, uint64_t now_ms, struct span subject,
                    struct span payload);

/*
 * 1 when a live entry covers the request: its rhost equals rhost, its
 * method is "*" or equals method, its path is "*" or equals the request's
 * percent-decoded path (raw_path as sent).
 */
int gw_interest_match(struct gw_interest *t, uint64_t now_ms, struct span rhost,
                      struct span method, struct span raw_path);

/* Drops expired entries (the sweep timer's job; also for tests). */
void gw_interest_expire(struct gw_interest *t, uint64_t now_ms);

/* ---------------------------------------------------------- exchange */

enum gw_body_mode {
    GW_BODY_NONE,    /* no body, or already all sent */
    GW_BODY_INLINE,  /* Content-Length known and fits one message: buffer, then publish */
    GW_BODY_LATER,   /* chunked: buffer up to one message, else become a stream */
    GW_BODY_STREAM,  /* stream to the agent against its credit */
    GW_BODY_DISCARD, /* the answer is already decided: read and drop */
};

enum gw_resp_state {
    GW_RESP_WAIT,   /* nothing sent to the client yet */
    GW_RESP_STREAM, /* head sent, body streaming */
    GW_RESP_DONE,   /* complete */
};

#define GW_LOG_HOST_MAX 128
#define GW_LOG_PATH_MAX 256

struct gw_xchg {
    bool active;
    bool published;   /* the request message went out: replies may come */
    bool req_done;    /* the parser finished the request */
    bool head_req;
    bool http10;
    bool close;       /* close the connection after this response */
    bool expect;      /* 100-continue asked and not answered yet */
    bool chunked_out; /* the response body is chunk-encoded */
    bool until_close; /* the response body ends with the connection (HTTP/1.0) */
    bool no_body_out; /* the response has no body (HEAD, 204, 304) */
    enum gw_body_mode body;
    enum gw_resp_state resp;
    char req_id[RAND_ID_LEN + 1];
    struct h8s_reply reply;
    uint64_t window;
    int status;
    uint64_t bytes_out; /* response body bytes written */
    uint64_t t0_ms;

    /* Request body, one allocation: [subject | header block (hdr_cap) | body]. */
    uint8_t *buf;
    size_t buf_cap, subj_len, hdr_len, hdr_cap;
    size_t body_off, body_len; /* stream: unsent bytes are [off, off+len) */
    uint64_t body_total;       /* bytes taken from the client */
    uint64_t body_sent;        /* stream: bytes published */
    uint64_t body_credit;      /* stream: the agent's cumulative credit */
    uint64_t body_seq;         /* stream: last sequence number sent */
    bool body_end_sent;
    bool want_nats_drain; /* a publish hit NATS_E_AGAIN: retry on drained */

    /* For the access log (copies: the request's spans die with on_head). */
    char method[SUBJECT_METHOD_MAX + 1];
    char host[GW_LOG_HOST_MAX + 1];
    char path[GW_LOG_PATH_MAX + 1];
};

/* ---------------------------------------------------------- connection */

enum gw_timer_mode { GW_TIMER_NONE, GW_TIMER_IDLE, GW_TIMER_HEADER };

struct gw_conn {
    struct gw_worker *w;
    struct loop_conn *lc; /* NULL while the slot is free */
    uint32_t idx;
    bool closing;
    bool paused;
    bool eof;
    bool in_process; /* parsing input now: do not re-enter */
    bool wait_drain; /* next request waits until the output queue is half empty */
    struct http_req_parser parser;
    uint8_t *head_buf; /* cfg.max_header bytes */
    uint8_t *stash;    /* unparsed input: [stash_off, stash_len) */
    size_t stash_cap, stash_off, stash_len;
    /* Timers are lazy: a deadline moves without touching the timer heap;
     * a timer that fires early re-arms itself for the rest. */
    struct loop_timer conn_timer; /* header / idle */
    enum gw_timer_mode timer_mode;
    uint64_t conn_deadline;
    struct loop_timer x_timer; /* the exchange's sliding timeout */
    uint64_t x_deadline;
    char peer[64];
    size_t peer_len;
    struct gw_xchg x;
};

/* ------------------------------------------------------------- worker */

#define GW_ID_SLOT_CHARS 3 /* leading request-id characters naming the slot */
#define GW_STASH_CAP 16384 /* receive buffer size, and so the input one connection holds back */
#define GW_WINDOW_MIN (1024 * 1024)

struct gw_worker {
    struct gw *gw;
    const struct gw_config *cfg;
    unsigned id;
    pthread_t th;
    bool thread_started;
    struct loop *l;
    struct nats_client *nc;
    struct loop_listener *ls;
    struct rand_pool rnd;
    char gw_id[RAND_ID_LEN + 1];
    uint8_t *scratch; /* H8S_REQ_ENCODE_BUFSZ: request encoding, response heads */
    size_t scratch_cap;

    struct gw_conn **conns; /* slot table, max_conns entries, allocated on first use */
    uint32_t *free_slots;
    uint32_t nfree, max_conns, nconns;

    struct gw_interest interest;
    uint64_t max_payload; /* the server's, once connected */
    uint64_t window;      /* response window and credit target: max(1 MiB, max_payload) */
    size_t out_limit;     /* client output limit: 2 * window + 256 KiB */

    bool nats_up;
    bool draining;
    bool stopping;
    bool drained; /* the drain ran to its end (NATS closed) */
    struct loop_timer drain_timer;

    char date[40]; /* "Date: ...\r\n" of the current second */
    size_t date_len;
    int64_t date_sec;
};

/* gw_worker.c */
int gw_worker_start(struct gw *gw, unsigned id); /* id 0 runs on the caller's thread */
void gw_worker_drain(struct gw_worker *w);       /* on the worker's own thread */
void gw_worker_free(struct gw_worker *w);
struct gw_conn *gw_worker_slot_get(struct gw_worker *w);
void gw_worker_slot_put(struct gw_worker *w, struct gw_conn *c);
/* A connection closed; the worker may now finish a drain. */
void gw_worker_conn_gone(struct gw_worker *w);
/* Publishes, logging failures once; returns the nats_client result. */
int gw_worker_publish(struct gw_worker *w, struct span subject, struct span reply,
                      struct span hdr, struct span payload);

/* gw_conn.c */
void gw_conn_accept(struct gw_worker *w, struct loop_conn *lc);
/* The exchange finished both ways: next request, or close (close true). */
void gw_conn_xchg_finished(struct gw_conn *c, bool close);
/* Parses stashed input again after the connection was blocked. */
void gw_conn_unblock(struct gw_conn *c);
/* Closes the connection: flush = send what is queued first. */
void gw_conn_close(struct gw_conn *c, bool flush);
/* Drain: close it now when no exchange is in progress. */
void gw_conn_drain(struct gw_conn *c);
/* 1 when the connection may take more input now. */
bool gw_conn_can_read(const struct gw_conn *c);

/* gw_xchg.c */
int gw_xchg_on_head(struct gw_conn *c, const struct http_req *req);
int gw_xchg_on_body(struct gw_conn *c, const uint8_t *p, size_t n);
void gw_xchg_req_done(struct gw_conn *c);
void gw_xchg_reply(struct gw_conn *c, const struct nats_msg *m);
void gw_xchg_timeout(struct gw_conn *c);
/* The client went away (or the connection is torn down) mid-exchange. */
void gw_xchg_client_gone(struct gw_conn *c);
/* Ends the exchange early: counts, logs, tells the responder. When the
 * client got nothing yet and status != 0, answers status and closes after;
 * otherwise cuts the connection. */
void gw_xchg_abort(struct gw_conn *c, const char *reason, int status);
void gw_xchg_reset(struct gw_conn *c);
/* The client's output queue drained: maybe grant the responder credit. */
void gw_xchg_client_drained(struct gw_conn *c);
void gw_xchg_arm_timer(struct gw_conn *c);
/* Moves a lazy timer's deadline to deadline_ms (absolute, loop time). */
void gw_conn_timer_at(struct gw_conn *c, struct loop_timer *t, uint64_t deadline_ms);

/* gw_resp.c */
/* A response of the gateway's own (errors, publish-only): status, a short
 * text body; closes after it when the exchange says so. */
void gw_resp_simple(struct gw_conn *c, int status, const char *text);
/* The head of a responder's response (RESPONSE or STREAM_START), with the
 * body the event carries. Returns 0, -ENOBUFS when the client's output
 * queue cannot take it (the responder outran the limit), or another
 * -errno when the connection is going away (-EPIPE). */
int gw_resp_head(struct gw_conn *c, const struct h8s_reply_event *ev);
/* Body bytes of a streamed response (framed as chosen by the head); same
 * returns. */
int gw_resp_body(struct gw_conn *c, struct span body);
/* The end of a streamed response; 0 or -errno. */
int gw_resp_end(struct gw_conn *c);
/* "HTTP/1.1 100 Continue". */
void gw_resp_continue(struct gw_conn *c);
/* Bytes the client's queue can still take before the hard limit. */
uint64_t gw_resp_room(const struct gw_conn *c);
/* Body bytes the responder may send beyond those delivered: the credit target. */
uint64_t gw_resp_credit_room(const struct gw_conn *c);

/* gw_body.c */
/*
 * Sets up buffering for x->body (after the head): room for a subject of
 * subj_len bytes and a header block of hdr_len bytes (INLINE, LATER; the
 * caller copies them in) and the body: len bytes for INLINE, a growing
 * buffer for LATER, a fixed window for STREAM. Returns 0 or -ENOMEM.
 */
int gw_body_begin(struct gw_conn *c, size_t subj_len, size_t hdr_len, uint64_t len);
/* Takes n body bytes from the parser. Returns 0, or an HTTP status to
 * answer with (413). */
int gw_body_take(struct gw_conn *c, const uint8_t *p, size_t n);
/* Room for raw input while streaming a body (bytes the parser may be fed). */
size_t gw_body_room(const struct gw_conn *c);
/* Publishes what credit allows (and the end once the body is complete). */
void gw_body_pump(struct gw_conn *c);
/* Publishes the buffered request (INLINE or LATER) now that it is complete. */
int gw_body_publish_whole(struct gw_conn *c);
/* Turns a LATER body that outgrew one message into a stream. */
int gw_body_to_stream(struct gw_conn *c);
void gw_body_free(struct gw_conn *c);

#endif
