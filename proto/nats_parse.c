/*
 * proto/nats_parse.c — see nats_parse.h.
 *
 * Strategy: find the end of a control line with memchr, parse the line in
 * one pass, then jump over the payload by its declared length. Nothing is
 * copied unless an operation straddles two feeds; then the whole operation
 * (control line included, so its spans stay valid) is assembled in the
 * caller's buffer and the control line is parsed again from there when the
 * last byte arrives. Re-parsing at most 4 KiB once per straddling message is
 * cheaper than carrying offsets for every field through the state.
 */
#include "proto/nats_parse.h"

#include <string.h>

enum op {
    OP_NONE,
    OP_INFO,
    OP_MSG,
    OP_HMSG,
    OP_PING,
    OP_PONG,
    OP_OK,
    OP_ERR,
};

static const struct {
    const char *name;
    size_t len;
    enum op op;
} ops_table[] = {
    {"INFO", 4, OP_INFO}, {"MSG", 3, OP_MSG}, {"HMSG", 4, OP_HMSG}, {"PING", 4, OP_PING},
    {"PONG", 4, OP_PONG}, {"+OK", 3, OP_OK},  {"-ERR", 4, OP_ERR},
};

#define OPS_COUNT (sizeof(ops_table) / sizeof(ops_table[0]))
#define OP_NAME_MAX 4

/* A parsed control line; spans point into the line. */
struct line {
    enum op op;
    struct nats_msg m;
    size_t hdr_len;   /* HMSG: header bytes */
    size_t body_len;  /* MSG/HMSG: bytes following the control line before CRLF */
    struct span text; /* INFO json / -ERR text */
};

static int is_delim(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static uint8_t upper(uint8_t c)
{
    return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
}

/* Case-insensitive: is s[0..k) a prefix of (exact == 0) or equal to
 * (exact != 0) a known op name? Returns the op, or OP_NONE. For a proper
 * prefix the returned op is meaningful only as "not OP_NONE". */
static enum op op_match(const uint8_t *s, size_t k, int exact)
{
    for (size_t i = 0; i < OPS_COUNT; i++) {
        if (k > ops_table[i].len || (exact && k != ops_table[i].len))
            continue;
        size_t j = 0;
        while (j < k && upper(s[j]) == (uint8_t)ops_table[i].name[j])
            j++;
        if (j == k)
            return ops_table[i].op;
    }
    return OP_NONE;
}

/*
 * Checks a (possibly incomplete) control line of total_len bytes whose first
 * headn bytes (headn == min(total_len, 8)) are at head: the op name must be
 * known (or a prefix of one while incomplete) and the length within the
 * op's limit. Lets garbage fail at its first byte instead of after 64 KiB.
 */
static int line_check(const uint8_t *head, size_t headn, size_t total_len)
{
    size_t k = 0;
    while (k < headn && !is_delim(head[k]))
        k++;
    if (k == headn) {
        /* No delimiter yet: the name is still arriving. */
        if (k > OP_NAME_MAX || op_match(head, k, 0) == OP_NONE)
            return NATS_PARSE_EPROTO;
        return total_len > NATS_PARSE_LINE_MAX ? NATS_PARSE_ELINE : 0;
    }
    enum op op = op_match(head, k, 1);
    if (op == OP_NONE)
        return NATS_PARSE_EPROTO;
    size_t limit = op == OP_INFO ? NATS_PARSE_INFO_MAX : NATS_PARSE_LINE_MAX;
    return total_len > limit ? NATS_PARSE_ELINE : 0;
}

/* Decimal without sign; overflow of *out is an error. */
static int parse_u64(struct span s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.n == 0)
        return -1;
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (c < '0' || c > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(c - '0');
    }
    *out = v;
    return 0;
}

static int parse_size(struct span s, size_t *out)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0 || v > SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

static struct span trim(struct span s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

/*
 * Splits MSG/HMSG arguments on runs of spaces/tabs. Subjects and numbers
 * never contain control bytes, so one is a protocol error here.
 */
static int split_args(const uint8_t *s, size_t n, struct span *tok, size_t max, size_t *count)
{
    size_t c = 0, i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n)
            break;
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t') {
            if (s[i] < 0x20 || s[i] == 0x7f)
                return NATS_PARSE_EPROTO;
            i++;
        }
        if (c == max)
            return NATS_PARSE_EPROTO;
        tok[c++] = span_make(s + start, i - start);
    }
    *count = c;
    return 0;
}

