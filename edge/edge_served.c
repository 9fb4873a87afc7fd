/*
 * edge_served: the teams this edge serves, each fed by one subscription
 * on its shard's link, whatever the number of its clients.
 *
 *   first request or client of a team --> the team is made and
 *     subscribed (fresh: snapshot); requests wait for it
 *   snapshot_end, resume --> ready: the waiting requests go on
 *   event --> applied in order; a gap or a stale team is repaired by a
 *     fresh subscription (snapshot), never skipped
 *   link down --> requests waiting for a snapshot fail at once; a ready
 *     team keeps answering from its cache and is subscribed again from
 *     its epoch and seq when the link is back
 *   no client and no request for team_idle --> unsubscribed and freed
 *
 * A fresh snapshot of a team that had clients (after a gap, or because
 * the store's epoch changed) replaces its history: its RTM clients get
 * resume_failed (edge_rtm_reset), as the backend's do when their resume
 * cannot be served.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "json.h"
#include "log.h"
#include "shard.h"
#include "stream.h"
#include "util.h"
#include "xmalloc.h"

/* Seconds before a team the backend refused is asked for again. */
#define EDGE_RETRY_FAILED 5.0

struct edge_link *
edge_srv_link_for(struct edge_srv *srv, const char *team)
{
	const struct shard *sh = shard_for_team(srv->shards, team);
	size_t i;

	for (i = 0; sh != NULL && i < srv->nlinks; i++)
		if (strcmp(edge_link_name(srv->links[i]), sh->name) == 0)
			return srv->links[i];
	return NULL;
}

struct edge_link *
edge_srv_link_domain(struct edge_srv *srv, const char *domain)
{
	const char *team = domain != NULL ?
	    shard_team_by_domain(srv->shards, domain) : NULL;

	if (team != NULL)
		return edge_srv_link_for(srv, team);
	return srv->nlinks > 0 ? srv->links[0] : NULL;
}

/* Index of team id in srv->teams, or where it would go (as ~index). */
static ssize_t
edge_served_find(const struct edge_srv *srv, const char *id, size_t len)
{
	size_t lo = 0, hi = srv->nteams, mid;
	const char *t;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		t = srv->teams[mid]->team->id;
		c = strncmp(t, id, len);
		if (c == 0 && t[len] != '\0')
			c = 1;
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return ~(ssize_t)lo;
}

static struct edge_served *
edge_served_lookup(const struct edge_srv *srv, const char *id, size_t len)
{
	ssize_t i = edge_served_find(srv, id, len);

	return i >= 0 ? srv->teams[i] : NULL;
}

struct edge_served *
edge_served_get(struct edge_srv *srv, const char *team, int create)
{
	struct edge_served *ts;
	ssize_t i = edge_served_find(srv, team, strlen(team));
	size_t at;

	if (i >= 0) {
		ts = srv->teams[i];
		ts->last_used = ev_now(srv->loop);
		return ts;
	}
	if (!create || srv->stopping)
		return NULL;
	ts = xcalloc(1, sizeof(*ts));
	ts->srv = srv;
	ts->link = edge_srv_link_for(srv, team);
	ts->team = edge_team_new(team, srv->cfg.recent);
	ts->waits_tail = &ts->waits;
	ts->last_used = ev_now(srv->loop);
	at = (size_t)~i;
	if (srv->nteams == srv->teams_cap) {
		srv->teams_cap = srv->teams_cap ? srv->teams_cap * 2 : 16;
		srv->teams = xreallocarray(srv->teams, srv->teams_cap,
		    sizeof(*srv->teams));
	}
	memmove(&srv->teams[at + 1], &srv->teams[at],
	    (srv->nteams - at) * sizeof(*srv->teams));
	srv->teams[at] = ts;
	srv->nteams++;
	log_debug("team %s: served", team);
	if (ts->link != NULL)
		(void)edge_link_subscribe(ts->link, ts, 1);
	return ts;
}

int
edge_served_ready(const struct edge_served *ts)
{
	return ts->team->ready;
}

/* Runs (and empties) the list of waits with err. */
static void
edge_served_run_waits(struct edge_served *ts, const char *err)
{
	struct edge_wait *w, *next;

	w = ts->waits;
	ts->waits = NULL;
	ts->waits_tail = &ts->waits;
	ts->load_start = 0;
	for (; w != NULL; w = next) {
		next = w->next;
		w->fn(ts, w->arg, err);
		free(w);
	}
}

