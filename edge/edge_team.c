/*
 * edge_team: the per-team cache an edge keeps warm (see edge.h).
 *
 * A team is loaded from a snapshot and then follows the team's event
 * stream, one persisted event at a time, in sequence order:
 *
 *   empty --snapshot_begin--> loading --parts...--> --snapshot_end--> ready
 *   ready --event seq+1--> ready
 *   ready --event beyond seq+1--> stale  (the caller asks for a snapshot;
 *                                          events are refused until then)
 *
 * Events are applied by edge_event.c; this file holds the structure,
 * its lookups, the changes both share, and snapshot loading.
 *
 * Users and channels are sorted arrays of pointers (binary search by id,
 * stable paging for users.list).  A membership is one struct shared by
 * the user's and the channel's arrays.  Unread counts: each channel
 * counts the messages it received since the snapshot (msg_ord); each
 * membership holds the count at its read mark (read_ord), which may be
 * negative after a snapshot said how many were unread, so that a message
 * costs O(1) whatever the size of the channel.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "json.h"
#include "log.h"
#include "stream.h"
#include "util.h"
#include "xmalloc.h"

#define TEAM_JSON_DEPTH 32
#define TEAM_MENTIONS_MAX 32 /* user mentions looked up per message */

/* Index of the first element of a (n pointers) whose id is >= id. */
#define TEAM_LOWER(a, n, key, field, out)                                   \
	do {                                                                \
		size_t lo_ = 0, hi_ = (n), mid_;                            \
		while (lo_ < hi_) {                                         \
			mid_ = lo_ + (hi_ - lo_) / 2;                       \
			if (strcmp((a)[mid_]->field, (key)) < 0)            \
				lo_ = mid_ + 1;                             \
			else                                                \
				hi_ = mid_;                                 \
		}                                                           \
		(out) = lo_;                                                \
	} while (0)

/* Inserts p at index i of a growable pointer array. */
static void
team_insert(void ***a, size_t *n, size_t *cap, size_t i, void *p)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*a = xreallocarray(*a, *cap, sizeof(**a));
	}
	memmove(*a + i + 1, *a + i, (*n - i) * sizeof(**a));
	(*a)[i] = p;
	(*n)++;
}

struct edge_team *
edge_team_new(const char *id, size_t recent_max)
{
	struct edge_team *t = xcalloc(1, sizeof(*t));

	t->id = xstrdup(id);
	t->recent_max = recent_max ? recent_max : EDGE_RECENT_DEFAULT;
	t->cpl = edge_cpl_new();
	return t;
}

static void
msg_clear(struct edge_msg *m)
{
	free(m->json);
	free(m->mentions);
	memset(m, 0, sizeof(*m));
}

static void
user_free(struct edge_user *u)
{
	free(u->id);
	free(u->name);
	free(u->real_name);
	free(u->display_name);
	free(u->json);
	free(u->chans);
	free(u->chan_cpl);
	free(u);
}

static void
chan_free(struct edge_channel *c)
{
	size_t i;

	for (i = 0; i < c->nmembers; i++)
		free(c->members[i]);
	for (i = 0; i < c->nrecent; i++)
		msg_clear(&c->recent[i]);
	free(c->recent);
	free(c->members);
	free(c->member_cpl);
	json_decref(c->obj);
	free(c->id);
	free(c->name);
	free(c);
}

/* Drops everything the team holds but its id and settings. */
static void
team_clear(struct edge_team *t)
{
	size_t i;

	for (i = 0; i < t->nchans; i++)
		chan_free(t->chans[i]);
	for (i = 0; i < t->nusers; i++)
		user_free(t->users[i]);
	free(t->chans);
	free(t->users);
	t->chans = NULL;
	t->users = NULL;
	t->nchans = t->chans_cap = 0;
	t->nusers = t->users_cap = 0;
	edge_cpl_free(t->cpl);
	t->cpl = edge_cpl_new();
	json_decref(t->obj);
	t->obj = NULL;
	t->ready = 0;
	t->stale = 0;
	t->seq = 0;
	t->epoch[0] = '\0';
}

