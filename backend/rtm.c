/*
 * rtm: the RTM WebSocket endpoint of parley-backend (docs/rtm.md).
 *
 *   rtm.connect --> url = <rtm_url>?ticket=<ptk>[&epoch=E&seq=N][&slim=1]
 *     (a relative rtm_url, "/rtm", after the client's ws[s]://host)
 *   GET /rtm?ticket=... (Upgrade: websocket)
 *     ticket: signature, expiry, kind ptk; the token it was minted
 *     from (its id is the ticket's id): known, not revoked; the user
 *     active.  Otherwise 401 and no WebSocket.
 *   101, then {"type":"hello","epoch","last_seq"}, then a resume if asked
 *   (rtm_fanout.c), then live events.
 *
 * A connection's life:
 *
 *   OPEN --client message--> answered (ack, pong, relay)
 *   OPEN --silent heartbeat/2--> WebSocket ping sent
 *   OPEN --silent 7/8 heartbeat with a ping out--> dropped (dead)
 *   OPEN --revocation, shutdown--> goodbye, close handshake (CLOSING)
 *   OPEN --output over out_cap--> dropped by ws.c (slow consumer)
 *   any --> on_close: off every list, pending acks forgotten, freed
 *
 * A message send becomes a chat.postMessage write through the Web API's
 * own method (same checks, same events); its ack goes out from the
 * commit's done function, after the event it caused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "token.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/rtm_int.h"

/* Error codes of acks (docs/rtm.md). */
#define RTM_E_BAD      1 /* a malformed message */
#define RTM_E_NOTEXT   2 /* message text is missing */
#define RTM_E_TOOLONG  3
#define RTM_E_TYPE     4 /* a type the server does not take */
#define RTM_E_API      5 /* the write failed: msg is the Web API error */

#define RTM_PARAM_MAX  TOKEN_MAX_LEN

/* The server rtm.connect describes: one per process. */
static struct rtm *rtm_current;

struct rtm_send {
	struct rtm_conn *conn; /* NULL once the connection is gone */
	struct rtm_send *prev, *next;
	json_t *id;
};

void
rtm_config_default(struct rtm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ticket_ttl = 30;
	cfg->heartbeat = 30;
	cfg->out_cap = 1024 * 1024;
	cfg->max_message = 64 * 1024;
	cfg->replay_batch = 256;
	cfg->presence_max = 500;
	cfg->max_conns = 15000;
	cfg->sndbuf = 256 * 1024;
}

/* ---- sending ---- */

int
rtm_conn_send_frame(struct rtm_conn *c, struct buf *frame)
{
	if (c->closing)
		return -1;
	if (ws_send_frame(c->ws, frame) == -1) {
		if (!c->closing) {
			c->closing = 1;
			c->r->stats.slow_closed++;
			log_info("rtm: %s of %s over its output cap of %zu "
			    "bytes: closed as a slow consumer", ws_peer(c->ws),
			    c->who.user, c->r->cfg.out_cap);
		}
		return -1;
	}
	return 0;
}

int
rtm_conn_send(struct rtm_conn *c, const char *text, size_t len)
{
	struct buf *b;
	int rc;

	if (c->closing)
		return -1;
	b = ws_frame_new(WS_TEXT, text, len);
	rc = rtm_conn_send_frame(c, b);
	buf_unref(b);
	return rc;
}

/* Sends s (malloc'd, freed here). */
static void
rtm_conn_send_str(struct rtm_conn *c, char *s, size_t len)
{
	rtm_conn_send(c, s, len);
	free(s);
}

void
rtm_conn_goodbye(struct rtm_conn *c, int code, const char *reason)
{
	char text[160];
	int n;

	if (c->closing)
		return;
	n = snprintf(text, sizeof(text), "{\"type\":\"goodbye\","
	    "\"reason\":\"%s\"}", reason);
	rtm_conn_send(c, text, (size_t)n);
	c->closing = 1;
	ws_close(c->ws, code, reason);
}

/* ---- message sends ---- */

static void
rtm_send_unlink(struct rtm_send *s)
{
	if (s->conn == NULL)
		return;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		s->conn->sends = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->conn = NULL;
}

