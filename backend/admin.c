/*
 * admin: the local admin socket of a running backend.
 *
 * A Unix stream socket (mode 0600, so only the backend's owner can use
 * it) through which parleyctl acts on the store while the backend holds
 * it: every change goes through the writer like any Web API write, so it
 * is an ordinary event that clients and edges see at once.
 *
 * Protocol: one JSON object per line in, one per line out, in order.
 *   {"op":"team.create","name":..,"domain":..[,"id"]} -> {"ok":true,"team_id"}
 *   {"op":"user.create","team","name","real_name","email","password",
 *    "admin","owner"}                               -> {"ok":true,"user_id"}
 *   {"op":"users.create_many","team","prefix","count","password"}
 *                                                   -> {"ok":true,"count"}
 *   {"op":"user.deactivate","user"}                 -> {"ok":true,"revoked"}
 *   {"op":"user.set_password","user","password"}    -> {"ok":true}
 *   {"op":"user.set_role","user","role"}            -> {"ok":true}
 *   {"op":"channel.create","team","name","private","general","creator"}
 *                                                   -> {"ok":true,"channel_id"}
 *   {"op":"channel.join","channel","user"}          -> {"ok":true}
 *   {"op":"messages.create_many","channel","user","count","prefix"}
 *                                                   -> {"ok":true,"count"}
 *   {"op":"token.mint","user","ttl"}        -> {"ok":true,"token","token_id"}
 *   {"op":"token.revoke","token_id"}                -> {"ok":true}
 *   {"op":"message.delete","channel","ts"}          -> {"ok":true}
 *   {"op":"lookup","team","user","channel"}
 *                   -> {"ok":true,"team_id","domain","user_id","channel_id"}
 *   {"op":"backup","dir"}                           -> {"ok":true}
 *   {"op":"keys.reload"}                            -> {"ok":true,"kid"}
 *   {"op":"ping"}                    -> {"ok":true,"epoch","pid","keys"}
 *   {"op":"team.pause","team","paused"}             -> {"ok":true}
 *   {"op":"team.export","team","file"}              -> {"ok":true}
 *   {"op":"team.import","file"}                     -> {"ok":true}
 *   {"op":"shards.reload"}           -> {"ok":true,"shard","teams"}
 * team.pause (paused true, the default, or false) makes the team's writes
 * get 429 (api_team_pause) and answers once every write queued before it
 * is committed, so that an export that follows holds every acknowledged
 * write.  team.export writes the team (an id) as JSON lines to file (an
 * absolute path that must not exist yet) on a worker thread; team.import
 * imports such a file through the writer (docs/store.md).  shards.reload
 * re-reads the shard map as SIGHUP does.
 * lookup takes a team id or domain and, optionally, a user id or name
 * and a channel id or name of that team.  backup writes a compacted
 * copy into dir (an absolute path; it must not hold a data.mdb yet) on
 * a worker thread while the backend goes on serving.
 * Errors: {"ok":false,"error":name} with "detail" for some.  A line
 * longer than 64 KiB or not a JSON object closes the connection after
 * an error line.
 *
 * Each connection has one request in flight: reading stops until it is
 * answered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "daemon.h"
#include "json.h"
#include "log.h"
#include "token.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/backend.h"

#define ADMIN_LINE_MAX (64 * 1024)
#define ADMIN_MANY_MAX 200000

struct admin {
	struct ev_loop *loop;
	struct api_ctx *api;
	int (*shards_reload)(void *arg, char *err, size_t errlen);
	void *shards_arg;
	ev_io accept;
	int fd;
	char *path;
	char *keys_path;
	struct admin_conn *conns;
};

struct admin_conn {
	struct admin *a;
	ev_io io;
	int fd;
	char *in;
	size_t inlen;
	int busy;       /* a request is in flight */
	struct admin_req *cur;
	int closing;    /* close once the answer is out */
	struct admin_conn *next;
};

