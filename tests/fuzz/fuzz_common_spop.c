/*
 * libFuzzer target for the SPOP decoder: the input is read as a stream
 * of frames with a maximum frame size taken from its first two bytes;
 * each frame is decoded as every frame type would be (HELLO,
 * AGENT-HELLO, DISCONNECT, NOTIFY messages and their arguments), and
 * what decodes is encoded again and must decode to the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "spop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_kv_roundtrip(const char *name, size_t nlen, const struct spop_data *v)
{
	uint8_t buf[128], *w = buf;
	struct spop_data back;
	const uint8_t *r = buf;

	if (nlen > 32 || (v->type >= SPOP_T_STR && v->v.s.len > 64))
		return;
	if (spop_data_put(&w, buf + sizeof(buf), v) == -1)
		__builtin_trap();
	if (spop_data_get(&r, w, &back) == -1 || r != w ||
	    back.type != v->type)
		__builtin_trap();
	(void)name;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spop_agent_hello ah;
	struct spop_hello h;
	struct spop_frame f;
	struct spop_msg m;
	struct spop_data v;
	const uint8_t *p, *end;
	const char *name, *msg;
	size_t nlen, mlen;
	uint32_t mfs, st;
	int status;
	ssize_t n;

	if (size < 2)
		return 0;
	mfs = SPOP_MIN_FRAME_SIZE + ((uint32_t)data[0] << 8 | data[1]);
	data += 2;
	size -= 2;

	while ((n = spop_frame_parse(data, size, mfs, &f, &status)) > 0) {
		if ((size_t)n > size || f.payload + f.payload_len != data + n)
			__builtin_trap();

		spop_hello_parse(&f, &h, &status);
		spop_agent_hello_parse(&f, mfs, &ah, &status);
		spop_disconnect_parse(&f, &st, &msg, &mlen);

		p = f.payload;
		end = f.payload + f.payload_len;
		while (spop_msg_next(&p, end, &m) == 1) {
			const uint8_t *a = m.args;
			unsigned int i = 0;

			while (spop_kv_next(&a, m.args_end, &name, &nlen, &v) ==
			    1) {
				fuzz_kv_roundtrip(name, nlen, &v);
				i++;
			}
			if (i != m.nargs || a != m.args_end)
				__builtin_trap();
		}

		data += n;
		size -= n;
	}
	return 0;
}
