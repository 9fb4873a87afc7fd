/*
 * health_probe: the probes, run in the background on the daemon's loop.
 *
 * Every probe has a repeating timer (its interval).  A check of a remote
 * probe is one non-blocking connection:
 *
 *   IDLE --tick--> CONNECT --writable--> SEND --sent--> RECV --+--> IDLE
 *                     |                   |               |    |
 *                     +-------------------+---------------+----+
 *                          error, EOF too early, deadline: failure
 *
 *   HAPROXY  sends "show stat\n" on the stats socket and reads the CSV
 *            to EOF; ok when the backend has min_up servers UP.
 *   HTTP     sends GET <healthz_path>; ok on a 2xx status line.
 *   AGENT    sends a HAPROXY-HELLO with healthcheck set; ok on a valid
 *            AGENT-HELLO.
 *   DISK     statvfs() on the store's directory, at once.
 *
 * A check never outlives its timeout (timeout <= interval is enforced by
 * the configuration), so at most one check per probe is in flight.  Each
 * result goes through health_probe_record() and health_update(), which
 * rebuilds the answers when the verdict changes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "health.h"
#include "log.h"
#include "xmalloc.h"

enum {
	PHASE_IDLE,
	PHASE_CONNECT,
	PHASE_SEND,
	PHASE_RECV,
};

static void probe_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Wall clock in seconds. */
double
health_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/*
 * Parses an HTTP status line at the start of buf[0..len): "HTTP/1.x NNN".
 * Returns 1 and sets *status once the line is complete, 0 when more is
 * needed, -1 when it is not an HTTP/1 status line or runs past 1 KiB.
 */