static int parse_msg_args(struct nats_parse *p, struct line *ln, struct span args)
{
    struct span tok[5];
    size_t n = 0;
    int hmsg = ln->op == OP_HMSG;
    if (split_args(args.p, args.n, tok, 5, &n) != 0)
        return NATS_PARSE_EPROTO;
    size_t min = hmsg ? 4 : 3;
    if (n < min || n > min + 1)
        return NATS_PARSE_EPROTO;
    ln->m.subject = tok[0];
    if (parse_u64(tok[1], &ln->m.sid) != 0)
        return NATS_PARSE_EPROTO;
    size_t i = 2;
    ln->m.reply = n == min + 1 ? tok[i++] : span_make(NULL, 0);
    ln->hdr_len = 0;
    if (hmsg && parse_size(tok[i++], &ln->hdr_len) != 0)
        return NATS_PARSE_EPROTO;
    if (parse_size(tok[i], &ln->body_len) != 0)
        return NATS_PARSE_EPROTO;
    if (ln->hdr_len > ln->body_len)
        return NATS_PARSE_EPROTO;
    if (ln->body_len > p->max_payload)
        return NATS_PARSE_EPAYLOAD;
    return 0;
}

/* Parses one complete control line (len bytes ending in LF). */
static int parse_line(struct nats_parse *p, const uint8_t *s, size_t len, struct line *ln)
{
    if (len < 2 || s[len - 2] != '\r')
        return NATS_PARSE_EPROTO;
    size_t n = len - 2;
    if (memchr(s, '\r', n) != NULL)
        return NATS_PARSE_EPROTO;
    size_t k = 0;
    while (k < n && !is_delim(s[k]))
        k++;
    ln->op = op_match(s, k, 1);
    struct span rest = span_make(s + k, n - k);
    switch (ln->op) {
    case OP_MSG:
    case OP_HMSG:
        return parse_msg_args(p, ln, rest);
    case OP_INFO:
        ln->text = trim(rest);
        return ln->text.n ? 0 : NATS_PARSE_EPROTO;
    case OP_ERR:
        ln->text = trim(rest);
        return 0;
    case OP_PING:
    case OP_PONG:
    case OP_OK:
        return trim(rest).n ? NATS_PARSE_EPROTO : 0;
    case OP_NONE:
        break;
    }
    return NATS_PARSE_EPROTO;
}

static int fail(struct nats_parse *p, int err)
{
    p->err = err;
    return err;
}

/* Runs the callback for a parsed operation. For messages, body points at
 * the byte after the control line and holds body_len + 2 bytes. */
static int deliver(struct nats_parse *p, struct line *ln, const uint8_t *body)
{
    const struct nats_parse_ops *o = p->ops;
    int rc = 0;
    switch (ln->op) {
    case OP_MSG:
    case OP_HMSG:
        if (body[ln->body_len] != '\r' || body[ln->body_len + 1] != '\n')
            return fail(p, NATS_PARSE_ECRLF);
        ln->m.hdr = span_make(body, ln->hdr_len);
        ln->m.payload = span_make(body + ln->hdr_len, ln->body_len - ln->hdr_len);
        if (ln->hdr_len == 0)
            ln->m.hdr.p = NULL;
        if (o->on_msg)
            rc = o->on_msg(p->cookie, &ln->m);
        break;
    case OP_INFO:
        if (o->on_info)
            rc = o->on_info(p->cookie, ln->text);
        break;
    case OP_PING:
        if (o->on_ping)
            rc = o->on_ping(p->cookie);
        break;
    case OP_PONG:
        if (o->on_pong)
            rc = o->on_pong(p->cookie);
        break;
    case OP_OK:
        if (o->on_ok)
            rc = o->on_ok(p->cookie);
        break;
    case OP_ERR:
        if (o->on_err)
            rc = o->on_err(p->cookie, ln->text);
        break;
    case OP_NONE:
        return fail(p, NATS_PARSE_EPROTO);
    }
    return rc ? fail(p, NATS_PARSE_ECALLBACK) : 0;
}

/* Total bytes of a message operation: line + body + CRLF, overflow-checked
 * (body_len is already bounded by max_payload, which the caller chose). */
static int msg_total(size_t line_len, size_t body_len, size_t *total)
{
    if (body_len > SIZE_MAX - 2 - line_len)
        return NATS_PARSE_EPAYLOAD;
    *total = line_len + body_len + 2;
    return 0;
}

/* Nothing buffered: parse in place from s; sets *used. */
static int feed_direct(struct nats_parse *p, const uint8_t *s, size_t avail, size_t *used)
{
    size_t win = avail < NATS_PARSE_INFO_MAX ? avail : NATS_PARSE_INFO_MAX;
    const uint8_t *lf = memchr(s, '\n', win);
    int rc;

    if (lf == NULL) {
        rc = line_check(s, avail < 8 ? avail : 8, avail);
        if (rc != 0)
            return fail(p, rc);
        if (avail > p->cap)
            return fail(p, NATS_PARSE_EBUF);
        memcpy(p->buf, s, avail);
        p->len = avail;
        p->need = 0;
        *used = avail;
        return 0;
    }
    size_t line_len = (size_t)(lf - s) + 1;
    rc = line_check(s, line_len < 8 ? line_len : 8, line_len);
    struct line ln;
    if (rc == 0)
        rc = parse_line(p, s, line_len, &ln);
    if (rc != 0)
        return fail(p, rc);
    if (ln.op != OP_MSG && ln.op != OP_HMSG) {
        *used = line_len;
        return deliver(p, &ln, NULL);
    }
    size_t total;
    if ((rc = msg_total(line_len, ln.body_len, &total)) != 0)
        return fail(p, rc);
    if (total <= avail) {
        *used = total;
        return deliver(p, &ln, s + line_len);
    }
    /* Straddles: keep the whole operation so its spans stay contiguous. */
    if (total > p->cap)
        return fail(p, NATS_PARSE_EBUF);
    memcpy(p->buf, s, avail);
    p->len = avail;
    p->need = total;
    p->line_len = line_len;
    *used = avail;
    return 0;
}

