/*
 * Unit tests of route53-health/health_stats.c: reading HAProxy's
 * `show stat` CSV (a capture from HAProxy 2.6 among them), server states,
 * quoting, and refusing what is not a stats table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route53-health/health.h"

static int
parse(const char *csv, const char *name, struct health_stats_backend *be,
    char *err)
{
	memset(be, 0, sizeof(*be));
	be->name = name;
	return health_stats_parse(csv, strlen(csv), be, err, 96);
}

static char *
read_seed(const char *name)
{
	char path[256];
	FILE *f;
	char *buf;
	long n;

	snprintf(
	    path, sizeof(path), "tests/fuzz/corpus/fuzz_health_stats/%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_haproxy26_capture(void **state)
{
	struct health_stats_backend be;
	char err[96];
	char *csv = read_seed("haproxy26.csv");

	/* e1 and e3 are DOWN (nothing listens), e2 has no check. */
	assert_int_equal(parse(csv, "be_edges", &be, err), 0);
	assert_int_equal(be.found, 1);
	assert_int_equal(be.servers, 3);
	assert_int_equal(be.up, 1);
	assert_int_equal(be.scur, 0);
	assert_int_equal(be.frontends, 1);

	assert_int_equal(parse(csv, "be_nope", &be, err), 0);
	assert_int_equal(be.found, 0);

	assert_int_equal(parse(csv, NULL, &be, err), 0);
	assert_int_equal(be.found, 1);
	assert_int_equal(be.frontends, 1);
	free(csv);
}

static void
test_states_and_sessions(void **state)
{
	static const char csv[] = "# pxname,svname,qcur,scur,status,weight\n"
	                          "fe,FRONTEND,,12,OPEN,\n"
	                          "be,a,0,3,UP,1\n"
	                          "be,b,0,2,UP 1/3,1\n"
	                          "be,c,0,0,DOWN 1/2,1\n"
	                          "be,d,0,0,NOLB,1\n"
	                          "be,e,0,0,MAINT,1\n"
	                          "be,f,0,0,DRAIN,1\n"
	                          "be,g,0,1,no check,1\n"
	                          "be,BACKEND,0,6,UP,3\n"
	                          "other,x,0,0,UP,1\n"
	                          "other,BACKEND,0,0,UP,1\n";
	struct health_stats_backend be;
	char err[96];

	assert_int_equal(parse(csv, "be", &be, err), 0);
	assert_int_equal(be.servers, 7);
	assert_int_equal(be.up, 3);
	assert_int_equal(be.scur, 6);
	assert_int_equal(be.frontends, 1);

	assert_int_equal(parse(csv, NULL, &be, err), 0);
	assert_int_equal(be.servers, 8);
	assert_int_equal(be.up, 4);
	assert_int_equal(be.scur, 6);
}

static void
test_quoted_fields_and_crlf(void **state)
{
	static const char csv[] = "# pxname,svname,desc,scur,status\r\n"
	                          "be,a,\"a, \"\"quoted\"\" desc\",1,UP\r\n"
	                          "be,b,\"\",0,\"DOWN\"\r\n"
	                          "be,BACKEND,,1,UP";
	struct health_stats_backend be;
	char err[96];

	assert_int_equal(parse(csv, "be", &be, err), 0);
	assert_int_equal(be.found, 1);
	assert_int_equal(be.servers, 2);
	assert_int_equal(be.up, 1);
	assert_int_equal(be.scur, 1);
}

static void
test_not_a_stats_table(void **state)
{
	struct health_stats_backend be;
	char err[96];

	assert_int_equal(parse("", "be", &be, err), -1);
	assert_string_equal(err, "empty stats answer");
	assert_int_equal(parse("Unknown command.\n", "be", &be, err), -1);
	assert_string_equal(err, "no stats header");
	assert_int_equal(
	    parse("# pxname,svname,scur\nbe,a,1\n", "be", &be, err), -1);
	assert_string_equal(err, "no status column");
	assert_int_equal(parse("# pxname,svname,scur,status\n"
	                       "be,\"a,1,UP\n",
	                     "be", &be, err),
	    -1);
	assert_string_equal(err, "broken quotes");
}

static void
test_status_words(void **state)
{
	assert_true(health_status_is_up("UP", 2));
	assert_true(health_status_is_up("UP 2/3", 6));
	assert_true(health_status_is_up("no check", 8));
	assert_false(health_status_is_up("UPX", 3));
	assert_false(health_status_is_up("DOWN", 4));
	assert_false(health_status_is_up("DRAIN", 5));
	assert_false(health_status_is_up("", 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_haproxy26_capture),
		cmocka_unit_test(test_states_and_sessions),
		cmocka_unit_test(test_quoted_fields_and_crlf),
		cmocka_unit_test(test_not_a_stats_table),
		cmocka_unit_test(test_status_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
