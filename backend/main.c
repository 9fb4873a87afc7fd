/*
 * parley-backend: the system of record and its Web API.
 *
 * One libev loop serves HTTP (the Web API, /healthz, /metrics), the RTM
 * WebSocket at /rtm and the local admin socket; the store's writer thread
 * commits writes; worker threads take slow requests.  Settings: the
 * [backend] and [tokens] sections of parley.conf (docs/configuration.md).
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
#include "xmalloc.h"

#include "backend/backend.h"

struct backend_settings {
	struct conf_addr listen;
	char *data_dir;
	char *admin_socket;
	char *web_root;
	size_t map_initial;
	size_t map_max;
	int retain_events;
	long long retain_ms;
	bool migrate;
	int workers;
	size_t max_body;
	long long idle_ms;
	int max_conns;
	int rate[API_TIER_MAX];
	int signin_failures;
	struct conf_list trusted_proxies;
	char *rtm_url;
	long long rtm_ticket_ttl_ms;
	long long rtm_heartbeat_ms;
	size_t rtm_out_cap;
	size_t rtm_max_message;
	int rtm_replay_batch;
	int rtm_presence_max;
	int rtm_max_conns;
	size_t rtm_sndbuf;
	struct conf_addr stream_listen;
	char *stream_tls_cert;
	char *stream_tls_key;
	char *stream_tls_ca;
	long long stream_keepalive_ms;
	long long stream_timeout_ms;
	size_t stream_out_cap;
	size_t stream_max_frame;
	int stream_snapshot_messages;
	int stream_snapshot_events;
	char *shard;
	struct token_settings tokens;
};

#define BK(f) offsetof(struct backend_settings, f)

static const struct conf_key backend_keys[] = {
	{ "listen", CONF_ADDRESS, BK(listen), "127.0.0.1:8080", 0, 0, 0 },
	{ "data_dir", CONF_PATH, BK(data_dir), NULL, 0, 0, CONF_REQUIRED },
	{ "admin_socket", CONF_PATH, BK(admin_socket), NULL, 0, 0, 0 },
	{ "web_root", CONF_PATH, BK(web_root), NULL, 0, 0, 0 },
	{ "map_initial", CONF_SIZE, BK(map_initial), "64M", 1 << 20, 0, 0 },
	{ "map_max", CONF_SIZE, BK(map_max), "16G", 1 << 20, 0, 0 },
	{ "retain_events", CONF_INT, BK(retain_events), "1000000", 1,
	    1000000000, 0 },
	{ "retain_age", CONF_DURATION, BK(retain_ms), "720h", 1000, 0, 0 },
	{ "migrate", CONF_BOOL, BK(migrate), "no", 0, 0, 0 },
	{ "workers", CONF_INT, BK(workers), "2", 1, 64, 0 },
	{ "max_body", CONF_SIZE, BK(max_body), "1M", 1024, 64 << 20, 0 },
	{ "idle_timeout", CONF_DURATION, BK(idle_ms), "60s", 1000, 0, 0 },
	{ "max_conns", CONF_INT, BK(max_conns), "10000", 1, 20000, 0 },
	{ "rate_tier1", CONF_INT, BK(rate[API_TIER_1]), "20", 0, 1000000, 0 },
	{ "rate_tier2", CONF_INT, BK(rate[API_TIER_2]), "100", 0, 1000000,
	    0 },
	{ "rate_tier3", CONF_INT, BK(rate[API_TIER_3]), "300", 0, 1000000,
	    0 },
	{ "rate_tier4", CONF_INT, BK(rate[API_TIER_4]), "600", 0, 1000000,
	    0 },
	{ "rate_post", CONF_INT, BK(rate[API_TIER_POST]), "600", 0, 1000000,
	    0 },
	{ "signin_failures", CONF_INT, BK(signin_failures), "5", 1, 1000000,
	    0 },
	{ "trusted_proxies", CONF_LIST, BK(trusted_proxies), NULL, 0, 64, 0 },
	/* RTM (docs/rtm.md) */
	{ "rtm_url", CONF_STRING, BK(rtm_url), NULL, 0, 0, 0 },
	{ "rtm_ticket_ttl", CONF_DURATION, BK(rtm_ticket_ttl_ms), "30s", 1000,
	    600000, 0 },
	{ "rtm_heartbeat", CONF_DURATION, BK(rtm_heartbeat_ms), "30s", 200,
	    3600000, 0 },
	{ "rtm_out_cap", CONF_SIZE, BK(rtm_out_cap), "1M", 4096, 1 << 30,
	    0 },
	{ "rtm_max_message", CONF_SIZE, BK(rtm_max_message), "64K", 1024,
	    1 << 20, 0 },
	{ "rtm_replay_batch", CONF_INT, BK(rtm_replay_batch), "256", 1,
	    100000, 0 },
	{ "rtm_presence_max", CONF_INT, BK(rtm_presence_max), "500", 1,
	    100000, 0 },
	{ "rtm_max_conns", CONF_INT, BK(rtm_max_conns), "15000", 1, 100000,
	    0 },
	{ "rtm_sndbuf", CONF_SIZE, BK(rtm_sndbuf), "256K", 0, 64 << 20, 0 },
	/* the edge stream (docs/stream.md) */
	{ "stream_listen", CONF_ADDRESS, BK(stream_listen), NULL, 0, 0, 0 },
	{ "stream_tls_cert", CONF_PATH, BK(stream_tls_cert), NULL, 0, 0, 0 },
	{ "stream_tls_key", CONF_PATH, BK(stream_tls_key), NULL, 0, 0, 0 },
	{ "stream_tls_ca", CONF_PATH, BK(stream_tls_ca), NULL, 0, 0, 0 },
	{ "stream_keepalive", CONF_DURATION, BK(stream_keepalive_ms), "10s",
	    100, 0, 0 },
	{ "stream_timeout", CONF_DURATION, BK(stream_timeout_ms), "30s", 300,
	    0, 0 },
	{ "stream_out_cap", CONF_SIZE, BK(stream_out_cap), "64M", 65536,
	    1LL << 32, 0 },
	{ "stream_max_frame", CONF_SIZE, BK(stream_max_frame), "4M", 4096,
	    16 << 20, 0 },
	{ "stream_snapshot_messages", CONF_INT,
	    BK(stream_snapshot_messages), "20", 0, 1000, 0 },
	{ "stream_snapshot_events", CONF_INT, BK(stream_snapshot_events),
	    "1000", 0, 100000, 0 },
	/* the shard this process is (docs/operations.md) */
	{ "shard", CONF_STRING, BK(shard), NULL, 0, 0, 0 },
	{ NULL, 0, 0, NULL, 0, 0, 0 },
};

