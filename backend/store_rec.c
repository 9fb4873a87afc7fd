/*
 * store_rec: the records of the chat domain and their indexes: teams,
 * users, channels, memberships, messages, read markers, tokens and
 * passwords.  Every function runs inside the transaction it is given.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"
#include "xmalloc.h"
#include "store_int.h"

#define PW_ITER     100000
#define PW_SALT_LEN 16
#define PW_HASH_LEN 32
#define TOKEN_ID_MAX 64

/* Builds key = a (11 bytes) followed by b (blen bytes). */
static size_t
key2(uint8_t *key, const char *a, const void *b, size_t blen)
{
	memcpy(key, a, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, b, blen);
	return STORE_ID_LEN + blen;
}

static size_t
key_ts(uint8_t *key, const char *channel, uint64_t ts)
{
	memcpy(key, channel, STORE_ID_LEN);
	store_be64_put(key + STORE_ID_LEN, ts);
	return STORE_ID_LEN + 8;
}

/* A name fit for a key: 1..255 bytes, no NUL. */
static int
name_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	return n > 0 && n <= STORE_NAME_MAX;
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int
exists(struct store_txn *t, enum store_db db, const char *id)
{
	MDB_val v;

	return store_db_get(t, db, id, STORE_ID_LEN, &v) == STORE_OK;
}

json_t *
store_txn_team_get(struct store_txn *t, const char *id)
{
	if (!store_id_valid(id, 'T'))
		return NULL;
	return store_db_get_json(t, DB_TEAMS, id, STORE_ID_LEN);
}

json_t *
store_txn_user_get(struct store_txn *t, const char *id)
{
	if (!store_id_valid(id, 'U'))
		return NULL;
	return store_db_get_json(t, DB_USERS, id, STORE_ID_LEN);
}

int
store_txn_user_flags(struct store_txn *t, const char *id,
    struct store_user_flags *out)
{
	const char *j;
	MDB_val v;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!store_id_valid(id, 'U'))
		return STORE_ERR_NOTFOUND;
	rc = store_db_get(t, DB_USERS, id, STORE_ID_LEN, &v);
	if (rc != STORE_OK)
		return rc;
	j = v.mv_data;
	n = v.mv_size;
	out->deleted = store_json_top_bool(j, n, "deleted", 0);
	out->is_owner = store_json_top_bool(j, n, "is_owner", 0) ||
	    store_json_top_bool(j, n, "is_primary_owner", 0);
	out->is_admin = store_json_top_bool(j, n, "is_admin", 0);
	out->is_bot = store_json_top_bool(j, n, "is_bot", 0);
	return STORE_OK;
}

json_t *
store_txn_channel_get(struct store_txn *t, const char *id)
{
	if (!store_id_valid(id, 0))
		return NULL;
	return store_db_get_json(t, DB_CHANNELS, id, STORE_ID_LEN);
}

json_t *
store_txn_message_get(struct store_txn *t, const char *channel, uint64_t ts)
{
	uint8_t key[STORE_MSGREF_LEN];

	if (!store_id_valid(channel, 0))
		return NULL;
	key_ts(key, channel, ts);
	return store_db_get_json(t, DB_MESSAGES, key, sizeof(key));
}

/*
 * Moves a unique name index entry from old to new value: deletes
 * prefix+oldname when it changed, refuses a new name held by another id.
 */
static int
index_move(struct store_txn *t, enum store_db db, const char *prefix,
    const char *oldname, const char *newname, const char *id)
{
	uint8_t key[STORE_ID_LEN + STORE_NAME_MAX];
	size_t klen;
	MDB_val v;
	int rc;

	if (newname != NULL) {
		klen = key2(key, prefix, newname, strlen(newname));
		rc = store_db_get(t, db, key, klen, &v);
		if (rc == STORE_OK && (v.mv_size != STORE_ID_LEN ||
		    memcmp(v.mv_data, id, STORE_ID_LEN) != 0))
			return STORE_ERR_EXISTS;
		if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
			return rc;
	}
	if (oldname != NULL &&
	    (newname == NULL || strcmp(oldname, newname) != 0)) {
		klen = key2(key, prefix, oldname, strlen(oldname));
		rc = store_db_del(t, db, key, klen);
		if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
			return rc;
	}
	if (newname != NULL) {
		klen = key2(key, prefix, newname, strlen(newname));
		return store_db_put(t, db, key, klen, id, STORE_ID_LEN, 0);
	}
	return STORE_OK;
}

