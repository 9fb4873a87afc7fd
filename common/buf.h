/*
 * buf: reference-counted immutable byte buffers and per-connection output
 * queues of references to them.
 *
 * A struct buf is one allocation: a small header followed by the bytes.
 * Whoever creates it fills the bytes, then treats them as read-only; from
 * then on any number of queues (and threads) may hold references to it.
 * The last buf_unref() frees it.  An event encoded once for a thousand
 * recipients is one buf and a thousand references.
 *
 * A struct buf_queue is what a connection has left to write: references
 * to bufs in order, and how far the first one is already written.  It is
 * bounded in bytes by a cap the owner sets; buf_queue_push() says when a
 * push would pass it, so the owner can close a connection whose peer does
 * not read.  An empty queue owns no memory at all.
 */
#ifndef PARLEY_BUF_H
#define PARLEY_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct buf {
	atomic_uint refs;
	size_t len;
	unsigned char data[];
};

/*
 * Returns a new buf of len bytes (contents undefined) with one reference,
 * owned by the caller, who fills data[] before sharing it.  Never fails
 * (xmalloc).
 */
struct buf *buf_new(size_t len);

/* buf_new() and a copy of len bytes from p. */
struct buf *buf_from(const void *p, size_t len);

/* buf_from() of a NUL-terminated string, without the NUL. */
struct buf *buf_from_str(const char *s);

/* Adds a reference and returns b.  Safe from any thread. */
struct buf *buf_ref(struct buf *b);

/*
 * Adds n references at once (a broadcast to n connections) and returns
 * b: one atomic operation instead of n.
 */
struct buf *buf_ref_many(struct buf *b, unsigned n);

/* Drops a reference; frees b with the last one.  NULL is a no-op. */
void buf_unref(struct buf *b);

struct buf_queue {
	struct buf **ring; /* NULL when empty */
	unsigned head;     /* index of the first entry */
	unsigned count;    /* entries queued */
	unsigned size;     /* ring slots, a power of two */
	size_t off;        /* bytes of ring[head] already written */
	size_t bytes;      /* bytes queued and not yet written */
	size_t cap;        /* limit on bytes; 0 means no limit */
};

/* Initialises an empty queue bounded at cap bytes (0: unbounded). */
void buf_queue_init(struct buf_queue *q, size_t cap);

/*
 * Queues b (taking a new reference; the caller keeps its own).  Returns 0,
 * or -1 without queueing when it would take the queue past its cap: the
 * caller should then give up on the peer.  An empty b is ignored.
 */
int buf_queue_push(struct buf_queue *q, struct buf *b);

/*
 * buf_queue_push() that takes over one reference the caller holds
 * instead of adding one.  Returns 0 (the reference is the queue's, or
 * was dropped when b is empty), or -1 past the cap, when the caller
 * still owns the reference.
 */
int buf_queue_push_take(struct buf_queue *q, struct buf *b);

/* Queues a copy of len bytes from p, under the same cap as push. */
int buf_queue_push_copy(struct buf_queue *q, const void *p, size_t len);

/* True when nothing is left to write. */
static inline int
buf_queue_empty(const struct buf_queue *q)
{
	return q->count == 0;
}

/*
 * Fills at most max iovecs with the queued bytes, in order, starting past
 * what is already written.  Returns how many it filled; *total gets their
 * byte count when total is not NULL.
 */
int buf_queue_iov(const struct buf_queue *q, struct iovec *iov, int max,
    size_t *total);

/*
 * Marks n bytes as written: drops references to bufs written in full and
 * frees the ring when the queue empties.  n must not exceed q->bytes.
 */
void buf_queue_consume(struct buf_queue *q, size_t n);

/*
 * Writes as much of the queue as fd takes with writev (IOV_MAX iovecs per
 * call, several calls when more are queued).  Returns 1 when the queue is
 * empty, 0 when the socket would block with bytes left, -1 on an error
 * (errno set; the queue is left as it was after the last good write).
 * *written, when not NULL, gets the bytes written by this call.
 */
int buf_queue_writev(struct buf_queue *q, int fd, size_t *written);

/*
 * buf_queue_writev() for queues of many small entries, such as the
 * frames of a broadcast: when several small entries are queued, as many
 * of their bytes as fit in scratch (slen bytes, the caller's, free for
 * the duration of the call) are copied there and sent with one write.
 * The kernel copies one long segment of a socket write much faster than
 * many short ones, and the bytes copied here are shared by every
 * recipient, so they are hot in cache.  Larger entries are sent with
 * writev as they are.  scratch NULL: plain buf_queue_writev().  Returns
 * as buf_queue_writev().
 */
int buf_queue_send(struct buf_queue *q, int fd, unsigned char *scratch,
    size_t slen, size_t *written);

/* Drops every queued reference and frees the ring; the cap is kept. */
void buf_queue_clear(struct buf_queue *q);

#endif
