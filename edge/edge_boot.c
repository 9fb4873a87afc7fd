/*
 * edge_boot: answers built from a team's cache (see edge.h and
 * docs/edge.md): the slim boot, the full boot it replaces, and the
 * lazy-loading methods users.info, users.list, conversations.info,
 * conversations.list and conversations.members in the shapes the
 * backend gives (backend/api_conv.c, backend/api_users.c).
 *
 * User objects are kept as the JSON text the backend sent and are
 * copied into answers as they are; everything else is built with
 * jansson.  Cursors are base64url of "<kind>:<last id>" (u: users, l:
 * channels, m: members): positions in id order, which reveal nothing a
 * caller could not list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define BOOT_USERS_DEF 200
#define BOOT_CHANS_DEF 100
#define BOOT_LIST_MAX  1000
#define BOOT_CURSOR_MAX 128

static char *
boot_dump(json_t *o, size_t *len)
{
	char *s = json_dump_compact(o, len);

	json_decref(o);
	return s;
}

static char *
boot_error(const char *error, size_t *len)
{
	return boot_dump(json_slack_error(error), len);
}

/* A cursor for position "kind:id" into out (BOOT_CURSOR_MAX bytes). */
static void
boot_cursor_make(char kind, const char *id, char *out)
{
	char pos[BOOT_CURSOR_MAX / 2];
	int n;

	n = snprintf(pos, sizeof(pos), "%c:%s", kind, id);
	if (n < 0 || (size_t)n >= sizeof(pos) ||
	    util_b64url_encode(pos, (size_t)n, out, BOOT_CURSOR_MAX) < 0)
		out[0] = '\0';
}

/*
 * The id after which a cursor of kind resumes, into id (idlen bytes):
 * "" for no cursor.  Returns 0, or -1 for a cursor that is not ours.
 */
static int
boot_cursor_parse(const char *cursor, char kind, char *id, size_t idlen)
{
	char raw[BOOT_CURSOR_MAX];
	int n;

	id[0] = '\0';
	if (cursor == NULL || cursor[0] == '\0')
		return 0;
	if (strlen(cursor) >= BOOT_CURSOR_MAX)
		return -1;
	n = util_b64url_decode(cursor, strlen(cursor), raw, sizeof(raw) - 1);
	if (n < 3 || raw[0] != kind || raw[1] != ':' ||
	    memchr(raw, '\0', (size_t)n) != NULL || (size_t)n - 2 >= idlen)
		return -1;
	memcpy(id, raw + 2, (size_t)n - 2);
	id[n - 2] = '\0';
	return 0;
}

static size_t
boot_limit(size_t limit, size_t def)
{
	if (limit == 0)
		return def;
	return limit > BOOT_LIST_MAX ? BOOT_LIST_MAX : limit;
}

/* The self object of a slim boot: who the user is, without the profile. */
static json_t *
boot_self(const struct edge_user *u)
{
	char err[64];
	json_t *full, *self;

	full = json_parse_strict(u->json, u->json_len, EDGE_EVENT_MAX, 32, err,
	    sizeof(err));
	self = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", u->id, "name",
	    u->name, "real_name", u->real_name, "display_name",
	    u->display_name, "presence",
	    u->presence == EDGE_PRESENCE_ACTIVE ? "active" : "away");
	if (full != NULL) {
		static const char *keys[] = {"team_id", "is_admin", "is_owner",
		    "is_bot", "tz", "tz_offset"};
		size_t i;
		json_t *v;

		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if ((v = json_object_get(full, keys[i])) != NULL)
				json_object_set(self, keys[i], v);
		json_decref(full);
	}
	return self;
}

/* The team object: what the snapshot gave. */
static json_t *
boot_team(const struct edge_team *t)
{
	if (t->obj != NULL)
		return json_deep_copy(t->obj);
	return json_pack("{s:s}", "id", t->id);
}

/*
 * The other person of an IM as asker sees it: the member who is not
 * asker (asker for an IM with oneself), else the stored "user".
 */
static const char *
boot_im_peer(const struct edge_channel *c, const struct edge_user *asker)
{
	const char *v;
	size_t i;

	for (i = 0; i < c->nmembers; i++)
		if (c->members[i]->user != asker)
			return c->members[i]->user->id;
	if (edge_team_member(asker, c) != NULL)
		return asker->id;
	v = json_get_str(c->obj, "user");
	return v != NULL ? v : "";
}

