/*
 * edge_rtm: the RTM WebSocket of parley-edge, with the backend's
 * conventions (docs/rtm.md), fed by the team's one subscription.
 *
 *   rtm.connect (edge_http.c) --> url = <rtm_url>?ticket=<ptk>[&epoch=E
 *     &seq=N][&slim=1], the ticket minted here as the backend does
 *   GET /rtm?ticket=...: signature, expiry, kind ptk; the team is loaded
 *     (the upgrade waits for its snapshot); the token behind the ticket
 *     not revoked, its user known and active.  Otherwise 401.
 *   101, {"type":"hello","epoch","last_seq"}, then a resume from the
 *   team's ring when asked, then live events.
 *
 * A connection's life, as on the backend:
 *
 *   OPEN --client message--> answered (ack, pong, relay)
 *   OPEN --silent heartbeat/2--> WebSocket ping sent
 *   OPEN --silent 7/8 heartbeat with a ping out--> dropped (dead)
 *   OPEN --revocation, shutdown, history replaced--> goodbye or
 *         resume_failed
 *   OPEN --output over out_cap--> dropped by ws.c (slow consumer)
 *   any --> on_close: off the lists, sends in flight forgotten, freed
 *
 * The ring: the last replay_events persisted events of each team, as the
 * WebSocket frames sent live, with their audience.  A resume from
 * (epoch, seq) is served from it when seq lies within it, else answered
 * resume_failed as the backend answers a resume its log cannot serve.
 *
 * A message send becomes a forwarded chat.postMessage, signed with a
 * short-lived token the edge mints for the token the ticket came from
 * (the same id, so the backend's checks and rate limits apply to it);
 * its ack follows the result, which the backend sends after the event.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "buf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "token.h"
#include "util.h"
#include "ws.h"
#include "xmalloc.h"

#include "edge.h"

/* Error codes of acks (docs/rtm.md). */
#define RTM_E_BAD     1
#define RTM_E_NOTEXT  2
#define RTM_E_TOOLONG 3
#define RTM_E_TYPE    4
#define RTM_E_API     5

#define RTM_TEXT_MAX   40000 /* characters of a message's text */
#define RTM_ID_STR_MAX 64
#define RTM_TYPING_GAP 1.0   /* seconds between typing relays per conn */
#define RTM_SEND_TTL   60    /* seconds a send's token lives */

struct edge_rsend;

struct edge_rconn {
	struct edge_srv *srv;
	struct edge_served *ts;
	struct ws_conn *ws;
	struct edge_rconn *aprev, *anext; /* every connection */
	struct edge_rconn *tprev, *tnext; /* the team's */
	char user[TOKEN_USER_MAX + 1];
	char token_id[TOKEN_ID_MAX + 1];
	double last_rx;
	double ping_at;
	double typing_at;
	uint64_t sent_seq;   /* events up to here are sent or skipped */
	int live;            /* on_open ran */
	int closing;
	int have_resume;
	char resume_epoch[EDGE_EPOCH_MAX];
	uint64_t resume_seq;
	char **seen;         /* users whose object the client was sent */
	size_t nseen, seen_cap;
	char **subs;         /* presence_sub: the users watched, sorted */
	size_t nsubs;
	struct edge_rsend *sends;
};

/* A message send waiting for its forwarded result. */
struct edge_rsend {
	struct edge_fwd fwd;
	struct edge_rconn *c; /* NULL once the connection is gone */
	struct edge_rsend *prev, *next;
	json_t *id;
};

/* An upgrade waiting for its team's snapshot. */
struct edge_rup {
	struct edge_srv *srv;
	struct http_req *req;
	struct token_info ti;
	int have_resume;
	char epoch[EDGE_EPOCH_MAX];
	uint64_t seq;
};

/* ---- sending ---- */

static int
edge_rconn_send_frame(struct edge_rconn *c, struct buf *frame)
{
	if (c->closing)
		return -1;
	if (ws_send_frame(c->ws, frame) == -1) {
		c->closing = 1;
		c->srv->stats.rtm_slow++;
		log_info("rtm: %s of %s over its output cap: closed as a slow "
		    "consumer", ws_peer(c->ws), c->user);
		return -1;
	}
	c->srv->stats.deliveries++;
	return 0;
}

static int
edge_rconn_send(struct edge_rconn *c, const char *text, size_t len)
{
	struct buf *b;
	int rc;

	if (c->closing)
		return -1;
	b = ws_frame_new(WS_TEXT, text, len);
	rc = edge_rconn_send_frame(c, b);
	buf_unref(b);
	return rc;
}

/* Sends o (stolen) as JSON. */
static void
edge_rconn_send_json(struct edge_rconn *c, json_t *o)
{
	size_t len;
	char *s = json_dump_compact(o, &len);

	edge_rconn_send(c, s, len);
	free(s);
	json_decref(o);
}

static void
edge_rconn_goodbye(struct edge_rconn *c, int code, const char *reason)
{
	char text[160];
	int n;

	if (c->closing)
		return;
	n = snprintf(text, sizeof(text), "{\"type\":\"goodbye\","
	    "\"reason\":\"%s\"}", reason);
	edge_rconn_send(c, text, (size_t)n);
	c->closing = 1;
	ws_close(c->ws, code, reason);
}

