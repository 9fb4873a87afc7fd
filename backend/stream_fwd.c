/*
 * stream_fwd: Web API calls an edge forwards (docs/stream.md).
 *
 * A forward frame becomes an api_call exactly as an HTTP request would:
 * the same token checks, visibility rules and rate limits, and a write
 * is answered only after its commit (so the event it made reaches the
 * stream before the result).  The answer goes back as a result frame
 * with the HTTP status, the JSON body and Retry-After for a 429.
 *
 * A forward whose edge went away before its answer is detached: the
 * call still finishes (a write cannot be taken back) and its answer is
 * dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stream.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/backend.h"

#define STREAM_CTYPE_JSON "application/json; charset=utf-8"

struct stream_fwd {
	struct stream_peer *p; /* NULL once detached */
	uint64_t id;
	struct stream_fwd *prev, *next;
};

/* Forwards in flight; every one runs on the loop thread. */
static struct stream_fwd *stream_fwds;

static void
stream_fwd_unlink(struct stream_fwd *f)
{
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		stream_fwds = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
}

static void
stream_fwd_done(struct api_call *c)
{
	struct stream_fwd *f = c->udata;
	struct stream_msg m;

	stream_fwd_unlink(f);
	if (f->p != NULL) {
		memset(&m, 0, sizeof(m));
		m.type = STREAM_RESULT;
		m.id = f->id;
		m.status = (uint64_t)c->status;
		m.body.p = c->body != NULL ? c->body : "";
		m.body.len = c->body != NULL ? c->len : 0;
		if (c->status == 429 && c->retry_after > 0)
			m.retry_after = (uint64_t)c->retry_after;
		stream_count_result(f->p);
		(void)stream_peer_send_msg(f->p, &m);
	}
	free(f);
}

void
stream_forward(struct stream_peer *p, const struct stream_msg *m)
{
	char method[STREAM_METHOD_MAX + 1], source[64];
	char *auth = NULL;
	struct stream_fwd *f;
	struct stream_msg r;
	struct api_call *c;

	memcpy(method, m->method.p, m->method.len);
	method[m->method.len] = '\0';
	if (stream_peer_api(p) == NULL) {
		memset(&r, 0, sizeof(r));
		r.type = STREAM_RESULT;
		r.id = m->id;
		r.status = 503;
		r.body = stream_str("{\"ok\":false,"
		                    "\"error\":\"service_unavailable\"}");
		(void)stream_peer_send_msg(p, &r);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->p = p;
	f->id = m->id;
	f->next = stream_fwds;
	if (stream_fwds != NULL)
		stream_fwds->prev = f;
	stream_fwds = f;

	if (m->token.len > 0)
		auth = xasprintf("Bearer %.*s", (int)m->token.len, m->token.p);
	/*
	 * Sign-in throttles and unauthenticated limits count per client:
	 * the address the edge saw (it is trusted, by its certificate), or
	 * per edge when it gave none.
	 */
	if (m->source.p != NULL)
		snprintf(source, sizeof(source), "%.*s", (int)m->source.len,
		    m->source.p);
	else
		snprintf(source, sizeof(source), "edge:%s",
		    stream_peer_name(p));
	c = api_call_new(stream_peer_api(p), source);
	c->done = stream_fwd_done;
	c->udata = f;
	api_call_start(c, method, 0, STREAM_CTYPE_JSON, m->args.p, m->args.len,
	    "", 0, auth);
	free(auth);
}

void
stream_forward_detach(struct stream_peer *p)
{
	struct stream_fwd *f;

	for (f = stream_fwds; f != NULL; f = f->next)
		if (f->p == p)
			f->p = NULL;
}
