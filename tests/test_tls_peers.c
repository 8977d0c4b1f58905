/*
 * tests/test_tls_peers.c — tls_conn against real TLS stacks over loopback:
 * our client to `openssl s_server` and to nats-server (Go's TLS, with the
 * NATS upgrade after the plaintext INFO line), our server to
 * `openssl s_client` and `curl`. Plain blocking sockets; every wait has a
 * deadline; every child process is killed and reaped in the test itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "proto/tls.h"
#include "tests/support/testcerts.h"

extern char **environ;

#define STEP_MS 10000 /* deadline for any single step */

struct fixture {
    struct testcerts tc;
    struct tls_pem_anchors ca;
    struct tls_pem_chain server, server_rsa, client;
    struct tls_pem_key server_key, server_rsa_key, client_key;
};

static int teardown(void **state);

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[512] = "";

    if (f == NULL)
        return -1;
    *state = f;
    if (testcerts_create(&f->tc) != 0 ||
        tls_pem_anchors_load(&f->ca, f->tc.ca, err, sizeof(err)) != 0 ||
        tls_pem_chain_load(&f->server, f->tc.server, err, sizeof(err)) != 0 ||
        tls_pem_chain_load(&f->server_rsa, f->tc.server_rsa, err, sizeof(err)) != 0 ||
        tls_pem_chain_load(&f->client, f->tc.client, err, sizeof(err)) != 0 ||
        tls_pem_key_load(&f->server_key, f->tc.server_key, err, sizeof(err)) != 0 ||
        tls_pem_key_load(&f->server_rsa_key, f->tc.server_rsa_key, err, sizeof(err)) != 0 ||
        tls_pem_key_load(&f->client_key, f->tc.client_key, err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        teardown(state);
        return -1;
    }
    return 0;
}

static void live_kill_all(void);

static int teardown(void **state)
{
    struct fixture *f = *state;

    live_kill_all();
    tls_pem_anchors_free(&f->ca);
    tls_pem_chain_free(&f->server);
    tls_pem_chain_free(&f->server_rsa);
    tls_pem_chain_free(&f->client);
    tls_pem_key_wipe(&f->server_key);
    tls_pem_key_wipe(&f->server_rsa_key);
    tls_pem_key_wipe(&f->client_key);
    testcerts_destroy(&f->tc);
    free(f);
    return 0;
}

/* ------------------------------------------------------------ time */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
    int64_t d = deadline - now_ms();

    return d > 0 ? (int)d : 0;
}

/* -------------------------------------------------------- processes */

/*
 * Children still running. A failed assertion leaves a test early, past
 * its proc_stop; the group teardown kills and reaps whatever is here.
 */
#define MAX_LIVE 8
static pid_t live[MAX_LIVE];

static void live_set(pid_t old, pid_t new_pid)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] == old) {
            live[i] = new_pid;
            return;
        }
    }
}

static void live_kill_all(void)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
    }
}

struct proc {
    pid_t pid;
    int in;  /* its stdin, or -1 */
    int out; /* its stdout+stderr */
    char log[16384];
    size_t log_n;
};