static void
rtm_send_error(struct rtm_conn *c, const json_t *id, int code,
    const char *msg)
{
	size_t len;
	char *s = rtm_ack_error(id, code, msg, &len);

	c->r->stats.send_errors++;
	rtm_conn_send_str(c, s, len);
}

/*
 * The ack of a message sent:
 * {"ok":true,"reply_to":ID,"channel":..,"ts":..,"text":..}, written
 * straight into one buffer (this runs once per message; members whose
 * value is absent are left out).
 */
static void
rtm_send_ack(struct rtm_conn *c, const json_t *id, const json_t *res)
{
	const char *ch = json_get_str(res, "channel");
	const char *ts = json_get_str(res, "ts");
	const char *text = json_get_str(json_object_get(res, "message"),
	    "text");
	size_t tl = text != NULL ? strlen(text) : 0, n, cap;
	char *s, *p;

	cap = 64 + JSON_QUOTE_MAX(RTM_ID_STR_MAX) +
	    (ch != NULL ? JSON_QUOTE_MAX(strlen(ch)) : 0) +
	    (ts != NULL ? JSON_QUOTE_MAX(strlen(ts)) : 0) +
	    JSON_QUOTE_MAX(tl);
	p = s = xmalloc(cap);
	p += snprintf(p, 32, "{\"ok\":true");
	if (json_is_integer(id)) {
		p += snprintf(p, 48, ",\"reply_to\":%" JSON_INTEGER_FORMAT,
		    json_integer_value(id));
	} else if (json_is_string(id) &&
	    json_string_length(id) <= RTM_ID_STR_MAX) {
		memcpy(p, ",\"reply_to\":", 12);
		p += 12;
		p += json_quote(p, json_string_value(id),
		    json_string_length(id));
	}
	if (ch != NULL) {
		memcpy(p, ",\"channel\":", 11);
		p += 11;
		p += json_quote(p, ch, strlen(ch));
	}
	if (ts != NULL) {
		memcpy(p, ",\"ts\":", 6);
		p += 6;
		p += json_quote(p, ts, strlen(ts));
	}
	if (text != NULL) {
		memcpy(p, ",\"text\":", 8);
		p += 8;
		p += json_quote(p, text, tl);
	}
	*p++ = '}';
	n = (size_t)(p - s);
	rtm_conn_send_str(c, s, n);
}

/* The call is over (after its commit): ack it if anyone still listens. */
static void
rtm_send_done(struct api_call *call)
{
	struct rtm_send *s = call->udata;
	struct rtm_conn *c = s->conn;

	if (c != NULL) {
		if (call->werr != NULL)
			rtm_send_error(c, s->id, RTM_E_API, call->werr);
		else
			rtm_send_ack(c, s->id, call->result);
		rtm_send_unlink(s);
	}
	json_decref(s->id);
	free(s);
}

/* On the writer thread: chat.postMessage's own apply, from clean. */
static int
rtm_send_apply(struct store_txn *txn, void *arg)
{
	struct api_call *call = arg;

	json_decref(call->result);
	call->result = NULL;
	call->werr = NULL;
	return call->m->apply(txn, call);
}

static void
rtm_send_commit(void *arg, int rc)
{
	struct api_call *call = arg;
	json_t *res;

	if (rc != STORE_OK) {
		if (call->werr == NULL)
			call->werr = store_strerror(rc);
		json_decref(call->result);
		call->result = NULL;
		api_call_fail(call, call->werr);
		return;
	}
	res = call->result;
	call->result = NULL;
	api_call_ok(call, res);
}

