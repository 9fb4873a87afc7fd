/*
 * http: HTTP/1.1 server connections.  See http.h.
 *
 * Each connection has one parser and at most one request at a time:
 *
 *   IDLE --first byte--> HEAD --headers--> BODY --complete--> WAIT
 *   WAIT --reply--> IDLE (next pipelined request parsed at the flush
 *                         pass) or linger close
 *   HEAD/BODY --limit, timeout, bad input--> error reply, linger close
 *   any --client gone--> close; a request in WAIT is marked gone
 *
 * The parser is paused when a request completes, and the bytes after it
 * are kept in an exactly-sized allocation (hc->rest) until the reply
 * lets parsing go on.  Nothing is parsed re-entrantly: a reply kicks the
 * connection and the flush pass resumes parsing, so a handler may reply
 * from inside the handler call or any time later.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "daemon.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define HTTP_LINGER   2.0 /* seconds to write an error reply and drain */
#define HTTP_REST_MAX (64 * 1024) /* read-ahead kept while a reply waits */
#define HTTP_ACCEPT_BATCH 64

enum http_state { HS_IDLE, HS_HEAD, HS_BODY, HS_WAIT };

struct http_listener {
	ev_io io;
	struct http_server *srv;
	SSL_CTX *tls;
	int fd;
	uint16_t port;
};

struct http_server {
	struct ev_loop *loop;
	struct http_limits lim;
	http_handler handler;
	void *arg;
	struct http_listener **ls;
	unsigned nls;
	unsigned nconns;
	int accept_paused;
	ev_timer accept_retry;
	struct hconn *conns; /* every open connection */
};

/* The HTTP state of one connection, the owner of its struct conn. */
struct hconn {
	struct conn *c;
	struct http_server *srv;
	struct hconn *prev, *next;
	struct http_req *req; /* being parsed, or waiting for its reply */
	unsigned char *rest;  /* bytes after the request, not yet parsed */
	size_t restlen;
	int state;
	int fail;     /* status to answer a parse error with */
	int in_value; /* the parser's last header callback was a value */
	int closing;  /* no more requests on this connection */
	int keep;     /* keep bytes after the request (keep-alive, upgrade) */
	http_parser parser;
};

struct http_req {
	struct hconn *hc; /* NULL once the client has gone */
	char *head;       /* url\0name\0value\0... */
	size_t headlen, headcap;
	size_t urllen;
	uint32_t (*hdr)[2]; /* offsets of names and values in head */
	size_t nhdr, hdrcap;
	char *body;
	size_t bodylen, bodycap;
	const char *method;
	const char *path, *query;
	char *extra; /* response headers */
	size_t extralen;
	void (*cancel)(struct http_req *, void *);
	void *cancel_arg;
	int keepalive;
	int upgrade;
	int head_only;
	char peer[64];
};

static const struct conn_ops http_conn_ops;
static const http_parser_settings http_settings;
static void http_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
static void http_accept_retry_cb(struct ev_loop *loop, ev_timer *w,
    int revents);

void
http_limits_default(struct http_limits *lim)
{
	lim->max_header = 16 * 1024;
	lim->max_body = 1024 * 1024;
	lim->header_timeout = 10;
	lim->body_timeout = 30;
	lim->idle_timeout = 60;
	lim->max_conns = 10000;
	lim->out_cap = 4 * 1024 * 1024;
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 421: return "Misdirected Request";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

/* Server side. */

struct http_server *
http_server_new(struct ev_loop *loop, const struct http_limits *lim,
    http_handler handler, void *arg)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	struct http_limits d;

	http_limits_default(&d);
	if (lim != NULL) {
		s->lim = *lim;
		if (s->lim.max_header == 0)
			s->lim.max_header = d.max_header;
		if (s->lim.max_body == 0)
			s->lim.max_body = d.max_body;
		if (s->lim.header_timeout <= 0)
			s->lim.header_timeout = d.header_timeout;
		if (s->lim.body_timeout <= 0)
			s->lim.body_timeout = d.body_timeout;
		if (s->lim.idle_timeout <= 0)
			s->lim.idle_timeout = d.idle_timeout;
		if (s->lim.max_conns == 0)
			s->lim.max_conns = d.max_conns;
		if (s->lim.out_cap == 0)
			s->lim.out_cap = d.out_cap;
	} else {
		s->lim = d;
	}
	s->loop = loop;
	s->handler = handler;
	s->arg = arg;
	ev_init(&s->accept_retry, http_accept_retry_cb);
	s->accept_retry.data = s;
	(void)conn_loop_get(loop);
	return s;
}

