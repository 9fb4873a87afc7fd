/*
 * util and json: base64url and hex both ways (RFC 4648 vectors), number
 * parsing limits, safe copy, clocks; strict JSON with size and depth
 * limits, duplicate keys, Slack-style replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "util.h"

static void
test_b64url(void **state)
{
	/* RFC 4648 section 10 vectors, without padding. */
	static const char *const in[] = {"", "f", "fo", "foo", "foob",
	    "fooba", "foobar"};
	static const char *const out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg",
	    "Zm9vYmE", "Zm9vYmFy"};
	char enc[16];
	unsigned char dec[16], all[256];
	char big[400];
	size_t i;

	for (i = 0; i < 7; i++) {
		assert_int_equal(util_b64url_encode(in[i], strlen(in[i]), enc,
		    sizeof(enc)), (int)strlen(out[i]));
		assert_string_equal(enc, out[i]);
		assert_int_equal(util_b64url_decode(out[i], strlen(out[i]),
		    dec, sizeof(dec)), (int)strlen(in[i]));
		assert_memory_equal(dec, in[i], strlen(in[i]));
	}

	/* The URL alphabet: 0xfb 0xff -> "-_8". */
	assert_int_equal(util_b64url_encode("\xfb\xff", 2, enc, sizeof(enc)),
	    3);
	assert_string_equal(enc, "-_8");

	/* Every byte value round-trips. */
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	assert_int_equal(util_b64url_encode(all, 256, big, sizeof(big)),
	    UTIL_B64URL_LEN(256));
	assert_int_equal(util_b64url_decode(big, strlen(big), dec, 0), -1);
	{
		unsigned char back[256];

		assert_int_equal(util_b64url_decode(big, strlen(big), back,
		    sizeof(back)), 256);
		assert_memory_equal(back, all, 256);
	}

	/* Refusals: padding, '+', '/', length 4k+1, unused bits set. */
	assert_int_equal(util_b64url_decode("Zg==", 4, dec, sizeof(dec)), -1);
	assert_int_equal(util_b64url_decode("Zm+v", 4, dec, sizeof(dec)), -1);
	assert_int_equal(util_b64url_decode("Zm/v", 4, dec, sizeof(dec)), -1);
	assert_int_equal(util_b64url_decode("Zm9vY", 5, dec, sizeof(dec)),
	    -1);
	assert_int_equal(util_b64url_decode("Zh", 2, dec, sizeof(dec)), -1);
	/* Too small an output. */
	assert_int_equal(util_b64url_encode("foo", 3, enc, 4), -1);
	assert_int_equal(util_b64url_decode("Zm9v", 4, dec, 2), -1);
}

static void
test_hex(void **state)
{
	unsigned char b[4];
	char h[9];

	assert_int_equal(util_hex_encode("\x00\xab\xff\x10", 4, h, sizeof(h)),
	    8);
	assert_string_equal(h, "00abff10");
	assert_int_equal(util_hex_decode("00ABff10", 8, b, sizeof(b)), 4);
	assert_memory_equal(b, "\x00\xab\xff\x10", 4);
	assert_int_equal(util_hex_decode("0g", 2, b, sizeof(b)), -1);
	assert_int_equal(util_hex_decode("abc", 3, b, sizeof(b)), -1);
	assert_int_equal(util_hex_decode("0011223344", 10, b, sizeof(b)), -1);
	assert_int_equal(util_hex_encode("ab", 2, h, 4), -1);
}

