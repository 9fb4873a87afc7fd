/*
 * Unit tests of edge/edge_team.c: loading a snapshot, applying events in
 * order (messages and their changes, reactions, channels, members,
 * users, read marks), gap detection, visibility of channels and events,
 * unread and mention counts, autocomplete through the team, and memory
 * accounting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge/edge.h"
#include "mpframe.h"
#include "stream.h"
#include "tests/unit/edge_synth.h"

static const char team_json[] =
    "{\"id\":\"T1\",\"name\":\"Acme\",\"domain\":\"acme\"}";

static const char users_json[] = "["
    "{\"id\":\"U1\",\"name\":\"alice\",\"real_name\":\"Alice Zo\xc3\xab\","
    "\"profile\":{\"display_name\":\"ali\"}},"
    "{\"id\":\"U2\",\"name\":\"bob\",\"real_name\":\"Bob Stone\","
    "\"profile\":{\"display_name\":\"\"}},"
    "{\"id\":\"U3\",\"name\":\"carol\",\"real_name\":\"Carol Strau\xc3\x9f\","
    "\"profile\":{\"display_name\":\"caz\"}}]";

static const char chans_json[] = "["
    "{\"id\":\"C1\",\"name\":\"general\",\"is_channel\":true,"
    "\"is_general\":true,\"is_member\":true,\"topic\":{\"value\":\"\"}},"
    "{\"id\":\"G1\",\"name\":\"secret\",\"is_private\":true,"
    "\"is_group\":true},"
    "{\"id\":\"D1\",\"is_im\":true,\"user\":\"U3\"}]";

static const char members_json[] = "["
    "{\"channel\":\"C1\",\"members\":[\"U1\",\"U2\",\"U3\"]},"
    "{\"channel\":\"G1\",\"members\":[{\"user\":\"U1\",\"last_read\":"
    "\"100.000001\",\"unread_count\":2,\"mention_count\":1},\"U2\"]},"
    "{\"channel\":\"D1\",\"members\":[\"U1\",\"U3\"]}]";

static const char messages_json[] = "["
    "{\"channel\":\"C1\",\"messages\":["
    "{\"type\":\"message\",\"user\":\"U1\",\"text\":\"hi\","
    "\"ts\":\"100.000001\"},"
    "{\"type\":\"message\",\"user\":\"U2\",\"text\":\"yo\","
    "\"ts\":\"100.000002\"}]}]";

static struct edge_team *
small_team(void)
{
	struct edge_team *t = edge_team_new("T1", 4);
	const char *err = NULL;

	assert_int_equal(edge_team_snapshot_begin(t, "epoch-a", 10, team_json,
	    strlen(team_json), &err), 0);
	assert_int_equal(edge_team_snapshot_part(t, EDGE_SNAP_USERS,
	    users_json, strlen(users_json), &err), 0);
	assert_int_equal(edge_team_snapshot_part(t, EDGE_SNAP_CHANNELS,
	    chans_json, strlen(chans_json), &err), 0);
	assert_int_equal(edge_team_snapshot_part(t, EDGE_SNAP_MEMBERS,
	    members_json, strlen(members_json), &err), 0);
	assert_int_equal(edge_team_snapshot_part(t, EDGE_SNAP_MESSAGES,
	    messages_json, strlen(messages_json), &err), 0);
	assert_int_equal(edge_team_snapshot_end(t, &err), 0);
	return t;
}

static int
apply(struct edge_team *t, uint64_t seq, const char *ev,
    struct edge_audience *a)
{
	return edge_team_apply(t, seq, ev, strlen(ev), a);
}

#define U(id) edge_team_user(t, id)
#define C(id) edge_team_channel(t, id)

static void
test_snapshot(void **state)
{
	struct edge_team *t = small_team();
	const char *err = NULL;

	assert_true(t->ready);
	assert_int_equal(t->seq, 10);
	assert_string_equal(t->epoch, "epoch-a");
	assert_int_equal(t->nusers, 3);
	assert_int_equal(t->nchans, 3);
	assert_string_equal(U("U1")->display_name, "ali");
	assert_null(U("U9"));

	/* Memberships both ways. */
	assert_int_equal(C("C1")->nmembers, 3);
	assert_int_equal(U("U1")->nchans, 3);
	assert_int_equal(U("U2")->nchans, 2);
	assert_non_null(edge_team_member(U("U2"), C("G1")));
	assert_null(edge_team_member(U("U3"), C("G1")));

	/* Per-user keys of the stored object are dropped. */
	assert_null(json_object_get(C("C1")->obj, "is_member"));
	assert_int_equal(C("C1")->nrecent, 2);
	assert_string_equal(C("C1")->latest, "100.000002");

	/* The snapshot's read state. */
	assert_int_equal(edge_member_unread(edge_team_member(U("U1"),
	    C("G1"))), 2);
	assert_int_equal(edge_member_mentions(edge_team_member(U("U1"),
	    C("G1"))), 1);

	/* Malformed parts are refused. */
	assert_int_equal(edge_team_snapshot_part(t, EDGE_SNAP_USERS, "[1]", 3,
	    &err), -1);
	edge_team_free(t);

	t = edge_team_new("T1", 4);
	assert_int_equal(edge_team_snapshot_begin(t, "e", 1, "{", 1, &err),
	    -1);
	assert_int_equal(edge_team_snapshot_begin(t, "e", 1, "{}", 2, &err),
	    0);
	assert_int_equal(edge_team_snapshot_part(t, EDGE_SNAP_USERS, "{}", 2,
	    &err), -1);
	assert_int_equal(edge_team_snapshot_part(t, 99, "[]", 2, &err), -1);
	assert_int_equal(edge_team_snapshot_part(t, EDGE_SNAP_USERS,
	    "[{\"name\":\"x\"}]", 14, &err), -1);
	edge_team_free(t);
}

