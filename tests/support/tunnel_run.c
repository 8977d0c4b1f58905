/* see tunnel.h: the clients that drive a tunnel (tunnel.c runs the tunnel) */
#include "tests/support/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* curl's --write-out: goes to stderr, one line per transfer. */
#define CURL_WRITE_OUT "%{stderr}H8S code=%{http_code} connects=%{num_connects}\n"
#define CURL_MARK "H8S code="

int tunnel_run_start(struct tunnel_run *r, const char *const *argv, const char *stdin_path)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1}, in = -1, rc;
    pid_t parent = getpid();

    memset(r, 0, sizeof(*r));
    r->out_fd = r->err_fd = -1;
    crypto_hash_sha256_init(&r->hash);
    if ((r->out = malloc(TUNNEL_KEEP + 1)) == NULL)
        return -ENOMEM;
    r->out[0] = '\0';
    in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        rc = -errno;
        goto fail;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(127);
        close_range(3, ~0u, 0);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "tunnel: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid < 0) {
        rc = -errno;
        goto fail;
    }
    close(in);
    close(out[1]);
    close(err[1]);
    r->pid = pid;
    r->out_fd = out[0];
    r->err_fd = err[0];
    fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(r->err_fd, F_SETFL, O_NONBLOCK);
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    if (in >= 0)
        close(in);
    free(r->out);
    r->out = NULL;
    return rc;
}

static void take_out(struct tunnel_run *r, const char *p, size_t n)
{
    if (r->total == 0 && n > 0)
        r->first_ms = tunnel_now_ms();
    crypto_hash_sha256_update(&r->hash, (const unsigned char *)p, n);
    r->total += n;
    size_t room = TUNNEL_KEEP - r->len;
    size_t k = n < room ? n : room;
    memcpy(r->out + r->len, p, k);
    r->len += k;
    r->out[r->len] = '\0';
}

static void take_err(struct tunnel_run *r, const char *p, size_t n)
{
    size_t room = sizeof(r->err) - 1 - r->err_len;
    size_t k = n < room ? n : room;
    memcpy(r->err + r->err_len, p, k);
    r->err_len += k;
    r->err[r->err_len] = '\0';
}

/* Drains whatever fd has; closes it at end of file. */
static void drain(struct tunnel_run *r, int *fd, int is_out)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n > 0) {
            if (is_out)
                take_out(r, buf, (size_t)n);
            else
                take_err(r, buf, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close(*fd);
        *fd = -1;
        return;
    }
}

/* Polls both pipes until ms pass or both are closed. */
static void pump(struct tunnel_run *r, int ms)
{
    uint64_t deadline = tunnel_now_ms() + (uint64_t)(ms < 0 ? 0 : ms);
    while (r->out_fd >= 0 || r->err_fd >= 0) {
        struct pollfd p[2] = {{.fd = r->out_fd, .events = POLLIN},
                              {.fd = r->err_fd, .events = POLLIN}};
        uint64_t now = tunnel_now_ms();
        if (now >= deadline)
            return;
        int n = poll(p, 2, (int)(deadline - now));
        if (n < 0 && errno != EINTR)
            return;
        if (r->out_fd >= 0 && p[0].revents)
            drain(r, &r->out_fd, 1);
        if (r->err_fd >= 0 && p[1].revents)
            drain(r, &r->err_fd, 0);
    }
}

int tunnel_run_poll(struct tunnel_run *r, int ms)
{
    pump(r, ms);
    return r->out_fd >= 0;
}

/* Reads curl's write-out lines: the last code, the sum of connects. */
static void parse_curl(struct tunnel_run *r)
{
    for (const char *s = r->err; (s = strstr(s, CURL_MARK)) != NULL; s++) {
        int code, conns;
        if (sscanf(s, CURL_MARK "%d connects=%d", &code, &conns) == 2) {
            r->code = code;
            r->connects += conns;
        }
    }
}

int tunnel_run_wait(struct tunnel_run *r, int timeout_ms)
{
    uint64_t deadline = tunnel_now_ms() + (uint64_t)timeout_ms;
    int status = 0;

    if (r->pid == 0)
        return r->status;
    pump(r, timeout_ms);
    for (;;) {
        pid_t w = waitpid(r->pid, &status, WNOHANG);
        if (w == r->pid)
            break;
        if (w < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (tunnel_now_ms() >= deadline) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &status, 0);
            status = -1;
            break;
        }
        tunnel_sleep_ms(5);
    }
    pump(r, r->out_fd >= 0 || r->err_fd >= 0 ? 100 : 0);
    if (r->out_fd >= 0)
        close(r->out_fd);
    if (r->err_fd >= 0)
        close(r->err_fd);
    r->out_fd = r->err_fd = -1;
    r->pid = 0;
    if (status == -1)
        r->status = -1;
    else if (WIFSIGNALED(status))
        r->status = 128 + WTERMSIG(status);
    else
        r->status = WEXITSTATUS(status);
    uint8_t sha[32];
    crypto_hash_sha256_final(&r->hash, sha);
    sodium_bin2hex(r->sha, sizeof(r->sha), sha, sizeof(sha));
    parse_curl(r);
    return r->status;
}

void tunnel_run_free(struct tunnel_run *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        tunnel_run_wait(r, 1000);
    }
    free(r->out);
    r->out = NULL;
}

int tunnel_curl_start(struct tunnel *t, struct tunnel_run *r, const char *host, const char *path,
                      const char *const *args)
{
    char hdr_path[TUNNEL_PATH_MAX], host_hdr[300], url[4096];
    const char *argv[TUNNEL_ARGS_MAX + 16];
    size_t n = 0;

    snprintf(hdr_path, sizeof(hdr_path), "%s/curl-%u.head", t->dir, t->seq++);
    snprintf(host_hdr, sizeof(host_hdr), "Host: %s", host ? host : TUNNEL_HOST);
    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "-D";
    argv[n++] = hdr_path;
    argv[n++] = "-w";
    argv[n++] = CURL_WRITE_OUT;
    argv[n++] = "-H";
    argv[n++] = host_hdr;
    for (size_t i = 0; args && args[i]; i++) {
        if (i >= TUNNEL_ARGS_MAX)
            return -E2BIG;
        argv[n++] = args[i];
    }
    if (path) {
        if ((size_t)snprintf(url, sizeof(url), "%s%s", t->url, path) >= sizeof(url))
            return -ENAMETOOLONG;
        argv[n++] = url;
    }
    argv[n] = NULL;
    int rc = tunnel_run_start(r, argv, NULL);
    if (rc == 0)
        memcpy(r->hdr_path, hdr_path, sizeof(hdr_path));
    return rc;
}

int tunnel_curl(struct tunnel *t, struct tunnel_run *r, const char *host, const char *path,
                const char *const *args, int timeout_ms)
{
    int rc = tunnel_curl_start(t, r, host, path, args);
    if (rc < 0)
        return rc;
    return tunnel_run_wait(r, timeout_ms);
}

int tunnel_run_header(const struct tunnel_run *r, const char *name, size_t idx, char *out,
                      size_t cap)
{
    char line[8192];
    size_t nlen = strlen(name);
    int count = 0;
    FILE *f = r->hdr_path[0] ? fopen(r->hdr_path, "re") : NULL;
    if (out && cap)
        out[0] = '\0';
    while (f && fgets(line, sizeof(line), f)) {
        if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
            continue;
        if (out && (size_t)count == idx) {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = strcspn(v, "\r\n");
            if (vl >= cap)
                vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
        }
        count++;
    }
    if (f)
        fclose(f);
    return count;
}
