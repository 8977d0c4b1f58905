/* see rand.h */
#include "core/rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/*
 * 248 = 4 * 62 is the largest multiple of the alphabet size that fits in a
 * byte: bytes below it map onto the alphabet evenly, bytes at or above it
 * would favour the first 8 symbols and are dropped (3% of draws).
 */
#define ID_ALPHABET_LEN 62
#define ID_BYTE_LIMIT 248

void rand_pool_init(struct rand_pool *p)
{
    p->pos = RAND_POOL_SIZE;
}

/* getrandom(2) until n bytes arrived: EINTR is retried and a short read
 * continues where it stopped. */
static int fill(uint8_t *out, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (got == 0)
            return -EIO; /* never seen; do not spin on it */
        out += got;
        n -= (size_t)got;
    }
    return 0;
}

static int refill(struct rand_pool *p)
{
    int rc = fill(p->buf, RAND_POOL_SIZE);
    if (rc < 0)
        return rc;
    p->pos = 0;
    return 0;
}

int rand_bytes(struct rand_pool *p, void *out, size_t n)
{
    uint8_t *dst = out;

    if (n > RAND_POOL_SIZE)
        return fill(dst, n);
    while (n > 0) {
        size_t take;
        if (p->pos >= RAND_POOL_SIZE) {
            int rc = refill(p);
            if (rc < 0)
                return rc;
        }
        take = RAND_POOL_SIZE - p->pos;
        if (take > n)
            take = n;
        memcpy(dst, p->buf + p->pos, take);
        p->pos += take;
        dst += take;
        n -= take;
    }
    return 0;
}

int rand_u64(struct rand_pool *p, uint64_t *out)
{
    uint8_t b[8];
    int rc = rand_bytes(p, b, sizeof(b));
    if (rc < 0)
        return rc;
    memcpy(out, b, sizeof(b));
    return 0;
}

int rand_id(struct rand_pool *p, char *out, size_t len)
{
    static const char alphabet[] = RAND_ID_ALPHABET;
    size_t i = 0;

    _Static_assert(sizeof(alphabet) - 1 == ID_ALPHABET_LEN, "alphabet size");
    while (i < len) {
        uint8_t b;
        if (p->pos >= RAND_POOL_SIZE) {
            int rc = refill(p);
            if (rc < 0) {
                out[0] = '\0';
                return rc;
            }
        }
        b = p->buf[p->pos++];
        if (b < ID_BYTE_LIMIT)
            out[i++] = alphabet[b % ID_ALPHABET_LEN];
    }
    out[len] = '\0';
    return 0;
}
