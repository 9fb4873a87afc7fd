/*
 * Unit tests of common/ws.c over the HTTP server on a real libev loop:
 * the test end of each socketpair plays the client, writing masked frames
 * and reading the server's frames.  Covers the accept key, messages split
 * at every byte, fragments with control frames between them, the close
 * codes 1002/1007/1009, the close handshake both ways, shared frames
 * queued to many connections and the output cap.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "log.h"
#include "ws.h"

#define MAXC 8

static struct ev_loop *loop;
static struct http_server *hs;
static struct ws_server *wss;
static int cfd[MAXC];
static struct ws_conn *wc[MAXC];
static int nopen, nclosed, lastcode;
static int nmsg;
static unsigned char lastmsg[4096];
static size_t lastlen;
static int lastop;
static int echo = 1;

static void
on_http(struct http_req *req, void *arg)
{
	if (ws_is_upgrade(req)) {
		(void)ws_accept(wss, req, NULL);
		return;
	}
	http_reply_str(req, 404, NULL, "no\n");
}

static void
on_open(struct ws_conn *c, void *arg)
{
	wc[nopen++] = c;
}

static void
on_message(struct ws_conn *c, enum ws_opcode op, const unsigned char *d,
    size_t n, void *arg)
{
	nmsg++;
	lastop = op;
	lastlen = n < sizeof(lastmsg) ? n : sizeof(lastmsg);
	memcpy(lastmsg, d, lastlen);
	if (echo)
		assert_int_equal(ws_send(c, op, d, n), 0);
}

static void
on_close(struct ws_conn *c, int code, void *arg)
{
	int i;

	nclosed++;
	lastcode = code;
	for (i = 0; i < nopen; i++)
		if (wc[i] == c)
			wc[i] = NULL;
}

static void
pump(void)
{
	int i;

	for (i = 0; i < 10; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

static void
setup_server(const struct ws_limits *lim)
{
	struct ws_callbacks cb = { on_open, on_message, on_close };

	loop = ev_loop_new(EVFLAG_AUTO);
	hs = http_server_new(loop, NULL, on_http, NULL);
	wss = ws_server_new(loop, lim, &cb, NULL);
	nopen = nclosed = nmsg = 0;
	lastcode = 0;
	echo = 1;
	memset(wc, 0, sizeof(wc));
	for (int i = 0; i < MAXC; i++)
		cfd[i] = -1;
}

static int
teardown(void **state)
{
	int i;

	for (i = 0; i < MAXC; i++)
		if (cfd[i] != -1)
			close(cfd[i]);
	ws_server_free(wss);
	http_server_free(hs);
	conn_loop_free(loop);
	ev_loop_destroy(loop);
	return 0;
}

/* Reads whatever is readable now into buf (pumping); returns the count. */
static size_t
crecv(int fd, unsigned char *buf, size_t cap, int *eof)
{
	size_t len = 0;
	ssize_t n;
	int idle = 0;

	*eof = 0;
	while (idle < 3 && len < cap) {
		pump();
		n = read(fd, buf + len, cap - len);
		if (n > 0) {
			len += (size_t)n;
			idle = 0;
		} else if (n == 0) {
			*eof = 1;
			break;
		} else {
			idle++;
		}
	}
	return len;
}

