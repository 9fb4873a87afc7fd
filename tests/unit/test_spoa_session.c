/*
 * Unit tests of the SPOP session (spoa_session.c): the handshake, health
 * checks, NOTIFY/ACK, frames split at every byte and many in one read,
 * each kind of broken input and the status it gets, and a connection
 * played the way the HAProxy 3.x SPOE speaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spoa-agent/spoa.h"
#include "xmalloc.h"

#define KEYS                                                                \
	"k1 000102030405060708090a0b0c0d0e0f"                                 \
	"101112131415161718191a1b1c1d1e1f\n"

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

struct fixture {
	struct spoa_settings set;
	struct spoa_policy pol;
	struct spoa_stats stats;
	struct spoa_ctx ctx;
	struct spoa_session s;
	struct spoa_obuf out;
};

static int
setup(void **state)
{
	static const char conf[] =
	    "[spoa]\n"
	    "team_rate = 1\nteam_burst = 3\n"
	    "global_rate = 1000\nglobal_burst = 1000\n"
	    "retry_after_base = 2\nretry_after_jitter = 20\n"
	    "[tokens]\nkeys = /nonexistent\n";
	struct fixture *f = xcalloc(1, sizeof(*f));
	char err[CONF_ERRLEN];
	struct token_keys *keys;

	if (conf_load_buffer(&spoa_schema, "test.conf", conf,
		sizeof(conf) - 1, &f->set, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	spoa_policy_init(&f->pol, &f->set);
	keys = token_keys_parse("keys", KEYS, strlen(KEYS), err, sizeof(err));
	assert_non_null(keys);
	spoa_auth_set_keys(keys);
	f->ctx.pol = &f->pol;
	f->ctx.admit = spoa_admit_new(&f->pol);
	f->ctx.stats = &f->stats;
	spoa_session_init(&f->s, &f->ctx);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	spoa_session_free(&f->s);
	spoa_obuf_free(&f->out);
	spoa_admit_free(f->ctx.admit);
	spoa_policy_free(&f->pol);
	conf_free(&spoa_schema, &f->set);
	spoa_auth_cleanup();
	spoa_auth_thread_done();
	free(f);
	return 0;
}

/* A HELLO as HAProxy sends it, with the given capabilities. */
static size_t
put_hello(uint8_t *buf, size_t size, const char *caps, uint32_t mfs,
    int check)
{
	ssize_t n = spop_build_haproxy_hello(buf, size, mfs, caps, check,
	    check ? NULL : "0b5cbc6f-6c63-4c5e-9d3c-2b7f4f6b0e21");

	assert_true(n > 0);
	return n;
}

/* Request arguments, in the order parley-spoe.conf sends them. */
struct args {
	const char *ua, *authz, *cookie, *ticket, *path, *query, *hint;
	const char *upgrade;
};

static void
put_arg(uint8_t **p, uint8_t *end, const char *name, const char *val)
{
	struct spop_data d;

	if (val == NULL) {
		d.type = SPOP_T_NULL;
	} else {
		d.type = SPOP_T_STR;
		d.v.s.ptr = val;
		d.v.s.len = strlen(val);
	}
	assert_int_equal(spop_kv_put(p, end, name, &d), 0);
}

static size_t
put_notify(uint8_t *buf, size_t size, uint64_t sid, uint64_t fid,
    const struct args *a)
{
	uint8_t *p = buf, *end = buf + size, *start;
	struct spop_data src;

	start = spop_frame_start(&p, end, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN,
	    sid, fid);
	assert_non_null(start);
	assert_int_equal(spop_str_put(&p, end, "parley-req", 10), 0);
	*p++ = 9;
	put_arg(&p, end, "ua", a->ua);
	put_arg(&p, end, "authz", a->authz);
	put_arg(&p, end, "cookie", a->cookie);
	put_arg(&p, end, "ticket", a->ticket);
	put_arg(&p, end, "path", a->path ? a->path : "/api/chat.postMessage");
	put_arg(&p, end, "query", a->query);
	put_arg(&p, end, "hint", a->hint);
	put_arg(&p, end, "upgrade", a->upgrade);
	src.type = SPOP_T_IPV4;
	memcpy(src.v.addr, "\x7f\x00\x00\x01", 4);
	assert_int_equal(spop_kv_put(&p, end, "src", &src), 0);
	spop_frame_finish(start, p);
	return p - buf;
}

/* The variables of one ACK. */
struct ack {
	uint64_t sid, fid;
	uint32_t flags;
	size_t len;
	int nactions;
	char route[16], auth[16], team[SPOA_ID_MAX + 1], user[SPOA_ID_MAX + 1];
	char shard[SPOA_ID_MAX + 1];
	int64_t admit, retry_after;
};

