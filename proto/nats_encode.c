/*
 * proto/nats_encode.c — see nats_encode.h.
 *
 * Every encoder goes through a small writer that counts what it would
 * write even past the buffer's end, so one code path both sizes and
 * writes, and "too small" is decided once at the end.
 */
#include "proto/nats_encode.h"

#include <limits.h>
#include <string.h>

struct writer {
    uint8_t *p;
    size_t cap;
    size_t len; /* bytes produced so far, written or not */
};

static void put(struct writer *w, const void *s, size_t n)
{
    if (w->len <= w->cap && n <= w->cap - w->len && n)
        memcpy(w->p + w->len, s, n);
    w->len = n > SIZE_MAX - w->len ? SIZE_MAX : w->len + n;
}

static void put_str(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_span(struct writer *w, struct span s)
{
    put(w, s.p, s.n);
}

static void put_u64(struct writer *w, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, tmp + i, sizeof(tmp) - i);
}

static int finish(struct writer *w, size_t limit, int too_long)
{
    if (w->len > limit)
        return too_long;
    if (w->len > w->cap)
        return NATS_ENC_ENOSPC;
    return (int)w->len;
}

static int bad_byte(uint8_t c)
{
    return c <= 0x20 || c == 0x7f;
}

int nats_subject_valid(struct span s, int wildcards)
{
    size_t start = 0;
    if (s.n == 0 || s.p == NULL)
        return 0;
    for (size_t i = 0; i <= s.n; i++) {
        if (i < s.n && s.p[i] != '.') {
            if (bad_byte(s.p[i]))
                return 0;
            continue;
        }
        size_t tlen = i - start;
        if (tlen == 0)
            return 0;
        if (tlen == 1 && (s.p[start] == '*' || s.p[start] == '>')) {
            if (!wildcards)
                return 0;
            if (s.p[start] == '>' && i != s.n)
                return 0;
        }
        start = i + 1;
    }
    return 1;
}

int nats_queue_valid(struct span q)
{
    if (q.n == 0 || q.p == NULL)
        return 0;
    for (size_t i = 0; i < q.n; i++)
        if (bad_byte(q.p[i]))
            return 0;
    return 1;
}

/*
 * Writes "PUB <subject> [reply] <len>\r\n" (hpub == 0) or "HPUB <subject>
 * [reply] <hdr_len> <total>\r\n" after validating everything. Returns 0 or
 * an error; the line's length check is left to the caller (w->len).
 */
static int pub_line(struct writer *w, int hpub, struct span subject, struct span reply,
                    size_t hdr_len, size_t payload_len)
{
    if (!nats_subject_valid(subject, 0))
        return NATS_ENC_ESUBJECT;
    if (reply.n && !nats_subject_valid(reply, 0))
        return NATS_ENC_EREPLY;
    if (hdr_len > NATS_ENC_PAYLOAD_MAX || payload_len > NATS_ENC_PAYLOAD_MAX - hdr_len ||
        (hpub && hdr_len == 0))
        return NATS_ENC_ESIZE;
    put_str(w, hpub ? "HPUB " : "PUB ");
    put_span(w, subject);
    put(w, " ", 1);
    if (reply.n) {
        put_span(w, reply);
        put(w, " ", 1);
    }
    if (hpub) {
        put_u64(w, hdr_len);
        put(w, " ", 1);
    }
    put_u64(w, hdr_len + payload_len);
    put(w, "\r\n", 2);
    return w->len > NATS_ENC_LINE_MAX ? NATS_ENC_ELINE : 0;
}

int nats_encode_pub_line(uint8_t *out, size_t cap, struct span subject, struct span reply,
                         size_t payload_len)
{
    struct writer w = {out, cap, 0};
    int rc = pub_line(&w, 0, subject, reply, 0, payload_len);
    return rc ? rc : finish(&w, NATS_ENC_LINE_MAX, NATS_ENC_ELINE);
}

int nats_encode_hpub_line(uint8_t *out, size_t cap, struct span subject, struct span reply,
                          size_t hdr_len, size_t payload_len)
{
    struct writer w = {out, cap, 0};
    int rc = pub_line(&w, 1, subject, reply, hdr_len, payload_len);
    return rc ? rc : finish(&w, NATS_ENC_LINE_MAX, NATS_ENC_ELINE);
}

int nats_encode_pub(uint8_t *out, size_t cap, struct span subject, struct span reply,
                    struct span payload)
{
    struct writer w = {out, cap, 0};
    int rc = pub_line(&w, 0, subject, reply, 0, payload.n);
    if (rc != 0)
        return rc;
    put_span(&w, payload);
    put(&w, "\r\n", 2);
    return finish(&w, (size_t)INT_MAX, NATS_ENC_ESIZE);
}

