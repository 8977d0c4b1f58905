/*
 * proto/nats_client_pool.c — the server pool, reconnect back-off and
 * non-blocking name resolution.
 *
 * Pool: the configured URLs in order, then every connect_urls entry the
 * servers announce (implicit servers, which inherit the scheme and
 * credentials of the server that announced them). Each attempt moves to
 * the next server, skipping servers in lame-duck mode while others exist.
 *
 * Back-off: the first round through the pool is immediate (failover to
 * the next server costs nothing); after each full round of failures the
 * wait doubles from reconnect_wait_ms up to reconnect_wait_max_ms, plus up
 * to reconnect_jitter_ms of random jitter so a fleet of clients does not
 * reconnect in lock step. A successful handshake resets it.
 *
 * Resolution: IP literals are used directly. A host name goes to
 * core/resolve (getaddrinfo on a helper thread, the answer back on the
 * loop); the attempt's handshake deadline bounds the wait, and a client
 * destroyed mid-resolution just cancels the job.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"
#include "proto/nats_client_internal.h"
#include "proto/url.h"

/* ---------------------------------------------------------------- pool */

static char *dup_secret(struct span s)
{
    if (s.n == 0 && s.p == NULL)
        return NULL;
    char *p = malloc(s.n + 1);
    if (p) {
        memcpy(p, s.p, s.n);
        p[s.n] = '\0';
    }
    return p;
}

static void free_secret(char *p)
{
    if (p) {
        sodium_memzero(p, strlen(p));
        free(p);
    }
}

static void server_free(struct nats_server *s)
{
    if (s == NULL)
        return;
    free_secret(s->user);
    free_secret(s->pass);
    free_secret(s->token);
    free(s);
}

static struct nats_server *find(const struct nats_client *c, struct span host, uint16_t port)
{
    for (size_t i = 0; i < c->nservers; i++) {
        struct nats_server *s = c->servers[i];
        if (s->port == port && span_eq_nocase(span_cstr(s->host), host))
            return s;
    }
    return NULL;
}

/*
 * Adds the server of u (credentials from u, or from inherit when u has
 * none). Returns 0 (also when already present or the pool is full, for
 * implicit servers), -ENOMEM, or NATS_E_CONFIG.
 */
static int add(struct nats_client *c, const struct url *u, bool implicit,
               const struct nats_server *inherit)
{
    if (u->host.n >= NATS_CLIENT_HOST_MAX)
        return NATS_E_CONFIG;
    if (find(c, u->host, u->port))
        return 0;
    if (c->nservers == NATS_CLIENT_POOL_MAX)
        return implicit ? 0 : NATS_E_CONFIG;
    struct nats_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    memcpy(s->host, u->host.p, u->host.n);
    s->port = u->port;
    snprintf(s->addr, sizeof(s->addr), u->host_type == URL_HOST_IPV6 ? "[%s]:%u" : "%s:%u", s->host,
             (unsigned)u->port);
    s->tls = u->tls;
    s->implicit = implicit;
    bool oom = false;
    if (u->user.p) {
        if (u->has_password) {
            oom = (s->user = dup_secret(u->user)) == NULL ||
                  (s->pass = dup_secret(u->password.p ? u->password : span_make("", 0))) == NULL;
        } else {
            oom = (s->token = dup_secret(u->user)) == NULL;
        }
    } else if (inherit) {
        s->tls = inherit->tls;
        oom = (inherit->user && (s->user = dup_secret(span_cstr(inherit->user))) == NULL) ||
              (inherit->pass && (s->pass = dup_secret(span_cstr(inherit->pass))) == NULL) ||
              (inherit->token && (s->token = dup_secret(span_cstr(inherit->token))) == NULL);
    }
    if (oom) {
        server_free(s);
        return -ENOMEM;
    }
    c->servers[c->nservers++] = s;
    return 0;
}

int nats_client_pool_add_urls(struct nats_client *c, const char *urls, char *err, size_t errlen)
{
    size_t n = strlen(urls);
    struct url list[URL_LIST_MAX];
    size_t bad = 0;
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int count = url_parse_list(urls, n, URL_ALLOW_NATS | URL_NO_SCHEME_NATS, list, URL_LIST_MAX,
                               buf, n + 1, &bad);
    int rc = 0;
    if (count < 0) {
        /* Name the item by position only: it may hold a password. */
        snprintf(err, errlen, "invalid NATS URL (item %zu of the list): %s", bad + 1,
                 url_strerror(count));
        rc = NATS_E_CONFIG;
    }
    for (int i = 0; rc == 0 && i < count; i++) {
        rc = add(c, &list[i], false, NULL);
        if (rc != 0)
            snprintf(err, errlen, rc == -ENOMEM ? "out of memory" : "too many NATS servers");
    }
    sodium_memzero(buf, n + 1);
    free(buf);
    return rc;
}

void nats_client_pool_learn(struct nats_client *c, const struct nats_info *info)
{
    const struct nats_server *cur = nats_client_pool_current(c);
    for (size_t i = 0; i < info->n_connect_urls; i++) {
        const char *s = info->connect_urls[i];
        struct url u;
        uint8_t buf[NATS_INFO_URL_MAX];
        /* Announced as "host:port"; anything else is ignored, not fatal. */
        if (url_parse(s, strlen(s), URL_ALLOW_NATS | URL_NO_SCHEME_NATS, &u, buf, sizeof(buf)) < 0)
            continue;
        size_t before = c->nservers;
        if (add(c, &u, true, cur) == 0 && c->nservers > before)
            log_emit(LOG_DEBUG, "nats_server_discovered",
                     LOG_STR("server", c->servers[c->nservers - 1]->addr));
    }
}

