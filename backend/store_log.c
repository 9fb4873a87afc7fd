/*
 * store_log: the per-team event log: appending under the team's next
 * seq, reading a tail, retention, deleting a message with the scrubbing
 * of every event that held it, and the migration from schema 1.
 *
 * An event value is: time (8 bytes, microseconds), ref length (1 byte),
 * ref (0, 11 or 19 bytes), then the event JSON.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"
#include "store_int.h"

#define TEAMSEQ_KEY(k, team, seq) \
	(memcpy((k), (team), STORE_ID_LEN), \
	    store_be64_put((k) + STORE_ID_LEN, (seq)), STORE_ID_LEN + 8)

int
store_ref_parse(const char *ref, uint8_t *out, size_t *len)
{
	char id[STORE_ID_SIZE];
	uint64_t ts;

	*len = 0;
	if (ref == NULL)
		return 0;
	if (strlen(ref) > STORE_ID_LEN && ref[STORE_ID_LEN] == '/') {
		memcpy(id, ref, STORE_ID_LEN);
		id[STORE_ID_LEN] = '\0';
		if (!store_id_valid(id, 0) ||
		    store_ts_parse(ref + STORE_ID_LEN + 1, &ts) == -1)
			return -1;
		memcpy(out, id, STORE_ID_LEN);
		store_be64_put(out + STORE_ID_LEN, ts);
		*len = STORE_MSGREF_LEN;
		return 0;
	}
	if (!store_id_valid(ref, 0))
		return -1;
	memcpy(out, ref, STORE_ID_LEN);
	*len = STORE_ID_LEN;
	return 0;
}

void
store_ref_format(const uint8_t *ref, size_t len, char *out, size_t outlen)
{
	char ts[STORE_TS_SIZE];

	if (len == STORE_MSGREF_LEN) {
		store_ts_format(store_be64_get(ref + STORE_ID_LEN), ts);
		snprintf(out, outlen, "%.*s/%s", STORE_ID_LEN,
		    (const char *)ref, ts);
	} else if (len == STORE_ID_LEN) {
		snprintf(out, outlen, "%.*s", STORE_ID_LEN, (const char *)ref);
	} else {
		snprintf(out, outlen, "%s", "");
	}
}

int
store_event_put(struct store_txn *t, const char *team, uint64_t seq,
    uint64_t time_us, const uint8_t *ref, size_t reflen, const char *json,
    size_t len)
{
	uint8_t key[STORE_ID_LEN + 8], mkey[STORE_MSGREF_LEN + STORE_ID_LEN + 8];
	uint8_t *val;
	size_t klen, vlen = STORE_EVHDR_LEN + reflen + len;
	int rc;

	if (reflen != 0 && reflen != STORE_ID_LEN && reflen != STORE_MSGREF_LEN)
		return STORE_ERR_INVALID;
	klen = TEAMSEQ_KEY(key, team, seq);
	val = xmalloc(vlen);
	store_be64_put(val, time_us);
	val[8] = (uint8_t)reflen;
	memcpy(val + STORE_EVHDR_LEN, ref, reflen);
	memcpy(val + STORE_EVHDR_LEN + reflen, json, len);
	rc = store_db_put(t, DB_EVENTS, key, klen, val, vlen, 0);
	free(val);
	if (rc != STORE_OK || reflen != STORE_MSGREF_LEN)
		return rc;
	memcpy(mkey, ref, STORE_MSGREF_LEN);
	memcpy(mkey + STORE_MSGREF_LEN, key, klen);
	return store_db_put(t, DB_MSGEVENTS, mkey, sizeof(mkey), "", 0, 0);
}

static int
teamseq_get(struct store_txn *t, const char *team, uint64_t *last)
{
	MDB_val v;
	int rc;

	*last = 0;
	rc = store_db_get(t, DB_TEAMSEQ, team, STORE_ID_LEN, &v);
	if (rc == STORE_OK && v.mv_size == 8)
		*last = store_be64_get(v.mv_data);
	return rc == STORE_ERR_NOTFOUND ? STORE_OK : rc;
}

int
store_txn_event_append(struct store_txn *t, const char *team, json_t *event,
    const char *ref, uint64_t *seq_out)
{
	char *s;
	int rc;

	if (!json_is_object(event))
		return STORE_ERR_INVALID;
	s = json_dumps(event, JSON_COMPACT);
	if (s == NULL)
		return STORE_ERR_INVALID;
	rc = store_event_append_text(t, team, s, strlen(s), ref, seq_out);
	free(s);
	return rc;
}

int
store_event_append_text(struct store_txn *t, const char *team,
    const char *s, size_t len, const char *ref, uint64_t *seq_out)
{
	uint8_t refb[STORE_MSGREF_LEN], val[8];
	struct store_evrec *e;
	uint64_t seq, now = store_now_us();
	size_t reflen;
	MDB_val v;
	int rc;

	if (!store_id_valid(team, 'T') || store_ref_parse(ref, refb,
	    &reflen) == -1)
		return STORE_ERR_INVALID;
	if (store_db_get(t, DB_TEAMS, team, STORE_ID_LEN, &v) != STORE_OK)
		return STORE_ERR_NOTFOUND;
	rc = teamseq_get(t, team, &seq);
	if (rc != STORE_OK)
		return rc;
	seq++;
	store_be64_put(val, seq);
	rc = store_db_put(t, DB_TEAMSEQ, team, STORE_ID_LEN, val, 8, 0);
	if (rc != STORE_OK)
		return rc;
	rc = store_event_put(t, team, seq, now, refb, reflen, s, len);
	if (rc == STORE_OK && t->req != NULL) {
		e = xmalloc(sizeof(*e) + len + 1);
		e->next = NULL;
		memcpy(e->team, team, STORE_ID_SIZE);
		e->seq = seq;
		e->len = len;
		memcpy(e->json, s, len);
		e->json[len] = '\0';
		if (t->req->ev_tail != NULL)
			t->req->ev_tail->next = e;
		else
			t->req->ev_head = e;
		t->req->ev_tail = e;
	}
	if (rc == STORE_OK && seq_out != NULL)
		*seq_out = seq;
	return rc;
}

struct ev_walk {
	store_event_iter_fn fn;
	void *arg;
	size_t limit, n;
};

static int
ev_walk_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct ev_walk *w = arg;
	const uint8_t *p = v->mv_data;
	size_t off;

	if (k->mv_size != STORE_ID_LEN + 8 || v->mv_size < STORE_EVHDR_LEN)
		return 0;
	off = STORE_EVHDR_LEN + p[8];
	if (off > v->mv_size)
		return 0;
	if (w->fn(w->arg, store_be64_get((uint8_t *)k->mv_data + STORE_ID_LEN),
		store_be64_get(p), (const char *)p + off, v->mv_size - off))
		return 1;
	return w->limit && ++w->n >= w->limit;
}

int
store_txn_events(struct store_txn *t, const char *team, uint64_t after,
    size_t limit, store_event_iter_fn fn, void *arg)
{
	struct ev_walk w = { fn, arg, limit, 0 };
	uint8_t from[8];

	if (!store_id_valid(team, 'T'))
		return STORE_ERR_INVALID;
	store_be64_put(from, after);
	return store_db_walk(t, DB_EVENTS, team, STORE_ID_LEN, from, 8,
	    ev_walk_cb, &w);
}

/* The first event key of a team: its seq and time, or NOTFOUND. */
static int
log_first(struct store_txn *t, const char *team, uint64_t *seq,
    uint64_t *time_us, MDB_val *val)
{
	uint8_t key[STORE_ID_LEN + 8];
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	k.mv_size = TEAMSEQ_KEY(key, team, 0);
	k.mv_data = key;
	rc = mdb_cursor_open(t->txn, t->st->dbi[DB_EVENTS], &cur);
	if (rc != 0)
		return store_db_err(t, rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND || (rc == 0 && (k.mv_size != sizeof(key) ||
	    memcmp(k.mv_data, team, STORE_ID_LEN) != 0)))
		return STORE_ERR_NOTFOUND;
	if (rc != 0)
		return store_db_err(t, rc);
	*seq = store_be64_get((uint8_t *)k.mv_data + STORE_ID_LEN);
	*time_us = v.mv_size >= 8 ? store_be64_get(v.mv_data) : 0;
	if (val != NULL)
		*val = v;
	return STORE_OK;
}

