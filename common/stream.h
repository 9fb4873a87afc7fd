/*
 * stream: the frames of the edge<->backend stream (docs/stream.md).
 *
 * Every frame is one mpframe map whose key "t" names its type; the other
 * keys depend on the type.  struct stream_msg holds the fields of any
 * type: stream_msg_write() packs those its type uses, stream_msg_read()
 * checks a decoded map (types, presence, lengths, and the direction the
 * frame may travel in) and fills the struct without copying: strings
 * point into the frame and live as long as it does.
 */
#ifndef PARLEY_STREAM_H
#define PARLEY_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define STREAM_VERSION   1
#define STREAM_FRAME_MAX (16 * 1024 * 1024) /* body bytes of one frame */

/* Longest accepted string fields, in bytes. */
#define STREAM_ID_MAX      32   /* team, user, epoch */
#define STREAM_NAME_MAX    128  /* hello name */
#define STREAM_METHOD_MAX  64
#define STREAM_TOKEN_MAX   1024 /* a token, or a token id */
#define STREAM_CODE_MAX    64
#define STREAM_MESSAGE_MAX 1024
#define STREAM_SOURCE_MAX  64   /* forward: the client's address */

enum stream_type {
	STREAM_HELLO = 1,   /* both: versions and peer name */
	STREAM_SUBSCRIBE,   /* edge: team, epoch, seq (last applied) */
	STREAM_UNSUBSCRIBE, /* edge: team */
	STREAM_RESUME,      /* backend: team, epoch, seq; events follow */
	STREAM_SNAPSHOT,    /* backend: team, epoch, seq, json (team) */
	STREAM_SNAPSHOT_PART, /* backend: team, kind, json (array) */
	STREAM_SNAPSHOT_END,  /* backend: team, seq */
	STREAM_EVENT,       /* backend: team, seq, json */
	STREAM_EPHEMERAL,   /* backend: team, json, [user] */
	STREAM_REVOKE,      /* backend: team, token and/or user */
	STREAM_FORWARD,     /* edge: id, team, method, args, token, [source] */
	STREAM_RESULT,      /* backend: id, status, body, [retry_after] */
	STREAM_KEEPALIVE,   /* both: time */
	STREAM_ERROR,       /* both: code, message, [team], [id] */
	STREAM_TYPE_MAX = STREAM_ERROR
};

/* Kinds of snapshot part (same numbers as edge.h's EDGE_SNAP_*). */
enum stream_part {
	STREAM_PART_USERS = 1,
	STREAM_PART_CHANNELS = 2,
	STREAM_PART_MEMBERS = 3,
	STREAM_PART_PRESENCE = 4,
	STREAM_PART_MESSAGES = 5,
	STREAM_PART_REVOKED = 6, /* token ids revoked and not expired */
	STREAM_PART_EVENTS = 7,  /* the events before the snapshot's seq */
	STREAM_PART_MAX = STREAM_PART_EVENTS
};

/* Directions, for stream_msg_read(). */
enum stream_dir {
	STREAM_ANY = 0,
	STREAM_FROM_EDGE = 1,
	STREAM_FROM_BACKEND = 2,
};

/* A string field: p is NULL when the field is absent. */
struct stream_str {
	const char *p;
	size_t len;
};

struct stream_msg {
	int type;
	uint64_t version;     /* hello: highest version spoken */
	uint64_t version_min; /* hello: lowest */
	struct stream_str name;  /* hello */
	struct stream_str team;
	struct stream_str epoch;
	uint64_t seq;
	uint64_t kind;           /* snapshot_part: enum stream_part */
	struct stream_str json;  /* event, ephemeral, snapshot, part */
	struct stream_str user;  /* ephemeral target, revoke */
	struct stream_str token; /* revoke: token id; forward: token */
	uint64_t id;             /* forward, result, error: request id */
	struct stream_str method; /* forward */
	struct stream_str args;   /* forward: JSON object of arguments */
	uint64_t status;          /* result: HTTP status */
	struct stream_str body;   /* result: JSON answer */
	uint64_t retry_after;     /* result: seconds, 0 for none */
	uint64_t time;            /* keepalive: sender's clock, ms */
	struct stream_str code;   /* error */
	struct stream_str message; /* error */
	struct stream_str source;  /* forward: the client's address */
};

/* The name of a type ("event"), or NULL. */
const char *stream_type_name(int type);

/* Sets s to the NUL-terminated C string cs (NULL: absent). */
struct stream_str stream_str(const char *cs);

/*
 * Appends m as one frame to sb.  Returns 0, or -1 with *err set when a
 * field the type needs is missing, a field is longer than its limit, or
 * the frame exceeds STREAM_FRAME_MAX (sb is then left as it was).
 */
int stream_msg_write(msgpack_sbuffer *sb, const struct stream_msg *m,
    const char **err);

/*
 * Reads a decoded frame (from mpframe_decode) sent by dir.  Fills m and
 * returns 0, or returns -1 with *err set to a static reason: not a
 * known type, a type that does not travel in that direction, a missing
 * or mistyped field, a string too long or holding a NUL where an id is
 * expected, a snapshot kind out of range, a revoke naming nothing.
 * Unknown keys are ignored, so that newer peers may add fields.
 */
int stream_msg_read(const msgpack_object *map, int dir, struct stream_msg *m,
    const char **err);

#endif