static void
test_visibility(void **state)
{
	struct edge_team *t = small_team();

	assert_true(edge_team_can_see(U("U3"), C("C1")));
	assert_false(edge_team_can_see(U("U3"), C("G1")));
	assert_true(edge_team_can_see(U("U2"), C("G1")));
	assert_true(edge_team_can_see(U("U1"), C("D1")));
	assert_true(edge_team_can_see(U("U3"), C("D1")));
	assert_false(edge_team_can_see(U("U2"), C("D1")));
	edge_team_free(t);
}

/*
 * Sequence numbers: in order applies, a repeat is ignored, a skipped
 * number makes the team stale until a new snapshot.
 */
static void
test_seq_gap(void **state)
{
	struct edge_team *t = small_team();
	struct edge_audience a;
	static const char msg[] = "{\"type\":\"message\",\"channel\":\"C1\","
	    "\"user\":\"U2\",\"text\":\"x\",\"ts\":\"200.000001\"}";

	assert_int_equal(apply(t, 11, msg, &a), EDGE_APPLY_OK);
	assert_int_equal(apply(t, 11, msg, &a), EDGE_APPLY_OLD);
	assert_int_equal(apply(t, 5, msg, &a), EDGE_APPLY_OLD);
	assert_int_equal(apply(t, 13, msg, &a), EDGE_APPLY_GAP);
	assert_true(t->stale);
	assert_int_equal(apply(t, 12, msg, &a), EDGE_APPLY_GAP);
	assert_int_equal(a.kind, EDGE_AUD_NONE);
	assert_int_equal(t->seq, 11);
	edge_team_free(t);

	/* A fresh snapshot clears it. */
	t = small_team();
	assert_false(t->stale);
	assert_int_equal(apply(t, 11, msg, &a), EDGE_APPLY_OK);

	/* Malformed events advance the number but change nothing. */
	assert_int_equal(apply(t, 12, "not json", &a), EDGE_APPLY_BAD);
	assert_int_equal(apply(t, 13, "[1]", &a), EDGE_APPLY_BAD);
	assert_int_equal(apply(t, 14, "{\"type\":\"message\",\"channel\":"
	    "\"C9\",\"ts\":\"1.1\"}", &a), EDGE_APPLY_BAD);
	assert_int_equal(a.kind, EDGE_AUD_NONE);
	assert_int_equal(t->seq, 14);
	assert_int_equal(apply(t, 15, "{\"type\":\"pin_added\"}", &a),
	    EDGE_APPLY_OK);
	assert_int_equal(a.kind, EDGE_AUD_TEAM);
	edge_team_free(t);

	/* Events before any snapshot need one. */
	t = edge_team_new("T1", 4);
	assert_int_equal(apply(t, 1, msg, &a), EDGE_APPLY_GAP);
	edge_team_free(t);
}