/* Reads the frame at *p of out; returns its type. */
static int
next_frame(const struct spoa_obuf *out, size_t *off, struct spop_frame *f)
{
	int status;
	ssize_t n;

	n = spop_frame_parse(out->data + *off, out->len - *off, 65535, f,
	    &status);
	assert_true(n > 0);
	*off += n;
	return f->type;
}

static void
read_ack(const struct spop_frame *f, struct ack *a)
{
	const uint8_t *p = f->payload, *end = f->payload + f->payload_len;
	struct spop_data v;
	const char *name;
	size_t nlen;
	char *dst;

	memset(a, 0, sizeof(*a));
	a->admit = -1;
	assert_int_equal(f->type, SPOP_FRAME_ACK);
	a->sid = f->stream_id;
	a->fid = f->frame_id;
	a->flags = f->flags;
	a->len = f->payload_len;
	while (p < end) {
		assert_true(end - p >= 3);
		assert_int_equal(p[0], SPOP_ACT_SET_VAR);
		assert_int_equal(p[1], 3);
		assert_int_equal(p[2], SPOP_SCOPE_TXN);
		p += 3;
		assert_int_equal(spop_str_get(&p, end, &name, &nlen), 0);
		assert_int_equal(spop_data_get(&p, end, &v), 0);
		a->nactions++;
		dst = NULL;
		if (nlen == 5 && memcmp(name, "route", 5) == 0)
			dst = a->route;
		else if (nlen == 4 && memcmp(name, "auth", 4) == 0)
			dst = a->auth;
		else if (nlen == 4 && memcmp(name, "team", 4) == 0)
			dst = a->team;
		else if (nlen == 4 && memcmp(name, "user", 4) == 0)
			dst = a->user;
		else if (nlen == 5 && memcmp(name, "shard", 5) == 0)
			dst = a->shard;
		else if (nlen == 5 && memcmp(name, "admit", 5) == 0)
			a->admit = v.v.i;
		else if (nlen == 11 && memcmp(name, "retry_after", 11) == 0)
			a->retry_after = v.v.i;
		if (dst != NULL) {
			assert_int_equal(v.type, SPOP_T_STR);
			assert_true(v.v.s.len <= SPOA_ID_MAX);
			memcpy(dst, v.v.s.ptr, v.v.s.len);
			dst[v.v.s.len] = '\0';
		}
	}
}

static int
feed(struct fixture *f, const void *data, size_t len)
{
	return spoa_session_input(&f->s, data, len, &f->out);
}

/* Handshakes with pipelining and a frame size of mfs. */
static void
handshake(struct fixture *f, uint32_t mfs)
{
	uint8_t buf[512];
	size_t n = put_hello(buf, sizeof(buf), "pipelining,async", mfs, 0);

	assert_int_equal(feed(f, buf, n), 0);
	assert_int_equal(f->s.state, SPOA_SESS_READY);
	f->out.len = 0;
}

/* Expects exactly one AGENT-DISCONNECT with status in the output. */
static void
expect_disconnect(struct fixture *f, int rc, uint32_t status)
{
	struct spop_frame fr;
	const char *msg;
	size_t off = 0, mlen;
	uint32_t st;

	assert_int_equal(rc, 1);
	assert_int_equal(f->s.state, SPOA_SESS_CLOSING);
	assert_int_equal(next_frame(&f->out, &off, &fr),
	    SPOP_FRAME_AGENT_DISCONNECT);
	assert_int_equal(fr.stream_id, 0);
	assert_int_equal(fr.frame_id, 0);
	assert_int_equal(spop_disconnect_parse(&fr, &st, &msg, &mlen), 0);
	assert_int_equal(st, status);
	assert_true(mlen > 0);
	assert_int_equal(off, f->out.len);
	assert_null(f->s.hold);
}

/*
 * Guards: a connection stuck after HELLO (a partial frame, or silence)
 * and a stopping agent closed without a word.  spoa_session_goodbye says
 * AGENT-DISCONNECT with the given status once, then nothing more.
 */
