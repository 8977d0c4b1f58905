/*
 * gateway/gw_interest.c — --track-interest: which (host, path, method)
 * some live agent registered, from the JSON messages on
 * h8s.control.interest.{register,unregister}.<rhost> (PROTOCOL.md §5).
 *
 * A fixed table per worker (no allocation after start-up), chained by a
 * hash of the host tokens; entries expire H8S_INTEREST_TTL_MS after their
 * last registration and are reclaimed lazily, on lookup and when the table
 * is full.
 */
#include "gw_internal.h"

#include "proto/h8s_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int gw_interest_init(struct gw_interest *t)
{
    t->e = calloc(GW_INTEREST_MAX, sizeof(*t->e));
    if (!t->e)
        return -ENOMEM;
    for (size_t i = 0; i < GW_INTEREST_BUCKETS; i++)
        t->bucket[i] = -1;
    for (int32_t i = 0; i < GW_INTEREST_MAX; i++)
        t->e[i].next = i + 1 < GW_INTEREST_MAX ? i + 1 : -1;
    t->free_head = 0;
    t->used = 0;
    return 0;
}

void gw_interest_free(struct gw_interest *t)
{
    free(t->e);
    t->e = NULL;
}

static uint32_t hash(struct span s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.n; i++)
        h = (h ^ s.p[i]) * 16777619u;
    return h % GW_INTEREST_BUCKETS;
}

/* ------------------------------------------------------------ JSON */

/* A JSON string value, unescaped into out (cap bytes). Returns its length
 * or -1 (malformed, or too long). *p advances past the closing quote. */
static long json_string(const uint8_t **p, const uint8_t *end, uint8_t *out, size_t cap)
{
    const uint8_t *s = *p;
    size_t n = 0;
    if (s >= end || *s != '"')
        return -1;
    s++;
    while (s < end && *s != '"') {
        uint32_t cp = *s++;
        if (cp < 0x20)
            return -1;
        if (cp == '\\') {
            if (s >= end)
                return -1;
            uint8_t e = *s++;
            switch (e) {
            case '"': case '\\': case '/': cp = e; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                if (end - s < 4)
                    return -1;
                cp = 0;
                for (int i = 0; i < 4; i++) {
                    uint8_t h = *s++;
                    cp <<= 4;
                    if (h >= '0' && h <= '9')
                        cp |= h - '0';
                    else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
                        cp |= (h | 0x20) - 'a' + 10;
                    else
                        return -1;
                }
                /* Surrogates are not worth pairing here: no host, path or
                 * method we match can hold one. */
                if (cp >= 0xd800 && cp <= 0xdfff)
                    return -1;
                break;
            }
            default:
                return -1;
            }
            uint8_t u[3];
            size_t k;
            if (cp < 0x80) {
                u[0] = (uint8_t)cp;
                k = 1;
            } else if (cp < 0x800) {
                u[0] = (uint8_t)(0xc0 | cp >> 6);
                u[1] = (uint8_t)(0x80 | (cp & 0x3f));
                k = 2;
            } else {
                u[0] = (uint8_t)(0xe0 | cp >> 12);
                u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (uint8_t)(0x80 | (cp & 0x3f));
                k = 3;
            }
            if (k > cap - n)
                return -1;
            memcpy(out + n, u, k);
            n += k;
            continue;
        }
        if (n == cap)
            return -1;
        out[n++] = (uint8_t)cp;
    }
    if (s >= end)
        return -1;
    *p = s + 1;
    return (long)n;
}

static void ws(const uint8_t **p, const uint8_t *end)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r'))
        (*p)++;
}

/* Skips a scalar that is not a string (number, true, false, null). */
static int json_scalar(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *s = *p;
    while (s < end && *s != ',' && *s != '}' && *s != ' ' && *s != '\t' && *s != '\n' &&
           *s != '\r') {
        if (*s == '{' || *s == '[' || *s == '"')
            return -1;
        s++;
    }
    if (s == *p)
        return -1;
    *p = s;
    return 0;
}

struct reg {
    uint8_t host[256], path[GW_INTEREST_PATH_MAX], method[GW_INTEREST_METHOD_MAX];
    long host_n, path_n, method_n;
};

/* {"host":...,"path":...,"method":...}; other members may be scalars. */
static int parse_reg(struct span json, struct reg *r)
{
    const uint8_t *p = json.p, *end = json.p + json.n;
    r->host_n = r->path_n = r->method_n = -1;
    ws(&p, end);
    if (p >= end || *p++ != '{')
        return -1;
    ws(&p, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            uint8_t key[16];
            ws(&p, end);
            long kn = json_string(&p, end, key, sizeof(key));
            ws(&p, end);
            if (p >= end || *p++ != ':')
                return -1;
            ws(&p, end);
            long *dn = NULL;
            uint8_t *dst = NULL;
            size_t cap = 0;
            if (kn == 4 && memcmp(key, "host", 4) == 0)
                dn = &r->host_n, dst = r->host, cap = sizeof(r->host);
            else if (kn == 4 && memcmp(key, "path", 4) == 0)
                dn = &r->path_n, dst = r->path, cap = sizeof(r->path);
            else if (kn == 6 && memcmp(key, "method", 6) == 0)
                dn = &r->method_n, dst = r->method, cap = sizeof(r->method);
            if (dst) {
                if ((*dn = json_string(&p, end, dst, cap)) < 0)
                    return -1;
            } else if (p < end && *p == '"') {
                uint8_t skip[256];
                if (json_string(&p, end, skip, sizeof(skip)) < 0)
                    return -1;
            } else if (json_scalar(&p, end) < 0) {
                return -1;
            }
            ws(&p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return -1;
        }
    }
    ws(&p, end);
    if (p != end || r->host_n <= 0)
        return -1;
    /* Absent path or method: the whole host, as our agents register it. */
    if (r->path_n <= 0) {
        r->path[0] = '*';
        r->path_n = 1;
    }
    if (r->method_n <= 0) {
        r->method[0] = '*';
        r->method_n = 1;
    }
    return 0;
}