/* One request in flight. */
struct admin_req {
	struct admin_conn *ac; /* NULL once the connection is gone */
	struct api_ctx *api;
	json_t *req;
	json_t *res;        /* answer fields */
	const char *err;
	char detail[512];   /* more about err, for the operator */
	char hash[STORE_PWHASH_SIZE];
	char token_id[TOKEN_ID_MAX + 1];
	char token[TOKEN_MAX_LEN];
	FILE *file;         /* team.import's input */
};

static void admin_conn_read(struct ev_loop *loop, ev_io *w, int revents);

static void
admin_conn_free(struct admin_conn *ac)
{
	struct admin_conn **pp;

	for (pp = &ac->a->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == ac) {
			*pp = ac->next;
			break;
		}
	if (ac->cur != NULL)
		ac->cur->ac = NULL;
	ev_io_stop(ac->a->loop, &ac->io);
	close(ac->fd);
	free(ac->in);
	free(ac);
}

/* Writes one answer line; a blocking write is fine for a local peer. */
static void
admin_send(struct admin_conn *ac, json_t *o)
{
	char *s = json_dump_compact(o, NULL);
	size_t len = strlen(s), off = 0;
	ssize_t n;

	s = xreallocarray(s, len + 2, 1);
	s[len++] = '\n';
	while (off < len) {
		n = write(ac->fd, s + off, len - off);
		if (n > 0) {
			off += (size_t)n;
		} else if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			fd_set w;

			FD_ZERO(&w);
			FD_SET(ac->fd, &w);
			select(ac->fd + 1, NULL, &w, NULL, NULL);
		} else {
			ac->closing = 1;
			break;
		}
	}
	free(s);
}

static void admin_conn_process(struct admin_conn *ac);

/* Answers the request and takes up the next line of its connection. */
static void
admin_req_end(struct admin_req *r)
{
	struct admin_conn *ac = r->ac;
	json_t *o;

	if (ac != NULL) {
		if (r->err != NULL) {
			o = json_pack("{s:b,s:s}", "ok", 0, "error", r->err);
			if (r->detail[0] != '\0')
				json_object_set_new(o, "detail",
				    json_string(r->detail));
		} else {
			o = json_pack("{s:b}", "ok", 1);
			if (r->res != NULL)
				json_object_update(o, r->res);
		}
		admin_send(ac, o);
		json_decref(o);
		ac->busy = 0;
		ac->cur = NULL;
		if (ac->closing)
			admin_conn_free(ac);
		else
			admin_conn_process(ac);
	}
	json_decref(r->req);
	json_decref(r->res);
	free(r);
}

static const char *
rs(struct admin_req *r, const char *k)
{
	return json_get_str(r->req, k);
}

static int
admin_fail(struct admin_req *r, const char *err)
{
	r->err = err;
	return STORE_ERR_USER;
}

/* ---- the operations, run by the writer ---- */

static int
op_team_create(struct store_txn *txn, struct admin_req *r)
{
	char id[STORE_ID_SIZE];
	int rc;

	if (rs(r, "name") == NULL || rs(r, "domain") == NULL)
		return admin_fail(r, "invalid_arguments");
	rc = store_op_team_create_id(txn, rs(r, "id"), rs(r, "name"),
	    rs(r, "domain"), id);
	if (rc == STORE_ERR_INVALID)
		return admin_fail(r, "invalid_arguments");
	if (rc == STORE_ERR_EXISTS)
		return admin_fail(r, "domain_taken");
	if (rc == STORE_OK)
		r->res = json_pack("{s:s}", "team_id", id);
	return rc;
}

/* A user with role flags and an optional password hash. */
static int
admin_user_make(struct store_txn *txn, struct admin_req *r,
    const char *team, const char *name, const char *real, const char *email,
    int admin, int owner, char id[STORE_ID_SIZE])
{
	json_t *extra = json_object();
	int rc;

	if (email != NULL)
		json_object_set_new(extra, "profile",
		    json_pack("{s:s}", "email", email));
	json_object_set_new(extra, "is_admin", json_boolean(admin || owner));
	json_object_set_new(extra, "is_owner", json_boolean(owner));
	rc = store_op_user_create(txn, team, name, real ? real : name, extra,
	    id);
	json_decref(extra);
	if (rc == STORE_OK && r->hash[0] != '\0')
		rc = store_txn_password_set(txn, id, r->hash);
	return rc;
}

