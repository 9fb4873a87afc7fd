/*
 * parley-health: private header.
 *
 * The daemon probes the local stack in the background (HAProxy's stats
 * socket, the SPOE agent, each shard's and edge's /healthz, free disk
 * space) and answers DNS health checkers, HAProxy agent checks and metric
 * scrapers at once from what the probes last learned.
 *
 * Files:
 *   health_conf.c        the [health] section of parley.conf
 *   health_state.c       rise/fall state machine, groups, the verdict
 *   health_stats.c       HAProxy `show stat` CSV parsing
 *   health_agentcheck.c  HAProxy agent-check lines and the weight
 *   health_render.c      the bodies: check, JSON view, Prometheus text
 *   health_probe.c       the probes over libev
 *   health_spop.c        the agent probe's HELLO exchange
 *   health_net.c         addresses and sockets
 *   health_listen.c      the HTTP, HTTPS and agent-check listeners
 *   main.c               start-up, signals, drain
 */
#ifndef PARLEY_HEALTH_H
#define PARLEY_HEALTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "buf.h"
#include "conf.h"
#include "tls.h"

#define HEALTH_MSG_MAX    160 /* one probe's last result */
#define HEALTH_DETAIL_MAX 1024 /* the verdict's list of failures */
#define HEALTH_READ_MAX   (1024 * 1024) /* most a probe reads */
#define HEALTH_MAX_PROBES 256

enum health_kind {
	HEALTH_KIND_HAPROXY, /* stats socket: servers UP in a backend */
	HEALTH_KIND_AGENT, /* SPOP HELLO with healthcheck */
	HEALTH_KIND_HTTP, /* GET /healthz of a shard or an edge */
	HEALTH_KIND_DISK, /* free space where the store lives */
};

/* A probe's state; UNKNOWN until its first result. */
enum health_pstate {
	HEALTH_UNKNOWN,
	HEALTH_UP,
	HEALTH_DOWN,
};

/* What a failing group does to the verdict. */
enum health_class {
	HEALTH_CLASS_DEGRADED,
	HEALTH_CLASS_CRITICAL,
};

/* The verdict over every group. */
enum health_level {
	HEALTH_OK,
	HEALTH_DEGRADED,
	HEALTH_CRITICAL,
};

enum health_load {
	HEALTH_LOAD_LOADAVG, /* 1-minute load average against capacity */
	HEALTH_LOAD_SESSIONS, /* HAProxy current sessions against capacity */
};

/* The fixed groups, in the order they are listed everywhere. */
enum health_gid {
	HEALTH_G_HAPROXY,
	HEALTH_G_EDGES,
	HEALTH_G_SHARDS,
	HEALTH_G_AGENT,
	HEALTH_G_DISK,
	HEALTH_NGROUPS
};

struct health_timing {
	double interval; /* seconds between the starts of two checks */
	double timeout; /* seconds a check may take */
	int rise; /* successes that bring a DOWN probe UP */
	int fall; /* failures that take an UP probe DOWN */
};

struct health_group {
	const char *name;
	enum health_class cls;
	int need; /* members that must be UP; 0 means all */
	int critical_if_none; /* in the cross-group rule */
	struct health_timing t;
	int nmembers; /* filled by health_verdict() */
	int nup;
};

struct health_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[128]; /* as configured, for messages */
};

struct health;
struct http_server;

struct health_probe {
	char *name;
	enum health_kind kind;
	enum health_gid group;
	struct health_timing t;

	/* What is probed. */
	struct health_addr addr; /* HAPROXY, AGENT, HTTP */
	char *backend; /* HAPROXY: backend name, NULL = any */
	int min_up; /* HAPROXY: servers UP needed */
	char *dir; /* DISK: directory */

	/* State, see health_state.c. */
	enum health_pstate state;
	int streak; /* consecutive results against the state */
	int last_ok; /* -1 before the first result */
	char last_msg[HEALTH_MSG_MAX];
	double last_time; /* wall clock of the last result */
	double last_latency; /* seconds the last check took */
	double since; /* wall clock of the last state change */
	uint64_t nchecks;
	uint64_t nfail;
	long scur; /* HAPROXY: current sessions of the backend */

	/* Run time, see health_probe.c. */
	struct health *h;
	ev_timer tick;
	ev_timer deadline;
	ev_io io;
	int fd;
	int phase;
	double started;
	char *rbuf;
	size_t rlen, rcap;
	size_t woff;
	char *wbuf;
	size_t wlen;
};

