/*
 * conn: connections on a libev loop, plain or TLS.  See conn.h.
 *
 * Per loop there is one struct conn_loop: a 64 KiB scratch buffer that
 * every read of the loop goes through, and the flush list walked from an
 * ev_prepare watcher just before the loop sleeps.  A connection is put on
 * the list when something is queued for it, when its owner kicks it, or
 * when it closes (to be freed there); the pass writes each listed
 * connection once with writev, whatever number of frames is queued.
 *
 * Closing with linger:
 *
 *   LINGER --queue written--> shutdown(SHUT_WR), DRAIN: read and discard
 *   DRAIN --EOF, error, cap or linger timeout--> close(fd), free
 *
 * Draining lets the peer read the final reply instead of getting a reset
 * because it was still sending when the socket closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>

#include "conn.h"
#include "log.h"
#include "xmalloc.h"

#define CONN_SCRATCH   (64 * 1024)
#define CONN_TLS_CHUNK (16 * 1024)
#define CONN_LOOPS_MAX 64

/* Flags private to this file. */
#define CONN_F_DRAIN 0x200u /* write side shut; discarding input */

struct conn_loop {
	struct ev_loop *loop;
	ev_prepare prepare;
	struct conn *dirty; /* flush list */
	struct conn *all;   /* open connections */
	unsigned char *scratch;
};

static pthread_mutex_t conn_loops_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct ev_loop *loop;
	struct conn_loop *cl;
} conn_loops[CONN_LOOPS_MAX];

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_prepare_cb(struct ev_loop *loop, ev_prepare *w,
    int revents);
static void conn_write(struct conn *c);

struct conn_loop *
conn_loop_get(struct ev_loop *loop)
{
	struct conn_loop *cl = NULL;
	int i, slot = -1;

	pthread_mutex_lock(&conn_loops_mtx);
	for (i = 0; i < CONN_LOOPS_MAX; i++) {
		if (conn_loops[i].loop == loop) {
			cl = conn_loops[i].cl;
			break;
		}
		if (conn_loops[i].loop == NULL && slot == -1)
			slot = i;
	}
	if (cl == NULL) {
		if (slot == -1)
			fatalx("conn_loop_get: more than %d loops",
			    CONN_LOOPS_MAX);
		cl = xcalloc(1, sizeof(*cl));
		cl->loop = loop;
		cl->scratch = xmalloc(CONN_SCRATCH);
		ev_prepare_init(&cl->prepare, conn_prepare_cb);
		cl->prepare.data = cl;
		ev_prepare_start(loop, &cl->prepare);
		/* The flush watcher alone must not keep ev_run() going. */
		ev_unref(loop);
		conn_loops[slot].loop = loop;
		conn_loops[slot].cl = cl;
	}
	pthread_mutex_unlock(&conn_loops_mtx);
	return cl;
}

