/*
 * Unit tests of common/http.c: a real libev loop serves one end of a
 * socketpair, the test writes requests into the other end and reads the
 * replies.  Covers requests split at every byte, pipelining, keep-alive,
 * limits (431, 413), timeouts (408, idle close), bad input (400),
 * asynchronous replies and a client that leaves before its reply.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "http.h"
#include "log.h"

static struct ev_loop *loop;
static struct http_server *srv;
static int cfd = -1;
static int async_mode;
static struct http_req *held[8];
static int nheld;
static int ncancel;
static int nhandled;

/* Answers "METHOD PATH?QUERY|header x-a|body" or holds the request. */
static void
handler(struct http_req *req, void *arg)
{
	char out[2048];
	const char *xa = http_req_header(req, "x-A");
	const char *body;
	size_t blen;

	nhandled++;
	if (strcmp(http_req_path(req), "/big") == 0) {
		static char big[200000];

		memset(big, 'z', sizeof(big));
		big[sizeof(big) - 1] = '!';
		http_reply(req, 200, NULL, big, sizeof(big));
		return;
	}
	if (async_mode) {
		held[nheld++] = req;
		return;
	}
	body = http_req_body(req, &blen);
	snprintf(out, sizeof(out), "%s %s?%s|%s|%.*s", http_req_method(req),
	    http_req_path(req), http_req_query(req), xa ? xa : "-",
	    (int)blen, body);
	http_reply_str(req, 200, "text/plain", out);
}

static void
on_cancel(struct http_req *req, void *arg)
{
	ncancel++;
	assert_true(http_req_gone(req));
}

