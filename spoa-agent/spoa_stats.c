/*
 * spoa_stats: the agent's counters and decision latency histogram,
 * rendered as Prometheus text on /metrics of a small HTTP listener.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "log.h"
#include "spoa.h"
#include "xmalloc.h"

/* Upper bounds of the latency buckets, in nanoseconds. */
static const uint64_t spoa_lat_bounds[SPOA_LAT_BUCKETS] = {
	250,	500,	1000,	 2000,	  4000,	    8000,     16000,
	32000,	64000,	128000, 256000, 1000000, 10000000,
};

void
spoa_stats_latency(struct spoa_stats *st, uint64_t ns)
{
	size_t i;

	for (i = 0; i < SPOA_LAT_BUCKETS; i++)
		if (ns <= spoa_lat_bounds[i])
			break;
	SPOA_INC(st->lat[i]);
	SPOA_INC(st->lat_count);
	SPOA_ADD(st->lat_sum_ns, ns);
}

/* Sums the counter at offset off over every worker. */
static uint64_t
spoa_sum(struct spoa_stats *const *st, size_t n, size_t off)
{
	uint64_t s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += atomic_load_explicit(
		    (_Atomic uint64_t *)((char *)st[i] + off),
		    memory_order_relaxed);
	return s;
}

#define SPOA_SUM(field) spoa_sum(st, n, offsetof(struct spoa_stats, field))
#define SPOA_SUM_AT(field, i)                                               \
	spoa_sum(st, n,                                                     \
	    offsetof(struct spoa_stats, field) + (i) * sizeof(uint64_t))

struct spoa_text {
	char *buf;
	size_t len;
	size_t cap;
};

static void spoa_text_add(struct spoa_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
spoa_text_add(struct spoa_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap ? t->cap * 2 : 4096;
		t->buf = xreallocarray(t->buf, t->cap, 1);
	}
	t->len += n;
}

static void
spoa_text_counter(struct spoa_text *t, const char *name, const char *help,
    uint64_t v)
{
	spoa_text_add(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name,
	    help, name, name, (unsigned long long)v);
}

