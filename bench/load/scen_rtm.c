/*
 * parley-load scenarios against parley-backend's RTM WebSocket
 * (docs/rtm.md).  The URL is one that rtm.connect gave (its ticket lets
 * every connection in); the modes that post read the channel to post in
 * from a "channel" parameter added to it, which the server ignores.
 *
 *   rtm-idle    open CONNS connections, wait for each one's hello, hold
 *               them for -d seconds (the server's memory is measured by
 *               the caller)
 *   rtm-fanout  connection 0 posts "B<send time>" messages at -r per
 *               second; every connection gets each message event, and
 *               the delay from the time in its text is recorded: commit
 *               and fan-out together, as a client sees them
 *   rtm-send    every connection posts one message after another, each
 *               after the previous one's ack (which comes after its
 *               durable commit): acks per second and their latency
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

#define RTM_INFLIGHT 256 /* connects pending at once */

static unsigned rtm_next, rtm_failed, rtm_hellos;
static int rtm_ready;
static char rtm_channel[32];
static struct lconn *rtm_pub;
static ev_timer rtm_pub_timer;
static uint64_t rtm_acks, rtm_nacks;
static double rtm_duration; /* -d, counted from "ready" */

static void
rtm_open_more(struct load *ld)
{
	while (rtm_next < ld->conns &&
	    rtm_next - ld->open - rtm_failed < RTM_INFLIGHT) {
		if (lconn_open(ld, rtm_next) == NULL) {
			rtm_failed++;
			ld->errors++;
		}
		rtm_next++;
	}
}

/* "ready" once every connection has its hello (or failed). */
static void
rtm_check_ready(struct load *ld)
{
	if (rtm_ready || rtm_hellos + rtm_failed < ld->conns)
		return;
	rtm_ready = 1;
	printf("ready: open=%u hello=%u failed=%u seconds=%.2f\n", ld->open,
	    rtm_hellos, rtm_failed, load_now(ld) - ld->t_start);
	fflush(stdout);
	/* The timed part starts now: what came before is not counted. */
	ld->t_start = load_now(ld);
	ld->duration = rtm_duration;
	ld->received = 0;
	rtm_acks = rtm_nacks = 0;
	hist_init(&ld->lat);
}

/* Holds the loop open until every connection is in (see ready). */
static void
rtm_start(struct load *ld, double def)
{
	rtm_duration = ld->duration > 0 ? ld->duration : def;
	ld->duration = 0;
	rtm_open_more(ld);
	ev_run(ld->loop, 0);
}

/* The value of "channel=" in the URL's query, for the posting modes. */
static int
rtm_find_channel(const struct load *ld)
{
	const char *p = strstr(ld->path, "channel=");
	size_t n;

	if (p == NULL)
		return -1;
	p += 8;
	n = strcspn(p, "&");
	if (n == 0 || n >= sizeof(rtm_channel))
		return -1;
	memcpy(rtm_channel, p, n);
	rtm_channel[n] = '\0';
	return 0;
}

static int
rtm_starts(const unsigned char *d, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && memcmp(d, prefix, k) == 0;
}

static void
rtm_post(struct lconn *c, const char *text)
{
	char msg[256];
	int n;

	n = snprintf(msg, sizeof(msg), "{\"id\":%llu,\"type\":\"message\","
	    "\"channel\":\"%s\",\"text\":\"%s\"}",
	    (unsigned long long)++c->ld->sent, rtm_channel, text);
	lconn_ws_send(c, 1, msg, (size_t)n);
}

static void
rtm_open(struct lconn *c)
{
	c->ld->open++;
	rtm_open_more(c->ld);
}

static void
rtm_closed(struct lconn *c, const char *why)
{
	struct load *ld = c->ld;

	if (c == rtm_pub)
		rtm_pub = NULL;
	if (!c->opened) {
		rtm_failed++;
		if (rtm_failed <= 5)
			fprintf(stderr, "parley-load: connection %u: %s\n",
			    c->id, why);
		rtm_open_more(ld);
		rtm_check_ready(ld);
		return;
	}
	ld->closed++;
	if (!ld->stopping)
		ld->errors++;
}

/* Counts the hello; returns 1 if d was it. */
static int
rtm_hello(struct lconn *c, const unsigned char *d, size_t n)
{
	if (!rtm_starts(d, n, "{\"type\":\"hello\""))
		return 0;
	c->user = c;
	rtm_hellos++;
	rtm_check_ready(c->ld);
	return 1;
}

/* rtm-idle */

static void
idle_ws(struct lconn *c, int op, const unsigned char *d, size_t n)
{
	(void)rtm_hello(c, d, n);
}

static const struct lconn_ops rtm_idle_ops = {
	.on_open = rtm_open,
	.on_ws = idle_ws,
	.on_close = rtm_closed,
};

