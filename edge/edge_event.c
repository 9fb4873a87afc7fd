/*
 * edge_event: applying the team's events to its cache, in order, and
 * working out who may see each (see edge.h and docs/edge.md).  The
 * audiences follow the backend's RTM (backend/rtm_fanout.c), so that a
 * client sees the same events on an edge as on the backend.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define EVENT_JSON_DEPTH 32

/* A new message o in c: recent list, unread and mention counts. */
static void
team_message_new(struct edge_team *t, struct edge_channel *c, const json_t *o)
{
	struct edge_user *from = edge_team_user(t, json_get_str(o, "user"));
	struct edge_member *mb;
	struct edge_msg *m;
	size_t i;

	m = edge_chan_msg_append(t, c, o, 1);
	if (m == NULL)
		return;
	for (i = 0; i < m->nmentions; i++) {
		if (m->mentions[i] == from)
			continue;
		mb = edge_team_member(m->mentions[i], c);
		if (mb != NULL && mb->read_ord < m->ord)
			mb->mentions++;
	}

	/* What one writes, one has read. */
	if (from != NULL && (mb = edge_team_member(from, c)) != NULL) {
		mb->read_ord = c->msg_ord;
		mb->mentions = 0;
		util_strlcpy(mb->last_read, c->latest, sizeof(mb->last_read));
	}
}

/*
 * A read mark: u has read c up to ts.  The event may say how many
 * messages stay unread and mention u; otherwise they are counted from
 * the recent messages.
 */
static void
team_mark(struct edge_member *mb, const char *ts, const json_t *ev)
{
	struct edge_channel *c = mb->chan;
	json_t *v;
	size_t i;
	int64_t n = 0;

	util_strlcpy(mb->last_read, ts, sizeof(mb->last_read));
	v = json_object_get(ev, "unread_count");
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		mb->read_ord = c->msg_ord - json_integer_value(v);
	} else if (c->nrecent == 0 || edge_ts_cmp(ts, c->latest) >= 0) {
		mb->read_ord = c->msg_ord;
	} else if (edge_ts_cmp(ts, c->recent[0].ts) < 0) {
		/* Older than what is kept: at least all of those unread. */
		if (mb->read_ord > c->recent[0].ord - 1)
			mb->read_ord = c->recent[0].ord - 1;
	} else {
		for (i = c->nrecent; i-- > 0;)
			if (edge_ts_cmp(c->recent[i].ts, ts) <= 0)
				break;
		mb->read_ord = c->recent[i].ord;
	}

	v = json_object_get(ev, "mention_count");
	if (!json_is_integer(v))
		v = json_object_get(ev, "num_mentions");
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		mb->mentions = json_integer_value(v);
		return;
	}
	for (i = 0; i < c->nrecent; i++)
		if (c->recent[i].ord > mb->read_ord &&
		    edge_msg_mentions(&c->recent[i], mb->user))
			n++;
	mb->mentions = n;
}

/* One reaction added or removed on a recent message. */
static void
msg_react(struct edge_team *t, struct edge_msg *m, const char *name,
    const char *user, int add)
{
	json_t *o, *rs, *r = NULL, *users, *v;
	size_t i, j;
	char err[128];

	o = json_parse_strict(m->json, m->json_len, EDGE_EVENT_MAX,
	    EVENT_JSON_DEPTH, err, sizeof(err));
	if (o == NULL)
		return;
	rs = json_object_get(o, "reactions");
	if (!json_is_array(rs)) {
		rs = json_array();
		json_object_set_new(o, "reactions", rs);
	}
	json_array_foreach(rs, i, r) {
		if (strcmp(json_get_str(r, "name") ? json_get_str(r, "name") :
		    "", name) == 0)
			break;
	}
	if (i == json_array_size(rs)) {
		if (!add)
			goto done;
		r = json_pack("{s:s,s:[],s:i}", "name", name, "users", "count",
		    0);
		json_array_append_new(rs, r);
	}
	users = json_object_get(r, "users");
	if (!json_is_array(users)) {
		users = json_array();
		json_object_set_new(r, "users", users);
	}
	json_array_foreach(users, j, v) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), user) == 0)
			break;
	}
	if (add && j == json_array_size(users))
		json_array_append_new(users, json_string(user));
	else if (!add && j < json_array_size(users))
		json_array_remove(users, j);
	json_object_set_new(r, "count", json_integer(
	    (json_int_t)json_array_size(users)));
	if (json_array_size(users) == 0)
		json_array_remove(rs, i);
	if (json_array_size(rs) == 0)
		json_object_del(o, "reactions");
	edge_msg_set(t, m, o);
