/*
 * util: small helpers every module uses: base64url, hex, random bytes,
 * clocks, bounded string copy and number parsing.
 */
#ifndef PARLEY_UTIL_H
#define PARLEY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Length of the unpadded base64url encoding of n bytes. */
#define UTIL_B64URL_LEN(n) (((n) * 4 + 2) / 3)

/*
 * Encodes n bytes of src as base64url without padding into dst with a NUL
 * (dstlen >= UTIL_B64URL_LEN(n) + 1).  Returns the length, or -1 if dst is
 * too small.
 */
int util_b64url_encode(const void *src, size_t n, char *dst, size_t dstlen);

/*
 * Decodes len chars of unpadded base64url into dst.  Refuses padding,
 * characters outside the alphabet, a length of 4k+1 and non-zero unused
 * bits (so every byte string has one encoding).  Returns the number of
 * bytes, or -1.
 */
int util_b64url_decode(const char *src, size_t len, void *dst,
    size_t dstlen);

/* Lower-case hex of n bytes into dst with a NUL; -1 if too small. */
int util_hex_encode(const void *src, size_t n, char *dst, size_t dstlen);

/* Decodes exactly len hex digits (either case); bytes or -1. */
int util_hex_decode(const char *src, size_t len, void *dst, size_t dstlen);

/* n random bytes from OpenSSL's CSPRNG; 0 or -1. */
int util_random_bytes(void *dst, size_t n);

/* Monotonic clock, in milliseconds and in seconds. */
uint64_t util_mono_ms(void);
double util_mono_sec(void);

/* Wall clock: unix seconds, and unix microseconds. */
int64_t util_wall_sec(void);
int64_t util_wall_usec(void);

/*
 * Copies src into dst (size bytes) with a NUL, truncating; returns
 * strlen(src), so a result >= size means truncated.
 */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/*
 * Parses all of s (len bytes) as an unsigned decimal without sign, blank
 * or leading zero (but "0"), up to max.  0 or -1.
 */
int util_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Same for a signed decimal with an optional '-'. */
int util_parse_i64(const char *s, size_t len, int64_t min, int64_t max,
    int64_t *out);

/* True if s (len bytes) is one or more of the bytes in set. */
bool util_all_in(const char *s, size_t len, const char *set);

#endif
