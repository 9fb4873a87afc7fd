/*
 * health_listen: the listeners.  Everything here answers from memory at
 * once; nothing waits for a probe.
 *
 *   HTTP and HTTPS (common/http.c): GET or HEAD on
 *     path          the check: 200 with the marker, or 503
 *     status_path   the JSON view
 *     metrics_path  Prometheus text
 *     /healthz      200 "ok" while this daemon runs (its own liveness)
 *   anything else 404, other methods 405.  Slow, partial, oversized and
 *   garbage requests get the HTTP server's limits: 408, 431, 400 or a
 *   closed connection within header_timeout.
 *
 *   agent-check: one line on accept (health_agentcheck.c), then close.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

static ev_io agent_listener;
static int agent_fd = -1;

/* Answers one HTTP request from h's state. */
static void
listen_http_handler(struct http_req *r, void *arg)
{
	struct health *h = arg;
	const char *method = http_req_method(r);
	const char *path = http_req_path(r);
	char *body;
	size_t len;

	h->nrequests++;
	http_reply_header(r, "Cache-Control", "no-store");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_reply_header(r, "Allow", "GET, HEAD");
		http_reply_str(r, 405, "text/plain", "method not allowed\n");
		return;
	}
	if (strcmp(path, h->path) == 0) {
		http_reply_buf(r, h->check_status, "text/plain", h->check_buf);
		return;
	}
	if (strcmp(path, h->status_path) == 0) {
		body = health_render_json(h, health_now(), &len);
		http_reply(r, 200, "application/json", body, len);
		free(body);
		return;
	}
	if (strcmp(path, h->metrics_path) == 0) {
		body = health_render_metrics(h, health_now(), &len);
		http_reply(r, 200, "text/plain; version=0.0.4", body, len);
		free(body);
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		/* This daemon's own liveness, for HAProxy and launchers. */
		http_reply_str(r, 200, "text/plain", "ok\n");
		return;
	}
	http_reply_str(r, 404, "text/plain", "not found\n");
}

/* Opens one HTTP listener on a with TLS context tls (may be NULL). */
static int
listen_http_on(struct http_server *srv, const struct conf_addr *a, SSL_CTX *tls)
{
	char port[8], text[300];

	snprintf(port, sizeof(port), "%u", (unsigned)a->port);
	if (http_server_listen(
	        srv, a->host[0] != '\0' ? a->host : NULL, port, tls) == -1)
		return -1;
	log_info("%s listening on %s", tls != NULL ? "HTTPS" : "HTTP",
	    conf_addr_str(a, text, sizeof(text)));
	return 0;
}

/*
 * Opens the HTTP and HTTPS listeners that s configures.  Returns 0, or -1
 * after logging why.
 */
int
health_http_listen(struct health *h, const struct health_settings *s)
{
	struct http_limits lim;
	char err[256];

	if (s->listen.port == 0 && s->listen_tls.port == 0)
		return 0;
	http_limits_default(&lim);
	lim.max_header = 8 * 1024;
	lim.max_body = 1024;
	lim.header_timeout = conf_ms_to_sec(s->header_timeout_ms);
	lim.body_timeout = lim.header_timeout;
	lim.idle_timeout = conf_ms_to_sec(s->idle_timeout_ms);
	lim.max_conns = (unsigned)s->max_conns;
	lim.out_cap = 1024 * 1024;
	h->http = http_server_new(h->loop, &lim, listen_http_handler, h);

	if (s->listen.port != 0 &&
	    listen_http_on(h->http, &s->listen, NULL) == -1)
		return -1;
	if (s->listen_tls.port != 0) {
		h->tls = tls_server_ctx_new(&s->tls, err, sizeof(err));
		if (h->tls == NULL) {
			log_warnx("listen_tls: %s", err);
			return -1;
		}
		if (listen_http_on(h->http, &s->listen_tls, h->tls) == -1)
			return -1;
	}
	return 0;
}

/* Re-reads the certificate and key (SIGHUP).  Returns 0 or -1. */
int
health_http_reload_tls(struct health *h, const struct health_settings *s)
{
	char err[256];

	if (h->tls == NULL)
		return 0;
	if (tls_reload(&h->tls, TLS_SERVER, &s->tls, err, sizeof(err)) == -1) {
		log_warnx("tls reload: %s; keeping the old certificate", err);
		return -1;
	}
	http_server_set_tls(h->http, h->tls);
	log_info("TLS certificate reloaded");
	return 0;
}

/* Stops accepting HTTP; open connections finish (graceful stop). */
void
health_http_stop(struct health *h)
{
	if (h->http != NULL)
		http_server_stop_listening(h->http);
}

/* Frees the HTTP server and the TLS context. */
void
health_http_free(struct health *h)
{
	if (h->http != NULL)
		http_server_free(h->http);
	h->http = NULL;
	if (h->tls != NULL)
		SSL_CTX_free(h->tls);
	h->tls = NULL;
}

static void
agent_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health *h = w->data;
	char line[256];
	size_t len;
	int i, fd;

	/* Bounded, so that a flood of connections cannot starve the loop. */
	for (i = 0; i < 64; i++) {
		fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("agent-check accept");
			return;
		}
		len = health_agentcheck_line(&h->verdict,
		    health_agentcheck_weight(health_local_load(h), h->capacity),
		    line, sizeof(line));
		/* A fresh socket's buffer always holds one short line. */
		if (send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
			log_debug("agent-check send: %s", strerror(errno));
		close(fd);
		h->nagent++;
	}
}

/*
 * Opens the agent-check listener on a, unless its port is 0 (not
 * configured).  Returns 0, or -1 after logging why.
 */
int
health_agentcheck_listen(struct health *h, const struct conf_addr *a)
{
	char text[300];

	if (a->port == 0)
		return 0;
	agent_fd = daemon_listen_tcp(a, 0);
	if (agent_fd == -1)
		return -1;
	daemon_io_start(
	    h->loop, &agent_listener, agent_accept_cb, agent_fd, EV_READ, h);
	log_info("agent-check listening on %s",
	    conf_addr_str(a, text, sizeof(text)));
	return 0;
}

void
health_agentcheck_stop(struct health *h)
{
	if (agent_fd == -1)
		return;
	ev_io_stop(h->loop, &agent_listener);
	close(agent_fd);
	agent_fd = -1;
}
