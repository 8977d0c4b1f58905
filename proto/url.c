/* see url.h */
#include "proto/url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/outbuf.h"
#include "proto/ascii_internal.h"

/* Longest IPv6 text inet_pton accepts ("ffff:...:255.255.255.255"). */
#define IPV6_TEXT_MAX 45

static const struct {
    const char *name;
    uint16_t port;
    bool tls;
    unsigned allow;
} schemes[] = {
    [URL_SCHEME_NATS] = {"nats", 4222, false, URL_ALLOW_NATS},
    [URL_SCHEME_TLS] = {"tls", 4222, true, URL_ALLOW_NATS},
    [URL_SCHEME_HTTP] = {"http", 80, false, URL_ALLOW_HTTP},
    [URL_SCHEME_HTTPS] = {"https", 443, true, URL_ALLOW_HTTP},
    [URL_SCHEME_WS] = {"ws", 80, false, URL_ALLOW_WS},
    [URL_SCHEME_WSS] = {"wss", 443, true, URL_ALLOW_WS},
};

#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_unreserved(char c)
{
    return is_alpha(c) || ascii_is_digit((uint8_t)c) || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

static bool is_sub_delim(char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* Index of the first byte of p[0..n) that is in set, or n. */
static size_t find_any(const char *p, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\0' && strchr(set, p[i]) != NULL)
            return i;
    }
    return n;
}

/*
 * Checks that p[0..n) holds only unreserved characters, sub-delims, the
 * characters in extra and well-formed percent-escapes.
 */
static int check_chars(const char *p, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '%') {
            if (n - i < 3 || ascii_hex_val((uint8_t)p[i + 1]) < 0 ||
                ascii_hex_val((uint8_t)p[i + 2]) < 0)
                return URL_EPERCENT;
            i += 2;
        } else if (!is_unreserved(c) && !is_sub_delim(c) && (c == '\0' || !strchr(extra, c))) {
            return URL_EBADCHAR;
        }
    }
    return 0;
}

/* Percent-decodes an already checked p[0..n) to out; returns the length or
 * URL_EUSERINFO when a decoded byte is a control character. */
static int decode(const char *p, size_t n, uint8_t *out)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (c == '%') {
            c = (uint8_t)(ascii_hex_val((uint8_t)p[i + 1]) * 16 + ascii_hex_val((uint8_t)p[i + 2]));
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return URL_EUSERINFO;
        out[k++] = c;
    }
    return (int)k;
}

/* "user[:password]" (without the '@'). Returns buffer bytes used. */
static int parse_userinfo(const char *p, size_t n, struct url *u, uint8_t *buf, size_t cap)
{
    const char *colon = memchr(p, ':', n);
    size_t ulen = colon ? (size_t)(colon - p) : n;
    size_t plen = colon ? n - ulen - 1 : 0;
    int rc, ul, pl = 0;

    if (ulen == 0)
        return URL_EUSERINFO;
    if ((rc = check_chars(p, ulen, "")) < 0 ||
        (colon && (rc = check_chars(colon + 1, plen, ":")) < 0))
        return rc == URL_EBADCHAR ? URL_EUSERINFO : rc;
    /* Decoding only shrinks, so the raw length bounds what is needed. */
    if (buf == NULL || cap < ulen + plen)
        return URL_ENOSPC;
    if ((ul = decode(p, ulen, buf)) < 0)
        return ul;
    u->user = span_make(buf, (size_t)ul);
    if (colon) {
        if ((pl = decode(colon + 1, plen, buf + ul)) < 0)
            return pl;
        u->password = span_make(buf + ul, (size_t)pl);
        u->has_password = true;
    }
    return ul + pl;
}

static int check_host(const char *p, size_t n, struct url *u)
{
    size_t len = n, label = 0;
    bool last_numeric = true;

    if (len > 1 && p[len - 1] == '.')
        len--; /* one trailing dot: a fully qualified name */
    if (len > 253)
        return URL_EHOST;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == '.') {
            if (label == 0 || label > 63 || p[i - label] == '-' || p[i - 1] == '-')
                return URL_EHOST;
            if (i < len) {
                label = 0;
                last_numeric = true;
            }
            continue;
        }
        if (!is_alpha(p[i]) && !ascii_is_digit((uint8_t)p[i]) && p[i] != '-' && p[i] != '_')
            return URL_EHOST;
        last_numeric = last_numeric && ascii_is_digit((uint8_t)p[i]);
        label++;
    }
    if (last_numeric) {
        /* Resolvers read names ending in a number as IPv4 in several
         * legacy notations; accept only the one unambiguous form. */
        if (!ascii_ipv4((const uint8_t *)p, n, u->ip))
            return URL_EHOST;
        u->host_type = URL_HOST_IPV4;
    } else {
        u->host_type = URL_HOST_NAME;
    }
    return 0;
}

