/*
 * edge_link: the edge's end of one shard's stream (docs/stream.md).
 *
 *   DOWN --retry timer--> CONNECTING: TCP connect, TLS 1.3 handshake
 *        (client certificate; the server's checked against the CA and
 *        the server name), hello sent
 *   CONNECTING --hello from the backend--> UP: every team of the link
 *        is subscribed again from its epoch and seq
 *   CONNECTING/UP --EOF, error, bad frame, silence--> DOWN: forwards in
 *        flight fail with 503, requests waiting for a snapshot fail, the
 *        next try comes after a delay that doubles from backoff_min up
 *        to backoff_max, with jitter (half to all of it), and is reset
 *        by a hello
 *
 * While UP, a keepalive goes out after keepalive seconds without output,
 * and a backend silent for timeout seconds is taken for dead.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "conn.h"
#include "daemon.h"
#include "edge.h"
#include "json.h"
#include "log.h"
#include "mpframe.h"
#include "stream.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

struct edge_link {
	struct edge_srv *srv;
	char *shard;
	char *host;
	char port[8];
	SSL_CTX *tls;       /* the srv's; connections hold their own ref */
	char *server_name;  /* NULL: the CA check only */
	int state;
	struct conn *c;
	struct mpframe_dec dec;
	ev_timer retry;     /* DOWN: the next try */
	ev_timer tick;      /* UP/CONNECTING: keepalive and silence */
	double backoff;     /* the delay of the next failure */
	double last_rx, last_tx, connect_at;
	uint64_t ups;
	uint64_t next_id;
	struct edge_fwd *fwds;
	unsigned nfwds;
};

static void edge_link_down(struct edge_link *l, const char *why);

/* ---- sending ---- */

/*
 * Encodes m and queues it.  Returns 0, or -1 when it was not sent: the
 * link is not connected, m does not encode (logged), or the output is
 * over its cap (the link is then taken down).
 */
