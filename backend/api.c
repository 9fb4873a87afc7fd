/*
 * api: the method table and the life of one Web API call.
 *
 *   api_call_start
 *     -> parse arguments          bad: invalid_form_data, invalid_json...
 *     -> find the method          none: unknown_method
 *     -> verify the token         not_authed, invalid_auth, token_revoked,
 *                                 token_expired, account_inactive
 *     -> rate limit (token, tier) 429 with Retry-After
 *     -> read   in a read transaction, on the loop or a worker thread
 *        apply  on the store's writer thread; answered after the commit
 *        custom the method ends the call itself
 *     -> api_call_finish: serialise, count, hand to c->done, free
 *
 * Every call ends in api_call_finish exactly once, on the loop thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ev.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "json.h"
#include "shard.h"
#include "token.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/backend.h"

const double api_hist_bounds[API_HIST_N - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5,
};

/* A team whose writes are paused (a move), since when. */
struct api_paused {
	char team[STORE_ID_SIZE];
	double since; /* util_mono_sec() */
};

/* A job for the worker threads. */
struct api_job {
	void (*fn)(void *arg);
	void (*done)(void *arg);
	void *arg;
	struct api_job *next;
};

struct api_ctx {
	struct ev_loop *loop;
	struct store *st;
	const struct token_keys *keys;
	/*
	 * Sets loaded by api_keys_reload: the current one, and the one it
	 * replaced, kept until the next reload (see there).
	 */
	struct token_keys *keys_own;
	struct token_keys *keys_retired;
	struct api_limits lim;
	struct api_rate *rate;
	struct api_method_stats *stats;
	uint64_t unknown;
	unsigned inflight; /* calls made and not yet answered */

	/* Shards (loop thread only): the map, this process, paused teams. */
	const struct shard_map *shards;
	const struct shard *me;
	struct api_paused *paused;
	size_t npaused;

	/* Workers: todo is taken by threads, done is drained by the loop. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct api_job *todo, **todo_tail;
	struct api_job *done;
	pthread_t *threads;
	int nthreads;
	int stopping;
	ev_async async;
	ev_timer sweep;
};

static const struct api_method *const api_tables[] = {
	api_methods_auth,
	api_methods_chat,
	api_methods_conv,
	api_methods_users,
	api_methods_reactions,
	api_methods_rtm,
};

/* Every method in one flat list, built once. */
static const struct api_method **api_flat;
static size_t api_nflat;
static pthread_once_t api_flat_once = PTHREAD_ONCE_INIT;

static void
api_flat_build(void)
{
	size_t i, n = 0;
	const struct api_method *m;

	for (i = 0; i < UTIL_ARRAY_LEN(api_tables); i++)
		for (m = api_tables[i]; m->name != NULL; m++)
			n++;
	api_flat = xcalloc(n, sizeof(*api_flat));
	for (i = 0; i < UTIL_ARRAY_LEN(api_tables); i++)
		for (m = api_tables[i]; m->name != NULL; m++)
			api_flat[api_nflat++] = m;
}

size_t
api_method_count(void)
{
	pthread_once(&api_flat_once, api_flat_build);
	return api_nflat;
}

const struct api_method *
api_method_at(size_t i)
{
	pthread_once(&api_flat_once, api_flat_build);
	return i < api_nflat ? api_flat[i] : NULL;
}

const struct api_method *
api_method_find(const char *name, int *idx)
{
	size_t i;

	pthread_once(&api_flat_once, api_flat_build);
	for (i = 0; i < api_nflat; i++) {
		if (strcmp(api_flat[i]->name, name) == 0) {
			if (idx != NULL)
				*idx = (int)i;
			return api_flat[i];
		}
	}
	return NULL;
}

void
api_limits_default(struct api_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->tier_per_min[API_TIER_1] = 20;
	lim->tier_per_min[API_TIER_2] = 100;
	lim->tier_per_min[API_TIER_3] = 300;
	lim->tier_per_min[API_TIER_4] = 600;
	lim->tier_per_min[API_TIER_POST] = 600;
	lim->signin_failures = 5;
	lim->workers = 2;
	lim->max_body = 1024 * 1024;
}

/* ---- worker threads ---- */

static void *
api_worker_main(void *arg)
{
	struct api_ctx *ctx = arg;
	struct api_job *j;

	for (;;) {
		pthread_mutex_lock(&ctx->mu);
		while (ctx->todo == NULL && !ctx->stopping)
			pthread_cond_wait(&ctx->cv, &ctx->mu);
		if (ctx->todo == NULL) {
			pthread_mutex_unlock(&ctx->mu);
			return NULL;
		}
		j = ctx->todo;
		ctx->todo = j->next;
		if (ctx->todo == NULL)
			ctx->todo_tail = &ctx->todo;
		pthread_mutex_unlock(&ctx->mu);

		j->fn(j->arg);

		pthread_mutex_lock(&ctx->mu);
		j->next = ctx->done;
		ctx->done = j;
		pthread_mutex_unlock(&ctx->mu);
		ev_async_send(ctx->loop, &ctx->async);
	}
}

/* Runs the done functions of finished jobs, oldest first. */
static void
api_work_drain(struct ev_loop *loop, ev_async *w, int revents)
{
	struct api_ctx *ctx = w->data;
	struct api_job *list, *rev = NULL, *j;

	pthread_mutex_lock(&ctx->mu);
	list = ctx->done;
	ctx->done = NULL;
	pthread_mutex_unlock(&ctx->mu);

	while (list != NULL) {
		j = list;
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev != NULL) {
		j = rev;
		rev = j->next;
		j->done(j->arg);
		free(j);
	}
}

void
api_work_submit(struct api_ctx *ctx, void (*fn)(void *arg),
    void (*done)(void *arg), void *arg)
{
	struct api_job *j = xcalloc(1, sizeof(*j));

	j->fn = fn;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&ctx->mu);
	*ctx->todo_tail = j;
	ctx->todo_tail = &j->next;
	pthread_cond_signal(&ctx->cv);
	pthread_mutex_unlock(&ctx->mu);
}

