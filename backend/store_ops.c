/*
 * store_ops: domain operations that write a change and the event that
 * announces it in the same transaction.  Events have the shapes of the
 * Slack RTM events of the same names.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"
#include "store_int.h"

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_int_t
now_s(void)
{
	return (json_int_t)(store_now_us() / 1000000);
}

/* The event_ts of a new event. */
static json_t *
event_ts(void)
{
	char ts[STORE_TS_SIZE];

	store_ts_format(store_now_us(), ts);
	return json_string(ts);
}

int
store_op_team_create(struct store_txn *t, const char *name,
    const char *domain, char id_out[STORE_ID_SIZE])
{
	return store_op_team_create_id(t, NULL, name, domain, id_out);
}

int
store_op_team_create_id(struct store_txn *t, const char *want,
    const char *name, const char *domain, char id_out[STORE_ID_SIZE])
{
	json_t *team;
	int rc;

	if (want != NULL) {
		if (!store_id_valid(want, 'T'))
			return STORE_ERR_INVALID;
		team = store_txn_team_get(t, want);
		if (team != NULL) {
			json_decref(team);
			return STORE_ERR_EXISTS;
		}
		memcpy(id_out, want, STORE_ID_SIZE);
	} else if ((rc = store_txn_new_id(t, 'T', id_out)) != STORE_OK) {
		return rc;
	}
	team = json_pack("{ss ss ss sI}", "id", id_out, "name", name ? name : "",
	    "domain", domain ? domain : "", "created", now_s());
	if (team == NULL)
		return STORE_ERR_INVALID;
	rc = store_txn_team_put(t, team);
	json_decref(team);
	return rc;
}

int
store_op_user_create(struct store_txn *t, const char *team,
    const char *name, const char *real_name, json_t *extra,
    char id_out[STORE_ID_SIZE])
{
	json_t *user, *profile, *ev, *xp;
	char found[STORE_ID_SIZE];
	int rc;

	if (name == NULL || real_name == NULL)
		return STORE_ERR_INVALID;
	if (store_txn_user_by_name(t, team, name, found) == STORE_OK)
		return STORE_ERR_EXISTS;
	rc = store_txn_new_id(t, 'U', id_out);
	if (rc != STORE_OK)
		return rc;
	profile = json_pack("{ss ss ss ss}", "real_name", real_name,
	    "display_name", "", "real_name_normalized", real_name,
	    "display_name_normalized", "");
	user = json_pack("{ss ss ss sb ss ss sb sb sb sb ss ss sI sI so}",
	    "id", id_out, "team_id", team, "name", name, "deleted", 0,
	    "color", "9f69e7", "real_name", real_name, "is_admin", 0,
	    "is_owner", 0, "is_bot", 0, "is_app_user", 0, "tz",
	    "Europe/Paris", "tz_label", "Central European Time", "tz_offset",
	    (json_int_t)3600, "updated", now_s(), "profile", profile);
	if (user == NULL)
		return STORE_ERR_INVALID;
	if (json_is_object(extra)) {
		const char *k;
		json_t *v;

		xp = json_object_get(extra, "profile");
		if (json_is_object(xp))
			json_object_update(profile, xp);
		json_object_foreach (extra, k, v)
			if (strcmp(k, "profile") != 0 && strcmp(k, "id") != 0 &&
			    strcmp(k, "team_id") != 0)
				json_object_set(user, k, v);
	}
	rc = store_txn_user_put(t, user);
	if (rc == STORE_OK) {
		ev = json_pack("{ss sO so}", "type", "team_join", "user", user,
		    "event_ts", event_ts());
		rc = store_txn_event_append(t, team, ev, id_out, NULL);
		json_decref(ev);
	}
	json_decref(user);
	return rc;
}

int
store_op_user_deactivate(struct store_txn *t, const char *id)
{
	json_t *user, *ev;
	char team[STORE_ID_SIZE];
	int rc;

	user = store_txn_user_get(t, id);
	if (user == NULL)
		return STORE_ERR_NOTFOUND;
	snprintf(team, sizeof(team), "%s",
	    jstr(user, "team_id") ? jstr(user, "team_id") : "");
	json_object_set_new(user, "deleted", json_true());
	json_object_set_new(user, "updated", json_integer(now_s()));
	rc = store_txn_user_put(t, user);
	if (rc == STORE_OK)
		rc = store_txn_user_tokens_revoke(t, id, NULL);
	if (rc == STORE_OK) {
		ev = json_pack("{ss sO so}", "type", "user_change", "user", user,
		    "event_ts", event_ts());
		rc = store_txn_event_append(t, team, ev, id, NULL);
		json_decref(ev);
	}
	json_decref(user);
	return rc;
}

