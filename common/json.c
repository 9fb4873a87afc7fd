/*
 * json: jansson with size and depth limits, and Slack-style replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

int
json_nesting_depth(const char *buf, size_t len, int limit)
{
	int depth = 0, max = 0;
	bool in_str = false;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		switch (c) {
		case '"':
			in_str = true;
			break;
		case '[':
		case '{':
			if (++depth > max) {
				max = depth;
				if (max > limit)
					return limit + 1;
			}
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return max;
}

json_t *
json_parse_strict(const char *buf, size_t len, size_t max_size,
    int max_depth, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v;

	if (len > max_size) {
		snprintf(err, errlen, "too large");
		return NULL;
	}
	if (json_nesting_depth(buf, len, max_depth) > max_depth) {
		snprintf(err, errlen, "too deep");
		return NULL;
	}
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &jerr);
	if (v == NULL)
		snprintf(err, errlen, "line %d col %d: %s", jerr.line,
		    jerr.column, jerr.text);
	return v;
}

json_t *
json_slack_ok(void)
{
	json_t *o = json_object();

	if (o == NULL || json_object_set_new(o, "ok", json_true()) == -1)
		fatalx("json_slack_ok: out of memory");
	return o;
}

json_t *
json_slack_error(const char *error)
{
	json_t *o = json_object();

	if (o == NULL || json_object_set_new(o, "ok", json_false()) == -1 ||
	    json_object_set_new(o, "error", json_string(error)) == -1)
		fatalx("json_slack_error: out of memory");
	return o;
}

char *
json_dump_compact(const json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);

	if (s == NULL)
		fatalx("json_dump_compact: out of memory");
	if (len != NULL)
		*len = strlen(s);
	return s;
}

const char *
json_get_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

long long
json_get_int(const json_t *obj, const char *key, long long def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

int
json_get_bool(const json_t *obj, const char *key, int def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

size_t
json_quote(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char ch;
	char *o = out;
	size_t i;

	*o++ = '"';
	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			*o++ = '\\';
			*o++ = (char)ch;
		} else if (ch == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (ch < 0x20 || ch == 0x7f) {
			*o++ = '\\';
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		} else {
			*o++ = (char)ch;
		}
	}
	*o++ = '"';
	return (size_t)(o - out);
}
