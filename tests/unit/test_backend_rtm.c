/*
 * Unit tests of the RTM pieces that need no connection: where an event
 * goes (rtm_event_scope), the resume answers, client message parsing and
 * refusals, acks and pongs, WebSocket URL parameters, and the origin
 * that completes a relative rtm_url.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"

static void
scope_of(const char *json, struct rtm_scope *sc)
{
	json_t *ev = json_loads(json, 0, NULL);

	assert_non_null(ev);
	rtm_event_scope(ev, sc);
	json_decref(ev);
}

static void
test_scope_channel_events(void **state)
{
	struct rtm_scope sc;

	scope_of("{\"type\":\"message\",\"channel\":\"C0000000001\","
	    "\"user\":\"U0000000001\",\"text\":\"hi\"}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_CHANNEL);
	assert_string_equal(sc.channel, "C0000000001");
	assert_string_equal(sc.user, "");
	assert_int_equal(sc.action, RTM_ACT_NONE);

	/* A reaction names its channel under item. */
	scope_of("{\"type\":\"reaction_added\",\"user\":\"U0000000001\","
	    "\"item\":{\"type\":\"message\",\"channel\":\"G0000000002\","
	    "\"ts\":\"1.000001\"}}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_CHANNEL);
	assert_string_equal(sc.channel, "G0000000002");

	/* The one who left still hears that they left. */
	scope_of("{\"type\":\"member_left_channel\",\"channel\":\"G0000000002\","
	    "\"user\":\"U0000000003\"}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_CHANNEL);
	assert_string_equal(sc.user, "U0000000003");

	/* A private channel's creation stays among its members. */
	scope_of("{\"type\":\"group_joined\",\"channel\":{\"id\":"
	    "\"G0000000004\",\"name\":\"x\"}}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_CHANNEL);
	assert_string_equal(sc.channel, "G0000000004");

	/* A DM's events go to its two members. */
	scope_of("{\"type\":\"im_created\",\"user\":\"U0000000001\","
	    "\"channel\":{\"id\":\"D0000000005\"}}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_CHANNEL);
	assert_string_equal(sc.channel, "D0000000005");
}

static void
test_scope_team_and_user(void **state)
{
	struct rtm_scope sc;

	/* Public channel life is news for the whole team... */
	scope_of("{\"type\":\"channel_created\",\"channel\":{\"id\":"
	    "\"C0000000001\",\"name\":\"x\"}}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_TEAM);
	scope_of("{\"type\":\"channel_rename\",\"channel\":{\"id\":"
	    "\"C0000000001\",\"name\":\"y\"}}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_TEAM);
	/* ...but not a private channel's rename. */
	scope_of("{\"type\":\"channel_rename\",\"channel\":{\"id\":"
	    "\"G0000000001\",\"name\":\"y\"}}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_CHANNEL);

	scope_of("{\"type\":\"team_join\",\"user\":{\"id\":\"U0000000009\"}}",
	    &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_TEAM);
	assert_int_equal(sc.action, RTM_ACT_NONE);

	/* Read markers are one user's business. */
	scope_of("{\"type\":\"channel_marked\",\"channel\":\"C0000000001\","
	    "\"user\":\"U0000000002\",\"ts\":\"1.000000\"}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_USER);
	assert_string_equal(sc.user, "U0000000002");
	scope_of("{\"type\":\"manual_presence_change\",\"user\":"
	    "\"U0000000002\",\"presence\":\"away\"}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_USER);
	/* Without the user it goes nowhere rather than everywhere. */
	scope_of("{\"type\":\"channel_marked\",\"channel\":\"C0000000001\"}",
	    &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_NONE);
}

static void
test_scope_internal_and_actions(void **state)
{
	struct rtm_scope sc;

	scope_of("{\"type\":\"tokens_revoked\",\"user\":\"U0000000002\","
	    "\"token_id\":\"abc123\"}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_NONE);
	assert_int_equal(sc.action, RTM_ACT_REVOKE_TOKEN);
	assert_string_equal(sc.user, "U0000000002");
	assert_string_equal(sc.token_id, "abc123");

	scope_of("{\"type\":\"tombstone\",\"channel\":\"C0000000001\","
	    "\"ts\":\"1.000000\"}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_NONE);
	assert_int_equal(sc.action, RTM_ACT_NONE);

	scope_of("{\"type\":\"user_change\",\"user\":{\"id\":\"U0000000007\","
	    "\"deleted\":true}}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_TEAM);
	assert_int_equal(sc.action, RTM_ACT_DEACTIVATE);
	assert_string_equal(sc.user, "U0000000007");

	scope_of("{\"type\":\"user_change\",\"user\":{\"id\":\"U0000000007\","
	    "\"deleted\":false}}", &sc);
	assert_int_equal(sc.action, RTM_ACT_NONE);

	/* Odd shapes never overflow or crash. */
	scope_of("{\"type\":\"message\",\"channel\":\"CXXXXXXXXXXXXXXXXXXXXXXX"
	    "XXXXXXXXXXXXXXXXXX\"}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_NONE);
	scope_of("{\"type\":7}", &sc);
	assert_int_equal(sc.kind, RTM_SCOPE_NONE);
	scope_of("{\"type\":\"tokens_revoked\",\"user\":7}", &sc);
	assert_int_equal(sc.action, RTM_ACT_NONE);
}

static void
test_resume_answers(void **state)
{
	const char *e = "0123456789abcdef";

	/* Exact resumes: from any number the log still follows. */
	assert_int_equal(rtm_resume_check(e, 1, 10, e, 0), RTM_RESUME_OK);
	assert_int_equal(rtm_resume_check(e, 1, 10, e, 10), RTM_RESUME_OK);
	assert_int_equal(rtm_resume_check(e, 5, 10, e, 4), RTM_RESUME_OK);
	assert_int_equal(rtm_resume_check(e, 0, 0, e, 0), RTM_RESUME_OK);
	/* Every event after 10 was dropped, none is missed from 10. */
	assert_int_equal(rtm_resume_check(e, 11, 10, e, 10), RTM_RESUME_OK);

	assert_int_equal(rtm_resume_check(e, 5, 10, e, 3),
	    RTM_RESUME_TOO_OLD);
	assert_int_equal(rtm_resume_check(e, 11, 10, e, 9),
	    RTM_RESUME_TOO_OLD);
	assert_int_equal(rtm_resume_check(e, 1, 10, e, 11),
	    RTM_RESUME_FUTURE);
	/* Another epoch, even with a number the store holds. */
	assert_int_equal(rtm_resume_check(e, 1, 10, "fedcba9876543210", 5),
	    RTM_RESUME_EPOCH);
	assert_int_equal(rtm_resume_check(e, 1, 10, NULL, 5),
	    RTM_RESUME_EPOCH);

	assert_string_equal(rtm_resume_reason(RTM_RESUME_EPOCH),
	    "epoch_changed");
	assert_string_equal(rtm_resume_reason(RTM_RESUME_TOO_OLD),
	    "seq_too_old");
	assert_string_equal(rtm_resume_reason(RTM_RESUME_FUTURE),
	    "seq_unknown");
}

/* Parses s; returns the error name or NULL. */
static const char *
msg_err(const char *s, struct rtm_msg *m)
{
	const char *err = NULL;

	if (rtm_msg_parse(s, strlen(s), 3, m, &err) == 0)
		return NULL;
	assert_non_null(err);
	return err;
}

static void
test_msg_parse(void **state)
{
	struct rtm_msg m;

	assert_null(msg_err("{\"id\":1,\"type\":\"message\",\"channel\":"
	    "\"C0000000001\",\"text\":\"h\\u00e9\",\"thread_ts\":"
	    "\"1700000000.000001\"}", &m));
	assert_int_equal(m.type, RTM_MSG_MESSAGE);
	assert_int_equal(json_integer_value(m.id), 1);
	assert_string_equal(m.channel, "C0000000001");
	assert_string_equal(m.text, "h\xc3\xa9");
	assert_string_equal(m.thread_ts, "1700000000.000001");
	rtm_msg_clear(&m);

	assert_null(msg_err("{\"id\":\"abc\",\"type\":\"typing\",\"channel\":"
	    "\"D0000000001\"}", &m));
	assert_int_equal(m.type, RTM_MSG_TYPING);
	assert_string_equal(json_string_value(m.id), "abc");
	rtm_msg_clear(&m);

	assert_null(msg_err("{\"type\":\"ping\"}", &m));
	assert_int_equal(m.type, RTM_MSG_PING);
	assert_null(m.id);
	rtm_msg_clear(&m);

	assert_null(msg_err("{\"id\":2,\"type\":\"presence_sub\",\"ids\":"
	    "[\"U0000000001\",\"U0000000002\"]}", &m));
	assert_int_equal(m.type, RTM_MSG_PRESENCE_SUB);
	assert_int_equal(json_array_size(m.ids), 2);
	rtm_msg_clear(&m);

	assert_null(msg_err("{\"id\":3,\"type\":\"whatever\"}", &m));
	assert_int_equal(m.type, RTM_MSG_OTHER);
	rtm_msg_clear(&m);
}

static void
test_msg_refusals(void **state)
{
	struct rtm_msg m;
	char *big;

	assert_string_equal(msg_err("{\"id\":1,", &m), "invalid_json");
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("[1]", &m), "not_an_object");
	assert_null(m.id);
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"id\":1.5,\"type\":\"ping\"}", &m),
	    "bad_id");
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"id\":{},\"type\":\"ping\"}", &m),
	    "bad_id");
	rtm_msg_clear(&m);
	/* The id survives the other refusals, so they can be acked. */
	assert_string_equal(msg_err("{\"id\":4}", &m), "no_type");
	assert_int_equal(json_integer_value(m.id), 4);
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"id\":5,\"type\":\"message\","
	    "\"channel\":\"C0000000001\"}", &m), "no_text");
	assert_int_equal(json_integer_value(m.id), 5);
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"id\":5,\"type\":\"message\","
	    "\"channel\":\"C0000000001\",\"text\":7}", &m), "no_text");
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"id\":6,\"type\":\"message\","
	    "\"channel\":\"U0000000001\",\"text\":\"x\"}", &m), "bad_channel");
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"id\":6,\"type\":\"message\","
	    "\"channel\":\"C0000000001\",\"text\":\"x\",\"thread_ts\":\"1.x\"}",
	    &m), "bad_thread_ts");
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"type\":\"typing\"}", &m),
	    "bad_channel");
	rtm_msg_clear(&m);
	/* More ids than allowed (3 here), or not user ids. */
	assert_string_equal(msg_err("{\"type\":\"presence_sub\",\"ids\":"
	    "[\"U0000000001\",\"U0000000002\",\"U0000000003\","
	    "\"U0000000004\"]}", &m), "bad_ids");
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"type\":\"presence_sub\",\"ids\":"
	    "[\"C0000000001\"]}", &m), "bad_ids");
	rtm_msg_clear(&m);
	/* Duplicate keys and invalid UTF-8 are refused by the parser. */
	assert_string_equal(msg_err("{\"type\":\"ping\",\"type\":\"ping\"}",
	    &m), "invalid_json");
	rtm_msg_clear(&m);
	assert_string_equal(msg_err("{\"type\":\"p\xff\"}", &m),
	    "invalid_json");
	rtm_msg_clear(&m);

	big = malloc(RTM_TEXT_MAX + 200);
	assert_non_null(big);
	memcpy(big, "{\"type\":\"message\",\"channel\":\"C0000000001\","
	    "\"text\":\"", 50);
	memset(big + 50, 'x', RTM_TEXT_MAX + 1);
	strcpy(big + 50 + RTM_TEXT_MAX + 1, "\"}");
	assert_string_equal(msg_err(big, &m), "msg_too_long");
	rtm_msg_clear(&m);
	free(big);
}

