/*
 * conn: one client connection on a libev loop, plain TCP or TLS, shared
 * by the HTTP server and the WebSocket layer that takes connections over
 * from it.  Most code uses http.h and ws.h instead of this header.
 *
 * Reading: on readiness the connection reads once into the loop's scratch
 * buffer (struct conn_loop) and hands the bytes to its owner's on_read.
 * Nothing read is kept by conn: an owner that needs leftover bytes later
 * copies them into an exactly-sized allocation of its own.
 *
 * Writing: owners queue bufs with conn_send(); the connection joins the
 * loop's flush list and is written once per loop pass, with one writev
 * for everything queued (corking), from an ev_prepare watcher.  When the
 * socket is full it waits for EV_WRITE.  The output queue is bounded in
 * bytes (out_cap); conn_send() fails past it and the owner closes.
 *
 * Life: conn_close() stops everything at once and calls on_close; the
 * struct itself is freed at the next flush pass, so a pointer held during
 * the current callback stays valid (check conn_closed()).
 * conn_close_flush() first writes what is queued (bounded by the linger
 * timeout), then closes.
 */
#ifndef PARLEY_CONN_H
#define PARLEY_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#include "buf.h"

struct conn;

/*
 * What a connection's owner (HTTP, WebSocket) does with its events.  All
 * are called on the loop thread.
 *   on_read     bytes arrived (valid only during the call)
 *   on_eof      the peer closed its side or the connection failed; the
 *               owner normally calls conn_close()
 *   on_timeout  the timer armed with conn_timer() fired
 *   on_drained  the output queue became empty (may be NULL)
 *   on_kick     the flush pass reached a connection that conn_kick()
 *               marked, before writing it (may be NULL)
 *   on_close    the connection is closing: release the owner's state;
 *               conn must not be used after it returns
 */
struct conn_ops {
	void (*on_read)(struct conn *c, const unsigned char *p, size_t n);
	void (*on_eof)(struct conn *c);
	void (*on_timeout)(struct conn *c);
	void (*on_drained)(struct conn *c);
	void (*on_kick)(struct conn *c);
	void (*on_close)(struct conn *c);
};

/*
 * Per-loop state every connection of the loop shares: the read scratch
 * buffer, the flush list and its ev_prepare watcher.  One per loop, made
 * by conn_loop_get().
 */
struct conn_loop;

struct conn {
	ev_io io;
	ev_timer timer;
	struct conn_loop *cl;
	const struct conn_ops *ops;
	void *owner;       /* the owner's state */
	SSL *ssl;          /* NULL for plain TCP */
	struct conn *next; /* flush list */
	struct conn *lprev, *lnext; /* every open connection of the loop */
	struct buf_queue out;
	size_t tls_pending; /* length of an SSL_write to retry */
	int fd;
	unsigned flags;
	struct sockaddr_in6 peer; /* v4 addresses are v4-mapped */
};

#define CONN_F_DIRTY     0x01u /* on the flush list */
#define CONN_F_CLOSED    0x02u /* closed; freed at the next pass */
#define CONN_F_LINGER    0x04u /* close once the queue is written */
#define CONN_F_HANDSHAKE 0x08u /* TLS handshake not finished */
#define CONN_F_WANTW     0x10u /* waiting for EV_WRITE */
#define CONN_F_RPAUSE    0x20u /* reading paused by the owner */
#define CONN_F_TLS_RW    0x40u /* SSL_read wants the socket writable */
#define CONN_F_TLS_WR    0x80u /* SSL_write wants the socket readable */
#define CONN_F_KICK      0x100u /* call on_kick at the next pass */

/* Returns the loop's shared state, creating it on first use. */
struct conn_loop *conn_loop_get(struct ev_loop *loop);

/*
 * Closes every connection of the loop that is still open (owners get
 * on_close) and frees the loop's shared state.
 */
void conn_loop_free(struct ev_loop *loop);

/*
 * Takes ownership of connected socket fd (made non-blocking here) and
 * returns a connection owned by ops/owner, reading.  With tls set, a
 * server-side SSL is made from it and the handshake runs before any
 * on_read.  peer may be NULL (socketpairs).  out_cap bounds the output
 * queue in bytes.  Returns NULL (fd closed) when TLS set-up fails.
 */
struct conn *conn_new(struct ev_loop *loop, int fd, SSL_CTX *tls,
    const struct sockaddr *peer, const struct conn_ops *ops, void *owner,
    size_t out_cap);

/*
 * The client side: like conn_new() on a socket whose non-blocking
 * connect() is in progress (or done).  With ssl set (from
 * tls_client_new(); owned by the connection from now on, freed on any
 * failure) the TLS handshake starts once the socket is writable and
 * runs before any on_read; a failed connect or handshake comes as
 * on_eof.  Returns NULL (fd closed) on failure.
 */
struct conn *conn_new_client(struct ev_loop *loop, int fd, SSL *ssl,
    const struct sockaddr *peer, const struct conn_ops *ops, void *owner,
    size_t out_cap);

/* Hands the connection to another owner (an upgrade). */
void conn_set_owner(struct conn *c, const struct conn_ops *ops, void *owner);

/*
 * Queues b (a new reference) for writing at the next flush pass.  Returns
 * 0, or -1 when the queue is over its cap or the connection is closed;
 * the caller then closes it (nothing was queued).
 */
int conn_send(struct conn *c, struct buf *b);

/*
 * Writes what is queued now, outside the flush pass, for an owner whose
 * queue is at its cap and who wants to know whether the peer is really
 * slow or only got a burst: plain TCP only.  Returns the bytes written
 * (0 when the socket takes nothing, or for TLS or a closed connection),
 * or -1 on a socket error; the connection is never closed here (the
 * next flush pass finds the error again and closes it).
 */
ssize_t conn_write_now(struct conn *c);

/*
 * conn_send() that takes over one reference to b the caller holds (see
 * buf_ref_many()); on -1 the caller still owns it.
 */
int conn_send_take(struct conn *c, struct buf *b);

/* conn_send() of a copy of len bytes from p. */
int conn_send_copy(struct conn *c, const void *p, size_t len);

/* Stops (paused=1) or resumes reading; the read side of TLS included. */
void conn_pause_read(struct conn *c, int paused);

/* Arms the connection's one timer for secs seconds; 0 disarms it. */
void conn_timer(struct conn *c, double secs);

/* Closes now; queued bytes are dropped.  Calls on_close once. */
void conn_close(struct conn *c);

/*
 * Stops reading, writes what is queued, then closes (on_close is called
 * then).  Gives up and closes after linger seconds.
 */
void conn_close_flush(struct conn *c, double linger);

static inline int
conn_closed(const struct conn *c)
{
	return (c->flags & CONN_F_CLOSED) != 0;
}

/* Formats the peer as "addr:port" ("local" for socketpairs) into buf. */
const char *conn_peer_str(const struct conn *c, char *buf, size_t len);

/*
 * Runs the flush pass now (it also runs from the loop's ev_prepare):
 * writes every connection with queued bytes and frees closed ones.
 * Not from on_read: writing goes through the scratch buffer that holds
 * the bytes on_read is given.
 */
void conn_loop_flush(struct ev_loop *loop);

/*
 * Asks for on_kick at the next flush pass, outside whatever callback is
 * running now: e.g. to resume parsing after an asynchronous reply.
 */
void conn_kick(struct conn *c);

#endif
