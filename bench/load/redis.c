/*
 * redis: parley-load's Redis connections, so that Redis pub/sub is
 * measured by the same program, with the same stamped messages, as the
 * WebSocket servers.  Commands are encoded with hiredis's
 * redisFormatCommand() and replies parsed with its reader, given object
 * functions that build nothing: they only note whether a push is a
 * subscription confirmation or a message, and record a message's delay.
 *
 *   CONNECTING --connected--> SUBSCRIBING (receiver) or OPEN (publisher)
 *   SUBSCRIBING --"subscribe" confirmation--> OPEN
 *   any --error, EOF--> closed
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "load.h"
#include "xmalloc.h"

#define RC_READ  (256 * 1024)
/* The reader moves its unread bytes down after every reply once it has
 * consumed 1 KiB, so it is fed a few KiB at a time. */
#define RC_FEED  4096

enum { RC_CONNECTING, RC_SUBSCRIBING, RC_OPEN, RC_DEAD };
enum { RK_NONE, RK_SUB, RK_MSG };

struct rconn {
	ev_io io;
	struct load *ld;
	int fd;
	int state;
	int pub;        /* the publisher: replies are counts */
	int kind;       /* RK_* of the push being read */
	unsigned id;
	double t0;
	redisReader *rd;
	struct buf_queue out;
};

/* The connection whose bytes the reader is parsing. */
static struct rconn *rc_cur;
static char rc_obj; /* what the object functions return */

static void rc_close(struct rconn *r, const char *why);

static void *
rc_string(const redisReadTask *t, char *s, size_t len)
{
	struct rconn *r = rc_cur;
	double ts;

	if (t->type == REDIS_REPLY_ERROR) {
		if (r->ld->errors++ < 3)
			fprintf(stderr, "parley-load: redis: %.*s\n",
			    (int)(len < 120 ? len : 120), s);
		return &rc_obj;
	}
	if (t->parent == NULL)
		return &rc_obj;
	if (t->idx == 0) {
		if (len == 7 && memcmp(s, "message", 7) == 0)
			r->kind = RK_MSG;
		else if (len == 9 && memcmp(s, "subscribe", 9) == 0)
			r->kind = RK_SUB;
		else
			r->kind = RK_NONE;
	} else if (t->idx == 2 && r->kind == RK_MSG) {
		ts = load_stamp_find((const unsigned char *)s, len);
		if (ts >= 0)
			load_delivered(r->ld, ts);
	}
	return &rc_obj;
}

static void *
rc_array(const redisReadTask *t, int n)
{
	return &rc_obj;
}

static void *
rc_integer(const redisReadTask *t, long long v)
{
	struct rconn *r = rc_cur;
	struct load *ld = r->ld;

	if (t->parent != NULL && t->idx == 2 && r->kind == RK_SUB &&
	    r->state == RC_SUBSCRIBING) {
		r->state = RC_OPEN;
		hist_add(&ld->conn_lat, (uint64_t)((load_now(ld) - r->t0) *
		    1e6));
		ld->open++;
	}
	return &rc_obj;
}

static void *
rc_nil(const redisReadTask *t)
{
	return &rc_obj;
}

static void
rc_free(void *obj)
{
}

static redisReplyObjectFunctions rc_fns = {
	rc_string, rc_array, rc_integer, rc_nil, rc_free,
};

static void rc_io_cb(struct ev_loop *loop, ev_io *w, int revents);

void
redis_flush(struct rconn *r)
{
	int rc, ev = EV_READ;

	if (r->state == RC_DEAD)
		return;
	rc = buf_queue_writev(&r->out, r->fd, NULL);

	if (rc == -1) {
		r->ld->errors++;
		(void)shutdown(r->fd, SHUT_RDWR);
		return;
	}
	if (rc == 0 || r->state == RC_CONNECTING)
		ev |= EV_WRITE;
	if ((r->io.events & (EV_READ | EV_WRITE)) != ev) {
		ev_io_stop(r->ld->loop, &r->io);
		ev_io_set(&r->io, r->fd, ev);
		ev_io_start(r->ld->loop, &r->io);
	}
}

size_t
redis_queued(const struct rconn *r)
{
	return r->out.bytes;
}

int
redis_ready(const struct rconn *r)
{
	return r->state == RC_OPEN;
}

/* Queues one command encoded by hiredis. */
static void
rc_command(struct rconn *r, int argc, const char **argv, const size_t *lens)
{
	char *cmd;
	int n;

	n = redisFormatCommandArgv(&cmd, argc, argv, lens);
	if (n < 0)
		return;
	(void)buf_queue_push_copy(&r->out, cmd, (size_t)n);
	redisFreeCommand(cmd);
}

void
redis_publish(struct rconn *r, unsigned ch, const void *p, size_t len)
{
	char name[16];
	const char *argv[3] = { "PUBLISH", name, p };
	size_t lens[3] = { 7, 0, len };

	if (r->state != RC_OPEN)
		return;
	lens[1] = (size_t)snprintf(name, sizeof(name), "c%u", ch);
	rc_command(r, 3, argv, lens);
}