/* Completes the buffered operation once its last byte is in buf. */
static int finish_buffered(struct nats_parse *p)
{
    struct line ln;
    size_t line_len = p->need ? p->line_len : p->len;
    int rc = parse_line(p, p->buf, line_len, &ln);
    if (rc != 0)
        return fail(p, rc);
    /* Clear first: the callback may install a new buffer. */
    p->len = 0;
    p->need = 0;
    return deliver(p, &ln, p->buf + line_len);
}

/* Something is buffered: append from s; sets *used. */
static int feed_buffered(struct nats_parse *p, const uint8_t *s, size_t avail, size_t *used)
{
    int rc;
    if (p->need == 0) {
        const uint8_t *lf = memchr(s, '\n', avail);
        size_t take = lf ? (size_t)(lf - s) + 1 : avail;
        if (take > NATS_PARSE_INFO_MAX - p->len + 1)
            take = NATS_PARSE_INFO_MAX - p->len + 1; /* enough to exceed any limit */
        uint8_t head[8];
        size_t headn = 0;
        while (headn < 8 && headn < p->len)
            head[headn] = p->buf[headn], headn++;
        for (size_t i = 0; headn < 8 && i < take; i++)
            head[headn++] = s[i];
        rc = line_check(head, headn, p->len + take);
        if (rc != 0)
            return fail(p, rc);
        if (take > p->cap - p->len)
            return fail(p, NATS_PARSE_EBUF);
        memcpy(p->buf + p->len, s, take);
        p->len += take;
        *used = take;
        if (lf == NULL || take != (size_t)(lf - s) + 1)
            return 0;
        struct line ln;
        if ((rc = parse_line(p, p->buf, p->len, &ln)) != 0)
            return fail(p, rc);
        if (ln.op != OP_MSG && ln.op != OP_HMSG)
            return finish_buffered(p);
        size_t total;
        if ((rc = msg_total(p->len, ln.body_len, &total)) != 0)
            return fail(p, rc);
        if (total > p->cap)
            return fail(p, NATS_PARSE_EBUF);
        p->line_len = p->len;
        p->need = total;
        return 0;
    }
    size_t take = p->need - p->len;
    if (take > avail)
        take = avail;
    memcpy(p->buf + p->len, s, take);
    p->len += take;
    *used = take;
    return p->len == p->need ? finish_buffered(p) : 0;
}

void nats_parse_init(struct nats_parse *p, const struct nats_parse_ops *ops, void *cookie)
{
    memset(p, 0, sizeof(*p));
    p->ops = ops;
    p->cookie = cookie;
    p->max_payload = NATS_PARSE_DEFAULT_MAX_PAYLOAD;
}

int nats_parse_set_buffer(struct nats_parse *p, uint8_t *buf, size_t cap)
{
    size_t keep = p->need ? p->need : p->len;
    if (p->len && keep > cap)
        return NATS_PARSE_EBUF;
    if (p->len && buf != p->buf)
        memmove(buf, p->buf, p->len);
    p->buf = buf;
    p->cap = cap;
    return 0;
}

void nats_parse_set_max_payload(struct nats_parse *p, size_t max_payload)
{
    p->max_payload = max_payload;
}

int nats_parse_feed(struct nats_parse *p, const uint8_t *in, size_t n)
{
    size_t pos = 0;
    while (p->err == 0 && pos < n) {
        size_t used = 0;
        int rc;
        if (p->len == 0)
            rc = feed_direct(p, in + pos, n - pos, &used);
        else
            rc = feed_buffered(p, in + pos, n - pos, &used);
        if (rc != 0)
            return rc;
        pos += used;
    }
    return p->err;
}

int nats_parse_error(const struct nats_parse *p)
{
    return p->err;
}

size_t nats_parse_pending(const struct nats_parse *p)
{
    return p->len;
}

const char *nats_parse_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case NATS_PARSE_EPROTO:
        return "malformed or unknown protocol operation";
    case NATS_PARSE_ELINE:
        return "control line too long";
    case NATS_PARSE_EPAYLOAD:
        return "message larger than max_payload";
    case NATS_PARSE_ECRLF:
        return "message payload not followed by CRLF";
    case NATS_PARSE_EBUF:
        return "message does not fit the assembly buffer";
    case NATS_PARSE_ECALLBACK:
        return "stopped by callback";
    }
    return "unknown error";
}
