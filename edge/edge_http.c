/*
 * edge_http: the client side of parley-edge over HTTP.
 *
 *   POST /api/<method>   (GET too) answered from the team's cache:
 *                        api.test, auth.test, parley.boot, users.info,
 *                        users.list, conversations.info,
 *                        conversations.list, conversations.members,
 *                        parley.autocomplete, rtm.connect; every other
 *                        method is forwarded to the team's shard
 *   GET  /healthz        200 while a link is up, with each link's state
 *   GET  /metrics        Prometheus text
 *   GET  /rtm            the RTM WebSocket (edge_rtm.c)
 *   GET  anything else   a file of web_root, when set
 *
 * The caller's token (Authorization: Bearer, a "token" argument or the
 * parley_token cookie) is verified here with the shared keys; a call
 * answered from the cache also needs the token's team loaded, which
 * holds the users (deactivated or not) and the token ids revoked, so no
 * token check goes to the backend.  A forwarded call is checked again
 * by the backend.  While a shard is unreachable, what the cache answers
 * still works and the rest is answered 503 service_unavailable at once.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "args.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "static.h"
#include "token.h"
#include "util.h"
#include "ws.h"
#include "xmalloc.h"

#include "edge.h"

#define EDGE_CTYPE_JSON "application/json; charset=utf-8"
#define EDGE_METHOD_MAX 64

struct edge_call;

/* A method answered from the cache. */
struct edge_local {
	const char *name;
	/* Returns the answer (malloc'd JSON text) with *len set. */
	char *(*fn)(struct edge_call *c, const struct edge_user *u,
	    size_t *len);
};

/* One Web API call in progress. */
struct edge_call {
	struct edge_fwd fwd; /* first: a forward's done finds the call */
	struct edge_srv *srv;
	struct http_req *r;
	json_t *args;
	const struct edge_local *local;
	struct edge_served *ts;
	struct token_info ti;
	char method[EDGE_METHOD_MAX + 1];
	char tok[TOKEN_MAX_LEN];
	int have_tok;
};

static void
edge_call_free(struct edge_call *c)
{
	json_decref(c->args);
	free(c);
}

static void
edge_reply_error(struct http_req *r, int status, const char *error)
{
	char body[128];

	snprintf(body, sizeof(body), "{\"ok\":false,\"error\":\"%s\"}", error);
	http_reply_str(r, status, EDGE_CTYPE_JSON, body);
}

/* ---- arguments ---- */

static const char *
edge_arg_str(struct edge_call *c, const char *name)
{
	return json_get_str(c->args, name);
}

/* An integer argument in [0, max]; def when absent; -1 when bad. */
static long long
edge_arg_int(struct edge_call *c, const char *name, long long def,
    long long max)
{
	json_t *v = json_object_get(c->args, name);
	int64_t n;

	if (v == NULL)
		return def;
	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (!json_is_string(v) || util_parse_i64(json_string_value(v),
	    json_string_length(v), 0, max, &n) == -1)
		return -1;
	return n < 0 || n > max ? -1 : n;
}

/* "true"/"1"/true, "false"/"0"/false/""; def when absent; -1 when bad. */
static int
edge_arg_bool(struct edge_call *c, const char *name, int def)
{
	json_t *v = json_object_get(c->args, name);
	const char *s;

	if (v == NULL || json_is_null(v))
		return def;
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		return 1;
	if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || s[0] == '\0')
		return 0;
	return -1;
}

static char *
edge_err_text(const char *error, size_t *len)
{
	char *s = xasprintf("{\"ok\":false,\"error\":\"%s\"}", error);

	*len = strlen(s);
	return s;
}

/* ---- methods answered from the cache ---- */

