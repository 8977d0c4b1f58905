/*
 * proto/url.h — the URLs h8s is configured with: NATS servers (nats://,
 * tls://) and backends (http://, https://, ws://, wss://).
 *
 *   scheme://[user[:password]@]host[:port][/path][?query][#fragment]
 *
 * Strict by design (RFC 3986 syntax restricted to what the daemons use):
 *   - scheme: one of the six above, ASCII case-insensitive; a scheme-less
 *     "host[:port]" is read as nats:// when the caller passes
 *     URL_NO_SCHEME_NATS (NATS clients accept that form);
 *   - userinfo: "user:password@" or "token@" (no ':'), percent-decoded
 *     into a caller buffer; raw characters limited to unreserved,
 *     sub-delims and '%'; at most one '@'; the user (or token) must not be
 *     empty, the password may be; decoded control bytes are rejected;
 *   - host: a DNS name (labels of [A-Za-z0-9_-], 1-63 bytes, no '-' at a
 *     label's ends, 253 bytes in all, one optional trailing dot), a dotted
 *     IPv4 address (four decimal parts 0-255, no leading zeros), or a
 *     bracketed IPv6 address ("[::1]"; zone ids such as "[fe80::1%eth0]"
 *     are rejected). A name whose last label is all digits must be a valid
 *     IPv4 address, so "1.2.3" cannot be read two ways;
 *   - port: 1-65535; absent means the scheme's default (nats and tls 4222,
 *     http and ws 80, https and wss 443);
 *   - path, query, fragment: kept raw as spans; percent-encoding is
 *     validated but not decoded. nats:// and tls:// take no path (except
 *     a lone "/"), no query and no fragment.
 * Spaces, control bytes and non-ASCII bytes are rejected anywhere.
 *
 * Sans-I/O and allocation-free: results are spans into the input (host,
 * path, query, fragment) or into the caller's decode buffer (user,
 * password), valid as long as those are. An absent part is the span
 * {NULL, 0}; a present but empty one ("http://h/?") has a non-NULL pointer.
 *
 * Errors are negative URL_E* codes; url_strerror describes them.
 */
#ifndef H8S_PROTO_URL_H
#define H8S_PROTO_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

/* Longest URL accepted, in bytes. */
#define URL_MAX_LEN 2048
/* A convenient bound for URL lists (NATS_URL); url_parse_list takes its own. */
#define URL_LIST_MAX 32
/* A buffer for url_format_redacted that never truncates a URL_MAX_LEN URL:
 * the user name may grow threefold when re-encoded. */
#define URL_REDACTED_MAX (3 * URL_MAX_LEN + 16)

enum url_scheme {
    URL_SCHEME_NATS,
    URL_SCHEME_TLS,
    URL_SCHEME_HTTP,
    URL_SCHEME_HTTPS,
    URL_SCHEME_WS,
    URL_SCHEME_WSS
};

enum url_host_type { URL_HOST_NAME, URL_HOST_IPV4, URL_HOST_IPV6 };

/* Flags for url_parse / url_parse_list. With none of the URL_ALLOW_* bits
 * every scheme is accepted; with some, only those. */
#define URL_ALLOW_NATS 0x1u     /* nats://, tls:// */
#define URL_ALLOW_HTTP 0x2u     /* http://, https:// */
#define URL_ALLOW_WS 0x4u       /* ws://, wss:// */
#define URL_NO_SCHEME_NATS 0x8u /* "host[:port]" without a scheme is nats:// */

/* Error codes. */
#define URL_EEMPTY (-1)      /* empty input */
#define URL_ETOOLONG (-2)    /* longer than URL_MAX_LEN */
#define URL_EBADCHAR (-3)    /* space, control, non-ASCII or disallowed character */
#define URL_ESCHEME (-4)     /* missing or unknown scheme */
#define URL_ENOTALLOWED (-5) /* a known scheme the caller did not allow */
#define URL_EUSERINFO (-6)   /* malformed user info */
#define URL_EPERCENT (-7)    /* '%' not followed by two hex digits */
#define URL_ENOHOST (-8)     /* empty host */
#define URL_EHOST (-9)       /* invalid host name or IPv4 address */
#define URL_EIPV6 (-10)      /* invalid bracketed IPv6 address */
#define URL_EZONE (-11)      /* IPv6 zone id */
#define URL_EPORT (-12)      /* empty, non-numeric, 0 or > 65535 port */
#define URL_EPATH (-13)      /* path not allowed for the scheme */
#define URL_EQUERY (-14)     /* query or fragment not allowed for the scheme */
#define URL_ENOSPC (-15)     /* decode buffer too small */
#define URL_ETOOMANY (-16)   /* list has more items than the caller allows */
#define URL_EEMPTYITEM (-17) /* list has an empty item ("a,,b", trailing comma) */

struct url {
    enum url_scheme scheme;
    enum url_host_type host_type;
    bool tls;             /* tls://, https://, wss:// */
    bool port_explicit;   /* the port was written out */
    bool has_password;    /* "user:password@" rather than "token@" */
    uint16_t port;        /* explicit or the scheme's default */
    struct span user;     /* decoded user name or token; absent: {NULL, 0} */
    struct span password; /* decoded password; absent unless has_password */
    struct span host;     /* raw; IPv6 without the brackets */
    struct span path;     /* raw, "/..." or absent */
    struct span query;    /* raw, without '?' */
    struct span fragment; /* raw, without '#' */
    uint8_t ip[16];       /* IPV4: ip[0..3]; IPV6: all 16 (network order) */
};

/*
 * Parses s[0..n) (not necessarily NUL-terminated) into *u. Decoded user and
 * password bytes are written to buf[0..cap); cap >= n always suffices (and
 * no buffer is needed without user info). Returns the number of buffer
 * bytes used (>= 0), or a negative URL_E* code; *u is then unspecified.
 */
int url_parse(const char *s, size_t n, unsigned flags, struct url *u, uint8_t *buf, size_t cap);

/*
 * Parses a comma-separated list of URLs ("nats://a:4222, nats://b:4222")
 * into out[0..max). Blanks (space, tab) around items are ignored; an empty
 * item or an empty list is an error. Items share buf: cap >= n suffices.
 * Returns the number of URLs (>= 1), or a negative URL_E* code with the
 * failing item's index (from 0) in *bad_item when bad_item is not NULL.
 */
int url_parse_list(const char *s, size_t n, unsigned flags, struct url *out, size_t max,
                   uint8_t *buf, size_t cap, size_t *bad_item);

/*
 * Writes a printable form for logs, always with the effective port:
 * "nats://user:***@host:4222"; a token is replaced as a whole ("***@" after
 * the scheme); "https://[::1]:443/base?***" (a query may carry secrets too;
 * the fragment is dropped). The password, token and query never appear. The user name
 * is percent-encoded, so the result parses back. out is always
 * NUL-terminated when cap > 0; returns the full length like snprintf.
 */
size_t url_format_redacted(const struct url *u, char *out, size_t cap);

/* "nats", "tls", "http", "https", "ws", "wss". */
const char *url_scheme_name(enum url_scheme scheme);

/* 4222, 80 or 443. */
uint16_t url_default_port(enum url_scheme scheme);

/* A static description of a URL_E* code. */
const char *url_strerror(int err);

#endif
