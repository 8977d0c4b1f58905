/*
 * proto/subject.h — HTTP request <-> NATS subject mapping (h8s wire contract).
 *
 * Pure functions over caller buffers: no allocation, no I/O, no state.
 *
 * Request subject
 *     h8s.http.<METHOD>.<host tokens>[.<path tokens>]
 *
 * Host tokens (subject_host):
 *   - the port is dropped ("host:8080", "[::1]:8080"); it must be digits
 *     only, at most 65535;
 *   - DNS names are lower-cased, one trailing root dot is dropped, and the
 *     labels are reversed: "Foo.Bar.COM" -> "com.bar.foo". A label is 1..63
 *     bytes of [a-z0-9-]; the whole name at most 253 bytes;
 *   - IPv4 literals (dotted quad, each part 0..255 without leading zeros,
 *     as Go's net.ParseIP) are kept in order: "10.0.0.1" -> "10.0.0.1",
 *     i.e. four subject tokens, exactly as the Go h8s maps them;
 *   - IPv6 literals, bracketed or bare, are lower-cased, kept in order,
 *     with ':' -> '_': "[2001:DB8::1]" -> "2001_db8__1". Zone ids are
 *     refused. An embedded IPv4 part keeps its dots, as in the Go h8s;
 *   - anything else is invalid (SUBJECT_E_HOST, answer 400): empty hosts,
 *     whitespace, '*', '>', control bytes, non-ASCII, empty labels, and a
 *     name whose last label is all digits but which is not a valid IPv4
 *     literal ("127.1", "1.2.3.256"): resolvers read those as numbers, so
 *     they would name an address the dotted-quad rule does not see.
 *   The rules make the mapping one-to-one between kinds: a name's first
 *   token is never all digits (IPv4 tokens are), and no name holds '_'
 *   (every IPv6 token does), so no Host can reach an IP literal's subject.
 *
 * Path tokens (subject_path), as the Go h8s computes them from Go's
 * URL.Path: the raw path is percent-decoded once (a '%' not followed by two
 * hex digits is SUBJECT_E_PATH, answer 400, as Go's server does), split on
 * '/' (including slashes that came from %2F), empty segments dropped. Each
 * segment is percent-decoded once more; when that second decode is not
 * valid ("/100%25" gives "100%") the segment is kept as it stands (the Go
 * h8s drops it). The segment is then re-encoded as Go's url.PathEscape
 * does: A-Z a-z 0-9 - _ ~ $ & + : = @ are kept, '.' and every other byte
 * becomes %XX with upper-case hex. So a path token never contains '.', '*',
 * '>', whitespace or control bytes, and joining the tokens with '/' gives a
 * valid percent-encoded path again (subject_fallback_path).
 *
 * Examples
 *     GET http://Example.COM:8080/         h8s.http.GET.com.example
 *     GET /a/b.txt?x=1, Host api.example.com  h8s.http.GET.com.example.api.a.b%2Etxt
 *     GET //a///b/                             ...<host>.a.b
 *     GET /a%2Fb                               ...<host>.a.b
 *     GET /a%252Fb                             ...<host>.a%2Fb
 *     GET /100%25                              ...<host>.100%25
 *     GET /%7Euser/caf%C3%A9                   ...<host>.~user.caf%C3%A9
 *     OPTIONS *                                ...<host>.%2A
 *     GET /100%zz                              400 (SUBJECT_E_PATH)
 *
 * Length: a request subject longer than SUBJECT_MAX is SUBJECT_E_TOO_LONG
 * (answer 414). nats-server reads a protocol line of at most 4096 bytes
 * (max_control_line): "HPUB <subject> <reply> <hdr> <total>\r\n" from the
 * gateway and "HMSG <subject> <sid> <reply> <hdr> <total>\r\n" to the agent.
 * With a reply of at most SUBJECT_REPLY_MAX bytes and 20-digit numbers the
 * rest of that line takes under 160 bytes; SUBJECT_MAX keeps 256 in reserve.
 *
 * Other subjects
 *     _INBOX.h8s.<gateway id>.<request id>        reply (subject_reply)
 *     _INBOX.h8s.<gateway id>.*                   the gateway's one wildcard
 *     h8s.control.connection.closed.<id>         exchange ended early
 *     h8s.control.interest.register.<rhost>      agent registers a host
 *     h8s.control.interest.unregister.<rhost>    agent leaves
 *     h8s.http.*.<rhost> and h8s.http.*.<rhost>.> what an agent subscribes
 *
 * Return convention: builders return the length written (>= 0) or a
 * negative SUBJECT_E_* code; on error the output buffer holds garbage.
 * Nothing is NUL-terminated.
 */
