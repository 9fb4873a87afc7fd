/*
 * parley-spoa-load: frame-level load for a SPOP agent, playing HAProxy
 * without HAProxy.  Each connection says HELLO (pipelining), then keeps
 * WINDOW NOTIFY frames in flight, sending a new one for every ACK; the
 * NOTIFYs cycle through requests shaped like parley-spoe.conf's
 * (desktop and mobile user agents, Bearer tokens, cookies, WebSocket
 * tickets, boot calls).  Prints decisions/s and ACK latency.
 *
 *   parley-spoa-load -a HOST:PORT [-c CONNS] [-w WINDOW] [-d SECONDS]
 *                    [-k KEYFILE]
 *
 * Without -k the requests carry no token.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <ev.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "spop.h"
#include "token.h"
#include "util.h"
#include "xmalloc.h"

#define LOAD_REQS    64
#define LOAD_SAMPLES (1 << 20)

struct load_req {
	uint8_t *msg; /* the NOTIFY payload, without frame header */
	size_t len;
};

struct load_conn {
	ev_io rw;
	int ready;
	uint64_t next_sid;
	uint64_t *sent_ns; /* by stream-id modulo slots */
	size_t slots;
	uint8_t in[70000];
	size_t in_len;
};

static struct load_req reqs[LOAD_REQS];
static uint64_t nacks, nerrors;
static uint64_t *samples;
static size_t nsamples;
static int window = 16;
static int measuring;

static uint64_t
load_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void
load_arg(uint8_t **p, uint8_t *end, const char *name, const char *val)
{
	struct spop_data d;

	d.type = val ? SPOP_T_STR : SPOP_T_NULL;
	if (val) {
		d.v.s.ptr = val;
		d.v.s.len = strlen(val);
	}
	if (spop_kv_put(p, end, name, &d) == -1)
		fatalx("request too large");
}

/* Builds the request mix; tokens when keys is not NULL. */
static void
load_build(const struct token_keys *keys)
{
	static const char *uas[] = {
	    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120",
	    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
	    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/121.0",
	    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8)",
	};
	static const char *paths[] = {"/api/conversations.history",
	    "/api/chat.postMessage", "/api/users.info", "/rtm/ws",
	    "/api/rtm.connect", "/api/conversations.list"};
	char tok[TOKEN_MAX_LEN], bearer[TOKEN_MAX_LEN + 8], team[16];
	uint8_t buf[2048], *p, *end = buf + sizeof(buf);
	struct spop_data src;
	int i, kind;

	for (i = 0; i < LOAD_REQS; i++) {
		const char *path = paths[i % 6];
		int ws = strcmp(path, "/rtm/ws") == 0;

		tok[0] = '\0';
		kind = ws ? TOKEN_TICKET : TOKEN_USER;
		snprintf(team, sizeof(team), "T%d", 100 + i % 16);
		if (keys != NULL &&
		    token_mint(keys, kind, team, "U1", "a1b2c3", 3600, tok,
			sizeof(tok)) < 0)
			fatalx("token_mint failed");
		snprintf(bearer, sizeof(bearer), "Bearer %s", tok);

		p = buf;
		if (spop_str_put(&p, end, "parley-req", 10) == -1)
			fatalx("request too large");
		*p++ = 9;
		load_arg(&p, end, "ua", uas[i % 4]);
		load_arg(&p, end, "authz", tok[0] && !ws && i % 3 ? bearer
								    : NULL);
		load_arg(&p, end, "cookie",
		    tok[0] && !ws && i % 3 == 0 ? tok : NULL);
		load_arg(&p, end, "ticket", tok[0] && ws ? tok : NULL);
		load_arg(&p, end, "path", path);
		load_arg(&p, end, "query", i % 5 == 0 ? "slim=1" : NULL);
		load_arg(&p, end, "hint", NULL);
		load_arg(&p, end, "upgrade", ws ? "websocket" : NULL);
		src.type = SPOP_T_IPV4;
		memcpy(src.v.addr, "\x0a\x00\x00\x01", 4);
		if (spop_kv_put(&p, end, "src", &src) == -1)
			fatalx("request too large");
		reqs[i].len = p - buf;
		reqs[i].msg = xmalloc(reqs[i].len);
		memcpy(reqs[i].msg, buf, reqs[i].len);
	}
}

/* Appends n NOTIFY frames to out; returns bytes. */
static size_t
load_notify(struct load_conn *c, uint8_t *out, size_t room, int n)
{
	uint8_t *p = out, *end = out + room, *start;
	const struct load_req *r;
	uint64_t now = load_ns();

	while (n-- > 0) {
		r = &reqs[c->next_sid % LOAD_REQS];
		start = spop_frame_start(&p, end, SPOP_FRAME_NOTIFY,
		    SPOP_FLAG_FIN, c->next_sid, 1);
		if (start == NULL || (size_t)(end - p) < r->len)
			fatalx("output buffer too small");
		memcpy(p, r->msg, r->len);
		p += r->len;
		spop_frame_finish(start, p);
		c->sent_ns[c->next_sid % c->slots] = now;
		c->next_sid += 2;
	}
	return p - out;
}

static void
load_send(int fd, const uint8_t *b, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, b, len);
		if (n == -1 && errno == EAGAIN) {
			/* Bench only: wait for room. */
			struct timespec ts = {0, 50000};

			nanosleep(&ts, NULL);
			continue;
		}
		if (n <= 0)
			fatal("write to the agent");
		b += n;
		len -= n;
	}
}

