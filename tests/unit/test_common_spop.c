/*
 * Unit tests of common/spop.c with byte vectors: varints, typed data,
 * frames recorded from HAProxy 2.6.12, and each kind of broken frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "spop.h"

/* The HELLO that "option spop-check" of HAProxy 2.6.12 sends. */
static const uint8_t rec_check_hello[] = {
	0x00, 0x00, 0x00, 0x4e, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x12, 's', 'u', 'p', 'p', 'o', 'r', 't', 'e', 'd', '-', 'v', 'e',
	'r', 's', 'i', 'o', 'n', 's', 0x08, 0x03, '2', '.', '0', 0x0e, 'm',
	'a', 'x', '-', 'f', 'r', 'a', 'm', 'e', '-', 's', 'i', 'z', 'e',
	0x03, 0xfc, 0xf0, 0x06, 0x0c, 'c', 'a', 'p', 'a', 'b', 'i', 'l', 'i',
	't', 'i', 'e', 's', 0x08, 0x00, 0x0b, 'h', 'e', 'a', 'l', 't', 'h',
	'c', 'h', 'e', 'c', 'k', 0x11,
};

/* The HELLO of the 2.6.12 SPOE filter (pipelining and async). */
static const uint8_t rec_hello[] = {
	0x00, 0x00, 0x00, 0x81, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x12, 's', 'u', 'p', 'p', 'o', 'r', 't', 'e', 'd', '-', 'v', 'e',
	'r', 's', 'i', 'o', 'n', 's', 0x08, 0x03, '2', '.', '0', 0x0e, 'm',
	'a', 'x', '-', 'f', 'r', 'a', 'm', 'e', '-', 's', 'i', 'z', 'e',
	0x03, 0xfc, 0xf0, 0x06, 0x0c, 'c', 'a', 'p', 'a', 'b', 'i', 'l', 'i',
	't', 'i', 'e', 's', 0x08, 0x10, 'p', 'i', 'p', 'e', 'l', 'i', 'n',
	'i', 'n', 'g', ',', 'a', 's', 'y', 'n', 'c', 0x09, 'e', 'n', 'g',
	'i', 'n', 'e', '-', 'i', 'd', 0x08, 0x24, 'd', '8', '3', 'f', 'c',
	'0', 'f', '3', '-', '5', '5', '9', '4', '-', '4', '2', '8', '6', '-',
	'b', '5', '0', '9', '-', '0', '3', 'f', '9', '0', 'f', 'c', '7', '1',
	'5', '0', 'b',
};

/*
 * A NOTIFY of the 2.6.12 SPOE filter for GET /foo?slim=1 with
 * User-Agent Mozilla, no Authorization header and no cookie: message
 * "parley-req" with ua, auth (NULL), tok (NULL), path, q, src (IPv4),
 * n (an integer, as INT64), ok (true) and no (false).
 */
static const uint8_t rec_notify[] = {
	0x00, 0x00, 0x00, 0x54, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
	0x0a, 'p', 'a', 'r', 'l', 'e', 'y', '-', 'r', 'e', 'q', 0x09, 0x02,
	'u', 'a', 0x08, 0x07, 'M', 'o', 'z', 'i', 'l', 'l', 'a', 0x04, 'a',
	'u', 't', 'h', 0x00, 0x03, 't', 'o', 'k', 0x00, 0x04, 'p', 'a', 't',
	'h', 0x08, 0x04, '/', 'f', 'o', 'o', 0x01, 'q', 0x08, 0x06, 's', 'l',
	'i', 'm', '=', '1', 0x03, 's', 'r', 'c', 0x06, 0x7f, 0x00, 0x00,
	0x01, 0x01, 'n', 0x04, 0x01, 0x02, 'o', 'k', 0x11, 0x02, 'n', 'o',
	0x01,
};

struct varint_vec {
	uint64_t v;
	uint8_t bytes[SPOP_VARINT_MAX];
	size_t len;
};

static const struct varint_vec varints[] = {
	{0, {0x00}, 1},
	{239, {0xef}, 1},
	{240, {0xf0, 0x00}, 2},
	{255, {0xff, 0x00}, 2},
	{1000, {0xf8, 0x2f}, 2},
	{2287, {0xff, 0x7f}, 2},
	{2288, {0xf0, 0x80, 0x00}, 3},
	{16380, {0xfc, 0xf0, 0x06}, 3},
	{65535, {0xff, 0xf0, 0x1e}, 3},
	{4294967295u, {0xff, 0xf0, 0xfe, 0xfe, 0x7e}, 5},
	{UINT64_MAX,
	    {0xff, 0xf0, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0x0e}, 10},
};