/*
 * One channel of the slim boot: identity, type, read state and counts;
 * topic, purpose and members are left to conversations.info.
 */
static json_t *
boot_slim_chan(const struct edge_member *m)
{
	const struct edge_channel *c = m->chan;
	int64_t unread = edge_member_unread(m);
	json_t *o;

	o = json_pack("{s:s,s:s,s:b,s:b,s:b,s:b,s:b,s:b}", "id", c->id, "name",
	    c->name, "is_channel", c->type == EDGE_CHAN_PUBLIC, "is_group",
	    c->type == EDGE_CHAN_PRIVATE, "is_im", c->type == EDGE_CHAN_IM,
	    "is_mpim", c->type == EDGE_CHAN_MPIM, "is_private",
	    c->type != EDGE_CHAN_PUBLIC, "is_archived", c->archived);
	if (c->type == EDGE_CHAN_IM)
		json_object_set_new(o, "user", json_string(boot_im_peer(c,
		    m->user)));
	if (json_get_bool(c->obj, "is_general", 0))
		json_object_set_new(o, "is_general", json_true());
	json_object_set_new(o, "last_read", json_string(m->last_read));
	json_object_set_new(o, "latest", c->latest[0] != '\0' ?
	    json_string(c->latest) : json_null());
	json_object_set_new(o, "unread_count", json_integer(unread));
	json_object_set_new(o, "unread_count_display", json_integer(unread));
	json_object_set_new(o, "mention_count",
	    json_integer(edge_member_mentions(m)));
	return o;
}

char *
edge_boot_slim(const struct edge_team *t, const struct edge_user *asker,
    size_t *len)
{
	json_t *o, *chans;
	size_t i;

	chans = json_array();
	for (i = 0; i < asker->nchans; i++) {
		const struct edge_member *m = asker->chans[i];

		if (m->chan->deleted)
			continue;
		json_array_append_new(chans, boot_slim_chan(m));
	}
	o = json_slack_ok();
	json_object_set_new(o, "self", boot_self(asker));
	json_object_set_new(o, "team", boot_team(t));
	json_object_set_new(o, "channels", chans);
	json_object_set_new(o, "epoch", json_string(t->epoch));
	json_object_set_new(o, "seq", json_integer((json_int_t)t->seq));
	return boot_dump(o, len);
}

/*
 * The conversation object as asker sees it, as the backend gives it:
 * the stored object with is_member, is_open (IM) and last_read.
 */
static json_t *
boot_chan_view(const struct edge_channel *c, const struct edge_user *asker,
    int num_members)
{
	const struct edge_member *m = edge_team_member(asker, c);
	json_t *o = json_deep_copy(c->obj);

	if (o == NULL)
		fatalx("boot_chan_view: out of memory");
	json_object_set_new(o, "is_member", json_boolean(m != NULL));
	if (c->type == EDGE_CHAN_IM) {
		json_object_set_new(o, "is_open", json_true());
		json_object_set_new(o, "user", json_string(boot_im_peer(c,
		    asker)));
	}
	if (m != NULL && m->last_read[0] != '\0')
		json_object_set_new(o, "last_read", json_string(m->last_read));
	if (num_members)
		json_object_set_new(o, "num_members",
		    json_integer((json_int_t)c->nmembers));
	return o;
}

/* Writes the raw user objects of us[0..n) as a JSON array to f. */
static void
boot_write_users(FILE *f, struct edge_user *const *us, size_t n)
{
	size_t i;

	fputc('[', f);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', f);
		fwrite(us[i]->json, 1, us[i]->json_len, f);
	}
	fputc(']', f);
}

/*
 * Joins head, a JSON object text, and tail, a list of ,"key":value: the
 * object's closing brace moves after tail.  Returns a new string with
 * *len set.
 */
static char *
boot_join(const char *head, size_t hlen, char *tail, size_t tlen, size_t *len)
{
	char *s = xmalloc(hlen + tlen + 1);

	memcpy(s, head, hlen - 1);
	memcpy(s + hlen - 1, tail, tlen);
	s[hlen - 1 + tlen] = '}';
	s[hlen + tlen] = '\0';
	*len = hlen + tlen;
	return s;
}

