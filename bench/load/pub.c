/*
 * pub: the fan-out publisher, run by the parent while the workers hold
 * the receivers.
 *
 *   WAIT --every receiver and publisher connection open--> PUBLISH
 *   PUBLISH --duration over--> DRAIN
 *   DRAIN --every delivery counted, or the drain time over--> done
 *
 * One publisher connection per channel (a WebSocket to the channel's
 * path, or one Redis connection for all).  A 1 ms timer publishes:
 * at a fixed rate, as many messages as the time elapsed calls for; flat
 * out (rate 0), as many as keep the deliveries not yet counted by the
 * receivers under the window, so that no server queue grows without
 * bound.  Messages of one tick carry the same stamp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "xmalloc.h"

#define PUB_TICK      0.001
#define PUB_BATCH     20000      /* messages per tick at most */
#define PUB_QUEUE_MAX (1 << 20)  /* bytes queued on a publisher */
#define PUB_DRAIN     3.0        /* seconds to wait for stragglers */

enum { PUB_WAIT, PUB_PUBLISH, PUB_DRAIN_PHASE };

struct pub {
	struct load *ld;
	struct lconn **ws;   /* per channel, WebSocket targets */
	struct rconn *rc;    /* Redis target */
	unsigned *members;   /* receivers per channel */
	unsigned nopen;      /* WebSocket publishers open */
	unsigned next;       /* next channel */
	int phase;
	int failed;
	double t_drain;
	ev_timer tick;
};

static struct pub *pub_the;

static void
pub_ws_open(struct lconn *c)
{
	pub_the->nopen++;
}

static void
pub_ws_close(struct lconn *c, const char *why)
{
	if (!c->ld->stopping) {
		fprintf(stderr, "parley-load: publisher %u: %s\n", c->id, why);
		pub_the->failed = 1;
	}
	pub_the->ws[c->id] = NULL;
}

static const struct lconn_ops pub_ws_ops = {
	.on_open = pub_ws_open,
	.on_close = pub_ws_close,
};

static int
pub_ready(const struct pub *p)
{
	if (p->rc != NULL)
		return redis_ready(p->rc);
	return p->nopen == p->ld->channels;
}

/* Bytes queued on the publisher of channel ch. */
static size_t
pub_queued(const struct pub *p, unsigned ch)
{
	if (p->rc != NULL)
		return redis_queued(p->rc);
	return p->ws[ch] != NULL ? lconn_queued(p->ws[ch]) : PUB_QUEUE_MAX;
}

/*
 * Queues an RTM message send of text (a stamped message, which needs no
 * escaping) to the channel; the backend stores it, acknowledges it after
 * the commit and sends the message event to every member's connection.
 */
static void
pub_rtm(struct lconn *c, const unsigned char *text)
{
	static unsigned long long id;
	char m[4400];
	int n;

	n = snprintf(m, sizeof(m), "{\"id\":%llu,\"type\":\"message\","
	    "\"channel\":\"%s\",\"text\":\"%s\"}", ++id, c->ld->channel,
	    (const char *)text);
	if (n > 0 && (size_t)n < sizeof(m))
		lconn_ws_queue(c, 1, m, (size_t)n);
}

/* Publishes up to n messages stamped now; returns how many went. */
static uint64_t
pub_send(struct pub *p, uint64_t n, double now)
{
	struct load *ld = p->ld;
	unsigned char msg[4096];
	size_t len = ld->size < sizeof(msg) ? ld->size : sizeof(msg) - 1;
	uint64_t i;
	unsigned ch, k;

	load_message(msg, len, now);
	msg[len] = '\0';
	for (i = 0; i < n; i++) {
		ch = p->next;
		if (pub_queued(p, ch) >= PUB_QUEUE_MAX)
			break;
		if (p->rc != NULL)
			redis_publish(p->rc, ch, msg, len);
		else if (ld->rtm)
			pub_rtm(p->ws[ch], msg);
		else
			lconn_ws_queue(p->ws[ch], 1, msg, len);
		ld->expected += p->members[ch];
		ld->sent++;
		p->next = (ch + 1) % ld->channels;
	}
	if (p->rc != NULL) {
		redis_flush(p->rc);
	} else {
		for (k = 0; k < ld->channels; k++)
			if (p->ws[k] != NULL && lconn_queued(p->ws[k]) > 0)
				lconn_flush(p->ws[k]);
	}
	return i;
}

