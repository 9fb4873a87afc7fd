/*
 * spoa_session: one SPOP connection from HAProxy, as a state machine
 * that takes bytes in and appends frames out.  It does no I/O itself,
 * so tests and the fuzzer drive it directly.
 *
 *            HAPROXY-HELLO ok             NOTIFY -> ACK
 *   +-------+  --------------->  +-------+ --+
 *   | HELLO |                    | READY |   | (pipelined: answered in
 *   +-------+                    +-------+ <-+  the order they finish)
 *       |  HELLO healthcheck        |
 *       |  -> AGENT-HELLO           |  HAPROXY-DISCONNECT
 *       |  anything broken          |  -> AGENT-DISCONNECT(normal)
 *       |  -> AGENT-DISCONNECT(st)  |  anything broken
 *       v                           v  -> AGENT-DISCONNECT(st)
 *   +---------------------------------+
 *   | CLOSING: flush answers, close;  |
 *   | further input is ignored        |
 *   +---------------------------------+
 *
 * Broken input gets the status SPOE.txt assigns: a frame longer than the
 * negotiated size is 3 (too big), a frame that does not decode, a HELLO
 * with ids or a frame out of place is 4 (invalid), a fragment is 10
 * (fragmentation is not supported: the agent never announces it).
 * Frame types SPOP does not define are skipped, as the spec allows.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "spoa.h"
#include "xmalloc.h"

/* Capabilities the agent supports: async and fragmentation are not. */
#define SPOA_CAP_PIPELINING "pipelining"

/* An output buffer grows by at least this much. */
#define SPOA_OBUF_MIN 4096

uint8_t *
spoa_obuf_reserve(struct spoa_obuf *o, size_t n)
{
	size_t cap;

	if (o->cap - o->len >= n)
		return o->data + o->len;

	cap = o->cap ? o->cap : SPOA_OBUF_MIN;
	while (cap - o->len < n)
		cap *= 2;
	o->data = xreallocarray(o->data, cap, 1);
	o->cap = cap;
	return o->data + o->len;
}

void
spoa_obuf_free(struct spoa_obuf *o)
{
	free(o->data);
	memset(o, 0, sizeof(*o));
}

void
spoa_session_init(struct spoa_session *s, struct spoa_ctx *ctx)
{
	memset(s, 0, sizeof(*s));
	s->state = SPOA_SESS_HELLO;
	s->max_frame_size = ctx->pol->max_frame_size;
	s->ctx = ctx;
}

void
spoa_session_free(struct spoa_session *s)
{
	free(s->hold);
	s->hold = NULL;
	s->hold_len = s->hold_need = 0;
}

int
spoa_session_pending(const struct spoa_session *s)
{
	return s->hold_len > 0;
}

/*
 * Appends an AGENT-DISCONNECT with status and moves to CLOSING.  Always
 * returns 1, the "close" answer of spoa_session_input.
 */
static int
spoa_session_fail(struct spoa_session *s, uint32_t status,
    struct spoa_obuf *out)
{
	const char *msg = spop_status_str(status);
	size_t room = 64 + strlen(msg);
	uint8_t *p;
	ssize_t n;

	if (status != SPOP_ST_NORMAL) {
		SPOA_INC(s->ctx->stats->errors);
		log_info("spop: disconnecting HAProxy%s%s: %s (status %u)",
		    s->peer[0] ? " at " : "", s->peer, msg, status);
	}

	p = spoa_obuf_reserve(out, room);
	n = spop_build_disconnect(p, room, SPOP_FRAME_AGENT_DISCONNECT,
	    status, msg);
	if (n > 0)
		out->len += n;
	s->state = SPOA_SESS_CLOSING;
	return 1;
}

void
spoa_session_goodbye(struct spoa_session *s, uint32_t status,
    const char *msg, struct spoa_obuf *out)
{
	size_t room = 64 + strlen(msg);
	uint8_t *p;
	ssize_t n;

	if (s->state == SPOA_SESS_CLOSING)
		return;
	if (status != SPOP_ST_NORMAL)
		SPOA_INC(s->ctx->stats->errors);
	p = spoa_obuf_reserve(out, room);
	n = spop_build_disconnect(p, room, SPOP_FRAME_AGENT_DISCONNECT,
	    status, msg);
	if (n > 0)
		out->len += n;
	/* A partial frame will never be finished now. */
	spoa_session_free(s);
	s->state = SPOA_SESS_CLOSING;
}

/* Answers HAPROXY-HELLO: negotiate size and capabilities. */
static int
spoa_session_hello(struct spoa_session *s, const struct spop_frame *f,
    struct spoa_obuf *out)
{
	struct spop_hello h;
	const char *caps;
	size_t room = 128;
	int status;
	uint8_t *p;
	ssize_t n;

