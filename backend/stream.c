/*
 * stream: the backend's listener for edges (docs/stream.md).
 *
 * An edge connects over TLS 1.3 with a client certificate that the
 * server context verifies against the configured CA; a peer that fails
 * the handshake (plain TCP, another CA, no certificate) is refused and
 * logged at info.  Each connection is a session: hello first, then any
 * number of subscriptions (one per team), forwarded Web API calls and
 * keepalives.
 *
 * A subscription never misses an event and never repeats one.  It is
 * registered for live events before the log is read; while it catches
 * up from the log (in batches, from a timer) live events are left to
 * the log, which already holds them (the hook runs after the commit);
 * once caught up, live events go out as they come, and any the log
 * already gave (sent_seq) are dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "buf.h"
#include "conn.h"
#include "daemon.h"
#include "json.h"
#include "log.h"
#include "mpframe.h"
#include "stream.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/backend.h"

struct stream_sub {
	struct stream_peer *p;
	char team[STORE_ID_SIZE];
	uint64_t sent_seq; /* events up to here are sent or skipped */
	int catching_up; /* reading the log, live events wait */
	struct stream_sub *pnext; /* the peer's subscriptions */
	struct stream_sub *aprev, *anext; /* every subscription */
	struct stream_sub *rnext; /* catch-ups in progress */
	int on_replay;
};

struct stream_peer {
	struct stream_srv *s;
	struct conn *c; /* NULL for a test session */
	void (*out)(void *arg, const void *p, size_t len); /* test session */
	void *out_arg;
	struct mpframe_dec dec;
	struct stream_peer *prev, *next;
	struct stream_sub *subs;
	size_t out_cap;
	double last_rx, last_tx;
	int hello; /* the edge's hello arrived */
	int closed;
	char peer[64];
	char name[STREAM_NAME_MAX + 1];
};

struct stream_srv {
	struct ev_loop *loop;
	struct api_ctx *api;
	struct store *st;
	struct rtm *rtm;
	struct stream_config cfg;
	SSL_CTX *tls;
	int lfd;
	ev_io accept_io;
	ev_timer tick; /* keepalives and timeouts */
	ev_timer replay_timer; /* catch-up steps */
	struct stream_peer *peers;
	struct stream_sub *subs; /* every subscription, for the event hook */
	struct stream_sub *replay;
	struct stream_stats stats;
	int shut;
};

static void stream_peer_close(struct stream_peer *p, const char *why);
static void stream_replay_arm(struct stream_srv *s, double after);

void
stream_config_default(struct stream_config *cfg)
{
	cfg->keepalive = 10;
	cfg->timeout = 30;
	cfg->out_cap = 64u << 20;
	cfg->max_frame = 4u << 20;
	cfg->replay_batch = 512;
	cfg->snap_messages = 20;
	cfg->snap_part = 1u << 20;
	cfg->snap_events = 1000;
}

struct api_ctx *
stream_peer_api(struct stream_peer *p)
{
	return p->s->api;
}

struct rtm *
stream_peer_rtm(struct stream_peer *p)
{
	return p->s->rtm;
}

void
stream_set_rtm(struct stream_srv *s, struct rtm *r)
{
	s->rtm = r;
}

struct store *
stream_peer_store(struct stream_peer *p)
{
	return p->s->st;
}

const struct stream_config *
stream_peer_config(struct stream_peer *p)
{
	return &p->s->cfg;
}

const char *
stream_peer_name(struct stream_peer *p)
{
	return p->name[0] != '\0' ? p->name : p->peer;
}

void
stream_count_result(struct stream_peer *p)
{
	p->s->stats.results++;
}

/* ---- output ---- */

/*
 * Queues b (the caller keeps its reference).  Past the output cap the
 * peer gets an error frame saying so and is closed.  Returns 0, or -1
 * when the peer is (now) closed.
 */
