/*
 * token: HMAC-SHA256 signed tokens with key ids (format in token.h).
 *
 * Each key keeps an EVP_MAC_CTX initialised with its secret; a MAC is
 * computed on a duplicate of it, so the key schedule is done once per key
 * rather than once per token, and the key set stays read-only (threads
 * may share it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "token.h"
#include "util.h"
#include "xmalloc.h"

#define TOKEN_KEYFILE_MAX (64 * 1024)
#define TOKEN_MAC_BYTES	  32

const struct conf_key token_conf_keys[] = {
	{"keys", CONF_PATH, offsetof(struct token_settings, keys), NULL, 0, 0,
	    CONF_REQUIRED},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

struct token_key {
	char kid[TOKEN_KID_MAX + 1];
	EVP_MAC_CTX *ctx;
};

struct token_keys {
	EVP_MAC *mac;
	struct token_key keys[TOKEN_MAX_KEYS];
	size_t n;
};

static const char token_lower_digits[] = "abcdefghijklmnopqrstuvwxyz"
					 "0123456789";
static const char token_upper_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789";

static const char *const token_kinds[] = {
	[TOKEN_USER] = "xoxp",
	[TOKEN_BOT] = "xoxb",
	[TOKEN_TICKET] = "ptk",
};

const char *
token_kind_str(enum token_kind kind)
{
	if ((unsigned)kind >= UTIL_ARRAY_LEN(token_kinds))
		return "?";
	return token_kinds[kind];
}

int
token_kind_parse(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_LEN(token_kinds); i++)
		if (strlen(token_kinds[i]) == len &&
		    memcmp(token_kinds[i], s, len) == 0)
			return (int)i;
	return -1;
}

const char *
token_strerror(int status)
{
	switch (status) {
	case TOKEN_OK:
		return "ok";
	case TOKEN_MALFORMED:
		return "malformed";
	case TOKEN_UNKNOWN_KEY:
		return "unknown_key";
	case TOKEN_BAD_SIGNATURE:
		return "bad_signature";
	case TOKEN_EXPIRED:
		return "expired";
	default:
		return "unknown";
	}
}

int
token_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

static bool
token_valid_kid(const char *s, size_t len)
{
	return len <= TOKEN_KID_MAX && util_all_in(s, len, token_lower_digits);
}

static bool
token_valid_team(const char *s, size_t len)
{
	return len >= 2 && len <= TOKEN_TEAM_MAX && s[0] == 'T' &&
	    util_all_in(s + 1, len - 1, token_upper_digits);
}

static bool
token_valid_user(const char *s, size_t len)
{
	return len >= 2 && len <= TOKEN_USER_MAX &&
	    (s[0] == 'U' || s[0] == 'W' || s[0] == 'B') &&
	    util_all_in(s + 1, len - 1, token_upper_digits);
}

static bool
token_valid_id(const char *s, size_t len)
{
	return len <= TOKEN_ID_MAX && util_all_in(s, len, token_lower_digits);
}

void
token_keys_free(struct token_keys *keys)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < keys->n; i++)
		EVP_MAC_CTX_free(keys->keys[i].ctx);
	EVP_MAC_free(keys->mac);
	OPENSSL_cleanse(keys, sizeof(*keys));
	free(keys);
}

/* Adds kid with its secret; 0 or -1 with a reason in why. */
static int
token_keys_add(struct token_keys *keys, const char *kid, size_t kidlen,
    const uint8_t *secret, char *why, size_t whylen)
{
	OSSL_PARAM params[2];
	struct token_key *k;
	size_t i;

	for (i = 0; i < keys->n; i++) {
		if (strlen(keys->keys[i].kid) == kidlen &&
		    memcmp(keys->keys[i].kid, kid, kidlen) == 0) {
			snprintf(why, whylen, "duplicate key id '%.*s'",
			    (int)kidlen, kid);
			return -1;
		}
	}
	if (keys->n == TOKEN_MAX_KEYS) {
		snprintf(why, whylen, "more than %d keys", TOKEN_MAX_KEYS);
		return -1;
	}

	k = &keys->keys[keys->n];
	memcpy(k->kid, kid, kidlen);
	k->kid[kidlen] = '\0';
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((k->ctx = EVP_MAC_CTX_new(keys->mac)) == NULL ||
	    EVP_MAC_init(k->ctx, secret, TOKEN_SECRET_LEN, params) != 1) {
		EVP_MAC_CTX_free(k->ctx);
		k->ctx = NULL;
		snprintf(why, whylen, "cannot set up HMAC-SHA256");
		return -1;
	}
	keys->n++;
	return 0;
}

