/*
 * stream_snap: the snapshot of a team for an edge (docs/stream.md).
 *
 * Everything is read in the caller's read transaction, the one that gave
 * the snapshot's seq, so the snapshot holds exactly the events up to it.
 * Records are written as JSON text into arrays of about snap_part bytes,
 * each array one snapshot_part frame: users, channels, members (with
 * each member's read marker), presence, then each channel's recent
 * messages, oldest first, and the ids of the team's revoked tokens.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "stream.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/backend.h"

struct snap {
	struct stream_peer *p;
	struct store_txn *txn;
	const char *team;
	int kind; /* enum stream_part being written */
	char *text; /* "[rec,rec" so far */
	size_t len, size;
	size_t n; /* records in text */
	int closed; /* the peer went away */
	/* per-channel walks */
	json_t *list; /* ids */
	size_t msg_max;
	json_t *msgs;
};

static void
snap_put(struct snap *sn, const char *s, size_t n)
{
	if (sn->len + n + 2 > sn->size) {
		sn->size = (sn->len + n + 2) * 2;
		sn->text = xreallocarray(sn->text, sn->size, 1);
	}
	memcpy(sn->text + sn->len, s, n);
	sn->len += n;
}

/* Sends the records gathered so far as one part. */
static int
snap_flush(struct snap *sn)
{
	struct stream_msg m;

	if (sn->n == 0 || sn->closed)
		return sn->closed ? -1 : 0;
	snap_put(sn, "]", 1);
	memset(&m, 0, sizeof(m));
	m.type = STREAM_SNAPSHOT_PART;
	m.team = stream_str(sn->team);
	m.kind = (uint64_t)sn->kind;
	m.json.p = sn->text;
	m.json.len = sn->len;
	if (stream_peer_send_msg(sn->p, &m) == -1)
		sn->closed = 1;
	sn->len = 0;
	sn->n = 0;
	return sn->closed ? -1 : 0;
}

/* Adds one record (JSON text) of the current kind. */
static int
snap_add(struct snap *sn, const char *json, size_t len)
{
	snap_put(sn, sn->n == 0 ? "[" : ",", 1);
	snap_put(sn, json, len);
	sn->n++;
	if (sn->len >= stream_peer_config(sn->p)->snap_part)
		return snap_flush(sn);
	return 0;
}

static int
snap_add_obj(struct snap *sn, json_t *o)
{
	size_t len;
	char *s;
	int rc = 0;

	if (o == NULL)
		return 0;
	s = json_dump_compact(o, &len);
	if (s != NULL) {
		rc = snap_add(sn, s, len);
		free(s);
	}
	json_decref(o);
	return rc;
}

static int
snap_id_cb(void *arg, const char *id)
{
	json_array_append_new(arg, json_string(id));
	return 0;
}

static int
snap_users(struct snap *sn)
{
	json_t *v;
	size_t i;

	json_array_clear(sn->list);
	store_txn_team_users(sn->txn, sn->team, NULL, snap_id_cb, sn->list);
	sn->kind = STREAM_PART_USERS;
	json_array_foreach(sn->list, i,
	    v) if (snap_add_obj(sn,
	               store_txn_user_get(sn->txn, json_string_value(v))) ==
	    -1) return -1;
	return snap_flush(sn);
}

/* Each user of sn->list (from snap_users) active or away, as RTM sees. */
static int
snap_presence(struct snap *sn)
{
	struct rtm *r = stream_peer_rtm(sn->p);
	const char *u;
	json_t *v;
	size_t i;

	if (r == NULL)
		return 0;
	sn->kind = STREAM_PART_PRESENCE;
	json_array_foreach(sn->list, i, v)
	{
		u = json_string_value(v);
		if (snap_add_obj(sn,
		        json_pack("{s:s,s:s}", "user", u, "presence",
		            rtm_user_presence(r, sn->team, u))) == -1)
			return -1;
	}
	return snap_flush(sn);
}

/* Adds token id when it is revoked and not expired yet. */
static int
snap_token_cb(void *arg, const char *id)
{
	struct snap *sn = arg;
	struct store_token tok;
	char *s;
	int rc;

	if (store_txn_token_get(sn->txn, id, &tok) != STORE_OK ||
	    !tok.revoked || (tok.expires != 0 && tok.expires <=
	    util_wall_sec()))
		return 0;
	s = xasprintf("\"%s\"", id);
	rc = snap_add(sn, s, strlen(s));
	free(s);
	return rc == -1 ? 1 : 0;
}

/*
 * The ids of the tokens of users (sn->list) that were revoked and have
 * not expired, so that an edge refuses them without asking.
 */
static int
snap_revoked(struct snap *sn)
{
	json_t *v;
	size_t i;

	sn->kind = STREAM_PART_REVOKED;
	json_array_foreach(sn->list, i, v)
	{
		store_txn_user_tokens(sn->txn, json_string_value(v),
		    snap_token_cb, sn);
		if (sn->closed)
			return -1;
	}
	return snap_flush(sn);
}

struct snap_ev {
	struct snap *sn;
	int rc;
};

static int
snap_event_cb(void *arg, uint64_t seq, uint64_t time_us, const char *json,
    size_t len)
{
	struct snap_ev *e = arg;
	char head[48];
	int n;

	n = snprintf(head, sizeof(head), "{\"seq\":%" PRIu64 ",\"event\":",
	    seq);
	snap_put(e->sn, e->sn->n == 0 ? "[" : ",", 1);
	snap_put(e->sn, head, (size_t)n);
	snap_put(e->sn, json, len);
	snap_put(e->sn, "}", 1);
	e->sn->n++;
	if (e->sn->len >= stream_peer_config(e->sn->p)->snap_part &&
	    snap_flush(e->sn) == -1) {
		e->rc = -1;
		return 1;
	}
	return 0;
}