static int
stream_peer_send_buf(struct stream_peer *p, struct buf *b)
{
	static const char full[] = "output_full";
	struct stream_msg m;
	msgpack_sbuffer sb;
	const char *err;

	if (p->closed)
		return -1;
	p->last_tx = ev_now(p->s->loop);
	if (p->c == NULL) {
		if (p->out != NULL)
			p->out(p->out_arg, b->data, b->len);
		return 0;
	}
	if (p->c->out.bytes + b->len <= p->out_cap) {
		if (conn_send(p->c, b) == 0)
			return 0;
		stream_peer_close(p, "cannot queue output");
		return -1;
	}

	/* The connection keeps room past the cap for this one frame. */
	p->s->stats.closed_full++;
	memset(&m, 0, sizeof(m));
	m.type = STREAM_ERROR;
	m.code = stream_str(full);
	m.message = stream_str("the edge did not read its stream: closed");
	msgpack_sbuffer_init(&sb);
	if (stream_msg_write(&sb, &m, &err) == 0)
		(void)conn_send_copy(p->c, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	log_info("stream: %s: over its output cap of %zu bytes, closed",
	    stream_peer_name(p), p->out_cap);
	p->closed = 1;
	stream_forward_detach(p);
	conn_close_flush(p->c, 2.);
	return -1;
}

int
stream_peer_send_msg(struct stream_peer *p, const struct stream_msg *m)
{
	msgpack_sbuffer sb;
	const char *err;
	struct buf *b;
	int rc;

	msgpack_sbuffer_init(&sb);
	if (stream_msg_write(&sb, m, &err) == -1) {
		log_warnx("stream: %s frame to %s not sent: %s",
		    stream_type_name(m->type), stream_peer_name(p), err);
		msgpack_sbuffer_destroy(&sb);
		return 0;
	}
	b = buf_from(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	rc = stream_peer_send_buf(p, b);
	buf_unref(b);
	return rc;
}

/* Sends an error frame (team and id may be NULL / 0). */
static int
stream_peer_error(struct stream_peer *p, const char *code, const char *message,
    const char *team, uint64_t id)
{
	struct stream_msg m;

	memset(&m, 0, sizeof(m));
	m.type = STREAM_ERROR;
	m.code = stream_str(code);
	m.message = stream_str(message);
	m.team = stream_str(team);
	m.id = id;
	return stream_peer_send_msg(p, &m);
}

/* ---- subscriptions ---- */

static void
stream_sub_free(struct stream_srv *s, struct stream_sub *sub)
{
	struct stream_sub **pp;

	if (sub->aprev != NULL)
		sub->aprev->anext = sub->anext;
	else
		s->subs = sub->anext;
	if (sub->anext != NULL)
		sub->anext->aprev = sub->aprev;
	if (sub->on_replay) {
		for (pp = &s->replay; *pp != NULL; pp = &(*pp)->rnext)
			if (*pp == sub) {
				*pp = sub->rnext;
				break;
			}
	}
	free(sub);
}

/* Drops p's subscription to team; 1 if there was one. */
static int
stream_unsubscribe(struct stream_peer *p, const char *team)
{
	struct stream_sub **pp, *sub;

	for (pp = &p->subs; (sub = *pp) != NULL; pp = &sub->pnext) {
		if (strcmp(sub->team, team) == 0) {
			*pp = sub->pnext;
			stream_sub_free(p->s, sub);
			return 1;
		}
	}
	return 0;
}

void
stream_close_elsewhere(struct stream_srv *s)
{
	struct stream_peer *p, *next;
	struct stream_sub *sub;
	char team[STORE_ID_SIZE];

	if (s == NULL || s->api == NULL)
		return;
	for (p = s->peers; p != NULL; p = next) {
		next = p->next;
		while (!p->closed) {
			for (sub = p->subs; sub != NULL; sub = sub->pnext)
				if (api_team_where(s->api, sub->team) >=
				    API_TEAM_LEAVING)
					break;
			if (sub == NULL)
				break;
			util_strlcpy(team, sub->team, sizeof(team));
			(void)stream_unsubscribe(p, team);
			log_info("stream: %s: %s moved to another shard",
			    stream_peer_name(p), team);
			if (stream_peer_error(p, "team_not_here",
			    "the team moved to another shard", team, 0) == -1)
				break;
		}
	}
}

static struct stream_sub *
stream_sub_new(struct stream_peer *p, const char *team)
{
	struct stream_srv *s = p->s;
	struct stream_sub *sub = xcalloc(1, sizeof(*sub));

	sub->p = p;
	util_strlcpy(sub->team, team, sizeof(sub->team));
	sub->pnext = p->subs;
	p->subs = sub;
	sub->anext = s->subs;
	if (s->subs != NULL)
		s->subs->aprev = sub;
	s->subs = sub;
	return sub;
}

/* Starts sub's catch-up from sub->sent_seq. */
static void
stream_sub_catch_up(struct stream_sub *sub)
{
	struct stream_srv *s = sub->p->s;

	sub->catching_up = 1;
	if (!sub->on_replay) {
		sub->on_replay = 1;
		sub->rnext = s->replay;
		s->replay = sub;
	}
	stream_replay_arm(s, 0.);
}

/*
 * subscribe(team, epoch, seq): resume when the epoch is the store's and
 * the log still holds every event after seq, else a snapshot.  Either
 * way the live events after follow.
 */
static void
stream_subscribe(struct stream_peer *p, const struct stream_msg *m)
{
	struct stream_srv *s = p->s;
	char team[STORE_ID_SIZE], epoch[STORE_EPOCH_SIZE];
	char cur[STORE_EPOCH_SIZE];
	uint64_t oldest = 0, last = 0;
	struct stream_sub *sub;
	struct stream_msg r;
	struct store_txn *txn;
	enum rtm_resume rc;
	json_t *t;

	if (m->team.len >= sizeof(team) || m->epoch.len >= sizeof(epoch)) {
		(void)stream_peer_error(
		    p, "unknown_team", "no such team", NULL, 0);
		return;
	}
	memcpy(team, m->team.p, m->team.len);
	team[m->team.len] = '\0';
	memcpy(epoch, m->epoch.p, m->epoch.len);
	epoch[m->epoch.len] = '\0';
	s->stats.subscribes++;
	(void)stream_unsubscribe(p, team);
	if (s->api != NULL && api_team_where(s->api, team) >=
	    API_TEAM_LEAVING) {
		log_info("stream: %s subscribed to %s, which is on another "
		    "shard", stream_peer_name(p), team);
		(void)stream_peer_error(p, "team_not_here",
		    "the team is on another shard", team, 0);
		return;
	}

	txn = s->st != NULL ? store_rd_begin(s->st) : NULL;
	if (txn == NULL) {
		(void)stream_peer_error(
		    p, "unavailable", "store unreadable", team, 0);
		return;
	}
	t = store_txn_team_get(txn, team);
	if (t == NULL) {
		store_rd_end(txn);
		log_info("stream: %s subscribed to unknown team %s",
		    stream_peer_name(p), team);
		(void)stream_peer_error(
		    p, "unknown_team", "no such team", team, 0);
		return;
	}
	json_decref(t);
	store_txn_seq_range(txn, team, &oldest, &last);
	store_txn_team_epoch(txn, team, cur);
	rc = rtm_resume_check(cur, oldest, last, epoch, m->seq);

	sub = stream_sub_new(p, team);
	if (rc == RTM_RESUME_OK) {
		store_rd_end(txn);
		s->stats.resumes++;
		log_debug("stream: %s resumes %s at %" PRIu64,
		    stream_peer_name(p), team, m->seq);
		memset(&r, 0, sizeof(r));
		r.type = STREAM_RESUME;
		r.team = stream_str(team);
		r.epoch = stream_str(cur);
		r.seq = m->seq;
		if (stream_peer_send_msg(p, &r) == -1)
			return;
		sub->sent_seq = m->seq;
	} else {
		log_info("stream: %s gets a snapshot of %s (%s)",
		    stream_peer_name(p), team, rtm_resume_reason(rc));
		s->stats.snapshots++;
		sub->sent_seq = last;
		if (stream_snapshot(p, txn, team, last) == -1) {
			store_rd_end(txn);
			return;
		}
		store_rd_end(txn);
	}
	stream_sub_catch_up(sub);
}

/* ---- event shapes ---- */

static int
stream_member_cb(void *arg, const char *id)
{
	json_array_append_new(arg, json_string(id));
	return 0;
}

/*
 * Events whose channel object the edge needs with its members, which
 * the stored event lacks: returns new JSON text (the caller frees it)
 * with "members" added to the channel object, or NULL to send the event
 * as stored.  The members are those of now, read in txn (NULL: a read
 * transaction of its own).
 */
static char *
stream_event_members(struct stream_srv *s, struct store_txn *txn,
    const char *json, size_t len, size_t *outlen)
{
	static const char *const types[] = { "\"channel_created\"",
		"\"group_joined\"", "\"mpim_joined\"", "\"mpim_open\"" };
	struct store_txn *own = NULL;
	json_t *ev, *ch, *mem;
	const char *type, *id;
	char *out = NULL;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (memmem(json, len, types[i], strlen(types[i])) != NULL)
			break;
	if (i == sizeof(types) / sizeof(types[0]) || s->st == NULL)
		return NULL;
	ev = json_loadb(json, len, 0, NULL);
	type = json_get_str(ev, "type");
	ch = json_object_get(ev, "channel");
	id = json_get_str(ch, "id");
	if (type == NULL || id == NULL || json_object_get(ch, "members") ||
	    (strcmp(type, "channel_created") != 0 &&
	        strcmp(type, "group_joined") != 0 &&
	        strcmp(type, "mpim_joined") != 0 &&
	        strcmp(type, "mpim_open") != 0)) {
		json_decref(ev);
		return NULL;
	}
	if (txn == NULL)
		txn = own = store_rd_begin(s->st);
	if (txn != NULL) {
		mem = json_array();
		store_txn_channel_members(txn, id, NULL, stream_member_cb, mem);
		json_object_set_new(ch, "members", mem);
		out = json_dump_compact(ev, outlen);
	}
	if (own != NULL)
		store_rd_end(own);
	json_decref(ev);
	return out;
}

/* ---- catch-up ---- */

struct stream_replay {
	struct stream_sub *sub;
	struct store_txn *txn;
	size_t n;
	int gap;
	int closed;
};

static int
stream_replay_cb(
    void *arg, uint64_t seq, uint64_t time_us, const char *json, size_t len)
{
	struct stream_replay *rp = arg;
	struct stream_sub *sub = rp->sub;
	struct stream_msg m;
	char *ext;
	size_t elen = 0;
	int rc;

	(void)time_us;
	if (seq != sub->sent_seq + 1) {
		rp->gap = 1;
		return 1;
	}
	rp->n++;
	memset(&m, 0, sizeof(m));
	m.type = STREAM_EVENT;
	m.team = stream_str(sub->team);
	m.seq = seq;
	ext = stream_event_members(sub->p->s, rp->txn, json, len, &elen);
	m.json.p = ext != NULL ? ext : json;
	m.json.len = ext != NULL ? elen : len;
	rc = stream_peer_send_msg(sub->p, &m);
	free(ext);
	if (rc == -1) {
		rp->closed = 1;
		return 1;
	}
	sub->sent_seq = seq;
	sub->p->s->stats.replayed++;
	return 0;
}

/*
 * One batch of sub's catch-up.  Returns 1 when it is done (caught up or
 * its peer closed), 0 when there is more, -1 to wait for the edge to
 * read what is queued.  A gap in the log (retention dropped events
 * while it caught up) sends a fresh snapshot.
 */
static int
stream_replay_step(struct stream_srv *s, struct stream_sub *sub)
{
	struct stream_replay rp = { sub, NULL, 0, 0, 0 };
	struct stream_peer *p = sub->p;
	uint64_t oldest = 0, last = 0;
	struct store_txn *txn;

	if (p->closed)
		return 1;
	if (p->c != NULL && p->c->out.bytes > p->out_cap / 2)
		return -1;
	txn = store_rd_begin(s->st);
	if (txn == NULL)
		return -1;
	rp.txn = txn;
	store_txn_events(txn, sub->team, sub->sent_seq, s->cfg.replay_batch,
	    stream_replay_cb, &rp);
	if (rp.gap && !rp.closed) {
		store_txn_seq_range(txn, sub->team, &oldest, &last);
		log_info("stream: %s lost events of %s after %" PRIu64
		         ": snapshot",
		    stream_peer_name(p), sub->team, sub->sent_seq);
		s->stats.snapshots++;
		if (stream_snapshot(p, txn, sub->team, last) == -1)
			rp.closed = 1;
		sub->sent_seq = last;
		store_rd_end(txn);
		return rp.closed ? 1 : 0;
	}
	store_rd_end(txn);
	if (rp.closed)
		return 1;
	if (rp.n < s->cfg.replay_batch)
		return 1;
	return 0;
}

static void
stream_replay_cb_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stream_srv *s = w->data;
	struct stream_sub **pp, *sub;
	int rc, moved = 0;

	(void)loop;
	(void)revents;
	for (pp = &s->replay; (sub = *pp) != NULL;) {
		rc = stream_replay_step(s, sub);
		if (rc == 1) {
			*pp = sub->rnext;
			sub->rnext = NULL;
			sub->on_replay = 0;
			sub->catching_up = 0;
			continue;
		}
		if (rc == 0)
			moved = 1;
		pp = &sub->rnext;
	}
	if (s->replay != NULL)
		stream_replay_arm(s, moved ? 0. : 0.005);
}

static void
stream_replay_arm(struct stream_srv *s, double after)
{
	if (ev_is_active(&s->replay_timer)) {
		if (after > 0)
			return;
		ev_timer_stop(s->loop, &s->replay_timer);
	}
	ev_timer_set(&s->replay_timer, after, 0.);
	ev_timer_start(s->loop, &s->replay_timer);
}

/* ---- live events ---- */

/* Queues b to every caught-up subscriber of team past seq. */
static void
stream_fanout(
    struct stream_srv *s, const char *team, uint64_t seq, struct buf *b)
{
	struct stream_sub *sub, *next;

	for (sub = s->subs; sub != NULL; sub = next) {
		next = sub->anext;
		if (strcmp(sub->team, team) != 0 || sub->p->closed)
			continue;
		if (seq != 0) {
			if (sub->catching_up || seq <= sub->sent_seq)
				continue;
			if (seq != sub->sent_seq + 1) {
				/* The log has it: read from there. */
				stream_sub_catch_up(sub);
				continue;
			}
			sub->sent_seq = seq;
		}
		/* A close is deferred: no subscription is freed here. */
		(void)stream_peer_send_buf(sub->p, b);
	}
}

/* Encodes m once as a buf, or NULL. */
static struct buf *
stream_encode(const struct stream_msg *m)
{
	msgpack_sbuffer sb;
	const char *err;
	struct buf *b = NULL;

	msgpack_sbuffer_init(&sb);
	if (stream_msg_write(&sb, m, &err) == 0)
		b = buf_from(sb.data, sb.size);
	else
		log_warnx("stream: %s frame not sent: %s",
		    stream_type_name(m->type), err);
	msgpack_sbuffer_destroy(&sb);
	return b;
}

void
stream_event_hook(
    void *arg, const char *team, uint64_t seq, const char *json, size_t len)
{
	struct stream_srv *s = arg;
	struct stream_sub *sub;
	struct rtm_scope sc;
	struct stream_msg m;
	struct buf *b;
	json_t *ev;
	char *ext;
	size_t elen = 0;

	for (sub = s->subs; sub != NULL; sub = sub->anext)
		if (strcmp(sub->team, team) == 0)
			break;
	if (sub == NULL)
		return;

	s->stats.events++;
	ext = stream_event_members(s, NULL, json, len, &elen);
	memset(&m, 0, sizeof(m));
	m.type = STREAM_EVENT;
	m.team = stream_str(team);
	m.seq = seq;
	m.json.p = ext != NULL ? ext : json;
	m.json.len = ext != NULL ? elen : len;
	b = stream_encode(&m);
	free(ext);
	if (b != NULL) {
		stream_fanout(s, team, seq, b);
		buf_unref(b);
	}

	/* Revocations and deactivations also go as their own frame. */
	ev = json_loadb(json, len, 0, NULL);
	if (ev == NULL)
		return;
	rtm_event_scope(ev, &sc);
	json_decref(ev);
	if (sc.action == RTM_ACT_NONE)
		return;
	memset(&m, 0, sizeof(m));
	m.type = STREAM_REVOKE;
	m.team = stream_str(team);
	if (sc.action == RTM_ACT_REVOKE_TOKEN)
		m.token = stream_str(sc.token_id);
	else
		m.user = stream_str(sc.user);
	b = stream_encode(&m);
	if (b != NULL) {
		stream_fanout(s, team, 0, b);
		buf_unref(b);
	}
}

void
stream_ephemeral_hook(void *arg, const char *team, const char *json, size_t len)
{
	struct stream_srv *s = arg;
	struct stream_sub *sub;
	struct stream_msg m;
	struct buf *b;

	for (sub = s->subs; sub != NULL; sub = sub->anext)
		if (strcmp(sub->team, team) == 0)
			break;
	if (sub == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.type = STREAM_EPHEMERAL;
	m.team = stream_str(team);
	m.json.p = json;
	m.json.len = len;
	b = stream_encode(&m);
	if (b != NULL) {
		stream_fanout(s, team, 0, b);
		buf_unref(b);
	}
}

/* ---- frames from the edge ---- */

/* Queues b to the team's subscribers but skip (an ephemeral relay). */
static void
stream_fanout_others(struct stream_srv *s, const char *team, struct buf *b,
    const struct stream_peer *skip)
{
	struct stream_sub *sub, *next;

	for (sub = s->subs; sub != NULL; sub = next) {
		next = sub->anext;
		if (sub->p == skip || sub->p->closed ||
		    strcmp(sub->team, team) != 0)
			continue;
		(void)stream_peer_send_buf(sub->p, b);
	}
}

/*
 * Typing or presence of an edge's client: checked (the user is of the
 * team, a typist is a member of the channel), written again in the
 * backend's own shape, and given to this backend's RTM clients and to
 * the team's other edges.  A frame that does not check is dropped and
 * logged at info: the link stays.
 */
static void
stream_ephemeral_in(struct stream_peer *p, const struct stream_msg *m)
{
	char team[STORE_ID_SIZE], user[STORE_ID_SIZE], chan[STORE_ID_SIZE];
	char text[160];
	const char *type, *channel = NULL, *presence = NULL, *why = NULL;
	struct store_txn *txn;
	struct stream_msg out;
	struct buf *b;
	json_t *ev, *u;
	int n;

	if (m->team.len >= sizeof(team) || m->user.p == NULL ||
	    m->user.len >= sizeof(user)) {
		log_info("stream: %s: ephemeral without team or user",
		    stream_peer_name(p));
		return;
	}
	memcpy(team, m->team.p, m->team.len);
	team[m->team.len] = '\0';
	memcpy(user, m->user.p, m->user.len);
	user[m->user.len] = '\0';
	ev = api_json_parse(m->json.p, m->json.len);
	type = json_get_str(ev, "type");
	if (type == NULL) {
		why = "not an event";
	} else if (strcmp(type, "user_typing") == 0) {
		channel = json_get_str(ev, "channel");
		if (channel == NULL || !(store_id_valid(channel, 'C') ||
		    store_id_valid(channel, 'G') ||
		    store_id_valid(channel, 'D')))
			why = "bad channel";
	} else if (strcmp(type, "presence_change") == 0) {
		presence = json_get_str(ev, "presence");
		if (presence == NULL || (strcmp(presence, "active") != 0 &&
		    strcmp(presence, "away") != 0))
			why = "bad presence";
	} else {
		why = "not typing or presence";
	}
	txn = why == NULL ? store_rd_begin(stream_peer_store(p)) : NULL;
	if (txn != NULL) {
		u = store_txn_user_get(txn, user);
		if (u == NULL || json_get_str(u, "team_id") == NULL ||
		    strcmp(json_get_str(u, "team_id"), team) != 0)
			why = "user not of the team";
		else if (channel != NULL &&
		    store_txn_is_member(txn, channel, user) != 1)
			why = "typist not a member";
		json_decref(u);
		store_rd_end(txn);
	}
	if (why != NULL) {
		log_info("stream: %s: ephemeral refused: %s",
		    stream_peer_name(p), why);
		json_decref(ev);
		return;
	}
	if (channel != NULL)
		n = snprintf(text, sizeof(text), "{\"type\":\"user_typing\","
		    "\"channel\":\"%s\",\"user\":\"%s\"}", channel, user);
	else
		n = snprintf(text, sizeof(text), "{\"type\":"
		    "\"presence_change\",\"user\":\"%s\",\"presence\":"
		    "\"%s\"}", user, presence);
	if (channel != NULL)
		util_strlcpy(chan, channel, sizeof(chan));
	if (stream_peer_rtm(p) != NULL)
		rtm_ephemeral_in(stream_peer_rtm(p), team, user,
		    channel != NULL ? chan : NULL, text, (size_t)n);
	json_decref(ev);
	memset(&out, 0, sizeof(out));
	out.type = STREAM_EPHEMERAL;
	out.team = stream_str(team);
	out.json.p = text;
	out.json.len = (size_t)n;
	b = stream_encode(&out);
	if (b != NULL) {
		stream_fanout_others(p->s, team, b, p);
		buf_unref(b);
	}
}

static void
stream_hello(struct stream_peer *p, const struct stream_msg *m)
{
	struct stream_msg r;
	size_t n;

	if (m->version_min > STREAM_VERSION || m->version < STREAM_VERSION) {
		log_info("stream: %s speaks versions %" PRIu64 "..%" PRIu64
		         ", not %d: closed",
		    p->peer, m->version_min, m->version, STREAM_VERSION);
		(void)stream_peer_error(
		    p, "version", "no protocol version in common", NULL, 0);
		stream_peer_close(p, NULL);
		return;
	}
	n = m->name.len < sizeof(p->name) ? m->name.len : sizeof(p->name) - 1;
	memcpy(p->name, m->name.p, n);
	p->name[n] = '\0';
	p->hello = 1;
	log_info("stream: edge %s connected from %s", p->name, p->peer);
	memset(&r, 0, sizeof(r));
	r.type = STREAM_HELLO;
	r.version = STREAM_VERSION;
	r.version_min = STREAM_VERSION;
	r.name = stream_str("parley-backend");
	(void)stream_peer_send_msg(p, &r);
}

/* Handles one decoded frame; returns -1 once p is closed. */
static int
stream_frame(struct stream_peer *p, const msgpack_object *o)
{
	struct stream_msg m;
	const char *err;
	char team[STORE_ID_SIZE];

	if (stream_msg_read(o, STREAM_FROM_EDGE, &m, &err) == -1) {
		p->s->stats.closed_bad++;
		log_info("stream: %s: bad frame (%s): closed",
		    stream_peer_name(p), err);
		(void)stream_peer_error(p, "bad_frame", err, NULL, 0);
		stream_peer_close(p, NULL);
		return -1;
	}
	if (!p->hello && m.type != STREAM_HELLO) {
		p->s->stats.closed_bad++;
		log_info("stream: %s: %s before hello: closed", p->peer,
		    stream_type_name(m.type));
		(void)stream_peer_error(
		    p, "bad_frame", "hello comes first", NULL, 0);
		stream_peer_close(p, NULL);
		return -1;
	}
	switch (m.type) {
	case STREAM_HELLO: stream_hello(p, &m); break;
	case STREAM_SUBSCRIBE: stream_subscribe(p, &m); break;
	case STREAM_UNSUBSCRIBE:
		if (m.team.len < sizeof(team)) {
			memcpy(team, m.team.p, m.team.len);
			team[m.team.len] = '\0';
			(void)stream_unsubscribe(p, team);
		}
		break;
	case STREAM_EPHEMERAL:
		stream_ephemeral_in(p, &m);
		break;
	case STREAM_FORWARD:
		p->s->stats.forwards++;
		stream_forward(p, &m);
		break;
	case STREAM_KEEPALIVE:
	case STREAM_ERROR:
	default: break;
	}
	return p->closed ? -1 : 0;
}

int
stream_peer_input(struct stream_peer *p, const void *data, size_t len)
{
	const unsigned char *d = data;
	const msgpack_object *o;
	ssize_t n;

	if (p->closed)
		return -1;
	p->last_rx = ev_now(p->s->loop);
	while (len > 0) {
		n = mpframe_decode(&p->dec, d, len, &o);
		if (n == -1) {
			p->s->stats.closed_bad++;
			log_info("stream: %s: %s: closed", stream_peer_name(p),
			    p->dec.error);
			(void)stream_peer_error(
			    p, "bad_frame", p->dec.error, NULL, 0);
			stream_peer_close(p, NULL);
			return -1;
		}
		d += n;
		len -= (size_t)n;
		if (o != NULL && stream_frame(p, o) == -1)
			return -1;
	}
	return 0;
}

/* ---- connections ---- */

static void
stream_peer_unlink(struct stream_peer *p)
{
	struct stream_srv *s = p->s;
	struct stream_sub *sub;

	while ((sub = p->subs) != NULL) {
		p->subs = sub->pnext;
		stream_sub_free(s, sub);
	}
	if (p->prev != NULL)
		p->prev->next = p->next;
	else if (s->peers == p)
		s->peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

/* Closes p after what is queued is written (bounded). */
static void
stream_peer_close(struct stream_peer *p, const char *why)
{
	if (p->closed)
		return;
	p->closed = 1;
	if (why != NULL)
		log_info("stream: %s: %s: closed", stream_peer_name(p), why);
	stream_forward_detach(p);
	if (p->c != NULL)
		conn_close_flush(p->c, 2.);
}

static void
stream_on_read(struct conn *c, const unsigned char *d, size_t n)
{
	(void)stream_peer_input(c->owner, d, n);
}

static void
stream_on_eof(struct conn *c)
{
	struct stream_peer *p = c->owner;

	if (c->flags & CONN_F_HANDSHAKE) {
		p->s->stats.refused++;
		log_info("stream: %s refused: no TLS handshake with a valid "
		         "client certificate",
		    p->peer);
	} else if (!p->closed) {
		log_info("stream: %s disconnected", stream_peer_name(p));
	}
	p->closed = 1;
	conn_close(c);
}

static void
stream_on_timeout(struct conn *c)
{
	(void)c;
}

static void
stream_on_close(struct conn *c)
{
	struct stream_peer *p = c->owner;

	stream_forward_detach(p);
	stream_peer_unlink(p);
	p->s->stats.peers--;
	mpframe_dec_free(&p->dec);
	free(p);
}

static const struct conn_ops stream_conn_ops = {
	stream_on_read,
	stream_on_eof,
	stream_on_timeout,
	NULL,
	NULL,
	stream_on_close,
};

static struct stream_peer *
stream_peer_alloc(struct stream_srv *s)
{
	struct stream_peer *p = xcalloc(1, sizeof(*p));

	p->s = s;
	p->out_cap = s->cfg.out_cap;
	mpframe_dec_init(&p->dec, s->cfg.max_frame);
	p->last_rx = p->last_tx = ev_now(s->loop);
	p->next = s->peers;
	if (s->peers != NULL)
		s->peers->prev = p;
	s->peers = p;
	s->stats.peers++;
	return p;
}

static void
stream_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stream_srv *s = w->data;
	struct sockaddr_storage ss;
	struct stream_peer *p;
	socklen_t sl;
	int fd, i;

	(void)revents;
	for (i = 0; i < 64; i++) {
		sl = sizeof(ss);
		fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("stream: accept");
			return;
		}
		s->stats.accepted++;
		p = stream_peer_alloc(s);
		/* Room past the cap for the frame that says it was hit. */
		p->c = conn_new(loop, fd, s->tls, (struct sockaddr *)&ss,
		    &stream_conn_ops, p, p->out_cap + 4096);
		if (p->c == NULL) {
			stream_peer_unlink(p);
			s->stats.peers--;
			mpframe_dec_free(&p->dec);
			free(p);
			continue;
		}
		conn_peer_str(p->c, p->peer, sizeof(p->peer));
	}
}

/* Every second: keepalives to quiet peers, dead peers closed. */
static void
stream_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stream_srv *s = w->data;
	struct stream_peer *p, *next;
	struct stream_msg m;
	double now = ev_now(loop);

	(void)revents;
	for (p = s->peers; p != NULL; p = next) {
		next = p->next;
		if (p->closed)
			continue;
		if (now - p->last_rx > s->cfg.timeout) {
			s->stats.closed_dead++;
			stream_peer_close(p,
			    p->hello ? "silent past the "
			               "keepalive timeout"
			             : "no hello in time");
			continue;
		}
		if (p->hello && now - p->last_tx >= s->cfg.keepalive) {
			memset(&m, 0, sizeof(m));
			m.type = STREAM_KEEPALIVE;
			m.time = (uint64_t)util_wall_usec() / 1000;
			(void)stream_peer_send_msg(p, &m);
		}
	}
}