void
edge_team_free(struct edge_team *t)
{
	if (t == NULL)
		return;
	team_clear(t);
	edge_cpl_free(t->cpl);
	free(t->id);
	free(t);
}

struct edge_user *
edge_team_user(const struct edge_team *t, const char *id)
{
	size_t i;

	if (id == NULL)
		return NULL;
	TEAM_LOWER(t->users, t->nusers, id, id, i);
	if (i < t->nusers && strcmp(t->users[i]->id, id) == 0)
		return t->users[i];
	return NULL;
}

struct edge_channel *
edge_team_channel(const struct edge_team *t, const char *id)
{
	size_t i;

	if (id == NULL)
		return NULL;
	TEAM_LOWER(t->chans, t->nchans, id, id, i);
	if (i < t->nchans && strcmp(t->chans[i]->id, id) == 0)
		return t->chans[i];
	return NULL;
}

struct edge_member *
edge_team_member(const struct edge_user *u, const struct edge_channel *c)
{
	size_t lo = 0, hi = u->nchans, mid;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = strcmp(u->chans[mid]->chan->id, c->id);
		if (r == 0)
			return u->chans[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
edge_team_can_see(const struct edge_user *u, const struct edge_channel *c)
{
	if (c->deleted)
		return 0;
	if (c->type == EDGE_CHAN_PUBLIC)
		return 1;
	return edge_team_member(u, c) != NULL;
}

int
edge_team_aud_sees(const struct edge_audience *a, const struct edge_user *u)
{
	if (u == NULL)
		return 0;
	if (a->extra == u)
		return 1;
	switch (a->kind) {
	case EDGE_AUD_TEAM:
		return 1;
	case EDGE_AUD_CHANNEL:
		return a->chan != NULL && edge_team_member(u, a->chan) != NULL;
	case EDGE_AUD_USER:
		return a->user == u;
	default:
		return 0;
	}
}

int64_t
edge_member_unread(const struct edge_member *m)
{
	int64_t n = m->chan->msg_ord - m->read_ord;

	return n > 0 ? n : 0;
}

int64_t
edge_member_mentions(const struct edge_member *m)
{
	/* Every unread message of a direct conversation names the reader. */
	if (m->chan->type == EDGE_CHAN_IM)
		return edge_member_unread(m);
	return m->mentions > 0 ? m->mentions : 0;
}

/* A string field as a new copy ("" when absent). */
static char *
team_strdup_field(const json_t *o, const char *key)
{
	const char *s = json_get_str(o, key);

	return xstrdup(s != NULL ? s : "");
}

static void
user_labels(const struct edge_user *u, const char *labels[3])
{
	labels[0] = u->name;
	labels[1] = u->display_name;
	labels[2] = u->real_name;
}

/*
 * Adds or replaces a user from its object.  Returns the user, or NULL
 * when the object has no id.
 */
struct edge_user *
edge_team_user_put(struct edge_team *t, json_t *o)
{
	const char *id = json_get_str(o, "id"), *labels[3], *rn;
	json_t *profile = json_object_get(o, "profile");
	struct edge_user *u;
	size_t i;
	int isnew = 0;

	if (id == NULL || id[0] == '\0' || !json_is_object(o))
		return NULL;
	u = edge_team_user(t, id);
	if (u == NULL) {
		u = xcalloc(1, sizeof(*u));
		u->id = xstrdup(id);
		u->cpl = EDGE_CPL_NONE;
		TEAM_LOWER(t->users, t->nusers, id, id, i);
		team_insert((void ***)&t->users, &t->nusers, &t->users_cap, i,
		    u);
		isnew = 1;
	} else {
		free(u->name);
		free(u->real_name);
		free(u->display_name);
		free(u->json);
	}

	u->name = team_strdup_field(o, "name");
	rn = json_get_str(o, "real_name");
	if (rn == NULL && json_is_object(profile))
		rn = json_get_str(profile, "real_name");
	u->real_name = xstrdup(rn != NULL ? rn : "");
	u->display_name = json_is_object(profile) ?
	    team_strdup_field(profile, "display_name") : xstrdup("");
	u->deleted = json_get_bool(o, "deleted", 0);
	u->is_bot = json_get_bool(o, "is_bot", 0);
	u->json = json_dump_compact(o, &u->json_len);

	user_labels(u, labels);
	if (isnew)
		u->cpl = edge_cpl_add(t->cpl, EDGE_CPL_USER, u->id, labels, 3,
		    u);
	else
		edge_cpl_update(t->cpl, u->cpl, labels, 3);
	edge_cpl_set_hidden(t->cpl, u->cpl, u->deleted);
	return u;
}

/* Keys of a conversation object that depend on who asks. */
static const char *chan_user_keys[] = {"is_member", "last_read",
    "unread_count", "unread_count_display", "mention_count", "members",
    "num_members", "latest"};

static int
chan_type_of(const json_t *o, int dflt)
{
	if (json_get_bool(o, "is_im", 0))
		return EDGE_CHAN_IM;
	if (json_get_bool(o, "is_mpim", 0))
		return EDGE_CHAN_MPIM;
	if (json_get_bool(o, "is_private", 0) ||
	    json_get_bool(o, "is_group", 0))
		return EDGE_CHAN_PRIVATE;
	return dflt;
}

/*
 * Adds or replaces a channel from its conversation object; a "members"
 * array of user ids in it adds those memberships.  dflt_type is used
 * when the object says nothing (im_created).  Returns the channel or
 * NULL when the object has no id.
 */
struct edge_channel *
edge_team_chan_put(struct edge_team *t, json_t *o, int dflt_type)
{
	const char *id = json_get_str(o, "id"), *label[1];
	json_t *members = json_object_get(o, "members"), *v;
	struct edge_channel *c;
	struct edge_user *u;
	size_t i;

	if (id == NULL || id[0] == '\0' || !json_is_object(o))
		return NULL;
	c = edge_team_channel(t, id);
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->id = xstrdup(id);
		c->cpl = EDGE_CPL_NONE;
		c->recent = xcalloc(t->recent_max, sizeof(*c->recent));
		TEAM_LOWER(t->chans, t->nchans, id, id, i);
		team_insert((void ***)&t->chans, &t->nchans, &t->chans_cap, i,
		    c);
	} else {
		free(c->name);
		json_decref(c->obj);
	}

	c->name = team_strdup_field(o, "name");
	c->type = chan_type_of(o, dflt_type);
	c->archived = json_get_bool(o, "is_archived", 0);
	c->deleted = 0;
	c->obj = json_deep_copy(o);
	if (c->obj == NULL)
		fatalx("team_chan_put: out of memory");
	for (i = 0; i < sizeof(chan_user_keys) / sizeof(chan_user_keys[0]);
	     i++)
		json_object_del(c->obj, chan_user_keys[i]);

	/* Direct conversations are found through their users instead. */
	if (c->type == EDGE_CHAN_PUBLIC || c->type == EDGE_CHAN_PRIVATE) {
		label[0] = c->name;
		if (c->cpl == EDGE_CPL_NONE)
			c->cpl = edge_cpl_add(t->cpl, EDGE_CPL_CHANNEL, c->id,
			    label, 1, c);
		else
			edge_cpl_update(t->cpl, c->cpl, label, 1);
		edge_cpl_set_hidden(t->cpl, c->cpl, c->archived);
	}

	json_array_foreach(members, i, v) {
		u = edge_team_user(t, json_string_value(v));
		if (u != NULL)
			edge_team_member_add(u, c);
	}
	return c;
}

/*
 * Inserts p at index i of a pointer array and v at the same index of
 * its parallel array of entry numbers; both grow together.
 */
static void
team_insert2(void ***a, uint32_t **par, size_t *n, size_t *cap, size_t i,
    void *p, uint32_t v)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*a = xreallocarray(*a, *cap, sizeof(**a));
		*par = xreallocarray(*par, *cap, sizeof(**par));
	}
	memmove(*a + i + 1, *a + i, (*n - i) * sizeof(**a));
	memmove(*par + i + 1, *par + i, (*n - i) * sizeof(**par));
	(*a)[i] = p;
	(*par)[i] = v;
	(*n)++;
}

