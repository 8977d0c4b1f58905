/*
 * proto/tls_san.c — see tls_san.h.
 *
 * A byte-driven DER walker: element headers are read one byte at a time
 * (so any split works), contents are skipped or captured in bulk. Only
 * elements on the path to the SAN entries are entered; their end offsets
 * are kept on a small stack so every child is checked against its parent.
 */
#include "proto/tls_san.h"

#include <string.h>

enum {
    TLS_SAN_H_TAG,
    TLS_SAN_H_LEN1,
    TLS_SAN_H_LENX,
    TLS_SAN_H_CONTENT,
};

/* Path steps, i.e. what an open element is. */
enum {
    TLS_SAN_K_CERT = 1,
    TLS_SAN_K_TBS,
    TLS_SAN_K_EXTWRAP, /* [3] EXPLICIT around Extensions */
    TLS_SAN_K_EXTS,
    TLS_SAN_K_EXT,
    TLS_SAN_K_SANOCT, /* extnValue OCTET STRING of subjectAltName */
    TLS_SAN_K_NAMES,  /* GeneralNames */
};

enum {
    TLS_SAN_CAP_NONE,
    TLS_SAN_CAP_OID,
    TLS_SAN_CAP_IP,
};

#define DER_SEQUENCE 0x30
#define DER_OID 0x06
#define DER_OCTET_STRING 0x04
#define DER_CTX_3_CONS 0xa3 /* [3] constructed: tbsCertificate extensions */
#define DER_CTX_7_PRIM 0x87 /* [7] primitive: GeneralName iPAddress */

/* id-ce-subjectAltName, 2.5.29.17, DER contents of the OID */
static const uint8_t oid_san[] = {0x55, 0x1d, 0x11};

int tls_san_init(struct tls_san *s, const uint8_t *addr, size_t addr_len, uint32_t total_len)
{
    memset(s, 0, sizeof(*s));
    if (addr_len != 4 && addr_len != 16) {
        s->err = 1;
        return -1;
    }
    memcpy(s->want, addr, addr_len);
    s->want_len = (uint8_t)addr_len;
    s->total = total_len;
    s->hstate = TLS_SAN_H_TAG;
    return 0;
}

static uint32_t parent_end(const struct tls_san *s)
{
    return s->depth ? s->end[s->depth - 1] : s->total;
}

static uint8_t parent_kind(const struct tls_san *s)
{
    return s->depth ? s->kind[s->depth - 1] : 0;
}

/* Pops every element that ends at the current offset. */
static void close_levels(struct tls_san *s)
{
    while (s->depth > 0 && s->pos == s->end[s->depth - 1]) {
        s->depth--;
        if (s->kind[s->depth] == TLS_SAN_K_TBS)
            s->done = 1;
    }
}

static void enter(struct tls_san *s, uint8_t kind)
{
    if (s->depth == TLS_SAN_DEPTH) {
        s->err = 1;
        return;
    }
    s->kind[s->depth] = kind;
    s->end[s->depth] = s->pos + s->len;
    s->depth++;
    if (kind == TLS_SAN_K_EXT)
        s->ext_is_san = 0;
    s->hstate = TLS_SAN_H_TAG;
    close_levels(s);
}

static void finish_content(struct tls_san *s)
{
    if (s->capture == TLS_SAN_CAP_OID)
        s->ext_is_san = s->cap_len == sizeof(oid_san) && memcmp(s->cap, oid_san, s->cap_len) == 0;
    else if (s->capture == TLS_SAN_CAP_IP && s->cap_len == s->want_len &&
             memcmp(s->cap, s->want, s->want_len) == 0)
        s->found = 1;
    s->capture = TLS_SAN_CAP_NONE;
    s->hstate = TLS_SAN_H_TAG;
    close_levels(s);
}

/* Skips (or captures, when short enough) the content of the element. */
static void primitive(struct tls_san *s, uint8_t capture)
{
    s->capture = s->len <= sizeof(s->cap) ? capture : TLS_SAN_CAP_NONE;
    s->cap_len = 0;
    s->content_end = s->pos + s->len;
    s->hstate = TLS_SAN_H_CONTENT;
    if (s->len == 0)
        finish_content(s);
}