char *
spoa_stats_render(struct spoa_stats *const *st, size_t n, size_t *len)
{
	static const char *auth[SPOA_AUTH_COUNT] = {"none", "ok", "invalid",
	    "expired"};
	struct spoa_text t = {0};
	uint64_t cum = 0;
	size_t i;

	t.cap = 4096;
	t.buf = xmalloc(t.cap);
	t.buf[0] = '\0';

	spoa_text_counter(&t, "parley_spoa_connections_total",
	    "SPOP connections accepted", SPOA_SUM(conns));
	spoa_text_add(&t,
	    "# HELP parley_spoa_connections SPOP connections open\n"
	    "# TYPE parley_spoa_connections gauge\n"
	    "parley_spoa_connections %llu\n",
	    (unsigned long long)SPOA_SUM(conns_open));
	spoa_text_counter(&t, "parley_spoa_hellos_total",
	    "HELLO handshakes completed", SPOA_SUM(hellos));
	spoa_text_counter(&t, "parley_spoa_healthchecks_total",
	    "health-check HELLOs answered", SPOA_SUM(healthchecks));
	spoa_text_counter(&t, "parley_spoa_notify_total",
	    "NOTIFY frames received", SPOA_SUM(notifies));
	spoa_text_counter(&t, "parley_spoa_ack_total", "ACK frames sent",
	    SPOA_SUM(acks));
	spoa_text_counter(&t, "parley_spoa_haproxy_disconnects_total",
	    "HAPROXY-DISCONNECT frames received",
	    SPOA_SUM(haproxy_disconnects));
	spoa_text_counter(&t, "parley_spoa_protocol_errors_total",
	    "connections closed for broken input", SPOA_SUM(errors));
	spoa_text_counter(&t, "parley_spoa_skipped_frames_total",
	    "frames of unknown type skipped", SPOA_SUM(skipped_frames));
	spoa_text_counter(&t, "parley_spoa_bad_args_total",
	    "arguments of an unexpected type", SPOA_SUM(bad_args));
	spoa_text_counter(&t, "parley_spoa_deferred_total",
	    "requests deferred with Retry-After", SPOA_SUM(deferred));

	spoa_text_add(&t, "# HELP parley_spoa_decisions_total decisions by "
			  "route\n# TYPE parley_spoa_decisions_total counter\n");
	spoa_text_add(&t, "parley_spoa_decisions_total{route=\"full\"} %llu\n",
	    (unsigned long long)SPOA_SUM_AT(route, SPOA_ROUTE_FULL));
	spoa_text_add(&t, "parley_spoa_decisions_total{route=\"edge\"} %llu\n",
	    (unsigned long long)SPOA_SUM_AT(route, SPOA_ROUTE_EDGE));

	spoa_text_add(&t, "# HELP parley_spoa_auth_total decisions by auth\n"
			  "# TYPE parley_spoa_auth_total counter\n");
	for (i = 0; i < SPOA_AUTH_COUNT; i++)
		spoa_text_add(&t, "parley_spoa_auth_total{auth=\"%s\"} %llu\n",
		    auth[i], (unsigned long long)SPOA_SUM_AT(auth, i));

	spoa_text_add(&t,
	    "# HELP parley_spoa_decision_seconds time to answer a NOTIFY\n"
	    "# TYPE parley_spoa_decision_seconds histogram\n");
	for (i = 0; i <= SPOA_LAT_BUCKETS; i++) {
		cum += SPOA_SUM_AT(lat, i);
		if (i < SPOA_LAT_BUCKETS)
			spoa_text_add(&t,
			    "parley_spoa_decision_seconds_bucket{le=\"%g\"} "
			    "%llu\n",
			    (double)spoa_lat_bounds[i] / 1e9,
			    (unsigned long long)cum);
		else
			spoa_text_add(&t,
			    "parley_spoa_decision_seconds_bucket{le=\"+Inf\"} "
			    "%llu\n",
			    (unsigned long long)cum);
	}
	spoa_text_add(&t, "parley_spoa_decision_seconds_sum %.9f\n",
	    (double)SPOA_SUM(lat_sum_ns) / 1e9);
	spoa_text_add(&t, "parley_spoa_decision_seconds_count %llu\n",
	    (unsigned long long)SPOA_SUM(lat_count));

	*len = t.len;
	return t.buf;
}

/*
 * The stats listener: plain HTTP/1.1 on its own address, one request
 * per connection.  GET /metrics gets the text above, another method on
 * /metrics 405, any other path 404.  A request head larger
 * than SPOA_HTTP_MAX gets 431, one that does not parse 400; one slower
 * than SPOA_HTTP_TIMEOUT is dropped.
 */
#define SPOA_HTTP_MAX	  4096
#define SPOA_HTTP_TIMEOUT 5.0
/* Input dropped after an error answer before closing anyway. */
#define SPOA_HTTP_DISCARD (1024 * 1024)

struct spoa_httpd {
	struct ev_loop *loop;
	int fd;
	ev_io accept_w;
	struct spoa_stats *const *st;
	size_t n;
	struct spoa_hconn *conns;
};

struct spoa_hconn {
	struct spoa_httpd *h;
	int fd;
	ev_io rw;
	ev_timer timer;
	http_parser parser;
	char url[256];
	size_t url_len;
	int url_long;
	int done;
	int discard;
	size_t got;
	struct spoa_hconn *prev, *next;
};

