/*
 * args: a Web API request's arguments, from a query string, a form body
 * or a JSON body, into one JSON object (see args.h).  The backend and the
 * edges parse alike, so a request means the same wherever it lands.
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

#include "args.h"

/*
 * Scans JSON text for nesting depth and the number of values it holds,
 * skipping strings.  Returns 0 when within the limits, -1 otherwise.
 * Syntax is left to jansson.
 */
static int
args_json_prescan(const char *p, size_t len)
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
			if (++depth > ARGS_JSON_DEPTH_MAX)
				return -1;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		case ',':
		case ':':
			if (++nodes > ARGS_JSON_NODES_MAX)
				return -1;
			break;
		default:
			break;
		}
	}
	return 0;
}

json_t *
args_json_parse(const char *text, size_t len)
{
	json_error_t jerr;

	if (args_json_prescan(text, len) == -1)
		return NULL;
	return json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
}

/* An argument name: 1..ARGS_NAME_MAX of [A-Za-z0-9_.-]. */
static const char *
args_check_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > ARGS_NAME_MAX)
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
args_hexval(char c)
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
args_form_decode(const char *src, size_t len, char *dst)
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
			hi = args_hexval(src[i + 1]);
			lo = args_hexval(src[i + 2]);
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
args_form_add(json_t *args, const char *k, size_t klen, const char *v,
    size_t vlen, char *scratch, const char **err)
{
	long n;
	char *name;
	json_t *val;
	const char *bad;

	n = args_form_decode(k, klen, scratch);
	if (n < 0) {
		*err = "invalid_form_data";
		return -1;
	}
	if ((bad = args_check_name(scratch, (size_t)n)) != NULL) {
		*err = bad;
		return -1;
	}
	name = strndup(scratch, (size_t)n);
	if (name == NULL) {
		*err = "internal_error";
		return -1;
	}
	if (json_object_get(args, name) != NULL ||
	    json_object_size(args) >= ARGS_MAX) {
		free(name);
		*err = "invalid_arguments";
		return -1;
	}

	n = args_form_decode(v, vlen, scratch);
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
args_form_parse(json_t *args, const char *p, size_t len, const char **err)
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
				rc = args_form_add(args, p, (size_t)(amp - p),
				    amp, 0, scratch, err);
			else
				rc = args_form_add(args, p, (size_t)(eq - p),
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
args_json_merge(json_t *args, json_t *obj, const char **err)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		const char *bad;

		bad = args_check_name(key, strlen(key));
		if (bad != NULL) {
			*err = bad;
			return -1;
		}
		if (json_object_get(args, key) != NULL ||
		    json_object_size(args) >= ARGS_MAX) {
			*err = "invalid_arguments";
			return -1;
		}
		json_object_set(args, key, val);
	}
	return 0;
}

enum args_ctype { ARGS_CT_NONE, ARGS_CT_FORM, ARGS_CT_JSON, ARGS_CT_OTHER };

/*
 * Classifies a Content-Type header.  Sets *bad_charset when a charset
 * parameter names anything but UTF-8.
 */
static enum args_ctype
args_ctype_parse(const char *ct, int *bad_charset)
{
	size_t n;
	const char *semi;
	enum args_ctype t;

	*bad_charset = 0;
	if (ct == NULL)
		return ARGS_CT_NONE;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (*ct == '\0')
		return ARGS_CT_NONE;
	semi = strchr(ct, ';');
	n = semi != NULL ? (size_t)(semi - ct) : strlen(ct);
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;

	if (n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded",
	    n) == 0)
		t = ARGS_CT_FORM;
	else if (n == 16 && strncasecmp(ct, "application/json", n) == 0)
		t = ARGS_CT_JSON;
	else
		t = ARGS_CT_OTHER;

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
args_parse(const char *ctype, const char *body, size_t len,
    const char *query, size_t qlen, const char **err)
{
	json_t *args, *obj;
	enum args_ctype t;
	int bad_charset;

	args = json_object();
	if (args == NULL) {
		*err = "internal_error";
		return NULL;
	}
	if (query != NULL && args_form_parse(args, query, qlen, err) == -1)
		goto fail;
	if (body == NULL)
		len = 0;

	t = args_ctype_parse(ctype, &bad_charset);
	if (bad_charset) {
		*err = "invalid_charset";
		goto fail;
	}
	switch (t) {
	case ARGS_CT_NONE:
		if (len > 0) {
			*err = "missing_post_type";
			goto fail;
		}
		break;
	case ARGS_CT_OTHER:
		if (len > 0) {
			*err = "invalid_post_type";
			goto fail;
		}
		break;
	case ARGS_CT_FORM:
		if (args_form_parse(args, body, len, err) == -1)
			goto fail;
		break;
	case ARGS_CT_JSON:
		if (len == 0)
			break;
		obj = args_json_parse(body, len);
		if (obj == NULL) {
			*err = "invalid_json";
			goto fail;
		}
		if (!json_is_object(obj)) {
			json_decref(obj);
			*err = "json_not_object";
			goto fail;
		}
		if (args_json_merge(args, obj, err) == -1) {
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
