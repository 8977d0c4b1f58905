/*
 * tests/support/agtest.c — see agtest.h.
 */
#include "tests/support/agtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "proto/h8s_ctl.h"
#include "proto/h8s_wire.h"
#include "proto/nats_hdr.h"
#include "proto/subject.h"
#include "tests/support/rawsock.h"

#define INBOX_PREFIX "_INBOX.h8s.testgw."

uint64_t agtest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ processes */

static pid_t spawn(char *const argv[], int out_fd, int err_fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127);
    int nullfd = open("/dev/null", O_RDONLY);
    if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    /* Tests block signals for their loops; the child starts clean. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], argv);
    _exit(127);
}

int agtest_backend_start(struct agtest_proc *p, const char *id)
{
    int fds[2];
    memset(p, 0, sizeof(*p));
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    char *argv[] = {"/usr/bin/python3", "tests/support/backend.py", (char *)id, NULL};
    pid_t pid = spawn(argv, fds[1], 2);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -errno;
    }
    p->pid = pid;
    char line[64];
    size_t len = 0;
    uint64_t deadline = agtest_now_ms() + AGTEST_WAIT_MS;
    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        struct pollfd pf = {fds[0], POLLIN, 0};
        uint64_t now = agtest_now_ms();
        if (now >= deadline || poll(&pf, 1, (int)(deadline - now)) <= 0)
            break;
        ssize_t n = read(fds[0], line + len, sizeof(line) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fds[0]);
    line[len] = '\0';
    unsigned port;
    if (sscanf(line, "PORT %u", &port) != 1 || port == 0 || port > 65535) {
        agtest_proc_stop(p, SIGKILL, 1000);
        return -ECHILD;
    }
    p->port = (uint16_t)port;
    return 0;
}

int agtest_agent_start(struct agtest_proc *p, const char *url, const char *const *args,
                       bool wait_ready)
{
    static unsigned seq;
    char exe[512], urlarg[300];
    const char *build = getenv("BUILD");
    const char *tmp = getenv("TMPDIR");
    memset(p, 0, sizeof(*p));
    snprintf(exe, sizeof(exe), "%s/h8srd", build && *build ? build : "build");
    snprintf(p->log_path, sizeof(p->log_path), "%s/h8srd-test-%d-%u.log",
             tmp && *tmp ? tmp : "/tmp", (int)getpid(), seq++);
    snprintf(urlarg, sizeof(urlarg), "--nats-url=%s", url);
    int logfd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0)
        return -errno;
    char *argv[64];
    size_t n = 0;
    argv[n++] = exe;
    argv[n++] = urlarg;
    for (size_t i = 0; args && args[i] && n < 62; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid = spawn(argv, logfd, logfd);
    close(logfd);
    if (pid < 0)
        return -errno;
    p->pid = pid;
    if (wait_ready && !agtest_log_wait(p, "event=agent_ready", AGTEST_WAIT_MS)) {
        agtest_log_dump(p);
        agtest_proc_stop(p, SIGKILL, 1000);
        return -ETIMEDOUT;
    }
    return 0;
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    if (fd < 0)
        return 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    return len;
}

bool agtest_log_wait(const struct agtest_proc *p, const char *needle, int ms)
{
    static char buf[1 << 20];
    uint64_t deadline = agtest_now_ms() + (uint64_t)ms;
    for (;;) {
        read_file(p->log_path, buf, sizeof(buf));
        if (strstr(buf, needle))
            return true;
        if (agtest_now_ms() >= deadline)
            return false;
        usleep(20000);
    }
}

void agtest_log_dump(const struct agtest_proc *p)
{
    static char buf[1 << 16];
    read_file(p->log_path, buf, sizeof(buf));
    fprintf(stderr, "---- %s ----\n%s---- end ----\n", p->log_path, buf);
}

int agtest_proc_stop(struct agtest_proc *p, int sig, int ms)
{
    int status = 0;
    if (p->pid <= 0)
        return -ESRCH;
    if (sig)
        kill(p->pid, sig);
    uint64_t deadline = agtest_now_ms() + (uint64_t)ms;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (agtest_now_ms() >= deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            p->pid = 0;
            return -ETIMEDOUT;
        }
        usleep(10000);
    }
    p->pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

void agtest_proc_forget(struct agtest_proc *p)
{
    if (p->log_path[0])
        unlink(p->log_path);
    p->log_path[0] = '\0';
}

long agtest_backend_stat(uint16_t port, const char *key)
{
    static struct rawsock_buf b;
    char pat[64];
    if (rawsock_http_get(port, "/stats", &b, 3000) != 200)
        return -1;
    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    const char *at = strstr(b.buf, pat);
    return at ? strtol(at + strlen(pat), NULL, 10) : -1;
}

long agtest_rss_kib(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!read_file(path, buf, sizeof(buf)))
        return -1;
    const char *at = strstr(buf, "VmRSS:");
    return at ? strtol(at + 6, NULL, 10) : -1;
}

/* Inodes of pid's sockets into ino[] (at most cap). */
static int socket_inodes(pid_t pid, unsigned long *ino, int cap)
{
    char dir[64], path[320], target[128];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t k = readlink(path, target, sizeof(target) - 1);
        if (k <= 0)
            continue;
        target[k] = '\0';
        if (sscanf(target, "socket:[%lu]", &ino[n]) == 1)
            n++;
    }
    closedir(d);
    return n;
}

