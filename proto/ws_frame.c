/*
 * proto/ws_frame.c — see ws_frame.h.
 */
#include "proto/ws_frame.h"

#include <string.h>

enum {
    WS_FRAME_ST_HEADER = 0,
    WS_FRAME_ST_DATA,
    WS_FRAME_ST_CONTROL,
    WS_FRAME_ST_CLOSED,
    WS_FRAME_ST_ERROR,
};

void ws_frame_parser_init(struct ws_frame_parser *p, enum ws_frame_role role, uint64_t max_message)
{
    memset(p, 0, sizeof(*p));
    p->role = (uint8_t)role;
    p->max_message = max_message;
    p->state = WS_FRAME_ST_HEADER;
    p->hdr_need = 2;
    ws_utf8_init(&p->utf8);
}

unsigned ws_frame_parser_error(const struct ws_frame_parser *p, const char **reason)
{
    if (p->state != WS_FRAME_ST_ERROR)
        return 0;
    if (reason)
        *reason = p->err_reason;
    return p->err_code;
}

static void ws_frame_error_event(const struct ws_frame_parser *p, struct ws_frame_event *ev)
{
    ev->type = WS_EV_ERROR;
    ev->code = p->err_code;
    ev->data = span_cstr(p->err_reason);
}

static size_t ws_frame_fail(struct ws_frame_parser *p, struct ws_frame_event *ev, size_t pos,
                            uint16_t code, const char *reason)
{
    p->state = WS_FRAME_ST_ERROR;
    p->err_code = code;
    p->err_reason = reason;
    ws_frame_error_event(p, ev);
    return pos;
}

/*
 * Checks what the first two header bytes alone decide, so that a hostile
 * peer is rejected before we wait for (or buffer) anything more, and sizes
 * the rest of the header. Returns NULL or the 1002 reason.
 */
static const char *ws_frame_header_start(struct ws_frame_parser *p)
{
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    unsigned op = b0 & 0x0F, len7 = b1 & 0x7F;

    if (b0 & 0x70)
        return "reserved bits set without a negotiated extension";
    p->fin = b0 >> 7;
    p->op = (uint8_t)op;
    p->masked = b1 >> 7;
    if (op >= WS_OP_CLOSE) {
        if (op > WS_OP_PONG)
            return "unknown opcode";
        if (!p->fin)
            return "fragmented control frame";
        if (len7 > WS_FRAME_CONTROL_MAX)
            return "control frame longer than 125 bytes";
    } else {
        if (op > WS_OP_BINARY)
            return "unknown opcode";
        if (op == WS_OP_CONT && p->msg_op == 0)
            return "continuation frame without a message in progress";
        if (op != WS_OP_CONT && p->msg_op != 0)
            return "new data frame inside a fragmented message";
    }
    if (p->role == WS_FRAME_SERVER && !p->masked)
        return "unmasked frame from a client";
    if (p->role == WS_FRAME_CLIENT && p->masked)
        return "masked frame from a server";
    p->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (p->masked ? 4 : 0));
    return NULL;
}

/* Decodes the extended length and mask key once the header is complete.
 * Returns NULL or the 1002 reason. */
static const char *ws_frame_header_finish(struct ws_frame_parser *p)
{
    const uint8_t *h = p->hdr + 2;
    unsigned len7 = p->hdr[1] & 0x7F;
    uint64_t len = len7;

    if (len7 == 126) {
        len = (uint64_t)h[0] << 8 | h[1];
        h += 2;
        if (len < 126)
            return "non-minimal 16-bit payload length";
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[i];
        h += 8;
        if (len > WS_FRAME_LEN_MAX)
            return "64-bit payload length with the most significant bit set";
        if (len < 65536)
            return "non-minimal 64-bit payload length";
    }
    if (p->masked)
        memcpy(p->mask, h, 4);
    p->mask_off = 0;
    p->left = len;
    p->hdr_len = 0;
    p->hdr_need = 2;
    return NULL;
}

/*
 * The engine behind both feed functions. inplace is the writable alias of
 * in for ws_frame_parser_feed, or NULL for ws_frame_parser_feed_copy, in
 * which case payload goes to out (outcap bytes).
 */