#ifndef H8S_PROTO_SUBJECT_H
#define H8S_PROTO_SUBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/span.h"

/* Longest request subject accepted (bytes); see the derivation above. */
#define SUBJECT_MAX 3840
/* Longest host part (reversed host tokens) subject_host can produce. */
#define SUBJECT_HOST_MAX 253
/* Longest id token accepted by the reply / control builders. */
#define SUBJECT_ID_MAX 64
/* Longest reply subject: "_INBOX.h8s." + id + "." + id. */
#define SUBJECT_REPLY_MAX (11 + SUBJECT_ID_MAX + 1 + SUBJECT_ID_MAX)
/* Longest method token accepted. */
#define SUBJECT_METHOD_MAX 32

#define SUBJECT_PREFIX "h8s.http."
#define SUBJECT_INBOX_PREFIX "_INBOX.h8s."
#define SUBJECT_CONN_CLOSED_PREFIX "h8s.control.connection.closed."
#define SUBJECT_INTEREST_REGISTER_PREFIX "h8s.control.interest.register."
#define SUBJECT_INTEREST_UNREGISTER_PREFIX "h8s.control.interest.unregister."
/* What a gateway with --track-interest subscribes to. */
#define SUBJECT_INTEREST_WILDCARD "h8s.control.interest.>"

#define SUBJECT_E_HOST (-1)     /* invalid host: 400 */
#define SUBJECT_E_PATH (-2)     /* invalid percent-encoding: 400 */
#define SUBJECT_E_METHOD (-3)   /* method is not a subject-safe token: 400 */
#define SUBJECT_E_TOO_LONG (-4) /* longer than SUBJECT_MAX: 414 */
#define SUBJECT_E_SPACE (-5)    /* output buffer too small */
#define SUBJECT_E_ID (-6)       /* id is not a valid single token */
#define SUBJECT_E_SUBJECT (-7)  /* subject_fallback_path: not a request subject for rhost */

/*
 * Maps a Host header value (or an absolute-form authority) to its subject
 * tokens, as described above, into out (cap bytes). Returns the length, or
 * SUBJECT_E_HOST, or SUBJECT_E_SPACE when cap is too small
 * (SUBJECT_HOST_MAX always suffices).
 */
int subject_host(uint8_t *out, size_t cap, struct span host);

/*
 * Maps a raw request path (the request target up to '?', still
 * percent-encoded; "" and "/" have no tokens) to its path tokens joined with
 * '.', into out. Returns the length (0 when there are no tokens), or
 * SUBJECT_E_PATH, or SUBJECT_E_SPACE when the result does not fit in cap
 * bytes (3 * path.n always suffices).
 */
int subject_path(uint8_t *out, size_t cap, struct span path);

/*
 * 1 when m is a method the subject can carry: 1..SUBJECT_METHOD_MAX bytes of
 * HTTP token characters other than '.' and '*'. 0 otherwise.
 */
int subject_method_ok(struct span method);

/*
 * Builds the request subject for method, host and raw path into out (cap
 * bytes; SUBJECT_MAX always suffices). Returns the length or SUBJECT_E_METHOD,
 * SUBJECT_E_HOST, SUBJECT_E_PATH, SUBJECT_E_TOO_LONG (more than SUBJECT_MAX
 * bytes, whatever cap is) or SUBJECT_E_SPACE (cap smaller than the result).
 */