char *
edge_boot_full(const struct edge_team *t, const struct edge_user *asker,
    size_t *len)
{
	json_t *o, *chans, *groups, *ims, *mpims, *v;
	char *head, *tail = NULL, *s, *self;
	size_t hlen, tlen = 0, i, j;
	FILE *f;

	chans = json_array();
	groups = json_array();
	ims = json_array();
	mpims = json_array();
	for (i = 0; i < t->nchans; i++) {
		const struct edge_channel *c = t->chans[i];

		if (!edge_team_can_see(asker, c))
			continue;
		v = boot_chan_view(c, asker, 0);
		if (edge_team_member(asker, c) != NULL) {
			json_t *mem = json_array();

			for (j = 0; j < c->nmembers; j++)
				json_array_append_new(mem,
				    json_string(c->members[j]->user->id));
			json_object_set_new(v, "members", mem);
		}
		switch (c->type) {
		case EDGE_CHAN_PUBLIC:
			json_array_append_new(chans, v);
			break;
		case EDGE_CHAN_PRIVATE:
			json_array_append_new(groups, v);
			break;
		case EDGE_CHAN_IM:
			json_array_append_new(ims, v);
			break;
		default:
			json_array_append_new(mpims, v);
			break;
		}
	}
	o = json_slack_ok();
	json_object_set_new(o, "team", boot_team(t));
	json_object_set_new(o, "channels", chans);
	json_object_set_new(o, "groups", groups);
	json_object_set_new(o, "ims", ims);
	json_object_set_new(o, "mpims", mpims);
	head = json_dump_compact(o, &hlen);
	json_decref(o);

	f = open_memstream(&tail, &tlen);
	if (f == NULL)
		fatal("edge_boot_full: open_memstream");
	self = asker->json;
	fprintf(f, ",\"self\":%.*s,\"users\":", (int)asker->json_len, self);
	boot_write_users(f, t->users, t->nusers);
	fclose(f);
	s = boot_join(head, hlen, tail, tlen, len);
	free(head);
	free(tail);
	return s;
}

char *
edge_api_users_info(const struct edge_team *t, const struct edge_user *asker,
    const char *user_id, size_t *len)
{
	const struct edge_user *u = edge_team_user(t, user_id);
	static const char head[] = "{\"ok\":true,\"user\":";
	char *s;

	if (u == NULL)
		return boot_error("user_not_found", len);
	*len = sizeof(head) - 1 + u->json_len + 1;
	s = xmalloc(*len + 1);
	memcpy(s, head, sizeof(head) - 1);
	memcpy(s + sizeof(head) - 1, u->json, u->json_len);
	s[*len - 1] = '}';
	s[*len] = '\0';
	return s;
}

