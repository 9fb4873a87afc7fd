/*
 * api_args: a Web API request's arguments, from a query string, a form
 * body or a JSON body, into one JSON object.
 *
 * Form values are percent-decoded, must be valid UTF-8 without NUL, and
 * become JSON strings; a JSON body must be an object.  Every argument
 * name is checked (letters, digits, '_', '.', '-'; "name[]" is the PHP
 * array style Slack refuses), and a name given twice is refused rather
 * than silently taking one of the values.  JSON text is scanned for its
 * depth and size before jansson builds anything, so a hostile body
 * cannot make the parser recurse deeply or allocate without bound.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/backend.h"

/*
 * Scans JSON text for nesting depth and the number of values it holds,
 * skipping strings.  Returns 0 when within the limits, -1 otherwise.
 * Syntax is left to jansson.
 */
static int
api_json_prescan(const char *p, size_t len)
{
	size_t i, depth = 0, nodes = 1;
	int in_str = 0;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		switch (c) {
		case '"':
			in_str = 1;
			break;
		case '[':
		case '{':
			if (++depth > API_JSON_DEPTH_MAX)
				return -1;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		case ',':
		case ':':
			if (++nodes > API_JSON_NODES_MAX)
				return -1;
			break;
		default:
			break;
		}
	}
	return 0;
}

json_t *
api_json_parse(const char *text, size_t len)
{
	json_error_t jerr;

	if (api_json_prescan(text, len) == -1)
		return NULL;
	return json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
}

/* An argument name: 1..API_ARG_NAME_MAX of [A-Za-z0-9_.-]. */
static const char *
api_args_check_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > API_ARG_NAME_MAX)
		return "invalid_arg_name";
	if (len > 2 && name[len - 2] == '[' && name[len - 1] == ']')
		return "invalid_array_arg";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return c == '[' ? "invalid_array_arg"
					: "invalid_arg_name";
	}
	return NULL;
}

static int
api_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes src[0..len) into dst (at least len bytes), '+' being a
 * space.  Returns the decoded length, or -1 on a broken escape or a NUL.
 */
static long
api_form_decode(const char *src, size_t len, char *dst)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		char c = src[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = api_hexval(src[i + 1]);
			lo = api_hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return -1;
		dst[o++] = c;
	}
	return (long)o;
}

/*
 * Adds one decoded name=value pair of a form to args.  Returns 0, or -1
 * with *err set.
 */
static int
api_form_add(json_t *args, const char *k, size_t klen, const char *v,
    size_t vlen, char *scratch, const char **err)
{
	long n;
	char *name;
	json_t *val;
	const char *bad;

	n = api_form_decode(k, klen, scratch);
	if (n < 0) {
		*err = "invalid_form_data";
		return -1;
	}
	if ((bad = api_args_check_name(scratch, (size_t)n)) != NULL) {
		*err = bad;
		return -1;
	}
	name = strndup(scratch, (size_t)n);
	if (name == NULL) {
		*err = "internal_error";
		return -1;
	}
	if (json_object_get(args, name) != NULL ||
	    json_object_size(args) >= API_ARGS_MAX) {
		free(name);
		*err = "invalid_arguments";
		return -1;
	}

	n = api_form_decode(v, vlen, scratch);
	if (n < 0) {
		free(name);
		*err = "invalid_form_data";
		return -1;
	}
	/* json_stringn refuses text that is not valid UTF-8. */
	val = json_stringn(scratch, (size_t)n);
	if (val == NULL) {
		free(name);
		*err = "invalid_form_data";
		return -1;
	}
	json_object_set_new(args, name, val);
	free(name);
	return 0;
}

/*
 * Adds every pair of a form-encoded text to args.  Empty pairs ("a&&b")
 * are skipped; a pair without '=' has an empty value.
 */