static void
stream_tick_arm(struct stream_srv *s)
{
	double iv = s->cfg.keepalive / 4;

	if (iv > 1.)
		iv = 1.;
	if (iv < 0.05)
		iv = 0.05;
	ev_timer_stop(s->loop, &s->tick);
	ev_timer_set(&s->tick, iv, iv);
	ev_timer_start(s->loop, &s->tick);
	ev_unref(s->loop);
}

struct stream_srv *
stream_new(struct ev_loop *loop, struct store *st, struct api_ctx *api,
    const struct stream_config *cfg, SSL_CTX *tls)
{
	struct stream_srv *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->api = api;
	s->st = st;
	s->cfg = *cfg;
	s->lfd = -1;
	if (tls != NULL && SSL_CTX_up_ref(tls) == 1)
		s->tls = tls;
	ev_init(&s->tick, stream_tick_cb);
	s->tick.data = s;
	ev_init(&s->replay_timer, stream_replay_cb_timer);
	s->replay_timer.data = s;
	return s;
}

int
stream_listen(struct stream_srv *s, const char *host, const char *port)
{
	int fd, port_no;

	if ((fd = daemon_listen_tcp_str(host, port, 128)) == -1)
		return -1;
	s->lfd = fd;
	ev_io_init(&s->accept_io, stream_accept_cb, fd, EV_READ);
	s->accept_io.data = s;
	ev_io_start(s->loop, &s->accept_io);
	stream_tick_arm(s);
	port_no = daemon_local_port(fd);
	return port_no > 0 ? port_no : 0;
}

