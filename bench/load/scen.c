/*
 * parley-load scenarios, as each worker runs them on its share of the
 * connections (ids id_lo..id_hi).  Each opens its connections through
 * scen_open_more() (at most ld->inflight connects at a time, so a burst
 * does not overflow the server's accept queue unless a storm is wanted),
 * runs the loop until the parent says stop, and leaves its figures in
 * struct load for the parent to merge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

static unsigned scen_next; /* next connection id to open */

void
scen_open_more(struct load *ld)
{
	if (scen_next < ld->id_lo)
		scen_next = ld->id_lo;
	while (scen_next < ld->id_hi && !ld->stopping &&
	    scen_next - ld->id_lo - ld->open - ld->failed < ld->inflight) {
		if (lconn_open(ld, scen_next) == NULL) {
			ld->failed++;
			ld->errors++;
		}
		scen_next++;
	}
}

void
scen_closed(struct lconn *c, const char *why)
{
	struct load *ld = c->ld;

	if (ld->stopping)
		return;
	if (!c->opened) {
		ld->failed++;
		if (ld->failed <= 5)
			fprintf(stderr, "parley-load: connection %u: %s\n",
			    c->id, why);
		scen_open_more(ld);
		return;
	}
	ld->closed++;
}

static void
scen_run(struct load *ld)
{
	scen_open_more(ld);
	ev_run(ld->loop, 0);
}

/* idle and storm: open, optionally check each answers once, then hold. */

static void
idle_open(struct lconn *c)
{
	char msg[32];
	int n;

	c->ld->open++;
	if (c->ld->check) {
		n = snprintf(msg, sizeof(msg), "check %u", c->id);
		c->t0 = load_now(c->ld);
		lconn_ws_send(c, 1, msg, (size_t)n);
	}
	scen_open_more(c->ld);
}

static void
idle_ws(struct lconn *c, int op, const unsigned char *d, size_t n)
{
	char want[32];
	int k = snprintf(want, sizeof(want), "check %u", c->id);

	if ((size_t)k == n && memcmp(want, d, n) == 0) {
		hist_add(&c->ld->lat,
		    (uint64_t)((load_now(c->ld) - c->t0) * 1e6));
		c->ld->answered++;
	}
}

static const struct lconn_ops idle_ops = {
	.on_open = idle_open,
	.on_ws = idle_ws,
	.on_close = scen_closed,
};

int
scen_idle(struct load *ld)
{
	ld->ops = &idle_ops;
	scen_run(ld);
	return 0;
}

/* http: keep-alive requests back to back on every connection. */

static void
http_open(struct lconn *c)
{
	c->ld->open++;
	scen_open_more(c->ld);
	lconn_http_request(c);
}

static void
http_done(struct lconn *c, int status, const char *body, size_t len)
{
	if (status >= 400)
		c->ld->errors++;
	if (!c->ld->stopping)
		lconn_http_request(c);
}

static const struct lconn_ops http_ops = {
	.on_open = http_open,
	.on_http = http_done,
	.on_close = scen_closed,
};

int
scen_http(struct load *ld)
{
	ld->ops = &http_ops;
	ld->size = ld->size == 100 ? 0 : ld->size;
	scen_run(ld);
	return 0;
}

/* echo: each connection sends a message and waits for its echo. */

static void
echo_send(struct lconn *c)
{
	static unsigned char msg[65536];
	size_t n = c->ld->size < sizeof(msg) ? c->ld->size : sizeof(msg);

	if (msg[0] == 0)
		memset(msg, 'e', sizeof(msg));
	c->t0 = load_now(c->ld);
	lconn_ws_send(c, 2, msg, n);
}

static void
echo_open(struct lconn *c)
{
	c->ld->open++;
	scen_open_more(c->ld);
	echo_send(c);
}

static void
echo_ws(struct lconn *c, int op, const unsigned char *d, size_t n)
{
	struct load *ld = c->ld;

	hist_add(&ld->lat, (uint64_t)((load_now(ld) - c->t0) * 1e6));
	ld->received++;
	if (!ld->stopping)
		echo_send(c);
}

static const struct lconn_ops echo_ops = {
	.on_open = echo_open,
	.on_ws = echo_ws,
	.on_close = scen_closed,
};

int
scen_echo(struct load *ld)
{
	ld->ops = &echo_ops;
	scen_run(ld);
	return 0;
}

/*
 * recv: the receivers of a fan-out.  Connection id joins group id % C
 * (path PATHc<k> when there are several); every stamped message counts
 * as a delivery with its delay.
 */

static void
recv_counted(struct lconn *c)
{
	c->user = c;
	c->ld->open++;
	scen_open_more(c->ld);
	load_publish(c->ld);
}

/* An RTM connection is in the fan-out once its hello has come. */
static void
recv_open(struct lconn *c)
{
	if (!c->ld->rtm)
		recv_counted(c);
}

static void
recv_ws(struct lconn *c, int op, const unsigned char *d, size_t n)
{
	double t;

	if (c->user == NULL) {
		if (n >= 15 && memcmp(d, "{\"type\":\"hello\"", 15) == 0)
			recv_counted(c);
		return;
	}
	t = load_stamp_find(d, n);
	if (t >= 0)
		load_delivered(c->ld, t);
}

static const struct lconn_ops recv_ops = {
	.on_open = recv_open,
	.on_ws = recv_ws,
	.on_close = scen_closed,
};

int
scen_recv(struct load *ld)
{
	ld->ops = &recv_ops;
	scen_run(ld);
	return 0;
}

/*
 * post: durable posts through the Web API.  Each connection posts a
 * stamped message with chat.postMessage and waits for the answer, which
 * the backend gives only after the commit that holds the message.
 */

static void
post_send(struct lconn *c)
{
	struct load *ld = c->ld;
	char body[1024], hdr[700];
	unsigned char text[512];
	size_t tl = ld->size < sizeof(text) ? ld->size : sizeof(text) - 1;
	int n;

	load_message(text, tl, load_now(ld));
	text[tl] = '\0';
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n", ld->token);
	n = snprintf(body, sizeof(body), "channel=%s&text=%s", ld->channel,
	    (const char *)text);
	if (n < 0 || (size_t)n >= sizeof(body))
		return;
	lconn_http_send(c, "POST", "/api/chat.postMessage", hdr, body,
	    (size_t)n);
	ld->sent++;
}

static void
post_open(struct lconn *c)
{
	c->ld->open++;
	scen_open_more(c->ld);
	post_send(c);
}

static void
post_done(struct lconn *c, int status, const char *body, size_t len)
{
	struct load *ld = c->ld;

	if (status != 200 || body == NULL ||
	    strstr(body, "\"ok\":true") == NULL) {
		if (ld->errors++ < 3)
			fprintf(stderr, "parley-load: post: %d %.*s\n", status,
			    (int)(len < 200 ? len : 200), body ? body : "");
	}
	load_publish(ld);
	if (!ld->stopping)
		post_send(c);
}

static const struct lconn_ops post_ops = {
	.on_open = post_open,
	.on_http = post_done,
	.on_close = scen_closed,
};

int
scen_post(struct load *ld)
{
	ld->ops = &post_ops;
	scen_run(ld);
	return 0;
}