	if (spop_hello_parse(f, &h, &status) == -1)
		return spoa_session_fail(s, status, out);

	if (h.max_frame_size < s->max_frame_size)
		s->max_frame_size = h.max_frame_size;
	s->pipelining = spop_list_has(h.capabilities, h.capabilities_len,
	    SPOA_CAP_PIPELINING);
	s->healthcheck = h.healthcheck;
	caps = s->pipelining ? SPOA_CAP_PIPELINING : "";

	p = spoa_obuf_reserve(out, room);
	n = spop_build_agent_hello(p, room, s->max_frame_size, caps);
	if (n < 0)
		return spoa_session_fail(s, SPOP_ST_RES_ALLOC, out);
	out->len += n;

	if (h.healthcheck) {
		/* A check closes after our HELLO: not an error. */
		SPOA_INC(s->ctx->stats->healthchecks);
		s->state = SPOA_SESS_CLOSING;
		return 1;
	}
	SPOA_INC(s->ctx->stats->hellos);
	s->state = SPOA_SESS_READY;
	return 0;
}

static uint64_t
spoa_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Answers a NOTIFY with an ACK of the same ids.  Every message of the
 * frame gets a decision; the ACK always carries at least one action,
 * since a 3.x SPOE waits forever on an empty one.  When the actions do
 * not fit the negotiated frame size only the route is sent (it always
 * fits in SPOP_MIN_FRAME_SIZE).
 */
static int
spoa_session_notify(struct spoa_session *s, const struct spop_frame *f,
    struct spoa_obuf *out)
{
	const uint8_t *p = f->payload, *end = f->payload + f->payload_len;
	size_t room = s->max_frame_size + 4;
	uint8_t *start, *w, *wend, *mark;
	struct spoa_decision d;
	struct spoa_req req;
	struct spop_msg msg;
	struct spop_data v;
	uint64_t t0;
	int r, nact = 0;

	if (!(f->flags & SPOP_FLAG_FIN))
		return spoa_session_fail(s, SPOP_ST_FRAG_NOT_SUPPORTED, out);
	if (f->flags & SPOP_FLAG_ABORT)
		return 0;

	t0 = spoa_clock_ns();
	SPOA_INC(s->ctx->stats->notifies);
	w = spoa_obuf_reserve(out, room);
	wend = w + room;
	start = spop_frame_start(&w, wend, SPOP_FRAME_ACK, SPOP_FLAG_FIN,
	    f->stream_id, f->frame_id);
	if (start == NULL)
		return spoa_session_fail(s, SPOP_ST_RES_ALLOC, out);
	mark = w;

	while ((r = spop_msg_next(&p, end, &msg)) == 1) {
		spoa_req_parse(&req, &msg);
		if (req.bad_args)
			SPOA_ADD(s->ctx->stats->bad_args, req.bad_args);
		spoa_decide(s->ctx, &req, &d);
		if (spoa_decision_put(&d, &w, wend) == 0) {
			nact++;
			continue;
		}

		/* Too big for the frame: the route alone. */
		w = mark;
		v.type = SPOP_T_STR;
		v.v.s.ptr = spoa_route_str(d.route);
		v.v.s.len = strlen(v.v.s.ptr);
		if (spop_action_set_var(&w, wend, SPOP_SCOPE_TXN, "route", 5,
			&v) == -1)
			return spoa_session_fail(s, SPOP_ST_RES_ALLOC, out);
		nact = 1;
		break;
	}
	if (r == -1)
		return spoa_session_fail(s, SPOP_ST_INVALID, out);

	if (nact == 0) {
		/* No message this agent knows: still one action. */
		if (spop_action_unset_var(&w, wend, SPOP_SCOPE_TXN, "route",
			5) == -1)
			return spoa_session_fail(s, SPOP_ST_RES_ALLOC, out);
	}

	spop_frame_finish(start, w);
	out->len += w - start;
	SPOA_INC(s->ctx->stats->acks);
	spoa_stats_latency(s->ctx->stats, spoa_clock_ns() - t0);
	return 0;
}

/* Answers HAPROXY-DISCONNECT with AGENT-DISCONNECT, then closes. */
static int
spoa_session_disconnect(struct spoa_session *s, const struct spop_frame *f,
    struct spoa_obuf *out)
{
	const char *msg;
	uint32_t status;
	size_t mlen;

	if (spop_disconnect_parse(f, &status, &msg, &mlen) == -1)
		return spoa_session_fail(s, SPOP_ST_INVALID, out);

	SPOA_INC(s->ctx->stats->haproxy_disconnects);
	if (status != SPOP_ST_NORMAL)
		log_debug("spop: HAProxy disconnects: status %u", status);
	return spoa_session_fail(s, SPOP_ST_NORMAL, out);
}