/* Runs the loop until nothing more happens soon. */
static void
pump(void)
{
	int i;

	for (i = 0; i < 10; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

static void
start(const struct http_limits *lim)
{
	int sv[2];

	loop = ev_loop_new(EVFLAG_AUTO);
	srv = http_server_new(loop, lim, handler, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(http_server_adopt(srv, sv[0], NULL), 0);
	cfd = sv[1];
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	async_mode = 0;
	nheld = ncancel = nhandled = 0;
}

static int
teardown(void **state)
{
	if (cfd != -1)
		close(cfd);
	cfd = -1;
	http_server_free(srv);
	conn_loop_free(loop);
	ev_loop_destroy(loop);
	return 0;
}

static void
csend(const char *s, size_t n)
{
	assert_int_equal(write(cfd, s, n), (ssize_t)n);
}

/* Reads what the server has written so far (pumping the loop). */
static char *
crecv(int *eof)
{
	static char buf[1 << 20];
	size_t len = 0;
	ssize_t n;
	int idle = 0;

	*eof = 0;
	while (idle < 3 && len < sizeof(buf) - 1) {
		pump();
		n = read(cfd, buf + len, sizeof(buf) - 1 - len);
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
	buf[len] = '\0';
	return buf;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

static const char req1[] =
    "POST /api/chat.postMessage?x=1&y=2 HTTP/1.1\r\n"
    "Host: a\r\n"
    "X-A: hello\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "abcde";

static void
test_simple(void **state)
{
	char *out;
	int eof;

	start(NULL);
	csend(req1, sizeof(req1) - 1);
	out = crecv(&eof);
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out, "Content-Length: 46\r\n"));
	assert_non_null(
	    strstr(out, "\r\n\r\nPOST /api/chat.postMessage?x=1&y=2|hello|abcde"));
	assert_false(eof);
}

/* Every split point of a request gives the same single reply. */
static void
test_split_every_byte(void **state)
{
	size_t cut;
	char *out;
	int eof;

	for (cut = 1; cut < sizeof(req1) - 1; cut++) {
		start(NULL);
		csend(req1, cut);
		pump();
		csend(req1 + cut, sizeof(req1) - 1 - cut);
		out = crecv(&eof);
		assert_int_equal(count(out, "HTTP/1.1 200"), 1);
		assert_non_null(strstr(out, "|hello|abcde"));
		assert_int_equal(nhandled, 1);
		teardown(NULL);
	}
	start(NULL);
	/* Byte by byte. */
	for (cut = 0; cut < sizeof(req1) - 1; cut++) {
		csend(req1 + cut, 1);
		pump();
	}
	out = crecv(&eof);
	assert_int_equal(count(out, "HTTP/1.1 200"), 1);
}

/* Three pipelined requests in one write are answered once each, in order. */
static void
test_pipelined(void **state)
{
	const char *p =
	    "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
	    "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
	    "GET /three?q HTTP/1.1\r\nX-A: 3\r\n\r\n";
	char *out, *a, *b, *c;
	int eof;

	start(NULL);
	csend(p, strlen(p));
	out = crecv(&eof);
	assert_int_equal(count(out, "HTTP/1.1 200"), 3);
	a = strstr(out, "GET /one?|-|");
	b = strstr(out, "POST /two?|-|xyz");
	c = strstr(out, "GET /three?q|3|");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c);
	assert_false(eof);
}

/* Pipelined requests wait for an asynchronous reply, and keep order. */
static void
test_pipelined_async(void **state)
{
	const char *p = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
	char *out;
	int eof;

	start(NULL);
	async_mode = 1;
	csend(p, strlen(p));
	out = crecv(&eof);
	assert_int_equal(nheld, 1);
	assert_string_equal(out, "");
	assert_string_equal(http_req_path(held[0]), "/1");
	http_reply_str(held[0], 200, NULL, "first");
	out = crecv(&eof);
	assert_non_null(strstr(out, "first"));
	assert_int_equal(nheld, 2);
	assert_string_equal(http_req_path(held[1]), "/2");
	http_reply_str(held[1], 201, NULL, "second");
	out = crecv(&eof);
	assert_non_null(strstr(out, "HTTP/1.1 201 Created"));
	assert_non_null(strstr(out, "second"));
}

/* The client leaves before the asynchronous reply: cancel, no crash. */
static void
test_async_client_gone(void **state)
{
	start(NULL);
	async_mode = 1;
	csend("GET /slow HTTP/1.1\r\n\r\n", 22);
	pump();
	assert_int_equal(nheld, 1);
	http_req_on_cancel(held[0], on_cancel, NULL);
	close(cfd);
	cfd = -1;
	pump();
	assert_int_equal(ncancel, 1);
	assert_true(http_req_gone(held[0]));
	assert_int_equal(http_server_nconns(srv), 0);
	/* The late reply only frees the request. */
	http_reply_str(held[0], 200, NULL, "late");
	pump();
}

static void
test_keepalive_and_close(void **state)
{
	char *out;
	int eof;

	start(NULL);
	csend("GET /a HTTP/1.1\r\n\r\n", 19);
	out = crecv(&eof);
	assert_non_null(strstr(out, "200 OK"));
	assert_null(strstr(out, "Connection: close"));
	assert_false(eof);
	csend("GET /b HTTP/1.1\r\nConnection: close\r\n\r\n", 38);
	out = crecv(&eof);
	assert_non_null(strstr(out, "Connection: close"));
	assert_non_null(strstr(out, "GET /b?"));
	assert_true(eof);
	teardown(NULL);

	/* HTTP/1.0 without keep-alive closes too. */
	start(NULL);
	csend("GET /c HTTP/1.0\r\n\r\n", 19);
	out = crecv(&eof);
	assert_non_null(strstr(out, "GET /c?"));
	assert_true(eof);
}

static void
test_header_too_large(void **state)
{
	struct http_limits lim = { .max_header = 256 };
	char big[1024];
	char *out;
	int eof;

	start(&lim);
	memset(big, 'a', sizeof(big));
	csend("GET / HTTP/1.1\r\nX-Big: ", 23);
	csend(big, sizeof(big));
	out = crecv(&eof);
	assert_non_null(strstr(out, "HTTP/1.1 431 "));
	assert_true(eof);
	assert_int_equal(nhandled, 0);
}

static void
test_body_too_large(void **state)
{
	struct http_limits lim = { .max_body = 100 };
	const char *chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked"
			      "\r\n\r\n40\r\n";
	char big[0x40];
	char *out;
	int eof;

	/* Declared: refused before the body is read. */
	start(&lim);
	csend("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 41);
	out = crecv(&eof);
	assert_non_null(strstr(out, "HTTP/1.1 413 "));
	assert_true(eof);
	teardown(NULL);

	/* Chunked: refused once it passes the limit. */
	start(&lim);
	memset(big, 'b', sizeof(big));
	csend(chunked, strlen(chunked));
	csend(big, sizeof(big));
	csend("\r\n40\r\n", 6);
	csend(big, sizeof(big));
	out = crecv(&eof);
	assert_non_null(strstr(out, "HTTP/1.1 413 "));
	assert_true(eof);
	assert_int_equal(nhandled, 0);
}

static void
test_bad_request(void **state)
{
	char *out;
	int eof;

	start(NULL);
	csend("GARBAGE\x01\r\n\r\n", 11);
	out = crecv(&eof);
	assert_non_null(strstr(out, "HTTP/1.1 400 "));
	assert_true(eof);
}

static void
client_ready(struct ev_loop *l, ev_io *w, int revents)
{
	ev_break(l, EVBREAK_ONE);
}

/*
 * Runs the loop until the client end sees EOF (bounded by a number of
 * wake-ups, not by time); returns the bytes read before it.
 */
static char *
wait_eof(void)
{
	static char buf[4096];
	size_t len = 0;
	ev_io w;
	ssize_t n;
	int i;

	ev_io_init(&w, client_ready, cfd, EV_READ);
	ev_io_start(loop, &w);
	for (i = 0; i < 1000; i++) {
		ev_run(loop, 0);
		n = read(cfd, buf + len, sizeof(buf) - 1 - len);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
	}
	ev_io_stop(loop, &w);
	buf[len] = '\0';
	assert_true(i < 1000);
	return buf;
}

static void
test_slow_headers(void **state)
{
	struct http_limits lim = { .header_timeout = 0.05 };

	start(&lim);
	csend("GET / HTTP/1.1\r\nHost:", 21);
	assert_non_null(strstr(wait_eof(), "HTTP/1.1 408 "));
	assert_int_equal(nhandled, 0);
}

static void
test_slow_body(void **state)
{
	struct http_limits lim = { .body_timeout = 0.05 };

	start(&lim);
	csend("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab", 42);
	assert_non_null(strstr(wait_eof(), "HTTP/1.1 408 "));
	assert_int_equal(nhandled, 0);
}

static void
test_idle_close(void **state)
{
	struct http_limits lim = { .idle_timeout = 0.05 };

	start(&lim);
	assert_string_equal(wait_eof(), "");
	assert_int_equal(http_server_nconns(srv), 0);
}

/* Header lookup ignores case; an empty value is kept as "". */
static void
test_headers(void **state)
{
	const char *n, *v;
	int eof;

	start(NULL);
	async_mode = 1;
	csend("GET / HTTP/1.1\r\nX-Empty:\r\nCONTENT-type: a/b\r\n"
	      "X-Last: z\r\n\r\n", 58);
	pump();
	assert_int_equal(nheld, 1);
	assert_string_equal(http_req_header(held[0], "x-empty"), "");
	assert_string_equal(http_req_header(held[0], "Content-Type"), "a/b");
	assert_string_equal(http_req_header(held[0], "x-last"), "z");
	assert_null(http_req_header(held[0], "x-missing"));
	assert_int_equal(http_req_header_at(held[0], 1, &n, &v), 0);
	assert_string_equal(n, "CONTENT-type");
	assert_int_equal(http_req_header_at(held[0], 3, &n, &v), -1);
	json_t *o = json_pack("{s:b}", "ok", 1);
	http_reply_json(held[0], 200, o);
	json_decref(o);
	assert_non_null(strstr(crecv(&eof), "\r\n\r\n{\"ok\":true}"));
}

/* A listener on a kernel-chosen loopback port answers over TCP. */
/*
 * Cookies: found in any Cookie header, by exact name (not a name that
 * ends with it), blanks trimmed; an empty value is absent.
 */
static void
test_cookies(void **state)
{
	const char *v, *req = "GET / HTTP/1.1\r\nCookie: xparley_token=no; "
	    "a=1\r\nCookie: empty=;parley_token=xoxp.k1 ; b=2\r\n\r\n";
	size_t len;

	start(NULL);
	async_mode = 1;
	csend(req, strlen(req));
	pump();
	assert_int_equal(nheld, 1);
	v = http_req_cookie(held[0], "parley_token", &len);
	assert_non_null(v);
	assert_int_equal(len, 7);
	assert_memory_equal(v, "xoxp.k1", 7);
	v = http_req_cookie(held[0], "a", &len);
	assert_non_null(v);
	assert_int_equal(len, 1);
	assert_null(http_req_cookie(held[0], "empty", &len));
	assert_null(http_req_cookie(held[0], "missing", &len));
	assert_null(http_req_cookie(held[0], "parley", &len));
	http_reply_str(held[0], 200, "text/plain", "x");
}

static void
test_listen_tcp(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char *out;
	int eof;

	loop = ev_loop_new(EVFLAG_AUTO);
	async_mode = 0;
	srv = http_server_new(loop, NULL, handler, NULL);
	assert_int_equal(http_server_listen(srv, "127.0.0.1", "0", NULL), 0);
	assert_int_not_equal(http_server_port(srv, 0), 0);
	sin.sin_port = htons(http_server_port(srv, 0));
	sin.sin_addr.s_addr = htonl(0x7f000001);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	csend("GET /tcp HTTP/1.1\r\n\r\n", 21);
	out = crecv(&eof);
	assert_non_null(strstr(out, "GET /tcp?"));
	assert_int_equal(http_server_nconns(srv), 1);
}

/* Drives a non-blocking TLS client until fn returns > 0 (bounded). */
static int
tls_step(SSL *ssl, int (*fn)(SSL *, void *, int), void *buf, int len)
{
	int i, r = -1, e;

	for (i = 0; i < 2000; i++) {
		ERR_clear_error();
		r = fn(ssl, buf, len);
		if (r > 0)
			return r;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return -1;
		pump();
	}
	return -1;
}

static int
tls_connect(SSL *ssl, void *buf, int len)
{
	return SSL_connect(ssl);
}

static int
tls_write(SSL *ssl, void *buf, int len)
{
	return SSL_write(ssl, buf, len);
}

static int
tls_read(SSL *ssl, void *buf, int len)
{
	return SSL_read(ssl, buf, len);
}

/*
 * TLS with a certificate the test makes with openssl: the non-blocking
 * handshake, two pipelined requests, and a 200 KB reply that takes many
 * TLS records and full socket buffers.
 */
static void
test_tls(void **state)
{
	static char got[400000];
	char dir[] = "/tmp/parley-http-tls.XXXXXX", cmd[1024], crt[64],
	    key[64];
	const char *reqs = "GET /one HTTP/1.1\r\n\r\nGET /big HTTP/1.1\r\n\r\n";
	SSL_CTX *sctx, *cctx;
	SSL *ssl;
	size_t len = 0;
	int sv[2], n, i;

	assert_non_null(mkdtemp(dir));
	snprintf(crt, sizeof(crt), "%s/c.pem", dir);
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
	    "-keyout %s -out %s 2>/dev/null", key, crt);
	assert_int_equal(system(cmd), 0);
	sctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate_chain_file(sctx, crt), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(sctx, key,
	    SSL_FILETYPE_PEM), 1);
	cctx = SSL_CTX_new(TLS_client_method());

	loop = ev_loop_new(EVFLAG_AUTO);
	async_mode = 0;
	nhandled = 0;
	srv = http_server_new(loop, NULL, handler, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(http_server_adopt(srv, sv[0], sctx), 0);
	cfd = sv[1];
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	ssl = SSL_new(cctx);
	SSL_set_fd(ssl, cfd);
	assert_int_equal(tls_step(ssl, tls_connect, NULL, 0), 1);
	assert_int_equal(tls_step(ssl, tls_write, (void *)reqs,
	    (int)strlen(reqs)), (int)strlen(reqs));
	for (i = 0; i < 5000 && len < sizeof(got) - 1; i++) {
		n = tls_step(ssl, tls_read, got + len,
		    (int)(sizeof(got) - 1 - len));
		if (n <= 0)
			break;
		len += (size_t)n;
		got[len] = '\0';
		if (len > 200000 && got[len - 1] == '!')
			break;
	}
	assert_non_null(strstr(got, "GET /one?|-|"));
	assert_non_null(strstr(got, "Content-Length: 200000\r\n"));
	assert_int_equal(got[len - 1], '!');
	assert_int_equal(nhandled, 2);

	SSL_free(ssl);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	unlink(crt);
	unlink(key);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_simple, teardown),
		cmocka_unit_test_teardown(test_split_every_byte, teardown),
		cmocka_unit_test_teardown(test_pipelined, teardown),
		cmocka_unit_test_teardown(test_pipelined_async, teardown),
		cmocka_unit_test_teardown(test_async_client_gone, teardown),
		cmocka_unit_test_teardown(test_keepalive_and_close, teardown),
		cmocka_unit_test_teardown(test_header_too_large, teardown),
		cmocka_unit_test_teardown(test_body_too_large, teardown),
		cmocka_unit_test_teardown(test_bad_request, teardown),
		cmocka_unit_test_teardown(test_slow_headers, teardown),
		cmocka_unit_test_teardown(test_slow_body, teardown),
		cmocka_unit_test_teardown(test_idle_close, teardown),
		cmocka_unit_test_teardown(test_headers, teardown),
		cmocka_unit_test_teardown(test_cookies, teardown),
		cmocka_unit_test_teardown(test_listen_tcp, teardown),
		cmocka_unit_test_teardown(test_tls, teardown),
	};

	log_init("test_common_http", 0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