int nats_encode_hpub(uint8_t *out, size_t cap, struct span subject, struct span reply,
                     struct span hdr, struct span payload)
{
    struct writer w = {out, cap, 0};
    int rc = pub_line(&w, 1, subject, reply, hdr.n, payload.n);
    if (rc != 0)
        return rc;
    put_span(&w, hdr);
    put_span(&w, payload);
    put(&w, "\r\n", 2);
    return finish(&w, (size_t)INT_MAX, NATS_ENC_ESIZE);
}

int nats_encode_sub(uint8_t *out, size_t cap, struct span subject, struct span queue, uint64_t sid)
{
    struct writer w = {out, cap, 0};
    if (!nats_subject_valid(subject, 1))
        return NATS_ENC_ESUBJECT;
    if (queue.n && !nats_queue_valid(queue))
        return NATS_ENC_EQUEUE;
    put_str(&w, "SUB ");
    put_span(&w, subject);
    put(&w, " ", 1);
    if (queue.n) {
        put_span(&w, queue);
        put(&w, " ", 1);
    }
    put_u64(&w, sid);
    put(&w, "\r\n", 2);
    return finish(&w, NATS_ENC_LINE_MAX, NATS_ENC_ELINE);
}

int nats_encode_unsub(uint8_t *out, size_t cap, uint64_t sid, uint64_t max)
{
    struct writer w = {out, cap, 0};
    put_str(&w, "UNSUB ");
    put_u64(&w, sid);
    if (max) {
        put(&w, " ", 1);
        put_u64(&w, max);
    }
    put(&w, "\r\n", 2);
    return finish(&w, NATS_ENC_LINE_MAX, NATS_ENC_ELINE);
}

int nats_encode_ping(uint8_t *out, size_t cap)
{
    struct writer w = {out, cap, 0};
    put(&w, "PING\r\n", 6);
    return finish(&w, NATS_ENC_LINE_MAX, NATS_ENC_ELINE);
}

int nats_encode_pong(uint8_t *out, size_t cap)
{
    struct writer w = {out, cap, 0};
    put(&w, "PONG\r\n", 6);
    return finish(&w, NATS_ENC_LINE_MAX, NATS_ENC_ELINE);
}

/* JSON string body: escapes '"', '\\' and control bytes; other bytes go
 * through unchanged (they are the caller's UTF-8). */
static void put_json_str(struct writer *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    for (; *s; s++) {
        uint8_t c = (uint8_t)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, run, (size_t)(s - run));
        run = s + 1;
        switch (c) {
        case '"':
            put(w, "\\\"", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(w, u, sizeof(u));
        }
        }
    }
    put(w, run, (size_t)(s - run));
}

static void put_field(struct writer *w, const char *key, const char *val)
{
    if (val == NULL || *val == '\0')
        return;
    put(w, ",\"", 2);
    put_str(w, key);
    put(w, "\":\"", 3);
    put_json_str(w, val);
    put(w, "\"", 1);
}

static void connect_write(struct writer *w, const struct nats_connect_opts *o)
{
    put_str(w, "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":");
    put_str(w, o->tls_required ? "true" : "false");
    put_str(w, ",\"lang\":\"c\",\"protocol\":1,\"headers\":true,\"no_responders\":true,\"echo\":");
    put_str(w, o->echo ? "true" : "false");
    put_field(w, "name", o->name);
    put_field(w, "version", o->version);
    put_field(w, "user", o->user);
    put_field(w, "pass", o->pass);
    put_field(w, "auth_token", o->auth_token);
    put_field(w, "nkey", o->nkey);
    put_field(w, "jwt", o->jwt);
    put_field(w, "sig", o->sig);
    put(w, "}\r\n", 3);
}

int nats_encode_connect(uint8_t *out, size_t cap, const struct nats_connect_opts *o)
{
    struct writer w = {out, cap, 0};
    connect_write(&w, o);
    return finish(&w, (size_t)INT_MAX, NATS_ENC_ESIZE);
}

int nats_encode_connect_size(const struct nats_connect_opts *o)
{
    struct writer w = {NULL, 0, 0};
    connect_write(&w, o);
    return w.len > (size_t)INT_MAX ? NATS_ENC_ESIZE : (int)w.len;
}

const char *nats_encode_strerror(int err)
{
    switch (err) {
    case NATS_ENC_ENOSPC:
        return "output buffer too small";
    case NATS_ENC_ESUBJECT:
        return "invalid subject";
    case NATS_ENC_EREPLY:
        return "invalid reply subject";
    case NATS_ENC_EQUEUE:
        return "invalid queue group";
    case NATS_ENC_ELINE:
        return "control line too long";
    case NATS_ENC_ESIZE:
        return "payload or headers too large";
    }
    return err >= 0 ? "no error" : "unknown error";
}
