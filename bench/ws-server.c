/*
 * parley-wstest: a WebSocket test server built on common/, for
 * parley-load and the idle-memory measurement.
 *
 *   parley-wstest [-a addr] [-p port] [-v]
 *
 * Prints "listening on ADDR:PORT" once ready (port 0 picks a free one).
 * A text message starting with 'B' is broadcast as one shared frame to
 * every connection of the sender's group; any other message is echoed.
 * A connection's group is the number after a final "c" of its path
 * (/c12 is group 12), 0 for any other path.  GET /stats answers
 * {"conns":N,"ws":N,"heap":BYTES,"rss":BYTES}: heap is the allocator's
 * bytes in use (mallinfo2), rss the process's resident set.  SIGINT or
 * SIGTERM closes every connection and exits 0.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "http.h"
#include "log.h"
#include "ws.h"
#include "xmalloc.h"

static struct ws_server *wss;
static struct http_server *hs;
/* Open connections by group, for broadcast. */
struct group {
	struct ws_conn **c;
	size_t n, cap;
};
static struct group *groups;
static size_t ngroups;

#define GROUPS_MAX 100000

/*
 * A connection's user pointer holds its group and its index in the
 * group's list, so an idle connection costs the server nothing more.
 */
#define USER(g, i)  ((void *)(uintptr_t)((uint64_t)(g) << 32 | (i)))
#define USER_G(u)   ((size_t)((uint64_t)(uintptr_t)(u) >> 32))
#define USER_I(u)   ((size_t)((uint64_t)(uintptr_t)(u) & 0xffffffffu))

/* The group a path names: the digits after its last 'c', or 0. */
static size_t
path_group(const char *path)
{
	const char *c = strrchr(path, 'c');
	char *end;
	unsigned long g;

	if (c == NULL || c[1] < '0' || c[1] > '9')
		return 0;
	g = strtoul(c + 1, &end, 10);
	return *end == '\0' && g < GROUPS_MAX ? g : 0;
}

/* Resident set size in bytes, from /proc/self/statm. */
static long
rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static void
on_http(struct http_req *req, void *arg)
{
	json_t *o;

	if (ws_is_upgrade(req)) {
		size_t g = path_group(http_req_path(req));

		if (g >= ngroups) {
			groups = xreallocarray(groups, g + 1, sizeof(*groups));
			memset(groups + ngroups, 0,
			    (g + 1 - ngroups) * sizeof(*groups));
			ngroups = g + 1;
		}
		(void)ws_accept(wss, req, USER(g, 0));
		return;
	}
	if (strcmp(http_req_path(req), "/stats") == 0) {
		struct mallinfo2 mi = mallinfo2();

		o = json_pack("{s:I,s:I,s:I,s:I}",
		    "conns", (json_int_t)http_server_nconns(hs),
		    "ws", (json_int_t)ws_server_nconns(wss),
		    "heap", (json_int_t)mi.uordblks,
		    "rss", (json_int_t)rss_bytes());
		http_reply_json(req, 200, o);
		json_decref(o);
		return;
	}
	if (strcmp(http_req_path(req), "/healthz") == 0) {
		http_reply_str(req, 200, "text/plain", "ok\n");
		return;
	}
	http_reply_str(req, 404, "text/plain", "not found\n");
}

static void
on_open(struct ws_conn *c, void *arg)
{
	struct group *g = &groups[USER_G(ws_user(c))];

	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 1024;
		g->c = xreallocarray(g->c, g->cap, sizeof(*g->c));
	}
	ws_set_user(c, USER(g - groups, g->n));
	g->c[g->n++] = c;
}

static void
on_message(struct ws_conn *c, enum ws_opcode op, const unsigned char *d,
    size_t n, void *arg)
{
	struct group *g;
	struct buf *fr;

	if (op == WS_TEXT && n > 0 && d[0] == 'B') {
		g = &groups[USER_G(ws_user(c))];
		fr = ws_frame_new(WS_TEXT, d, n);
		(void)ws_broadcast(g->c, g->n, fr);
		buf_unref(fr);
		return;
	}
	(void)ws_send(c, op, d, n);
}

static void
on_close(struct ws_conn *c, int code, void *arg)
{
	struct group *g = &groups[USER_G(ws_user(c))];
	size_t i = USER_I(ws_user(c));

	/* Swap-remove from the broadcast list. */
	g->c[i] = g->c[--g->n];
	ws_set_user(g->c[i], USER(g - groups, i));
	if (g->n == 0) {
		free(g->c);
		g->c = NULL;
		g->cap = 0;
	}
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	struct ws_callbacks cb = { on_open, on_message, on_close };
	struct http_limits hl;
	struct ev_loop *loop = EV_DEFAULT;
	ev_signal sint, sterm;
	const char *addr = "127.0.0.1", *port = "0";
	int ch, verbose = 0;

	while ((ch = getopt(argc, argv, "a:p:v")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = optarg; break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: parley-wstest [-a addr] "
			    "[-p port] [-v]\n");
			return 2;
		}
	}
	log_init("parley-wstest", 0, verbose);
	signal(SIGPIPE, SIG_IGN);

	http_limits_default(&hl);
	hl.max_conns = 20000;
	hs = http_server_new(loop, &hl, on_http, NULL);
	wss = ws_server_new(loop, NULL, &cb, NULL);
	if (http_server_listen(hs, addr, port, NULL) == -1)
		return 1;
	printf("listening on %s:%u\n", addr, http_server_port(hs, 0));
	fflush(stdout);

	ev_signal_init(&sint, on_signal, SIGINT);
	ev_signal_init(&sterm, on_signal, SIGTERM);
	ev_signal_start(loop, &sint);
	ev_signal_start(loop, &sterm);
	ev_run(loop, 0);

	ws_server_free(wss);
	http_server_free(hs);
	conn_loop_free(loop);
	return 0;
}
