/*
 * parley-edge: the edge cache (docs/edge.md).
 *
 * One libev loop serves clients over HTTP (the Web API, answered from
 * the cache or forwarded, /healthz, /metrics, the web client's files)
 * and the RTM WebSocket at /rtm, and keeps one TLS link to each shard's
 * stream.  Settings: the [edge] and [tokens] sections of parley.conf, and
 * the shard map of [shard NAME] and [shards] (common/shard.h,
 * docs/configuration.md).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "conf.h"
#include "conn.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "shard.h"
#include "static.h"
#include "tls.h"
#include "token.h"
#include "ws.h"
#include "xmalloc.h"

#include "edge.h"

struct edge_settings {
	char *name;
	struct conf_addr listen;
	char *web_root;
	char *rtm_url;
	long long ticket_ttl_ms;
	char *stream_tls_cert;
	char *stream_tls_key;
	char *stream_tls_ca;
	char *stream_tls_server_name;
	long long keepalive_ms;
	long long timeout_ms;
	long long backoff_min_ms;
	long long backoff_max_ms;
	size_t stream_max_frame;
	size_t stream_out_cap;
	long long team_idle_ms;
	long long load_timeout_ms;
	long long forward_timeout_ms;
	int replay_events;
	int recent_messages;
	int max_conns;
	size_t max_body;
	long long idle_ms;
	long long rtm_heartbeat_ms;
	size_t rtm_out_cap;
	size_t rtm_max_message;
	int rtm_max_conns;
	int rtm_presence_max;
	size_t rtm_sndbuf;
	struct conf_list trusted_proxies;
	struct token_settings tokens;
};

#define ES(f) offsetof(struct edge_settings, f)

static const struct conf_key edge_keys[] = {
	{ "name", CONF_STRING, ES(name), "edge", 0, 0, 0 },
	{ "listen", CONF_ADDRESS, ES(listen), "127.0.0.1:8090", 0, 0, 0 },
	{ "web_root", CONF_PATH, ES(web_root), NULL, 0, 0, 0 },
	{ "rtm_url", CONF_STRING, ES(rtm_url), NULL, 0, 0, 0 },
	{ "rtm_ticket_ttl", CONF_DURATION, ES(ticket_ttl_ms), "30s", 1000,
	    600000, 0 },
	{ "stream_tls_cert", CONF_PATH, ES(stream_tls_cert), NULL, 0, 0,
	    CONF_REQUIRED },
	{ "stream_tls_key", CONF_PATH, ES(stream_tls_key), NULL, 0, 0,
	    CONF_REQUIRED },
	{ "stream_tls_ca", CONF_PATH, ES(stream_tls_ca), NULL, 0, 0,
	    CONF_REQUIRED },
	{ "stream_tls_server_name", CONF_STRING, ES(stream_tls_server_name),
	    NULL, 0, 0, 0 },
	{ "stream_keepalive", CONF_DURATION, ES(keepalive_ms), "10s", 100, 0,
	    0 },
	{ "stream_timeout", CONF_DURATION, ES(timeout_ms), "30s", 300, 0, 0 },
	{ "stream_backoff_min", CONF_DURATION, ES(backoff_min_ms), "200ms",
	    10, 0, 0 },
	{ "stream_backoff_max", CONF_DURATION, ES(backoff_max_ms), "10s", 10,
	    0, 0 },
	{ "stream_max_frame", CONF_SIZE, ES(stream_max_frame), "16M", 4096,
	    16 << 20, 0 },
	{ "stream_out_cap", CONF_SIZE, ES(stream_out_cap), "64M", 65536,
	    1LL << 32, 0 },
	{ "team_idle", CONF_DURATION, ES(team_idle_ms), "10m", 100, 0, 0 },
	{ "team_load_timeout", CONF_DURATION, ES(load_timeout_ms), "30s", 100,
	    0, 0 },
	{ "forward_timeout", CONF_DURATION, ES(forward_timeout_ms), "30s",
	    100, 0, 0 },
	{ "replay_events", CONF_INT, ES(replay_events), "1000", 0, 1000000,
	    0 },
	{ "recent_messages", CONF_INT, ES(recent_messages), "20", 0, 1000,
	    0 },
	{ "max_conns", CONF_INT, ES(max_conns), "10000", 1, 20000, 0 },
	{ "max_body", CONF_SIZE, ES(max_body), "1M", 1024, 64 << 20, 0 },
	{ "idle_timeout", CONF_DURATION, ES(idle_ms), "60s", 1000, 0, 0 },
	{ "rtm_heartbeat", CONF_DURATION, ES(rtm_heartbeat_ms), "30s", 200,
	    3600000, 0 },
	{ "rtm_out_cap", CONF_SIZE, ES(rtm_out_cap), "1M", 4096, 1 << 30, 0 },
	{ "rtm_max_message", CONF_SIZE, ES(rtm_max_message), "64K", 1024,
	    1 << 20, 0 },
	{ "rtm_max_conns", CONF_INT, ES(rtm_max_conns), "15000", 1, 100000,
	    0 },
	{ "rtm_presence_max", CONF_INT, ES(rtm_presence_max), "500", 1,
	    100000, 0 },
	{ "rtm_sndbuf", CONF_SIZE, ES(rtm_sndbuf), "256K", 0, 64 << 20, 0 },
	{ "trusted_proxies", CONF_LIST, ES(trusted_proxies), NULL, 0, 64, 0 },
	{ NULL, 0, 0, NULL, 0, 0, 0 },
};

static int
edge_conf_check(void *arg, char *err, size_t errlen)
{
	struct edge_settings *s = arg;

	if (s->backoff_max_ms < s->backoff_min_ms) {
		snprintf(err, errlen, "stream_backoff_max is below "
		    "stream_backoff_min");
		return -1;
	}
	return 0;
}

static const struct conf_section edge_sections[] = {
	{ "edge", edge_keys, 0, false, 0, 0, 1 },
	{ "tokens", token_conf_keys, ES(tokens), false, 0, 0, 1 },
	{ NULL, NULL, 0, false, 0, 0, 0 },
};

static const struct conf_schema edge_schema = {
	sizeof(struct edge_settings), edge_sections, edge_conf_check,
};

static struct edge_settings settings;
static struct edge_srv srv;
static SSL_CTX *edge_tls;
static char *edge_rtm_url;
static char *edge_rtm_origin;

/* The link's TLS settings: TLS 1.3, our certificate, the CA. */
static void
edge_tls_settings(const struct edge_settings *s, struct tls_settings *ts)
{
	memset(ts, 0, sizeof(*ts));
	ts->cert = s->stream_tls_cert;
	ts->key = s->stream_tls_key;
	ts->ca = s->stream_tls_ca;
	ts->min_version = (char *)"1.3";
	ts->server_name = s->stream_tls_server_name;
}