void nats_client_pool_free(struct nats_client *c)
{
    for (size_t i = 0; i < c->nservers; i++)
        server_free(c->servers[i]);
    c->nservers = 0;
}

struct nats_server *nats_client_pool_current(const struct nats_client *c)
{
    return c->nservers ? c->servers[c->cur % c->nservers] : NULL;
}

/* ----------------------------------------------------------- resolution */

void nats_client_pool_cancel(struct nats_client *c)
{
    resolve_cancel(&c->resolve);
}

static void attempt_fail(struct nats_client *c, int err, const char *why)
{
    log_emit(LOG_WARN, "nats_connect_failed", LOG_STR("server", nats_client_server_addr(c)),
             LOG_STR("error", why));
    nats_client_lose(c, err, LOOP_CLOSE_ABORT);
}

static void tcp_connect(struct nats_client *c)
{
    int rc = loop_connect(c->loop, (const struct sockaddr *)&c->sa, c->salen,
                          c->cfg.connect_timeout_ms, &nats_client_io_ops, c, &c->conn);
    if (rc < 0) {
        c->conn = NULL;
        attempt_fail(c, rc, strerror(-rc));
        return;
    }
    c->phase = NATS_PH_TCP;
    loop_conn_set_out_limit(c->conn, c->out_limit + NATS_CLIENT_CTRL_MARGIN);
}

static void resolve_done(struct resolve *r, const struct resolve_name *names, size_t n)
{
    struct nats_client *c = LOOP_CONTAINER_OF(r, struct nats_client, resolve);
    const struct resolve_name *e = &names[0];
    (void)n;
    if (e->gai != 0 || e->n == 0) {
        char why[160];
        snprintf(why, sizeof(why), "cannot resolve host: %s",
                 e->gai ? gai_strerror(e->gai) : "no address");
        attempt_fail(c, -EHOSTUNREACH, why);
        return;
    }
    struct nats_server *s = nats_client_pool_current(c);
    size_t k = s->addr_next++ % e->n;
    memcpy(&c->sa, &e->addrs[k], e->lens[k]);
    c->salen = e->lens[k];
    tcp_connect(c);
}

void nats_client_pool_start_attempt(struct nats_client *c)
{
    struct nats_server *s = nats_client_pool_current(c);
    nats_client_attempt_begin(c);
    memset(&c->sa, 0, sizeof(c->sa));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&c->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c->sa;
    if (inet_pton(AF_INET, s->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(s->port);
        c->salen = sizeof(*v4);
        tcp_connect(c);
        return;
    }
    if (inet_pton(AF_INET6, s->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(s->port);
        c->salen = sizeof(*v6);
        tcp_connect(c);
        return;
    }
    char port[RESOLVE_PORT_MAX];
    snprintf(port, sizeof(port), "%u", (unsigned)s->port);
    struct resolve_query q = {s->host, port, 0};
    int rc = resolve_start(&c->resolve, &q, 1);
    if (rc == -ENOMEM) {
        attempt_fail(c, rc, "out of memory");
        return;
    }
    if (rc < 0) {
        attempt_fail(c, rc, "cannot start the resolver thread");
        return;
    }
    c->phase = NATS_PH_RESOLVING;
}

/* ------------------------------------------------------------- back-off */

static void reconnect_timer(struct loop *l, struct loop_timer *t)
{
    struct nats_client *c = LOOP_CONTAINER_OF(t, struct nats_client, t_reconnect);
    (void)l;
    if (c->close_requested || c->phase != NATS_PH_NONE)
        return;
    nats_client_pool_start_attempt(c);
}

void nats_client_pool_schedule(struct nats_client *c)
{
    c->attempts++;
    if (c->cfg.max_reconnects >= 0 && c->attempts > (unsigned)c->cfg.max_reconnects) {
        log_emit(LOG_ERROR, "nats_reconnect_gave_up", LOG_UINT("attempts", c->attempts - 1));
        nats_client_close(c);
        return;
    }
    /* Next server, preferring ones not in lame-duck mode. */
    size_t n = c->nservers;
    size_t next = (c->cur + 1) % n;
    for (size_t i = 0; i < n; i++) {
        size_t k = (c->cur + 1 + i) % n;
        if (!c->servers[k]->lame) {
            next = k;
            break;
        }
    }
    c->cur = next;
    unsigned round = (c->attempts - 1) / (unsigned)n;
    uint64_t delay = 0;
    if (round > 0) {
        unsigned shift = round - 1 < 16 ? round - 1 : 16;
        delay = (uint64_t)c->cfg.reconnect_wait_ms << shift;
        if (delay > c->cfg.reconnect_wait_max_ms)
            delay = c->cfg.reconnect_wait_max_ms;
        uint64_t r;
        if (c->cfg.reconnect_jitter_ms && rand_u64(&c->rnd, &r) == 0)
            delay += r % ((uint64_t)c->cfg.reconnect_jitter_ms + 1);
    }
    log_emit(LOG_DEBUG, "nats_reconnect_scheduled", LOG_STR("server", c->servers[next]->addr),
             LOG_UINT("attempt", c->attempts), LOG_UINT("delay_ms", delay));
    loop_timer_start(c->loop, &c->t_reconnect, delay);
}

void nats_client_pool_init_timers(struct nats_client *c)
{
    loop_timer_init(&c->t_reconnect, reconnect_timer);
    resolve_init(&c->resolve, c->loop, resolve_done);
}
