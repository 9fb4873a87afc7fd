/*
 * api_auth: api.test, auth.test, auth.revoke, team.info and Parley's
 * sign-in method, parley.signin.
 *
 * Sign-in takes a team domain, a user name (or e-mail) and a password and
 * returns a new user token.  The password check (PBKDF2, deliberately
 * slow) runs on a worker thread.  Failures are counted per user and per
 * source address; past [backend] signin_failures a minute, further
 * attempts get 429 with Retry-After before any hashing is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "token.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/backend.h"

/* Returns its arguments; an "error" argument makes it fail with that. */
static void
api_test(struct api_call *c)
{
	const char *e = api_arg_str(c->args, "error");
	json_t *args;

	if (e != NULL && *e != '\0') {
		c->extra = json_pack("{s:O}", "args", c->args);
		api_call_fail(c, e);
		return;
	}
	args = json_deep_copy(c->args);
	json_object_del(args, "token");
	api_call_ok(c, json_pack("{s:o}", "args", args));
}

static int
auth_test(struct api_call *c, struct store_txn *txn)
{
	json_t *t, *u;
	const char *domain;

	t = store_txn_team_get(txn, c->who.team);
	u = store_txn_user_get(txn, c->who.user);
	if (t == NULL || u == NULL) {
		json_decref(t);
		json_decref(u);
		return api_err(c, "invalid_auth");
	}
	domain = json_get_str(t, "domain");
	c->result = json_pack("{s:s++,s:s,s:s,s:s,s:s,s:b}",
	    "url", "https://", domain != NULL ? domain : "parley",
	    ".parley.invalid/",
	    "team", json_get_str(t, "name") ? json_get_str(t, "name") : "",
	    "user", json_get_str(u, "name") ? json_get_str(u, "name") : "",
	    "team_id", c->who.team, "user_id", c->who.user,
	    "is_enterprise_install", 0);
	if (c->who.is_bot && json_get_str(u, "bot_id") != NULL)
		json_object_set_new(c->result, "bot_id",
		    json_string(json_get_str(u, "bot_id")));
	json_decref(t);
	json_decref(u);
	return 0;
}

/* Revokes the caller's token; with test=true only says it would. */
static int
auth_revoke(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	const char *err = NULL;
	int test, rc;
	json_t *ev;

	test = api_arg_bool(c->args, "test", 0, &err);
	if (test == -1)
		return api_err(c, err), STORE_ERR_USER;
	c->result = json_pack("{s:b}", "revoked", !test);
	if (test)
		return STORE_OK;
	rc = store_txn_token_revoke(txn, c->who.token_id);
	if (rc != STORE_OK)
		return rc;
	ev = json_pack("{s:s,s:s,s:s}", "type", "tokens_revoked",
	    "user", c->who.user, "token_id", c->who.token_id);
	rc = store_txn_event_append(txn, c->who.team, ev, c->who.user, NULL);
	json_decref(ev);
	return rc;
}

static int
team_info(struct api_call *c, struct store_txn *txn)
{
	const char *want = api_arg_str(c->args, "team");
	json_t *t;

	if (want != NULL && *want != '\0' && strcmp(want, c->who.team) != 0)
		return api_err(c, "team_not_found");
	t = store_txn_team_get(txn, c->who.team);
	if (t == NULL)
		return api_err(c, "team_not_found");
	if (json_object_get(t, "icon") == NULL)
		json_object_set_new(t, "icon",
		    json_pack("{s:b}", "image_default", 1));
	c->result = json_pack("{s:o}", "team", t);
	return 0;
}

/* ---- parley.signin ---- */

/* A hash no password matches, checked when the user is unknown. */
static const char api_signin_dummy[] =
    "pbkdf2-sha256$200000$AAAAAAAAAAAAAAAAAAAAAA$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

struct api_signin {
	struct api_call *c;
	char hash[STORE_PWHASH_SIZE];
	char team[STORE_ID_SIZE];
	char user[STORE_ID_SIZE];
	int known;    /* team, user and hash were found */
	int inactive; /* the user is deactivated */
	int match;
	char token[TOKEN_MAX_LEN];
	char token_id[TOKEN_ID_MAX + 1];
};

static void
api_signin_keys(struct api_call *c, const char *team, const char *user,
    char *ukey, size_t ulen, char *skey, size_t slen)
{
	snprintf(ukey, ulen, "su/%s/%s", team, user);
	snprintf(skey, slen, "ss/%s", c->source);
}

static void
api_signin_check(void *arg)
{
	struct api_signin *s = arg;
	const char *pw = api_arg_str(s->c->args, "password");

	s->match = store_password_check(pw != NULL ? pw : "",
	    s->known ? s->hash : api_signin_dummy) == 1 && s->known;
}

static int
api_signin_apply(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	struct api_signin *s = c->priv;
	struct store_token tok;

	memset(&tok, 0, sizeof(tok));
	util_strlcpy(tok.user, s->user, sizeof(tok.user));
	util_strlcpy(tok.team, s->team, sizeof(tok.team));
	tok.created = util_wall_sec();
	return store_txn_token_put(txn, s->token_id, &tok);
}

