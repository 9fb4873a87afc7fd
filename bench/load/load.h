/*
 * parley-load: a load generator on libev.
 *
 * The parent process parses the options, forks the workers (-w), and
 * coordinates them through a shared memory page: each worker opens its
 * share of the connections and runs a scenario on them (idle, http, echo,
 * the receivers of fanout, ...); the parent runs the publisher of the
 * fan-out scenarios, prints the "ready" line once every worker has opened
 * its connections, tells the workers when to stop, and merges their
 * counters and latency histograms into one report.
 *
 * Connections are struct lconn (HTTP and WebSocket, lconn.c) or struct
 * rconn (Redis, redis.c).
 */
#ifndef PARLEY_LOAD_H
#define PARLEY_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/*
 * One worker's figures, in the shared page.  The counters are written by
 * the worker alone (load_publish()) and read by the parent while the run
 * goes on; the histograms are copied in when the worker ends.
 */
struct load_stats {
	uint64_t sent, received, errors;
	uint64_t open, failed, closed, answered;
	double t_first, t_last; /* first and last delivery, monotonic */
	struct hist lat;        /* request, answer or delivery latency */
	struct hist conn_lat;   /* connect-to-open latency */
	int done;               /* histograms are in */
};

/* The shared page: control flags and one load_stats per worker. */
struct load_shared {
	int stop;       /* parent to workers: close and report */
	int pad;
	struct load_stats w[];
};

/* Message kinds on the wire and how receivers find the send time. */
#define LOAD_STAMP     "B~"  /* followed by 16 hex digits of ns */
#define LOAD_STAMP_LEN 18

struct load {
	struct ev_loop *loop;
	/* Options. */
	const char *mode;
	int ws;                 /* target is ws:// */
	int redis;              /* target is redis:// */
	char host[256];
	char port[16];
	char path[1024];
	char token[512];        /* -t: bearer token for Web API calls */
	char channel[64];       /* --channel: where posts go */
	int rtm;                /* fanout: publish RTM message sends */
	struct sockaddr_in dst;
	uint32_t src_lo, src_hi; /* host-order source range, 0 = kernel */
	uint32_t src_next;
	unsigned conns;         /* all workers together */
	unsigned workers;
	unsigned channels;      /* fan-out groups (-C) */
	unsigned inflight;      /* connects pending at once */
	double duration;        /* seconds; 0 = until signalled */
	double rate;            /* messages/s; 0 = flat out */
	uint64_t window;        /* flat out: deliveries not yet received */
	size_t size;            /* message or body size */
	int check;              /* idle: each connection must echo */
	const struct lconn_ops *ops;
	/* This process. */
	int is_worker;
	unsigned widx;          /* worker index */
	unsigned id_lo, id_hi;  /* connection ids of this worker */
	struct load_shared *sh;
	struct load_stats *st;  /* this worker's slot */
	/* Local figures, copied to *st by load_publish(). */
	struct hist lat;
	struct hist conn_lat;
	uint64_t sent, received, errors;
	unsigned open, failed, closed, answered;
	double t_first, t_last;
	uint64_t expected;      /* publisher: deliveries it should cause */
	double t_pub0;          /* publisher: first message */
	double now;             /* time of the read being handled */
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

/* True once SIGINT or SIGTERM arrived. */
int load_signalled(void);

/* Copies the local counters to the shared slot. */
void load_publish(struct load *ld);

/*
 * A non-blocking socket connecting to the target from the next source
 * address of the range; -1 on a local error.
 */
int load_socket(struct load *ld);

/*
 * Writes the 16 hex digits of the send time t (seconds, monotonic) at p,
 * after LOAD_STAMP.  p must have LOAD_STAMP_LEN bytes.
 */
void load_stamp(unsigned char *p, double t);

/*
 * Finds a stamp in len bytes at p and returns its send time in seconds,
 * or a negative value when there is none.
 */
double load_stamp_find(const unsigned char *p, size_t len);

/* Records one delivery of a message stamped at t, received at ld->now. */
void load_delivered(struct load *ld, double t);

/* Fills p with a stamped message of len bytes (len >= LOAD_STAMP_LEN). */
void load_message(unsigned char *p, size_t len, double t);

/* Opens connection number id to the target; NULL on a local error. */
struct lconn *lconn_open(struct load *ld, unsigned id);
/* Sends one GET (size 0) or POST of ld->size bytes to ld->path. */
void lconn_http_request(struct lconn *c);
/* Sends a request with the given head lines and body (a copy). */
void lconn_http_send(struct lconn *c, const char *method, const char *path,
    const char *headers, const void *body, size_t len);
/* Sends a masked WebSocket message. */
void lconn_ws_send(struct lconn *c, int op, const void *p, size_t len);
/* Queues a masked WebSocket frame without writing it yet. */
void lconn_ws_queue(struct lconn *c, int op, const void *p, size_t len);
/* Writes what is queued. */
void lconn_flush(struct lconn *c);
/* Bytes queued and not yet written. */
size_t lconn_queued(const struct lconn *c);
/* Closes and frees c; on_close runs with why. */
void lconn_close(struct lconn *c, const char *why);

/* Scenarios, in the workers.  Each returns when the parent says stop. */
int scen_idle(struct load *ld);
int scen_http(struct load *ld);
int scen_echo(struct load *ld);
int scen_recv(struct load *ld);
int scen_post(struct load *ld);

/*
 * Opens connections from scen_next until ld->inflight are pending or all
 * of this worker's are open; used by every scenario.
 */
void scen_open_more(struct load *ld);
/* Bookkeeping of a connection that closed (never opened, or later). */
void scen_closed(struct lconn *c, const char *why);

/*
 * RTM scenarios against parley-backend (scen_rtm.c).  They run in the
 * parent alone, over all the connections, print their own report and
 * end when ld->duration has passed since ld->t_start.
 */
int scen_rtm_idle(struct load *ld);
int scen_rtm_fanout(struct load *ld);
int scen_rtm_send(struct load *ld);

/* The fan-out publisher, in the parent. */
int pub_run(struct load *ld);

/* Redis receivers (SUBSCRIBE), in the workers, and the publisher. */
int redis_recv(struct load *ld);
struct rconn;
struct rconn *redis_pub_open(struct load *ld);
void redis_pub_close(struct rconn *r);
/* Queues a PUBLISH of len bytes to channel ch; writes at flush. */
void redis_publish(struct rconn *r, unsigned ch, const void *p, size_t len);
void redis_flush(struct rconn *r);
size_t redis_queued(const struct rconn *r);
int redis_ready(const struct rconn *r);

#endif