static void
test_acks(void **state)
{
	json_t *id = json_integer(9), *extra;
	struct rtm_msg m;
	size_t len;
	char *s;

	extra = json_pack("{s:s}", "ts", "1.000002");
	s = rtm_ack_ok(id, extra, &len);
	assert_string_equal(s, "{\"ok\":true,\"reply_to\":9,\"ts\":\"1.000002\"}");
	assert_int_equal(len, strlen(s));
	free(s);
	json_decref(extra);

	s = rtm_ack_error(id, 2, "no_text", &len);
	assert_string_equal(s, "{\"ok\":false,\"error\":{\"code\":2,\"msg\":"
	    "\"no_text\"},\"reply_to\":9}");
	free(s);
	s = rtm_ack_error(NULL, 1, "invalid_json", &len);
	assert_null(strstr(s, "reply_to"));
	free(s);
	json_decref(id);

	assert_null(msg_err("{\"id\":\"p1\",\"type\":\"ping\",\"time\":5,"
	    "\"x\":[1]}", &m));
	s = rtm_pong(&m, &len);
	assert_string_equal(s, "{\"type\":\"pong\",\"time\":5,\"x\":[1],"
	    "\"reply_to\":\"p1\"}");
	free(s);
	rtm_msg_clear(&m);
}

