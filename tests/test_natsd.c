/*
 * tests/test_natsd.c — the nats-server test harness itself.
 *
 * Real servers on loopback, raw sockets, no client library: start/stop
 * leave nothing behind, config fragments (max_payload, TLS) reach the
 * server, a SIGKILLed server comes back on the same port, lame duck mode,
 * freezing with SIGSTOP, and a 3-node cluster that routes a message from
 * node A to node C, also after node A was killed and restarted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/natsd.h"
#include "tests/support/rawsock.h"

#define T_MS 5000

static const char connect_plain[] =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPING\r\n";

/* Connects, checks INFO, sends CONNECT + PING and waits for PONG. */
static int hello(uint16_t port, struct rawsock_buf *b)
{
    int fd = rawsock_connect(port, T_MS), err;

    assert_true(fd >= 0);
    rawsock_buf_reset(b);
    assert_non_null(rawsock_read_until(fd, b, "\r\n", T_MS, &err));
    assert_memory_equal(b->buf, "INFO {", 6);
    assert_int_equal(rawsock_send_str(fd, connect_plain), 0);
    assert_non_null(rawsock_read_until(fd, b, "PONG\r\n", T_MS, &err));
    rawsock_buf_reset(b);
    return fd;
}

static int no_children_left(void)
{
    int st;
    return waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD;
}

static int teardown_one(void **state)
{
    natsd_stop(*state);
    *state = NULL;
    return 0;
}

static void test_start_stop(void **state)
{
    struct natsd *d;
    struct rawsock_buf b;
    struct stat st;
    char dir[4096];
    uint16_t port;
    pid_t pid;
    int fd;

    assert_int_equal(natsd_start(&d, NULL), 0);
    *state = d;
    port = natsd_port(d);
    assert_true(natsd_port(d) > 0);
    assert_true(natsd_monitor_port(d) > 0);
    assert_int_equal(natsd_cluster_port(d), 0);
    assert_true(natsd_port(d) != natsd_monitor_port(d));
    snprintf(dir, sizeof(dir), "nats://127.0.0.1:%u", (unsigned)natsd_port(d));
    assert_string_equal(natsd_url(d), dir);
    pid = natsd_pid(d);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), 0);

    fd = hello(natsd_port(d), &b);
    close(fd);
    /* The monitoring port answers too. */
    assert_int_equal(rawsock_http_get(natsd_monitor_port(d), "/varz", &b, T_MS), 200);
    assert_non_null(strstr(b.buf, "\"server_name\""));

    snprintf(dir, sizeof(dir), "%s", natsd_dir(d));
    assert_int_equal(stat(dir, &st), 0);
    natsd_stop(d);
    *state = NULL;
    assert_true(no_children_left());
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(rawsock_connect(port, T_MS), -ECONNREFUSED);
}

static void test_conf_fragment(void **state)
{
    struct natsd_opts o = {.conf = "max_payload: 1234\nmax_control_line: 2048", .name = "frag"};
    struct natsd *d;
    struct rawsock_buf b;
    int fd, err;

    assert_int_equal(natsd_start(&d, &o), 0);
    *state = d;
    fd = rawsock_connect(natsd_port(d), T_MS);
    assert_true(fd >= 0);
    rawsock_buf_reset(&b);
    assert_non_null(rawsock_read_until(fd, &b, "\r\n", T_MS, &err));
    assert_non_null(strstr(b.buf, "\"max_payload\":1234"));
    assert_non_null(strstr(b.buf, "\"server_name\":\"frag\""));
    close(fd);
}

/* A TLS fragment: the readiness probe copes (INFO comes before TLS). */
static void test_tls_fragment(void **state)
{
    char dir[] = "/tmp/h8s-natsd-tls-XXXXXX", cmd[1024], conf[512];
    struct natsd_opts o = {.conf = conf};
    struct natsd *d = NULL;
    struct rawsock_buf b;
    int fd, err, rc;

    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/key.pem -out %s/cert.pem -days 1 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             dir, dir);
    rc = system(cmd);
    snprintf(conf, sizeof(conf),
             "tls {\n  cert_file: \"%s/cert.pem\"\n  key_file: \"%s/key.pem\"\n}", dir, dir);
    if (rc == 0)
        rc = natsd_start(&d, &o);
    snprintf(cmd, sizeof(cmd), "%s/cert.pem", dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/key.pem", dir);
    unlink(cmd);
    rmdir(dir);
    assert_int_equal(rc, 0);
    *state = d;
    fd = rawsock_connect(natsd_port(d), T_MS);
    assert_true(fd >= 0);
    rawsock_buf_reset(&b);
    assert_non_null(rawsock_read_until(fd, &b, "\r\n", T_MS, &err));
    assert_non_null(strstr(b.buf, "\"tls_required\":true"));
    close(fd);
}