static void
rtm_send_message(struct rtm *r, struct rtm_conn *c, const struct rtm_msg *m)
{
	const struct api_limits *lim = api_ctx_limits(r->api);
	const struct api_method *pm;
	struct api_call *call;
	struct rtm_send *s;
	char key[96];
	int idx, wait;

	r->stats.sends++;
	switch (api_team_where(r->api, c->who.team)) {
	case API_TEAM_PAUSED:
	case API_TEAM_LEAVING:
		rtm_send_error(c, m->id, RTM_E_API, "ratelimited");
		return;
	case API_TEAM_ELSEWHERE:
		rtm_send_error(c, m->id, RTM_E_API, "team_not_here");
		return;
	default:
		break;
	}
	if (lim->tier_per_min[API_TIER_POST] > 0) {
		snprintf(key, sizeof(key), "t%d/%s", API_TIER_POST,
		    c->who.token_id);
		wait = api_rate_take(api_ctx_rate(r->api), key,
		    lim->tier_per_min[API_TIER_POST], util_mono_sec());
		if (wait > 0) {
			log_info("rtm: message from %s rate limited for %ds",
			    c->who.user, wait);
			rtm_send_error(c, m->id, RTM_E_API, "ratelimited");
			return;
		}
	}
	pm = api_method_find("chat.postMessage", &idx);
	if (pm == NULL || pm->apply == NULL) {
		rtm_send_error(c, m->id, RTM_E_API, "internal_error");
		return;
	}

	s = xcalloc(1, sizeof(*s));
	s->conn = c;
	s->id = m->id != NULL ? json_incref((json_t *)m->id) : NULL;
	s->next = c->sends;
	if (c->sends != NULL)
		c->sends->prev = s;
	c->sends = s;

	call = api_call_new(r->api, ws_peer(c->ws));
	call->m = pm;
	call->midx = idx;
	call->who = c->who;
	call->args = json_pack("{s:s,s:s}", "channel", m->channel, "text",
	    m->text);
	if (m->thread_ts != NULL)
		json_object_set_new(call->args, "thread_ts",
		    json_string(m->thread_ts));
	call->done = rtm_send_done;
	call->udata = s;
	call->no_body = 1;
	if (store_submit(r->st, rtm_send_apply, rtm_send_commit, call) == -1)
		api_call_fail(call, "service_unavailable");
}

/* ---- WebSocket callbacks ---- */

static void
rtm_on_open(struct ws_conn *wc, void *arg)
{
	struct rtm *r = arg;
	struct rtm_conn *c = ws_user(wc);

	r->opened = 1;
	c->live = 1;
	c->ws = wc;
	if (r->cfg.sndbuf > 0 && ws_set_sndbuf(wc, (int)r->cfg.sndbuf) == -1)
		log_warn("rtm: setsockopt SO_SNDBUF for %s", ws_peer(wc));
	c->r = r;
	c->last_rx = ev_now(r->loop);
	c->anext = r->all;
	if (r->all != NULL)
		r->all->aprev = c;
	r->all = c;
	r->stats.opened++;
	r->stats.conns++;

	if (rtm_fanout_join(r, c)) {
		c->user->away = c->start_away;
		if (!c->user->away)
			rtm_fanout_presence(r, c->user, "active");
	}
	rtm_fanout_resume(r, c, c->have_resume, c->resume_epoch,
	    c->resume_seq);
}

static void
rtm_on_message(struct ws_conn *wc, enum ws_opcode op,
    const unsigned char *data, size_t len, void *arg)
{
	struct rtm *r = arg;
	struct rtm_conn *c = ws_user(wc);
	const char *err = NULL;
	struct rtm_msg m;
	size_t n;
	char *s;

	c->last_rx = ev_now(r->loop);
	c->ping_at = 0;
	if (c->closing)
		return;
	if (op != WS_TEXT) {
		log_info("rtm: binary message from %s, closing",
		    ws_peer(wc));
		c->closing = 1;
		ws_close(wc, 1003, "text messages only");
		return;
	}

	if (rtm_msg_parse((const char *)data, len, r->cfg.presence_max, &m,
	    &err) == -1) {
		log_debug("rtm: message from %s: %s", ws_peer(wc), err);
		rtm_send_error(c, m.id, strcmp(err, "no_text") == 0 ?
		    RTM_E_NOTEXT : strcmp(err, "msg_too_long") == 0 ?
		    RTM_E_TOOLONG : RTM_E_BAD, err);
		rtm_msg_clear(&m);
		return;
	}
	switch (m.type) {
	case RTM_MSG_PING:
		s = rtm_pong(&m, &n);
		rtm_conn_send_str(c, s, n);
		break;
	case RTM_MSG_MESSAGE:
		rtm_send_message(r, c, &m);
		break;
	case RTM_MSG_TYPING:
		rtm_fanout_typing(r, c, m.channel);
		break;
	case RTM_MSG_PRESENCE_SUB:
		rtm_fanout_presence_sub(r, c, m.ids);
		break;
	case RTM_MSG_OTHER:
		rtm_send_error(c, m.id, RTM_E_TYPE, "unknown_type");
		break;
	}
	rtm_msg_clear(&m);
}