int
store_txn_seq_range(struct store_txn *t, const char *team, uint64_t *oldest,
    uint64_t *last)
{
	uint64_t first, tm;
	int rc;

	if (!store_id_valid(team, 'T'))
		return STORE_ERR_INVALID;
	rc = teamseq_get(t, team, last);
	if (rc != STORE_OK)
		return rc;
	rc = log_first(t, team, &first, &tm, NULL);
	if (rc == STORE_ERR_NOTFOUND) {
		*oldest = *last ? *last + 1 : 0;
		return STORE_OK;
	}
	if (rc == STORE_OK)
		*oldest = first;
	return rc;
}

/* Deletes one event and its msgevents entry. */
static int
log_drop(struct store_txn *t, const char *team, uint64_t seq,
    const MDB_val *val)
{
	uint8_t key[STORE_ID_LEN + 8], mkey[STORE_MSGREF_LEN + STORE_ID_LEN + 8];
	const uint8_t *p = val->mv_data;
	size_t klen = TEAMSEQ_KEY(key, team, seq);
	int rc;

	if (val->mv_size >= STORE_EVHDR_LEN + STORE_MSGREF_LEN &&
	    p[8] == STORE_MSGREF_LEN) {
		memcpy(mkey, p + STORE_EVHDR_LEN, STORE_MSGREF_LEN);
		memcpy(mkey + STORE_MSGREF_LEN, key, klen);
		rc = store_db_del(t, DB_MSGEVENTS, mkey, sizeof(mkey));
		if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
			return rc;
	}
	return store_db_del(t, DB_EVENTS, key, klen);
}

