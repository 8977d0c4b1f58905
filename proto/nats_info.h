/*
 * proto/nats_info.h — reads the JSON object of a NATS INFO operation.
 *
 * A minimal, strict JSON reader (RFC 8259 syntax, UTF-8 checked, nesting
 * bounded by NATS_INFO_DEPTH_MAX) that extracts the fields a client needs
 * and skips every other key, whatever the type of its value. No
 * allocation: strings are decoded into fixed arrays inside struct
 * nats_info, which is plain data and may be copied.
 */
#ifndef H8S_PROTO_NATS_INFO_H
#define H8S_PROTO_NATS_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

#define NATS_INFO_STR_MAX 128   /* server_id, server_name, version (incl. NUL) */
#define NATS_INFO_NONCE_MAX 128 /* nonce (incl. NUL) */
#define NATS_INFO_URLS_MAX 32   /* connect_urls kept */
#define NATS_INFO_URL_MAX 272   /* one "host:port" (incl. NUL) */
#define NATS_INFO_DEPTH_MAX 32  /* nesting of skipped values */

/* Error codes (negative). */
#define NATS_INFO_ESYNTAX (-1) /* not a well-formed JSON object */
#define NATS_INFO_ETYPE (-2)   /* a known key has a value of the wrong type */
#define NATS_INFO_ERANGE (-3)  /* a number out of range for its field */
#define NATS_INFO_EDEPTH (-4)  /* nesting deeper than NATS_INFO_DEPTH_MAX */
#define NATS_INFO_ENONCE (-5)  /* nonce longer than NATS_INFO_NONCE_MAX - 1 */

struct nats_info {
    /* Informational strings: NUL-terminated UTF-8, truncated (at a
     * character boundary) to fit. Empty when absent. */
    char server_id[NATS_INFO_STR_MAX];
    char server_name[NATS_INFO_STR_MAX];
    char version[NATS_INFO_STR_MAX];
    /* The nonce to sign for NKEY/JWT auth; never truncated. */
    char nonce[NATS_INFO_NONCE_MAX];
    int64_t proto;        /* -1 when absent */
    uint64_t max_payload; /* 0 when absent */
    uint64_t client_id;   /* 0 when absent */
    bool headers;
    bool auth_required;
    bool tls_required;
    bool tls_available;
    bool ldm; /* lame-duck mode: the server is about to go away */
    /* Cluster peers clients may connect to ("host:port", IPv6 in
     * brackets). Entries that do not fit NATS_INFO_URL_MAX, and entries
     * beyond NATS_INFO_URLS_MAX, are dropped and counted. */
    size_t n_connect_urls;
    size_t connect_urls_dropped;
    char connect_urls[NATS_INFO_URLS_MAX][NATS_INFO_URL_MAX];
};

/*
 * Parses json (the text after "INFO ", e.g. from nats_parse's on_info) into
 * *out, which is fully overwritten (absent fields get the defaults above).
 * Known keys: server_id, server_name, version, proto, max_payload,
 * client_id, headers, auth_required, tls_required, tls_available, nonce,
 * connect_urls, ldm; a repeated key keeps its last value. Anything after
 * the closing brace other than whitespace is an error.
 * Returns 0 or a negative NATS_INFO_E* code; on error *out is unspecified.
 */
int nats_info_parse(struct nats_info *out, struct span json);

/* Static description of a NATS_INFO_E* code. */
const char *nats_info_strerror(int err);

#endif