/* Starts or stops every listener's watcher. */
static void
http_accept_enable(struct http_server *s, int on)
{
	unsigned i;

	for (i = 0; i < s->nls; i++) {
		if (s->ls[i]->fd == -1)
			continue;
		if (on)
			ev_io_start(s->loop, &s->ls[i]->io);
		else
			ev_io_stop(s->loop, &s->ls[i]->io);
	}
}

static void
http_accept_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_server *s = w->data;

	s->accept_paused = 0;
	if (s->nconns < s->lim.max_conns)
		http_accept_enable(s, 1);
}

int
http_server_listen(struct http_server *s, const char *host,
    const char *port, SSL_CTX *tls)
{
	struct http_listener *l;
	int fd, port_no;

	if ((fd = daemon_listen_tcp_str(host, port, 1024)) == -1)
		return -1;

	l = xcalloc(1, sizeof(*l));
	l->srv = s;
	l->fd = fd;
	l->tls = tls;
	if ((port_no = daemon_local_port(fd)) > 0)
		l->port = (uint16_t)port_no;
	ev_io_init(&l->io, http_accept_cb, fd, EV_READ);
	l->io.data = l;
	s->ls = xreallocarray(s->ls, s->nls + 1, sizeof(*s->ls));
	s->ls[s->nls++] = l;
	if (!s->accept_paused && s->nconns < s->lim.max_conns)
		http_accept_enable(s, 1);
	return 0;
}

void
http_server_set_tls(struct http_server *s, SSL_CTX *tls)
{
	unsigned i;

	for (i = 0; i < s->nls; i++)
		if (s->ls[i]->tls != NULL)
			s->ls[i]->tls = tls;
}

uint16_t
http_server_port(const struct http_server *s, unsigned i)
{
	return i < s->nls ? s->ls[i]->port : 0;
}

unsigned
http_server_nconns(const struct http_server *s)
{
	return s->nconns;
}

void
http_server_stop_listening(struct http_server *s)
{
	unsigned i;

	ev_timer_stop(s->loop, &s->accept_retry);
	for (i = 0; i < s->nls; i++) {
		if (s->ls[i]->fd == -1)
			continue;
		ev_io_stop(s->loop, &s->ls[i]->io);
		close(s->ls[i]->fd);
		s->ls[i]->fd = -1;
	}
}

void
http_server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	http_server_stop_listening(s);
	while (s->conns != NULL)
		conn_close(s->conns->c);
	for (unsigned i = 0; i < s->nls; i++)
		free(s->ls[i]);
	free(s->ls);
	free(s);
}

/* Makes the HTTP state of a new connection and starts its idle timer. */
static int
http_conn_start(struct http_server *s, int fd, SSL_CTX *tls,
    const struct sockaddr *peer)
{
	struct hconn *hc = xcalloc(1, sizeof(*hc));
	int on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	hc->c = conn_new(s->loop, fd, tls, peer, &http_conn_ops, hc,
	    s->lim.out_cap);
	if (hc->c == NULL) {
		free(hc);
		return -1;
	}
	hc->srv = s;
	http_parser_init(&hc->parser, HTTP_REQUEST);
	hc->parser.data = hc;
	hc->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = hc;
	s->conns = hc;
	s->nconns++;
	if (s->nconns >= s->lim.max_conns)
		http_accept_enable(s, 0);
	conn_timer(hc->c, tls != NULL ? s->lim.header_timeout :
	    s->lim.idle_timeout);
	return 0;
}

