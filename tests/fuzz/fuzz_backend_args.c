/*
 * libFuzzer target for Web API argument parsing: the first byte picks
 * the content type, the rest is split at the first NUL into a query
 * string and a body.  Every argument found is then read through each
 * getter, as the method handlers do.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ctypes[] = {
	"application/x-www-form-urlencoded",
	"application/json",
	"application/json; charset=utf-8",
	NULL,
	"text/plain",
	"application/x-www-form-urlencoded; charset=iso-8859-1",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *err = NULL, *ct, *nul;
	const char *query = NULL, *key;
	size_t qlen = 0;
	json_t *args, *v;

	if (size == 0)
		return 0;
	ct = ctypes[data[0] % (sizeof(ctypes) / sizeof(ctypes[0]))];
	p++;
	size--;
	nul = memchr(p, '\0', size);
	if (nul != NULL) {
		query = p;
		qlen = (size_t)(nul - p);
		size -= qlen + 1;
		p = nul + 1;
	}

	args = api_args_parse(ct, p, size, query, qlen, &err);
	if (args == NULL)
		return 0;
	json_object_foreach(args, key, v) {
		long long n;
		json_t *a;

		(void)api_arg_str(args, key);
		(void)api_arg_bool(args, key, 0, &err);
		(void)api_arg_int(args, key, 0, -1000000, 1000000, &n, &err);
		a = api_arg_json_array(args, key, "invalid_blocks", &err);
		json_decref(a);
	}
	json_decref(args);
	return 0;
}