static void
api_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct api_ctx *ctx = w->data;

	api_rate_sweep(ctx->rate, util_mono_sec());
}

struct api_ctx *
api_ctx_new(struct ev_loop *loop, struct store *st,
    const struct token_keys *keys, const struct api_limits *lim)
{
	struct api_ctx *ctx = xcalloc(1, sizeof(*ctx));
	int i;

	ctx->loop = loop;
	ctx->st = st;
	ctx->keys = keys;
	ctx->lim = *lim;
	ctx->rate = api_rate_new();
	ctx->stats = xcalloc(api_method_count(), sizeof(*ctx->stats));

	pthread_mutex_init(&ctx->mu, NULL);
	pthread_cond_init(&ctx->cv, NULL);
	ctx->todo_tail = &ctx->todo;
	ev_async_init(&ctx->async, api_work_drain);
	ctx->async.data = ctx;
	ev_async_start(loop, &ctx->async);
	ev_unref(loop);
	ev_timer_init(&ctx->sweep, api_sweep_cb, 60, 60);
	ctx->sweep.data = ctx;
	ev_timer_start(loop, &ctx->sweep);
	ev_unref(loop);

	ctx->nthreads = lim->workers > 0 ? lim->workers : 1;
	ctx->threads = xcalloc((size_t)ctx->nthreads, sizeof(pthread_t));
	for (i = 0; i < ctx->nthreads; i++)
		if (pthread_create(&ctx->threads[i], NULL, api_worker_main,
		    ctx) != 0)
			fatalx("api: cannot start worker thread %d", i);
	return ctx;
}

void
api_ctx_set_keys(struct api_ctx *ctx, const struct token_keys *keys)
{
	ctx->keys = keys;
}

int
api_keys_reload(struct api_ctx *ctx, const char *path)
{
	char err[512];
	struct token_keys *k;

	k = token_keys_load(path, err, sizeof(err));
	if (k == NULL) {
		log_warnx("keys: %s; keeping the loaded keys", err);
		return -1;
	}
	/*
	 * Key sets are read on the loop thread only, within one callback,
	 * and nothing keeps the pointer; a replaced set is still kept for
	 * one more reload all the same, so that a caller that fetched it
	 * just before the swap never sees it freed.  At most two sets are
	 * held; the first set belongs to whoever made the context.
	 */
	token_keys_free(ctx->keys_retired);
	ctx->keys_retired = ctx->keys_own;
	ctx->keys_own = k;
	ctx->keys = k;
	log_info("keys: loaded %s, signing with key %s", path,
	    token_keys_current(k));
	return 0;
}