int
http_server_adopt(struct http_server *s, int fd, SSL_CTX *tls)
{
	if (s->nconns >= s->lim.max_conns) {
		close(fd);
		return -1;
	}
	return http_conn_start(s, fd, tls, NULL);
}

static void
http_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_listener *l = w->data;
	struct http_server *s = l->srv;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, i;

	for (i = 0; i < HTTP_ACCEPT_BATCH; i++) {
		if (s->nconns >= s->lim.max_conns) {
			http_accept_enable(s, 0);
			return;
		}
		sl = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			/* Out of descriptors: wait a little, keep serving. */
			log_warn("accept on port %u", l->port);
			http_accept_enable(s, 0);
			s->accept_paused = 1;
			ev_timer_set(&s->accept_retry, 1., 0.);
			ev_timer_start(loop, &s->accept_retry);
			return;
		}
		(void)http_conn_start(s, fd, l->tls, (struct sockaddr *)&ss);
	}
}

/* Requests. */

static void
http_req_free(struct http_req *r)
{
	free(r->head);
	free(r->hdr);
	free(r->body);
	free(r->extra);
	free(r);
}

/* Appends n bytes to the request's head buffer, within max_header. */
static int
http_head_append(struct hconn *hc, const char *p, size_t n)
{
	struct http_req *r = hc->req;

	if (r->headlen + n + 1 > hc->srv->lim.max_header) {
		hc->fail = 431;
		return -1;
	}
	if (r->headlen + n + 1 > r->headcap) {
		size_t cap = r->headcap ? r->headcap : 256;

		while (cap < r->headlen + n + 1)
			cap *= 2;
		if (cap > hc->srv->lim.max_header)
			cap = hc->srv->lim.max_header;
		r->head = xreallocarray(r->head, cap, 1);
		r->headcap = cap;
	}
	memcpy(r->head + r->headlen, p, n);
	r->headlen += n;
	r->head[r->headlen] = '\0';
	return 0;
}

/* Ends the current string in head with a NUL that stays. */
static int
http_head_end(struct hconn *hc)
{
	if (http_head_append(hc, "", 0) == -1)
		return -1;
	hc->req->headlen++;
	return 0;
}

static int
http_on_message_begin(http_parser *p)
{
	struct hconn *hc = p->data;

	hc->req = xcalloc(1, sizeof(*hc->req));
	hc->req->hc = hc;
	hc->state = HS_HEAD;
	hc->in_value = 1;
	conn_timer(hc->c, hc->srv->lim.header_timeout);
	return 0;
}

static int
http_on_url(http_parser *p, const char *at, size_t n)
{
	struct hconn *hc = p->data;

	if (http_head_append(hc, at, n) == -1)
		return -1;
	hc->req->urllen += n;
	return 0;
}

static int
http_on_header_field(http_parser *p, const char *at, size_t n)
{
	struct hconn *hc = p->data;
	struct http_req *r = hc->req;

	if (hc->in_value) {
		/* A new header: end the url or the previous value. */
		if (http_head_end(hc) == -1)
			return -1;
		if (r->nhdr == r->hdrcap) {
			r->hdrcap = r->hdrcap ? r->hdrcap * 2 : 8;
			r->hdr = xreallocarray(r->hdr, r->hdrcap,
			    sizeof(*r->hdr));
		}
		r->hdr[r->nhdr][0] = (uint32_t)r->headlen;
		r->hdr[r->nhdr][1] = (uint32_t)r->headlen;
		r->nhdr++;
		hc->in_value = 0;
	}
	return http_head_append(hc, at, n);
}

