/*
 * api_conv: the conversations.* methods.
 *
 * Visibility: a channel exists for a caller when it is a public channel
 * of the caller's team or one the caller is a member of (api_chan_get);
 * every other channel is answered channel_not_found, whatever the method.
 *
 * Roles, following Slack's defaults for a workspace without custom
 * settings: any member creates channels, joins public ones, invites,
 * sets topics and purposes of channels they are in; archiving,
 * unarchiving, renaming and removing people are kept for workspace
 * admins and owners and for the channel's creator (its manager).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

#include "backend/backend.h"

#define API_NAME_MAX   80
#define API_TOPIC_MAX  250
#define API_LIMIT_DEF  100
#define API_LIMIT_MAX  1000
#define API_MPIM_MAX   8 /* people besides the caller */

/* Slack's channel name rules; NULL when name is fine. */
static const char *
api_name_check(const char *name)
{
	size_t i, n;
	int word = 0;

	if (name == NULL || *name == '\0')
		return "invalid_name_required";
	n = strlen(name);
	if (n > API_NAME_MAX)
		return "invalid_name_maxlength";
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch >= 0x80)
			word = 1;
		else if (ch != '-' && ch != '_')
			return "invalid_name_specials";
	}
	return word ? NULL : "invalid_name_punctuation";
}

static int
api_is_im(json_t *ch)
{
	return json_get_bool(ch, "is_im", 0);
}

static int
api_is_mpim(json_t *ch)
{
	return json_get_bool(ch, "is_mpim", 0);
}

static int
api_is_general(json_t *ch)
{
	return json_get_bool(ch, "is_general", 0);
}

/* Admins, owners and the channel's creator manage a channel. */
static int
api_can_manage(struct api_call *c, json_t *ch)
{
	const char *creator = json_get_str(ch, "creator");

	return c->who.is_admin ||
	    (creator != NULL && strcmp(creator, c->who.user) == 0);
}

/* The channel argument, visible to the caller; NULL: channel_not_found. */
static json_t *
api_arg_chan(struct store_txn *txn, struct api_call *c)
{
	json_t *ch = api_chan_get(txn, &c->who, api_arg_str(c->args,
	    "channel"));

	if (ch == NULL)
		api_err(c, "channel_not_found");
	return ch;
}

/* limit with Slack's default and ceiling. */
static int
api_arg_limit(struct api_call *c, long long def, long long *limit)
{
	const char *err = NULL;

	if (api_arg_int(c->args, "limit", def, 0, 1000000, limit, &err) == -1)
		return api_err(c, "invalid_limit");
	if (*limit == 0)
		*limit = def;
	if (*limit > API_LIMIT_MAX)
		*limit = API_LIMIT_MAX;
	return 0;
}

/* The cursor argument decoded to "<kind>:<pos>"; pos "" when absent. */
static int
api_arg_cursor(struct api_call *c, char kind, char *pos, size_t len)
{
	const char *cur = api_arg_str(c->args, "cursor");
	char buf[96];

	pos[0] = '\0';
	if (cur == NULL || *cur == '\0')
		return 0;
	if (api_cursor_parse(cur, buf, sizeof(buf)) == -1 ||
	    buf[0] != kind || buf[1] != ':' || buf[2] == '\0')
		return api_err(c, "invalid_cursor");
	util_strlcpy(pos, buf + 2, len);
	return 0;
}

/* Sets response_metadata.next_cursor in c->result for position pos. */
static void
api_next_cursor(struct api_call *c, char kind, const char *pos)
{
	char raw[96], cur[200];

	snprintf(raw, sizeof(raw), "%c:%s", kind, pos);
	api_cursor_make(raw, cur, sizeof(cur));
	json_object_set_new(c->result, "response_metadata",
	    json_pack("{s:s}", "next_cursor", cur));
}

/* ---- history and replies ---- */

struct api_hist {
	json_t *msgs;
	size_t limit;
	int more;
	int threads_only; /* skip replies that are not broadcast */
	uint64_t oldest, latest;
	int inclusive;
	uint64_t last;
};

static int
api_is_reply(json_t *m)
{
	const char *tts = json_get_str(m, "thread_ts");
	const char *ts = json_get_str(m, "ts");
	const char *sub = json_get_str(m, "subtype");

	if (tts == NULL || ts == NULL || strcmp(tts, ts) == 0)
		return 0;
	return sub == NULL || strcmp(sub, "thread_broadcast") != 0;
}

static int
api_hist_cb(void *arg, const char *json, size_t len)
{
	struct api_hist *h = arg;
	json_t *m = json_loadb(json, len, 0, NULL);

	if (m == NULL)
		return 0;
	if (h->threads_only && api_is_reply(m)) {
		json_decref(m);
		return 0;
	}
	if (json_array_size(h->msgs) >= h->limit) {
		h->more = 1;
		json_decref(m);
		return 1;
	}
	store_ts_parse(json_get_str(m, "ts"), &h->last);
	json_array_append_new(h->msgs, m);
	return 0;
}

