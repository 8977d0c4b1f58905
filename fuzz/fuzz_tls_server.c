/*
 * fuzz/fuzz_tls_server.c — arbitrary bytes as a client's stream into a
 * server tls_conn (proto/tls.c, proto/tls_x509.c; every error is named
 * through tls_err's tls_strerror). Must never crash, hang or leak.
 *
 * Input: byte 0 picks client authentication (none / optional / required,
 * which puts client certificate chains through the validator) and seeds
 * the piece sizes; the rest is the stream. Seeds are ClientHellos from
 * this library, openssl s_client and curl, and non-TLS text.
 */
#include "fuzz/tls_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tls_conn c;
    struct tls_fuzz_material *m = tls_fuzz_material();
    struct tls_server_config cfg = {.chain = &m->chain, .key = &m->key};

    if (size < 1)
        return 0;
    cfg.client_auth = data[0] % 3;
    cfg.client_anchors = &m->anchors;
    if (tls_conn_server_init(&c, &cfg) != 0)
        abort();
    tls_fuzz_drive(&c, data + 1, size - 1, data[0]);
    return 0;
}
