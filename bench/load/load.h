/*
 * parley-load: a load generator on libev.  A scenario (idle, http, echo,
 * fanout; more may be added to the table in load.c) opens client
 * connections (struct lconn) and reacts to their events; load.c parses
 * the options, runs the loop and prints the report.
 */
#ifndef PARLEY_LOAD_H
#define PARLEY_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <http_parser.h>
#include <netinet/in.h>

#include "buf.h"
#include "hist.h"

struct lconn;

/* What a scenario does with its connections' events. */
struct lconn_ops {
	/* TCP connected (HTTP) or the 101 arrived (WebSocket). */
	void (*on_open)(struct lconn *c);
	/* A whole HTTP response (status) or WebSocket message. */
	void (*on_http)(struct lconn *c, int status, const char *body,
	    size_t len);
	void (*on_ws)(struct lconn *c, int op, const unsigned char *data,
	    size_t len);
	/* The connection failed or closed; it is freed after. */
	void (*on_close)(struct lconn *c, const char *why);
};

struct load {
	struct ev_loop *loop;
	/* Options. */
	const char *mode;
	int ws;                 /* target is ws:// */
	char host[256];
	char port[16];
	char path[1024];
	struct sockaddr_in dst;
	uint32_t src_lo, src_hi; /* host-order source range, 0 = kernel */
	uint32_t src_next;
	unsigned conns;
	double duration;        /* seconds; 0 = until signalled */
	double rate;            /* messages/s (fanout) or connects/s */
	size_t size;            /* message or body size */
	int check;              /* idle: each connection must echo */
	const struct lconn_ops *ops;
	/* Results. */
	struct hist lat;        /* request or message latency */
	struct hist conn_lat;   /* connect-to-open latency */
	uint64_t sent, received, errors;
	unsigned open, closed;
	double t_start;
	ev_timer stop;
	int stopping;
};

struct lconn {
	ev_io io;
	struct load *ld;
	int fd;
	int state;
	int opened;           /* on_open has run */
	unsigned id;
	double t0;            /* when the pending request or connect began */
	http_parser hp;
	unsigned char *in;    /* unparsed WebSocket bytes */
	size_t inlen;
	struct buf_queue out;
	int status;
	char *body;
	size_t bodylen;
	void *user;
};

double load_now(const struct load *ld);

/* Opens connection number id to the target; NULL on a local error. */
struct lconn *lconn_open(struct load *ld, unsigned id);
/* Sends one GET (size 0) or POST of ld->size bytes to ld->path. */
void lconn_http_request(struct lconn *c);
/* Sends a masked WebSocket message. */
void lconn_ws_send(struct lconn *c, int op, const void *p, size_t len);
/* Closes and frees c; on_close runs with why. */
void lconn_close(struct lconn *c, const char *why);

/* Scenarios. */
int scen_idle(struct load *ld);
int scen_http(struct load *ld);
int scen_echo(struct load *ld);
int scen_fanout(struct load *ld);
/* RTM scenarios against parley-backend (scen_rtm.c). */
int scen_rtm_idle(struct load *ld);
int scen_rtm_fanout(struct load *ld);
int scen_rtm_send(struct load *ld);

#endif