done:
	json_decref(o);
}

/* Audience of a change to channel c: everyone if public, else members. */
static void
aud_chan(struct edge_audience *a, struct edge_channel *c)
{
	if (c->type == EDGE_CHAN_PUBLIC) {
		a->kind = EDGE_AUD_TEAM;
	} else {
		a->kind = EDGE_AUD_CHANNEL;
		a->chan = c;
	}
}

static int
ev_message(struct edge_team *t, json_t *ev, struct edge_audience *a)
{
	struct edge_channel *c = edge_team_channel(t, json_get_str(ev,
	    "channel"));
	const char *sub = json_get_str(ev, "subtype");
	const char *ts, *thread;
	json_t *m = json_object_get(ev, "message");
	struct edge_msg *old;

	if (c == NULL)
		return EDGE_APPLY_BAD;
	a->kind = EDGE_AUD_CHANNEL;
	a->chan = c;

	if (sub != NULL && strcmp(sub, "message_changed") == 0) {
		old = edge_chan_msg_find(c, json_get_str(m, "ts"));
		if (old != NULL && json_is_object(m))
			edge_msg_set(t, old, m);
		return EDGE_APPLY_OK;
	}
	if (sub != NULL && strcmp(sub, "message_replied") == 0) {
		old = edge_chan_msg_find(c, json_get_str(m, "ts"));
		if (old != NULL && json_is_object(m))
			edge_msg_set(t, old, m);
		return EDGE_APPLY_OK;
	}
	if (sub != NULL && strcmp(sub, "message_deleted") == 0) {
		edge_chan_msg_remove(c, json_get_str(ev, "deleted_ts"));
		return EDGE_APPLY_OK;
	}

	ts = json_get_str(ev, "ts");
	if (!edge_ts_ok(ts))
		return EDGE_APPLY_BAD;

	/* A thread reply stays out of the channel's history and counts. */
	thread = json_get_str(ev, "thread_ts");
	if (thread != NULL && strcmp(thread, ts) != 0 &&
	    (sub == NULL || strcmp(sub, "thread_broadcast") != 0))
		return EDGE_APPLY_OK;

	if (sub != NULL && strcmp(sub, "channel_topic") == 0)
		json_object_set_new(c->obj, "topic", json_pack("{s:s?,s:s?}",
		    "value", json_get_str(ev, "topic"), "creator",
		    json_get_str(ev, "user")));
	if (sub != NULL && strcmp(sub, "channel_purpose") == 0)
		json_object_set_new(c->obj, "purpose", json_pack("{s:s?,s:s?}",
		    "value", json_get_str(ev, "purpose"), "creator",
		    json_get_str(ev, "user")));

	team_message_new(t, c, ev);
	return EDGE_APPLY_OK;
}

static int
ev_reaction(struct edge_team *t, json_t *ev, struct edge_audience *a,
    int add)
{
	json_t *item = json_object_get(ev, "item");
	struct edge_channel *c = edge_team_channel(t, json_get_str(item,
	    "channel"));
	const char *name = json_get_str(ev, "reaction");
	const char *user = json_get_str(ev, "user");
	struct edge_msg *m;

	if (c == NULL || name == NULL || user == NULL)
		return EDGE_APPLY_BAD;
	a->kind = EDGE_AUD_CHANNEL;
	a->chan = c;
	m = edge_chan_msg_find(c, json_get_str(item, "ts"));
	if (m != NULL)
		msg_react(t, m, name, user, add);
	return EDGE_APPLY_OK;
}

/* channel_created, group_joined, im_created, mpim_joined. */
static int
ev_chan_new(struct edge_team *t, json_t *ev, struct edge_audience *a,
    int dflt_type)
{
	json_t *o = json_object_get(ev, "channel");
	struct edge_channel *c;
	struct edge_user *u;

	c = edge_team_chan_put(t, o, dflt_type);
	if (c == NULL)
		return EDGE_APPLY_BAD;

	/*
	 * A DM's two people: the event's user and the peer (named "peer"
	 * or the channel's "user"); whoever opens a group DM is in it.
	 */
	if (c->type == EDGE_CHAN_IM || c->type == EDGE_CHAN_MPIM) {
		if ((u = edge_team_user(t, json_get_str(ev, "user"))) != NULL)
			edge_team_member_add(u, c);
	}
	if (c->type == EDGE_CHAN_IM) {
		if ((u = edge_team_user(t, json_get_str(ev, "peer"))) != NULL)
			edge_team_member_add(u, c);
		if ((u = edge_team_user(t, json_get_str(o, "user"))) != NULL)
			edge_team_member_add(u, c);
	}
	aud_chan(a, c);
	return EDGE_APPLY_OK;
}