int
store_log_trim(struct store_txn *t, const char *team, uint64_t now_us)
{
	uint64_t oldest, last, count, first, tm, cutoff = 0;
	uint64_t age = t->st->cfg.retain_seconds * 1000000;
	MDB_val v;
	int rc;

	rc = store_txn_seq_range(t, team, &oldest, &last);
	if (rc != STORE_OK || last == 0 || oldest > last)
		return rc;
	count = last - oldest + 1;
	if (now_us > age)
		cutoff = now_us - age;
	for (;;) {
		rc = log_first(t, team, &first, &tm, &v);
		if (rc == STORE_ERR_NOTFOUND)
			return STORE_OK;
		if (rc != STORE_OK)
			return rc;
		if (count <= t->st->cfg.retain_events && tm >= cutoff)
			return STORE_OK;
		rc = log_drop(t, team, first, &v);
		if (rc != STORE_OK)
			return rc;
		count--;
	}
}

static int
sweep_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct store_txn *t = ((void **)arg)[0];
	uint64_t now = *(uint64_t *)((void **)arg)[1];
	char team[STORE_ID_SIZE];

	if (k->mv_size != STORE_ID_LEN)
		return 0;
	memcpy(team, k->mv_data, STORE_ID_LEN);
	team[STORE_ID_LEN] = '\0';
	return store_log_trim(t, team, now) == STORE_OK ? 0 : -1;
}

int
store_log_sweep(struct store_txn *t, uint64_t now_us)
{
	void *arg[2] = { t, &now_us };

	return store_db_walk(t, DB_TEAMSEQ, NULL, 0, NULL, 0, sweep_cb, arg);
}

/* Collects the (team, seq) keys of the events that hold one message. */
struct keys {
	uint8_t (*k)[STORE_ID_LEN + 8];
	size_t n, cap;
};

static int
keys_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct keys *ks = arg;

	if (k->mv_size != STORE_MSGREF_LEN + STORE_ID_LEN + 8)
		return 0;
	if (ks->n == ks->cap) {
		ks->cap = ks->cap ? ks->cap * 2 : 8;
		ks->k = xreallocarray(ks->k, ks->cap, sizeof(*ks->k));
	}
	memcpy(ks->k[ks->n++], (uint8_t *)k->mv_data + STORE_MSGREF_LEN,
	    STORE_ID_LEN + 8);
	return 0;
}

