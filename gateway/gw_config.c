/*
 * gateway/gw_config.c — h8sd's flags, their environment variables and
 * defaults, and what is derived from them before any thread starts.
 */
#include "gw_internal.h"

#include "core/log.h"
#include "core/units.h"
#include "core/version.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "host:port", "[v6]:port" or ":port" (every address); host is an IP
 * literal or "localhost". No name resolution at start-up. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon;
    size_t hl;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -1;
        hl = (size_t)(end - s - 1);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s + 1, hl);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
        if (hl >= sizeof(host) || memchr(s, ':', hl))
            return -1;
        memcpy(host, s, hl);
    }
    host[hl] = '\0';
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -1;
    unsigned port = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        port = port * 10 + (unsigned)(*p - '0');
    }
    if (port > 65535)
        return -1;
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (hl == 0 || strcmp(host, "localhost") == 0) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        a4->sin_addr.s_addr = hl == 0 ? htonl(INADDR_ANY) : htonl(INADDR_LOOPBACK);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    return -1;
}

static const char *check_listen(const union flags_value *v)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return parse_listen(v->str, &ss, &len) == 0
               ? NULL
               : "want HOST:PORT with an IP address (\"0.0.0.0:8080\", \"[::1]:8080\", \":8080\")";
}

/* A filter is a host name as the subject mapping reads it, optionally
 * preceded by "*." to cover every name below it. */
static int parse_filter(const char *s, struct gw_filter *f)
{
    f->wildcard = strncmp(s, "*.", 2) == 0;
    int n = subject_host(f->rhost, sizeof(f->rhost), span_cstr(s + (f->wildcard ? 2 : 0)));
    if (n <= 0)
        return -1;
    f->len = (size_t)n;
    return 0;
}

static const char *check_filter(const union flags_value *v)
{
    struct gw_filter f;
    return parse_filter(v->str, &f) == 0 ? NULL : "not a host name or IP address (\"*.\" prefix allowed)";
}

static const char *check_header_size(const union flags_value *v)
{
    return v->size >= 1024 && v->size <= 65536 ? NULL : "must be between 1KiB and 64KiB";
}

static const char *check_workers(const union flags_value *v)
{
    return v->i >= 0 && v->i <= GW_MAX_WORKERS ? NULL : "must be 0 (one per CPU) to 64";
}

static const char *check_conns(const union flags_value *v)
{
    return v->i >= 16 && v->i <= 200000 ? NULL : "must be between 16 and 200000";
}