static int
lookup(struct store_txn *t, enum store_db db, const char *prefix,
    const char *name, char id_out[STORE_ID_SIZE])
{
	uint8_t key[STORE_ID_LEN + STORE_NAME_MAX];
	size_t klen;
	MDB_val v;
	int rc;

	if (!name_ok(name))
		return STORE_ERR_NOTFOUND;
	if (prefix != NULL) {
		if (!store_id_valid(prefix, 'T'))
			return STORE_ERR_NOTFOUND;
		klen = key2(key, prefix, name, strlen(name));
	} else {
		klen = strlen(name);
		memcpy(key, name, klen);
	}
	rc = store_db_get(t, db, key, klen, &v);
	if (rc != STORE_OK)
		return rc;
	if (v.mv_size != STORE_ID_LEN)
		return STORE_ERR_INTERNAL;
	memcpy(id_out, v.mv_data, STORE_ID_LEN);
	id_out[STORE_ID_LEN] = '\0';
	return STORE_OK;
}

int
store_txn_team_put(struct store_txn *t, json_t *team)
{
	const char *id = jstr(team, "id"), *domain = jstr(team, "domain");
	const char *olddom = NULL;
	json_t *old;
	MDB_val v;
	int rc;

	if (!json_is_object(team) || !store_id_valid(id, 'T') ||
	    !name_ok(jstr(team, "name")) || !name_ok(domain))
		return STORE_ERR_INVALID;
	old = store_txn_team_get(t, id);
	if (old != NULL)
		olddom = jstr(old, "domain");
	if (olddom == NULL || strcmp(olddom, domain) != 0) {
		rc = store_db_get(t, DB_DOMAINS, domain, strlen(domain), &v);
		if (rc == STORE_OK) {
			json_decref(old);
			return STORE_ERR_EXISTS;
		}
		if (olddom != NULL)
			store_db_del(t, DB_DOMAINS, olddom, strlen(olddom));
	}
	json_decref(old);
	rc = store_db_put(t, DB_DOMAINS, domain, strlen(domain), id,
	    STORE_ID_LEN, 0);
	if (rc == STORE_OK)
		rc = store_db_put_json(t, DB_TEAMS, id, STORE_ID_LEN, team);
	return rc;
}

int
store_txn_team_by_domain(struct store_txn *t, const char *domain,
    char id_out[STORE_ID_SIZE])
{
	return lookup(t, DB_DOMAINS, NULL, domain, id_out);
}

int
store_txn_user_put(struct store_txn *t, json_t *user)
{
	const char *id = jstr(user, "id"), *team = jstr(user, "team_id");
	const char *name = jstr(user, "name"), *email;
	uint8_t key[2 * STORE_ID_LEN];
	json_t *old;
	int rc;

	if (!json_is_object(user) || !store_id_valid(id, 'U') ||
	    !store_id_valid(team, 'T') || !name_ok(name))
		return STORE_ERR_INVALID;
	email = jstr(json_object_get(user, "profile"), "email");
	if (email != NULL && !name_ok(email))
		return STORE_ERR_INVALID;
	if (!exists(t, DB_TEAMS, team))
		return STORE_ERR_NOTFOUND;
	old = store_txn_user_get(t, id);
	if (old != NULL && strcmp(jstr(old, "team_id") ? jstr(old, "team_id")
						       : "", team) != 0) {
		json_decref(old);
		return STORE_ERR_INVALID;
	}
	rc = index_move(t, DB_USERNAMES, team, old ? jstr(old, "name") : NULL,
	    name, id);
	if (rc == STORE_OK)
		rc = index_move(t, DB_EMAILS, team,
		    old ? jstr(json_object_get(old, "profile"), "email") : NULL,
		    email, id);
	json_decref(old);
	if (rc == STORE_OK)
		rc = store_db_put(t, DB_TEAMUSERS, key,
		    key2(key, team, id, STORE_ID_LEN), "", 0, 0);
	if (rc == STORE_OK)
		rc = store_db_put_json(t, DB_USERS, id, STORE_ID_LEN, user);
	return rc;
}

int
store_txn_user_by_name(struct store_txn *t, const char *team,
    const char *name, char id_out[STORE_ID_SIZE])
{
	return lookup(t, DB_USERNAMES, team, name, id_out);
}

int
store_txn_user_by_email(struct store_txn *t, const char *team,
    const char *email, char id_out[STORE_ID_SIZE])
{
	return lookup(t, DB_EMAILS, team, email, id_out);
}

