/*
 * parley-load: options, workers, the run and the report.
 *
 *   parley-load MODE -u URL [-c CONNS] [-w WORKERS] [-d SECONDS]
 *               [-r RATE] [-s SIZE] [-C CHANNELS] [-W WINDOW]
 *               [-i INFLIGHT] [-S SRC_LO[-SRC_HI]] [-t TOKEN]
 *               [--channel ID] [--rtm] [--pub-url URL] [--check]
 *
 * Modes:
 *   idle     open CONNS WebSockets and hold them
 *   storm    open CONNS WebSockets all at once (a reconnect storm), report
 *            how long they took, and end
 *   http     keep-alive requests back to back on CONNS connections
 *   echo     each WebSocket sends a message and waits for its echo
 *   fanout   CONNS receivers, spread over CHANNELS groups; the parent
 *            publishes stamped messages at RATE per second (0: flat out,
 *            at most WINDOW deliveries outstanding) and every receiver
 *            records the delay of every message.  ws://: the server
 *            broadcasts a text message starting with 'B' to the
 *            connections of the sender's path (PATH, or PATHc<k> with
 *            CHANNELS > 1); redis://: SUBSCRIBE and PUBLISH on c<k>
 *            With --rtm, the URL is an RTM URL of parley-backend (from
 *            rtm.connect, carrying a ticket every connection may use),
 *            the publisher sends RTM messages to --channel, and the
 *            receivers find the stamps in the message events;
 *            --pub-url puts the publisher on another ws:// URL (the
 *            backend's RTM while the receivers are on an edge's)
 *   post     durable posts: chat.postMessage with -t TOKEN to --channel,
 *            one request at a time on each of CONNS connections
 *   rtm-idle, rtm-fanout, rtm-send
 *            against parley-backend's RTM WebSocket (scen_rtm.c), in
 *            one process
 *
 * Results go to stdout, one "key: value" line per figure, and a last
 * "json: {...}" line with every figure for scripts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/tcp.h>

#include "load.h"
#include "log.h"

enum { M_WS = 1, M_HTTP = 2, M_REDIS = 4 };

static const struct {
	const char *name;
	int targets;             /* M_* the mode accepts */
	int (*run)(struct load *);
	int solo;                /* runs in the parent, no workers */
} scenarios[] = {
	{ "idle", M_WS, scen_idle, 0 },
	{ "storm", M_WS, scen_idle, 0 },
	{ "http", M_HTTP, scen_http, 0 },
	{ "echo", M_WS, scen_echo, 0 },
	{ "fanout", M_WS | M_REDIS, NULL, 0 },
	{ "post", M_HTTP, scen_post, 0 },
	{ "rtm-idle", M_WS, scen_rtm_idle, 1 },
	{ "rtm-fanout", M_WS, scen_rtm_fanout, 1 },
	{ "rtm-send", M_WS, scen_rtm_send, 1 },
};

