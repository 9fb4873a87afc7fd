/*
 * stream: frames of the edge<->backend stream (see stream.h and
 * docs/stream.md).
 *
 * One table says, for every frame type, who may send it and which
 * fields it must and may carry; another says each field's key, msgpack
 * type and longest length.  Writing and reading both follow the tables,
 * so the two sides cannot disagree about a frame's shape.
 */
#include <stddef.h>
#include <string.h>

#include "mpframe.h"
#include "stream.h"

#define STREAM_KEYS_MAX 64 /* keys in one frame map */

enum {
	F_VERSION,
	F_VMIN,
	F_NAME,
	F_TEAM,
	F_EPOCH,
	F_SEQ,
	F_KIND,
	F_JSON,
	F_USER,
	F_TOKEN,
	F_ID,
	F_METHOD,
	F_ARGS,
	F_STATUS,
	F_BODY,
	F_RETRY,
	F_TIME,
	F_CODE,
	F_MESSAGE,
	F_SOURCE,
	F_COUNT
};

#define B(f) (1u << (f))

/* String flags. */
#define S_TEXT     1 /* any bytes */
#define S_ID       2 /* no NUL byte */
#define S_NONEMPTY 4 /* not "" */

static const struct stream_field {
	const char *key;
	int str; /* 0: unsigned integer; else S_* flags */
	size_t max;
	size_t off;
} stream_fields[F_COUNT] = {
    [F_VERSION] = {"v", 0, 0, offsetof(struct stream_msg, version)},
    [F_VMIN] = {"vmin", 0, 0, offsetof(struct stream_msg, version_min)},
    [F_NAME] = {"name", S_ID, STREAM_NAME_MAX,
	offsetof(struct stream_msg, name)},
    [F_TEAM] = {"team", S_ID, STREAM_ID_MAX,
	offsetof(struct stream_msg, team)},
    [F_EPOCH] = {"epoch", S_ID, STREAM_ID_MAX,
	offsetof(struct stream_msg, epoch)},
    [F_SEQ] = {"seq", 0, 0, offsetof(struct stream_msg, seq)},
    [F_KIND] = {"kind", 0, 0, offsetof(struct stream_msg, kind)},
    [F_JSON] = {"json", S_TEXT | S_NONEMPTY, STREAM_FRAME_MAX,
	offsetof(struct stream_msg, json)},
    [F_USER] = {"user", S_ID | S_NONEMPTY, STREAM_ID_MAX,
	offsetof(struct stream_msg, user)},
    [F_TOKEN] = {"token", S_ID, STREAM_TOKEN_MAX,
	offsetof(struct stream_msg, token)},
    [F_ID] = {"id", 0, 0, offsetof(struct stream_msg, id)},
    [F_METHOD] = {"method", S_ID | S_NONEMPTY, STREAM_METHOD_MAX,
	offsetof(struct stream_msg, method)},
    [F_ARGS] = {"args", S_TEXT, STREAM_FRAME_MAX,
	offsetof(struct stream_msg, args)},
    [F_STATUS] = {"status", 0, 0, offsetof(struct stream_msg, status)},
    [F_BODY] = {"body", S_TEXT, STREAM_FRAME_MAX,
	offsetof(struct stream_msg, body)},
    [F_RETRY] = {"retry_after", 0, 0,
	offsetof(struct stream_msg, retry_after)},
    [F_TIME] = {"time", 0, 0, offsetof(struct stream_msg, time)},
    [F_CODE] = {"code", S_ID | S_NONEMPTY, STREAM_CODE_MAX,
	offsetof(struct stream_msg, code)},
    [F_MESSAGE] = {"message", S_TEXT, STREAM_MESSAGE_MAX,
	offsetof(struct stream_msg, message)},
    [F_SOURCE] = {"source", S_ID | S_NONEMPTY, STREAM_SOURCE_MAX,
	offsetof(struct stream_msg, source)},
};

#define D_EDGE    STREAM_FROM_EDGE
#define D_BACKEND STREAM_FROM_BACKEND
#define D_BOTH    (STREAM_FROM_EDGE | STREAM_FROM_BACKEND)