int
store_txn_channel_put(struct store_txn *t, json_t *ch)
{
	const char *id = jstr(ch, "id"), *team = jstr(ch, "context_team_id");
	const char *name = jstr(ch, "name");
	uint8_t key[2 * STORE_ID_LEN];
	json_t *old;
	int rc = STORE_OK;

	if (!json_is_object(ch) || !store_id_valid(id, 0) ||
	    strchr("CGD", id[0]) == NULL || !store_id_valid(team, 'T'))
		return STORE_ERR_INVALID;
	if (id[0] != 'D' && !name_ok(name))
		return STORE_ERR_INVALID;
	if (!exists(t, DB_TEAMS, team))
		return STORE_ERR_NOTFOUND;
	old = store_txn_channel_get(t, id);
	if (old != NULL && strcmp(jstr(old, "context_team_id")
				      ? jstr(old, "context_team_id") : "",
			       team) != 0) {
		json_decref(old);
		return STORE_ERR_INVALID;
	}
	if (id[0] != 'D')
		rc = index_move(t, DB_CHANNAMES, team,
		    old ? jstr(old, "name") : NULL, name, id);
	json_decref(old);
	if (rc == STORE_OK)
		rc = store_db_put(t, DB_TEAMCHANS, key,
		    key2(key, team, id, STORE_ID_LEN), "", 0, 0);
	if (rc == STORE_OK)
		rc = store_db_put_json(t, DB_CHANNELS, id, STORE_ID_LEN, ch);
	return rc;
}

int
store_txn_channel_by_name(struct store_txn *t, const char *team,
    const char *name, char id_out[STORE_ID_SIZE])
{
	return lookup(t, DB_CHANNAMES, team, name, id_out);
}

/*
 * The hot path of every message post: the team is read from the
 * record's text, without parsing the whole channel.
 */
int
store_txn_channel_team(struct store_txn *t, const char *channel,
    char team_out[STORE_ID_SIZE])
{
	char team[STORE_ID_SIZE + 1];
	MDB_val v;
	int rc;

	if (!store_id_valid(channel, 0))
		return STORE_ERR_NOTFOUND;
	rc = store_db_get(t, DB_CHANNELS, channel, STORE_ID_LEN, &v);
	if (rc != STORE_OK)
		return rc;
	if (store_json_top_str(v.mv_data, v.mv_size, "context_team_id", team,
	    sizeof(team)) == -1 || !store_id_valid(team, 'T'))
		return STORE_ERR_NOTFOUND;
	memcpy(team_out, team, STORE_ID_SIZE);
	return STORE_OK;
}

int
store_txn_channel_flags(struct store_txn *t, const char *channel,
    struct store_chan_flags *out)
{
	char team[STORE_ID_SIZE + 1];
	const char *j;
	MDB_val v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!store_id_valid(channel, 0))
		return STORE_ERR_NOTFOUND;
	rc = store_db_get(t, DB_CHANNELS, channel, STORE_ID_LEN, &v);
	if (rc != STORE_OK)
		return rc;
	j = v.mv_data;
	if (store_json_top_str(j, v.mv_size, "context_team_id", team,
	    sizeof(team)) == 0 && strlen(team) < sizeof(out->team))
		memcpy(out->team, team, strlen(team) + 1);
	out->is_channel = store_json_top_bool(j, v.mv_size, "is_channel", 0);
	out->is_private = store_json_top_bool(j, v.mv_size, "is_private", 0);
	out->is_archived = store_json_top_bool(j, v.mv_size, "is_archived",
	    0);
	return STORE_OK;
}

static size_t
im_key(uint8_t *key, const char *team, const char *u1, const char *u2)
{
	if (strcmp(u1, u2) > 0) {
		const char *x = u1;
		u1 = u2;
		u2 = x;
	}
	memcpy(key, team, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, u1, STORE_ID_LEN);
	memcpy(key + 2 * STORE_ID_LEN, u2, STORE_ID_LEN);
	return 3 * STORE_ID_LEN;
}

int
store_txn_im_find(struct store_txn *t, const char *team, const char *u1,
    const char *u2, char id_out[STORE_ID_SIZE])
{
	uint8_t key[3 * STORE_ID_LEN];
	MDB_val v;
	int rc;

	if (!store_id_valid(team, 'T') || !store_id_valid(u1, 'U') ||
	    !store_id_valid(u2, 'U'))
		return STORE_ERR_NOTFOUND;
	rc = store_db_get(t, DB_IMS, key, im_key(key, team, u1, u2), &v);
	if (rc != STORE_OK)
		return rc;
	if (v.mv_size != STORE_ID_LEN)
		return STORE_ERR_INTERNAL;
	memcpy(id_out, v.mv_data, STORE_ID_LEN);
	id_out[STORE_ID_LEN] = '\0';
	return STORE_OK;
}

