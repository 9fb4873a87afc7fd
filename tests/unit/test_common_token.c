/*
 * token: round trips, key rotation, expiry, every single-bit change,
 * truncation, unknown key ids, malformed fields, key files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "token.h"

#define K1 \
	"k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
#define K2 \
	"k2 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"
#define NOW ((time_t)1700000000)

static struct token_keys *
keys_from(const char *text)
{
	char err[256];
	struct token_keys *k;

	k = token_keys_parse("keys", text, strlen(text), err, sizeof(err));
	if (k == NULL)
		fail_msg("%s", err);
	return k;
}

static void
test_round_trip(void **state)
{
	struct token_keys *k = keys_from("# test keys\n" K1);
	struct token_info info;
	char tok[TOKEN_MAX_LEN];
	int n;

	n = token_mint_exp(k, TOKEN_USER, "T0ABC", "U12345", "abc123",
	    NOW + 60, tok, sizeof(tok));
	assert_int_equal(n, (int)strlen(tok));
	assert_int_equal(token_verify(k, tok, strlen(tok), NOW, &info),
	    TOKEN_OK);
	assert_int_equal(info.kind, TOKEN_USER);
	assert_string_equal(info.kid, "k1");
	assert_string_equal(info.team, "T0ABC");
	assert_string_equal(info.user, "U12345");
	assert_string_equal(info.id, "abc123");
	assert_int_equal(info.exp, NOW + 60);
	assert_memory_equal(tok, "xoxp.k1.T0ABC.U12345.abc123.1700000060.",
	    39);

	/* The same input always gives the same token. */
	{
		char again[TOKEN_MAX_LEN];

		token_mint_exp(k, TOKEN_USER, "T0ABC", "U12345", "abc123",
		    NOW + 60, again, sizeof(again));
		assert_string_equal(tok, again);
	}
	token_keys_free(k);
}

static void
test_known_vector(void **state)
{
	/*
	 * HMAC-SHA256 with secret 00..1f over the signed part, computed
	 * independently with: printf %s 'ptk.k1.T1.B2.n.0' |
	 * openssl dgst -sha256 -mac HMAC -macopt hexkey:0001..1f -binary |
	 * basenc --base64url | tr -d =
	 */
	struct token_keys *k = keys_from(K1);
	char tok[TOKEN_MAX_LEN];

	assert_true(token_mint_exp(k, TOKEN_TICKET, "T1", "B2", "n", 0, tok,
	    sizeof(tok)) > 0);
	assert_string_equal(tok, "ptk.k1.T1.B2.n.0."
				 "DPiiB3iKJ4USHCsjDEyCpPLPwtELmJ6r3lwgJrBtBwA");
	token_keys_free(k);
}

static void
test_rotation(void **state)
{
	struct token_keys *old = keys_from(K1);
	struct token_keys *both = keys_from(K1 K2);
	struct token_keys *newonly = keys_from(K2);
	char t1[TOKEN_MAX_LEN], t2[TOKEN_MAX_LEN];
	struct token_info info;

	/* Minted before the rotation with k1, after it with k2. */
	assert_true(token_mint(old, TOKEN_BOT, "T1", "B1", "a", 0, t1,
	    sizeof(t1)) > 0);
	assert_string_equal(token_keys_current(both), "k2");
	assert_true(token_mint(both, TOKEN_BOT, "T1", "B1", "a", 0, t2,
	    sizeof(t2)) > 0);
	assert_memory_equal(t2, "xoxb.k2.", 8);

	/* Both verify while both keys are loaded. */
	assert_int_equal(token_verify(both, t1, strlen(t1), NOW, &info),
	    TOKEN_OK);
	assert_string_equal(info.kid, "k1");
	assert_int_equal(token_verify(both, t2, strlen(t2), NOW, &info),
	    TOKEN_OK);
	assert_string_equal(info.kid, "k2");

	/* Once k1 is removed, its tokens are refused. */
	assert_int_equal(token_verify(newonly, t1, strlen(t1), NOW, NULL),
	    TOKEN_UNKNOWN_KEY);
	assert_int_equal(token_verify(newonly, t2, strlen(t2), NOW, NULL),
	    TOKEN_OK);
	/* The old set does not know k2. */
	assert_int_equal(token_verify(old, t2, strlen(t2), NOW, NULL),
	    TOKEN_UNKNOWN_KEY);

	token_keys_free(old);
	token_keys_free(both);
	token_keys_free(newonly);
}