/* oldest, latest and inclusive; -1 with c->werr on a malformed one. */
static int
api_arg_range(struct api_call *c, uint64_t *oldest, uint64_t *latest,
    int *inclusive)
{
	const char *err = NULL;

	if (api_arg_ts(c->args, "oldest", oldest) == -1 ||
	    api_arg_ts(c->args, "latest", latest) == -1)
		return api_err(c, "invalid_ts_latest");
	*inclusive = api_arg_bool(c->args, "inclusive", 0, &err);
	if (*inclusive == -1)
		return api_err(c, "invalid_arguments");
	return 0;
}

static int
conv_history(struct api_call *c, struct store_txn *txn)
{
	struct api_hist h;
	long long limit;
	char pos[64];
	json_t *ch;
	uint64_t cur;
	int rc;

	memset(&h, 0, sizeof(h));
	if ((ch = api_arg_chan(txn, c)) == NULL ||
	    api_arg_limit(c, API_LIMIT_DEF, &limit) == -1 ||
	    api_arg_cursor(c, 'h', pos, sizeof(pos)) == -1 ||
	    api_arg_range(c, &h.oldest, &h.latest, &h.inclusive) == -1) {
		json_decref(ch);
		return -1;
	}
	/* A cursor continues below the last message given, excluded. */
	if (pos[0] != '\0') {
		if (store_ts_parse(pos, &cur) == -1) {
			json_decref(ch);
			return api_err(c, "invalid_cursor");
		}
		h.latest = h.inclusive ? cur - 1 : cur;
	}
	h.msgs = json_array();
	h.limit = (size_t)limit;
	h.threads_only = 1;
	rc = store_txn_history(txn, json_get_str(ch, "id"), h.latest,
	    h.oldest, h.inclusive, 1, api_hist_cb, &h);
	json_decref(ch);
	if (rc != STORE_OK) {
		json_decref(h.msgs);
		return api_err(c, store_strerror(rc));
	}
	c->result = json_pack("{s:o,s:b,s:i}", "messages", h.msgs,
	    "has_more", h.more, "pin_count", 0);
	if (h.more) {
		char ts[STORE_TS_SIZE];

		store_ts_format(h.last, ts);
		api_next_cursor(c, 'h', ts);
	}
	return 0;
}

struct api_replies {
	json_t *msgs;
	size_t limit;
	int more;
	uint64_t parent, after, oldest, latest;
	int inclusive;
	uint64_t last;
};

static int
api_replies_cb(void *arg, const char *json, size_t len)
{
	struct api_replies *r = arg;
	json_t *m;
	uint64_t ts;

	m = json_loadb(json, len, 0, NULL);
	if (m == NULL || store_ts_parse(json_get_str(m, "ts"), &ts) == -1) {
		json_decref(m);
		return 0;
	}
	if (ts != r->parent) {
		if (ts <= r->after ||
		    (r->oldest && (r->inclusive ? ts < r->oldest
						: ts <= r->oldest)) ||
		    (r->latest && (r->inclusive ? ts > r->latest
						: ts >= r->latest))) {
			json_decref(m);
			return 0;
		}
	} else if (r->after != 0) {
		/* The parent leads the first page only. */
		json_decref(m);
		return 0;
	}
	if (json_array_size(r->msgs) >= r->limit) {
		r->more = 1;
		json_decref(m);
		return 1;
	}
	r->last = ts;
	json_array_append_new(r->msgs, m);
	return 0;
}

static int
conv_replies(struct api_call *c, struct store_txn *txn)
{
	struct api_replies r;
	long long limit;
	char pos[64];
	const char *chan, *tts;
	json_t *ch, *parent;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((ch = api_arg_chan(txn, c)) == NULL ||
	    api_arg_limit(c, API_LIMIT_MAX, &limit) == -1 ||
	    api_arg_cursor(c, 'r', pos, sizeof(pos)) == -1 ||
	    api_arg_range(c, &r.oldest, &r.latest, &r.inclusive) == -1) {
		json_decref(ch);
		return -1;
	}
	chan = json_get_str(ch, "id");
	if (api_arg_ts(c->args, "ts", &r.parent) == -1 || r.parent == 0 ||
	    (parent = store_txn_message_get(txn, chan, r.parent)) == NULL) {
		json_decref(ch);
		return api_err(c, "thread_not_found");
	}
	tts = json_get_str(parent, "thread_ts");
	if (tts != NULL)
		store_ts_parse(tts, &r.parent);
	json_decref(parent);
	if (pos[0] != '\0' && store_ts_parse(pos, &r.after) == -1) {
		json_decref(ch);
		return api_err(c, "invalid_cursor");
	}
	r.msgs = json_array();
	r.limit = (size_t)limit;
	rc = store_txn_replies(txn, chan, r.parent, api_replies_cb, &r);
	json_decref(ch);
	if (rc != STORE_OK) {
		json_decref(r.msgs);
		return api_err(c, rc == STORE_ERR_NOTFOUND ? "thread_not_found"
		    : store_strerror(rc));
	}
	c->result = json_pack("{s:o,s:b}", "messages", r.msgs, "has_more",
	    r.more);
	if (r.more) {
		char ts[STORE_TS_SIZE];

		store_ts_format(r.last, ts);
		api_next_cursor(c, 'r', ts);
	}
	return 0;
}