static void proc_start(struct proc *p, const char *const *argv)
{
    posix_spawn_file_actions_t fa;
    int in[2], out[2];

    memset(p, 0, sizeof(*p));
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    assert_int_equal(
        posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    live_set(0, p->pid);
    close(in[0]);
    close(out[1]);
    p->in = in[1];
    p->out = out[0];
}

/* Appends what the process printed, waiting up to ms. Returns bytes read, 0 at EOF. */
static ssize_t proc_read(struct proc *p, int ms)
{
    struct pollfd pfd = {p->out, POLLIN, 0};
    ssize_t r;

    if (p->log_n + 1 >= sizeof(p->log) || poll(&pfd, 1, ms) <= 0)
        return -1;
    r = read(p->out, p->log + p->log_n, sizeof(p->log) - 1 - p->log_n);
    if (r > 0) {
        p->log_n += (size_t)r;
        p->log[p->log_n] = '\0';
    }
    return r;
}

static int proc_wait_output(struct proc *p, const char *needle, int ms)
{
    int64_t deadline = now_ms() + ms;

    while (strstr(p->log, needle) == NULL) {
        if (left_ms(deadline) == 0 || proc_read(p, left_ms(deadline)) == 0)
            return -1;
    }
    return 0;
}

/* Waits for exit (collecting output); returns the exit status or -1. */
static int proc_wait(struct proc *p, int ms)
{
    int64_t deadline = now_ms() + ms;
    int status;

    while (waitpid(p->pid, &status, WNOHANG) == 0) {
        if (left_ms(deadline) == 0)
            return -1;
        if (proc_read(p, 20) == 0)
            usleep(10000);
    }
    while (proc_read(p, 0) > 0)
        ;
    live_set(p->pid, 0);
    p->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void proc_stop(struct proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        if (proc_wait(p, 3000) < 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            live_set(p->pid, 0);
        }
        p->pid = 0;
    }
    if (p->in >= 0)
        close(p->in);
    if (p->out >= 0)
        close(p->out);
    p->in = p->out = -1;
}

static void proc_dump(const struct proc *p, const char *what)
{
    print_message("--- %s output:\n%s\n---\n", what, p->log);
}

/* ---------------------------------------------------------- sockets */

static int listen_loopback(uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A port that was free a moment ago, for servers we start. */
static uint16_t free_port(void)
{
    uint16_t port;

    close(listen_loopback(&port));
    return port;
}

static int connect_loopback(uint16_t port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int accept_within(int lfd, int ms)
{
    struct pollfd pfd = {lfd, POLLIN, 0};

    if (poll(&pfd, 1, ms) != 1)
        return -1;
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* ------------------------------------------------ TLS over a socket */

struct tls_io {
    struct tls_conn *c;
    int fd;
    uint8_t in[16384];
    size_t in_off, in_n; /* received ciphertext not yet taken by the engine */
    char rx[65536];      /* plaintext received, NUL-terminated */
    size_t rx_n;
};

static struct tls_io *io_new(int fd)
{
    struct tls_io *io = calloc(1, sizeof(*io));

    assert_non_null(io);
    io->c = malloc(sizeof(*io->c));
    assert_non_null(io->c);
    io->fd = fd;
    return io;
}

static void io_free(struct tls_io *io)
{
    if (io->fd >= 0)
        close(io->fd);
    free(io->c);
    free(io);
}

static void io_send_pending(struct tls_io *io)
{
    struct span out;

    while (tls_conn_pending_out(io->c, &out) > 0) {
        ssize_t w = send(io->fd, out.p, out.n, MSG_NOSIGNAL);

        if (w <= 0)
            return; /* the peer went away; the read side will tell */
        tls_conn_out_ack(io->c, (size_t)w);
    }
}

static void io_take_plain(struct tls_io *io)
{
    struct span in;

    while (tls_conn_read(io->c, &in) > 0) {
        size_t room = sizeof(io->rx) - 1 - io->rx_n;
        size_t k = in.n < room ? in.n : room;

        memcpy(io->rx + io->rx_n, in.p, k);
        io->rx_n += k;
        io->rx[io->rx_n] = '\0';
        tls_conn_read_ack(io->c, in.n);
    }
}

/*
 * One round of the pump: send what is pending, feed buffered or newly
 * received ciphertext, collect plaintext. Returns 0, or -1 when nothing
 * arrived within ms. A transport EOF is fed as such.
 */
static int io_step(struct tls_io *io, int ms)
{
    io_send_pending(io);
    if (io->in_off == io->in_n && !tls_conn_is_closed(io->c)) {
        struct pollfd pfd = {io->fd, POLLIN, 0};
        ssize_t r;

        if (poll(&pfd, 1, ms) != 1)
            return -1;
        r = recv(io->fd, io->in, sizeof(io->in), 0);
        if (r <= 0) {
            tls_conn_feed_eof(io->c);
            return 0;
        }
        io->in_off = 0;
        io->in_n = (size_t)r;
    }
    while (io->in_off < io->in_n) {
        size_t used;

        if (tls_conn_feed(io->c, io->in + io->in_off, io->in_n - io->in_off, &used) != 0) {
            io->in_off = io->in_n;
            break;
        }
        io->in_off += used;
        io_take_plain(io);
        io_send_pending(io);
        if (used == 0)
            break;
    }
    io_take_plain(io);
    io_send_pending(io);
    return 0;
}

/* Pumps until the handshake is done or fails. Returns tls_conn_error. */
static int io_handshake(struct tls_io *io)
{
    int64_t deadline = now_ms() + STEP_MS;

    while (!tls_conn_handshake_done(io->c) && !tls_conn_is_closed(io->c))
        if (io_step(io, left_ms(deadline)) != 0)
            fail_msg("handshake timed out");
    return tls_conn_error(io->c);
}

static void io_write(struct tls_io *io, const char *s)
{
    size_t n = strlen(s), off = 0;
    int64_t deadline = now_ms() + STEP_MS;

    while (off < n) {
        off += tls_conn_write(io->c, (const uint8_t *)s + off, n - off);
        io_send_pending(io);
        assert_int_equal(tls_conn_error(io->c), 0);
        assert_true(left_ms(deadline) > 0);
    }
    tls_conn_flush(io->c);
    io_send_pending(io);
}

static void io_wait_for(struct tls_io *io, const char *needle)
{
    int64_t deadline = now_ms() + STEP_MS;

    while (strstr(io->rx, needle) == NULL) {
        if (tls_conn_is_closed(io->c))
            fail_msg("closed (%s) before '%s'; got '%s'", tls_strerror(tls_conn_error(io->c)),
                     needle, io->rx);
        if (io_step(io, left_ms(deadline)) != 0)
            fail_msg("timed out waiting for '%s'; got '%s'", needle, io->rx);
    }
}

/* Sends close_notify and pumps until the connection is closed. */
static int io_close(struct tls_io *io)
{
    int64_t deadline = now_ms() + STEP_MS;

    tls_conn_close(io->c);
    while (!tls_conn_is_closed(io->c) && io_step(io, left_ms(deadline)) == 0)
        ;
    return tls_conn_error(io->c);
}

/* --------------------------------------------- client vs s_server */

/* Starts `openssl s_server -rev` (echoes each line reversed) on a free port. */
static uint16_t start_s_server(struct proc *p, const char *cert, const char *key, const char *chain,
                               const char *verify_ca)
{
    char accept_s[64];
    const char *argv[24];
    int n = 0;
    uint16_t port = free_port();

    snprintf(accept_s, sizeof(accept_s), "127.0.0.1:%u", port);
    argv[n++] = "openssl";
    argv[n++] = "s_server";
    argv[n++] = "-accept";
    argv[n++] = accept_s;
    argv[n++] = "-cert";
    argv[n++] = cert;
    argv[n++] = "-key";
    argv[n++] = key;
    argv[n++] = "-rev";
    argv[n++] = "-naccept";
    argv[n++] = "1";
    if (chain != NULL) {
        argv[n++] = "-cert_chain";
        argv[n++] = chain;
    }
    if (verify_ca != NULL) {
        argv[n++] = "-Verify";
        argv[n++] = "1";
        argv[n++] = "-CAfile";
        argv[n++] = verify_ca;
    }
    argv[n] = NULL;
    proc_start(p, argv);
    if (proc_wait_output(p, "ACCEPT", STEP_MS) != 0) {
        proc_dump(p, "s_server");
        fail_msg("openssl s_server did not start");
    }
    return port;
}

/* Connects our client to 127.0.0.1:port and runs the handshake. */
static struct tls_io *client_connect(uint16_t port, const struct tls_client_config *cfg, int *err)
{
    int fd = connect_loopback(port);
    struct tls_io *io;

    assert_true(fd >= 0);
    io = io_new(fd);
    assert_int_equal(tls_conn_client_init(io->c, cfg), 0);
    *err = io_handshake(io);
    return io;
}

static void client_to_s_server(struct fixture *f, const char *cert, const char *key,
                               const char *chain, const char *name)
{
    struct proc p;
    struct tls_client_config cfg = {.anchors = &f->ca, .server_name = name};
    uint16_t port = start_s_server(&p, cert, key, chain, NULL);
    int err;
    struct tls_io *io = client_connect(port, &cfg, &err);

    if (err != 0)
        proc_dump(&p, "s_server");
    assert_int_equal(err, 0);
    assert_true(tls_conn_peer_verified(io->c));
    io_write(io, "hello h8s\n");
    io_wait_for(io, "s8h olleh");
    io_close(io);
    io_free(io);
    proc_stop(&p);
}

static void test_client_vs_s_server(void **state)
{
    struct fixture *f = *state;

    client_to_s_server(f, f->tc.server, f->tc.server_key, NULL, "localhost");
    client_to_s_server(f, f->tc.server_rsa, f->tc.server_rsa_key, NULL, "127.0.0.1");
    /* leaf + intermediate sent by OpenSSL, only the root known to us */
    client_to_s_server(f, f->tc.server_chain, f->tc.server_chain_key, f->tc.intermediate,
                       "localhost");
}

static void test_client_vs_s_server_failures(void **state)
{
    struct fixture *f = *state;
    struct tls_client_config cfg = {.anchors = &f->ca, .server_name = "localhost"};
    struct proc p;
    struct tls_io *io;
    uint16_t port;
    int err;

    /* a server certificate from another CA */
    port = start_s_server(&p, f->tc.other_leaf, f->tc.other_leaf_key, NULL, NULL);
    io = client_connect(port, &cfg, &err);
    assert_int_equal(err, -BR_ERR_X509_NOT_TRUSTED);
    io_free(io);
    proc_stop(&p);

    /* expired */
    port = start_s_server(&p, f->tc.expired, f->tc.expired_key, NULL, NULL);
    io = client_connect(port, &cfg, &err);
    assert_int_equal(err, -BR_ERR_X509_EXPIRED);
    io_free(io);
    proc_stop(&p);

    /* a name the certificate does not carry */
    cfg.server_name = "nats.example.com";
    port = start_s_server(&p, f->tc.server, f->tc.server_key, NULL, NULL);
    io = client_connect(port, &cfg, &err);
    assert_int_equal(err, -BR_ERR_X509_BAD_SERVER_NAME);
    io_free(io);
    proc_stop(&p);
}

static void test_client_mtls_vs_s_server(void **state)
{
    struct fixture *f = *state;
    struct tls_client_config cfg = {.anchors = &f->ca, .server_name = "localhost"};
    struct proc p;
    struct tls_io *io;
    uint16_t port;
    int err;

    cfg.chain = &f->client;
    cfg.key = &f->client_key;
    port = start_s_server(&p, f->tc.server, f->tc.server_key, NULL, f->tc.ca);
    io = client_connect(port, &cfg, &err);
    assert_int_equal(err, 0);
    io_write(io, "mtls\n");
    io_wait_for(io, "sltm");
    io_close(io);
    io_free(io);
    proc_stop(&p);

    /* without a certificate OpenSSL refuses us with an alert */
    cfg.chain = NULL;
    cfg.key = NULL;
    port = start_s_server(&p, f->tc.server, f->tc.server_key, NULL, f->tc.ca);
    io = client_connect(port, &cfg, &err);
    if (err == 0) {
        /* TLS 1.2 servers may finish the handshake before refusing */
        io_step(io, STEP_MS);
        err = tls_conn_error(io->c);
    }
    assert_true(err <= -BR_ERR_RECV_FATAL_ALERT && err > -BR_ERR_SEND_FATAL_ALERT);
    assert_non_null(strstr(tls_strerror(err), "received fatal alert"));
    io_free(io);
    proc_stop(&p);
}

/* ------------------------------------------- server vs s_client/curl */

/* Accepts one connection on lfd and runs our server handshake. */
static struct tls_io *server_accept(int lfd, const struct tls_server_config *cfg, int *err)
{
    int fd = accept_within(lfd, STEP_MS);
    struct tls_io *io;

    assert_true(fd >= 0);
    io = io_new(fd);
    assert_int_equal(tls_conn_server_init(io->c, cfg), 0);
    *err = io_handshake(io);
    return io;
}

static void server_to_s_client(struct fixture *f, const struct tls_server_config *cfg,
                               int with_client_cert)
{
    uint16_t port;
    int lfd = listen_loopback(&port), err;
    char connect_s[64];
    struct proc p;
    struct tls_io *io;
    /* without a client certificate, argv ends at the NULL in its place */
    const char *argv[] = {"openssl",
                          "s_client",
                          "-connect",
                          connect_s,
                          "-servername",
                          "localhost",
                          "-CAfile",
                          f->tc.ca,
                          "-verify_return_error",
                          "-verify_hostname",
                          "localhost",
                          "-quiet",
                          with_client_cert ? "-cert" : NULL,
                          f->tc.client,
                          "-key",
                          f->tc.client_key,
                          NULL};

    snprintf(connect_s, sizeof(connect_s), "127.0.0.1:%u", port);
    proc_start(&p, argv);
    io = server_accept(lfd, cfg, &err);
    if (err != 0)
        proc_dump(&p, "s_client");
    assert_int_equal(err, 0);
    assert_int_equal(tls_conn_peer_verified(io->c), with_client_cert);
    /* s_client sends its stdin; we answer and close */
    assert_int_equal(write(p.in, "ping\n", 5), 5);
    io_wait_for(io, "ping\n");
    io_write(io, "PONG from h8s\n");
    assert_int_equal(io_close(io), 0);
    if (proc_wait_output(&p, "PONG from h8s", STEP_MS) != 0) {
        proc_dump(&p, "s_client");
        fail_msg("s_client did not print our reply");
    }
    io_free(io);
    proc_stop(&p);
    close(lfd);
}

static void test_server_vs_s_client(void **state)
{
    struct fixture *f = *state;
    struct tls_server_config cfg = {.chain = &f->server, .key = &f->server_key};

    server_to_s_client(f, &cfg, 0);
    cfg.chain = &f->server_rsa;
    cfg.key = &f->server_rsa_key;
    server_to_s_client(f, &cfg, 0);
    cfg.client_auth = TLS_CLIENT_AUTH_REQUIRE;
    cfg.client_anchors = &f->ca;
    server_to_s_client(f, &cfg, 1);
}

/*
 * One HTTPS exchange with curl: we read the request, answer, close.
 * Returns curl's exit status; *server_err gets our handshake result.
 */
static int server_to_curl(struct fixture *f, const struct tls_server_config *cfg,
                          int with_client_cert, int *server_err)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n"
                                "Connection: close\r\n\r\nhello from h8s";
    uint16_t port;
    int lfd = listen_loopback(&port), status;
    char resolve[64], url[64];
    struct proc p;
    struct tls_io *io;
    /* without a client certificate, argv ends at the NULL in its place */
    const char *argv[] = {
        "curl",       "-sS",       "--max-time",     "10", "--cacert",
        f->tc.ca,     "--resolve", resolve,          url,  with_client_cert ? "--cert" : NULL,
        f->tc.client, "--key",     f->tc.client_key, NULL};

    snprintf(resolve, sizeof(resolve), "localhost:%u:127.0.0.1", port);
    snprintf(url, sizeof(url), "https://localhost:%u/hello", port);
    proc_start(&p, argv);
    io = server_accept(lfd, cfg, server_err);
    if (*server_err == 0) {
        io_wait_for(io, "\r\n\r\n");
        assert_true(strncmp(io->rx, "GET /hello HTTP/1.1\r\n", 21) == 0);
        io_write(io, reply);
        io_close(io);
    }
    io_free(io);
    status = proc_wait(&p, STEP_MS);
    if (*server_err == 0 && (status != 0 || strcmp(p.log, "hello from h8s") != 0))
        proc_dump(&p, "curl");
    if (*server_err == 0)
        assert_string_equal(p.log, "hello from h8s");
    proc_stop(&p);
    close(lfd);
    return status;
}

static void test_server_vs_curl(void **state)
{
    struct fixture *f = *state;
    struct tls_server_config cfg = {.chain = &f->server_rsa, .key = &f->server_rsa_key};
    int err;

    assert_int_equal(server_to_curl(f, &cfg, 0, &err), 0);
    assert_int_equal(err, 0);
    cfg.chain = &f->server;
    cfg.key = &f->server_key;
    cfg.client_auth = TLS_CLIENT_AUTH_REQUIRE;
    cfg.client_anchors = &f->ca;
    assert_int_equal(server_to_curl(f, &cfg, 1, &err), 0);
    assert_int_equal(err, 0);
    /* required but not presented: we refuse, curl fails */
    assert_int_not_equal(server_to_curl(f, &cfg, 0, &err), 0);
    assert_int_equal(err, -BR_ERR_NO_CLIENT_AUTH);
}

/* ------------------------------------------------------ nats-server */

/* Starts nats-server with TLS on a free loopback port; waits until it listens. */
static uint16_t start_nats(struct fixture *f, struct proc *p, int verify)
{
    char conf[TESTCERTS_PATH_MAX + 16];
    uint16_t port = free_port();
    int64_t deadline = now_ms() + STEP_MS;
    FILE *c;
    const char *argv[] = {"nats-server", "-c", conf, NULL};

    snprintf(conf, sizeof(conf), "%s/nats.conf", f->tc.dir);
    c = fopen(conf, "w");
    assert_non_null(c);
    fprintf(c,
            "host: 127.0.0.1\nport: %u\n"
            "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n  ca_file: \"%s\"\n"
            "  verify: %s\n  timeout: 5\n}\n",
            port, f->tc.server, f->tc.server_key, f->tc.ca, verify ? "true" : "false");
    fclose(c);
    proc_start(p, argv);
    for (;;) {
        int fd = connect_loopback(port);

        if (fd >= 0) {
            close(fd);
            return port;
        }
        if (left_ms(deadline) == 0) {
            proc_dump(p, "nats-server");
            fail_msg("nats-server did not start");
        }
        proc_read(p, 50);
    }
}

/* Reads the plaintext INFO line, then upgrades to TLS like a NATS client. */
static void nats_tls_session(struct fixture *f, uint16_t port, const char *name, int with_cert)
{
    struct tls_client_config cfg = {.anchors = &f->ca, .server_name = name};
    int fd = connect_loopback(port);
    char line[4096];
    size_t n = 0;
    struct tls_io *io;
    int64_t deadline = now_ms() + STEP_MS;
    char *eol;

    if (with_cert) {
        cfg.chain = &f->client;
        cfg.key = &f->client_key;
    }
    assert_true(fd >= 0);
    /* Byte by byte up to "\r\n": nothing after INFO may be swallowed,
     * since the server's next bytes are TLS. */
    while (n < 4 || memcmp(line + n - 2, "\r\n", 2) != 0) {
        struct pollfd pfd = {fd, POLLIN, 0};

        assert_true(n < sizeof(line) - 1);
        assert_int_equal(poll(&pfd, 1, left_ms(deadline)), 1);
        assert_int_equal(recv(fd, line + n, 1, 0), 1);
        n++;
    }
    line[n] = '\0';
    assert_true(strncmp(line, "INFO ", 5) == 0);
    assert_non_null(strstr(line, "\"tls_required\":true"));
    eol = strstr(line, "\r\n");
    assert_ptr_equal(eol, line + n - 2);

    io = io_new(fd);
    assert_int_equal(tls_conn_client_init(io->c, &cfg), 0);
    assert_int_equal(io_handshake(io), 0);
    io_write(io, "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":true,"
                 "\"name\":\"h8s-test\",\"lang\":\"c\",\"version\":\"0\"}\r\nPING\r\n");
    io_wait_for(io, "PONG\r\n");
    assert_null(strstr(io->rx, "-ERR"));
    io_close(io);
    io_free(io);
}

static void test_client_vs_nats_server(void **state)
{
    struct fixture *f = *state;
    struct proc p;
    uint16_t port;

    port = start_nats(f, &p, 0);
    nats_tls_session(f, port, "localhost", 0);
    nats_tls_session(f, port, "127.0.0.1", 0);
    proc_stop(&p);

    /* nats-server with verify: our client certificate is required */
    port = start_nats(f, &p, 1);
    nats_tls_session(f, port, "localhost", 1);
    proc_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_vs_s_server),
        cmocka_unit_test(test_client_vs_s_server_failures),
        cmocka_unit_test(test_client_mtls_vs_s_server),
        cmocka_unit_test(test_server_vs_s_client),
        cmocka_unit_test(test_server_vs_curl),
        cmocka_unit_test(test_client_vs_nats_server),
    };

    /* A peer closing early must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup, teardown);
}
