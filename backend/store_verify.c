/*
 * store_verify: checks that the store agrees with itself, one finding
 * per line: events whose change is missing, gaps in a team's sequence,
 * memberships recorded in one direction only, messages of a channel
 * that does not exist, index entries without their record.  Also the
 * fault injection that the verify tests use (parleyctl _inject).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"
#include "store_int.h"

struct verify {
	struct store_txn *t;
	store_finding_fn fn;
	void *arg;
	size_t n;
	/* Event walk state. */
	char team[STORE_ID_SIZE];
	uint64_t prev;
};

static void PL_PRINTF(2, 3)
finding(struct verify *v, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	v->n++;
	v->fn(v->arg, line);
}

static int
has(struct verify *v, enum store_db db, const void *key, size_t klen)
{
	MDB_val val;

	return store_db_get(v->t, db, key, klen, &val) == STORE_OK;
}

static void
id_of(char *out, const void *p)
{
	memcpy(out, p, STORE_ID_LEN);
	out[STORE_ID_LEN] = '\0';
}

/* Compares a finished team's last held seq with its teamseq record. */
static void
team_close(struct verify *v)
{
	MDB_val val;
	uint64_t last = 0;

	if (v->team[0] == '\0')
		return;
	if (store_db_get(v->t, DB_TEAMSEQ, v->team, STORE_ID_LEN, &val) ==
		STORE_OK &&
	    val.mv_size == 8)
		last = store_be64_get(val.mv_data);
	if (last == 0)
		finding(v, "events: team %s has events but no sequence record",
		    v->team);
	else if (v->prev != last)
		finding(v,
		    "events: team %s: gap in sequence: last held %" PRIu64
		    ", last given %" PRIu64,
		    v->team, v->prev, last);
}

static int
events_cb(void *arg, const MDB_val *k, const MDB_val *val)
{
	struct verify *v = arg;
	const uint8_t *p = val->mv_data;
	char team[STORE_ID_SIZE], ref[64];
	uint64_t seq;
	size_t reflen;

	if (k->mv_size != STORE_ID_LEN + 8) {
		finding(v, "events: malformed key of %zu bytes", k->mv_size);
		return 0;
	}
	id_of(team, k->mv_data);
	seq = store_be64_get((uint8_t *)k->mv_data + STORE_ID_LEN);
	if (strcmp(team, v->team) != 0) {
		team_close(v);
		memcpy(v->team, team, sizeof(team));
		if (!has(v, DB_TEAMS, team, STORE_ID_LEN))
			finding(v, "events: team %s does not exist", team);
	} else if (seq != v->prev + 1) {
		finding(v,
		    "events: team %s: gap in sequence between %" PRIu64
		    " and %" PRIu64,
		    team, v->prev, seq);
	}
	v->prev = seq;

	if (val->mv_size < STORE_EVHDR_LEN ||
	    STORE_EVHDR_LEN + (size_t)p[8] > val->mv_size) {
		finding(v, "events: team %s seq %" PRIu64 ": malformed value",
		    team, seq);
		return 0;
	}
	reflen = p[8];
	store_ref_format(p + STORE_EVHDR_LEN, reflen, ref, sizeof(ref));
	if (reflen == STORE_MSGREF_LEN &&
	    !has(v, DB_MESSAGES, p + STORE_EVHDR_LEN, STORE_MSGREF_LEN))
		finding(v,
		    "events: team %s seq %" PRIu64
		    ": event without its change: message %s is missing",
		    team, seq, ref);
	if (reflen == STORE_ID_LEN) {
		enum store_db db = ref[0] == 'T'   ? DB_TEAMS
				   : ref[0] == 'U' ? DB_USERS
						   : DB_CHANNELS;
		if (!has(v, db, p + STORE_EVHDR_LEN, STORE_ID_LEN))
			finding(v,
			    "events: team %s seq %" PRIu64
			    ": event without its change: %s is missing",
			    team, seq, ref);
	}
	return 0;
}

/* members <-> userchans, each with its channel and user. */
struct member_walk {
	struct verify *v;
	int channel_first;
};

static int
member_cb(void *arg, const MDB_val *k, const MDB_val *val)
{
	struct member_walk *w = arg;
	struct verify *v = w->v;
	uint8_t mirror[2 * STORE_ID_LEN];
	char a[STORE_ID_SIZE], b[STORE_ID_SIZE];
	const char *ch, *user;

	if (k->mv_size != 2 * STORE_ID_LEN)
		return 0;
	id_of(a, k->mv_data);
	id_of(b, (uint8_t *)k->mv_data + STORE_ID_LEN);
	ch = w->channel_first ? a : b;
	user = w->channel_first ? b : a;
	memcpy(mirror, b, STORE_ID_LEN);
	memcpy(mirror + STORE_ID_LEN, a, STORE_ID_LEN);
	if (!has(v, w->channel_first ? DB_USERCHANS : DB_MEMBERS, mirror,
		sizeof(mirror)))
		finding(v,
		    "members: %s in %s is recorded in one direction only "
		    "(%s without %s)",
		    user, ch, w->channel_first ? "members" : "userchans",
		    w->channel_first ? "userchans" : "members");
	if (w->channel_first && !has(v, DB_CHANNELS, ch, STORE_ID_LEN))
		finding(v, "members: channel %s of member %s does not exist",
		    ch, user);
	if (w->channel_first && !has(v, DB_USERS, user, STORE_ID_LEN))
		finding(v, "members: user %s in %s does not exist", user, ch);
	return 0;
}

