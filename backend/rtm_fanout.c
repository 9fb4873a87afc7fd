/*
 * rtm_fanout: where each event goes, once it is committed.
 *
 * The store calls rtm_event_hook() on the loop thread for every event of
 * a commit, in sequence order, after the commit is durable.  The event
 * is read once to learn its scope (rtm_event_scope), encoded once as a
 * WebSocket frame with its "seq" put in front, and that one buffer is
 * queued by reference to each connection that may see it.  Channel
 * events reach the members of the channel: the smaller side is walked,
 * either the team's connected users (checking membership) or the
 * channel's member list (looking each up among the connected users).
 *
 * Resume.  A connection that presents (epoch, seq) is "replaying": live
 * events skip it while a timer reads the team log from seq on, a batch
 * per loop pass, and sends what the user may see.  When a read returns
 * less than a batch the connection is caught up and goes live.  Nothing
 * can fall between the two: an event is in the log before the hook sees
 * it, so the hook skips only what the replay will read, and afterwards
 * sent_seq keeps the hook from sending twice what the replay sent.  A
 * hole in the numbers (events dropped by retention while replaying) is
 * answered with resume_failed, never skipped silently.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/rtm_int.h"

/* Below this many connected users, membership is checked per user. */
#define RTM_SMALL_TEAM 32

/* ---- maps ---- */

static size_t
rtm_hash(const char *id)
{
	size_t h = 2166136261u;

	while (*id != '\0')
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h;
}

struct rtm_hnode *
rtm_map_find(const struct rtm_map *m, const char *id)
{
	struct rtm_hnode *n;

	if (m->nb == 0)
		return NULL;
	for (n = m->b[rtm_hash(id) & (m->nb - 1)]; n != NULL; n = n->next)
		if (strcmp(n->id, id) == 0)
			return n;
	return NULL;
}