static char *
edge_m_auth_test(struct edge_call *c, const struct edge_user *u,
    size_t *len)
{
	const json_t *team = c->ts->team->obj;
	const char *domain = json_get_str(team, "domain");
	json_t *o, *uo;
	char *s;

	o = json_pack("{s:b,s:s++,s:s,s:s,s:s,s:s,s:b}", "ok", 1,
	    "url", "https://", domain != NULL ? domain : "parley",
	    ".parley.invalid/",
	    "team", json_get_str(team, "name") ? json_get_str(team, "name") :
	    "", "user", u->name != NULL ? u->name : "", "team_id",
	    c->ts->team->id, "user_id", u->id, "is_enterprise_install", 0);
	if (u->is_bot) {
		uo = json_loadb(u->json, u->json_len, 0, NULL);
		if (json_get_str(uo, "bot_id") != NULL)
			json_object_set_new(o, "bot_id",
			    json_string(json_get_str(uo, "bot_id")));
		json_decref(uo);
	}
	s = json_dump_compact(o, len);
	json_decref(o);
	return s;
}

static char *
edge_m_boot(struct edge_call *c, const struct edge_user *u, size_t *len)
{
	return edge_boot_slim(c->ts->team, u, len);
}

static char *
edge_m_users_info(struct edge_call *c, const struct edge_user *u,
    size_t *len)
{
	const char *id = edge_arg_str(c, "user");

	if (id == NULL || id[0] == '\0')
		return edge_err_text("user_not_found", len);
	return edge_api_users_info(c->ts->team, u, id, len);
}

static char *
edge_m_users_list(struct edge_call *c, const struct edge_user *u,
    size_t *len)
{
	long long limit = edge_arg_int(c, "limit", 0, 1000000);

	if (limit == -1)
		return edge_err_text("invalid_limit", len);
	return edge_api_users_list(c->ts->team, u, edge_arg_str(c, "cursor"),
	    (size_t)limit, len);
}

static char *
edge_m_conv_info(struct edge_call *c, const struct edge_user *u,
    size_t *len)
{
	const char *id = edge_arg_str(c, "channel");
	int num = edge_arg_bool(c, "include_num_members", 0);

	if (num == -1)
		return edge_err_text("invalid_arguments", len);
	if (id == NULL || id[0] == '\0')
		return edge_err_text("channel_not_found", len);
	return edge_api_conversations_info(c->ts->team, u, id, num, len);
}

static char *
edge_m_conv_list(struct edge_call *c, const struct edge_user *u,
    size_t *len)
{
	long long limit = edge_arg_int(c, "limit", 0, 1000000);
	int excl = edge_arg_bool(c, "exclude_archived", 0);

	if (limit == -1)
		return edge_err_text("invalid_limit", len);
	if (excl == -1)
		return edge_err_text("invalid_arguments", len);
	return edge_api_conversations_list(c->ts->team, u,
	    edge_arg_str(c, "types"), excl, edge_arg_str(c, "cursor"),
	    (size_t)limit, len);
}

static char *
edge_m_conv_members(struct edge_call *c, const struct edge_user *u,
    size_t *len)
{
	const char *id = edge_arg_str(c, "channel");
	long long limit = edge_arg_int(c, "limit", 0, 1000000);

	if (limit == -1)
		return edge_err_text("invalid_limit", len);
	if (id == NULL || id[0] == '\0')
		return edge_err_text("channel_not_found", len);
	return edge_api_conversations_members(c->ts->team, u, id,
	    edge_arg_str(c, "cursor"), (size_t)limit, len);
}

static char *
edge_m_complete(struct edge_call *c, const struct edge_user *u,
    size_t *len)
{
	const char *q = edge_arg_str(c, "query");
	const char *types = edge_arg_str(c, "types");
	long long limit = edge_arg_int(c, "limit", 10, 1000000);
	unsigned kinds = 0;
	const char *p, *e;
	size_t n;

	if (limit == -1)
		return edge_err_text("invalid_limit", len);
	if (q == NULL)
		q = "";
	if (types == NULL || types[0] == '\0')
		types = "user,channel";
	for (p = types; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		if (n == 4 && strncmp(p, "user", 4) == 0)
			kinds |= EDGE_CPL_USER;
		else if (n == 7 && strncmp(p, "channel", 7) == 0)
			kinds |= EDGE_CPL_CHANNEL;
		else
			return edge_err_text("invalid_types", len);
	}
	return edge_team_complete(c->ts->team, u, edge_arg_str(c, "channel"),
	    q, strlen(q), kinds, (size_t)limit, len);
}

