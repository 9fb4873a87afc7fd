/*
 * spoa_server: worker threads, each with its own libev loop, sharing
 * one listening socket; connection I/O around spoa_session.
 *
 * A read takes whatever HAProxy sent (any number of frames, or part of
 * one) into the worker's read buffer, the session answers every whole
 * frame into the worker's output buffer, and the answers go out in one
 * write.  What the socket does not take is copied to the connection
 * and reading stops until it is written, so a peer that does not read
 * cannot make the agent buffer without bound.  An idle connection holds
 * no buffer.
 *
 * One timer per connection bounds each phase: SPOA_HELLO_TIMEOUT until
 * HELLO, then [spoa] idle_timeout between frames (reset by every read)
 * and [spoa] frame_timeout from the first byte of a frame to its last.
 * When one runs out the agent says AGENT-DISCONNECT with status 2 (a
 * timeout occurred) and closes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "daemon.h"
#include "log.h"
#include "spoa.h"
#include "xmalloc.h"

#define SPOA_READ_SIZE (64 * 1024)
/* A connection that has not said HELLO by then is closed. */
#define SPOA_HELLO_TIMEOUT 10.0

enum {
	SPOA_TIMER_HELLO,
	SPOA_TIMER_IDLE,
	SPOA_TIMER_FRAME,
};

struct spoa_conn {
	int fd;
	ev_io rw;
	ev_io ww;
	ev_timer timer;
	int timer_kind; /* SPOA_TIMER_* */
	struct spoa_session sess;
	struct spoa_worker *w;
	uint8_t *pend;
	size_t pend_len;
	size_t pend_off;
	int closing;
	struct spoa_conn *prev, *next;
};

static void spoa_conn_read(struct ev_loop *loop, ev_io *io, int revents);
static void spoa_conn_write(struct ev_loop *loop, ev_io *io, int revents);

static void
spoa_conn_close(struct spoa_conn *c)
{
	struct spoa_worker *w = c->w;

	ev_io_stop(w->loop, &c->rw);
	ev_io_stop(w->loop, &c->ww);
	ev_timer_stop(w->loop, &c->timer);
	close(c->fd);
	spoa_session_free(&c->sess);
	free(c->pend);

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);

	SPOA_DEC(w->stats.conns_open);
	if (w->nconns-- == (size_t)w->max_conns && !w->draining)
		ev_io_start(w->loop, &w->accept_w);
	if (w->draining && w->conns == NULL)
		atomic_store(&w->drained, 1);
}

/*
 * Writes out, keeping what the socket does not take.  Returns 0, or -1
 * when the connection is gone (closed here).
 */
static int
spoa_conn_send(struct spoa_conn *c, const uint8_t *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(c->fd, data, len);
		if (n > 0) {
			data += n;
			len -= n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		log_info("spoa: write to HAProxy failed: %s; closing",
		    strerror(errno));
		spoa_conn_close(c);
		return -1;
	}
	if (len == 0)
		return 0;

	c->pend = xmalloc(len);
	memcpy(c->pend, data, len);
	c->pend_len = len;
	c->pend_off = 0;
	ev_io_stop(c->w->loop, &c->rw);
	ev_io_start(c->w->loop, &c->ww);
	return 0;
}

/*
 * Queues data for the connection: behind what is still pending, or
 * written now.  Returns 0, or -1 when the connection is gone.
 */
static int
spoa_conn_queue(struct spoa_conn *c, const uint8_t *data, size_t len)
{
	if (c->pend == NULL)
		return spoa_conn_send(c, data, len);
	c->pend = xreallocarray(c->pend, c->pend_len + len, 1);
	memcpy(c->pend + c->pend_len, data, len);
	c->pend_len += len;
	return 0;
}

/*
 * Sets the connection's timer after input: idle_timeout between frames,
 * frame_timeout from the start of a partial frame (not reset by more of
 * it), the HELLO timeout until HELLO.
 */
static void
spoa_conn_arm(struct spoa_conn *c)
{
	const struct spoa_policy *pol = c->w->ctx.pol;
	struct ev_loop *loop = c->w->loop;

	if (c->sess.state == SPOA_SESS_HELLO)
		return;
	if (spoa_session_pending(&c->sess)) {
		if (c->timer_kind == SPOA_TIMER_FRAME)
			return;
		ev_timer_stop(loop, &c->timer);
		ev_timer_set(&c->timer, pol->frame_timeout, 0.);
		c->timer_kind = SPOA_TIMER_FRAME;
	} else {
		ev_timer_stop(loop, &c->timer);
		ev_timer_set(&c->timer, pol->idle_timeout, 0.);
		c->timer_kind = SPOA_TIMER_IDLE;
	}
	ev_timer_start(loop, &c->timer);
}

