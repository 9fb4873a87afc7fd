/*
 * parley-load: options, the scenario table, the run and the report.
 *
 *   parley-load MODE -u URL [-c CONNS] [-d SECONDS] [-r RATE] [-s SIZE]
 *               [-S SRC_LO[-SRC_HI]] [--check]
 *
 * Modes: idle (open CONNS WebSockets and hold them), http (keep-alive
 * requests on CONNS connections), echo (each WebSocket sends a message
 * and waits for its echo), fanout (one publisher, CONNS receivers of the
 * server's broadcast); rtm-idle, rtm-fanout and rtm-send run against
 * parley-backend's RTM WebSocket (scen_rtm.c).  Results go to stdout,
 * one "key: value" line per figure, so scripts can pick them up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "load.h"
#include "log.h"

static const struct {
	const char *name;
	int ws;
	int (*run)(struct load *);
} scenarios[] = {
	{ "idle", 1, scen_idle },
	{ "http", 0, scen_http },
	{ "echo", 1, scen_echo },
	{ "fanout", 1, scen_fanout },
	{ "rtm-idle", 1, scen_rtm_idle },
	{ "rtm-fanout", 1, scen_rtm_fanout },
	{ "rtm-send", 1, scen_rtm_send },
};

double
load_now(const struct load *ld)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: parley-load idle|http|echo|fanout|rtm-idle|rtm-fanout|"
	    "rtm-send\n           -u URL [-c conns]\n"
	    "           [-d seconds] [-r rate] [-s size] [-S src[-src]]"
	    " [--check]\n");
	exit(2);
}

/* Parses ws://host:port/path or http://host:port/path. */
static int
parse_url(struct load *ld, const char *url)
{
	struct addrinfo hints, *res;
	const char *p, *slash, *colon;

	if (strncmp(url, "ws://", 5) == 0)
		p = url + 5;
	else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return -1;
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

static struct load *the_load;

static void
on_signal(int sig)
{
	(void)sig;
	if (the_load != NULL)
		the_load->stopping = 1;
}

static void
stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct load *ld = w->data;

	if (ld->stopping || (ld->duration > 0 &&
	    load_now(ld) - ld->t_start >= ld->duration))
		ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct load ld;
	struct rlimit rl;
	const char *url = NULL;
	size_t i;
	int ch, rc = 2;

	if (argc < 2)
		usage();
	memset(&ld, 0, sizeof(ld));
	ld.mode = argv[1];
	ld.conns = 1;
	ld.size = 16;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "u:c:d:r:s:S:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'c': ld.conns = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': ld.duration = strtod(optarg, NULL); break;
		case 'r': ld.rate = strtod(optarg, NULL); break;
		case 's': ld.size = strtoul(optarg, NULL, 10); break;
		case 'S':
			if (parse_src(&ld, optarg) == -1)
				usage();
			break;
		case 'k': ld.check = 1; break;
		default: usage();
		}
	}
	if (url == NULL || parse_url(&ld, url) == -1 || ld.conns == 0)
		usage();

	log_init("parley-load", 0, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* One descriptor per connection, and a few more. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < ld.conns + 16) {
			fprintf(stderr, "parley-load: %u connections need "
			    "more descriptors than the limit (%llu)\n",
			    ld.conns, (unsigned long long)rl.rlim_cur);
			return 2;
		}
	}
	hist_init(&ld.lat);
	hist_init(&ld.conn_lat);
	ld.loop = EV_DEFAULT;
	the_load = &ld;
	ev_timer_init(&ld.stop, stop_cb, 0.1, 0.1);
	ld.stop.data = &ld;
	ev_timer_start(ld.loop, &ld.stop);
	ev_unref(ld.loop);
	ld.t_start = load_now(&ld);

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(scenarios[i].name, ld.mode) != 0)
			continue;
		ld.ws = scenarios[i].ws;
		rc = scenarios[i].run(&ld);
		break;
	}
	if (i == sizeof(scenarios) / sizeof(scenarios[0]))
		usage();
	hist_print(&ld.conn_lat, "connect", stdout);
	fflush(stdout);
	return rc;
}
