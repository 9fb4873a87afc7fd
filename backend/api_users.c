/*
 * api_users: users.list, users.info, users.conversations,
 * users.getPresence and users.setPresence.
 *
 * Users of other teams do not exist for the caller (user_not_found).
 * Presence: a user who set "away" is away; otherwise active.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "util.h"

#include "backend/backend.h"

#define API_USERS_DEF 200
#define API_USERS_MAX 1000

struct api_ulist {
	struct store_txn *txn;
	json_t *out;
	size_t limit;
	int more;
	char last[STORE_ID_SIZE];
};

static int
api_ulist_cb(void *arg, const char *id)
{
	struct api_ulist *l = arg;
	json_t *u;

	if (json_array_size(l->out) >= l->limit) {
		l->more = 1;
		return 1;
	}
	u = store_txn_user_get(l->txn, id);
	if (u == NULL)
		return 0;
	util_strlcpy(l->last, id, sizeof(l->last));
	json_array_append_new(l->out, u);
	return 0;
}

static int
users_list(struct api_call *c, struct store_txn *txn)
{
	struct api_ulist l;
	const char *cur = api_arg_str(c->args, "cursor"), *err = NULL;
	char pos[96], next[200];
	long long limit;
	int rc;

	memset(&l, 0, sizeof(l));
	if (api_arg_int(c->args, "limit", API_USERS_DEF, 0, 1000000, &limit,
	    &err) == -1)
		return api_err(c, "invalid_limit");
	if (limit == 0)
		limit = API_USERS_DEF;
	if (limit > API_USERS_MAX)
		limit = API_USERS_MAX;
	pos[0] = '\0';
	if (cur != NULL && *cur != '\0' &&
	    (api_cursor_parse(cur, pos, sizeof(pos)) == -1 ||
	    strncmp(pos, "u:", 2) != 0 || pos[2] == '\0'))
		return api_err(c, "invalid_cursor");
	l.txn = txn;
	l.limit = (size_t)limit;
	l.out = json_array();
	rc = store_txn_team_users(txn, c->who.team, pos[0] ? pos + 2 : NULL,
	    api_ulist_cb, &l);
	if (rc != STORE_OK) {
		json_decref(l.out);
		return api_err(c, store_strerror(rc));
	}
	next[0] = '\0';
	if (l.more) {
		snprintf(pos, sizeof(pos), "u:%s", l.last);
		api_cursor_make(pos, next, sizeof(next));
	}
	c->result = json_pack("{s:o,s:I,s:{s:s}}", "members", l.out,
	    "cache_ts", (json_int_t)util_wall_sec(), "response_metadata",
	    "next_cursor", next);
	return 0;
}

static int
users_info(struct api_call *c, struct store_txn *txn)
{
	json_t *u = api_user_get(txn, &c->who, api_arg_str(c->args, "user"));

	if (u == NULL)
		return api_err(c, "user_not_found");
	c->result = json_pack("{s:o}", "user", u);
	return 0;
}

static int
users_get_presence(struct api_call *c, struct store_txn *txn)
{
	const char *id = api_arg_str(c->args, "user");
	const char *manual;
	json_t *u;
	int away;

	if (id == NULL || *id == '\0')
		id = c->who.user;
	u = api_user_get(txn, &c->who, id);
	if (u == NULL)
		return api_err(c, "user_not_found");
	manual = json_get_str(u, "manual_presence");
	away = json_get_bool(u, "deleted", 0) ||
	    (manual != NULL && strcmp(manual, "away") == 0);
	c->result = json_pack("{s:s}", "presence", away ? "away" : "active");
	if (strcmp(id, c->who.user) == 0) {
		json_object_set_new(c->result, "online", json_boolean(!away));
		json_object_set_new(c->result, "auto_away", json_false());
		json_object_set_new(c->result, "manual_away",
		    json_boolean(away));
		json_object_set_new(c->result, "connection_count",
		    json_integer(0));
	}
	json_decref(u);
	return 0;
}

static int
users_set_presence(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	const char *p = api_arg_str(c->args, "presence");
	json_t *u;
	int rc;

	if (p == NULL || (strcmp(p, "away") != 0 && strcmp(p, "auto") != 0))
		return api_werr(c, "invalid_presence");
	u = store_txn_user_get(txn, c->who.user);
	if (u == NULL)
		return STORE_ERR_INTERNAL;
	json_object_set_new(u, "manual_presence",
	    json_string(strcmp(p, "away") == 0 ? "away" : "active"));
	rc = store_txn_user_put(txn, u);
	if (rc == STORE_OK)
		rc = api_event(txn, c->who.team, json_pack("{s:s,s:s,s:s}",
		    "type", "manual_presence_change", "user", c->who.user,
		    "presence", strcmp(p, "away") == 0 ? "away" : "active"),
		    c->who.user);
	json_decref(u);
	return rc;
}

const struct api_method api_methods_users[] = {
	{ "users.list", API_TIER_2, 0, users_list, NULL, NULL },
	{ "users.info", API_TIER_4, 0, users_info, NULL, NULL },
	{ "users.conversations", API_TIER_3, 0, api_users_conversations,
	    NULL, NULL },
	{ "users.getPresence", API_TIER_3, 0, users_get_presence, NULL,
	    NULL },
	{ "users.setPresence", API_TIER_2, API_F_WRITE, NULL,
	    users_set_presence, NULL },
	{ NULL, 0, 0, NULL, NULL, NULL },
};