static void
team_remove2(void **a, uint32_t *par, size_t *n, size_t i)
{
	memmove(a + i, a + i + 1, (*n - i - 1) * sizeof(*a));
	memmove(par + i, par + i + 1, (*n - i - 1) * sizeof(*par));
	(*n)--;
}

/* Adds u to c (nothing if already a member); the new member is read up. */
void
edge_team_member_add(struct edge_user *u, struct edge_channel *c)
{
	struct edge_member *m;
	size_t i;

	if (edge_team_member(u, c) != NULL)
		return;
	m = xcalloc(1, sizeof(*m));
	m->user = u;
	m->chan = c;
	m->read_ord = c->msg_ord;
	util_strlcpy(m->last_read, c->latest, sizeof(m->last_read));

	TEAM_LOWER(c->members, c->nmembers, u->id, user->id, i);
	team_insert2((void ***)&c->members, &c->member_cpl, &c->nmembers,
	    &c->members_cap, i, m, u->cpl);
	TEAM_LOWER(u->chans, u->nchans, c->id, chan->id, i);
	team_insert2((void ***)&u->chans, &u->chan_cpl, &u->nchans,
	    &u->chans_cap, i, m, c->cpl);
}

void
edge_team_member_del(struct edge_user *u, struct edge_channel *c)
{
	struct edge_member *m = edge_team_member(u, c);
	size_t i;

	if (m == NULL)
		return;
	TEAM_LOWER(c->members, c->nmembers, u->id, user->id, i);
	team_remove2((void **)c->members, c->member_cpl, &c->nmembers, i);
	TEAM_LOWER(u->chans, u->nchans, c->id, chan->id, i);
	team_remove2((void **)u->chans, u->chan_cpl, &u->nchans, i);
	free(m);
}

