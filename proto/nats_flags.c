/*
 * proto/nats_flags.c — see nats_flags.h.
 */
#include "proto/nats_flags.h"

#include <errno.h>
#include <string.h>

#include "proto/url.h"

/* Rejects a URL list the client would refuse, at start-up, with the URL
 * module's reason (flags redacts the value it echoes). */
static const char *check_urls(const union flags_value *v)
{
    struct url list[URL_LIST_MAX];
    uint8_t buf[URL_MAX_LEN];
    size_t n = strlen(v->str);
    if (n > sizeof(buf))
        return "too long";
    int rc = url_parse_list(v->str, n, URL_ALLOW_NATS | URL_NO_SCHEME_NATS, list, URL_LIST_MAX, buf,
                            sizeof(buf), NULL);
    return rc < 0 ? url_strerror(rc) : NULL;
}

static const char *check_buffer(const union flags_value *v)
{
    return v->size == 0 ? "must be > 0" : v->size > ((uint64_t)1 << 32) ? "must be <= 4GiB" : NULL;
}

void nats_flags_init(struct nats_flags *f)
{
    memset(f, 0, sizeof(*f));
    const struct flags_entry t[NATS_FLAGS_COUNT] = {
        {.name = "nats-url",
         .env = "NATS_URL",
         .def = NATS_FLAGS_DEFAULT_URL,
         .metavar = "URLS",
         .help = "NATS server URLs, comma-separated (nats://, tls://)",
         FLAGS_DEST_STRING(&f->url),
         .check = check_urls},
        {.name = "nats-creds",
         .env = "NATS_CREDS_PATH",
         .metavar = "FILE",
         .help = "NATS credentials file (user JWT and NKEY seed)",
         FLAGS_DEST_STRING(&f->creds)},
        {.name = "nats-nkey",
         .metavar = "FILE",
         .help = "NATS NKEY seed file",
         FLAGS_DEST_STRING(&f->nkey)},
        {.name = "nats-ca",
         .metavar = "FILE",
         .help = "CA bundle to verify NATS servers (TLS)",
         FLAGS_DEST_STRING(&f->ca)},
        {.name = "nats-cert",
         .metavar = "FILE",
         .help = "client certificate for NATS mutual TLS (with --nats-key)",
         FLAGS_DEST_STRING(&f->cert)},
        {.name = "nats-key",
         .metavar = "FILE",
         .help = "private key of --nats-cert",
         FLAGS_DEST_STRING(&f->key)},
        {.name = "nats-name",
         .metavar = "NAME",
         .help = "NATS connection name",
         FLAGS_DEST_STRING(&f->name)},
        {.name = "nats-reconnect-buffer",
         .def = NATS_FLAGS_DEFAULT_RECONNECT_BUFFER,
         .help = "bytes of publishes kept while disconnected from NATS",
         FLAGS_DEST_SIZE(&f->reconnect_buffer),
         .check = check_buffer},
    };
    memcpy(f->table, t, sizeof(t));
}

struct flags_group nats_flags_group(struct nats_flags *f)
{
    return (struct flags_group){"NATS", f->table, NATS_FLAGS_COUNT};
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

int nats_flags_config(const struct nats_flags *f, struct nats_client_config *cfg)
{
    if ((nonempty(f->cert) == NULL) != (nonempty(f->key) == NULL))
        return -EINVAL;
    cfg->urls = nonempty(f->url) ? f->url : NATS_FLAGS_DEFAULT_URL;
    cfg->creds_path = nonempty(f->creds);
    cfg->nkey_path = nonempty(f->nkey);
    cfg->ca_path = nonempty(f->ca);
    cfg->cert_path = nonempty(f->cert);
    cfg->key_path = nonempty(f->key);
    cfg->name = nonempty(f->name);
    if (f->reconnect_buffer)
        cfg->reconnect_buffer = (size_t)f->reconnect_buffer;
    return 0;
}