static void
api_signin_stored(void *arg, int rc)
{
	struct api_call *c = arg;
	struct api_signin *s = c->priv;

	c->priv = NULL;
	if (rc != STORE_OK)
		api_call_fail(c, store_strerror(rc));
	else
		api_call_ok(c, json_pack("{s:s,s:s,s:s}", "token", s->token,
		    "user_id", s->user, "team_id", s->team));
	free(s);
}

/* Back on the loop after the hash check: count a failure, or mint. */
static void
api_signin_checked(void *arg)
{
	struct api_signin *s = arg;
	struct api_call *c = s->c;
	struct api_ctx *ctx = c->ctx;
	char ukey[256], skey[96];
	double now = util_mono_sec();
	int per_min;

	if (!s->match) {
		api_signin_keys(c, api_arg_str(c->args, "team"),
		    api_arg_str(c->args, "user"), ukey, sizeof(ukey), skey,
		    sizeof(skey));
		per_min = api_ctx_limits(ctx)->signin_failures;
		(void)api_rate_take(api_ctx_rate(ctx), ukey, per_min, now);
		(void)api_rate_take(api_ctx_rate(ctx), skey, per_min, now);
		log_info("api: parley.signin from %s: wrong credentials",
		    c->source);
		free(s);
		api_call_fail(c, "invalid_credentials");
		return;
	}
	if (s->inactive) {
		free(s);
		api_call_fail(c, "account_inactive");
		return;
	}
	if (token_random_id(s->token_id, 21) == -1 ||
	    token_mint(api_ctx_keys(ctx), TOKEN_USER, s->team, s->user,
	    s->token_id, 0, s->token, sizeof(s->token)) < 0) {
		free(s);
		api_call_fail(c, "internal_error");
		return;
	}
	c->priv = s;
	if (store_submit(api_ctx_store(ctx), api_signin_apply,
	    api_signin_stored, c) == -1) {
		c->priv = NULL;
		free(s);
		api_call_fail(c, "service_unavailable");
	}
}

static void
api_signin(struct api_call *c)
{
	const char *tn = api_arg_str(c->args, "team");
	const char *un = api_arg_str(c->args, "user");
	const char *pw = api_arg_str(c->args, "password");
	struct api_ctx *ctx = c->ctx;
	struct store_txn *txn;
	struct api_signin *s;
	char ukey[256], skey[96];
	int per_min, wu, ws;
	double now = util_mono_sec();
	json_t *u;

	if (tn == NULL || un == NULL || pw == NULL || *tn == '\0' ||
	    *un == '\0' || strlen(tn) > 64 || strlen(un) > 128 ||
	    strlen(pw) > 1024) {
		api_call_fail(c, "invalid_arguments");
		return;
	}
	api_signin_keys(c, tn, un, ukey, sizeof(ukey), skey, sizeof(skey));
	per_min = api_ctx_limits(ctx)->signin_failures;
	wu = api_rate_peek(api_ctx_rate(ctx), ukey, per_min, now);
	ws = api_rate_peek(api_ctx_rate(ctx), skey, per_min, now);
	if (wu > 0 || ws > 0) {
		log_info("api: parley.signin from %s: throttled", c->source);
		api_call_limited(c, wu > ws ? wu : ws);
		return;
	}

	s = xcalloc(1, sizeof(*s));
	s->c = c;
	txn = store_rd_begin(api_ctx_store(ctx));
	if (txn == NULL) {
		free(s);
		api_call_fail(c, "internal_error");
		return;
	}
	if (store_txn_team_by_domain(txn, tn, s->team) == STORE_OK &&
	    (store_txn_user_by_name(txn, s->team, un, s->user) == STORE_OK ||
	    store_txn_user_by_email(txn, s->team, un, s->user) ==
	    STORE_OK) &&
	    store_txn_password_get(txn, s->user, s->hash) == STORE_OK) {
		s->known = 1;
		u = store_txn_user_get(txn, s->user);
		s->inactive = u == NULL || json_get_bool(u, "deleted", 0);
		json_decref(u);
	}
	store_rd_end(txn);
	/*
	 * A team that moved away still has its data here until it is
	 * purged: a token minted here would be unknown to its shard.
	 */
	if (s->team[0] != '\0' && api_team_where(ctx, s->team) !=
	    API_TEAM_HERE) {
		enum api_team_where w = api_team_where(ctx, s->team);

		free(s);
		if (w == API_TEAM_ELSEWHERE)
			api_call_fail(c, "team_not_here");
		else
			api_call_limited(c, API_PAUSE_RETRY);
		return;
	}
	api_work_submit(ctx, api_signin_check, api_signin_checked, s);
}

const struct api_method api_methods_auth[] = {
	{ "api.test", API_TIER_4, API_F_NOAUTH, NULL, NULL, api_test },
	{ "auth.test", API_TIER_4, 0, auth_test, NULL, NULL },
	{ "auth.revoke", API_TIER_3, API_F_WRITE, NULL, auth_revoke, NULL },
	{ "team.info", API_TIER_3, 0, team_info, NULL, NULL },
	{ "parley.signin", API_TIER_NONE, API_F_NOAUTH | API_F_WRITE, NULL,
	    NULL, api_signin },
	{ NULL, 0, 0, NULL, NULL, NULL },
};