/*
 * What goes before a relative rtm_url ("/rtm"): the scheme and host the
 * client used (wss:// after X-Forwarded-Proto: https, else ws://, then
 * its Host), as the backend does; "" for an absolute rtm_url.
 */
static void
edge_rtm_origin(struct edge_call *c, char *out, size_t outlen)
{
	const char *host = http_req_header(c->r, "Host");
	const char *proto = http_req_header(c->r, "X-Forwarded-Proto");
	size_t len = host != NULL ? strlen(host) : 0;

	out[0] = '\0';
	if (c->srv->cfg.rtm_url[0] != '/')
		return;
	if (len == 0 || len > 127 || !util_all_in(host, len,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]")) {
		util_strlcpy(out, c->srv->cfg.rtm_origin, outlen);
		return;
	}
	snprintf(out, outlen, "%s://%s", proto != NULL &&
	    strcasecmp(proto, "https") == 0 ? "wss" : "ws", host);
}

/* rtm.connect: a ticket minted here, the URL of this edge's RTM. */
static char *
edge_m_rtm_connect(struct edge_call *c, const struct edge_user *u,
    size_t *len)
{
	struct edge_srv *srv = c->srv;
	const char *es = edge_arg_str(c, "parley_epoch");
	const char *ss = edge_arg_str(c, "parley_seq");
	const struct edge_team *t = c->ts->team;
	char ticket[TOKEN_MAX_LEN], *url, *s;
	const char *base = srv->cfg.rtm_url;
	char origin[160];
	uint64_t seq = 0;
	int slim;
	json_t *o;

	slim = edge_arg_bool(c, "slim", 0);
	if (slim == -1)
		return edge_err_text("invalid_arguments", len);
	if ((es != NULL) != (ss != NULL) || (es != NULL && (strlen(es) !=
	    16 || !util_all_in(es, 16, "0123456789abcdef") ||
	    util_parse_u64(ss, strlen(ss), UINT64_MAX, &seq) == -1)))
		return edge_err_text("invalid_resume", len);
	if (token_mint(srv->keys, TOKEN_TICKET, t->id, u->id, c->ti.id,
	    srv->cfg.ticket_ttl, ticket, sizeof(ticket)) == -1) {
		log_warnx("rtm.connect: cannot mint a ticket for %s", u->id);
		return edge_err_text("internal_error", len);
	}
	edge_rtm_origin(c, origin, sizeof(origin));
	if (es != NULL)
		url = xasprintf("%s%s%cticket=%s&epoch=%s&seq=%" PRIu64 "%s",
		    origin, base, strchr(base, '?') ? '&' : '?', ticket, es,
		    seq, slim ? "&slim=1" : "");
	else
		url = xasprintf("%s%s%cticket=%s%s", origin, base,
		    strchr(base, '?') ? '&' : '?', ticket,
		    slim ? "&slim=1" : "");
	o = json_pack("{s:b,s:s,s:{s:s,s:s?,s:s?},s:{s:s,s:s?},s:s,s:I}",
	    "ok", 1, "url", url, "team", "id", t->id, "name",
	    json_get_str(t->obj, "name"), "domain",
	    json_get_str(t->obj, "domain"), "self", "id", u->id, "name",
	    u->name, "epoch", t->epoch, "last_seq", (json_int_t)t->seq);
	free(url);
	s = json_dump_compact(o, len);
	json_decref(o);
	return s;
}

static const struct edge_local edge_locals[] = {
	{ "auth.test", edge_m_auth_test },
	{ "parley.boot", edge_m_boot },
	{ "users.info", edge_m_users_info },
	{ "users.list", edge_m_users_list },
	{ "conversations.info", edge_m_conv_info },
	{ "conversations.list", edge_m_conv_list },
	{ "conversations.members", edge_m_conv_members },
	{ "parley.autocomplete", edge_m_complete },
	{ "rtm.connect", edge_m_rtm_connect },
	{ NULL, NULL },
};

