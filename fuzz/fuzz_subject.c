/*
 * fuzz/fuzz_subject.c — proto/subject (request subject mapping).
 *
 * Input: method '\n' host '\n' path. Invariants: the mapping is
 * deterministic; a produced subject never holds whitespace, control bytes,
 * non-ASCII, '*', '>' or an empty token, and never exceeds SUBJECT_MAX; it
 * is exactly prefix + method + host tokens + path tokens; the agent's
 * fallback path parses it back; the METHOD token passes subject_method_ok.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/subject.h"

static struct span cut(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *e = nl ? nl : end;
    struct span s = span_make(*p, (size_t)(e - *p));
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t a[SUBJECT_MAX], b[SUBJECT_MAX], h[SUBJECT_HOST_MAX], fp[SUBJECT_MAX + 1];
    const uint8_t *p = data, *end = data + size;
    struct span method = cut(&p, end), host = cut(&p, end), path = cut(&p, end);

    int n = subject_request(a, sizeof(a), method, host, path);
    if (subject_request(b, sizeof(b), method, host, path) != n)
        abort();
    if (n < 0) {
        if (n != SUBJECT_E_METHOD && n != SUBJECT_E_HOST && n != SUBJECT_E_PATH &&
            n != SUBJECT_E_TOO_LONG)
            abort();
        return 0;
    }
    if (n > SUBJECT_MAX || memcmp(a, b, (size_t)n) != 0 || !subject_method_ok(method))
        abort();
    for (int i = 0; i < n; i++) {
        uint8_t c = a[i];
        if (c <= ' ' || c >= 0x7f || c == '*' || c == '>')
            abort();
        if (c == '.' && (i == 0 || i + 1 == n || a[i - 1] == '.'))
            abort();
    }
    int hn = subject_host(h, sizeof(h), host);
    size_t pre = sizeof(SUBJECT_PREFIX) - 1 + method.n + 1;
    if (hn <= 0 || pre + (size_t)hn > (size_t)n || memcmp(a + pre, h, (size_t)hn) != 0)
        abort();
    struct span m;
    int fn = subject_fallback_path(fp, sizeof(fp), span_make(a, (size_t)n),
                                   span_make(h, (size_t)hn), &m);
    if (fn <= 0 || fp[0] != '/' || !span_eq(m, method))
        abort();
    /* Path tokens alone are what follows the host. */
    int pn = subject_path(b, sizeof(b), path);
    size_t rest = (size_t)n - pre - (size_t)hn;
    if (pn < 0 || (pn == 0 ? rest != 0 : rest != (size_t)pn + 1))
        abort();
    if (pn > 0 && memcmp(a + pre + (size_t)hn + 1, b, (size_t)pn) != 0)
        abort();
    return 0;
}