static void
edge_rconn_ack_error(struct edge_rconn *c, const json_t *id, int code,
    const char *msg)
{
	json_t *o = json_pack("{s:b,s:{s:i,s:s}}", "ok", 0, "error", "code",
	    code, "msg", msg);

	if (id != NULL)
		json_object_set(o, "reply_to", (json_t *)id);
	edge_rconn_send_json(c, o);
}

/* ---- users the client knows ---- */

static int
edge_rconn_seen_find(const struct edge_rconn *c, const char *id, size_t *at)
{
	size_t lo = 0, hi = c->nseen, mid;
	int r;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		r = strcmp(c->seen[mid], id);
		if (r == 0) {
			*at = mid;
			return 1;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return 0;
}

/* Notes that c has user id's object; returns 1 when it had it already. */
static int
edge_rconn_seen_add(struct edge_rconn *c, const char *id)
{
	size_t at;

	if (edge_rconn_seen_find(c, id, &at))
		return 1;
	if (c->nseen == c->seen_cap) {
		c->seen_cap = c->seen_cap ? c->seen_cap * 2 : 8;
		c->seen = xreallocarray(c->seen, c->seen_cap,
		    sizeof(*c->seen));
	}
	memmove(&c->seen[at + 1], &c->seen[at],
	    (c->nseen - at) * sizeof(*c->seen));
	c->seen[at] = xstrdup(id);
	c->nseen++;
	return 0;
}

static int
edge_idcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether c asked for the presence of user id (presence_sub). */
static int
edge_rconn_watches(const struct edge_rconn *c, const char *id)
{
	return id != NULL && c->nsubs > 0 && bsearch(&id, c->subs, c->nsubs,
	    sizeof(*c->subs), edge_idcmp) != NULL;
}

static void
edge_rconn_subs_free(struct edge_rconn *c)
{
	size_t i;

	for (i = 0; i < c->nsubs; i++)
		free(c->subs[i]);
	free(c->subs);
	c->subs = NULL;
	c->nsubs = 0;
}

/*
 * Whether a presence_change (single or batch form) concerns a user c
 * watches: presence goes only to those who asked, as on the backend.
 */
static int
edge_rconn_wants_presence(const struct edge_rconn *c, const json_t *ev)
{
	const json_t *users = json_object_get(ev, "users"), *v;
	size_t i;

	if (c->nsubs == 0)
		return 0;
	if (!json_is_array(users))
		return edge_rconn_watches(c, json_get_str(ev, "user"));
	json_array_foreach(users, i, v) {
		if (edge_rconn_watches(c, json_string_value(v)))
			return 1;
	}
	return 0;
}

/*
 * Before a message that names users (its author, <@U...> mentions) the
 * client has not been sent: a user_change event with each one's object,
 * so a slim client can show the message without asking.  A user_change
 * the client gets anyway counts as sent.
 */
static void
edge_rconn_users_first(struct edge_rconn *c, const json_t *ev,
    const char *type)
{
	struct edge_team *t = c->ts->team;
	const char *text, *p, *uid;
	struct edge_user *u;
	char id[TOKEN_USER_MAX + 1], *s;
	size_t n, len;
	json_t *msg = (json_t *)ev;

	if (strcmp(type, "user_change") == 0 || strcmp(type, "team_join") ==
	    0) {
		uid = json_get_str(json_object_get(ev, "user"), "id");
		if (uid != NULL)
			(void)edge_rconn_seen_add(c, uid);
		return;
	}
	if (strcmp(type, "message") != 0)
		return;
	if (json_is_object(json_object_get(ev, "message")))
		msg = json_object_get(ev, "message");
	uid = json_get_str(msg, "user");
	text = json_get_str(msg, "text");
	p = text;
	for (;;) {
		if (uid == NULL) {
			if (p == NULL || (p = strstr(p, "<@")) == NULL)
				break;
			p += 2;
			n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
			if (n == 0 || n > TOKEN_USER_MAX || (p[n] != '>' &&
			    p[n] != '|'))
				continue;
			memcpy(id, p, n);
			id[n] = '\0';
			uid = id;
		}
		if (strcmp(uid, c->user) != 0 &&
		    (u = edge_team_user(t, uid)) != NULL &&
		    !edge_rconn_seen_add(c, uid)) {
			s = xasprintf("{\"type\":\"user_change\",\"user\":%.*s,"
			    "\"parley_lazy\":true}", (int)u->json_len,
			    u->json);
			len = strlen(s);
			edge_rconn_send(c, s, len);
			free(s);
		}
		uid = NULL;
	}
}

/* ---- the ring ---- */

void
edge_ring_clear(struct edge_served *ts)
{
	size_t i, cap = ts->srv->cfg.replay_events;

	for (i = 0; i < ts->ring_n; i++)
		buf_unref(ts->ring[(ts->ring_head + i) % cap].frame);
	ts->ring_head = 0;
	ts->ring_n = 0;
}

static void
edge_ring_push(struct edge_served *ts, uint64_t seq, struct buf *frame,
    const struct edge_audience *aud)
{
	size_t cap = ts->srv->cfg.replay_events;
	struct edge_ring_ent *e;

	if (cap == 0) {
		ts->ring_base = seq;
		return;
	}
	if (ts->ring == NULL)
		ts->ring = xcalloc(cap, sizeof(*ts->ring));
	if (ts->ring_n == cap) {
		e = &ts->ring[ts->ring_head];
		ts->ring_base = e->seq;
		buf_unref(e->frame);
		ts->ring_head = (ts->ring_head + 1) % cap;
		ts->ring_n--;
	}
	e = &ts->ring[(ts->ring_head + ts->ring_n) % cap];
	e->seq = seq;
	e->frame = buf_ref(frame);
	e->aud = *aud;
	ts->ring_n++;
}

static struct buf *edge_event_frame(uint64_t seq, const char *json,
    size_t len);

/* The seq of the ring's newest entry (0 when empty). */
static uint64_t
edge_ring_last(const struct edge_served *ts)
{
	size_t cap = ts->srv->cfg.replay_events;

	if (ts->ring_n == 0)
		return 0;
	return ts->ring[(ts->ring_head + ts->ring_n - 1) % cap].seq;
}

void
edge_ring_fill(struct edge_served *ts, uint64_t seq, const char *json,
    size_t len)
{
	struct edge_audience aud;
	struct buf *frame;

	if (ts->ring_n > 0 && seq != edge_ring_last(ts) + 1)
		edge_ring_clear(ts);
	if (ts->ring_n == 0)
		ts->ring_base = seq - 1;
	/* one nobody may see still keeps the ring without a hole */
	if (edge_team_audience(ts->team, json, len, &aud) != EDGE_APPLY_OK)
		aud.kind = EDGE_AUD_NONE;
	frame = edge_event_frame(seq, json, len);
	edge_ring_push(ts, seq, frame, &aud);
	buf_unref(frame);
}

void
edge_ring_loaded(struct edge_served *ts)
{
	if (ts->ring_n == 0 || edge_ring_last(ts) != ts->team->seq) {
		edge_ring_clear(ts);
		ts->ring_base = ts->team->seq;
	}
}

/* The WebSocket frame of event seq: the JSON with "seq" put first. */
static struct buf *
edge_event_frame(uint64_t seq, const char *json, size_t len)
{
	char head[40], *s;
	struct buf *b;
	size_t hl;

	if (seq == 0 || len < 2 || json[0] != '{')
		return ws_frame_new(WS_TEXT, json, len);
	hl = (size_t)snprintf(head, sizeof(head), "{\"seq\":%" PRIu64 "%s",
	    seq, len > 2 ? "," : "");
	s = xmalloc(hl + len - 1);
	memcpy(s, head, hl);
	memcpy(s + hl, json + 1, len - 1);
	b = ws_frame_new(WS_TEXT, s, hl + len - 1);
	free(s);
	return b;
}

/* The user of c as the cache has it now (NULL when gone). */
static struct edge_user *
edge_rconn_user(const struct edge_rconn *c)
{
	return edge_team_user(c->ts->team, c->user);
}

/* Sends an event frame to c if it may see it; ev may be NULL. */
static void
edge_rconn_deliver(struct edge_rconn *c, struct buf *frame, uint64_t seq,
    const struct edge_audience *aud, const json_t *ev, const char *type)
{
	struct edge_user *u;

	if (c->closing || !c->live)
		return;
	if (seq != 0) {
		if (seq <= c->sent_seq)
			return;
		c->sent_seq = seq;
	}
	u = edge_rconn_user(c);
	if (u == NULL || !edge_team_aud_sees(aud, u))
		return;
	if (ev != NULL && type != NULL)
		edge_rconn_users_first(c, ev, type);
	(void)edge_rconn_send_frame(c, frame);
}

void
edge_rtm_event(struct edge_served *ts, uint64_t seq, const char *json,
    size_t len, const struct edge_audience *aud)
{
	struct edge_rconn *c, *next;
	struct buf *frame;
	const char *type = NULL;
	json_t *ev = NULL;

	frame = edge_event_frame(seq, json, len);
	if (seq != 0)
		edge_ring_push(ts, seq, frame, aud);
	if (ts->conns != NULL && aud->kind != EDGE_AUD_NONE) {
		ev = json_loadb(json, len, 0, NULL);
		type = json_get_str(ev, "type");
		if (type != NULL && strcmp(type, "presence_change") == 0) {
			for (c = ts->conns; c != NULL; c = next) {
				next = c->tnext;
				if (edge_rconn_wants_presence(c, ev))
					edge_rconn_deliver(c, frame, 0, aud,
					    NULL, NULL);
			}
		} else if (type != NULL && strcmp(type, "user_typing") == 0) {
			/* not to the one who types */
			const char *who = json_get_str(ev, "user");

			for (c = ts->conns; c != NULL; c = next) {
				next = c->tnext;
				if (who == NULL || strcmp(who, c->user) != 0)
					edge_rconn_deliver(c, frame, 0, aud,
					    NULL, NULL);
			}
		} else {
			for (c = ts->conns; c != NULL; c = next) {
				next = c->tnext;
				edge_rconn_deliver(c, frame, seq, aud, ev,
				    type);
			}
		}
		json_decref(ev);
	} else if (seq != 0) {
		for (c = ts->conns; c != NULL; c = c->tnext)
			if (c->sent_seq < seq)
				c->sent_seq = seq;
	}
	buf_unref(frame);
}

void
edge_rtm_reset(struct edge_served *ts, const char *reason)
{
	struct edge_rconn *c;

	for (c = ts->conns; c != NULL; c = c->tnext) {
		if (c->closing || !c->live)
			continue;
		ts->srv->stats.rtm_resume_failed++;
		c->sent_seq = ts->team->seq;
		edge_rconn_send_json(c, json_pack("{s:s,s:s,s:s,s:I}", "type",
		    "resume_failed", "reason", reason, "epoch",
		    ts->team->epoch, "last_seq", (json_int_t)ts->team->seq));
	}
}

void
edge_rtm_revoke(struct edge_served *ts, const char *token_id,
    const char *user)
{
	struct edge_rconn *c;

	for (c = ts->conns; c != NULL; c = c->tnext) {
		if (c->closing)
			continue;
		if (token_id == NULL && user == NULL) {
			/* the team is going away */
			edge_rconn_goodbye(c, 1001, "server_shutdown");
		} else if (token_id != NULL &&
		    strcmp(c->token_id, token_id) == 0) {
			ts->srv->stats.rtm_revoked++;
			edge_rconn_goodbye(c, 4001, "token_revoked");
		} else if (user != NULL && strcmp(c->user, user) == 0) {
			ts->srv->stats.rtm_revoked++;
			edge_rconn_goodbye(c, 4001, "account_inactive");
		}
	}
}

/* After hello: a resume from the ring, or resume_failed. */
static void
edge_rconn_resume(struct edge_rconn *c)
{
	struct edge_served *ts = c->ts;
	struct edge_team *t = ts->team;
	size_t cap = ts->srv->cfg.replay_events, i;
	const struct edge_ring_ent *e;
	const char *why = NULL;
	struct edge_user *u;

	c->sent_seq = t->seq;
	if (!c->have_resume)
		return;
	if (strcmp(c->resume_epoch, t->epoch) != 0)
		why = "epoch_changed";
	else if (c->resume_seq > t->seq)
		why = "seq_unknown";
	else if (c->resume_seq < ts->ring_base)
		why = "seq_too_old";
	if (why != NULL) {
		ts->srv->stats.rtm_resume_failed++;
		log_info("rtm: resume of %s at %s refused: %s", c->user,
		    ws_peer(c->ws), why);
		edge_rconn_send_json(c, json_pack("{s:s,s:s,s:s,s:I}", "type",
		    "resume_failed", "reason", why, "epoch", t->epoch,
		    "last_seq", (json_int_t)t->seq));
		return;
	}
	u = edge_rconn_user(c);
	for (i = 0; i < ts->ring_n && u != NULL; i++) {
		e = &ts->ring[(ts->ring_head + i) % cap];
		if (e->seq <= c->resume_seq || !edge_team_aud_sees(&e->aud, u))
			continue;
		if (edge_rconn_send_frame(c, e->frame) == -1)
			return;
	}
	ts->srv->stats.rtm_resume_ok++;
}

/* ---- message sends ---- */

static void
edge_rsend_unlink(struct edge_rsend *s)
{
	if (s->c == NULL)
		return;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		s->c->sends = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->c = NULL;
}

static void
edge_rsend_done(struct edge_fwd *f, int status, const char *body,
    size_t len, int retry_after)
{
	struct edge_rsend *s = (struct edge_rsend *)f;
	struct edge_rconn *c = s->c;
	json_t *res, *ack, *extra;
	const char *err;

	(void)retry_after;
	if (c != NULL) {
		res = json_loadb(body, len, 0, NULL);
		if (status == 200 && json_get_bool(res, "ok", 0)) {
			ack = json_pack("{s:b}", "ok", 1);
			if (s->id != NULL)
				json_object_set(ack, "reply_to", s->id);
			extra = json_pack("{s:s?,s:s?,s:s?}", "channel",
			    json_get_str(res, "channel"), "ts",
			    json_get_str(res, "ts"), "text", json_get_str(
			    json_object_get(res, "message"), "text"));
			json_object_update(ack, extra);
			json_decref(extra);
			edge_rconn_send_json(c, ack);
		} else {
			err = json_get_str(res, "error");
			edge_rconn_ack_error(c, s->id, RTM_E_API,
			    err != NULL ? err : "internal_error");
		}
		json_decref(res);
		edge_rsend_unlink(s);
	}
	json_decref(s->id);
	free(s);
}

static void
edge_rconn_message(struct edge_rconn *c, const json_t *id,
    const char *channel, const char *text, const char *thread_ts)
{
	struct edge_srv *srv = c->srv;
	char tok[TOKEN_MAX_LEN];
	struct edge_rsend *s;
	json_t *args;

	if (token_mint(srv->keys, TOKEN_USER, c->ts->team->id, c->user,
	    c->token_id, RTM_SEND_TTL, tok, sizeof(tok)) == -1) {
		edge_rconn_ack_error(c, id, RTM_E_API, "internal_error");
		return;
	}
	args = json_pack("{s:s,s:s}", "channel", channel, "text", text);
	if (thread_ts != NULL)
		json_object_set_new(args, "thread_ts", json_string(thread_ts));
	s = xcalloc(1, sizeof(*s));
	s->c = c;
	s->id = id != NULL ? json_incref((json_t *)id) : NULL;
	s->fwd.done = edge_rsend_done;
	if (edge_link_forward(c->ts->link, &s->fwd, c->ts->team->id,
	    "chat.postMessage", args, tok, NULL) == -1) {
		json_decref(args);
		json_decref(s->id);
		free(s);
		srv->stats.forward_fail++;
		edge_rconn_ack_error(c, id, RTM_E_API, "service_unavailable");
		return;
	}
	json_decref(args);
	s->next = c->sends;
	if (c->sends != NULL)
		c->sends->prev = s;
	c->sends = s;
}

/* ---- typing and presence ---- */

static void
edge_rconn_typing(struct edge_rconn *c, const char *channel)
{
	struct edge_served *ts = c->ts;
	struct edge_channel *ch = edge_team_channel(ts->team, channel);
	struct edge_user *u = edge_rconn_user(c);
	struct edge_audience aud;
	char text[128];
	int n;

	if (ev_now(c->srv->loop) - c->typing_at < RTM_TYPING_GAP)
		return;
	if (ch == NULL || u == NULL || edge_team_member(u, ch) == NULL) {
		log_debug("rtm: typing of %s in %s: not a member", c->user,
		    channel);
		return;
	}
	c->typing_at = ev_now(c->srv->loop);
	n = snprintf(text, sizeof(text), "{\"type\":\"user_typing\","
	    "\"channel\":\"%s\",\"user\":\"%s\"}", channel, c->user);
	memset(&aud, 0, sizeof(aud));
	aud.kind = EDGE_AUD_CHANNEL;
	aud.chan = ch;
	edge_rtm_event(ts, 0, text, (size_t)n, &aud);
	(void)edge_link_ephemeral(ts->link, ts->team->id, c->user, text,
	    (size_t)n);
}

static void
edge_rconn_presence_sub(struct edge_rconn *c, const json_t *ids)
{
	json_t *active = json_array(), *away = json_array();
	struct edge_user *u;
	const json_t *v;
	size_t i, n;

	edge_rconn_subs_free(c);
	if (json_array_size(ids) > 0)
		c->subs = xcalloc(json_array_size(ids), sizeof(*c->subs));
	json_array_foreach(ids, i, v) {
		u = edge_team_user(c->ts->team, json_string_value(v));
		if (u != NULL)
			c->subs[c->nsubs++] = xstrdup(u->id);
	}
	if (c->nsubs > 1)
		qsort(c->subs, c->nsubs, sizeof(*c->subs), edge_idcmp);
	for (i = n = 0; i < c->nsubs; i++) {
		if (n > 0 && strcmp(c->subs[n - 1], c->subs[i]) == 0) {
			free(c->subs[i]);
			continue;
		}
		c->subs[n++] = c->subs[i];
	}
	c->nsubs = n;
	for (i = 0; i < c->nsubs; i++) {
		u = edge_team_user(c->ts->team, c->subs[i]);
		if (u == NULL)
			continue;
		json_array_append_new(u->presence == EDGE_PRESENCE_ACTIVE ?
		    active : away, json_string(u->id));
	}
	if (json_array_size(active) > 0)
		edge_rconn_send_json(c, json_pack("{s:s,s:o,s:s}", "type",
		    "presence_change", "users", active, "presence", "active"));
	else
		json_decref(active);
	if (json_array_size(away) > 0)
		edge_rconn_send_json(c, json_pack("{s:s,s:o,s:s}", "type",
		    "presence_change", "users", away, "presence", "away"));
	else
		json_decref(away);
}

/*
 * The presence of c's user as the other clients and the backend see it:
 * active with a first connection, away with the last one gone.
 */
static void
edge_rconn_presence(struct edge_rconn *c, const char *presence)
{
	struct edge_served *ts = c->ts;
	struct edge_audience aud;
	struct edge_rconn *o;
	char text[128];
	int n;

	for (o = ts->conns; o != NULL; o = o->tnext)
		if (o != c && !o->closing && strcmp(o->user, c->user) == 0)
			return;
	n = snprintf(text, sizeof(text), "{\"type\":\"presence_change\","
	    "\"user\":\"%s\",\"presence\":\"%s\"}", c->user, presence);
	if (edge_team_apply_ephemeral(ts->team, text, (size_t)n, &aud) ==
	    EDGE_APPLY_OK)
		edge_rtm_event(ts, 0, text, (size_t)n, &aud);
	(void)edge_link_ephemeral(ts->link, ts->team->id, c->user, text,
	    (size_t)n);
}

/* ---- client messages ---- */

static int
edge_rtm_id_ok(const json_t *id)
{
	if (json_is_integer(id))
		return 1;
	return json_is_string(id) && json_string_length(id) > 0 &&
	    json_string_length(id) <= RTM_ID_STR_MAX;
}

/* A channel id: C, G or D and ten more of [0-9A-Z]. */
static int
edge_rtm_channel_ok(const char *ch)
{
	return ch != NULL && strlen(ch) == 11 && strchr("CGD", ch[0]) !=
	    NULL && util_all_in(ch + 1, 10,
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
}

/* A ts: "seconds.micros", digits and one dot. */
static int
edge_rtm_ts_ok(const char *ts)
{
	const char *dot = ts != NULL ? strchr(ts, '.') : NULL;

	return dot != NULL && dot > ts && strlen(dot + 1) == 6 &&
	    util_all_in(ts, (size_t)(dot - ts), "0123456789") &&
	    util_all_in(dot + 1, 6, "0123456789");
}

/* Characters of UTF-8 text (continuation bytes not counted). */
static size_t
edge_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void
edge_rconn_input(struct edge_rconn *c, const char *data, size_t len)
{
	const json_t *id = NULL, *ids, *v;
	const char *type, *channel, *text, *th = NULL, *err = NULL;
	json_t *o, *pong;
	const char *k;
	size_t i;

	o = args_json_parse(data, len);
	if (o == NULL) {
		edge_rconn_ack_error(c, NULL, RTM_E_BAD, "invalid_json");
		return;
	}
	if (!json_is_object(o)) {
		edge_rconn_ack_error(c, NULL, RTM_E_BAD, "not_an_object");
		goto out;
	}
	id = json_object_get(o, "id");
	if (id != NULL && !edge_rtm_id_ok(id)) {
		edge_rconn_ack_error(c, NULL, RTM_E_BAD, "bad_id");
		goto out;
	}
	type = json_get_str(o, "type");
	channel = json_get_str(o, "channel");
	if (type == NULL || type[0] == '\0') {
		edge_rconn_ack_error(c, id, RTM_E_BAD, "no_type");
		goto out;
	}
	if (strcmp(type, "ping") == 0) {
		pong = json_pack("{s:s}", "type", "pong");
		json_object_foreach(o, k, v) {
			if (strcmp(k, "type") != 0 && strcmp(k, "id") != 0)
				json_object_set(pong, k, (json_t *)v);
		}
		if (id != NULL)
			json_object_set(pong, "reply_to", (json_t *)id);
		edge_rconn_send_json(c, pong);
	} else if (strcmp(type, "message") == 0) {
		text = json_get_str(o, "text");
		if (json_object_get(o, "thread_ts") != NULL &&
		    !edge_rtm_ts_ok(th = json_get_str(o, "thread_ts")))
			err = "bad_thread_ts";
		if (!edge_rtm_channel_ok(channel))
			err = "bad_channel";
		else if (text == NULL || text[0] == '\0')
			err = "no_text";
		else if (edge_utf8_len(text) > RTM_TEXT_MAX)
			err = "msg_too_long";
		if (err != NULL) {
			edge_rconn_ack_error(c, id, strcmp(err, "no_text") ==
			    0 ? RTM_E_NOTEXT : strcmp(err, "msg_too_long") ==
			    0 ? RTM_E_TOOLONG : RTM_E_BAD, err);
			goto out;
		}
		edge_rconn_message(c, id, channel, text, th);
	} else if (strcmp(type, "typing") == 0) {
		if (!edge_rtm_channel_ok(channel))
			edge_rconn_ack_error(c, id, RTM_E_BAD, "bad_channel");
		else
			edge_rconn_typing(c, channel);
	} else if (strcmp(type, "presence_sub") == 0) {
		ids = json_object_get(o, "ids");
		if (!json_is_array(ids) ||
		    json_array_size(ids) > c->srv->cfg.presence_max) {
			edge_rconn_ack_error(c, id, RTM_E_BAD, "bad_ids");
			goto out;
		}
		json_array_foreach(ids, i, v) {
			if (!json_is_string(v)) {
				edge_rconn_ack_error(c, id, RTM_E_BAD,
				    "bad_ids");
				goto out;
			}
		}
		edge_rconn_presence_sub(c, ids);
	} else {
		edge_rconn_ack_error(c, id, RTM_E_TYPE, "unknown_type");
	}
out:
	json_decref(o);
}

/* ---- WebSocket callbacks ---- */

static void
edge_rtm_on_open(struct ws_conn *wc, void *arg)
{
	struct edge_srv *srv = arg;
	struct edge_rconn *c = ws_user(wc);
	struct edge_served *ts = c->ts;
	int first = 1;
	struct edge_rconn *o;

	c->live = 1;
	c->ws = wc;
	if (srv->cfg.rtm_sndbuf > 0 &&
	    ws_set_sndbuf(wc, (int)srv->cfg.rtm_sndbuf) == -1)
		log_warn("rtm: setsockopt SO_SNDBUF for %s", ws_peer(wc));
	c->last_rx = ev_now(srv->loop);
	c->anext = srv->rconns;
	if (srv->rconns != NULL)
		srv->rconns->aprev = c;
	srv->rconns = c;
	srv->nrconns++;
	for (o = ts->conns; o != NULL; o = o->tnext)
		if (strcmp(o->user, c->user) == 0)
			first = 0;
	c->tnext = ts->conns;
	if (ts->conns != NULL)
		ts->conns->tprev = c;
	ts->conns = c;
	ts->nconns++;
	srv->stats.rtm_opened++;

	edge_rconn_send_json(c, json_pack("{s:s,s:s,s:I}", "type", "hello",
	    "epoch", ts->team->epoch, "last_seq", (json_int_t)ts->team->seq));
	edge_rconn_resume(c);
	if (first)
		edge_rconn_presence(c, "active");
}

static void
edge_rtm_on_message(struct ws_conn *wc, enum ws_opcode op,
    const unsigned char *data, size_t len, void *arg)
{
	struct edge_srv *srv = arg;
	struct edge_rconn *c = ws_user(wc);

	c->last_rx = ev_now(srv->loop);
	c->ping_at = 0;
	c->ts->last_used = c->last_rx;
	if (c->closing)
		return;
	if (op != WS_TEXT) {
		log_info("rtm: binary message from %s, closing",
		    ws_peer(wc));
		c->closing = 1;
		ws_close(wc, 1003, "text messages only");
		return;
	}
	edge_rconn_input(c, (const char *)data, len);
}

static void
edge_rtm_on_pong(struct ws_conn *wc, void *arg)
{
	struct edge_srv *srv = arg;
	struct edge_rconn *c = ws_user(wc);

	c->last_rx = ev_now(srv->loop);
	c->ping_at = 0;
}

static void
edge_rtm_on_close(struct ws_conn *wc, int code, void *arg)
{
	struct edge_srv *srv = arg;
	struct edge_rconn *c = ws_user(wc);
	struct edge_served *ts = c->ts;
	size_t i;

	if (!c->live)
		return;
	if (code == 1008 && !c->closing) {
		srv->stats.rtm_slow++;
		log_info("rtm: %s of %s over its output cap: closed as a "
		    "slow consumer", ws_peer(wc), c->user);
	}
	c->closing = 1;
	while (c->sends != NULL)
		edge_rsend_unlink(c->sends);
	if (c->tprev != NULL)
		c->tprev->tnext = c->tnext;
	else
		ts->conns = c->tnext;
	if (c->tnext != NULL)
		c->tnext->tprev = c->tprev;
	ts->nconns--;
	ts->last_used = ev_now(srv->loop);
	if (!srv->stopping)
		edge_rconn_presence(c, "away");
	if (c->aprev != NULL)
		c->aprev->anext = c->anext;
	else
		srv->rconns = c->anext;
	if (c->anext != NULL)
		c->anext->aprev = c->aprev;
	srv->nrconns--;
	for (i = 0; i < c->nseen; i++)
		free(c->seen[i]);
	free(c->seen);
	edge_rconn_subs_free(c);
	free(c);
}

struct ws_server *
edge_rtm_server(struct edge_srv *srv)
{
	struct ws_callbacks cb;
	struct ws_limits lim;
	struct ws_server *ws;

	memset(&cb, 0, sizeof(cb));
	cb.on_open = edge_rtm_on_open;
	cb.on_message = edge_rtm_on_message;
	cb.on_close = edge_rtm_on_close;
	ws_limits_default(&lim);
	lim.max_message = srv->cfg.rtm_max_message;
	lim.out_cap = srv->cfg.rtm_out_cap;
	ws = ws_server_new(srv->loop, &lim, &cb, srv);
	ws_server_on_pong(ws, edge_rtm_on_pong);
	return ws;
}

void
edge_rtm_sweep(struct edge_srv *srv, double now)
{
	double hb = srv->cfg.heartbeat, quiet;
	struct edge_rconn *c;

	for (c = srv->rconns; c != NULL; c = c->anext) {
		if (c->closing)
			continue;
		quiet = now - c->last_rx;
		if (c->ping_at != 0 && quiet >= hb * 7 / 8) {
			log_info("rtm: %s of %s silent for %.1fs: closed",
			    ws_peer(c->ws), c->user, quiet);
			srv->stats.rtm_dead++;
			c->closing = 1;
			ws_abort(c->ws, 1006);
		} else if (c->ping_at == 0 && quiet >= hb / 2) {
			if (ws_send(c->ws, WS_PING, "", 0) == 0)
				c->ping_at = now;
		}
	}
}

void
edge_rtm_shutdown(struct edge_srv *srv)
{
	struct edge_rconn *c;

	for (c = srv->rconns; c != NULL; c = c->anext)
		edge_rconn_goodbye(c, 1001, "server_shutdown");
}

/* ---- the upgrade ---- */

static void
edge_rtm_refuse(struct edge_srv *srv, struct http_req *req, int status,
    const char *error)
{
	char body[96];

	srv->stats.rtm_refused++;
	log_info("rtm: upgrade from %s refused: %s", http_req_peer(req),
	    error);
	snprintf(body, sizeof(body), "{\"ok\":false,\"error\":\"%s\"}",
	    error);
	http_reply_str(req, status, "application/json", body);
}

/* The team of an upgrade is ready (or failed): accept or refuse. */
static void
edge_rtm_upgrade_ready(struct edge_served *ts, void *arg, const char *err)
{
	struct edge_rup *up = arg;
	struct edge_srv *srv = up->srv;
	struct edge_rconn *c;

	if (err == NULL)
		err = edge_auth_check(ts, &up->ti, NULL);
	if (err == NULL && http_req_gone(up->req))
		err = "gone";
	if (err == NULL && srv->stopping)
		err = "service_unavailable";
	if (err != NULL) {
		edge_rtm_refuse(srv, up->req, strcmp(err,
		    "service_unavailable") == 0 ? 503 : 401, err);
		free(up);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->ts = ts;
	util_strlcpy(c->user, up->ti.user, sizeof(c->user));
	util_strlcpy(c->token_id, up->ti.id, sizeof(c->token_id));
	c->have_resume = up->have_resume;
	util_strlcpy(c->resume_epoch, up->epoch, sizeof(c->resume_epoch));
	c->resume_seq = up->seq;
	(void)edge_rconn_seen_add(c, c->user);
	(void)ws_accept(srv->ws, up->req, c);
	if (!c->live)
		free(c);
	free(up);
}

/* The value of parameter name in query q, percent-decoded; 1, 0 or -1. */
static int
edge_query_param(const char *q, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), o;
	const char *p = q, *end;
	unsigned hi, lo;

	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) >= nl && strncmp(p, name, nl) == 0 &&
		    (p[nl] == '=' || p + nl == end)) {
			p += nl + (p[nl] == '=');
			for (o = 0; p < end; p++) {
				if (o + 1 >= outlen)
					return -1;
				if (*p == '%') {
					if (end - p < 3 ||
					    sscanf(p + 1, "%1x%1x", &hi,
					    &lo) != 2)
						return -1;
					out[o++] = (char)(hi * 16 + lo);
					p += 2;
				} else {
					out[o++] = *p == '+' ? ' ' : *p;
				}
			}
			out[o] = '\0';
			return strlen(out) == o ? 1 : -1;
		}
		p = *end != '\0' ? end + 1 : NULL;
	}
	return 0;
}