/* ---- list, info, members ---- */

#define API_T_PUBLIC  0x1
#define API_T_PRIVATE 0x2
#define API_T_MPIM    0x4
#define API_T_IM      0x8

/* types="public_channel,im,..."; 0 with c->werr when one is unknown. */
static int
api_arg_types(struct api_call *c)
{
	const char *s = api_arg_str(c->args, "types");
	int mask = 0;

	if (s == NULL || *s == '\0')
		return API_T_PUBLIC;
	while (*s != '\0') {
		size_t n;

		while (*s == ',' || *s == ' ')
			s++;
		n = strcspn(s, ", ");
		if (n == 0)
			break;
		if (n == 14 && strncmp(s, "public_channel", n) == 0)
			mask |= API_T_PUBLIC;
		else if (n == 15 && strncmp(s, "private_channel", n) == 0)
			mask |= API_T_PRIVATE;
		else if (n == 4 && strncmp(s, "mpim", n) == 0)
			mask |= API_T_MPIM;
		else if (n == 2 && strncmp(s, "im", n) == 0)
			mask |= API_T_IM;
		else
			return api_err(c, "invalid_types"), 0;
		s += n;
	}
	return mask;
}

static int
api_type_bit(json_t *ch)
{
	if (api_is_im(ch))
		return API_T_IM;
	if (api_is_mpim(ch))
		return API_T_MPIM;
	return json_get_bool(ch, "is_private", 0) ? API_T_PRIVATE
						  : API_T_PUBLIC;
}

struct api_list {
	struct api_call *c;
	struct store_txn *txn;
	json_t *out;
	int mask;
	int no_archived;
	size_t limit;
	int more;
	char last[STORE_ID_SIZE];
	const char *member_of; /* users.conversations: this user's */
};

static int
api_list_cb(void *arg, const char *id)
{
	struct api_list *l = arg;
	json_t *ch;

	if (json_array_size(l->out) >= l->limit) {
		l->more = 1;
		return 1;
	}
	ch = api_chan_get(l->txn, &l->c->who, id);
	if (ch == NULL)
		return 0;
	if (!(api_type_bit(ch) & l->mask) ||
	    (l->no_archived && json_get_bool(ch, "is_archived", 0)) ||
	    (l->member_of != NULL &&
	    store_txn_is_member(l->txn, id, l->member_of) != 1)) {
		json_decref(ch);
		return 0;
	}
	util_strlcpy(l->last, id, sizeof(l->last));
	json_array_append_new(l->out, api_chan_view(l->txn, &l->c->who, ch));
	return 0;
}

/*
 * conversations.list and users.conversations: the team's channels in id
 * order from the cursor, filtered by type, visibility and (for
 * users.conversations) membership.
 */
static int
api_list_channels(struct api_call *c, struct store_txn *txn,
    const char *member_of)
{
	struct api_list l;
	long long limit;
	char pos[64];
	const char *err = NULL;
	int rc;

	memset(&l, 0, sizeof(l));
	l.c = c;
	l.txn = txn;
	l.member_of = member_of;
	if ((l.mask = api_arg_types(c)) == 0 ||
	    api_arg_limit(c, API_LIMIT_DEF, &limit) == -1 ||
	    api_arg_cursor(c, 'l', pos, sizeof(pos)) == -1)
		return -1;
	l.no_archived = api_arg_bool(c->args, "exclude_archived", 0, &err);
	if (l.no_archived == -1)
		return api_err(c, "invalid_arguments");
	l.limit = (size_t)limit;
	l.out = json_array();
	if (member_of != NULL)
		rc = store_txn_user_channels(txn, member_of,
		    pos[0] ? pos : NULL, api_list_cb, &l);
	else
		rc = store_txn_team_channels(txn, c->who.team,
		    pos[0] ? pos : NULL, api_list_cb, &l);
	if (rc != STORE_OK) {
		json_decref(l.out);
		return api_err(c, store_strerror(rc));
	}
	c->result = json_pack("{s:o}", "channels", l.out);
	if (l.more)
		api_next_cursor(c, 'l', l.last);
	else
		json_object_set_new(c->result, "response_metadata",
		    json_pack("{s:s}", "next_cursor", ""));
	return 0;
}

static int
conv_list(struct api_call *c, struct store_txn *txn)
{
	return api_list_channels(c, txn, NULL);
}

