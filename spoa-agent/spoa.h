/*
 * parley-spoa: the HAProxy SPOE agent.  HAProxy sends one NOTIFY per
 * HTTP request; the agent answers with variables (txn.parley.*) that
 * haproxy.cfg uses to route, reject or defer the request.
 *
 *   spoa_session.c   SPOP session state machine, frame in, frames out
 *   spoa_decide.c    request arguments -> route, auth, team, user
 *   spoa_admit.c     token buckets for WebSocket opens and boot calls
 *   spoa_auth.c      token and ticket verification
 *   spoa_shard.c     the shard map: which shard a team is on
 *   spoa_stats.c     counters, latency histogram, /metrics listener
 *   spoa_server.c    listeners, worker threads, connection I/O
 *   spoa_conf.c      the [spoa] section of parley.conf, the policy
 */
#ifndef PARLEY_SPOA_H
#define PARLEY_SPOA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ev.h>

#include "conf.h"
#include "shard.h"
#include "spop.h"
#include "token.h"

/* Longest team or user id the agent passes on to HAProxy. */
#define SPOA_ID_MAX 64

/* A list of configured strings (user agent patterns, paths). */
struct spoa_list {
	char **items;
	size_t *lens;
	size_t n;
};

/* The [spoa] and [tokens] sections; see docs/configuration.md. */
struct spoa_settings {
	struct conf_addr listen;
	struct conf_addr stats_listen;
	int threads;
	int max_frame_size;
	int max_conns;
	long long idle_timeout;  /* ms */
	long long frame_timeout; /* ms */
	struct conf_list mobile_ua;
	struct conf_list open_paths;
	struct conf_list boot_paths;
	int team_rate;
	int team_burst;
	int global_rate;
	int global_burst;
	int retry_base;
	int retry_jitter;
	int team_slots;
	struct token_settings tokens;
};
extern const struct conf_schema spoa_schema;

/* The decision rules, derived from the settings at start. */
struct spoa_policy {
	uint32_t max_frame_size;
	double idle_timeout;  /* seconds */
	double frame_timeout; /* seconds */
	struct spoa_list mobile_ua;
	struct spoa_list open_paths;
	struct spoa_list boot_paths;
	double team_rate;
	double team_burst;
	double global_rate;
	double global_burst;
	unsigned int retry_base;
	unsigned int retry_jitter;
	unsigned int team_slots;
};

/* A string argument as HAProxy sent it; ptr is NULL when absent. */
struct spoa_str {
	const char *ptr;
	size_t len;
};

/* The arguments of one request, pointing into the NOTIFY frame. */
struct spoa_req {
	struct spoa_str ua;
	struct spoa_str authz;
	struct spoa_str cookie;
	struct spoa_str ticket;
	struct spoa_str path;
	struct spoa_str query;
	struct spoa_str hint;
	struct spoa_str upgrade;
	unsigned int bad_args;
};

enum spoa_route {
	SPOA_ROUTE_FULL,
	SPOA_ROUTE_EDGE,
};

enum spoa_auth {
	SPOA_AUTH_NONE,
	SPOA_AUTH_OK,
	SPOA_AUTH_INVALID,
	SPOA_AUTH_EXPIRED,
};
#define SPOA_AUTH_COUNT 4

/* What the agent tells HAProxy about one request. */
struct spoa_decision {
	enum spoa_route route;
	enum spoa_auth auth;
	char team[SPOA_ID_MAX + 1];
	char user[SPOA_ID_MAX + 1];
	char shard[SHARD_NAME_MAX + 1]; /* "" when not set */
	int admit;
	unsigned int retry_after;
	int counted;
};

/* Latency histogram bounds, in nanoseconds; one more bucket for +Inf. */
#define SPOA_LAT_BUCKETS 13

/*
 * Counters of one worker thread.  Only the owning thread writes them
 * (relaxed atomic stores), the stats listener reads and sums them.
 */
