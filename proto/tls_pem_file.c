/*
 * proto/tls_pem_file.c — the *_load variants of tls_pem.h: read a whole
 * regular file (bounded by TLS_PEM_MAX_FILE, checked before reading),
 * hand it to the matching *_parse, prefix errors with the path, and wipe
 * the buffer, which may have held a private key.
 */
#include "proto/tls_pem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/outbuf.h"

/*
 * Reads a whole regular file (at most TLS_PEM_MAX_FILE bytes) into a
 * fresh heap buffer. Returns 0 or a negative code with err filled.
 */
static int read_file(const char *path, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
    struct stat st;
    uint8_t *buf;
    size_t len = 0, cap;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        outbuf_errf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        outbuf_errf(err, errlen, "%s: %s", path, strerror(-rc));
        goto err0;
    }
    if (!S_ISREG(st.st_mode)) {
        outbuf_errf(err, errlen, "%s: not a regular file", path);
        rc = TLS_PEM_E_NOT_FILE;
        goto err0;
    }
    if ((uintmax_t)st.st_size > TLS_PEM_MAX_FILE) {
        outbuf_errf(err, errlen, "%s: file larger than %u bytes", path, TLS_PEM_MAX_FILE);
        rc = TLS_PEM_E_TOO_LARGE;
        goto err0;
    }
    /* One spare byte detects a file that grew meanwhile. */
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = -ENOMEM;
        outbuf_errf(err, errlen, "%s: out of memory", path);
        goto err0;
    }
    for (;;) {
        ssize_t r;

        if (len == cap) {
            outbuf_errf(err, errlen, "%s: file grew while being read", path);
            rc = -EAGAIN;
            goto err1;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            outbuf_errf(err, errlen, "%s: %s", path, strerror(-rc));
            goto err1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    *out = buf;
    *outlen = len;
    return 0;

err1:
    free(buf);
err0:
    close(fd);
    return rc;
}

/* Prefixes the detail already in err with the path. */
static void prefix_path(const char *path, char *err, size_t errlen)
{
    char detail[256];

    if (err == NULL || errlen == 0)
        return;
    snprintf(detail, sizeof(detail), "%s", err);
    outbuf_errf(err, errlen, "%s: %s", path, detail);
}

typedef int (*parse_fn)(void *out, const uint8_t *buf, size_t n, char *err, size_t errlen);

static int load_file(const char *path, parse_fn parse, void *out, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t n;
    int rc;

    rc = read_file(path, &buf, &n, err, errlen);
    if (rc != 0)
        return rc;
    rc = parse(out, buf, n, err, errlen);
    if (rc != 0)
        prefix_path(path, err, errlen);
    /* The buffer may hold a private key. */
    explicit_bzero(buf, n);
    free(buf);
    return rc;
}

static int parse_anchors(void *out, const uint8_t *buf, size_t n, char *err, size_t errlen)
{
    return tls_pem_anchors_parse(out, buf, n, err, errlen);
}

static int parse_chain(void *out, const uint8_t *buf, size_t n, char *err, size_t errlen)
{
    return tls_pem_chain_parse(out, buf, n, err, errlen);
}

static int parse_key(void *out, const uint8_t *buf, size_t n, char *err, size_t errlen)
{
    return tls_pem_key_parse(out, buf, n, err, errlen);
}

int tls_pem_anchors_load(struct tls_pem_anchors *a, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    return load_file(path, parse_anchors, a, err, errlen);
}

int tls_pem_chain_load(struct tls_pem_chain *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    return load_file(path, parse_chain, c, err, errlen);
}

int tls_pem_key_load(struct tls_pem_key *k, const char *path, char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    return load_file(path, parse_key, k, err, errlen);
}