static void
spoa_hconn_close(struct spoa_hconn *c)
{
	ev_io_stop(c->h->loop, &c->rw);
	ev_timer_stop(c->h->loop, &c->timer);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

static int
spoa_hconn_url(http_parser *p, const char *at, size_t len)
{
	struct spoa_hconn *c = p->data;

	if (c->url_len + len >= sizeof(c->url)) {
		c->url_long = 1;
		return 0;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

static int
spoa_hconn_complete(http_parser *p)
{
	struct spoa_hconn *c = p->data;

	c->done = 1;
	return 1;
}

/* Writes all of a short answer; gives up if the socket does not take it. */
static void
spoa_hconn_write(struct spoa_hconn *c, const char *p, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(c->fd, p, len);
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

/* Answers an error: status line and a one-line body, then close. */
static void
spoa_hconn_error(struct spoa_hconn *c, const char *status, const char *extra,
    const char *body)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf),
	    "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n%s"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	    status, extra, strlen(body) + 1, body);
	if (n > 0 && (size_t)n < sizeof(buf))
		spoa_hconn_write(c, buf, (size_t)n);
}

/* Answers the request: the metrics, 405 or 404. */
static void
spoa_hconn_answer(struct spoa_hconn *c)
{
	char head[160], *body;
	size_t blen = 0;
	int is_metrics, n;

	is_metrics = !c->url_long && (strcmp(c->url, "/metrics") == 0 ||
	    strncmp(c->url, "/metrics?", 9) == 0);
	if (is_metrics && c->parser.method != HTTP_GET) {
		spoa_hconn_error(c, "405 Method Not Allowed", "Allow: GET\r\n",
		    "method not allowed");
		return;
	}
	if (!is_metrics) {
		spoa_hconn_error(c, "404 Not Found", "", "not found");
		return;
	}

	body = spoa_stats_render(c->h->st, c->h->n, &blen);
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    blen);
	/* The socket buffer takes a few kilobytes at once; small and local. */
	spoa_hconn_write(c, head, (size_t)n);
	spoa_hconn_write(c, body, blen);
	free(body);
}

/*
 * After an error answer: the client may still be sending, and closing
 * with unread input would reset the connection before it reads the
 * answer.  So stop writing and drop what comes until it closes (or
 * SPOA_HTTP_DISCARD bytes, or the timeout).
 */
static void
spoa_hconn_finish(struct spoa_hconn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->discard = 1;
}

static void
spoa_hconn_read(struct ev_loop *loop, ev_io *io, int revents)
{
	static const http_parser_settings settings = {
		.on_url = spoa_hconn_url,
		.on_message_complete = spoa_hconn_complete,
	};
	struct spoa_hconn *c = io->data;
	char buf[1024];
	ssize_t n;

	n = read(c->fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		spoa_hconn_close(c);
		return;
	}
	c->got += n;
	if (c->discard) {
		if (c->got > SPOA_HTTP_DISCARD)
			spoa_hconn_close(c);
		return;
	}
	http_parser_execute(&c->parser, &settings, buf, n);
	if (c->done) {
		spoa_hconn_answer(c);
		spoa_hconn_close(c);
		return;
	}
	if (c->got > SPOA_HTTP_MAX ||
	    HTTP_PARSER_ERRNO(&c->parser) == HPE_HEADER_OVERFLOW) {
		log_info("stats: request header too large (over %d bytes); "
			 "closing",
		    SPOA_HTTP_MAX);
		spoa_hconn_error(c, "431 Request Header Fields Too Large", "",
		    "header too large");
		spoa_hconn_finish(c);
	} else if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
		log_info("stats: bad request: %s; closing",
		    http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
		spoa_hconn_error(c, "400 Bad Request", "", "bad request");
		spoa_hconn_finish(c);
	}
}

static void
spoa_hconn_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	spoa_hconn_close(t->data);
}

static void
spoa_httpd_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct spoa_httpd *h = io->data;
	struct spoa_hconn *c;
	int fd;

	fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->fd = fd;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	ev_io_init(&c->rw, spoa_hconn_read, fd, EV_READ);
	c->rw.data = c;
	ev_timer_init(&c->timer, spoa_hconn_timeout, SPOA_HTTP_TIMEOUT, 0);
	c->timer.data = c;
	ev_io_start(loop, &c->rw);
	ev_timer_start(loop, &c->timer);
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
}

struct spoa_httpd *
spoa_stats_listen(struct ev_loop *loop, int fd, struct spoa_stats *const *st,
    size_t n)
{
	struct spoa_httpd *h = xcalloc(1, sizeof(*h));

	h->loop = loop;
	h->fd = fd;
	h->st = st;
	h->n = n;
	ev_io_init(&h->accept_w, spoa_httpd_accept, fd, EV_READ);
	h->accept_w.data = h;
	ev_io_start(loop, &h->accept_w);
	return h;
}

void
spoa_stats_close(struct spoa_httpd *h)
{
	if (h == NULL)
		return;
	while (h->conns != NULL)
		spoa_hconn_close(h->conns);
	ev_io_stop(h->loop, &h->accept_w);
	close(h->fd);
	free(h);
}
