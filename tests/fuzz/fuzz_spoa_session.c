/*
 * libFuzzer target for the agent's SPOP session: the first byte says
 * where to cut the rest in two reads; both are fed to one session as
 * HAProxy's bytes.  Whatever comes in, the session must answer with
 * well-formed frames only, every ACK carrying at least one action.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "spoa-agent/spoa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEYS                                                                \
	"k1 000102030405060708090a0b0c0d0e0f"                                 \
	"101112131415161718191a1b1c1d1e1f\n"

static struct spoa_settings set;
static struct spoa_policy pol;
static struct spoa_stats stats;
static struct spoa_ctx ctx;

static void
fuzz_init(void)
{
	static const char conf[] = "[spoa]\nteam_burst = 2\n"
				   "[tokens]\nkeys = /nonexistent\n";
	char err[CONF_ERRLEN];

	if (conf_load_buffer(&spoa_schema, "fuzz.conf", conf,
		sizeof(conf) - 1, &set, err, sizeof(err)) == -1)
		__builtin_trap();
	spoa_policy_init(&pol, &set);
	spoa_auth_set_keys(token_keys_parse("keys", KEYS, strlen(KEYS), err,
	    sizeof(err)));
	ctx.pol = &pol;
	ctx.admit = spoa_admit_new(&pol);
	ctx.stats = &stats;
}

/* Checks every frame the session wrote. */
static void
fuzz_check_out(const struct spoa_obuf *out)
{
	struct spop_frame f;
	size_t off = 0;
	int status;
	ssize_t n;

	while (off < out->len) {
		n = spop_frame_parse(out->data + off, out->len - off,
		    SPOP_MAX_FRAME_SIZE, &f, &status);
		if (n <= 0)
			__builtin_trap();
		if (f.type == SPOP_FRAME_ACK && f.payload_len == 0)
			__builtin_trap();
		if (f.type != SPOP_FRAME_ACK &&
		    f.type != SPOP_FRAME_AGENT_HELLO &&
		    f.type != SPOP_FRAME_AGENT_DISCONNECT)
			__builtin_trap();
		off += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spoa_obuf out = {0};
	struct spoa_session s;
	size_t cut;

	if (ctx.pol == NULL)
		fuzz_init();
	if (size < 1)
		return 0;
	cut = data[0] % size;
	data++;
	size--;
	if (cut > size)
		cut = size;

	spoa_session_init(&s, &ctx);
	if (spoa_session_input(&s, data, cut, &out) == 0)
		spoa_session_input(&s, data + cut, size - cut, &out);
	fuzz_check_out(&out);
	spoa_session_free(&s);
	spoa_obuf_free(&out);
	return 0;
}