char *
edge_api_users_list(const struct edge_team *t, const struct edge_user *asker,
    const char *cursor, size_t limit, size_t *len)
{
	char after[EDGE_TS_MAX * 2], next[BOOT_CURSOR_MAX];
	size_t i = 0, n, tlen = 0, hlen;
	char *tail = NULL, *head, *s;
	json_t *o;
	FILE *f;

	if (boot_cursor_parse(cursor, 'u', after, sizeof(after)) == -1)
		return boot_error("invalid_cursor", len);
	limit = boot_limit(limit, BOOT_USERS_DEF);

	/* Users in id order after the cursor's id. */
	if (after[0] != '\0') {
		size_t lo = 0, hi = t->nusers, mid;

		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (strcmp(t->users[mid]->id, after) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		i = lo;
	}
	n = t->nusers - i < limit ? t->nusers - i : limit;
	next[0] = '\0';
	if (i + n < t->nusers)
		boot_cursor_make('u', t->users[i + n - 1]->id, next);

	o = json_pack("{s:b,s:I,s:{s:s}}", "ok", 1, "cache_ts",
	    (json_int_t)util_wall_sec(), "response_metadata", "next_cursor",
	    next);
	head = json_dump_compact(o, &hlen);
	json_decref(o);
	f = open_memstream(&tail, &tlen);
	if (f == NULL)
		fatal("edge_api_users_list: open_memstream");
	fputs(",\"members\":", f);
	boot_write_users(f, t->users + i, n);
	fclose(f);
	s = boot_join(head, hlen, tail, tlen, len);
	free(head);
	free(tail);
	return s;
}

char *
edge_api_conversations_info(const struct edge_team *t,
    const struct edge_user *asker, const char *chan_id, int num_members,
    size_t *len)
{
	const struct edge_channel *c = edge_team_channel(t, chan_id);
	json_t *o;

	if (c == NULL || !edge_team_can_see(asker, c))
		return boot_error("channel_not_found", len);
	o = json_slack_ok();
	json_object_set_new(o, "channel", boot_chan_view(c, asker,
	    num_members));
	return boot_dump(o, len);
}

/* Bits of the types argument. */
#define T_PUBLIC  1
#define T_PRIVATE 2
#define T_MPIM    4
#define T_IM      8

/* Parses Slack's types list; 0 when it names an unknown type. */
static int
boot_types(const char *s)
{
	static const struct {
		const char *name;
		int bit;
	} names[] = {{"public_channel", T_PUBLIC}, {"private_channel",
	    T_PRIVATE}, {"mpim", T_MPIM}, {"im", T_IM}};
	int mask = 0;
	size_t n, i;

	if (s == NULL || s[0] == '\0')
		return T_PUBLIC;
	while (*s != '\0') {
		n = strcspn(s, ",");
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n &&
			    strncmp(s, names[i].name, n) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return 0;
		mask |= names[i].bit;
		s += n;
		if (*s == ',')
			s++;
	}
	return mask;
}

static int
boot_type_bit(const struct edge_channel *c)
{
	switch (c->type) {
	case EDGE_CHAN_PUBLIC:
		return T_PUBLIC;
	case EDGE_CHAN_PRIVATE:
		return T_PRIVATE;
	case EDGE_CHAN_MPIM:
		return T_MPIM;
	default:
		return T_IM;
	}
}

char *
edge_api_conversations_list(const struct edge_team *t,
    const struct edge_user *asker, const char *types, int exclude_archived,
    const char *cursor, size_t limit, size_t *len)
{
	char after[EDGE_TS_MAX * 2], next[BOOT_CURSOR_MAX];
	const struct edge_channel *c, *last = NULL;
	int mask = boot_types(types);
	json_t *o, *list;
	size_t i;

	if (mask == 0)
		return boot_error("invalid_types", len);
	if (boot_cursor_parse(cursor, 'l', after, sizeof(after)) == -1)
		return boot_error("invalid_cursor", len);
	limit = boot_limit(limit, BOOT_CHANS_DEF);

	list = json_array();
	next[0] = '\0';
	for (i = 0; i < t->nchans; i++) {
		c = t->chans[i];
		if (after[0] != '\0' && strcmp(c->id, after) <= 0)
			continue;
		if (!(boot_type_bit(c) & mask) ||
		    (exclude_archived && c->archived) ||
		    !edge_team_can_see(asker, c))
			continue;
		if (json_array_size(list) == limit) {
			boot_cursor_make('l', last->id, next);
			break;
		}
		json_array_append_new(list, boot_chan_view(c, asker, 0));
		last = c;
	}
	o = json_slack_ok();
	json_object_set_new(o, "channels", list);
	json_object_set_new(o, "response_metadata", json_pack("{s:s}",
	    "next_cursor", next));
	return boot_dump(o, len);
}

char *
edge_api_conversations_members(const struct edge_team *t,
    const struct edge_user *asker, const char *chan_id, const char *cursor,
    size_t limit, size_t *len)
{
	const struct edge_channel *c = edge_team_channel(t, chan_id);
	char after[EDGE_TS_MAX * 2], next[BOOT_CURSOR_MAX];
	size_t i = 0, n;
	json_t *o, *list;

	if (c == NULL || !edge_team_can_see(asker, c))
		return boot_error("channel_not_found", len);
	if (boot_cursor_parse(cursor, 'm', after, sizeof(after)) == -1)
		return boot_error("invalid_cursor", len);
	limit = boot_limit(limit, BOOT_CHANS_DEF);

	if (after[0] != '\0')
		while (i < c->nmembers &&
		    strcmp(c->members[i]->user->id, after) <= 0)
			i++;
	list = json_array();
	for (n = 0; i < c->nmembers && n < limit; i++, n++)
		json_array_append_new(list,
		    json_string(c->members[i]->user->id));
	next[0] = '\0';
	if (i < c->nmembers)
		boot_cursor_make('m', c->members[i - 1]->user->id, next);
	o = json_slack_ok();
	json_object_set_new(o, "members", list);
	json_object_set_new(o, "response_metadata", json_pack("{s:s}",
	    "next_cursor", next));
	return boot_dump(o, len);
}

/* Autocomplete: the context of one query. */
struct team_cq {
	const struct edge_team *t;
	const struct edge_user *asker;
	const struct edge_channel *chan; /* may be NULL */
};

static int
cq_visible(void *ctx, void *obj, int kind)
{
	struct team_cq *q = ctx;

	if (kind == EDGE_CPL_CHANNEL)
		return edge_team_can_see(q->asker, obj);
	return 1;
}

static int
cq_is_pref(void *ctx, void *obj, int kind)
{
	struct team_cq *q = ctx;

	if (kind == EDGE_CPL_CHANNEL)
		return edge_team_member(q->asker, obj) != NULL;
	return q->chan != NULL && edge_team_member(obj, q->chan) != NULL;
}

/* Writes s as a JSON string (s is valid UTF-8). */
static void
team_put_str(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

char *
edge_team_complete(struct edge_team *t, const struct edge_user *asker,
    const char *chan_id, const char *text, size_t tlen, unsigned kinds,
    size_t limit, size_t *len)
{
	struct edge_cpl_hit hits[EDGE_CPL_LIMIT_MAX];
	struct edge_cpl_query q;
	struct team_cq cq;
	ssize_t n, i;
	char *s = NULL;
	FILE *f;

	memset(&cq, 0, sizeof(cq));
	cq.t = t;
	cq.asker = asker;
	if (chan_id != NULL && chan_id[0] != '\0') {
		cq.chan = edge_team_channel(t, chan_id);
		if (cq.chan == NULL || !edge_team_can_see(asker, cq.chan))
			return boot_error("channel_not_found", len);
	}

	memset(&q, 0, sizeof(q));
	q.text = text;
	q.len = tlen;
	q.kinds = kinds;
	q.limit = limit;
	q.visible = cq_visible;
	q.visible_kinds = EDGE_CPL_CHANNEL;
	q.is_pref = cq_is_pref;
	if (cq.chan != NULL) {
		q.pref[0] = cq.chan->member_cpl;
		q.npref[0] = cq.chan->nmembers;
	}
	q.pref[1] = asker->chan_cpl;
	q.npref[1] = asker->nchans;
	q.ctx = &cq;
	n = edge_cpl_query(t->cpl, &q, hits, EDGE_CPL_LIMIT_MAX);
	if (n < 0)
		return boot_error("invalid_query", len);

	/*
	 * The answer is written directly: it is on the hot path, and its
	 * strings are the cache's, valid UTF-8 already.
	 */
	f = open_memstream(&s, len);
	if (f == NULL)
		fatal("edge_team_complete: open_memstream");
	fputs("{\"ok\":true,\"results\":[", f);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', f);
		if (hits[i].kind == EDGE_CPL_USER) {
			const struct edge_user *u = hits[i].obj;

			fputs("{\"type\":\"user\",\"id\":", f);
			team_put_str(f, u->id);
			fputs(",\"name\":", f);
			team_put_str(f, u->name);
			fputs(",\"real_name\":", f);
			team_put_str(f, u->real_name);
			fputs(",\"display_name\":", f);
			team_put_str(f, u->display_name);
			fprintf(f, ",\"is_bot\":%s",
			    u->is_bot ? "true" : "false");
		} else {
			const struct edge_channel *c = hits[i].obj;

			fputs("{\"type\":\"channel\",\"id\":", f);
			team_put_str(f, c->id);
			fputs(",\"name\":", f);
			team_put_str(f, c->name);
			fprintf(f, ",\"is_private\":%s,\"is_archived\":%s",
			    c->type != EDGE_CHAN_PUBLIC ? "true" : "false",
			    c->archived ? "true" : "false");
		}
		fprintf(f, ",\"preferred\":%s}",
		    hits[i].rank == 0 ? "true" : "false");
	}
	fputs("]}", f);
	fclose(f);
	return s;
}