static void
test_same_kid_other_secret(void **state)
{
	struct token_keys *a = keys_from(K1);
	struct token_keys *b = keys_from(
	    "k1 1111111111111111111111111111111111111111111111111111111111111111\n");
	char t[TOKEN_MAX_LEN];

	assert_true(token_mint(a, TOKEN_USER, "T1", "U1", "x", 0, t,
	    sizeof(t)) > 0);
	assert_int_equal(token_verify(b, t, strlen(t), NOW, NULL),
	    TOKEN_BAD_SIGNATURE);
	token_keys_free(a);
	token_keys_free(b);
}

static void
test_expiry(void **state)
{
	struct token_keys *k = keys_from(K1);
	char t[TOKEN_MAX_LEN];

	assert_true(token_mint_exp(k, TOKEN_TICKET, "T1", "U1", "nonce1",
	    NOW + 30, t, sizeof(t)) > 0);
	assert_int_equal(token_verify(k, t, strlen(t), NOW, NULL), TOKEN_OK);
	assert_int_equal(token_verify(k, t, strlen(t), NOW + 29, NULL),
	    TOKEN_OK);
	assert_int_equal(token_verify(k, t, strlen(t), NOW + 30, NULL),
	    TOKEN_EXPIRED);
	assert_int_equal(token_verify(k, t, strlen(t), NOW + 100000, NULL),
	    TOKEN_EXPIRED);

	/* exp 0 never expires. */
	assert_true(token_mint_exp(k, TOKEN_USER, "T1", "U1", "a", 0, t,
	    sizeof(t)) > 0);
	assert_int_equal(token_verify(k, t, strlen(t), (time_t)4000000000,
	    NULL), TOKEN_OK);

	/* token_mint with a ttl counts from the wall clock. */
	assert_true(token_mint(k, TOKEN_TICKET, "T1", "U1", "b", 60, t,
	    sizeof(t)) > 0);
	assert_int_equal(token_verify(k, t, strlen(t), time(NULL), NULL),
	    TOKEN_OK);
	assert_int_equal(token_verify(k, t, strlen(t), time(NULL) + 61,
	    NULL), TOKEN_EXPIRED);
	assert_int_equal(token_mint(k, TOKEN_TICKET, "T1", "U1", "b", -1, t,
	    sizeof(t)), -1);
	token_keys_free(k);
}

/* Changing any one bit of a token must never give a valid token. */
static void
test_every_bit_flip(void **state)
{
	struct token_keys *k = keys_from(K1 K2);
	char t[TOKEN_MAX_LEN], m[TOKEN_MAX_LEN];
	size_t len, i;
	int b, rc;

	len = (size_t)token_mint_exp(k, TOKEN_USER, "T9Z", "W77", "id9",
	    NOW + 1000, t, sizeof(t));
	for (i = 0; i < len; i++) {
		for (b = 0; b < 8; b++) {
			memcpy(m, t, len);
			m[i] = (char)(m[i] ^ (1 << b));
			rc = token_verify(k, m, len, NOW, NULL);
			if (rc == TOKEN_OK)
				fail_msg("bit %d of byte %zu accepted", b, i);
		}
	}
	token_keys_free(k);
}