void
api_ctx_set_limits(struct api_ctx *ctx, const struct api_limits *lim)
{
	int workers = ctx->lim.workers;

	ctx->lim = *lim;
	ctx->lim.workers = workers; /* the pool keeps its size */
}

struct store *
api_ctx_store(struct api_ctx *ctx)
{
	return ctx->st;
}

const struct token_keys *
api_ctx_keys(struct api_ctx *ctx)
{
	return ctx->keys;
}

const struct api_limits *
api_ctx_limits(struct api_ctx *ctx)
{
	return &ctx->lim;
}

struct api_rate *
api_ctx_rate(struct api_ctx *ctx)
{
	return ctx->rate;
}

const struct api_method_stats *
api_ctx_stats(struct api_ctx *ctx, size_t i)
{
	return &ctx->stats[i];
}

uint64_t
api_ctx_unknown(struct api_ctx *ctx)
{
	return ctx->unknown;
}

unsigned
api_ctx_inflight(struct api_ctx *ctx)
{
	return ctx->inflight;
}

/*
 * Stops the workers after the queued jobs ran; their done functions run
 * here, so that every call still ends.
 */
void
api_ctx_free(struct api_ctx *ctx)
{
	int i;

	if (ctx == NULL)
		return;
	pthread_mutex_lock(&ctx->mu);
	ctx->stopping = 1;
	pthread_cond_broadcast(&ctx->cv);
	pthread_mutex_unlock(&ctx->mu);
	for (i = 0; i < ctx->nthreads; i++)
		pthread_join(ctx->threads[i], NULL);
	api_work_drain(ctx->loop, &ctx->async, 0);

	ev_ref(ctx->loop);
	ev_async_stop(ctx->loop, &ctx->async);
	ev_ref(ctx->loop);
	ev_timer_stop(ctx->loop, &ctx->sweep);
	pthread_mutex_destroy(&ctx->mu);
	pthread_cond_destroy(&ctx->cv);
	api_rate_free(ctx->rate);
	token_keys_free(ctx->keys_own);
	token_keys_free(ctx->keys_retired);
	free(ctx->paused);
	free(ctx->threads);
	free(ctx->stats);
	free(ctx);
}

/* ---- the life of a call ---- */

static uint64_t
api_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct api_call *
api_call_new(struct api_ctx *ctx, const char *source)
{
	struct api_call *c = xcalloc(1, sizeof(*c));

	ctx->inflight++;
	c->ctx = ctx;
	c->midx = -1;
	c->status = 200;
	c->t0_us = api_now_us();
	util_strlcpy(c->source, source != NULL ? source : "local",
	    sizeof(c->source));
	return c;
}