static void
test_messages(void **state)
{
	struct edge_team *t = small_team();
	struct edge_channel *c;
	struct edge_audience a;
	struct edge_member *m1, *m2, *m3;

	c = C("C1");
	m1 = edge_team_member(U("U1"), c);
	m2 = edge_team_member(U("U2"), c);
	m3 = edge_team_member(U("U3"), c);
	assert_int_equal(edge_member_unread(m1), 0);

	/* U2 names U1: one unread for U1 and U3, a mention for U1. */
	assert_int_equal(apply(t, 11, "{\"type\":\"message\","
	    "\"channel\":\"C1\","
	    "\"user\":\"U2\",\"text\":\"hey <@U1>\","
	    "\"ts\":\"200.000001\"}", &a),
	    EDGE_APPLY_OK);
	assert_int_equal(a.kind, EDGE_AUD_CHANNEL);
	assert_ptr_equal(a.chan, c);
	assert_true(edge_team_aud_sees(&a, U("U3")));
	assert_int_equal(edge_member_unread(m1), 1);
	assert_int_equal(edge_member_mentions(m1), 1);
	assert_int_equal(edge_member_unread(m2), 0);
	assert_int_equal(edge_member_unread(m3), 1);
	assert_int_equal(edge_member_mentions(m3), 0);
	assert_string_equal(c->latest, "200.000001");
	assert_string_equal(m2->last_read, "200.000001");

	/* Bounded recent list: 4 kept, the oldest dropped. */
	assert_int_equal(apply(t, 12, "{\"type\":\"message\","
	    "\"channel\":\"C1\","
	    "\"user\":\"U3\",\"text\":\"a\",\"ts\":\"200.000002\"}", &a), 0);
	assert_int_equal(apply(t, 13, "{\"type\":\"message\","
	    "\"channel\":\"C1\","
	    "\"user\":\"U3\",\"text\":\"b\",\"ts\":\"200.000003\"}", &a), 0);
	assert_int_equal(c->nrecent, 4);
	assert_string_equal(c->recent[0].ts, "100.000002");
	assert_int_equal(edge_member_unread(m1), 3);
	assert_int_equal(edge_member_unread(m3), 0);

	/* A thread reply is not counted nor kept. */
	assert_int_equal(apply(t, 14, "{\"type\":\"message\","
	    "\"channel\":\"C1\","
	    "\"user\":\"U2\",\"text\":\"r\",\"ts\":\"200.000004\","
	    "\"thread_ts\":\"200.000001\"}", &a), 0);
	assert_int_equal(edge_member_unread(m1), 3);
	assert_int_equal(c->nrecent, 4);

	/* Edit, reactions, delete. */
	assert_int_equal(apply(t, 15, "{\"type\":\"message\",\"subtype\":"
	    "\"message_changed\",\"channel\":\"C1\",\"message\":{\"type\":"
	    "\"message\",\"user\":\"U3\",\"text\":\"b2\",\"ts\":\"200.000003\","
	    "\"edited\":{\"user\":\"U3\",\"ts\":\"201.0\"}}}", &a), 0);
	assert_non_null(strstr(c->recent[3].json, "\"text\":\"b2\""));
	assert_int_equal(apply(t, 16, "{\"type\":\"reaction_added\",\"user\":"
	    "\"U1\",\"reaction\":\"tada\",\"item\":{\"type\":\"message\","
	    "\"channel\":\"C1\",\"ts\":\"200.000003\"}}", &a), 0);
	assert_int_equal(apply(t, 17, "{\"type\":\"reaction_added\",\"user\":"
	    "\"U2\",\"reaction\":\"tada\",\"item\":{\"type\":\"message\","
	    "\"channel\":\"C1\",\"ts\":\"200.000003\"}}", &a), 0);
	assert_non_null(strstr(c->recent[3].json, "\"reactions\":[{\"name\":"
	    "\"tada\",\"users\":[\"U1\",\"U2\"],\"count\":2}]"));
	assert_int_equal(apply(t, 18, "{\"type\":\"reaction_removed\",\"user\":"
	    "\"U1\",\"reaction\":\"tada\",\"item\":{\"type\":\"message\","
	    "\"channel\":\"C1\",\"ts\":\"200.000003\"}}", &a), 0);
	assert_non_null(strstr(c->recent[3].json, "\"users\":[\"U2\"],"
	    "\"count\":1"));
	assert_int_equal(apply(t, 19, "{\"type\":\"reaction_removed\",\"user\":"
	    "\"U2\",\"reaction\":\"tada\",\"item\":{\"type\":\"message\","
	    "\"channel\":\"C1\",\"ts\":\"200.000003\"}}", &a), 0);
	assert_null(strstr(c->recent[3].json, "reactions"));
	assert_int_equal(apply(t, 20, "{\"type\":\"message\",\"subtype\":"
	    "\"message_deleted\",\"channel\":\"C1\",\"deleted_ts\":"
	    "\"200.000003\"}", &a), 0);
	assert_int_equal(c->nrecent, 3);
	assert_string_equal(c->recent[2].ts, "200.000002");

	/* A replayed tombstone is seen by nobody. */
	assert_int_equal(apply(t, 21, "{\"type\":\"tombstone\",\"channel\":"
	    "\"C1\",\"ts\":\"200.000002\"}", &a), 0);
	assert_int_equal(a.kind, EDGE_AUD_NONE);
	assert_int_equal(c->nrecent, 2);

	/* Read marks, counted from the recent messages or as given. */
	assert_int_equal(apply(t, 22, "{\"type\":\"channel_marked\",\"user\":"
	    "\"U1\",\"channel\":\"C1\",\"ts\":\"200.000001\"}", &a), 0);
	assert_int_equal(a.kind, EDGE_AUD_USER);
	assert_ptr_equal(a.user, U("U1"));
	assert_false(edge_team_aud_sees(&a, U("U2")));
	assert_int_equal(edge_member_unread(m1), 2);
	assert_int_equal(edge_member_mentions(m1), 0);
	assert_string_equal(m1->last_read, "200.000001");
	assert_int_equal(apply(t, 23, "{\"type\":\"channel_marked\",\"user\":"
	    "\"U1\",\"channel\":\"C1\",\"ts\":\"200.000009\"}", &a), 0);
	assert_int_equal(edge_member_unread(m1), 0);
	assert_int_equal(apply(t, 24, "{\"type\":\"channel_marked\",\"user\":"
	    "\"U1\",\"channel\":\"C1\",\"ts\":\"1.0\",\"unread_count\":7,"
	    "\"mention_count\":2}", &a), 0);
	assert_int_equal(edge_member_unread(m1), 7);
	assert_int_equal(edge_member_mentions(m1), 2);
	assert_int_equal(apply(t, 25, "{\"type\":\"channel_marked\","
	    "\"channel\":"
	    "\"C1\",\"ts\":\"1.0\"}", &a), EDGE_APPLY_BAD);

	/* A direct message counts as a mention. */
	assert_int_equal(apply(t, 26, "{\"type\":\"message\","
	    "\"channel\":\"D1\","
	    "\"user\":\"U3\",\"text\":\"psst\",\"ts\":\"300.000001\"}", &a), 0);
	assert_true(edge_team_aud_sees(&a, U("U1")));
	assert_false(edge_team_aud_sees(&a, U("U2")));
	assert_int_equal(edge_member_mentions(edge_team_member(U("U1"),
	    C("D1"))), 1);
	edge_team_free(t);
}