/* ---- the caller ---- */

/* The parley_token cookie of r into out; 1 when found. */
static int
edge_cookie_token(struct http_req *r, char *out, size_t outlen)
{
	const char *h = http_req_header(r, "Cookie"), *p, *v;
	size_t n;

	for (p = h; p != NULL && *p != '\0';) {
		while (*p == ' ' || *p == ';')
			p++;
		n = strcspn(p, ";");
		if (n > 13 && strncmp(p, "parley_token=", 13) == 0) {
			v = p + 13;
			n -= 13;
			while (n > 0 && v[n - 1] == ' ')
				n--;
			if (n == 0 || n >= outlen)
				return 0;
			memcpy(out, v, n);
			out[n] = '\0';
			return 1;
		}
		p += n;
	}
	return 0;
}

int
edge_http_token(struct edge_srv *srv, struct http_req *r, json_t *args,
    struct token_info *ti, char *tok, size_t toklen, const char **err)
{
	const char *auth = http_req_header(r, "Authorization"), *t = NULL;
	size_t n = 0;
	int rc;

	if (auth != NULL) {
		while (*auth == ' ')
			auth++;
		if (strncasecmp(auth, "Bearer ", 7) == 0) {
			t = auth + 7;
			while (*t == ' ')
				t++;
			n = strcspn(t, " \t\r\n");
			if (n == 0)
				t = NULL;
		}
	}
	if (t == NULL && (t = json_get_str(args, "token")) != NULL) {
		n = strlen(t);
		if (n == 0)
			t = NULL;
	}
	if (t == NULL) {
		if (!edge_cookie_token(r, tok, toklen))
			return 0;
		t = tok;
		n = strlen(tok);
	}
	if (n >= toklen) {
		*err = "invalid_auth";
		return -1;
	}
	if (t != tok) {
		memcpy(tok, t, n);
		tok[n] = '\0';
	}
	rc = token_verify(srv->keys, tok, n, time(NULL), ti);
	if (rc != TOKEN_OK) {
		log_info("api: from %s: token %s", http_req_peer(r),
		    token_strerror(rc));
		*err = rc == TOKEN_EXPIRED ? "token_expired" : "invalid_auth";
		return -1;
	}
	if (ti->kind == TOKEN_TICKET) {
		*err = "not_allowed_token_type";
		return -1;
	}
	return 1;
}

const char *
edge_auth_check(const struct edge_served *ts, const struct token_info *ti,
    struct edge_user **user)
{
	struct edge_user *u;

	if (edge_served_revoked(ts, ti->id))
		return "token_revoked";
	u = edge_team_user(ts->team, ti->user);
	if (u == NULL)
		return "invalid_auth";
	if (u->deleted)
		return "account_inactive";
	if (user != NULL)
		*user = u;
	return NULL;
}

/* ---- calls ---- */

static void
edge_call_reply(struct edge_call *c, int status, const char *body,
    size_t len)
{
	http_reply(c->r, status, EDGE_CTYPE_JSON, body, len);
	edge_call_free(c);
}

/* The team of a cached call is ready (or failed): answer. */
static void
edge_call_ready(struct edge_served *ts, void *arg, const char *err)
{
	struct edge_call *c = arg;
	struct edge_user *u = NULL;
	size_t len;
	char *s;

	if (err == NULL)
		err = edge_auth_check(ts, &c->ti, &u);
	if (err != NULL) {
		edge_reply_error(c->r, strcmp(err, "service_unavailable") ==
		    0 ? 503 : 200, err);
		edge_call_free(c);
		return;
	}
	c->srv->stats.cached++;
	s = c->local->fn(c, u, &len);
	edge_call_reply(c, 200, s, len);
	free(s);
}

