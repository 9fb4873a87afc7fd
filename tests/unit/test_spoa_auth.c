/*
 * Unit tests of spoa_auth.c's key sets across reloads.
 *
 * Guards: past 64 reloads a retired key set was leaked (the one retired
 * just before, not the oldest as the code said), and retired sets were
 * otherwise kept until exit.  Now a retired set is freed once no check
 * can hold it: the leak checker of the sanitizer build fails this test
 * if one is lost, and the threads checking during the reloads catch a
 * set freed while in use.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "spoa-agent/spoa.h"

#define RELOADS 200
#define CHECKERS 3

static struct token_keys *
make_keys(int i)
{
	char text[128], err[256];
	struct token_keys *k;

	/* The same secret under one kid, so every set verifies the token. */
	(void)i;
	snprintf(text, sizeof(text), "k1 %064x\n", 7u);
	k = token_keys_parse("keys", text, strlen(text), err, sizeof(err));
	if (k == NULL)
		fail_msg("%s", err);
	return k;
}

struct checker {
	pthread_t tid;
	const char *tok;
	_Atomic int *stop;
	unsigned long ok, bad;
};

static void *
checker_main(void *arg)
{
	struct checker *c = arg;
	char team[SPOA_ID_MAX + 1], user[SPOA_ID_MAX + 1];

	while (!atomic_load(c->stop)) {
		if (spoa_auth_check(c->tok, strlen(c->tok), 0, time(NULL),
			team, user) == SPOA_AUTH_OK)
			c->ok++;
		else
			c->bad++;
	}
	spoa_auth_thread_done();
	return NULL;
}

static void
test_reload_many(void **state)
{
	struct checker ck[CHECKERS];
	_Atomic int stop = 0;
	char tok[TOKEN_MAX_LEN];
	struct token_keys *k;
	char team[SPOA_ID_MAX + 1], user[SPOA_ID_MAX + 1];
	int i;

	k = make_keys(0);
	assert_true(token_mint(k, TOKEN_USER, "T1", "U1", "abcd", 0, tok,
			sizeof(tok)) > 0);
	spoa_auth_set_keys(k);

	for (i = 0; i < CHECKERS; i++) {
		ck[i].tok = tok;
		ck[i].stop = &stop;
		ck[i].ok = ck[i].bad = 0;
		assert_int_equal(pthread_create(&ck[i].tid, NULL, checker_main,
				     &ck[i]),
		    0);
	}
	for (i = 1; i <= RELOADS; i++)
		spoa_auth_set_keys(make_keys(i));
	atomic_store(&stop, 1);
	for (i = 0; i < CHECKERS; i++) {
		pthread_join(ck[i].tid, NULL);
		/* Every set holds the signing key: no check may fail. */
		assert_int_equal(ck[i].bad, 0);
	}

	assert_int_equal(spoa_auth_check(tok, strlen(tok), 0, time(NULL),
			     team, user),
	    SPOA_AUTH_OK);
	assert_string_equal(team, "T1");
	spoa_auth_cleanup();
	spoa_auth_thread_done();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
