/*
 * parley-load scenarios.  Each opens its connections through
 * scen_start() (at most SCEN_INFLIGHT connects at a time, so a burst
 * does not overflow the server's accept queue), runs the loop until the
 * duration ends or a signal arrives, and prints its figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

#define SCEN_INFLIGHT 256

static unsigned scen_next;   /* next connection id to open */
static unsigned scen_failed; /* connections that never opened */
static unsigned scen_answered;
static int scen_ready;

/* Opens connections until SCEN_INFLIGHT are pending or all are open. */
static void
scen_open_more(struct load *ld)
{
	while (scen_next < ld->conns &&
	    scen_next - ld->open - scen_failed < SCEN_INFLIGHT) {
		if (lconn_open(ld, scen_next) == NULL) {
			scen_failed++;
			ld->errors++;
		}
		scen_next++;
	}
}

/* Prints the "ready" line once every connection opened or failed. */
static void
scen_check_ready(struct load *ld)
{
	if (scen_ready || ld->open + scen_failed < ld->conns)
		return;
	if (ld->check && scen_answered < ld->open)
		return;
	scen_ready = 1;
	printf("ready: open=%u failed=%u answered=%u seconds=%.2f\n",
	    ld->open, scen_failed, scen_answered,
	    load_now(ld) - ld->t_start);
	fflush(stdout);
}

static void
scen_run(struct load *ld)
{
	scen_open_more(ld);
	ev_run(ld->loop, 0);
}

/* idle: open, optionally check each answers once, then hold. */

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
	scen_check_ready(c->ld);
}

static void
idle_ws(struct lconn *c, int op, const unsigned char *d, size_t n)
{
	char want[32];
	int k = snprintf(want, sizeof(want), "check %u", c->id);

	if ((size_t)k == n && memcmp(want, d, n) == 0) {
		hist_add(&c->ld->lat,
		    (uint64_t)((load_now(c->ld) - c->t0) * 1e6));
		scen_answered++;
		scen_check_ready(c->ld);
	}
}

static void
scen_closed(struct lconn *c, const char *why)
{
	struct load *ld = c->ld;

	if (!c->opened) {
		/* Never opened. */
		scen_failed++;
		if (scen_failed <= 5)
			fprintf(stderr, "parley-load: connection %u: %s\n",
			    c->id, why);
		scen_open_more(ld);
		scen_check_ready(ld);
		return;
	}
	ld->closed++;
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
	printf("idle: open=%u failed=%u closed_by_server=%u answered=%u\n",
	    ld->open, scen_failed, ld->closed, scen_answered);
	if (ld->check)
		hist_print(&ld->lat, "answer", stdout);
	return scen_failed == 0 && ld->closed == 0 &&
	    (!ld->check || scen_answered == ld->open) ? 0 : 1;
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

/* Prints the rate figures common to the timed scenarios. */
static void
scen_report(struct load *ld, const char *what)
{
	double secs = load_now(ld) - ld->t_start;

	printf("%s: conns=%u failed=%u seconds=%.2f count=%llu rate=%.0f/s"
	    " errors=%llu\n", what, ld->open, scen_failed, secs,
	    (unsigned long long)ld->received, (double)ld->received / secs,
	    (unsigned long long)ld->errors);
	hist_print(&ld->lat, "latency", stdout);
}

int
scen_http(struct load *ld)
{
	ld->ops = &http_ops;
	if (ld->duration <= 0)
		ld->duration = 5;
	ld->size = ld->size == 16 ? 0 : ld->size;
	scen_run(ld);
	scen_report(ld, "http");
	return scen_failed == 0 ? 0 : 1;
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
	if (ld->duration <= 0)
		ld->duration = 5;
	scen_run(ld);
	scen_report(ld, "echo");
	return scen_failed == 0 ? 0 : 1;
}

/*
 * fanout: connection 0 publishes "B<send time>" messages at -r per
 * second; the server broadcasts each to every connection, and each
 * receiver measures the delay from the time in the message.
 */

static struct lconn *publisher;
static ev_timer pub_timer;

static void
pub_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct load *ld = w->data;
	char msg[64];
	int n;

	if (publisher == NULL || ld->open < ld->conns || ld->stopping)
		return;
	n = snprintf(msg, sizeof(msg), "B%.9f", load_now(ld));
	lconn_ws_send(publisher, 1, msg, (size_t)n);
	ld->sent++;
}

static void
fan_open(struct lconn *c)
{
	c->ld->open++;
	if (c->id == 0)
		publisher = c;
	scen_open_more(c->ld);
	scen_check_ready(c->ld);
}

static void
fan_ws(struct lconn *c, int op, const unsigned char *d, size_t n)
{
	struct load *ld = c->ld;
	char ts[40];
	double t;

	if (n < 2 || d[0] != 'B' || n - 1 >= sizeof(ts))
		return;
	memcpy(ts, d + 1, n - 1);
	ts[n - 1] = '\0';
	t = strtod(ts, NULL);
	hist_add(&ld->lat, (uint64_t)((load_now(ld) - t) * 1e6));
	ld->received++;
}

static void
fan_close(struct lconn *c, const char *why)
{
	if (c == publisher)
		publisher = NULL;
	scen_closed(c, why);
}

static const struct lconn_ops fan_ops = {
	.on_open = fan_open,
	.on_ws = fan_ws,
	.on_close = fan_close,
};

int
scen_fanout(struct load *ld)
{
	double rate = ld->rate > 0 ? ld->rate : 100;

	ld->ops = &fan_ops;
	if (ld->duration <= 0)
		ld->duration = 5;
	ev_timer_init(&pub_timer, pub_tick, 1. / rate, 1. / rate);
	pub_timer.data = ld;
	ev_timer_start(ld->loop, &pub_timer);
	scen_run(ld);
	printf("fanout: published=%llu expected=%llu\n",
	    (unsigned long long)ld->sent,
	    (unsigned long long)ld->sent * ld->open);
	scen_report(ld, "fanout");
	return scen_failed == 0 ? 0 : 1;
}
