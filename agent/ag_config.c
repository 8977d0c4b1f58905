/*
 * agent/ag_config.c — h8srd's flags (names and environment variables as
 * the Go h8srd where it has them) and the route table built from them.
 *
 * Every per-value check runs inside flag parsing, so a bad value is the
 * usual one line naming the flag, exit 2; the few checks that span flags
 * print a line of the same shape.
 */
#include "agent/ag_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/units.h"
#include "core/version.h"

/* Reads an http:// backend URL; returns a static reason or NULL. */
static const char *backend_url_check(const char *s, size_t n, struct url *u)
{
    uint8_t buf[URL_MAX_LEN];
    if (n > URL_MAX_LEN)
        return "URL too long";
    int rc = url_parse(s, n, URL_ALLOW_HTTP, u, buf, sizeof(buf));
    if (rc < 0)
        return url_strerror(rc);
    if (u->tls)
        return "https backends are not supported (use http://)";
    if (u->user.p)
        return "a backend URL takes no user info";
    if (u->query.p || u->fragment.p)
        return "a backend URL takes no query or fragment";
    return NULL;
}

static const char *host_check(const char *s, size_t n)
{
    uint8_t tmp[SUBJECT_HOST_MAX];
    if (n == 0 || n >= AG_HOST_MAX || subject_host(tmp, sizeof(tmp), span_make(s, n)) < 0)
        return "not a DNS name or IP literal";
    return NULL;
}

static const char *check_hostname(const union flags_value *v)
{
    return host_check(v->str, strlen(v->str));
}

static const char *check_backend(const union flags_value *v)
{
    struct url u;
    return v->str[0] ? backend_url_check(v->str, strlen(v->str), &u) : NULL;
}

static const char *check_route(const union flags_value *v)
{
    struct url u;
    const char *eq = strchr(v->str, '=');
    if (!eq)
        return "expected HOST=URL";
    const char *why = host_check(v->str, (size_t)(eq - v->str));
    if (why)
        return why;
    return backend_url_check(eq + 1, strlen(eq + 1), &u);
}

static const char *check_queue(const union flags_value *v)
{
    for (const char *p = v->str; *p; p++) {
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return "must be printable ASCII without spaces";
    }
    return strlen(v->str) > 128 ? "too long" : NULL;
}

static const char *check_exchanges(const union flags_value *v)
{
    return v->i < 1 || v->i > (1 << 20) ? "must be 1..1048576" : NULL;
}

static const char *check_idle(const union flags_value *v)
{
    return v->i < 0 || v->i > 65536 ? "must be 0..65536" : NULL;
}

static const char *check_timeout(const union flags_value *v)
{
    /* Milliseconds on a uint32 timer; a day is plenty. */
    return v->i < UNITS_MS || v->i > 24 * UNITS_H ? "must be between 1ms and 24h" : NULL;
}

static const char *check_drain(const union flags_value *v)
{
    return v->i < 0 || v->i > 24 * UNITS_H ? "must be between 0 and 24h" : NULL;
}

static void usage_fail(const char *msg)
{
    char line[FLAGS_MSG_MAX];
    int n = snprintf(line, sizeof(line), "%s: %s\n", AG_PROG, msg);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        exit(2);
    exit(2);
}

