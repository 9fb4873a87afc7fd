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
 */
#include <errno.h>
#include <pthread.h>
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

struct spoa_conn {
	int fd;
	ev_io rw;
	ev_io ww;
	ev_timer hello_timer;
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
	ev_timer_stop(w->loop, &c->hello_timer);
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
	if (w->nconns-- == (size_t)w->max_conns)
		ev_io_start(w->loop, &w->accept_w);
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

static void
spoa_conn_read(struct ev_loop *loop, ev_io *io, int revents)
{
	struct spoa_conn *c = io->data;
	struct spoa_worker *w = c->w;
	int rc;
	ssize_t n;

	n = read(c->fd, w->rbuf, SPOA_READ_SIZE);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			   errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_info("spoa: read from HAProxy failed: %s",
			    strerror(errno));
		else if (spoa_session_pending(&c->sess))
			log_info("spoa: HAProxy closed in the middle of a "
				 "frame");
		spoa_conn_close(c);
		return;
	}

	w->out.len = 0;
	rc = spoa_session_input(&c->sess, w->rbuf, n, &w->out);
	if (c->sess.state != SPOA_SESS_HELLO)
		ev_timer_stop(loop, &c->hello_timer);
	if (rc != 0)
		c->closing = 1;
	if (w->out.len > 0 && spoa_conn_send(c, w->out.data, w->out.len))
		return;
	/* Keep the scratch buffer from growing for good after a burst. */
	if (w->out.cap > 4 * SPOA_READ_SIZE)
		spoa_obuf_free(&w->out);
	if (c->closing && c->pend == NULL)
		spoa_conn_close(c);
}

static void
spoa_conn_hello_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct spoa_conn *c = t->data;

	log_info("spoa: no HELLO within %.0fs; closing", SPOA_HELLO_TIMEOUT);
	spoa_conn_close(c);
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
	ev_io_init(&c->rw, spoa_conn_read, fd, EV_READ);
	c->rw.data = c;
	ev_io_init(&c->ww, spoa_conn_write, fd, EV_WRITE);
	c->ww.data = c;
	ev_timer_init(&c->hello_timer, spoa_conn_hello_timeout,
	    SPOA_HELLO_TIMEOUT, 0);
	c->hello_timer.data = c;
	ev_io_start(loop, &c->rw);
	ev_timer_start(loop, &c->hello_timer);

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
