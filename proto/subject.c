/*
 * proto/subject.c — see subject.h.
 *
 * Everything writes through a small sink that keeps counting past the end
 * of the caller's buffer (up to a bound), so one pass tells "too long for
 * NATS" (414) apart from "caller's buffer too small".
 */
#include "proto/subject.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>

#include "proto/ascii_internal.h"

struct sink {
    uint8_t *p;
    size_t cap;
    size_t len;
    size_t stop; /* give up counting beyond this */
};

static void sink_init(struct sink *s, uint8_t *p, size_t cap, size_t stop)
{
    s->p = p;
    s->cap = cap;
    s->len = 0;
    s->stop = stop;
}

static int sink_full(const struct sink *s)
{
    return s->len > s->stop;
}

static void put(struct sink *s, uint8_t c)
{
    if (s->len < s->cap)
        s->p[s->len] = c;
    if (s->len <= s->stop)
        s->len++;
}

static void put_mem(struct sink *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n && !sink_full(s); i++)
        put(s, b[i]);
}

/* Builders whose output has no NATS length rule: only the buffer counts. */
static int finish(const struct sink *s)
{
    return s->len > s->cap ? SUBJECT_E_SPACE : (int)s->len;
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* ------------------------------------------------------------------ host */

static int is_ipv6(const uint8_t *p, size_t n)
{
    char tmp[INET6_ADDRSTRLEN];
    uint8_t addr[16];
    /* inet_pton wants a C string; an address longer than its text form
     * maximum is not an address. */
    if (n == 0 || n >= sizeof(tmp) || memchr(p, '\0', n))
        return 0;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, addr) == 1;
}

static int port_ok(const uint8_t *p, size_t n)
{
    unsigned long v = 0;
    if (n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!ascii_is_digit(p[i]))
            return 0;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v <= 65535;
}

/* Letters, digits, hyphen (RFC 1123). No '_': IPv6 tokens are made of hex
 * digits and '_', so a name like "__1" would reach [::1]'s subject. */
static int label_char(uint8_t c)
{
    c = lower(c);
    return (c >= 'a' && c <= 'z') || ascii_is_digit(c) || c == '-';
}

/* Validates a DNS name (no trailing dot) and emits its labels reversed. */
static int emit_dns(struct sink *s, const uint8_t *p, size_t n)
{
    size_t label = 0;
    int last_all_digits = 1;
    if (n == 0 || n > SUBJECT_HOST_MAX)
        return SUBJECT_E_HOST;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '.') {
            if (label == 0)
                return SUBJECT_E_HOST;
            label = 0;
            last_all_digits = 1;
            continue;
        }
        if (!label_char(p[i]) || ++label > 63)
            return SUBJECT_E_HOST;
        if (!ascii_is_digit(p[i]))
            last_all_digits = 0;
    }
    /* A numeric last label is an address in some resolver's eyes. */
    if (label == 0 || last_all_digits)
        return SUBJECT_E_HOST;
    size_t end = n;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && p[start - 1] != '.')
            start--;
        for (size_t i = start; i < end; i++)
            put(s, lower(p[i]));
        if (start == 0)
            break;
        put(s, '.');
        end = start - 1;
    }
    return 0;
}

static int emit_ipv6(struct sink *s, const uint8_t *p, size_t n)
{
    if (!is_ipv6(p, n))
        return SUBJECT_E_HOST;
    for (size_t i = 0; i < n; i++)
        put(s, p[i] == ':' ? '_' : lower(p[i]));
    return 0;
}

static int emit_host(struct sink *s, struct span host)
{
    const uint8_t *p = host.p;
    size_t n = host.n;
    if (n == 0)
        return SUBJECT_E_HOST;
    if (p[0] == '[') {
        const uint8_t *rb = memchr(p, ']', n);
        if (!rb)
            return SUBJECT_E_HOST;
        size_t in = (size_t)(rb - p) - 1;
        size_t rest = n - in - 2;
        if (rest > 0 && (rb[1] != ':' || !port_ok(rb + 2, rest - 1)))
            return SUBJECT_E_HOST;
        return emit_ipv6(s, p + 1, in);
    }
    size_t colons = 0, colon_at = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ':') {
            if (colons++ == 0)
                colon_at = i;
        }
    }
    if (colons >= 2)
        return emit_ipv6(s, p, n);
    if (colons == 1) {
        if (!port_ok(p + colon_at + 1, n - colon_at - 1))
            return SUBJECT_E_HOST;
        n = colon_at;
    }
    if (ascii_ipv4(p, n, NULL)) {
        put_mem(s, p, n);
        return 0;
    }
    /* One trailing dot is the DNS root: "example.com." is "example.com". */
    if (n > 1 && p[n - 1] == '.')
        n--;
    return emit_dns(s, p, n);
}

