/*
 * proto/creds.h — NATS credentials files.
 *
 * Two shapes are accepted:
 *
 *   1. A ".creds" file as the NATS tools write it: a user JWT block and a
 *      user seed block, in either order, with free text around them:
 *
 *        -----BEGIN NATS USER JWT-----
 *        eyJ0eXAiOi....<payload>.<signature>
 *        ------END NATS USER JWT------
 *
 *        -----BEGIN USER NKEY SEED-----
 *        SUA...
 *        ------END USER NKEY SEED------
 *
 *   2. A bare seed: the whole file is one seed line (an nkey file as given
 *      to --nats-nkey), optionally surrounded by blank lines.
 *
 * Tolerated: 3 to 6 dashes on either side of a marker (writers differ),
 * LF or CRLF line ends, spaces or tabs around a line, a UTF-8 byte-order
 * mark, and free text lines outside blocks as long as they do not start
 * with '-'. Rejected with a specific error: anything else in a marker
 * line, unknown block labels, a BEGIN whose next line is not the token or
 * whose token is not followed directly by the matching END, duplicate or
 * missing blocks, NUL and other control bytes, a stray CR, tokens that are
 * not shaped like a JWT (three non-empty base64url segments) or a seed (58
 * base32 characters starting with 'S').
 *
 * creds_parse() only checks the shape of the seed; decode it with
 * nkey_from_seed() (which verifies the CRC and derives the key) and check
 * that its role is the one expected (NKEY_TYPE_USER for a client).
 *
 * The parser works on a whole file in memory (credentials are read once at
 * start-up, not streamed); it never allocates and never copies: results
 * are spans into the caller's buffer. Nothing here prints or logs, and no
 * error string contains file contents: a seed is never echoed.
 */
#ifndef H8S_PROTO_CREDS_H
#define H8S_PROTO_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

/* Largest credentials file accepted, in bytes (user JWTs with many
 * permissions run to a few KiB). */
#define CREDS_FILE_MAX (64 * 1024)

enum creds_kind {
    CREDS_KIND_NONE = 0,
    CREDS_KIND_USER = 1, /* .creds: JWT and seed */
    CREDS_KIND_SEED = 2, /* bare seed, no JWT */
};

enum {
    CREDS_ERR_TOO_LARGE = -1201,    /* input longer than CREDS_FILE_MAX */
    CREDS_ERR_BINARY = -1202,       /* NUL, control byte or stray CR */
    CREDS_ERR_MARKER = -1203,       /* malformed or misplaced marker line */
    CREDS_ERR_LABEL = -1204,        /* unknown label, or END of another block */
    CREDS_ERR_DUPLICATE = -1205,    /* the same block twice */
    CREDS_ERR_UNTERMINATED = -1206, /* input ends inside a block */
    CREDS_ERR_JWT = -1207,          /* JWT block content is not a JWT */
    CREDS_ERR_SEED = -1208,         /* seed content is not an encoded seed */
    CREDS_ERR_NO_JWT = -1209,       /* seed block without a JWT block */
    CREDS_ERR_NO_SEED = -1210,      /* JWT block without a seed block */
    CREDS_ERR_EMPTY = -1211,        /* nothing but blank lines */
    CREDS_ERR_NOT_FILE = -1212,     /* creds_file_load: not a regular file */
};

struct creds {
    enum creds_kind kind;
    struct span jwt;  /* CREDS_KIND_USER only; {NULL, 0} otherwise */
    struct span seed; /* always set on success; secret */
};

/*
 * Parses len bytes at buf as one of the shapes above. On success returns
 * 0 and fills *c with spans into buf (valid as long as buf is, unchanged);
 * on failure returns a negative CREDS_ERR_* code and leaves *c zeroed.
 */
int creds_parse(struct creds *c, const uint8_t *buf, size_t len);

/*
 * A loaded credentials file. buf is allocated with sodium_malloc (guarded,
 * locked where the system allows) and wiped by creds_file_free().
 */
struct creds_file {
    uint8_t *buf;
    size_t len;
    struct creds creds; /* spans into buf */
};

/*
 * Reads the regular file at path (at most CREDS_FILE_MAX bytes) into a
 * fresh buffer and parses it. On success returns 0; the caller owns *f
 * and must call creds_file_free(). On failure returns -errno (open, read,
 * allocation), CREDS_ERR_NOT_FILE, CREDS_ERR_TOO_LARGE or a creds_parse()
 * error, with everything already wiped and freed and *f zeroed.
 */
int creds_file_load(struct creds_file *f, const char *path);

/*
 * Wipes and frees the buffer and zeroes *f. Safe on a zeroed struct and
 * after a failed load; idempotent.
 */
void creds_file_free(struct creds_file *f);

/*
 * Returns a static description of a CREDS_ERR_* code, or strerror() of a
 * -errno value.
 */
const char *creds_strerror(int err);

#endif
