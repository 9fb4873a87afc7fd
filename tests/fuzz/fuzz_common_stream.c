/*
 * libFuzzer target: stream frames as either side reads them.  The first
 * byte picks the direction (edge reading the backend, or the reverse)
 * and the size of the chunks the bytes arrive in; the rest goes through
 * mpframe_decode and stream_msg_read.  Every frame accepted must write
 * back with stream_msg_write and read again to the same fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpframe.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same_str(struct stream_str a, struct stream_str b)
{
	if (a.p == NULL || b.p == NULL)
		return a.p == b.p;
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static void
check_roundtrip(const struct stream_msg *m, int dir)
{
	msgpack_sbuffer sb;
	msgpack_unpacked un;
	struct stream_msg again;
	const char *err = NULL;

	msgpack_sbuffer_init(&sb);
	if (stream_msg_write(&sb, m, &err) == -1)
		abort();
	msgpack_unpacked_init(&un);
	if (mpframe_parse(sb.data, sb.size, STREAM_FRAME_MAX, &un,
	    &err) == -1 ||
	    stream_msg_read(&un.data, dir, &again, &err) == -1)
		abort();
	if (again.type != m->type || again.seq != m->seq ||
	    again.id != m->id || again.kind != m->kind ||
	    again.status != m->status || again.time != m->time ||
	    again.version != m->version ||
	    !same_str(again.team, m->team) || !same_str(again.json, m->json) ||
	    !same_str(again.user, m->user) ||
	    !same_str(again.token, m->token) ||
	    !same_str(again.body, m->body) || !same_str(again.args, m->args))
		abort();
	msgpack_unpacked_destroy(&un);
	msgpack_sbuffer_destroy(&sb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mpframe_dec d;
	const msgpack_object *map;
	struct stream_msg m;
	const char *err = NULL;
	size_t chunk, off = 0, n;
	ssize_t used;
	int dir;

	if (size < 1)
		return 0;
	dir = (data[0] & 1) ? STREAM_FROM_EDGE : STREAM_FROM_BACKEND;
	chunk = (size_t)(data[0] >> 1) + 1;
	data++;
	size--;

	mpframe_dec_init(&d, 1024 * 1024);
	while (off < size) {
		n = size - off < chunk ? size - off : chunk;
		used = mpframe_decode(&d, data + off, n, &map);
		if (used < 0)
			break;
		off += (size_t)used;
		if (map != NULL && stream_msg_read(map, dir, &m, &err) == 0)
			check_roundtrip(&m, dir);
	}
	mpframe_dec_free(&d);
	return 0;
}
