/*
 * tests/support/agtest.h — end-to-end harness for h8srd: a real app
 * (tests/support/backend.py on /usr/bin/python3), the real agent binary
 * ($BUILD/h8srd), and a test "gateway" that publishes request messages
 * with our NATS client and reads the replies the way h8sd does.
 *
 * Everything listens or connects on 127.0.0.1 only; every wait is bounded.
 * Child processes ask the kernel for SIGKILL when the test dies
 * (PR_SET_PDEATHSIG), so nothing outlives a failed test.
 */
#ifndef H8S_TESTS_SUPPORT_AGTEST_H
#define H8S_TESTS_SUPPORT_AGTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sodium.h>

#include "core/loop.h"
#include "proto/nats_client.h"
#include "tests/support/natstest.h"

#define AGTEST_WAIT_MS 10000
#define AGTEST_REPLIES_MAX 256
#define AGTEST_TIMES_MAX 64

/* A child process: the app or an agent. */
struct agtest_proc {
    pid_t pid;
    uint16_t port;      /* the app's port */
    char log_path[256]; /* the agent's stderr */
};

/* Starts backend.py with the given id (echoed by /whoami and /echo) and
 * reads its port. Returns 0 or -errno. */
int agtest_backend_start(struct agtest_proc *p, const char *id);

/*
 * Starts $BUILD/h8srd (BUILD defaults to "build") with --nats-url url and
 * the NULL-terminated args, stderr and stdout into a log file. With
 * wait_ready, returns once the log shows event=agent_ready (or fails with
 * -ETIMEDOUT and prints the log). Returns 0 or -errno.
 */
int agtest_agent_start(struct agtest_proc *p, const char *url, const char *const *args,
                       bool wait_ready);

/* True once the agent's log contains needle (waits up to ms). */
bool agtest_log_wait(const struct agtest_proc *p, const char *needle, int ms);

/* Prints the agent's log to stderr (for failing tests). */
void agtest_log_dump(const struct agtest_proc *p);

/*
 * Sends sig (0: none) and waits up to ms for the process to exit. Returns
 * its exit status (0..255), 128 + signal when killed by one, or -ETIMEDOUT
 * (then it is SIGKILLed and reaped). pid is 0 afterwards.
 */
int agtest_proc_stop(struct agtest_proc *p, int sig, int ms);

/* Removes the agent's log file (after the process is stopped). */
void agtest_proc_forget(struct agtest_proc *p);

/* The app's /stats counter key, or -1. */
long agtest_backend_stat(uint16_t port, const char *key);

/* VmRSS of pid in KiB, or -1. */
long agtest_rss_kib(pid_t pid);

/* Number of TCP sockets of pid in LISTEN state (any family), or -errno;
 * *sockets (may be NULL) receives how many sockets it has at all. */
int agtest_listeners(pid_t pid, int *sockets);

/* A free loopback port with nothing listening (bound, then closed). */
uint16_t agtest_dead_port(void);

/* ------------------------------------------------------------- gateway */

/* What the test asks for; unset fields default sensibly. */
struct agtest_req {
    const char *method;      /* "GET" */
    const char *host;        /* "app.test" */
    const char *path;        /* raw path, "/" */
    const char *query;       /* raw query, NULL: none */
    const char *const *hdrs; /* extra "Key", "Value", ..., NULL */
    const void *body;
    size_t body_len;
    uint64_t window;  /* X-H8s-Window; 0: none (a Go gateway) */
    bool no_original; /* omit X-H8s-Original-Path/-Query */
    bool stream_body; /* X-H8s-Body: stream; send with agtest_send_body */
    int64_t declared; /* Content-Length of a streamed body; -1: none */
    uint8_t *keep;    /* keep the first keep_cap body bytes here */
    size_t keep_cap;
    bool manual_credit; /* the test grants response credit itself */
};

/* One exchange as the gateway sees it. */
struct agtest_reply {
    char subject[80];    /* the reply subject */
    char close_subj[96]; /* the connection-close subject */
    int nmsgs, ndata;
    bool done, single, streamed, ended, aborted, no_responders, plain, bad, overflow;
    int status; /* Status-Code */
    bool has_cl;
    uint64_t cl;
    char agent_subject[128];
    bool ready;           /* request-body stream: "ready" seen */
    uint64_t body_credit; /* credit the agent granted for the request body */
    uint64_t next_seq;
    uint8_t hdr[8192]; /* first message's header block */
    size_t hdr_len;
    crypto_hash_sha256_state sha;
    uint64_t body_len;
    uint8_t *keep; /* first keep_cap body bytes (caller's buffer) */
    size_t keep_cap, keep_len;
    uint64_t t_ms[AGTEST_TIMES_MAX]; /* arrival of each data message */
    size_t t_len[AGTEST_TIMES_MAX];
    /* response flow control, when the request had a window */
    uint64_t window, granted;
    bool manual_credit; /* the test grants itself (agtest_grant) */
    char abort_reason[64];
};

/* Replies live in the gateway's own slots, reused round-robin, so a late
 * message for an old exchange can never reach freed memory. */
struct agtest_gw {
    struct loop *l;
    struct nats_client *nc;
    struct natstest_events ev;
    struct agtest_reply *slots; /* AGTEST_REPLIES_MAX */
    unsigned counter;
};

/* Creates the loop and client and subscribes to the test inbox. */
void agtest_gw_init(struct agtest_gw *g, const char *url);
void agtest_gw_free(struct agtest_gw *g);

/* Publishes the request message q; returns its reply slot (valid until
 * AGTEST_REPLIES_MAX more requests), or NULL when publishing failed. */
struct agtest_reply *agtest_request(struct agtest_gw *g, const struct agtest_req *q);

/* Runs the loop until r is done (true) or ms pass (false). */
bool agtest_wait(struct agtest_gw *g, struct agtest_reply *r, int ms);

/* Grants response credit up to the cumulative total (to r's agent subject). */
int agtest_grant(struct agtest_gw *g, struct agtest_reply *r, uint64_t total);

/*
 * Request-body stream: waits for "ready", then sends n bytes of the
 * pattern (byte i = i % 251) in chunks of at most chunk bytes, never past
 * the agent's credit, then the end message. Returns 0, or -ETIMEDOUT when
 * the agent stopped granting for AGTEST_WAIT_MS.
 */
int agtest_send_body(struct agtest_gw *g, struct agtest_reply *r, uint64_t n, size_t chunk);

/* Publishes an abort, as h8sd does when its client goes away: the reason
 * on the close subject (close_subject), X-H8s-Control: abort to the
 * agent subject (to_agent). */
int agtest_abort(struct agtest_gw *g, struct agtest_reply *r, bool close_subject, bool to_agent);

/* The sha256 hex of n pattern bytes, and of r's body. out: 65 bytes. */
void agtest_pattern_sha(uint64_t n, char out[65]);
void agtest_body_sha(struct agtest_reply *r, char out[65]);

/* The first value of header key (case-insensitive) in r's first message,
 * copied into out; NULL when absent. idx picks among repeats. */
const char *agtest_header(const struct agtest_reply *r, const char *key, size_t idx, char *out,
                          size_t cap);

/* Monotonic milliseconds. */
uint64_t agtest_now_ms(void);

#endif
