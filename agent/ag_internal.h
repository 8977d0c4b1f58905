/*
 * agent/ag_internal.h — h8srd's private declarations, shared by its files.
 *
 *   ag_main.c      main, the agent object, NATS events, signals, drain
 *   ag_config.c    flags and environment, routes (--hostname, --route)
 *   ag_backend.c   backends: address, keep-alive pool, connections to the app
 *   ag_resolve.c   DNS resolution of backend names (start-up; SIGHUP on a thread)
 *   ag_xchg.c      exchanges: request receipt, lookup, timers, end, access log
 *   ag_stream.c    response framing and publishing, credit, request-body streams
 *   ag_interest.c  interest registration (--track-interest gateways)
 *
 * One loop, one thread, one NATS connection: nothing here locks (name
 * resolution on SIGHUP runs on a core/resolve helper thread).
 *
 * An exchange is one request message and its answer. It holds at most one
 * backend connection, one buffer (inline for small responses, grown up to
 * max_payload for a complete message that needs it) and a few subjects;
 * everything else streams through with credit, so memory per exchange is
 * bounded whatever the body sizes.
 */
#ifndef H8S_AGENT_AG_INTERNAL_H
#define H8S_AGENT_AG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/daemon.h"
#include "core/flags.h"
#include "core/loop.h"
#include "core/rand.h"
#include "core/resolve.h"
#include "proto/h8s_ctl.h"
#include "proto/h8s_req_decode.h"
#include "proto/h8s_resp_encode.h"
#include "proto/http_resp.h"
#include "proto/nats_client.h"
#include "proto/nats_flags.h"
#include "proto/subject.h"
#include "proto/url.h"

#define AG_PROG "h8srd"
#define AG_ROUTES_MAX FLAGS_LIST_MAX
#define AG_HOST_MAX 256 /* a configured host name, NUL included */

/* Bytes of body the agent lets a gateway send ahead (request streams). */
#define AG_REQ_WINDOW (256u * 1024)
/* Inline exchange buffer: small responses never allocate. */
#define AG_XCHG_INLINE (16u * 1024)
/* Backend response heads: larger ones are a 502. */
#define AG_RESP_HEAD_MAX (32u * 1024)
/* A pooled connection unused this long is closed (below common app
 * keep-alive timeouts, which shortens the reuse-after-close race). */
#define AG_IDLE_CONN_MS 4000u
/* Exchange objects kept for reuse. */
#define AG_XCHG_FREE_MAX 256u
/* Characters of the request target kept for the access log. */
#define AG_LOG_TARGET_MAX 200u
/* How long a response of unknown length may collect before it streams:
 * apps often write the head, the chunks and the last chunk separately. */
#define AG_PROBE_MS 10u
/* Polling step while a request-body grant waits for the backend socket. */
#define AG_GRANT_POLL_MS 5u

struct agent;
struct ag_backend;
struct ag_bconn;
struct ag_xchg;

/* ------------------------------------------------------------- config */

struct ag_config {
    struct nats_flags nats;
    struct daemon_log log;
    struct flags_list hostnames;
    struct flags_list routes;
    const char *backend_url;
    const char *queue_group;
    bool rewrite_host;
    int64_t backend_timeout_ns;
    int64_t drain_timeout_ns;
    int64_t max_exchanges;
    int64_t max_idle;
};

/*
 * Parses argv and the environment into cfg (flags, exit 2 with one line on
 * any error, exit 0 for --help/--version), then checks what spans flags
 * (a route needs a backend, hosts are unique). Returns only on success.
 */
void ag_config_parse(struct ag_config *cfg, int argc, char **argv);

/* ------------------------------------------------------------- routes */

struct ag_route {
    char host[AG_HOST_MAX]; /* lower-cased, as registered for interest */
    uint8_t rhost[SUBJECT_HOST_MAX];
    size_t rhost_len;
    char base[URL_MAX_LEN]; /* backend URL path without trailing '/' */
    struct ag_backend *be;
    struct h8s_req_decode_route dr; /* spans into this struct and be */
    struct nats_sub *sub_root, *sub_path;
};