static void
test_channels_members_users(void **state)
{
	struct edge_team *t = small_team();
	struct edge_audience a;
	const char *e;
	char *s;
	size_t len;

	/* A new public channel: everyone sees it and can find it. */
	assert_int_equal(apply(t, 11, "{\"type\":\"channel_created\","
	    "\"channel\":{\"id\":\"C2\",\"name\":\"random\",\"created\":1,"
	    "\"creator\":\"U1\"}}", &a), 0);
	assert_int_equal(a.kind, EDGE_AUD_TEAM);
	assert_true(edge_team_can_see(U("U3"), C("C2")));
	s = edge_team_complete(t, U("U3"), NULL, "ran", 3, EDGE_CPL_CHANNEL,
	    10, &len);
	assert_non_null(strstr(s, "\"id\":\"C2\""));
	free(s);

	/* A private channel with members: only they see the event. */
	assert_int_equal(apply(t, 12, "{\"type\":\"group_joined\",\"channel\":"
	    "{\"id\":\"G2\",\"name\":\"plans\",\"is_private\":true,"
	    "\"members\":[\"U1\",\"U3\"]}}", &a), 0);
	assert_int_equal(a.kind, EDGE_AUD_CHANNEL);
	assert_true(edge_team_aud_sees(&a, U("U3")));
	assert_false(edge_team_aud_sees(&a, U("U2")));
	s = edge_team_complete(t, U("U2"), NULL, "plans", 5, EDGE_CPL_CHANNEL,
	    10, &len);
	assert_string_equal(s, "{\"ok\":true,\"results\":[]}");
	free(s);

	/* Rename: found by the new name only. */
	assert_int_equal(apply(t, 13, "{\"type\":\"channel_rename\","
	    "\"channel\":"
	    "{\"id\":\"C2\",\"name\":\"watercooler\",\"created\":1}}", &a), 0);
	assert_string_equal(C("C2")->name, "watercooler");
	s = edge_team_complete(t, U("U3"), NULL, "ran", 3, EDGE_CPL_CHANNEL,
	    10, &len);
	assert_string_equal(s, "{\"ok\":true,\"results\":[]}");
	free(s);
	s = edge_team_complete(t, U("U3"), NULL, "water", 5, EDGE_CPL_CHANNEL,
	    10, &len);
	assert_non_null(strstr(s, "\"id\":\"C2\""));
	free(s);

	/* Archive hides it from autocomplete; unarchive brings it back. */
	assert_int_equal(apply(t, 14, "{\"type\":\"channel_archive\","
	    "\"channel\":\"C2\",\"user\":\"U1\"}", &a), 0);
	assert_true(C("C2")->archived);
	assert_int_equal(json_is_true(json_object_get(C("C2")->obj,
	    "is_archived")), 1);
	s = edge_team_complete(t, U("U3"), NULL, "water", 5, EDGE_CPL_CHANNEL,
	    10, &len);
	assert_null(strstr(s, "C2"));
	free(s);
	assert_int_equal(apply(t, 15, "{\"type\":\"channel_unarchive\","
	    "\"channel\":\"C2\",\"user\":\"U1\"}", &a), 0);
	assert_false(C("C2")->archived);

	/* Join and leave a private channel. */
	assert_int_equal(apply(t, 16, "{\"type\":\"member_joined_channel\","
	    "\"user\":\"U3\",\"channel\":\"G1\","
	    "\"channel_type\":\"G\"}", &a), 0);
	assert_true(edge_team_can_see(U("U3"), C("G1")));
	assert_true(edge_team_aud_sees(&a, U("U3")));
	assert_int_equal(apply(t, 17, "{\"type\":\"member_left_channel\","
	    "\"user\":\"U3\",\"channel\":\"G1\","
	    "\"channel_type\":\"G\"}", &a), 0);
	assert_false(edge_team_can_see(U("U3"), C("G1")));
	assert_true(edge_team_aud_sees(&a, U("U3"))); /* the leaver */
	assert_true(edge_team_aud_sees(&a, U("U1")));
	assert_false(edge_team_aud_sees(&a, U("U9") ? U("U9") : NULL));
	assert_int_equal(U("U3")->nchans, 3);

	/* A new user, a rename, a deactivation. */
	assert_int_equal(apply(t, 18, "{\"type\":\"team_join\",\"user\":{"
	    "\"id\":"
	    "\"U4\",\"name\":\"dave\",\"real_name\":\"Dave \xc3\x96zil\"}"
	    "}", &a),
	    0);
	assert_int_equal(a.kind, EDGE_AUD_TEAM);
	s = edge_team_complete(t, U("U1"), NULL, "ozil", 4, EDGE_CPL_USER, 10,
	    &len);
	assert_non_null(strstr(s, "\"id\":\"U4\""));
	free(s);
	assert_int_equal(apply(t, 19, "{\"type\":\"user_change\",\"user\":{"
	    "\"id\":"
	    "\"U4\",\"name\":\"david\",\"real_name\":\"David Ozil\","
	    "\"deleted\":true}}", &a), 0);
	assert_true(U("U4")->deleted);
	s = edge_team_complete(t, U("U1"), NULL, "ozil", 4, EDGE_CPL_USER, 10,
	    &len);
	assert_string_equal(s, "{\"ok\":true,\"results\":[]}");
	free(s);
	assert_non_null(strstr(U("U4")->json, "\"name\":\"david\""));

	/* An IM created by an event has its two members. */
	assert_int_equal(apply(t, 20, "{\"type\":\"im_created\","
	    "\"user\":\"U2\","
	    "\"channel\":{\"id\":\"D2\",\"user\":\"U4\","
	    "\"created\":1}}", &a), 0);
	assert_int_equal(C("D2")->type, EDGE_CHAN_IM);
	assert_int_equal(C("D2")->nmembers, 2);
	assert_false(edge_team_can_see(U("U1"), C("D2")));

	/* The backend's shapes: im_created with a peer, mpim_open. */
	assert_int_equal(apply(t, 100, "{\"type\":\"im_created\","
	    "\"user\":\"U1\",\"peer\":\"U2\",\"channel\":{\"id\":\"D3\","
	    "\"is_im\":true}}", &a), EDGE_APPLY_GAP);
	t->stale = 0;
	t->seq = 99;
	assert_int_equal(apply(t, 100, "{\"type\":\"im_created\","
	    "\"user\":\"U1\",\"peer\":\"U2\",\"channel\":{\"id\":\"D3\","
	    "\"is_im\":true}}", &a), 0);
	assert_int_equal(C("D3")->nmembers, 2);
	assert_false(edge_team_aud_sees(&a, U("U3")));
	assert_int_equal(apply(t, 101, "{\"type\":\"mpim_open\","
	    "\"user\":\"U3\",\"channel\":{\"id\":\"G7\",\"is_mpim\":true,"
	    "\"name\":\"mpdm-a--b-1\",\"members\":[\"U1\"]}}", &a), 0);
	assert_int_equal(C("G7")->type, EDGE_CHAN_MPIM);
	assert_int_equal(C("G7")->nmembers, 2);

	/* Scopes as the backend's RTM gives them. */
	assert_int_equal(apply(t, 102, "{\"type\":\"tokens_revoked\","
	    "\"user\":\"U2\",\"token_id\":\"k1\"}", &a), 0);
	assert_int_equal(a.kind, EDGE_AUD_NONE);
	assert_int_equal(apply(t, 103, "{\"type\":\"im_open\","
	    "\"user\":\"U2\",\"channel\":\"D2\"}", &a), 0);
	assert_int_equal(a.kind, EDGE_AUD_USER);
	assert_ptr_equal(a.user, U("U2"));
	assert_int_equal(apply(t, 104, "{\"type\":\"pin_added\","
	    "\"user\":\"U2\",\"channel_id\":\"C1\",\"item\":{"
	    "\"channel\":\"C1\"}}", &a), 0);
	assert_int_equal(a.kind, EDGE_AUD_CHANNEL);
	assert_ptr_equal(a.chan, C("C1"));
	t->seq = 20;

	/* Deleted channel: nobody sees it any more. */
	assert_int_equal(apply(t, 21, "{\"type\":\"channel_deleted\","
	    "\"channel\":\"C2\"}", &a), 0);
	assert_false(edge_team_can_see(U("U1"), C("C2")));

	/* Ephemeral events. */
	assert_int_equal(U("U2")->presence, EDGE_PRESENCE_AWAY);
	e = "{\"type\":\"presence_change\",\"user\":\"U2\",\"presence\":"
	    "\"active\"}";
	assert_int_equal(edge_team_apply_ephemeral(t, e, strlen(e), &a), 0);
	assert_int_equal(U("U2")->presence, EDGE_PRESENCE_ACTIVE);
	e = "{\"type\":\"presence_change\",\"users\":[\"U1\",\"U2\"],"
	    "\"presence\":\"away\"}";
	assert_int_equal(edge_team_apply_ephemeral(t, e, strlen(e), &a), 0);
	assert_int_equal(U("U2")->presence, EDGE_PRESENCE_AWAY);
	e = "{\"type\":\"user_typing\",\"user\":\"U2\",\"channel\":\"G1\"}";
	assert_int_equal(edge_team_apply_ephemeral(t, e, strlen(e), &a), 0);
	assert_int_equal(a.kind, EDGE_AUD_CHANNEL);
	assert_false(edge_team_aud_sees(&a, U("U3")));
	e = "{\"type\":\"user_typing\",\"channel\":\"X\"}";
	assert_int_equal(edge_team_apply_ephemeral(t, e, strlen(e), &a),
	    EDGE_APPLY_BAD);
	edge_team_free(t);
}