/* Connects client i and completes the handshake. */
static void
connect_client(int i)
{
	static const char req[] =
	    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: keep-alive, Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	unsigned char buf[512];
	int sv[2], eof;
	size_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(http_server_adopt(hs, sv[0], NULL), 0);
	cfd[i] = sv[1];
	fcntl(cfd[i], F_SETFL, O_NONBLOCK);
	assert_int_equal(write(cfd[i], req, sizeof(req) - 1),
	    (ssize_t)sizeof(req) - 1);
	n = crecv(cfd[i], buf, sizeof(buf) - 1, &eof);
	buf[n] = '\0';
	assert_non_null(strstr((char *)buf, "HTTP/1.1 101 "));
	assert_non_null(strstr((char *)buf,
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
	assert_true(strstr((char *)buf, "\r\n\r\n") + 4 == (char *)buf + n);
}

/* Encodes a client frame (masked unless told) into out; returns length. */
static size_t
mkframe(unsigned char *out, int fin, int rsv, int op, int mask,
    const void *payload, size_t len)
{
	static const unsigned char key[4] = { 0x12, 0x34, 0x56, 0x78 };
	const unsigned char *p = payload;
	size_t h = 0, i;

	out[h++] = (unsigned char)((fin ? 0x80 : 0) | (rsv << 4) | op);
	if (len < 126) {
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | len);
	} else if (len < 65536) {
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | 126);
		out[h++] = (unsigned char)(len >> 8);
		out[h++] = (unsigned char)len;
	} else {
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | 127);
		for (i = 0; i < 8; i++)
			out[h++] = (unsigned char)((uint64_t)len >>
			    (56 - 8 * i));
	}
	if (mask) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	for (i = 0; i < len; i++)
		out[h + i] = mask ? p[i] ^ key[i % 4] : p[i];
	return h + len;
}

static void
csend(int i, const void *p, size_t n)
{
	assert_int_equal(write(cfd[i], p, n), (ssize_t)n);
}

/*
 * Parses the server frame at p (n bytes): returns its total length and
 * sets op, payload and plen; 0 if incomplete.  Server frames are never
 * masked.
 */
static size_t
parse_frame(const unsigned char *p, size_t n, int *op,
    const unsigned char **payload, size_t *plen)
{
	size_t h = 2, len;

	if (n < 2)
		return 0;
	assert_int_equal(p[1] & 0x80, 0);
	*op = p[0] & 0x0f;
	len = p[1] & 0x7f;
	if (len == 126) {
		len = (size_t)p[2] << 8 | p[3];
		h = 4;
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		h = 10;
	}
	if (n < h + len)
		return 0;
	*payload = p + h;
	*plen = len;
	return h + len;
}

/* Expects a close frame with code, then EOF. */
static void
expect_close(int i, int code)
{
	unsigned char buf[256];
	const unsigned char *pl;
	size_t n, plen;
	int eof, op = -1;

	n = crecv(cfd[i], buf, sizeof(buf), &eof);
	if (!eof) {
		/* The close frame came first; EOF follows the drain. */
		int m;
		unsigned char more[64];

		m = (int)crecv(cfd[i], more, sizeof(more), &eof);
		assert_int_equal(m, 0);
	}
	assert_true(eof);
	assert_true(parse_frame(buf, n, &op, &pl, &plen) > 0);
	assert_int_equal(op, WS_CLOSE);
	assert_true(plen >= 2);
	assert_int_equal(pl[0] << 8 | pl[1], code);
}