void
api_call_set_origin(struct api_call *c, const char *host, const char *proto)
{
	size_t len;

	c->origin[0] = '\0';
	if (host == NULL)
		return;
	len = strlen(host);
	if (len == 0 || len > 127 || !util_all_in(host, len,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]"))
		return;
	snprintf(c->origin, sizeof(c->origin), "%s://%s",
	    proto != NULL && strcasecmp(proto, "https") == 0 ? "wss" : "ws",
	    host);
}

/* Serialises the answer unless a worker did already. */
static void
api_call_encode(struct api_call *c)
{
	json_t *o;

	if (c->body != NULL || c->no_body)
		return;
	if (c->werr != NULL) {
		o = json_pack("{s:b,s:s}", "ok", 0, "error", c->werr);
		if (c->extra != NULL)
			json_object_update(o, c->extra);
	} else {
		o = json_pack("{s:b}", "ok", 1);
		if (c->result != NULL)
			json_object_update(o, c->result);
	}
	c->body = json_dump_compact(o, &c->len);
	json_decref(o);
}

/* Counts, hands the answer to the caller, frees the call. */
static void
api_call_finish(struct api_call *c)
{
	struct api_ctx *ctx = c->ctx;

	api_call_encode(c);
	if (c->midx >= 0) {
		struct api_method_stats *s = &ctx->stats[c->midx];
		uint64_t us = api_now_us() - c->t0_us;
		double sec = (double)us / 1e6;
		int b;

		if (c->status == 429)
			s->limited++;
		else if (c->werr != NULL)
			s->error++;
		else
			s->ok++;
		for (b = 0; b < API_HIST_N - 1; b++)
			if (sec <= api_hist_bounds[b])
				break;
		s->hist[b]++;
		s->sum_us += us;
	}

	if (c->done != NULL)
		c->done(c);
	ctx->inflight--;
	json_decref(c->args);
	json_decref(c->result);
	json_decref(c->extra);
	free(c->body);
	free(c);
}

void
api_call_ok(struct api_call *c, json_t *result)
{
	json_decref(c->result);
	c->result = result;
	c->werr = NULL;
	api_call_finish(c);
}

void
api_call_fail(struct api_call *c, const char *error)
{
	c->werr = error;
	api_call_finish(c);
}

void
api_call_limited(struct api_call *c, int retry_after)
{
	c->status = 429;
	c->retry_after = retry_after > 0 ? retry_after : 1;
	c->werr = "ratelimited";
	api_call_finish(c);
}

int
api_err(struct api_call *c, const char *error)
{
	c->werr = error;
	return -1;
}

int
api_werr(struct api_call *c, const char *error)
{
	c->werr = error;
	return STORE_ERR_USER;
}

/*
 * The writer may run an apply more than once (a batch retried after the
 * map grew), so each run starts from a clean answer.
 */
static int
api_call_apply(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;

	json_decref(c->result);
	c->result = NULL;
	c->werr = NULL;
	return c->m->apply(txn, c);
}

/*
 * Checks the caller's token (already verified by signature) against the
 * store: it must be known and not revoked, its user active.  Fills
 * c->who.  Returns NULL or the error name.
 */
static const char *
api_auth_check(struct api_call *c, const struct token_info *ti)
{
	struct store_txn *txn;
	struct store_token tok;
	struct store_user_flags uf;
	const char *err = NULL;

	txn = store_rd_begin(c->ctx->st);
	if (txn == NULL)
		return "internal_error";
	if (store_txn_token_get(txn, ti->id, &tok) != STORE_OK ||
	    strcmp(tok.user, ti->user) != 0 ||
	    strcmp(tok.team, ti->team) != 0) {
		err = "invalid_auth";
		goto out;
	}
	if (tok.revoked) {
		err = "token_revoked";
		goto out;
	}
	if (store_txn_user_flags(txn, ti->user, &uf) != STORE_OK) {
		err = "invalid_auth";
		goto out;
	}
	if (uf.deleted) {
		err = "account_inactive";
		goto out;
	}
	util_strlcpy(c->who.team, ti->team, sizeof(c->who.team));
	util_strlcpy(c->who.user, ti->user, sizeof(c->who.user));
	util_strlcpy(c->who.token_id, ti->id, sizeof(c->who.token_id));
	c->who.is_owner = uf.is_owner;
	c->who.is_admin = uf.is_owner || uf.is_admin;
	c->who.is_bot = uf.is_bot;
out:
	store_rd_end(txn);
	return err;
}

/* The token of a request: the Authorization header, else "token". */
static const char *
api_call_token(struct api_call *c, const char *auth, size_t *len)
{
	const char *t;

	if (auth != NULL) {
		while (*auth == ' ')
			auth++;
		if (strncasecmp(auth, "Bearer ", 7) == 0) {
			t = auth + 7;
			while (*t == ' ')
				t++;
			*len = strcspn(t, " \t\r\n");
			if (*len > 0)
				return t;
		}
	}
	t = api_arg_str(c->args, "token");
	if (t != NULL && *t != '\0') {
		*len = strlen(t);
		return t;
	}
	return NULL;
}

static const char *
api_token_error(int status)
{
	return status == TOKEN_EXPIRED ? "token_expired" : "invalid_auth";
}

/* Runs a read method in one read transaction. */
static void
api_call_read(struct api_call *c)
{
	struct store_txn *txn;

	txn = store_rd_begin(c->ctx->st);
	if (txn == NULL) {
		c->werr = "internal_error";
		return;
	}
	if (c->m->read(c, txn) == -1 && c->werr == NULL)
		c->werr = "internal_error";
	store_rd_end(txn);
}

/* Worker side of a slow read: the read and the serialising. */
static void
api_call_slow_run(void *arg)
{
	struct api_call *c = arg;

	api_call_read(c);
	api_call_encode(c);
}

static void
api_call_slow_done(void *arg)
{
	api_call_finish(arg);
}

static void
api_call_write_done(void *arg, int rc)
{
	struct api_call *c = arg;

	if (rc != STORE_OK && c->werr == NULL)
		c->werr = store_strerror(rc);
	if (rc != STORE_OK) {
		json_decref(c->result);
		c->result = NULL;
	}
	api_call_finish(c);
}

/* Method names: 1-64 of [A-Za-z0-9._]. */
static int
api_method_name_ok(const char *m)
{
	size_t n = strlen(m);

	return n > 0 && n <= 64 &&
	    util_all_in(m, n, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._");
}

void
api_call_start(struct api_call *c, const char *method, int is_get,
    const char *ctype, const char *body, size_t len, const char *query,
    size_t qlen, const char *auth)
{
	struct api_ctx *ctx = c->ctx;
	const char *err = NULL, *tok;
	struct token_info ti;
	size_t toklen = 0;
	int rc, tier, wait;
	char key[96];

	if (!api_method_name_ok(method) ||
	    (c->m = api_method_find(method, &c->midx)) == NULL) {
		ctx->unknown++;
		api_call_fail(c, "unknown_method");
		return;
	}
	c->args = api_args_parse(ctype, body, len, query, qlen, &err);
	if (c->args == NULL) {
		log_info("api: %s from %s: %s", c->m->name, c->source, err);
		api_call_fail(c, err);
		return;
	}
	if (is_get && (c->m->flags & API_F_WRITE)) {
		api_call_fail(c, "invalid_request_method");
		return;
	}

	if (!(c->m->flags & API_F_NOAUTH)) {
		tok = api_call_token(c, auth, &toklen);
		if (tok == NULL) {
			api_call_fail(c, "not_authed");
			return;
		}
		rc = token_verify(ctx->keys, tok, toklen, time(NULL), &ti);
		if (rc != TOKEN_OK) {
			log_info("api: %s from %s: token %s", c->m->name,
			    c->source, token_strerror(rc));
			api_call_fail(c, api_token_error(rc));
			return;
		}
		if (ti.kind == TOKEN_TICKET) {
			api_call_fail(c, "not_allowed_token_type");
			return;
		}
		switch (api_team_where(ctx, ti.team)) {
		case API_TEAM_LEAVING:
			api_call_limited(c, API_PAUSE_RETRY);
			return;
		case API_TEAM_ELSEWHERE:
			log_info("api: %s from %s: team %s is on another "
			    "shard", c->m->name, c->source, ti.team);
			api_call_fail(c, "team_not_here");
			return;
		case API_TEAM_PAUSED:
			if ((c->m->flags & API_F_WRITE) ||
			    c->m->apply != NULL) {
				api_call_limited(c, API_PAUSE_RETRY);
				return;
			}
			break;
		default:
			break;
		}
		if ((err = api_auth_check(c, &ti)) != NULL) {
			api_call_fail(c, err);
			return;
		}
	}

	tier = c->m->tier;
	if (tier != API_TIER_NONE && ctx->lim.tier_per_min[tier] > 0) {
		snprintf(key, sizeof(key), "t%d/%s", tier,
		    c->who.token_id[0] != '\0' ? c->who.token_id : c->source);
		wait = api_rate_take(ctx->rate, key,
		    ctx->lim.tier_per_min[tier], util_mono_sec());
		if (wait > 0) {
			log_info("api: %s from %s: rate limited for %ds",
			    c->m->name, c->source, wait);
			api_call_limited(c, wait);
			return;
		}
	}

	if (c->m->custom != NULL) {
		c->m->custom(c);
	} else if (c->m->apply != NULL) {
		if (store_submit(ctx->st, api_call_apply, api_call_write_done,
		    c) == -1)
			api_call_fail(c, "service_unavailable");
	} else if (c->m->flags & API_F_SLOW) {
		api_work_submit(ctx, api_call_slow_run, api_call_slow_done, c);
	} else {
		api_call_read(c);
		api_call_finish(c);
	}
}

/* ---- shards ---- */

void
api_ctx_set_shards(struct api_ctx *ctx, const struct shard_map *map,
    const struct shard *me)
{
	ctx->shards = map;
	ctx->me = me;
}

enum api_team_where
api_team_where(struct api_ctx *ctx, const char *team)
{
	int elsewhere;
	size_t i;

	elsewhere = ctx->me != NULL &&
	    shard_for_team(ctx->shards, team) != ctx->me;
	for (i = 0; i < ctx->npaused; i++)
		if (strcmp(ctx->paused[i].team, team) == 0)
			break;
	if (i == ctx->npaused)
		return elsewhere ? API_TEAM_ELSEWHERE : API_TEAM_HERE;
	if (!elsewhere)
		return API_TEAM_PAUSED;
	/*
	 * Moved away from here: for a while the team's clients are told to
	 * retry, which their next try does through the new route.
	 */
	if (util_mono_sec() - ctx->paused[i].since < API_MOVE_GRACE)
		return API_TEAM_LEAVING;
	/* Gone for good: the pause has nothing left to hold. */
	memmove(&ctx->paused[i], &ctx->paused[i + 1],
	    (ctx->npaused - i - 1) * sizeof(*ctx->paused));
	ctx->npaused--;
	return API_TEAM_ELSEWHERE;
}

int
api_team_pause(struct api_ctx *ctx, const char *team, int paused)
{
	size_t i;

	if (!store_id_valid(team, 'T'))
		return -1;
	for (i = 0; i < ctx->npaused; i++)
		if (strcmp(ctx->paused[i].team, team) == 0)
			break;
	if (paused && i == ctx->npaused) {
		ctx->paused = xreallocarray(ctx->paused, ctx->npaused + 1,
		    sizeof(*ctx->paused));
		util_strlcpy(ctx->paused[ctx->npaused].team, team,
		    STORE_ID_SIZE);
		ctx->paused[ctx->npaused++].since = util_mono_sec();
		log_info("team %s paused: writes get 429 until resumed", team);
	} else if (!paused && i < ctx->npaused) {
		memmove(&ctx->paused[i], &ctx->paused[i + 1],
		    (ctx->npaused - i - 1) * sizeof(*ctx->paused));
		ctx->npaused--;
		log_info("team %s resumed", team);
	}
	return 0;
}

/* ---- helpers for the method files ---- */

json_t *
api_chan_get(struct store_txn *txn, const struct api_who *who,
    const char *id)
{
	json_t *ch;
	const char *team;

	if (id == NULL || (id[0] != 'C' && id[0] != 'G' && id[0] != 'D') ||
	    !store_id_valid(id, id[0]))
		return NULL;
	ch = store_txn_channel_get(txn, id);
	if (ch == NULL)
		return NULL;
	team = json_get_str(ch, "context_team_id");
	if (team == NULL || strcmp(team, who->team) != 0)
		goto hidden;
	if (json_get_bool(ch, "is_channel", 0) &&
	    !json_get_bool(ch, "is_private", 0))
		return ch;
	if (store_txn_is_member(txn, id, who->user) == 1)
		return ch;
hidden:
	json_decref(ch);
	return NULL;
}

json_t *
api_user_get(struct store_txn *txn, const struct api_who *who,
    const char *id)
{
	json_t *u;
	const char *team;

	if (id == NULL || (id[0] != 'U' && id[0] != 'W' && id[0] != 'B') ||
	    !store_id_valid(id, id[0]))
		return NULL;
	u = store_txn_user_get(txn, id);
	if (u == NULL)
		return NULL;
	team = json_get_str(u, "team_id");
	if (team == NULL || strcmp(team, who->team) != 0) {
		json_decref(u);
		return NULL;
	}
	return u;
}

json_t *
api_chan_view(struct store_txn *txn, const struct api_who *who,
    json_t *chan)
{
	const char *id = json_get_str(chan, "id"), *peer, *creator;
	int member;
	uint64_t mark = 0;
	char ts[STORE_TS_SIZE];

	member = id != NULL && store_txn_is_member(txn, id, who->user) == 1;
	json_object_set_new(chan, "is_member", json_boolean(member));
	if (json_get_bool(chan, "is_im", 0)) {
		json_object_set_new(chan, "is_open", json_true());
		/* An IM's user is the other person, whoever opened it. */
		if ((peer = json_get_str(chan, "user")) != NULL &&
		    strcmp(peer, who->user) == 0 &&
		    (creator = json_get_str(chan, "creator")) != NULL)
			json_object_set_new(chan, "user",
			    json_string(creator));
	}
	if (member && id != NULL &&
	    store_txn_mark_get(txn, who->user, id, &mark) == STORE_OK) {
		store_ts_format(mark, ts);
		json_object_set_new(chan, "last_read", json_string(ts));
	}
	return chan;
}

size_t
api_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

void
api_ts_now(char out[STORE_TS_SIZE])
{
	store_ts_format((uint64_t)util_wall_usec(), out);
}

int
api_event(struct store_txn *txn, const char *team, json_t *event,
    const char *ref)
{
	char ts[STORE_TS_SIZE];
	int rc;

	if (json_object_get(event, "event_ts") == NULL) {
		api_ts_now(ts);
		json_object_set_new(event, "event_ts", json_string(ts));
	}
	rc = store_txn_event_append(txn, team, event, ref, NULL);
	json_decref(event);
	return rc;
}

int
api_arg_ts(json_t *args, const char *name, uint64_t *ts)
{
	const char *s = api_arg_str(args, name);

	*ts = 0;
	if (s == NULL || *s == '\0')
		return 0;
	if (store_ts_parse(s, ts) == -1)
		return -1;
	return 0;
}

/*
 * Cursors are the position, a '|' and a 12-byte HMAC-SHA256 tag under a
 * key drawn at start, base64url-encoded: opaque to clients, and any
 * cursor not made by this process is invalid_cursor.
 */
static unsigned char api_cursor_key[32];
static pthread_once_t api_cursor_once = PTHREAD_ONCE_INIT;

static void
api_cursor_init(void)
{
	if (util_random_bytes(api_cursor_key, sizeof(api_cursor_key)) == -1)
		fatalx("api: no random bytes for cursors");
}

static void
api_cursor_tag(const char *pos, size_t len, unsigned char tag[32])
{
	unsigned int tlen = 32;

	pthread_once(&api_cursor_once, api_cursor_init);
	HMAC(EVP_sha256(), api_cursor_key, sizeof(api_cursor_key),
	    (const unsigned char *)pos, len, tag, &tlen);
}

#define API_CURSOR_TAG 12

void
api_cursor_make(const char *pos, char *out, size_t outlen)
{
	unsigned char raw[128], tag[32];
	size_t n = strlen(pos);

	if (n + 1 + API_CURSOR_TAG > sizeof(raw) ||
	    outlen < UTIL_B64URL_LEN(sizeof(raw)) + 1) {
		out[0] = '\0';
		return;
	}
	memcpy(raw, pos, n);
	raw[n] = '|';
	api_cursor_tag(pos, n, tag);
	memcpy(raw + n + 1, tag, API_CURSOR_TAG);
	util_b64url_encode(raw, n + 1 + API_CURSOR_TAG, out, outlen);
}

int
api_cursor_parse(const char *cursor, char *pos, size_t poslen)
{
	unsigned char raw[128], tag[32];
	int n;
	size_t plen;

	n = util_b64url_decode(cursor, strlen(cursor), raw, sizeof(raw));
	if (n < API_CURSOR_TAG + 2)
		return -1;
	plen = (size_t)n - API_CURSOR_TAG - 1;
	if (raw[plen] != '|' || plen >= poslen ||
	    memchr(raw, '\0', plen) != NULL)
		return -1;
	api_cursor_tag((const char *)raw, plen, tag);
	if (!token_ct_equal(tag, raw + plen + 1, API_CURSOR_TAG))
		return -1;
	memcpy(pos, raw, plen);
	pos[plen] = '\0';
	return 0;
}
