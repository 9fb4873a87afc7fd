/*
 * spoa_decide: turns one request's arguments into the variables that
 * haproxy.cfg acts on.
 *
 *   route        "edge" for slim clients (hint, slim=1, mobile user
 *                agent), else "full"; an explicit hint wins
 *   auth         ok, none, invalid or expired
 *   team, user   from a verified token or ticket
 *   shard        the team's shard (common/shard.h), for full clients
 *                with a verified team when parley.conf names shards
 *   admit        0 when a new WebSocket or boot call is deferred
 *   retry_after  seconds to wait when deferred
 *
 * The argument names are those of haproxy-config/parley-spoe.conf.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "spoa.h"

const char *
spoa_route_str(enum spoa_route r)
{
	return r == SPOA_ROUTE_EDGE ? "edge" : "full";
}

const char *
spoa_auth_str(enum spoa_auth a)
{
	switch (a) {
	case SPOA_AUTH_OK:
		return "ok";
	case SPOA_AUTH_INVALID:
		return "invalid";
	case SPOA_AUTH_EXPIRED:
		return "expired";
	default:
		return "none";
	}
}

static int
spoa_name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(name, want, len) == 0;
}

/* Maps an argument name to its field of req, or NULL when unknown. */
static struct spoa_str *
spoa_req_field(struct spoa_req *req, const char *name, size_t len)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{"ua", offsetof(struct spoa_req, ua)},
		{"authz", offsetof(struct spoa_req, authz)},
		{"cookie", offsetof(struct spoa_req, cookie)},
		{"ticket", offsetof(struct spoa_req, ticket)},
		{"path", offsetof(struct spoa_req, path)},
		{"query", offsetof(struct spoa_req, query)},
		{"hint", offsetof(struct spoa_req, hint)},
		{"upgrade", offsetof(struct spoa_req, upgrade)},
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (spoa_name_is(name, len, fields[i].name))
			return (struct spoa_str *)((char *)req + fields[i].off);
	return NULL;
}

void
spoa_req_parse(struct spoa_req *req, const struct spop_msg *msg)
{
	const uint8_t *p = msg->args;
	struct spoa_str *field;
	struct spop_data v;
	const char *name;
	size_t nlen;

	memset(req, 0, sizeof(*req));
	while (spop_kv_next(&p, msg->args_end, &name, &nlen, &v) == 1) {
		field = spoa_req_field(req, name, nlen);
		if (field == NULL)
			continue;
		if (v.type == SPOP_T_NULL)
			continue;
		if (v.type != SPOP_T_STR && v.type != SPOP_T_BIN) {
			/* An argument of another type reads as absent. */
			req->bad_args++;
			continue;
		}
		field->ptr = v.v.s.ptr;
		field->len = v.v.s.len;
	}
}

/* Finds needle in the len bytes of s, ignoring ASCII case. */
static int
spoa_contains_ci(const char *s, size_t len, const char *needle, size_t nlen)
{
	size_t i;

	if (nlen == 0 || nlen > len)
		return nlen == 0;
	for (i = 0; i + nlen <= len; i++)
		if (strncasecmp(s + i, needle, nlen) == 0)
			return 1;
	return 0;
}

int
spoa_match_ua(const struct spoa_list *l, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (spoa_contains_ci(s, len, l->items[i], l->lens[i]))
			return 1;
	return 0;
}

/*
 * An entry ending in '*' matches every path that starts with what comes
 * before it; any other entry matches that path exactly.
 */
int
spoa_match_path(const struct spoa_list *l, const char *s, size_t len)
{
	const char *it;
	size_t i, n;

	for (i = 0; i < l->n; i++) {
		it = l->items[i];
		n = l->lens[i];
		if (n > 0 && it[n - 1] == '*') {
			if (len >= n - 1 && memcmp(s, it, n - 1) == 0)
				return 1;
		} else if (len == n && memcmp(s, it, n) == 0) {
			return 1;
		}
	}
	return 0;
}

/*
 * Reads a flag of a query string: 1 for name=1 or name=true, 0 for
 * name=0 or name=false, -1 when absent or anything else.
 */
int
spoa_query_flag(const char *q, size_t len, const char *name)
{
	size_t nlen = strlen(name), i = 0, b, e;

	while (i < len) {
		b = i;
		while (i < len && q[i] != '&')
			i++;
		e = i++;
		if (e - b <= nlen || memcmp(q + b, name, nlen) != 0 ||
		    q[b + nlen] != '=')
			continue;
		b += nlen + 1;
		if ((e - b == 1 && q[b] == '1') ||
		    (e - b == 4 && strncasecmp(q + b, "true", 4) == 0))
			return 1;
		if ((e - b == 1 && q[b] == '0') ||
		    (e - b == 5 && strncasecmp(q + b, "false", 5) == 0))
			return 0;
	}
	return -1;
}

static enum spoa_route
spoa_decide_route(const struct spoa_ctx *ctx, const struct spoa_req *req)
{
	int slim;

	if (req->hint.ptr != NULL) {
		if ((req->hint.len == 4 &&
			strncasecmp(req->hint.ptr, "slim", 4) == 0) ||
		    (req->hint.len == 4 &&
			strncasecmp(req->hint.ptr, "edge", 4) == 0))
			return SPOA_ROUTE_EDGE;
		if (req->hint.len == 4 &&
		    strncasecmp(req->hint.ptr, "full", 4) == 0)
			return SPOA_ROUTE_FULL;
	}
	if (req->query.ptr != NULL) {
		slim = spoa_query_flag(req->query.ptr, req->query.len, "slim");
		if (slim >= 0)
			return slim ? SPOA_ROUTE_EDGE : SPOA_ROUTE_FULL;
	}
	if (req->ua.ptr != NULL &&
	    spoa_match_ua(&ctx->pol->mobile_ua, req->ua.ptr, req->ua.len))
		return SPOA_ROUTE_EDGE;
	return SPOA_ROUTE_FULL;
}