static void
load_read(struct ev_loop *loop, ev_io *io, int revents)
{
	static uint8_t out[256 * 1024];
	struct load_conn *c = io->data;
	struct spop_frame f;
	size_t off = 0, olen = 0;
	int status, acks = 0;
	uint64_t now;
	ssize_t n;

	n = read(io->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0)
		fatalx("the agent closed the connection");
	c->in_len += n;
	now = load_ns();

	while ((n = spop_frame_parse(c->in + off, c->in_len - off, 65532, &f,
		    &status)) > 0) {
		off += n;
		if (f.type == SPOP_FRAME_AGENT_HELLO) {
			c->ready = 1;
			acks = window;
		} else if (f.type == SPOP_FRAME_ACK) {
			if (f.payload_len == 0)
				nerrors++;
			if (measuring) {
				nacks++;
				if (nsamples < LOAD_SAMPLES)
					samples[nsamples++] = now -
					    c->sent_ns[f.stream_id % c->slots];
			}
			acks++;
		} else {
			fatalx("unexpected %s from the agent",
			    spop_frame_type_str(f.type));
		}
	}
	if (n < 0)
		fatalx("broken frame from the agent");
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;

	if (acks > 0) {
		olen = load_notify(c, out, sizeof(out), acks);
		load_send(io->fd, out, olen);
	}
}

static int
load_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
load_stop(struct ev_loop *loop, ev_timer *t, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void
load_start_measure(struct ev_loop *loop, ev_timer *t, int revents)
{
	measuring = 1;
	*(uint64_t *)t->data = load_ns();
}

int
main(int argc, char **argv)
{
	struct ev_loop *loop = EV_DEFAULT;
	struct token_keys *keys = NULL;
	struct conf_addr addr;
	struct sockaddr_in sin;
	ev_timer warm, stop;
	uint64_t t0 = 0, t1;
	uint8_t hello[256];
	double secs = 5, el;
	char err[512];
	int conns = 4, ch, i, fd, one = 1;
	ssize_t hn;

	log_init("parley-spoa-load", 0, 0);
	memset(&addr, 0, sizeof(addr));
	while ((ch = getopt(argc, argv, "a:c:w:d:k:")) != -1) {
		switch (ch) {
		case 'a':
			if (conf_parse_address(optarg, &addr, err,
				sizeof(err)) == -1)
				fatalx("-a: %s", err);
			break;
		case 'c':
			conns = atoi(optarg);
			break;
		case 'w':
			window = atoi(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'k':
			if ((keys = token_keys_load(optarg, err,
				 sizeof(err))) == NULL)
				fatalx("%s", err);
			break;
		default:
			fprintf(stderr, "usage: parley-spoa-load -a HOST:PORT "
					"[-c CONNS] [-w WINDOW] [-d SECONDS] "
					"[-k KEYFILE]\n");
			return 2;
		}
	}
	if (addr.port == 0 || conns < 1 || window < 1 || window > 1000)
		fatalx("need -a HOST:PORT, CONNS >= 1, 1 <= WINDOW <= 1000");

	load_build(keys);
	samples = xcalloc(LOAD_SAMPLES, sizeof(*samples));
	hn = spop_build_haproxy_hello(hello, sizeof(hello), 16380,
	    "pipelining", 0, "parley-spoa-load");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(addr.port);
	if (inet_pton(AF_INET, addr.host[0] ? addr.host : "127.0.0.1",
		&sin.sin_addr) != 1)
		fatalx("-a: IPv4 only");
	for (i = 0; i < conns; i++) {
		struct load_conn *c = xcalloc(1, sizeof(*c));

		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
		    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
			fatal("connect to the agent");
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		load_send(fd, hello, hn);
		if (daemon_set_nonblock(fd) == -1)
			fatal("fcntl");
		c->slots = 4 * window;
		c->sent_ns = xcalloc(c->slots, sizeof(*c->sent_ns));
		c->next_sid = 1;
		ev_io_init(&c->rw, load_read, fd, EV_READ);
		c->rw.data = c;
		ev_io_start(loop, &c->rw);
	}

	/* One second to warm up, then measure. */
	ev_timer_init(&warm, load_start_measure, 1.0, 0);
	warm.data = &t0;
	ev_timer_start(loop, &warm);
	ev_timer_init(&stop, load_stop, 1.0 + secs, 0);
	ev_timer_start(loop, &stop);
	ev_run(loop, 0);
	t1 = load_ns();

	el = (double)(t1 - t0) / 1e9;
	qsort(samples, nsamples, sizeof(*samples), load_cmp);
	printf("decisions/s %.0f  acks %llu  empty %llu  conns %d  window %d"
	       "  p50 %.1fus  p99 %.1fus  max %.1fus\n",
	    nacks / el, (unsigned long long)nacks,
	    (unsigned long long)nerrors, conns, window,
	    nsamples ? samples[nsamples / 2] / 1e3 : 0,
	    nsamples ? samples[nsamples * 99 / 100] / 1e3 : 0,
	    nsamples ? samples[nsamples - 1] / 1e3 : 0);
	token_keys_free(keys);
	return nerrors ? 1 : 0;
}