int subject_request(uint8_t *out, size_t cap, struct span method, struct span host,
                    struct span path);

/*
 * HTTP status for a SUBJECT_E_* code: 414 for SUBJECT_E_TOO_LONG, 500 for
 * SUBJECT_E_SPACE (a caller bug), 400 otherwise.
 */
int subject_error_status(int err);

/*
 * The two subscriptions an agent serving host needs (host as in
 * subject_host): "h8s.http.*.<rhost>" into sub_root and
 * "h8s.http.*.<rhost>.>" into sub_path, each cap bytes (SUBJECT_HOST_MAX +
 * 16 suffices). Lengths are returned through root_len and path_len.
 * Returns 0, SUBJECT_E_HOST or SUBJECT_E_SPACE.
 */
int subject_agent_subs(uint8_t *sub_root, uint8_t *sub_path, size_t cap, struct span host,
                       size_t *root_len, size_t *path_len);

/*
 * 1 when id can stand as one subject token: 1..SUBJECT_ID_MAX bytes, none
 * of them '.', '*', '>', whitespace, control or non-ASCII. 0 otherwise.
 */
int subject_id_ok(struct span id);

/*
 * Writes 2 * n lower-case hex digits for the n bytes at in (random bytes
 * from getrandom, or a counter) into out, which must hold 2 * n bytes.
 * Returns 2 * n. The result is a valid id when 1 <= n <= SUBJECT_ID_MAX / 2.
 */
size_t subject_id_hex(uint8_t *out, const uint8_t *in, size_t n);

/*
 * "_INBOX.h8s.<gw_id>.<req_id>" into out. Returns the length, SUBJECT_E_ID
 * or SUBJECT_E_SPACE (SUBJECT_REPLY_MAX always suffices).
 */
int subject_reply(uint8_t *out, size_t cap, struct span gw_id, struct span req_id);

/*
 * "_INBOX.h8s.<gw_id>.*", the gateway's single reply subscription, into out.
 * Returns the length, SUBJECT_E_ID or SUBJECT_E_SPACE.
 */
int subject_reply_wildcard(uint8_t *out, size_t cap, struct span gw_id);

/*
 * If reply is "_INBOX.h8s.<gw_id>.<token>", stores the token in *req_id and
 * returns 1; returns 0 otherwise. *req_id points into reply.
 */
int subject_reply_match(struct span reply, struct span gw_id, struct span *req_id);

/*
 * "h8s.control.connection.closed.<id>" into out. Returns the length,
 * SUBJECT_E_ID or SUBJECT_E_SPACE.
 */
int subject_conn_closed(uint8_t *out, size_t cap, struct span id);

/*
 * "h8s.control.interest.register.<rhost>" (unregister == 0) or
 * "h8s.control.interest.unregister.<rhost>" (unregister != 0) into out, host
 * as in subject_host. Returns the length, SUBJECT_E_HOST or SUBJECT_E_SPACE.
 */
int subject_interest(uint8_t *out, size_t cap, int unregister, struct span host);

/*
 * The agent's fallback when a request message lacks X-H8s-Original-Path:
 * given the request subject and the subject tokens of the host the agent
 * serves (rhost, as produced by subject_host), writes "/" followed by the
 * path tokens joined with '/' into out. Tokens are percent-encoded already,
 * so the result is a valid request path (it loses what the mapping drops:
 * empty segments, trailing slashes). *method, when not NULL, receives the
 * METHOD token (pointing into subject). Returns the length,
 * SUBJECT_E_SUBJECT when subject is not "h8s.http.<METHOD>.<rhost>[...]",
 * or SUBJECT_E_SPACE (subject.n + 1 always suffices).
 */
int subject_fallback_path(uint8_t *out, size_t cap, struct span subject, struct span rhost,
                          struct span *method);

#endif