static int
messages_cb(void *arg, const MDB_val *k, const MDB_val *val)
{
	struct verify *v = arg;
	char ch[STORE_ID_SIZE], ts[STORE_TS_SIZE];

	if (k->mv_size != STORE_MSGREF_LEN) {
		finding(v, "messages: malformed key of %zu bytes", k->mv_size);
		return 0;
	}
	id_of(ch, k->mv_data);
	store_ts_format(store_be64_get((uint8_t *)k->mv_data + STORE_ID_LEN),
	    ts);
	if (!has(v, DB_CHANNELS, ch, STORE_ID_LEN))
		finding(v, "messages: message %s/%s: channel %s does not exist",
		    ch, ts, ch);
	return 0;
}

static int
cmids_cb(void *arg, const MDB_val *k, const MDB_val *val)
{
	struct verify *v = arg;
	uint8_t key[STORE_MSGREF_LEN];
	char ch[STORE_ID_SIZE], ts[STORE_TS_SIZE];

	if (k->mv_size <= STORE_ID_LEN || val->mv_size != 8) {
		finding(v, "cmids: malformed entry");
		return 0;
	}
	id_of(ch, k->mv_data);
	memcpy(key, k->mv_data, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, val->mv_data, 8);
	store_ts_format(store_be64_get(val->mv_data), ts);
	if (!has(v, DB_MESSAGES, key, sizeof(key)))
		finding(v,
		    "cmids: client_msg_id \"%.*s\" in %s names message %s "
		    "which does not exist",
		    (int)(k->mv_size - STORE_ID_LEN),
		    (const char *)k->mv_data + STORE_ID_LEN, ch, ts);
	return 0;
}

static int
threads_cb(void *arg, const MDB_val *k, const MDB_val *val)
{
	struct verify *v = arg;
	uint8_t key[STORE_MSGREF_LEN];
	char ch[STORE_ID_SIZE], ts[STORE_TS_SIZE];

	if (k->mv_size != STORE_MSGREF_LEN + 8)
		return 0;
	id_of(ch, k->mv_data);
	memcpy(key, k->mv_data, STORE_ID_LEN);
	memcpy(key + STORE_ID_LEN, (uint8_t *)k->mv_data + STORE_MSGREF_LEN,
	    8);
	store_ts_format(store_be64_get(key + STORE_ID_LEN), ts);
	if (!has(v, DB_MESSAGES, key, sizeof(key)))
		finding(v, "threads: reply %s/%s does not exist", ch, ts);
	return 0;
}

/* "<team><id>" index entries whose record is missing. */
struct index_walk {
	struct verify *v;
	enum store_db target;
	const char *what;
};

static int
index_cb(void *arg, const MDB_val *k, const MDB_val *val)
{
	struct index_walk *w = arg;
	char id[STORE_ID_SIZE];
	const void *p;

	/* Name indexes hold the id as value; set indexes in the key. */
	if (val->mv_size == STORE_ID_LEN)
		p = val->mv_data;
	else if (k->mv_size == 2 * STORE_ID_LEN)
		p = (uint8_t *)k->mv_data + STORE_ID_LEN;
	else
		return 0;
	id_of(id, p);
	if (!has(w->v, w->target, p, STORE_ID_LEN))
		finding(w->v, "%s: entry names %s which does not exist",
		    w->what, id);
	return 0;
}

size_t
store_verify(struct store *st, store_finding_fn fn, void *arg)
{
	static const struct {
		enum store_db db, target;
	} idx[] = {
		{ DB_USERNAMES, DB_USERS }, { DB_EMAILS, DB_USERS },
		{ DB_TEAMUSERS, DB_USERS }, { DB_CHANNAMES, DB_CHANNELS },
		{ DB_TEAMCHANS, DB_CHANNELS }, { DB_IMS, DB_CHANNELS },
		{ DB_DOMAINS, DB_TEAMS },
	};
	struct verify v = { .fn = fn, .arg = arg };
	struct member_walk mw = { &v, 1 };
	struct index_walk iw = { &v, 0, NULL };
	MDB_val val;
	size_t i;

	v.t = store_rd_begin(st);
	if (v.t == NULL) {
		finding(&v, "store: cannot begin a read transaction");
		return v.n;
	}
	if (!has(&v, DB_META, "schema", 6))
		finding(&v, "meta: no schema version");
	if (store_db_get(v.t, DB_META, "epoch", 5, &val) != STORE_OK ||
	    val.mv_size != 16)
		finding(&v, "meta: no epoch");

	store_db_walk(v.t, DB_EVENTS, NULL, 0, NULL, 0, events_cb, &v);
	team_close(&v);
	store_db_walk(v.t, DB_MEMBERS, NULL, 0, NULL, 0, member_cb, &mw);
	mw.channel_first = 0;
	store_db_walk(v.t, DB_USERCHANS, NULL, 0, NULL, 0, member_cb, &mw);
	store_db_walk(v.t, DB_MESSAGES, NULL, 0, NULL, 0, messages_cb, &v);
	store_db_walk(v.t, DB_CMIDS, NULL, 0, NULL, 0, cmids_cb, &v);
	store_db_walk(v.t, DB_THREADS, NULL, 0, NULL, 0, threads_cb, &v);
	for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		iw.target = idx[i].target;
		iw.what = store_db_names[idx[i].db];
		store_db_walk(v.t, idx[i].db, NULL, 0, NULL, 0, index_cb, &iw);
	}
	store_rd_end(v.t);
	return v.n;
}

