/*
 * api_rtm: rtm.start, the full boot, and rtm.connect.
 *
 * rtm.start gives the caller everything a full client starts from: self,
 * the team, every user, the channels they may see (public ones with
 * is_member, private ones they are in), IMs and group DMs, each with
 * last_read, unread_count and mention_count for the caller.  A large
 * team makes this slow, so it runs on a worker thread (API_F_SLOW),
 * serialising included, and other clients are answered meanwhile.
 *
 * rtm.connect is answered by the RTM server (rtm.c): a WebSocket URL
 * with a short-lived ticket.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "util.h"

#include "backend/backend.h"

#define API_UNREAD_MAX 1000 /* counted at most per channel */

struct api_boot {
	struct api_call *c;
	struct store_txn *txn;
	json_t *users, *channels, *groups, *ims, *mpims;
	char mention[STORE_ID_SIZE + 4]; /* "<@U...>" */
};

static int
api_boot_user(void *arg, const char *id)
{
	struct api_boot *b = arg;
	json_t *u = store_txn_user_get(b->txn, id);

	if (u != NULL)
		json_array_append_new(b->users, u);
	return 0;
}

struct api_unread {
	const char *mention;
	size_t unread, mentions;
};

static int
api_unread_cb(void *arg, const char *json, size_t len)
{
	struct api_unread *u = arg;

	if (++u->unread >= API_UNREAD_MAX)
		return 1;
	if (memmem(json, len, u->mention, strlen(u->mention)) != NULL)
		u->mentions++;
	return 0;
}

/* Adds last_read, unread_count(_display) and mention_count to ch. */
static void
api_boot_counts(struct api_boot *b, json_t *ch)
{
	const char *id = json_get_str(ch, "id");
	struct api_unread u = { b->mention, 0, 0 };
	uint64_t mark = 0;
	char ts[STORE_TS_SIZE];

	if (store_txn_mark_get(b->txn, b->c->who.user, id, &mark) !=
	    STORE_OK)
		mark = 0;
	store_ts_format(mark, ts);
	json_object_set_new(ch, "last_read", json_string(ts));
	store_txn_history(b->txn, id, 0, mark, 0, 0, api_unread_cb, &u);
	json_object_set_new(ch, "unread_count", json_integer((long)u.unread));
	json_object_set_new(ch, "unread_count_display",
	    json_integer((long)u.unread));
	json_object_set_new(ch, "mention_count",
	    json_integer((long)u.mentions));
}

static int
api_boot_chan(void *arg, const char *id)
{
	struct api_boot *b = arg;
	json_t *ch = api_chan_get(b->txn, &b->c->who, id);
	int member;

	if (ch == NULL)
		return 0;
	member = store_txn_is_member(b->txn, id, b->c->who.user) == 1;
	json_object_set_new(ch, "is_member", json_boolean(member));
	if (member)
		api_boot_counts(b, ch);
	if (json_get_bool(ch, "is_im", 0)) {
		json_object_set_new(ch, "is_open", json_true());
		json_array_append_new(b->ims, ch);
	} else if (json_get_bool(ch, "is_mpim", 0)) {
		json_array_append_new(b->mpims, ch);
	} else if (json_get_bool(ch, "is_private", 0)) {
		json_array_append_new(b->groups, ch);
	} else {
		json_array_append_new(b->channels, ch);
	}
	return 0;
}

static int
rtm_start(struct api_call *c, struct store_txn *txn)
{
	struct api_boot b;
	json_t *self, *team;
	uint64_t oldest = 0, last = 0;
	char epoch[STORE_EPOCH_SIZE];
	int rc;

	memset(&b, 0, sizeof(b));
	b.c = c;
	b.txn = txn;
	snprintf(b.mention, sizeof(b.mention), "<@%s>", c->who.user);
	self = store_txn_user_get(txn, c->who.user);
	team = store_txn_team_get(txn, c->who.team);
	if (self == NULL || team == NULL) {
		json_decref(self);
		json_decref(team);
		return api_err(c, "invalid_auth");
	}
	b.users = json_array();
	b.channels = json_array();
	b.groups = json_array();
	b.ims = json_array();
	b.mpims = json_array();
	rc = store_txn_team_users(txn, c->who.team, NULL, api_boot_user, &b);
	if (rc == STORE_OK)
		rc = store_txn_team_channels(txn, c->who.team, NULL,
		    api_boot_chan, &b);
	store_txn_seq_range(txn, c->who.team, &oldest, &last);
	store_txn_team_epoch(txn, c->who.team, epoch);
	c->result = json_pack("{s:{s:s,s:s,s:I,s:s},s:o,s:o,s:o,s:o,s:o,"
	    "s:o,s:[],s:I,s:I,s:s}",
	    "self", "id", c->who.user, "name", json_get_str(self, "name") ?
	    json_get_str(self, "name") : "", "created",
	    (json_int_t)json_get_int(self, "created", 0), "manual_presence",
	    json_get_str(self, "manual_presence") ? json_get_str(self,
	    "manual_presence") : "active",
	    "team", team, "users", b.users, "channels", b.channels,
	    "groups", b.groups, "ims", b.ims, "mpims", b.mpims, "bots",
	    "cache_ts", (json_int_t)util_wall_sec(), "seq", (json_int_t)last,
	    "epoch", epoch);
	json_decref(self);
	if (rc != STORE_OK)
		return api_err(c, store_strerror(rc));
	return 0;
}

const struct api_method api_methods_rtm[] = {
	{ "rtm.start", API_TIER_1, API_F_SLOW, rtm_start, NULL, NULL },
	{ "rtm.connect", API_TIER_1, 0, NULL, NULL, rtm_connect_call },
	{ NULL, 0, 0, NULL, NULL, NULL },
};