static void
test_numbers(void **state)
{
	uint64_t u;
	int64_t i;

	assert_int_equal(util_parse_u64("0", 1, 10, &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(util_parse_u64("18446744073709551615", 20,
	    UINT64_MAX, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(util_parse_u64("18446744073709551616", 20,
	    UINT64_MAX, &u), -1);
	assert_int_equal(util_parse_u64("11", 2, 10, &u), -1);
	assert_int_equal(util_parse_u64("10", 2, 10, &u), 0);
	assert_int_equal(util_parse_u64("01", 2, 10, &u), -1);
	assert_int_equal(util_parse_u64("", 0, 10, &u), -1);
	assert_int_equal(util_parse_u64("+1", 2, 10, &u), -1);
	assert_int_equal(util_parse_u64(" 1", 2, 10, &u), -1);

	assert_int_equal(util_parse_i64("-9223372036854775808", 20, INT64_MIN,
	    INT64_MAX, &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(util_parse_i64("-9223372036854775809", 20, INT64_MIN,
	    INT64_MAX, &i), -1);
	assert_int_equal(util_parse_i64("9223372036854775807", 19, INT64_MIN,
	    INT64_MAX, &i), 0);
	assert_true(i == INT64_MAX);
	assert_int_equal(util_parse_i64("-5", 2, -4, 4, &i), -1);
	assert_int_equal(util_parse_i64("-4", 2, -4, 4, &i), 0);
	assert_int_equal(i, -4);
	assert_int_equal(util_parse_i64("-0", 2, -4, 4, &i), -1);
	assert_int_equal(util_parse_i64("-", 1, -4, 4, &i), -1);
	assert_int_equal(util_parse_i64("3", 1, 5, 10, &i), -1);
	assert_int_equal(util_parse_i64("-1", 2, 0, 10, &i), -1);
}

static void
test_strings_and_clocks(void **state)
{
	char b[4];
	unsigned char r1[16], r2[16];
	uint64_t m1, m2;

	assert_int_equal(util_strlcpy(b, "abcdef", sizeof(b)), 6);
	assert_string_equal(b, "abc");
	assert_int_equal(util_strlcpy(b, "ab", sizeof(b)), 2);
	assert_string_equal(b, "ab");
	assert_true(util_all_in("abc", 3, "cba"));
	assert_false(util_all_in("abd", 3, "cba"));
	assert_false(util_all_in("", 0, "cba"));
	assert_false(util_all_in("a\0", 2, "a"));

	assert_int_equal(util_random_bytes(r1, sizeof(r1)), 0);
	assert_int_equal(util_random_bytes(r2, sizeof(r2)), 0);
	assert_memory_not_equal(r1, r2, sizeof(r1));

	m1 = util_mono_ms();
	m2 = util_mono_ms();
	assert_true(m2 >= m1);
	assert_true(util_wall_sec() > 1600000000);
	assert_true(util_wall_usec() / 1000000 >= util_wall_sec() - 1);
}

static void
test_json(void **state)
{
	char err[128], deep[200];
	json_t *v;
	char *s;
	int i;

	v = json_parse_strict("{\"a\":[1,{\"b\":\"}]\"}],\"t\":true}", 29,
	    100, 4, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(json_get_bool(v, "t", 0), 1);
	assert_int_equal(json_get_int(v, "missing", 7), 7);
	assert_null(json_get_str(v, "a"));
	json_decref(v);

	/* Depth: 3 levels allowed at limit 3, 4 refused. */
	assert_int_equal(json_nesting_depth("[[[]]]", 6, 10), 3);
	v = json_parse_strict("[[[]]]", 6, 100, 3, err, sizeof(err));
	assert_non_null(v);
	json_decref(v);
	assert_null(json_parse_strict("[[[[]]]]", 8, 100, 3, err,
	    sizeof(err)));
	assert_string_equal(err, "too deep");
	/* Brackets inside strings (and escaped quotes) do not count. */
	assert_int_equal(json_nesting_depth("[\"[[\\\"[[\"]", 10, 10), 1);

	/* A deep document is refused before jansson builds anything. */
	for (i = 0; i < 100; i++) {
		deep[i] = '[';
		deep[199 - i] = ']';
	}
	assert_null(json_parse_strict(deep, 200, 1000, JSON_DEFAULT_DEPTH,
	    err, sizeof(err)));
	assert_string_equal(err, "too deep");

	assert_null(json_parse_strict("[1,2]", 5, 4, 4, err, sizeof(err)));
	assert_string_equal(err, "too large");
	assert_null(json_parse_strict("{\"a\":1,\"a\":2}", 13, 100, 4, err,
	    sizeof(err)));
	assert_null(json_parse_strict("{\"a\":1} x", 9, 100, 4, err,
	    sizeof(err)));
	assert_null(json_parse_strict("\"a\\u0000b\"", 10, 100, 4, err,
	    sizeof(err)));

	v = json_slack_error("invalid_auth");
	s = json_dump_compact(v, NULL);
	assert_string_equal(s, "{\"ok\":false,\"error\":\"invalid_auth\"}");
	free(s);
	json_decref(v);
	v = json_slack_ok();
	json_object_set_new(v, "ts", json_string("1.000001"));
	s = json_dump_compact(v, NULL);
	assert_string_equal(s, "{\"ok\":true,\"ts\":\"1.000001\"}");
	free(s);
	json_decref(v);
}

/* json_quote: what jansson reads back is the string quoted. */
static void
test_json_quote(void **state)
{
	static const char *const in[] = {
		"", "plain", "quote \" and \\ backslash", "tab\tnl\ncr\r",
		"\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"</script>",
	};
	char out[JSON_QUOTE_MAX(64)];
	json_t *v;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		n = json_quote(out, in[i], strlen(in[i]));
		assert_true(n <= JSON_QUOTE_MAX(strlen(in[i])));
		v = json_loadb(out, n, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		assert_string_equal(json_string_value(v), in[i]);
		json_decref(v);
	}
	n = json_quote(out, "a\"b", 3);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "\"a\\\"b\"", 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_strings_and_clocks),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