static void
test_query_param(void **state)
{
	char out[16];

	assert_int_equal(rtm_query_param("ticket=abc&seq=12", "seq", out,
	    sizeof(out)), 1);
	assert_string_equal(out, "12");
	assert_int_equal(rtm_query_param("ticket=a%2Eb+c", "ticket", out,
	    sizeof(out)), 1);
	assert_string_equal(out, "a.b c");
	assert_int_equal(rtm_query_param("xseq=1&seq", "seq", out,
	    sizeof(out)), 1);
	assert_string_equal(out, "");
	assert_int_equal(rtm_query_param("a=1", "seq", out, sizeof(out)), 0);
	assert_int_equal(rtm_query_param("", "seq", out, sizeof(out)), 0);
	assert_int_equal(rtm_query_param("seq=0123456789abcdef0", "seq", out,
	    sizeof(out)), -1);
	assert_int_equal(rtm_query_param("seq=%4", "seq", out, sizeof(out)),
	    -1);
	assert_int_equal(rtm_query_param("seq=%zz", "seq", out, sizeof(out)),
	    -1);
	/* A NUL smuggled in is refused. */
	assert_int_equal(rtm_query_param("seq=1%002", "seq", out,
	    sizeof(out)), -1);
}

/*
 * The origin a call records from Host and X-Forwarded-Proto: wss only
 * for https, and nothing for a Host that could smuggle a path, a query
 * or a header into the URL rtm.connect hands out.
 */