static void
test_complete_ranking(void **state)
{
	struct edge_team *t = small_team();
	char *s;
	size_t len;

	/*
	 * Everyone matching "s": #secret first (the asker's own channel),
	 * then Bob Stone and Carol Strauß by name.
	 */
	s = edge_team_complete(t, U("U1"), NULL, "s", 1, EDGE_CPL_USER |
	    EDGE_CPL_CHANNEL, 10, &len);
	assert_string_equal(s, "{\"ok\":true,\"results\":["
	    "{\"type\":\"channel\",\"id\":\"G1\",\"name\":\"secret\","
	    "\"is_private\":true,\"is_archived\":false,\"preferred\":true},"
	    "{\"type\":\"user\",\"id\":\"U2\",\"name\":\"bob\",\"real_name\":"
	    "\"Bob Stone\",\"display_name\":\"\",\"is_bot\":false,"
	    "\"preferred\":false},"
	    "{\"type\":\"user\",\"id\":\"U3\",\"name\":\"carol\",\"real_name\":"
	    "\"Carol Strau\xc3\x9f\",\"display_name\":\"caz\",\"is_bot\":false,"
	    "\"preferred\":false}]}");
	free(s);

	/* In #secret, its members (bob) first; carol does not see it. */
	s = edge_team_complete(t, U("U1"), "G1", "s", 1, EDGE_CPL_USER, 10,
	    &len);
	assert_non_null(strstr(s, "\"id\":\"U2\",\"name\":\"bob\""));
	assert_true(strstr(s, "U2") < strstr(s, "U3"));
	free(s);
	s = edge_team_complete(t, U("U3"), "G1", "s", 1, EDGE_CPL_USER, 10,
	    &len);
	assert_string_equal(s, "{\"ok\":false,"
	    "\"error\":\"channel_not_found\"}");
	free(s);
	s = edge_team_complete(t, U("U3"), NULL, "\xff", 1, EDGE_CPL_USER, 10,
	    &len);
	assert_string_equal(s, "{\"ok\":false,\"error\":\"invalid_query\"}");
	free(s);

	/* Members of a channel first also when they sort last. */
	s = edge_team_complete(t, U("U1"), "D1", "c", 1, EDGE_CPL_USER |
	    EDGE_CPL_CHANNEL, 10, &len);
	assert_non_null(strstr(s, "\"id\":\"U3\""));
	assert_non_null(strstr(s, "\"preferred\":true"));
	free(s);
	edge_team_free(t);
}

