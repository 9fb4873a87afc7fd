/*
 * parley-health: the health endpoint that DNS health checks and HAProxy
 * agent checks poll.  See docs/health.md.
 *
 *   parley-health -c parley.conf     section [health]
 *
 * Signals, besides the daemon's own (TERM, INT, HUP):
 *   SIGUSR1  drain: the check answers 503 "draining" and the agent-check
 *            says "drain", while everything keeps serving
 *   SIGUSR2  back from drain
 * The drain_file, when configured, drains while it exists, so that a tool
 * without the daemon's pid (parleyctl) can drain and undrain by creating
 * and removing it.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "health.h"
#include "log.h"
#include "tls.h"

static struct health_settings health_settings;
static struct health health;
static ev_signal sig_drain, sig_undrain;
static ev_stat drain_stat;

static void
main_set_drain(struct health *h, int by_signal, int by_file)
{
	if (by_signal >= 0 && h->draining != by_signal) {
		h->draining = by_signal;
		log_info("drain %s by signal", by_signal ? "on" : "off");
	}
	if (by_file >= 0 && h->drain_by_file != by_file) {
		h->drain_by_file = by_file;
		log_info("drain %s: %s %s", by_file ? "on" : "off",
		    h->drain_file, by_file ? "exists" : "removed");
	}
	health_update(h);
}

static void
main_sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	main_set_drain(w->data, w->signum == SIGUSR1, -1);
}

static void
main_stat_cb(struct ev_loop *loop, ev_stat *w, int revents)
{
	main_set_drain(w->data, -1, w->attr.st_nlink != 0);
}

static int
main_start(struct ev_loop *loop, void *settings, void *arg)
{
	struct health *h = arg;
	char err[CONF_ERRLEN];

	if (health_build(h, settings, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	h->loop = loop;
	h->started = health_now();
	health_update(h);

	ev_signal_init(&sig_drain, main_sig_cb, SIGUSR1);
	sig_drain.data = h;
	ev_signal_start(loop, &sig_drain);
	ev_signal_init(&sig_undrain, main_sig_cb, SIGUSR2);
	sig_undrain.data = h;
	ev_signal_start(loop, &sig_undrain);
	if (h->drain_file != NULL) {
		ev_stat_init(&drain_stat, main_stat_cb, h->drain_file, 1.0);
		drain_stat.data = h;
		ev_stat_start(loop, &drain_stat);
		h->drain_by_file = drain_stat.attr.st_nlink != 0;
		health_update(h);
	}

	if (health_http_listen(h, settings) == -1 ||
	    health_agentcheck_listen(
	        h, &((struct health_settings *)settings)->agent_check_listen) ==
	        -1)
		return -1;
	health_probes_start(h);
	log_info("started: %zu probes, check %d", h->nprobes, h->check_status);
	return 0;
}

/*
 * -t: the settings must build as at start and the TLS certificate and
 * key must load; no socket is opened.
 */
static int
main_check(const void *settings, void *arg)
{
	const struct health_settings *s = settings;
	struct health tmp;
	char err[CONF_ERRLEN];
	SSL_CTX *ctx;
	int rc = 0;

	if (health_build(&tmp, s, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		rc = -1;
	}
	health_free(&tmp);
	if (rc == 0 && s->listen_tls.port != 0) {
		ctx = tls_server_ctx_new(&s->tls, err, sizeof(err));
		if (ctx == NULL) {
			log_warnx("listen_tls: %s", err);
			rc = -1;
		}
		SSL_CTX_free(ctx);
	}
	return rc;
}

static void
main_stop(struct ev_loop *loop, void *arg)
{
	struct health *h = arg;

	health_probes_stop(h);
	health_agentcheck_stop(h);
	health_http_stop(h);
	ev_signal_stop(loop, &sig_drain);
	ev_signal_stop(loop, &sig_undrain);
	if (h->drain_file != NULL)
		ev_stat_stop(loop, &drain_stat);
	daemon_exit(loop);
}

/*
 * SIGHUP: re-reads the TLS certificate; other settings (probes, ports)
 * need a restart, so the running ones are kept and that is logged.
 */
static int
main_reload(struct ev_loop *loop, const void *old, void *fresh, void *arg)
{
	struct health *h = arg;

	if (health_http_reload_tls(h, fresh) == -1)
		return -1;
	log_info("reload: probes and listeners change on restart only");
	return 0;
}

static void
main_cleanup(struct ev_loop *loop, void *arg)
{
	struct health *h = arg;

	health_http_free(h);
	health_free(h);
}

int
main(int argc, char **argv)
{
	static const struct daemon_ops ops = {
		.name = "parley-health",
		.default_conf = "parley.conf",
		.schema = &health_schema,
		.settings = &health_settings,
		.arg = &health,
		.start = main_start,
		.check = main_check,
		.stop = main_stop,
		.reload = main_reload,
		.cleanup = main_cleanup,
	};

	return daemon_main(argc, argv, &ops);
}