static int
op_user_create(struct store_txn *txn, struct admin_req *r)
{
	char id[STORE_ID_SIZE];
	int rc;

	if (rs(r, "team") == NULL || rs(r, "name") == NULL)
		return admin_fail(r, "invalid_arguments");
	rc = admin_user_make(txn, r, rs(r, "team"), rs(r, "name"),
	    rs(r, "real_name"), rs(r, "email"),
	    json_get_bool(r->req, "admin", 0),
	    json_get_bool(r->req, "owner", 0), id);
	if (rc == STORE_ERR_EXISTS)
		return admin_fail(r, "name_taken");
	if (rc == STORE_ERR_NOTFOUND)
		return admin_fail(r, "team_not_found");
	if (rc == STORE_OK)
		r->res = json_pack("{s:s}", "user_id", id);
	return rc;
}

static int
op_users_many(struct store_txn *txn, struct admin_req *r)
{
	long long n = json_get_int(r->req, "count", 0), i;
	const char *prefix = rs(r, "prefix");
	char id[STORE_ID_SIZE], name[96];
	int rc = STORE_OK;

	if (rs(r, "team") == NULL || prefix == NULL || n < 1 ||
	    n > ADMIN_MANY_MAX || strlen(prefix) > 64)
		return admin_fail(r, "invalid_arguments");
	for (i = 0; i < n && rc == STORE_OK; i++) {
		snprintf(name, sizeof(name), "%s%lld", prefix, i);
		rc = admin_user_make(txn, r, rs(r, "team"), name, NULL, NULL,
		    0, 0, id);
	}
	if (rc == STORE_OK)
		r->res = json_pack("{s:I}", "count", (json_int_t)n);
	return rc;
}

static int
op_user_deactivate(struct store_txn *txn, struct admin_req *r)
{
	const char *u = rs(r, "user");
	int rc;

	if (u == NULL || !store_id_valid(u, 'U'))
		return admin_fail(r, "user_not_found");
	rc = store_op_user_deactivate(txn, u);
	if (rc == STORE_ERR_NOTFOUND)
		return admin_fail(r, "user_not_found");
	return rc;
}

static int
op_user_set_password(struct store_txn *txn, struct admin_req *r)
{
	const char *u = rs(r, "user");
	json_t *uo;

	if (u == NULL || (uo = store_txn_user_get(txn, u)) == NULL)
		return admin_fail(r, "user_not_found");
	json_decref(uo);
	return store_txn_password_set(txn, u, r->hash);
}

static int
op_user_set_role(struct store_txn *txn, struct admin_req *r)
{
	const char *u = rs(r, "user"), *role = rs(r, "role"), *team;
	json_t *uo;
	int rc, admin, owner;

	if (role == NULL)
		return admin_fail(r, "invalid_arguments");
	admin = strcmp(role, "admin") == 0;
	owner = strcmp(role, "owner") == 0;
	if (!admin && !owner && strcmp(role, "member") != 0)
		return admin_fail(r, "invalid_role");
	if (u == NULL || (uo = store_txn_user_get(txn, u)) == NULL)
		return admin_fail(r, "user_not_found");
	json_object_set_new(uo, "is_admin", json_boolean(admin || owner));
	json_object_set_new(uo, "is_owner", json_boolean(owner));
	rc = store_txn_user_put(txn, uo);
	team = json_get_str(uo, "team_id");
	if (rc == STORE_OK && team != NULL)
		rc = api_event(txn, team, json_pack("{s:s,s:O}", "type",
		    "user_change", "user", uo), u);
	json_decref(uo);
	return rc;
}

