/*
 * Unit tests of common/log.c: the line format, the debug switch, and that
 * errno is appended by log_warn only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Runs fn with stderr redirected to a file and returns what it wrote. */
static char *
capture(void (*fn)(void))
{
	static char out[4096];
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof(out) - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return out;
}

static void
emit_levels(void)
{
	errno = ENOENT;
	log_warn("open %s", "x.conf");
	log_warnx("bad %d", 7);
	log_info("client 1 sent garbage");
	log_debug("detail");
}

static void
test_levels_quiet(void **state)
{
	char *out;

	log_init("t", 0, 0);
	out = capture(emit_levels);
	assert_non_null(strstr(out, "t[warn]: open x.conf: No such file"));
	assert_non_null(strstr(out, "t[warn]: bad 7\n"));
	assert_non_null(strstr(out, "t[info]: client 1 sent garbage\n"));
	assert_null(strstr(out, "detail"));
}

static void
test_levels_verbose(void **state)
{
	char *out;

	log_init("t", 0, 1);
	out = capture(emit_levels);
	assert_non_null(strstr(out, "t[debug]: detail\n"));
	assert_int_equal(log_getverbose(), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_quiet),
		cmocka_unit_test(test_levels_verbose),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