static void
test_varint_vectors(void **state)
{
	uint8_t buf[16], *w;
	const uint8_t *r;
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(varints) / sizeof(varints[0]); i++) {
		w = buf;
		assert_int_equal(spop_varint_put(&w, buf + sizeof(buf),
				     varints[i].v),
		    0);
		assert_int_equal(w - buf, varints[i].len);
		assert_int_equal(spop_varint_len(varints[i].v),
		    varints[i].len);
		assert_memory_equal(buf, varints[i].bytes, varints[i].len);

		r = varints[i].bytes;
		assert_int_equal(spop_varint_get(&r,
				     varints[i].bytes + varints[i].len, &v),
		    0);
		assert_true(v == varints[i].v);
		assert_ptr_equal(r, varints[i].bytes + varints[i].len);

		/* One byte short never decodes. */
		r = varints[i].bytes;
		if (varints[i].len > 1)
			assert_int_equal(spop_varint_get(&r,
					     varints[i].bytes +
						 varints[i].len - 1,
					     &v),
			    -1);

		/* Out of room leaves the cursor alone. */
		w = buf;
		assert_int_equal(spop_varint_put(&w,
				     buf + varints[i].len - 1, varints[i].v),
		    -1);
		assert_ptr_equal(w, buf);
	}
}

/* Regression: an 11-byte varint must be refused, not read on. */
static void
test_varint_too_long(void **state)
{
	uint8_t b[12];
	const uint8_t *r = b;
	uint64_t v;

	(void)state;
	memset(b, 0xff, sizeof(b));
	b[10] = 0x01;
	assert_int_equal(spop_varint_get(&r, b + sizeof(b), &v), -1);
	assert_ptr_equal(r, b);

	/* Ten bytes is the limit and decodes. */
	b[9] = 0x01;
	assert_int_equal(spop_varint_get(&r, b + 10, &v), 0);
	assert_ptr_equal(r, b + 10);
}

static void
test_typed_data(void **state)
{
	static const uint8_t t[] = {0x11};
	static const uint8_t f[] = {0x01};
	static const uint8_t neg[] = {0x04, 0xff, 0xf0, 0xfe, 0xfe, 0xfe,
	    0xfe, 0xfe, 0xfe, 0xfe, 0x0e};
	static const uint8_t v6[] = {0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 1};
	static const uint8_t shortv6[] = {0x07, 0, 0, 0, 0};
	static const uint8_t reserved[] = {0x0a, 0x00};
	static const uint8_t longstr[] = {0x08, 0x05, 'a', 'b'};
	struct spop_data d;
	uint8_t buf[32], *w;
	const uint8_t *r;

	(void)state;
	r = t;
	assert_int_equal(spop_data_get(&r, t + 1, &d), 0);
	assert_int_equal(d.type, SPOP_T_BOOL);
	assert_int_equal(d.v.b, 1);
	r = f;
	assert_int_equal(spop_data_get(&r, f + 1, &d), 0);
	assert_int_equal(d.type, SPOP_T_BOOL);
	assert_int_equal(d.v.b, 0);

	/* Booleans encode the way HAProxy 2.6 does. */
	w = buf;
	d.type = SPOP_T_BOOL;
	d.v.b = 1;
	assert_int_equal(spop_data_put(&w, buf + sizeof(buf), &d), 0);
	assert_int_equal(buf[0], 0x11);

	r = neg;
	assert_int_equal(spop_data_get(&r, neg + sizeof(neg), &d), 0);
	assert_int_equal(d.type, SPOP_T_INT64);
	assert_true(d.v.i == -1);

	r = v6;
	assert_int_equal(spop_data_get(&r, v6 + sizeof(v6), &d), 0);
	assert_int_equal(d.type, SPOP_T_IPV6);
	assert_int_equal(d.v.addr[15], 1);

	r = shortv6;
	assert_int_equal(spop_data_get(&r, shortv6 + sizeof(shortv6), &d),
	    -1);
	r = reserved;
	assert_int_equal(spop_data_get(&r, reserved + sizeof(reserved), &d),
	    -1);

	/* Regression: a string longer than its frame is refused. */
	r = longstr;
	assert_int_equal(spop_data_get(&r, longstr + sizeof(longstr), &d),
	    -1);
	assert_ptr_equal(r, longstr);
}