static int
op_channel_create(struct store_txn *txn, struct admin_req *r)
{
	char id[STORE_ID_SIZE];
	int rc;

	if (rs(r, "team") == NULL || rs(r, "name") == NULL ||
	    rs(r, "creator") == NULL)
		return admin_fail(r, "invalid_arguments");
	rc = store_op_channel_create(txn, rs(r, "team"), rs(r, "name"),
	    json_get_bool(r->req, "private", 0) ? 'G' : 'C', rs(r, "creator"),
	    id);
	if (rc == STORE_ERR_EXISTS)
		return admin_fail(r, "name_taken");
	if (rc == STORE_OK && json_get_bool(r->req, "general", 0)) {
		/* The team's default channel, which nobody leaves. */
		json_t *ch = store_txn_channel_get(txn, id);

		if (ch == NULL)
			return STORE_ERR_INTERNAL;
		json_object_set_new(ch, "is_general", json_true());
		rc = store_txn_channel_put(txn, ch);
		json_decref(ch);
	}
	if (rc == STORE_OK)
		r->res = json_pack("{s:s}", "channel_id", id);
	return rc;
}

static int
op_channel_join(struct store_txn *txn, struct admin_req *r)
{
	if (rs(r, "channel") == NULL || rs(r, "user") == NULL)
		return admin_fail(r, "invalid_arguments");
	return store_op_channel_join(txn, rs(r, "channel"), rs(r, "user"));
}

static int
op_messages_many(struct store_txn *txn, struct admin_req *r)
{
	long long n = json_get_int(r->req, "count", 0), i;
	const char *ch = rs(r, "channel"), *u = rs(r, "user");
	const char *prefix = rs(r, "prefix");
	char text[128], team[STORE_ID_SIZE];
	json_t *m;
	int rc;

	if (ch == NULL || u == NULL || n < 1 || n > ADMIN_MANY_MAX)
		return admin_fail(r, "invalid_arguments");
	if (store_txn_channel_team(txn, ch, team) != STORE_OK)
		return admin_fail(r, "channel_not_found");
	rc = STORE_OK;
	for (i = 0; i < n && rc == STORE_OK; i++) {
		snprintf(text, sizeof(text), "%s%lld",
		    prefix != NULL ? prefix : "message ", i);
		m = json_pack("{s:s,s:s,s:s,s:s}", "type", "message", "user", u,
		    "text", text, "team", team);
		rc = store_op_message_post(txn, ch, m, NULL);
		json_decref(m);
	}
	if (rc == STORE_OK)
		r->res = json_pack("{s:I}", "count", (json_int_t)n);
	return rc;
}

static int
op_token_mint(struct store_txn *txn, struct admin_req *r)
{
	struct store_token tok;
	json_t *uo;
	int rc;

	uo = rs(r, "user") ? store_txn_user_get(txn, rs(r, "user")) : NULL;
	if (uo == NULL)
		return admin_fail(r, "user_not_found");
	memset(&tok, 0, sizeof(tok));
	util_strlcpy(tok.user, rs(r, "user"), sizeof(tok.user));
	util_strlcpy(tok.team, json_get_str(uo, "team_id") ?
	    json_get_str(uo, "team_id") : "", sizeof(tok.team));
	json_decref(uo);
	tok.created = util_wall_sec();
	if (json_get_int(r->req, "ttl", 0) > 0)
		tok.expires = tok.created + json_get_int(r->req, "ttl", 0);
	rc = store_txn_token_put(txn, r->token_id, &tok);
	if (rc == STORE_OK)
		r->res = json_pack("{s:s,s:s}", "token", r->token, "token_id",
		    r->token_id);
	return rc;
}

static int
op_token_revoke(struct store_txn *txn, struct admin_req *r)
{
	struct store_token tok;
	const char *id = rs(r, "token_id");
	int rc;

	if (id == NULL || store_txn_token_get(txn, id, &tok) != STORE_OK)
		return admin_fail(r, "token_not_found");
	rc = store_txn_token_revoke(txn, id);
	if (rc == STORE_OK)
		rc = api_event(txn, tok.team, json_pack("{s:s,s:s,s:s}",
		    "type", "tokens_revoked", "user", tok.user, "token_id",
		    id), tok.user);
	return rc;
}

/* team.pause: nothing to write; its commit follows the earlier ones. */
static int
op_barrier(struct store_txn *txn, struct admin_req *r)
{
	return STORE_OK;
}