struct spoa_stats {
	_Atomic uint64_t conns;
	_Atomic uint64_t conns_open;
	_Atomic uint64_t hellos;
	_Atomic uint64_t healthchecks;
	_Atomic uint64_t notifies;
	_Atomic uint64_t acks;
	_Atomic uint64_t haproxy_disconnects;
	_Atomic uint64_t errors;
	_Atomic uint64_t skipped_frames;
	_Atomic uint64_t bad_args;
	_Atomic uint64_t route[2];
	_Atomic uint64_t auth[SPOA_AUTH_COUNT];
	_Atomic uint64_t deferred;
	_Atomic uint64_t lat_count;
	_Atomic uint64_t lat_sum_ns;
	_Atomic uint64_t lat[SPOA_LAT_BUCKETS + 1];
};

#define SPOA_INC(c) SPOA_ADD(c, 1)
#define SPOA_ADD(c, n)                                                      \
	atomic_store_explicit(&(c),                                         \
	    atomic_load_explicit(&(c), memory_order_relaxed) + (n),         \
	    memory_order_relaxed)
#define SPOA_DEC(c) SPOA_ADD(c, (uint64_t)-1)

struct spoa_admit;

/* What a session needs to decide: shared settings, state, counters. */
struct spoa_ctx {
	const struct spoa_policy *pol;
	struct spoa_admit *admit;
	struct spoa_stats *stats;
	uint64_t rng;
};

/* A growable output buffer of one loop pass. */
struct spoa_obuf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/*
 * Session state.  See the diagram at the top of spoa_session.c.  A
 * session holds no buffer while idle: a frame split across reads is
 * kept in hold, allocated at the size its validated length announces.
 */
enum spoa_state {
	SPOA_SESS_HELLO,
	SPOA_SESS_READY,
	SPOA_SESS_CLOSING,
};

struct spoa_session {
	enum spoa_state state;
	uint32_t max_frame_size;
	unsigned int pipelining : 1;
	unsigned int healthcheck : 1;
	uint8_t hdr[4];
	char peer[64]; /* for log lines; "" when unknown */
	uint8_t *hold;
	size_t hold_len;
	size_t hold_need;
	struct spoa_ctx *ctx;
};

/* spoa_session.c */
void spoa_session_init(struct spoa_session *s, struct spoa_ctx *ctx);
void spoa_session_free(struct spoa_session *s);
/*
 * Consumes len bytes read from HAProxy and appends the answers to out.
 * Returns 0 to keep reading, 1 when the connection must close once out
 * is written (handshake of a health check, DISCONNECT, broken input).
 */
int spoa_session_input(struct spoa_session *s, const uint8_t *data,
    size_t len, struct spoa_obuf *out);
/*
 * Appends an AGENT-DISCONNECT with status (SPOP_ST_NORMAL or
 * SPOP_ST_TIMEOUT) and message, drops a partial frame and moves to
 * CLOSING.  Nothing is appended when the session is already closing.
 */
void spoa_session_goodbye(struct spoa_session *s, uint32_t status,
    const char *msg, struct spoa_obuf *out);
/* Tells whether a frame is partly received (for logging a cut). */
int spoa_session_pending(const struct spoa_session *s);

/* spoa_obuf helpers (spoa_session.c) */
uint8_t *spoa_obuf_reserve(struct spoa_obuf *o, size_t n);
void spoa_obuf_free(struct spoa_obuf *o);

/* spoa_decide.c */
/*
 * Reads one message's arguments into req.  Arguments of an unexpected
 * type are ignored and counted in req->bad_args.
 */
void spoa_req_parse(struct spoa_req *req, const struct spop_msg *msg);
/* Decides route, auth, team, user and admission for one request. */
void spoa_decide(struct spoa_ctx *ctx, const struct spoa_req *req,
    struct spoa_decision *d);
/*
 * Writes the set-var actions of d at *p.  Returns 0, or -1 when they do
 * not fit before end (nothing is then written).
 */
int spoa_decision_put(const struct spoa_decision *d, uint8_t **p,
    uint8_t *end);
const char *spoa_route_str(enum spoa_route r);
const char *spoa_auth_str(enum spoa_auth a);
/* Case-insensitive substring search, for user agent patterns. */
int spoa_match_ua(const struct spoa_list *l, const char *s, size_t len);
int spoa_match_path(const struct spoa_list *l, const char *s, size_t len);
int spoa_query_flag(const char *q, size_t len, const char *name);