static void
test_goodbye(void **state)
{
	struct fixture *f = *state;
	uint8_t part[10] = {0x00, 0x00, 0x3e, 0x80, SPOP_FRAME_NOTIFY};

	handshake(f, 16380);
	/* 10 bytes of a frame announced as 16,000 bytes: held, pending. */
	assert_int_equal(feed(f, part, sizeof(part)), 0);
	assert_true(spoa_session_pending(&f->s));
	assert_int_equal(f->out.len, 0);

	spoa_session_goodbye(&f->s, SPOP_ST_TIMEOUT, "a timeout occurred",
	    &f->out);
	expect_disconnect(f, 1, SPOP_ST_TIMEOUT);
	assert_int_equal(f->stats.errors, 1);

	/* Already closing: nothing more is said. */
	f->out.len = 0;
	spoa_session_goodbye(&f->s, SPOP_ST_NORMAL, "agent is stopping",
	    &f->out);
	assert_int_equal(f->out.len, 0);
	assert_int_equal(feed(f, part, sizeof(part)), 1);
}

static void
test_goodbye_stopping(void **state)
{
	struct fixture *f = *state;
	struct spop_frame fr;
	const char *msg;
	size_t off = 0, mlen;
	uint32_t st;

	handshake(f, 16380);
	spoa_session_goodbye(&f->s, SPOP_ST_NORMAL, "agent is stopping",
	    &f->out);
	assert_int_equal(next_frame(&f->out, &off, &fr),
	    SPOP_FRAME_AGENT_DISCONNECT);
	assert_int_equal(spop_disconnect_parse(&fr, &st, &msg, &mlen), 0);
	assert_int_equal(st, SPOP_ST_NORMAL);
	assert_int_equal(mlen, strlen("agent is stopping"));
	assert_memory_equal(msg, "agent is stopping", mlen);
	assert_int_equal(f->stats.errors, 0);
}

static void
test_healthcheck(void **state)
{
	struct fixture *f = *state;
	struct spop_agent_hello ah;
	struct spop_frame fr;
	size_t off = 0;
	int status;

	assert_int_equal(feed(f, rec_check_hello, sizeof(rec_check_hello)),
	    1);
	assert_int_equal(next_frame(&f->out, &off, &fr),
	    SPOP_FRAME_AGENT_HELLO);
	assert_int_equal(off, f->out.len);
	assert_int_equal(spop_agent_hello_parse(&fr, 16380, &ah, &status), 0);
	assert_int_equal(ah.max_frame_size, 16380);
	assert_int_equal(ah.capabilities_len, 0);
	assert_int_equal(ah.version_len, 3);
	assert_memory_equal(ah.version, "2.0", 3);
	assert_int_equal(f->stats.healthchecks, 1);
	assert_int_equal(f->stats.errors, 0);

	/* Nothing more is read once closing. */
	assert_int_equal(feed(f, rec_check_hello, sizeof(rec_check_hello)),
	    1);
	assert_int_equal(off, f->out.len);
}

static void
test_hello_negotiates(void **state)
{
	struct fixture *f = *state;
	struct spop_agent_hello ah;
	struct spop_frame fr;
	uint8_t buf[512];
	size_t off = 0, n;
	int status;

	/* HAProxy's frame size is smaller than ours: it wins. */
	n = put_hello(buf, sizeof(buf), "pipelining, async,fragmentation",
	    1000, 0);
	assert_int_equal(feed(f, buf, n), 0);
	assert_int_equal(next_frame(&f->out, &off, &fr),
	    SPOP_FRAME_AGENT_HELLO);
	assert_int_equal(spop_agent_hello_parse(&fr, 1000, &ah, &status), 0);
	assert_int_equal(ah.max_frame_size, 1000);
	/* Only what both support: never async nor fragmentation. */
	assert_int_equal(ah.capabilities_len, 10);
	assert_memory_equal(ah.capabilities, "pipelining", 10);
	assert_int_equal(f->s.max_frame_size, 1000);
}

static void
test_notify_ack(void **state)
{
	struct fixture *f = *state;
	struct args a = {.ua = "Mozilla/5.0 (X11; Linux x86_64)"};
	struct spop_frame fr;
	struct ack ack;
	uint8_t buf[1024];
	size_t off = 0, n;

	handshake(f, 16380);
	n = put_notify(buf, sizeof(buf), 42, 7, &a);
	assert_int_equal(feed(f, buf, n), 0);
	next_frame(&f->out, &off, &fr);
	read_ack(&fr, &ack);
	assert_int_equal(off, f->out.len);
	assert_int_equal(ack.sid, 42);
	assert_int_equal(ack.fid, 7);
	assert_int_equal(ack.flags, SPOP_FLAG_FIN);
	assert_string_equal(ack.route, "full");
	assert_string_equal(ack.auth, "none");
	assert_int_equal(ack.admit, 1);
	assert_string_equal(ack.team, "");
}