static int
op_message_delete(struct store_txn *txn, struct admin_req *r)
{
	uint64_t ts;
	int rc;

	if (rs(r, "channel") == NULL || store_ts_parse(rs(r, "ts"), &ts) == -1)
		return admin_fail(r, "invalid_arguments");
	rc = store_op_message_delete(txn, rs(r, "channel"), ts);
	if (rc == STORE_ERR_NOTFOUND)
		return admin_fail(r, "message_not_found");
	return rc;
}

static const struct admin_op {
	const char *name;
	int (*fn)(struct store_txn *txn, struct admin_req *r);
	int hash; /* hashes "password" on a worker first */
} admin_ops[] = {
	{ "team.create", op_team_create, 0 },
	{ "user.create", op_user_create, 1 },
	{ "users.create_many", op_users_many, 1 },
	{ "user.deactivate", op_user_deactivate, 0 },
	{ "user.set_password", op_user_set_password, 1 },
	{ "user.set_role", op_user_set_role, 0 },
	{ "channel.create", op_channel_create, 0 },
	{ "channel.join", op_channel_join, 0 },
	{ "messages.create_many", op_messages_many, 0 },
	{ "token.mint", op_token_mint, 0 },
	{ "token.revoke", op_token_revoke, 0 },
	{ "message.delete", op_message_delete, 0 },
	{ "team.pause", op_barrier, 0 },
	{ NULL, NULL, 0 },
};

static const struct admin_op *
admin_op_find(const char *name)
{
	const struct admin_op *op;

	for (op = admin_ops; op->name != NULL; op++)
		if (strcmp(op->name, name) == 0)
			return op;
	return NULL;
}

static int
admin_apply(struct store_txn *txn, void *arg)
{
	struct admin_req *r = arg;

	json_decref(r->res);
	r->res = NULL;
	r->err = NULL;
	return admin_op_find(rs(r, "op"))->fn(txn, r);
}

static void
admin_applied(void *arg, int rc)
{
	struct admin_req *r = arg;

	if (rc != STORE_OK && r->err == NULL)
		r->err = store_strerror(rc);
	admin_req_end(r);
}

static void
admin_submit(struct admin_req *r)
{
	struct admin *a = r->ac->a;

	if (store_submit(api_ctx_store(a->api), admin_apply, admin_applied,
	    r) == -1) {
		r->err = "service_unavailable";
		admin_req_end(r);
	}
}

static void
admin_hash_run(void *arg)
{
	struct admin_req *r = arg;
	const char *pw = rs(r, "password");

	if (pw != NULL && *pw != '\0' &&
	    store_password_hash(pw, r->hash) == -1)
		r->err = "internal_error";
}

static void
admin_hash_done(void *arg)
{
	struct admin_req *r = arg;

	if (r->err != NULL || r->ac == NULL) {
		admin_req_end(r);
		return;
	}
	admin_submit(r);
}

/* Finds a team by id or domain; 0 or -1. */
static int
admin_team_find(struct store_txn *txn, const char *s, char id[STORE_ID_SIZE])
{
	json_t *tm;

	if (store_id_valid(s, 'T')) {
		tm = store_txn_team_get(txn, s);
		if (tm == NULL)
			return -1;
		json_decref(tm);
		util_strlcpy(id, s, STORE_ID_SIZE);
		return 0;
	}
	return store_txn_team_by_domain(txn, s, id) == STORE_OK ? 0 : -1;
}

/*
 * lookup: names to ids in one read.  A user or channel given by id must
 * belong to the team.
 */
