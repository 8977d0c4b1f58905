/*
 * proto/tls_x509.c — the certificate validator behind tls_conn.
 *
 * A br_x509_class that forwards every call to BearSSL's minimal engine and
 * adds what it lacks for us: the validation time is read from the real
 * clock when each chain starts (the minimal engine would otherwise rely on
 * how libbearssl was built), IP literals are matched against iPAddress
 * SANs via tls_san while the end-entity certificate streams past, and the
 * outcome is kept so a server can tell whether an optional client
 * certificate was accepted.
 */
#include "proto/tls_internal.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

/* Days from 0000-01-01 (proleptic Gregorian) to 1970-01-01. */
#define TLS_X509_UNIX_EPOCH_DAYS 719528u

static struct tls_x509 *self(const br_x509_class *const *ctx)
{
    return (struct tls_x509 *)(void *)(uintptr_t)ctx;
}

static void x_start_chain(const br_x509_class **ctx, const char *server_name)
{
    struct tls_x509 *x = self(ctx);
    struct timespec ts;
    uint64_t secs = 0;

    /* The engine's name is NULL for IP literals (no SNI); use our own. */
    (void)server_name;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > 0)
        secs = (uint64_t)ts.tv_sec;
    br_x509_minimal_set_time(&x->minimal, (uint32_t)(secs / 86400 + TLS_X509_UNIX_EPOCH_DAYS),
                             (uint32_t)(secs % 86400));
    x->minimal.vtable->start_chain(&x->minimal.vtable, x->name[0] ? x->name : NULL);
    x->cert_index = 0;
    x->chain_seen = 1;
    x->result = BR_ERR_X509_EMPTY_CHAIN;
}

static void x_start_cert(const br_x509_class **ctx, uint32_t length)
{
    struct tls_x509 *x = self(ctx);

    if (x->cert_index == 0 && x->ip_len != 0)
        tls_san_init(&x->san, x->ip, x->ip_len, length);
    x->minimal.vtable->start_cert(&x->minimal.vtable, length);
}

static void x_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
    struct tls_x509 *x = self(ctx);

    if (x->cert_index == 0 && x->ip_len != 0)
        tls_san_feed(&x->san, buf, len);
    x->minimal.vtable->append(&x->minimal.vtable, buf, len);
}

static void x_end_cert(const br_x509_class **ctx)
{
    struct tls_x509 *x = self(ctx);

    x->minimal.vtable->end_cert(&x->minimal.vtable);
    x->cert_index++;
}

static unsigned x_end_chain(const br_x509_class **ctx)
{
    struct tls_x509 *x = self(ctx);
    unsigned r = x->minimal.vtable->end_chain(&x->minimal.vtable);

    /* The address is checked only on a chain that is otherwise valid, so
     * an untrusted or expired certificate reports that first. */
    if (r == 0 && x->ip_len != 0) {
        switch (x->cert_index > 0 ? tls_san_result(&x->san) : TLS_SAN_ERROR) {
        case TLS_SAN_MATCH:
            break;
        case TLS_SAN_NO_MATCH:
            r = BR_ERR_X509_BAD_SERVER_NAME;
            break;
        default:
            r = BR_ERR_X509_UNSUPPORTED;
            break;
        }
    }
    x->result = r;
    return r;
}

static const br_x509_pkey *x_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
    struct tls_x509 *x = self(ctx);

    return x->minimal.vtable->get_pkey(&x->minimal.vtable, usages);
}

static const br_x509_class tls_x509_class = {
    sizeof(struct tls_x509),
    x_start_chain,
    x_start_cert,
    x_append,
    x_end_cert,
    x_end_chain,
    x_get_pkey,
};

void tls_x509_init(struct tls_x509 *x, const br_x509_trust_anchor *ta, size_t n)
{
    x->vtable = &tls_x509_class;
    br_x509_minimal_init_full(&x->minimal, ta, n);
    x->name[0] = '\0';
    x->ip_len = 0;
    x->chain_seen = 0;
    x->cert_index = 0;
    x->result = BR_ERR_X509_EMPTY_CHAIN;
}

static int is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/*
 * Host name syntax (RFC 1123 labels, '_' tolerated as some internal names
 * use it): 1-63 character labels of letters, digits, '-' and '_' that do
 * not start or end with '-', and a last label that is not all digits (so
 * "127.1" is not taken for a name).
 */
static int dns_name_ok(const char *s, size_t n)
{
    size_t label = 0;
    int all_digits = 1;

    for (size_t i = 0; i <= n; i++) {
        char ch = i < n ? s[i] : '.';

        if (ch == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return 0;
            if (i == n && all_digits)
                return 0;
            label = 0;
            all_digits = 1;
            continue;
        }
        if (!is_alnum(ch) && ch != '-' && ch != '_')
            return 0;
        if (label == 0 && ch == '-')
            return 0;
        if (ch < '0' || ch > '9')
            all_digits = 0;
        label++;
    }
    return 1;
}

int tls_x509_set_name(struct tls_x509 *x, const char *name)
{
    size_t n;

    x->name[0] = '\0';
    x->ip_len = 0;
    if (name == NULL)
        return TLS_E_SERVER_NAME;
    n = strlen(name);
    if (n == 0 || n > TLS_SERVER_NAME_MAX)
        return TLS_E_SERVER_NAME;
    if (inet_pton(AF_INET, name, x->ip) == 1) {
        x->ip_len = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, name, x->ip) == 1) {
        x->ip_len = 16;
        return 0;
    }
    if (name[n - 1] == '.')
        n--;
    if (n == 0 || !dns_name_ok(name, n))
        return TLS_E_SERVER_NAME;
    memcpy(x->name, name, n);
    x->name[n] = '\0';
    return 0;
}
