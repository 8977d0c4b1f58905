/* see tunnel.h: the tunnel's processes (tunnel_run.c runs the clients) */
#include "tests/support/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/natsd.h"
#include "tests/support/rawsock.h"

#define POLL_MS 10
/* Pattern bytes made per step. */
#define PATTERN_BLOCK 8192
/* Largest log read back whole for searching. */
#define LOG_READ_MAX (8u << 20)
/* Lines of a sanitizer report in a daemon's log: any is a failure. */
static const char *const sanitizer_marks[] = {
    "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer",
};

uint64_t tunnel_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void tunnel_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------ paths */

static int is_exec(const char *dir, const char *name)
{
    char p[TUNNEL_PATH_MAX];
    if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
        return 0;
    return access(p, X_OK) == 0;
}

static int is_file(const char *dir, const char *name)
{
    char p[TUNNEL_PATH_MAX];
    if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
        return 0;
    return access(p, R_OK) == 0;
}

/* Cuts the last path component off p in place; 0 when there is none. */
static int up(char *p)
{
    char *s = strrchr(p, '/');
    if (s == NULL || s == p)
        return 0;
    *s = '\0';
    return 1;
}

/*
 * The daemons sit one level above the test binary's directory
 * (<build>/tests/test_x, <build>/h8sd): `make asan` builds both under
 * build/asan. The source tree is the nearest ancestor holding this file.
 */
static int find_dirs(struct tunnel *t)
{
    char exe[TUNNEL_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0 || (size_t)n >= sizeof(exe) - 1)
        return -ENAMETOOLONG;
    exe[n] = '\0';
    if (!up(exe) || !up(exe))
        return -ENOENT;
    if (strlen(exe) >= sizeof(t->bindir))
        return -ENAMETOOLONG;
    memcpy(t->bindir, exe, strlen(exe) + 1);
    if (!is_exec(t->bindir, "h8sd") || !is_exec(t->bindir, "h8srd")) {
        fprintf(stderr, "tunnel: no h8sd/h8srd in %s (build them first: make all)\n", t->bindir);
        return -ENOENT;
    }
    do {
        if (is_file(exe, "tests/support/tunnel.h")) {
            if (strlen(exe) >= sizeof(t->srcdir))
                return -ENAMETOOLONG;
            memcpy(t->srcdir, exe, strlen(exe) + 1);
            return 0;
        }
    } while (up(exe));
    fprintf(stderr, "tunnel: no source tree above %s\n", t->bindir);
    return -ENOENT;
}

/* "app.test" → "test.app": the subject form of a DNS name. */
static void reverse_host(const char *host, char *out, size_t cap)
{
    size_t len = strlen(host), o = 0;
    size_t end = len;
    out[0] = '\0';
    while (end > 0) {
        size_t start = end;
        while (start > 0 && host[start - 1] != '.')
            start--;
        int k = snprintf(out + o, cap - o, "%s%.*s", o ? "." : "", (int)(end - start), host + start);
        if (k < 0 || (size_t)k >= cap - o)
            return;
        o += (size_t)k;
        end = start ? start - 1 : 0;
    }
}

/* ------------------------------------------------------------ processes */