/* Regression: answers must not depend on how TCP cut the stream. */
static void
test_split_everywhere(void **state)
{
	struct fixture *f = *state;
	struct args a = {.ua = "Android", .query = "x=1"};
	struct spoa_obuf whole = {0};
	uint8_t buf[4096];
	size_t n = 0, cut, i;

	n += put_hello(buf, sizeof(buf), "pipelining", 16380, 0);
	for (i = 0; i < 4; i++)
		n += put_notify(buf + n, sizeof(buf) - n, 1 + 2 * i, 1, &a);

	assert_int_equal(spoa_session_input(&f->s, buf, n, &whole), 0);

	for (cut = 0; cut <= n; cut++) {
		spoa_session_free(&f->s);
		spoa_session_init(&f->s, &f->ctx);
		f->out.len = 0;
		assert_int_equal(feed(f, buf, cut), 0);
		assert_int_equal(feed(f, buf + cut, n - cut), 0);
		assert_int_equal(f->out.len, whole.len);
		assert_memory_equal(f->out.data, whole.data, whole.len);
	}

	/* One byte at a time. */
	spoa_session_free(&f->s);
	spoa_session_init(&f->s, &f->ctx);
	f->out.len = 0;
	for (i = 0; i < n; i++)
		assert_int_equal(feed(f, buf + i, 1), 0);
	assert_int_equal(f->out.len, whole.len);
	assert_memory_equal(f->out.data, whole.data, whole.len);
	assert_false(spoa_session_pending(&f->s));
	spoa_obuf_free(&whole);
}

static void
test_many_in_one_read(void **state)
{
	struct fixture *f = *state;
	struct args a = {.hint = "slim"};
	struct spop_frame fr;
	struct ack ack;
	uint8_t *buf = xmalloc(64 * 1024);
	size_t n = 0, off = 0, i;

	handshake(f, 16380);
	for (i = 0; i < 200; i++)
		n += put_notify(buf + n, 64 * 1024 - n, i + 1, 1, &a);
	assert_int_equal(feed(f, buf, n), 0);
	for (i = 0; i < 200; i++) {
		next_frame(&f->out, &off, &fr);
		read_ack(&fr, &ack);
		assert_int_equal(ack.sid, i + 1);
		assert_string_equal(ack.route, "edge");
	}
	assert_int_equal(off, f->out.len);
	free(buf);
}

static void
test_bad_lengths(void **state)
{
	struct fixture *f = *state;
	static const uint8_t crlf[] = {'\r', '\n', 0, 0};
	static const uint8_t zero[] = {0, 0, 0, 0};
	static const uint8_t small[] = {0, 0, 0, 3, 1, 0, 0};
	static const uint8_t big[] = {0, 0, 0x40, 0x00};

	/* Regression: a length is refused before it is allocated for. */
	expect_disconnect(f, feed(f, crlf, sizeof(crlf)), SPOP_ST_TOO_BIG);

	spoa_session_init(&f->s, &f->ctx);
	f->out.len = 0;
	expect_disconnect(f, feed(f, zero, sizeof(zero)), SPOP_ST_INVALID);

	spoa_session_init(&f->s, &f->ctx);
	f->out.len = 0;
	expect_disconnect(f, feed(f, small, sizeof(small)), SPOP_ST_INVALID);

	/* The length arrives a byte at a time: still refused at byte 4. */
	spoa_session_init(&f->s, &f->ctx);
	f->out.len = 0;
	assert_int_equal(feed(f, big, 2), 0);
	assert_int_equal(feed(f, big + 2, 1), 0);
	expect_disconnect(f, feed(f, big + 3, 1), SPOP_ST_TOO_BIG);
	assert_int_equal(f->stats.errors, 4);
}

static void
test_above_negotiated_size(void **state)
{
	struct fixture *f = *state;
	struct args a = {.ua = "a long user agent string, repeated so that "
			       "the frame is longer than 256 bytes: "
			       "0123456789012345678901234567890123456789"
			       "0123456789012345678901234567890123456789"
			       "0123456789012345678901234567890123456789"
			       "0123456789012345678901234567890123456789"};
	uint8_t buf[1024];
	size_t n;

	handshake(f, 256);
	n = put_notify(buf, sizeof(buf), 1, 1, &a);
	assert_true(n > 260);
	expect_disconnect(f, feed(f, buf, n), SPOP_ST_TOO_BIG);
}

