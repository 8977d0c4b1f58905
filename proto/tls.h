/*
 * proto/tls.h — sans-I/O TLS connections over BearSSL.
 *
 * A struct tls_conn is one TLS 1.2 endpoint, client or server: BearSSL's
 * engine, its certificate validator and its record buffer, all inside the
 * struct (no allocation; embed it in the connection that owns the socket).
 * It never touches a socket. The owner moves bytes:
 *
 *   network -> tls_conn_feed(cipher)          ciphertext in
 *   tls_conn_read(&plain) / tls_conn_read_ack  plaintext out
 *   tls_conn_write(plain) / tls_conn_flush      plaintext in
 *   tls_conn_pending_out(&cipher) / _out_ack    ciphertext out -> network
 *
 * The pump, after every event (bytes arrived, app wants to send, socket
 * writable):
 *   1. feed what arrived; consumed < n means the engine holds a full
 *      record: read and ack plaintext, drain pending_out, feed the rest;
 *   2. read/ack plaintext until tls_conn_read returns 0;
 *   3. write app data (a short count means "drain pending_out, retry"),
 *      then tls_conn_flush at the end of the batch;
 *   4. copy tls_conn_pending_out to the socket and ack it, until it is 0;
 *   5. check tls_conn_error / tls_conn_is_closed.
 * Ciphertext appears after init (the client's ClientHello), feed,
 * read_ack, write, flush, close and out_ack itself (the next record once
 * room is made), so drain pending_out until it is 0 after any of those.
 *
 * Profile: TLS 1.2 only (BearSSL has no 1.3), ECDHE key exchange with
 * AES-GCM or ChaCha20-Poly1305 only, renegotiation refused. Clients always
 * verify the server against the configured anchors, the current time and
 * the server name: there is no insecure mode. The server name may be a
 * DNS name (sent as SNI, matched against dNSName SANs / CN, wildcards as
 * BearSSL allows) or an IPv4/IPv6 literal (no SNI; matched against the
 * iPAddress SANs, see tls_san.h). Servers present one chain with an RSA or
 * EC key and can require or accept client certificates.
 *
 * Randomness: BearSSL seeds each engine with br_prng_seeder_system(),
 * which in Debian's build may be RDRAND alone; init also mixes 32 bytes
 * of getrandom(2) into every engine, so the kernel pool backs every
 * handshake whatever the CPU.
 *
 * Errors: functions return 0 or a negative code; codes are sticky (the
 * first failure stays) and are one of
 *   -BR_ERR_* (bearssl_ssl.h: protocol errors), -BR_ERR_X509_*
 *   (bearssl_x509.h: certificate validation), -(BR_ERR_RECV_FATAL_ALERT +
 *   alert) / -(BR_ERR_SEND_FATAL_ALERT + alert), or TLS_E_* below.
 * tls_strerror() names any of them.
 */
#ifndef H8S_PROTO_TLS_H
#define H8S_PROTO_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "proto/span.h"
#include "proto/tls_pem.h"
#include "proto/tls_san.h"

/*
 * Record buffer: full-duplex (BR_SSL_BUFSIZE_BIDI = 16709 in + 16469
 * out). The input half must take a full 16 KiB record since peers send
 * them; a mono buffer would serialise reading and writing, which a
 * pipelined protocol (NATS) cannot afford.
 */
#define TLS_CONN_BUFSIZE BR_SSL_BUFSIZE_BIDI

#define TLS_SERVER_NAME_MAX 255 /* bytes, without the NUL; BearSSL's limit */

#define TLS_E_CONFIG (-1001)      /* invalid configuration passed to init */
#define TLS_E_SERVER_NAME (-1002) /* server name empty, too long or malformed */
#define TLS_E_CLOSED (-1003)      /* closed cleanly: no more data accepted */
#define TLS_E_TRUNCATED (-1004)   /* transport EOF before close_notify */
#define TLS_E_USAGE (-1005)       /* acked more bytes than were available */

#define TLS_CLIENT_AUTH_NONE 0     /* do not ask for a client certificate */
#define TLS_CLIENT_AUTH_OPTIONAL 1 /* ask; go on without one (see peer_verified) */
#define TLS_CLIENT_AUTH_REQUIRE 2  /* ask; fail the handshake without a valid one */

struct tls_client_config {
    /* CAs to verify the server with (n > 0). Borrowed: must outlive the conn. */
    const struct tls_pem_anchors *anchors;
    /* Expected server: DNS name or IP literal (no brackets). Copied. */
    const char *server_name;
    /* Optional client certificate for mTLS; both or neither. Borrowed. */
    const struct tls_pem_chain *chain;
    const struct tls_pem_key *key;
};

struct tls_server_config {
    /* Certificate chain (EE first) and its private key. Borrowed. */
    const struct tls_pem_chain *chain;
    const struct tls_pem_key *key;
    /* TLS_CLIENT_AUTH_*; with OPTIONAL or REQUIRE, client_anchors (n > 0)
     * are the CAs client certificates must chain to. Borrowed. */
    int client_auth;
    const struct tls_pem_anchors *client_anchors;
};

/*
 * Certificate validator wrapped around BearSSL's minimal engine: sets the
 * validation time from the real clock, adds the iPAddress check, records
 * the outcome. Internal to tls_conn; fields are not part of the API.
 */