static const struct conf_section backend_sections[] = {
	{ "backend", backend_keys, 0, false, 0, 0, 1 },
	{ "tokens", token_conf_keys, BK(tokens), false, 0, 0, 1 },
	{ NULL, NULL, 0, false, 0, 0, 0 },
};

static const struct conf_schema backend_schema = {
	sizeof(struct backend_settings), backend_sections, NULL,
};

struct backend {
	struct store *st;
	struct token_keys *keys;
	struct api_ctx *api;
	struct api_http *http;
	struct rtm *rtm;
	struct stream_srv *stream;
	SSL_CTX *stream_tls;
	struct admin *admin;
	ev_timer drain; /* after SIGTERM: waits for calls in flight */
	struct static_root *web;
	struct shard_map *shards;
	const struct shard *me; /* NULL: no [shard] section, every team */
};

static struct backend_settings settings;
static struct backend bk;

static void
backend_limits(const struct backend_settings *s, struct api_limits *lim)
{
	int t;

	api_limits_default(lim);
	for (t = API_TIER_1; t < API_TIER_MAX; t++)
		lim->tier_per_min[t] = s->rate[t];
	lim->signin_failures = s->signin_failures;
	lim->workers = s->workers;
	lim->max_body = s->max_body;
}

/*
 * The RTM settings of s; url points into s or into buf (the default
 * ws://<listen>/rtm when rtm_url is not set); origin is ws://<listen>,
 * which completes a relative rtm_url for a call that says no Host.
 */