static int parse_port(const char *p, size_t n, uint16_t *out)
{
    unsigned v = 0;

    if (n == 0 || n > 5)
        return URL_EPORT;
    for (size_t i = 0; i < n; i++) {
        if (!ascii_is_digit((uint8_t)p[i]))
            return URL_EPORT;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return URL_EPORT;
    *out = (uint16_t)v;
    return 0;
}

static int parse_hostport(const char *p, size_t n, struct url *u)
{
    const char *port = NULL;
    size_t hlen;
    int rc;

    if (n == 0)
        return URL_ENOHOST;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', n);
        char text[IPV6_TEXT_MAX + 1];
        if (close == NULL)
            return URL_EIPV6;
        hlen = (size_t)(close - p) - 1;
        if (memchr(p + 1, '%', hlen) != NULL)
            return URL_EZONE;
        if (hlen == 0 || hlen > IPV6_TEXT_MAX)
            return URL_EIPV6;
        memcpy(text, p + 1, hlen);
        text[hlen] = '\0';
        if (inet_pton(AF_INET6, text, u->ip) != 1)
            return URL_EIPV6;
        u->host = span_make(p + 1, hlen);
        u->host_type = URL_HOST_IPV6;
        if (close + 1 < p + n) {
            if (close[1] != ':')
                return URL_EIPV6;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', n);
        hlen = colon ? (size_t)(colon - p) : n;
        if (colon && memchr(colon + 1, ':', n - hlen - 1) != NULL)
            return URL_EIPV6; /* an IPv6 address without brackets */
        if (hlen == 0)
            return URL_ENOHOST;
        if ((rc = check_host(p, hlen, u)) < 0)
            return rc;
        u->host = span_make(p, hlen);
        if (colon)
            port = colon + 1;
    }
    if (port != NULL) {
        if ((rc = parse_port(port, (size_t)(p + n - port), &u->port)) < 0)
            return rc;
        u->port_explicit = true;
    }
    return 0;
}

/* Finds a known scheme before "://". Returns the index past "://" (0 when
 * there is no scheme) or a negative code. */
static int parse_scheme(const char *s, size_t n, unsigned flags, struct url *u)
{
    size_t i = 0;

    while (i < n && (is_alpha(s[i]) || ascii_is_digit((uint8_t)s[i]) || s[i] == '+' ||
                     s[i] == '-' || s[i] == '.'))
        i++;
    if (i == 0 || n - i < 3 || memcmp(s + i, "://", 3) != 0) {
        if (!(flags & URL_NO_SCHEME_NATS))
            return URL_ESCHEME;
        u->scheme = URL_SCHEME_NATS;
        return 0;
    }
    for (size_t k = 0; k < NSCHEMES; k++) {
        if (strlen(schemes[k].name) == i &&
            span_eq_nocase(span_make(s, i), span_cstr(schemes[k].name))) {
            u->scheme = (enum url_scheme)k;
            return (int)i + 3;
        }
    }
    return URL_ESCHEME;
}

int url_parse(const char *s, size_t n, unsigned flags, struct url *u, uint8_t *buf, size_t cap)
{
    const unsigned allow = flags & (URL_ALLOW_NATS | URL_ALLOW_HTTP | URL_ALLOW_WS);
    size_t pos, a_end, end;
    int rc, used = 0;

    memset(u, 0, sizeof(*u));
    if (n == 0)
        return URL_EEMPTY;
    if (n > URL_MAX_LEN)
        return URL_ETOOLONG;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return URL_EBADCHAR;
    }
    if ((rc = parse_scheme(s, n, flags, u)) < 0)
        return rc;
    pos = (size_t)rc;
    if (allow != 0 && !(allow & schemes[u->scheme].allow))
        return URL_ENOTALLOWED;
    u->tls = schemes[u->scheme].tls;
    u->port = schemes[u->scheme].port;

    a_end = pos + find_any(s + pos, n - pos, "/?#");
    for (size_t i = pos; i < a_end; i++) {
        if (s[i] != '@')
            continue;
        if (memchr(s + i + 1, '@', a_end - i - 1) != NULL)
            return URL_EUSERINFO;
        if ((used = parse_userinfo(s + pos, i - pos, u, buf, cap)) < 0)
            return used;
        pos = i + 1;
        break;
    }
    if ((rc = parse_hostport(s + pos, a_end - pos, u)) < 0)
        return rc;

    pos = a_end;
    if (pos < n && s[pos] == '/') {
        end = pos + find_any(s + pos, n - pos, "?#");
        if ((rc = check_chars(s + pos, end - pos, ":@/")) < 0)
            return rc;
        u->path = span_make(s + pos, end - pos);
        pos = end;
    }
    if (pos < n && s[pos] == '?') {
        end = pos + 1 + find_any(s + pos + 1, n - pos - 1, "#");
        if ((rc = check_chars(s + pos + 1, end - pos - 1, ":@/?")) < 0)
            return rc;
        u->query = span_make(s + pos + 1, end - pos - 1);
        pos = end;
    }
    if (pos < n && s[pos] == '#') {
        if ((rc = check_chars(s + pos + 1, n - pos - 1, ":@/?")) < 0)
            return rc;
        u->fragment = span_make(s + pos + 1, n - pos - 1);
    }
    if (u->scheme == URL_SCHEME_NATS || u->scheme == URL_SCHEME_TLS) {
        if (u->query.p != NULL || u->fragment.p != NULL)
            return URL_EQUERY;
        if (u->path.n > 1)
            return URL_EPATH;
    }
    return used;
}

