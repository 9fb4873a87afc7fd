/*
 * Unit tests of common/stream.c: every frame type written and read back
 * through mpframe, byte by byte; frames refused for a missing or
 * mistyped field, an overlong or NUL-holding id, an unknown type or
 * part kind, the wrong direction, an empty revoke.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpframe.h"
#include "stream.h"

static int
str_eq(struct stream_str s, const char *want)
{
	if (want == NULL)
		return s.p == NULL;
	return s.p != NULL && s.len == strlen(want) &&
	    memcmp(s.p, want, s.len) == 0;
}

/* The frames one of each type, with their fields. */
static struct stream_msg
sample(int type)
{
	struct stream_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	switch (type) {
	case STREAM_HELLO:
		m.version = 1;
		m.version_min = 1;
		m.name = stream_str("parley-edge edge-a");
		break;
	case STREAM_SUBSCRIBE:
	case STREAM_RESUME:
		m.team = stream_str("T0000000001");
		m.epoch = stream_str(type == STREAM_SUBSCRIBE ? "" :
		    "0011223344556677");
		m.seq = type == STREAM_SUBSCRIBE ? 0 : 41;
		break;
	case STREAM_UNSUBSCRIBE:
		m.team = stream_str("T0000000001");
		break;
	case STREAM_SNAPSHOT:
		m.team = stream_str("T0000000001");
		m.epoch = stream_str("0011223344556677");
		m.seq = 99;
		m.json = stream_str("{\"id\":\"T0000000001\"}");
		break;
	case STREAM_SNAPSHOT_PART:
		m.team = stream_str("T0000000001");
		m.kind = STREAM_PART_MEMBERS;
		m.json = stream_str("[]");
		break;
	case STREAM_SNAPSHOT_END:
		m.team = stream_str("T0000000001");
		m.seq = 99;
		break;
	case STREAM_EVENT:
		m.team = stream_str("T0000000001");
		m.seq = 100;
		m.json = stream_str("{\"type\":\"message\"}");
		break;
	case STREAM_EPHEMERAL:
		m.team = stream_str("T0000000001");
		m.json = stream_str("{\"type\":\"user_typing\"}");
		m.user = stream_str("U0000000002");
		break;
	case STREAM_REVOKE:
		m.team = stream_str("T0000000001");
		m.token = stream_str("tok-id-1");
		break;
	case STREAM_FORWARD:
		m.id = 7;
		m.team = stream_str("");
		m.method = stream_str("chat.postMessage");
		m.args = stream_str("{\"channel\":\"C1\",\"text\":\"hi\"}");
		m.token = stream_str("xoxp-secret");
		break;
	case STREAM_RESULT:
		m.id = 7;
		m.status = 429;
		m.body = stream_str("{\"ok\":false,\"error\":\"ratelimited\"}");
		m.retry_after = 3;
		break;
	case STREAM_KEEPALIVE:
		m.time = 123456789;
		break;
	case STREAM_ERROR:
		m.code = stream_str("unknown_team");
		m.message = stream_str("no such team here");
		m.team = stream_str("T9");
		break;
	}
	return m;
}

static void
assert_same(const struct stream_msg *a, const struct stream_msg *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->version_min, b->version_min);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->retry_after, b->retry_after);
	assert_int_equal(a->time, b->time);
#define SAME(f) \
	assert_true(a->f.p == NULL ? b->f.p == NULL : \
	    (b->f.p != NULL && a->f.len == b->f.len && \
	    memcmp(a->f.p, b->f.p, a->f.len) == 0))
	SAME(name);
	SAME(team);
	SAME(epoch);
	SAME(json);
	SAME(user);
	SAME(token);
	SAME(method);
	SAME(args);
	SAME(body);
	SAME(code);
	SAME(message);
#undef SAME
}

static void
test_roundtrip(void **state)
{
	msgpack_sbuffer sb;
	struct mpframe_dec d;
	const msgpack_object *map;
	struct stream_msg in, out;
	const char *err = NULL;
	size_t i, got = 0;
	int type;
	ssize_t n;

	/* Every type, all in one buffer. */
	msgpack_sbuffer_init(&sb);
	for (type = 1; type <= STREAM_TYPE_MAX; type++) {
		in = sample(type);
		assert_int_equal(stream_msg_write(&sb, &in, &err), 0);
	}

	/* Fed one byte at a time. */
	mpframe_dec_init(&d, STREAM_FRAME_MAX);
	type = 1;
	for (i = 0; i < sb.size;) {
		n = mpframe_decode(&d, sb.data + i, 1, &map);
		assert_true(n >= 0);
		i += (size_t)n;
		if (map == NULL)
			continue;
		in = sample(type);
		assert_int_equal(stream_msg_read(map, STREAM_ANY, &out, &err),
		    0);
		assert_same(&in, &out);
		assert_string_equal(stream_type_name(out.type),
		    stream_type_name(type));
		type++;
		got++;
	}
	assert_int_equal(got, STREAM_TYPE_MAX);
	assert_true(str_eq(out.code, "unknown_team"));
	mpframe_dec_free(&d);
	msgpack_sbuffer_destroy(&sb);
}