/*
 * Orders two ts strings "seconds.micros" as numbers: a longer integer
 * part is larger, else bytewise.
 */
int
edge_ts_cmp(const char *a, const char *b)
{
	size_t la = strcspn(a, "."), lb = strcspn(b, ".");

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

int
edge_ts_ok(const char *ts)
{
	return ts != NULL && ts[0] != '\0' && strlen(ts) < EDGE_TS_MAX;
}

struct edge_msg *
edge_chan_msg_find(struct edge_channel *c, const char *ts)
{
	size_t i;

	if (ts == NULL)
		return NULL;
	for (i = c->nrecent; i-- > 0;)
		if (strcmp(c->recent[i].ts, ts) == 0)
			return &c->recent[i];
	return NULL;
}

/* The users a message names with <@U...> in its text (members or not). */
static void
msg_find_mentions(struct edge_team *t, struct edge_msg *m, const json_t *o)
{
	const char *text = json_get_str(o, "text"), *p, *end;
	struct edge_user *u, *found[TEAM_MENTIONS_MAX];
	char id[64];
	size_t n = 0, len, i;

	for (p = text; p != NULL && n < TEAM_MENTIONS_MAX;) {
		p = strstr(p, "<@");
		if (p == NULL)
			break;
		p += 2;
		end = p + strcspn(p, ">|");
		len = (size_t)(end - p);
		if (*end == '\0' || len == 0 || len >= sizeof(id))
			continue;
		memcpy(id, p, len);
		id[len] = '\0';
		u = edge_team_user(t, id);
		for (i = 0; u != NULL && i < n; i++)
			if (found[i] == u)
				u = NULL;
		if (u != NULL)
			found[n++] = u;
	}
	free(m->mentions);
	m->mentions = NULL;
	m->nmentions = n;
	if (n > 0) {
		m->mentions = xreallocarray(NULL, n, sizeof(*m->mentions));
		memcpy(m->mentions, found, n * sizeof(*found));
	}
}

void
edge_msg_set(struct edge_team *t, struct edge_msg *m, const json_t *o)
{
	free(m->json);
	m->json = json_dump_compact(o, &m->json_len);
	msg_find_mentions(t, m, o);
}

int
edge_msg_mentions(const struct edge_msg *m, const struct edge_user *u)
{
	size_t i;

	for (i = 0; i < m->nmentions; i++)
		if (m->mentions[i] == u)
			return 1;
	return 0;
}

/*
 * Appends message o to c's recent messages, dropping the oldest past
 * the team's bound, and counts it.  counted: 1 for a new message (it
 * moves unread counts), 0 when loading a snapshot's history.
 */
struct edge_msg *
edge_chan_msg_append(struct edge_team *t, struct edge_channel *c,
    const json_t *o, int counted)
{
	const char *ts = json_get_str(o, "ts");
	struct edge_msg *m;
	size_t at;

	if (!edge_ts_ok(ts))
		return NULL;
	if (edge_chan_msg_find(c, ts) != NULL)
		return NULL;
	if (c->nrecent == t->recent_max) {
		msg_clear(&c->recent[0]);
		memmove(&c->recent[0], &c->recent[1],
		    (c->nrecent - 1) * sizeof(*c->recent));
		c->nrecent--;
		memset(&c->recent[c->nrecent], 0, sizeof(*c->recent));
	}

	/* Messages arrive in ts order; a late one still goes in its place. */
	at = c->nrecent;
	while (at > 0 && edge_ts_cmp(c->recent[at - 1].ts, ts) > 0)
		at--;
	memmove(&c->recent[at + 1], &c->recent[at],
	    (c->nrecent - at) * sizeof(*c->recent));
	c->nrecent++;
	m = &c->recent[at];
	memset(m, 0, sizeof(*m));
	util_strlcpy(m->ts, ts, sizeof(m->ts));
	edge_msg_set(t, m, o);
	if (counted)
		m->ord = ++c->msg_ord;
	else
		m->ord = c->msg_ord;
	if (edge_ts_cmp(ts, c->latest) > 0)
		util_strlcpy(c->latest, ts, sizeof(c->latest));
	return m;
}

void
edge_chan_msg_remove(struct edge_channel *c, const char *ts)
{
	struct edge_msg *m = edge_chan_msg_find(c, ts);
	size_t i;

	if (m == NULL)
		return;
	i = (size_t)(m - c->recent);
	msg_clear(m);
	memmove(&c->recent[i], &c->recent[i + 1],
	    (c->nrecent - i - 1) * sizeof(*c->recent));
	c->nrecent--;
	memset(&c->recent[c->nrecent], 0, sizeof(*c->recent));
}

/* The channel an event names, by id string or by object with an id. */
struct edge_channel *
edge_team_ev_chan(struct edge_team *t, json_t *ev)
{
	json_t *v = json_object_get(ev, "channel");

	if (json_is_object(v))
		return edge_team_channel(t, json_get_str(v, "id"));
	return edge_team_channel(t, json_string_value(v));
}

int
edge_team_snapshot_begin(struct edge_team *t, const char *epoch, uint64_t seq,
    const char *team_json, size_t len, const char **err)
{
	char perr[128];
	json_t *o;

	team_clear(t);
	if (epoch == NULL || epoch[0] == '\0' ||
	    strlen(epoch) >= sizeof(t->epoch)) {
		*err = "bad epoch";
		return -1;
	}
	o = json_parse_strict(team_json, len, EDGE_EVENT_MAX, TEAM_JSON_DEPTH,
	    perr, sizeof(perr));
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		*err = "bad team object";
		return -1;
	}
	t->obj = o;
	util_strlcpy(t->epoch, epoch, sizeof(t->epoch));
	t->seq = seq;
	return 0;
}

