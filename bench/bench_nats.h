/*
 * bench/bench_nats.h — what the two client programs of `make bench-nats`
 * (bench_nats_h8s.c: our client, bench_nats_natsc.c: nats.c) share with
 * the driver (bench_nats.c): the command line, the one result line, the
 * clock and percentiles.
 *
 * A client program runs one measurement per invocation against a running
 * nats-server and exits:
 *
 *   bench_nats_<client> URL pub    SIZE COUNT
 *   bench_nats_<client> URL reqrep SIZE COUNT INFLIGHT
 *   bench_nats_<client> URL lat    SIZE COUNT
 *
 * pub: a subscriber connection counts COUNT messages of SIZE bytes sent by
 *      a publisher connection; rate = COUNT / (last - first message seen
 *      by the subscriber).
 * reqrep: a responder connection echoes; the requester keeps INFLIGHT
 *      requests of SIZE bytes outstanding on one connection with one
 *      wildcard inbox until COUNT replies came back; rate = COUNT / time.
 * lat: as reqrep with one request in flight; every round trip is timed.
 * reqrep and lat run BENCH_WARMUP(COUNT) untimed requests first.
 *
 * Both programs have the same shape: one process, publisher (requester)
 * and subscriber (responder) on separate connections, driven by separate
 * threads (ours: one loop thread each; nats.c: its own threads).
 *
 * The program prints exactly one line to stdout:
 *
 *   result ok=<0|1> done=<n> secs=<s> rate=<per s> p50_us=<us> p99_us=<us> note=<word>
 *
 * ok=0 marks an invalid run (messages lost, slow consumer, disconnect,
 * error, deadline): note says why, done how far it got. Diagnostics go to
 * stderr. Exit status 0 when the line says ok=1, 1 otherwise, 2 on usage.
 */
#ifndef H8S_BENCH_NATS_H
#define H8S_BENCH_NATS_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A measurement that has not finished after this long is abandoned. */
#ifndef BENCH_DEADLINE_S
#define BENCH_DEADLINE_S 120
#endif
/* The whole program, whatever it is blocked in, ends after this long. */
#define BENCH_WATCHDOG_S (BENCH_DEADLINE_S + 15)
/* Stop waiting when nothing arrived for this long (a lost message). */
#define BENCH_IDLE_S 10
/* Request timeout given to the clients: far beyond any sane round trip. */
#define BENCH_REQ_TIMEOUT_MS 10000
#define BENCH_SIZE_MAX (1024 * 1024)
#define BENCH_INFLIGHT_MAX 4096
#define BENCH_SUBJ_MAX 64
/* Untimed requests before a reqrep or lat measurement. */
#define BENCH_WARMUP(count) ((count) / 10 < 1000 ? (count) / 10 : 1000)

enum bench_mode { BENCH_PUB, BENCH_REQREP, BENCH_LAT };

struct bench_args {
    const char *url;
    enum bench_mode mode;
    size_t size;
    size_t count;
    unsigned inflight;
    /* Subjects unique to this process, so a stray earlier run cannot feed
     * this one: "bench.<pid>.pub" and "bench.<pid>.req". */
    char pub_subj[BENCH_SUBJ_MAX];
    char req_subj[BENCH_SUBJ_MAX];
};

struct bench_result {
    int ok;
    uint64_t done;
    double secs;
    double rate;
    double p50_us, p99_us;
    const char *note; /* one word, no spaces; "-" when nothing to say */
};

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static inline int bench_parse_size(const char *s, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v == 0 || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Parses argv as documented above; prints the usage and returns -1 on error. */
static inline int bench_parse_args(int argc, char **argv, struct bench_args *a)
{
    size_t inflight = 1;
    memset(a, 0, sizeof(*a));
    if (argc < 5)
        goto usage;
    a->url = argv[1];
    if (strcmp(argv[2], "pub") == 0 && argc == 5)
        a->mode = BENCH_PUB;
    else if (strcmp(argv[2], "reqrep") == 0 && argc == 6)
        a->mode = BENCH_REQREP;
    else if (strcmp(argv[2], "lat") == 0 && argc == 5)
        a->mode = BENCH_LAT;
    else
        goto usage;
    if (bench_parse_size(argv[3], BENCH_SIZE_MAX, &a->size) != 0 ||
        bench_parse_size(argv[4], (size_t)1 << 40, &a->count) != 0 ||
        (argc == 6 && bench_parse_size(argv[5], BENCH_INFLIGHT_MAX, &inflight) != 0))
        goto usage;
    a->inflight = (unsigned)inflight;
    snprintf(a->pub_subj, sizeof(a->pub_subj), "bench.%ld.pub", (long)getpid());
    snprintf(a->req_subj, sizeof(a->req_subj), "bench.%ld.req", (long)getpid());
    return 0;
usage:
    fprintf(stderr,
            "usage: %s URL pub SIZE COUNT | URL reqrep SIZE COUNT INFLIGHT | URL lat SIZE COUNT\n",
            argc > 0 ? argv[0] : "bench");
    return -1;
}

static inline int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the n > 0 samples (nanoseconds) and returns the q-quantile in
 * microseconds, nearest rank. */
static inline double bench_quantile_us(uint64_t *ns, size_t n, double q, int sorted)
{
    if (!sorted)
        qsort(ns, n, sizeof(*ns), bench_cmp_u64);
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)ns[rank - 1] / 1000.0;
}

/* Prints the result line and returns the exit status. */
static inline int bench_print_result(const struct bench_result *r)
{
    printf("result ok=%d done=%llu secs=%.6f rate=%.1f p50_us=%.2f p99_us=%.2f note=%s\n", r->ok,
           (unsigned long long)r->done, r->secs, r->rate, r->p50_us, r->p99_us,
           r->note ? r->note : "-");
    fflush(stdout);
    return r->ok ? 0 : 1;
}

static inline void *bench_watchdog_main(void *arg)
{
    (void)arg;
    bench_sleep_ms(BENCH_WATCHDOG_S * 1000);
    struct bench_result r = {.note = "watchdog"};
    fprintf(stderr, "bench: still running after %d s; giving up\n", BENCH_WATCHDOG_S);
    bench_print_result(&r);
    _exit(1);
}

/*
 * Starts a detached thread that prints an ok=0 result line and ends the
 * process after BENCH_WATCHDOG_S, for a client call that blocks instead of
 * failing (a publisher stalled by the server). Returns 0 or -1.
 */
static inline int bench_watchdog_start(void)
{
    pthread_t th;
    if (pthread_create(&th, NULL, bench_watchdog_main, NULL) != 0)
        return -1;
    pthread_detach(th);
    return 0;
}

/* Fills p[0..n) with a recognisable byte pattern. */
static inline void bench_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)('a' + i % 26);
}

#endif