/*
 * Says AGENT-DISCONNECT with status and msg (unless the session already
 * closes), then closes once it is written.
 */
static void
spoa_conn_goodbye(struct spoa_conn *c, uint32_t status, const char *msg)
{
	struct spoa_worker *w = c->w;

	w->out.len = 0;
	spoa_session_goodbye(&c->sess, status, msg, &w->out);
	c->closing = 1;
	ev_timer_stop(w->loop, &c->timer);
	if (w->out.len > 0 && spoa_conn_queue(c, w->out.data, w->out.len))
		return;
	if (c->pend == NULL)
		spoa_conn_close(c);
}

static void
spoa_conn_write(struct ev_loop *loop, ev_io *io, int revents)
{
	struct spoa_conn *c = io->data;
	ssize_t n;

	n = write(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			   errno == EINTR))
		return;
	if (n <= 0) {
		log_info("spoa: write to HAProxy failed: %s; closing",
		    n == 0 ? "no progress" : strerror(errno));
		spoa_conn_close(c);
		return;
	}
	c->pend_off += n;
	if (c->pend_off < c->pend_len)
		return;

	free(c->pend);
	c->pend = NULL;
	c->pend_len = c->pend_off = 0;
	ev_io_stop(loop, &c->ww);
	if (c->closing)
		spoa_conn_close(c);
	else
		ev_io_start(loop, &c->rw);
}

/*
 * Reads once and answers what came.  Returns 0 after input, 1 when
 * nothing was there to read, -1 when the connection is gone.
 */
static int
spoa_conn_input(struct spoa_conn *c)
{
	struct spoa_worker *w = c->w;
	int rc;
	ssize_t n;

	n = read(c->fd, w->rbuf, SPOA_READ_SIZE);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			   errno == EINTR))
		return 1;
	if (n <= 0) {
		if (n == -1)
			log_info("spoa: read from HAProxy at %s failed: %s",
			    c->sess.peer, strerror(errno));
		else if (spoa_session_pending(&c->sess))
			log_info("spoa: HAProxy at %s closed in the middle of "
				 "a frame",
			    c->sess.peer);
		spoa_conn_close(c);
		return -1;
	}

	w->out.len = 0;
	rc = spoa_session_input(&c->sess, w->rbuf, n, &w->out);
	if (rc != 0) {
		c->closing = 1;
		ev_timer_stop(w->loop, &c->timer);
	} else {
		spoa_conn_arm(c);
	}
	if (w->out.len > 0 && spoa_conn_send(c, w->out.data, w->out.len))
		return -1;
	/* Keep the scratch buffer from growing for good after a burst. */
	if (w->out.cap > 4 * SPOA_READ_SIZE)
		spoa_obuf_free(&w->out);
	if (c->closing && c->pend == NULL) {
		spoa_conn_close(c);
		return -1;
	}
	return 0;
}

static void
spoa_conn_read(struct ev_loop *loop, ev_io *io, int revents)
{
	spoa_conn_input(io->data);
}

static void
spoa_conn_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct spoa_conn *c = t->data;
	const struct spoa_policy *pol = c->w->ctx.pol;

	switch (c->timer_kind) {
	case SPOA_TIMER_HELLO:
		log_info("spoa: no HELLO from %s within %.0fs; closing",
		    c->sess.peer, SPOA_HELLO_TIMEOUT);
		spoa_conn_close(c);
		return;
	case SPOA_TIMER_FRAME:
		log_info("spoa: HAProxy at %s left a frame unfinished for "
			 "%.1fs (frame_timeout); disconnecting",
		    c->sess.peer, pol->frame_timeout);
		break;
	default:
		log_info("spoa: HAProxy at %s idle for %.1fs (idle_timeout); "
			 "disconnecting",
		    c->sess.peer, pol->idle_timeout);
		break;
	}
	spoa_conn_goodbye(c, SPOP_ST_TIMEOUT, "a timeout occurred");
}