double
load_now(const struct load *ld)
{
	struct timespec ts;

	(void)ld;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
load_publish(struct load *ld)
{
	struct load_stats *st = ld->st;

	if (st == NULL)
		return;
	__atomic_store_n(&st->sent, ld->sent, __ATOMIC_RELAXED);
	__atomic_store_n(&st->received, ld->received, __ATOMIC_RELAXED);
	__atomic_store_n(&st->errors, ld->errors, __ATOMIC_RELAXED);
	__atomic_store_n(&st->open, ld->open, __ATOMIC_RELAXED);
	__atomic_store_n(&st->failed, ld->failed, __ATOMIC_RELAXED);
	__atomic_store_n(&st->closed, ld->closed, __ATOMIC_RELAXED);
	__atomic_store_n(&st->answered, ld->answered, __ATOMIC_RELAXED);
	st->t_first = ld->t_first;
	st->t_last = ld->t_last;
}

int
load_socket(struct load *ld)
{
	struct sockaddr_in src;
	int fd, on = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (ld->src_lo != 0) {
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(ld->src_next);
		if (++ld->src_next > ld->src_hi)
			ld->src_next = ld->src_lo;
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on,
		    sizeof(on));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&ld->dst, sizeof(ld->dst)) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char hexdig[] = "0123456789abcdef";

void
load_stamp(unsigned char *p, double t)
{
	uint64_t ns = (uint64_t)(t * 1e9);
	int i;

	memcpy(p, LOAD_STAMP, 2);
	for (i = 15; i >= 0; i--) {
		p[2 + i] = (unsigned char)hexdig[ns & 15];
		ns >>= 4;
	}
}

void
load_message(unsigned char *p, size_t len, double t)
{
	load_stamp(p, t);
	memset(p + LOAD_STAMP_LEN, 'x', len - LOAD_STAMP_LEN);
}

/* The value of 16 hex digits at p, or -1. */
static int64_t
load_hex16(const unsigned char *p)
{
	uint64_t v = 0;
	int i, d;

	for (i = 0; i < 16; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	return v > INT64_MAX ? -1 : (int64_t)v;
}

double
load_stamp_find(const unsigned char *p, size_t len)
{
	/* Messages published together carry the same stamp. */
	static unsigned char last[16];
	static double last_t = -1;
	const unsigned char *s = p;
	int64_t ns;

	if (len < LOAD_STAMP_LEN)
		return -1;
	if (p[0] == 'B' && p[1] == '~' && memcmp(p + 2, last, 16) == 0)
		return last_t;
	if (p[0] != 'B' || p[1] != '~') {
		/* Inside an envelope (JSON of an RTM event, say). */
		s = memmem(p, len - 16, LOAD_STAMP, 2);
		if (s == NULL)
			return -1;
	}
	ns = load_hex16(s + 2);
	if (ns < 0)
		return -1;
	memcpy(last, s + 2, 16);
	last_t = (double)ns / 1e9;
	return last_t;
}

void
load_delivered(struct load *ld, double t)
{
	double d = ld->now - t;

	hist_add(&ld->lat, d > 0 ? (uint64_t)(d * 1e6) : 0);
	if (ld->received++ == 0)
		ld->t_first = ld->now;
	ld->t_last = ld->now;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: parley-load idle|storm|http|echo|fanout|post|rtm-idle|"
	    "rtm-fanout|rtm-send\n           -u URL"
	    "           [-c conns] [-w workers] [-d seconds] [-r rate]"
	    " [-s size]\n"
	    "           [-C channels] [-W window] [-i inflight]"
	    " [-S src[-src]]\n"
	    "           [-t token] [--channel id] [--rtm] [--pub-url url]"
	    " [--check]\n");
	exit(2);
}

/* Parses ws://, http:// or redis:// host:port/path. */
static int
parse_url(struct load *ld, const char *url)
{
	struct addrinfo hints, *res;
	const char *p, *slash, *colon;

	if (strncmp(url, "ws://", 5) == 0) {
		p = url + 5;
		ld->ws = 1;
	} else if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else if (strncmp(url, "redis://", 8) == 0) {
		p = url + 8;
		ld->redis = 1;
	} else {
		return -1;
	}
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	if (colon == NULL || (size_t)(colon - p) >= sizeof(ld->host) ||
	    (size_t)(slash - colon - 1) >= sizeof(ld->port))
		return -1;
	memcpy(ld->host, p, (size_t)(colon - p));
	memcpy(ld->port, colon + 1, (size_t)(slash - colon - 1));
	snprintf(ld->path, sizeof(ld->path), "%s", *slash ? slash : "/");

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(ld->host, ld->port, &hints, &res) != 0)
		return -1;
	memcpy(&ld->dst, res->ai_addr, sizeof(ld->dst));
	freeaddrinfo(res);
	return 0;
}

static int
parse_src(struct load *ld, const char *s)
{
	char lo[32];
	const char *dash = strchr(s, '-');
	struct in_addr a;

	snprintf(lo, sizeof(lo), "%.*s",
	    dash ? (int)(dash - s) : (int)strlen(s), s);
	if (inet_pton(AF_INET, lo, &a) != 1)
		return -1;
	ld->src_lo = ld->src_hi = ntohl(a.s_addr);
	if (dash != NULL) {
		if (inet_pton(AF_INET, dash + 1, &a) != 1)
			return -1;
		ld->src_hi = ntohl(a.s_addr);
	}
	if (ld->src_hi < ld->src_lo)
		return -1;
	ld->src_next = ld->src_lo;
	return 0;
}

