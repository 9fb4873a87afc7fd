/*
 * Fuzzes token_verify with a fixed key set: whatever verifies must mint
 * back to the very same bytes.  Inputs starting with '#' are parsed as key
 * files instead.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

#define FZ_KEYS                                                          \
	"k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n" \
	"k2 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct token_keys *keys;
	struct token_info info;
	char err[256], again[TOKEN_MAX_LEN];
	int rc, n;

	if (keys == NULL) {
		keys = token_keys_parse("fuzz", FZ_KEYS, strlen(FZ_KEYS), err,
		    sizeof(err));
		if (keys == NULL)
			abort();
	}

	if (size > 0 && data[0] == '#') {
		struct token_keys *k = token_keys_parse("fuzz",
		    (const char *)data, size, err, sizeof(err));

		token_keys_free(k);
		return 0;
	}

	rc = token_verify(keys, (const char *)data, size, 1700000000, &info);
	if (rc != TOKEN_OK)
		return 0;

	/* Only k2 mints; a k1 token cannot be re-made with this set. */
	if (strcmp(info.kid, "k2") != 0)
		return 0;
	n = token_mint_exp(keys, info.kind, info.team, info.user, info.id,
	    info.exp, again, sizeof(again));
	if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
		abort();
	return 0;
}