int subject_host(uint8_t *out, size_t cap, struct span host)
{
    struct sink s;
    sink_init(&s, out, cap, SUBJECT_HOST_MAX);
    int rc = emit_host(&s, host);
    if (rc < 0)
        return rc;
    if (s.len > cap)
        return SUBJECT_E_SPACE;
    return (int)s.len;
}

/* ------------------------------------------------------------------ path */

/* Go's url.PathEscape keeps these; everything else (and '.') becomes %XX. */
static int path_keep(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || ascii_is_digit(c))
        return 1;
    switch (c) {
    case '-':
    case '_':
    case '~':
    case '$':
    case '&':
    case '+':
    case ':':
    case '=':
    case '@':
        return 1;
    default:
        return 0;
    }
}

static void put_escaped(struct sink *s, uint8_t c)
{
    static const char hex[] = "0123456789ABCDEF";
    if (path_keep(c)) {
        put(s, c);
        return;
    }
    put(s, '%');
    put(s, (uint8_t)hex[c >> 4]);
    put(s, (uint8_t)hex[c & 15]);
}

/* First decode: validated up front, then read byte by byte. */
static int pct_valid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%')
            continue;
        if (n - i < 3 || ascii_hex_val(p[i + 1]) < 0 || ascii_hex_val(p[i + 2]) < 0)
            return 0;
        i += 2;
    }
    return 1;
}

static uint8_t dec1(const uint8_t *p, size_t *i)
{
    if (p[*i] == '%') {
        uint8_t c = (uint8_t)(ascii_hex_val(p[*i + 1]) << 4 | ascii_hex_val(p[*i + 2]));
        *i += 3;
        return c;
    }
    return p[(*i)++];
}

/* Is the once-decoded segment raw[a, b) valid input for a second decode? */
static int seg_valid2(const uint8_t *p, size_t a, size_t b)
{
    unsigned pending = 0;
    for (size_t i = a; i < b;) {
        uint8_t c = dec1(p, &i);
        if (pending) {
            if (ascii_hex_val(c) < 0)
                return 0;
            pending--;
        } else if (c == '%') {
            pending = 2;
        }
    }
    return pending == 0;
}

static void emit_segment(struct sink *s, const uint8_t *p, size_t a, size_t b)
{
    int twice = seg_valid2(p, a, b);
    unsigned pending = 0;
    uint8_t acc = 0;
    for (size_t i = a; i < b && !sink_full(s);) {
        uint8_t c = dec1(p, &i);
        if (!twice) {
            put_escaped(s, c);
        } else if (pending) {
            acc = (uint8_t)(acc << 4 | ascii_hex_val(c));
            if (--pending == 0)
                put_escaped(s, acc);
        } else if (c == '%') {
            pending = 2;
            acc = 0;
        } else {
            put_escaped(s, c);
        }
    }
}

static int emit_path(struct sink *s, struct span path, int lead_dot)
{
    const uint8_t *p = path.p;
    size_t n = path.n;
    int first = 1;
    if (n > 0 && !pct_valid(p, n))
        return SUBJECT_E_PATH;
    size_t seg = 0;
    for (size_t i = 0; i <= n && !sink_full(s);) {
        size_t at = i;
        int slash = (i == n);
        if (!slash)
            slash = dec1(p, &i) == '/';
        else
            i++;
        if (!slash)
            continue;
        if (at > seg) {
            if (!first || lead_dot)
                put(s, '.');
            first = 0;
            emit_segment(s, p, seg, at);
        }
        seg = i;
    }
    return 0;
}

