/*
 * proto/tls_san.h — streaming check of a certificate's iPAddress SANs.
 *
 * BearSSL's X.509 "minimal" engine matches the expected server name only
 * against dNSName entries (and the CN). A client that connects to an IP
 * literal (tls://127.0.0.1:4222, https://[::1]:8443) must instead find that
 * address among the iPAddress entries of the subjectAltName extension
 * (RFC 5280 4.2.1.6, RFC 6125 6.2.1). tls_san walks the DER of one
 * certificate as it streams past, chunk by chunk, without buffering it:
 *
 *   Certificate SEQUENCE > tbsCertificate SEQUENCE > [3] > Extensions
 *   SEQUENCE > Extension SEQUENCE { OID 2.5.29.17, BOOLEAN?, OCTET STRING
 *   { GeneralNames SEQUENCE { [7] iPAddress ... } } }
 *
 * Everything off that path is skipped by length. Lengths are checked
 * against their enclosing element and the certificate length given at
 * init; malformed input sets a sticky error. Only tbsCertificate is
 * walked; bytes after it are ignored. The result does not depend on how
 * the input is split.
 *
 * No allocation; the struct is embedded in the owner's.
 */
#ifndef H8S_PROTO_TLS_SAN_H
#define H8S_PROTO_TLS_SAN_H

#include <stddef.h>
#include <stdint.h>

#define TLS_SAN_DEPTH 8 /* open elements on the path, root included */

#define TLS_SAN_MATCH 1    /* the address is among the iPAddress SANs */
#define TLS_SAN_NO_MATCH 0 /* well-formed, address absent */
#define TLS_SAN_ERROR -1   /* malformed DER, or input ended too early */

struct tls_san {
    uint8_t want[16];
    uint8_t want_len; /* 4 (IPv4) or 16 (IPv6) */
    uint8_t found;
    uint8_t done;                /* tbsCertificate fully walked */
    uint8_t err;                 /* sticky */
    uint8_t depth;               /* entries used in kind[] / end[] */
    uint8_t kind[TLS_SAN_DEPTH]; /* which path step each open element is */
    uint32_t end[TLS_SAN_DEPTH]; /* offset just past each open element */
    uint32_t total;              /* certificate length announced at init */
    uint32_t pos;                /* bytes consumed so far */
    /* element header being read */
    uint8_t hstate; /* TLS_SAN_H_* (tls_san.c) */
    uint8_t tag;
    uint8_t lenbytes; /* long-form length bytes still to read */
    uint32_t len;
    /* content of the current primitive element */
    uint32_t content_end;
    uint8_t capture; /* 0 skip, 1 extension OID, 2 iPAddress */
    uint8_t cap_len;
    uint8_t cap[16];
    uint8_t ext_is_san; /* the current Extension's OID is subjectAltName */
};

/*
 * Prepares s to look for addr (4 bytes for IPv4, 16 for IPv6, network
 * order) in a certificate of total_len bytes. Returns 0, or -1 when
 * addr_len is neither 4 nor 16.
 */
int tls_san_init(struct tls_san *s, const uint8_t *addr, size_t addr_len, uint32_t total_len);

/*
 * Consumes the next n bytes of the certificate. Bytes beyond total_len
 * set the error. Never reads past p + n; keeps no pointer into p.
 */
void tls_san_feed(struct tls_san *s, const uint8_t *p, size_t n);

/*
 * TLS_SAN_MATCH or TLS_SAN_NO_MATCH once tbsCertificate has been walked
 * without error; TLS_SAN_ERROR when the DER was malformed or has not
 * been fed far enough.
 */
int tls_san_result(const struct tls_san *s);

#endif