static void
test_recorded_check_hello(void **state)
{
	struct spop_frame f;
	struct spop_hello h;
	int status = -1;
	ssize_t n;

	(void)state;
	n = spop_frame_parse(rec_check_hello, sizeof(rec_check_hello),
	    SPOP_DEFAULT_FRAME_SIZE, &f, &status);
	assert_int_equal(n, sizeof(rec_check_hello));
	assert_int_equal(f.type, SPOP_FRAME_HAPROXY_HELLO);
	assert_int_equal(f.flags, SPOP_FLAG_FIN);
	assert_int_equal(f.stream_id, 0);
	assert_int_equal(f.frame_id, 0);

	assert_int_equal(spop_hello_parse(&f, &h, &status), 0);
	assert_int_equal(status, SPOP_ST_NORMAL);
	assert_int_equal(h.max_frame_size, 16380);
	assert_int_equal(h.versions_len, 3);
	assert_memory_equal(h.versions, "2.0", 3);
	assert_int_equal(h.capabilities_len, 0);
	assert_int_equal(h.healthcheck, 1);
	assert_null(h.engine_id);
}

static void
test_recorded_hello(void **state)
{
	struct spop_frame f;
	struct spop_hello h;
	int status;

	(void)state;
	assert_int_equal(spop_frame_parse(rec_hello, sizeof(rec_hello),
			     SPOP_DEFAULT_FRAME_SIZE, &f, &status),
	    sizeof(rec_hello));
	assert_int_equal(spop_hello_parse(&f, &h, &status), 0);
	assert_int_equal(h.healthcheck, 0);
	assert_true(spop_list_has(h.capabilities, h.capabilities_len,
	    "pipelining"));
	assert_true(spop_list_has(h.capabilities, h.capabilities_len,
	    "async"));
	assert_false(spop_list_has(h.capabilities, h.capabilities_len,
	    "fragmentation"));
	assert_int_equal(h.engine_id_len, 36);
}

static void
test_recorded_notify(void **state)
{
	const uint8_t *p, *end;
	struct spop_frame f;
	struct spop_msg m;
	struct spop_data v;
	const char *name;
	size_t nlen;
	int status;

	(void)state;
	assert_int_equal(spop_frame_parse(rec_notify, sizeof(rec_notify),
			     SPOP_DEFAULT_FRAME_SIZE, &f, &status),
	    sizeof(rec_notify));
	assert_int_equal(f.type, SPOP_FRAME_NOTIFY);
	assert_int_equal(f.stream_id, 0);
	assert_int_equal(f.frame_id, 1);

	p = f.payload;
	end = f.payload + f.payload_len;
	assert_int_equal(spop_msg_next(&p, end, &m), 1);
	assert_int_equal(m.name_len, 10);
	assert_memory_equal(m.name, "parley-req", 10);
	assert_int_equal(m.nargs, 9);

	p = m.args;
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_int_equal(v.type, SPOP_T_STR);
	assert_memory_equal(v.v.s.ptr, "Mozilla", 7);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_int_equal(v.type, SPOP_T_NULL);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_int_equal(v.type, SPOP_T_NULL);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_memory_equal(v.v.s.ptr, "/foo", 4);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_memory_equal(v.v.s.ptr, "slim=1", 6);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_int_equal(v.type, SPOP_T_IPV4);
	assert_int_equal(v.v.addr[0], 127);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_int_equal(v.type, SPOP_T_INT64);
	assert_int_equal(v.v.i, 1);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_int_equal(v.type, SPOP_T_BOOL);
	assert_int_equal(v.v.b, 1);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 1);
	assert_int_equal(v.v.b, 0);
	assert_int_equal(spop_kv_next(&p, m.args_end, &name, &nlen, &v), 0);
	assert_int_equal(spop_msg_next(&p, end, &m), 0);
}

/* Regression: a frame split anywhere reads as "need more", never more. */
static void
test_truncated_frame(void **state)
{
	struct spop_frame f;
	int status = -1;
	size_t cut;

	(void)state;
	for (cut = 0; cut < sizeof(rec_notify); cut++)
		assert_int_equal(spop_frame_parse(rec_notify, cut,
				     SPOP_DEFAULT_FRAME_SIZE, &f, &status),
		    0);
	assert_int_equal(status, -1);
}

