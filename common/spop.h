/*
 * spop: a codec for SPOP 2.0, the protocol between HAProxy's SPOE filter
 * and its agents (HAProxy doc/SPOE.txt, section 3).
 *
 * On the wire every frame is
 *
 *   <LENGTH:4 bytes, big endian> <TYPE:1> <FLAGS:4> <STREAM-ID:varint>
 *   <FRAME-ID:varint> <PAYLOAD>
 *
 * and the payload is a key/value list (HELLO, DISCONNECT), a list of
 * messages (NOTIFY) or a list of actions (ACK).
 *
 * Decoding never allocates and never reads past the end it is given:
 * every reader takes a cursor (const uint8_t **p) and the end of the
 * enclosing frame, advances the cursor on success and returns -1 when
 * the input is malformed (a varint longer than 10 bytes, a string or
 * address running past the end, an unknown data type).  Decoded strings
 * point into the caller's buffer.
 *
 * Encoding uses cursor encoders (uint8_t **p, uint8_t *end) that return
 * 0, or -1 when out of room (the cursor is then left where it was).
 */
#ifndef PARLEY_SPOP_H
#define PARLEY_SPOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The version the codec speaks and the frame sizes the spec allows. */
#define SPOP_VERSION	    "2.0"
#define SPOP_MIN_FRAME_SIZE 256
#define SPOP_MAX_FRAME_SIZE 65532
/* Default of HAProxy: tune.bufsize (16384) minus the length prefix. */
#define SPOP_DEFAULT_FRAME_SIZE 16380
#define SPOP_VARINT_MAX		10
/* The smallest frame after its length: type, flags, two one-byte ids. */
#define SPOP_FRAME_MIN 7

enum spop_frame_type {
	SPOP_FRAME_UNSET = 0,
	SPOP_FRAME_HAPROXY_HELLO = 1,
	SPOP_FRAME_HAPROXY_DISCONNECT = 2,
	SPOP_FRAME_NOTIFY = 3,
	SPOP_FRAME_AGENT_HELLO = 101,
	SPOP_FRAME_AGENT_DISCONNECT = 102,
	SPOP_FRAME_ACK = 103,
};

#define SPOP_FLAG_FIN	0x00000001u
#define SPOP_FLAG_ABORT 0x00000002u

/* Typed data: the type is the low four bits of the first byte. */
enum spop_type {
	SPOP_T_NULL = 0,
	SPOP_T_BOOL = 1,
	SPOP_T_INT32 = 2,
	SPOP_T_UINT32 = 3,
	SPOP_T_INT64 = 4,
	SPOP_T_UINT64 = 5,
	SPOP_T_IPV4 = 6,
	SPOP_T_IPV6 = 7,
	SPOP_T_STR = 8,
	SPOP_T_BIN = 9,
};
#define SPOP_TYPE_MASK 0x0f
#define SPOP_BOOL_TRUE 0x10

/* Status codes of HAPROXY-DISCONNECT and AGENT-DISCONNECT. */
enum spop_status {
	SPOP_ST_NORMAL = 0,
	SPOP_ST_IO = 1,
	SPOP_ST_TIMEOUT = 2,
	SPOP_ST_TOO_BIG = 3,
	SPOP_ST_INVALID = 4,
	SPOP_ST_NO_VERSION = 5,
	SPOP_ST_NO_FRAME_SIZE = 6,
	SPOP_ST_NO_CAPABILITIES = 7,
	SPOP_ST_BAD_VERSION = 8,
	SPOP_ST_BAD_FRAME_SIZE = 9,
	SPOP_ST_FRAG_NOT_SUPPORTED = 10,
	SPOP_ST_INTERLACED = 11,
	SPOP_ST_FRAMEID_NOTFOUND = 12,
	SPOP_ST_RES_ALLOC = 13,
	SPOP_ST_UNKNOWN = 99,
};

/* Scopes of set-var and unset-var. */
enum spop_scope {
	SPOP_SCOPE_PROC = 0,
	SPOP_SCOPE_SESS = 1,
	SPOP_SCOPE_TXN = 2,
	SPOP_SCOPE_REQ = 3,
	SPOP_SCOPE_RES = 4,
};

enum spop_action {
	SPOP_ACT_SET_VAR = 1,
	SPOP_ACT_UNSET_VAR = 2,
};

/* A decoded typed value.  Strings and binaries point into the frame. */
struct spop_data {
	uint8_t type;
	union {
		int b;
		int64_t i;
		uint64_t u;
		struct {
			const char *ptr;
			size_t len;
		} s;
		uint8_t addr[16];
	} v;
};

/* A decoded frame header; payload points into the caller's buffer. */
struct spop_frame {
	uint8_t type;
	uint32_t flags;
	uint64_t stream_id;
	uint64_t frame_id;
	const uint8_t *payload;
	size_t payload_len;
};

/* A message of a NOTIFY payload; args and args_end delimit its KV list. */
struct spop_msg {
	const char *name;
	size_t name_len;
	unsigned int nargs;
	const uint8_t *args;
	const uint8_t *args_end;
};

/* Varints (the "peers" encoding of HAProxy). */
int spop_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v);
int spop_varint_put(uint8_t **p, uint8_t *end, uint64_t v);
size_t spop_varint_len(uint64_t v);

/* Strings: a varint length then the bytes, all within end. */
int spop_str_get(const uint8_t **p, const uint8_t *end, const char **s,
    size_t *len);
int spop_str_put(uint8_t **p, uint8_t *end, const char *s, size_t len);