/* Dispatches one whole frame by state and type. */
static int
spoa_session_frame(struct spoa_session *s, const struct spop_frame *f,
    struct spoa_obuf *out)
{
	if (s->state == SPOA_SESS_HELLO) {
		switch (f->type) {
		case SPOP_FRAME_HAPROXY_HELLO:
			return spoa_session_hello(s, f, out);
		case SPOP_FRAME_HAPROXY_DISCONNECT:
			return spoa_session_disconnect(s, f, out);
		default:
			return spoa_session_fail(s, SPOP_ST_INVALID, out);
		}
	}

	switch (f->type) {
	case SPOP_FRAME_NOTIFY:
		return spoa_session_notify(s, f, out);
	case SPOP_FRAME_HAPROXY_DISCONNECT:
		return spoa_session_disconnect(s, f, out);
	case SPOP_FRAME_UNSET:
		return spoa_session_fail(s, SPOP_ST_FRAG_NOT_SUPPORTED, out);
	case SPOP_FRAME_HAPROXY_HELLO:
	case SPOP_FRAME_AGENT_HELLO:
	case SPOP_FRAME_AGENT_DISCONNECT:
	case SPOP_FRAME_ACK:
		return spoa_session_fail(s, SPOP_ST_INVALID, out);
	default:
		SPOA_INC(s->ctx->stats->skipped_frames);
		log_debug("spop: skipping a frame of unknown type %u",
		    f->type);
		return 0;
	}
}

/*
 * Keeps the start of a frame that did not arrive whole.  Only a length
 * that spop_frame_parse accepted is ever allocated for.
 */
static void
spoa_session_keep(struct spoa_session *s, const uint8_t *data, size_t len)
{
	if (len < 4) {
		memcpy(s->hdr, data, len);
		s->hold_len = len;
		s->hold_need = 4;
		return;
	}
	s->hold_need = 4 + ((size_t)data[0] << 24 | (size_t)data[1] << 16 |
			       (size_t)data[2] << 8 | (size_t)data[3]);
	s->hold = xmalloc(s->hold_need);
	memcpy(s->hold, data, len);
	s->hold_len = len;
}

/*
 * Completes a held frame from data.  Returns the bytes taken, with *rc
 * set to the session's answer when the frame (or its header) was
 * complete and handled, -1 otherwise.
 */
static size_t
spoa_session_fill(struct spoa_session *s, const uint8_t *data, size_t len,
    struct spoa_obuf *out, int *rc)
{
	struct spop_frame f;
	size_t n, used = 0;
	int status;
	ssize_t r;

	*rc = -1;
	if (s->hold == NULL) {
		n = s->hold_need - s->hold_len;
		if (n > len)
			n = len;
		memcpy(s->hdr + s->hold_len, data, n);
		s->hold_len += n;
		used = n;
		if (s->hold_len < 4)
			return used;

		if (spop_frame_parse(s->hdr, 4, s->max_frame_size, &f,
			&status) == -1) {
			s->hold_len = 0;
			*rc = spoa_session_fail(s, status, out);
			return used;
		}
		spoa_session_keep(s, s->hdr, 4);
		data += used;
		len -= used;
	}

	n = s->hold_need - s->hold_len;
	if (n > len)
		n = len;
	memcpy(s->hold + s->hold_len, data, n);
	s->hold_len += n;
	used += n;
	if (s->hold_len < s->hold_need)
		return used;

	r = spop_frame_parse(s->hold, s->hold_len, s->max_frame_size, &f,
	    &status);
	if (r < 0)
		*rc = spoa_session_fail(s, status, out);
	else
		*rc = spoa_session_frame(s, &f, out);
	spoa_session_free(s);
	return used;
}

int
spoa_session_input(struct spoa_session *s, const uint8_t *data, size_t len,
    struct spoa_obuf *out)
{
	struct spop_frame f;
	int status, rc;
	size_t used;
	ssize_t r;

	if (s->state == SPOA_SESS_CLOSING)
		return 1;

	if (s->hold_len > 0) {
		used = spoa_session_fill(s, data, len, out, &rc);
		if (rc > 0)
			return rc;
		data += used;
		len -= used;
		if (s->hold_len > 0)
			return 0;
	}

	while (len > 0) {
		r = spop_frame_parse(data, len, s->max_frame_size, &f, &status);
		if (r < 0)
			return spoa_session_fail(s, status, out);
		if (r == 0) {
			spoa_session_keep(s, data, len);
			return 0;
		}
		if (spoa_session_frame(s, &f, out) != 0)
			return 1;
		data += r;
		len -= r;
	}
	return 0;
}