void
edge_rtm_upgrade(struct edge_srv *srv, struct http_req *req)
{
	char ticket[TOKEN_MAX_LEN], epoch[TOKEN_MAX_LEN], seq[32];
	const char *q = http_req_query(req);
	struct edge_served *ts;
	struct edge_rup *up;
	int he, hs, rc;

	if (srv->stopping) {
		http_reply_str(req, 503, "application/json",
		    "{\"ok\":false,\"error\":\"service_unavailable\"}");
		return;
	}
	if (!ws_is_upgrade(req)) {
		http_reply_header(req, "Upgrade", "websocket");
		http_reply_str(req, 426, "application/json",
		    "{\"ok\":false,\"error\":\"websocket_only\"}");
		return;
	}
	if (srv->nrconns >= (unsigned)srv->cfg.rtm_max_conns) {
		edge_rtm_refuse(srv, req, 503, "too_many_connections");
		return;
	}
	if (edge_query_param(q, "ticket", ticket, sizeof(ticket)) != 1) {
		edge_rtm_refuse(srv, req, 401, "not_authed");
		return;
	}
	up = xcalloc(1, sizeof(*up));
	up->srv = srv;
	up->req = req;
	rc = token_verify(srv->keys, ticket, strlen(ticket), time(NULL),
	    &up->ti);
	if (rc != TOKEN_OK || up->ti.kind != TOKEN_TICKET) {
		free(up);
		edge_rtm_refuse(srv, req, 401, rc == TOKEN_EXPIRED ?
		    "ticket_expired" : rc != TOKEN_OK ? "invalid_auth" :
		    "not_a_ticket");
		return;
	}
	he = edge_query_param(q, "epoch", epoch, sizeof(epoch));
	hs = edge_query_param(q, "seq", seq, sizeof(seq));
	if (he != 0 || hs != 0) {
		if (he != 1 || hs != 1 || strlen(epoch) >= EDGE_EPOCH_MAX ||
		    util_parse_u64(seq, strlen(seq), UINT64_MAX,
		    &up->seq) == -1) {
			free(up);
			edge_rtm_refuse(srv, req, 400, "invalid_resume");
			return;
		}
		up->have_resume = 1;
		util_strlcpy(up->epoch, epoch, sizeof(up->epoch));
	}
	ts = edge_served_get(srv, up->ti.team, 1);
	if (ts == NULL) {
		free(up);
		edge_rtm_refuse(srv, req, 503, "service_unavailable");
		return;
	}
	edge_served_wait(ts, edge_rtm_upgrade_ready, up);
}