int
store_txn_im_put(struct store_txn *t, const char *team, const char *u1,
    const char *u2, const char *channel)
{
	uint8_t key[3 * STORE_ID_LEN];

	if (!store_id_valid(team, 'T') || !store_id_valid(u1, 'U') ||
	    !store_id_valid(u2, 'U') || !store_id_valid(channel, 'D'))
		return STORE_ERR_INVALID;
	return store_db_put(t, DB_IMS, key, im_key(key, team, u1, u2),
	    channel, STORE_ID_LEN, 0);
}

/* Iteration over "<prefix id><item id>" keys. */
struct id_walk {
	store_id_fn fn;
	void *arg;
	size_t skip;
};

static int
id_walk_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct id_walk *w = arg;
	char id[STORE_ID_SIZE];

	if (k->mv_size != w->skip + STORE_ID_LEN)
		return 0;
	memcpy(id, (const uint8_t *)k->mv_data + w->skip, STORE_ID_LEN);
	id[STORE_ID_LEN] = '\0';
	return w->fn(w->arg, id);
}

static int
walk_ids(struct store_txn *t, enum store_db db, const char *prefix,
    const char *after, store_id_fn fn, void *arg)
{
	struct id_walk w = { fn, arg, prefix ? STORE_ID_LEN : 0 };

	if (prefix != NULL && !store_id_valid(prefix, 0))
		return STORE_ERR_INVALID;
	if (after != NULL && *after != '\0' && !store_id_valid(after, 0))
		return STORE_ERR_INVALID;
	if (after != NULL && *after == '\0')
		after = NULL;
	return store_db_walk(t, db, prefix, prefix ? STORE_ID_LEN : 0, after,
	    after ? STORE_ID_LEN : 0, id_walk_cb, &w);
}

int
store_txn_team_users(struct store_txn *t, const char *team,
    const char *after, store_id_fn fn, void *arg)
{
	return walk_ids(t, DB_TEAMUSERS, team, after, fn, arg);
}

int
store_txn_team_channels(struct store_txn *t, const char *team,
    const char *after, store_id_fn fn, void *arg)
{
	return walk_ids(t, DB_TEAMCHANS, team, after, fn, arg);
}

int
store_txn_channel_members(struct store_txn *t, const char *channel,
    const char *after, store_id_fn fn, void *arg)
{
	return walk_ids(t, DB_MEMBERS, channel, after, fn, arg);
}

int
store_txn_user_channels(struct store_txn *t, const char *user,
    const char *after, store_id_fn fn, void *arg)
{
	return walk_ids(t, DB_USERCHANS, user, after, fn, arg);
}

int
store_txn_teams(struct store_txn *t, store_id_fn fn, void *arg)
{
	return walk_ids(t, DB_TEAMS, NULL, NULL, fn, arg);
}

int
store_txn_member_add(struct store_txn *t, const char *channel,
    const char *user)
{
	uint8_t key[2 * STORE_ID_LEN];
	int rc;

	if (!store_id_valid(channel, 0) || !store_id_valid(user, 'U'))
		return STORE_ERR_INVALID;
	if (!exists(t, DB_CHANNELS, channel) || !exists(t, DB_USERS, user))
		return STORE_ERR_NOTFOUND;
	rc = store_db_put(t, DB_MEMBERS, key,
	    key2(key, channel, user, STORE_ID_LEN), "", 0, 0);
	if (rc == STORE_OK)
		rc = store_db_put(t, DB_USERCHANS, key,
		    key2(key, user, channel, STORE_ID_LEN), "", 0, 0);
	return rc;
}

int
store_txn_member_remove(struct store_txn *t, const char *channel,
    const char *user)
{
	uint8_t key[2 * STORE_ID_LEN];
	int rc, rc2;

	if (!store_id_valid(channel, 0) || !store_id_valid(user, 'U'))
		return STORE_ERR_INVALID;
	rc = store_db_del(t, DB_MEMBERS, key,
	    key2(key, channel, user, STORE_ID_LEN));
	rc2 = store_db_del(t, DB_USERCHANS, key,
	    key2(key, user, channel, STORE_ID_LEN));
	if (rc == STORE_OK || rc == STORE_ERR_NOTFOUND)
		rc = rc2 == STORE_ERR_NOTFOUND ? rc : rc2;
	return rc;
}

