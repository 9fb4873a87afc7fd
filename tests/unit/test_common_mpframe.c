/*
 * mpframe: frames split at every byte, several frames in one read,
 * oversized lengths refused before the body is allocated, garbage bodies,
 * and the typed getters' bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpframe.h"

/* A frame with one field of each kind, nested map and array included. */
static void
make_frame(msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	size_t start;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	start = mpframe_begin(sb, &pk, 7);
	mpframe_kv_cstr(&pk, "type", "event");
	mpframe_kv_uint(&pk, "seq", 42);
	mpframe_kv_int(&pk, "delta", -7);
	mpframe_kv_bool(&pk, "live", true);
	mpframe_kv_bin(&pk, "raw", "\0\1\2", 3);
	mpframe_key(&pk, "team");
	msgpack_pack_map(&pk, 1);
	mpframe_kv_cstr(&pk, "id", "T1");
	mpframe_key(&pk, "list");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 2);
	assert_int_equal(mpframe_end(sb, start), 0);
}

static void
check_frame(const msgpack_object *m)
{
	const char *s;
	size_t len;
	uint64_t u;
	int64_t i;
	bool b;
	const void *p;
	char buf[8];

	assert_non_null(m);
	assert_int_equal(mpframe_get_str(m, "type", &s, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "event", 5);
	assert_int_equal(mpframe_get_uint(m, "seq", &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(mpframe_get_int(m, "seq", &i), 0);
	assert_int_equal(i, 42);
	assert_int_equal(mpframe_get_int(m, "delta", &i), 0);
	assert_int_equal(i, -7);
	assert_int_equal(mpframe_get_uint(m, "delta", &u), -1);
	assert_int_equal(mpframe_get_bool(m, "live", &b), 0);
	assert_true(b);
	assert_int_equal(mpframe_get_bin(m, "raw", &p, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(mpframe_get_strbuf(mpframe_get_map(m, "team"), "id",
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "T1");
	assert_int_equal(mpframe_get_array(m, "list")->via.array.size, 2);

	/* Wrong types, missing keys, too small a buffer. */
	assert_int_equal(mpframe_get_str(m, "seq", &s, &len), -1);
	assert_int_equal(mpframe_get_bool(m, "nope", &b), -1);
	assert_null(mpframe_get_map(m, "list"));
	assert_null(mpframe_get_array(m, "team"));
	assert_int_equal(mpframe_get_strbuf(m, "type", buf, 5), -1);
	assert_int_equal(mpframe_get_strbuf(m, "type", buf, 6), 0);
	assert_null(mpframe_get(NULL, "x"));
}

static void
test_split_everywhere(void **state)
{
	msgpack_sbuffer sb;
	size_t cut;

	msgpack_sbuffer_init(&sb);
	make_frame(&sb);
	make_frame(&sb); /* two frames back to back */

	for (cut = 0; cut <= sb.size; cut++) {
		struct mpframe_dec d;
		const msgpack_object *m;
		size_t off = 0, frames = 0;

		mpframe_dec_init(&d, 1024);
		/* First piece [0, cut), then the rest, byte by byte after. */
		while (off < sb.size) {
			size_t n = off < cut ? cut - off : 1;
			ssize_t used = mpframe_decode(&d, sb.data + off, n, &m);

			assert_true(used > 0 || n == 0);
			off += (size_t)used;
			if (m != NULL) {
				check_frame(m);
				frames++;
			}
		}
		assert_int_equal(frames, 2);
		mpframe_dec_free(&d);
	}
	msgpack_sbuffer_destroy(&sb);
}

static void
test_one_call_many_frames(void **state)
{
	msgpack_sbuffer sb;
	struct mpframe_dec d;
	const msgpack_object *m;
	size_t off = 0, frames = 0;
	int i;

	msgpack_sbuffer_init(&sb);
	for (i = 0; i < 5; i++)
		make_frame(&sb);
	mpframe_dec_init(&d, 0);
	while (off < sb.size) {
		ssize_t used = mpframe_decode(&d, sb.data + off, sb.size - off,
		    &m);

		assert_true(used > 0);
		off += (size_t)used;
		assert_non_null(m);
		check_frame(m);
		frames++;
	}
	assert_int_equal(frames, 5);
	mpframe_dec_free(&d);
	msgpack_sbuffer_destroy(&sb);
}

static void
expect_error(const void *p, size_t len, size_t max, const char *why)
{
	struct mpframe_dec d;
	const msgpack_object *m;
	msgpack_unpacked un;
	const char *err = NULL;

	mpframe_dec_init(&d, max);
	assert_int_equal(mpframe_decode(&d, p, len, &m), -1);
	assert_null(m);
	assert_string_equal(d.error, why);
	/* Once failed, the stream stays failed. */
	assert_int_equal(mpframe_decode(&d, p, len, &m), -1);
	mpframe_dec_free(&d);

	msgpack_unpacked_init(&un);
	assert_int_equal(mpframe_parse(p, len, max, &un, &err), -1);
	assert_non_null(err);
	msgpack_unpacked_destroy(&un);
}

static void
test_oversized_refused_before_allocation(void **state)
{
	struct mpframe_dec d;
	const msgpack_object *m;
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t over[] = {0x00, 0x00, 0x04, 0x01};

	/*
	 * Only the 4-byte header is given: the decoder must fail on it
	 * alone, with no body buffer allocated.
	 */
	mpframe_dec_init(&d, 1024);
	assert_int_equal(mpframe_decode(&d, over, 4, &m), -1);
	assert_null(d.body);
	assert_string_equal(d.error, "frame larger than the maximum");
	mpframe_dec_free(&d);

	mpframe_dec_init(&d, 0);
	assert_int_equal(mpframe_decode(&d, huge, 4, &m), -1);
	assert_null(d.body);
	mpframe_dec_free(&d);

	/* Exactly the maximum is accepted up to the body. */
	mpframe_dec_init(&d, 1025);
	assert_int_equal(mpframe_decode(&d, over, 4, &m), 4);
	assert_null(m);
	mpframe_dec_free(&d);
}

static void
test_garbage(void **state)
{
	/* Length 0. */
	expect_error("\0\0\0\0", 4, 64, "empty frame");
	/* Not a map: an array, a string, an int. */
	expect_error("\0\0\0\1\x90", 5, 64, "frame is not a map");
	expect_error("\0\0\0\2\xa1x", 6, 64, "frame is not a map");
	expect_error("\0\0\0\1\x01", 5, 64, "frame is not a map");
	/* A map with a missing value. */
	expect_error("\0\0\0\3\x81\xa1k", 7, 64, "truncated msgpack");
	/* Two maps in one frame. */
	expect_error("\0\0\0\2\x80\x80", 6, 64, "trailing bytes after the map");
	/* Reserved type byte 0xc1. */
	expect_error("\0\0\0\3\x81\xc1\x01", 7, 64, "bad msgpack");
	/*
	 * A map announcing 2^32-1 pairs in a 5-byte body: refused from
	 * the count, before msgpack-c would allocate slots for them.
	 */
	expect_error("\0\0\0\5\xdf\xff\xff\xff\xff", 9, 64,
	    "msgpack count larger than the frame");
	/* The same nested: an array32 inside a map. */
	expect_error("\0\0\0\x08\x81\xa1k\xdd\xff\xff\xff\xff", 12, 64,
	    "msgpack count larger than the frame");
	/* A str32 longer than the body. */
	expect_error("\0\0\0\x09\x81\xa1k\xdb\x00\x01\x00\x00x", 13, 64,
	    "truncated msgpack");
}

static void
test_parse_whole(void **state)
{
	msgpack_sbuffer sb;
	msgpack_unpacked un;
	const char *err = NULL;

	msgpack_sbuffer_init(&sb);
	make_frame(&sb);
	msgpack_unpacked_init(&un);
	assert_int_equal(mpframe_parse(sb.data, sb.size, 0, &un, &err), 0);
	check_frame(&un.data);
	/* One byte short, one byte extra. */
	assert_int_equal(mpframe_parse(sb.data, sb.size - 1, 0, &un, &err),
	    -1);
	assert_string_equal(err, "length does not match the frame");
	msgpack_unpacked_destroy(&un);
	msgpack_sbuffer_destroy(&sb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_one_call_many_frames),
		cmocka_unit_test(test_oversized_refused_before_allocation),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_parse_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