/*
 * Picks the credential to check: a Bearer token of the Authorization
 * header, else the token cookie, else the ticket of a WebSocket URL.
 */
static int
spoa_decide_credential(const struct spoa_req *req, struct spoa_str *tok,
    int *ticket)
{
	const char *a = req->authz.ptr;
	size_t n = req->authz.len;

	if (a != NULL && n > 7 && strncasecmp(a, "Bearer ", 7) == 0) {
		a += 7;
		n -= 7;
		while (n > 0 && *a == ' ') {
			a++;
			n--;
		}
		while (n > 0 && a[n - 1] == ' ')
			n--;
		if (n > 0) {
			tok->ptr = a;
			tok->len = n;
			*ticket = 0;
			return 1;
		}
	}
	if (req->cookie.ptr != NULL && req->cookie.len > 0) {
		*tok = req->cookie;
		*ticket = 0;
		return 1;
	}
	if (req->ticket.ptr != NULL && req->ticket.len > 0) {
		*tok = req->ticket;
		*ticket = 1;
		return 1;
	}
	return 0;
}

/* A new WebSocket or a boot call: what a reconnect storm is made of. */
static int
spoa_decide_counted(const struct spoa_ctx *ctx, const struct spoa_req *req)
{
	if (req->upgrade.ptr != NULL && req->upgrade.len == 9 &&
	    strncasecmp(req->upgrade.ptr, "websocket", 9) == 0)
		return 1;
	return req->path.ptr != NULL &&
	    spoa_match_path(&ctx->pol->boot_paths, req->path.ptr,
		req->path.len);
}

void
spoa_decide(struct spoa_ctx *ctx, const struct spoa_req *req,
    struct spoa_decision *d)
{
	const struct spoa_policy *pol = ctx->pol;
	struct spoa_str tok;
	int ticket = 0;

	d->route = spoa_decide_route(ctx, req);
	d->auth = SPOA_AUTH_NONE;
	d->team[0] = '\0';
	d->user[0] = '\0';
	d->shard[0] = '\0';
	d->admit = 1;
	d->retry_after = 0;
	d->counted = 0;

	if (!(req->path.ptr != NULL &&
		spoa_match_path(&pol->open_paths, req->path.ptr,
		    req->path.len)) &&
	    spoa_decide_credential(req, &tok, &ticket))
		d->auth = spoa_auth_check(tok.ptr, tok.len, ticket,
		    time(NULL), d->team, d->user);

	if (d->auth == SPOA_AUTH_OK && d->route == SPOA_ROUTE_FULL &&
	    d->team[0] != '\0')
		spoa_shard_of(d->team, d->shard, sizeof(d->shard));

	/* Rejected requests never reach a backend: nothing to admit. */
	if (d->auth != SPOA_AUTH_INVALID && d->auth != SPOA_AUTH_EXPIRED &&
	    spoa_decide_counted(ctx, req)) {
		d->counted = 1;
		d->admit = spoa_admit_take(ctx->admit,
		    d->team[0] ? d->team : NULL, spoa_now());
		if (!d->admit) {
			d->retry_after = spoa_admit_retry_after(pol, &ctx->rng);
			SPOA_INC(ctx->stats->deferred);
		}
	}

	SPOA_INC(ctx->stats->route[d->route]);
	SPOA_INC(ctx->stats->auth[d->auth]);
	if (log_getverbose())
		log_debug("spoa: route=%s auth=%s team=%s shard=%s admit=%d "
			  "retry_after=%u",
		    spoa_route_str(d->route), spoa_auth_str(d->auth),
		    d->team[0] ? d->team : "-", d->shard[0] ? d->shard : "-",
		    d->admit, d->retry_after);
}

static int
spoa_put_str(uint8_t **p, uint8_t *end, const char *name, const char *val)
{
	struct spop_data v;

	v.type = SPOP_T_STR;
	v.v.s.ptr = val;
	v.v.s.len = strlen(val);
	return spop_action_set_var(p, end, SPOP_SCOPE_TXN, name, strlen(name),
	    &v);
}

static int
spoa_put_int(uint8_t **p, uint8_t *end, const char *name, int64_t val)
{
	struct spop_data v;

	v.type = SPOP_T_INT64;
	v.v.i = val;
	return spop_action_set_var(p, end, SPOP_SCOPE_TXN, name, strlen(name),
	    &v);
}

int
spoa_decision_put(const struct spoa_decision *d, uint8_t **p, uint8_t *end)
{
	uint8_t *q = *p;

	if (spoa_put_str(&q, end, "route", spoa_route_str(d->route)) == -1 ||
	    spoa_put_str(&q, end, "auth", spoa_auth_str(d->auth)) == -1 ||
	    spoa_put_int(&q, end, "admit", d->admit) == -1)
		return -1;
	if (d->team[0] != '\0' && spoa_put_str(&q, end, "team", d->team) == -1)
		return -1;
	if (d->user[0] != '\0' && spoa_put_str(&q, end, "user", d->user) == -1)
		return -1;
	if (d->shard[0] != '\0' &&
	    spoa_put_str(&q, end, "shard", d->shard) == -1)
		return -1;
	if (!d->admit &&
	    spoa_put_int(&q, end, "retry_after", d->retry_after) == -1)
		return -1;
	*p = q;
	return 0;
}