static void
backend_rtm_config(const struct backend_settings *s, struct rtm_config *rc,
    char *buf, size_t len)
{
	const char *host = s->listen.host[0] != '\0' ? s->listen.host :
	    "127.0.0.1";

	rtm_config_default(rc);
	snprintf(rc->origin, sizeof(rc->origin), strchr(host, ':') != NULL ?
	    "ws://[%s]:%u" : "ws://%s:%u", host, s->listen.port);
	if (s->rtm_url != NULL && s->rtm_url[0] != '\0') {
		rc->url = s->rtm_url;
	} else {
		snprintf(buf, len, "%s/rtm", rc->origin);
		rc->url = buf;
	}
	rc->ticket_ttl = (int)(s->rtm_ticket_ttl_ms / 1000);
	rc->heartbeat = (double)s->rtm_heartbeat_ms / 1000;
	rc->out_cap = s->rtm_out_cap;
	rc->max_message = s->rtm_max_message;
	rc->replay_batch = (size_t)s->rtm_replay_batch;
	rc->presence_max = (size_t)s->rtm_presence_max;
	rc->max_conns = s->rtm_max_conns;
	rc->sndbuf = s->rtm_sndbuf;
}

static void
backend_stream_config(const struct backend_settings *s,
    struct stream_config *sc)
{
	stream_config_default(sc);
	sc->keepalive = conf_ms_to_sec(s->stream_keepalive_ms);
	sc->timeout = conf_ms_to_sec(s->stream_timeout_ms);
	sc->out_cap = s->stream_out_cap;
	sc->max_frame = s->stream_max_frame;
	sc->snap_messages = (size_t)s->stream_snapshot_messages;
	sc->snap_events = (size_t)s->stream_snapshot_events;
}

/*
 * The edge stream, when stream_listen is set: TLS 1.3 only, and a client
 * certificate signed by stream_tls_ca required.  Returns 0 or -1 after
 * logging.
 */
static int
backend_stream_start(struct ev_loop *loop, const struct backend_settings *s)
{
	struct tls_settings ts;
	struct stream_config sc;
	char err[CONF_ERRLEN], port[8], addr[300];

	if (s->stream_listen.port == 0)
		return 0;
	if (s->stream_tls_cert == NULL || s->stream_tls_key == NULL ||
	    s->stream_tls_ca == NULL) {
		log_warnx("stream_listen needs stream_tls_cert, stream_tls_key "
			  "and stream_tls_ca");
		return -1;
	}
	memset(&ts, 0, sizeof(ts));
	ts.cert = s->stream_tls_cert;
	ts.key = s->stream_tls_key;
	ts.ca = s->stream_tls_ca;
	ts.min_version = (char *)"1.3";
	bk.stream_tls = tls_server_ctx_new(&ts, err, sizeof(err));
	if (bk.stream_tls == NULL) {
		log_warnx("stream: %s", err);
		return -1;
	}
	backend_stream_config(s, &sc);
	bk.stream = stream_new(loop, bk.st, bk.api, &sc, bk.stream_tls);
	stream_set_rtm(bk.stream, bk.rtm);
	api_http_set_stream(bk.http, bk.stream);
	rtm_set_ephemeral_hook(bk.rtm, stream_ephemeral_hook, bk.stream);
	snprintf(port, sizeof(port), "%u", s->stream_listen.port);
	if (stream_listen(bk.stream, s->stream_listen.host, port) == -1)
		return -1;
	log_info("edge stream on %s", conf_addr_str(&s->stream_listen, addr,
	    sizeof(addr)));
	return 0;
}