int
api_users_conversations(struct api_call *c, struct store_txn *txn)
{
	const char *u = api_arg_str(c->args, "user");
	json_t *uo;

	if (u == NULL || *u == '\0')
		return api_list_channels(c, txn, c->who.user);
	uo = api_user_get(txn, &c->who, u);
	if (uo == NULL)
		return api_err(c, "user_not_found");
	json_decref(uo);
	/* Another user's channels, as far as the caller may see them. */
	return api_list_channels(c, txn, json_string_value(json_object_get(
	    c->args, "user")));
}

static int
api_count_cb(void *arg, const char *id)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
conv_info(struct api_call *c, struct store_txn *txn)
{
	json_t *ch = api_arg_chan(txn, c);
	const char *err = NULL;
	size_t n = 0;
	int num;

	if (ch == NULL)
		return -1;
	num = api_arg_bool(c->args, "include_num_members", 0, &err);
	if (num == 1) {
		store_txn_channel_members(txn, json_get_str(ch, "id"), NULL,
		    api_count_cb, &n);
		json_object_set_new(ch, "num_members", json_integer((long)n));
	}
	c->result = json_pack("{s:o}", "channel", api_chan_view(txn, &c->who,
	    ch));
	return 0;
}

struct api_members {
	json_t *out;
	size_t limit;
	int more;
	char last[STORE_ID_SIZE];
};

static int
api_members_cb(void *arg, const char *id)
{
	struct api_members *m = arg;

	if (json_array_size(m->out) >= m->limit) {
		m->more = 1;
		return 1;
	}
	util_strlcpy(m->last, id, sizeof(m->last));
	json_array_append_new(m->out, json_string(id));
	return 0;
}

static int
conv_members(struct api_call *c, struct store_txn *txn)
{
	struct api_members m;
	long long limit;
	char pos[64];
	json_t *ch;
	int rc;

	memset(&m, 0, sizeof(m));
	if ((ch = api_arg_chan(txn, c)) == NULL ||
	    api_arg_limit(c, API_LIMIT_DEF, &limit) == -1 ||
	    api_arg_cursor(c, 'm', pos, sizeof(pos)) == -1) {
		json_decref(ch);
		return -1;
	}
	m.limit = (size_t)limit;
	m.out = json_array();
	rc = store_txn_channel_members(txn, json_get_str(ch, "id"),
	    pos[0] ? pos : NULL, api_members_cb, &m);
	json_decref(ch);
	if (rc != STORE_OK) {
		json_decref(m.out);
		return api_err(c, store_strerror(rc));
	}
	c->result = json_pack("{s:o}", "members", m.out);
	if (m.more)
		api_next_cursor(c, 'm', m.last);
	else
		json_object_set_new(c->result, "response_metadata",
		    json_pack("{s:s}", "next_cursor", ""));
	return 0;
}

/* ---- writes ---- */

/* The channel argument for a write; NULL with c->werr set. */
static json_t *
api_wchan(struct store_txn *txn, struct api_call *c)
{
	return api_arg_chan(txn, c);
}

/* Appends a member_joined/left event for user in ch. */
static int
api_member_event(struct store_txn *txn, struct api_call *c, json_t *ch,
    const char *type, const char *user)
{
	const char *id = json_get_str(ch, "id");
	const char *ctype = json_get_bool(ch, "is_private", 0) ? "G" : "C";

	return api_event(txn, c->who.team, json_pack("{s:s,s:s,s:s,s:s,s:s}",
	    "type", type, "user", user, "channel", id, "channel_type", ctype,
	    "team", c->who.team), id);
}

static int
conv_create(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	const char *name = api_arg_str(c->args, "name"), *bad, *err = NULL;
	char id[STORE_ID_SIZE];
	int priv, rc;
	json_t *ch;

	if ((bad = api_name_check(name)) != NULL)
		return api_werr(c, bad);
	priv = api_arg_bool(c->args, "is_private", 0, &err);
	if (priv == -1)
		return api_werr(c, "invalid_arguments");
	if (store_txn_channel_by_name(txn, c->who.team, name, id) == STORE_OK)
		return api_werr(c, "name_taken");
	rc = store_op_channel_create(txn, c->who.team, name, priv ? 'G' : 'C',
	    c->who.user, id);
	if (rc == STORE_ERR_EXISTS)
		return api_werr(c, "name_taken");
	if (rc != STORE_OK)
		return rc;
	ch = store_txn_channel_get(txn, id);
	if (ch == NULL)
		return STORE_ERR_INTERNAL;
	c->result = json_pack("{s:o}", "channel", api_chan_view(txn, &c->who,
	    ch));
	return STORE_OK;
}