static const struct stream_kind {
	const char *name;
	int from;
	uint32_t need;
	uint32_t may;
} stream_types[STREAM_TYPE_MAX + 1] = {
    [STREAM_HELLO] = {"hello", D_BOTH, B(F_VERSION) | B(F_VMIN) |
	B(F_NAME), 0},
    [STREAM_SUBSCRIBE] = {"subscribe", D_EDGE, B(F_TEAM) | B(F_EPOCH) |
	B(F_SEQ), 0},
    [STREAM_UNSUBSCRIBE] = {"unsubscribe", D_EDGE, B(F_TEAM), 0},
    [STREAM_RESUME] = {"resume", D_BACKEND, B(F_TEAM) | B(F_EPOCH) |
	B(F_SEQ), 0},
    [STREAM_SNAPSHOT] = {"snapshot", D_BACKEND, B(F_TEAM) | B(F_EPOCH) |
	B(F_SEQ) | B(F_JSON), 0},
    [STREAM_SNAPSHOT_PART] = {"snapshot_part", D_BACKEND, B(F_TEAM) |
	B(F_KIND) | B(F_JSON), 0},
    [STREAM_SNAPSHOT_END] = {"snapshot_end", D_BACKEND, B(F_TEAM) |
	B(F_SEQ), 0},
    [STREAM_EVENT] = {"event", D_BACKEND, B(F_TEAM) | B(F_SEQ) | B(F_JSON),
	0},
    [STREAM_EPHEMERAL] = {"ephemeral", D_BOTH, B(F_TEAM) | B(F_JSON),
	B(F_USER)},
    [STREAM_REVOKE] = {"revoke", D_BACKEND, B(F_TEAM), B(F_USER) |
	B(F_TOKEN)},
    [STREAM_FORWARD] = {"forward", D_EDGE, B(F_ID) | B(F_TEAM) |
	B(F_METHOD) | B(F_ARGS) | B(F_TOKEN), B(F_SOURCE)},
    [STREAM_RESULT] = {"result", D_BACKEND, B(F_ID) | B(F_STATUS) |
	B(F_BODY), B(F_RETRY)},
    [STREAM_KEEPALIVE] = {"keepalive", D_BOTH, B(F_TIME), 0},
    [STREAM_ERROR] = {"error", D_BOTH, B(F_CODE) | B(F_MESSAGE),
	B(F_TEAM) | B(F_ID)},
};

const char *
stream_type_name(int type)
{
	if (type < 1 || type > STREAM_TYPE_MAX)
		return NULL;
	return stream_types[type].name;
}

struct stream_str
stream_str(const char *cs)
{
	struct stream_str s = {cs, cs != NULL ? strlen(cs) : 0};

	return s;
}

static const struct stream_str *
field_str(const struct stream_msg *m, int f)
{
	return (const struct stream_str *)((const char *)m +
	    stream_fields[f].off);
}

static const uint64_t *
field_uint(const struct stream_msg *m, int f)
{
	return (const uint64_t *)((const char *)m + stream_fields[f].off);
}

/* Whether field f of m is there to be written. */
static int
field_present(const struct stream_msg *m, int f)
{
	if (stream_fields[f].str)
		return field_str(m, f)->p != NULL;
	return *field_uint(m, f) != 0;
}

/* Checks a string value against field f's rules; NULL if fine. */
static const char *
field_check_str(int f, const char *p, size_t len)
{
	const struct stream_field *fd = &stream_fields[f];

	if (len > fd->max)
		return "stream field too long";
	if ((fd->str & S_NONEMPTY) && len == 0)
		return "stream field empty";
	if ((fd->str & S_ID) && memchr(p, '\0', len) != NULL)
		return "stream field holds a NUL byte";
	return NULL;
}