/*
 * Builds ag->routes and ag->backends from the configuration (every
 * --hostname with --backend-url, then every --route HOST=URL). Returns 0,
 * or -EINVAL with one line written to err (errlen bytes).
 */
int ag_config_routes(struct agent *ag, const struct ag_config *cfg, char *err, size_t errlen);

/* ------------------------------------------------------------ backends */

struct ag_backend {
    struct agent *ag;
    char name[AG_HOST_MAX];          /* host as written in the URL (IPv6 without brackets) */
    char authority[AG_HOST_MAX + 8]; /* "host:port" for Host with --rewrite-host */
    char port_str[8];
    uint16_t port;
    bool is_name; /* needs DNS */
    struct sockaddr_storage addr;
    socklen_t addrlen;     /* 0 while unresolved */
    struct ag_bconn *idle; /* most recently used first */
    unsigned nidle, nconns;
};

/* One connection to an app. */
struct ag_bconn {
    struct ag_backend *be;
    struct loop_conn *c;
    struct ag_xchg *x;     /* the exchange using it; NULL while idle or closing */
    struct ag_bconn *next; /* idle list */
    struct loop_timer t_idle;
    struct http_resp_parser rp;
    uint64_t uses; /* exchanges started on it */
    bool connected;
    bool closing;
    bool extra; /* bytes after a complete response: not reusable */
    uint8_t head[AG_RESP_HEAD_MAX];
};

/*
 * Takes an idle connection to be (unless fresh), or starts a new one, for
 * exchange x. Returns it, or NULL with *err set (-EHOSTUNREACH when be is
 * unresolved, -EMFILE, -ENOMEM, ...).
 */
struct ag_bconn *ag_backend_acquire(struct ag_backend *be, struct ag_xchg *x, bool fresh, int *err);

/*
 * The exchange is done with bc. reusable: the response was complete, the
 * request fully written, the connection may carry another exchange; it
 * goes back to the pool (or is closed when the pool is full or the agent
 * drains). Otherwise it is closed at once.
 */
void ag_backend_release(struct ag_bconn *bc, bool reusable);

/* Closes every idle connection (drain, shutdown). */
void ag_backend_close_idle(struct ag_backend *be);

/* Sets the address of be from sa (after resolution). */
void ag_backend_set_addr(struct ag_backend *be, const struct sockaddr *sa, socklen_t len);

/* ------------------------------------------------------------ resolver */

/* Resolves every named backend now, blocking (start-up only). Returns 0 or
 * -EHOSTUNREACH with the failing name written to err. */
int ag_resolve_startup(struct agent *ag, char *err, size_t errlen);

/* Re-resolves every named backend on a helper thread; results are applied
 * on the loop when ready. A job already running is left to finish. */
void ag_resolve_async(struct agent *ag);

/* Forgets a running job (shutdown): its results will not be applied. */
void ag_resolve_cancel(struct agent *ag);

/* ------------------------------------------------------------ exchanges */

enum ag_mode {
    AG_MODE_WAIT,    /* no response head yet */
    AG_MODE_COLLECT, /* complete message: collecting a body of known length */
    AG_MODE_PROBE,   /* unknown length: collecting for up to AG_PROBE_MS */
    AG_MODE_STREAM,  /* streaming chunks */
    AG_MODE_SENT,    /* the final message (single, end or abort) is out */
};

