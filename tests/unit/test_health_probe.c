/*
 * Unit tests of what the probes read back (route53-health): the status
 * line of a /healthz answer and the agent's answer to the healthcheck
 * HELLO, built with common/spop.c as parley-spoa builds it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "route53-health/health.h"
#include "spop.h"

static void
test_status_line(void **state)
{
	int st = 0;

	assert_int_equal(
	    health_http_status_line("HTTP/1.1 200 OK\r\n", 17, &st), 1);
	assert_int_equal(st, 200);
	assert_int_equal(
	    health_http_status_line("HTTP/1.0 503\r\n", 14, &st), 1);
	assert_int_equal(st, 503);
	/* Split anywhere: more is needed. */
	assert_int_equal(health_http_status_line("HTTP/1.1 20", 11, &st), 0);
	assert_int_equal(health_http_status_line("HTT", 3, &st), 0);
	assert_int_equal(health_http_status_line("", 0, &st), 0);
	/* Not HTTP/1. */
	assert_int_equal(health_http_status_line("SSH-2.0-x\r\n", 11, &st), -1);
	assert_int_equal(
	    health_http_status_line("HTTP/2 200\r\n", 12, &st), -1);
	assert_int_equal(
	    health_http_status_line("HTTP/1.1 2x0 OK\r\n", 17, &st), -1);
	assert_int_equal(
	    health_http_status_line("HTTP/1.1 099 X\r\n", 16, &st), -1);
	assert_int_equal(
	    health_http_status_line("HTTP/1.1 2000\r\n", 15, &st), -1);
}

static void
test_status_line_too_long(void **state)
{
	char buf[2048];
	int st;

	memcpy(buf, "HTTP/1.1 200 ", 13);
	memset(buf + 13, 'x', sizeof(buf) - 13);
	assert_int_equal(health_http_status_line(buf, sizeof(buf), &st), -1);
}

static void
test_hello_is_a_healthcheck(void **state)
{
	char buf[512];
	struct spop_frame f;
	struct spop_hello hello;
	size_t n;
	int st = 0;

	n = health_spop_hello(buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(spop_frame_parse((const uint8_t *)buf, n,
	                     SPOP_MAX_FRAME_SIZE, &f, &st),
	    (ssize_t)n);
	assert_int_equal(f.type, SPOP_FRAME_HAPROXY_HELLO);
	assert_int_equal(spop_hello_parse(&f, &hello, &st), 0);
	assert_true(hello.healthcheck);
	assert_int_equal(health_spop_hello(buf, 8), 0);
}

static void
test_agent_answers(void **state)
{
	uint8_t b[512];
	char msg[HEALTH_MSG_MAX];
	ssize_t n;

	n = spop_build_agent_hello(b, sizeof(b), 16380, "pipelining");
	assert_true(n > 0);
	assert_int_equal(
	    health_spop_answer((char *)b, (size_t)n, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "AGENT-HELLO version 2.0");
	/* Every cut of it needs more. */
	assert_int_equal(
	    health_spop_answer((char *)b, (size_t)n - 1, msg, sizeof(msg)), 0);
	assert_int_equal(health_spop_answer((char *)b, 3, msg, sizeof(msg)), 0);

	n = spop_build_disconnect(b, sizeof(b), SPOP_FRAME_AGENT_DISCONNECT,
	    SPOP_ST_BAD_VERSION, "bad version");
	assert_int_equal(
	    health_spop_answer((char *)b, (size_t)n, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "agent disconnected"));

	/* An HTTP answer from something else on the agent's port. */
	assert_int_equal(health_spop_answer(
	                     "HTTP/1.1 400 Bad\r\n\r\n", 20, msg, sizeof(msg)),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_status_line_too_long),
		cmocka_unit_test(test_hello_is_a_healthcheck),
		cmocka_unit_test(test_agent_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