static int
ev_chan_rename(struct edge_team *t, json_t *ev, struct edge_audience *a)
{
	struct edge_channel *c = edge_team_ev_chan(t, ev);
	const char *name = json_get_str(json_object_get(ev, "channel"),
	    "name"), *label[1];

	if (c == NULL || name == NULL)
		return EDGE_APPLY_BAD;
	free(c->name);
	c->name = xstrdup(name);
	json_object_set_new(c->obj, "name", json_string(name));
	json_object_set_new(c->obj, "name_normalized", json_string(name));
	if (c->cpl != EDGE_CPL_NONE) {
		label[0] = c->name;
		edge_cpl_update(t->cpl, c->cpl, label, 1);
	}
	aud_chan(a, c);
	return EDGE_APPLY_OK;
}

static int
ev_chan_archive(struct edge_team *t, json_t *ev, struct edge_audience *a,
    int archived, int deleted)
{
	struct edge_channel *c = edge_team_ev_chan(t, ev);

	if (c == NULL)
		return EDGE_APPLY_BAD;
	aud_chan(a, c);
	c->archived = archived;
	if (deleted)
		c->deleted = 1;
	json_object_set_new(c->obj, "is_archived", json_boolean(archived));
	if (c->cpl != EDGE_CPL_NONE)
		edge_cpl_set_hidden(t->cpl, c->cpl, archived || c->deleted);
	return EDGE_APPLY_OK;
}

static int
ev_member(struct edge_team *t, json_t *ev, struct edge_audience *a, int join)
{
	struct edge_channel *c = edge_team_ev_chan(t, ev);
	struct edge_user *u = edge_team_user(t, json_get_str(ev, "user"));

	if (c == NULL || u == NULL)
		return EDGE_APPLY_BAD;
	if (join)
		edge_team_member_add(u, c);
	else
		edge_team_member_del(u, c);
	a->kind = EDGE_AUD_CHANNEL;
	a->chan = c;
	a->extra = u;
	return EDGE_APPLY_OK;
}

static int
ev_user(struct edge_team *t, json_t *ev, struct edge_audience *a)
{
	if (edge_team_user_put(t, json_object_get(ev, "user")) == NULL)
		return EDGE_APPLY_BAD;
	a->kind = EDGE_AUD_TEAM;
	return EDGE_APPLY_OK;
}

static int
ev_marked(struct edge_team *t, json_t *ev, struct edge_audience *a)
{
	struct edge_channel *c = edge_team_ev_chan(t, ev);
	struct edge_user *u = edge_team_user(t, json_get_str(ev, "user"));
	const char *ts = json_get_str(ev, "ts");
	struct edge_member *mb;

	if (c == NULL || u == NULL || !edge_ts_ok(ts))
		return EDGE_APPLY_BAD;
	a->kind = EDGE_AUD_USER;
	a->user = u;
	mb = edge_team_member(u, c);
	if (mb != NULL)
		team_mark(mb, ts, ev);
	return EDGE_APPLY_OK;
}

static int
ev_team_change(struct edge_team *t, json_t *ev, struct edge_audience *a)
{
	const char *name = json_get_str(ev, "name");
	const char *domain = json_get_str(ev, "domain");

	if (t->obj == NULL)
		t->obj = json_object();
	if (name != NULL)
		json_object_set_new(t->obj, "name", json_string(name));
	if (domain != NULL)
		json_object_set_new(t->obj, "domain", json_string(domain));
	a->kind = EDGE_AUD_TEAM;
	return EDGE_APPLY_OK;
}

/* Events about one user's own view, as the backend's RTM scopes them. */
static const char *const team_user_types[] = {
	"manual_presence_change", "pref_change", "im_open", "im_close",
	"group_open", "group_close", "mpim_close", "dnd_updated", NULL,
};

/*
 * The audience of an event the cache does not change for: the user it
 * is about for the types above, the members of the channel it names
 * (directly or as its item's), else the team.  Unknown channel: BAD.
 */
static int
team_aud_other(struct edge_team *t, json_t *ev, const char *type,
    struct edge_audience *a)
{
	json_t *ch = json_object_get(ev, "channel");
	json_t *item = json_object_get(ev, "item");
	struct edge_channel *c;
	size_t i;