void
conn_loop_free(struct ev_loop *loop)
{
	struct conn_loop *cl = NULL;
	int i;

	pthread_mutex_lock(&conn_loops_mtx);
	for (i = 0; i < CONN_LOOPS_MAX; i++) {
		if (conn_loops[i].loop == loop) {
			cl = conn_loops[i].cl;
			conn_loops[i].loop = NULL;
			conn_loops[i].cl = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&conn_loops_mtx);
	if (cl == NULL)
		return;

	while (cl->all != NULL)
		conn_close(cl->all);
	conn_prepare_cb(loop, &cl->prepare, 0);
	ev_ref(loop);
	ev_prepare_stop(loop, &cl->prepare);
	free(cl->scratch);
	free(cl);
}

/* Puts c on the flush list unless it is there. */
static void
conn_mark(struct conn *c)
{
	if (c->flags & CONN_F_DIRTY)
		return;
	c->flags |= CONN_F_DIRTY;
	c->next = c->cl->dirty;
	c->cl->dirty = c;
}

/* An owner with nothing to release, for a connection given up early. */
static void
conn_quiet_eof(struct conn *c)
{
	conn_close(c);
}

static const struct conn_ops conn_quiet_ops = {
	NULL, conn_quiet_eof, NULL, NULL, NULL, NULL,
};

/* Sets the io watcher's events from the connection's state. */
static void
conn_update_events(struct conn *c)
{
	int ev = 0;

	if (c->flags & CONN_F_CLOSED)
		return;
	if (c->flags & CONN_F_HANDSHAKE) {
		ev = c->io.events & (EV_READ | EV_WRITE);
		if (ev == 0)
			ev = EV_READ;
	} else {
		if (!(c->flags & CONN_F_RPAUSE) || (c->flags & CONN_F_DRAIN))
			ev |= EV_READ;
		if (c->flags & CONN_F_TLS_WR)
			ev |= EV_READ;
		if (c->flags & (CONN_F_WANTW | CONN_F_TLS_RW))
			ev |= EV_WRITE;
	}
	if (ev == (c->io.events & (EV_READ | EV_WRITE)) &&
	    ev_is_active(&c->io))
		return;
	ev_io_stop(c->cl->loop, &c->io);
	ev_io_set(&c->io, c->fd, ev);
	if (ev != 0)
		ev_io_start(c->cl->loop, &c->io);
}

/* Sets the events the TLS handshake waits for. */
static void
conn_handshake_events(struct conn *c, int ev)
{
	ev_io_stop(c->cl->loop, &c->io);
	ev_io_set(&c->io, c->fd, ev);
	ev_io_start(c->cl->loop, &c->io);
}

struct conn *
conn_new(struct ev_loop *loop, int fd, SSL_CTX *tls,
    const struct sockaddr *peer, const struct conn_ops *ops, void *owner,
    size_t out_cap)
{
	struct conn *c;
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		log_warn("conn_new: fcntl");
		close(fd);
		return NULL;
	}

	c = xcalloc(1, sizeof(*c));
	c->cl = conn_loop_get(loop);
	c->fd = fd;
	c->ops = ops;
	c->owner = owner;
	buf_queue_init(&c->out, out_cap);
	if (peer != NULL && peer->sa_family == AF_INET6) {
		memcpy(&c->peer, peer, sizeof(c->peer));
	} else if (peer != NULL && peer->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)peer;

		c->peer.sin6_family = AF_INET6;
		c->peer.sin6_port = in->sin_port;
		c->peer.sin6_addr.s6_addr[10] = 0xff;
		c->peer.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&c->peer.sin6_addr.s6_addr[12], &in->sin_addr, 4);
	}

	if (tls != NULL) {
		c->ssl = SSL_new(tls);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
			log_warnx("conn_new: SSL_new failed");
			SSL_free(c->ssl);
			close(fd);
			free(c);
			return NULL;
		}
		SSL_set_accept_state(c->ssl);
		SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
		    SSL_MODE_RELEASE_BUFFERS);
		c->flags |= CONN_F_HANDSHAKE;
	}

	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	c->io.data = c;
	ev_init(&c->timer, conn_timer_cb);
	c->timer.data = c;
	ev_io_start(loop, &c->io);
	c->lnext = c->cl->all;
	if (c->cl->all != NULL)
		c->cl->all->lprev = c;
	c->cl->all = c;
	return c;
}