static size_t ws_frame_run(struct ws_frame_parser *p, const uint8_t *in, uint8_t *inplace, size_t n,
                           uint8_t *out, size_t outcap, struct ws_frame_event *ev)
{
    size_t pos = 0;
    const char *why;

    memset(ev, 0, sizeof(*ev));
    for (;;) {
        switch (p->state) {
        case WS_FRAME_ST_HEADER: {
            size_t take;

            if (pos == n)
                return pos;
            take = (size_t)(p->hdr_need - p->hdr_len);
            if (take > n - pos)
                take = n - pos;
            memcpy(p->hdr + p->hdr_len, in + pos, take);
            p->hdr_len = (uint8_t)(p->hdr_len + take);
            pos += take;
            /* hdr_need stays 2 until the first two bytes are judged; it can
             * be exactly 2 afterwards only for an unmasked short frame. */
            if (p->hdr_len == 2 && p->hdr_need == 2) {
                if ((why = ws_frame_header_start(p)) != NULL)
                    return ws_frame_fail(p, ev, pos, WS_CLOSE_PROTOCOL_ERROR, why);
            }
            if (p->hdr_len < p->hdr_need)
                continue;
            if ((why = ws_frame_header_finish(p)) != NULL)
                return ws_frame_fail(p, ev, pos, WS_CLOSE_PROTOCOL_ERROR, why);
            if (p->op >= WS_OP_CLOSE) {
                p->ctl_len = 0;
                p->state = WS_FRAME_ST_CONTROL;
                continue;
            }
            /* msg_len <= max_message always holds, so the subtraction cannot
             * wrap and the sum below cannot overflow. */
            if (p->left > p->max_message - (p->op == WS_OP_CONT ? p->msg_len : 0))
                return ws_frame_fail(p, ev, pos, WS_CLOSE_TOO_BIG,
                                     "message exceeds the maximum size");
            if (p->op != WS_OP_CONT) {
                p->msg_op = p->op;
                p->msg_len = 0;
                ws_utf8_init(&p->utf8);
            }
            p->msg_len += p->left;
            p->state = WS_FRAME_ST_DATA;
            ev->type = WS_EV_FRAME;
            ev->opcode = p->msg_op;
            ev->first = p->op != WS_OP_CONT;
            ev->fin = p->fin;
            ev->length = p->left;
            return pos;
        }

        case WS_FRAME_ST_DATA: {
            size_t chunk;
            uint8_t *dst;

            if (p->left == 0) {
                p->state = WS_FRAME_ST_HEADER;
                if (!p->fin)
                    continue;
                if (p->msg_op == WS_OP_TEXT && ws_utf8_status(&p->utf8) != WS_UTF8_OK)
                    return ws_frame_fail(p, ev, pos, WS_CLOSE_INVALID_DATA,
                                         "text message ends inside a UTF-8 sequence");
                ev->type = WS_EV_MESSAGE_END;
                ev->opcode = p->msg_op;
                ev->length = p->msg_len;
                p->msg_op = 0;
                return pos;
            }
            if (pos == n)
                return pos;
            chunk = p->left < n - pos ? (size_t)p->left : n - pos;
            if (inplace) {
                dst = inplace + pos;
            } else {
                if (chunk > outcap)
                    chunk = outcap;
                if (chunk == 0)
                    return pos;
                dst = out;
            }
            if (p->masked)
                p->mask_off = (uint8_t)ws_frame_mask(dst, in + pos, chunk, p->mask, p->mask_off);
            else if (!inplace)
                memcpy(dst, in + pos, chunk);
            if (p->msg_op == WS_OP_TEXT && ws_utf8_feed(&p->utf8, dst, chunk) == WS_UTF8_INVALID)
                return ws_frame_fail(p, ev, pos, WS_CLOSE_INVALID_DATA,
                                     "invalid UTF-8 in text message");
            pos += chunk;
            p->left -= chunk;
            ev->type = WS_EV_DATA;
            ev->opcode = p->msg_op;
            ev->data = span_make(dst, chunk);
            return pos;
        }

        case WS_FRAME_ST_CONTROL: {
            uint8_t *dst = p->ctl + p->ctl_len;
            size_t take;

            if (p->left) {
                if (pos == n)
                    return pos;
                /* left <= 125 - ctl_len here: checked at the header. */
                take = p->left < n - pos ? (size_t)p->left : n - pos;
                if (p->masked)
                    p->mask_off = (uint8_t)ws_frame_mask(dst, in + pos, take, p->mask, p->mask_off);
                else
                    memcpy(dst, in + pos, take);
                p->ctl_len = (uint8_t)(p->ctl_len + take);
                p->left -= take;
                pos += take;
                if (p->left)
                    return pos;
            }
            p->state = WS_FRAME_ST_HEADER;
            ev->opcode = p->op;
            ev->data = span_make(p->ctl, p->ctl_len);
            if (p->op == WS_OP_PING) {
                ev->type = WS_EV_PING;
                return pos;
            }
            if (p->op == WS_OP_PONG) {
                ev->type = WS_EV_PONG;
                return pos;
            }
            if (p->ctl_len == 1)
                return ws_frame_fail(p, ev, pos, WS_CLOSE_PROTOCOL_ERROR,
                                     "close frame with a 1-byte payload");
            if (p->ctl_len >= 2) {
                unsigned code = (unsigned)p->ctl[0] << 8 | p->ctl[1];
                if (!ws_frame_close_code_valid(code))
                    return ws_frame_fail(p, ev, pos, WS_CLOSE_PROTOCOL_ERROR, "invalid close code");
                if (!ws_utf8_valid(p->ctl + 2, p->ctl_len - 2u))
                    return ws_frame_fail(p, ev, pos, WS_CLOSE_INVALID_DATA,
                                         "invalid UTF-8 in close reason");
                ev->code = (uint16_t)code;
                ev->data = span_make(p->ctl + 2, p->ctl_len - 2u);
            }
            ev->type = WS_EV_CLOSE;
            p->state = WS_FRAME_ST_CLOSED;
            return pos;
        }

        case WS_FRAME_ST_CLOSED:
            return n;

        default:
            ws_frame_error_event(p, ev);
            return 0;
        }
    }
}

