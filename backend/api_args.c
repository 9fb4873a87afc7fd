/*
 * api_args: the getters of a Web API request's arguments.  The arguments
 * themselves are parsed by common/args.c, which the edges share.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"

#include "backend/backend.h"

json_t *
api_args_parse(const char *ctype, const char *body, size_t len,
    const char *query, size_t qlen, const char **err)
{
	return args_parse(ctype, body, len, query, qlen, err);
}

json_t *
api_json_parse(const char *text, size_t len)
{
	return args_json_parse(text, len);
}

const char *
api_arg_str(json_t *args, const char *name)
{
	json_t *v = json_object_get(args, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int
api_arg_bool(json_t *args, const char *name, int def, const char **err)
{
	json_t *v = json_object_get(args, name);
	const char *s;

	if (v == NULL || json_is_null(v))
		return def;
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	s = json_string_value(v);
	if (s != NULL) {
		if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
			return 1;
		if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
		    *s == '\0')
			return 0;
	}
	if (err != NULL)
		*err = "invalid_arguments";
	return -1;
}

int
api_arg_int(json_t *args, const char *name, long long def, long long min,
    long long max, long long *out, const char **err)
{
	json_t *v = json_object_get(args, name);
	long long n;

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (*s == '\0') {
			*out = def;
			return 0;
		}
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0' || end == s)
			goto bad;
	} else {
		goto bad;
	}
	if (n < min || n > max)
		goto bad;
	*out = n;
	return 0;

bad:
	if (err != NULL)
		*err = "invalid_arguments";
	return -1;
}

json_t *
api_arg_json_array(json_t *args, const char *name, const char *bad_error,
    const char **err)
{
	json_t *v = json_object_get(args, name), *a;
	const char *s;

	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_array(v))
		return json_incref(v);
	s = json_string_value(v);
	if (s == NULL) {
		*err = bad_error;
		return NULL;
	}
	if (*s == '\0')
		return NULL;
	a = api_json_parse(s, strlen(s));
	if (a == NULL || !json_is_array(a)) {
		json_decref(a);
		*err = bad_error;
		return NULL;
	}
	return a;
}