/* Sum of what the workers counted. */
static void
pub_counts(const struct load *ld, uint64_t *received, uint64_t *open,
    uint64_t *failed, uint64_t *closed)
{
	unsigned k;

	*received = *open = *failed = *closed = 0;
	for (k = 0; k < ld->workers; k++) {
		const struct load_stats *w = &ld->sh->w[k];

		*received += __atomic_load_n(&w->received, __ATOMIC_RELAXED);
		*open += __atomic_load_n(&w->open, __ATOMIC_RELAXED);
		*failed += __atomic_load_n(&w->failed, __ATOMIC_RELAXED);
		*closed += __atomic_load_n(&w->closed, __ATOMIC_RELAXED);
	}
}

static void
pub_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pub *p = w->data;
	struct load *ld = p->ld;
	uint64_t received, open, failed, closed, want, out, per;
	double now = load_now(ld);

	pub_counts(ld, &received, &open, &failed, &closed);
	if (p->phase != PUB_WAIT && !pub_ready(p))
		p->failed = 1;
	if (p->failed || load_signalled() || (p->phase == PUB_WAIT &&
	    failed > 0)) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	switch (p->phase) {
	case PUB_WAIT:
		if (open < ld->conns || !pub_ready(p))
			return;
		printf("ready: open=%llu failed=%llu answered=0 "
		    "seconds=%.2f\n", (unsigned long long)open,
		    (unsigned long long)failed, now - ld->t_start);
		fflush(stdout);
		p->phase = PUB_PUBLISH;
		ld->t_pub0 = now;
		/* FALLTHROUGH */
	case PUB_PUBLISH:
		if (ld->duration > 0 && now - ld->t_pub0 >= ld->duration) {
			p->phase = PUB_DRAIN_PHASE;
			p->t_drain = now;
			return;
		}
		if (ld->rate > 0) {
			want = (uint64_t)((now - ld->t_pub0) * ld->rate) + 1;
			want = want > ld->sent ? want - ld->sent : 0;
		} else {
			out = ld->expected - received;
			per = ld->conns / ld->channels;
			want = out < ld->window ?
			    (ld->window - out) / (per ? per : 1) : 0;
		}
		if (want > PUB_BATCH)
			want = PUB_BATCH;
		if (want > 0)
			(void)pub_send(p, want, now);
		return;
	case PUB_DRAIN_PHASE:
		if (received >= ld->expected || closed > 0 ||
		    now - p->t_drain >= PUB_DRAIN)
			ev_break(loop, EVBREAK_ALL);
		return;
	}
}

int
pub_run(struct load *ld)
{
	struct pub p;
	unsigned k;

	memset(&p, 0, sizeof(p));
	p.ld = ld;
	pub_the = &p;
	p.members = xcalloc(ld->channels, sizeof(*p.members));
	for (k = 0; k < ld->channels; k++)
		p.members[k] = ld->conns / ld->channels +
		    (k < ld->conns % ld->channels ? 1 : 0);
	ld->ops = &pub_ws_ops;
	if (ld->redis) {
		p.rc = redis_pub_open(ld);
		if (p.rc == NULL) {
			free(p.members);
			return -1;
		}
	} else {
		p.ws = xcalloc(ld->channels, sizeof(*p.ws));
		for (k = 0; k < ld->channels; k++) {
			p.ws[k] = lconn_open(ld, k);
			if (p.ws[k] == NULL) {
				fprintf(stderr, "parley-load: publisher %u: "
				    "cannot connect\n", k);
				p.failed = 1;
				break;
			}
		}
	}
	ev_timer_init(&p.tick, pub_tick, PUB_TICK, PUB_TICK);
	p.tick.data = &p;
	ev_timer_start(ld->loop, &p.tick);
	ev_run(ld->loop, 0);
	ev_timer_stop(ld->loop, &p.tick);
	ld->stopping = 1;
	if (p.rc != NULL)
		redis_pub_close(p.rc);
	for (k = 0; p.ws != NULL && k < ld->channels; k++)
		if (p.ws[k] != NULL)
			lconn_close(p.ws[k], "done");
	free(p.ws);
	free(p.members);
	printf("fanout: channels=%u rate=%s\n", ld->channels,
	    ld->rate > 0 ? "fixed" : "flat-out");
	return p.phase == PUB_WAIT || p.failed ? -1 : 0;
}