/* spoa_conf.c */
/* Derives the policy from loaded settings. */
void spoa_policy_init(struct spoa_policy *pol, const struct spoa_settings *s);
void spoa_policy_free(struct spoa_policy *pol);

/* spoa_admit.c */
struct spoa_admit *spoa_admit_new(const struct spoa_policy *pol);
void spoa_admit_free(struct spoa_admit *a);
/*
 * Takes a token for a new WebSocket or boot call of team (NULL for an
 * unknown team) at time now (seconds).  Returns 1 when admitted, 0 when
 * the team's or the overall bucket is empty.
 */
int spoa_admit_take(struct spoa_admit *a, const char *team, double now);
/* The Retry-After to give: base plus a random jitter. */
unsigned int spoa_admit_retry_after(const struct spoa_policy *pol,
    uint64_t *rng);
uint64_t spoa_rng_next(uint64_t *state);
double spoa_now(void);

/* spoa_auth.c */
/*
 * Verifies a token (ticket 0: from the Authorization header or the
 * cookie, kinds xoxp and xoxb) or a WebSocket ticket (ticket 1, kind
 * ptk) of len bytes at unix time now, with the key set in use.  On
 * SPOA_AUTH_OK fills team and user (SPOA_ID_MAX + 1 bytes each).
 */
enum spoa_auth spoa_auth_check(const char *tok, size_t len, int ticket,
    time_t now, char *team, char *user);
/* Puts keys (owned from now on) in use; callable while workers run. */
void spoa_auth_set_keys(struct token_keys *keys);
/* Frees every key set; workers must be stopped. */
void spoa_auth_cleanup(void);
/* Frees the calling thread's cache. */
void spoa_auth_thread_done(void);

/* spoa_server.c: one worker thread and its loop. */
struct spoa_conn;
struct spoa_httpd;
struct spoa_worker {
	pthread_t tid;
	int running;
	struct ev_loop *loop;
	int lfd;
	int max_conns;
	size_t nconns;
	ev_io accept_w;
	ev_async stop_w;
	ev_async drain_w;
	int draining;
	_Atomic int drained;
	struct spoa_ctx ctx;
	struct spoa_stats stats;
	struct spoa_obuf out;
	uint8_t *rbuf;
	struct spoa_conn *conns;
};

/*
 * Starts a worker thread accepting on lfd (shared by every worker).
 * Returns 0, or -1 after logging.
 */
int spoa_worker_start(struct spoa_worker *w, int lfd, int max_conns,
    const struct spoa_policy *pol, struct spoa_admit *admit);
/*
 * Asks the worker to stop accepting, answer what its connections already
 * sent, say AGENT-DISCONNECT (status 0) on each and close them;
 * w->drained becomes 1 once every connection is closed.
 */
void spoa_worker_drain(struct spoa_worker *w);
/* Stops the worker, closes its connections and frees what it holds. */
void spoa_worker_join(struct spoa_worker *w);

/* spoa_stats.c */
void spoa_stats_latency(struct spoa_stats *st, uint64_t ns);
/* Renders the sum of n workers' counters as Prometheus text. */
char *spoa_stats_render(struct spoa_stats *const *st, size_t n, size_t *len);
/* Serves /metrics on the listening socket fd from loop (owns fd). */
struct spoa_httpd *spoa_stats_listen(struct ev_loop *loop, int fd,
    struct spoa_stats *const *st, size_t n);
void spoa_stats_close(struct spoa_httpd *h);

/* spoa_shard.c */

/* Puts map (owned from now on; NULL: none) in use; frees the old one. */
void spoa_shard_set(struct shard_map *map);

/*
 * The name of team's shard into out (outlen bytes): 1, or 0 with out ""
 * when there is no shard map (a single-shard install).
 */
int spoa_shard_of(const char *team, char *out, size_t outlen);

/* Frees the map in use; workers must be stopped. */
void spoa_shard_cleanup(void);

#endif