static void
rtm_map_grow(struct rtm_map *m)
{
	size_t nb = m->nb ? m->nb * 2 : 8, i, k;
	struct rtm_hnode **b = xcalloc(nb, sizeof(*b)), *n, *next;

	for (i = 0; i < m->nb; i++)
		for (n = m->b[i]; n != NULL; n = next) {
			next = n->next;
			k = rtm_hash(n->id) & (nb - 1);
			n->next = b[k];
			b[k] = n;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void
rtm_map_add(struct rtm_map *m, struct rtm_hnode *n)
{
	size_t k;

	if (m->n >= m->nb)
		rtm_map_grow(m);
	k = rtm_hash(n->id) & (m->nb - 1);
	n->next = m->b[k];
	m->b[k] = n;
	m->n++;
}

void
rtm_map_del(struct rtm_map *m, struct rtm_hnode *n)
{
	struct rtm_hnode **pp;

	if (m->nb == 0)
		return;
	for (pp = &m->b[rtm_hash(n->id) & (m->nb - 1)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			m->n--;
			break;
		}
	if (m->n == 0) {
		free(m->b);
		m->b = NULL;
		m->nb = 0;
	}
}

void
rtm_map_free(struct rtm_map *m)
{
	free(m->b);
	memset(m, 0, sizeof(*m));
}

/* ---- scope ---- */

static int
rtm_type_in(const char *type, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(type, *list) == 0)
			return 1;
	return 0;
}

/* Events about one user's own view: only their connections get them. */
static const char *const rtm_user_types[] = {
	"channel_marked", "group_marked", "im_marked", "mpim_marked",
	"manual_presence_change", "pref_change", "im_open", "im_close",
	"group_open", "group_close", "mpim_close", "dnd_updated", NULL,
};
/* Events of a public channel that the whole team hears about. */
static const char *const rtm_public_types[] = {
	"channel_created", "channel_rename", "channel_archive",
	"channel_unarchive", "channel_deleted", NULL,
};
/* Events that also go to the user they name, a member no longer. */
static const char *const rtm_left_types[] = {
	"member_left_channel", "channel_left", "group_left", NULL,
};

static void
rtm_copy_id(char *dst, const char *src)
{
	if (src != NULL && strlen(src) < STORE_ID_SIZE)
		util_strlcpy(dst, src, STORE_ID_SIZE);
	else
		dst[0] = '\0';
}

void
rtm_event_scope(const json_t *ev, struct rtm_scope *sc)
{
	const char *type = json_get_str(ev, "type");
	const char *user = json_get_str(ev, "user");
	const json_t *ch, *item, *uo;
	const char *cid = NULL;

	memset(sc, 0, sizeof(*sc));
	if (type == NULL)
		return;

	if (strcmp(type, "tokens_revoked") == 0) {
		sc->action = RTM_ACT_REVOKE_TOKEN;
		rtm_copy_id(sc->user, user);
		util_strlcpy(sc->token_id, json_get_str(ev, "token_id") ?
		    json_get_str(ev, "token_id") : "", sizeof(sc->token_id));
		if (sc->user[0] == '\0')
			sc->action = RTM_ACT_NONE;
		return;
	}
	if (strcmp(type, "tombstone") == 0)
		return;

	uo = json_object_get(ev, "user");
	if (strcmp(type, "user_change") == 0 && json_is_object(uo) &&
	    json_get_bool(uo, "deleted", 0)) {
		sc->action = RTM_ACT_DEACTIVATE;
		rtm_copy_id(sc->user, json_get_str(uo, "id"));
	}

	if (rtm_type_in(type, rtm_user_types)) {
		rtm_copy_id(sc->user, user);
		if (sc->user[0] != '\0')
			sc->kind = RTM_SCOPE_USER;
		return;
	}

	ch = json_object_get(ev, "channel");
	if (json_is_string(ch))
		cid = json_string_value(ch);
	else if (json_is_object(ch))
		cid = json_get_str(ch, "id");
	item = json_object_get(ev, "item");
	if (cid == NULL && json_is_object(item))
		cid = json_get_str(item, "channel");

	if (cid != NULL) {
		rtm_copy_id(sc->channel, cid);
		if (sc->channel[0] == '\0')
			return;
		if (sc->channel[0] == 'C' &&
		    rtm_type_in(type, rtm_public_types)) {
			sc->kind = RTM_SCOPE_TEAM;
			return;
		}
		sc->kind = RTM_SCOPE_CHANNEL;
		if (rtm_type_in(type, rtm_left_types))
			rtm_copy_id(sc->user, user);
		else if (sc->action == RTM_ACT_NONE)
			sc->user[0] = '\0';
		return;
	}
	sc->kind = RTM_SCOPE_TEAM;
}

/*
 * The scope of the commonest event, a message posted to a channel
 * ("type":"message" and a plain "channel" id among the top-level
 * members), read from the text without decoding it.  Returns 1 with sc
 * filled as rtm_event_scope() would, 0 for any other event (decode it).
 */
static int
rtm_event_scope_fast(const char *json, size_t len, struct rtm_scope *sc)
{
	char type[16];

	if (store_json_top_str(json, len, "type", type, sizeof(type)) == -1 ||
	    strcmp(type, "message") != 0)
		return 0;
	memset(sc, 0, sizeof(*sc));
	if (store_json_top_str(json, len, "channel", sc->channel,
	    sizeof(sc->channel)) == -1 || sc->channel[0] == '\0')
		return 0;
	sc->kind = RTM_SCOPE_CHANNEL;
	return 1;
}

/* ---- resume answers ---- */

enum rtm_resume
rtm_resume_check(const char *cur_epoch, uint64_t oldest, uint64_t last,
    const char *epoch, uint64_t seq)
{
	if (epoch == NULL || strcmp(epoch, cur_epoch) != 0)
		return RTM_RESUME_EPOCH;
	if (seq > last)
		return RTM_RESUME_FUTURE;
	if (seq < last && seq + 1 < oldest)
		return RTM_RESUME_TOO_OLD;
	return RTM_RESUME_OK;
}

const char *
rtm_resume_reason(enum rtm_resume r)
{
	switch (r) {
	case RTM_RESUME_OK:
		return "ok";
	case RTM_RESUME_EPOCH:
		return "epoch_changed";
	case RTM_RESUME_TOO_OLD:
		return "seq_too_old";
	case RTM_RESUME_FUTURE:
		return "seq_unknown";
	}
	return "unknown";
}

/* ---- teams and users ---- */

static struct rtm_user *
rtm_user_get(struct rtm_team *t, const char *id, int create)
{
	struct rtm_user *u;

	u = (struct rtm_user *)rtm_map_find(&t->users, id);
	if (u != NULL || !create)
		return u;
	u = xcalloc(1, sizeof(*u));
	util_strlcpy(u->h.id, id, sizeof(u->h.id));
	u->team = t;
	rtm_map_add(&t->users, &u->h);
	return u;
}

/* Frees u, then t, once nothing refers to them. */
static void
rtm_gc(struct rtm *r, struct rtm_team *t, struct rtm_user *u)
{
	if (u != NULL && u->nconns == 0 && u->watchers == NULL) {
		rtm_map_del(&t->users, &u->h);
		free(u);
	}
	if (t->nconns == 0 && t->users.n == 0) {
		rtm_map_del(&r->teams, &t->h);
		rtm_map_free(&t->users);
		free(t);
	}
}

int
rtm_fanout_join(struct rtm *r, struct rtm_conn *c)
{
	struct rtm_team *t;
	struct rtm_user *u;

	t = (struct rtm_team *)rtm_map_find(&r->teams, c->who.team);
	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		util_strlcpy(t->h.id, c->who.team, sizeof(t->h.id));
		rtm_map_add(&r->teams, &t->h);
	}
	u = rtm_user_get(t, c->who.user, 1);
	c->team = t;
	c->user = u;

	c->tnext = t->conns;
	if (t->conns != NULL)
		t->conns->tprev = c;
	t->conns = c;
	t->nconns++;
	c->unext = u->conns;
	if (u->conns != NULL)
		u->conns->uprev = c;
	u->conns = c;
	return ++u->nconns == 1;
}

static void
rtm_subs_drop(struct rtm *r, struct rtm_conn *c)
{
	struct rtm_sub *s;
	size_t i;

	for (i = 0; i < c->nsubs; i++) {
		s = &c->subs[i];
		if (s->prev != NULL)
			s->prev->next = s->next;
		else
			s->user->watchers = s->next;
		if (s->next != NULL)
			s->next->prev = s->prev;
		if (s->user != c->user)
			rtm_gc(r, c->team, s->user);
	}
	free(c->subs);
	c->subs = NULL;
	c->nsubs = 0;
}

int
rtm_fanout_leave(struct rtm *r, struct rtm_conn *c)
{
	struct rtm_team *t = c->team;
	struct rtm_user *u = c->user;
	struct rtm_conn **pp;
	int last;

	if (t == NULL)
		return 0;
	if (c->replaying) {
		for (pp = &r->replay; *pp != NULL; pp = &(*pp)->rnext)
			if (*pp == c) {
				*pp = c->rnext;
				break;
			}
		c->replaying = 0;
	}
	rtm_subs_drop(r, c);

	if (c->tprev != NULL)
		c->tprev->tnext = c->tnext;
	else
		t->conns = c->tnext;
	if (c->tnext != NULL)
		c->tnext->tprev = c->tprev;
	t->nconns--;
	if (c->uprev != NULL)
		c->uprev->unext = c->unext;
	else
		u->conns = c->unext;
	if (c->unext != NULL)
		c->unext->uprev = c->uprev;
	last = --u->nconns == 0;
	c->team = NULL;
	c->user = NULL;
	if (last && !u->away)
		rtm_fanout_presence(r, u, "away");
	rtm_gc(r, t, u);
	return last;
}

/* ---- encoding and delivery ---- */

/*
 * The frame of a stored event: the same JSON with "seq" first.  Returns
 * a new buf, or NULL when json is not an object.
 */
static struct buf *
rtm_event_frame(uint64_t seq, const char *json, size_t len)
{
	char head[40];
	size_t hl, n;
	char *text;
	struct buf *b;

	if (len < 2 || json[0] != '{')
		return NULL;
	hl = (size_t)snprintf(head, sizeof(head), "{\"seq\":%" PRIu64 "%s",
	    seq, json[1] == '}' ? "" : ",");
	n = hl + len - 1;
	text = xmalloc(n);
	memcpy(text, head, hl);
	memcpy(text + hl, json + 1, len - 1);
	b = ws_frame_new(WS_TEXT, text, n);
	free(text);
	return b;
}

/*
 * Queues frame to c.  seq is the event's number (0 for an ephemeral
 * event): a replaying connection, or one that already has seq, skips it.
 */
static void
rtm_deliver(struct rtm *r, struct rtm_conn *c, struct buf *frame,
    uint64_t seq)
{
	if (c->closing || c->replaying)
		return;
	if (seq != 0) {
		if (seq <= c->sent_seq)
			return;
		c->sent_seq = seq;
	}
	if (rtm_conn_send_frame(c, frame) == 0)
		r->stats.deliveries++;
}

static void
rtm_deliver_user(struct rtm *r, struct rtm_user *u, struct buf *frame,
    uint64_t seq)
{
	struct rtm_conn *c;

	for (c = u->conns; c != NULL; c = c->unext)
		rtm_deliver(r, c, frame, seq);
}

struct rtm_walk {
	struct rtm *r;
	struct rtm_team *t;
	struct buf *frame;
	uint64_t seq;
	const char *skip_user; /* the sender of an ephemeral event */
};

static int
rtm_member_cb(void *arg, const char *id)
{
	struct rtm_walk *w = arg;
	struct rtm_user *u;

	if (w->skip_user != NULL && strcmp(id, w->skip_user) == 0)
		return 0;
	u = rtm_user_get(w->t, id, 0);
	if (u != NULL)
		rtm_deliver_user(w->r, u, w->frame, w->seq);
	return 0;
}

/*
 * Queues frame to the connected members of channel, and to the
 * connections of extra (may be NULL or ""), but not to skip_user's.
 */
static void
rtm_deliver_channel(struct rtm *r, struct rtm_team *t, const char *channel,
    const char *extra, const char *skip_user, struct buf *frame,
    uint64_t seq)
{
	struct rtm_walk w = { r, t, frame, seq, skip_user };
	struct store_txn *txn;
	struct rtm_hnode *n;
	struct rtm_user *u;
	size_t i;

	txn = store_rd_begin(r->st);
	if (txn == NULL)
		return;
	if (t->users.n <= RTM_SMALL_TEAM) {
		for (i = 0; i < t->users.nb; i++)
			for (n = t->users.b[i]; n != NULL; n = n->next) {
				u = (struct rtm_user *)n;
				if (u->nconns == 0 || (skip_user != NULL &&
				    strcmp(n->id, skip_user) == 0))
					continue;
				if (store_txn_is_member(txn, channel,
				    n->id) == 1)
					rtm_deliver_user(r, u, frame, seq);
			}
	} else {
		store_txn_channel_members(txn, channel, NULL, rtm_member_cb,
		    &w);
	}
	store_rd_end(txn);
	if (extra != NULL && extra[0] != '\0' &&
	    (u = rtm_user_get(t, extra, 0)) != NULL)
		rtm_deliver_user(r, u, frame, seq);
}

/* Closes the connections a revocation or deactivation ends. */
static void
rtm_act(struct rtm *r, struct rtm_team *t, const struct rtm_scope *sc)
{
	struct rtm_user *u = rtm_user_get(t, sc->user, 0);
	struct rtm_conn *c;
	const char *why;

	if (u == NULL)
		return;
	why = sc->action == RTM_ACT_DEACTIVATE ? "account_inactive" :
	    "token_revoked";
	for (c = u->conns; c != NULL; c = c->unext) {
		if (c->closing)
			continue;
		if (sc->action == RTM_ACT_REVOKE_TOKEN &&
		    sc->token_id[0] != '\0' &&
		    strcmp(sc->token_id, c->who.token_id) != 0)
			continue;
		log_info("rtm: closing %s of %s: %s", ws_peer(c->ws),
		    c->who.user, why);
		r->stats.revoked_closed++;
		rtm_conn_goodbye(c, 4001, why);
	}
}

/* A manual presence change: tell the watchers when it shows. */
static void
rtm_manual_presence(struct rtm *r, struct rtm_team *t, const json_t *ev)
{
	const char *user = json_get_str(ev, "user");
	const char *p = json_get_str(ev, "presence");
	struct rtm_user *u;
	int away;

	if (user == NULL || p == NULL ||
	    (u = rtm_user_get(t, user, 0)) == NULL)
		return;
	away = strcmp(p, "away") == 0;
	if (away == u->away)
		return;
	u->away = away;
	if (u->nconns > 0)
		rtm_fanout_presence(r, u, away ? "away" : "active");
}

void
rtm_event_hook(void *arg, const char *team, uint64_t seq, const char *json,
    size_t len)
{
	struct rtm *r = arg;
	struct rtm_team *t;
	struct rtm_scope sc;
	struct rtm_conn *c;
	struct buf *frame;
	json_t *ev;

	r->stats.events++;
	t = (struct rtm_team *)rtm_map_find(&r->teams, team);
	if (t == NULL)
		return;
	if (rtm_event_scope_fast(json, len, &sc)) {
		frame = rtm_event_frame(seq, json, len);
		if (frame != NULL) {
			rtm_deliver_channel(r, t, sc.channel, NULL, NULL,
			    frame, seq);
			buf_unref(frame);
		}
		return;
	}
	ev = json_loadb(json, len, 0, NULL);
	if (ev == NULL) {
		log_warnx("rtm: event %s/%" PRIu64 " is not JSON, not sent",
		    team, seq);
		return;
	}
	rtm_event_scope(ev, &sc);

	frame = sc.kind != RTM_SCOPE_NONE ? rtm_event_frame(seq, json, len) :
	    NULL;
	if (frame != NULL) {
		switch (sc.kind) {
		case RTM_SCOPE_TEAM:
			for (c = t->conns; c != NULL; c = c->tnext)
				rtm_deliver(r, c, frame, seq);
			break;
		case RTM_SCOPE_USER:
			if (rtm_user_get(t, sc.user, 0) != NULL)
				rtm_deliver_user(r, rtm_user_get(t, sc.user,
				    0), frame, seq);
			break;
		case RTM_SCOPE_CHANNEL:
			rtm_deliver_channel(r, t, sc.channel, sc.user, NULL,
			    frame, seq);
			break;
		case RTM_SCOPE_NONE:
			break;
		}
		buf_unref(frame);
	}

	if (sc.action != RTM_ACT_NONE)
		rtm_act(r, t, &sc);
	if (strcmp(json_get_str(ev, "type") ? json_get_str(ev, "type") : "",
	    "manual_presence_change") == 0)
		rtm_manual_presence(r, t, ev);
	json_decref(ev);
}

/* ---- resume ---- */

/* Whether user may see an event of scope sc, as of txn. */
static int
rtm_visible(struct store_txn *txn, const struct rtm_scope *sc,
    const char *user)
{
	switch (sc->kind) {
	case RTM_SCOPE_TEAM:
		return 1;
	case RTM_SCOPE_USER:
		return strcmp(sc->user, user) == 0;
	case RTM_SCOPE_CHANNEL:
		if (sc->user[0] != '\0' && strcmp(sc->user, user) == 0)
			return 1;
		return store_txn_is_member(txn, sc->channel, user) == 1;
	case RTM_SCOPE_NONE:
		break;
	}
	return 0;
}

static void
rtm_send_json(struct rtm_conn *c, json_t *o)
{
	size_t len;
	char *s = json_dump_compact(o, &len);

	rtm_conn_send(c, s, len);
	free(s);
	json_decref(o);
}

static void
rtm_resume_failed(struct rtm *r, struct rtm_conn *c, enum rtm_resume why,
    uint64_t last)
{
	char epoch[STORE_EPOCH_SIZE];

	r->stats.resume_failed++;
	log_info("rtm: resume of %s at %s refused: %s", c->who.user,
	    ws_peer(c->ws), rtm_resume_reason(why));
	store_team_epoch(r->st, c->who.team, epoch);
	rtm_send_json(c, json_pack("{s:s,s:s,s:s,s:I}", "type",
	    "resume_failed", "reason", rtm_resume_reason(why), "epoch",
	    epoch, "last_seq", (json_int_t)last));
}

static void
rtm_replay_arm(struct rtm *r, double after)
{
	if (ev_is_active(&r->replay_timer)) {
		if (after > 0)
			return;
		ev_timer_stop(r->loop, &r->replay_timer);
	}
	ev_timer_set(&r->replay_timer, after, 0.);
	ev_timer_start(r->loop, &r->replay_timer);
}

void
rtm_fanout_resume(struct rtm *r, struct rtm_conn *c, int have_resume,
    const char *epoch, uint64_t seq)
{
	uint64_t oldest = 0, last = 0;
	struct store_txn *txn;
	enum rtm_resume rc;
	char cur[STORE_EPOCH_SIZE];

	memcpy(cur, store_epoch(r->st), STORE_EPOCH_SIZE);
	txn = store_rd_begin(r->st);
	if (txn != NULL) {
		store_txn_seq_range(txn, c->who.team, &oldest, &last);
		store_txn_team_epoch(txn, c->who.team, cur);
		store_rd_end(txn);
	}
	rtm_send_json(c, json_pack("{s:s,s:s,s:I}", "type", "hello", "epoch",
	    cur, "last_seq", (json_int_t)last));
	c->sent_seq = last;
	if (!have_resume)
		return;

	rc = rtm_resume_check(cur, oldest, last, epoch, seq);
	if (rc != RTM_RESUME_OK) {
		rtm_resume_failed(r, c, rc, last);
		return;
	}
	c->sent_seq = seq;
	c->replaying = 1;
	c->rnext = r->replay;
	r->replay = c;
	rtm_replay_arm(r, 0.);
}

struct rtm_replay {
	struct rtm *r;
	struct rtm_conn *c;
	struct store_txn *txn;
	size_t n;
	int gap;
	int full; /* the connection went over its cap */
};

static int
rtm_replay_cb(void *arg, uint64_t seq, uint64_t time_us, const char *json,
    size_t len)
{
	struct rtm_replay *p = arg;
	struct rtm_conn *c = p->c;
	struct rtm_scope sc;
	struct buf *frame;
	json_t *ev;

	if (seq != c->sent_seq + 1) {
		p->gap = 1;
		return 1;
	}
	p->n++;
	c->sent_seq = seq;
	ev = json_loadb(json, len, 0, NULL);
	if (ev == NULL)
		return 0;
	rtm_event_scope(ev, &sc);
	json_decref(ev);
	if (!rtm_visible(p->txn, &sc, c->who.user))
		return 0;
	frame = rtm_event_frame(seq, json, len);
	if (frame == NULL)
		return 0;
	if (rtm_conn_send_frame(c, frame) == -1)
		p->full = 1;
	else
		p->r->stats.replayed++;
	buf_unref(frame);
	return p->full;
}

/*
 * One batch of c's replay.  Returns 1 when c is done (caught up, failed
 * or closing), 0 when it sent a batch and has more, -1 when it waits
 * for its client to read what is queued.
 */
static int
rtm_replay_step(struct rtm *r, struct rtm_conn *c)
{
	struct rtm_replay p = { r, c, NULL, 0, 0, 0 };
	uint64_t oldest = 0, last = 0;

	if (c->closing)
		return 1;
	if (ws_queued(c->ws) > r->cfg.out_cap / 2)
		return -1;
	p.txn = store_rd_begin(r->st);
	if (p.txn == NULL)
		return -1;
	store_txn_events(p.txn, c->who.team, c->sent_seq, r->cfg.replay_batch,
	    rtm_replay_cb, &p);
	if (p.gap)
		store_txn_seq_range(p.txn, c->who.team, &oldest, &last);
	store_rd_end(p.txn);

	if (p.full)
		return 1;
	if (p.gap) {
		rtm_resume_failed(r, c, RTM_RESUME_TOO_OLD, last);
		c->sent_seq = last;
		return 1;
	}
	if (p.n < r->cfg.replay_batch) {
		r->stats.resume_ok++;
		return 1;
	}
	return 0;
}

void
rtm_replay_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rtm *r = w->data;
	struct rtm_conn **pp, *c;
	int rc, moved = 0;

	for (pp = &r->replay; (c = *pp) != NULL;) {
		rc = rtm_replay_step(r, c);
		if (rc == 1) {
			*pp = c->rnext;
			c->rnext = NULL;
			c->replaying = 0;
			continue;
		}
		if (rc == 0)
			moved = 1;
		pp = &c->rnext;
	}
	if (r->replay != NULL)
		rtm_replay_arm(r, moved ? 0. : 0.005);
}