static void
rtm_on_pong(struct ws_conn *wc, void *arg)
{
	struct rtm *r = arg;
	struct rtm_conn *c = ws_user(wc);

	c->last_rx = ev_now(r->loop);
	c->ping_at = 0;
}

static void
rtm_on_close(struct ws_conn *wc, int code, void *arg)
{
	struct rtm *r = arg;
	struct rtm_conn *c = ws_user(wc);
	struct rtm_send *s;

	/* Closed before on_open (the 101 could not be queued): rtm_upgrade
	 * still owns c and frees it. */
	if (!c->live)
		return;
	if (code == 1008 && !c->closing) {
		/* ws.c found the queue over its cap at a flush. */
		r->stats.slow_closed++;
		log_info("rtm: %s of %s over its output cap: closed as a "
		    "slow consumer", ws_peer(wc), c->who.user);
	}
	rtm_fanout_leave(r, c);
	while ((s = c->sends) != NULL)
		rtm_send_unlink(s);

	if (c->aprev != NULL)
		c->aprev->anext = c->anext;
	else
		r->all = c->anext;
	if (c->anext != NULL)
		c->anext->aprev = c->aprev;
	r->stats.conns--;
	free(c);
}

/* ---- heartbeat ---- */

static void
rtm_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rtm *r = w->data;
	double now = ev_now(loop), hb = r->cfg.heartbeat, quiet;
	struct rtm_conn *c;

	for (c = r->all; c != NULL; c = c->anext) {
		if (c->closing)
			continue;
		quiet = now - c->last_rx;
		if (c->ping_at != 0 && quiet >= hb * 7 / 8) {
			log_info("rtm: %s of %s silent for %.1fs: closed",
			    ws_peer(c->ws), c->who.user, quiet);
			r->stats.dead_closed++;
			c->closing = 1;
			ws_abort(c->ws, 1006);
		} else if (c->ping_at == 0 && quiet >= hb / 2) {
			if (ws_send(c->ws, WS_PING, "", 0) == 0)
				c->ping_at = now;
		}
	}
}

static void
rtm_sweep_arm(struct rtm *r)
{
	double every = r->cfg.heartbeat / 16;

	if (every < 0.05)
		every = 0.05;
	ev_timer_stop(r->loop, &r->sweep);
	ev_timer_set(&r->sweep, every, every);
	ev_timer_start(r->loop, &r->sweep);
}

/* ---- the server ---- */

struct rtm *
rtm_new(struct ev_loop *loop, struct api_ctx *api,
    const struct rtm_config *cfg)
{
	struct rtm *r = xcalloc(1, sizeof(*r));
	struct ws_callbacks cb;
	struct ws_limits lim;

	r->loop = loop;
	r->api = api;
	r->st = api_ctx_store(api);
	r->cfg = *cfg;
	r->url = xstrdup(cfg->url != NULL && cfg->url[0] != '\0' ? cfg->url :
	    "ws://127.0.0.1:8080/rtm");
	r->cfg.url = r->url;
	if (r->cfg.replay_batch == 0)
		r->cfg.replay_batch = 256;

	memset(&cb, 0, sizeof(cb));
	cb.on_open = rtm_on_open;
	cb.on_message = rtm_on_message;
	cb.on_close = rtm_on_close;
	ws_limits_default(&lim);
	lim.max_message = cfg->max_message;
	lim.out_cap = cfg->out_cap;
	r->ws = ws_server_new(loop, &lim, &cb, r);
	ws_server_on_pong(r->ws, rtm_on_pong);

	ev_init(&r->sweep, rtm_sweep_cb);
	r->sweep.data = r;
	rtm_sweep_arm(r);
	ev_init(&r->replay_timer, rtm_replay_timer_cb);
	r->replay_timer.data = r;

	rtm_current = r;
	return r;
}