/* Typed data.  spop_data_put writes the value's type and contents. */
int spop_data_get(const uint8_t **p, const uint8_t *end, struct spop_data *d);
int spop_data_put(uint8_t **p, uint8_t *end, const struct spop_data *d);

/*
 * Reads the next name/value pair of a KV list.  Returns 1 and fills name,
 * name_len and val; 0 at the end of the list (*p == end); -1 on malformed
 * input.
 */
int spop_kv_next(const uint8_t **p, const uint8_t *end, const char **name,
    size_t *name_len, struct spop_data *val);

/*
 * Reads the next message of a NOTIFY payload, skipping over its
 * arguments after checking that each decodes.  Returns 1 and fills msg;
 * 0 at the end of the payload; -1 on malformed input.  The arguments are
 * then read with spop_kv_next between msg->args and msg->args_end.
 */
int spop_msg_next(const uint8_t **p, const uint8_t *end, struct spop_msg *msg);

/*
 * Splits the first frame off buf.  Returns the bytes the frame takes
 * (length prefix included) and fills f; 0 when buf does not hold the
 * whole frame yet (at most 4 + max_frame_size bytes are then ever
 * needed); -1 on error with *status set to the spec's code: a length
 * above max_frame_size is SPOP_ST_TOO_BIG, one too short for a header
 * or metadata that do not decode is SPOP_ST_INVALID.  The length is
 * checked from the first 4 bytes alone, so a bogus length is refused
 * before anything is buffered for it.
 */
ssize_t spop_frame_parse(const uint8_t *buf, size_t len,
    uint32_t max_frame_size, struct spop_frame *f, int *status);

/*
 * Starts a frame at *p: room for the length, then type, flags and ids.
 * Returns the frame's start for spop_frame_finish, or NULL when out of
 * room.  The payload is then written at *p.
 */
uint8_t *spop_frame_start(uint8_t **p, uint8_t *end, uint8_t type,
    uint32_t flags, uint64_t stream_id, uint64_t frame_id);
/* Writes the length of the frame begun at start and ending at p. */
void spop_frame_finish(uint8_t *start, const uint8_t *p);

/* KV list items and actions, for building payloads. */
int spop_kv_put(uint8_t **p, uint8_t *end, const char *name,
    const struct spop_data *val);
int spop_kv_put_str(uint8_t **p, uint8_t *end, const char *name,
    const char *val);
int spop_kv_put_uint(uint8_t **p, uint8_t *end, const char *name,
    uint32_t val);
int spop_action_set_var(uint8_t **p, uint8_t *end, uint8_t scope,
    const char *name, size_t name_len, const struct spop_data *val);
int spop_action_unset_var(uint8_t **p, uint8_t *end, uint8_t scope,
    const char *name, size_t name_len);

/*
 * Tells whether a comma-separated list (spaces ignored) holds item.
 * Used for "capabilities" and "supported-versions".
 */
int spop_list_has(const char *list, size_t len, const char *item);
/* Tells whether a "supported-versions" list includes SPOP 2.x. */
int spop_versions_support2(const char *list, size_t len);

/* The contents of a HAPROXY-HELLO. */
struct spop_hello {
	const char *versions;
	size_t versions_len;
	const char *capabilities;
	size_t capabilities_len;
	const char *engine_id;
	size_t engine_id_len;
	uint32_t max_frame_size;
	unsigned int has_versions : 1;
	unsigned int has_frame_size : 1;
	unsigned int has_capabilities : 1;
	unsigned int healthcheck : 1;
};

/*
 * Decodes the payload of a HAPROXY-HELLO frame and checks it as the spec
 * asks: ids zero, FIN set, mandatory items present, SPOP 2 offered, a
 * frame size of at least SPOP_MIN_FRAME_SIZE.  Unknown items are
 * skipped.  Returns 0, or -1 with *status set to the code to disconnect
 * with.
 */
int spop_hello_parse(const struct spop_frame *f, struct spop_hello *h,
    int *status);

/* The contents of an AGENT-HELLO. */
struct spop_agent_hello {
	const char *version;
	size_t version_len;
	const char *capabilities;
	size_t capabilities_len;
	uint32_t max_frame_size;
};

/*
 * Decodes and checks an AGENT-HELLO (version 2.x, frame size within
 * [SPOP_MIN_FRAME_SIZE, max_frame_size], capabilities present).
 * Returns 0, or -1 with *status set.
 */
int spop_agent_hello_parse(const struct spop_frame *f, uint32_t max_frame_size,
    struct spop_agent_hello *ah, int *status);

/*
 * Decodes a HAPROXY-DISCONNECT or AGENT-DISCONNECT payload.  Unknown
 * items are skipped; a missing status reads as SPOP_ST_UNKNOWN.  Returns
 * 0, or -1 on malformed input.
 */
int spop_disconnect_parse(const struct spop_frame *f, uint32_t *status,
    const char **msg, size_t *msg_len);

/*
 * Whole frames.  Each writes one frame into buf (size bytes) and returns
 * its length, or -1 when it does not fit.
 */
ssize_t spop_build_haproxy_hello(uint8_t *buf, size_t size,
    uint32_t max_frame_size, const char *capabilities, int healthcheck,
    const char *engine_id);
ssize_t spop_build_agent_hello(uint8_t *buf, size_t size,
    uint32_t max_frame_size, const char *capabilities);
ssize_t spop_build_disconnect(uint8_t *buf, size_t size, uint8_t type,
    uint32_t status, const char *message);

/* A short English text for a status code, for logs and DISCONNECT. */
const char *spop_status_str(uint32_t status);
/* The name of a frame type, for logs. */
const char *spop_frame_type_str(uint8_t type);

#endif