static int
conv_join(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	json_t *ch = api_wchan(txn, c);
	const char *id;
	int rc;

	if (ch == NULL)
		return STORE_ERR_USER;
	id = json_get_str(ch, "id");
	if (api_is_im(ch) || api_is_mpim(ch)) {
		json_decref(ch);
		return api_werr(c, "method_not_supported_for_channel_type");
	}
	if (json_get_bool(ch, "is_archived", 0)) {
		json_decref(ch);
		return api_werr(c, "is_archived");
	}
	if (store_txn_is_member(txn, id, c->who.user) == 1) {
		c->result = json_pack("{s:o,s:s,s:{s:[s]}}", "channel",
		    api_chan_view(txn, &c->who, ch), "warning",
		    "already_in_channel", "response_metadata", "warnings",
		    "already_in_channel");
		return STORE_OK;
	}
	rc = store_op_channel_join(txn, id, c->who.user);
	if (rc != STORE_OK) {
		json_decref(ch);
		return rc;
	}
	c->result = json_pack("{s:o}", "channel", api_chan_view(txn, &c->who,
	    ch));
	return STORE_OK;
}

static int
conv_leave(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	json_t *ch = api_wchan(txn, c);
	const char *id;
	int rc;

	if (ch == NULL)
		return STORE_ERR_USER;
	id = json_get_str(ch, "id");
	rc = STORE_ERR_USER;
	if (api_is_im(ch))
		api_err(c, "method_not_supported_for_channel_type");
	else if (api_is_general(ch))
		api_err(c, "cant_leave_general");
	else if (json_get_bool(ch, "is_archived", 0))
		api_err(c, "is_archived");
	else if (store_txn_is_member(txn, id, c->who.user) != 1) {
		c->result = json_pack("{s:b}", "not_in_channel", 1);
		rc = STORE_OK;
	} else {
		rc = store_txn_member_remove(txn, id, c->who.user);
		if (rc == STORE_OK)
			rc = api_member_event(txn, c, ch,
			    "member_left_channel", c->who.user);
	}
	json_decref(ch);
	return rc;
}

static int
conv_mark(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	json_t *ch = api_wchan(txn, c);
	const char *id;
	uint64_t ts;
	int rc;

	if (ch == NULL)
		return STORE_ERR_USER;
	id = json_get_str(ch, "id");
	if (api_arg_ts(c->args, "ts", &ts) == -1 || ts == 0) {
		json_decref(ch);
		return api_werr(c, "invalid_timestamp");
	}
	if (store_txn_is_member(txn, id, c->who.user) != 1) {
		json_decref(ch);
		return api_werr(c, "not_in_channel");
	}
	rc = store_txn_mark_set(txn, c->who.user, id, ts);
	if (rc == STORE_OK)
		rc = api_event(txn, c->who.team, json_pack("{s:s,s:s,s:s,s:s}",
		    "type", "channel_marked", "channel", id, "ts",
		    api_arg_str(c->args, "ts"), "user", c->who.user), id);
	json_decref(ch);
	return rc;
}

/* Splits a comma list of user ids into out (at most max); -1 if more. */
static int
api_split_users(const char *s, char out[][STORE_ID_SIZE], size_t max,
    size_t *n)
{
	*n = 0;
	while (s != NULL && *s != '\0') {
		size_t len;

		while (*s == ',' || *s == ' ')
			s++;
		len = strcspn(s, ", ");
		if (len == 0)
			break;
		if (*n >= max)
			return -1;
		if (len >= STORE_ID_SIZE)
			len = STORE_ID_SIZE - 1; /* invalid: not found */
		memcpy(out[*n], s, len);
		out[*n][len] = '\0';
		(*n)++;
		s += len;
		while (*s != '\0' && *s != ',' && *s != ' ')
			s++;
	}
	return 0;
}