/*
 * The store's event hook: every committed event, in order, on the loop
 * thread.  Each consumer of the event stream gets it here.
 */
static void
backend_events(void *arg, const char *team, uint64_t seq, const char *json,
    size_t len)
{
	if (bk.rtm != NULL)
		rtm_event_hook(bk.rtm, team, seq, json, len);
	if (bk.stream != NULL)
		stream_event_hook(bk.stream, team, seq, json, len);
}

/*
 * Loads the shard map of parley.conf and finds this process's shard:
 * [backend] shard, or the only [shard] section.  Returns 0 with *mapp set
 * (and *mep NULL when the install has no [shard] section), or -1 after
 * logging why.
 */
static int
backend_shard_load(const struct backend_settings *s,
    struct shard_map **mapp, const struct shard **mep)
{
	struct shard_map *map;
	const struct shard *me = NULL;
	char err[CONF_ERRLEN];

	map = shard_map_load(daemon_conf_path(), 0, err, sizeof(err));
	if (map == NULL) {
		log_warnx("shards: %s", err);
		return -1;
	}
	if (s->shard != NULL && s->shard[0] != '\0') {
		if ((me = shard_map_byname(map, s->shard)) == NULL) {
			log_warnx("[backend] shard = %s: no [shard %s] "
			    "section", s->shard, s->shard);
			shard_map_free(map);
			return -1;
		}
	} else if (shard_map_count(map) == 1) {
		me = shard_map_get(map, 0);
	} else if (shard_map_count(map) > 1) {
		log_warnx("[backend] shard must name one of the %zu [shard] "
		    "sections", shard_map_count(map));
		shard_map_free(map);
		return -1;
	}
	*mapp = map;
	*mep = me;
	return 0;
}

/*
 * Puts map and me in use (owning map): the API, RTM and the stream see
 * them at once, and the connections of teams now placed on another shard
 * are told to go.
 */
static void
backend_shards_apply(struct shard_map *map, const struct shard *me)
{
	struct shard_map *old = bk.shards;

	bk.shards = map;
	bk.me = me;
	api_ctx_set_shards(bk.api, map, me);
	shard_map_free(old);
	rtm_close_elsewhere(bk.rtm);
	stream_close_elsewhere(bk.stream);
}

/* admin "shards.reload": the map again, with the settings in use. */
static int
backend_shards_reload(void *arg, char *err, size_t errlen)
{
	const struct backend_settings *s = arg;
	struct shard_map *map;
	const struct shard *me;

	if (backend_shard_load(s, &map, &me) == -1) {
		snprintf(err, errlen, "the shard map does not load (see the "
		    "backend's log)");
		return -1;
	}
	backend_shards_apply(map, me);
	log_info("admin: shard map reloaded, %zu teams listed",
	    shard_map_team_count(map));
	return 0;
}

/* -t: the key file must load as it would at start. */
static int
backend_check(const void *arg_settings, void *arg)
{
	const struct backend_settings *s = arg_settings;
	struct token_keys *keys;
	struct shard_map *map;
	const struct shard *me;
	char err[CONF_ERRLEN];

	keys = token_keys_load(s->tokens.keys, err, sizeof(err));
	if (keys == NULL) {
		log_warnx("keys: %s", err);
		return -1;
	}
	token_keys_free(keys);
	if (backend_shard_load(s, &map, &me) == -1)
		return -1;
	shard_map_free(map);
	return 0;
}