/*
 * The runtime settings of s; the rtm_url default is ws://<listen>/rtm
 * (kept in edge_rtm_url).
 */
static void
edge_config_from(const struct edge_settings *s, struct edge_config *c)
{
	const char *host = s->listen.host[0] != '\0' ? s->listen.host :
	    "127.0.0.1";

	memset(c, 0, sizeof(*c));
	free(edge_rtm_url);
	free(edge_rtm_origin);
	edge_rtm_origin = xasprintf(strchr(host, ':') != NULL ?
	    "ws://[%s]:%u" : "ws://%s:%u", host, s->listen.port);
	if (s->rtm_url != NULL && s->rtm_url[0] != '\0')
		edge_rtm_url = xstrdup(s->rtm_url);
	else
		edge_rtm_url = xasprintf(strchr(host, ':') != NULL ?
		    "ws://[%s]:%u/rtm" : "ws://%s:%u/rtm", host,
		    s->listen.port);
	c->name = s->name;
	c->rtm_url = edge_rtm_url;
	c->rtm_origin = edge_rtm_origin;
	c->ticket_ttl = (int)(s->ticket_ttl_ms / 1000);
	c->team_idle = conf_ms_to_sec(s->team_idle_ms);
	c->load_timeout = conf_ms_to_sec(s->load_timeout_ms);
	c->forward_timeout = conf_ms_to_sec(s->forward_timeout_ms);
	c->replay_events = (size_t)s->replay_events;
	c->recent = (size_t)s->recent_messages;
	c->keepalive = conf_ms_to_sec(s->keepalive_ms);
	c->timeout = conf_ms_to_sec(s->timeout_ms);
	c->backoff_min = conf_ms_to_sec(s->backoff_min_ms);
	c->backoff_max = conf_ms_to_sec(s->backoff_max_ms);
	c->max_frame = s->stream_max_frame;
	c->link_out_cap = s->stream_out_cap;
	c->heartbeat = conf_ms_to_sec(s->rtm_heartbeat_ms);
	c->rtm_out_cap = s->rtm_out_cap;
	c->rtm_max_message = s->rtm_max_message;
	c->rtm_sndbuf = s->rtm_sndbuf;
	c->rtm_max_conns = s->rtm_max_conns;
	c->presence_max = (size_t)s->rtm_presence_max;
	srv.trusted = s->trusted_proxies.v;
	srv.ntrusted = s->trusted_proxies.n;
}

/*
 * The shard map of parley.conf; an edge needs at least one shard whose
 * stream it can reach.  Returns the map, or NULL after logging why.
 */