static int
api_id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int
conv_open(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	char ids[API_MPIM_MAX + 2][STORE_ID_SIZE], id[STORE_ID_SIZE];
	char name[API_NAME_MAX * 4], now[STORE_TS_SIZE];
	const char *chan = api_arg_str(c->args, "channel"), *err = NULL;
	size_t n = 0, i, k;
	json_t *ch, *u;
	int rc, full;

	full = api_arg_bool(c->args, "return_im", 0, &err);
	if (chan != NULL && *chan != '\0') {
		ch = api_wchan(txn, c);
		if (ch == NULL)
			return STORE_ERR_USER;
		if (!api_is_im(ch) && !api_is_mpim(ch)) {
			json_decref(ch);
			return api_werr(c,
			    "method_not_supported_for_channel_type");
		}
		c->result = json_pack("{s:b,s:b,s:o}", "no_op", 1,
		    "already_open", 1, "channel",
		    api_chan_view(txn, &c->who, ch));
		return STORE_OK;
	}
	if (api_split_users(api_arg_str(c->args, "users"), ids,
	    API_MPIM_MAX + 1, &n) == -1)
		return api_werr(c, "too_many_users");
	if (n == 0)
		return api_werr(c, "users_list_not_supplied");
	/* Everyone named, the caller added, sorted and without repeats. */
	util_strlcpy(ids[n++], c->who.user, STORE_ID_SIZE);
	qsort(ids, n, STORE_ID_SIZE, api_id_cmp);
	for (i = 1, k = 1; i < n; i++)
		if (strcmp(ids[i], ids[k - 1]) != 0)
			memmove(ids[k++], ids[i], STORE_ID_SIZE);
	n = k;
	if (n > API_MPIM_MAX + 1)
		return api_werr(c, "too_many_users");
	name[0] = '\0';
	for (i = 0; i < n; i++) {
		u = api_user_get(txn, &c->who, ids[i]);
		if (u == NULL)
			return api_werr(c, "user_not_found");
		if (json_get_bool(u, "deleted", 0)) {
			json_decref(u);
			return api_werr(c, "user_disabled");
		}
		if (n > 2) {
			size_t off = strlen(name);

			snprintf(name + off, sizeof(name) - off, "%s%s",
			    off ? "--" : "mpdm-", json_get_str(u, "name"));
		}
		json_decref(u);
	}

	if (n <= 2) {
		const char *peer = n == 1 ? ids[0] :
		    strcmp(ids[0], c->who.user) == 0 ? ids[1] : ids[0];

		rc = store_txn_im_find(txn, c->who.team, c->who.user, peer,
		    id);
		if (rc == STORE_OK) {
			ch = store_txn_channel_get(txn, id);
			if (ch == NULL)
				return STORE_ERR_INTERNAL;
			c->result = json_pack("{s:b,s:b,s:o}", "no_op", 1,
			    "already_open", 1, "channel", full == 1 ?
			    api_chan_view(txn, &c->who, ch) :
			    json_pack("{s:s}", "id", id));
			if (full != 1)
				json_decref(ch);
			return STORE_OK;
		}
		if ((rc = store_txn_new_id(txn, 'D', id)) != STORE_OK)
			return rc;
		api_ts_now(now);
		ch = json_pack("{s:s,s:s,s:b,s:b,s:b,s:b,s:b,s:s,s:I,s:s}",
		    "id", id, "context_team_id", c->who.team, "is_im", 1,
		    "is_channel", 0, "is_group", 0, "is_mpim", 0,
		    "is_private", 1, "user", peer,
		    "created", (json_int_t)util_wall_sec(), "creator",
		    c->who.user);
		rc = store_txn_channel_put(txn, ch);
		if (rc == STORE_OK)
			rc = store_txn_im_put(txn, c->who.team, c->who.user,
			    peer, id);
		for (i = 0; i < n && rc == STORE_OK; i++)
			rc = store_txn_member_add(txn, id, ids[i]);
		if (rc == STORE_OK)
			rc = api_event(txn, c->who.team, json_pack(
			    "{s:s,s:s,s:s,s:O}", "type", "im_created", "user",
			    c->who.user, "peer", peer, "channel", ch), id);
	} else {
		util_strlcpy(name + strlen(name), "-1",
		    sizeof(name) - strlen(name));
		if (strlen(name) > 250)
			name[250] = '\0';
		if (store_txn_channel_by_name(txn, c->who.team, name, id) ==
		    STORE_OK && (ch = store_txn_channel_get(txn, id)) !=
		    NULL) {
			c->result = json_pack("{s:b,s:b,s:o}", "no_op", 1,
			    "already_open", 1, "channel",
			    api_chan_view(txn, &c->who, ch));
			return STORE_OK;
		}
		if ((rc = store_txn_new_id(txn, 'G', id)) != STORE_OK)
			return rc;
		ch = json_pack("{s:s,s:s,s:s,s:b,s:b,s:b,s:b,s:b,s:I,s:s}",
		    "id", id, "context_team_id", c->who.team, "name", name,
		    "is_im", 0, "is_channel", 0, "is_group", 0, "is_mpim", 1,
		    "is_private", 1, "created",
		    (json_int_t)util_wall_sec(), "creator", c->who.user);
		rc = store_txn_channel_put(txn, ch);
		for (i = 0; i < n && rc == STORE_OK; i++)
			rc = store_txn_member_add(txn, id, ids[i]);
		if (rc == STORE_OK)
			rc = api_event(txn, c->who.team, json_pack(
			    "{s:s,s:s,s:O}", "type", "mpim_open", "user",
			    c->who.user, "channel", ch), id);
	}
	if (rc != STORE_OK) {
		json_decref(ch);
		return rc;
	}
	c->result = json_pack("{s:o}", "channel", full == 1 || n > 2 ?
	    api_chan_view(txn, &c->who, ch) : json_pack("{s:s}", "id", id));
	if (full != 1 && n <= 2)
		json_decref(ch);
	return STORE_OK;
}

/*
 * Common checks of the managing writes: a visible channel that is not an
 * IM, and a caller allowed to manage it (else deny).
 */
static json_t *
api_manage_chan(struct store_txn *txn, struct api_call *c, const char *deny)
{
	json_t *ch = api_wchan(txn, c);

	if (ch == NULL)
		return NULL;
	if (api_is_im(ch) || api_is_mpim(ch)) {
		json_decref(ch);
		api_err(c, "method_not_supported_for_channel_type");
		return NULL;
	}
	if (!api_can_manage(c, ch)) {
		json_decref(ch);
		api_err(c, deny);
		return NULL;
	}
	return ch;
}