void ag_config_parse(struct ag_config *cfg, int argc, char **argv)
{
    struct flags_entry log_flags[DAEMON_LOG_FLAGS];
    memset(cfg, 0, sizeof(*cfg));
    nats_flags_init(&cfg->nats);
    daemon_log_flags(&cfg->log, log_flags);
    const struct flags_entry agent_flags[] = {
        {.name = "hostname",
         .env = "H8SRD_HOSTNAME",
         .metavar = "HOST",
         .help = "public host name to serve with --backend-url",
         FLAGS_DEST_LIST(&cfg->hostnames),
         .opts = FLAGS_ENV_COMMA | FLAGS_ARG_COMMA,
         .check = check_hostname},
        {.name = "backend-url",
         .env = "H8SRD_BACKEND_URL",
         .metavar = "URL",
         .help = "the app that serves --hostname: http://host:port[/base]",
         FLAGS_DEST_STRING(&cfg->backend_url),
         .check = check_backend},
        {.name = "route",
         .env = "H8SRD_ROUTES",
         .metavar = "HOST=URL",
         .help = "serve HOST from the app at URL",
         FLAGS_DEST_LIST(&cfg->routes),
         .opts = FLAGS_ENV_COMMA,
         .check = check_route},
        {.name = "queue-group",
         .env = "H8SRD_QUEUE_GROUP",
         .def = "",
         .metavar = "NAME",
         .help = "NATS queue group: agents of a host in one group share its requests",
         FLAGS_DEST_STRING(&cfg->queue_group),
         .check = check_queue},
        {.name = "rewrite-host",
         .env = "H8SRD_REWRITE_HOST",
         .help = "send the backend's host:port as Host (the public one goes in X-Forwarded-Host)",
         FLAGS_DEST_BOOL(&cfg->rewrite_host)},
        {.name = "backend-timeout",
         .env = "H8SRD_BACKEND_TIMEOUT",
         .def = "30s",
         .help = "longest silence of the app (connect, head, between body bytes): then 504",
         FLAGS_DEST_DURATION(&cfg->backend_timeout_ns),
         .check = check_timeout},
        {.name = "drain-timeout",
         .env = "H8SRD_DRAIN_TIMEOUT",
         .def = "10s",
         .help = "on SIGTERM, how long in-flight exchanges may take to finish",
         FLAGS_DEST_DURATION(&cfg->drain_timeout_ns),
         .check = check_drain},
        {.name = "max-exchanges",
         .env = "H8SRD_MAX_EXCHANGES",
         .def = "1024",
         .help = "exchanges in flight; more are answered 503",
         FLAGS_DEST_INT(&cfg->max_exchanges),
         .check = check_exchanges},
        {.name = "backend-max-idle",
         .env = "H8SRD_BACKEND_MAX_IDLE",
         .def = "64",
         .help = "idle keep-alive connections kept per backend",
         FLAGS_DEST_INT(&cfg->max_idle),
         .check = check_idle},
    };
    const struct flags_group groups[] = {
        FLAGS_GROUP("Agent", agent_flags),
        nats_flags_group(&cfg->nats),
        FLAGS_GROUP("Logging", log_flags),
    };
    const struct flags_spec spec = {
        .prog = AG_PROG,
        .version = H8S_VERSION,
        .summary = "h8srd is the h8s agent: it runs next to a private app, connects out to NATS\n"
                   "(it opens no listening socket), and forwards the requests h8sd publishes for\n"
                   "its hostnames to the app.",
        .groups = groups,
        .ngroups = sizeof(groups) / sizeof(groups[0]),
    };
    flags_parse_or_exit(&spec, argc, argv);

    struct nats_client_config probe;
    nats_client_config_defaults(&probe);
    if (nats_flags_config(&cfg->nats, &probe) != 0)
        usage_fail("--nats-cert and --nats-key go together");
    if (cfg->hostnames.n && !(cfg->backend_url && cfg->backend_url[0]))
        usage_fail("--hostname needs --backend-url");
    if (!cfg->hostnames.n && cfg->backend_url && cfg->backend_url[0])
        usage_fail("--backend-url needs --hostname");
    if (cfg->hostnames.n + cfg->routes.n == 0)
        usage_fail("nothing to serve: give --hostname with --backend-url, or --route HOST=URL");
}

/* ---------------------------------------------------------------- routes */