static volatile sig_atomic_t signalled;

static void
on_signal(int sig)
{
	(void)sig;
	signalled = 1;
}

int
load_signalled(void)
{
	return signalled != 0;
}

/* Workers: end when the parent says so (or is gone). */
static void
worker_stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct load *ld = w->data;

	load_publish(ld);
	if (__atomic_load_n(&ld->sh->stop, __ATOMIC_RELAXED) || signalled ||
	    getppid() == 1) {
		ld->stopping = 1;
		ev_break(loop, EVBREAK_ALL);
	}
}

/* Runs worker k's share of the connections; never returns. */
static void
worker_main(struct load *ld, unsigned k, int (*run)(struct load *))
{
	unsigned per = ld->conns / ld->workers, extra = ld->conns % ld->workers;
	int rc;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	ld->is_worker = 1;
	ld->widx = k;
	ld->id_lo = k * per + (k < extra ? k : extra);
	ld->id_hi = ld->id_lo + per + (k < extra ? 1 : 0);
	ld->st = &ld->sh->w[k];
	if (ld->src_lo != 0)
		ld->src_next = ld->src_lo + k % (ld->src_hi - ld->src_lo + 1);
	srandom((unsigned)getpid());
	ld->loop = ev_default_loop(EVFLAG_AUTO);
	ev_timer_init(&ld->stop, worker_stop_cb, 0.01, 0.01);
	ld->stop.data = ld;
	ev_timer_start(ld->loop, &ld->stop);
	ev_unref(ld->loop);
	ld->t_start = load_now(ld);

	rc = run(ld);

	load_publish(ld);
	ld->st->lat = ld->lat;
	ld->st->conn_lat = ld->conn_lat;
	__atomic_store_n(&ld->st->done, 1, __ATOMIC_RELEASE);
	fflush(stdout);
	_exit(rc);
}

/* Solo scenarios: end at a signal or when their duration is over. */
static void
solo_stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct load *ld = w->data;

	if (signalled)
		ld->stopping = 1;
	if (ld->stopping || (ld->duration > 0 &&
	    load_now(ld) - ld->t_start >= ld->duration))
		ev_break(loop, EVBREAK_ALL);
}

/* Runs a solo scenario over every connection in this process. */
static int
solo_main(struct load *ld, int (*run)(struct load *))
{
	int rc;

	ld->id_lo = 0;
	ld->id_hi = ld->conns;
	ld->loop = ev_default_loop(EVFLAG_AUTO);
	ev_timer_init(&ld->stop, solo_stop_cb, 0.1, 0.1);
	ld->stop.data = ld;
	ev_timer_start(ld->loop, &ld->stop);
	ev_unref(ld->loop);
	rc = run(ld);
	hist_print(&ld->conn_lat, "connect", stdout);
	fflush(stdout);
	return rc;
}

/* Sums of the workers' live counters. */
struct load_sum {
	uint64_t sent, received, errors;
	uint64_t open, failed, closed, answered;
	double t_first, t_last;
};

static void
load_sum(const struct load *ld, struct load_sum *s)
{
	unsigned k;

	memset(s, 0, sizeof(*s));
	for (k = 0; k < ld->workers; k++) {
		const struct load_stats *w = &ld->sh->w[k];
		double tf = w->t_first, tl = w->t_last;

		s->sent += __atomic_load_n(&w->sent, __ATOMIC_RELAXED);
		s->received += __atomic_load_n(&w->received,
		    __ATOMIC_RELAXED);
		s->errors += __atomic_load_n(&w->errors, __ATOMIC_RELAXED);
		s->open += __atomic_load_n(&w->open, __ATOMIC_RELAXED);
		s->failed += __atomic_load_n(&w->failed, __ATOMIC_RELAXED);
		s->closed += __atomic_load_n(&w->closed, __ATOMIC_RELAXED);
		s->answered += __atomic_load_n(&w->answered,
		    __ATOMIC_RELAXED);
		if (tf > 0 && (s->t_first == 0 || tf < s->t_first))
			s->t_first = tf;
		if (tl > s->t_last)
			s->t_last = tl;
	}
}

