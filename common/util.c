/*
 * util: base64url, hex, random bytes, clocks, strings, numbers.
 */
#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "util.h"

static const char util_b64url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
util_b64url_encode(const void *src, size_t n, char *dst, size_t dstlen)
{
	const uint8_t *p = src;
	size_t i, o = 0;
	uint32_t v;

	if (dstlen < UTIL_B64URL_LEN(n) + 1 || UTIL_B64URL_LEN(n) > INT_MAX)
		return -1;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		dst[o++] = util_b64url_alpha[v >> 18];
		dst[o++] = util_b64url_alpha[(v >> 12) & 63];
		dst[o++] = util_b64url_alpha[(v >> 6) & 63];
		dst[o++] = util_b64url_alpha[v & 63];
	}

	if (n - i == 1) {
		v = (uint32_t)p[i] << 16;
		dst[o++] = util_b64url_alpha[v >> 18];
		dst[o++] = util_b64url_alpha[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		dst[o++] = util_b64url_alpha[v >> 18];
		dst[o++] = util_b64url_alpha[(v >> 12) & 63];
		dst[o++] = util_b64url_alpha[(v >> 6) & 63];
	}
	dst[o] = '\0';
	return (int)o;
}

/* Value of one base64url character, or -1. */
static int
util_b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
util_b64url_decode(const char *src, size_t len, void *dst, size_t dstlen)
{
	uint8_t *out = dst;
	size_t i, o = 0, need;
	uint32_t v = 0;
	int bits = 0, c;

	if (len % 4 == 1 || len > (size_t)INT_MAX)
		return -1;
	need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	if (need > dstlen)
		return -1;

	for (i = 0; i < len; i++) {
		if ((c = util_b64url_val((unsigned char)src[i])) < 0)
			return -1;
		v = v << 6 | (uint32_t)c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}

	/* Leftover bits must be zero, so that each input has one form. */
	if (v != 0)
		return -1;
	return (int)o;
}

int
util_hex_encode(const void *src, size_t n, char *dst, size_t dstlen)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = src;
	size_t i;

	if (n > (size_t)INT_MAX / 2 || dstlen < n * 2 + 1)
		return -1;
	for (i = 0; i < n; i++) {
		dst[2 * i] = digits[p[i] >> 4];
		dst[2 * i + 1] = digits[p[i] & 15];
	}
	dst[2 * n] = '\0';
	return (int)(2 * n);
}

static int
util_hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
util_hex_decode(const char *src, size_t len, void *dst, size_t dstlen)
{
	uint8_t *out = dst;
	size_t i;
	int hi, lo;

	if (len % 2 != 0 || len / 2 > dstlen || len / 2 > (size_t)INT_MAX)
		return -1;
	for (i = 0; i < len; i += 2) {
		hi = util_hex_val((unsigned char)src[i]);
		lo = util_hex_val((unsigned char)src[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}

int
util_random_bytes(void *dst, size_t n)
{
	if (n > INT_MAX)
		return -1;
	return RAND_bytes(dst, (int)n) == 1 ? 0 : -1;
}

uint64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

double
util_mono_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t
util_wall_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t
util_wall_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t
util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

int
util_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
util_parse_i64(const char *s, size_t len, int64_t min, int64_t max,
    int64_t *out)
{
	uint64_t v, lim;

	if (len > 0 && s[0] == '-') {
		lim = min < 0 ? (uint64_t)(-(min + 1)) + 1 : 0;
		if (len == 1 || util_parse_u64(s + 1, len - 1, lim, &v) == -1)
			return -1;
		if (v == 0)
			return -1; /* "-0" */
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN
						     : -(int64_t)v;
		return *out >= min ? 0 : -1;
	}
	if (max < 0 || util_parse_u64(s, len, (uint64_t)max, &v) == -1)
		return -1;
	if ((int64_t)v < min)
		return -1;
	*out = (int64_t)v;
	return 0;
}

bool
util_all_in(const char *s, size_t len, const char *set)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return false;
	return true;
}