/* Memory grows with the team and is measured; freeing frees all. */
static void
test_memory(void **state)
{
	struct edge_team *a = synth_team(1000, 20, 5, 5);
	struct edge_team *b = synth_team(4000, 20, 5, 5);
	size_t ma = edge_team_memory(a), mb = edge_team_memory(b);

	assert_true(ma > 1000 * 500);
	assert_true(mb > ma * 3);
	assert_true(mb < 4000 * 8192);
	edge_team_free(a);
	edge_team_free(b);
}

/* Writes m into sb (frames accumulate). */
static void
put(msgpack_sbuffer *sb, int type, const char *team, const char *epoch,
    uint64_t seq, uint64_t kind, const char *json, const char *user)
{
	struct stream_msg m;
	const char *err = NULL;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.team = stream_str(team);
	m.epoch = stream_str(epoch);
	m.seq = seq;
	m.kind = kind;
	m.json = stream_str(json);
	m.user = stream_str(user);
	assert_int_equal(stream_msg_write(sb, &m, &err), 0);
}

/*
 * Feeds every frame of sb to the team as the edge reads the stream and
 * returns the results joined ("0 0 0 2 ..."), -1 shown as "E".
 */
static const char *
feed(struct edge_team *t, msgpack_sbuffer *sb, struct edge_audience *last)
{
	static char out[256];
	struct mpframe_dec d;
	const msgpack_object *map;
	struct stream_msg m;
	const char *err = NULL;
	size_t off = 0;
	ssize_t n;
	int r;

	out[0] = '\0';
	mpframe_dec_init(&d, STREAM_FRAME_MAX);
	while (off < sb->size) {
		n = mpframe_decode(&d, sb->data + off, sb->size - off, &map);
		assert_true(n > 0);
		off += (size_t)n;
		if (map == NULL)
			continue;
		assert_int_equal(stream_msg_read(map, STREAM_FROM_BACKEND, &m,
		    &err), 0);
		r = edge_team_frame(t, &m, last, &err);
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%c",
		    out[0] ? " " : "", r < 0 ? 'E' : '0' + r);
	}
	mpframe_dec_free(&d);
	sb->size = 0;
	return out;
}