static int
api_set_archived(struct api_call *c, struct store_txn *txn, int archived)
{
	json_t *ch = api_manage_chan(txn, c, "restricted_action");
	const char *id;
	int rc;

	if (ch == NULL)
		return STORE_ERR_USER;
	id = json_get_str(ch, "id");
	if (archived && api_is_general(ch)) {
		json_decref(ch);
		return api_werr(c, "cant_archive_general");
	}
	if (json_get_bool(ch, "is_archived", 0) == archived) {
		json_decref(ch);
		return api_werr(c, archived ? "already_archived"
					    : "not_archived");
	}
	json_object_set_new(ch, "is_archived", json_boolean(archived));
	rc = store_txn_channel_put(txn, ch);
	if (rc == STORE_OK)
		rc = api_event(txn, c->who.team, json_pack("{s:s,s:s,s:s}",
		    "type", archived ? "channel_archive" : "channel_unarchive",
		    "channel", id, "user", c->who.user), id);
	json_decref(ch);
	return rc;
}

static int
conv_archive(struct store_txn *txn, void *arg)
{
	return api_set_archived(arg, txn, 1);
}

static int
conv_unarchive(struct store_txn *txn, void *arg)
{
	return api_set_archived(arg, txn, 0);
}

static int
conv_rename(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	const char *name = api_arg_str(c->args, "name"), *bad, *id;
	char other[STORE_ID_SIZE];
	json_t *ch;
	int rc;

	ch = api_manage_chan(txn, c, "not_authorized");
	if (ch == NULL)
		return STORE_ERR_USER;
	id = json_get_str(ch, "id");
	if ((bad = api_name_check(name)) != NULL) {
		json_decref(ch);
		return api_werr(c, bad);
	}
	if (store_txn_channel_by_name(txn, c->who.team, name, other) ==
	    STORE_OK && strcmp(other, id) != 0) {
		json_decref(ch);
		return api_werr(c, "name_taken");
	}
	json_object_set_new(ch, "name", json_string(name));
	json_object_set_new(ch, "name_normalized", json_string(name));
	rc = store_txn_channel_put(txn, ch);
	if (rc == STORE_OK)
		rc = api_event(txn, c->who.team, json_pack(
		    "{s:s,s:{s:s,s:s,s:O}}", "type", "channel_rename",
		    "channel", "id", id, "name", name, "created",
		    json_object_get(ch, "created")), id);
	if (rc == STORE_OK)
		c->result = json_pack("{s:o}", "channel",
		    api_chan_view(txn, &c->who, ch));
	else
		json_decref(ch);
	return rc;
}

static int
conv_invite(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	char ids[API_LIMIT_DEF][STORE_ID_SIZE];
	size_t n, i;
	json_t *ch, *u;
	const char *id;
	int rc = STORE_OK;

	ch = api_wchan(txn, c);
	if (ch == NULL)
		return STORE_ERR_USER;
	id = json_get_str(ch, "id");
	if (api_is_im(ch) || api_is_mpim(ch))
		rc = api_werr(c, "method_not_supported_for_channel_type");
	else if (json_get_bool(ch, "is_archived", 0))
		rc = api_werr(c, "is_archived");
	else if (store_txn_is_member(txn, id, c->who.user) != 1)
		rc = api_werr(c, "not_in_channel");
	else if (api_split_users(api_arg_str(c->args, "users"), ids,
	    API_LIMIT_DEF, &n) == -1)
		rc = api_werr(c, "too_many_users");
	else if (n == 0)
		rc = api_werr(c, "no_user");
	for (i = 0; rc == STORE_OK && i < n; i++) {
		if (strcmp(ids[i], c->who.user) == 0) {
			rc = api_werr(c, "cant_invite_self");
			break;
		}
		u = api_user_get(txn, &c->who, ids[i]);
		if (u == NULL) {
			rc = api_werr(c, "user_not_found");
			break;
		}
		if (json_get_bool(u, "deleted", 0)) {
			json_decref(u);
			rc = api_werr(c, "user_is_inactive");
			break;
		}
		json_decref(u);
		if (store_txn_is_member(txn, id, ids[i]) == 1) {
			rc = api_werr(c, "already_in_channel");
			break;
		}
		rc = store_op_channel_join(txn, id, ids[i]);
	}
	if (rc == STORE_OK)
		c->result = json_pack("{s:o}", "channel",
		    api_chan_view(txn, &c->who, ch));
	else
		json_decref(ch);
	return rc;
}