static int spawn(struct tunnel *t, struct tunnel_proc *p, const char *name, char *const argv[])
{
    pid_t parent = getpid();
    int logfd, nullfd;

    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    if ((size_t)snprintf(p->log, sizeof(p->log), "%s/%s.log", t->dir, name) >= sizeof(p->log))
        return -ENAMETOOLONG;
    /* A restarted process appends to the log of the one before; searches
     * look at its own part only. */
    logfd = open(p->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (logfd < 0)
        return -errno;
    p->log_start = lseek(logfd, 0, SEEK_END);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        close(logfd);
        return -errno;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        /* Die with the test, even when it crashes or is killed. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        /* Tests block signals for their loops; the child starts clean. */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            _exit(127);
        close_range(3, ~0u, 0);
        execv(argv[0], argv);
        dprintf(2, "tunnel: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    if (pid < 0)
        return -errno;
    p->pid = pid;
    p->started = 1;
    return 0;
}

/* Reaps p if it has exited. Returns 1 when it is gone. */
static int reap(struct tunnel_proc *p)
{
    int status;
    if (p->pid == 0)
        return 1;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == 0)
        return 0;
    p->status = r == p->pid ? status : 0;
    if (!p->expect_exit) {
        p->died = 1;
        fprintf(stderr, "tunnel: %s (pid %d) exited unasked: %s %d\n", p->name, (int)p->pid,
                WIFSIGNALED(status) ? "signal" : "status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    p->pid = 0;
    return 1;
}

static int exit_code(const struct tunnel_proc *p)
{
    if (WIFSIGNALED(p->status))
        return 128 + WTERMSIG(p->status);
    return WEXITSTATUS(p->status);
}

int tunnel_proc_signal(struct tunnel_proc *p, int sig)
{
    if (reap(p))
        return -ESRCH;
    if (sig == SIGTERM || sig == SIGKILL || sig == SIGINT)
        p->expect_exit = 1;
    return kill(p->pid, sig) == 0 ? 0 : -errno;
}

int tunnel_proc_wait(struct tunnel_proc *p, int timeout_ms)
{
    uint64_t deadline = tunnel_now_ms() + (uint64_t)timeout_ms;
    if (!p->started)
        return -ESRCH;
    for (;;) {
        if (reap(p))
            return exit_code(p);
        if (tunnel_now_ms() >= deadline)
            return -ETIMEDOUT;
        tunnel_sleep_ms(POLL_MS);
    }
}

int tunnel_proc_stop(struct tunnel_proc *p)
{
    if (!p->started)
        return -ESRCH;
    if (reap(p))
        return exit_code(p);
    p->expect_exit = 1;
    kill(p->pid, SIGTERM);
    kill(p->pid, SIGCONT);
    int rc = tunnel_proc_wait(p, TUNNEL_WAIT_MS);
    if (rc == -ETIMEDOUT) {
        fprintf(stderr, "tunnel: %s did not exit %d ms after SIGTERM: SIGKILL\n", p->name,
                TUNNEL_WAIT_MS);
        kill(p->pid, SIGKILL);
        rc = tunnel_proc_wait(p, TUNNEL_WAIT_MS);
        if (rc >= 0)
            rc = -ETIMEDOUT;
    }
    return rc;
}

/* ------------------------------------------------------------ logs */

/* The log of the current run (whole: all runs) of p, at most LOG_READ_MAX
 * bytes, NUL-terminated, malloc'd. */
static char *read_log_from(const struct tunnel_proc *p, size_t *len, int whole)
{
    FILE *f = fopen(p->log, "re");
    if (f == NULL)
        return NULL;
    if (!whole && p->log_start > 0 && fseeko(f, p->log_start, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    char *b = malloc(LOG_READ_MAX + 1);
    size_t n = b ? fread(b, 1, LOG_READ_MAX, f) : 0;
    fclose(f);
    if (b) {
        b[n] = '\0';
        if (len)
            *len = n;
    }
    return b;
}

static char *read_log(const struct tunnel_proc *p, size_t *len)
{
    return read_log_from(p, len, 0);
}

int tunnel_log_has(const struct tunnel_proc *p, const char *needle)
{
    char *b = read_log(p, NULL);
    int found = b && strstr(b, needle) != NULL;
    free(b);
    return found;
}

int tunnel_log_count(const struct tunnel_proc *p, const char *needle)
{
    char *b = read_log(p, NULL);
    int n = 0;
    for (char *s = b; s && (s = strstr(s, needle)) != NULL;) {
        n++;
        s = strchr(s, '\n');
    }
    free(b);
    return n;
}

int tunnel_log_wait(const struct tunnel_proc *p, const char *needle, int timeout_ms)
{
    uint64_t deadline = tunnel_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (tunnel_log_has(p, needle))
            return 1;
        if (tunnel_now_ms() >= deadline)
            return 0;
        tunnel_sleep_ms(POLL_MS * 2);
    }
}

static void dump_one(const struct tunnel_proc *p)
{
    size_t n = 0;
    if (!p->started)
        return;
    char *b = read_log_from(p, &n, 1);
    fprintf(stderr, "----- %s log (%s) -----\n", p->name, p->log);
    if (b && n)
        fwrite(b, 1, n, stderr);
    if (n && b[n - 1] != '\n')
        fputc('\n', stderr);
    fprintf(stderr, "----- end of %s log -----\n", p->name);
    free(b);
}

void tunnel_dump_logs(const struct tunnel *t)
{
    dump_one(&t->gw);
    for (unsigned i = 0; i < TUNNEL_AGENTS_MAX; i++)
        dump_one(&t->agent[i]);
    for (unsigned i = 0; i < TUNNEL_AGENTS_MAX; i++)
        dump_one(&t->backend[i]);
    dump_one(&t->responder);
    if (t->nd)
        natsd_dump_log(t->nd, stderr);
}

int tunnel_check(struct tunnel *t)
{
    struct tunnel_proc *all[] = {&t->gw,         &t->responder,  &t->agent[0],
                                 &t->agent[1],   &t->backend[0], &t->backend[1]};
    int bad = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        struct tunnel_proc *p = all[i];
        if (p->started && !p->expect_exit && reap(p))
            bad = 1;
        bad |= p->died;
    }
    return bad ? -1 : 0;
}

static int has_sanitizer_report(const struct tunnel_proc *p)
{
    char *b = p->started ? read_log_from(p, NULL, 1) : NULL;
    int found = 0;
    for (size_t i = 0; b && i < sizeof(sanitizer_marks) / sizeof(sanitizer_marks[0]); i++)
        found |= strstr(b, sanitizer_marks[i]) != NULL;
    free(b);
    return found;
}

/* ------------------------------------------------------------ readiness */

/* Polls for a "PORT <n>" line in p's log (what backend.py prints). */
static int wait_port_line(struct tunnel_proc *p, uint16_t *port)
{
    uint64_t deadline = tunnel_now_ms() + TUNNEL_WAIT_MS;
    while (tunnel_now_ms() < deadline) {
        char *b = read_log(p, NULL);
        char *s = b ? strstr(b, "PORT ") : NULL;
        unsigned v = 0;
        int ok = s && strchr(s, '\n') && sscanf(s, "PORT %u", &v) == 1 && v > 0 && v < 65536;
        free(b);
        if (ok) {
            *port = (uint16_t)v;
            return 0;
        }
        if (reap(p))
            return -ECHILD;
        tunnel_sleep_ms(POLL_MS);
    }
    return -ETIMEDOUT;
}

/* Number of times the quoted subject appears in the server's /connz
 * subscription lists, or -errno. */
static int count_subs(const struct tunnel *t, const char *subject)
{
    struct rawsock_buf *b = malloc(sizeof(*b));
    char quoted[300];
    if (b == NULL)
        return -ENOMEM;
    int n = rawsock_http_get(natsd_monitor_port(t->nd), "/connz?subs=1&limit=64", b, 2000);
    if (n == 200) {
        snprintf(quoted, sizeof(quoted), "\"%s\"", subject);
        n = 0;
        for (const char *s = b->buf; (s = strstr(s, quoted)) != NULL; s += strlen(quoted))
            n++;
    } else if (n >= 0) {
        n = -EPROTO;
    }
    free(b);
    return n;
}

static int wait_subs(const struct tunnel *t, struct tunnel_proc *p, const char *subject, int n)
{
    uint64_t deadline = tunnel_now_ms() + TUNNEL_WAIT_MS;
    while (tunnel_now_ms() < deadline) {
        if (count_subs(t, subject) >= n)
            return 0;
        if (reap(p))
            return -ECHILD;
        tunnel_sleep_ms(POLL_MS);
    }
    return -ETIMEDOUT;
}

/* ------------------------------------------------------------ parts */

static int start_backend(struct tunnel *t, unsigned i)
{
    char script[TUNNEL_PATH_MAX], name[32], id[8];
    snprintf(script, sizeof(script), "%s/tests/support/backend.py", t->srcdir);
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "tunnel: %s missing\n", script);
        return -ENOENT;
    }
    snprintf(name, sizeof(name), "backend-%u", i);
    snprintf(id, sizeof(id), "b%u", i);
    char *argv[] = {(char *)"/usr/bin/python3", script, id, NULL};
    int rc = spawn(t, &t->backend[i], name, argv);
    if (rc == 0)
        rc = wait_port_line(&t->backend[i], &t->backend_port[i]);
    return rc;
}

/* Copies NULL-terminated extra arguments after n fixed ones. */
static int add_args(char **argv, size_t n, const char *const *extra)
{
    for (size_t i = 0; extra && extra[i]; i++) {
        if (n >= TUNNEL_ARGS_MAX - 1)
            return -E2BIG;
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    return 0;
}

static int start_agent(struct tunnel *t, unsigned i, const struct tunnel_opts *o)
{
    char exe[TUNNEL_PATH_MAX], url[80], host[80], backend[80], group[96], name[32], rhost[80];
    char sub[128];
    char *argv[TUNNEL_ARGS_MAX];
    size_t n = 0;

    snprintf(exe, sizeof(exe), "%s/h8srd", t->bindir);
    snprintf(url, sizeof(url), "--nats-url=%s", natsd_url(t->nd));
    snprintf(host, sizeof(host), "--hostname=%s", TUNNEL_HOST);
    snprintf(backend, sizeof(backend), "--backend-url=http://127.0.0.1:%u",
             (unsigned)t->backend_port[i]);
    argv[n++] = exe;
    argv[n++] = url;
    argv[n++] = host;
    argv[n++] = backend;
    if (o->queue_group) {
        snprintf(group, sizeof(group), "--queue-group=%s", o->queue_group);
        argv[n++] = group;
    }
    int rc = add_args(argv, n, o->agent_args);
    if (rc < 0)
        return rc;
    snprintf(name, sizeof(name), "h8srd-%u", i);
    if ((rc = spawn(t, &t->agent[i], name, argv)) < 0)
        return rc;
    reverse_host(TUNNEL_HOST, rhost, sizeof(rhost));
    /* Both subscriptions; the server's JSON writes '>' as \u003e. */
    snprintf(sub, sizeof(sub), "h8s.http.*.%s", rhost);
    if ((rc = wait_subs(t, &t->agent[i], sub, (int)i + 1)) < 0)
        return rc;
    snprintf(sub, sizeof(sub), "h8s.http.*.%s.\\u003e", rhost);
    return wait_subs(t, &t->agent[i], sub, (int)i + 1);
}

static int start_responder(struct tunnel *t)
{
    char script[TUNNEL_PATH_MAX], port[16], rhost[80];
    snprintf(script, sizeof(script), "%s/tests/support/nats_responder.py", t->srcdir);
    snprintf(port, sizeof(port), "%u", (unsigned)natsd_port(t->nd));
    reverse_host(TUNNEL_RESPONDER_HOST, rhost, sizeof(rhost));
    char *argv[] = {(char *)"/usr/bin/python3", script, port, rhost, NULL};
    int rc = spawn(t, &t->responder, "responder", argv);
    if (rc < 0)
        return rc;
    uint64_t deadline = tunnel_now_ms() + TUNNEL_WAIT_MS;
    while (!tunnel_log_has(&t->responder, "READY\n")) {
        if (reap(&t->responder))
            return -ECHILD;
        if (tunnel_now_ms() >= deadline)
            return -ETIMEDOUT;
        tunnel_sleep_ms(POLL_MS);
    }
    return 0;
}

/* Reads "port=N" and "workers=N" from h8sd's event=listening line. */
static int parse_listening(struct tunnel *t)
{
    char *b = read_log(&t->gw, NULL);
    char *s = b ? strstr(b, "event=listening") : NULL;
    char *eol = s ? strchr(s, '\n') : NULL;
    int rc = -EAGAIN;
    if (eol) {
        *eol = '\0';
        char *p = strstr(s, " port=");
        char *w = strstr(s, " workers=");
        unsigned long port = p ? strtoul(p + 6, NULL, 10) : 0;
        t->gw_workers = w ? (unsigned)strtoul(w + 9, NULL, 10) : 1;
        if (port > 0 && port < 65536) {
            t->port = (uint16_t)port;
            rc = 0;
        } else {
            rc = -EPROTO;
        }
    }
    free(b);
    return rc;
}

int tunnel_gw_start(struct tunnel *t, const char *const *args)
{
    char exe[TUNNEL_PATH_MAX], url[80];
    char *argv[TUNNEL_ARGS_MAX];
    size_t n = 0;

    snprintf(exe, sizeof(exe), "%s/h8sd", t->bindir);
    snprintf(url, sizeof(url), "--nats-url=%s", natsd_url(t->nd));
    argv[n++] = exe;
    argv[n++] = url;
    argv[n++] = (char *)"--listen=127.0.0.1:0";
    argv[n++] = (char *)"--workers=1";
    int rc = add_args(argv, n, args);
    if (rc < 0)
        return rc;
    if ((rc = spawn(t, &t->gw, "h8sd", argv)) < 0)
        return rc;
    t->port = 0;
    uint64_t deadline = tunnel_now_ms() + TUNNEL_WAIT_MS;
    for (;;) {
        if (reap(&t->gw))
            return -ECHILD;
        if (t->port == 0 && (rc = parse_listening(t)) == -EPROTO)
            return rc;
        if (t->port && tunnel_log_count(&t->gw, "event=nats_connected") >= (int)t->gw_workers)
            break;
        if (tunnel_now_ms() >= deadline)
            return -ETIMEDOUT;
        tunnel_sleep_ms(POLL_MS);
    }
    snprintf(t->url, sizeof(t->url), "http://127.0.0.1:%u", (unsigned)t->port);
    return 0;
}

int tunnel_start(struct tunnel *t, const struct tunnel_opts *o)
{
    static const struct tunnel_opts one_agent = {.agents = 1};
    const char *tmp = getenv("TMPDIR");
    int rc;

    memset(t, 0, sizeof(*t));
    if (o == NULL)
        o = &one_agent;
    if (o->agents > TUNNEL_AGENTS_MAX)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    if ((rc = find_dirs(t)) < 0)
        return rc;
    snprintf(t->dir, sizeof(t->dir), "%s/h8s-tunnel-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(t->dir) == NULL) {
        rc = -errno;
        t->dir[0] = '\0';
        return rc;
    }
    struct natsd_opts no = {.conf = o->nats_conf};
    if ((rc = natsd_start(&t->nd, &no)) < 0)
        goto err;
    for (unsigned i = 0; i < o->agents; i++) {
        if ((rc = start_backend(t, i)) < 0 || (rc = start_agent(t, i, o)) < 0)
            goto err;
        t->nagents++;
    }
    if (o->responder && (rc = start_responder(t)) < 0)
        goto err;
    if ((rc = tunnel_gw_start(t, o->gw_args)) < 0)
        goto err;
    return 0;
err:
    fprintf(stderr, "tunnel: start failed: %s\n", strerror(-rc));
    t->passed = 0;
    tunnel_dump_logs(t);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Stops a daemon that must exit 0 on SIGTERM. Returns 0 when it did. */
static int stop_daemon(struct tunnel_proc *p)
{
    if (!p->started)
        return 0;
    int rc = tunnel_proc_stop(p);
    if (p->died) {
        fprintf(stderr, "tunnel: %s had died before the end of the test\n", p->name);
        return -1;
    }
    if (rc != 0) {
        fprintf(stderr, "tunnel: %s exited with %d after SIGTERM, not 0\n", p->name, rc);
        return -1;
    }
    return 0;
}

int tunnel_stop(struct tunnel *t)
{
    int bad = 0;

    bad |= stop_daemon(&t->gw);
    if (t->responder.started)
        tunnel_proc_stop(&t->responder);
    for (unsigned i = 0; i < TUNNEL_AGENTS_MAX; i++)
        bad |= stop_daemon(&t->agent[i]);
    for (unsigned i = 0; i < TUNNEL_AGENTS_MAX; i++) {
        if (t->backend[i].started)
            tunnel_proc_stop(&t->backend[i]);
        bad |= t->backend[i].died;
    }
    bad |= t->responder.died;
    const struct tunnel_proc *daemons[] = {&t->gw, &t->agent[0], &t->agent[1]};
    for (size_t i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++) {
        if (has_sanitizer_report(daemons[i])) {
            fprintf(stderr, "tunnel: sanitizer report in %s's log\n", daemons[i]->name);
            bad = 1;
        }
    }
    if (bad || !t->passed)
        tunnel_dump_logs(t);
    natsd_stop(t->nd);
    t->nd = NULL;
    if (t->dir[0])
        nftw(t->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    t->dir[0] = '\0';
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------ observing */

static long status_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    long v = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = pid > 0 ? fopen(path, "re") : NULL;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    if (f)
        fclose(f);
    return v;
}

long tunnel_hwm_kib(pid_t pid)
{
    return status_kib(pid, "VmHWM");
}

long tunnel_backend_stat(const struct tunnel *t, unsigned i, const char *key)
{
    char pat[64];
    long v;
    if (i >= TUNNEL_AGENTS_MAX || t->backend_port[i] == 0)
        return -EINVAL;
    struct rawsock_buf *b = malloc(sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    int code = rawsock_http_get(t->backend_port[i], "/stats", b, 5000);
    if (code == 200) {
        snprintf(pat, sizeof(pat), "\"%s\": ", key);
        const char *s = strstr(b->buf, pat);
        v = s ? strtol(s + strlen(pat), NULL, 10) : -ENOENT;
    } else {
        v = code < 0 ? code : -EPROTO;
    }
    free(b);
    return v;
}

/* ------------------------------------------------------------ pattern */

/* Fills p with pattern bytes off .. off + n - 1. */
static void pattern_fill(uint8_t *p, size_t n, uint64_t off)
{
    unsigned v = (unsigned)(off % 251);
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)v;
        if (++v == 251)
            v = 0;
    }
}

int tunnel_pattern_file(struct tunnel *t, uint64_t n, char *path)
{
    uint8_t buf[PATTERN_BLOCK];
    snprintf(path, TUNNEL_PATH_MAX, "%s/body-%u.bin", t->dir, t->seq++);
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -errno;
    int rc = 0;
    for (uint64_t off = 0; off < n && rc == 0;) {
        size_t k = n - off < sizeof(buf) ? (size_t)(n - off) : sizeof(buf);
        pattern_fill(buf, k, off);
        if (fwrite(buf, 1, k, f) != k)
            rc = -EIO;
        off += k;
    }
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

void tunnel_pattern_sha(uint64_t n, char out[65])
{
    uint8_t buf[PATTERN_BLOCK];
    crypto_hash_sha256_state st;
    uint8_t sha[32];
    crypto_hash_sha256_init(&st);
    for (uint64_t off = 0; off < n;) {
        size_t k = n - off < sizeof(buf) ? (size_t)(n - off) : sizeof(buf);
        pattern_fill(buf, k, off);
        crypto_hash_sha256_update(&st, buf, k);
        off += k;
    }
    crypto_hash_sha256_final(&st, sha);
    sodium_bin2hex(out, 65, sha, sizeof(sha));
}
