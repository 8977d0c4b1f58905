/*
 * core/rand.h — random bytes and identifiers from getrandom(2).
 *
 * A caller-owned pool buffers RAND_POOL_SIZE bytes of kernel randomness, so
 * making a request id costs a copy, not a system call: one getrandom call
 * refills the whole pool. Pools are not shared: give each thread (each
 * loop) its own. After fork(2) the child holds a copy of the parent's
 * unread bytes and must call rand_pool_init on its pools before using them,
 * or both processes would hand out the same values.
 *
 * Values are unpredictable (kernel CSPRNG) and suitable for identifiers,
 * nonces, WebSocket masking keys and jitter. Long-lived secret keys belong
 * to libsodium, which also wipes them.
 *
 * Error convention: 0 or a negative errno (getrandom's; -ENOSYS on a kernel
 * without it). Bytes are never returned on failure.
 */
#ifndef H8S_CORE_RAND_H
#define H8S_CORE_RAND_H

#include <stddef.h>
#include <stdint.h>

#define RAND_POOL_SIZE 256

/*
 * Identifier length: 22 symbols of a 62-letter alphabet carry
 * 22 * log2(62) = 130.9 bits, at least 128.
 */
#define RAND_ID_LEN 22

/* The id alphabet: safe as a NATS subject token, in URLs and in headers. */
#define RAND_ID_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

struct rand_pool {
    uint8_t buf[RAND_POOL_SIZE];
    size_t pos; /* next unread byte of buf; RAND_POOL_SIZE when empty */
};

/* Empties the pool (no system call; the first use refills it). */
void rand_pool_init(struct rand_pool *p);

/*
 * Fills out[0..n) with random bytes. Small requests are served from the
 * pool; requests larger than the pool go straight to getrandom. Returns 0
 * or -errno.
 */
int rand_bytes(struct rand_pool *p, void *out, size_t n);

/* A uniformly distributed 64-bit value. Returns 0 or -errno. */
int rand_u64(struct rand_pool *p, uint64_t *out);

/*
 * Writes len symbols of RAND_ID_ALPHABET, each uniformly distributed
 * (rejection sampling: bytes that would bias the mapping are discarded),
 * followed by a NUL: out must hold len + 1 bytes. Use len = RAND_ID_LEN for
 * 128-bit ids. Returns 0, or -errno with out set to the empty string.
 */
int rand_id(struct rand_pool *p, char *out, size_t len);

#endif