/* The team loaded and followed through stream frames. */
static void
test_frames(void **state)
{
	struct edge_team *t = edge_team_new("T1", 4);
	struct edge_audience a;
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	put(&sb, STREAM_SNAPSHOT, "T1", "ep1", 10, 0, team_json, NULL);
	put(&sb, STREAM_SNAPSHOT_PART, "T1", NULL, 0, STREAM_PART_USERS,
	    users_json, NULL);
	put(&sb, STREAM_SNAPSHOT_PART, "T1", NULL, 0, STREAM_PART_CHANNELS,
	    chans_json, NULL);
	put(&sb, STREAM_SNAPSHOT_PART, "T1", NULL, 0, STREAM_PART_MEMBERS,
	    members_json, NULL);
	put(&sb, STREAM_SNAPSHOT_PART, "T1", NULL, 0, STREAM_PART_MESSAGES,
	    messages_json, NULL);
	put(&sb, STREAM_SNAPSHOT_END, "T1", NULL, 10, 0, NULL, NULL);
	put(&sb, STREAM_EVENT, "T1", NULL, 11, 0, "{\"type\":\"message\","
	    "\"channel\":\"G1\",\"user\":\"U2\",\"text\":\"x\",\"ts\":"
	    "\"300.000001\"}", NULL);
	assert_string_equal(feed(t, &sb, &a), "0 0 0 0 0 0 0");
	assert_true(t->ready);
	assert_int_equal(t->seq, 11);
	assert_int_equal(a.kind, EDGE_AUD_CHANNEL);
	assert_false(edge_team_aud_sees(&a, edge_team_user(t, "U3")));

	/* Ephemeral to one user; a frame of another team is refused. */
	put(&sb, STREAM_EPHEMERAL, "T1", NULL, 0, 0, "{\"type\":\"message\","
	    "\"subtype\":\"bot_message\",\"text\":\"only you\"}", "U3");
	assert_string_equal(feed(t, &sb, &a), "0");
	assert_int_equal(a.kind, EDGE_AUD_USER);
	assert_ptr_equal(a.user, edge_team_user(t, "U3"));
	put(&sb, STREAM_EVENT, "T2", NULL, 12, 0, "{}", NULL);
	assert_string_equal(feed(t, &sb, &a), "E");

	/* Resume: only from what the cache holds. */
	put(&sb, STREAM_RESUME, "T1", "ep1", 11, 0, NULL, NULL);
	assert_string_equal(feed(t, &sb, &a), "0");
	put(&sb, STREAM_RESUME, "T1", "ep2", 11, 0, NULL, NULL);
	assert_string_equal(feed(t, &sb, &a), "2");
	assert_true(t->stale);

	/* A fresh snapshot; a broken one stays unusable until the next. */
	put(&sb, STREAM_SNAPSHOT, "T1", "ep2", 50, 0, team_json, NULL);
	put(&sb, STREAM_SNAPSHOT_PART, "T1", NULL, 0, STREAM_PART_USERS,
	    "[{\"name\":\"no id\"}]", NULL);
	put(&sb, STREAM_SNAPSHOT_PART, "T1", NULL, 0, STREAM_PART_USERS,
	    users_json, NULL);
	put(&sb, STREAM_SNAPSHOT_END, "T1", NULL, 50, 0, NULL, NULL);
	put(&sb, STREAM_EVENT, "T1", NULL, 51, 0, "{\"type\":\"x\"}", NULL);
	assert_string_equal(feed(t, &sb, &a), "0 E E E 2");
	assert_false(t->ready);
	put(&sb, STREAM_SNAPSHOT, "T1", "ep2", 50, 0, team_json, NULL);
	put(&sb, STREAM_SNAPSHOT_END, "T1", NULL, 49, 0, NULL, NULL);
	put(&sb, STREAM_SNAPSHOT_END, "T1", NULL, 50, 0, NULL, NULL);
	put(&sb, STREAM_EVENT, "T1", NULL, 51, 0, "{\"type\":\"x\"}", NULL);
	assert_string_equal(feed(t, &sb, &a), "0 E 0 0");
	assert_string_equal(t->epoch, "ep2");
	assert_int_equal(t->seq, 51);
	msgpack_sbuffer_destroy(&sb);
	edge_team_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_visibility),
	    cmocka_unit_test(test_seq_gap),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_channels_members_users),
	    cmocka_unit_test(test_complete_ranking),
	    cmocka_unit_test(test_memory),
	    cmocka_unit_test(test_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