static int
backend_start(struct ev_loop *loop, void *arg_settings, void *arg)
{
	struct backend_settings *s = arg_settings;
	struct store_config sc;
	struct api_limits lim;
	struct http_limits hl;
	struct rtm_config rc;
	char err[CONF_ERRLEN], port[8], addr[300], *sock, url[320];

	bk.keys = token_keys_load(s->tokens.keys, err, sizeof(err));
	if (bk.keys == NULL) {
		log_warnx("keys: %s", err);
		return -1;
	}
	if (backend_shard_load(s, &bk.shards, &bk.me) == -1)
		return -1;
	if (bk.me != NULL)
		log_info("shard %s of %zu", bk.me->name,
		    shard_map_count(bk.shards));

	memset(&sc, 0, sizeof(sc));
	sc.data_dir = s->data_dir;
	sc.map_initial = s->map_initial;
	sc.map_max = s->map_max;
	sc.retain_events = (uint64_t)s->retain_events;
	sc.retain_seconds = (uint64_t)(s->retain_ms / 1000);
	bk.st = store_open(&sc, 1, s->migrate, err, sizeof(err));
	if (bk.st == NULL) {
		log_warnx("store: %s", err);
		return -1;
	}
	if (store_writer_start(bk.st, loop) == -1) {
		log_warnx("store: cannot start the writer");
		return -1;
	}

	backend_limits(s, &lim);
	bk.api = api_ctx_new(loop, bk.st, bk.keys, &lim);
	if (bk.api == NULL)
		return -1;
	api_ctx_set_shards(bk.api, bk.shards, bk.me);

	http_limits_default(&hl);
	hl.max_body = s->max_body;
	hl.idle_timeout = conf_ms_to_sec(s->idle_ms);
	hl.max_conns = (unsigned)s->max_conns;
	/*
	 * One answer is queued whole: the rtm.start of a 100,000-user team
	 * is some 60 MB of JSON.
	 */
	hl.out_cap = 256u << 20;
	bk.http = api_http_new(loop, bk.api, &hl, s->map_max);
	api_http_set_trusted(bk.http, s->trusted_proxies.v,
	    s->trusted_proxies.n);
	backend_rtm_config(s, &rc, url, sizeof(url));
	bk.rtm = rtm_new(loop, bk.api, &rc);
	api_http_set_rtm(bk.http, bk.rtm);
	store_set_event_hook(bk.st, backend_events, NULL);
	snprintf(port, sizeof(port), "%u", s->listen.port);
	if (http_server_listen(api_http_server(bk.http),
	    s->listen.host[0] ? s->listen.host : NULL, port, NULL) == -1)
		return -1;
	log_info("web api on %s", conf_addr_str(&s->listen, addr,
	    sizeof(addr)));

	sock = s->admin_socket != NULL ? xstrdup(s->admin_socket)
				       : xasprintf("%s/admin.sock",
					   s->data_dir);
	bk.admin = admin_new(loop, bk.api, sock, s->tokens.keys);
	free(sock);
	if (bk.admin == NULL)
		return -1;
	admin_set_shards_reload(bk.admin, backend_shards_reload, &settings);

	if (s->web_root != NULL && s->web_root[0] != '\0') {
		bk.web = static_root_open(s->web_root, err, sizeof(err));
		if (bk.web == NULL) {
			log_warnx("%s", err);
			return -1;
		}
		api_http_set_web(bk.http, bk.web);
		log_info("web client from %s", s->web_root);
	}
	return backend_stream_start(loop, s);
}

/*
 * Polled after SIGTERM: once every call that was made has been answered
 * (writes after their commit), the answers are written out and the loop
 * ends; the writer then drains what admin requests left in its queue.
 * The first look comes one interval after the signal, so that requests
 * already in the sockets' buffers are read and become calls first.
 * daemon.c bounds the wait.
 */
static void
backend_drain(struct ev_loop *loop, ev_timer *w, int revents)
{
	unsigned n = api_ctx_inflight(bk.api);

	if (n > 0) {
		log_debug("stopping: %u calls in flight", n);
		return;
	}
	ev_timer_stop(loop, w);
	conn_loop_flush(loop);
	daemon_exit(loop);
}