static int
api_form_parse(json_t *args, const char *p, size_t len, const char **err)
{
	const char *end = p + len;
	char *scratch;
	int rc = 0;

	if (len == 0)
		return 0;
	scratch = malloc(len);
	if (scratch == NULL) {
		*err = "internal_error";
		return -1;
	}
	while (p < end && rc == 0) {
		const char *amp, *eq;

		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if (amp > p) {
			eq = memchr(p, '=', (size_t)(amp - p));
			if (eq == NULL)
				rc = api_form_add(args, p, (size_t)(amp - p),
				    amp, 0, scratch, err);
			else
				rc = api_form_add(args, p, (size_t)(eq - p),
				    eq + 1, (size_t)(amp - eq - 1), scratch,
				    err);
		}
		p = amp + 1;
	}
	free(scratch);
	return rc;
}

/* Merges a JSON body object into args, refusing names already there. */
static int
api_json_merge(json_t *args, json_t *obj, const char **err)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		const char *bad;

		bad = api_args_check_name(key, strlen(key));
		if (bad != NULL) {
			*err = bad;
			return -1;
		}
		if (json_object_get(args, key) != NULL ||
		    json_object_size(args) >= API_ARGS_MAX) {
			*err = "invalid_arguments";
			return -1;
		}
		json_object_set(args, key, val);
	}
	return 0;
}

enum api_ctype { API_CT_NONE, API_CT_FORM, API_CT_JSON, API_CT_OTHER };

/*
 * Classifies a Content-Type header.  Sets *bad_charset when a charset
 * parameter names anything but UTF-8.
 */
static enum api_ctype
api_ctype_parse(const char *ct, int *bad_charset)
{
	size_t n;
	const char *semi;
	enum api_ctype t;

	*bad_charset = 0;
	if (ct == NULL)
		return API_CT_NONE;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (*ct == '\0')
		return API_CT_NONE;
	semi = strchr(ct, ';');
	n = semi != NULL ? (size_t)(semi - ct) : strlen(ct);
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;

	if (n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded",
	    n) == 0)
		t = API_CT_FORM;
	else if (n == 16 && strncasecmp(ct, "application/json", n) == 0)
		t = API_CT_JSON;
	else
		t = API_CT_OTHER;

	while (semi != NULL) {
		const char *p = semi + 1, *v;
		size_t vlen;

		while (*p == ' ' || *p == '\t')
			p++;
		semi = strchr(p, ';');
		if (strncasecmp(p, "charset=", 8) != 0)
			continue;
		v = p + 8;
		vlen = semi != NULL ? (size_t)(semi - v) : strlen(v);
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (!((vlen == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
		    (vlen == 4 && strncasecmp(v, "utf8", 4) == 0)))
			*bad_charset = 1;
	}
	return t;
}

json_t *
api_args_parse(const char *ctype, const char *body, size_t len,
    const char *query, size_t qlen, const char **err)
{
	json_t *args, *obj;
	enum api_ctype t;
	int bad_charset;

	args = json_object();
	if (args == NULL) {
		*err = "internal_error";
		return NULL;
	}
	if (query != NULL && api_form_parse(args, query, qlen, err) == -1)
		goto fail;
	if (body == NULL)
		len = 0;

	t = api_ctype_parse(ctype, &bad_charset);
	if (bad_charset) {
		*err = "invalid_charset";
		goto fail;
	}
	switch (t) {
	case API_CT_NONE:
		if (len > 0) {
			*err = "missing_post_type";
			goto fail;
		}
		break;
	case API_CT_OTHER:
		if (len > 0) {
			*err = "invalid_post_type";
			goto fail;
		}
		break;
	case API_CT_FORM:
		if (api_form_parse(args, body, len, err) == -1)
			goto fail;
		break;
	case API_CT_JSON:
		if (len == 0)
			break;
		obj = api_json_parse(body, len);
		if (obj == NULL) {
			*err = "invalid_json";
			goto fail;
		}
		if (!json_is_object(obj)) {
			json_decref(obj);
			*err = "json_not_object";
			goto fail;
		}
		if (api_json_merge(args, obj, err) == -1) {
			json_decref(obj);
			goto fail;
		}
		json_decref(obj);
		break;
	}
	return args;

fail:
	json_decref(args);
	return NULL;
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