/*
 * The last snap_events events up to seq, so that an edge that just
 * subscribed can serve RTM resumes from before its snapshot (a client
 * that comes from another edge).
 */
static int
snap_events(struct snap *sn, uint64_t seq)
{
	size_t max = stream_peer_config(sn->p)->snap_events;
	struct snap_ev e = { sn, 0 };

	if (max == 0 || seq == 0)
		return 0;
	sn->kind = STREAM_PART_EVENTS;
	store_txn_events(sn->txn, sn->team, seq > max ? seq - max : 0, max,
	    snap_event_cb, &e);
	if (e.rc == -1)
		return -1;
	return snap_flush(sn);
}

/* The team's channels, kept in chans for the later parts. */
static int
snap_channels(struct snap *sn, json_t *chans)
{
	json_t *v;
	size_t i;

	store_txn_team_channels(sn->txn, sn->team, NULL, snap_id_cb, chans);
	sn->kind = STREAM_PART_CHANNELS;
	json_array_foreach(chans, i,
	    v) if (snap_add_obj(sn,
	               store_txn_channel_get(sn->txn, json_string_value(v))) ==
	    -1) return -1;
	return snap_flush(sn);
}

static int
snap_members(struct snap *sn, json_t *chans)
{
	char ts[STORE_TS_SIZE];
	const char *ch, *u;
	json_t *v, *w, *mem;
	uint64_t mark;
	size_t i, j;

	sn->kind = STREAM_PART_MEMBERS;
	json_array_foreach(chans, i, v)
	{
		ch = json_string_value(v);
		json_array_clear(sn->list);
		store_txn_channel_members(
		    sn->txn, ch, NULL, snap_id_cb, sn->list);
		mem = json_array();
		json_array_foreach(sn->list, j, w)
		{
			u = json_string_value(w);
			if (store_txn_mark_get(sn->txn, u, ch, &mark) ==
			        STORE_OK &&
			    mark > 0) {
				store_ts_format(mark, ts);
				json_array_append_new(mem,
				    json_pack("{s:s,s:s}", "user", u,
				        "last_read", ts));
			} else {
				json_array_append_new(mem, json_string(u));
			}
		}
		if (snap_add_obj(sn,
		        json_pack(
		            "{s:s,s:o}", "channel", ch, "members", mem)) == -1)
			return -1;
	}
	return snap_flush(sn);
}

static int
snap_msg_cb(void *arg, const char *json, size_t len)
{
	struct snap *sn = arg;
	json_t *m = json_loadb(json, len, 0, NULL);

	if (m != NULL)
		json_array_insert_new(sn->msgs, 0, m);
	return json_array_size(sn->msgs) >= sn->msg_max;
}

static int
snap_messages(struct snap *sn, json_t *chans)
{
	const char *ch;
	json_t *v;
	size_t i;

	sn->kind = STREAM_PART_MESSAGES;
	sn->msg_max = stream_peer_config(sn->p)->snap_messages;
	if (sn->msg_max == 0)
		return 0;
	json_array_foreach(chans, i, v)
	{
		ch = json_string_value(v);
		sn->msgs = json_array();
		store_txn_history(sn->txn, ch, 0, 0, 0, 0, snap_msg_cb, sn);
		if (json_array_size(sn->msgs) == 0) {
			json_decref(sn->msgs);
			continue;
		}
		if (snap_add_obj(sn,
		        json_pack("{s:s,s:o}", "channel", ch, "messages",
		            sn->msgs)) == -1)
			return -1;
	}
	return snap_flush(sn);
}

int
stream_snapshot(struct stream_peer *p, struct store_txn *txn, const char *team,
    uint64_t seq)
{
	struct snap sn;
	struct stream_msg m;
	json_t *t, *chans, *users;
	size_t len;
	char *tjson, epoch[STORE_EPOCH_SIZE];
	int rc = -1;

	t = store_txn_team_get(txn, team);
	if (t == NULL)
		return 0;
	tjson = json_dump_compact(t, &len);
	json_decref(t);
	memset(&m, 0, sizeof(m));
	m.type = STREAM_SNAPSHOT;
	m.team = stream_str(team);
	store_txn_team_epoch(txn, team, epoch);
	m.epoch = stream_str(epoch);
	m.seq = seq;
	m.json.p = tjson;
	m.json.len = len;
	if (stream_peer_send_msg(p, &m) == -1) {
		free(tjson);
		return -1;
	}
	free(tjson);

	memset(&sn, 0, sizeof(sn));
	sn.p = p;
	sn.txn = txn;
	sn.team = team;
	sn.list = json_array();
	chans = json_array();
	/* users, channels, members, presence, messages, revoked: in order */
	users = json_array();
	if (snap_users(&sn) == 0) {
		json_array_extend(users, sn.list);
		if (snap_channels(&sn, chans) == 0 &&
		    snap_members(&sn, chans) == 0) {
			json_array_clear(sn.list);
			json_array_extend(sn.list, users);
			if (snap_presence(&sn) == 0 &&
			    snap_messages(&sn, chans) == 0) {
				json_array_clear(sn.list);
				json_array_extend(sn.list, users);
				if (snap_revoked(&sn) == 0 &&
				    snap_events(&sn, seq) == 0)
					rc = 0;
			}
		}
	}
	json_decref(users);
	json_decref(chans);
	json_decref(sn.list);
	free(sn.text);
	if (rc == -1)
		return -1;

	memset(&m, 0, sizeof(m));
	m.type = STREAM_SNAPSHOT_END;
	m.team = stream_str(team);
	m.seq = seq;
	return stream_peer_send_msg(p, &m);
}