static void
test_truncated_then_eof(void **state)
{
	struct fixture *f = *state;
	struct args a = {0};
	uint8_t buf[512];
	size_t n;

	handshake(f, 16380);
	n = put_notify(buf, sizeof(buf), 1, 1, &a);
	assert_int_equal(feed(f, buf, n - 3), 0);
	assert_int_equal(f->out.len, 0);
	assert_true(spoa_session_pending(&f->s));
	/* The held frame is exactly as large as its length says. */
	assert_int_equal(f->s.hold_need, n);
}

static void
test_long_varint(void **state)
{
	struct fixture *f = *state;
	/* NOTIFY whose stream-id is an 11-byte varint. */
	static const uint8_t fr[] = {0, 0, 0, 18, 3, 0, 0, 0, 1, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0};

	handshake(f, 16380);
	expect_disconnect(f, feed(f, fr, sizeof(fr)), SPOP_ST_INVALID);
}

static void
test_string_past_frame(void **state)
{
	struct fixture *f = *state;
	/* NOTIFY with a message name that claims 100 bytes. */
	static const uint8_t fr[] = {0, 0, 0, 10, 3, 0, 0, 0, 1, 1, 1, 100,
	    'a', 'b'};

	handshake(f, 16380);
	expect_disconnect(f, feed(f, fr, sizeof(fr)), SPOP_ST_INVALID);
}

static void
test_unknown_frame_type(void **state)
{
	struct fixture *f = *state;
	static const uint8_t fr[] = {0, 0, 0, 7, 42, 0, 0, 0, 1, 0, 0};

	/* Before the handshake: not a HELLO, invalid. */
	expect_disconnect(f, feed(f, fr, sizeof(fr)), SPOP_ST_INVALID);

	/* After: skipped, as SPOE.txt allows, and the session goes on. */
	spoa_session_init(&f->s, &f->ctx);
	f->out.len = 0;
	handshake(f, 16380);
	assert_int_equal(feed(f, fr, sizeof(fr)), 0);
	assert_int_equal(f->out.len, 0);
	assert_int_equal(f->s.state, SPOA_SESS_READY);
	assert_int_equal(f->stats.skipped_frames, 1);
}

static void
test_hello_with_ids(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256], *p = buf, *end = buf + sizeof(buf), *start;

	start = spop_frame_start(&p, end, SPOP_FRAME_HAPROXY_HELLO,
	    SPOP_FLAG_FIN, 3, 1);
	spop_kv_put_str(&p, end, "supported-versions", "2.0");
	spop_kv_put_uint(&p, end, "max-frame-size", 16380);
	spop_kv_put_str(&p, end, "capabilities", "");
	spop_frame_finish(start, p);
	expect_disconnect(f, feed(f, buf, p - buf), SPOP_ST_INVALID);
}

static void
test_hello_missing_version(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256], *p = buf, *end = buf + sizeof(buf), *start;

	start = spop_frame_start(&p, end, SPOP_FRAME_HAPROXY_HELLO,
	    SPOP_FLAG_FIN, 0, 0);
	spop_kv_put_str(&p, end, "supported-versions", "1.0");
	spop_kv_put_uint(&p, end, "max-frame-size", 16380);
	spop_kv_put_str(&p, end, "capabilities", "");
	spop_frame_finish(start, p);
	expect_disconnect(f, feed(f, buf, p - buf), SPOP_ST_BAD_VERSION);
}

static void
test_disconnect_unknown_key(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256], *p = buf, *end = buf + sizeof(buf), *start;

	handshake(f, 16380);
	start = spop_frame_start(&p, end, SPOP_FRAME_HAPROXY_DISCONNECT,
	    SPOP_FLAG_FIN, 0, 0);
	spop_kv_put_uint(&p, end, "status-code", 0);
	spop_kv_put_str(&p, end, "reason-of-the-future", "x");
	spop_kv_put_str(&p, end, "message", "normal");
	spop_frame_finish(start, p);
	expect_disconnect(f, feed(f, buf, p - buf), SPOP_ST_NORMAL);
	assert_int_equal(f->stats.haproxy_disconnects, 1);
	assert_int_equal(f->stats.errors, 0);
}

static void
test_fragment_refused(void **state)
{
	struct fixture *f = *state;
	struct args a = {0};
	uint8_t buf[512];
	size_t n;

	handshake(f, 16380);
	n = put_notify(buf, sizeof(buf), 1, 1, &a);
	buf[8] = 0; /* clear FIN */
	expect_disconnect(f, feed(f, buf, n), SPOP_ST_FRAG_NOT_SUPPORTED);
}