/* Parent: the run of the modes without a publisher. */
struct coord {
	struct load *ld;
	ev_timer tick;
	double t_ready;
	int ready;
};

static void
coord_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct coord *co = w->data;
	struct load *ld = co->ld;
	struct load_sum s;
	int storm = strcmp(ld->mode, "storm") == 0;

	load_sum(ld, &s);
	if (!co->ready && s.open + s.failed >= ld->conns &&
	    (!ld->check || s.answered >= s.open)) {
		co->ready = 1;
		co->t_ready = load_now(ld);
		printf("ready: open=%llu failed=%llu answered=%llu "
		    "seconds=%.2f\n", (unsigned long long)s.open,
		    (unsigned long long)s.failed,
		    (unsigned long long)s.answered,
		    co->t_ready - ld->t_start);
		fflush(stdout);
	}
	if (signalled || (co->ready && storm) || (co->ready &&
	    ld->duration > 0 && load_now(ld) - co->t_ready >= ld->duration))
		ev_break(loop, EVBREAK_ALL);
}

static void
coord_run(struct load *ld)
{
	struct coord co;

	memset(&co, 0, sizeof(co));
	co.ld = ld;
	ev_timer_init(&co.tick, coord_tick, 0.01, 0.01);
	co.tick.data = &co;
	ev_timer_start(ld->loop, &co.tick);
	ev_run(ld->loop, 0);
	ev_timer_stop(ld->loop, &co.tick);
}