static void
admin_lookup(struct admin *a, struct admin_req *r)
{
	const char *team = rs(r, "team"), *u = rs(r, "user");
	const char *ch = rs(r, "channel");
	char tid[STORE_ID_SIZE], uid[STORE_ID_SIZE], cid[STORE_ID_SIZE];
	struct store_txn *txn;
	json_t *o;

	if (team == NULL) {
		r->err = "invalid_arguments";
		return;
	}
	txn = store_rd_begin(api_ctx_store(a->api));
	if (txn == NULL) {
		r->err = "internal_error";
		return;
	}
	if (admin_team_find(txn, team, tid) == -1) {
		r->err = "team_not_found";
		goto out;
	}
	r->res = json_pack("{s:s}", "team_id", tid);
	o = store_txn_team_get(txn, tid);
	if (json_get_str(o, "domain") != NULL)
		json_object_set_new(r->res, "domain",
		    json_string(json_get_str(o, "domain")));
	json_decref(o);
	if (u != NULL) {
		if (store_id_valid(u, 'U'))
			util_strlcpy(uid, u, sizeof(uid));
		else if (store_txn_user_by_name(txn, tid, u, uid) != STORE_OK)
			uid[0] = '\0';
		o = uid[0] != '\0' ? store_txn_user_get(txn, uid) : NULL;
		if (o == NULL || json_get_str(o, "team_id") == NULL ||
		    strcmp(json_get_str(o, "team_id"), tid) != 0) {
			json_decref(o);
			r->err = "user_not_found";
			goto out;
		}
		json_decref(o);
		json_object_set_new(r->res, "user_id", json_string(uid));
	}
	if (ch != NULL) {
		if (store_id_valid(ch, 0))
			util_strlcpy(cid, ch, sizeof(cid));
		else if (store_txn_channel_by_name(txn, tid, ch, cid) !=
		    STORE_OK)
			cid[0] = '\0';
		if (cid[0] == '\0' ||
		    store_txn_channel_team(txn, cid, uid) != STORE_OK ||
		    strcmp(uid, tid) != 0) {
			r->err = "channel_not_found";
			goto out;
		}
		json_object_set_new(r->res, "channel_id", json_string(cid));
	}
out:
	store_rd_end(txn);
}

static void
admin_backup_run(void *arg)
{
	struct admin_req *r = arg;

	if (store_backup(api_ctx_store(r->api), rs(r, "dir"),
	    r->detail, sizeof(r->detail)) == -1)
		r->err = "backup_failed";
}

static void
admin_backup_done(void *arg)
{
	struct admin_req *r = arg;

	if (r->err == NULL)
		log_info("admin: backup written to %s", rs(r, "dir"));
	else
		log_warnx("admin: backup: %s", r->detail);
	admin_req_end(r);
}

static void
admin_export_run(void *arg)
{
	struct admin_req *r = arg;
	FILE *f;

	/* "x": the file must not exist, so nothing is overwritten. */
	if ((f = fopen(rs(r, "file"), "wx")) == NULL) {
		snprintf(r->detail, sizeof(r->detail), "%s: %s",
		    rs(r, "file"), strerror(errno));
		r->err = "export_failed";
		return;
	}
	if (store_export_team(api_ctx_store(r->api), rs(r, "team"), f,
	    r->detail, sizeof(r->detail)) == -1)
		r->err = "export_failed";
	if (fclose(f) == EOF && r->err == NULL) {
		snprintf(r->detail, sizeof(r->detail), "%s: %s",
		    rs(r, "file"), strerror(errno));
		r->err = "export_failed";
	}
}

static void
admin_export_done(void *arg)
{
	struct admin_req *r = arg;

	if (r->err == NULL)
		log_info("admin: team %s exported to %s", rs(r, "team"),
		    rs(r, "file"));
	else
		log_warnx("admin: export of %s: %s", rs(r, "team"),
		    r->detail);
	admin_req_end(r);
}

static void
admin_import_done(void *arg, int rc, const char *err)
{
	struct admin_req *r = arg;

	fclose(r->file);
	r->file = NULL;
	if (rc != STORE_OK) {
		r->err = "import_failed";
		util_strlcpy(r->detail, err, sizeof(r->detail));
		log_warnx("admin: import of %s: %s", rs(r, "file"), err);
	} else {
		log_info("admin: imported %s", rs(r, "file"));
	}
	admin_req_end(r);
}