int
store_op_channel_create(struct store_txn *t, const char *team,
    const char *name, char kind, const char *creator,
    char id_out[STORE_ID_SIZE])
{
	json_t *ch, *ev;
	char found[STORE_ID_SIZE];
	int rc, priv = kind == 'G';

	if ((kind != 'C' && kind != 'G') || name == NULL)
		return STORE_ERR_INVALID;
	if (store_txn_channel_by_name(t, team, name, found) == STORE_OK)
		return STORE_ERR_EXISTS;
	ch = store_txn_user_get(t, creator);
	if (ch == NULL)
		return STORE_ERR_NOTFOUND;
	json_decref(ch);
	rc = store_txn_new_id(t, kind, id_out);
	if (rc != STORE_OK)
		return rc;
	ch = json_pack("{ss ss ss sb sb sb sb sb sb sb sI ss sb"
		       " s{ss ss si} s{ss ss si}}",
	    "id", id_out, "context_team_id", team, "name", name, "is_channel",
	    !priv, "is_group", priv, "is_im", 0, "is_mpim", 0, "is_private",
	    priv, "is_general", 0, "is_shared", 0, "created", now_s(),
	    "creator", creator, "is_archived", 0, "topic", "value", "",
	    "creator", "", "last_set", 0, "purpose", "value", "", "creator",
	    "", "last_set", 0);
	if (ch == NULL)
		return STORE_ERR_INVALID;
	rc = store_txn_channel_put(t, ch);
	if (rc == STORE_OK)
		rc = store_txn_member_add(t, id_out, creator);
	if (rc == STORE_OK) {
		ev = json_pack("{ss sO so}", "type",
		    priv ? "group_joined" : "channel_created", "channel", ch,
		    "event_ts", event_ts());
		rc = store_txn_event_append(t, team, ev, id_out, NULL);
		json_decref(ev);
	}
	json_decref(ch);
	return rc;
}

int
store_op_channel_join(struct store_txn *t, const char *channel,
    const char *user)
{
	char team[STORE_ID_SIZE];
	json_t *ev;
	int rc;

	rc = store_txn_channel_team(t, channel, team);
	if (rc != STORE_OK)
		return rc;
	if (store_txn_is_member(t, channel, user))
		return STORE_OK;
	rc = store_txn_member_add(t, channel, user);
	if (rc != STORE_OK)
		return rc;
	ev = json_pack("{ss ss ss ss so}", "type", "member_joined_channel",
	    "user", user, "channel", channel, "team", team, "event_ts",
	    event_ts());
	rc = store_txn_event_append(t, team, ev, channel, NULL);
	json_decref(ev);
	return rc;
}

/* Updates a thread parent after a reply by user at ts. */
static int
thread_parent_update(struct store_txn *t, const char *channel,
    uint64_t thread_ts, const char *user, const char *ts)
{
	json_t *parent, *users, *u;
	size_t i;
	int rc, seen = 0;

	parent = store_txn_message_get(t, channel, thread_ts);
	if (parent == NULL)
		return STORE_ERR_NOTFOUND;
	json_object_set(parent, "thread_ts", json_object_get(parent, "ts"));
	json_object_set_new(parent, "reply_count",
	    json_integer(json_integer_value(json_object_get(parent,
			     "reply_count")) + 1));
	users = json_object_get(parent, "reply_users");
	if (!json_is_array(users)) {
		users = json_array();
		json_object_set_new(parent, "reply_users", users);
	}
	json_array_foreach (users, i, u)
		if (json_is_string(u) && strcmp(json_string_value(u), user) == 0)
			seen = 1;
	if (!seen)
		json_array_append_new(users, json_string(user));
	json_object_set_new(parent, "reply_users_count",
	    json_integer((json_int_t)json_array_size(users)));
	json_object_set_new(parent, "latest_reply", json_string(ts));
	rc = store_txn_message_put(t, channel, parent, NULL);
	json_decref(parent);
	return rc;
}

/*
 * The message_replied event of a thread parent after a reply at tsbuf:
 * the parent as it now stands (reply_count, reply_users, latest_reply),
 * as Slack sends it to RTM clients.  Its ref is the parent, so deleting
 * the parent scrubs it.
 */
static int
thread_replied_event(struct store_txn *t, const char *team,
    const char *channel, uint64_t thread_ts, const char *tsbuf)
{
	char ref[48], pts[STORE_TS_SIZE];
	json_t *parent, *ev;
	int rc;

	parent = store_txn_message_get(t, channel, thread_ts);
	if (parent == NULL)
		return STORE_ERR_NOTFOUND;
	store_ts_format(thread_ts, pts);
	ev = json_pack("{ss ss sb ss ss ss so}", "type", "message", "subtype",
	    "message_replied", "hidden", 1, "channel", channel, "ts", tsbuf,
	    "event_ts", tsbuf, "message", parent);
	snprintf(ref, sizeof(ref), "%s/%s", channel, pts);
	rc = store_txn_event_append(t, team, ev, ref, NULL);
	json_decref(ev);
	return rc;
}

