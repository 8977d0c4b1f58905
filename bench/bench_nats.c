/*
 * bench/bench_nats.c — the `make bench-nats` driver: our NATS client
 * against nats.c, in one run on one machine.
 *
 * Starts one nats-server on a free loopback port (tests/support/natsd.h),
 * shared by every run of both clients, then does ROUNDS rounds; a round
 * runs each measurement once with bench_nats_h8s and right after with
 * bench_nats_natsc (A B A B ...), each in a fresh process (bench_nats.h
 * describes the measurements and the result line). Around every run the
 * server's /varz slow_consumers counter is read: a run during which it
 * moved, or whose program reported ok=0, is invalid and left out of the
 * medians. Prints every run as it finishes, then the table of medians
 * and ratios, then the spread (min..max of the valid runs).
 *
 * Usage: bench_nats [-r ROUNDS] [-p PUB_COUNT] [-q REQ_COUNT] [-l LAT_COUNT] [-d BINDIR]
 * Exit status: 0 when every figure has a valid run for both clients, 1
 * otherwise, 2 on usage errors. Meeting the target or not is reported,
 * not turned into an exit status: this is a measurement.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_nats.h"
#include "tests/support/natsd.h"
#include "tests/support/rawsock.h"

#define ROUNDS_MAX 99
#define RUN_WAIT_S (BENCH_DEADLINE_S + 30)
#define OUT_MAX 4096

enum { CL_H8S, CL_NATSC, CL_N };
static const char *const client_name[CL_N] = {"h8s", "nats.c"};
static const char *const client_prog[CL_N] = {"bench_nats_h8s", "bench_nats_natsc"};

/* One measurement kind; lat yields two figures. */
enum { M_PUB16, M_PUB1K, M_REQREP, M_LAT, M_N };
enum { F_PUB16, F_PUB1K, F_REQREP, F_P50, F_P99, F_N };
static const char *const fig_name[F_N] = {"pub16", "pub1k", "reqrep64", "lat_p50_us",
                                          "lat_p99_us"};
static const char *const fig_unit[F_N] = {"msgs/s", "msgs/s", "req/s", "us", "us"};

struct cfg {
    unsigned rounds;
    size_t pub_count, req_count, lat_count;
    char dir[PATH_MAX];
};

/* Valid values of one figure for one client, across rounds. */
struct series {
    double v[ROUNDS_MAX];
    unsigned n, runs;
};

/* Everything a run of the driver holds. */
struct driver {
    struct cfg cfg;
    struct natsd *d;
    struct series results[F_N][CL_N];
    struct rawsock_buf http; /* /varz responses */
    char out[OUT_MAX];       /* a client program's stdout */
};

static int parse_count(const char *s, size_t *out)
{
    return bench_parse_size(s, (size_t)1 << 40, out);
}