int subject_path(uint8_t *out, size_t cap, struct span path)
{
    struct sink s;
    if (cap > INT_MAX)
        cap = INT_MAX;
    /* Stop counting once it cannot fit: the exact excess is irrelevant. */
    sink_init(&s, out, cap, cap);
    int rc = emit_path(&s, path, 0);
    if (rc < 0)
        return rc;
    return finish(&s);
}

/* ---------------------------------------------------------------- method */

static int tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || ascii_is_digit(c))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int subject_method_ok(struct span m)
{
    if (m.n == 0 || m.n > SUBJECT_METHOD_MAX)
        return 0;
    for (size_t i = 0; i < m.n; i++) {
        if (!tchar(m.p[i]) || m.p[i] == '.' || m.p[i] == '*')
            return 0;
    }
    return 1;
}

/* --------------------------------------------------------------- request */

int subject_request(uint8_t *out, size_t cap, struct span method, struct span host,
                    struct span path)
{
    struct sink s;
    if (!subject_method_ok(method))
        return SUBJECT_E_METHOD;
    /* Validate everything before measuring, so a bad request is a 400 even
     * when it is also too long. */
    if (path.n > 0 && !pct_valid(path.p, path.n))
        return SUBJECT_E_PATH;
    sink_init(&s, out, cap, cap > SUBJECT_MAX ? cap : SUBJECT_MAX);
    put_mem(&s, SUBJECT_PREFIX, sizeof(SUBJECT_PREFIX) - 1);
    put_mem(&s, method.p, method.n);
    put(&s, '.');
    int rc = emit_host(&s, host);
    if (rc < 0)
        return rc;
    rc = emit_path(&s, path, 1);
    if (rc < 0)
        return rc;
    if (s.len > SUBJECT_MAX)
        return SUBJECT_E_TOO_LONG;
    if (s.len > cap)
        return SUBJECT_E_SPACE;
    return (int)s.len;
}

int subject_error_status(int err)
{
    switch (err) {
    case SUBJECT_E_TOO_LONG:
        return 414;
    case SUBJECT_E_SPACE:
        return 500;
    default:
        return 400;
    }
}

/* ----------------------------------------------------------------- agent */

int subject_agent_subs(uint8_t *sub_root, uint8_t *sub_path, size_t cap, struct span host,
                       size_t *root_len, size_t *path_len)
{
    static const char pre[] = "h8s.http.*.";
    struct sink s;
    sink_init(&s, sub_root, cap, cap);
    put_mem(&s, pre, sizeof(pre) - 1);
    int rc = emit_host(&s, host);
    if (rc < 0)
        return rc;
    if (s.len + 2 > cap)
        return SUBJECT_E_SPACE;
    memcpy(sub_path, sub_root, s.len);
    sub_path[s.len] = '.';
    sub_path[s.len + 1] = '>';
    *root_len = s.len;
    *path_len = s.len + 2;
    return 0;
}

/* ------------------------------------------------------------------- ids */

int subject_id_ok(struct span id)
{
    if (id.n == 0 || id.n > SUBJECT_ID_MAX)
        return 0;
    for (size_t i = 0; i < id.n; i++) {
        uint8_t c = id.p[i];
        if (c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>')
            return 0;
    }
    return 1;
}

size_t subject_id_hex(uint8_t *out, const uint8_t *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (uint8_t)hex[in[i] >> 4];
        out[2 * i + 1] = (uint8_t)hex[in[i] & 15];
    }
    return 2 * n;
}

int subject_reply(uint8_t *out, size_t cap, struct span gw_id, struct span req_id)
{
    struct sink s;
    if (!subject_id_ok(gw_id) || !subject_id_ok(req_id))
        return SUBJECT_E_ID;
    sink_init(&s, out, cap, cap);
    put_mem(&s, SUBJECT_INBOX_PREFIX, sizeof(SUBJECT_INBOX_PREFIX) - 1);
    put_mem(&s, gw_id.p, gw_id.n);
    put(&s, '.');
    put_mem(&s, req_id.p, req_id.n);
    return finish(&s);
}

