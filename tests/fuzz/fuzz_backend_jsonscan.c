/*
 * libFuzzer target for store_json_top_str(), store_json_top_bool() and
 * store_json_top_int(), the scans that read one top-level member of a
 * stored record without parsing it.  They must never read past the
 * input, and on any text that jansson parses as an object they must
 * agree with jansson: the same value when the member is a plain string,
 * "absent" when jansson has no such member; for the boolean, exactly
 * jansson's value or the default; for the integer, jansson's integer
 * when found, and found whenever jansson has an integer and the text no
 * escape.  The first byte picks the key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = { "context_team_id", "id", "name", "a",
	"", "is_archived", "created" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *key, *want;
	char out[64], *copy;
	json_t *o, *v;
	int64_t iv = 0;
	int rc, b, ir;

	if (size < 1)
		return 0;
	key = keys[data[0] % (sizeof(keys) / sizeof(keys[0]))];
	/* An exact-size copy, so that a read past the end is caught. */
	copy = malloc(size - 1 ? size - 1 : 1);
	memcpy(copy, data + 1, size - 1);
	rc = store_json_top_str(copy, size - 1, key, out, sizeof(out));
	b = store_json_top_bool(copy, size - 1, key, 2);
	ir = store_json_top_int(copy, size - 1, key, &iv);

	o = json_loadb(copy, size - 1, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(o)) {
		v = json_object_get(o, key);
		want = json_string_value(v);
		if (v == NULL && rc == 0)
			abort(); /* found what is not there */
		if (rc == 0 && (want == NULL || strcmp(want, out) != 0))
			abort(); /* found something else */
		if (b != (json_is_boolean(v) ? json_is_true(v) : 2))
			abort(); /* a boolean other than jansson's */
		if (ir == 0 && (!json_is_integer(v) ||
		    json_integer_value(v) != iv))
			abort(); /* an integer other than jansson's */
		if (ir == -1 && json_is_integer(v) &&
		    memchr(copy, '\\', size - 1) == NULL)
			abort(); /* missed an integer */
		if (rc == -1 && want != NULL && strlen(want) < sizeof(out) &&
		    memchr(copy, '\\', size - 1) == NULL &&
		    strlen(want) == strcspn(want, "\\\""))
			abort(); /* missed a plain string */
	}
	json_decref(o);
	free(copy);
	return 0;
}
