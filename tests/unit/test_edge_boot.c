/*
 * Unit tests of edge/edge_boot.c: the slim boot holds no user list and
 * stays within 2 KiB + 400 bytes per channel whatever the team's size
 * (10,000 and 20,000 users); the full boot holds everyone; the
 * lazy-loading answers have Slack's shapes and page with cursors
 * through every object exactly once.
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
#include "tests/unit/edge_synth.h"

static json_t *
parse(char *s, size_t len)
{
	json_error_t e;
	json_t *v = json_loadb(s, len, 0, &e);

	assert_non_null(v);
	assert_int_equal(strlen(s), len);
	free(s);
	return v;
}

static size_t
slim_size(size_t nusers, json_t **out)
{
	struct edge_team *t = synth_team(nusers, 40, 5, 10);
	const struct edge_user *me = edge_team_user(t, "U0000000000");
	size_t len;
	char *s;

	assert_non_null(me);
	assert_int_equal(me->nchans, 5);
	s = edge_boot_slim(t, me, &len);
	*out = parse(s, len);
	edge_team_free(t);
	return len;
}

static void
test_slim_boot_size(void **state)
{
	json_t *a, *b, *chans, *c;
	size_t la, lb, i;

	la = slim_size(10000, &a);
	lb = slim_size(20000, &b);
	print_message("slim boot: %zu bytes at 10,000 users, %zu at 20,000\n",
	    la, lb);
	assert_true(la <= 2048 + 400 * 5);
	assert_true(lb <= 2048 + 400 * 5);
	assert_int_equal(la, lb);

	/* self, team and the five channels; no user list. */
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_null(json_object_get(a, "users"));
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(a, "self"), "id")), "U0000000000");
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(a, "team"), "domain")), "synthetic");
	assert_string_equal(json_string_value(json_object_get(a, "epoch")),
	    "00112233aabbccdd");
	assert_int_equal(json_integer_value(json_object_get(a, "seq")), 1000);
	chans = json_object_get(a, "channels");
	assert_int_equal(json_array_size(chans), 5);
	json_array_foreach(chans, i, c) {
		assert_non_null(json_object_get(c, "unread_count"));
		assert_non_null(json_object_get(c, "mention_count"));
		assert_non_null(json_object_get(c, "latest"));
		assert_null(json_object_get(c, "members"));
	}

	/* General, then chan-1 with 4 unread and 1 mention, ..., the IM. */
	c = json_array_get(chans, 1);
	assert_string_equal(json_string_value(json_object_get(c, "id")),
	    "C0000000001");
	assert_int_equal(json_integer_value(json_object_get(c,
	    "unread_count")), 4);
	assert_int_equal(json_integer_value(json_object_get(c,
	    "mention_count")), 1);
	assert_string_equal(json_string_value(json_object_get(c, "latest")),
	    "1700000001.000010");
	c = json_array_get(chans, 0);
	assert_true(json_is_true(json_object_get(c, "is_general")));
	c = json_array_get(chans, 4);
	assert_string_equal(json_string_value(json_object_get(c, "id")),
	    "D0000000001");
	assert_true(json_is_true(json_object_get(c, "is_im")));
	assert_string_equal(json_string_value(json_object_get(c, "user")),
	    "U0000000001");
	assert_int_equal(json_integer_value(json_object_get(c,
	    "mention_count")), 2);
	json_decref(a);
	json_decref(b);
}

static void
test_full_boot(void **state)
{
	struct edge_team *t = synth_team(2000, 20, 5, 5);
	const struct edge_user *me = edge_team_user(t, "U0000000000");
	size_t len, slim;
	json_t *o, *users, *chans, *c;
	char *s;

	s = edge_boot_slim(t, me, &slim);
	free(s);
	s = edge_boot_full(t, me, &len);
	o = parse(s, len);
	users = json_object_get(o, "users");
	assert_int_equal(json_array_size(users), 2000);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(users, 1999), "id")), "U0000001999");
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(o, "self"), "id")), "U0000000000");
	chans = json_object_get(o, "channels");
	assert_int_equal(json_array_size(chans), 20);
	c = json_array_get(chans, 0);
	assert_int_equal(json_array_size(json_object_get(c, "members")), 2000);
	assert_int_equal(json_array_size(json_object_get(o, "ims")), 1);
	assert_true(len > 100 * slim);
	json_decref(o);
	edge_team_free(t);
}