static void
backend_stop(struct ev_loop *loop, void *arg)
{
	if (bk.http != NULL)
		http_server_stop_listening(api_http_server(bk.http));
	admin_free(bk.admin);
	bk.admin = NULL;
	/* goodbye to every RTM client; its frames go out with the rest */
	rtm_shutdown(bk.rtm);
	stream_shutdown(bk.stream);
	ev_timer_init(&bk.drain, backend_drain, 0.02, 0.02);
	ev_timer_start(loop, &bk.drain);
}

/*
 * SIGHUP (daemon.c has reopened the log): the key file, limits, the map
 * limit and the shard map change at once; the listening address and the
 * store's location need a restart, which is said.
 */
static int
backend_reload(struct ev_loop *loop, const void *old, void *fresh,
    void *arg)
{
	const struct backend_settings *o = old;
	const struct backend_settings *s = fresh;
	struct api_limits lim;
	struct rtm_config rc;
	struct stream_config sc;
	struct shard_map *map;
	const struct shard *me;
	char url[320];

	if (backend_shard_load(s, &map, &me) == -1)
		return -1;
	if (api_keys_reload(bk.api, s->tokens.keys) == -1) {
		shard_map_free(map);
		return -1;
	}
	backend_shards_apply(map, me);
	admin_set_keys(bk.admin, s->tokens.keys);
	backend_limits(s, &lim);
	api_ctx_set_limits(bk.api, &lim);
	api_http_set_trusted(bk.http, s->trusted_proxies.v,
	    s->trusted_proxies.n);
	store_set_map_max(bk.st, s->map_max);
	backend_rtm_config(s, &rc, url, sizeof(url));
	rtm_set_config(bk.rtm, &rc);
	if (bk.stream != NULL) {
		backend_stream_config(s, &sc);
		stream_set_config(bk.stream, &sc);
	}
	if (strcmp(o->data_dir, s->data_dir) != 0 ||
	    o->listen.port != s->listen.port ||
	    strcmp(o->listen.host, s->listen.host) != 0)
		log_warnx("reload: listen and data_dir take effect at the "
			  "next start");
	log_info("reload: keys, limits, map_max %zu KiB and the shard map "
	    "(%zu teams listed) in effect", s->map_max >> 10,
	    shard_map_team_count(bk.shards));
	return 0;
}

/*
 * The writer finishes its queue and the workers their jobs while the
 * HTTP server is still there to take their answers; then the rest goes.
 */
static void
backend_cleanup(struct ev_loop *loop, void *arg)
{
	ev_timer_stop(loop, &bk.drain);
	admin_free(bk.admin);
	if (bk.st != NULL)
		store_writer_stop(bk.st);
	api_ctx_free(bk.api);
	if (bk.http != NULL) {
		api_http_set_rtm(bk.http, NULL);
		api_http_set_stream(bk.http, NULL);
	}
	if (bk.st != NULL)
		store_set_event_hook(bk.st, NULL, NULL);
	if (bk.rtm != NULL)
		rtm_set_ephemeral_hook(bk.rtm, NULL, NULL);
	rtm_free(bk.rtm);
	bk.rtm = NULL;
	stream_free(bk.stream);
	bk.stream = NULL;
	if (bk.stream_tls != NULL)
		SSL_CTX_free(bk.stream_tls);
	bk.stream_tls = NULL;
	api_http_free(bk.http);
	static_root_free(bk.web);
	if (bk.st != NULL)
		store_close(bk.st);
	token_keys_free(bk.keys);
	shard_map_free(bk.shards);
	bk.shards = NULL;
}

int
main(int argc, char **argv)
{
	struct daemon_ops ops;

	memset(&ops, 0, sizeof(ops));
	ops.name = "parley-backend";
	ops.default_conf = "/etc/parley/parley.conf";
	ops.schema = &backend_schema;
	ops.settings = &settings;
	ops.start = backend_start;
	ops.check = backend_check;
	ops.stop = backend_stop;
	ops.reload = backend_reload;
	ops.cleanup = backend_cleanup;
	return daemon_main(argc, argv, &ops);
}