static void
edge_call_forwarded(struct edge_fwd *f, int status, const char *body,
    size_t len, int retry_after)
{
	struct edge_call *c = (struct edge_call *)f;
	char ra[16];

	if (status == 429 && retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", retry_after);
		http_reply_header(c->r, "Retry-After", ra);
	}
	if (status == 503)
		c->srv->stats.forward_fail++;
	edge_call_reply(c, status, body, len);
}

/*
 * A call the cache does not answer goes to the team's shard: the
 * token's team, or for a call without a token (sign-in) the shard of
 * the team named by domain.
 */
static void
edge_call_forward(struct edge_call *c)
{
	struct edge_srv *srv = c->srv;
	struct edge_link *l;
	struct edge_served *ts;
	const char *err;
	char client[64];

	if (c->have_tok) {
		ts = edge_served_get(srv, c->ti.team, 0);
		if (ts != NULL && edge_served_ready(ts) &&
		    (err = edge_auth_check(ts, &c->ti, NULL)) != NULL) {
			edge_reply_error(c->r, 200, err);
			edge_call_free(c);
			return;
		}
		l = edge_srv_link_for(srv, c->ti.team);
	} else {
		l = edge_srv_link_domain(srv, edge_arg_str(c, "team"));
	}
	json_object_del(c->args, "token");
	c->fwd.done = edge_call_forwarded;
	http_req_client(c->r, srv->trusted, srv->ntrusted, client,
	    sizeof(client));
	if (edge_link_forward(l, &c->fwd, c->have_tok ? c->ti.team : "",
	    c->method, c->args, c->have_tok ? c->tok : NULL, client) == -1) {
		srv->stats.forward_fail++;
		edge_reply_error(c->r, 503, "service_unavailable");
		edge_call_free(c);
	}
}