int url_parse_list(const char *s, size_t n, unsigned flags, struct url *out, size_t max,
                   uint8_t *buf, size_t cap, size_t *bad_item)
{
    size_t count = 0, used = 0, a = 0;

    for (;;) {
        const char *comma = n > a ? memchr(s + a, ',', n - a) : NULL;
        size_t b = comma ? (size_t)(comma - s) : n, ia = a, ib = b;
        int rc;

        while (ia < ib && (s[ia] == ' ' || s[ia] == '\t'))
            ia++;
        while (ib > ia && (s[ib - 1] == ' ' || s[ib - 1] == '\t'))
            ib--;
        if (ia == ib)
            rc = count == 0 && comma == NULL ? URL_EEMPTY : URL_EEMPTYITEM;
        else if (count == max)
            rc = URL_ETOOMANY;
        else
            rc =
                url_parse(s + ia, ib - ia, flags, &out[count], buf ? buf + used : NULL, cap - used);
        if (rc < 0) {
            if (bad_item != NULL)
                *bad_item = count;
            return rc;
        }
        used += (size_t)rc;
        count++;
        if (comma == NULL)
            return (int)count;
        a = b + 1;
    }
}

/* ------------------------------------------------------------ formatting */

size_t url_format_redacted(const struct url *u, char *out, size_t cap)
{
    struct outbuf o = outbuf_make(out, cap);
    char port[8];

    outbuf_puts(&o, schemes[u->scheme].name);
    outbuf_puts(&o, "://");
    if (u->user.p != NULL) {
        if (u->has_password) {
            for (size_t i = 0; i < u->user.n; i++) {
                char c = (char)u->user.p[i], enc[4];
                if (is_unreserved(c)) {
                    outbuf_put(&o, &c, 1);
                } else {
                    snprintf(enc, sizeof(enc), "%%%02X", (unsigned char)c);
                    outbuf_put(&o, enc, 3);
                }
            }
            outbuf_puts(&o, ":***@");
        } else {
            outbuf_puts(&o, "***@");
        }
    }
    if (u->host_type == URL_HOST_IPV6)
        outbuf_puts(&o, "[");
    outbuf_put(&o, u->host.p, u->host.n);
    if (u->host_type == URL_HOST_IPV6)
        outbuf_puts(&o, "]");
    snprintf(port, sizeof(port), ":%u", (unsigned)u->port);
    outbuf_puts(&o, port);
    if (u->path.n > 0)
        outbuf_put(&o, u->path.p, u->path.n);
    if (u->query.p != NULL)
        outbuf_puts(&o, "?***");
    return outbuf_finish(&o);
}

const char *url_scheme_name(enum url_scheme scheme)
{
    return (unsigned)scheme < NSCHEMES ? schemes[scheme].name : "?";
}

uint16_t url_default_port(enum url_scheme scheme)
{
    return (unsigned)scheme < NSCHEMES ? schemes[scheme].port : 0;
}

const char *url_strerror(int err)
{
    switch (err) {
    case URL_EEMPTY:
        return "empty URL";
    case URL_ETOOLONG:
        return "URL too long";
    case URL_EBADCHAR:
        return "space, control, non-ASCII or disallowed character";
    case URL_ESCHEME:
        return "missing or unknown scheme (want nats, tls, http, https, ws or wss)";
    case URL_ENOTALLOWED:
        return "scheme not allowed here";
    case URL_EUSERINFO:
        return "invalid user info (want user:password@ or token@, percent-encoded)";
    case URL_EPERCENT:
        return "bad percent-encoding";
    case URL_ENOHOST:
        return "empty host";
    case URL_EHOST:
        return "invalid host name or IPv4 address";
    case URL_EIPV6:
        return "invalid IPv6 address (write it in brackets: [::1])";
    case URL_EZONE:
        return "IPv6 zone ids are not supported";
    case URL_EPORT:
        return "invalid port (want 1-65535)";
    case URL_EPATH:
        return "a path is not allowed for this scheme";
    case URL_EQUERY:
        return "a query or fragment is not allowed for this scheme";
    case URL_ENOSPC:
        return "decode buffer too small";
    case URL_ETOOMANY:
        return "too many URLs";
    case URL_EEMPTYITEM:
        return "empty item in URL list";
    default:
        return err >= 0 ? "ok" : "unknown error";
    }
}