void
rtm_set_config(struct rtm *r, const struct rtm_config *cfg)
{
	size_t out_cap = r->cfg.out_cap, max_message = r->cfg.max_message;

	free(r->url);
	r->cfg = *cfg;
	r->url = xstrdup(cfg->url != NULL && cfg->url[0] != '\0' ? cfg->url :
	    "ws://127.0.0.1:8080/rtm");
	r->cfg.url = r->url;
	/* The WebSocket server keeps the limits it was made with. */
	r->cfg.out_cap = out_cap;
	r->cfg.max_message = max_message;
	if (r->cfg.replay_batch == 0)
		r->cfg.replay_batch = 256;
	rtm_sweep_arm(r);
}

void
rtm_shutdown(struct rtm *r)
{
	struct rtm_conn *c;

	if (r == NULL)
		return;
	r->stopping = 1;
	for (c = r->all; c != NULL; c = c->anext)
		rtm_conn_goodbye(c, 1001, "server_shutdown");
}

void
rtm_close_elsewhere(struct rtm *r)
{
	struct rtm_conn *c;

	if (r == NULL)
		return;
	for (c = r->all; c != NULL; c = c->anext) {
		if (c->closing || api_team_where(r->api, c->who.team) <
		    API_TEAM_LEAVING)
			continue;
		log_info("rtm: closing %s of %s: team %s moved to another "
		    "shard", ws_peer(c->ws), c->who.user, c->who.team);
		rtm_conn_goodbye(c, 1012, "team_moved");
	}
}

void
rtm_free(struct rtm *r)
{
	if (r == NULL)
		return;
	if (rtm_current == r)
		rtm_current = NULL;
	ev_timer_stop(r->loop, &r->sweep);
	ev_timer_stop(r->loop, &r->replay_timer);
	ws_server_free(r->ws);
	rtm_map_free(&r->teams);
	free(r->url);
	free(r);
}

void
rtm_get_stats(struct rtm *r, struct rtm_stats *out)
{
	*out = r->stats;
}

void
rtm_metrics(struct rtm *r, FILE *f)
{
	const struct rtm_stats *s;

	if (r == NULL)
		return;
	s = &r->stats;
	fprintf(f, "# TYPE parley_rtm_connections gauge\n"
	    "parley_rtm_connections %u\n"
	    "# TYPE parley_rtm_connections_total counter\n"
	    "parley_rtm_connections_total %" PRIu64 "\n"
	    "# TYPE parley_rtm_refused_total counter\n"
	    "parley_rtm_refused_total %" PRIu64 "\n"
	    "# TYPE parley_rtm_events_total counter\n"
	    "parley_rtm_events_total %" PRIu64 "\n"
	    "# TYPE parley_rtm_deliveries_total counter\n"
	    "parley_rtm_deliveries_total %" PRIu64 "\n"
	    "# TYPE parley_rtm_replayed_total counter\n"
	    "parley_rtm_replayed_total %" PRIu64 "\n"
	    "# TYPE parley_rtm_resumes_total counter\n"
	    "parley_rtm_resumes_total{result=\"ok\"} %" PRIu64 "\n"
	    "parley_rtm_resumes_total{result=\"failed\"} %" PRIu64 "\n"
	    "# TYPE parley_rtm_sends_total counter\n"
	    "parley_rtm_sends_total %" PRIu64 "\n"
	    "# TYPE parley_rtm_send_errors_total counter\n"
	    "parley_rtm_send_errors_total %" PRIu64 "\n"
	    "# TYPE parley_rtm_closed_total counter\n"
	    "parley_rtm_closed_total{reason=\"slow_consumer\"} %" PRIu64 "\n"
	    "parley_rtm_closed_total{reason=\"heartbeat\"} %" PRIu64 "\n"
	    "parley_rtm_closed_total{reason=\"revoked\"} %" PRIu64 "\n",
	    s->conns, s->opened, s->refused, s->events, s->deliveries,
	    s->replayed, s->resume_ok, s->resume_failed, s->sends,
	    s->send_errors, s->slow_closed, s->dead_closed,
	    s->revoked_closed);
}

/* ---- the upgrade ---- */