/* A header is complete: decide whether to enter, capture or skip. */
static void header_done(struct tls_san *s)
{
    uint8_t t = s->tag;

    if (s->len > parent_end(s) - s->pos) {
        s->err = 1;
        return;
    }
    switch (parent_kind(s)) {
    case 0:
        if (t != DER_SEQUENCE)
            s->err = 1;
        else
            enter(s, TLS_SAN_K_CERT);
        break;
    case TLS_SAN_K_CERT:
        /* The first child is tbsCertificate; the walk ends with it. */
        if (t != DER_SEQUENCE)
            s->err = 1;
        else
            enter(s, TLS_SAN_K_TBS);
        break;
    case TLS_SAN_K_TBS:
        if (t == DER_CTX_3_CONS)
            enter(s, TLS_SAN_K_EXTWRAP);
        else
            primitive(s, TLS_SAN_CAP_NONE);
        break;
    case TLS_SAN_K_EXTWRAP:
    case TLS_SAN_K_EXTS:
        if (t != DER_SEQUENCE)
            s->err = 1;
        else
            enter(s, parent_kind(s) == TLS_SAN_K_EXTWRAP ? TLS_SAN_K_EXTS : TLS_SAN_K_EXT);
        break;
    case TLS_SAN_K_EXT:
        if (t == DER_OID)
            primitive(s, TLS_SAN_CAP_OID);
        else if (t == DER_OCTET_STRING && s->ext_is_san)
            enter(s, TLS_SAN_K_SANOCT);
        else
            primitive(s, TLS_SAN_CAP_NONE);
        break;
    case TLS_SAN_K_SANOCT:
        if (t != DER_SEQUENCE)
            s->err = 1;
        else
            enter(s, TLS_SAN_K_NAMES);
        break;
    case TLS_SAN_K_NAMES:
        primitive(s, t == DER_CTX_7_PRIM ? TLS_SAN_CAP_IP : TLS_SAN_CAP_NONE);
        break;
    default:
        s->err = 1;
        break;
    }
}

static void header_byte(struct tls_san *s, uint8_t b)
{
    if (s->pos >= parent_end(s)) {
        s->err = 1;
        return;
    }
    s->pos++;
    switch (s->hstate) {
    case TLS_SAN_H_TAG:
        /* Certificates never need high tag numbers. */
        if ((b & 0x1f) == 0x1f) {
            s->err = 1;
            return;
        }
        s->tag = b;
        s->hstate = TLS_SAN_H_LEN1;
        break;
    case TLS_SAN_H_LEN1:
        if (b < 0x80) {
            s->len = b;
            header_done(s);
        } else if (b == 0x80 || b > 0x84) {
            /* indefinite (BER only) or longer than 32 bits */
            s->err = 1;
        } else {
            s->lenbytes = b & 0x7f;
            s->len = 0;
            s->hstate = TLS_SAN_H_LENX;
        }
        break;
    case TLS_SAN_H_LENX:
        s->len = (s->len << 8) | b;
        if (--s->lenbytes == 0)
            header_done(s);
        break;
    default:
        s->err = 1;
        break;
    }
}

void tls_san_feed(struct tls_san *s, const uint8_t *p, size_t n)
{
    while (n > 0 && !s->err && !s->done) {
        if (s->hstate == TLS_SAN_H_CONTENT) {
            size_t m = s->content_end - s->pos;

            if (m > n)
                m = n;
            if (s->capture != TLS_SAN_CAP_NONE) {
                memcpy(s->cap + s->cap_len, p, m);
                s->cap_len = (uint8_t)(s->cap_len + m);
            }
            s->pos += (uint32_t)m;
            p += m;
            n -= m;
            if (s->pos == s->content_end)
                finish_content(s);
        } else {
            header_byte(s, *p);
            p++;
            n--;
        }
    }
}

int tls_san_result(const struct tls_san *s)
{
    if (s->err || !s->done)
        return TLS_SAN_ERROR;
    return s->found ? TLS_SAN_MATCH : TLS_SAN_NO_MATCH;
}