/* ---- ephemeral events ---- */

#define RTM_TYPING_GAP 1.0 /* seconds between typing relays per conn */

void
rtm_fanout_typing(struct rtm *r, struct rtm_conn *c, const char *channel)
{
	struct store_txn *txn;
	struct buf *frame;
	char text[128];
	int member, n;

	if (ev_now(r->loop) - c->typing_at < RTM_TYPING_GAP)
		return;
	txn = store_rd_begin(r->st);
	if (txn == NULL)
		return;
	member = store_txn_is_member(txn, channel, c->who.user) == 1;
	store_rd_end(txn);
	if (!member) {
		log_debug("rtm: typing of %s in %s: not a member",
		    c->who.user, channel);
		return;
	}
	c->typing_at = ev_now(r->loop);
	n = snprintf(text, sizeof(text), "{\"type\":\"user_typing\","
	    "\"channel\":\"%s\",\"user\":\"%s\"}", channel, c->who.user);
	if (r->eph_fn != NULL)
		r->eph_fn(r->eph_arg, c->team->h.id, text, (size_t)n);
	frame = ws_frame_new(WS_TEXT, text, (size_t)n);
	rtm_deliver_channel(r, c->team, channel, NULL, c->who.user, frame, 0);
	buf_unref(frame);
}