int agtest_listeners(pid_t pid, int *sockets)
{
    unsigned long ino[256];
    int n = socket_inodes(pid, ino, 256), listening = 0;
    static char buf[1 << 20];
    if (n < 0)
        return n;
    if (sockets)
        *sockets = n;
    static const char *const tables[] = {"tcp", "tcp6"};
    for (size_t t = 0; t < 2; t++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, tables[t]);
        read_file(path, buf, sizeof(buf));
        char *line = strchr(buf, '\n'); /* skip the title line */
        while (line && *++line) {
            char *next = strchr(line, '\n');
            if (next)
                *next = '\0';
            unsigned st;
            unsigned long inode;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
            if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &st, &inode) == 2 &&
                st == 0x0A) {
                for (int i = 0; i < n; i++)
                    listening += ino[i] == inode;
            }
            line = next;
        }
    }
    return listening;
}

uint16_t agtest_dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* -------------------------------------------------------------- pattern */

static void pattern_fill(uint8_t *p, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((off + i) % 251);
}

static void hex(const uint8_t h[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

void agtest_pattern_sha(uint64_t n, char out[65])
{
    crypto_hash_sha256_state s;
    uint8_t buf[65536], h[32];
    crypto_hash_sha256_init(&s);
    for (uint64_t off = 0; off < n;) {
        size_t k = n - off < sizeof(buf) ? (size_t)(n - off) : sizeof(buf);
        pattern_fill(buf, off, k);
        crypto_hash_sha256_update(&s, buf, k);
        off += k;
    }
    crypto_hash_sha256_final(&s, h);
    hex(h, out);
}

void agtest_body_sha(struct agtest_reply *r, char out[65])
{
    uint8_t h[32];
    crypto_hash_sha256_state s = r->sha;
    crypto_hash_sha256_final(&s, h);
    hex(h, out);
}

/* -------------------------------------------------------------- gateway */

static struct agtest_reply *find_reply(struct agtest_gw *g, struct span subj)
{
    for (size_t i = 0; i < AGTEST_REPLIES_MAX; i++) {
        struct agtest_reply *r = &g->slots[i];
        if (strlen(r->subject) == subj.n && memcmp(r->subject, subj.p, subj.n) == 0)
            return r;
    }
    return NULL;
}

static int publish_ctl(struct agtest_gw *g, const char *subject, struct span hdr, struct span data)
{
    return nats_client_publish(g->nc, span_cstr(subject), span_make(NULL, 0), hdr, data);
}

int agtest_grant(struct agtest_gw *g, struct agtest_reply *r, uint64_t total)
{
    uint8_t b[H8S_CTL_HDR_MAX];
    struct span hdr;
    if (!r->agent_subject[0] || total <= r->granted)
        return 0;
    if (h8s_ctl_build_credit(b, sizeof(b), total, &hdr) != 0)
        return -EINVAL;
    r->granted = total;
    return publish_ctl(g, r->agent_subject, hdr, span_make(NULL, 0));
}

static void on_first(struct agtest_reply *r, const struct nats_msg *m, const struct h8s_ctl *c)
{
    if (m->hdr.n == 0) {
        r->plain = r->single = r->done = true;
        r->status = 200;
        return;
    }
    if ((c->has & H8S_CTL_HAS_STATUS) && c->status == NATS_HDR_STATUS_NO_RESPONDERS) {
        r->no_responders = r->done = true;
        return;
    }
    size_t n = m->hdr.n < sizeof(r->hdr) ? m->hdr.n : sizeof(r->hdr);
    memcpy(r->hdr, m->hdr.p, n);
    r->hdr_len = n;
    char v[32];
    r->status = agtest_header(r, "Status-Code", 0, v, sizeof(v)) ? atoi(v) : 200;
    if (agtest_header(r, "Content-Length", 0, v, sizeof(v))) {
        r->has_cl = true;
        r->cl = strtoull(v, NULL, 10);
        r->single = r->done = true;
    } else {
        r->streamed = true;
        r->next_seq = 1;
    }
    if (c->has & H8S_CTL_HAS_AGENT)
        snprintf(r->agent_subject, sizeof(r->agent_subject), "%.*s", (int)c->agent_subject.n,
                 (const char *)c->agent_subject.p);
}

static void add_body(struct agtest_reply *r, struct span data)
{
    if (data.n == 0)
        return;
    crypto_hash_sha256_update(&r->sha, data.p, data.n);
    if (r->keep && r->keep_len < r->keep_cap) {
        size_t k = r->keep_cap - r->keep_len < data.n ? r->keep_cap - r->keep_len : data.n;
        memcpy(r->keep + r->keep_len, data.p, k);
        r->keep_len += k;
    }
    if (r->ndata < AGTEST_TIMES_MAX) {
        r->t_ms[r->ndata] = agtest_now_ms();
        r->t_len[r->ndata] = data.n;
    }
    r->ndata++;
    r->body_len += data.n;
}

static void on_inbox(struct nats_client *nc, struct nats_sub *sub, const struct nats_msg *m,
                     void *cookie)
{
    struct agtest_gw *g = cookie;
    struct h8s_ctl c;
    (void)nc;
    (void)sub;
    struct agtest_reply *r = find_reply(g, m->subject);
    if (!r)
        return;
    if (h8s_ctl_parse(&c, m->hdr) != 0) {
        r->bad = r->done = true;
        return;
    }
    if (c.kind == H8S_CTL_READY) {
        r->ready = true;
        r->body_credit = c.credit;
        snprintf(r->agent_subject, sizeof(r->agent_subject), "%.*s", (int)c.agent_subject.n,
                 (const char *)c.agent_subject.p);
        return;
    }
    if (c.kind == H8S_CTL_CREDIT) {
        if (c.credit > r->body_credit)
            r->body_credit = c.credit;
        return;
    }
    if (c.kind == H8S_CTL_ABORT) {
        r->aborted = r->done = true;
        snprintf(r->abort_reason, sizeof(r->abort_reason), "%.*s", (int)c.reason.n,
                 (const char *)c.reason.p);
        return;
    }
    if (r->done) {
        r->bad = true; /* nothing may follow a complete answer */
        return;
    }
    if (r->nmsgs++ == 0) {
        on_first(r, m, &c);
        add_body(r, m->payload);
    } else {
        if (!(c.has & H8S_CTL_HAS_SEQ) || c.seq != r->next_seq) {
            r->bad = r->done = true;
            return;
        }
        r->next_seq++;
        if (m->payload.n == 0) {
            r->ended = r->done = true;
            return;
        }
        add_body(r, m->payload);
    }
    if (r->single && r->has_cl && r->body_len != r->cl && r->status != 304 &&
        !(r->hdr_len && r->cl && r->body_len == 0))
        r->bad = true;
    /* A flow-controlled stream never goes past the credit granted. */
    if (r->window && r->streamed && r->body_len > r->granted)
        r->bad = r->overflow = true;
    /* A gateway grants as its client reads; this one reads at once. */
    if (r->window && !r->manual_credit && r->streamed &&
        r->body_len + r->window >= r->granted + r->window / 2)
        agtest_grant(g, r, r->body_len + r->window);
}

void agtest_gw_init(struct agtest_gw *g, const char *url)
{
    struct nats_client_config cfg;
    memset(g, 0, sizeof(*g));
    g->slots = calloc(AGTEST_REPLIES_MAX, sizeof(*g->slots));
    if (!g->slots)
        abort();
    g->l = natstest_loop();
    natstest_config(&cfg, url, &g->ev);
    g->nc = natstest_client(g->l, &cfg);
    if (!natstest_wait_up(g->l, &g->ev, 1) ||
        nats_client_subscribe(g->nc, SPAN_LIT(INBOX_PREFIX "*"), span_make(NULL, 0), on_inbox, g,
                              NULL) != 0 ||
        natstest_flush(g->l, g->nc) != 0) {
        fprintf(stderr, "agtest: gateway client not up\n");
        abort();
    }
}

void agtest_gw_free(struct agtest_gw *g)
{
    nats_client_destroy(g->nc);
    loop_destroy(g->l);
    free(g->slots);
    memset(g, 0, sizeof(*g));
}

struct agtest_reply *agtest_request(struct agtest_gw *g, const struct agtest_req *q)
{
    static uint8_t block[NATS_HDR_MAX];
    uint8_t subj[SUBJECT_MAX];
    char num[32];
    const char *method = q->method ? q->method : "GET";
    const char *host = q->host ? q->host : "app.test";
    const char *path = q->path ? q->path : "/";
    unsigned id = ++g->counter;
    struct agtest_reply *r = &g->slots[id % AGTEST_REPLIES_MAX];

    memset(r, 0, sizeof(*r));
    r->keep = q->keep;
    r->keep_cap = q->keep_cap;
    r->manual_credit = q->manual_credit;
    crypto_hash_sha256_init(&r->sha);
    snprintf(r->subject, sizeof(r->subject), INBOX_PREFIX "r%u", id);
    snprintf(r->close_subj, sizeof(r->close_subj), SUBJECT_CONN_CLOSED_PREFIX "testgw.r%u", id);
    r->window = q->window;
    r->granted = q->window;

    int sn =
        subject_request(subj, sizeof(subj), span_cstr(method), span_cstr(host), span_cstr(path));
    if (sn < 0)
        return NULL;
    struct nats_hdr_builder b;
    struct span hdr;
    nats_hdr_build_init(&b, block, sizeof(block), 0, span_make(NULL, 0));
    nats_hdr_build_add(&b, SPAN_LIT("Host"), span_cstr(host));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_PUBLISH_SUBJECT), span_make(subj, (size_t)sn));
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_REPLY_SUBJECT), span_cstr(r->subject));
    if (!q->no_original) {
        nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_ORIGINAL_PATH), span_cstr(path));
        nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_ORIGINAL_QUERY),
                           span_cstr(q->query ? q->query : ""));
    }
    nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_CLOSE_SUBJECT), span_cstr(r->close_subj));
    nats_hdr_build_add(&b, SPAN_LIT("X-Forwarded-For"), SPAN_LIT("192.0.2.7"));
    nats_hdr_build_add(&b, SPAN_LIT("X-Forwarded-Proto"), SPAN_LIT("http"));
    nats_hdr_build_add(&b, SPAN_LIT("X-Forwarded-Host"), span_cstr(host));
    if (q->window) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)q->window);
        nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_WINDOW), span_cstr(num));
    }
    if (q->stream_body) {
        nats_hdr_build_add(&b, SPAN_LIT(H8S_HDR_BODY), SPAN_LIT(H8S_BODY_STREAM));
        if (q->declared >= 0) {
            snprintf(num, sizeof(num), "%lld", (long long)q->declared);
            nats_hdr_build_add(&b, SPAN_LIT("Content-Length"), span_cstr(num));
        }
    } else if (q->body_len) {
        snprintf(num, sizeof(num), "%zu", q->body_len);
        nats_hdr_build_add(&b, SPAN_LIT("Content-Length"), span_cstr(num));
    }
    for (size_t i = 0; q->hdrs && q->hdrs[i]; i += 2)
        nats_hdr_build_add(&b, span_cstr(q->hdrs[i]), span_cstr(q->hdrs[i + 1]));
    if (nats_hdr_build_finish(&b, &hdr) != 0 ||
        nats_client_publish(g->nc, span_make(subj, (size_t)sn), span_cstr(r->subject), hdr,
                            span_make(q->body, q->body_len)) != 0)
        return NULL;
    return r;
}