int
store_txn_is_member(struct store_txn *t, const char *channel,
    const char *user)
{
	uint8_t key[2 * STORE_ID_LEN];
	MDB_val v;

	if (!store_id_valid(channel, 0) || !store_id_valid(user, 'U'))
		return 0;
	return store_db_get(t, DB_MEMBERS, key,
		   key2(key, channel, user, STORE_ID_LEN), &v) == STORE_OK;
}

/* The next ts of a channel: now, or past its last one. */
int
store_message_next_ts(struct store_txn *t, const char *channel, uint64_t *ts)
{
	uint64_t now = store_now_us(), last = 0;
	MDB_val v;
	int rc;

	rc = store_db_get(t, DB_CHANLAST, channel, STORE_ID_LEN, &v);
	if (rc == STORE_OK && v.mv_size == 8)
		last = store_be64_get(v.mv_data);
	else if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
		return rc;
	*ts = now > last ? now : last + 1;
	return STORE_OK;
}

int
store_txn_message_put(struct store_txn *t, const char *channel, json_t *msg,
    uint64_t *ts_out)
{
	return store_message_put_text(t, channel, msg, ts_out, NULL);
}

int
store_message_put_text(struct store_txn *t, const char *channel,
    json_t *msg, uint64_t *ts_out, char **text_out)
{
	char tsbuf[STORE_TS_SIZE], *text;
	const char *cmid, *tts;
	uint64_t ts, thread_ts = 0;
	int rc;

	if (!json_is_object(msg) || !store_id_valid(channel, 0))
		return STORE_ERR_INVALID;
	if (!exists(t, DB_CHANNELS, channel))
		return STORE_ERR_NOTFOUND;
	if (jstr(msg, "ts") != NULL) {
		if (store_ts_parse(jstr(msg, "ts"), &ts) == -1)
			return STORE_ERR_INVALID;
	} else {
		rc = store_message_next_ts(t, channel, &ts);
		if (rc != STORE_OK)
			return rc;
		store_ts_format(ts, tsbuf);
		json_object_set_new(msg, "ts", json_string(tsbuf));
	}
	if (json_object_get(msg, "type") == NULL)
		json_object_set_new(msg, "type", json_string("message"));
	cmid = jstr(msg, "client_msg_id");
	tts = jstr(msg, "thread_ts");
	if (tts != NULL && store_ts_parse(tts, &thread_ts) == -1)
		return STORE_ERR_INVALID;
	text = json_dumps(msg, JSON_COMPACT);
	if (text == NULL)
		return STORE_ERR_INVALID;
	rc = store_message_put_raw(t, channel, ts, cmid, thread_ts, text,
	    strlen(text), ts_out);
	if (rc == STORE_OK && text_out != NULL)
		*text_out = text;
	else
		free(text);
	return rc;
}

int
store_message_put_raw(struct store_txn *t, const char *channel, uint64_t ts,
    const char *cmid, uint64_t thread_ts, const char *text, size_t len,
    uint64_t *ts_out)
{
	uint8_t key[STORE_ID_LEN + STORE_CMID_MAX + 8], val[8];
	uint64_t last = 0;
	MDB_val v;
	size_t n;
	int rc;

	if (cmid != NULL) {
		n = strlen(cmid);
		if (n == 0 || n > STORE_CMID_MAX)
			return STORE_ERR_INVALID;
		rc = store_db_get(t, DB_CMIDS, key, key2(key, channel, cmid, n),
		    &v);
		if (rc == STORE_OK && v.mv_size == 8 &&
		    store_be64_get(v.mv_data) != ts) {
			if (ts_out != NULL)
				*ts_out = store_be64_get(v.mv_data);
			return STORE_ERR_EXISTS;
		}
		store_be64_put(val, ts);
		rc = store_db_put(t, DB_CMIDS, key, key2(key, channel, cmid, n),
		    val, 8, 0);
		if (rc != STORE_OK)
			return rc;
	}
	if (thread_ts != 0 && thread_ts != ts) {
		key_ts(key, channel, thread_ts);
		store_be64_put(key + STORE_MSGREF_LEN, ts);
		rc = store_db_put(t, DB_THREADS, key, STORE_MSGREF_LEN + 8, "",
		    0, 0);
		if (rc != STORE_OK)
			return rc;
	}

	rc = store_db_get(t, DB_CHANLAST, channel, STORE_ID_LEN, &v);
	if (rc == STORE_OK && v.mv_size == 8)
		last = store_be64_get(v.mv_data);
	if (ts > last) {
		store_be64_put(val, ts);
		rc = store_db_put(t, DB_CHANLAST, channel, STORE_ID_LEN, val,
		    8, 0);
		if (rc != STORE_OK)
			return rc;
	}
	rc = store_db_put(t, DB_MESSAGES, key, key_ts(key, channel, ts), text,
	    len, 0);
	if (rc == STORE_OK && ts_out != NULL)
		*ts_out = ts;
	return rc;
}