struct ag_xchg {
    struct agent *ag;
    struct ag_route *rt;
    struct ag_bconn *bc;
    struct ag_xchg *id_next;     /* hash chain by id */
    struct ag_xchg *close_next;  /* hash chain by close subject */
    struct ag_xchg *blk_next;    /* NATS back-pressure list */
    struct ag_xchg *prev, *next; /* every live exchange */
    struct loop_timer t_idle;    /* --backend-timeout, reset by progress */
    struct loop_timer t_grant;   /* polls for request-body credit */
    struct loop_timer t_probe;   /* AG_PROBE_MS: unknown length, decide to stream */
    char id[RAND_ID_LEN + 1];
    uint32_t id_hash, close_hash;
    uint8_t agent_subj[SUBJECT_REPLY_MAX];
    size_t agent_subj_len;
    uint8_t reply[H8S_CTL_SUBJECT_MAX];
    size_t reply_len;
    uint8_t close[H8S_CTL_SUBJECT_MAX];
    size_t close_len;

    /* request */
    unsigned rflags;       /* H8S_REQ_DECODE_F_* */
    struct h8s_ctl_rx rx;  /* request-body stream */
    uint64_t body_written; /* request-body bytes handed to the backend socket */
    uint8_t *replay;       /* copy of head + body for a retry, or NULL */
    size_t replay_len;
    bool req_sent;       /* the whole request is queued to the backend */
    bool got_resp;       /* a response byte arrived from the backend */
    bool ready_pending;  /* "ready" not yet published */
    bool credit_pending; /* a grant not yet published */
    bool retried;

    /* response */
    struct h8s_resp_encode enc;
    enum ag_mode mode;
    int status;
    uint64_t resp_cl;     /* announced Content-Length (HEAD/304), or body size */
    bool resp_done;       /* the backend response is complete */
    bool resp_keepalive;  /* the backend allows another exchange on the connection */
    bool head_out;        /* the first response message is published */
    bool end_pending;     /* only the end message remains */
    bool paused;          /* backend reads paused (credit or NATS) */
    bool probe_over;      /* AG_PROBE_MS passed: stream what is collected */
    bool blocked;         /* on ag->blocked, waiting for NATS to drain */
    bool has_agent_subj;  /* subscribed id known to the gateway */
    const char *fail_why; /* why a response callback stopped the parser */
    /* a framed chunk or end message that NATS back-pressure held back */
    uint8_t pend_hdr[H8S_RESP_ENCODE_SEQ_HDR_MAX];
    size_t pend_hdr_len;
    uint64_t pend_take;

    /* buffer: [0, hlen) header block, then the body at boff..boff+blen */
    uint8_t *buf;
    size_t cap, hlen, boff, blen;

    /* access log */
    char method[SUBJECT_METHOD_MAX + 1];
    char target[AG_LOG_TARGET_MAX + 1];
    uint64_t start_ms;
    uint64_t bytes_in, bytes_out;
    bool reused;
    const char *outcome; /* "single", "stream", "error", "aborted" */

    uint8_t inline_buf[AG_XCHG_INLINE];
};

/* The request subscriptions' callback (cookie: the route). */
void ag_xchg_on_request(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                        void *cookie);
/* _INBOX.h8s.<agent id>.* (cookie: the agent). */
void ag_xchg_on_agent_msg(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                          void *cookie);
/* h8s.control.connection.closed.> (cookie: the agent). */
void ag_xchg_on_closed(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                       void *cookie);

/* Backend connection events, from ag_backend.c. */
void ag_xchg_backend_data(struct ag_xchg *x, const uint8_t *p, size_t n);
void ag_xchg_backend_closed(struct ag_xchg *x, int err);
void ag_xchg_backend_drain(struct ag_xchg *x);

/*
 * Ends x: publishes nothing more, closes or returns its backend
 * connection, logs the access line, frees it. reason NULL for a normal
 * end, otherwise the abort reason logged.
 */
void ag_xchg_finish(struct ag_xchg *x, const char *reason);

/*
 * Aborts x on the gateway's behalf or at the agent's: the backend
 * connection is closed at once; a flow-controlled gateway whose response
 * already started is told with an abort message.
 */
void ag_xchg_abort(struct ag_xchg *x, const char *reason, bool tell_gateway);

/* Re-arms the idle timer (progress was made). */
void ag_xchg_touch(struct ag_xchg *x);