static void
test_users(void **state)
{
	struct edge_team *t = synth_team(1000, 5, 3, 2);
	const struct edge_user *me = edge_team_user(t, "U0000000000");
	char cursor[256] = "", *s;
	size_t len, seen = 0, i, pages = 0;
	json_t *o, *m, *u;

	s = edge_api_users_info(t, me, "U0000000042", &len);
	o = parse(s, len);
	assert_true(json_is_true(json_object_get(o, "ok")));
	u = json_object_get(o, "user");
	assert_string_equal(json_string_value(json_object_get(u, "name")),
	    "user42");
	assert_non_null(json_object_get(json_object_get(u, "profile"),
	    "image_72"));
	json_decref(o);
	s = edge_api_users_info(t, me, "U9", &len);
	assert_string_equal(s, "{\"ok\":false,\"error\":\"user_not_found\"}");
	free(s);

	/* Pages of 333: every user once, in id order. */
	do {
		s = edge_api_users_list(t, me, cursor, 333, &len);
		o = parse(s, len);
		assert_non_null(json_object_get(o, "cache_ts"));
		m = json_object_get(o, "members");
		json_array_foreach(m, i, u) {
			char want[16];

			snprintf(want, sizeof(want), "U%010zu", seen++);
			assert_string_equal(json_string_value(json_object_get(u,
			    "id")), want);
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(
		    json_object_get(json_object_get(o, "response_metadata"),
		    "next_cursor")));
		json_decref(o);
		pages++;
	} while (cursor[0] != '\0');
	assert_int_equal(seen, 1000);
	assert_int_equal(pages, 4);

	/* Default limit; cursors of another kind or forged are refused. */
	s = edge_api_users_list(t, me, NULL, 0, &len);
	o = parse(s, len);
	assert_int_equal(json_array_size(json_object_get(o, "members")), 200);
	json_decref(o);
	s = edge_api_users_list(t, me, "bTpVMQ", 10, &len);
	assert_string_equal(s, "{\"ok\":false,\"error\":\"invalid_cursor\"}");
	free(s);
	s = edge_api_users_list(t, me, "!!!", 10, &len);
	assert_string_equal(s, "{\"ok\":false,\"error\":\"invalid_cursor\"}");
	free(s);
	edge_team_free(t);
}

static void
test_conversations(void **state)
{
	struct edge_team *t = synth_team(500, 30, 4, 2);
	const struct edge_user *me = edge_team_user(t, "U0000000000");
	const struct edge_user *other = edge_team_user(t, "U0000000002");
	char cursor[256] = "", *s;
	size_t len, seen = 0, i;
	json_t *o, *c, *list;

	/* info: as the asker sees it. */
	s = edge_api_conversations_info(t, me, "C0000000001", 1, &len);
	o = parse(s, len);
	c = json_object_get(o, "channel");
	assert_string_equal(json_string_value(json_object_get(c, "name")),
	    "chan-1");
	assert_true(json_is_true(json_object_get(c, "is_member")));
	assert_string_equal(json_string_value(json_object_get(c,
	    "last_read")), "1700000000.000001");
	assert_int_equal(json_integer_value(json_object_get(c,
	    "num_members")), edge_team_channel(t, "C0000000001")->nmembers);
	assert_non_null(json_object_get(c, "purpose"));
	json_decref(o);
	s = edge_api_conversations_info(t, other, "D0000000001", 0, &len);
	assert_string_equal(s,
	    "{\"ok\":false,\"error\":\"channel_not_found\"}");
	free(s);
	s = edge_api_conversations_info(t, me, "D0000000001", 0, &len);
	o = parse(s, len);
	c = json_object_get(o, "channel");
	assert_true(json_is_true(json_object_get(c, "is_open")));
	assert_string_equal(json_string_value(json_object_get(c, "user")),
	    "U0000000001");
	json_decref(o);
	/* The other side of the IM sees the asker as its user. */
	s = edge_api_conversations_info(t, edge_team_user(t, "U0000000001"),
	    "D0000000001", 0, &len);
	o = parse(s, len);
	c = json_object_get(o, "channel");
	assert_string_equal(json_string_value(json_object_get(c, "user")),
	    "U0000000000");
	json_decref(o);

	/* list: public channels in pages of 7, then the IM by type. */
	do {
		s = edge_api_conversations_list(t, me, NULL, 0, cursor, 7,
		    &len);
		o = parse(s, len);
		list = json_object_get(o, "channels");
		assert_true(json_array_size(list) <= 7);
		json_array_foreach(list, i, c) {
			char want[16];

			snprintf(want, sizeof(want), "C%010zu", seen++);
			assert_string_equal(json_string_value(json_object_get(c,
			    "id")), want);
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(
		    json_object_get(json_object_get(o, "response_metadata"),
		    "next_cursor")));
		json_decref(o);
	} while (cursor[0] != '\0');
	assert_int_equal(seen, 30);
	s = edge_api_conversations_list(t, me, "im,mpim", 0, NULL, 0, &len);
	o = parse(s, len);
	assert_int_equal(json_array_size(json_object_get(o, "channels")), 1);
	json_decref(o);
	s = edge_api_conversations_list(t, other, "im", 0, NULL, 0, &len);
	o = parse(s, len);
	assert_int_equal(json_array_size(json_object_get(o, "channels")), 0);
	json_decref(o);
	s = edge_api_conversations_list(t, me, "public_channel,bogus", 0, NULL,
	    0, &len);
	assert_string_equal(s, "{\"ok\":false,\"error\":\"invalid_types\"}");
	free(s);

	/* members: every member once, in pages. */
	seen = 0;
	cursor[0] = '\0';
	do {
		s = edge_api_conversations_members(t, me, "C0000000000", cursor,
		    100, &len);
		o = parse(s, len);
		seen += json_array_size(json_object_get(o, "members"));
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(
		    json_object_get(json_object_get(o, "response_metadata"),
		    "next_cursor")));
		json_decref(o);
	} while (cursor[0] != '\0');
	assert_int_equal(seen, 500);
	s = edge_api_conversations_members(t, other, "D0000000001", NULL, 10,
	    &len);
	assert_string_equal(s,
	    "{\"ok\":false,\"error\":\"channel_not_found\"}");
	free(s);
	edge_team_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slim_boot_size),
	    cmocka_unit_test(test_full_boot),
	    cmocka_unit_test(test_users),
	    cmocka_unit_test(test_conversations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