static int
http_on_header_value(http_parser *p, const char *at, size_t n)
{
	struct hconn *hc = p->data;
	struct http_req *r = hc->req;

	if (!hc->in_value) {
		if (http_head_end(hc) == -1)
			return -1;
		r->hdr[r->nhdr - 1][1] = (uint32_t)r->headlen;
		hc->in_value = 1;
	}
	return http_head_append(hc, at, n);
}

static int
http_on_headers_complete(http_parser *p)
{
	struct hconn *hc = p->data;
	struct http_req *r = hc->req;
	const char *expect;
	char *q;

	if (!hc->in_value) {
		/* The last header had no value callback: it is empty. */
		if (http_head_end(hc) == -1)
			return -1;
		r->hdr[r->nhdr - 1][1] = (uint32_t)r->headlen;
		hc->in_value = 1;
	}
	if (http_head_end(hc) == -1)
		return -1;

	r->method = http_method_str((enum http_method)p->method);
	r->keepalive = http_should_keep_alive(p);
	r->upgrade = p->upgrade;
	r->head_only = p->method == HTTP_HEAD;
	r->path = r->head;
	r->query = "";
	if ((q = memchr(r->head, '?', r->urllen)) != NULL) {
		*q = '\0';
		r->query = q + 1;
	}

	if ((p->flags & F_CONTENTLENGTH) &&
	    p->content_length > hc->srv->lim.max_body) {
		hc->fail = 413;
		return -1;
	}
	expect = http_req_header(r, "Expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0)
		(void)conn_send_copy(hc->c, "HTTP/1.1 100 Continue\r\n\r\n",
		    25);

	hc->state = HS_BODY;
	conn_timer(hc->c, hc->srv->lim.body_timeout);
	return 0;
}

static int
http_on_body(http_parser *p, const char *at, size_t n)
{
	struct hconn *hc = p->data;
	struct http_req *r = hc->req;

	if (n > hc->srv->lim.max_body - r->bodylen) {
		hc->fail = 413;
		return -1;
	}
	if (r->bodylen + n + 1 > r->bodycap) {
		size_t cap = r->bodycap ? r->bodycap : 256;

		while (cap < r->bodylen + n + 1)
			cap *= 2;
		r->body = xreallocarray(r->body, cap, 1);
		r->bodycap = cap;
	}
	memcpy(r->body + r->bodylen, at, n);
	r->bodylen += n;
	r->body[r->bodylen] = '\0';
	return 0;
}

static int
http_on_message_complete(http_parser *p)
{
	struct hconn *hc = p->data;

	hc->state = HS_WAIT;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
	.on_message_begin = http_on_message_begin,
	.on_url = http_on_url,
	.on_header_field = http_on_header_field,
	.on_header_value = http_on_header_value,
	.on_headers_complete = http_on_headers_complete,
	.on_body = http_on_body,
	.on_message_complete = http_on_message_complete,
};

/* Answers a request that cannot be parsed or is over a limit, closes. */
static void
http_fail(struct hconn *hc, int status)
{
	char peer[64], msg[160];
	int n;

	log_info("http: %s from %s", http_status_text(status),
	    conn_peer_str(hc->c, peer, sizeof(peer)));
	if (hc->req != NULL) {
		http_req_free(hc->req);
		hc->req = NULL;
	}
	hc->closing = 1;
	hc->state = HS_WAIT;
	n = snprintf(msg, sizeof(msg), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s\n", status, http_status_text(status),
	    strlen(http_status_text(status)) + 1, http_status_text(status));
	(void)conn_send_copy(hc->c, msg, (size_t)n);
	conn_close_flush(hc->c, HTTP_LINGER);
}

/* Keeps bytes[0..n) for later parsing, after what is kept already. */
static void
http_keep(struct hconn *hc, const unsigned char *p, size_t n)
{
	unsigned char *rest;

	if (n == 0)
		return;
	rest = xmalloc(hc->restlen + n);
	if (hc->restlen > 0)
		memcpy(rest, hc->rest, hc->restlen);
	memcpy(rest + hc->restlen, p, n);
	free(hc->rest);
	hc->rest = rest;
	hc->restlen += n;
	if (hc->restlen >= HTTP_REST_MAX)
		conn_pause_read(hc->c, 1);
}

/* Hands the completed request to the handler.  hc may be gone after. */
static void
http_dispatch(struct hconn *hc)
{
	struct http_req *r = hc->req;
	struct http_server *s = hc->srv;

	conn_timer(hc->c, 0);
	if (!r->keepalive || r->upgrade) {
		/* Nothing after this request is read. */
		hc->closing = 1;
	}
	conn_peer_str(hc->c, r->peer, sizeof(r->peer));
	s->handler(r, s->arg);
}

/*
 * Parses n bytes at p (scratch or a copy of hc->rest, which the caller
 * has taken out of hc).  Keeps what follows a complete request and hands
 * the request over.  Neither hc nor its conn may be used after.
 */
static void
http_parse(struct hconn *hc, const unsigned char *p, size_t n)
{
	enum http_errno e;
	size_t used;

	used = http_parser_execute(&hc->parser, &http_settings,
	    (const char *)p, n);
	e = HTTP_PARSER_ERRNO(&hc->parser);
	if (e == HPE_PAUSED) {
		hc->keep = hc->req->keepalive || hc->req->upgrade;
		if (hc->keep)
			http_keep(hc, p + used, n - used);
		http_dispatch(hc);
		return;
	}
	if (e != HPE_OK) {
		if (hc->fail == 0)
			hc->fail = e == HPE_HEADER_OVERFLOW ? 431 : 400;
		http_fail(hc, hc->fail);
		return;
	}
	if (used != n)
		http_fail(hc, 400);
}

static void
http_conn_read(struct conn *c, const unsigned char *p, size_t n)
{
	struct hconn *hc = c->owner;

	if (hc->state == HS_WAIT) {
		/* A reply is pending: keep pipelined bytes for later. */
		if (hc->keep)
			http_keep(hc, p, n);
		return;
	}
	http_parse(hc, p, n);
}

/* Resumes parsing after a reply, from the flush pass. */
static void
http_conn_kick(struct conn *c)
{
	struct hconn *hc = c->owner;
	unsigned char *rest = hc->rest;
	size_t n = hc->restlen;

	if (hc->state != HS_IDLE)
		return;
	hc->rest = NULL;
	hc->restlen = 0;
	conn_pause_read(c, 0);
	if (n > 0) {
		http_parse(hc, rest, n);
		free(rest);
	}
}

static void
http_conn_eof(struct conn *c)
{
	conn_close(c);
}

static void
http_conn_timeout(struct conn *c)
{
	struct hconn *hc = c->owner;
	char peer[64];

	if (hc->state == HS_HEAD || hc->state == HS_BODY ||
	    (c->flags & CONN_F_HANDSHAKE)) {
		if (c->flags & CONN_F_HANDSHAKE) {
			log_info("http: TLS handshake timeout from %s",
			    conn_peer_str(c, peer, sizeof(peer)));
			conn_close(c);
			return;
		}
		http_fail(hc, 408);
		return;
	}
	log_debug("http: idle timeout, closing %s",
	    conn_peer_str(c, peer, sizeof(peer)));
	conn_close(c);
}

/* Unlinks hc from its server, which may then accept again. */
static void
http_conn_unlink(struct hconn *hc)
{
	struct http_server *s = hc->srv;

	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		s->conns = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	if (s->nconns-- == s->lim.max_conns && !s->accept_paused)
		http_accept_enable(s, 1);
}

static void
http_conn_close(struct conn *c)
{
	struct hconn *hc = c->owner;
	struct http_req *r = hc->req;

	if (r != NULL) {
		if (hc->state == HS_WAIT) {
			/* The handler holds it: mark it gone and tell it. */
			r->hc = NULL;
			if (r->cancel != NULL)
				r->cancel(r, r->cancel_arg);
		} else {
			http_req_free(r);
		}
	}
	http_conn_unlink(hc);
	free(hc->rest);
	free(hc);
}

static const struct conn_ops http_conn_ops = {
	.on_read = http_conn_read,
	.on_eof = http_conn_eof,
	.on_timeout = http_conn_timeout,
	.on_kick = http_conn_kick,
	.on_close = http_conn_close,
};

/* Request accessors. */

const char *
http_req_method(const struct http_req *r)
{
	return r->method;
}

const char *
http_req_path(const struct http_req *r)
{
	return r->path;
}

const char *
http_req_query(const struct http_req *r)
{
	return r->query;
}

const char *
http_req_header(const struct http_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nhdr; i++)
		if (strcasecmp(r->head + r->hdr[i][0], name) == 0)
			return r->head + r->hdr[i][1];
	return NULL;
}