int
store_post_prepare(struct store_post *p, const char *channel, json_t *msg)
{
	const char *tts = jstr(msg, "thread_ts"), *cmid, *user;
	char *text;
	size_t len;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(msg) || !store_id_valid(channel, 0) ||
	    json_object_get(msg, "ts") != NULL ||
	    json_object_get(msg, "channel") != NULL ||
	    json_object_get(msg, "event_ts") != NULL)
		return STORE_ERR_INVALID;
	if (tts != NULL && store_ts_parse(tts, &p->thread_ts) == -1)
		return STORE_ERR_INVALID;
	cmid = jstr(msg, "client_msg_id");
	if (cmid != NULL && (*cmid == '\0' || strlen(cmid) > STORE_CMID_MAX))
		return STORE_ERR_INVALID;
	user = jstr(msg, "user");
	if (user != NULL && strlen(user) < sizeof(p->user))
		memcpy(p->user, user, strlen(user) + 1);
	if (cmid != NULL)
		memcpy(p->cmid, cmid, strlen(cmid) + 1);
	memcpy(p->channel, channel, STORE_ID_SIZE);
	if (json_object_get(msg, "type") == NULL)
		json_object_set_new(msg, "type", json_string("message"));
	text = json_dumps(msg, JSON_COMPACT);
	if (text == NULL)
		return STORE_ERR_INVALID;
	len = strlen(text);
	if (len < 2 || text[len - 1] != '}') {
		free(text);
		return STORE_ERR_INVALID;
	}
	p->head = text;
	p->headlen = len - 1;
	return STORE_OK;
}

void
store_post_free(struct store_post *p)
{
	free(p->head);
	p->head = NULL;
}

/* head, then the members in tail, then '}': a new string in *out. */
static size_t
post_text(const struct store_post *p, const char *tail, size_t tlen,
    char **out)
{
	int comma = p->headlen > 1;
	char *s = xmalloc(p->headlen + (size_t)comma + tlen + 2);

	memcpy(s, p->head, p->headlen);
	if (comma)
		s[p->headlen] = ',';
	memcpy(s + p->headlen + (size_t)comma, tail, tlen);
	s[p->headlen + (size_t)comma + tlen] = '}';
	s[p->headlen + (size_t)comma + tlen + 1] = '\0';
	*out = s;
	return p->headlen + (size_t)comma + tlen + 1;
}

int
store_op_post(struct store_txn *t, const struct store_post *p,
    uint64_t *ts_out)
{
	char team[STORE_ID_SIZE], tsbuf[STORE_TS_SIZE], tail[96], ref[48];
	uint8_t key[STORE_MSGREF_LEN];
	char *text;
	uint64_t ts;
	MDB_val v;
	size_t len;
	int rc, n;

	if (p->head == NULL)
		return STORE_ERR_INVALID;
	rc = store_txn_channel_team(t, p->channel, team);
	if (rc != STORE_OK)
		return rc;
	if (p->thread_ts != 0) {
		memcpy(key, p->channel, STORE_ID_LEN);
		store_be64_put(key + STORE_ID_LEN, p->thread_ts);
		rc = store_db_get(t, DB_MESSAGES, key, sizeof(key), &v);
		if (rc != STORE_OK)
			return rc;
	}
	rc = store_message_next_ts(t, p->channel, &ts);
	if (rc != STORE_OK)
		return rc;
	store_ts_format(ts, tsbuf);

	/* The message: the prepared members and its ts. */
	n = snprintf(tail, sizeof(tail), "\"ts\":\"%s\"", tsbuf);
	len = post_text(p, tail, (size_t)n, &text);
	rc = store_message_put_raw(t, p->channel, ts,
	    p->cmid[0] ? p->cmid : NULL, p->thread_ts, text, len, ts_out);
	free(text);
	if (rc != STORE_OK)
		return rc;
	if (ts_out != NULL)
		*ts_out = ts;
	if (p->thread_ts != 0 && p->thread_ts != ts && p->user[0] != '\0') {
		rc = thread_parent_update(t, p->channel, p->thread_ts, p->user,
		    tsbuf);
		if (rc != STORE_OK)
			return rc;
	}

	/* Its event: the message with its channel and event_ts. */
	n = snprintf(tail, sizeof(tail),
	    "\"ts\":\"%s\",\"channel\":\"%s\",\"event_ts\":\"%s\"", tsbuf,
	    p->channel, tsbuf);
	len = post_text(p, tail, (size_t)n, &text);
	snprintf(ref, sizeof(ref), "%s/%s", p->channel, tsbuf);
	rc = store_event_append_text(t, team, text, len, ref, NULL);
	free(text);
	if (rc == STORE_OK && p->thread_ts != 0 && p->user[0] != '\0')
		rc = thread_replied_event(t, team, p->channel, p->thread_ts,
		    tsbuf);
	return rc;
}

