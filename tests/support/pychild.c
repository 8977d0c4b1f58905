/*
 * tests/support/pychild.c — see pychild.h.
 */
#include "tests/support/pychild.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int find_script(const char *script, char *path, size_t cap)
{
    const char *src = getenv("H8S_SRCDIR");

    snprintf(path, cap, "tests/support/%s", script);
    if (access(path, R_OK) == 0)
        return 0;
    if (src != NULL) {
        snprintf(path, cap, "%s/tests/support/%s", src, script);
        if (access(path, R_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int pychild_available(void)
{
    pid_t pid;
    int status;

    if (access(PYCHILD_PYTHON, X_OK) != 0)
        return 0;
    pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        execl(PYCHILD_PYTHON, "python3", "-c", "import websockets", (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; waited < 20000; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

int pychild_start(struct pychild *c, const char *script, const char *const *args)
{
    const char *argv[10];
    char path[1024];
    int in[2], out[2];
    size_t n = 0;
    pid_t parent = getpid();

    memset(c, 0, sizeof(*c));
    c->in = c->out = -1;
    if (find_script(script, path, sizeof(path)) != 0)
        return -ENOENT;
    argv[n++] = "python3";
    argv[n++] = path;
    for (size_t i = 0; args && args[i] && n < 9; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe2(in, O_CLOEXEC) != 0)
        return -errno;
    if (pipe2(out, O_CLOEXEC) != 0) {
        int e = -errno;
        close(in[0]);
        close(in[1]);
        return e;
    }
    c->pid = fork();
    if (c->pid < 0) {
        int e = -errno;
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return e;
    }
    if (c->pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(126);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        execv(PYCHILD_PYTHON, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->in = in[1];
    c->out = out[0];
    fcntl(c->out, F_SETFL, fcntl(c->out, F_GETFL) | O_NONBLOCK);
    return 0;
}

int pychild_try_line(struct pychild *c, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            size_t k = (size_t)(nl - c->buf);
            size_t m = k < cap - 1 ? k : cap - 1;
            memcpy(line, c->buf, m);
            line[m] = '\0';
            memmove(c->buf, nl + 1, c->len - k - 1);
            c->len -= k + 1;
            return 1;
        }
        if (c->out < 0 || c->len == sizeof(c->buf))
            return -EPIPE;
        ssize_t r = read(c->out, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r > 0) {
            c->len += (size_t)r;
            continue;
        }
        if (r == 0)
            return -EPIPE;
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
}

int pychild_line(struct pychild *c, char *line, size_t cap, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        int r = pychild_try_line(c, line, cap);
        if (r != 0)
            return r;
        if (waited >= timeout_ms)
            return -ETIMEDOUT;
        struct pollfd pfd = {c->out, POLLIN, 0};
        poll(&pfd, 1, 10);
    }
}

int pychild_stop(struct pychild *c, int timeout_ms)
{
    int status = 0, rc = -1;

    if (c->in >= 0)
        close(c->in);
    c->in = -1;
    if (c->pid > 0) {
        for (int waited = 0;; waited += 10) {
            if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
                rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                break;
            }
            if (waited >= timeout_ms) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, NULL, 0);
                break;
            }
            sleep_ms(10);
        }
        c->pid = 0;
    }
    if (c->out >= 0)
        close(c->out);
    c->out = -1;
    return rc;
}