static void
rtm_report(struct load *ld, const char *what, uint64_t count)
{
	double secs = load_now(ld) - ld->t_start;

	printf("%s: conns=%u hello=%u failed=%u closed=%u seconds=%.2f "
	    "count=%llu rate=%.0f/s acks=%llu errors=%llu\n", what, ld->open,
	    rtm_hellos, rtm_failed, ld->closed, secs,
	    (unsigned long long)count, (double)count / secs,
	    (unsigned long long)rtm_acks,
	    (unsigned long long)(ld->errors + rtm_nacks));
	hist_print(&ld->lat, "latency", stdout);
}

int
scen_rtm_idle(struct load *ld)
{
	ld->ops = &rtm_idle_ops;
	rtm_start(ld, 1);
	rtm_report(ld, "rtm-idle", rtm_hellos);
	return rtm_failed == 0 && rtm_hellos == ld->conns ? 0 : 1;
}

/* rtm-fanout */

static void
fan_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct load *ld = w->data;
	char text[48];

	if (rtm_pub == NULL || !rtm_ready || ld->stopping)
		return;
	snprintf(text, sizeof(text), "B%.9f", load_now(ld));
	rtm_post(rtm_pub, text);
}

static void
fan_ws(struct lconn *c, int op, const unsigned char *d, size_t n)
{
	struct load *ld = c->ld;
	const unsigned char *p;
	char ts[40];
	size_t k;

	if (rtm_hello(c, d, n)) {
		if (c->id == 0)
			rtm_pub = c;
		return;
	}
	if (rtm_starts(d, n, "{\"ok\":true")) {
		rtm_acks++;
		return;
	}
	if (rtm_starts(d, n, "{\"ok\":false")) {
		rtm_nacks++;
		return;
	}
	/* A message event: {"seq":N,"type":"message",...,"text":"B<t>"...} */
	if (!rtm_starts(d, n, "{\"seq\":"))
		return;
	p = memmem(d, n, "\"text\":\"B", 9);
	if (p == NULL)
		return;
	p += 9;
	for (k = 0; k < sizeof(ts) - 1 && p + k < d + n && p[k] != '"'; k++)
		ts[k] = (char)p[k];
	ts[k] = '\0';
	hist_add(&ld->lat, (uint64_t)((load_now(ld) - strtod(ts, NULL)) *
	    1e6));
	ld->received++;
}

static const struct lconn_ops rtm_fan_ops = {
	.on_open = rtm_open,
	.on_ws = fan_ws,
	.on_close = rtm_closed,
};

int
scen_rtm_fanout(struct load *ld)
{
	double rate = ld->rate > 0 ? ld->rate : 100;

	if (rtm_find_channel(ld) == -1) {
		fprintf(stderr, "parley-load: rtm-fanout needs &channel=C... "
		    "in the URL\n");
		return 2;
	}
	ld->ops = &rtm_fan_ops;
	ev_timer_init(&rtm_pub_timer, fan_tick, 1. / rate, 1. / rate);
	rtm_pub_timer.data = ld;
	ev_timer_start(ld->loop, &rtm_pub_timer);
	rtm_start(ld, 5);
	printf("rtm-fanout: published=%llu expected=%llu\n",
	    (unsigned long long)ld->sent,
	    (unsigned long long)ld->sent * rtm_hellos);
	rtm_report(ld, "rtm-fanout", ld->received);
	return rtm_failed == 0 ? 0 : 1;
}

/* rtm-send */

static void
send_next(struct lconn *c)
{
	c->t0 = load_now(c->ld);
	rtm_post(c, "durable");
}

static void
send_ws(struct lconn *c, int op, const unsigned char *d, size_t n)
{
	struct load *ld = c->ld;

	if (rtm_hello(c, d, n)) {
		send_next(c);
		return;
	}
	if (!rtm_starts(d, n, "{\"ok\":"))
		return;
	if (rtm_starts(d, n, "{\"ok\":true"))
		rtm_acks++;
	else
		rtm_nacks++;
	hist_add(&ld->lat, (uint64_t)((load_now(ld) - c->t0) * 1e6));
	ld->received++;
	if (!ld->stopping)
		send_next(c);
}

static const struct lconn_ops rtm_send_ops = {
	.on_open = rtm_open,
	.on_ws = send_ws,
	.on_close = rtm_closed,
};

int
scen_rtm_send(struct load *ld)
{
	if (rtm_find_channel(ld) == -1) {
		fprintf(stderr, "parley-load: rtm-send needs &channel=C... "
		    "in the URL\n");
		return 2;
	}
	ld->ops = &rtm_send_ops;
	rtm_start(ld, 5);
	rtm_report(ld, "rtm-send", rtm_acks);
	return rtm_failed == 0 ? 0 : 1;
}
