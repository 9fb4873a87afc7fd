/*
 * Token mint and verify rates, and what reusing a keyed HMAC context
 * saves against setting one up from the secret for every token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "token.h"
#include "util.h"

#define KEYS                                                             \
	"k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n" \
	"k2 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"

int
main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000, i;
	char err[256], tok[TOKEN_MAX_LEN];
	struct token_keys *k;
	struct token_info info;
	unsigned char secret[32], mac[32];
	unsigned int maclen;
	double t0, t;
	int len;

	k = token_keys_parse("bench", KEYS, strlen(KEYS), err, sizeof(err));
	if (k == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}

	t0 = util_mono_sec();
	for (i = 0; i < n; i++)
		len = token_mint_exp(k, TOKEN_USER, "T0ABCDEF", "U0123456",
		    "abcdef0123456789", 1900000000, tok, sizeof(tok));
	t = util_mono_sec() - t0;
	printf("token_mint        %10.0f /s  %6.2f us each\n", n / t,
	    t * 1e6 / n);

	t0 = util_mono_sec();
	for (i = 0; i < n; i++)
		if (token_verify(k, tok, (size_t)len, 1700000000, &info) != 0)
			return 1;
	t = util_mono_sec() - t0;
	printf("token_verify      %10.0f /s  %6.2f us each\n", n / t,
	    t * 1e6 / n);

	/* The same MAC with the key schedule redone every time. */
	memset(secret, 0xab, sizeof(secret));
	t0 = util_mono_sec();
	for (i = 0; i < n; i++)
		HMAC(EVP_sha256(), secret, sizeof(secret),
		    (const unsigned char *)tok, (size_t)len - 44, mac,
		    &maclen);
	t = util_mono_sec() - t0;
	printf("HMAC() per token  %10.0f /s  %6.2f us each "
	       "(context rebuilt each call)\n",
	    n / t, t * 1e6 / n);
	token_keys_free(k);
	return 0;
}