int
store_txn_message_by_cmid(struct store_txn *t, const char *channel,
    const char *cmid, uint64_t *ts_out)
{
	uint8_t key[STORE_ID_LEN + STORE_CMID_MAX];
	size_t n = cmid ? strlen(cmid) : 0;
	MDB_val v;
	int rc;

	if (!store_id_valid(channel, 0) || n == 0 || n > STORE_CMID_MAX)
		return STORE_ERR_NOTFOUND;
	rc = store_db_get(t, DB_CMIDS, key, key2(key, channel, cmid, n), &v);
	if (rc == STORE_OK && v.mv_size == 8)
		*ts_out = store_be64_get(v.mv_data);
	return rc;
}

/* Is this stored message a thread reply (thread_ts != ts)? */
static int
message_is_reply(const MDB_val *v, uint64_t ts)
{
	json_t *m;
	uint64_t tts;
	int reply = 0;

	if (memmem(v->mv_data, v->mv_size, "\"thread_ts\"", 11) == NULL)
		return 0;
	m = json_loadb(v->mv_data, v->mv_size, 0, NULL);
	if (store_ts_parse(jstr(m, "thread_ts"), &tts) == 0 && tts != ts)
		reply = 1;
	json_decref(m);
	return reply;
}

int
store_txn_history(struct store_txn *t, const char *channel, uint64_t latest,
    uint64_t oldest, int inclusive, int with_replies, store_json_fn fn,
    void *arg)
{
	uint8_t key[STORE_MSGREF_LEN];
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t ts;
	int rc, r = 0;

	if (!store_id_valid(channel, 0))
		return STORE_ERR_INVALID;
	key_ts(key, channel, latest ? latest : UINT64_MAX);
	rc = mdb_cursor_open(t->txn, t->st->dbi[DB_MESSAGES], &cur);
	if (rc != 0)
		return store_db_err(t, rc);
	k.mv_size = sizeof(key);
	k.mv_data = key;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		if (k.mv_size != STORE_MSGREF_LEN ||
		    memcmp(k.mv_data, channel, STORE_ID_LEN) > 0)
			continue;
		if (memcmp(k.mv_data, channel, STORE_ID_LEN) < 0)
			break;
		ts = store_be64_get((uint8_t *)k.mv_data + STORE_ID_LEN);
		if (latest && (ts > latest || (ts == latest && !inclusive)))
			continue;
		if (oldest && (ts < oldest || (ts == oldest && !inclusive)))
			break;
		if (!with_replies && message_is_reply(&v, ts))
			continue;
		r = fn(arg, v.mv_data, v.mv_size);
		if (r != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_db_err(t, rc);
	return STORE_OK;
}

struct replies_walk {
	struct store_txn *t;
	const char *channel;
	store_json_fn fn;
	void *arg;
};

static int
replies_cb(void *arg, const MDB_val *k, const MDB_val *val)
{
	struct replies_walk *w = arg;
	uint8_t key[STORE_MSGREF_LEN];
	MDB_val v;

	if (k->mv_size != STORE_MSGREF_LEN + 8)
		return 0;
	memcpy(key, w->channel, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, (uint8_t *)k->mv_data + STORE_MSGREF_LEN,
	    8);
	if (store_db_get(w->t, DB_MESSAGES, key, sizeof(key), &v) != STORE_OK)
		return 0;
	return w->fn(w->arg, v.mv_data, v.mv_size);
}

int
store_txn_replies(struct store_txn *t, const char *channel,
    uint64_t thread_ts, store_json_fn fn, void *arg)
{
	struct replies_walk w = { t, channel, fn, arg };
	uint8_t key[STORE_MSGREF_LEN];
	MDB_val v;
	int rc;

	if (!store_id_valid(channel, 0))
		return STORE_ERR_INVALID;
	key_ts(key, channel, thread_ts);
	rc = store_db_get(t, DB_MESSAGES, key, sizeof(key), &v);
	if (rc != STORE_OK)
		return rc;
	if (fn(arg, v.mv_data, v.mv_size) != 0)
		return STORE_OK;
	return store_db_walk(t, DB_THREADS, key, sizeof(key), NULL, 0,
	    replies_cb, &w);
}

int
store_txn_mark_set(struct store_txn *t, const char *user,
    const char *channel, uint64_t ts)
{
	uint8_t key[2 * STORE_ID_LEN], val[8];

	if (!store_id_valid(user, 'U') || !store_id_valid(channel, 0))
		return STORE_ERR_INVALID;
	store_be64_put(val, ts);
	return store_db_put(t, DB_MARKS, key,
	    key2(key, user, channel, STORE_ID_LEN), val, 8, 0);
}

int
store_txn_mark_get(struct store_txn *t, const char *user,
    const char *channel, uint64_t *ts)
{
	uint8_t key[2 * STORE_ID_LEN];
	MDB_val v;
	int rc;

	if (!store_id_valid(user, 'U') || !store_id_valid(channel, 0))
		return STORE_ERR_NOTFOUND;
	rc = store_db_get(t, DB_MARKS, key,
	    key2(key, user, channel, STORE_ID_LEN), &v);
	if (rc == STORE_OK && v.mv_size == 8)
		*ts = store_be64_get(v.mv_data);
	return rc;
}

static int
token_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n > 0 && n <= TOKEN_ID_MAX;
}