static int
edge_link_send(struct edge_link *l, const struct stream_msg *m)
{
	msgpack_sbuffer sb;
	const char *err;
	int rc;

	if (l->c == NULL || conn_closed(l->c))
		return -1;
	msgpack_sbuffer_init(&sb);
	if (stream_msg_write(&sb, m, &err) == -1) {
		log_warnx("link %s: %s frame not sent: %s", l->shard,
		    stream_type_name(m->type), err);
		msgpack_sbuffer_destroy(&sb);
		return -1;
	}
	rc = conn_send_copy(l->c, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (rc == -1) {
		edge_link_down(l, "output over its cap");
		return -1;
	}
	l->last_tx = ev_now(l->srv->loop);
	return 0;
}

/* ---- forwards ---- */

static void
edge_fwd_unlink(struct edge_fwd *f)
{
	struct edge_link *l = f->link;

	if (l == NULL)
		return;
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		l->fwds = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
	f->link = NULL;
	l->nfwds--;
}

static const char edge_unavailable[] =
    "{\"ok\":false,\"error\":\"service_unavailable\"}";

static void
edge_fwd_fail(struct edge_fwd *f)
{
	edge_fwd_unlink(f);
	f->done(f, 503, edge_unavailable, sizeof(edge_unavailable) - 1, 0);
}

int
edge_link_forward(struct edge_link *l, struct edge_fwd *f, const char *team,
    const char *method, const json_t *args, const char *token,
    const char *source)
{
	struct stream_msg m;
	size_t alen;
	char *a;
	int rc;

	if (l == NULL || l->state != EDGE_LINK_UP)
		return -1;
	a = json_dump_compact(args, &alen);
	memset(&m, 0, sizeof(m));
	m.type = STREAM_FORWARD;
	m.id = ++l->next_id;
	m.team = stream_str(team);
	m.method = stream_str(method);
	m.args.p = a;
	m.args.len = alen;
	m.token = stream_str(token != NULL ? token : "");
	m.source = stream_str(source != NULL && source[0] != '\0' ? source :
	    NULL);
	/*
	 * Sent first, linked after: a send that fails may take the link
	 * down, which fails the forwards linked to it, and f must not be
	 * among them (the caller answers it).
	 */
	rc = edge_link_send(l, &m);
	free(a);
	if (rc == -1)
		return -1;
	f->id = m.id;
	f->link = l;
	f->deadline = ev_now(l->srv->loop) + l->srv->cfg.forward_timeout;
	f->prev = NULL;
	f->next = l->fwds;
	if (l->fwds != NULL)
		l->fwds->prev = f;
	l->fwds = f;
	l->nfwds++;
	l->srv->stats.forwards++;
	return 0;
}

void
edge_link_forward_cancel(struct edge_fwd *f)
{
	edge_fwd_unlink(f);
}

static void
edge_link_result(struct edge_link *l, const struct stream_msg *m)
{
	struct edge_fwd *f;

	for (f = l->fwds; f != NULL; f = f->next)
		if (f->id == m->id)
			break;
	if (f == NULL) {
		log_debug("link %s: result %" PRIu64 " for nobody", l->shard,
		    m->id);
		return;
	}
	edge_fwd_unlink(f);
	f->done(f, (int)m->status, m->body.p != NULL ? m->body.p : "",
	    m->body.len, (int)m->retry_after);
}

void
edge_link_sweep(struct edge_link *l, double now)
{
	struct edge_fwd *f, *next;

	for (f = l->fwds; f != NULL; f = next) {
		next = f->next;
		if (f->deadline <= now) {
			log_info("link %s: forward %" PRIu64 " timed out",
			    l->shard, f->id);
			edge_fwd_fail(f);
		}
	}
}

/* ---- subscriptions and ephemeral events ---- */

int
edge_link_subscribe(struct edge_link *l, struct edge_served *ts, int fresh)
{
	struct stream_msg m;

	if (l->state != EDGE_LINK_UP)
		return -1;
	memset(&m, 0, sizeof(m));
	m.type = STREAM_SUBSCRIBE;
	m.team = stream_str(ts->team->id);
	if (!fresh && ts->team->ready && !ts->team->stale) {
		m.epoch = stream_str(ts->team->epoch);
		m.seq = ts->team->seq;
	} else {
		m.epoch = stream_str("");
		m.seq = 0;
	}
	if (edge_link_send(l, &m) == -1)
		return -1;
	ts->subscribed = 1;
	ts->fresh_out = m.seq == 0 && m.epoch.len == 0;
	return 0;
}

void
edge_link_unsubscribe(struct edge_link *l, const char *team)
{
	struct stream_msg m;

	if (l->state != EDGE_LINK_UP)
		return;
	memset(&m, 0, sizeof(m));
	m.type = STREAM_UNSUBSCRIBE;
	m.team = stream_str(team);
	(void)edge_link_send(l, &m);
}

int
edge_link_ephemeral(struct edge_link *l, const char *team, const char *user,
    const char *json, size_t len)
{
	struct stream_msg m;

	if (l == NULL || l->state != EDGE_LINK_UP)
		return -1;
	memset(&m, 0, sizeof(m));
	m.type = STREAM_EPHEMERAL;
	m.team = stream_str(team);
	m.user = stream_str(user);
	m.json.p = json;
	m.json.len = len;
	if (edge_link_send(l, &m) == -1)
		return -1;
	l->srv->stats.ephemeral_out++;
	return 0;
}

/* ---- frames from the backend ---- */

static int
edge_link_hello(struct edge_link *l, const struct stream_msg *m)
{
	if (m->version_min > STREAM_VERSION || m->version < STREAM_VERSION) {
		log_warnx("link %s: the backend speaks versions %" PRIu64
		    "..%" PRIu64 ", not %d", l->shard, m->version_min,
		    m->version, STREAM_VERSION);
		return -1;
	}
	l->state = EDGE_LINK_UP;
	if (l->c != NULL)
		conn_timer(l->c, 0);
	l->backoff = l->srv->cfg.backoff_min;
	l->ups++;
	log_info("link %s: up to %s:%s (%.*s)", l->shard, l->host, l->port,
	    (int)m->name.len, m->name.p != NULL ? m->name.p : "");
	edge_served_link_up(l->srv, l);
	return 0;
}

/* One decoded frame.  Returns 0, or -1 when the link went down. */
static int
edge_link_frame(struct edge_link *l, const msgpack_object *o)
{
	struct stream_msg m;
	const char *err;

	if (stream_msg_read(o, STREAM_FROM_BACKEND, &m, &err) == -1) {
		log_warnx("link %s: bad frame: %s", l->shard, err);
		edge_link_down(l, "bad frame");
		return -1;
	}
	if (l->state != EDGE_LINK_UP && m.type != STREAM_HELLO &&
	    m.type != STREAM_ERROR) {
		log_warnx("link %s: %s before hello", l->shard,
		    stream_type_name(m.type));
		edge_link_down(l, "no hello");
		return -1;
	}
	switch (m.type) {
	case STREAM_HELLO:
		if (l->state == EDGE_LINK_UP)
			break;
		if (edge_link_hello(l, &m) == -1) {
			edge_link_down(l, "no common version");
			return -1;
		}
		break;
	case STREAM_KEEPALIVE:
		break;
	case STREAM_RESULT:
		edge_link_result(l, &m);
		break;
	case STREAM_ERROR:
		log_info("link %s: error %.*s: %.*s", l->shard,
		    (int)m.code.len, m.code.p, (int)m.message.len,
		    m.message.p != NULL ? m.message.p : "");
		if (m.id != 0) {
			struct stream_msg r;

			memset(&r, 0, sizeof(r));
			r.id = m.id;
			r.status = 502;
			r.body = stream_str("{\"ok\":false,"
			    "\"error\":\"internal_error\"}");
			edge_link_result(l, &r);
		} else if (m.team.p != NULL) {
			edge_served_frame(l->srv, l, &m);
		} else if (l->state != EDGE_LINK_UP) {
			edge_link_down(l, "refused");
			return -1;
		}
		break;
	default:
		edge_served_frame(l->srv, l, &m);
		break;
	}
	return l->state != EDGE_LINK_DOWN ? 0 : -1;
}

/* ---- the connection ---- */

/* Decodes and handles n bytes; stops when the link goes down. */
static void
edge_link_feed(struct edge_link *l, const unsigned char *p, size_t n)
{
	const msgpack_object *o;
	ssize_t used;

	l->last_rx = ev_now(l->srv->loop);
	while (n > 0 && l->state != EDGE_LINK_DOWN) {
		used = mpframe_decode(&l->dec, p, n, &o);
		if (used == -1) {
			log_warnx("link %s: %s", l->shard, l->dec.error);
			edge_link_down(l, "bad frame");
			return;
		}
		p += used;
		n -= (size_t)used;
		if (o != NULL && edge_link_frame(l, o) == -1)
			return;
	}
}

static void
edge_link_on_read(struct conn *c, const unsigned char *p, size_t n)
{
	struct edge_link *l = c->owner;

	if (l != NULL && l->c == c)
		edge_link_feed(l, p, n);
}

static void
edge_link_on_eof(struct conn *c)
{
	struct edge_link *l = c->owner;

	edge_link_down(l, l->state == EDGE_LINK_UP ? "connection closed" :
	    "connect or TLS handshake failed");
}

static void
edge_link_on_timeout(struct conn *c)
{
	struct edge_link *l = c->owner;

	edge_link_down(l, "no hello in time");
}

static void
edge_link_on_close(struct conn *c)
{
	struct edge_link *l = c->owner;

	if (l != NULL && l->c == c)
		edge_link_down(l, "closed");
}

static const struct conn_ops edge_link_ops = {
	edge_link_on_read, edge_link_on_eof, edge_link_on_timeout, NULL, NULL,
	edge_link_on_close,
};

/*
 * Ends the connection (if any) and schedules the next try: forwards
 * fail, the teams hear that their link is down.
 */
static void
edge_link_down(struct edge_link *l, const char *why)
{
	struct edge_fwd *f;
	struct conn *c = l->c;
	double delay;
	unsigned char r;

	if (c == NULL && l->state == EDGE_LINK_DOWN)
		return;
	l->c = NULL;
	if (c != NULL) {
		c->owner = NULL;
		conn_close(c);
	}
	ev_timer_stop(l->srv->loop, &l->tick);
	mpframe_dec_free(&l->dec);
	if (l->state == EDGE_LINK_UP)
		log_warnx("link %s: down: %s", l->shard, why);
	else
		log_info("link %s: %s:%s: %s", l->shard, l->host, l->port,
		    why);
	l->state = EDGE_LINK_DOWN;
	while ((f = l->fwds) != NULL)
		edge_fwd_fail(f);
	edge_served_link_down(l->srv, l);
	if (l->srv->stopping)
		return;

	/* half to all of the backoff, then double it */
	if (util_random_bytes(&r, 1) == -1)
		r = 128;
	delay = l->backoff * (0.5 + (double)r / 510.0);
	l->backoff *= 2;
	if (l->backoff > l->srv->cfg.backoff_max)
		l->backoff = l->srv->cfg.backoff_max;
	ev_timer_stop(l->srv->loop, &l->retry);
	ev_timer_set(&l->retry, delay, 0.);
	ev_timer_start(l->srv->loop, &l->retry);
}

static void
edge_link_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct edge_link *l = w->data;
	double now = ev_now(loop);
	struct stream_msg m;

	if (now - l->last_rx >= l->srv->cfg.timeout) {
		edge_link_down(l, "backend silent");
		return;
	}
	if (l->state == EDGE_LINK_UP &&
	    now - l->last_tx >= l->srv->cfg.keepalive) {
		memset(&m, 0, sizeof(m));
		m.type = STREAM_KEEPALIVE;
		m.time = util_mono_ms();
		(void)edge_link_send(l, &m);
	}
}