struct token_keys *
token_keys_parse(const char *name, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct token_keys *keys;
	uint8_t secret[TOKEN_SECRET_LEN];
	char why[128];
	size_t i = 0;
	int line = 0;

	keys = xcalloc(1, sizeof(*keys));
	if ((keys->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
		snprintf(err, errlen, "%s: HMAC is not available", name);
		goto fail;
	}

	while (i < len) {
		const char *l = text + i, *sp;
		size_t n, kidlen, hexlen;

		line++;
		while (i < len && text[i] != '\n')
			i++;
		n = (size_t)(text + i - l);
		if (i < len)
			i++;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		while (n > 0 && (l[0] == ' ' || l[0] == '\t')) {
			l++;
			n--;
		}
		while (n > 0 && (l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (n == 0 || l[0] == '#')
			continue;

		for (sp = l; sp < l + n && *sp != ' ' && *sp != '\t'; sp++)
			;
		kidlen = (size_t)(sp - l);
		while (sp < l + n && (*sp == ' ' || *sp == '\t'))
			sp++;
		hexlen = (size_t)(l + n - sp);
		if (!token_valid_kid(l, kidlen)) {
			snprintf(err, errlen,
			    "%s:%d: key id must be 1-%d of [a-z0-9]", name,
			    line, TOKEN_KID_MAX);
			goto fail;
		}
		if (hexlen != 2 * TOKEN_SECRET_LEN ||
		    util_hex_decode(sp, hexlen, secret, sizeof(secret)) !=
			TOKEN_SECRET_LEN) {
			snprintf(err, errlen,
			    "%s:%d: secret must be %d hex digits", name, line,
			    2 * TOKEN_SECRET_LEN);
			goto fail;
		}
		if (token_keys_add(keys, l, kidlen, secret, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", name, line, why);
			goto fail;
		}
	}
	OPENSSL_cleanse(secret, sizeof(secret));

	if (keys->n == 0) {
		snprintf(err, errlen, "%s: no key", name);
		goto fail;
	}
	return keys;

fail:
	OPENSSL_cleanse(secret, sizeof(secret));
	token_keys_free(keys);
	return NULL;
}

struct token_keys *
token_keys_load(const char *path, char *err, size_t errlen)
{
	struct token_keys *keys;
	struct stat sb;
	char cwd[PATH_MAX], shown[PATH_MAX + 256];
	char *text;
	size_t have = 0;
	ssize_t n;
	int fd;

	/* Messages name the file as the process resolves it. */
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
		snprintf(shown, sizeof(shown), "%s/%s", cwd, path);
	else
		snprintf(shown, sizeof(shown), "%s", path);

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", shown, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", shown);
		close(fd);
		return NULL;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen,
		    "%s: key file is accessible by group or others (mode "
		    "%03o); chmod 600 it",
		    shown, (unsigned)(sb.st_mode & 0777));
		close(fd);
		return NULL;
	}
	if (sb.st_size > TOKEN_KEYFILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", shown,
		    TOKEN_KEYFILE_MAX);
		close(fd);
		return NULL;
	}

	text = xmalloc((size_t)sb.st_size + 1);
	while (have < (size_t)sb.st_size) {
		n = read(fd, text + have, (size_t)sb.st_size - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);

	keys = token_keys_parse(shown, text, have, err, errlen);
	OPENSSL_cleanse(text, have);
	free(text);
	return keys;
}

const char *
token_keys_current(const struct token_keys *keys)
{
	return keys->keys[keys->n - 1].kid;
}

/* HMAC-SHA256 of len bytes with key k into mac; 0 or -1. */
static int
token_mac(const struct token_key *k, const char *data, size_t len,
    uint8_t mac[TOKEN_MAC_BYTES])
{
	EVP_MAC_CTX *c;
	size_t outl = 0;
	int ok;

	if ((c = EVP_MAC_CTX_dup(k->ctx)) == NULL)
		return -1;
	ok = EVP_MAC_update(c, (const unsigned char *)data, len) == 1 &&
	    EVP_MAC_final(c, mac, &outl, TOKEN_MAC_BYTES) == 1 &&
	    outl == TOKEN_MAC_BYTES;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}

int
token_mint_exp(const struct token_keys *keys, enum token_kind kind,
    const char *team, const char *user, const char *id, uint64_t exp,
    char *out, size_t outlen)
{
	const struct token_key *k;
	uint8_t mac[TOKEN_MAC_BYTES];
	int n, m;

	if ((unsigned)kind >= UTIL_ARRAY_LEN(token_kinds) ||
	    !token_valid_team(team, strlen(team)) ||
	    !token_valid_user(user, strlen(user)) ||
	    !token_valid_id(id, strlen(id)))
		return -1;

	k = &keys->keys[keys->n - 1];
	n = snprintf(out, outlen, "%s.%s.%s.%s.%s.%llu.", token_kinds[kind],
	    k->kid, team, user, id, (unsigned long long)exp);
	if (n < 0 || (size_t)n + TOKEN_MAC_LEN + 1 > outlen)
		return -1;

	if (token_mac(k, out, (size_t)n - 1, mac) == -1)
		return -1;
	m = util_b64url_encode(mac, sizeof(mac), out + n, outlen - (size_t)n);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (m != TOKEN_MAC_LEN)
		return -1;
	return n + m;
}

int
token_mint(const struct token_keys *keys, enum token_kind kind,
    const char *team, const char *user, const char *id, long long ttl,
    char *out, size_t outlen)
{
	uint64_t exp = 0;

	if (ttl < 0)
		return -1;
	if (ttl > 0)
		exp = (uint64_t)util_wall_sec() + (uint64_t)ttl;
	return token_mint_exp(keys, kind, team, user, id, exp, out, outlen);
}

int
token_verify(const struct token_keys *keys, const char *tok, size_t len,
    time_t now, struct token_info *info)
{
	const char *f[7];
	size_t fl[7], i, nf = 0, start = 0;
	uint8_t want[TOKEN_MAC_BYTES], got[TOKEN_MAC_BYTES];
	const struct token_key *k = NULL;
	uint64_t exp;
	int kind, same;

	if (len == 0 || len >= TOKEN_MAX_LEN)
		return TOKEN_MALFORMED;

	/* Split into exactly seven fields. */
	for (i = 0; i <= len; i++) {
		if (i < len && tok[i] != '.')
			continue;
		if (nf == 7)
			return TOKEN_MALFORMED;
		f[nf] = tok + start;
		fl[nf++] = i - start;
		start = i + 1;
	}
	if (nf != 7)
		return TOKEN_MALFORMED;

	if ((kind = token_kind_parse(f[0], fl[0])) < 0 ||
	    !token_valid_kid(f[1], fl[1]) || !token_valid_team(f[2], fl[2]) ||
	    !token_valid_user(f[3], fl[3]) || !token_valid_id(f[4], fl[4]) ||
	    util_parse_u64(f[5], fl[5], UINT64_MAX, &exp) == -1 ||
	    fl[6] != TOKEN_MAC_LEN ||
	    util_b64url_decode(f[6], fl[6], got, sizeof(got)) !=
		TOKEN_MAC_BYTES)
		return TOKEN_MALFORMED;

	for (i = 0; i < keys->n; i++) {
		if (strlen(keys->keys[i].kid) == fl[1] &&
		    memcmp(keys->keys[i].kid, f[1], fl[1]) == 0) {
			k = &keys->keys[i];
			break;
		}
	}
	if (k == NULL)
		return TOKEN_UNKNOWN_KEY;

	if (token_mac(k, tok, (size_t)(f[6] - tok) - 1, want) == -1)
		return TOKEN_BAD_SIGNATURE;
	same = token_ct_equal(want, got, sizeof(want));
	OPENSSL_cleanse(want, sizeof(want));
	if (!same)
		return TOKEN_BAD_SIGNATURE;

	if (exp != 0 && (now < 0 || exp <= (uint64_t)now))
		return TOKEN_EXPIRED;

	if (info != NULL) {
		memset(info, 0, sizeof(*info));
		info->kind = (enum token_kind)kind;
		memcpy(info->kid, f[1], fl[1]);
		memcpy(info->team, f[2], fl[2]);
		memcpy(info->user, f[3], fl[3]);
		memcpy(info->id, f[4], fl[4]);
		info->exp = exp;
	}
	return TOKEN_OK;
}

int
token_random_id(char *id, size_t idlen)
{
	uint8_t r[TOKEN_ID_MAX];
	size_t i;

	if (idlen < 2 || idlen > TOKEN_ID_MAX + 1)
		return -1;
	/* 36 symbols: reject bytes >= 252 so each is equally likely. */
	for (i = 0; i + 1 < idlen;) {
		size_t j;

		if (util_random_bytes(r, sizeof(r)) == -1)
			return -1;
		for (j = 0; j < sizeof(r) && i + 1 < idlen; j++)
			if (r[j] < 252)
				id[i++] = token_lower_digits[r[j] % 36];
	}
	id[idlen - 1] = '\0';
	return 0;
}