/* Merges the workers' histograms into ld's. */
static void
load_merge(struct load *ld)
{
	unsigned k, i;

	for (k = 0; k < ld->workers; k++) {
		const struct load_stats *w = &ld->sh->w[k];

		if (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
			continue;
		for (i = 0; i < HIST_BUCKETS; i++) {
			ld->lat.b[i] += w->lat.b[i];
			ld->conn_lat.b[i] += w->conn_lat.b[i];
		}
		ld->lat.count += w->lat.count;
		ld->lat.sum_us += w->lat.sum_us;
		if (w->lat.max_us > ld->lat.max_us)
			ld->lat.max_us = w->lat.max_us;
		ld->conn_lat.count += w->conn_lat.count;
		ld->conn_lat.sum_us += w->conn_lat.sum_us;
		if (w->conn_lat.max_us > ld->conn_lat.max_us)
			ld->conn_lat.max_us = w->conn_lat.max_us;
	}
}

/* Prints the latency quantiles of h as JSON members (µs). */
static void
json_hist(const struct hist *h, const char *name)
{
	printf(",\"%s\":{\"n\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,"
	    "\"p999\":%llu,\"max\":%llu}", name,
	    (unsigned long long)h->count,
	    (unsigned long long)hist_quantile(h, 0.5),
	    (unsigned long long)hist_quantile(h, 0.9),
	    (unsigned long long)hist_quantile(h, 0.99),
	    (unsigned long long)hist_quantile(h, 0.999),
	    (unsigned long long)h->max_us);
}

/* Prints the merged report of a run that took secs seconds. */
static void
load_report(struct load *ld, const struct load_sum *s, double secs)
{
	double rate = secs > 0 ? (double)s->received / secs : 0;

	if (strcmp(ld->mode, "idle") == 0 || strcmp(ld->mode, "storm") == 0) {
		printf("%s: open=%llu failed=%llu closed_by_server=%llu "
		    "answered=%llu\n", ld->mode, (unsigned long long)s->open,
		    (unsigned long long)s->failed,
		    (unsigned long long)s->closed,
		    (unsigned long long)s->answered);
		if (ld->check)
			hist_print(&ld->lat, "answer", stdout);
	} else {
		printf("%s: conns=%llu failed=%llu seconds=%.2f count=%llu "
		    "rate=%.0f/s errors=%llu\n", ld->mode,
		    (unsigned long long)s->open,
		    (unsigned long long)s->failed, secs,
		    (unsigned long long)s->received, rate,
		    (unsigned long long)s->errors);
		hist_print(&ld->lat, "latency", stdout);
	}
	hist_print(&ld->conn_lat, "connect", stdout);
	printf("json: {\"mode\":\"%s\",\"conns\":%u,\"workers\":%u,"
	    "\"open\":%llu,\"failed\":%llu,\"closed\":%llu,"
	    "\"answered\":%llu,\"seconds\":%.3f,\"count\":%llu,"
	    "\"rate\":%.0f,\"errors\":%llu,\"published\":%llu,"
	    "\"msg_rate\":%.1f,\"size\":%zu,\"channels\":%u",
	    ld->mode, ld->conns, ld->workers, (unsigned long long)s->open,
	    (unsigned long long)s->failed, (unsigned long long)s->closed,
	    (unsigned long long)s->answered, secs,
	    (unsigned long long)s->received, rate,
	    (unsigned long long)s->errors, (unsigned long long)ld->sent,
	    ld->rate, ld->size, ld->channels);
	json_hist(&ld->lat, "latency_us");
	json_hist(&ld->conn_lat, "connect_us");
	printf("}\n");
	fflush(stdout);
}

/* The worker's exit status for its figures: 0 when nothing failed. */
static int
load_verdict(const struct load *ld, const struct load_sum *s)
{
	if (s->failed != 0 || s->open < ld->conns)
		return 1;
	if (strcmp(ld->mode, "idle") == 0 || strcmp(ld->mode, "storm") == 0)
		return s->closed == 0 &&
		    (!ld->check || s->answered == s->open) ? 0 : 1;
	if (strcmp(ld->mode, "fanout") == 0)
		return s->closed == 0 && s->received > 0 ? 0 : 1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'k' },
		{ "channel", required_argument, NULL, 'H' },
		{ "rtm", no_argument, NULL, 'R' },
		{ "pub-url", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct load ld, pl;
	struct load_sum s;
	struct rlimit rl;
	const char *url = NULL, *pub_url = NULL;
	size_t i, shsize;
	pid_t *pids;
	unsigned k;
	int ch, rc = 0, status, target;
	double secs;

	if (argc < 2)
		usage();
	memset(&ld, 0, sizeof(ld));
	ld.mode = argv[1];
	ld.conns = 1;
	ld.size = 100;
	ld.channels = 1;
	ld.window = 500000;
	ld.inflight = 256;
	ld.rate = -1;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "u:c:w:d:r:s:S:C:W:i:t:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'c': ld.conns = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': ld.workers = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd': ld.duration = strtod(optarg, NULL); break;
		case 'r': ld.rate = strtod(optarg, NULL); break;
		case 's': ld.size = strtoul(optarg, NULL, 10); break;
		case 'C': ld.channels = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'W': ld.window = strtoull(optarg, NULL, 10); break;
		case 'i': ld.inflight = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't': snprintf(ld.token, sizeof(ld.token), "%s", optarg);
			break;
		case 'H': snprintf(ld.channel, sizeof(ld.channel), "%s",
			    optarg);
			break;
		case 'S':
			if (parse_src(&ld, optarg) == -1)
				usage();
			break;
		case 'k': ld.check = 1; break;
		case 'R': ld.rtm = 1; break;
		case 'P': pub_url = optarg; break;
		default: usage();
		}
	}
	if (url == NULL || parse_url(&ld, url) == -1 || ld.conns == 0 ||
	    ld.channels == 0 || ld.channels > ld.conns || ld.inflight == 0)
		usage();
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (strcmp(scenarios[i].name, ld.mode) == 0)
			break;
	if (i == sizeof(scenarios) / sizeof(scenarios[0]))
		usage();
	target = ld.redis ? M_REDIS : ld.ws ? M_WS : M_HTTP;
	if (!(scenarios[i].targets & target)) {
		fprintf(stderr, "parley-load: %s does not take that URL\n",
		    ld.mode);
		return 2;
	}
	if (strcmp(ld.mode, "storm") == 0)
		ld.inflight = ld.conns;
	if (strcmp(ld.mode, "post") == 0 && (ld.token[0] == '\0' ||
	    ld.channel[0] == '\0')) {
		fprintf(stderr, "parley-load: post needs -t and --channel\n");
		return 2;
	}
	if (ld.rtm && (!ld.ws || ld.channel[0] == '\0' || ld.channels != 1)) {
		fprintf(stderr, "parley-load: --rtm needs a ws:// URL, "
		    "--channel and one channel\n");
		return 2;
	}
	if (pub_url != NULL) {
		pl = ld;
		if (strcmp(ld.mode, "fanout") != 0 || !ld.ws ||
		    parse_url(&pl, pub_url) == -1 || !pl.ws) {
			fprintf(stderr, "parley-load: --pub-url needs fanout "
			    "and two ws:// URLs\n");
			return 2;
		}
	}
	if (ld.size < LOAD_STAMP_LEN)
		ld.size = LOAD_STAMP_LEN;
	if (ld.rate < 0)
		ld.rate = strcmp(ld.mode, "fanout") == 0 ? 100 : 0;

	log_init("parley-load", 0, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* One descriptor per connection, and a few more, per worker. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (ld.workers == 0)
		ld.workers = (ld.conns + 14999) / 15000;
	if (ld.workers > ld.conns)
		ld.workers = ld.conns;
	if (rl.rlim_cur < ld.conns / ld.workers + 1 + ld.channels + 16) {
		fprintf(stderr, "parley-load: %u connections in %u workers "
		    "need more descriptors than the limit (%llu); add -w\n",
		    ld.conns, ld.workers, (unsigned long long)rl.rlim_cur);
		return 2;
	}

	shsize = sizeof(struct load_shared) +
	    ld.workers * sizeof(struct load_stats);
	ld.sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ld.sh == MAP_FAILED) {
		perror("parley-load: mmap");
		return 2;
	}
	memset(ld.sh, 0, shsize);
	hist_init(&ld.lat);
	hist_init(&ld.conn_lat);
	ld.t_start = load_now(&ld);
	fflush(stdout);
	if (scenarios[i].solo)
		return solo_main(&ld, scenarios[i].run);

	pids = calloc(ld.workers, sizeof(*pids));
	if (pids == NULL)
		return 2;
	for (k = 0; k < ld.workers; k++) {
		pids[k] = fork();
		if (pids[k] == -1) {
			perror("parley-load: fork");
			ld.sh->stop = 1;
			ld.workers = k;
			rc = 2;
			break;
		}
		if (pids[k] == 0)
			worker_main(&ld, k, scenarios[i].run != NULL ?
			    scenarios[i].run : ld.redis ? redis_recv :
			    scen_recv);
	}

	ld.loop = ev_default_loop(EVFLAG_AUTO);
	if (pub_url != NULL) {
		/* The workers have their target; the publisher its own. */
		memcpy(ld.host, pl.host, sizeof(ld.host));
		memcpy(ld.port, pl.port, sizeof(ld.port));
		memcpy(ld.path, pl.path, sizeof(ld.path));
		ld.dst = pl.dst;
	}
	if (rc == 0 && scenarios[i].run == NULL)
		rc = pub_run(&ld) == 0 ? 0 : 1;
	else if (rc == 0)
		coord_run(&ld);

	/* Stop the workers and merge what they measured. */
	__atomic_store_n(&ld.sh->stop, 1, __ATOMIC_RELAXED);
	for (k = 0; k < ld.workers; k++) {
		while (waitpid(pids[k], &status, 0) == -1 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = rc ? rc : 1;
	}
	free(pids);
	load_sum(&ld, &s);
	load_merge(&ld);
	if (scenarios[i].run == NULL)
		secs = s.t_last > ld.t_pub0 ? s.t_last - ld.t_pub0 : 0;
	else
		secs = load_now(&ld) - ld.t_start;
	if (strcmp(ld.mode, "fanout") == 0)
		printf("fanout: published=%llu expected=%llu received=%llu "
		    "deliveries_per_s=%.0f\n", (unsigned long long)ld.sent,
		    (unsigned long long)ld.expected,
		    (unsigned long long)s.received,
		    secs > 0 ? (double)s.received / secs : 0);
	load_report(&ld, &s, secs);
	if (rc == 0)
		rc = load_verdict(&ld, &s);
	return rc;
}