void gw_config_parse(struct gw_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->access_log = true;
    const struct flags_entry gw_flags[] = {
        {.name = "listen", .env = "H8SD_LISTEN", .def = "0.0.0.0:8080", .metavar = "ADDR",
         .help = "address to accept HTTP clients on", .check = check_listen,
         FLAGS_DEST_STRING(&cfg->listen)},
        {.name = "request-timeout", .env = "H8SD_REQUEST_TIMEOUT", .def = "30s",
         .help = "longest silence from the responder within an exchange (restarts with every "
                 "message)",
         .check = flags_check_positive, FLAGS_DEST_DURATION(&cfg->request_timeout_ns)},
        {.name = "header-timeout", .env = "H8SD_HEADER_TIMEOUT", .def = "10s",
         .help = "time a client has to send a whole request head (408 after it)",
         .check = flags_check_positive, FLAGS_DEST_DURATION(&cfg->header_timeout_ns)},
        {.name = "idle-timeout", .env = "H8SD_IDLE_TIMEOUT", .def = "60s",
         .help = "how long a keep-alive connection may wait for its next request",
         .check = flags_check_positive, FLAGS_DEST_DURATION(&cfg->idle_timeout_ns)},
        {.name = "drain-timeout", .env = "H8SD_DRAIN_TIMEOUT", .def = "10s",
         .help = "on SIGTERM, how long in-flight exchanges may take to finish",
         .check = flags_check_positive, FLAGS_DEST_DURATION(&cfg->drain_timeout_ns)},
        {.name = "max-body-size", .env = "H8SD_MAX_BODY_SIZE", .def = "2MiB",
         .help = "largest request body (413 above it); responses of any size stream through",
         .check = flags_check_size_positive, FLAGS_DEST_SIZE(&cfg->max_body)},
        {.name = "max-header-size", .env = "H8SD_MAX_HEADER_SIZE", .def = "16KiB",
         .help = "largest request head, request line and fields (431 above it)",
         .check = check_header_size, FLAGS_DEST_SIZE(&cfg->max_header)},
        {.name = "host-filters", .env = "H8SD_HOST_FILTERS", .metavar = "HOSTS",
         .help = "comma list of hosts served (\"*.example.com\" for a whole domain); others get "
                 "403. Empty: every host",
         .opts = FLAGS_ENV_COMMA | FLAGS_ARG_COMMA, .check = check_filter,
         FLAGS_DEST_LIST(&cfg->host_filters)},
        {.name = "authorization-key", .env = "H8S_AUTHORIZATION_KEY", .metavar = "KEY",
         .help = "when set, a request's Authorization header must be exactly this (403 "
                 "otherwise); it is not forwarded",
         .opts = FLAGS_SECRET, FLAGS_DEST_STRING(&cfg->auth_key)},
        {.name = "publish-only", .env = "H8SD_PUBLISH_ONLY",
         .help = "publish each request without waiting for a reply and answer 200 at once",
         FLAGS_DEST_BOOL(&cfg->publish_only)},
        {.name = "track-interest", .env = "H8SD_TRACK_INTEREST",
         .help = "answer 404 for requests no live agent registered interest in",
         FLAGS_DEST_BOOL(&cfg->track_interest)},
        {.name = "trust-forwarded", .env = "H8SD_TRUST_FORWARDED",
         .help = "route by a client-sent X-Forwarded-Host and keep its X-Forwarded-Proto (only "
                 "behind a proxy you control)",
         FLAGS_DEST_BOOL(&cfg->trust_forwarded)},
        {.name = "access-log", .env = "H8SD_ACCESS_LOG", .def = "true",
         .help = "log one event=request line per exchange (info level)",
         FLAGS_DEST_BOOL(&cfg->access_log)},
        {.name = "workers", .env = "H8SD_WORKERS", .def = "0", .metavar = "N",
         .help = "worker threads, each with its own loop and NATS connection; 0: one per "
                 "online CPU",
         .check = check_workers, FLAGS_DEST_INT(&cfg->workers)},
        {.name = "max-connections", .env = "H8SD_MAX_CONNECTIONS", .def = "4096", .metavar = "N",
         .help = "client connections per worker", .check = check_conns,
         FLAGS_DEST_INT(&cfg->max_conns)},
    };
    struct flags_entry log_flags[DAEMON_LOG_FLAGS];
    daemon_log_flags(&cfg->log, log_flags);
    nats_flags_init(&cfg->nats);
    const struct flags_group groups[] = {
        FLAGS_GROUP("Gateway", gw_flags),
        nats_flags_group(&cfg->nats),
        FLAGS_GROUP("Logging", log_flags),
    };
    const struct flags_spec spec = {
        .prog = "h8sd",
        .version = H8S_VERSION,
        .summary = "h8sd is the h8s gateway: it accepts HTTP/1.1 clients on the public side and\n"
                   "carries each exchange over NATS to the h8srd agent (or any responder) that\n"
                   "serves the request's host.",
        .groups = groups,
        .ngroups = sizeof(groups) / sizeof(groups[0]),
    };
    flags_parse_or_exit(&spec, argc, argv);

    /* Both were checked by the flag parser; these cannot fail now. */
    if (parse_listen(cfg->listen, &cfg->addr, &cfg->addrlen) != 0)
        exit(2);
    for (size_t i = 0; i < cfg->host_filters.n; i++) {
        if (parse_filter(cfg->host_filters.item[i], &cfg->filters[i]) != 0)
            exit(2);
    }
    cfg->nfilters = cfg->host_filters.n;
    cfg->auth_key_len = cfg->auth_key ? strlen(cfg->auth_key) : 0;
    if (cfg->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = n < 1 ? 1 : n > GW_MAX_WORKERS ? GW_MAX_WORKERS : n;
    }
}

int gw_config_host_allowed(const struct gw_config *cfg, const uint8_t *rhost, size_t len)
{
    if (cfg->nfilters == 0)
        return 1;
    for (size_t i = 0; i < cfg->nfilters; i++) {
        const struct gw_filter *f = &cfg->filters[i];
        if (!f->wildcard) {
            if (len == f->len && memcmp(rhost, f->rhost, len) == 0)
                return 1;
            continue;
        }
        /* "*.example.com" is "com.example." followed by at least a label. */
        if (len > f->len + 1 && memcmp(rhost, f->rhost, f->len) == 0 && rhost[f->len] == '.')
            return 1;
    }
    return 0;
}