/* The requests that are not a plain write; 1 if name was one of them. */
static int
admin_handle_shards(struct admin *a, struct admin_req *r, const char *name)
{
	const char *team = rs(r, "team"), *file = rs(r, "file");

	if (strcmp(name, "team.pause") == 0) {
		if (team == NULL || api_team_pause(a->api, team,
		    json_get_bool(r->req, "paused", 1)) == -1) {
			r->err = "invalid_arguments";
			admin_req_end(r);
			return 1;
		}
		admin_submit(r); /* answered after the writes before it */
		return 1;
	}
	if (strcmp(name, "team.export") == 0) {
		if (team == NULL || !store_id_valid(team, 'T') ||
		    file == NULL || file[0] != '/') {
			r->err = "invalid_arguments";
			admin_req_end(r);
			return 1;
		}
		api_work_submit(a->api, admin_export_run, admin_export_done,
		    r);
		return 1;
	}
	if (strcmp(name, "team.import") == 0) {
		if (file == NULL || file[0] != '/' ||
		    (r->file = fopen(file, "re")) == NULL) {
			r->err = file == NULL || file[0] != '/' ?
			    "invalid_arguments" : "import_failed";
			if (file != NULL)
				snprintf(r->detail, sizeof(r->detail),
				    "%s: %s", file, strerror(errno));
			admin_req_end(r);
			return 1;
		}
		if (store_import_submit(api_ctx_store(a->api), r->file,
		    admin_import_done, r) == -1) {
			fclose(r->file);
			r->file = NULL;
			r->err = "service_unavailable";
			admin_req_end(r);
		}
		return 1;
	}
	if (strcmp(name, "shards.reload") == 0) {
		if (a->shards_reload == NULL ||
		    a->shards_reload(a->shards_arg, r->detail,
		    sizeof(r->detail)) == -1)
			r->err = "shards_not_loaded";
		else
			r->res = json_pack("{s:b}", "reloaded", 1);
		admin_req_end(r);
		return 1;
	}
	return 0;
}

/* Starts one request line. */
static void
admin_handle(struct admin_conn *ac, const char *line, size_t len)
{
	struct admin *a = ac->a;
	struct admin_req *r = xcalloc(1, sizeof(*r));
	const struct admin_op *op;
	const char *name;

	r->ac = ac;
	r->api = a->api;
	ac->busy = 1;
	ac->cur = r;
	r->req = api_json_parse(line, len);
	if (r->req == NULL || !json_is_object(r->req)) {
		r->err = "invalid_json";
		ac->closing = 1;
		admin_req_end(r);
		return;
	}
	name = rs(r, "op");
	if (name == NULL) {
		r->err = "invalid_arguments";
		admin_req_end(r);
		return;
	}
	log_debug("admin: %s", name);
	if (strcmp(name, "ping") == 0) {
		r->res = json_pack("{s:s,s:I,s:s}", "epoch",
		    store_epoch(api_ctx_store(a->api)), "pid",
		    (json_int_t)getpid(), "keys", a->keys_path);
		admin_req_end(r);
		return;
	}
	if (strcmp(name, "keys.reload") == 0) {
		if (api_keys_reload(a->api, a->keys_path) == -1)
			r->err = "keys_not_loaded";
		else
			r->res = json_pack("{s:s}", "kid",
			    token_keys_current(api_ctx_keys(a->api)));
		admin_req_end(r);
		return;
	}
	if (strcmp(name, "lookup") == 0) {
		admin_lookup(a, r);
		admin_req_end(r);
		return;
	}
	if (admin_handle_shards(a, r, name))
		return;
	if (strcmp(name, "backup") == 0) {
		if (rs(r, "dir") == NULL || rs(r, "dir")[0] != '/') {
			r->err = "invalid_arguments";
			admin_req_end(r);
			return;
		}
		api_work_submit(a->api, admin_backup_run, admin_backup_done,
		    r);
		return;
	}
	op = admin_op_find(name);
	if (op == NULL) {
		r->err = "unknown_op";
		admin_req_end(r);
		return;
	}
	if (op->fn == op_token_mint) {
		const char *u = rs(r, "user");
		long long ttl = json_get_int(r->req, "ttl", 0);
		char team[STORE_ID_SIZE] = "";
		struct store_txn *txn = store_rd_begin(api_ctx_store(a->api));
		json_t *uo = txn && u ? store_txn_user_get(txn, u) : NULL;

		if (uo != NULL && json_get_str(uo, "team_id") != NULL)
			util_strlcpy(team, json_get_str(uo, "team_id"),
			    sizeof(team));
		json_decref(uo);
		if (txn != NULL)
			store_rd_end(txn);
		if (team[0] == '\0') {
			r->err = "user_not_found";
			admin_req_end(r);
			return;
		}
		if (token_random_id(r->token_id, 21) == -1 ||
		    token_mint(api_ctx_keys(a->api), TOKEN_USER, team, u,
		    r->token_id, ttl > 0 ? ttl : 0, r->token,
		    sizeof(r->token)) < 0) {
			r->err = "internal_error";
			admin_req_end(r);
			return;
		}
	}
	if (op->hash && rs(r, "password") != NULL) {
		api_work_submit(a->api, admin_hash_run, admin_hash_done, r);
		return;
	}
	admin_submit(r);
}