static bool reply_done(void *arg)
{
    return ((struct agtest_reply *)arg)->done;
}

bool agtest_wait(struct agtest_gw *g, struct agtest_reply *r, int ms)
{
    return natstest_run_until(g->l, reply_done, r, ms);
}

struct body_wait {
    struct agtest_reply *r;
    uint64_t need;
};

static bool credit_ok(void *arg)
{
    struct body_wait *w = arg;
    return w->r->done || (w->r->ready && w->r->body_credit >= w->need);
}

int agtest_send_body(struct agtest_gw *g, struct agtest_reply *r, uint64_t n, size_t chunk)
{
    static uint8_t buf[1 << 20];
    uint8_t hb[H8S_CTL_HDR_MAX];
    struct span hdr;
    uint64_t off = 0, seq = 1;
    if (chunk > sizeof(buf))
        chunk = sizeof(buf);
    while (off < n) {
        struct body_wait w = {r, off + 1};
        if (!natstest_run_until(g->l, credit_ok, &w, AGTEST_WAIT_MS) || r->done)
            return -ETIMEDOUT;
        uint64_t room = r->body_credit - off;
        size_t k = chunk;
        if (k > room)
            k = (size_t)room;
        if (k > n - off)
            k = (size_t)(n - off);
        pattern_fill(buf, off, k);
        if (h8s_ctl_build_seq(hb, sizeof(hb), seq, &hdr) != 0)
            return -EINVAL;
        int rc;
        while ((rc = publish_ctl(g, r->agent_subject, hdr, span_make(buf, k))) == NATS_E_AGAIN)
            natstest_run_for(g->l, 1);
        if (rc != 0)
            return rc;
        seq++;
        off += k;
        natstest_run_until(g->l, NULL, NULL, 0);
    }
    if (!r->ready) {
        struct body_wait w = {r, 0};
        if (!natstest_run_until(g->l, credit_ok, &w, AGTEST_WAIT_MS))
            return -ETIMEDOUT;
    }
    if (h8s_ctl_build_seq(hb, sizeof(hb), seq, &hdr) != 0)
        return -EINVAL;
    return publish_ctl(g, r->agent_subject, hdr, span_make(NULL, 0));
}