void
rtm_fanout_presence(struct rtm *r, struct rtm_user *u, const char *presence)
{
	struct rtm_sub *s;
	struct buf *frame;
	char text[128];
	int n;

	n = snprintf(text, sizeof(text), "{\"type\":\"presence_change\","
	    "\"user\":\"%s\",\"presence\":\"%s\"}", u->h.id, presence);
	if (r->eph_fn != NULL)
		r->eph_fn(r->eph_arg, u->team->h.id, text, (size_t)n);
	if (u->watchers == NULL)
		return;
	frame = ws_frame_new(WS_TEXT, text, (size_t)n);
	for (s = u->watchers; s != NULL; s = s->next)
		rtm_deliver(r, s->conn, frame, 0);
	buf_unref(frame);
}

void
rtm_ephemeral_in(struct rtm *r, const char *team, const char *user,
    const char *channel, const char *json, size_t len)
{
	struct rtm_team *t;
	struct rtm_user *u;
	struct rtm_sub *s;
	struct buf *frame;

	t = (struct rtm_team *)rtm_map_find(&r->teams, team);
	if (t == NULL)
		return;
	frame = ws_frame_new(WS_TEXT, json, len);
	if (channel != NULL) {
		rtm_deliver_channel(r, t, channel, NULL, user, frame, 0);
	} else if ((u = rtm_user_get(t, user, 0)) != NULL) {
		for (s = u->watchers; s != NULL; s = s->next)
			rtm_deliver(r, s->conn, frame, 0);
	}
	buf_unref(frame);
}

