/*
 * api_reactions: reactions.add, reactions.remove, reactions.get.
 *
 * Reactions live in the message itself, as Slack shows them:
 * "reactions": [{"name", "users", "count"}], in the order they were first
 * added.  Each change is a reaction_added / reaction_removed event.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "util.h"

#include "backend/backend.h"

#define API_REACTIONS_MAX 50 /* distinct reactions on one message */

/* Emoji names: 1-100 of [a-z0-9_+'-], optionally "name::skin-tone-N". */
static int
api_emoji_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= 100 &&
	    util_all_in(s, n, "abcdefghijklmnopqrstuvwxyz0123456789_+-':");
}

/*
 * The channel and message of a reaction call; the caller must be able to
 * see the channel.  Returns the message (new reference) or NULL with
 * c->werr set.
 */
static json_t *
api_react_target(struct store_txn *txn, struct api_call *c, json_t **ch,
    uint64_t *ts)
{
	json_t *m;

	*ch = api_chan_get(txn, &c->who, api_arg_str(c->args, "channel"));
	if (*ch == NULL) {
		api_err(c, "channel_not_found");
		return NULL;
	}
	if (api_arg_ts(c->args, "timestamp", ts) == -1 || *ts == 0) {
		api_err(c, "message_not_found");
		return NULL;
	}
	m = store_txn_message_get(txn, json_get_str(*ch, "id"), *ts);
	if (m == NULL)
		api_err(c, "message_not_found");
	return m;
}

static json_t *
api_reaction_find(json_t *m, const char *name, size_t *idx)
{
	json_t *rs = json_object_get(m, "reactions"), *r;
	size_t i;

	json_array_foreach(rs, i, r) {
		const char *n = json_get_str(r, "name");

		if (n != NULL && strcmp(n, name) == 0) {
			*idx = i;
			return r;
		}
	}
	return NULL;
}

static int
api_user_in(json_t *users, const char *u, size_t *idx)
{
	size_t i;
	json_t *v;

	json_array_foreach(users, i, v)
		if (json_string_value(v) && strcmp(json_string_value(v), u) ==
		    0) {
			*idx = i;
			return 1;
		}
	return 0;
}

/* Adds (add=1) or removes the caller's reaction. */
static int
api_react(struct api_call *c, struct store_txn *txn, int add)
{
	const char *name = api_arg_str(c->args, "name"), *chan;
	json_t *ch = NULL, *m, *rs, *r, *users;
	char tsbuf[STORE_TS_SIZE], ref[64];
	uint64_t ts;
	size_t ri = 0, ui = 0;
	int rc;

	m = api_react_target(txn, c, &ch, &ts);
	if (m == NULL) {
		json_decref(ch);
		return STORE_ERR_USER;
	}
	chan = json_get_str(ch, "id");
	rc = STORE_ERR_USER;
	if (!api_emoji_ok(name)) {
		api_err(c, "invalid_name");
		goto out;
	}
	if (add && json_get_bool(ch, "is_archived", 0)) {
		api_err(c, "is_archived");
		goto out;
	}
	rs = json_object_get(m, "reactions");
	if (rs == NULL) {
		rs = json_array();
		json_object_set_new(m, "reactions", rs);
	}
	r = api_reaction_find(m, name, &ri);
	users = json_object_get(r, "users");
	if (add) {
		if (r != NULL && api_user_in(users, c->who.user, &ui)) {
			api_err(c, "already_reacted");
			goto out;
		}
		if (r == NULL) {
			if (json_array_size(rs) >= API_REACTIONS_MAX) {
				api_err(c, "too_many_reactions");
				goto out;
			}
			r = json_pack("{s:s,s:[],s:i}", "name", name, "users",
			    "count", 0);
			json_array_append_new(rs, r);
			users = json_object_get(r, "users");
		}
		json_array_append_new(users, json_string(c->who.user));
	} else {
		if (r == NULL || !api_user_in(users, c->who.user, &ui)) {
			api_err(c, "no_reaction");
			goto out;
		}
		json_array_remove(users, ui);
	}
	json_object_set_new(r, "count",
	    json_integer((json_int_t)json_array_size(users)));
	if (json_array_size(users) == 0)
		json_array_remove(rs, ri);
	if (json_array_size(rs) == 0)
		json_object_del(m, "reactions");

	rc = store_txn_message_put(txn, chan, m, NULL);
	if (rc == STORE_OK) {
		store_ts_format(ts, tsbuf);
		snprintf(ref, sizeof(ref), "%s/%s", chan, tsbuf);
		rc = api_event(txn, c->who.team, json_pack(
		    "{s:s,s:s,s:s,s:s?,s:{s:s,s:s,s:s}}", "type",
		    add ? "reaction_added" : "reaction_removed",
		    "user", c->who.user, "reaction", name,
		    "item_user", json_get_str(m, "user"), "item", "type",
		    "message", "channel", chan, "ts", tsbuf), chan);
	}
out:
	json_decref(m);
	json_decref(ch);
	return rc;
}

static int
reactions_add(struct store_txn *txn, void *arg)
{
	return api_react(arg, txn, 1);
}

static int
reactions_remove(struct store_txn *txn, void *arg)
{
	return api_react(arg, txn, 0);
}

static int
reactions_get(struct api_call *c, struct store_txn *txn)
{
	json_t *ch = NULL, *m;
	uint64_t ts;

	m = api_react_target(txn, c, &ch, &ts);
	if (m == NULL) {
		json_decref(ch);
		return -1;
	}
	c->result = json_pack("{s:s,s:s,s:o}", "type", "message", "channel",
	    json_get_str(ch, "id"), "message", m);
	json_decref(ch);
	return 0;
}

const struct api_method api_methods_reactions[] = {
	{ "reactions.add", API_TIER_3, API_F_WRITE, NULL, reactions_add,
	    NULL },
	{ "reactions.remove", API_TIER_2, API_F_WRITE, NULL, reactions_remove,
	    NULL },
	{ "reactions.get", API_TIER_3, 0, reactions_get, NULL, NULL },
	{ NULL, 0, 0, NULL, NULL, NULL },
};