void
stream_set_config(struct stream_srv *s, const struct stream_config *cfg)
{
	s->cfg = *cfg;
	if (s->lfd != -1) {
		ev_ref(s->loop);
		stream_tick_arm(s);
	}
}

void
stream_shutdown(struct stream_srv *s)
{
	struct stream_peer *p;

	if (s == NULL || s->shut)
		return;
	s->shut = 1;
	if (s->lfd != -1) {
		ev_io_stop(s->loop, &s->accept_io);
		close(s->lfd);
		s->lfd = -1;
		ev_ref(s->loop);
		ev_timer_stop(s->loop, &s->tick);
	}
	ev_timer_stop(s->loop, &s->replay_timer);
	for (p = s->peers; p != NULL; p = p->next)
		stream_peer_close(p, NULL);
}

void
stream_free(struct stream_srv *s)
{
	struct stream_peer *p;

	if (s == NULL)
		return;
	stream_shutdown(s);
	/* Connections still open are closed now; on_close frees each. */
	while ((p = s->peers) != NULL) {
		if (p->c == NULL) {
			stream_peer_test_free(p);
			continue;
		}
		/* on_close unlinks and frees p */
		conn_close(p->c);
	}
	if (s->tls != NULL)
		SSL_CTX_free(s->tls);
	free(s);
}