int
stream_msg_write(msgpack_sbuffer *sb, const struct stream_msg *m,
    const char **err)
{
	const struct stream_kind *k;
	const struct stream_str *s;
	msgpack_packer pk;
	size_t start, before = sb->size;
	uint32_t n = 1, mask;
	int f;

	if (m->type < 1 || m->type > STREAM_TYPE_MAX) {
		*err = "unknown stream frame type";
		return -1;
	}
	k = &stream_types[m->type];

	/* Check everything before packing anything. */
	mask = k->need;
	for (f = 0; f < F_COUNT; f++) {
		if (!(k->may & B(f)) || !field_present(m, f))
			continue;
		mask |= B(f);
	}
	for (f = 0; f < F_COUNT; f++) {
		if (!(mask & B(f)))
			continue;
		n++;
		if (!stream_fields[f].str)
			continue;
		s = field_str(m, f);
		if (s->p == NULL) {
			*err = "stream field missing";
			return -1;
		}
		if ((*err = field_check_str(f, s->p, s->len)) != NULL)
			return -1;
	}
	if (m->type == STREAM_REVOKE && m->user.p == NULL &&
	    m->token.p == NULL) {
		*err = "revoke names no token and no user";
		return -1;
	}

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	start = mpframe_begin(sb, &pk, n);
	mpframe_kv_cstr(&pk, "t", k->name);
	for (f = 0; f < F_COUNT; f++) {
		if (!(mask & B(f)))
			continue;
		if (stream_fields[f].str) {
			s = field_str(m, f);
			mpframe_kv_str(&pk, stream_fields[f].key, s->p, s->len);
		} else {
			mpframe_kv_uint(&pk, stream_fields[f].key,
			    *field_uint(m, f));
		}
	}
	if (sb->size - start - MPFRAME_HDR > STREAM_FRAME_MAX ||
	    mpframe_end(sb, start) == -1) {
		sb->size = before;
		*err = "stream frame too large";
		return -1;
	}
	return 0;
}

int
stream_msg_read(const msgpack_object *map, int dir, struct stream_msg *m,
    const char **err)
{
	const struct stream_kind *k = NULL;
	const msgpack_object *v;
	struct stream_str *s;
	const char *t;
	size_t tlen;
	int type, f;

	memset(m, 0, sizeof(*m));
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP) {
		*err = "stream frame is not a map";
		return -1;
	}
	if (map->via.map.size > STREAM_KEYS_MAX) {
		*err = "stream frame has too many keys";
		return -1;
	}
	if (mpframe_get_str(map, "t", &t, &tlen) == -1) {
		*err = "stream frame has no type";
		return -1;
	}
	for (type = 1; type <= STREAM_TYPE_MAX; type++) {
		if (strlen(stream_types[type].name) == tlen &&
		    memcmp(stream_types[type].name, t, tlen) == 0) {
			k = &stream_types[type];
			break;
		}
	}
	if (k == NULL) {
		*err = "unknown stream frame type";
		return -1;
	}
	if (dir != STREAM_ANY && !(k->from & dir)) {
		*err = "stream frame sent in the wrong direction";
		return -1;
	}
	m->type = type;

	for (f = 0; f < F_COUNT; f++) {
		if (!((k->need | k->may) & B(f)))
			continue;
		v = mpframe_get(map, stream_fields[f].key);
		if (v == NULL) {
			if (k->need & B(f)) {
				*err = "stream field missing";
				return -1;
			}
			continue;
		}
		if (!stream_fields[f].str) {
			if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
				*err = "stream field is not an unsigned "
				    "integer";
				return -1;
			}
			*(uint64_t *)((char *)m + stream_fields[f].off) =
			    v->via.u64;
			continue;
		}
		if (v->type != MSGPACK_OBJECT_STR) {
			*err = "stream field is not a string";
			return -1;
		}
		if ((*err = field_check_str(f, v->via.str.ptr,
		    v->via.str.size)) != NULL)
			return -1;
		s = (struct stream_str *)((char *)m + stream_fields[f].off);
		s->p = v->via.str.size > 0 ? v->via.str.ptr : "";
		s->len = v->via.str.size;
	}

	if (type == STREAM_SNAPSHOT_PART &&
	    (m->kind < STREAM_PART_USERS || m->kind > STREAM_PART_MAX)) {
		*err = "unknown snapshot part kind";
		return -1;
	}
	if (type == STREAM_REVOKE && m->user.p == NULL && m->token.p == NULL) {
		*err = "revoke names no token and no user";
		return -1;
	}
	if (type == STREAM_HELLO && m->version_min > m->version) {
		*err = "hello versions out of order";
		return -1;
	}
	return 0;
}