static void
test_accept_key(void **state)
{
	char out[29];

	/* The example of RFC 6455 section 1.3. */
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void
test_bad_upgrade(void **state)
{
	static const char req[] =
	    "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n";
	static const char req8[] =
	    "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 8\r\n\r\n";
	unsigned char buf[512];
	int sv[2], eof;
	size_t n;

	setup_server(NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(http_server_adopt(hs, sv[0], NULL), 0);
	cfd[0] = sv[1];
	fcntl(cfd[0], F_SETFL, O_NONBLOCK);
	csend(0, req, sizeof(req) - 1);
	n = crecv(cfd[0], buf, sizeof(buf) - 1, &eof);
	buf[n] = '\0';
	assert_non_null(strstr((char *)buf, "HTTP/1.1 400 "));
	assert_int_equal(nopen, 0);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(http_server_adopt(hs, sv[0], NULL), 0);
	cfd[1] = sv[1];
	fcntl(cfd[1], F_SETFL, O_NONBLOCK);
	csend(1, req8, sizeof(req8) - 1);
	n = crecv(cfd[1], buf, sizeof(buf) - 1, &eof);
	buf[n] = '\0';
	assert_non_null(strstr((char *)buf, "HTTP/1.1 426 "));
	assert_non_null(strstr((char *)buf, "Sec-WebSocket-Version: 13"));
	assert_int_equal(nopen, 0);
}

static void
test_echo_and_split(void **state)
{
	unsigned char f[256], buf[256];
	const unsigned char *pl;
	size_t n, fl, plen, cut;
	int eof, op;

	setup_server(NULL);
	connect_client(0);
	assert_int_equal(nopen, 1);
	fl = mkframe(f, 1, 0, WS_TEXT, 1, "héllo", 6);

	/* Every split point gives one message. */
	for (cut = 0; cut <= fl; cut++) {
		csend(0, f, cut);
		pump();
		csend(0, f + cut, fl - cut);
		n = crecv(cfd[0], buf, sizeof(buf), &eof);
		assert_int_equal(nmsg, (int)cut + 1);
		assert_int_equal(lastop, WS_TEXT);
		assert_int_equal(lastlen, 6);
		assert_memory_equal(lastmsg, "héllo", 6);
		assert_int_equal(parse_frame(buf, n, &op, &pl, &plen), n);
		assert_int_equal(op, WS_TEXT);
		assert_memory_equal(pl, "héllo", 6);
		/* Nothing is held between messages. */
		assert_int_equal(ws_rx_held(wc[0]), 0);
	}

	/* Byte by byte: the context is held while the frame is in flight. */
	for (cut = 0; cut < fl; cut++) {
		csend(0, f + cut, 1);
		pump();
		if (cut + 1 < fl)
			assert_int_not_equal(ws_rx_held(wc[0]), 0);
	}
	(void)crecv(cfd[0], buf, sizeof(buf), &eof);
	assert_int_equal(nmsg, (int)fl + 2);
	assert_int_equal(ws_rx_held(wc[0]), 0);

	/* Two frames and a 200-byte binary message in one write. */
	{
		unsigned char big[200], many[600];
		size_t m = 0;

		memset(big, 0xab, sizeof(big));
		m += mkframe(many + m, 1, 0, WS_BINARY, 1, big, sizeof(big));
		m += mkframe(many + m, 1, 0, WS_TEXT, 1, "x", 1);
		csend(0, many, m);
		pump();
		assert_int_equal(nmsg, (int)fl + 4);
		assert_int_equal(lastlen, 1);
	}
}

static void
test_fragments_with_control(void **state)
{
	unsigned char f[512], buf[512];
	const unsigned char *pl;
	size_t m = 0, n, k, plen;
	int eof, op;

	setup_server(NULL);
	connect_client(0);
	m += mkframe(f + m, 0, 0, WS_TEXT, 1, "Hel", 3);
	m += mkframe(f + m, 1, 0, WS_PING, 1, "p1", 2);
	m += mkframe(f + m, 0, 0, WS_CONT, 1, "lo, ", 4);
	m += mkframe(f + m, 1, 0, WS_PONG, 1, "", 0);
	m += mkframe(f + m, 1, 0, WS_CONT, 1, "world", 5);
	csend(0, f, m);
	n = crecv(cfd[0], buf, sizeof(buf), &eof);
	assert_int_equal(nmsg, 1);
	assert_int_equal(lastlen, 12);
	assert_memory_equal(lastmsg, "Hello, world", 12);

	/* First the pong, then the echoed message. */
	k = parse_frame(buf, n, &op, &pl, &plen);
	assert_true(k > 0);
	assert_int_equal(op, WS_PONG);
	assert_memory_equal(pl, "p1", 2);
	assert_true(parse_frame(buf + k, n - k, &op, &pl, &plen) > 0);
	assert_int_equal(op, WS_TEXT);
	assert_memory_equal(pl, "Hello, world", 12);
	assert_int_equal(ws_rx_held(wc[0]), 0);
}

/* Each bad frame closes with the code RFC 6455 gives. */
static void
test_errors(void **state)
{
	static const unsigned char bad_utf8[] = { 'a', 0xc3, 0x28 };
	static const unsigned char surrogate[] = { 0xed, 0xa0, 0x80 };
	unsigned char f[512], cl[8];
	struct {
		const char *what;
		int code;
	} cases[] = {
		{ "invalid utf-8", 1007 },
		{ "utf-8 surrogate", 1007 },
		{ "invalid utf-8 across fragments", 1007 },
		{ "unmasked", 1002 },
		{ "rsv1", 1002 },
		{ "opcode 3", 1002 },
		{ "opcode 0xb", 1002 },
		{ "close code 999", 1002 },
		{ "close code 1005", 1002 },
		{ "close code 5000", 1002 },
		{ "close of one byte", 1002 },
		{ "continuation first", 1002 },
		{ "text inside text", 1002 },
		{ "fragmented ping", 1002 },
		{ "long ping", 1002 },
		{ "oversized", 1009 },
		{ "oversized fragments", 1009 },
	};
	struct ws_limits lim = { .max_message = 100 };
	unsigned char big[130];
	size_t i, m;

	memset(big, 'a', sizeof(big));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup_server(&lim);
		connect_client(0);
		m = 0;
		switch (i) {
		case 0:
			m = mkframe(f, 1, 0, WS_TEXT, 1, bad_utf8, 3);
			break;
		case 1:
			m = mkframe(f, 1, 0, WS_TEXT, 1, surrogate, 3);
			break;
		case 2:
			m = mkframe(f, 0, 0, WS_TEXT, 1, bad_utf8, 2);
			m += mkframe(f + m, 1, 0, WS_CONT, 1, "x", 1);
			break;
		case 3:
			m = mkframe(f, 1, 0, WS_TEXT, 0, "hi", 2);
			break;
		case 4:
			m = mkframe(f, 1, 4, WS_TEXT, 1, "hi", 2);
			break;
		case 5:
			m = mkframe(f, 1, 0, 3, 1, "hi", 2);
			break;
		case 6:
			m = mkframe(f, 1, 0, 0xb, 1, "", 0);
			break;
		case 7:
		case 8:
		case 9: {
			int code = i == 7 ? 999 : i == 8 ? 1005 : 5000;

			cl[0] = (unsigned char)(code >> 8);
			cl[1] = (unsigned char)code;
			m = mkframe(f, 1, 0, WS_CLOSE, 1, cl, 2);
			break;
		}
		case 10:
			m = mkframe(f, 1, 0, WS_CLOSE, 1, "x", 1);
			break;
		case 11:
			m = mkframe(f, 1, 0, WS_CONT, 1, "x", 1);
			break;
		case 12:
			m = mkframe(f, 0, 0, WS_TEXT, 1, "x", 1);
			m += mkframe(f + m, 1, 0, WS_TEXT, 1, "y", 1);
			break;
		case 13:
			m = mkframe(f, 0, 0, WS_PING, 1, "x", 1);
			break;
		case 14:
			m = mkframe(f, 1, 0, WS_PING, 1, big, 126);
			break;
		case 15:
			m = mkframe(f, 1, 0, WS_BINARY, 1, big, 101);
			break;
		case 16:
			m = mkframe(f, 0, 0, WS_BINARY, 1, big, 60);
			m += mkframe(f + m, 1, 0, WS_CONT, 1, big, 41);
			break;
		}
		csend(0, f, m);
		expect_close(0, cases[i].code);
		assert_int_equal(nmsg, 0);
		assert_int_equal(nclosed, 1);
		assert_int_equal(lastcode, cases[i].code);
		teardown(NULL);
	}
	setup_server(NULL);
}

/* The client closes: the server echoes its code and closes TCP. */
static void
test_close_by_client(void **state)
{
	unsigned char f[64];
	unsigned char cl[] = { 0x03, 0xe8, 'b', 'y', 'e' };

	setup_server(NULL);
	connect_client(0);
	csend(0, f, mkframe(f, 1, 0, WS_CLOSE, 1, cl, sizeof(cl)));
	expect_close(0, 1000);
	assert_int_equal(nclosed, 1);
	assert_int_equal(lastcode, 1000);
	assert_int_equal(ws_server_nconns(wss), 0);
}

/* The server closes: it waits for the client's close frame. */
static void
test_close_by_server(void **state)
{
	unsigned char f[64], buf[64];
	unsigned char cl[] = { 0x03, 0xe9 };
	const unsigned char *pl;
	size_t n, plen;
	int eof, op;

	setup_server(NULL);
	connect_client(0);
	ws_close(wc[0], 1001, "going away");
	n = crecv(cfd[0], buf, sizeof(buf), &eof);
	assert_false(eof);
	assert_true(parse_frame(buf, n, &op, &pl, &plen) > 0);
	assert_int_equal(op, WS_CLOSE);
	assert_int_equal(pl[0] << 8 | pl[1], 1001);
	assert_memory_equal(pl + 2, "going away", 10);
	assert_int_equal(nclosed, 0);
	/* Messages after our close are not delivered. */
	csend(0, f, mkframe(f, 1, 0, WS_TEXT, 1, "late", 4));
	csend(0, f, mkframe(f, 1, 0, WS_CLOSE, 1, cl, 2));
	n = crecv(cfd[0], buf, sizeof(buf), &eof);
	assert_int_equal(n, 0);
	assert_true(eof);
	assert_int_equal(nmsg, 0);
	assert_int_equal(nclosed, 1);
	assert_int_equal(lastcode, 1001);
}

/* TCP ends without a close frame: 1006. */
static void
test_abnormal_close(void **state)
{
	setup_server(NULL);
	connect_client(0);
	close(cfd[0]);
	cfd[0] = -1;
	pump();
	assert_int_equal(nclosed, 1);
	assert_int_equal(lastcode, 1006);
}

/* One frame is queued by reference to every connection. */
static void
test_broadcast_shared(void **state)
{
	unsigned char buf[256];
	const unsigned char *pl;
	struct buf *fr;
	size_t n, plen;
	int i, eof, op;

	setup_server(NULL);
	for (i = 0; i < 5; i++)
		connect_client(i);
	fr = ws_frame_new(WS_TEXT, "{\"type\":\"hello\"}", 16);
	assert_int_equal(ws_broadcast(wc, 5, fr), 5);
	/* Five queues hold the same bytes, not copies. */
	assert_int_equal(atomic_load(&fr->refs), 6);
	for (i = 0; i < 5; i++) {
		n = crecv(cfd[i], buf, sizeof(buf), &eof);
		assert_int_equal(n, fr->len);
		assert_memory_equal(buf, fr->data, fr->len);
		assert_int_equal(parse_frame(buf, n, &op, &pl, &plen), n);
		assert_memory_equal(pl, "{\"type\":\"hello\"}", 16);
	}
	assert_int_equal(atomic_load(&fr->refs), 1);
	buf_unref(fr);
}

/* A client that does not read is dropped at the cap, memory freed. */
static void
test_output_cap(void **state)
{
	struct ws_limits lim = { .out_cap = 64 * 1024 };
	static unsigned char payload[16 * 1024];
	struct buf *fr;
	int i, rc = 0;

	setup_server(&lim);
	connect_client(0);
	connect_client(1);
	fr = ws_frame_new(WS_BINARY, payload, sizeof(payload));
	/* The socketpair takes some; the queue takes 64 KiB more. */
	for (i = 0; i < 10000 && rc == 0; i++) {
		rc = ws_send_frame(wc[0], fr);
		pump();
	}
	assert_int_equal(rc, -1);
	pump();
	assert_int_equal(nclosed, 1);
	assert_int_equal(lastcode, 1008);
	assert_null(wc[0]);
	/* The other connection is untouched. */
	assert_int_equal(ws_send_frame(wc[1], fr), 0);
	assert_int_equal(ws_server_nconns(wss), 1);
	buf_unref(fr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test_teardown(test_bad_upgrade, teardown),
		cmocka_unit_test_teardown(test_echo_and_split, teardown),
		cmocka_unit_test_teardown(test_fragments_with_control,
		    teardown),
		cmocka_unit_test_teardown(test_errors, teardown),
		cmocka_unit_test_teardown(test_close_by_client, teardown),
		cmocka_unit_test_teardown(test_close_by_server, teardown),
		cmocka_unit_test_teardown(test_abnormal_close, teardown),
		cmocka_unit_test_teardown(test_broadcast_shared, teardown),
		cmocka_unit_test_teardown(test_output_cap, teardown),
	};

	log_init("test_common_ws", 0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
