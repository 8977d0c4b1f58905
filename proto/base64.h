/*
 * proto/base64.h — strict base64 (RFC 4648), two alphabets.
 *
 *   BASE64_STD  §4 alphabet (+ /), always padded with '=' to a multiple of 4.
 *   BASE64_URL  §5 alphabet (- _), never padded.
 *
 * Decoding is strict so that every byte string has exactly one accepted
 * encoding: characters outside the variant's alphabet (whitespace, the other
 * variant's characters), misplaced or missing padding (STD), any padding
 * (URL), an impossible length and non-zero unused bits in the last character
 * are all rejected. Hence decode followed by encode gives back the input.
 *
 * No allocation, no state: the caller owns every buffer. Output is not
 * NUL-terminated.
 */
#ifndef H8S_PROTO_BASE64_H
#define H8S_PROTO_BASE64_H

#include <stddef.h>
#include <stdint.h>

enum base64_variant {
    BASE64_STD = 0, /* RFC 4648 §4, padded */
    BASE64_URL = 1, /* RFC 4648 §5, no padding */
};

/* Encoded sizes of n input bytes (n a constant expression that cannot
 * overflow; use base64_encoded_len for untrusted sizes). */
#define BASE64_STD_ENCODED_LEN(n) (((n) + 2) / 3 * 4)
#define BASE64_URL_ENCODED_LEN(n) ((n) / 3 * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* Upper bound on the decoded size of n characters, for either variant. */
#define BASE64_DECODED_MAX(n) ((n) / 4 * 3 + 2)

#define BASE64_ERR_SPACE (-1)   /* output buffer too small; nothing useful written */
#define BASE64_ERR_INVALID (-2) /* input is not a canonical encoding in this variant */

/*
 * Returns the exact encoded length of n bytes in variant v, or 0 when that
 * length does not fit in a size_t (n > 0 always encodes to at least 2 chars).
 */
size_t base64_encoded_len(enum base64_variant v, size_t n);

/*
 * Encodes in[0..n) into out. cap is the size of out; it must be at least
 * base64_encoded_len(v, n). On success stores the length written in *outlen
 * and returns 0; otherwise returns BASE64_ERR_SPACE and out's contents are
 * unspecified. in and out must not overlap.
 */
int base64_encode(enum base64_variant v, char *out, size_t cap, const uint8_t *in, size_t n,
                  size_t *outlen);

/*
 * Decodes the n characters at in into out (cap bytes). Returns 0 and stores
 * the decoded length in *outlen, BASE64_ERR_INVALID when in is not a strict
 * encoding (see above; the empty string is valid and decodes to nothing), or
 * BASE64_ERR_SPACE when the decoded bytes do not fit in cap. The input is
 * fully validated before BASE64_ERR_SPACE is reported, so an invalid input
 * is always reported as invalid. in and out must not overlap.
 */
int base64_decode(enum base64_variant v, uint8_t *out, size_t cap, const uint8_t *in, size_t n,
                  size_t *outlen);

#endif
