/*
 * health_spop: the agent probe's side of SPOP (HAProxy doc/SPOE.txt):
 * a HAPROXY-HELLO with "healthcheck" set, which asks the agent to answer
 * with its AGENT-HELLO and then expect the connection to close.
 */
#include <stdio.h>

#include "health.h"
#include "spop.h"

/* Frame size the probe offers; an AGENT-HELLO must fit in it. */
#define HEALTH_SPOP_FRAME 16380

/*
 * Writes the HAPROXY-HELLO healthcheck frame into buf (cap bytes, at
 * least 256).  Returns its length, or 0 if it does not fit.
 */
size_t
health_spop_hello(char *buf, size_t cap)
{
	ssize_t n;

	n = spop_build_haproxy_hello(
	    (uint8_t *)buf, cap, HEALTH_SPOP_FRAME, "", 1, "parley-health");
	return n > 0 ? (size_t)n : 0;
}

/*
 * Looks at the agent's answer so far, buf[0..len).  Returns 0 when more
 * is needed; otherwise 1 (a valid AGENT-HELLO) or -1 (anything else),
 * with what was seen in msg.
 */
int
health_spop_answer(const char *buf, size_t len, char *msg, size_t msglen)
{
	struct spop_frame f;
	struct spop_agent_hello ah;
	uint32_t dst = SPOP_ST_UNKNOWN;
	const char *dmsg = NULL;
	size_t dlen = 0;
	ssize_t n;
	int st = 0;

	n = spop_frame_parse(
	    (const uint8_t *)buf, len, HEALTH_SPOP_FRAME, &f, &st);
	if (n == 0)
		return 0;
	if (n < 0) {
		snprintf(msg, msglen, "bad frame: %s",
		    spop_status_str((uint32_t)st));
		return -1;
	}
	if (f.type == SPOP_FRAME_AGENT_DISCONNECT) {
		if (spop_disconnect_parse(&f, &dst, &dmsg, &dlen) == -1)
			dst = SPOP_ST_INVALID;
		snprintf(msg, msglen, "agent disconnected: %s",
		    spop_status_str(dst));
		return -1;
	}
	if (f.type != SPOP_FRAME_AGENT_HELLO) {
		snprintf(msg, msglen, "unexpected %s frame",
		    spop_frame_type_str(f.type));
		return -1;
	}
	if (spop_agent_hello_parse(&f, HEALTH_SPOP_FRAME, &ah, &st) == -1) {
		snprintf(msg, msglen, "bad AGENT-HELLO: %s",
		    spop_status_str((uint32_t)st));
		return -1;
	}
	snprintf(msg, msglen, "AGENT-HELLO version %.*s",
	    (int)(ah.version_len > 16 ? 16 : ah.version_len), ah.version);
	return 1;
}