/* The first key/value of a database with a key of klen bytes. */
static int
first_key(struct store_txn *t, enum store_db db, size_t klen, int no_cmid,
    MDB_val *k, MDB_val *v)
{
	MDB_cursor *cur;
	int rc;

	if (mdb_cursor_open(t->txn, t->st->dbi[db], &cur) != 0)
		return -1;
	for (rc = mdb_cursor_get(cur, k, v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, k, v, MDB_NEXT)) {
		if (k->mv_size != klen)
			continue;
		if (no_cmid && (memmem(v->mv_data, v->mv_size,
				    "client_msg_id", 13) != NULL ||
				   memmem(v->mv_data, v->mv_size, "thread_ts",
				       9) != NULL))
			continue;
		break;
	}
	mdb_cursor_close(cur);
	return rc == 0 ? 0 : -1;
}

/*
 * Breaks the store in one of the ways verify must report, writing LMDB
 * directly as a bug or a bad disk would:
 *   event-without-change  a message goes, its event stays
 *   seq-gap               an event in the middle of a team's log goes
 *   one-way-membership    a userchans entry goes, its members entry stays
 *   orphan-message        a message under a channel that does not exist
 *   orphan-cmid           a client_msg_id entry naming no message
 */
int
store_debug_inject(struct store *st, const char *fault, char *err,
    size_t errlen)
{
	struct store_txn t;
	uint8_t key[STORE_ID_LEN + 32], val[8];
	MDB_val k, v;
	int rc = -1;

	if (store_wtxn_begin(st, &t) != STORE_OK) {
		snprintf(err, errlen, "cannot begin a transaction");
		return -1;
	}
	if (strcmp(fault, "event-without-change") == 0) {
		if (first_key(&t, DB_MESSAGES, STORE_MSGREF_LEN, 1, &k, &v) ==
		    0) {
			memcpy(key, k.mv_data, STORE_MSGREF_LEN);
			rc = store_db_del(&t, DB_MESSAGES, key,
			    STORE_MSGREF_LEN);
		}
	} else if (strcmp(fault, "seq-gap") == 0) {
		if (first_key(&t, DB_EVENTS, STORE_ID_LEN + 8, 0, &k, &v) ==
		    0) {
			memcpy(key, k.mv_data, STORE_ID_LEN + 8);
			store_be64_put(key + STORE_ID_LEN,
			    store_be64_get(key + STORE_ID_LEN) + 1);
			rc = store_db_del(&t, DB_EVENTS, key,
			    STORE_ID_LEN + 8);
		}
	} else if (strcmp(fault, "one-way-membership") == 0) {
		if (first_key(&t, DB_USERCHANS, 2 * STORE_ID_LEN, 0, &k, &v) ==
		    0) {
			memcpy(key, k.mv_data, 2 * STORE_ID_LEN);
			rc = store_db_del(&t, DB_USERCHANS, key,
			    2 * STORE_ID_LEN);
		}
	} else if (strcmp(fault, "orphan-message") == 0) {
		memcpy(key, "CZZZZZZZZZZ", STORE_ID_LEN);
		store_be64_put(key + STORE_ID_LEN, 1500000000000000ULL);
		rc = store_db_put(&t, DB_MESSAGES, key, STORE_MSGREF_LEN,
		    "{\"type\":\"message\",\"text\":\"orphan\"}", 34, 0);
	} else if (strcmp(fault, "orphan-cmid") == 0) {
		if (first_key(&t, DB_CHANNELS, STORE_ID_LEN, 0, &k, &v) == 0) {
			memcpy(key, k.mv_data, STORE_ID_LEN);
			memcpy(key + STORE_ID_LEN, "injected-cmid", 13);
			store_be64_put(val, 1000000);
			rc = store_db_put(&t, DB_CMIDS, key, STORE_ID_LEN + 13,
			    val, 8, 0);
		}
	} else {
		snprintf(err, errlen, "unknown fault %s", fault);
		store_wtxn_abort(&t);
		return -1;
	}
	if (rc != STORE_OK) {
		snprintf(err, errlen, "no record to break for %s", fault);
		store_wtxn_abort(&t);
		return -1;
	}
	if (store_wtxn_commit(&t) != STORE_OK) {
		snprintf(err, errlen, "commit failed");
		return -1;
	}
	return 0;
}