/* {"channel":C,"members":[{"user":U,"last_read":ts,...}|"U",...]} */
static int
snap_members(struct edge_team *t, json_t *rec)
{
	struct edge_channel *c = edge_team_ev_chan(t, rec);
	json_t *list = json_object_get(rec, "members"), *m, *v;
	struct edge_member *mb;
	struct edge_user *u;
	const char *lr;
	size_t i;

	if (c == NULL || !json_is_array(list))
		return -1;
	json_array_foreach(list, i, m) {
		if (json_is_string(m)) {
			u = edge_team_user(t, json_string_value(m));
			if (u != NULL)
				edge_team_member_add(u, c);
			continue;
		}
		u = edge_team_user(t, json_get_str(m, "user"));
		if (u == NULL)
			continue;
		edge_team_member_add(u, c);
		mb = edge_team_member(u, c);
		lr = json_get_str(m, "last_read");
		if (edge_ts_ok(lr))
			util_strlcpy(mb->last_read, lr, sizeof(mb->last_read));
		v = json_object_get(m, "unread_count");
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			mb->read_ord = c->msg_ord - json_integer_value(v);
		v = json_object_get(m, "mention_count");
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			mb->mentions = json_integer_value(v);
	}
	return 0;
}

/* {"channel":C,"messages":[oldest..newest]} */
static int
snap_messages(struct edge_team *t, json_t *rec)
{
	struct edge_channel *c = edge_team_ev_chan(t, rec);
	json_t *list = json_object_get(rec, "messages"), *m;
	size_t i;

	if (c == NULL || !json_is_array(list))
		return -1;
	json_array_foreach(list, i, m)
		if (json_is_object(m))
			edge_chan_msg_append(t, c, m, 0);
	return 0;
}