int
health_http_status_line(const char *buf, size_t len, int *status)
{
	static const char pfx[] = "HTTP/1.";
	const char *eol = memchr(buf, '\n', len);
	size_t n = eol != NULL ? (size_t)(eol - buf) : len;
	size_t i;

	for (i = 0; i < sizeof(pfx) - 1 && i < n; i++)
		if (buf[i] != pfx[i])
			return -1;
	if (eol == NULL)
		return len > 1024 ? -1 : 0;
	if (n < 12 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
		return -1;
	for (i = 9; i < 12; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
	if (n > 12 && buf[12] != ' ' && buf[12] != '\r')
		return -1;
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (*status < 100)
		return -1;
	return 1;
}

/*
 * Recomputes the verdict; when it changed, logs it and rebuilds the check
 * body that the listeners serve.
 */
void
health_update(struct health *h)
{
	struct health_verdict v;

	health_verdict(h, &v);
	if (h->check_body != NULL && v.level == h->verdict.level &&
	    v.draining == h->verdict.draining &&
	    strcmp(v.detail, h->verdict.detail) == 0)
		return;
	if (h->check_body != NULL &&
	    (v.level != h->verdict.level || v.draining != h->verdict.draining))
		log_info("verdict %s%s -> %s%s%s%s",
		    health_level_name(h->verdict.level),
		    h->verdict.draining ? " (draining)" : "",
		    health_level_name(v.level), v.draining ? " (draining)" : "",
		    v.detail[0] != '\0' ? ": " : "", v.detail);
	h->verdict = v;
	health_render_check(h);
}

/* Ends the check in flight with its result and records it. */
static void
probe_finish(struct health_probe *p, int ok, const char *msg)
{
	struct health *h = p->h;

	if (p->fd != -1) {
		ev_io_stop(h->loop, &p->io);
		close(p->fd);
		p->fd = -1;
	}
	ev_timer_stop(h->loop, &p->deadline);
	free(p->wbuf);
	p->wbuf = NULL;
	p->rlen = 0;
	p->phase = PHASE_IDLE;
	p->last_latency = ev_now(h->loop) - p->started;
	if (p->last_latency < 0)
		p->last_latency = 0;

	if (health_probe_record(p, ok, msg, health_now()))
		log_info("probe %s is %s: %s", p->name,
		    health_pstate_name(p->state), p->last_msg);
	else if (!ok)
		log_debug("probe %s failed: %s", p->name, p->last_msg);
	health_update(h);
}

/*
 * Looks at what a HAPROXY probe read (the whole answer, at EOF) and ends
 * the check.
 */
static void
probe_haproxy_done(struct health_probe *p)
{
	struct health_stats_backend be = { 0 };
	char err[96], msg[HEALTH_MSG_MAX];

	be.name = p->backend;
	if (health_stats_parse(p->rbuf, p->rlen, &be, err, sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "stats: %s", err);
		probe_finish(p, 0, msg);
		return;
	}
	if (!be.found) {
		snprintf(msg, sizeof(msg), "%s not in stats",
		    p->backend != NULL ? p->backend : "any proxy");
		probe_finish(p, 0, msg);
		return;
	}
	p->scur = be.scur;
	snprintf(msg, sizeof(msg), "%d of %d servers UP, need %d", be.up,
	    be.servers, p->min_up);
	probe_finish(p, be.up >= p->min_up, msg);
}

/*
 * Looks at what an HTTP or AGENT probe has read so far.  Ends the check
 * and returns 1 when it is decided, returns 0 when more is needed.
 */
static int
probe_try_answer(struct health_probe *p)
{
	char msg[HEALTH_MSG_MAX];
	int status, rc;

	if (p->kind == HEALTH_KIND_HTTP) {
		rc = health_http_status_line(p->rbuf, p->rlen, &status);
		if (rc == 0)
			return 0;
		if (rc == -1) {
			probe_finish(p, 0, "not an HTTP answer");
			return 1;
		}
		snprintf(msg, sizeof(msg), "HTTP %d", status);
		probe_finish(p, status >= 200 && status < 300, msg);
		return 1;
	}

	if (p->kind == HEALTH_KIND_AGENT) {
		rc = health_spop_answer(p->rbuf, p->rlen, msg, sizeof(msg));
		if (rc == 0)
			return 0;
		probe_finish(p, rc == 1, msg);
		return 1;
	}
	return 0;
}

/* Builds the request a remote probe sends into p->wbuf. */
static void
probe_request(struct health_probe *p)
{
	struct health *h = p->h;

	p->woff = 0;
	switch (p->kind) {
	case HEALTH_KIND_HAPROXY:
		p->wbuf = xstrdup("show stat\n");
		p->wlen = strlen(p->wbuf);
		break;
	case HEALTH_KIND_HTTP:
		p->wbuf = xasprintf("GET %s HTTP/1.1\r\nHost: %s\r\n"
		                    "User-Agent: parley-health\r\n"
		                    "Connection: close\r\n\r\n",
		    h->healthz_path, p->addr.text);
		p->wlen = strlen(p->wbuf);
		break;
	case HEALTH_KIND_AGENT:
		p->wbuf = xmalloc(512);
		p->wlen = health_spop_hello(p->wbuf, 512);
		break;
	default:
		p->wbuf = NULL;
		p->wlen = 0;
		break;
	}
}

/* Runs a DISK check at once: free space against both thresholds. */
static void
probe_disk(struct health_probe *p)
{
	struct health *h = p->h;
	struct statvfs sv;
	char msg[HEALTH_MSG_MAX];
	uint64_t avail, total;
	double pct;
	int ok;

	/* XXX: statvfs() blocks the loop if the store is on a hung mount */
	if (statvfs(p->dir, &sv) == -1) {
		snprintf(msg, sizeof(msg), "statvfs: %s", strerror(errno));
		probe_finish(p, 0, msg);
		return;
	}
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	pct = total > 0 ? 100.0 * (double)avail / (double)total : 0;
	ok = avail >= h->disk_min_free_bytes && pct >= h->disk_min_free_pct;
	snprintf(msg, sizeof(msg), "%" PRIu64 " MiB free (%.1f%%)", avail >> 20,
	    pct);
	probe_finish(p, ok, msg);
}

static void
probe_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health_probe *p = w->data;
	static const char *const what[] = { "idle", "connect timeout",
		"send timeout", "answer timeout" };

	probe_finish(p, 0, what[p->phase]);
}

static void
probe_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health_probe *p = w->data;
	char msg[HEALTH_MSG_MAX];

	if (p->phase != PHASE_IDLE)
		return;
	p->started = ev_now(loop);
	if (p->kind == HEALTH_KIND_DISK) {
		probe_disk(p);
		return;
	}

	probe_request(p);
	p->fd = health_socket_connect(&p->addr);
	if (p->fd == -1) {
		snprintf(msg, sizeof(msg), "connect: %s", strerror(errno));
		probe_finish(p, 0, msg);
		return;
	}
	p->phase = PHASE_CONNECT;
	ev_io_init(&p->io, probe_io_cb, p->fd, EV_WRITE);
	p->io.data = p;
	ev_io_start(loop, &p->io);
	ev_timer_set(&p->deadline, p->t.timeout, 0);
	ev_timer_start(loop, &p->deadline);
}