/* Opens a non-blocking TCP connection; the fd, or -1 after logging. */
static int
edge_link_socket(struct edge_link *l, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct addrinfo hints, *res = NULL;
	int fd, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(l->host, l->port, &hints, &res);
	if (rc != 0 || res == NULL) {
		log_warnx("link %s: %s: %s", l->shard, l->host,
		    gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd == -1 || daemon_set_nonblock(fd) == -1) {
		log_warn("link %s: socket", l->shard);
		if (fd != -1)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	if (connect(fd, res->ai_addr, res->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		log_info("link %s: connect to %s:%s: %s", l->shard, l->host,
		    l->port, strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void
edge_link_connect(struct edge_link *l)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct stream_msg m;
	SSL *ssl;
	int fd;

	l->state = EDGE_LINK_CONNECTING;
	l->connect_at = l->last_rx = ev_now(l->srv->loop);
	fd = edge_link_socket(l, &ss, &sslen);
	if (fd == -1) {
		edge_link_down(l, "cannot connect");
		return;
	}
	ssl = tls_client_new(l->tls, l->server_name);
	if (ssl == NULL) {
		close(fd);
		edge_link_down(l, "cannot make a TLS session");
		return;
	}
	l->c = conn_new_client(l->srv->loop, fd, ssl,
	    (const struct sockaddr *)&ss, &edge_link_ops, l,
	    l->srv->cfg.link_out_cap);
	if (l->c == NULL) {
		edge_link_down(l, "cannot make a connection");
		return;
	}
	mpframe_dec_init(&l->dec, l->srv->cfg.max_frame);
	conn_timer(l->c, l->srv->cfg.timeout);

	memset(&m, 0, sizeof(m));
	m.type = STREAM_HELLO;
	m.version = STREAM_VERSION;
	m.version_min = STREAM_VERSION;
	m.name = stream_str(l->srv->cfg.name);
	if (edge_link_send(l, &m) == -1)
		return;
	ev_timer_set(&l->tick, 0.25, 0.25);
	ev_timer_start(l->srv->loop, &l->tick);
}

static void
edge_link_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct edge_link *l = w->data;

	if (l->state == EDGE_LINK_DOWN && !l->srv->stopping)
		edge_link_connect(l);
}

/* ---- life ---- */

struct edge_link *
edge_link_new(struct edge_srv *srv, const char *shard, const char *host,
    unsigned port, SSL_CTX *tls, const char *server_name)
{
	struct edge_link *l = xcalloc(1, sizeof(*l));

	l->srv = srv;
	l->shard = xstrdup(shard);
	l->host = xstrdup(host[0] != '\0' ? host : "127.0.0.1");
	snprintf(l->port, sizeof(l->port), "%u", port);
	l->tls = tls;
	l->server_name = server_name != NULL && server_name[0] != '\0' ?
	    xstrdup(server_name) : NULL;
	l->backoff = srv->cfg.backoff_min;
	ev_init(&l->retry, edge_link_retry_cb);
	l->retry.data = l;
	ev_init(&l->tick, edge_link_tick_cb);
	l->tick.data = l;
	return l;
}

void
edge_link_start(struct edge_link *l)
{
	if (l->state == EDGE_LINK_DOWN && !ev_is_active(&l->retry))
		edge_link_connect(l);
}

void
edge_link_set_tls(struct edge_link *l, SSL_CTX *tls, const char *server_name)
{
	l->tls = tls;
	free(l->server_name);
	l->server_name = server_name != NULL && server_name[0] != '\0' ?
	    xstrdup(server_name) : NULL;
}

void
edge_link_free(struct edge_link *l)
{
	if (l == NULL)
		return;
	ev_timer_stop(l->srv->loop, &l->retry);
	if (l->c != NULL || l->state != EDGE_LINK_DOWN)
		edge_link_down(l, "stopping");
	ev_timer_stop(l->srv->loop, &l->retry);
	ev_timer_stop(l->srv->loop, &l->tick);
	mpframe_dec_free(&l->dec);
	free(l->shard);
	free(l->host);
	free(l->server_name);
	free(l);
}

struct edge_link *
edge_link_test_new(struct edge_srv *srv, const char *shard)
{
	struct edge_link *l = edge_link_new(srv, shard, "127.0.0.1", 0, NULL,
	    NULL);

	l->state = EDGE_LINK_CONNECTING;
	mpframe_dec_init(&l->dec, srv->cfg.max_frame);
	return l;
}

int
edge_link_input(struct edge_link *l, const void *p, size_t n)
{
	if (l->state == EDGE_LINK_DOWN)
		return -1;
	edge_link_feed(l, p, n);
	return l->state == EDGE_LINK_DOWN ? -1 : 0;
}

int
edge_link_state(const struct edge_link *l)
{
	return l->state;
}

const char *
edge_link_state_str(const struct edge_link *l)
{
	switch (l->state) {
	case EDGE_LINK_UP:
		return "up";
	case EDGE_LINK_CONNECTING:
		return "connecting";
	default:
		return "down";
	}
}

const char *
edge_link_name(const struct edge_link *l)
{
	return l->shard;
}

uint64_t
edge_link_ups(const struct edge_link *l)
{
	return l->ups;
}

unsigned
edge_link_pending(const struct edge_link *l)
{
	return l->nfwds;
}