/* Rewrites an event as a tombstone of the message it held. */
static int
log_scrub(struct store_txn *t, const uint8_t *evkey, const char *channel,
    const char *ts)
{
	uint8_t hdr[STORE_EVHDR_LEN];
	MDB_val v;
	char *json;
	uint8_t *val;
	size_t len;
	int rc;

	rc = store_db_get(t, DB_EVENTS, evkey, STORE_ID_LEN + 8, &v);
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	memcpy(hdr, v.mv_data, v.mv_size >= 8 ? 8 : 0);
	if (v.mv_size < 8)
		memset(hdr, 0, 8);
	hdr[8] = 0;
	json = xasprintf("{\"type\":\"tombstone\",\"channel\":\"%s\","
			 "\"ts\":\"%s\"}",
	    channel, ts);
	len = strlen(json);
	val = xmalloc(STORE_EVHDR_LEN + len);
	memcpy(val, hdr, STORE_EVHDR_LEN);
	memcpy(val + STORE_EVHDR_LEN, json, len);
	rc = store_db_put(t, DB_EVENTS, evkey, STORE_ID_LEN + 8, val,
	    STORE_EVHDR_LEN + len, 0);
	free(val);
	free(json);
	return rc;
}

int
store_txn_message_delete(struct store_txn *t, const char *channel,
    uint64_t ts)
{
	uint8_t key[STORE_MSGREF_LEN + 8], ckey[STORE_ID_LEN + STORE_CMID_MAX];
	uint8_t mkey[STORE_MSGREF_LEN + STORE_ID_LEN + 8];
	char tsbuf[STORE_TS_SIZE];
	struct keys ks = { NULL, 0, 0 };
	const char *cmid;
	uint64_t tts;
	json_t *msg;
	MDB_val v;
	size_t i, n;
	int rc;

	msg = store_txn_message_get(t, channel, ts);
	if (msg == NULL)
		return STORE_ERR_NOTFOUND;
	store_ts_format(ts, tsbuf);
	memcpy(key, channel, STORE_ID_LEN);
	store_be64_put(key + STORE_ID_LEN, ts);

	rc = store_db_del(t, DB_MESSAGES, key, STORE_MSGREF_LEN);
	cmid = json_string_value(json_object_get(msg, "client_msg_id"));
	n = cmid ? strlen(cmid) : 0;
	if (rc == STORE_OK && n > 0 && n <= STORE_CMID_MAX) {
		memcpy(ckey, channel, STORE_ID_LEN);
		memcpy(ckey + STORE_ID_LEN, cmid, n);
		if (store_db_get(t, DB_CMIDS, ckey, STORE_ID_LEN + n, &v) ==
			STORE_OK &&
		    v.mv_size == 8 && store_be64_get(v.mv_data) == ts)
			rc = store_db_del(t, DB_CMIDS, ckey, STORE_ID_LEN + n);
	}
	if (rc == STORE_OK &&
	    store_ts_parse(json_string_value(json_object_get(msg,
			       "thread_ts")),
		&tts) == 0 &&
	    tts != ts) {
		store_be64_put(key + STORE_ID_LEN, tts);
		store_be64_put(key + STORE_MSGREF_LEN, ts);
		rc = store_db_del(t, DB_THREADS, key, sizeof(key));
		if (rc == STORE_ERR_NOTFOUND)
			rc = STORE_OK;
		store_be64_put(key + STORE_ID_LEN, ts);
	}
	json_decref(msg);
	if (rc != STORE_OK)
		return rc;

	rc = store_db_walk(t, DB_MSGEVENTS, key, STORE_MSGREF_LEN, NULL, 0,
	    keys_cb, &ks);
	for (i = 0; rc == STORE_OK && i < ks.n; i++) {
		rc = log_scrub(t, ks.k[i], channel, tsbuf);
		memcpy(mkey, key, STORE_MSGREF_LEN);
		memcpy(mkey + STORE_MSGREF_LEN, ks.k[i], STORE_ID_LEN + 8);
		if (rc == STORE_OK)
			rc = store_db_del(t, DB_MSGEVENTS, mkey, sizeof(mkey));
	}
	free(ks.k);
	return rc;
}