/* Whether s (len bytes) is a plain IPv4 or IPv6 address. */
static int
http_addr_ok(const char *s, size_t len)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char a[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(a))
		return 0;
	memcpy(a, s, len);
	a[len] = '\0';
	return inet_pton(AF_INET, a, buf) == 1 ||
	    inet_pton(AF_INET6, a, buf) == 1;
}

void
http_req_client(const struct http_req *r, char *const *trusted,
    size_t ntrusted, char *out, size_t outlen)
{
	const char *peer = http_req_peer(r), *end, *v, *last = NULL;
	size_t i, n, lastlen = 0;

	/* "a.b.c.d:port", "[v6]:port" or "local" */
	if (peer[0] == '[') {
		peer++;
		end = strchr(peer, ']');
	} else
		end = strrchr(peer, ':');
	n = end != NULL ? (size_t)(end - peer) : strlen(peer);
	snprintf(out, outlen, "%.*s", (int)n, peer);
	for (i = 0; i < ntrusted; i++)
		if (strcmp(trusted[i], out) == 0)
			break;
	if (i == ntrusted)
		return;
	for (i = 0; i < r->nhdr; i++) {
		if (strcasecmp(r->head + r->hdr[i][0], "X-Forwarded-For") != 0)
			continue;
		for (v = r->head + r->hdr[i][1]; *v != '\0'; v = end) {
			v += strspn(v, " \t,");
			end = v + strcspn(v, ",");
			n = end - v;
			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			if (n > 0) {
				last = v;
				lastlen = n;
			}
		}
	}
	if (last != NULL && http_addr_ok(last, lastlen))
		snprintf(out, outlen, "%.*s", (int)lastlen, last);
}