static void test_bad_conf_fails_cleanly(void **state)
{
    struct natsd_opts o = {.conf = "authorization { users = [ { nkey: NOTAKEY } ] }"};
    struct natsd_opts bad = {.conf = "this is { not a config"};
    struct natsd *d = (struct natsd *)&o;
    (void)state;

    fprintf(stderr, "(two start failures with server logs follow; they are expected)\n");
    assert_int_equal(natsd_start(&d, &bad), -ECHILD);
    assert_null(d);
    assert_int_equal(natsd_start(&d, &o), -ECHILD);
    assert_null(d);
    assert_true(no_children_left());
}

static void test_kill_restart_same_port(void **state)
{
    struct natsd *d;
    struct rawsock_buf b;
    uint16_t port, mport;
    pid_t pid;
    int fd, err;

    assert_int_equal(natsd_start(&d, NULL), 0);
    *state = d;
    port = natsd_port(d);
    mport = natsd_monitor_port(d);
    pid = natsd_pid(d);
    fd = hello(port, &b);

    assert_int_equal(natsd_kill(d, SIGKILL), 0);
    assert_int_equal(natsd_pid(d), 0);
    assert_int_equal(kill(pid, 0), -1);
    /* The connected client sees the connection drop, new ones are refused. */
    assert_null(rawsock_read_until(fd, &b, "never", T_MS, &err));
    assert_int_equal(err, -ECONNRESET);
    close(fd);
    assert_int_equal(rawsock_connect(port, T_MS), -ECONNREFUSED);
    assert_int_equal(natsd_kill(d, SIGKILL), -ESRCH);

    assert_int_equal(natsd_restart(d), 0);
    assert_int_equal(natsd_port(d), port);
    assert_int_equal(natsd_monitor_port(d), mport);
    assert_true(natsd_pid(d) > 0 && natsd_pid(d) != pid);
    fd = hello(port, &b);

    /* Restart of a running server: a clean stop, then the same ports. */
    pid = natsd_pid(d);
    assert_int_equal(natsd_restart(d), 0);
    assert_int_equal(natsd_port(d), port);
    assert_true(natsd_pid(d) != pid);
    assert_null(rawsock_read_until(fd, &b, "never", T_MS, &err));
    close(fd);
    fd = hello(port, &b);
    close(fd);
}

static void test_lame_duck(void **state)
{
    struct natsd_opts o = {.conf = "lame_duck_grace_period: 1s\nlame_duck_duration: 30s"};
    struct natsd *d;
    struct rawsock_buf b;
    int fd, err;

    assert_int_equal(natsd_start(&d, &o), 0);
    *state = d;
    fd = hello(natsd_port(d), &b);
    assert_int_equal(natsd_lame_duck(d), 0);
    assert_int_equal(rawsock_connect(natsd_port(d), T_MS), -ECONNREFUSED);
    /* The connected client is told, with an INFO carrying "ldm". */
    assert_non_null(rawsock_read_until(fd, &b, "\"ldm\":true", T_MS, &err));
    close(fd);
}

static void test_freeze(void **state)
{
    struct natsd *d;
    struct rawsock_buf b;
    int fd, err;

    assert_int_equal(natsd_start(&d, NULL), 0);
    *state = d;
    fd = hello(natsd_port(d), &b);
    assert_int_equal(natsd_signal(d, SIGSTOP), 0);
    assert_int_equal(rawsock_send_str(fd, "PING\r\n"), 0);
    assert_null(rawsock_read_until(fd, &b, "PONG\r\n", 300, &err));
    assert_int_equal(err, -ETIMEDOUT);
    assert_int_equal(natsd_signal(d, SIGCONT), 0);
    assert_non_null(rawsock_read_until(fd, &b, "PONG\r\n", T_MS, &err));
    close(fd);
    /* natsd_stop copes with a frozen server as well. */
    assert_int_equal(natsd_signal(d, SIGSTOP), 0);
}

