/*
 * tests/support/gwproc.c — see gwproc.h.
 */
#include "tests/support/gwproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

const char *gwproc_binary(void)
{
    static char path[512];
    const char *b = getenv("BUILD");
    snprintf(path, sizeof(path), "%s/h8sd", b && *b ? b : "build");
    return path;
}

void gwproc_hex(const uint8_t sha[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

/* Reads the whole log (bounded) into a fresh buffer. */
static char *read_log(const struct gwproc *g)
{
    FILE *f = fopen(g->log, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 22, n;
    char *b = malloc(cap + 1);
    if (!b) {
        fclose(f);
        return NULL;
    }
    n = fread(b, 1, cap, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

int gwproc_log_has(const struct gwproc *g, const char *needle)
{
    char *b = read_log(g);
    int found = b && strstr(b, needle) != NULL;
    free(b);
    return found;
}

int gwproc_log_count(const struct gwproc *g, const char *needle)
{
    char *b = read_log(g);
    int n = 0;
    for (char *p = b; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(b);
    return n;
}

int gwproc_log_wait(const struct gwproc *g, const char *needle, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (gwproc_log_has(g, needle))
            return 1;
        if (now_ms() > deadline)
            return 0;
        sleep_ms(10);
    }
}

void gwproc_dump_log(const struct gwproc *g)
{
    char *b = read_log(g);
    fprintf(stderr, "---- h8sd log %s ----\n%s---- end ----\n", g->log, b ? b : "(none)\n");
    free(b);
}

static void reap(struct gwproc *g, int options)
{
    int st;
    if (g->pid <= 0 || g->exited)
        return;
    pid_t r = waitpid(g->pid, &st, options);
    if (r == g->pid) {
        g->exited = 1;
        g->exit_status = st;
    }
}

int gwproc_start(struct gwproc *g, const char *nats_url, const char *const *extra)
{
    memset(g, 0, sizeof(*g));
    const char *tmp = getenv("TMPDIR");
    snprintf(g->dir, sizeof(g->dir), "%s/h8sd-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g->dir))
        return -errno;
    snprintf(g->log, sizeof(g->log), "%s/h8sd.log", g->dir);

    char url[300];
    snprintf(url, sizeof(url), "--nats-url=%s", nats_url);
    const char *argv[GWPROC_ARGS_MAX + 8];
    size_t n = 0;
    argv[n++] = "h8sd";
    argv[n++] = url;
    argv[n++] = "--listen=127.0.0.1:0";
    argv[n++] = "--workers=1";
    for (size_t i = 0; extra && extra[i] && i < GWPROC_ARGS_MAX; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    int logfd = open(g->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0)
        return -EIO;
    pid_t parent = getpid();
    const char *exe = gwproc_binary();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t all;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            _exit(127);
        close_range(3, ~0u, 0);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    if (pid < 0)
        return -errno;
    g->pid = pid;

    int64_t deadline = now_ms() + GWPROC_WAIT_MS;
    for (;;) {
        char *b = read_log(g);
        char *p = b ? strstr(b, "event=listening") : NULL;
        char *q = p ? strstr(p, " port=") : NULL;
        int up = b && strstr(b, "event=nats_connected") != NULL;
        if (q)
            g->port = (uint16_t)atoi(q + 6);
        free(b);
        if (g->port && up)
            return 0;
        reap(g, WNOHANG);
        if (g->exited || now_ms() > deadline) {
            gwproc_dump_log(g);
            return g->exited ? -ECHILD : -ETIMEDOUT;
        }
        sleep_ms(5);
    }
}

int gwproc_signal(struct gwproc *g, int sig)
{
    if (g->pid <= 0 || g->exited)
        return -ESRCH;
    return kill(g->pid, sig) == 0 ? 0 : -errno;
}

int gwproc_wait(struct gwproc *g, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        reap(g, WNOHANG);
        if (g->exited)
            return 0;
        if (now_ms() > deadline)
            return -ETIMEDOUT;
        sleep_ms(5);
    }
}

void gwproc_stop(struct gwproc *g)
{
    if (g->pid > 0 && !g->exited) {
        kill(g->pid, SIGTERM);
        if (gwproc_wait(g, GWPROC_WAIT_MS) < 0) {
            kill(g->pid, SIGKILL);
            gwproc_wait(g, GWPROC_WAIT_MS);
        }
    }
    if (g->exited && !(WIFEXITED(g->exit_status) && WEXITSTATUS(g->exit_status) == 0))
        gwproc_dump_log(g);
    if (g->dir[0]) {
        unlink(g->log);
        rmdir(g->dir);
        g->dir[0] = '\0';
    }
    g->pid = 0;
}

int gwproc_run(struct gwproc_out *out, const char *const *argv, const char *stdin_path,
               int timeout_ms)
{
    int po[2], pe[2];
    out->len = out->total = out->err_len = 0;
    out->buf[0] = out->err[0] = '\0';
    if (pipe2(po, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(pe, O_CLOEXEC) < 0) {
        close(po[0]);
        close(po[1]);
        return -errno;
    }
    int infd = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY | O_CLOEXEC);
    if (infd < 0) {
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        return -errno;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t all;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        if (dup2(infd, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
            _exit(127);
        close_range(3, ~0u, 0);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(infd);
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return -errno;
    }
    crypto_hash_sha256_state sh;
    crypto_hash_sha256_init(&sh);
    int64_t deadline = now_ms() + timeout_ms;
    int open_fds = 2, killed = 0;
    struct pollfd pf[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    static uint8_t chunk[1 << 16];
    while (open_fds > 0) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        int r = poll(pf, 2, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = read(pf[i].fd, chunk, sizeof(chunk));
            if (k <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                crypto_hash_sha256_update(&sh, chunk, (unsigned long long)k);
                out->total += (uint64_t)k;
                size_t room = sizeof(out->buf) - 1 - out->len;
                size_t take = (size_t)k < room ? (size_t)k : room;
                memcpy(out->buf + out->len, chunk, take);
                out->len += take;
                out->buf[out->len] = '\0';
            } else {
                size_t room = sizeof(out->err) - 1 - out->err_len;
                size_t take = (size_t)k < room ? (size_t)k : room;
                memcpy(out->err + out->err_len, chunk, take);
                out->err_len += take;
                out->err[out->err_len] = '\0';
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    crypto_hash_sha256_final(&sh, out->sha);
    int st = 0;
    int64_t wait_deadline = now_ms() + GWPROC_WAIT_MS;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (now_ms() > wait_deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            killed = 1;
            break;
        }
        sleep_ms(2);
    }
    if (killed)
        out->status = -1;
    else if (WIFEXITED(st))
        out->status = WEXITSTATUS(st);
    else
        out->status = 128 + WTERMSIG(st);
    return 0;
}