const char *
http_req_cookie(const struct http_req *r, const char *name, size_t *len)
{
	const char *v, *end;
	size_t i, nlen = strlen(name), n;

	for (i = 0; i < r->nhdr; i++) {
		if (strcasecmp(r->head + r->hdr[i][0], "Cookie") != 0)
			continue;
		for (v = r->head + r->hdr[i][1]; *v != '\0'; v = end) {
			v += strspn(v, " \t;");
			end = v + strcspn(v, ";");
			n = end - v;
			if (n > nlen && strncmp(v, name, nlen) == 0 &&
			    v[nlen] == '=') {
				v += nlen + 1;
				n = end - v;
				while (n > 0 && (v[n - 1] == ' ' ||
				    v[n - 1] == '\t'))
					n--;
				if (n == 0)
					continue;
				*len = n;
				return v;
			}
		}
	}
	return NULL;
}

int
http_req_header_at(const struct http_req *r, size_t i, const char **name,
    const char **value)
{
	if (i >= r->nhdr)
		return -1;
	*name = r->head + r->hdr[i][0];
	*value = r->head + r->hdr[i][1];
	return 0;
}

const char *
http_req_body(const struct http_req *r, size_t *len)
{
	if (len != NULL)
		*len = r->bodylen;
	return r->body != NULL ? r->body : "";
}

const char *
http_req_peer(const struct http_req *r)
{
	return r->peer;
}