void
stream_get_stats(struct stream_srv *s, struct stream_stats *out)
{
	*out = s->stats;
}

void
stream_metrics(struct stream_srv *s, FILE *f)
{
	const struct stream_stats *t;

	if (s == NULL)
		return;
	t = &s->stats;
	fprintf(f, "# TYPE parley_stream_peers gauge\n"
	    "parley_stream_peers %u\n"
	    "# TYPE parley_stream_accepted_total counter\n"
	    "parley_stream_accepted_total %" PRIu64 "\n"
	    "# TYPE parley_stream_refused_total counter\n"
	    "parley_stream_refused_total %" PRIu64 "\n"
	    "# TYPE parley_stream_subscribes_total counter\n"
	    "parley_stream_subscribes_total %" PRIu64 "\n"
	    "# TYPE parley_stream_resumes_total counter\n"
	    "parley_stream_resumes_total %" PRIu64 "\n"
	    "# TYPE parley_stream_snapshots_total counter\n"
	    "parley_stream_snapshots_total %" PRIu64 "\n"
	    "# TYPE parley_stream_events_total counter\n"
	    "parley_stream_events_total %" PRIu64 "\n"
	    "# TYPE parley_stream_replayed_total counter\n"
	    "parley_stream_replayed_total %" PRIu64 "\n"
	    "# TYPE parley_stream_forwards_total counter\n"
	    "parley_stream_forwards_total %" PRIu64 "\n"
	    "# TYPE parley_stream_results_total counter\n"
	    "parley_stream_results_total %" PRIu64 "\n"
	    "# TYPE parley_stream_closed_total counter\n"
	    "parley_stream_closed_total{reason=\"output_full\"} %" PRIu64 "\n"
	    "parley_stream_closed_total{reason=\"timeout\"} %" PRIu64 "\n"
	    "parley_stream_closed_total{reason=\"bad_frame\"} %" PRIu64 "\n",
	    t->peers, t->accepted, t->refused, t->subscribes, t->resumes,
	    t->snapshots, t->events, t->replayed, t->forwards, t->results,
	    t->closed_full, t->closed_dead, t->closed_bad);
}

struct stream_peer *
stream_peer_test_new(struct stream_srv *s,
    void (*out)(void *arg, const void *p, size_t len), void *arg)
{
	struct stream_peer *p = stream_peer_alloc(s);

	p->out = out;
	p->out_arg = arg;
	util_strlcpy(p->peer, "test", sizeof(p->peer));
	return p;
}

void
stream_peer_test_free(struct stream_peer *p)
{
	stream_forward_detach(p);
	stream_peer_unlink(p);
	p->s->stats.peers--;
	mpframe_dec_free(&p->dec);
	free(p);
}