static struct ag_backend *backend_for(struct agent *ag, const struct url *u)
{
    for (size_t i = 0; i < ag->nbackends; i++) {
        struct ag_backend *be = &ag->backends[i];
        if (be->port == u->port && strlen(be->name) == u->host.n &&
            strncasecmp(be->name, (const char *)u->host.p, u->host.n) == 0)
            return be;
    }
    struct ag_backend *be = &ag->backends[ag->nbackends++];
    memset(be, 0, sizeof(*be));
    be->ag = ag;
    memcpy(be->name, u->host.p, u->host.n);
    be->name[u->host.n] = '\0';
    be->port = u->port;
    snprintf(be->port_str, sizeof(be->port_str), "%u", (unsigned)u->port);
    /* "host:port", brackets around IPv6; built from the URL's own span. */
    int v6 = u->host_type == URL_HOST_IPV6;
    snprintf(be->authority, sizeof(be->authority), "%s%.*s%s:%u", v6 ? "[" : "", (int)u->host.n,
             (const char *)u->host.p, v6 ? "]" : "", (unsigned)u->port);
    if (u->host_type == URL_HOST_NAME) {
        be->is_name = true;
    } else if (u->host_type == URL_HOST_IPV4) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(u->port)};
        memcpy(&sin.sin_addr, u->ip, 4);
        ag_backend_set_addr(be, (const struct sockaddr *)&sin, sizeof(sin));
    } else {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(u->port)};
        memcpy(&sin6.sin6_addr, u->ip, 16);
        ag_backend_set_addr(be, (const struct sockaddr *)&sin6, sizeof(sin6));
    }
    return be;
}

static int add_route(struct agent *ag, struct span host, const char *url, char *err, size_t errlen)
{
    struct url u;
    uint8_t ubuf[URL_MAX_LEN];
    if (ag->nroutes == AG_ROUTES_MAX) {
        snprintf(err, errlen, "more than %d routes", AG_ROUTES_MAX);
        return -EINVAL;
    }
    if (url_parse(url, strlen(url), URL_ALLOW_HTTP, &u, ubuf, sizeof(ubuf)) < 0)
        return -EINVAL; /* checked during flag parsing */
    struct ag_route *rt = &ag->routes[ag->nroutes];
    memset(rt, 0, sizeof(*rt));
    for (size_t i = 0; i < host.n; i++)
        rt->host[i] = (char)tolower(host.p[i]);
    int n = subject_host(rt->rhost, sizeof(rt->rhost), host);
    if (n < 0)
        return -EINVAL;
    rt->rhost_len = (size_t)n;
    for (size_t i = 0; i < ag->nroutes; i++) {
        if (ag->routes[i].rhost_len == rt->rhost_len &&
            memcmp(ag->routes[i].rhost, rt->rhost, rt->rhost_len) == 0) {
            snprintf(err, errlen, "host %s is served twice", rt->host);
            return -EINVAL;
        }
    }
    size_t bl = u.path.n;
    while (bl > 0 && u.path.p[bl - 1] == '/')
        bl--;
    memcpy(rt->base, u.path.p ? (const char *)u.path.p : "", bl);
    rt->base[bl] = '\0';
    rt->be = backend_for(ag, &u);
    rt->dr = (struct h8s_req_decode_route){
        .rhost = span_make(rt->rhost, rt->rhost_len),
        .host = span_cstr(rt->host),
        .base_path = span_make(rt->base, bl),
        .authority = span_cstr(rt->be->authority),
        .rewrite_host = ag->cfg->rewrite_host,
    };
    ag->nroutes++;
    return 0;
}

int ag_config_routes(struct agent *ag, const struct ag_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->hostnames.n; i++) {
        int rc = add_route(ag, span_cstr(cfg->hostnames.item[i]), cfg->backend_url, err, errlen);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < cfg->routes.n; i++) {
        const char *item = cfg->routes.item[i];
        const char *eq = strchr(item, '=');
        int rc = add_route(ag, span_make(item, (size_t)(eq - item)), eq + 1, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}
