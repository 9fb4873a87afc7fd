/*
 * Unit tests of common/buf.c: reference counts, the byte cap of output
 * queues, partial writes through a socketpair, more queued buffers than
 * IOV_MAX in one flush, and that an emptied queue owns no memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"

static void
test_refs(void **state)
{
	struct buf *b = buf_from_str("hello");

	assert_int_equal(b->len, 5);
	assert_memory_equal(b->data, "hello", 5);
	assert_ptr_equal(buf_ref(b), b);
	assert_int_equal(atomic_load(&b->refs), 2);
	buf_unref(b);
	assert_int_equal(atomic_load(&b->refs), 1);
	buf_unref(b);
	buf_unref(NULL);
}

static void
test_cap_in_bytes(void **state)
{
	struct buf_queue q;
	struct buf *b = buf_new(100);
	int i;

	memset(b->data, 'x', 100);
	buf_queue_init(&q, 1000);
	for (i = 0; i < 10; i++)
		assert_int_equal(buf_queue_push(&q, b), 0);
	assert_int_equal(q.bytes, 1000);
	assert_int_equal(q.count, 10);
	/* One byte more is refused and nothing is queued. */
	assert_int_equal(buf_queue_push_copy(&q, "y", 1), -1);
	assert_int_equal(buf_queue_push(&q, b), -1);
	assert_int_equal(q.count, 10);
	assert_int_equal(atomic_load(&b->refs), 11);
	/* Empty buffers are no bytes. */
	assert_int_equal(buf_queue_push_copy(&q, "", 0), 0);
	buf_queue_clear(&q);
	assert_int_equal(atomic_load(&b->refs), 1);
	assert_null(q.ring);
	buf_unref(b);
}

static void
test_iov_and_consume(void **state)
{
	struct buf_queue q;
	struct iovec iov[4];
	size_t total;
	int n;

	buf_queue_init(&q, 0);
	assert_int_equal(buf_queue_push_copy(&q, "abc", 3), 0);
	assert_int_equal(buf_queue_push_copy(&q, "defg", 4), 0);
	assert_int_equal(buf_queue_push_copy(&q, "h", 1), 0);
	buf_queue_consume(&q, 2);
	n = buf_queue_iov(&q, iov, 4, &total);
	assert_int_equal(n, 3);
	assert_int_equal(total, 6);
	assert_memory_equal(iov[0].iov_base, "c", 1);
	buf_queue_consume(&q, 3);
	n = buf_queue_iov(&q, iov, 1, &total);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, 2);
	assert_memory_equal(iov[0].iov_base, "fg", 2);
	assert_int_equal(q.bytes, 3);
	buf_queue_consume(&q, 3);
	assert_true(buf_queue_empty(&q));
	/* An empty queue owns nothing. */
	assert_null(q.ring);
	assert_int_equal(q.size, 0);
}

/* The ring wraps and grows while entries are consumed at the head. */
static void
test_ring_wrap(void **state)
{
	struct buf_queue q;
	struct iovec iov[64];
	char c;
	int i, n;

	buf_queue_init(&q, 0);
	for (i = 0; i < 3; i++) {
		c = (char)('a' + i);
		buf_queue_push_copy(&q, &c, 1);
	}
	buf_queue_consume(&q, 2);
	for (i = 3; i < 20; i++) {
		c = (char)('a' + i);
		buf_queue_push_copy(&q, &c, 1);
	}
	n = buf_queue_iov(&q, iov, 64, NULL);
	assert_int_equal(n, 18);
	for (i = 0; i < n; i++)
		assert_int_equal(*(char *)iov[i].iov_base, 'c' + i);
	buf_queue_clear(&q);
}