struct conn *
conn_new_client(struct ev_loop *loop, int fd, SSL *ssl,
    const struct sockaddr *peer, const struct conn_ops *ops, void *owner,
    size_t out_cap)
{
	struct conn *c;

	c = conn_new(loop, fd, NULL, peer, ops, owner, out_cap);
	if (c == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	if (ssl == NULL)
		return c;
	if (SSL_set_fd(ssl, c->fd) != 1) {
		log_warnx("conn_new_client: SSL_set_fd failed");
		SSL_free(ssl);
		c->ops = &conn_quiet_ops;
		conn_close(c);
		return NULL;
	}
	c->ssl = ssl;
	SSL_set_connect_state(ssl);
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	c->flags |= CONN_F_HANDSHAKE;
	/* The client speaks first, once the connect completes. */
	conn_handshake_events(c, EV_WRITE);
	return c;
}

void
conn_set_owner(struct conn *c, const struct conn_ops *ops, void *owner)
{
	c->ops = ops;
	c->owner = owner;
}

int
conn_send(struct conn *c, struct buf *b)
{
	if (c->flags & (CONN_F_CLOSED | CONN_F_DRAIN))
		return -1;
	if (buf_queue_push(&c->out, b) == -1)
		return -1;
	if (!(c->flags & CONN_F_WANTW))
		conn_mark(c);
	return 0;
}

ssize_t
conn_write_now(struct conn *c)
{
	size_t n = 0;

	if (c->ssl != NULL || buf_queue_empty(&c->out) || (c->flags &
	    (CONN_F_CLOSED | CONN_F_HANDSHAKE | CONN_F_DRAIN)))
		return 0;
	if (buf_queue_writev(&c->out, c->fd, &n) == -1 && n == 0)
		return -1;
	return (ssize_t)n;
}

int
conn_send_take(struct conn *c, struct buf *b)
{
	if (c->flags & (CONN_F_CLOSED | CONN_F_DRAIN))
		return -1;
	if (buf_queue_push_take(&c->out, b) == -1)
		return -1;
	if (!(c->flags & CONN_F_WANTW))
		conn_mark(c);
	return 0;
}

int
conn_send_copy(struct conn *c, const void *p, size_t len)
{
	if (c->flags & (CONN_F_CLOSED | CONN_F_DRAIN))
		return -1;
	if (buf_queue_push_copy(&c->out, p, len) == -1)
		return -1;
	if (!(c->flags & CONN_F_WANTW))
		conn_mark(c);
	return 0;
}

void
conn_pause_read(struct conn *c, int paused)
{
	if (paused)
		c->flags |= CONN_F_RPAUSE;
	else
		c->flags &= ~CONN_F_RPAUSE;
	conn_update_events(c);
}

void
conn_timer(struct conn *c, double secs)
{
	if (c->flags & CONN_F_CLOSED)
		return;
	ev_timer_stop(c->cl->loop, &c->timer);
	if (secs > 0) {
		ev_timer_set(&c->timer, secs, 0.);
		ev_timer_start(c->cl->loop, &c->timer);
	}
}

void
conn_kick(struct conn *c)
{
	if (c->flags & CONN_F_CLOSED)
		return;
	c->flags |= CONN_F_KICK;
	conn_mark(c);
}

void
conn_close(struct conn *c)
{
	if (c->flags & CONN_F_CLOSED)
		return;
	c->flags |= CONN_F_CLOSED;
	if (c->lprev != NULL)
		c->lprev->lnext = c->lnext;
	else
		c->cl->all = c->lnext;
	if (c->lnext != NULL)
		c->lnext->lprev = c->lprev;
	ev_io_stop(c->cl->loop, &c->io);
	ev_timer_stop(c->cl->loop, &c->timer);
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	buf_queue_clear(&c->out);
	conn_mark(c);
	if (c->ops->on_close != NULL)
		c->ops->on_close(c);
	c->owner = NULL;
}

void
conn_close_flush(struct conn *c, double linger)
{
	if (c->flags & (CONN_F_CLOSED | CONN_F_LINGER))
		return;
	c->flags |= CONN_F_LINGER | CONN_F_RPAUSE;
	conn_update_events(c);
	conn_timer(c, linger);
	conn_mark(c);
}

const char *
conn_peer_str(const struct conn *c, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	const struct in6_addr *a = &c->peer.sin6_addr;

	if (c->peer.sin6_family != AF_INET6) {
		snprintf(buf, len, "local");
	} else if (IN6_IS_ADDR_V4MAPPED(a)) {
		inet_ntop(AF_INET, &a->s6_addr[12], addr, sizeof(addr));
		snprintf(buf, len, "%s:%u", addr, ntohs(c->peer.sin6_port));
	} else {
		inet_ntop(AF_INET6, a, addr, sizeof(addr));
		snprintf(buf, len, "[%s]:%u", addr, ntohs(c->peer.sin6_port));
	}
	return buf;
}

/* The queue is written: finish a linger close by shutting the write side. */
static void
conn_linger_drained(struct conn *c)
{
	if (c->ssl != NULL)
		(void)SSL_shutdown(c->ssl);
	if (shutdown(c->fd, SHUT_WR) == -1) {
		conn_close(c);
		return;
	}
	c->flags |= CONN_F_DRAIN;
	c->flags &= ~(CONN_F_TLS_RW | CONN_F_TLS_WR);
	conn_update_events(c);
}

/*
 * Reads and discards after a linger close; closes at EOF or an error.
 * The linger timer bounds how long this goes on.
 */
static void
conn_drain(struct conn *c)
{
	ssize_t n;

	n = read(c->fd, c->cl->scratch, CONN_SCRATCH);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		conn_close(c);
}

/* Logs the OpenSSL error queue at debug level and empties it. */
static void
conn_tls_log(const struct conn *c, const char *what)
{
	char peer[64], err[256];
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, err, sizeof(err));
		log_info("%s: %s from %s",
		    what, err, conn_peer_str(c, peer, sizeof(peer)));
	}
}

