/*
 * proto/nats_flags.h — the NATS flags both daemons share, as a
 * core/flags.h group, and their translation into a client configuration.
 *
 *   --nats-url               NATS_URL         comma-separated server URLs
 *   --nats-creds             NATS_CREDS_PATH  .creds file (user JWT + NKEY seed)
 *   --nats-nkey                               NKEY seed file
 *   --nats-ca                                 CA bundle for TLS
 *   --nats-cert, --nats-key                   client certificate and key (mTLS)
 *   --nats-name                               connection name
 *   --nats-reconnect-buffer                   bytes kept while disconnected
 *
 * Usage: embed a struct nats_flags, call nats_flags_init, put
 * nats_flags_group(&f) among the program's groups, parse, then
 * nats_flags_config to fill a struct nats_client_config. Secrets: the URL
 * may carry a password or token; core/flags redacts it in any message, and
 * the client never logs it.
 */
#ifndef H8S_PROTO_NATS_FLAGS_H
#define H8S_PROTO_NATS_FLAGS_H

#include <stdint.h>

#include "core/flags.h"
#include "proto/nats_client.h"

#define NATS_FLAGS_COUNT 8
#define NATS_FLAGS_DEFAULT_URL "nats://127.0.0.1:4222"
#define NATS_FLAGS_DEFAULT_RECONNECT_BUFFER "8MiB"

/* Parsed values (destinations of the table) and the table itself, which
 * points into this struct: do not copy it after nats_flags_init. */
struct nats_flags {
    const char *url;
    const char *creds;
    const char *nkey;
    const char *ca;
    const char *cert;
    const char *key;
    const char *name;
    uint64_t reconnect_buffer;
    struct flags_entry table[NATS_FLAGS_COUNT];
};

/* Fills the table; values start empty (the parser applies defaults). */
void nats_flags_init(struct nats_flags *f);

/* The group to list in a struct flags_spec (title "NATS"). */
struct flags_group nats_flags_group(struct nats_flags *f);

/*
 * Copies the parsed values into cfg (other fields untouched). The strings
 * are borrowed: they must outlive nats_client_create, which copies what
 * it keeps. Returns 0, or -EINVAL when --nats-cert and --nats-key are not
 * given together (the client would refuse it too, with this reason).
 */
int nats_flags_config(const struct nats_flags *f, struct nats_client_config *cfg);

#endif