/* Writes a token record, and its per-user index entry when index. */
static int
token_write(struct store_txn *t, const char *id,
    const struct store_token *tok, int index)
{
	uint8_t key[STORE_ID_LEN + TOKEN_ID_MAX];
	json_t *o;
	int rc;

	if (!token_id_ok(id) || !store_id_valid(tok->user, 'U') ||
	    !store_id_valid(tok->team, 'T'))
		return STORE_ERR_INVALID;
	o = json_pack("{ss ss sI sI sb}", "user", tok->user, "team",
	    tok->team, "created", (json_int_t)tok->created, "expires",
	    (json_int_t)tok->expires, "revoked", tok->revoked);
	rc = store_db_put_json(t, DB_TOKENS, id, strlen(id), o);
	json_decref(o);
	if (rc == STORE_OK && index)
		rc = store_db_put(t, DB_USERTOKENS, key,
		    key2(key, tok->user, id, strlen(id)), "", 0, 0);
	return rc;
}

int
store_txn_token_put(struct store_txn *t, const char *id,
    const struct store_token *tok)
{
	return token_write(t, id, tok, 1);
}

int
store_txn_token_get(struct store_txn *t, const char *id,
    struct store_token *out)
{
	char u[STORE_ID_SIZE + 1], tm[STORE_ID_SIZE + 1];
	const char *j;
	MDB_val v;
	size_t n;

	if (!token_id_ok(id))
		return STORE_ERR_NOTFOUND;
	/* Read from the record's text: this runs for every Web API call. */
	if (store_db_get(t, DB_TOKENS, id, strlen(id), &v) != STORE_OK)
		return STORE_ERR_NOTFOUND;
	j = v.mv_data;
	n = v.mv_size;
	if (store_json_top_str(j, n, "user", u, sizeof(u)) == -1 ||
	    store_json_top_str(j, n, "team", tm, sizeof(tm)) == -1 ||
	    !store_id_valid(u, 'U') || !store_id_valid(tm, 'T'))
		return STORE_ERR_INTERNAL;
	memcpy(out->user, u, STORE_ID_SIZE);
	memcpy(out->team, tm, STORE_ID_SIZE);
	if (store_json_top_int(j, n, "created", &out->created) == -1)
		out->created = 0;
	if (store_json_top_int(j, n, "expires", &out->expires) == -1)
		out->expires = 0;
	out->revoked = store_json_top_bool(j, n, "revoked", 0) == 1;
	return STORE_OK;
}

int
store_txn_token_revoke(struct store_txn *t, const char *id)
{
	struct store_token tok;
	int rc = store_txn_token_get(t, id, &tok);

	if (rc != STORE_OK || tok.revoked)
		return rc;
	tok.revoked = 1;
	return token_write(t, id, &tok, 0);
}

struct revoke_walk {
	struct store_txn *t;
	size_t count;
	int rc;
};

static int
revoke_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct revoke_walk *w = arg;
	char id[TOKEN_ID_MAX + 1];
	size_t n = k->mv_size - STORE_ID_LEN;

	if (n == 0 || n > TOKEN_ID_MAX)
		return 0;
	memcpy(id, (uint8_t *)k->mv_data + STORE_ID_LEN, n);
	id[n] = '\0';
	w->rc = store_txn_token_revoke(w->t, id);
	if (w->rc != STORE_OK && w->rc != STORE_ERR_NOTFOUND)
		return 1;
	w->rc = STORE_OK;
	w->count++;
	return 0;
}