int
http_req_gone(const struct http_req *r)
{
	return r->hc == NULL;
}

void
http_req_on_cancel(struct http_req *r,
    void (*fn)(struct http_req *r, void *arg), void *arg)
{
	r->cancel = fn;
	r->cancel_arg = arg;
}

void
http_reply_header(struct http_req *r, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 4;

	r->extra = xreallocarray(r->extra, r->extralen + n + 1, 1);
	snprintf(r->extra + r->extralen, n + 1, "%s: %s\r\n", name, value);
	r->extralen += n;
}

/*
 * Queues the status line and headers, then body (a reference) or the
 * copy (len bytes at p), frees r and lets the connection go on.
 */
static void
http_reply_common(struct http_req *r, int status, const char *ctype,
    struct buf *body, const void *p, size_t len)
{
	struct hconn *hc = r->hc;
	struct buf *head;
	char *line;
	size_t blen = body != NULL ? body->len : len;
	int close_after, n, rc = 0;

	if (hc == NULL) {
		http_req_free(r);
		return;
	}
	close_after = hc->closing || !r->keepalive;
	n = asprintf(&line, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n"
	    "%s%.*s\r\n", status, http_status_text(status),
	    ctype ? "Content-Type: " : "", ctype ? ctype : "",
	    ctype ? "\r\n" : "", blen,
	    close_after ? "Connection: close\r\n" : "",
	    (int)r->extralen, r->extra ? r->extra : "");
	if (n < 0)
		fatal("asprintf");
	if (!r->head_only && body == NULL && len > 0) {
		head = buf_new((size_t)n + len);
		memcpy(head->data, line, (size_t)n);
		memcpy(head->data + n, p, len);
	} else {
		head = buf_from(line, (size_t)n);
	}
	free(line);
	rc = conn_send(hc->c, head);
	buf_unref(head);
	if (rc == 0 && body != NULL && !r->head_only)
		rc = conn_send(hc->c, body);

	hc->req = NULL;
	http_req_free(r);
	if (rc == -1) {
		conn_close(hc->c);
		return;
	}
	if (close_after) {
		conn_close_flush(hc->c, HTTP_LINGER);
		return;
	}
	hc->state = HS_IDLE;
	http_parser_pause(&hc->parser, 0);
	conn_timer(hc->c, hc->srv->lim.idle_timeout);
	if (hc->restlen > 0 || (hc->c->flags & CONN_F_RPAUSE))
		conn_kick(hc->c);
}

void
http_reply(struct http_req *r, int status, const char *ctype,
    const void *body, size_t len)
{
	http_reply_common(r, status, ctype, NULL, body, len);
}

void
http_reply_str(struct http_req *r, int status, const char *ctype,
    const char *body)
{
	http_reply_common(r, status, ctype, NULL, body, strlen(body));
}

void
http_reply_buf(struct http_req *r, int status, const char *ctype,
    struct buf *body)
{
	http_reply_common(r, status, ctype, body, NULL, 0);
}

void
http_reply_json(struct http_req *r, int status, const json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	if (s == NULL) {
		log_warnx("http_reply_json: json_dumps failed");
		http_reply_str(r, 500, "text/plain", "internal error\n");
		return;
	}
	http_reply_common(r, status, "application/json", NULL, s,
	    strlen(s));
	free(s);
}

struct conn *
http_req_takeover(struct http_req *r, unsigned char **rest, size_t *restlen)
{
	struct hconn *hc = r->hc;
	struct conn *c;

	*rest = NULL;
	*restlen = 0;
	if (hc == NULL) {
		http_req_free(r);
		return NULL;
	}
	c = hc->c;
	*rest = hc->rest;
	*restlen = hc->restlen;
	hc->rest = NULL;
	hc->req = NULL;
	http_req_free(r);
	http_conn_unlink(hc);
	free(hc);
	conn_timer(c, 0);
	conn_pause_read(c, 0);
	conn_set_owner(c, NULL, NULL);
	return c;
}