/* Writes the peer's address of fd as "host:port" into buf. */
static void
spoa_conn_peer(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	snprintf(buf, len, "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)(void *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

static void
spoa_worker_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct spoa_worker *w = io->data;
	struct spoa_conn *c;
	int fd;

	fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED)
			log_warn("spoa: accept");
		return;
	}

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->w = w;
	spoa_session_init(&c->sess, &w->ctx);
	spoa_conn_peer(fd, c->sess.peer, sizeof(c->sess.peer));
	ev_io_init(&c->rw, spoa_conn_read, fd, EV_READ);
	c->rw.data = c;
	ev_io_init(&c->ww, spoa_conn_write, fd, EV_WRITE);
	c->ww.data = c;
	ev_timer_init(&c->timer, spoa_conn_timeout, SPOA_HELLO_TIMEOUT, 0);
	c->timer.data = c;
	c->timer_kind = SPOA_TIMER_HELLO;
	ev_io_start(loop, &c->rw);
	ev_timer_start(loop, &c->timer);

	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	SPOA_INC(w->stats.conns);
	SPOA_INC(w->stats.conns_open);
	if (++w->nconns >= (size_t)w->max_conns) {
		log_info("spoa: %d connections on this thread; not accepting "
			 "until one closes",
		    w->max_conns);
		ev_io_stop(loop, &w->accept_w);
	}
}

static void
spoa_worker_stop(struct ev_loop *loop, ev_async *a, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

/*
 * Stopping: no more accepts; each connection's unread input is answered
 * (reads until the socket is empty), then AGENT-DISCONNECT status 0.
 */
static void
spoa_worker_on_drain(struct ev_loop *loop, ev_async *a, int revents)
{
	struct spoa_worker *w = a->data;
	struct spoa_conn *c, *next;
	int i, r;

	w->draining = 1;
	ev_io_stop(loop, &w->accept_w);
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		/* Bounded: a peer that keeps sending is not waited for. */
		for (i = 0, r = 0; i < 16 && r == 0 && c->pend == NULL; i++)
			if ((r = spoa_conn_input(c)) == 0 && c->closing)
				r = 1;
		if (r != -1 && !c->closing)
			spoa_conn_goodbye(c, SPOP_ST_NORMAL,
			    "agent is stopping");
	}
	if (w->conns == NULL)
		atomic_store(&w->drained, 1);
}

static void *
spoa_worker_main(void *arg)
{
	struct spoa_worker *w = arg;

	ev_run(w->loop, 0);
	while (w->conns != NULL)
		spoa_conn_close(w->conns);
	spoa_auth_thread_done();
	return NULL;
}

int
spoa_worker_start(struct spoa_worker *w, int lfd, int max_conns,
    const struct spoa_policy *pol, struct spoa_admit *admit)
{
	memset(w, 0, sizeof(*w));
	w->lfd = lfd;
	w->max_conns = max_conns;
	w->ctx.pol = pol;
	w->ctx.admit = admit;
	w->ctx.stats = &w->stats;
	w->rbuf = xmalloc(SPOA_READ_SIZE);
	w->loop = ev_loop_new(EVFLAG_AUTO);
	if (w->loop == NULL) {
		log_warnx("spoa: cannot create an event loop");
		return -1;
	}

	ev_io_init(&w->accept_w, spoa_worker_accept, lfd, EV_READ);
	w->accept_w.data = w;
	ev_io_start(w->loop, &w->accept_w);
	ev_async_init(&w->stop_w, spoa_worker_stop);
	ev_async_start(w->loop, &w->stop_w);
	ev_async_init(&w->drain_w, spoa_worker_on_drain);
	w->drain_w.data = w;
	ev_async_start(w->loop, &w->drain_w);

	if ((errno = pthread_create(&w->tid, NULL, spoa_worker_main, w))) {
		log_warn("spoa: pthread_create");
		ev_loop_destroy(w->loop);
		w->loop = NULL;
		return -1;
	}
	w->running = 1;
	return 0;
}

void
spoa_worker_drain(struct spoa_worker *w)
{
	if (w->running)
		ev_async_send(w->loop, &w->drain_w);
	else
		atomic_store(&w->drained, 1);
}

void
spoa_worker_join(struct spoa_worker *w)
{
	if (w->running) {
		ev_async_send(w->loop, &w->stop_w);
		pthread_join(w->tid, NULL);
		w->running = 0;
	}
	if (w->loop != NULL)
		ev_loop_destroy(w->loop);
	w->loop = NULL;
	spoa_obuf_free(&w->out);
	free(w->rbuf);
	w->rbuf = NULL;
}