int
store_txn_user_tokens_revoke(struct store_txn *t, const char *user,
    size_t *count)
{
	struct revoke_walk w = { t, 0, STORE_OK };
	int rc;

	if (!store_id_valid(user, 'U'))
		return STORE_ERR_INVALID;
	/*
	 * Revoking rewrites the tokens database only, so walking usertokens
	 * meanwhile is safe.
	 */
	rc = store_db_walk(t, DB_USERTOKENS, user, STORE_ID_LEN, NULL, 0,
	    revoke_cb, &w);
	if (count != NULL)
		*count = w.count;
	return rc != STORE_OK ? rc : w.rc;
}

struct tokens_walk {
	store_id_fn fn;
	void *arg;
};

static int
tokens_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct tokens_walk *w = arg;
	char id[TOKEN_ID_MAX + 1];
	size_t n = k->mv_size - STORE_ID_LEN;

	if (n == 0 || n > TOKEN_ID_MAX)
		return 0;
	memcpy(id, (uint8_t *)k->mv_data + STORE_ID_LEN, n);
	id[n] = '\0';
	return w->fn(w->arg, id);
}

int
store_txn_user_tokens(struct store_txn *t, const char *user, store_id_fn fn,
    void *arg)
{
	struct tokens_walk w = { fn, arg };

	if (!store_id_valid(user, 'U'))
		return STORE_ERR_INVALID;
	return store_db_walk(t, DB_USERTOKENS, user, STORE_ID_LEN, NULL, 0,
	    tokens_cb, &w);
}

int
store_password_hash(const char *pw, char out[STORE_PWHASH_SIZE])
{
	unsigned char salt[PW_SALT_LEN], hash[PW_HASH_LEN];
	char s64[32], h64[64];

	if (pw == NULL || RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	if (PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt),
		PW_ITER, EVP_sha256(), sizeof(hash), hash) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)s64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)h64, hash, sizeof(hash));
	snprintf(out, STORE_PWHASH_SIZE, "pbkdf2-sha256$%d$%s$%s", PW_ITER,
	    s64, h64);
	OPENSSL_cleanse(hash, sizeof(hash));
	return 0;
}

int
store_password_check(const char *pw, const char *stored)
{
	unsigned char salt[64], want[64], got[PW_HASH_LEN];
	char s64[48], h64[64];
	int iter, slen, hlen, ok;

	if (pw == NULL || stored == NULL ||
	    sscanf(stored, "pbkdf2-sha256$%d$%47[^$]$%63s", &iter, s64,
		h64) != 3 ||
	    iter < 1000 || iter > 10000000)
		return 0;
	slen = EVP_DecodeBlock(salt, (unsigned char *)s64, (int)strlen(s64));
	hlen = EVP_DecodeBlock(want, (unsigned char *)h64, (int)strlen(h64));
	/* EVP_DecodeBlock counts base64 padding as zero bytes. */
	if (slen < PW_SALT_LEN || hlen < PW_HASH_LEN)
		return 0;
	if (PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, PW_SALT_LEN, iter,
		EVP_sha256(), sizeof(got), got) != 1)
		return 0;
	ok = CRYPTO_memcmp(got, want, PW_HASH_LEN) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

int
store_txn_password_set(struct store_txn *t, const char *user,
    const char *hash)
{
	if (!store_id_valid(user, 'U') || hash == NULL ||
	    strlen(hash) >= STORE_PWHASH_SIZE)
		return STORE_ERR_INVALID;
	return store_db_put(t, DB_PASSWORDS, user, STORE_ID_LEN, hash,
	    strlen(hash), 0);
}

int
store_txn_password_get(struct store_txn *t, const char *user,
    char out[STORE_PWHASH_SIZE])
{
	MDB_val v;
	int rc;

	if (!store_id_valid(user, 'U'))
		return STORE_ERR_NOTFOUND;
	rc = store_db_get(t, DB_PASSWORDS, user, STORE_ID_LEN, &v);
	if (rc != STORE_OK)
		return rc;
	if (v.mv_size >= STORE_PWHASH_SIZE)
		return STORE_ERR_INTERNAL;
	memcpy(out, v.mv_data, v.mv_size);
	out[v.mv_size] = '\0';
	return STORE_OK;
}