/* Regression: an argument of another type must not be read as text. */
static void
test_unexpected_arg_type(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256], *p = buf, *end = buf + sizeof(buf), *start;
	struct spop_data v;
	struct spop_frame fr;
	struct ack ack;
	size_t off = 0;

	handshake(f, 16380);
	start = spop_frame_start(&p, end, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 5,
	    1);
	spop_str_put(&p, end, "parley-req", 10);
	*p++ = 2;
	v.type = SPOP_T_INT64;
	v.v.i = 12345;
	spop_kv_put(&p, end, "hint", &v);
	v.type = SPOP_T_BOOL;
	v.v.b = 1;
	spop_kv_put(&p, end, "authz", &v);
	spop_frame_finish(start, p);

	assert_int_equal(feed(f, buf, p - buf), 0);
	next_frame(&f->out, &off, &fr);
	read_ack(&fr, &ack);
	assert_string_equal(ack.route, "full");
	assert_string_equal(ack.auth, "none");
	assert_int_equal(f->stats.bad_args, 2);
}

/* A NOTIFY without a message this agent knows still gets one action. */
static void
test_empty_notify(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[64], *p = buf, *start;
	struct spop_frame fr;
	size_t off = 0;

	handshake(f, 16380);
	start = spop_frame_start(&p, buf + sizeof(buf), SPOP_FRAME_NOTIFY,
	    SPOP_FLAG_FIN, 9, 2);
	spop_frame_finish(start, p);
	assert_int_equal(feed(f, buf, p - buf), 0);
	next_frame(&f->out, &off, &fr);
	assert_int_equal(fr.type, SPOP_FRAME_ACK);
	assert_int_equal(fr.stream_id, 9);
	assert_int_equal(fr.frame_id, 2);
	assert_true(fr.payload_len > 0);
	assert_int_equal(fr.payload[0], SPOP_ACT_UNSET_VAR);
}

static void
mint(char *out, enum token_kind kind, const char *team, const char *user,
    uint64_t exp)
{
	char err[256];
	struct token_keys *k;

	k = token_keys_parse("keys", KEYS, strlen(KEYS), err, sizeof(err));
	assert_non_null(k);
	assert_true(token_mint_exp(k, kind, team, user, "abc123", exp, out,
			TOKEN_MAX_LEN) > 0);
	token_keys_free(k);
}

static void
decide_one(struct fixture *f, const struct args *a, struct ack *ack)
{
	struct spop_frame fr;
	uint8_t buf[2048];
	size_t off = 0, n;

	f->out.len = 0;
	n = put_notify(buf, sizeof(buf), 1, 1, a);
	assert_int_equal(feed(f, buf, n), 0);
	next_frame(&f->out, &off, &fr);
	read_ack(&fr, ack);
	assert_true(ack->nactions >= 1);
}