static int
conv_kick(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	const char *user = api_arg_str(c->args, "user"), *id;
	json_t *ch, *u;
	int rc;

	ch = api_manage_chan(txn, c, "restricted_action");
	if (ch == NULL)
		return STORE_ERR_USER;
	id = json_get_str(ch, "id");
	if (user == NULL || (u = api_user_get(txn, &c->who, user)) == NULL)
		rc = api_werr(c, "user_not_found");
	else {
		json_decref(u);
		if (strcmp(user, c->who.user) == 0)
			rc = api_werr(c, "cant_kick_self");
		else if (api_is_general(ch))
			rc = api_werr(c, "cant_kick_from_general");
		else if (store_txn_is_member(txn, id, user) != 1)
			rc = api_werr(c, "not_in_channel");
		else {
			rc = store_txn_member_remove(txn, id, user);
			if (rc == STORE_OK)
				rc = api_member_event(txn, c, ch,
				    "member_left_channel", user);
		}
	}
	json_decref(ch);
	return rc;
}

/* conversations.setTopic and setPurpose. */
static int
api_set_text(struct api_call *c, struct store_txn *txn, const char *field)
{
	const char *val = api_arg_str(c->args, field), *id;
	char text[API_TOPIC_MAX * 4 + 64];
	uint64_t ts;
	json_t *ch, *msg;
	int rc;

	ch = api_wchan(txn, c);
	if (ch == NULL)
		return STORE_ERR_USER;
	id = json_get_str(ch, "id");
	if (val == NULL)
		val = "";
	rc = STORE_ERR_USER;
	if (api_is_im(ch))
		api_err(c, "method_not_supported_for_channel_type");
	else if (json_get_bool(ch, "is_archived", 0))
		api_err(c, "is_archived");
	else if (store_txn_is_member(txn, id, c->who.user) != 1)
		api_err(c, "not_in_channel");
	else if (api_utf8_len(val) > API_TOPIC_MAX)
		api_err(c, "too_long");
	else
		rc = STORE_OK;
	if (rc != STORE_OK) {
		json_decref(ch);
		return rc;
	}
	json_object_set_new(ch, field, json_pack("{s:s,s:s,s:I}", "value",
	    val, "creator", c->who.user, "last_set",
	    (json_int_t)util_wall_sec()));
	rc = store_txn_channel_put(txn, ch);
	if (rc == STORE_OK) {
		/* As Slack does, the change is also a message. */
		snprintf(text, sizeof(text), "set the channel %s: %s", field,
		    val);
		msg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "message",
		    "subtype", strcmp(field, "topic") == 0 ? "channel_topic"
		    : "channel_purpose", "user", c->who.user, "text", text,
		    field, val, "team", c->who.team);
		rc = store_op_message_post(txn, id, msg, &ts);
		json_decref(msg);
	}
	if (rc == STORE_OK)
		c->result = json_pack("{s:o,s:s}", "channel",
		    api_chan_view(txn, &c->who, ch), field, val);
	else
		json_decref(ch);
	return rc;
}

static int
conv_set_topic(struct store_txn *txn, void *arg)
{
	return api_set_text(arg, txn, "topic");
}

static int
conv_set_purpose(struct store_txn *txn, void *arg)
{
	return api_set_text(arg, txn, "purpose");
}

const struct api_method api_methods_conv[] = {
	{ "conversations.history", API_TIER_3, 0, conv_history, NULL, NULL },
	{ "conversations.replies", API_TIER_3, 0, conv_replies, NULL, NULL },
	{ "conversations.list", API_TIER_2, 0, conv_list, NULL, NULL },
	{ "conversations.info", API_TIER_3, 0, conv_info, NULL, NULL },
	{ "conversations.members", API_TIER_4, 0, conv_members, NULL, NULL },
	{ "conversations.create", API_TIER_2, API_F_WRITE, NULL, conv_create,
	    NULL },
	{ "conversations.join", API_TIER_3, API_F_WRITE, NULL, conv_join,
	    NULL },
	{ "conversations.leave", API_TIER_3, API_F_WRITE, NULL, conv_leave,
	    NULL },
	{ "conversations.mark", API_TIER_3, API_F_WRITE, NULL, conv_mark,
	    NULL },
	{ "conversations.open", API_TIER_3, API_F_WRITE, NULL, conv_open,
	    NULL },
	{ "conversations.archive", API_TIER_2, API_F_WRITE, NULL,
	    conv_archive, NULL },
	{ "conversations.unarchive", API_TIER_2, API_F_WRITE, NULL,
	    conv_unarchive, NULL },
	{ "conversations.rename", API_TIER_2, API_F_WRITE, NULL, conv_rename,
	    NULL },
	{ "conversations.invite", API_TIER_3, API_F_WRITE, NULL, conv_invite,
	    NULL },
	{ "conversations.kick", API_TIER_3, API_F_WRITE, NULL, conv_kick,
	    NULL },
	{ "conversations.setTopic", API_TIER_3, API_F_WRITE, NULL,
	    conv_set_topic, NULL },
	{ "conversations.setPurpose", API_TIER_3, API_F_WRITE, NULL,
	    conv_set_purpose, NULL },
	{ NULL, 0, 0, NULL, NULL, NULL },
};