void
rtm_set_ephemeral_hook(struct rtm *r, rtm_ephemeral_fn fn, void *arg)
{
	r->eph_fn = fn;
	r->eph_arg = arg;
}

const char *
rtm_user_presence(struct rtm *r, const char *team, const char *user)
{
	struct rtm_team *t;
	struct rtm_user *u;

	t = (struct rtm_team *)rtm_map_find(&r->teams, team);
	u = t != NULL ? rtm_user_get(t, user, 0) : NULL;
	return u != NULL && u->nconns > 0 && !u->away ? "active" : "away";
}

void
rtm_fanout_presence_sub(struct rtm *r, struct rtm_conn *c, const json_t *ids)
{
	json_t *active = json_array(), *away = json_array();
	struct rtm_user *u;
	struct rtm_sub *s;
	const json_t *v;
	size_t i, j;

	rtm_subs_drop(r, c);
	c->subs = json_array_size(ids) > 0 ?
	    xcalloc(json_array_size(ids), sizeof(*c->subs)) : NULL;
	json_array_foreach(ids, i, v) {
		for (j = 0; j < i; j++)
			if (json_equal(json_array_get(ids, j), (json_t *)v))
				break;
		if (j < i)
			continue;
		u = rtm_user_get(c->team, json_string_value(v), 1);
		s = &c->subs[c->nsubs++];
		s->conn = c;
		s->user = u;
		s->prev = NULL;
		s->next = u->watchers;
		if (u->watchers != NULL)
			u->watchers->prev = s;
		u->watchers = s;
		json_array_append_new(u->nconns > 0 && !u->away ? active :
		    away, json_string(u->h.id));
	}
	if (json_array_size(active) > 0)
		rtm_send_json(c, json_pack("{s:s,s:o,s:s}", "type",
		    "presence_change", "users", active, "presence", "active"));
	else
		json_decref(active);
	if (json_array_size(away) > 0)
		rtm_send_json(c, json_pack("{s:s,s:o,s:s}", "type",
		    "presence_change", "users", away, "presence", "away"));
	else
		json_decref(away);
}