size_t ws_frame_parser_feed(struct ws_frame_parser *p, uint8_t *buf, size_t n,
                            struct ws_frame_event *ev)
{
    return ws_frame_run(p, buf, buf, n, NULL, 0, ev);
}

size_t ws_frame_parser_feed_copy(struct ws_frame_parser *p, const uint8_t *in, size_t n,
                                 uint8_t *out, size_t outcap, struct ws_frame_event *ev)
{
    return ws_frame_run(p, in, NULL, n, out, outcap, ev);
}

/* ------------------------------------------------------------- encoder */

size_t ws_frame_header_encode(uint8_t *out, unsigned opcode, int fin, uint64_t len,
                              const uint8_t *mask_key)
{
    uint8_t m = mask_key ? 0x80 : 0;
    size_t n;

    if (opcode > WS_OP_PONG || (opcode > WS_OP_BINARY && opcode < WS_OP_CLOSE))
        return 0;
    if (opcode >= WS_OP_CLOSE && (len > WS_FRAME_CONTROL_MAX || !fin))
        return 0;
    if (len > WS_FRAME_LEN_MAX)
        return 0;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        out[1] = (uint8_t)(m | len);
        n = 2;
    } else if (len <= 0xFFFF) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask_key) {
        memcpy(out + n, mask_key, 4);
        n += 4;
    }
    return n;
}

size_t ws_frame_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key, size_t offset)
{
    size_t k = offset & 3, i = 0;

    if (n >= 16) {
        /* The key rotated to the current phase, repeated over 64 bits.
         * Built byte by byte, so it is right whatever the endianness; every
         * step below is a multiple of 4 bytes, so the phase never moves. */
        uint8_t rot[8];
        uint64_t m;

        for (int j = 0; j < 8; j++)
            rot[j] = key[(k + (size_t)j) & 3];
        memcpy(&m, rot, 8);
        for (; n - i >= 32; i += 32) {
            uint64_t w[4];
            memcpy(w, src + i, 32);
            w[0] ^= m;
            w[1] ^= m;
            w[2] ^= m;
            w[3] ^= m;
            memcpy(dst + i, w, 32);
        }
        for (; n - i >= 8; i += 8) {
            uint64_t w;
            memcpy(&w, src + i, 8);
            w ^= m;
            memcpy(dst + i, &w, 8);
        }
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ key[(k + i) & 3];
    return (k + n) & 3;
}

int ws_frame_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int ws_frame_close_payload(uint8_t *out, unsigned code, const uint8_t *reason, size_t reason_len)
{
    if (code == 0)
        return reason_len ? WS_FRAME_ERR_REASON : 0;
    if (!ws_frame_close_code_valid(code))
        return WS_FRAME_ERR_CODE;
    if (reason_len > WS_FRAME_CLOSE_REASON_MAX || !ws_utf8_valid(reason, reason_len))
        return WS_FRAME_ERR_REASON;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (reason_len)
        memcpy(out + 2, reason, reason_len);
    return (int)(2 + reason_len);
}