int subject_reply_wildcard(uint8_t *out, size_t cap, struct span gw_id)
{
    struct sink s;
    if (!subject_id_ok(gw_id))
        return SUBJECT_E_ID;
    sink_init(&s, out, cap, cap);
    put_mem(&s, SUBJECT_INBOX_PREFIX, sizeof(SUBJECT_INBOX_PREFIX) - 1);
    put_mem(&s, gw_id.p, gw_id.n);
    put_mem(&s, ".*", 2);
    return finish(&s);
}

int subject_reply_match(struct span reply, struct span gw_id, struct span *req_id)
{
    const size_t pre = sizeof(SUBJECT_INBOX_PREFIX) - 1;
    if (reply.n < pre + gw_id.n + 2 || memcmp(reply.p, SUBJECT_INBOX_PREFIX, pre) != 0)
        return 0;
    if (gw_id.n == 0 || memcmp(reply.p + pre, gw_id.p, gw_id.n) != 0 ||
        reply.p[pre + gw_id.n] != '.')
        return 0;
    struct span id = span_make(reply.p + pre + gw_id.n + 1, reply.n - pre - gw_id.n - 1);
    if (!subject_id_ok(id))
        return 0;
    *req_id = id;
    return 1;
}

int subject_conn_closed(uint8_t *out, size_t cap, struct span id)
{
    struct sink s;
    if (!subject_id_ok(id))
        return SUBJECT_E_ID;
    sink_init(&s, out, cap, cap);
    put_mem(&s, SUBJECT_CONN_CLOSED_PREFIX, sizeof(SUBJECT_CONN_CLOSED_PREFIX) - 1);
    put_mem(&s, id.p, id.n);
    return finish(&s);
}

int subject_interest(uint8_t *out, size_t cap, int unregister, struct span host)
{
    struct sink s;
    sink_init(&s, out, cap, cap);
    if (unregister)
        put_mem(&s, SUBJECT_INTEREST_UNREGISTER_PREFIX,
                sizeof(SUBJECT_INTEREST_UNREGISTER_PREFIX) - 1);
    else
        put_mem(&s, SUBJECT_INTEREST_REGISTER_PREFIX, sizeof(SUBJECT_INTEREST_REGISTER_PREFIX) - 1);
    int rc = emit_host(&s, host);
    if (rc < 0)
        return rc;
    return finish(&s);
}

int subject_fallback_path(uint8_t *out, size_t cap, struct span subject, struct span rhost,
                          struct span *method)
{
    const size_t pre = sizeof(SUBJECT_PREFIX) - 1;
    const uint8_t *p = subject.p;
    size_t n = subject.n;
    if (n < pre || memcmp(p, SUBJECT_PREFIX, pre) != 0)
        return SUBJECT_E_SUBJECT;
    const uint8_t *dot = memchr(p + pre, '.', n - pre);
    if (!dot || dot == p + pre)
        return SUBJECT_E_SUBJECT;
    size_t at = (size_t)(dot - p) + 1;
    if (method)
        *method = span_make(p + pre, (size_t)(dot - p) - pre);
    if (rhost.n == 0 || n - at < rhost.n || memcmp(p + at, rhost.p, rhost.n) != 0)
        return SUBJECT_E_SUBJECT;
    at += rhost.n;
    struct sink s;
    sink_init(&s, out, cap, cap);
    put(&s, '/');
    if (at < n) {
        if (p[at] != '.' || at + 1 == n)
            return SUBJECT_E_SUBJECT;
        for (size_t i = at + 1; i < n; i++) {
            uint8_t c = p[i];
            /* Tokens must be non-empty: ".." would be an empty segment. */
            if (c == '.' && (i == at + 1 || p[i - 1] == '.' || i + 1 == n))
                return SUBJECT_E_SUBJECT;
            /* Only what subject_path produces: the result becomes a request
             * target, so nothing a foreign publisher sneaks in may pass. */
            if (c == '%') {
                if (n - i < 3 || ascii_hex_val(p[i + 1]) < 0 || ascii_hex_val(p[i + 2]) < 0)
                    return SUBJECT_E_SUBJECT;
            } else if (c != '.' && !path_keep(c)) {
                return SUBJECT_E_SUBJECT;
            }
            put(&s, c == '.' ? '/' : c);
        }
    }
    return finish(&s);
}