struct tls_x509 {
    const br_x509_class *vtable; /* first: BearSSL calls through it */
    br_x509_minimal_context minimal;
    struct tls_san san;
    char name[TLS_SERVER_NAME_MAX + 1]; /* DNS name to match; "" for none */
    uint8_t ip[16];
    uint8_t ip_len; /* 4 or 16: match iPAddress SANs instead of a name */
    uint8_t chain_seen;
    uint32_t cert_index;
    unsigned result; /* end_chain outcome: 0 or BR_ERR_X509_* */
};

struct tls_conn {
    union {
        br_ssl_client_context client;
        br_ssl_server_context server;
    } u;
    struct tls_x509 x509;
    uint8_t is_server;
    uint8_t hs_done;
    uint8_t closing; /* tls_conn_close called */
    uint8_t eof;     /* tls_conn_feed_eof called */
    int err;         /* sticky TLS_E_* not known to the engine */
    uint8_t buf[TLS_CONN_BUFSIZE];
};

/*
 * Prepares c as a client and starts the handshake: the ClientHello is
 * ready in tls_conn_pending_out on return. Everything cfg points to
 * except server_name must stay valid and unchanged while c is used.
 * c needs no cleanup (no resources held); reinitialise to reuse it.
 * Returns 0, TLS_E_CONFIG (no anchors, chain without key, key type not
 * the chain's), TLS_E_SERVER_NAME, or -BR_ERR_NO_RANDOM.
 */
int tls_conn_client_init(struct tls_conn *c, const struct tls_client_config *cfg);

/*
 * Prepares c as a server waiting for a ClientHello. Borrowing and cleanup
 * as for tls_conn_client_init. The chain/key pairing is not re-checked
 * here (call tls_pem_check_pair once after loading). Returns 0,
 * TLS_E_CONFIG, or -BR_ERR_NO_RANDOM.
 */
int tls_conn_server_init(struct tls_conn *c, const struct tls_server_config *cfg);

/*
 * Gives the engine ciphertext received from the peer. Copies as much as
 * the engine can take now into its record buffer and stores the count in
 * *consumed; the caller keeps the rest and feeds it again after reading
 * plaintext and draining output (see the pump above). Returns 0, the
 * sticky error, or TLS_E_CLOSED when bytes arrive after a clean closure.
 */
int tls_conn_feed(struct tls_conn *c, const uint8_t *cipher, size_t n, size_t *consumed);

/*
 * The transport reached EOF. Returns 0 when that is an orderly end (the
 * peer's close_notify was received, or we had called tls_conn_close), else
 * sets and returns TLS_E_TRUNCATED (or returns the earlier error): data
 * may have been cut off by an attacker. c is closed either way.
 */
int tls_conn_feed_eof(struct tls_conn *c);

/*
 * Decrypted application data ready for the caller: *plain spans it inside
 * c's buffer, valid until the next call on c. Returns plain->n, 0 when
 * nothing is ready (then plain is {NULL, 0}).
 */
size_t tls_conn_read(struct tls_conn *c, struct span *plain);

/*
 * Marks n bytes of the span from tls_conn_read as consumed (n == 0 is a
 * no-op). Acking more than is available fails c with TLS_E_USAGE.
 */
void tls_conn_read_ack(struct tls_conn *c, size_t n);

/*
 * Copies up to n bytes of application data into the engine and returns
 * how many were taken. Returns 0 before the handshake completes, after
 * close or failure, or while the engine's output holds a full record (drain
 * tls_conn_pending_out, then retry). A full record is sealed as soon as
 * it fills; a partial one waits for tls_conn_flush.
 */
size_t tls_conn_write(struct tls_conn *c, const uint8_t *plain, size_t n);

/* Seals buffered application data into a record now. */
void tls_conn_flush(struct tls_conn *c);

/*
 * Ciphertext waiting to go to the peer: *cipher spans it inside c's buffer,
 * valid until the next call on c. Returns cipher->n (0: nothing to send).
 */
size_t tls_conn_pending_out(struct tls_conn *c, struct span *cipher);

/*
 * Marks n bytes of the pending ciphertext as sent (n == 0 is a no-op).
 * Acking more than is pending fails c with TLS_E_USAGE.
 */
void tls_conn_out_ack(struct tls_conn *c, size_t n);

/*
 * Starts an orderly closure: buffered data is sealed and a close_notify
 * alert queued (send it via pending_out). After the peer's close_notify,
 * or tls_conn_feed_eof, c is closed. Idempotent.
 */
void tls_conn_close(struct tls_conn *c);

/* 1 once the handshake completed (stays 1, even after closure). */
int tls_conn_handshake_done(const struct tls_conn *c);

/* 1 when no more data can flow: closed cleanly, failed, or EOF fed. */
int tls_conn_is_closed(const struct tls_conn *c);

/* 0, or the sticky negative code (see the top of this file). */
int tls_conn_error(const struct tls_conn *c);

/*
 * Whether the peer proved its identity with a certificate chain to a
 * configured anchor: for a client, 1 once the handshake is done; for a
 * server, 1 when the client presented a valid certificate (the only way
 * to tell with TLS_CLIENT_AUTH_OPTIONAL).
 */
int tls_conn_peer_verified(const struct tls_conn *c);

/*
 * A static English description of a code from this module (and of 0):
 * "certificate not trusted", "server name mismatch", "received fatal alert:
 * handshake_failure", ... Unknown codes give "unknown TLS error".
 */
const char *tls_strerror(int err);

#endif
