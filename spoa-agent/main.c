/*
 * parley-spoa: the HAProxy SPOE agent.  See docs/spoa.md.
 *
 *   parley-spoa [-c parley.conf] [-v] [-t]
 *
 * The main thread runs the stats listener and the daemon's signals; the
 * [spoa] threads worker threads answer HAProxy.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "spoa.h"
#include "xmalloc.h"

struct spoa_main {
	struct spoa_policy pol;
	struct spoa_admit *admit;
	struct spoa_worker *workers;
	struct spoa_stats **stats;
	int nworkers;
	int lfd;
	struct spoa_httpd *httpd;
	ev_timer drain_w;
};

static struct spoa_settings spoa_settings;
static struct spoa_main spoa_main_state = {.lfd = -1};

/*
 * Loads the shard map of parley.conf and puts it in use.  Returns 0, or
 * -1 after logging why (the map in use, if any, stays).
 */
static int
spoa_shards_load(void)
{
	struct shard_map *map;
	char err[CONF_ERRLEN];

	map = shard_map_load(daemon_conf_path(), 0, err, sizeof(err));
	if (map == NULL) {
		log_warnx("shards: %s", err);
		return -1;
	}
	if (shard_map_count(map) > 0)
		log_info("%zu shards, %zu teams in the map",
		    shard_map_count(map), shard_map_team_count(map));
	spoa_shard_set(map);
	return 0;
}

static int
spoa_start(struct ev_loop *loop, void *settings, void *arg)
{
	const struct spoa_settings *s = settings;
	struct spoa_main *m = arg;
	struct token_keys *keys;
	char err[CONF_ERRLEN], addr[300];
	int sfd, i;

	keys = token_keys_load(s->tokens.keys, err, sizeof(err));
	if (keys == NULL) {
		log_warnx("%s", err);
		return -1;
	}
	spoa_auth_set_keys(keys);
	if (spoa_shards_load() == -1)
		return -1;

	spoa_policy_init(&m->pol, s);
	m->admit = spoa_admit_new(&m->pol);

	if ((m->lfd = daemon_listen_tcp(&s->listen, 0)) == -1)
		return -1;
	if ((sfd = daemon_listen_tcp(&s->stats_listen, 0)) == -1)
		return -1;

	m->nworkers = s->threads;
	m->workers = xcalloc(m->nworkers, sizeof(*m->workers));
	m->stats = xcalloc(m->nworkers, sizeof(*m->stats));
	for (i = 0; i < m->nworkers; i++) {
		if (spoa_worker_start(&m->workers[i], m->lfd, s->max_conns,
			&m->pol, m->admit) == -1)
			return -1;
		m->stats[i] = &m->workers[i].stats;
	}
	m->httpd = spoa_stats_listen(loop, sfd, m->stats, m->nworkers);

	log_info("SPOP on %s, %d thread%s", conf_addr_str(&s->listen, addr,
	    sizeof(addr)), m->nworkers, m->nworkers == 1 ? "" : "s");
	log_info("stats on http://%s/metrics",
	    conf_addr_str(&s->stats_listen, addr, sizeof(addr)));
	return 0;
}

/* Polls the draining workers; once all are done, ends the loop. */
static void
spoa_drain_check(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct spoa_main *m = t->data;
	int i;

	for (i = 0; i < m->nworkers; i++)
		if (!atomic_load(&m->workers[i].drained))
			return;
	ev_timer_stop(loop, t);
	for (i = 0; i < m->nworkers; i++)
		spoa_worker_join(&m->workers[i]);
	m->nworkers = 0;
	log_info("every SPOP connection said goodbye");
	daemon_exit(loop);
}

/*
 * SIGTERM: the workers answer what HAProxy already sent, say
 * AGENT-DISCONNECT (status 0) on every connection and close; the loop
 * ends when they are done (or at the daemon's stop timeout).
 */
/* -t: the key file must load as it would at start. */
static int
spoa_check(const void *settings, void *arg)
{
	const struct spoa_settings *s = settings;
	struct token_keys *keys;
	struct shard_map *map;
	char err[CONF_ERRLEN];

	keys = token_keys_load(s->tokens.keys, err, sizeof(err));
	if (keys == NULL) {
		log_warnx("%s", err);
		return -1;
	}
	token_keys_free(keys);
	map = shard_map_load(daemon_conf_path(), 0, err, sizeof(err));
	if (map == NULL) {
		log_warnx("shards: %s", err);
		return -1;
	}
	shard_map_free(map);
	return 0;
}

static void
spoa_stop(struct ev_loop *loop, void *arg)
{
	struct spoa_main *m = arg;
	int i;

	for (i = 0; i < m->nworkers; i++)
		spoa_worker_drain(&m->workers[i]);
	daemon_timer_start(loop, &m->drain_w, spoa_drain_check, 0.01, 0.01,
	    m);
}

/*
 * SIGHUP: a new key file and shard map take effect at once; the other
 * settings (the listeners, threads and decision policy) at the next
 * start.  A shard map that does not load leaves the one in use.
 */
static int
spoa_reload(struct ev_loop *loop, const void *old, void *fresh, void *arg)
{
	const struct spoa_settings *s = fresh;
	struct token_keys *keys;
	char err[CONF_ERRLEN];

	keys = token_keys_load(s->tokens.keys, err, sizeof(err));
	if (keys == NULL) {
		log_warnx("%s; keeping the keys in use", err);
		return -1;
	}
	if (spoa_shards_load() == -1) {
		token_keys_free(keys);
		return -1;
	}
	spoa_auth_set_keys(keys);
	log_info("signing keys reloaded, and the shard map; other [spoa] "
		 "settings apply at the next start");
	return 0;
}

static void
spoa_cleanup(struct ev_loop *loop, void *arg)
{
	struct spoa_main *m = arg;
	int i;

	ev_timer_stop(loop, &m->drain_w);
	for (i = 0; i < m->nworkers; i++)
		spoa_worker_join(&m->workers[i]);
	spoa_stats_close(m->httpd);
	if (m->lfd != -1)
		close(m->lfd);
	free(m->workers);
	free(m->stats);
	spoa_admit_free(m->admit);
	spoa_policy_free(&m->pol);
	spoa_auth_cleanup();
	spoa_shard_cleanup();
}

int
main(int argc, char **argv)
{
	static const struct daemon_ops ops = {
		.name = "parley-spoa",
		.default_conf = "parley.conf",
		.schema = &spoa_schema,
		.settings = &spoa_settings,
		.arg = &spoa_main_state,
		.start = spoa_start,
		.check = spoa_check,
		.stop = spoa_stop,
		.reload = spoa_reload,
		.cleanup = spoa_cleanup,
	};

	return daemon_main(argc, argv, &ops);
}