/* Advances the TLS handshake; on success falls through to reading. */
static int
conn_handshake(struct conn *c)
{
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->flags &= ~CONN_F_HANDSHAKE;
		conn_update_events(c);
		return 1;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		conn_handshake_events(c, EV_READ);
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		conn_handshake_events(c, EV_WRITE);
		return 0;
	}
	conn_tls_log(c, "TLS handshake");
	c->ops->on_eof(c);
	return -1;
}

/* Reads once (and what TLS already holds) and passes it to the owner. */
static void
conn_read(struct conn *c)
{
	unsigned char *p = c->cl->scratch;
	ssize_t n;
	int e;

	if (c->ssl == NULL) {
		n = read(c->fd, p, CONN_SCRATCH);
		if (n > 0) {
			c->ops->on_read(c, p, (size_t)n);
			return;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		c->ops->on_eof(c);
		return;
	}

	do {
		ERR_clear_error();
		n = SSL_read(c->ssl, p, CONN_SCRATCH);
		if (n > 0) {
			c->ops->on_read(c, p, (size_t)n);
			continue;
		}
		e = SSL_get_error(c->ssl, (int)n);
		if (e == SSL_ERROR_WANT_READ)
			return;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->flags |= CONN_F_TLS_RW;
			conn_update_events(c);
			return;
		}
		if (e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_SYSCALL)
			conn_tls_log(c, "SSL_read");
		c->ops->on_eof(c);
		return;
	} while (!(c->flags & (CONN_F_CLOSED | CONN_F_RPAUSE)) &&
	    SSL_pending(c->ssl) > 0);
}

/* Writes the queue through TLS, a record's worth per SSL_write. */
static int
conn_write_tls(struct conn *c)
{
	struct iovec iov[64];
	size_t total, len, off;
	const void *src;
	int cnt, r, e, i;

	while (!buf_queue_empty(&c->out)) {
		cnt = buf_queue_iov(&c->out, iov, 64, &total);
		len = c->tls_pending;
		if (len == 0)
			len = total < CONN_TLS_CHUNK ? total : CONN_TLS_CHUNK;
		if (iov[0].iov_len >= len) {
			src = iov[0].iov_base;
		} else {
			/* Gather the first len bytes into the scratch. */
			for (i = 0, off = 0; i < cnt && off < len; i++) {
				size_t k = iov[i].iov_len;

				if (k > len - off)
					k = len - off;
				memcpy(c->cl->scratch + off, iov[i].iov_base,
				    k);
				off += k;
			}
			src = c->cl->scratch;
		}
		ERR_clear_error();
		r = SSL_write(c->ssl, src, (int)len);
		if (r > 0) {
			c->tls_pending = 0;
			c->flags &= ~CONN_F_TLS_WR;
			buf_queue_consume(&c->out, (size_t)r);
			continue;
		}
		c->tls_pending = len;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE)
			return 0;
		if (e == SSL_ERROR_WANT_READ) {
			c->flags |= CONN_F_TLS_WR;
			return 0;
		}
		conn_tls_log(c, "SSL_write");
		return -1;
	}
	return 1;
}

