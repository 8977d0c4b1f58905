/*
 * proto/nats_info.c — see nats_info.h.
 *
 * A recursive-descent reader over the span; recursion is bounded by
 * NATS_INFO_DEPTH_MAX, so hostile nesting costs at most that many frames.
 */
#include "proto/nats_info.h"

#include <string.h>

struct reader {
    const uint8_t *p;
    size_t n;
    size_t i;
};

/* Where a decoded string goes: dst == NULL means validate and discard. */
struct sink {
    char *dst;
    size_t cap; /* including the NUL */
    size_t len;
    int overflow; /* some characters did not fit */
};

static void skip_ws(struct reader *r)
{
    while (r->i < r->n) {
        uint8_t c = r->p[r->i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            break;
        r->i++;
    }
}

static int expect(struct reader *r, uint8_t c)
{
    skip_ws(r);
    if (r->i >= r->n || r->p[r->i] != c)
        return NATS_INFO_ESYNTAX;
    r->i++;
    return 0;
}

/* Appends one whole UTF-8 character, or marks overflow; never splits one. */
static void sink_put(struct sink *s, const uint8_t *c, size_t n)
{
    if (s->dst == NULL || s->overflow)
        return;
    if (n > s->cap - 1 - s->len) {
        s->overflow = 1;
        return;
    }
    memcpy(s->dst + s->len, c, n);
    s->len += n;
    s->dst[s->len] = '\0';
}

static int hex4(struct reader *r, uint32_t *out)
{
    uint32_t v = 0;
    if (r->n - r->i < 4)
        return NATS_INFO_ESYNTAX;
    for (int k = 0; k < 4; k++) {
        uint8_t c = r->p[r->i++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return NATS_INFO_ESYNTAX;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at p (n bytes available), or 0.
 * Rejects overlongs, surrogates and code points above U+10FFFF. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Reads a string (opening quote next) into s. */
static int read_string(struct reader *r, struct sink *s)
{
    if (expect(r, '"') != 0)
        return NATS_INFO_ESYNTAX;
    if (s->dst && s->cap)
        s->dst[0] = '\0';
    for (;;) {
        if (r->i >= r->n)
            return NATS_INFO_ESYNTAX;
        uint8_t c = r->p[r->i];
        if (c == '"') {
            r->i++;
            return 0;
        }
        if (c < 0x20)
            return NATS_INFO_ESYNTAX;
        if (c != '\\') {
            size_t len = utf8_len(r->p + r->i, r->n - r->i);
            if (len == 0)
                return NATS_INFO_ESYNTAX;
            sink_put(s, r->p + r->i, len);
            r->i += len;
            continue;
        }
        r->i++;
        if (r->i >= r->n)
            return NATS_INFO_ESYNTAX;
        uint8_t e = r->p[r->i++], out[4];
        uint32_t cp;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            out[0] = e;
            break;
        case 'b':
            out[0] = '\b';
            break;
        case 'f':
            out[0] = '\f';
            break;
        case 'n':
            out[0] = '\n';
            break;
        case 'r':
            out[0] = '\r';
            break;
        case 't':
            out[0] = '\t';
            break;
        case 'u':
            if (hex4(r, &cp) != 0)
                return NATS_INFO_ESYNTAX;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return NATS_INFO_ESYNTAX; /* lone low surrogate */
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (r->n - r->i < 2 || r->p[r->i] != '\\' || r->p[r->i + 1] != 'u')
                    return NATS_INFO_ESYNTAX;
                r->i += 2;
                if (hex4(r, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                    return NATS_INFO_ESYNTAX;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            sink_put(s, out, utf8_encode(cp, out));
            continue;
        default:
            return NATS_INFO_ESYNTAX;
        }
        sink_put(s, out, 1);
    }
}

/*
 * Reads a number. When it is a non-negative integer that fits, *u holds it
 * and *is_uint is set; fractions, exponents and negatives are valid JSON
 * but not an unsigned integer.
 */
static int read_number(struct reader *r, uint64_t *u, int *is_uint)
{
    size_t i = r->i;
    int neg = 0, overflow = 0, integral = 1;
    uint64_t v = 0;
    if (i < r->n && r->p[i] == '-')
        neg = 1, i++;
    if (i >= r->n || r->p[i] < '0' || r->p[i] > '9')
        return NATS_INFO_ESYNTAX;
    if (r->p[i] == '0') {
        i++;
    } else {
        while (i < r->n && r->p[i] >= '0' && r->p[i] <= '9') {
            uint64_t d = (uint64_t)(r->p[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                overflow = 1;
            else
                v = v * 10 + d;
            i++;
        }
    }
    if (i < r->n && r->p[i] == '.') {
        integral = 0;
        i++;
        if (i >= r->n || r->p[i] < '0' || r->p[i] > '9')
            return NATS_INFO_ESYNTAX;
        while (i < r->n && r->p[i] >= '0' && r->p[i] <= '9')
            i++;
    }
    if (i < r->n && (r->p[i] == 'e' || r->p[i] == 'E')) {
        integral = 0;
        i++;
        if (i < r->n && (r->p[i] == '+' || r->p[i] == '-'))
            i++;
        if (i >= r->n || r->p[i] < '0' || r->p[i] > '9')
            return NATS_INFO_ESYNTAX;
        while (i < r->n && r->p[i] >= '0' && r->p[i] <= '9')
            i++;
    }
    r->i = i;
    *is_uint = integral && !overflow && !(neg && v != 0);
    *u = *is_uint ? v : 0;
    return 0;
}

static int read_literal(struct reader *r, const char *lit)
{
    size_t n = strlen(lit);
    if (r->n - r->i < n || memcmp(r->p + r->i, lit, n) != 0)
        return NATS_INFO_ESYNTAX;
    r->i += n;
    return 0;
}

static int skip_value(struct reader *r, int depth);

/* Skips an array or object whose opening bracket is next; keys are
 * validated as strings and discarded. */
static int skip_container(struct reader *r, int depth, uint8_t close, int object)
{
    r->i++; /* opening bracket */
    skip_ws(r);
    if (r->i < r->n && r->p[r->i] == close) {
        r->i++;
        return 0;
    }
    for (;;) {
        int rc;
        if (object) {
            struct sink none = {0};
            if ((rc = read_string(r, &none)) != 0 || (rc = expect(r, ':')) != 0)
                return rc;
        }
        if ((rc = skip_value(r, depth + 1)) != 0)
            return rc;
        skip_ws(r);
        if (r->i >= r->n)
            return NATS_INFO_ESYNTAX;
        uint8_t c = r->p[r->i++];
        if (c == close)
            return 0;
        if (c != ',')
            return NATS_INFO_ESYNTAX;
    }
}

static int skip_value(struct reader *r, int depth)
{
    uint64_t u;
    int is_uint;
    struct sink none = {0};
    if (depth > NATS_INFO_DEPTH_MAX)
        return NATS_INFO_EDEPTH;
    skip_ws(r);
    if (r->i >= r->n)
        return NATS_INFO_ESYNTAX;
    switch (r->p[r->i]) {
    case '{':
        return skip_container(r, depth, '}', 1);
    case '[':
        return skip_container(r, depth, ']', 0);
    case '"':
        return read_string(r, &none);
    case 't':
        return read_literal(r, "true");
    case 'f':
        return read_literal(r, "false");
    case 'n':
        return read_literal(r, "null");
    default:
        return read_number(r, &u, &is_uint);
    }
}

static int read_bool(struct reader *r, bool *out)
{
    skip_ws(r);
    if (r->i < r->n && r->p[r->i] == 't' && read_literal(r, "true") == 0) {
        *out = true;
        return 0;
    }
    if (r->i < r->n && r->p[r->i] == 'f' && read_literal(r, "false") == 0) {
        *out = false;
        return 0;
    }
    return NATS_INFO_ETYPE;
}

static int read_uint(struct reader *r, uint64_t max, uint64_t *out)
{
    int is_uint;
    uint64_t v;
    skip_ws(r);
    if (r->i >= r->n || (r->p[r->i] != '-' && (r->p[r->i] < '0' || r->p[r->i] > '9')))
        return NATS_INFO_ETYPE;
    int rc = read_number(r, &v, &is_uint);
    if (rc != 0)
        return rc;
    if (!is_uint || v > max)
        return NATS_INFO_ERANGE;
    *out = v;
    return 0;
}

static int read_str_field(struct reader *r, char *dst, size_t cap, int must_fit)
{
    struct sink s = {dst, cap, 0, 0};
    skip_ws(r);
    if (r->i >= r->n || r->p[r->i] != '"')
        return NATS_INFO_ETYPE;
    int rc = read_string(r, &s);
    if (rc == 0 && s.overflow && must_fit)
        return NATS_INFO_ENONCE;
    return rc;
}

static int read_urls(struct reader *r, struct nats_info *out)
{
    out->n_connect_urls = 0;
    out->connect_urls_dropped = 0;
    skip_ws(r);
    if (r->i < r->n && r->p[r->i] == 'n')
        return read_literal(r, "null"); /* Go encodes an empty slice as null */
    if (expect(r, '[') != 0)
        return NATS_INFO_ETYPE;
    skip_ws(r);
    if (r->i < r->n && r->p[r->i] == ']') {
        r->i++;
        return 0;
    }
    for (;;) {
        char scratch[NATS_INFO_URL_MAX];
        size_t k = out->n_connect_urls;
        char *dst = k < NATS_INFO_URLS_MAX ? out->connect_urls[k] : scratch;
        struct sink s = {dst, NATS_INFO_URL_MAX, 0, 0};
        skip_ws(r);
        if (r->i >= r->n || r->p[r->i] != '"')
            return NATS_INFO_ETYPE;
        int rc = read_string(r, &s);
        if (rc != 0)
            return rc;
        if (dst == scratch || s.overflow || s.len == 0)
            out->connect_urls_dropped++;
        else
            out->n_connect_urls++;
        skip_ws(r);
        if (r->i >= r->n)
            return NATS_INFO_ESYNTAX;
        uint8_t c = r->p[r->i++];
        if (c == ']')
            return 0;
        if (c != ',')
            return NATS_INFO_ESYNTAX;
    }
}

#define KEY_MAX 24

/* Exact match, so a key with an escaped NUL inside never aliases one. */
static int key_is(const char *key, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(key, name, len) == 0;
}

static int read_member(struct reader *r, struct nats_info *out, const char *key, size_t len)
{
    uint64_t v;
    int rc;
    if (key_is(key, len, "server_id"))
        return read_str_field(r, out->server_id, sizeof(out->server_id), 0);
    if (key_is(key, len, "server_name"))
        return read_str_field(r, out->server_name, sizeof(out->server_name), 0);
    if (key_is(key, len, "version"))
        return read_str_field(r, out->version, sizeof(out->version), 0);
    if (key_is(key, len, "nonce"))
        return read_str_field(r, out->nonce, sizeof(out->nonce), 1);
    if (key_is(key, len, "proto")) {
        if ((rc = read_uint(r, INT64_MAX, &v)) == 0)
            out->proto = (int64_t)v;
        return rc;
    }
    if (key_is(key, len, "max_payload"))
        return read_uint(r, INT64_MAX, &out->max_payload);
    if (key_is(key, len, "client_id"))
        return read_uint(r, UINT64_MAX, &out->client_id);
    if (key_is(key, len, "headers"))
        return read_bool(r, &out->headers);
    if (key_is(key, len, "auth_required"))
        return read_bool(r, &out->auth_required);
    if (key_is(key, len, "tls_required"))
        return read_bool(r, &out->tls_required);
    if (key_is(key, len, "tls_available"))
        return read_bool(r, &out->tls_available);
    if (key_is(key, len, "ldm"))
        return read_bool(r, &out->ldm);
    if (key_is(key, len, "connect_urls"))
        return read_urls(r, out);
    return skip_value(r, 1);
}

int nats_info_parse(struct nats_info *out, struct span json)
{
    struct reader r = {json.p, json.n, 0};
    int rc;
    memset(out, 0, sizeof(*out));
    out->proto = -1;
    if ((rc = expect(&r, '{')) != 0)
        return rc;
    skip_ws(&r);
    if (r.i < r.n && r.p[r.i] == '}') {
        r.i++;
    } else {
        for (;;) {
            char key[KEY_MAX];
            struct sink ks = {key, sizeof(key), 0, 0};
            if ((rc = read_string(&r, &ks)) != 0 || (rc = expect(&r, ':')) != 0)
                return rc;
            /* A key too long for the buffer is no key we know. */
            rc = ks.overflow ? skip_value(&r, 1) : read_member(&r, out, key, ks.len);
            if (rc != 0)
                return rc;
            skip_ws(&r);
            if (r.i >= r.n)
                return NATS_INFO_ESYNTAX;
            uint8_t c = r.p[r.i++];
            if (c == '}')
                break;
            if (c != ',')
                return NATS_INFO_ESYNTAX;
        }
    }
    skip_ws(&r);
    return r.i == r.n ? 0 : NATS_INFO_ESYNTAX;
}

const char *nats_info_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case NATS_INFO_ESYNTAX:
        return "INFO is not a well-formed JSON object";
    case NATS_INFO_ETYPE:
        return "INFO field has the wrong type";
    case NATS_INFO_ERANGE:
        return "INFO number out of range";
    case NATS_INFO_EDEPTH:
        return "INFO nested too deeply";
    case NATS_INFO_ENONCE:
        return "INFO nonce too long";
    }
    return "unknown error";
}
