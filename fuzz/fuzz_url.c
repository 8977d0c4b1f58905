/*
 * fuzz/fuzz_url.c — proto/url (url_parse, url_parse_list,
 * url_format_redacted) and core/log's log_redact_url on the same input.
 *
 * Invariants for a parsed URL: a non-empty host and a port; every span
 * inside the input or the decode buffer; no space or control byte in any
 * span; nats/tls without path, query or fragment; the redacted form parses
 * back to the same scheme, host, port and user with "***" where the
 * password or token was; log_redact_url keeps the input up to the secret
 * and replaces the secret with "***".
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "proto/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(struct span s, const uint8_t *lo, size_t n, bool raw)
{
    if (s.p == NULL) {
        assert(s.n == 0);
        return;
    }
    assert(s.p >= lo && s.p + s.n <= lo + n);
    for (size_t i = 0; i < s.n; i++)
        assert(s.p[i] >= (raw ? 0x21 : 0x20) && s.p[i] != 0x7f && (!raw || s.p[i] < 0x7f));
}

static void check_url(const struct url *u, const uint8_t *in, size_t n, const uint8_t *buf,
                      size_t used)
{
    assert(u->host.n > 0 && u->port > 0);
    check_span(u->host, in, n, true);
    check_span(u->path, in, n, true);
    check_span(u->query, in, n, true);
    check_span(u->fragment, in, n, true);
    check_span(u->user, buf, used, false);
    check_span(u->password, buf, used, false);
    assert(u->user.p != NULL || !u->has_password);
    if (u->scheme == URL_SCHEME_NATS || u->scheme == URL_SCHEME_TLS)
        assert(u->path.n <= 1 && u->query.p == NULL && u->fragment.p == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[URL_MAX_LEN], buf2[URL_REDACTED_MAX];
    static char red[URL_REDACTED_MAX], lred[URL_MAX_LEN * 2 + 64];
    const char *s = (const char *)data;
    struct url u, back, list[8];
    size_t bad;

    int rc = url_parse(s, size, URL_NO_SCHEME_NATS, &u, buf, sizeof(buf));
    if (rc >= 0) {
        check_url(&u, data, size, buf, (size_t)rc);

        size_t n = url_format_redacted(&u, red, sizeof(red));
        assert(n < sizeof(red));
        /* The redacted form spells out the port and re-encodes the user, so
         * a URL near URL_MAX_LEN may redact to more than url_parse takes:
         * the round trip is checked whenever it fits. */
        if (n <= URL_MAX_LEN) {
            assert(url_parse(red, n, 0, &back, buf2, sizeof(buf2)) >= 0);
            assert(back.scheme == u.scheme && back.port == u.port && span_eq(back.host, u.host));
            if (u.has_password) {
                assert(span_eq(back.user, u.user) && span_eq(back.password, SPAN_LIT("***")));
            } else if (u.user.p != NULL) {
                assert(span_eq(back.user, SPAN_LIT("***")) && !back.has_password);
            }
        }

        if (u.user.p != NULL) {
            /* Where the secret starts in the raw input. */
            const char *sep = memmem(s, size, "://", 3);
            size_t start = sep != NULL ? (size_t)(sep - s) + 3 : 0;
            if (u.has_password)
                start = (size_t)((const char *)memchr(s + start, ':', size - start) - s) + 1;
            size_t ln = log_redact_url(s, size, lred, sizeof(lred));
            assert(ln < sizeof(lred) && ln >= start + 4);
            assert(memcmp(lred, s, start) == 0 && memcmp(lred + start, "***@", 4) == 0);
        }
    }
    rc = url_parse(s, size, 0, &u, buf, sizeof(buf));
    if (rc >= 0)
        check_url(&u, data, size, buf, (size_t)rc);

    rc = url_parse_list(s, size, URL_NO_SCHEME_NATS, list, 8, buf, sizeof(buf), &bad);
    if (rc >= 0) {
        assert(rc >= 1 && rc <= 8);
        for (int i = 0; i < rc; i++)
            check_url(&list[i], data, size, buf, sizeof(buf));
    } else {
        assert(rc >= URL_EEMPTYITEM && bad <= 8);
    }
    return 0;
}