/*
 * Subscribes on `to`, then publishes on `from` until the message arrives:
 * interest propagates between nodes asynchronously, so one publish could
 * race it. Bounded by T_MS.
 */
static void route_message(uint16_t from, uint16_t to, const char *subject)
{
    struct rawsock_buf b, junk;
    char cmd[256], want[128];
    int pub, sub, err;

    sub = hello(to, &b);
    snprintf(cmd, sizeof(cmd), "SUB %s 1\r\nPING\r\n", subject);
    assert_int_equal(rawsock_send_str(sub, cmd), 0);
    assert_non_null(rawsock_read_until(sub, &b, "PONG\r\n", T_MS, &err));
    rawsock_buf_reset(&b);

    pub = hello(from, &junk);
    snprintf(cmd, sizeof(cmd), "PUB %s 5\r\nhello\r\n", subject);
    snprintf(want, sizeof(want), "MSG %s 1 5\r\nhello\r\n", subject);
    for (int i = 0; i < T_MS / 50; i++) {
        assert_int_equal(rawsock_send_str(pub, cmd), 0);
        if (rawsock_read_until(sub, &b, want, 50, &err) != NULL)
            break;
        assert_int_equal(err, -ETIMEDOUT);
        rawsock_buf_reset(&junk);
        rawsock_read_some(pub, &junk, 0);
        assert_null(strstr(junk.buf, "-ERR"));
    }
    assert_non_null(strstr(b.buf, want));
    close(pub);
    close(sub);
}

struct cluster {
    struct natsd *n[3];
};

static int setup_cluster(void **state)
{
    struct cluster *c = calloc(1, sizeof(*c));
    if (c == NULL || natsd_cluster_start(c->n, 3, NULL) != 0) {
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown_cluster(void **state)
{
    struct cluster *c = *state;
    natsd_cluster_stop(c->n, 3);
    free(c);
    return 0;
}

static void test_cluster_routes(void **state)
{
    struct cluster *c = *state;
    struct rawsock_buf b;
    uint16_t cport;

    for (int i = 0; i < 3; i++) {
        assert_true(natsd_cluster_port(c->n[i]) > 0);
        assert_int_equal(natsd_wait_routes(c->n[i], 2, T_MS), 0);
        assert_int_equal(rawsock_http_get(natsd_monitor_port(c->n[i]), "/varz", &b, T_MS), 200);
        assert_non_null(strstr(b.buf, "\"name\": \"h8s\""));
    }
    route_message(natsd_port(c->n[0]), natsd_port(c->n[2]), "h8s.test.a2c");
    route_message(natsd_port(c->n[2]), natsd_port(c->n[1]), "h8s.test.c2b");

    /* Node A crashes; B and C keep routing; A comes back on its ports. */
    cport = natsd_cluster_port(c->n[0]);
    assert_int_equal(natsd_kill(c->n[0], SIGKILL), 0);
    route_message(natsd_port(c->n[1]), natsd_port(c->n[2]), "h8s.test.b2c");
    assert_int_equal(natsd_restart(c->n[0]), 0);
    assert_int_equal(natsd_cluster_port(c->n[0]), cport);
    for (int i = 0; i < 3; i++)
        assert_int_equal(natsd_wait_routes(c->n[i], 2, T_MS), 0);
    route_message(natsd_port(c->n[0]), natsd_port(c->n[2]), "h8s.test.a2c.again");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_start_stop, teardown_one),
        cmocka_unit_test_teardown(test_conf_fragment, teardown_one),
        cmocka_unit_test_teardown(test_tls_fragment, teardown_one),
        cmocka_unit_test(test_bad_conf_fails_cleanly),
        cmocka_unit_test_teardown(test_kill_restart_same_port, teardown_one),
        cmocka_unit_test_teardown(test_lame_duck, teardown_one),
        cmocka_unit_test_teardown(test_freeze, teardown_one),
        cmocka_unit_test_setup_teardown(test_cluster_routes, setup_cluster, teardown_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