	for (i = 0; team_user_types[i] != NULL; i++) {
		if (strcmp(type, team_user_types[i]) != 0)
			continue;
		a->user = edge_team_user(t, json_get_str(ev, "user"));
		if (a->user == NULL)
			return EDGE_APPLY_BAD;
		a->kind = EDGE_AUD_USER;
		return EDGE_APPLY_OK;
	}
	if (ch == NULL && json_is_object(item))
		ch = json_object_get(item, "channel");
	if (ch == NULL) {
		a->kind = EDGE_AUD_TEAM;
		return EDGE_APPLY_OK;
	}
	c = json_is_object(ch) ? edge_team_channel(t, json_get_str(ch, "id")) :
	    edge_team_channel(t, json_string_value(ch));
	if (c == NULL)
		return EDGE_APPLY_BAD;
	a->kind = EDGE_AUD_CHANNEL;
	a->chan = c;
	return EDGE_APPLY_OK;
}

/* Applies parsed event ev; fills a. */
static int
team_dispatch(struct edge_team *t, json_t *ev, struct edge_audience *a)
{
	const char *type = json_get_str(ev, "type");
	struct edge_channel *c;

	if (type == NULL)
		return EDGE_APPLY_BAD;
	if (strcmp(type, "message") == 0)
		return ev_message(t, ev, a);
	if (strcmp(type, "reaction_added") == 0)
		return ev_reaction(t, ev, a, 1);
	if (strcmp(type, "reaction_removed") == 0)
		return ev_reaction(t, ev, a, 0);
	if (strcmp(type, "channel_created") == 0)
		return ev_chan_new(t, ev, a, EDGE_CHAN_PUBLIC);
	if (strcmp(type, "group_joined") == 0)
		return ev_chan_new(t, ev, a, EDGE_CHAN_PRIVATE);
	if (strcmp(type, "im_created") == 0)
		return ev_chan_new(t, ev, a, EDGE_CHAN_IM);
	if (strcmp(type, "mpim_joined") == 0 || strcmp(type, "mpim_open") == 0)
		return ev_chan_new(t, ev, a, EDGE_CHAN_MPIM);
	if (strcmp(type, "channel_rename") == 0 ||
	    strcmp(type, "group_rename") == 0)
		return ev_chan_rename(t, ev, a);
	if (strcmp(type, "channel_archive") == 0 ||
	    strcmp(type, "group_archive") == 0)
		return ev_chan_archive(t, ev, a, 1, 0);
	if (strcmp(type, "channel_unarchive") == 0 ||
	    strcmp(type, "group_unarchive") == 0)
		return ev_chan_archive(t, ev, a, 0, 0);
	if (strcmp(type, "channel_deleted") == 0 ||
	    strcmp(type, "group_deleted") == 0)
		return ev_chan_archive(t, ev, a, 1, 1);
	if (strcmp(type, "member_joined_channel") == 0)
		return ev_member(t, ev, a, 1);
	if (strcmp(type, "member_left_channel") == 0)
		return ev_member(t, ev, a, 0);
	if (strcmp(type, "user_change") == 0 || strcmp(type, "team_join") == 0)
		return ev_user(t, ev, a);
	if (strcmp(type, "channel_marked") == 0 ||
	    strcmp(type, "group_marked") == 0 ||
	    strcmp(type, "im_marked") == 0 ||
	    strcmp(type, "mpim_marked") == 0)
		return ev_marked(t, ev, a);
	if (strcmp(type, "team_rename") == 0 ||
	    strcmp(type, "team_domain_change") == 0)
		return ev_team_change(t, ev, a);
	if (strcmp(type, "tombstone") == 0) {
		/* A deleted message's event, replayed: nobody sees it. */
		if ((c = edge_team_ev_chan(t, ev)) != NULL)
			edge_chan_msg_remove(c, json_get_str(ev, "ts"));
		return EDGE_APPLY_OK;
	}
	if (strcmp(type, "tokens_revoked") == 0)
		return EDGE_APPLY_OK; /* acted on, shown to nobody */
	return team_aud_other(t, ev, type, a);
}

/* Whether type is one of the NULL-terminated list. */
static int
type_in(const char *type, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(type, list[i]) == 0)
			return 1;
	return 0;
}

int
edge_team_audience(struct edge_team *t, const char *json, size_t len,
    struct edge_audience *a)
{
	static const char *const chan_changes[] = {
		"channel_created", "group_joined", "im_created",
		"mpim_joined", "mpim_open", "channel_rename", "group_rename",
		"channel_archive", "group_archive", "channel_unarchive",
		"group_unarchive", "channel_deleted", "group_deleted", NULL,
	};
	static const char *const marks[] = {
		"channel_marked", "group_marked", "im_marked", "mpim_marked",
		NULL,
	};
	static const char *const teamwide[] = {
		"user_change", "team_join", "team_rename",
		"team_domain_change", NULL,
	};
	const char *type;
	struct edge_channel *c;
	json_t *ev;
	char err[128];
	int r = EDGE_APPLY_OK;

