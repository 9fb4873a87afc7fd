/*
 * Unit tests of backend/api_args.c: form, query and JSON arguments, JSON
 * inside form fields, and every refusal (broken escapes, invalid UTF-8,
 * NUL, duplicates, array names, depth and size limits, content types).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"

static const char *FORM = "application/x-www-form-urlencoded";

/* Parses body as ctype and returns the error name, or NULL on success. */
static const char *
parse_err(const char *ctype, const char *body)
{
	const char *err = NULL;
	json_t *a;

	a = api_args_parse(ctype, body, strlen(body), NULL, 0, &err);
	if (a != NULL) {
		json_decref(a);
		return NULL;
	}
	assert_non_null(err);
	return err;
}

static void
test_form_values(void **state)
{
	const char *body = "channel=C1&text=h%C3%A9llo+w%2Borld&empty=&bare"
			   "&&as_user=true";
	const char *err = NULL;
	json_t *a;

	a = api_args_parse(FORM, body, strlen(body), NULL, 0, &err);
	assert_non_null(a);
	assert_string_equal(api_arg_str(a, "channel"), "C1");
	assert_string_equal(api_arg_str(a, "text"), "h\xc3\xa9llo w+orld");
	assert_string_equal(api_arg_str(a, "empty"), "");
	assert_string_equal(api_arg_str(a, "bare"), "");
	assert_int_equal(api_arg_bool(a, "as_user", 0, &err), 1);
	assert_int_equal(api_arg_bool(a, "missing", 0, &err), 0);
	assert_null(api_arg_str(a, "missing"));
	json_decref(a);
}

static void
test_query_and_body(void **state)
{
	const char *err = NULL;
	json_t *a;

	a = api_args_parse(FORM, "b=2", 3, "a=1", 3, &err);
	assert_non_null(a);
	assert_string_equal(api_arg_str(a, "a"), "1");
	assert_string_equal(api_arg_str(a, "b"), "2");
	json_decref(a);

	/* The same name in the query and the body is a duplicate. */
	a = api_args_parse(FORM, "a=2", 3, "a=1", 3, &err);
	assert_null(a);
	assert_string_equal(err, "invalid_arguments");
}

static void
test_form_refusals(void **state)
{
	assert_string_equal(parse_err(FORM, "a=1&a=2"), "invalid_arguments");
	assert_string_equal(parse_err(FORM, "a=%zz"), "invalid_form_data");
	assert_string_equal(parse_err(FORM, "a=%4"), "invalid_form_data");
	assert_string_equal(parse_err(FORM, "a=%"), "invalid_form_data");
	assert_string_equal(parse_err(FORM, "a=%00"), "invalid_form_data");
	assert_string_equal(parse_err(FORM, "a=%C3%28"), "invalid_form_data");
	assert_string_equal(parse_err(FORM, "a=%ED%A0%80"),
	    "invalid_form_data");
	assert_string_equal(parse_err(FORM, "a%5B%5D=1"), "invalid_array_arg");
	assert_string_equal(parse_err(FORM, "a[x]=1"), "invalid_array_arg");
	assert_string_equal(parse_err(FORM, "=1"), "invalid_arg_name");
	assert_string_equal(parse_err(FORM, "a%20b=1"), "invalid_arg_name");
}

static void
test_too_many_args(void **state)
{
	char body[2048];
	size_t off = 0;
	int i;

	for (i = 0; i <= API_ARGS_MAX; i++)
		off += (size_t)snprintf(body + off, sizeof(body) - off,
		    "%sk%d=v", i ? "&" : "", i);
	assert_string_equal(parse_err(FORM, body), "invalid_arguments");
}