/* More buffers than IOV_MAX and more bytes than the socket takes. */
static void
test_writev_partial(void **state)
{
	static char got[4 << 20];
	struct buf_queue q;
	struct buf *b[3000];
	size_t want = 0, have = 0, w;
	int sv[2], i, rc;
	ssize_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	buf_queue_init(&q, 0);
	for (i = 0; i < 3000; i++) {
		b[i] = buf_new(1000);
		memset(b[i]->data, 'A' + i % 26, 1000);
		assert_int_equal(buf_queue_push(&q, b[i]), 0);
		buf_unref(b[i]);
		want += 1000;
	}
	assert_true(3000 > IOV_MAX);
	for (i = 0; i < 100000; i++) {
		rc = buf_queue_writev(&q, sv[0], &w);
		assert_int_not_equal(rc, -1);
		while ((n = read(sv[1], got + have, sizeof(got) - have)) > 0)
			have += (size_t)n;
		if (rc == 1)
			break;
	}
	assert_int_equal(rc, 1);
	while ((n = read(sv[1], got + have, sizeof(got) - have)) > 0)
		have += (size_t)n;
	assert_int_equal(have, want);
	for (i = 0; i < 3000; i++)
		assert_int_equal(got[i * 1000 + 999], 'A' + i % 26);
	assert_null(q.ring);

	/* A closed peer is an error, not a hang. */
	buf_queue_push_copy(&q, "x", 1);
	close(sv[1]);
	assert_int_equal(buf_queue_writev(&q, sv[0], NULL), -1);
	buf_queue_clear(&q);
	close(sv[0]);
}

/*
 * A broadcast takes its references at once (buf_ref_many) and each
 * queue takes one over; one that is over its cap leaves the reference
 * with the caller, and an empty buf's reference is dropped.
 */
static void
test_push_take(void **state)
{
	struct buf_queue a, full;
	struct buf *b = buf_from("hello", 5), *e = buf_new(0);

	buf_queue_init(&a, 0);
	buf_queue_init(&full, 4);
	buf_ref_many(b, 2);
	assert_int_equal(atomic_load(&b->refs), 3);
	assert_int_equal(buf_queue_push_take(&a, b), 0);
	assert_int_equal(buf_queue_push_take(&full, b), -1);
	assert_int_equal(atomic_load(&b->refs), 3);
	buf_unref(b); /* the reference full did not take */
	assert_int_equal(a.bytes, 5);
	assert_int_equal(full.bytes, 0);
	buf_queue_clear(&a);
	assert_int_equal(atomic_load(&b->refs), 1);
	buf_unref(b);

	buf_ref(e);
	assert_int_equal(buf_queue_push_take(&a, e), 0);
	assert_int_equal(atomic_load(&e->refs), 1);
	assert_true(buf_queue_empty(&a));
	buf_unref(e);
}

/*
 * buf_queue_send(): thousands of small frames of several sizes, a few
 * large buffers among them, and a socket that fills up: every byte
 * arrives once and in order, whether gathered into the scratch buffer
 * or written in place.
 */
static void
test_send_gather(void **state)
{
	static char got[8 << 20], want[8 << 20];
	static unsigned char scratch[4096];
	struct buf_queue q;
	struct buf *b;
	size_t nwant = 0, have = 0, len, j;
	int sv[2], i, rc;
	ssize_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	buf_queue_init(&q, 0);
	for (i = 0; i < 20000; i++) {
		len = i % 500 == 7 ? 70000 : (size_t)(1 + i % 300);
		b = buf_new(len);
		for (j = 0; j < len; j++)
			b->data[j] = (unsigned char)(i * 7 + j);
		memcpy(want + nwant, b->data, len);
		nwant += len;
		assert_int_equal(buf_queue_push(&q, b), 0);
		buf_unref(b);
	}
	assert_true(nwant < sizeof(want));
	for (i = 0; i < 1000000; i++) {
		rc = buf_queue_send(&q, sv[0], scratch, sizeof(scratch), NULL);
		assert_int_not_equal(rc, -1);
		while ((n = read(sv[1], got + have, 7000)) > 0)
			have += (size_t)n;
		if (rc == 1)
			break;
	}
	assert_int_equal(rc, 1);
	while ((n = read(sv[1], got + have, sizeof(got) - have)) > 0)
		have += (size_t)n;
	assert_int_equal(have, nwant);
	assert_memory_equal(got, want, nwant);
	assert_null(q.ring);
	assert_int_equal(q.bytes, 0);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_cap_in_bytes),
		cmocka_unit_test(test_iov_and_consume),
		cmocka_unit_test(test_ring_wrap),
		cmocka_unit_test(test_writev_partial),
		cmocka_unit_test(test_send_gather),
		cmocka_unit_test(test_push_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
