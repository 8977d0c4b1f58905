/*
 * fuzz/fuzz_creds.c — proto/creds (creds_parse) and the nkey seed decoder
 * on arbitrary files.
 *
 * Invariants: every span lies inside the input; a successful parse yields
 * a 58-character seed span and, for .creds, a three-segment JWT span, with
 * no line-break or blank inside either; parsing is deterministic; turning
 * every LF into CRLF changes nothing; a seed that decodes re-encodes to
 * exactly the same text.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/creds.h"
#include "proto/nkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(struct span s, const uint8_t *buf, size_t len)
{
    assert(s.p >= buf && s.n <= len && (size_t)(s.p - buf) <= len - s.n);
    for (size_t i = 0; i < s.n; i++)
        assert(s.p[i] != '\n' && s.p[i] != '\r' && s.p[i] != ' ' && s.p[i] != '\t');
}

static int same_tokens(const struct creds *a, const struct creds *b)
{
    return a->kind == b->kind && span_eq(a->jwt, b->jwt) && span_eq(a->seed, b->seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct creds c, again;
    int rc = creds_parse(&c, data, size);

    assert(creds_parse(&again, data, size) == rc && same_tokens(&c, &again));
    assert(creds_strerror(rc) != NULL);
    if (rc == 0) {
        struct nkey k;
        char seed[NKEY_SEED_LEN + 1];

        check_span(c.seed, data, size);
        assert(c.seed.n == NKEY_SEED_LEN && c.seed.p[0] == 'S');
        if (c.kind == CREDS_KIND_USER) {
            size_t dots = 0;
            check_span(c.jwt, data, size);
            for (size_t i = 0; i < c.jwt.n; i++)
                dots += c.jwt.p[i] == '.';
            assert(dots == 2);
        } else {
            assert(c.kind == CREDS_KIND_SEED && c.jwt.p == NULL);
        }
        if (nkey_from_seed(&k, (const char *)c.seed.p, c.seed.n) == 0) {
            nkey_seed(&k, seed);
            assert(memcmp(seed, c.seed.p, NKEY_SEED_LEN) == 0);
            nkey_wipe(&k);
        }
    } else {
        assert(c.kind == CREDS_KIND_NONE && c.seed.p == NULL && c.jwt.p == NULL);
    }

    /* LF -> CRLF is invisible to the parser (inputs without a CR). */
    if (memchr(data, '\r', size) == NULL && size <= CREDS_FILE_MAX / 2) {
        uint8_t *crlf = malloc(2 * size + 1);
        size_t n = 0;
        assert(crlf != NULL);
        for (size_t i = 0; i < size; i++) {
            if (data[i] == '\n')
                crlf[n++] = '\r';
            crlf[n++] = data[i];
        }
        if (n <= CREDS_FILE_MAX) {
            assert(creds_parse(&again, crlf, n) == rc);
            assert(same_tokens(&c, &again));
        }
        free(crlf);
    }
    return 0;
}
