/*
 * Fuzzes the incremental frame decoder (fed in chunks whose sizes come
 * from the first input byte) and the typed getters on every frame, and
 * checks mpframe_parse agrees on whole single frames.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mpframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Exercises every getter on a decoded map. */
static void
fz_walk(const msgpack_object *m)
{
	const char *s;
	const void *p;
	size_t len;
	int64_t i;
	uint64_t u;
	bool b;
	char buf[16];

	(void)mpframe_get_str(m, "type", &s, &len);
	(void)mpframe_get_int(m, "seq", &i);
	(void)mpframe_get_uint(m, "seq", &u);
	(void)mpframe_get_bool(m, "ok", &b);
	(void)mpframe_get_bin(m, "raw", &p, &len);
	(void)mpframe_get_strbuf(m, "team", buf, sizeof(buf));
	(void)mpframe_get_array(m, "list");
	(void)mpframe_get_strbuf(mpframe_get_map(m, "sub"), "id", buf,
	    sizeof(buf));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mpframe_dec d;
	const msgpack_object *m;
	msgpack_unpacked un;
	const char *err;
	size_t off = 1, chunk, frames = 0;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 16 + 1;

	mpframe_dec_init(&d, 4096);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t used = mpframe_decode(&d, data + off, n, &m);

		if (used < 0)
			break;
		if (used == 0)
			abort(); /* no progress on non-empty input */
		off += (size_t)used;
		if (m != NULL) {
			fz_walk(m);
			frames++;
		}
	}
	mpframe_dec_free(&d);

	msgpack_unpacked_init(&un);
	if (mpframe_parse(data + 1, size - 1, 4096, &un, &err) == 0) {
		fz_walk(&un.data);
		if (frames != 1)
			abort(); /* one whole frame decodes both ways */
	}
	msgpack_unpacked_destroy(&un);
	return 0;
}