	memset(a, 0, sizeof(*a));
	ev = json_parse_strict(json, len, EDGE_EVENT_MAX, EVENT_JSON_DEPTH, err,
	    sizeof(err));
	if (ev == NULL || !json_is_object(ev) ||
	    (type = json_get_str(ev, "type")) == NULL) {
		json_decref(ev);
		return EDGE_APPLY_BAD;
	}
	if (strcmp(type, "tombstone") == 0 ||
	    strcmp(type, "tokens_revoked") == 0) {
		/* nobody */
	} else if (type_in(type, teamwide)) {
		a->kind = EDGE_AUD_TEAM;
	} else if (type_in(type, marks)) {
		a->user = edge_team_user(t, json_get_str(ev, "user"));
		a->kind = a->user != NULL ? EDGE_AUD_USER : EDGE_AUD_NONE;
	} else if (type_in(type, chan_changes)) {
		if ((c = edge_team_ev_chan(t, ev)) != NULL)
			aud_chan(a, c);
		else
			r = EDGE_APPLY_BAD;
	} else if (strcmp(type, "member_joined_channel") == 0 ||
	    strcmp(type, "member_left_channel") == 0) {
		if ((c = edge_team_ev_chan(t, ev)) != NULL) {
			a->kind = EDGE_AUD_CHANNEL;
			a->chan = c;
			a->extra = edge_team_user(t, json_get_str(ev, "user"));
		} else {
			r = EDGE_APPLY_BAD;
		}
	} else {
		r = team_aud_other(t, ev, type, a);
	}
	json_decref(ev);
	return r;
}

int
edge_team_apply(struct edge_team *t, uint64_t seq, const char *json,
    size_t len, struct edge_audience *aud)
{
	struct edge_audience dummy;
	char err[128];
	json_t *ev;
	int r;

	if (aud == NULL)
		aud = &dummy;
	memset(aud, 0, sizeof(*aud));
	if (!t->ready || t->stale)
		return EDGE_APPLY_GAP;
	if (seq <= t->seq)
		return EDGE_APPLY_OLD;
	if (seq != t->seq + 1) {
		t->stale = 1;
		return EDGE_APPLY_GAP;
	}
	t->seq = seq;

	ev = json_parse_strict(json, len, EDGE_EVENT_MAX, EVENT_JSON_DEPTH, err,
	    sizeof(err));
	if (ev == NULL || !json_is_object(ev)) {
		json_decref(ev);
		return EDGE_APPLY_BAD;
	}
	r = team_dispatch(t, ev, aud);
	if (r != EDGE_APPLY_OK)
		memset(aud, 0, sizeof(*aud));
	json_decref(ev);
	return r;
}

int
edge_team_apply_ephemeral(struct edge_team *t, const char *json, size_t len,
    struct edge_audience *aud)
{
	struct edge_audience dummy;
	const char *type, *p;
	struct edge_channel *c;
	struct edge_user *u;
	json_t *ev, *users, *v;
	char err[128];
	size_t i;

	if (aud == NULL)
		aud = &dummy;
	memset(aud, 0, sizeof(*aud));
	ev = json_parse_strict(json, len, EDGE_EVENT_MAX, EVENT_JSON_DEPTH, err,
	    sizeof(err));
	if (ev == NULL || !json_is_object(ev) ||
	    (type = json_get_str(ev, "type")) == NULL) {
		json_decref(ev);
		return EDGE_APPLY_BAD;
	}

	if (strcmp(type, "presence_change") == 0) {
		p = json_get_str(ev, "presence");
		users = json_object_get(ev, "users");
		if (!json_is_array(users)) {
			users = json_array();
			json_array_append(users, json_object_get(ev, "user"));
		} else {
			json_incref(users);
		}
		json_array_foreach(users, i, v) {
			u = edge_team_user(t, json_string_value(v));
			if (u != NULL && p != NULL)
				u->presence = strcmp(p, "active") == 0 ?
				    EDGE_PRESENCE_ACTIVE : EDGE_PRESENCE_AWAY;
		}
		json_decref(users);
		aud->kind = EDGE_AUD_TEAM;
	} else if ((c = edge_team_ev_chan(t, ev)) != NULL) {
		aud->kind = EDGE_AUD_CHANNEL;
		aud->chan = c;
	} else if (json_object_get(ev, "channel") == NULL) {
		aud->kind = EDGE_AUD_TEAM;
	} else {
		/* A channel this cache does not know. */
		json_decref(ev);
		return EDGE_APPLY_BAD;
	}
	json_decref(ev);
	return EDGE_APPLY_OK;
}