/*
 * Writes what is queued.  On a full socket waits for EV_WRITE; on an
 * error closes; once empty finishes a linger close or tells the owner.
 */
static void
conn_write(struct conn *c)
{
	int r;

	if (c->flags & (CONN_F_CLOSED | CONN_F_HANDSHAKE | CONN_F_DRAIN))
		return;
	if (c->ssl != NULL)
		r = conn_write_tls(c);
	else
		r = buf_queue_send(&c->out, c->fd, c->cl->scratch,
		    CONN_SCRATCH, NULL);
	if (r == -1) {
		conn_close(c);
		return;
	}
	if (r == 0) {
		if (!(c->flags & CONN_F_TLS_WR))
			c->flags |= CONN_F_WANTW;
		conn_update_events(c);
		return;
	}
	if (c->flags & CONN_F_WANTW) {
		c->flags &= ~CONN_F_WANTW;
		conn_update_events(c);
	}
	if (c->flags & CONN_F_LINGER) {
		conn_linger_drained(c);
		return;
	}
	if (c->ops->on_drained != NULL)
		c->ops->on_drained(c);
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	if (c->flags & CONN_F_HANDSHAKE) {
		if (conn_handshake(c) != 1)
			return;
		/* Flush what the owner queued while the handshake ran. */
		if (!buf_queue_empty(&c->out))
			conn_mark(c);
		revents = EV_READ;
	}

	if (c->flags & CONN_F_DRAIN) {
		conn_drain(c);
		return;
	}

	if ((revents & EV_WRITE) && (c->flags & CONN_F_TLS_RW)) {
		c->flags &= ~CONN_F_TLS_RW;
		conn_update_events(c);
		revents |= EV_READ;
	}
	if ((revents & EV_READ) && (c->flags & CONN_F_TLS_WR))
		revents |= EV_WRITE;

	if ((revents & EV_WRITE) && !buf_queue_empty(&c->out))
		conn_write(c);
	if (c->flags & CONN_F_CLOSED)
		return;
	if ((revents & EV_READ) && !(c->flags & CONN_F_RPAUSE))
		conn_read(c);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	if (c->flags & CONN_F_LINGER) {
		conn_close(c);
		return;
	}
	if (c->ops->on_timeout != NULL)
		c->ops->on_timeout(c);
	else
		conn_close(c);
}

/* The flush pass: kicks, writes and frees the listed connections. */
static void
conn_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct conn_loop *cl = w->data;
	struct conn *c;

	while ((c = cl->dirty) != NULL) {
		cl->dirty = c->next;
		c->next = NULL;
		c->flags &= ~CONN_F_DIRTY;

		if (c->flags & CONN_F_CLOSED) {
			free(c);
			continue;
		}
		if (c->flags & CONN_F_KICK) {
			c->flags &= ~CONN_F_KICK;
			if (c->ops->on_kick != NULL)
				c->ops->on_kick(c);
			/* Listed again (a reply, a close): handled then. */
			if (c->flags & CONN_F_DIRTY)
				continue;
		}
		if (c->flags & CONN_F_WANTW)
			continue;
		if (!buf_queue_empty(&c->out) || (c->flags & CONN_F_LINGER))
			conn_write(c);
	}
}

void
conn_loop_flush(struct ev_loop *loop)
{
	struct conn_loop *cl = conn_loop_get(loop);

	conn_prepare_cb(loop, &cl->prepare, 0);
}