/* Aborts every live exchange (drain timeout, shutdown). */
void ag_xchg_abort_all(struct agent *ag, const char *reason);

/* ------------------------------------------------------------- stream */

/* http_resp callbacks for a backend connection serving x. */
extern const struct http_resp_ops ag_stream_resp_ops;

/* Publishes whatever x may publish now (in order: ready, credit, response
 * messages within credit, end). Pauses or resumes the backend read and
 * queues x for NATS back-pressure as needed. May finish x: the caller must
 * not touch x afterwards when it returns 1. */
int ag_stream_flush(struct ag_xchg *x);

/* The backend response is complete. */
void ag_stream_resp_done(struct ag_xchg *x);

/*
 * The backend failed (status 502 or 504 when nothing was published yet;
 * otherwise the stream is aborted). Finishes x.
 */
void ag_stream_fail(struct ag_xchg *x, int status, const char *why);

/* A message on x's agent subject. Finishes x on a fatal stream error. */
void ag_stream_on_agent_msg(struct ag_xchg *x, const struct h8s_ctl *c, struct span data);

/* Checks whether a request-body grant is due (backend socket drained). */
void ag_stream_grant_check(struct ag_xchg *x);

/* The gateway broke the stream protocol (gap, overflow, malformed
 * control): counted, logged; 400 when nothing was published yet, else an
 * abort. Finishes x. */
void ag_stream_protocol_error(struct ag_xchg *x, const char *why);

/*
 * Publishes a complete error response (status, text body) to reply; for
 * requests refused before an exchange exists. Returns the publish result.
 */
int ag_stream_reply_error(struct agent *ag, struct span reply, int status, const char *text);

/* ------------------------------------------------------------ interest */

void ag_interest_start(struct agent *ag);
/* Stops the timer and publishes the unregistrations. */
void ag_interest_stop(struct agent *ag);

/* ---------------------------------------------------------------- agent */

struct ag_stats {
    uint64_t requests, invalid, overloaded;
    uint64_t single, streamed, errors, aborted;
    uint64_t status_class[6]; /* [1..5]: 1xx..5xx */
    uint64_t backend_connects, backend_reuses, backend_fails, backend_timeouts, retries;
    uint64_t stream_errors, gateway_aborts;
    uint64_t bytes_in, bytes_out;
    uint64_t nats_blocked;
};

struct agent {
    struct loop *loop;
    struct nats_client *nc;
    struct ag_config *cfg;
    struct rand_pool rnd;
    char id[RAND_ID_LEN + 1];
    uint8_t inbox_wild[SUBJECT_REPLY_MAX];
    size_t inbox_wild_len;

    struct ag_route routes[AG_ROUTES_MAX];
    size_t nroutes;
    struct ag_backend backends[AG_ROUTES_MAX];
    size_t nbackends;

    struct nats_sub *sub_inbox, *sub_closed;

    /* exchanges */
    struct ag_xchg **by_id, **by_close; /* hash tables, nbuckets each */
    size_t nbuckets;
    struct ag_xchg *live; /* every live exchange */
    struct ag_xchg *free_list;
    size_t nfree, nxchg;
    struct ag_xchg *blocked, *blocked_tail;

    uint8_t *head_buf; /* H8S_REQ_DECODE_HEAD_MAX scratch */

    unsigned backend_timeout_ms;
    unsigned drain_timeout_ms;

    struct loop_timer t_interest;
    struct loop_timer t_drain;
    struct resolve resolve; /* SIGHUP re-resolution of backend names */

    bool connected_once;
    bool draining;
    bool finishing;
    struct ag_stats st;
};

/* The server's max_payload (1 MiB until known). */
size_t ag_max_payload(const struct agent *ag);

/* The drain is over when no exchange is left: close NATS and stop. */
void ag_drain_check(struct agent *ag);

/* Logs the counters (event=stats). */
void ag_log_stats(const struct agent *ag);

#endif
