/*
 * fuzz/fuzz_tls_client.c — arbitrary bytes as a server's stream into a
 * client tls_conn (proto/tls.c). The certificate message goes through
 * tls_x509 and, for IP literal names, the tls_san walker. Must never
 * crash, hang or leak.
 *
 * Input: byte 0 picks the expected server name (DNS, IPv4 or IPv6
 * literal), whether a client certificate is configured, and seeds the
 * piece sizes; the rest is the stream. Seeds are server flights answering
 * this library's ClientHello.
 */
#include "fuzz/tls_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "::1"};
    static struct tls_conn c;
    struct tls_fuzz_material *m = tls_fuzz_material();
    struct tls_client_config cfg = {.anchors = &m->anchors};

    if (size < 1)
        return 0;
    cfg.server_name = names[data[0] % 3];
    if (data[0] & 4) {
        cfg.chain = &m->chain;
        cfg.key = &m->key;
    }
    if (tls_conn_client_init(&c, &cfg) != 0)
        abort();
    tls_fuzz_drive(&c, data + 1, size - 1, data[0]);
    return 0;
}