static struct rconn *
rc_open(struct load *ld, unsigned id, int pub)
{
	struct rconn *r;
	int fd;

	fd = load_socket(ld);
	if (fd == -1)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->ld = ld;
	r->fd = fd;
	r->id = id;
	r->pub = pub;
	r->t0 = load_now(ld);
	r->rd = redisReaderCreateWithFunctions(&rc_fns);
	if (r->rd == NULL)
		abort();
	buf_queue_init(&r->out, 0);
	ev_io_init(&r->io, rc_io_cb, fd, EV_WRITE);
	r->io.data = r;
	ev_io_start(ld->loop, &r->io);
	return r;
}

struct rconn *
redis_pub_open(struct load *ld)
{
	return rc_open(ld, 0, 1);
}

static void
rc_close(struct rconn *r, const char *why)
{
	struct load *ld = r->ld;

	ev_io_stop(ld->loop, &r->io);
	close(r->fd);
	buf_queue_clear(&r->out);
	redisReaderFree(r->rd);
	r->rd = NULL;
	if (r->pub) {
		/* The publisher keeps its struct; it sees RC_DEAD. */
		if (!ld->stopping)
			fprintf(stderr, "parley-load: redis publisher: %s\n",
			    why);
		r->state = RC_DEAD;
		r->fd = -1;
		return;
	}
	if (!ld->stopping) {
		if (r->state == RC_OPEN) {
			ld->closed++;
		} else {
			ld->failed++;
			if (ld->failed <= 5)
				fprintf(stderr, "parley-load: redis %u: %s\n",
				    r->id, why);
		}
	}
	free(r);
}

void
redis_pub_close(struct rconn *r)
{
	if (r->state != RC_DEAD)
		rc_close(r, "done");
	free(r);
}

static void
rc_connected(struct rconn *r)
{
	struct load *ld = r->ld;
	int err = 0;
	socklen_t sl = sizeof(err);
	char name[16];
	const char *argv[2] = { "SUBSCRIBE", name };
	size_t lens[2] = { 9, 0 };

	if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 ||
	    err != 0) {
		rc_close(r, strerror(err ? err : errno));
		return;
	}
	if (r->pub) {
		r->state = RC_OPEN;
	} else {
		r->state = RC_SUBSCRIBING;
		lens[1] = (size_t)snprintf(name, sizeof(name), "c%u",
		    r->id % ld->channels);
		rc_command(r, 2, argv, lens);
	}
	redis_flush(r);
}

/* Reads once and runs the bytes through the reader. */
static void
rc_read(struct rconn *r)
{
	static char *buf;
	struct load *ld = r->ld;
	ssize_t n;
	size_t off, k;
	void *reply;

	if (buf == NULL)
		buf = xmalloc(RC_READ);
	n = read(r->fd, buf, RC_READ);
	if (n == 0) {
		rc_close(r, "EOF");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			rc_close(r, strerror(errno));
		return;
	}
	ld->now = load_now(ld);
	rc_cur = r;
	for (off = 0; off < (size_t)n; off += k) {
		k = (size_t)n - off < RC_FEED ? (size_t)n - off : RC_FEED;
		if (redisReaderFeed(r->rd, buf + off, k) != REDIS_OK)
			break;
		do {
			if (redisReaderGetReply(r->rd, &reply) != REDIS_OK) {
				rc_close(r, r->rd->errstr);
				return;
			}
		} while (reply != NULL);
	}
	if (ld->is_worker)
		load_publish(ld);
}

static void
rc_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rconn *r = w->data;

	if (r->state == RC_CONNECTING) {
		if (revents & EV_WRITE)
			rc_connected(r);
		return;
	}
	if (revents & EV_WRITE) {
		redis_flush(r);
		return;
	}
	if (revents & EV_READ)
		rc_read(r);
}

/* Opens receivers until ld->inflight are pending or all are open. */
static unsigned rc_next;

static void
rc_open_more(struct load *ld)
{
	if (rc_next < ld->id_lo)
		rc_next = ld->id_lo;
	while (rc_next < ld->id_hi &&
	    rc_next - ld->id_lo - ld->open - ld->failed < ld->inflight) {
		if (rc_open(ld, rc_next, 0) == NULL) {
			ld->failed++;
			ld->errors++;
		}
		rc_next++;
	}
}

/* Keeps connecting while receivers get their confirmations. */
static void
rc_more_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct load *ld = w->data;

	rc_open_more(ld);
	if (rc_next >= ld->id_hi)
		ev_timer_stop(loop, w);
}

int
redis_recv(struct load *ld)
{
	ev_timer more;

	rc_open_more(ld);
	ev_timer_init(&more, rc_more_cb, 0.005, 0.005);
	more.data = ld;
	ev_timer_start(ld->loop, &more);
	ev_run(ld->loop, 0);
	ld->stopping = 1;
	return 0;
}