static void
test_call_origin(void **state)
{
	struct api_call c;
	char longhost[200];

	memset(&c, 0, sizeof(c));
	api_call_set_origin(&c, "chat.example.com", "https");
	assert_string_equal(c.origin, "wss://chat.example.com");
	api_call_set_origin(&c, "127.0.0.1:8443", "HTTPS");
	assert_string_equal(c.origin, "wss://127.0.0.1:8443");
	api_call_set_origin(&c, "127.0.0.1:8080", NULL);
	assert_string_equal(c.origin, "ws://127.0.0.1:8080");
	api_call_set_origin(&c, "[::1]:8080", "http");
	assert_string_equal(c.origin, "ws://[::1]:8080");

	api_call_set_origin(&c, NULL, "https");
	assert_string_equal(c.origin, "");
	api_call_set_origin(&c, "", NULL);
	assert_string_equal(c.origin, "");
	api_call_set_origin(&c, "evil.example/x?", NULL);
	assert_string_equal(c.origin, "");
	api_call_set_origin(&c, "a b", NULL);
	assert_string_equal(c.origin, "");
	api_call_set_origin(&c, "user@host", NULL);
	assert_string_equal(c.origin, "");
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	api_call_set_origin(&c, longhost, NULL);
	assert_string_equal(c.origin, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope_channel_events),
		cmocka_unit_test(test_scope_team_and_user),
		cmocka_unit_test(test_scope_internal_and_actions),
		cmocka_unit_test(test_resume_answers),
		cmocka_unit_test(test_msg_parse),
		cmocka_unit_test(test_msg_refusals),
		cmocka_unit_test(test_acks),
		cmocka_unit_test(test_query_param),
		cmocka_unit_test(test_call_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
