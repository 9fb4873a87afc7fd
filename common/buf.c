/*
 * buf: reference-counted buffers and output queues.  See buf.h.
 *
 * The queue is a ring of buf pointers whose size doubles as needed and
 * which is freed when the queue empties, so an idle connection's queue
 * is three words of zeros.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "buf.h"
#include "xmalloc.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define BUF_RING_MIN 4u

/*
 * buf_queue_send() gathers when at least this many entries are queued
 * and they average at most this many bytes.
 */
#define BUF_GATHER_MIN   4
#define BUF_GATHER_SMALL 1024

struct buf *
buf_new(size_t len)
{
	struct buf *b;

	if (len > SIZE_MAX - sizeof(*b))
		abort();
	b = xmalloc(sizeof(*b) + len);
	atomic_init(&b->refs, 1);
	b->len = len;
	return b;
}

struct buf *
buf_from(const void *p, size_t len)
{
	struct buf *b = buf_new(len);

	if (len > 0)
		memcpy(b->data, p, len);
	return b;
}

struct buf *
buf_from_str(const char *s)
{
	return buf_from(s, strlen(s));
}

struct buf *
buf_ref(struct buf *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

struct buf *
buf_ref_many(struct buf *b, unsigned n)
{
	atomic_fetch_add_explicit(&b->refs, n, memory_order_relaxed);
	return b;
}

void
buf_unref(struct buf *b)
{
	if (b == NULL)
		return;
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}

void
buf_queue_init(struct buf_queue *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->cap = cap;
}

/* Makes room for one more entry, growing (or creating) the ring. */
static void
buf_queue_grow(struct buf_queue *q)
{
	struct buf **ring;
	unsigned i, size;

	if (q->count < q->size)
		return;
	size = q->size ? q->size * 2 : BUF_RING_MIN;
	ring = xreallocarray(NULL, size, sizeof(*ring));
	for (i = 0; i < q->count; i++)
		ring[i] = q->ring[(q->head + i) & (q->size - 1)];
	free(q->ring);
	q->ring = ring;
	q->head = 0;
	q->size = size;
}

int
buf_queue_push_take(struct buf_queue *q, struct buf *b)
{
	if (b->len == 0) {
		buf_unref(b);
		return 0;
	}
	if (q->cap != 0 && (b->len > q->cap || q->bytes > q->cap - b->len))
		return -1;
	if (q->count == UINT_MAX / 2)
		return -1;

	buf_queue_grow(q);
	q->ring[(q->head + q->count) & (q->size - 1)] = b;
	q->count++;
	q->bytes += b->len;
	return 0;
}

int
buf_queue_push(struct buf_queue *q, struct buf *b)
{
	if (buf_queue_push_take(q, buf_ref(b)) == -1) {
		buf_unref(b);
		return -1;
	}
	return 0;
}

int
buf_queue_push_copy(struct buf_queue *q, const void *p, size_t len)
{
	struct buf *b;
	int rc;

	if (len == 0)
		return 0;
	if (q->cap != 0 && (len > q->cap || q->bytes > q->cap - len))
		return -1;
	b = buf_from(p, len);
	rc = buf_queue_push(q, b);
	buf_unref(b);
	return rc;
}

int
buf_queue_iov(const struct buf_queue *q, struct iovec *iov, int max,
    size_t *total)
{
	size_t sum = 0;
	unsigned i;
	int n = 0;

	for (i = 0; i < q->count && n < max; i++) {
		struct buf *b = q->ring[(q->head + i) & (q->size - 1)];
		size_t skip = i == 0 ? q->off : 0;

		iov[n].iov_base = b->data + skip;
		iov[n].iov_len = b->len - skip;
		sum += iov[n].iov_len;
		n++;
	}
	if (total != NULL)
		*total = sum;
	return n;
}

void
buf_queue_consume(struct buf_queue *q, size_t n)
{
	q->bytes -= n;
	while (n > 0) {
		struct buf *b = q->ring[q->head];
		size_t left = b->len - q->off;

		if (n < left) {
			q->off += n;
			return;
		}
		n -= left;
		buf_unref(b);
		q->head = (q->head + 1) & (q->size - 1);
		q->count--;
		q->off = 0;
	}
	if (q->count == 0) {
		free(q->ring);
		q->ring = NULL;
		q->head = q->size = 0;
	}
}

/*
 * writev() that raises no SIGPIPE on a socket whose peer has gone (the
 * error comes back as EPIPE); other descriptors get plain writev().
 */
static ssize_t
buf_writev(int fd, struct iovec *iov, int cnt)
{
	struct msghdr msg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)cnt;
	n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	if (n == -1 && errno == ENOTSOCK)
		n = writev(fd, iov, cnt);
	return n;
}

/*
 * Copies the bytes of the n iovecs at iov into scratch, as many as fit
 * in len, and returns how many it copied.
 */
static size_t
buf_gather(const struct iovec *iov, int n, unsigned char *scratch,
    size_t len)
{
	size_t used = 0, k;
	int i;

	for (i = 0; i < n && used < len; i++) {
		k = iov[i].iov_len < len - used ? iov[i].iov_len : len - used;
		memcpy(scratch + used, iov[i].iov_base, k);
		used += k;
	}
	return used;
}

int
buf_queue_send(struct buf_queue *q, int fd, unsigned char *scratch,
    size_t slen, size_t *written)
{
	struct iovec iov[IOV_MAX];
	size_t total, done = 0;
	ssize_t n;
	int cnt;

	while (q->count > 0) {
		cnt = buf_queue_iov(q, iov, IOV_MAX, &total);
		if (scratch != NULL && cnt >= BUF_GATHER_MIN &&
		    total <= (size_t)cnt * BUF_GATHER_SMALL) {
			total = buf_gather(iov, cnt, scratch, slen);
			iov[0].iov_base = scratch;
			iov[0].iov_len = total;
			cnt = 1;
		}
		n = buf_writev(fd, iov, cnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (written != NULL)
				*written = done;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		buf_queue_consume(q, (size_t)n);
		done += (size_t)n;
		if ((size_t)n < total)
			break;
	}
	if (written != NULL)
		*written = done;
	return q->count == 0;
}

int
buf_queue_writev(struct buf_queue *q, int fd, size_t *written)
{
	return buf_queue_send(q, fd, NULL, 0, written);
}

void
buf_queue_clear(struct buf_queue *q)
{
	while (q->count > 0) {
		buf_unref(q->ring[q->head]);
		q->head = (q->head + 1) & (q->size - 1);
		q->count--;
	}
	free(q->ring);
	q->ring = NULL;
	q->head = q->size = 0;
	q->off = 0;
	q->bytes = 0;
}