static void
test_json_body(void **state)
{
	const char *body = "{\"channel\":\"C1\",\"limit\":5,\"inclusive\":true,"
			   "\"blocks\":[{\"type\":\"section\"}]}";
	const char *err = NULL;
	long long n;
	json_t *a, *blocks;

	a = api_args_parse("application/json; charset=utf-8", body,
	    strlen(body), NULL, 0, &err);
	assert_non_null(a);
	assert_string_equal(api_arg_str(a, "channel"), "C1");
	assert_int_equal(api_arg_int(a, "limit", 100, 1, 1000, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_int_equal(api_arg_bool(a, "inclusive", 0, &err), 1);
	blocks = api_arg_json_array(a, "blocks", "invalid_blocks", &err);
	assert_non_null(blocks);
	assert_int_equal(json_array_size(blocks), 1);
	json_decref(blocks);
	json_decref(a);
}

static void
test_json_refusals(void **state)
{
	const char *J = "application/json";
	char deep[200];
	int i;

	assert_string_equal(parse_err(J, "{\"a\":"), "invalid_json");
	assert_string_equal(parse_err(J, "[1,2]"), "json_not_object");
	assert_string_equal(parse_err(J, "{\"a\":1,\"a\":2}"), "invalid_json");
	assert_string_equal(parse_err(J, "{\"a\":\"\xff\"}"), "invalid_json");
	assert_string_equal(parse_err(J, "{\"a\":\"\\u0000\"}"),
	    "invalid_json");
	assert_string_equal(parse_err(J, "{\"a b\":1}"), "invalid_arg_name");

	memset(deep, 0, sizeof(deep));
	deep[0] = '{';
	memcpy(deep + 1, "\"a\":", 4);
	for (i = 0; i < 40; i++)
		deep[5 + i] = '[';
	for (i = 0; i < 40; i++)
		deep[45 + i] = ']';
	deep[85] = '}';
	assert_string_equal(parse_err(J, deep), "invalid_json");
}

static void
test_json_too_many_nodes(void **state)
{
	size_t n = (size_t)API_JSON_NODES_MAX + 10, i, off;
	char *body = malloc(n * 2 + 16);

	assert_non_null(body);
	strcpy(body, "{\"a\":[");
	off = strlen(body);
	for (i = 0; i < n; i++) {
		if (i > 0)
			body[off++] = ',';
		body[off++] = '1';
	}
	strcpy(body + off, "]}");
	assert_string_equal(parse_err("application/json", body),
	    "invalid_json");
	free(body);
}

static void
test_content_types(void **state)
{
	assert_string_equal(parse_err(NULL, "a=1"), "missing_post_type");
	assert_string_equal(parse_err("text/html", "a=1"),
	    "invalid_post_type");
	assert_string_equal(parse_err(
	    "application/x-www-form-urlencoded; charset=latin1", "a=1"),
	    "invalid_charset");
	assert_null(parse_err("APPLICATION/X-WWW-FORM-URLENCODED;"
	    " charset=\"UTF-8\"", "a=1"));
	assert_null(parse_err(NULL, ""));
}

static void
test_json_in_form_field(void **state)
{
	const char *body = "blocks=%5B%7B%22type%22%3A%22divider%22%7D%5D"
			   "&attachments=%7B%7D&limit=abc&big=99999";
	const char *err = NULL;
	long long n;
	json_t *a, *b;

	a = api_args_parse(FORM, body, strlen(body), NULL, 0, &err);
	assert_non_null(a);
	b = api_arg_json_array(a, "blocks", "invalid_blocks", &err);
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(b, 0), "type")), "divider");
	json_decref(b);

	err = NULL;
	assert_null(api_arg_json_array(a, "attachments",
	    "invalid_attachments", &err));
	assert_string_equal(err, "invalid_attachments");

	err = NULL;
	assert_null(api_arg_json_array(a, "absent", "x", &err));
	assert_null(err);

	assert_int_equal(api_arg_int(a, "limit", 1, 1, 10, &n, &err), -1);
	assert_int_equal(api_arg_int(a, "big", 1, 1, 1000, &n, &err), -1);
	assert_int_equal(api_arg_int(a, "nolimit", 7, 1, 10, &n, &err), 0);
	assert_int_equal(n, 7);
	json_decref(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_values),
		cmocka_unit_test(test_query_and_body),
		cmocka_unit_test(test_form_refusals),
		cmocka_unit_test(test_too_many_args),
		cmocka_unit_test(test_json_body),
		cmocka_unit_test(test_json_refusals),
		cmocka_unit_test(test_json_too_many_nodes),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_json_in_form_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