static void
test_decide_route(void **state)
{
	struct fixture *f = *state;
	struct ack ack;

	handshake(f, 16380);
	decide_one(f, &(struct args){.ua = "Mozilla/5.0 (Windows NT 10.0)"},
	    &ack);
	assert_string_equal(ack.route, "full");
	decide_one(f,
	    &(struct args){.ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"},
	    &ack);
	assert_string_equal(ack.route, "edge");
	decide_one(f, &(struct args){.ua = "Mozilla", .hint = "slim"}, &ack);
	assert_string_equal(ack.route, "edge");
	decide_one(f, &(struct args){.ua = "Mozilla", .query = "a=b&slim=1"},
	    &ack);
	assert_string_equal(ack.route, "edge");
	decide_one(f, &(struct args){.ua = "Mozilla", .query = "slim=10"},
	    &ack);
	assert_string_equal(ack.route, "full");
	/* An explicit full hint wins over a mobile user agent. */
	decide_one(f, &(struct args){.ua = "Android", .hint = "full"}, &ack);
	assert_string_equal(ack.route, "full");
}

static void
test_decide_auth(void **state)
{
	struct fixture *f = *state;
	char tok[TOKEN_MAX_LEN], bearer[TOKEN_MAX_LEN + 16];
	char tick[TOKEN_MAX_LEN], forged[TOKEN_MAX_LEN];
	struct ack ack;

	handshake(f, 16380);
	mint(tok, TOKEN_USER, "T123", "U456", 0);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
	decide_one(f, &(struct args){.authz = bearer}, &ack);
	assert_string_equal(ack.auth, "ok");
	assert_string_equal(ack.team, "T123");
	assert_string_equal(ack.user, "U456");

	decide_one(f, &(struct args){.cookie = tok}, &ack);
	assert_string_equal(ack.auth, "ok");
	assert_string_equal(ack.team, "T123");

	/* Forged: the last character of the MAC changed. */
	snprintf(forged, sizeof(forged), "%s", tok);
	forged[strlen(forged) - 1] ^= 1;
	decide_one(f, &(struct args){.cookie = forged}, &ack);
	assert_string_equal(ack.auth, "invalid");
	assert_string_equal(ack.team, "");

	/* Expired long ago. */
	mint(tok, TOKEN_USER, "T123", "U456", 1000);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
	decide_one(f, &(struct args){.authz = bearer}, &ack);
	assert_string_equal(ack.auth, "expired");

	/* A ticket is good in the URL only, a token anywhere else. */
	mint(tick, TOKEN_TICKET, "T9", "U9", 0);
	decide_one(f, &(struct args){.ticket = tick}, &ack);
	assert_string_equal(ack.auth, "ok");
	assert_string_equal(ack.team, "T9");
	decide_one(f, &(struct args){.cookie = tick}, &ack);
	assert_string_equal(ack.auth, "invalid");
	mint(tok, TOKEN_USER, "T9", "U9", 0);
	decide_one(f, &(struct args){.ticket = tok}, &ack);
	assert_string_equal(ack.auth, "invalid");

	/* Paths that need no token are not checked. */
	decide_one(f, &(struct args){.cookie = forged,
			  .path = "/api/api.test"},
	    &ack);
	assert_string_equal(ack.auth, "none");
	/* Basic auth is not a token. */
	decide_one(f, &(struct args){.authz = "Basic dXNlcjpwdw=="}, &ack);
	assert_string_equal(ack.auth, "none");
}

/*
 * shard: the team's shard for a verified full client (the map file's,
 * else the hash's), nothing for slim clients, unverified requests or
 * without a shard map.
 */
static void
test_decide_shard(void **state)
{
	static const char conf[] =
	    "[shard s1]\nhttp = 127.0.0.1:1\n[shard s2]\nhttp = 127.0.0.1:2\n"
	    "[shards]\nmap = teams.map\n";
	static const char map[] = "T1 s2 one\nT2 s1 two\n";
	struct fixture *f = *state;
	char tok[TOKEN_MAX_LEN], bearer[TOKEN_MAX_LEN + 16];
	char err[CONF_ERRLEN];
	struct shard_map *m;
	struct ack ack;

	handshake(f, 16380);
	mint(tok, TOKEN_USER, "T1", "U1", 0);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
	decide_one(f, &(struct args){.authz = bearer}, &ack);
	assert_string_equal(ack.shard, "");

	m = shard_map_load_buffer("/p/parley.conf", conf, sizeof(conf) - 1,
	    map, sizeof(map) - 1, 0, err, sizeof(err));
	assert_non_null(m);
	spoa_shard_set(m);
	decide_one(f, &(struct args){.authz = bearer}, &ack);
	assert_string_equal(ack.auth, "ok");
	assert_string_equal(ack.shard, "s2");
	mint(tok, TOKEN_TICKET, "T2", "U1", 0);
	decide_one(f, &(struct args){.ticket = tok}, &ack);
	assert_string_equal(ack.shard, "s1");
	/* An unlisted team: the hash, one of the two. */
	mint(tok, TOKEN_USER, "T3NOTLISTED", "U1", 0);
	decide_one(f, &(struct args){.cookie = tok}, &ack);
	assert_true(strcmp(ack.shard, "s1") == 0 ||
	    strcmp(ack.shard, "s2") == 0);
	/* Slim clients and unverified requests carry none. */
	decide_one(f, &(struct args){.authz = bearer, .hint = "slim"}, &ack);
	assert_string_equal(ack.route, "edge");
	assert_string_equal(ack.shard, "");
	decide_one(f, &(struct args){.authz = "Bearer xoxp.k1.T1.U1.x.0.AAAA"},
	    &ack);
	assert_string_equal(ack.auth, "invalid");
	assert_string_equal(ack.shard, "");
	spoa_shard_cleanup();
}

static void
test_decide_admit(void **state)
{
	struct fixture *f = *state;
	char tok[TOKEN_MAX_LEN], other[TOKEN_MAX_LEN];
	int deferred = 0, i, seen[64] = {0}, distinct = 0;
	struct ack ack;

	handshake(f, 16380);
	mint(tok, TOKEN_USER, "T1", "U1", 0);
	mint(other, TOKEN_USER, "T2", "U1", 0);

	/* Non-boot calls are never counted. */
	for (i = 0; i < 20; i++) {
		decide_one(f, &(struct args){.cookie = tok}, &ack);
		assert_int_equal(ack.admit, 1);
	}

	/* A burst of 3 WebSocket opens passes, then deferrals. */
	for (i = 0; i < 200; i++) {
		decide_one(f,
		    &(struct args){.cookie = tok, .upgrade = "websocket"},
		    &ack);
		if (ack.admit == 0) {
			deferred++;
			assert_true(ack.retry_after >= 2 &&
			    ack.retry_after <= 22);
			if (!seen[ack.retry_after]++)
				distinct++;
		} else {
			assert_int_equal(ack.retry_after, 0);
		}
	}
	assert_true(deferred >= 196);
	assert_true(distinct >= 5);

	/* Another team has its own bucket. */
	decide_one(f,
	    &(struct args){.cookie = other, .path = "/api/rtm.connect"},
	    &ack);
	assert_int_equal(ack.admit, 1);
}

/* The ACK fits the negotiated size even with the longest ids. */
static void
test_ack_in_bounds(void **state)
{
	struct fixture *f = *state;
	char tok[TOKEN_MAX_LEN];
	struct spop_frame fr;
	struct ack ack;
	uint8_t buf[2048];
	size_t off = 0, n;

	handshake(f, 256);
	mint(tok, TOKEN_USER, "T12345678901234567890",
	    "U12345678901234567890", 0);
	n = put_notify(buf, sizeof(buf), 1, 1,
	    &(struct args){.cookie = tok, .upgrade = "websocket"});
	assert_true(n <= 256 + 4);
	assert_int_equal(feed(f, buf, n), 0);
	next_frame(&f->out, &off, &fr);
	assert_true(fr.payload - f->out.data + fr.payload_len <= 256 + 4);
	read_ack(&fr, &ack);
	assert_string_equal(ack.team, "T12345678901234567890");
}

/*
 * A connection as the HAProxy 3.x SPOE opens it: HELLO with pipelining
 * only, odd stream-ids growing on the connection, frame-ids counting
 * per stream, several NOTIFYs in flight before any ACK is read, no
 * fragments.  Every ACK must name its NOTIFY, carry FIN and at least
 * one action, and fit the negotiated size.
 */
static void
test_haproxy3_play(void **state)
{
	struct fixture *f = *state;
	static const char *uas[] = {"Mozilla/5.0 (X11)", "Android 14",
	    "curl/8.0", "ParleyMobile/1.0"};
	uint8_t *buf = xmalloc(32768);
	struct spop_agent_hello ah;
	struct spop_frame fr;
	struct ack ack;
	uint64_t sids[64], fids[64];
	size_t n = 0, off = 0, i, k = 0;
	int status;
	uint32_t mfs;

	n = put_hello(buf, 32768, "pipelining", 16380, 0);
	for (i = 0; i < 32; i++) {
		/* Streams 1, 3, 5...; each stream sends two events. */
		uint64_t sid = 1 + 2 * (i / 2), fid = 1 + i % 2;
		struct args a = {.ua = uas[i % 4],
		    .path = i % 3 ? "/api/conversations.history"
				  : "/api/rtm.connect"};

		sids[k] = sid;
		fids[k++] = fid;
		n += put_notify(buf + n, 32768 - n, sid, fid, &a);
	}
	assert_int_equal(feed(f, buf, n), 0);

	next_frame(&f->out, &off, &fr);
	assert_int_equal(spop_agent_hello_parse(&fr, 16380, &ah, &status), 0);
	assert_memory_equal(ah.capabilities, "pipelining", 10);
	mfs = ah.max_frame_size;

	for (i = 0; i < k; i++) {
		size_t start = off;

		next_frame(&f->out, &off, &fr);
		read_ack(&fr, &ack);
		assert_int_equal(ack.sid, sids[i]);
		assert_int_equal(ack.fid, fids[i]);
		assert_int_equal(ack.flags & SPOP_FLAG_FIN, SPOP_FLAG_FIN);
		assert_true(ack.nactions >= 1);
		assert_true(off - start - 4 <= mfs);
		assert_string_equal(ack.route, i % 4 == 1 || i % 4 == 3
			? "edge"
			: "full");
	}
	assert_int_equal(off, f->out.len);
	assert_int_equal(f->stats.errors, 0);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_healthcheck, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hello_negotiates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_notify_ack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_split_everywhere, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_many_in_one_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_lengths, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_above_negotiated_size,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_then_eof, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_varint, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_string_past_frame, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_frame_type, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hello_with_ids, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hello_missing_version,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_unknown_key,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragment_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unexpected_arg_type, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty_notify, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_decide_route, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_decide_auth, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_decide_shard, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_decide_admit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ack_in_bounds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_goodbye, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_goodbye_stopping, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_haproxy3_play, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