/* Method names: 1-64 of [A-Za-z0-9._]. */
static int
edge_method_ok(const char *m)
{
	size_t n = strlen(m);

	return n > 0 && n <= EDGE_METHOD_MAX &&
	    util_all_in(m, n, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._");
}

static void
edge_api_test(struct http_req *r, json_t *args)
{
	const char *e = json_get_str(args, "error");
	json_t *o;

	json_object_del(args, "token");
	if (e != NULL && *e != '\0')
		o = json_pack("{s:b,s:s,s:O}", "ok", 0, "error", e, "args",
		    args);
	else
		o = json_pack("{s:b,s:O}", "ok", 1, "args", args);
	http_reply_json(r, 200, o);
	json_decref(o);
}

static void
edge_api_call(struct edge_srv *srv, struct http_req *r, const char *method,
    int is_get)
{
	const char *body, *query = http_req_query(r), *err = NULL;
	struct edge_call *c;
	size_t len, i;
	int rc;

	if (!edge_method_ok(method)) {
		edge_reply_error(r, 200, "unknown_method");
		return;
	}
	body = http_req_body(r, &len);
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->r = r;
	util_strlcpy(c->method, method, sizeof(c->method));
	c->args = args_parse(is_get ? NULL : http_req_header(r,
	    "Content-Type"), is_get ? NULL : body, is_get ? 0 : len, query,
	    strlen(query), &err);
	if (c->args == NULL) {
		log_info("api: %s from %s: %s", method, http_req_peer(r), err);
		edge_reply_error(r, 200, err);
		free(c);
		return;
	}
	if (strcmp(method, "api.test") == 0) {
		edge_api_test(r, c->args);
		edge_call_free(c);
		return;
	}
	for (i = 0; edge_locals[i].name != NULL; i++)
		if (strcmp(edge_locals[i].name, method) == 0)
			c->local = &edge_locals[i];

	rc = edge_http_token(srv, r, c->args, &c->ti, c->tok, sizeof(c->tok),
	    &err);
	if (rc == -1) {
		edge_reply_error(r, 200, err);
		edge_call_free(c);
		return;
	}
	c->have_tok = rc == 1;
	if (c->local == NULL) {
		edge_call_forward(c);
		return;
	}
	if (!c->have_tok) {
		edge_reply_error(r, 200, "not_authed");
		edge_call_free(c);
		return;
	}
	c->ts = edge_served_get(srv, c->ti.team, 1);
	if (c->ts == NULL) {
		edge_reply_error(r, 503, "service_unavailable");
		edge_call_free(c);
		return;
	}
	edge_served_wait(c->ts, edge_call_ready, c);
}

/* ---- health and metrics ---- */

static void
edge_health(struct edge_srv *srv, struct http_req *r)
{
	json_t *o, *links, *l;
	size_t i, up = 0, ready = 0;
	int ok;

	links = json_object();
	for (i = 0; i < srv->nlinks; i++) {
		l = json_pack("{s:s,s:I,s:i}", "state",
		    edge_link_state_str(srv->links[i]), "ups",
		    (json_int_t)edge_link_ups(srv->links[i]), "forwards",
		    (int)edge_link_pending(srv->links[i]));
		json_object_set_new(links, edge_link_name(srv->links[i]), l);
		if (edge_link_state(srv->links[i]) == EDGE_LINK_UP)
			up++;
	}
	(void)edge_served_memory(srv, &ready);
	/* cached reads alone are no service: writes need a shard */
	ok = !srv->stopping && up > 0;
	o = json_pack("{s:s,s:s,s:o,s:I,s:I,s:I}", "status", srv->stopping ?
	    "stopping" : up == srv->nlinks ? "ok" : ok ? "degraded" :
	    "unavailable", "name", srv->cfg.name, "links", links, "teams",
	    (json_int_t)srv->nteams, "teams_ready", (json_int_t)ready,
	    "clients", (json_int_t)srv->nrconns);
	http_reply_json(r, ok ? 200 : 503, o);
	json_decref(o);
}

static void
edge_metrics(struct edge_srv *srv, struct http_req *r)
{
	const struct edge_stats *s = &srv->stats;
	struct mallinfo2 mi;
	char *text = NULL;
	size_t len = 0, i, ready = 0, mem;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL) {
		http_reply_str(r, 500, "text/plain", "no memory\n");
		return;
	}
	mem = edge_served_memory(srv, &ready);
	fprintf(f, "# TYPE parley_edge_clients gauge\n"
	    "parley_edge_clients %u\n"
	    "# TYPE parley_edge_http_connections gauge\n"
	    "parley_edge_http_connections %u\n"
	    "# TYPE parley_edge_teams gauge\n"
	    "parley_edge_teams %zu\n"
	    "# TYPE parley_edge_teams_ready gauge\n"
	    "parley_edge_teams_ready %zu\n"
	    "# TYPE parley_edge_team_memory_bytes gauge\n",
	    srv->nrconns, http_server_nconns(srv->http), srv->nteams, ready);
	for (i = 0; i < srv->nteams; i++)
		fprintf(f, "parley_edge_team_memory_bytes{team=\"%s\"} %zu\n",
		    srv->teams[i]->team->id,
		    edge_team_memory(srv->teams[i]->team));
	fprintf(f, "# TYPE parley_edge_memory_bytes gauge\n"
	    "parley_edge_memory_bytes %zu\n", mem);
	mi = mallinfo2();
	fprintf(f, "# HELP parley_heap_bytes Bytes malloc has handed out "
	    "and not taken back.\n# TYPE parley_heap_bytes gauge\n"
	    "parley_heap_bytes %zu\n"
	    "# TYPE parley_edge_link_up gauge\n", mi.uordblks + mi.hblkhd);
	for (i = 0; i < srv->nlinks; i++)
		fprintf(f, "parley_edge_link_up{shard=\"%s\",state=\"%s\"} "
		    "%d\n", edge_link_name(srv->links[i]),
		    edge_link_state_str(srv->links[i]),
		    edge_link_state(srv->links[i]) == EDGE_LINK_UP);
	fprintf(f, "# TYPE parley_edge_link_ups_total counter\n");
	for (i = 0; i < srv->nlinks; i++)
		fprintf(f, "parley_edge_link_ups_total{shard=\"%s\"} %" PRIu64
		    "\n", edge_link_name(srv->links[i]),
		    edge_link_ups(srv->links[i]));
	fprintf(f, "# TYPE parley_edge_forwards_total counter\n"
	    "parley_edge_forwards_total %" PRIu64 "\n"
	    "# TYPE parley_edge_forward_failures_total counter\n"
	    "parley_edge_forward_failures_total %" PRIu64 "\n"
	    "# TYPE parley_edge_cached_total counter\n"
	    "parley_edge_cached_total %" PRIu64 "\n"
	    "# TYPE parley_edge_evictions_total counter\n"
	    "parley_edge_evictions_total %" PRIu64 "\n"
	    "# TYPE parley_edge_snapshots_total counter\n"
	    "parley_edge_snapshots_total %" PRIu64 "\n"
	    "# TYPE parley_edge_resumes_total counter\n"
	    "parley_edge_resumes_total %" PRIu64 "\n"
	    "# TYPE parley_edge_gaps_total counter\n"
	    "parley_edge_gaps_total %" PRIu64 "\n"
	    "# TYPE parley_edge_events_total counter\n"
	    "parley_edge_events_total %" PRIu64 "\n"
	    "# TYPE parley_edge_deliveries_total counter\n"
	    "parley_edge_deliveries_total %" PRIu64 "\n"
	    "# TYPE parley_edge_rtm_connections_total counter\n"
	    "parley_edge_rtm_connections_total %" PRIu64 "\n"
	    "# TYPE parley_edge_rtm_refused_total counter\n"
	    "parley_edge_rtm_refused_total %" PRIu64 "\n"
	    "# TYPE parley_edge_rtm_resumes_total counter\n"
	    "parley_edge_rtm_resumes_total{result=\"ok\"} %" PRIu64 "\n"
	    "parley_edge_rtm_resumes_total{result=\"failed\"} %" PRIu64 "\n"
	    "# TYPE parley_edge_rtm_closed_total counter\n"
	    "parley_edge_rtm_closed_total{reason=\"slow_consumer\"} %" PRIu64
	    "\n"
	    "parley_edge_rtm_closed_total{reason=\"heartbeat\"} %" PRIu64 "\n"
	    "parley_edge_rtm_closed_total{reason=\"revoked\"} %" PRIu64 "\n"
	    "# TYPE parley_edge_ephemeral_out_total counter\n"
	    "parley_edge_ephemeral_out_total %" PRIu64 "\n",
	    s->forwards, s->forward_fail, s->cached, s->evictions,
	    s->snapshots, s->resumes, s->gaps, s->events, s->deliveries,
	    s->rtm_opened, s->rtm_refused, s->rtm_resume_ok,
	    s->rtm_resume_failed, s->rtm_slow, s->rtm_dead, s->rtm_revoked,
	    s->ephemeral_out);
	fclose(f);
	http_reply(r, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}

void
edge_http_handler(struct http_req *r, void *arg)
{
	struct edge_srv *srv = arg;
	const char *path = http_req_path(r), *method = http_req_method(r);
	int is_get = strcmp(method, "GET") == 0;
	int is_post = strcmp(method, "POST") == 0;

	if (strncmp(path, "/api/", 5) == 0) {
		if (!is_get && !is_post) {
			http_reply_header(r, "Allow", "GET, POST");
			edge_reply_error(r, 405, "method_not_allowed");
			return;
		}
		edge_api_call(srv, r, path + 5, is_get);
	} else if (strcmp(path, "/healthz") == 0 && (is_get ||
	    strcmp(method, "HEAD") == 0)) {
		edge_health(srv, r);
	} else if (strcmp(path, "/metrics") == 0 && is_get) {
		edge_metrics(srv, r);
	} else if (strcmp(path, "/rtm") == 0) {
		edge_rtm_upgrade(srv, r);
	} else if (srv->web != NULL && strncmp(path, "/api", 4) != 0) {
		static_serve(srv->web, r);
	} else {
		edge_reply_error(r, 404, "not_found");
	}
}