static int
rtm_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
rtm_query_param(const char *q, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), o;
	const char *p = q, *end;
	int hi, lo;

	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			for (p += nl + 1, o = 0; p < end; p++) {
				if (o + 1 >= outlen)
					return -1;
				if (*p == '%') {
					if (end - p < 3 ||
					    (hi = rtm_hexval(p[1])) < 0 ||
					    (lo = rtm_hexval(p[2])) < 0)
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
		if ((size_t)(end - p) == nl && strncmp(p, name, nl) == 0) {
			if (outlen == 0)
				return -1;
			out[0] = '\0';
			return 1;
		}
		p = *end != '\0' ? end + 1 : NULL;
	}
	return 0;
}

/* Who a ticket speaks for, checked against the store; NULL or an error. */
static const char *
rtm_ticket_who(struct rtm *r, const char *ticket, struct api_who *who)
{
	struct token_info ti;
	struct store_token tok;
	struct store_user_flags uf;
	struct store_txn *txn;
	const char *err = NULL;
	int rc;

	rc = token_verify(api_ctx_keys(r->api), ticket, strlen(ticket),
	    time(NULL), &ti);
	if (rc != TOKEN_OK)
		return rc == TOKEN_EXPIRED ? "ticket_expired" : "invalid_auth";
	if (ti.kind != TOKEN_TICKET)
		return "not_a_ticket";

	txn = store_rd_begin(r->st);
	if (txn == NULL)
		return "internal_error";
	if (store_txn_token_get(txn, ti.id, &tok) != STORE_OK ||
	    strcmp(tok.user, ti.user) != 0 || strcmp(tok.team, ti.team) != 0) {
		err = "invalid_auth";
		goto out;
	}
	if (tok.revoked) {
		err = "token_revoked";
		goto out;
	}
	if (store_txn_user_flags(txn, ti.user, &uf) != STORE_OK) {
		err = "invalid_auth";
		goto out;
	}
	if (uf.deleted) {
		err = "account_inactive";
		goto out;
	}
	memset(who, 0, sizeof(*who));
	util_strlcpy(who->team, ti.team, sizeof(who->team));
	util_strlcpy(who->user, ti.user, sizeof(who->user));
	util_strlcpy(who->token_id, ti.id, sizeof(who->token_id));
	who->is_owner = uf.is_owner;
	who->is_admin = uf.is_owner || uf.is_admin;
	who->is_bot = uf.is_bot;
out:
	store_rd_end(txn);
	return err;
}

/* Whether the user's manual presence is away. */
static int
rtm_user_away(struct rtm *r, const char *user)
{
	struct store_txn *txn = store_rd_begin(r->st);
	json_t *u;
	int away = 0;

	if (txn == NULL)
		return 0;
	u = store_txn_user_get(txn, user);
	if (u != NULL && json_get_str(u, "manual_presence") != NULL)
		away = strcmp(json_get_str(u, "manual_presence"), "away") == 0;
	json_decref(u);
	store_rd_end(txn);
	return away;
}

static void
rtm_refuse(struct rtm *r, struct http_req *req, int status,
    const char *error)
{
	char body[96];

	r->stats.refused++;
	log_info("rtm: upgrade from %s refused: %s", http_req_peer(req),
	    error);
	snprintf(body, sizeof(body), "{\"ok\":false,\"error\":\"%s\"}",
	    error);
	http_reply_str(req, status, "application/json", body);
}