static struct shard_map *
edge_shards_load(void)
{
	struct shard_map *map;
	char err[CONF_ERRLEN];
	size_t i, streams = 0;

	map = shard_map_load(daemon_conf_path(), 0, err, sizeof(err));
	if (map == NULL) {
		log_warnx("shards: %s", err);
		return NULL;
	}
	for (i = 0; i < shard_map_count(map); i++)
		if (shard_map_get(map, i)->stream != NULL)
			streams++;
	if (streams == 0) {
		log_warnx("shards: no [shard NAME] section has a stream "
		    "address for the edge to connect to");
		shard_map_free(map);
		return NULL;
	}
	return map;
}

/* -t: the key file and the certificates must load as at start. */
static int
edge_check(const void *arg_settings, void *arg)
{
	const struct edge_settings *s = arg_settings;
	struct token_keys *keys;
	struct shard_map *map;
	struct tls_settings ts;
	char err[CONF_ERRLEN];
	SSL_CTX *ctx;

	keys = token_keys_load(s->tokens.keys, err, sizeof(err));
	if (keys == NULL) {
		log_warnx("keys: %s", err);
		return -1;
	}
	token_keys_free(keys);
	if ((map = edge_shards_load()) == NULL)
		return -1;
	shard_map_free(map);
	edge_tls_settings(s, &ts);
	ctx = tls_client_ctx_new(&ts, err, sizeof(err));
	if (ctx == NULL) {
		log_warnx("stream: %s", err);
		return -1;
	}
	SSL_CTX_free(ctx);
	return 0;
}

static void
edge_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	double now = ev_now(loop);
	size_t i;

	for (i = 0; i < srv.nlinks; i++)
		edge_link_sweep(srv.links[i], now);
	edge_served_sweep(&srv, now);
	edge_rtm_sweep(&srv, now);
}

static void
edge_sweep_arm(struct ev_loop *loop)
{
	double every = srv.cfg.heartbeat / 16;

	if (every > 0.5)
		every = 0.5;
	if (every < 0.05)
		every = 0.05;
	ev_timer_stop(loop, &srv.sweep);
	ev_timer_set(&srv.sweep, every, every);
	ev_timer_start(loop, &srv.sweep);
}

static int
edge_start(struct ev_loop *loop, void *arg_settings, void *arg)
{
	struct edge_settings *s = arg_settings;
	const struct shard *sh;
	struct tls_settings ts;
	struct http_limits hl;
	char err[CONF_ERRLEN], port[8], addr[300];
	size_t i;

	srv.loop = loop;
	edge_config_from(s, &srv.cfg);
	srv.keys = token_keys_load(s->tokens.keys, err, sizeof(err));
	if (srv.keys == NULL) {
		log_warnx("keys: %s", err);
		return -1;
	}
	edge_tls_settings(s, &ts);
	edge_tls = tls_client_ctx_new(&ts, err, sizeof(err));
	if (edge_tls == NULL) {
		log_warnx("stream: %s", err);
		return -1;
	}

	http_limits_default(&hl);
	hl.max_body = s->max_body;
	hl.idle_timeout = conf_ms_to_sec(s->idle_ms);
	hl.max_conns = (unsigned)s->max_conns;
	hl.out_cap = 64u << 20;
	srv.http = http_server_new(loop, &hl, edge_http_handler, &srv);
	srv.ws = edge_rtm_server(&srv);
	if (s->web_root != NULL && s->web_root[0] != '\0') {
		srv.web = static_root_open(s->web_root, err, sizeof(err));
		if (srv.web == NULL) {
			log_warnx("%s", err);
			return -1;
		}
		log_info("web client from %s", s->web_root);
	}
	snprintf(port, sizeof(port), "%u", s->listen.port);
	if (http_server_listen(srv.http, s->listen.host[0] ? s->listen.host :
	    NULL, port, NULL) == -1)
		return -1;
	log_info("edge %s: web api on %s, rtm_url %s", s->name,
	    conf_addr_str(&s->listen, addr, sizeof(addr)), srv.cfg.rtm_url);

	if ((srv.shards = edge_shards_load()) == NULL)
		return -1;
	srv.links = xcalloc(shard_map_count(srv.shards), sizeof(*srv.links));
	for (i = 0; i < shard_map_count(srv.shards); i++) {
		sh = shard_map_get(srv.shards, i);
		if (sh->stream == NULL)
			continue;
		srv.links[srv.nlinks] = edge_link_new(&srv, sh->name,
		    sh->stream_addr.host, sh->stream_addr.port, edge_tls,
		    s->stream_tls_server_name);
		edge_link_start(srv.links[srv.nlinks++]);
	}
	ev_init(&srv.sweep, edge_sweep_cb);
	edge_sweep_arm(loop);
	return 0;
}