static void
test_bad_lengths(void **state)
{
	static const uint8_t zero[] = {0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
	static const uint8_t small[] = {0, 0, 0, 3, 3, 0, 0};
	static const uint8_t big[] = {0, 0, 0x40, 0x00, 3};
	static const uint8_t crlf[] = {'\r', '\n', 0, 0};
	/* Metadata whose frame-id runs past the frame. */
	static const uint8_t cut_ids[] = {0, 0, 0, 7, 3, 0, 0, 0, 1, 0, 0xf5};
	/* An 11-byte varint as stream-id, inside a frame long enough. */
	static const uint8_t long_id[] = {0, 0, 0, 17, 3, 0, 0, 0, 1, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0};
	struct spop_frame f;
	int status;

	(void)state;
	status = -1;
	assert_int_equal(spop_frame_parse(zero, sizeof(zero), 16380, &f,
			     &status),
	    -1);
	assert_int_equal(status, SPOP_ST_INVALID);

	status = -1;
	assert_int_equal(spop_frame_parse(small, sizeof(small), 16380, &f,
			     &status),
	    -1);
	assert_int_equal(status, SPOP_ST_INVALID);

	/* Refused from the length alone, before the frame arrives. */
	status = -1;
	assert_int_equal(spop_frame_parse(big, sizeof(big), 16380, &f,
			     &status),
	    -1);
	assert_int_equal(status, SPOP_ST_TOO_BIG);

	/* Regression: "\r\n\0\0" is a length of 218759168, not a buffer. */
	status = -1;
	assert_int_equal(spop_frame_parse(crlf, sizeof(crlf), 16380, &f,
			     &status),
	    -1);
	assert_int_equal(status, SPOP_ST_TOO_BIG);

	status = -1;
	assert_int_equal(spop_frame_parse(cut_ids, sizeof(cut_ids), 16380,
			     &f, &status),
	    -1);
	assert_int_equal(status, SPOP_ST_INVALID);

	status = -1;
	assert_int_equal(spop_frame_parse(long_id, sizeof(long_id), 16380,
			     &f, &status),
	    -1);
	assert_int_equal(status, SPOP_ST_INVALID);
}

/* Builds a HELLO frame with the given ids and KV items. */
static size_t
build_hello(uint8_t *buf, size_t size, uint64_t sid, uint64_t fid,
    const char *versions, int with_size, uint32_t mfs, const char *caps)
{
	uint8_t *p = buf, *end = buf + size, *start;

	start = spop_frame_start(&p, end, SPOP_FRAME_HAPROXY_HELLO,
	    SPOP_FLAG_FIN, sid, fid);
	assert_non_null(start);
	if (versions != NULL)
		assert_int_equal(spop_kv_put_str(&p, end, "supported-versions",
				     versions),
		    0);
	if (with_size)
		assert_int_equal(spop_kv_put_uint(&p, end, "max-frame-size",
				     mfs),
		    0);
	if (caps != NULL)
		assert_int_equal(spop_kv_put_str(&p, end, "capabilities",
				     caps),
		    0);
	spop_frame_finish(start, p);
	return p - buf;
}

static int
hello_status(const uint8_t *buf, size_t len)
{
	struct spop_frame f;
	struct spop_hello h;
	int status = -1;

	assert_int_equal(spop_frame_parse(buf, len, 16380, &f, &status),
	    (ssize_t)len);
	spop_hello_parse(&f, &h, &status);
	return status;
}

static void
test_hello_checks(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = build_hello(buf, sizeof(buf), 0, 0, "2.0", 1, 1024, "pipelining");
	assert_int_equal(hello_status(buf, n), SPOP_ST_NORMAL);

	/* Regression: a HELLO with non-zero ids is invalid. */
	n = build_hello(buf, sizeof(buf), 1, 0, "2.0", 1, 1024, "");
	assert_int_equal(hello_status(buf, n), SPOP_ST_INVALID);
	n = build_hello(buf, sizeof(buf), 0, 7, "2.0", 1, 1024, "");
	assert_int_equal(hello_status(buf, n), SPOP_ST_INVALID);

	n = build_hello(buf, sizeof(buf), 0, 0, NULL, 1, 1024, "");
	assert_int_equal(hello_status(buf, n), SPOP_ST_NO_VERSION);
	n = build_hello(buf, sizeof(buf), 0, 0, "2.0", 0, 0, "");
	assert_int_equal(hello_status(buf, n), SPOP_ST_NO_FRAME_SIZE);
	n = build_hello(buf, sizeof(buf), 0, 0, "2.0", 1, 1024, NULL);
	assert_int_equal(hello_status(buf, n), SPOP_ST_NO_CAPABILITIES);
	n = build_hello(buf, sizeof(buf), 0, 0, "1.0, 3.1", 1, 1024, "");
	assert_int_equal(hello_status(buf, n), SPOP_ST_BAD_VERSION);
	n = build_hello(buf, sizeof(buf), 0, 0, " 2.1 , 1.5", 1, 1024, "");
	assert_int_equal(hello_status(buf, n), SPOP_ST_NORMAL);
	n = build_hello(buf, sizeof(buf), 0, 0, "2.0", 1, 255, "");
	assert_int_equal(hello_status(buf, n), SPOP_ST_BAD_FRAME_SIZE);
}

/* Regression: an unknown key in HAPROXY-DISCONNECT is skipped. */
static void
test_disconnect_unknown_key(void **state)
{
	uint8_t buf[256], *p = buf, *end = buf + sizeof(buf), *start;
	struct spop_frame f;
	const char *msg;
	uint32_t st;
	size_t mlen;
	int status;

	(void)state;
	start = spop_frame_start(&p, end, SPOP_FRAME_HAPROXY_DISCONNECT,
	    SPOP_FLAG_FIN, 0, 0);
	assert_int_equal(spop_kv_put_str(&p, end, "x-future", "?"), 0);
	assert_int_equal(spop_kv_put_uint(&p, end, "status-code", 2), 0);
	assert_int_equal(spop_kv_put_str(&p, end, "message", "timeout"), 0);
	spop_frame_finish(start, p);

	assert_int_equal(spop_frame_parse(buf, p - buf, 16380, &f, &status),
	    p - buf);
	assert_int_equal(spop_disconnect_parse(&f, &st, &msg, &mlen), 0);
	assert_int_equal(st, 2);
	assert_int_equal(mlen, 7);
	assert_memory_equal(msg, "timeout", 7);
}

/* The health daemon's side: build a check HELLO, read an AGENT-HELLO. */
static void
test_probe_api(void **state)
{
	uint8_t buf[512];
	struct spop_agent_hello ah;
	struct spop_frame f;
	struct spop_hello h;
	int status;
	ssize_t n;

	(void)state;
	n = spop_build_haproxy_hello(buf, sizeof(buf), 16380, "", 1, NULL);
	assert_true(n > 0);
	/* Byte for byte what HAProxy 2.6's spop-check sends. */
	assert_int_equal(n, sizeof(rec_check_hello));
	assert_memory_equal(buf, rec_check_hello, n);
	assert_int_equal(spop_frame_parse(buf, n, 16380, &f, &status), n);
	assert_int_equal(spop_hello_parse(&f, &h, &status), 0);
	assert_int_equal(h.healthcheck, 1);

	n = spop_build_agent_hello(buf, sizeof(buf), 1024, "pipelining");
	assert_true(n > 0);
	assert_int_equal(spop_frame_parse(buf, n, 16380, &f, &status), n);
	assert_int_equal(spop_agent_hello_parse(&f, 16380, &ah, &status), 0);
	assert_int_equal(ah.max_frame_size, 1024);
	assert_int_equal(spop_agent_hello_parse(&f, 512, &ah, &status), -1);
	assert_int_equal(status, SPOP_ST_BAD_FRAME_SIZE);

	/* Too small a buffer is an error, not an overflow. */
	assert_int_equal(spop_build_agent_hello(buf, 20, 1024, "pipelining"),
	    -1);
}

static void
test_actions(void **state)
{
	uint8_t buf[64], *p = buf;
	struct spop_data v;
	static const uint8_t want[] = {0x01, 0x03, 0x02, 0x05, 'r', 'o', 'u',
	    't', 'e', 0x08, 0x04, 'e', 'd', 'g', 'e'};

	(void)state;
	v.type = SPOP_T_STR;
	v.v.s.ptr = "edge";
	v.v.s.len = 4;
	assert_int_equal(spop_action_set_var(&p, buf + sizeof(buf),
			     SPOP_SCOPE_TXN, "route", 5, &v),
	    0);
	assert_int_equal(p - buf, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	p = buf;
	assert_int_equal(spop_action_set_var(&p, buf + 10, SPOP_SCOPE_TXN,
			     "route", 5, &v),
	    -1);
	assert_ptr_equal(p, buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint_vectors),
		cmocka_unit_test(test_varint_too_long),
		cmocka_unit_test(test_typed_data),
		cmocka_unit_test(test_recorded_check_hello),
		cmocka_unit_test(test_recorded_hello),
		cmocka_unit_test(test_recorded_notify),
		cmocka_unit_test(test_truncated_frame),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_hello_checks),
		cmocka_unit_test(test_disconnect_unknown_key),
		cmocka_unit_test(test_probe_api),
		cmocka_unit_test(test_actions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