int agtest_abort(struct agtest_gw *g, struct agtest_reply *r, bool close_subject, bool to_agent)
{
    int rc = 0;
    if (close_subject)
        rc = publish_ctl(g, r->close_subj, span_make(NULL, 0), SPAN_LIT(H8S_REASON_CLIENT_CLOSED));
    if (rc == 0 && to_agent && r->agent_subject[0]) {
        uint8_t b[H8S_CTL_HDR_MAX];
        struct span hdr;
        if (h8s_ctl_build_abort(b, sizeof(b), SPAN_LIT(H8S_REASON_CLIENT_CLOSED), &hdr) == 0)
            rc = publish_ctl(g, r->agent_subject, hdr, span_make(NULL, 0));
    }
    return rc;
}

const char *agtest_header(const struct agtest_reply *r, const char *key, size_t idx, char *out,
                          size_t cap)
{
    struct nats_hdr h;
    struct nats_hdr_iter it;
    struct span k, v;
    if (r->hdr_len == 0 || nats_hdr_parse(&h, span_make(r->hdr, r->hdr_len)) != 0)
        return NULL;
    nats_hdr_iter_init(&it, &h);
    while (nats_hdr_next(&it, &k, &v)) {
        if (span_eq_nocase(k, span_cstr(key)) && idx-- == 0) {
            snprintf(out, cap, "%.*s", (int)v.n, (const char *)v.p);
            return out;
        }
    }
    return NULL;
}