static void
test_truncated(void **state)
{
	struct token_keys *k = keys_from(K1);
	char t[TOKEN_MAX_LEN];
	size_t len, i;

	len = (size_t)token_mint_exp(k, TOKEN_USER, "T1", "U1", "a", 0, t,
	    sizeof(t));
	for (i = 0; i < len; i++)
		assert_int_not_equal(token_verify(k, t, i, NOW, NULL),
		    TOKEN_OK);
	/* Cut anywhere inside the MAC: malformed, never a valid prefix. */
	assert_int_equal(token_verify(k, t, len - 1, NOW, NULL),
	    TOKEN_MALFORMED);
	assert_int_equal(token_verify(k, t, 0, NOW, NULL), TOKEN_MALFORMED);
	token_keys_free(k);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"xoxp",
		"xoxp.k1.T1.U1.a.0",
		"xoxa.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.K1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp..T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.t1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T123456789012345678901.U1.a.0."
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.X1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1..0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1.A.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1.a..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1.a.01.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1.a.-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1.a.99999999999999999999."
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
		/* Non-zero unused bits in the last MAC character. */
		"xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
		"xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x",
		" xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		NULL,
	};
	struct token_keys *k = keys_from(K1);
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		int rc = token_verify(k, bad[i], strlen(bad[i]), NOW, NULL);

		if (rc != TOKEN_MALFORMED)
			fail_msg("case %d: %s", i, token_strerror(rc));
	}
	/* A NUL inside the given length is malformed, not a shorter token. */
	{
		char t[TOKEN_MAX_LEN];
		size_t len = (size_t)token_mint_exp(k, TOKEN_USER, "T1",
		    "U1", "a", 0, t, sizeof(t));

		t[len] = '\0';
		assert_int_equal(token_verify(k, t, len + 1, NOW, NULL),
		    TOKEN_MALFORMED);
	}
	/* The well-formed all-'A' MAC is a bad signature, not malformed. */
	assert_int_equal(token_verify(k,
	    "xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    61, NOW, NULL), TOKEN_BAD_SIGNATURE);
	assert_int_equal(token_verify(k,
	    "xoxp.zz.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    61, NOW, NULL), TOKEN_UNKNOWN_KEY);
	token_keys_free(k);
}

static void
test_mint_refuses_bad_fields(void **state)
{
	struct token_keys *k = keys_from(K1);
	char t[TOKEN_MAX_LEN];

	assert_int_equal(token_mint(k, TOKEN_USER, "X1", "U1", "a", 0, t,
	    sizeof(t)), -1);
	assert_int_equal(token_mint(k, TOKEN_USER, "T1", "u1", "a", 0, t,
	    sizeof(t)), -1);
	assert_int_equal(token_mint(k, TOKEN_USER, "T1", "U1", "a.b", 0, t,
	    sizeof(t)), -1);
	assert_int_equal(token_mint(k, TOKEN_USER, "T1", "U1",
	    "123456789012345678901234567890123", 0, t, sizeof(t)), -1);
	assert_int_equal(token_mint(k, (enum token_kind)7, "T1", "U1", "a",
	    0, t, sizeof(t)), -1);
	/* Output too small. */
	assert_int_equal(token_mint(k, TOKEN_USER, "T1", "U1", "a", 0, t, 40),
	    -1);
	/* The longest token fits TOKEN_MAX_LEN. */
	assert_true(token_mint_exp(k, TOKEN_USER, "T12345678901234567890",
	    "U12345678901234567890", "12345678901234567890123456789012",
	    UINT64_MAX, t, sizeof(t)) > 0);
	assert_int_equal(token_verify(k, t, strlen(t), NOW, NULL), TOKEN_OK);
	token_keys_free(k);
}

static void
test_key_files(void **state)
{
	static const char *const bad[] = {
		"",
		"# only a comment\n",
		"k1\n",
		"k1 0001\n",
		"K1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
		"k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n",
		"k1234567890123456 "
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		K1 K1,
		NULL,
	};
	char err[256], path[] = "/tmp/parley-keys-XXXXXX";
	struct token_keys *k;
	int i, fd;

	for (i = 0; bad[i] != NULL; i++) {
		k = token_keys_parse("keys", bad[i], strlen(bad[i]), err,
		    sizeof(err));
		if (k != NULL)
			fail_msg("key file %d accepted", i);
	}
	k = token_keys_parse("keys", K1 K1, strlen(K1 K1), err, sizeof(err));
	assert_null(k);
	assert_string_equal(err, "keys:2: duplicate key id 'k1'");

	/* Comments, blank lines, CRLF and blanks around a line are fine. */
	k = keys_from("\n# a\r\n  k1 000102030405060708090a0b0c0d0e0f"
		      "101112131415161718191a1b1c1d1e1f  \r\n\n");
	token_keys_free(k);

	/* Files: mode 0600 loads, group/other access is refused. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, K1 K2, strlen(K1 K2)),
	    (ssize_t)strlen(K1 K2));
	close(fd);
	assert_int_equal(chmod(path, 0600), 0);
	k = token_keys_load(path, err, sizeof(err));
	assert_non_null(k);
	assert_string_equal(token_keys_current(k), "k2");
	token_keys_free(k);
	assert_int_equal(chmod(path, 0640), 0);
	assert_null(token_keys_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "group or others"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_null(token_keys_load(path, err, sizeof(err)));
	unlink(path);
	assert_null(token_keys_load(path, err, sizeof(err)));
}

static void
test_random_id(void **state)
{
	char a[TOKEN_ID_MAX + 1], b[TOKEN_ID_MAX + 1];
	size_t i;

	assert_int_equal(token_random_id(a, sizeof(a)), 0);
	assert_int_equal(token_random_id(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), TOKEN_ID_MAX);
	for (i = 0; i < TOKEN_ID_MAX; i++)
		assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789",
		    a[i]));
	assert_string_not_equal(a, b);
	assert_int_equal(token_random_id(a, TOKEN_ID_MAX + 2), -1);
	assert_int_equal(token_ct_equal("abc", "abc", 3), 1);
	assert_int_equal(token_ct_equal("abc", "abd", 3), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_known_vector),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_same_kid_other_secret),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mint_refuses_bad_fields),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_random_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