void
edge_served_wait(struct edge_served *ts,
    void (*fn)(struct edge_served *, void *, const char *), void *arg)
{
	struct edge_wait *w;

	ts->last_used = ev_now(ts->srv->loop);
	if (ts->team->ready) {
		fn(ts, arg, NULL);
		return;
	}
	if (ts->failed && ev_now(ts->srv->loop) - ts->failed_at <
	    EDGE_RETRY_FAILED) {
		fn(ts, arg, "invalid_auth");
		return;
	}
	if (ts->link == NULL || edge_link_state(ts->link) != EDGE_LINK_UP) {
		fn(ts, arg, "service_unavailable");
		return;
	}
	if (!ts->subscribed && edge_link_subscribe(ts->link, ts, 1) == -1) {
		fn(ts, arg, "service_unavailable");
		return;
	}
	ts->failed = 0;
	w = xcalloc(1, sizeof(*w));
	w->fn = fn;
	w->arg = arg;
	*ts->waits_tail = w;
	ts->waits_tail = &w->next;
	if (ts->load_start == 0)
		ts->load_start = ev_now(ts->srv->loop);
}

/* ---- revocations ---- */

static int
edge_served_revoked_find(const struct edge_served *ts, const char *id,
    size_t *at)
{
	size_t lo = 0, hi = ts->nrevoked, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strcmp(ts->revoked[mid], id);
		if (c == 0) {
			*at = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return 0;
}

int
edge_served_revoked(const struct edge_served *ts, const char *token_id)
{
	size_t at;

	return edge_served_revoked_find(ts, token_id, &at);
}

/* Remembers a revoked token id (kept while the team is cached). */
static void
edge_served_revoke_add(struct edge_served *ts, const char *id)
{
	size_t at;

	if (edge_served_revoked_find(ts, id, &at))
		return;
	if (ts->nrevoked == ts->revoked_cap) {
		ts->revoked_cap = ts->revoked_cap ? ts->revoked_cap * 2 : 8;
		ts->revoked = xreallocarray(ts->revoked, ts->revoked_cap,
		    sizeof(*ts->revoked));
	}
	memmove(&ts->revoked[at + 1], &ts->revoked[at],
	    (ts->nrevoked - at) * sizeof(*ts->revoked));
	ts->revoked[at] = xstrdup(id);
	ts->nrevoked++;
}

/*
 * The revoked part of a snapshot: a JSON array of token ids.  Returns 0,
 * or -1 when it is not one.
 */
static int
edge_served_revoked_part(struct edge_served *ts, const char *json,
    size_t len)
{
	json_t *a, *v;
	size_t i;

	a = json_parse_strict(json, len, EDGE_PART_MAX, 4, NULL, 0);
	if (a == NULL || !json_is_array(a)) {
		json_decref(a);
		return -1;
	}
	json_array_foreach(a, i, v) {
		if (json_is_string(v) && json_string_length(v) > 0 &&
		    json_string_length(v) < 64)
			edge_served_revoke_add(ts, json_string_value(v));
	}
	json_decref(a);
	return 0;
}

/*
 * The events part of a snapshot: [{"seq":N,"event":{...}},...], the
 * events up to the snapshot's seq, into the replay ring.  Returns 0, or
 * -1 when it is not that.
 */
static int
edge_served_events_part(struct edge_served *ts, const char *json,
    size_t len)
{
	json_t *a, *v, *ev;
	json_int_t seq;
	size_t i, n;
	char *s;

	a = json_parse_strict(json, len, EDGE_PART_MAX, 40, NULL, 0);
	if (a == NULL || !json_is_array(a)) {
		json_decref(a);
		return -1;
	}
	json_array_foreach(a, i, v) {
		seq = json_integer_value(json_object_get(v, "seq"));
		ev = json_object_get(v, "event");
		if (seq <= 0 || (uint64_t)seq > ts->team->seq ||
		    !json_is_object(ev))
			continue;
		s = json_dump_compact(ev, &n);
		edge_ring_fill(ts, (uint64_t)seq, s, n);
		free(s);
	}
	json_decref(a);
	return 0;
}

/* ---- frames ---- */

static void
edge_served_free(struct edge_served *ts)
{
	size_t i;

	edge_rtm_revoke(ts, NULL, NULL);
	edge_served_run_waits(ts, "service_unavailable");
	edge_ring_clear(ts);
	free(ts->ring);
	for (i = 0; i < ts->nrevoked; i++)
		free(ts->revoked[i]);
	free(ts->revoked);
	edge_team_free(ts->team);
	free(ts);
}

/* Takes ts out of the table and frees it. */
static void
edge_served_drop(struct edge_srv *srv, struct edge_served *ts)
{
	ssize_t i = edge_served_find(srv, ts->team->id,
	    strlen(ts->team->id));

	if (i >= 0) {
		memmove(&srv->teams[i], &srv->teams[i + 1],
		    (srv->nteams - (size_t)i - 1) * sizeof(*srv->teams));
		srv->nteams--;
	}
	edge_served_free(ts);
}

static void
edge_served_resubscribe(struct edge_served *ts, const char *why)
{
	ts->srv->stats.gaps++;
	log_info("team %s: %s at seq %" PRIu64 ": subscribing again for a "
	    "fresh snapshot", ts->team->id, why, ts->team->seq);
	ts->team->stale = 1;
	ts->subscribed = 0;
	if (ts->link != NULL)
		(void)edge_link_subscribe(ts->link, ts, 1);
}

/* A snapshot begins: the ring and the cached pointers go. */
static int
edge_served_snapshot(struct edge_served *ts, const struct stream_msg *m,
    const char **err)
{
	struct edge_team *t = ts->team;
	int had = t->ready || t->stale;

	/* What the clients saw is replaced: tell them at the end. */
	if (had && ts->nconns > 0) {
		if (m->epoch.len != strlen(t->epoch) ||
		    memcmp(m->epoch.p, t->epoch, m->epoch.len) != 0)
			ts->reset_reason = "epoch_changed";
		else
			ts->reset_reason = "seq_too_old";
	}
	edge_ring_clear(ts);
	ts->gen++;
	return edge_team_frame(t, m, NULL, err);
}

void
edge_served_frame(struct edge_srv *srv, struct edge_link *l,
    const struct stream_msg *m)
{
	struct edge_served *ts;
	struct edge_audience aud;
	const char *err = "";
	char id[STREAM_TOKEN_MAX + 1];
	int r;

	ts = m->team.p != NULL ? edge_served_lookup(srv, m->team.p,
	    m->team.len) : NULL;
	if (ts == NULL || ts->link != l) {
		log_debug("link %s: %s frame for a team not served",
		    edge_link_name(l), stream_type_name(m->type));
		return;
	}
	switch (m->type) {
	case STREAM_ERROR:
		/*
		 * The backend does not serve the team (unknown_team).  Its
		 * clients are cut and requests refused; the team stays until
		 * it is idle, and a request after a while asks again.
		 */
		log_info("team %s: the backend refused it: %.*s",
		    ts->team->id, (int)m->code.len, m->code.p);
		ts->failed = 1;
		ts->failed_at = ev_now(srv->loop);
		ts->subscribed = 0;
		ts->fresh_out = 0;
		edge_rtm_revoke(ts, NULL, NULL);
		edge_served_run_waits(ts, "invalid_auth");
		return;
	case STREAM_REVOKE:
		if (m->token.p != NULL) {
			memcpy(id, m->token.p, m->token.len);
			id[m->token.len] = '\0';
			edge_served_revoke_add(ts, id);
			edge_rtm_revoke(ts, id, NULL);
		}
		if (m->user.p != NULL) {
			memcpy(id, m->user.p, m->user.len);
			id[m->user.len] = '\0';
			edge_rtm_revoke(ts, NULL, id);
		}
		return;
	case STREAM_SNAPSHOT:
		r = edge_served_snapshot(ts, m, &err);
		break;
	case STREAM_SNAPSHOT_PART:
		if (m->kind == STREAM_PART_EVENTS) {
			r = edge_served_events_part(ts, m->json.p,
			    m->json.len);
			if (r == -1)
				err = "events part is not an array of events";
			break;
		}
		if (m->kind == STREAM_PART_REVOKED) {
			r = edge_served_revoked_part(ts, m->json.p,
			    m->json.len);
			if (r == -1)
				err = "revoked part is not an array";
			break;
		}
		r = edge_team_frame(ts->team, m, NULL, &err);
		break;
	case STREAM_SNAPSHOT_END:
		r = edge_team_frame(ts->team, m, NULL, &err);
		if (r == -1)
			break;
		srv->stats.snapshots++;
		ts->fresh_out = 0;
		edge_ring_loaded(ts);
		log_info("team %s: snapshot of epoch %s at seq %" PRIu64
		    " loaded", ts->team->id, ts->team->epoch, ts->team->seq);
		if (ts->reset_reason != NULL) {
			edge_rtm_reset(ts, ts->reset_reason);
			ts->reset_reason = NULL;
		}
		edge_served_run_waits(ts, NULL);
		return;
	case STREAM_RESUME:
		r = edge_team_frame(ts->team, m, NULL, &err);
		if (r == EDGE_APPLY_OK) {
			srv->stats.resumes++;
			log_info("team %s: resumed at seq %" PRIu64,
			    ts->team->id, ts->team->seq);
			edge_served_run_waits(ts, NULL);
			return;
		}
		break;
	case STREAM_EVENT:
	case STREAM_EPHEMERAL:
		r = edge_team_frame(ts->team, m, &aud, &err);
		if (r == EDGE_APPLY_OK) {
			if (m->type == STREAM_EVENT)
				srv->stats.events++;
			edge_rtm_event(ts, m->type == STREAM_EVENT ? m->seq : 0,
			    m->json.p, m->json.len, &aud);
			return;
		}
		if (r == EDGE_APPLY_BAD) {
			log_info("team %s: event %" PRIu64 " not applied",
			    ts->team->id, m->seq);
			return;
		}
		break;
	default:
		log_info("link %s: unexpected %s frame", edge_link_name(l),
		    stream_type_name(m->type));
		return;
	}

	if (r == EDGE_APPLY_GAP) {
		/* events still in flight before the fresh snapshot: quiet */
		if (!ts->fresh_out)
			edge_served_resubscribe(ts, "gap");
		return;
	}
	if (r == -1) {
		log_warnx("team %s: %s frame refused: %s; waiting for a new "
		    "snapshot", ts->team->id, stream_type_name(m->type), err);
		ts->subscribed = 0;
		edge_served_run_waits(ts, "internal_error");
	}
}

void
edge_served_link_up(struct edge_srv *srv, struct edge_link *l)
{
	size_t i;

	for (i = 0; i < srv->nteams; i++)
		if (srv->teams[i]->link == l)
			(void)edge_link_subscribe(l, srv->teams[i], 0);
}

void
edge_served_link_down(struct edge_srv *srv, struct edge_link *l)
{
	struct edge_served *ts;
	size_t i;

	for (i = 0; i < srv->nteams; i++) {
		ts = srv->teams[i];
		if (ts->link != l)
			continue;
		ts->subscribed = 0;
		ts->fresh_out = 0;
		if (ts->waits != NULL)
			edge_served_run_waits(ts, "service_unavailable");
	}
}

void
edge_served_sweep(struct edge_srv *srv, double now)
{
	struct edge_served *ts;
	size_t i;

	for (i = 0; i < srv->nteams;) {
		ts = srv->teams[i];
		if (ts->waits != NULL && ts->load_start > 0 &&
		    now - ts->load_start > srv->cfg.load_timeout) {
			log_warnx("team %s: no snapshot in %.0fs",
			    ts->team->id, srv->cfg.load_timeout);
			edge_served_run_waits(ts, "service_unavailable");
		}
		if (ts->nconns == 0 && ts->waits == NULL &&
		    now - ts->last_used > srv->cfg.team_idle) {
			log_info("team %s: idle for %.0fs: evicted",
			    ts->team->id, now - ts->last_used);
			if (ts->link != NULL && ts->subscribed)
				edge_link_unsubscribe(ts->link, ts->team->id);
			srv->stats.evictions++;
			edge_served_drop(srv, ts);
			continue;
		}
		i++;
	}
}

void
edge_served_free_all(struct edge_srv *srv)
{
	size_t i;

	for (i = 0; i < srv->nteams; i++)
		edge_served_free(srv->teams[i]);
	free(srv->teams);
	srv->teams = NULL;
	srv->nteams = srv->teams_cap = 0;
}

size_t
edge_served_memory(const struct edge_srv *srv, size_t *ready)
{
	size_t i, n = 0, bytes = 0;

	for (i = 0; i < srv->nteams; i++) {
		if (srv->teams[i]->team->ready)
			n++;
		bytes += edge_team_memory(srv->teams[i]->team);
	}
	if (ready != NULL)
		*ready = n;
	return bytes;
}