/* Reads what is there; returns 1 at EOF, 0 for more later, -1 on error
 * (the check is then finished). */
static int
probe_read(struct health_probe *p)
{
	char msg[HEALTH_MSG_MAX];
	ssize_t n;

	for (;;) {
		if (p->rcap - p->rlen < 4096) {
			if (p->rcap >= HEALTH_READ_MAX) {
				probe_finish(p, 0, "answer too long");
				return -1;
			}
			p->rcap = p->rcap == 0 ? 16384 : p->rcap * 2;
			p->rbuf = xreallocarray(p->rbuf, p->rcap, 1);
		}
		/* One byte kept for a terminating NUL. */
		n = recv(p->fd, p->rbuf + p->rlen, p->rcap - p->rlen - 1, 0);
		if (n > 0) {
			p->rlen += (size_t)n;
			p->rbuf[p->rlen] = '\0';
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		snprintf(msg, sizeof(msg), "recv: %s", strerror(errno));
		probe_finish(p, 0, msg);
		return -1;
	}
}

static void
probe_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health_probe *p = w->data;
	char msg[HEALTH_MSG_MAX];
	socklen_t sl = sizeof(int);
	int err = 0, rc;
	ssize_t n;

	if (p->phase == PHASE_CONNECT) {
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
		if (err != 0) {
			snprintf(
			    msg, sizeof(msg), "connect: %s", strerror(err));
			probe_finish(p, 0, msg);
			return;
		}
		p->phase = PHASE_SEND;
	}

	if (p->phase == PHASE_SEND) {
		while (p->woff < p->wlen) {
			n = send(p->fd, p->wbuf + p->woff, p->wlen - p->woff,
			    MSG_NOSIGNAL);
			if (n > 0) {
				p->woff += (size_t)n;
				continue;
			}
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
			probe_finish(p, 0, msg);
			return;
		}
		p->phase = PHASE_RECV;
		ev_io_stop(loop, &p->io);
		ev_io_set(&p->io, p->fd, EV_READ);
		ev_io_start(loop, &p->io);
		return;
	}

	rc = probe_read(p);
	if (rc == -1)
		return;
	if (p->kind == HEALTH_KIND_HAPROXY) {
		if (rc == 1)
			probe_haproxy_done(p);
		return;
	}
	if (probe_try_answer(p))
		return;
	if (rc == 1)
		probe_finish(p, 0,
		    p->rlen == 0 ? "closed without answer"
		                 : "answer cut short");
}

/*
 * Starts every probe's timer; the first checks run at once, spread over
 * a few milliseconds.
 */
void
health_probes_start(struct health *h)
{
	size_t i;

	for (i = 0; i < h->nprobes; i++) {
		struct health_probe *p = &h->probes[i];

		p->h = h;
		p->fd = -1;
		p->phase = PHASE_IDLE;
		ev_timer_init(
		    &p->tick, probe_tick_cb, 0.001 * (double)i, p->t.interval);
		p->tick.data = p;
		ev_timer_init(&p->deadline, probe_deadline_cb, p->t.timeout, 0);
		p->deadline.data = p;
		ev_timer_start(h->loop, &p->tick);
	}
}

/* Stops every probe and drops any check in flight (not recorded). */
void
health_probes_stop(struct health *h)
{
	size_t i;

	for (i = 0; i < h->nprobes; i++) {
		struct health_probe *p = &h->probes[i];

		ev_timer_stop(h->loop, &p->tick);
		ev_timer_stop(h->loop, &p->deadline);
		if (p->fd != -1) {
			ev_io_stop(h->loop, &p->io);
			close(p->fd);
			p->fd = -1;
		}
		free(p->wbuf);
		p->wbuf = NULL;
		free(p->rbuf);
		p->rbuf = NULL;
		p->rlen = p->rcap = 0;
		p->phase = PHASE_IDLE;
	}
}