/* Rebuilds the cmids and threads entries of one stored message. */
static int
migrate_msg_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct store_txn *t = arg;
	uint8_t key[STORE_ID_LEN + STORE_CMID_MAX + 8], val[8];
	const char *cmid;
	uint64_t ts, tts;
	json_t *m;
	size_t n;
	int rc = STORE_OK;

	if (k->mv_size != STORE_MSGREF_LEN)
		return 0;
	ts = store_be64_get((uint8_t *)k->mv_data + STORE_ID_LEN);
	m = json_loadb(v->mv_data, v->mv_size, 0, NULL);
	cmid = json_string_value(json_object_get(m, "client_msg_id"));
	n = cmid ? strlen(cmid) : 0;
	if (n > 0 && n <= STORE_CMID_MAX) {
		memcpy(key, k->mv_data, STORE_ID_LEN);
		memcpy(key + STORE_ID_LEN, cmid, n);
		store_be64_put(val, ts);
		rc = store_db_put(t, DB_CMIDS, key, STORE_ID_LEN + n, val, 8,
		    0);
	}
	if (rc == STORE_OK &&
	    store_ts_parse(json_string_value(json_object_get(m, "thread_ts")),
		&tts) == 0 &&
	    tts != ts) {
		memcpy(key, k->mv_data, STORE_ID_LEN);
		store_be64_put(key + STORE_ID_LEN, tts);
		store_be64_put(key + STORE_MSGREF_LEN, ts);
		rc = store_db_put(t, DB_THREADS, key, STORE_MSGREF_LEN + 8, "",
		    0, 0);
	}
	json_decref(m);
	return rc == STORE_OK ? 0 : -rc;
}

/*
 * Schema 1 kept events as bare JSON.  They get the header: the time from
 * their "event_ts" (or now) and a message ref for plain message events.
 */
static int
migrate_events(struct store_txn *t)
{
	uint8_t ref[STORE_MSGREF_LEN];
	char team[STORE_ID_SIZE];
	const char *type, *ch, *ts;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t tm, seq, msgts;
	size_t reflen;
	json_t *e;
	char *copy;
	int rc, r = STORE_OK;

	rc = mdb_cursor_open(t->txn, t->st->dbi[DB_EVENTS], &cur);
	if (rc != 0)
		return store_db_err(t, rc);
	/* Keys do not change, so rewriting under the cursor is safe. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != STORE_ID_LEN + 8)
			continue;
		memcpy(team, k.mv_data, STORE_ID_LEN);
		team[STORE_ID_LEN] = '\0';
		seq = store_be64_get((uint8_t *)k.mv_data + STORE_ID_LEN);
		copy = xstrndup(v.mv_data, v.mv_size);
		e = json_loads(copy, 0, NULL);
		tm = store_now_us();
		if (store_ts_parse(json_string_value(json_object_get(e,
				       "event_ts")),
			&msgts) == 0)
			tm = msgts;
		reflen = 0;
		type = json_string_value(json_object_get(e, "type"));
		ch = json_string_value(json_object_get(e, "channel"));
		ts = json_string_value(json_object_get(e, "ts"));
		if (type && strcmp(type, "message") == 0 &&
		    json_object_get(e, "subtype") == NULL && ch &&
		    store_id_valid(ch, 0) && store_ts_parse(ts, &msgts) == 0) {
			memcpy(ref, ch, STORE_ID_LEN);
			store_be64_put(ref + STORE_ID_LEN, msgts);
			reflen = STORE_MSGREF_LEN;
		}
		json_decref(e);
		r = store_event_put(t, team, seq, tm, ref, reflen, copy,
		    strlen(copy));
		free(copy);
	}
	mdb_cursor_close(cur);
	if (r != STORE_OK)
		return r;
	return rc == MDB_NOTFOUND ? STORE_OK : store_db_err(t, rc);
}

int
store_migrate_v1(struct store_txn *t)
{
	static const enum store_db added[] = { DB_THREADS, DB_CMIDS,
		DB_MSGEVENTS };
	size_t i;
	int rc;

	for (i = 0; i < sizeof(added) / sizeof(added[0]); i++) {
		rc = mdb_dbi_open(t->txn, store_db_names[added[i]], MDB_CREATE,
		    &t->st->dbi[added[i]]);
		if (rc != 0)
			return store_db_err(t, rc);
	}
	rc = migrate_events(t);
	if (rc == STORE_OK)
		rc = store_db_walk(t, DB_MESSAGES, NULL, 0, NULL, 0,
		    migrate_msg_cb, t);
	if (rc == STORE_OK)
		rc = store_db_put(t, DB_META, "schema", 6, "2", 1, 0);
	return rc;
}