/* Polled after SIGTERM: forwards in flight get their answers first. */
static void
edge_drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	size_t i;
	unsigned n = 0;

	for (i = 0; i < srv.nlinks; i++)
		if (edge_link_state(srv.links[i]) == EDGE_LINK_UP)
			n += edge_link_pending(srv.links[i]);
	if (n > 0)
		return;
	ev_timer_stop(loop, w);
	conn_loop_flush(loop);
	daemon_exit(loop);
}

static ev_timer edge_drain;

static void
edge_stop(struct ev_loop *loop, void *arg)
{
	if (srv.http != NULL)
		http_server_stop_listening(srv.http);
	edge_rtm_shutdown(&srv);
	srv.stopping = 1;
	ev_timer_init(&edge_drain, edge_drain_cb, 0.02, 0.02);
	ev_timer_start(loop, &edge_drain);
}

/* Whether a and b name the same shards with the same streams. */
static int
edge_shards_same(const struct shard_map *a, const struct shard_map *b)
{
	const struct shard *x, *y;
	size_t i;

	if (shard_map_count(a) != shard_map_count(b))
		return 0;
	for (i = 0; i < shard_map_count(a); i++) {
		x = shard_map_get(a, i);
		y = shard_map_byname(b, x->name);
		if (y == NULL || (x->stream == NULL) != (y->stream == NULL) ||
		    (x->stream != NULL && strcmp(x->stream, y->stream) != 0))
			return 0;
	}
	return 1;
}

/*
 * SIGHUP: the key file, the link's certificates and the limits change at
 * once; the listening address and the shards need a restart, which is
 * said.
 */
static int
edge_reload(struct ev_loop *loop, const void *old, void *fresh, void *arg)
{
	const struct edge_settings *o = old;
	struct edge_settings *s = fresh;
	struct token_keys *keys;
	struct shard_map *map;
	struct tls_settings ts;
	char err[CONF_ERRLEN];
	size_t i;

	keys = token_keys_load(s->tokens.keys, err, sizeof(err));
	if (keys == NULL) {
		log_warnx("reload: keys: %s", err);
		return -1;
	}
	if ((map = edge_shards_load()) == NULL) {
		token_keys_free(keys);
		return -1;
	}
	edge_tls_settings(s, &ts);
	if (tls_reload(&edge_tls, TLS_CLIENT, &ts, err, sizeof(err)) == -1) {
		log_warnx("reload: stream: %s", err);
		token_keys_free(keys);
		shard_map_free(map);
		return -1;
	}
	/* new teams are placed by the new map; the links stay */
	if (!edge_shards_same(srv.shards, map))
		log_warnx("reload: shards added, removed or moved take effect "
		    "at the next start");
	shard_map_free(srv.shards);
	srv.shards = map;
	token_keys_free(srv.keys);
	srv.keys = keys;
	for (i = 0; i < srv.nlinks; i++)
		edge_link_set_tls(srv.links[i], edge_tls,
		    s->stream_tls_server_name);
	edge_config_from(s, &srv.cfg);
	edge_sweep_arm(loop);
	if (o->listen.port != s->listen.port ||
	    strcmp(o->listen.host, s->listen.host) != 0)
		log_warnx("reload: listen takes effect at the next start");
	log_info("reload: keys, certificates and limits in effect, with the "
	    "team map");
	return 0;
}

static void
edge_cleanup(struct ev_loop *loop, void *arg)
{
	size_t i;

	ev_timer_stop(loop, &srv.sweep);
	ev_timer_stop(loop, &edge_drain);
	srv.stopping = 1;
	for (i = 0; i < srv.nlinks; i++)
		edge_link_free(srv.links[i]);
	free(srv.links);
	srv.links = NULL;
	srv.nlinks = 0;
	if (srv.ws != NULL)
		ws_server_free(srv.ws);
	srv.ws = NULL;
	edge_served_free_all(&srv);
	shard_map_free(srv.shards);
	srv.shards = NULL;
	if (srv.http != NULL)
		http_server_free(srv.http);
	srv.http = NULL;
	static_root_free(srv.web);
	if (edge_tls != NULL)
		SSL_CTX_free(edge_tls);
	token_keys_free(srv.keys);
	free(edge_rtm_url);
	edge_rtm_url = NULL;
	free(edge_rtm_origin);
	edge_rtm_origin = NULL;
}

int
main(int argc, char **argv)
{
	struct daemon_ops ops;

	memset(&ops, 0, sizeof(ops));
	ops.name = "parley-edge";
	ops.default_conf = "/etc/parley/parley.conf";
	ops.schema = &edge_schema;
	ops.settings = &settings;
	ops.start = edge_start;
	ops.check = edge_check;
	ops.stop = edge_stop;
	ops.reload = edge_reload;
	ops.cleanup = edge_cleanup;
	return daemon_main(argc, argv, &ops);
}