static int parse_args(int argc, char **argv, struct cfg *c)
{
    int opt;
    size_t v;
    c->rounds = 5;
    c->pub_count = 1000000;
    c->req_count = 200000;
    c->lat_count = 20000;
    snprintf(c->dir, sizeof(c->dir), "%s", argv[0]);
    char *slash = strrchr(c->dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(c->dir, sizeof(c->dir), ".");
    while ((opt = getopt(argc, argv, "r:p:q:l:d:")) != -1) {
        switch (opt) {
        case 'r':
            if (parse_count(optarg, &v) != 0 || v > ROUNDS_MAX)
                return -1;
            c->rounds = (unsigned)v;
            break;
        case 'p':
            if (parse_count(optarg, &c->pub_count) != 0)
                return -1;
            break;
        case 'q':
            if (parse_count(optarg, &c->req_count) != 0)
                return -1;
            break;
        case 'l':
            if (parse_count(optarg, &c->lat_count) != 0)
                return -1;
            break;
        case 'd':
            snprintf(c->dir, sizeof(c->dir), "%s", optarg);
            break;
        default:
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

/* The server's slow_consumers counter, or -1 when it cannot be read. */
static long long slow_consumers(struct driver *dr)
{
    struct rawsock_buf *b = &dr->http;
    rawsock_buf_reset(b);
    if (rawsock_http_get(natsd_monitor_port(dr->d), "/varz", b, 5000) != 200)
        return -1;
    const char *p = strstr(b->buf, "\"slow_consumers\":");
    if (p == NULL)
        return -1;
    return strtoll(p + strlen("\"slow_consumers\":"), NULL, 10);
}

static void server_version(struct driver *dr, char *out, size_t n)
{
    struct rawsock_buf *b = &dr->http;
    snprintf(out, n, "?");
    rawsock_buf_reset(b);
    if (rawsock_http_get(natsd_monitor_port(dr->d), "/varz", b, 5000) != 200)
        return;
    const char *p = strstr(b->buf, "\"version\":");
    if (p == NULL)
        return;
    p += strlen("\"version\":");
    while (*p == ' ' || *p == '"')
        p++;
    size_t k = strcspn(p, "\"");
    snprintf(out, n, "%.*s", (int)(k < 32 ? k : 32), p);
}

/* A field of the result line as a double; NAN-free: -1 when absent. */
static double field(const char *line, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof(pat), " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

static void field_word(const char *line, const char *key, char *out, size_t n)
{
    char pat[32];
    snprintf(pat, sizeof(pat), " %s=", key);
    const char *p = strstr(line, pat);
    snprintf(out, n, "?");
    if (p) {
        p += strlen(pat);
        snprintf(out, n, "%.*s", (int)strcspn(p, " \n"), p);
    }
}

/*
 * Runs prog with argv, at most RUN_WAIT_S, and leaves its result line in
 * line (NUL-terminated, "" when none). Returns 0 when the program ran to
 * its end, -1 otherwise.
 */
static int run_prog(struct driver *dr, const char *path, char *const argv[], char *line,
                    size_t n)
{
    char *out = dr->out;
    size_t len = 0;
    int fds[2];
    line[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        execv(path, argv);
        fprintf(stderr, "bench_nats: exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    uint64_t deadline = bench_now_ns() + RUN_WAIT_S * 1000000000ull;
    for (;;) {
        uint64_t now = bench_now_ns();
        if (now >= deadline) {
            fprintf(stderr, "bench_nats: %s did not finish in %d s; killed\n", path, RUN_WAIT_S);
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int r = poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r == 0)
            continue;
        if (len == OUT_MAX - 1)
            len = 0; /* only the result line matters; keep reading */
        ssize_t k = read(fds[0], out + len, OUT_MAX - 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fds[0]);
    out[len] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    const char *p = strstr(out, "result ");
    if (p) {
        size_t k = strcspn(p, "\n");
        snprintf(line, n, " %.*s", (int)k, p + strlen("result "));
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "bench_nats: %s died of signal %d\n", path, WTERMSIG(status));
        return -1;
    }
    return 0;
}

static void add(struct driver *dr, int fig, int cl, int valid, double v)
{
    struct series *s = &dr->results[fig][cl];
    s->runs++;
    if (valid && s->n < ROUNDS_MAX)
        s->v[s->n++] = v;
}

static void human(double v, const char *unit, char *out, size_t n)
{
    if (strcmp(unit, "us") == 0)
        snprintf(out, n, "%.1f", v);
    else
        snprintf(out, n, "%.0f", v);
}

/* One run of measurement m with client cl; records its figures. */
static void run_one(struct driver *dr, unsigned round, int m, int cl)
{
    const struct cfg *c = &dr->cfg;
    char path[PATH_MAX + 32], size[16], count[24], line[512], note[64];
    char *argv[8];
    int argc = 0;
    snprintf(path, sizeof(path), "%s/%s", c->dir, client_prog[cl]);
    argv[argc++] = path;
    argv[argc++] = (char *)natsd_url(dr->d);
    switch (m) {
    case M_PUB16:
    case M_PUB1K:
        argv[argc++] = "pub";
        snprintf(size, sizeof(size), "%d", m == M_PUB16 ? 16 : 1024);
        snprintf(count, sizeof(count), "%zu", c->pub_count);
        break;
    case M_REQREP:
        argv[argc++] = "reqrep";
        snprintf(size, sizeof(size), "1024");
        snprintf(count, sizeof(count), "%zu", c->req_count);
        break;
    default:
        argv[argc++] = "lat";
        snprintf(size, sizeof(size), "1024");
        snprintf(count, sizeof(count), "%zu", c->lat_count);
        break;
    }
    argv[argc++] = size;
    argv[argc++] = count;
    if (m == M_REQREP)
        argv[argc++] = "64";
    argv[argc] = NULL;

    long long sc0 = slow_consumers(dr);
    int rc = run_prog(dr, path, argv, line, sizeof(line));
    long long sc1 = slow_consumers(dr);
    int valid = rc == 0 && field(line, "ok") == 1;
    field_word(line, "note", note, sizeof(note));
    if (line[0] == '\0')
        snprintf(note, sizeof(note), "no_result");
    if (sc0 < 0 || sc1 < 0) {
        valid = 0;
        snprintf(note, sizeof(note), "varz_unreadable");
    } else if (sc1 != sc0) {
        valid = 0;
        snprintf(note, sizeof(note), "slow_consumer(%lld)", sc1 - sc0);
    }

    printf("round %u/%u  %-8s %-7s", round, c->rounds, m == M_LAT ? "lat" : fig_name[m],
           client_name[cl]);
    if (m == M_LAT) {
        add(dr, F_P50, cl, valid, field(line, "p50_us"));
        add(dr, F_P99, cl, valid, field(line, "p99_us"));
        if (valid)
            printf(" p50 %.1f us  p99 %.1f us", field(line, "p50_us"), field(line, "p99_us"));
    } else {
        add(dr, m, cl, valid, field(line, "rate"));
        if (valid)
            printf(" %.0f %s", field(line, "rate"), fig_unit[m]);
    }
    if (!valid)
        printf(" INVALID (%s, %.0f done)", note, field(line, "done"));
    printf("\n");
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(struct series *s)
{
    qsort(s->v, s->n, sizeof(s->v[0]), cmp_double);
    return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

static int report(struct driver *dr, const char *version)
{
    const struct cfg *c = &dr->cfg;
    int complete = 1;
    char missed[128] = "";
    printf("\nbench-nats: %u rounds, h8s and nats.c interleaved, one nats-server %s on "
           "127.0.0.1 shared by all runs; medians of valid runs\n",
           c->rounds, version);
    printf("pub16/pub1k: %zu msgs of 16 B / 1 KiB, msgs/s seen by the subscriber; "
           "reqrep64: %zu requests, 1 KiB each way, 64 in flight, req/s;\n"
           "lat: %zu requests one at a time, 1 KiB each way, microseconds "
           "(nats.c with SendAsap)\n",
           c->pub_count, c->req_count, c->lat_count);
    printf("\n%-12s %12s %12s %7s   (ratio: h8s/nats.c for rates, nats.c/h8s for latencies; "
           "> 1.0 means h8s is better)\n",
           "figure", "h8s", "nats.c", "ratio");
    for (int f = 0; f < F_N; f++) {
        struct series *a = &dr->results[f][CL_H8S], *b = &dr->results[f][CL_NATSC];
        char x[32] = "n/a", y[32] = "n/a", r[16] = "n/a";
        double ma = 0, mb = 0;
        if (a->n)
            human(ma = median(a), fig_unit[f], x, sizeof(x));
        if (b->n)
            human(mb = median(b), fig_unit[f], y, sizeof(y));
        if (a->n && b->n && ma > 0 && mb > 0) {
            double ratio = f >= F_P50 ? mb / ma : ma / mb;
            snprintf(r, sizeof(r), "%.2f", ratio);
            if (ratio < 1.0) {
                size_t l = strlen(missed);
                snprintf(missed + l, sizeof(missed) - l, " %s", fig_name[f]);
            }
        } else {
            complete = 0;
        }
        printf("%-12s %12s %12s %7s\n", fig_name[f], x, y, r);
    }
    printf("\nspread (min..max of valid runs, valid/runs)\n");
    printf("%-12s %28s %28s\n", "figure", "h8s", "nats.c");
    for (int f = 0; f < F_N; f++) {
        char cell[CL_N][96];
        for (int cl = 0; cl < CL_N; cl++) {
            struct series *s = &dr->results[f][cl];
            char lo[32], hi[32];
            if (s->n == 0) {
                snprintf(cell[cl], sizeof(cell[cl]), "- (0/%u)", s->runs);
                continue;
            }
            human(s->v[0], fig_unit[f], lo, sizeof(lo));
            human(s->v[s->n - 1], fig_unit[f], hi, sizeof(hi));
            snprintf(cell[cl], sizeof(cell[cl]), "%s..%s (%u/%u)", lo, hi, s->n, s->runs);
        }
        printf("%-12s %28s %28s\n", fig_name[f], cell[CL_H8S], cell[CL_NATSC]);
    }
    if (!complete)
        printf("\ntarget: undecided, some figure has no valid run\n");
    else if (missed[0])
        printf("\ntarget (ratio >= 1.0 on every figure): missed on%s\n", missed);
    else
        printf("\ntarget (ratio >= 1.0 on every figure): met\n");
    return complete ? 0 : 1;
}

int main(int argc, char **argv)
{
    char version[40];
    struct driver *dr = calloc(1, sizeof(*dr));
    if (dr == NULL)
        return 1;
    if (parse_args(argc, argv, &dr->cfg) != 0) {
        fprintf(stderr, "usage: %s [-r ROUNDS] [-p PUB_COUNT] [-q REQ_COUNT] [-l LAT_COUNT] "
                        "[-d BINDIR]\n",
                argv[0]);
        free(dr);
        return 2;
    }
    /* A client program killed mid-write must not take us with it. */
    signal(SIGPIPE, SIG_IGN);
    int rc = natsd_start(&dr->d, NULL);
    if (rc != 0) {
        fprintf(stderr, "bench_nats: cannot start nats-server: %s\n", strerror(-rc));
        free(dr);
        return 1;
    }
    server_version(dr, version, sizeof(version));
    printf("bench-nats: nats-server %s at %s\n", version, natsd_url(dr->d));
    fflush(stdout);
    for (unsigned r = 1; r <= dr->cfg.rounds; r++)
        for (int m = 0; m < M_N; m++)
            for (int cl = 0; cl < CL_N; cl++)
                run_one(dr, r, m, cl);
    natsd_stop(dr->d);
    rc = report(dr, version);
    free(dr);
    return rc;
}