/* Packs an arbitrary map frame from key/value text pairs. */
static void
read_raw(const char *const *kv, size_t n, const uint64_t *uints, int dir,
    int want, const char *want_err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked un;
	struct stream_msg m;
	const char *err = NULL;
	size_t start, i;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	start = mpframe_begin(&sb, &pk, (uint32_t)n);
	for (i = 0; i < n; i++) {
		if (kv[2 * i + 1] != NULL)
			mpframe_kv_str(&pk, kv[2 * i], kv[2 * i + 1],
			    strlen(kv[2 * i + 1]) + (kv[2 * i + 1][0] == '@'));
		else
			mpframe_kv_uint(&pk, kv[2 * i], uints[i]);
	}
	assert_int_equal(mpframe_end(&sb, start), 0);
	msgpack_unpacked_init(&un);
	assert_int_equal(mpframe_parse(sb.data, sb.size, STREAM_FRAME_MAX,
	    &un, &err), 0);
	assert_int_equal(stream_msg_read(&un.data, dir, &m, &err), want);
	if (want_err != NULL)
		assert_string_equal(err, want_err);
	msgpack_unpacked_destroy(&un);
	msgpack_sbuffer_destroy(&sb);
}

static void
test_refused(void **state)
{
	uint64_t u[4] = {0, 5, 0, 0};
	static char longid[STREAM_ID_MAX + 2];
	const char *ok[] = {"t", "event", "seq", NULL, "team", "T1", "json",
	    "{}"};
	const char *noseq[] = {"t", "event", "team", "T1", "json", "{}"};
	const char *strseq[] = {"t", "event", "seq", "5", "team", "T1",
	    "json", "{}"};
	const char *empty_json[] = {"t", "event", "seq", NULL, "team", "T1",
	    "json", ""};
	const char *longteam[] = {"t", "event", "seq", NULL, "team", longid,
	    "json", "{}"};
	/* "@" strings are packed with their NUL: an id holding a NUL. */
	const char *nulteam[] = {"t", "event", "seq", NULL, "team", "@T1",
	    "json", "{}"};
	const char *unknown[] = {"t", "gossip"};
	const char *notype[] = {"team", "T1"};
	const char *revoke[] = {"t", "revoke", "team", "T1"};
	const char *revoke_user[] = {"t", "revoke", "team", "T1", "user",
	    "U1"};
	const char *part[] = {"t", "snapshot_part", "team", "T1", "kind", NULL,
	    "json", "[]"};
	const char *forward[] = {"t", "forward", "id", NULL, "team", "",
	    "method", "auth.test", "args", "{}", "token", ""};
	const char *hello[] = {"t", "hello", "v", NULL, "vmin", NULL, "name",
	    "x"};
	uint64_t hu[4] = {0, 1, 2, 0};
	const char *eph[] = {"t", "ephemeral", "team", "T1", "user", "U1",
	    "json", "{}"};
	uint64_t pu[4] = {0, 0, 9, 0};
	uint64_t pu6[4] = {0, 0, 6, 0};
	uint64_t fu[6] = {0, 3, 0, 0, 0, 0};

	memset(longid, 'x', sizeof(longid) - 1);
	read_raw(ok, 4, u, STREAM_FROM_BACKEND, 0, NULL);
	read_raw(ok, 4, u, STREAM_FROM_EDGE, -1,
	    "stream frame sent in the wrong direction");
	read_raw(noseq, 3, u, STREAM_ANY, -1, "stream field missing");
	read_raw(strseq, 4, u, STREAM_ANY, -1,
	    "stream field is not an unsigned integer");
	read_raw(empty_json, 4, u, STREAM_ANY, -1, "stream field empty");
	read_raw(longteam, 4, u, STREAM_ANY, -1, "stream field too long");
	read_raw(nulteam, 4, u, STREAM_ANY, -1,
	    "stream field holds a NUL byte");
	read_raw(unknown, 1, u, STREAM_ANY, -1, "unknown stream frame type");
	read_raw(notype, 1, u, STREAM_ANY, -1, "stream frame has no type");
	read_raw(revoke, 2, u, STREAM_ANY, -1,
	    "revoke names no token and no user");
	read_raw(revoke_user, 3, u, STREAM_ANY, 0, NULL);
	read_raw(part, 4, pu, STREAM_ANY, -1, "unknown snapshot part kind");
	/* the revoked part, and typing or presence from an edge */
	read_raw(part, 4, pu6, STREAM_FROM_BACKEND, 0, NULL);
	read_raw(eph, 4, u, STREAM_FROM_EDGE, 0, NULL);
	read_raw(forward, 6, fu, STREAM_FROM_EDGE, 0, NULL);
	read_raw(forward, 6, fu, STREAM_FROM_BACKEND, -1,
	    "stream frame sent in the wrong direction");
	read_raw(hello, 4, hu, STREAM_ANY, -1, "hello versions out of order");
}

static void
test_write_refused(void **state)
{
	msgpack_sbuffer sb;
	struct stream_msg m;
	const char *err = NULL;
	static char big[STREAM_ID_MAX + 2];

	msgpack_sbuffer_init(&sb);
	memset(&m, 0, sizeof(m));
	m.type = STREAM_EVENT;
	m.seq = 1;
	m.json = stream_str("{}");
	assert_int_equal(stream_msg_write(&sb, &m, &err), -1);
	assert_string_equal(err, "stream field missing");
	memset(big, 'x', sizeof(big) - 1);
	m.team = stream_str(big);
	assert_int_equal(stream_msg_write(&sb, &m, &err), -1);
	assert_string_equal(err, "stream field too long");
	m.type = 99;
	assert_int_equal(stream_msg_write(&sb, &m, &err), -1);
	memset(&m, 0, sizeof(m));
	m.type = STREAM_REVOKE;
	m.team = stream_str("T1");
	assert_int_equal(stream_msg_write(&sb, &m, &err), -1);
	assert_int_equal(sb.size, 0);
	msgpack_sbuffer_destroy(&sb);
	assert_null(stream_type_name(0));
	assert_string_equal(stream_type_name(STREAM_FORWARD), "forward");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_write_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