void
rtm_upgrade(struct rtm *r, struct http_req *req)
{
	char ticket[RTM_PARAM_MAX], epoch[RTM_PARAM_MAX], seq[32];
	const char *q = http_req_query(req), *err;
	struct rtm_conn *c;
	struct api_who who;
	int he, hs;

	if (r == NULL || r->stopping) {
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
	if (r->stats.conns >= (unsigned)r->cfg.max_conns) {
		rtm_refuse(r, req, 503, "too_many_connections");
		return;
	}
	if (rtm_query_param(q, "ticket", ticket, sizeof(ticket)) != 1) {
		rtm_refuse(r, req, 401, "not_authed");
		return;
	}
	if ((err = rtm_ticket_who(r, ticket, &who)) != NULL) {
		rtm_refuse(r, req, 401, err);
		return;
	}
	if (api_team_where(r->api, who.team) >= API_TEAM_LEAVING) {
		rtm_refuse(r, req, 421, "team_not_here");
		return;
	}

	c = xcalloc(1, sizeof(*c));
	c->who = who;
	he = rtm_query_param(q, "epoch", epoch, sizeof(epoch));
	hs = rtm_query_param(q, "seq", seq, sizeof(seq));
	if (he != 0 || hs != 0) {
		if (he != 1 || hs != 1 || strlen(epoch) >= STORE_EPOCH_SIZE ||
		    util_parse_u64(seq, strlen(seq), UINT64_MAX,
		    &c->resume_seq) == -1) {
			free(c);
			rtm_refuse(r, req, 400, "invalid_resume");
			return;
		}
		c->have_resume = 1;
		util_strlcpy(c->resume_epoch, epoch, sizeof(c->resume_epoch));
	}

	c->start_away = rtm_user_away(r, c->who.user);

	r->opened = 0;
	(void)ws_accept(r->ws, req, c);
	if (!r->opened)
		free(c);
}

/* ---- rtm.connect ---- */

void
rtm_connect_call(struct api_call *call)
{
	struct rtm *r = rtm_current;
	const char *es = api_arg_str(call->args, "parley_epoch");
	const char *ss = api_arg_str(call->args, "parley_seq");
	json_t *sv = json_object_get(call->args, "parley_seq");
	const char *err = NULL, *origin = "";
	char ticket[TOKEN_MAX_LEN], seqbuf[24], epoch[STORE_EPOCH_SIZE];
	uint64_t seq = 0, oldest = 0, last = 0;
	struct store_txn *txn;
	json_t *team, *self, *res;
	char *url;
	int slim;

	if (r == NULL || r->stopping) {
		api_call_fail(call, "service_unavailable");
		return;
	}
	/* A JSON body may give the number as a number. */
	if (json_is_integer(sv) && json_integer_value(sv) >= 0) {
		snprintf(seqbuf, sizeof(seqbuf), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(sv));
		ss = seqbuf;
	}
	slim = api_arg_bool(call->args, "slim", 0, &err);
	if (slim == -1) {
		api_call_fail(call, err);
		return;
	}
	if ((es != NULL) != (ss != NULL) || (es != NULL &&
	    (strlen(es) != STORE_EPOCH_SIZE - 1 || !util_all_in(es,
	    strlen(es), "0123456789abcdef") || util_parse_u64(ss,
	    strlen(ss), UINT64_MAX, &seq) == -1))) {
		api_call_fail(call, "invalid_resume");
		return;
	}
	if (token_mint(api_ctx_keys(r->api), TOKEN_TICKET, call->who.team,
	    call->who.user, call->who.token_id, r->cfg.ticket_ttl, ticket,
	    sizeof(ticket)) == -1) {
		log_warnx("rtm.connect: cannot mint a ticket for %s",
		    call->who.user);
		api_call_fail(call, "internal_error");
		return;
	}

	txn = store_rd_begin(r->st);
	if (txn == NULL) {
		api_call_fail(call, "internal_error");
		return;
	}
	team = store_txn_team_get(txn, call->who.team);
	self = store_txn_user_get(txn, call->who.user);
	store_txn_seq_range(txn, call->who.team, &oldest, &last);
	store_txn_team_epoch(txn, call->who.team, epoch);
	store_rd_end(txn);

	/* A relative rtm_url takes the scheme and host the client used. */
	if (r->url[0] == '/')
		origin = call->origin[0] != '\0' ? call->origin :
		    r->cfg.origin;
	if (es != NULL)
		url = xasprintf("%s%s%cticket=%s&epoch=%s&seq=%" PRIu64 "%s",
		    origin, r->url, strchr(r->url, '?') ? '&' : '?', ticket,
		    es, seq, slim ? "&slim=1" : "");
	else
		url = xasprintf("%s%s%cticket=%s%s", origin, r->url,
		    strchr(r->url, '?') ? '&' : '?', ticket,
		    slim ? "&slim=1" : "");
	res = json_pack("{s:s,s:{s:s,s:s?,s:s?},s:{s:s,s:s?},s:s,s:I}",
	    "url", url, "team", "id", call->who.team, "name",
	    json_get_str(team, "name"), "domain", json_get_str(team, "domain"),
	    "self", "id", call->who.user, "name", json_get_str(self, "name"),
	    "epoch", epoch, "last_seq", (json_int_t)last);
	free(url);
	json_decref(team);
	json_decref(self);
	api_call_ok(call, res);
}