/* {"user":U,"presence":"active"|"away"} */
static int
snap_presence(struct edge_team *t, json_t *rec)
{
	struct edge_user *u = edge_team_user(t, json_get_str(rec, "user"));
	const char *p = json_get_str(rec, "presence");

	if (u == NULL || p == NULL)
		return -1;
	u->presence = strcmp(p, "active") == 0 ? EDGE_PRESENCE_ACTIVE :
	    EDGE_PRESENCE_AWAY;
	return 0;
}

int
edge_team_snapshot_part(struct edge_team *t, int kind, const char *json,
    size_t len, const char **err)
{
	char perr[128];
	json_t *list, *rec;
	size_t i;
	int bad = 0;

	if (t->obj == NULL || t->ready || t->stale) {
		*err = "snapshot part outside a snapshot";
		return -1;
	}
	if (kind < EDGE_SNAP_USERS || kind > EDGE_SNAP_MESSAGES) {
		*err = "unknown snapshot part";
		return -1;
	}
	list = json_parse_strict(json, len, EDGE_PART_MAX, TEAM_JSON_DEPTH,
	    perr, sizeof(perr));
	if (list == NULL || !json_is_array(list)) {
		json_decref(list);
		*err = "snapshot part is not a JSON array";
		return -1;
	}
	json_array_foreach(list, i, rec) {
		if (!json_is_object(rec)) {
			bad++;
			continue;
		}
		switch (kind) {
		case EDGE_SNAP_USERS:
			bad += edge_team_user_put(t, rec) == NULL;
			break;
		case EDGE_SNAP_CHANNELS:
			bad += edge_team_chan_put(t, rec,
			    EDGE_CHAN_PUBLIC) == NULL;
			break;
		case EDGE_SNAP_MEMBERS:
			bad += snap_members(t, rec) == -1;
			break;
		case EDGE_SNAP_PRESENCE:
			bad += snap_presence(t, rec) == -1;
			break;
		case EDGE_SNAP_MESSAGES:
			bad += snap_messages(t, rec) == -1;
			break;
		default:
			break;
		}
	}
	json_decref(list);
	if (bad > 0) {
		/* Refuse the rest: the snapshot must be taken again. */
		t->stale = 1;
		*err = "snapshot part holds malformed records";
		return -1;
	}
	return 0;
}

int
edge_team_snapshot_end(struct edge_team *t, const char **err)
{
	if (t->obj == NULL || t->stale) {
		*err = "snapshot end without a whole snapshot";
		return -1;
	}
	t->ready = 1;
	t->stale = 0;
	return 0;
}