struct health_verdict {
	enum health_level level;
	int draining;
	char detail[HEALTH_DETAIL_MAX]; /* what fails, ", "-separated */
};

/* Settings of one group, from its <group>_* keys; 0 means "default". */
struct health_group_settings {
	char *cls;
	int need;
	long long interval_ms;
	long long timeout_ms;
	int rise;
	int fall;
};

/* The [health] section of parley.conf, see health_conf.c. */
struct health_settings {
	struct conf_addr listen;
	struct conf_addr listen_tls;
	struct tls_settings tls;
	struct conf_addr agent_check_listen;
	char *path;
	char *marker;
	char *status_path;
	char *metrics_path;
	char *healthz_path;
	char *drain_file;
	char *haproxy_stats;
	struct conf_list haproxy_backends;
	struct conf_list edges;
	struct conf_list shards;
	char *agent;
	char *store_path;
	char *disk_min_free;
	char *load;
	int capacity;
	long long interval_ms;
	long long timeout_ms;
	int rise;
	int fall;
	struct conf_list critical_if_none;
	struct health_group_settings g[HEALTH_NGROUPS];
	long long header_timeout_ms;
	long long idle_timeout_ms;
	int max_conns;
};

extern const struct conf_schema health_schema;

struct health {
	/* From the settings, see health_build(). */
	char *path;
	char *marker;
	char *status_path;
	char *metrics_path;
	char *healthz_path;
	char *drain_file;
	double disk_min_free_pct;
	uint64_t disk_min_free_bytes;
	enum health_load load;
	double capacity;
	struct health_group groups[HEALTH_NGROUPS];
	struct health_probe *probes;
	size_t nprobes;

	/* Run time. */
	struct ev_loop *loop;
	int draining; /* by signal */
	int drain_by_file; /* drain_file exists */
	double started; /* wall clock */
	uint64_t nrequests;
	uint64_t nagent;
	/* The check body, rebuilt when the verdict changes. */
	int check_status;
	char *check_body;
	size_t check_len;
	struct health_verdict verdict;
	struct buf *check_buf; /* the same bytes, shared by replies */
	struct http_server *http;
	SSL_CTX *tls;
};

/* health_conf.c */
int health_build(struct health *h, const struct health_settings *s, char *err,
    size_t errlen);
void health_free(struct health *h);

/* health_net.c */
int health_parse_addr(
    const char *s, struct health_addr *a, char *err, size_t errlen);
int health_addr_port(const struct health_addr *a);
int health_socket_listen(const struct health_addr *a);
int health_socket_connect(const struct health_addr *a);

/* health_state.c */
int health_probe_record(
    struct health_probe *p, int ok, const char *msg, double now);
void health_verdict(struct health *h, struct health_verdict *v);
const char *health_pstate_name(enum health_pstate s);
const char *health_class_name(enum health_class c);
const char *health_level_name(enum health_level l);
const char *health_kind_name(enum health_kind k);

/* health_stats.c */
struct health_stats_backend {
	const char *name; /* in: backend, NULL = the whole table */
	int found; /* out: the backend has a BACKEND row */
	int servers; /* out: server rows */
	int up; /* out: servers UP (or without checks) */
	long scur; /* out: current sessions of the backend */
	int frontends; /* out: FRONTEND rows seen (name NULL only) */
};
int health_stats_parse(const char *csv, size_t len,
    struct health_stats_backend *be, char *err, size_t errlen);
int health_status_is_up(const char *status, size_t len);

/* health_agentcheck.c */
int health_agentcheck_weight(double load, double capacity);
size_t health_agentcheck_line(
    const struct health_verdict *v, int weight, char *out, size_t outlen);
double health_local_load(struct health *h);

/* health_render.c */
void health_render_check(struct health *h);
char *health_render_json(struct health *h, double now, size_t *lenp);
char *health_render_metrics(struct health *h, double now, size_t *lenp);

/* health_probe.c */
int health_http_status_line(const char *buf, size_t len, int *status);
void health_probes_start(struct health *h);
void health_probes_stop(struct health *h);
void health_update(struct health *h);
double health_now(void);

/* health_spop.c */
size_t health_spop_hello(char *buf, size_t cap);
int health_spop_answer(const char *buf, size_t len, char *msg, size_t msglen);

/* health_listen.c */
int health_http_listen(struct health *h, const struct health_settings *s);
int health_http_reload_tls(struct health *h, const struct health_settings *s);
void health_http_stop(struct health *h);
void health_http_free(struct health *h);
int health_agentcheck_listen(struct health *h, const struct conf_addr *a);
void health_agentcheck_stop(struct health *h);

#endif