/* ------------------------------------------------------------ table */

static void unlink_entry(struct gw_interest *t, int32_t *pp)
{
    int32_t i = *pp;
    *pp = t->e[i].next;
    t->e[i].next = t->free_head;
    t->free_head = i;
    t->used--;
}

void gw_interest_expire(struct gw_interest *t, uint64_t now_ms)
{
    for (size_t b = 0; b < GW_INTEREST_BUCKETS; b++) {
        int32_t *pp = &t->bucket[b];
        while (*pp >= 0) {
            if (t->e[*pp].expires_ms <= now_ms)
                unlink_entry(t, pp);
            else
                pp = &t->e[*pp].next;
        }
    }
}

static int same(const struct gw_interest_entry *e, struct span rhost, const struct reg *r)
{
    return e->rhost_len == rhost.n && memcmp(e->rhost, rhost.p, rhost.n) == 0 &&
           e->path_len == (size_t)r->path_n && memcmp(e->path, r->path, e->path_len) == 0 &&
           e->method_len == (size_t)r->method_n && memcmp(e->method, r->method, e->method_len) == 0;
}

int gw_interest_msg(struct gw_interest *t, uint64_t now_ms, struct span subject,
                    struct span payload)
{
    static const char reg_pre[] = SUBJECT_INTEREST_REGISTER_PREFIX;
    static const char unreg_pre[] = SUBJECT_INTEREST_UNREGISTER_PREFIX;
    int unregister;
    if (subject.n >= sizeof(unreg_pre) - 1 &&
        memcmp(subject.p, unreg_pre, sizeof(unreg_pre) - 1) == 0)
        unregister = 1;
    else if (subject.n >= sizeof(reg_pre) - 1 &&
             memcmp(subject.p, reg_pre, sizeof(reg_pre) - 1) == 0)
        unregister = 0;
    else
        return -EINVAL;
    struct reg r;
    if (!t->e || parse_reg(payload, &r) < 0)
        return -EINVAL;
    uint8_t rh[SUBJECT_HOST_MAX];
    int rn = subject_host(rh, sizeof(rh), span_make(r.host, (size_t)r.host_n));
    if (rn <= 0 || r.method_n > GW_INTEREST_METHOD_MAX)
        return -EINVAL;
    struct span rhost = span_make(rh, (size_t)rn);
    int32_t *pp = &t->bucket[hash(rhost)];
    while (*pp >= 0) {
        struct gw_interest_entry *e = &t->e[*pp];
        if (same(e, rhost, &r)) {
            if (unregister) {
                unlink_entry(t, pp);
            } else {
                e->expires_ms = now_ms + H8S_INTEREST_TTL_MS;
            }
            return 0;
        }
        pp = &e->next;
    }
    if (unregister)
        return 0;
    if (t->free_head < 0)
        gw_interest_expire(t, now_ms);
    if (t->free_head < 0)
        return -ENOSPC;
    int32_t i = t->free_head;
    struct gw_interest_entry *e = &t->e[i];
    t->free_head = e->next;
    memcpy(e->rhost, rh, (size_t)rn);
    e->rhost_len = (uint16_t)rn;
    memcpy(e->path, r.path, (size_t)r.path_n);
    e->path_len = (uint16_t)r.path_n;
    memcpy(e->method, r.method, (size_t)r.method_n);
    e->method_len = (uint8_t)r.method_n;
    e->expires_ms = now_ms + H8S_INTEREST_TTL_MS;
    /* pp is the end of the chain, which may have moved when the expiry
     * above unlinked entries: take the bucket head instead. */
    int32_t *head = &t->bucket[hash(rhost)];
    e->next = *head;
    *head = i;
    t->used++;
    return 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Compares the percent-decoded raw path with an entry path. */
static int path_eq(struct span raw, const uint8_t *p, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < raw.n; i++) {
        uint8_t b = raw.p[i];
        if (b == '%') {
            int hi, lo;
            if (i + 2 >= raw.n)
                return 0;
            hi = hexval(raw.p[i + 1]);
            lo = hexval(raw.p[i + 2]);
            if (hi < 0 || lo < 0)
                return 0;
            b = (uint8_t)(hi << 4 | lo);
            i += 2;
        }
        if (j >= n || p[j] != b)
            return 0;
        j++;
    }
    return j == n;
}

int gw_interest_match(struct gw_interest *t, uint64_t now_ms, struct span rhost,
                      struct span method, struct span raw_path)
{
    if (!t->e)
        return 0;
    int32_t *pp = &t->bucket[hash(rhost)];
    while (*pp >= 0) {
        struct gw_interest_entry *e = &t->e[*pp];
        if (e->expires_ms <= now_ms) {
            unlink_entry(t, pp);
            continue;
        }
        if (e->rhost_len == rhost.n && memcmp(e->rhost, rhost.p, rhost.n) == 0 &&
            ((e->method_len == 1 && e->method[0] == '*') ||
             (e->method_len == method.n && memcmp(e->method, method.p, method.n) == 0)) &&
            ((e->path_len == 1 && e->path[0] == '*') || path_eq(raw_path, e->path, e->path_len)))
            return 1;
        pp = &e->next;
    }
    return 0;
}