int
store_op_message_post(struct store_txn *t, const char *channel, json_t *msg,
    uint64_t *ts_out)
{
	struct store_post p;
	char tsbuf[STORE_TS_SIZE];
	uint64_t ts = 0;
	int rc;

	rc = store_post_prepare(&p, channel, msg);
	if (rc != STORE_OK)
		return rc;
	rc = store_op_post(t, &p, &ts);
	store_post_free(&p);
	if (ts_out != NULL)
		*ts_out = ts;
	if (rc == STORE_OK) {
		store_ts_format(ts, tsbuf);
		json_object_set_new(msg, "ts", json_string(tsbuf));
	}
	return rc;
}

/* The replies of a thread, counted by thread_parent_recount(). */
struct recount {
	int parent_seen;
	json_int_t count;
	json_t *users;
	char latest[STORE_TS_SIZE];
};

static int
recount_cb(void *arg, const char *json, size_t len)
{
	struct recount *r = arg;
	json_t *m, *u;
	const char *user, *ts;
	size_t i;

	if (!r->parent_seen) {
		r->parent_seen = 1;
		return 0;
	}
	m = json_loadb(json, len, 0, NULL);
	user = jstr(m, "user");
	ts = jstr(m, "ts");
	if (ts != NULL) {
		r->count++;
		snprintf(r->latest, sizeof(r->latest), "%s", ts);
	}
	if (user != NULL) {
		json_array_foreach (r->users, i, u)
			if (strcmp(json_string_value(u), user) == 0)
				break;
		if (i == json_array_size(r->users))
			json_array_append_new(r->users, json_string(user));
	}
	json_decref(m);
	return 0;
}

/*
 * Sets a thread parent's reply_count, reply_users and latest_reply from
 * the replies that remain (after one was deleted); a parent left with
 * no reply becomes an ordinary message again.  A parent that is gone
 * is fine.
 */
static int
thread_parent_recount(struct store_txn *t, const char *channel,
    uint64_t thread_ts)
{
	struct recount r = { 0 };
	json_t *parent;
	int rc;

	parent = store_txn_message_get(t, channel, thread_ts);
	if (parent == NULL)
		return STORE_OK;
	r.users = json_array();
	rc = store_txn_replies(t, channel, thread_ts, recount_cb, &r);
	if (rc == STORE_OK && r.count > 0) {
		json_object_set_new(parent, "reply_count",
		    json_integer(r.count));
		json_object_set(parent, "reply_users", r.users);
		json_object_set_new(parent, "reply_users_count",
		    json_integer((json_int_t)json_array_size(r.users)));
		json_object_set_new(parent, "latest_reply",
		    json_string(r.latest));
	} else if (rc == STORE_OK) {
		json_object_del(parent, "reply_count");
		json_object_del(parent, "reply_users");
		json_object_del(parent, "reply_users_count");
		json_object_del(parent, "latest_reply");
		json_object_del(parent, "thread_ts");
	}
	if (rc == STORE_OK)
		rc = store_txn_message_put(t, channel, parent, NULL);
	json_decref(r.users);
	json_decref(parent);
	return rc;
}

int
store_op_message_delete(struct store_txn *t, const char *channel,
    uint64_t ts)
{
	char team[STORE_ID_SIZE], tsbuf[STORE_TS_SIZE];
	uint64_t thread_ts = 0;
	json_t *ev, *m;
	int rc;

	rc = store_txn_channel_team(t, channel, team);
	if (rc != STORE_OK)
		return rc;
	m = store_txn_message_get(t, channel, ts);
	if (m != NULL && (jstr(m, "thread_ts") == NULL ||
	    store_ts_parse(jstr(m, "thread_ts"), &thread_ts) == -1))
		thread_ts = 0;
	json_decref(m);
	rc = store_txn_message_delete(t, channel, ts);
	if (rc != STORE_OK)
		return rc;
	if (thread_ts != 0 && thread_ts != ts) {
		rc = thread_parent_recount(t, channel, thread_ts);
		if (rc != STORE_OK)
			return rc;
	}
	store_ts_format(ts, tsbuf);
	ev = json_pack("{ss ss ss sb ss so}", "type", "message", "subtype",
	    "message_deleted", "channel", channel, "hidden", 1, "deleted_ts",
	    tsbuf, "event_ts", event_ts());
	rc = store_txn_event_append(t, team, ev, NULL, NULL);
	json_decref(ev);
	return rc;
}
