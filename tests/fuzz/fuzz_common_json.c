/*
 * Fuzzes json_parse_strict (size and depth limits, then jansson) and the
 * base64url decoder, whose output must encode back to the same input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160], enc[1400];
	unsigned char dec[1024];
	json_t *v;
	int n;

	v = json_parse_strict((const char *)data, size, 64 * 1024,
	    JSON_DEFAULT_DEPTH, err, sizeof(err));
	if (v != NULL) {
		char *s = json_dump_compact(v, NULL);

		free(s);
		json_decref(v);
	}

	n = util_b64url_decode((const char *)data, size, dec, sizeof(dec));
	if (n >= 0) {
		if (util_b64url_encode(dec, (size_t)n, enc, sizeof(enc)) !=
		    (int)size || memcmp(enc, data, size) != 0)
			abort();
	}
	return 0;
}