size_t
edge_team_memory(const struct edge_team *t)
{
	size_t n, i, j;

	n = malloc_usable_size((void *)t) + malloc_usable_size(t->id) +
	    malloc_usable_size(t->users) + malloc_usable_size(t->chans) +
	    edge_cpl_memory(t->cpl);
	for (i = 0; i < t->nusers; i++) {
		const struct edge_user *u = t->users[i];

		n += malloc_usable_size((void *)u) + malloc_usable_size(u->id) +
		    malloc_usable_size(u->name) +
		    malloc_usable_size(u->real_name) +
		    malloc_usable_size(u->display_name) +
		    malloc_usable_size(u->json) + malloc_usable_size(u->chans) +
		    malloc_usable_size(u->chan_cpl);
	}
	for (i = 0; i < t->nchans; i++) {
		const struct edge_channel *c = t->chans[i];

		n += malloc_usable_size((void *)c) + malloc_usable_size(c->id) +
		    malloc_usable_size(c->name) +
		    malloc_usable_size(c->members) +
		    malloc_usable_size(c->member_cpl) +
		    malloc_usable_size(c->recent);
		/* The conversation object: its dumped size, roughly twice. */
		if (c->obj != NULL) {
			char *d = json_dump_compact(c->obj, NULL);

			n += 2 * strlen(d);
			free(d);
		}
		for (j = 0; j < c->nmembers; j++)
			n += malloc_usable_size(c->members[j]);
		for (j = 0; j < c->nrecent; j++)
			n += malloc_usable_size(c->recent[j].json) +
			    malloc_usable_size(c->recent[j].mentions);
	}
	return n;
}

static int
str_is(const struct stream_str *s, const char *cs)
{
	return s->p != NULL && s->len == strlen(cs) &&
	    memcmp(s->p, cs, s->len) == 0;
}

int
edge_team_frame(struct edge_team *t, const struct stream_msg *m,
    struct edge_audience *aud, const char **err)
{
	struct edge_audience dummy;
	char epoch[EDGE_EPOCH_MAX];
	struct edge_user *u;
	int r;

	if (aud == NULL)
		aud = &dummy;
	memset(aud, 0, sizeof(*aud));
	if (!str_is(&m->team, t->id)) {
		*err = "frame for another team";
		return -1;
	}
	switch (m->type) {
	case STREAM_SNAPSHOT:
		if (m->epoch.len >= sizeof(epoch)) {
			*err = "bad epoch";
			return -1;
		}
		memcpy(epoch, m->epoch.p, m->epoch.len);
		epoch[m->epoch.len] = '\0';
		if (edge_team_snapshot_begin(t, epoch, m->seq, m->json.p,
		    m->json.len, err) == -1)
			return -1;
		return EDGE_APPLY_OK;
	case STREAM_SNAPSHOT_PART:
		if (edge_team_snapshot_part(t, (int)m->kind, m->json.p,
		    m->json.len, err) == -1)
			return -1;
		return EDGE_APPLY_OK;
	case STREAM_SNAPSHOT_END:
		if (m->seq != t->seq) {
			*err = "snapshot end at another seq";
			return -1;
		}
		return edge_team_snapshot_end(t, err) == -1 ? -1 :
		    EDGE_APPLY_OK;
	case STREAM_RESUME:
		/* Only what the cache holds can be resumed. */
		if (!t->ready || t->stale || !str_is(&m->epoch, t->epoch) ||
		    m->seq != t->seq) {
			t->stale = 1;
			return EDGE_APPLY_GAP;
		}
		return EDGE_APPLY_OK;
	case STREAM_EVENT:
		return edge_team_apply(t, m->seq, m->json.p, m->json.len, aud);
	case STREAM_EPHEMERAL:
		r = edge_team_apply_ephemeral(t, m->json.p, m->json.len, aud);
		if (r == EDGE_APPLY_OK && m->user.p != NULL) {
			char id[STREAM_ID_MAX + 1];

			memcpy(id, m->user.p, m->user.len);
			id[m->user.len] = '\0';
			u = edge_team_user(t, id);
			memset(aud, 0, sizeof(*aud));
			if (u == NULL)
				return EDGE_APPLY_BAD;
			aud->kind = EDGE_AUD_USER;
			aud->user = u;
		}
		return r;
	default:
		*err = "not a team frame";
		return -1;
	}
}