/* Takes up the next complete line, if no request is in flight. */
static void
admin_conn_process(struct admin_conn *ac)
{
	char *nl;
	size_t len;

	if (ac->busy)
		return;
	nl = ac->in != NULL ? memchr(ac->in, '\n', ac->inlen) : NULL;
	if (nl == NULL) {
		ev_io_start(ac->a->loop, &ac->io);
		return;
	}
	len = (size_t)(nl - ac->in);
	{
		char *line = xstrndup(ac->in, len);

		memmove(ac->in, nl + 1, ac->inlen - len - 1);
		ac->inlen -= len + 1;
		ev_io_stop(ac->a->loop, &ac->io);
		admin_handle(ac, line, len);
		free(line);
	}
}

static void
admin_conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct admin_conn *ac = w->data;
	char buf[16384];
	ssize_t n;

	n = read(ac->fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (ac->busy) {
			/* The answer will find no one; stop reading. */
			ev_io_stop(loop, &ac->io);
			ac->closing = 1;
			return;
		}
		admin_conn_free(ac);
		return;
	}
	if (ac->inlen + (size_t)n > ADMIN_LINE_MAX) {
		json_t *o = json_pack("{s:b,s:s}", "ok", 0, "error",
		    "line_too_long");

		admin_send(ac, o);
		json_decref(o);
		admin_conn_free(ac);
		return;
	}
	ac->in = xreallocarray(ac->in, ac->inlen + (size_t)n, 1);
	memcpy(ac->in + ac->inlen, buf, (size_t)n);
	ac->inlen += (size_t)n;
	admin_conn_process(ac);
}

static void
admin_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct admin *a = w->data;
	struct admin_conn *ac;
	int fd;

	fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("admin: accept");
		return;
	}
	ac = xcalloc(1, sizeof(*ac));
	ac->a = a;
	ac->fd = fd;
	ac->next = a->conns;
	a->conns = ac;
	ev_io_init(&ac->io, admin_conn_read, fd, EV_READ);
	ac->io.data = ac;
	ev_io_start(loop, &ac->io);
}

struct admin *
admin_new(struct ev_loop *loop, struct api_ctx *api, const char *path,
    const char *keys_path)
{
	struct admin *a = xcalloc(1, sizeof(*a));

	a->loop = loop;
	a->api = api;
	a->path = xstrdup(path);
	a->keys_path = xstrdup(keys_path);
	a->fd = daemon_listen_unix(path, 16);
	if (a->fd == -1) {
		free(a->keys_path);
		free(a->path);
		free(a);
		return NULL;
	}
	ev_io_init(&a->accept, admin_accept, a->fd, EV_READ);
	a->accept.data = a;
	ev_io_start(loop, &a->accept);
	log_info("admin socket %s", path);
	return a;
}

void
admin_set_keys(struct admin *a, const char *keys_path)
{
	if (a == NULL)
		return;
	free(a->keys_path);
	a->keys_path = xstrdup(keys_path);
}

void
admin_set_shards_reload(struct admin *a,
    int (*fn)(void *arg, char *err, size_t errlen), void *arg)
{
	if (a == NULL)
		return;
	a->shards_reload = fn;
	a->shards_arg = arg;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	while (a->conns != NULL)
		admin_conn_free(a->conns);
	ev_io_stop(a->loop, &a->accept);
	close(a->fd);
	unlink(a->path);
	free(a->keys_path);
	free(a->path);
	free(a);
}
