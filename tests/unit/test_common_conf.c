/*
 * conf: values of every type, defaults, ranges, suffixes, named sections,
 * and every error with its file:line; reload keeps the old settings when
 * the new file is bad.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"

struct shard {
	char *name;
	struct conf_addr addr;
	int weight;
};

struct tset {
	char *name;
	int conns;
	bool on;
	size_t buf;
	long long idle;
	struct conf_addr listen;
	char *data;
	struct conf_list teams;
	char *keys;
	struct conf_array shards;
};

static const struct conf_key t_keys[] = {
	{"name", CONF_STRING, offsetof(struct tset, name), "parley", 0, 0, 0},
	{"conns", CONF_INT, offsetof(struct tset, conns), "100", 1, 20000, 0},
	{"on", CONF_BOOL, offsetof(struct tset, on), "no", 0, 0, 0},
	{"buf", CONF_SIZE, offsetof(struct tset, buf), "16K", 512,
	    1024 * 1024, 0},
	{"idle", CONF_DURATION, offsetof(struct tset, idle), "30s", 1, 0, 0},
	{"listen", CONF_ADDRESS, offsetof(struct tset, listen),
	    "127.0.0.1:8080", 0, 0, 0},
	{"data", CONF_PATH, offsetof(struct tset, data), NULL, 0, 0, 0},
	{"teams", CONF_LIST, offsetof(struct tset, teams), NULL, 0, 3, 0},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct conf_key t_tok_keys[] = {
	{"keys", CONF_PATH, 0, NULL, 0, 0, CONF_REQUIRED},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct conf_key t_shard_keys[] = {
	{"address", CONF_ADDRESS, offsetof(struct shard, addr), NULL, 0, 0,
	    CONF_REQUIRED},
	{"weight", CONF_INT, offsetof(struct shard, weight), "1", 1, 100, 0},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct conf_section t_sections[] = {
	{"spoa", t_keys, 0, false, 0, 0, 0},
	{"tokens", t_tok_keys, offsetof(struct tset, keys), false, 0, 0, 0},
	{"shard", t_shard_keys, offsetof(struct tset, shards), true,
	    sizeof(struct shard), offsetof(struct shard, name), 0},
	{NULL, NULL, 0, false, 0, 0, 0},
};

static const struct conf_schema t_schema = {
	sizeof(struct tset), t_sections, NULL,
};

static int
load(const char *text, struct tset *s, char *err)
{
	return conf_load_buffer(&t_schema, "/etc/parley/t.conf", text,
	    strlen(text), s, err, CONF_ERRLEN);
}

static void
test_values(void **state)
{
	struct tset s;
	char err[CONF_ERRLEN];
	struct shard *sh;

	assert_int_equal(load("# comment\n"
			      "[spoa]\n"
			      "name = edge one ; trailing comment\n"
			      "  conns = 20000\n"
			      "on = yes\n"
			      "buf = 64K\n"
			      "idle = 250ms\n"
			      "listen = [::1]:9000\n"
			      "data = var/data\n"
			      "teams = T1, T2 T3\n"
			      "[tokens]\n"
			      "keys = /etc/keys\n"
			      "[edge]\n"
			      "whatever = skipped\n"
			      "[shard eu1]\n"
			      "address = 10.0.0.1:7000\n"
			      "[shard us-2]\n"
			      "address = *:7001\n"
			      "weight = 5\n",
			 &s, err),
	    0);
	assert_string_equal(s.name, "edge one");
	assert_int_equal(s.conns, 20000);
	assert_true(s.on);
	assert_int_equal(s.buf, 64 * 1024);
	assert_int_equal(s.idle, 250);
	assert_string_equal(s.listen.host, "::1");
	assert_int_equal(s.listen.port, 9000);
	assert_string_equal(s.data, "/etc/parley/var/data");
	assert_int_equal(s.teams.n, 3);
	assert_string_equal(s.teams.v[2], "T3");
	assert_string_equal(s.keys, "/etc/keys");
	assert_int_equal(s.shards.n, 2);
	sh = CONF_ARRAY_AT(&s.shards, struct shard, 0);
	assert_string_equal(sh->name, "eu1");
	assert_int_equal(sh->weight, 1);
	sh = CONF_ARRAY_AT(&s.shards, struct shard, 1);
	assert_string_equal(sh->name, "us-2");
	assert_string_equal(sh->addr.host, "");
	assert_int_equal(sh->addr.port, 7001);
	assert_int_equal(sh->weight, 5);
	conf_free(&t_schema, &s);
}

static void
test_errors(void **state)
{
	struct tset s;
	char err[CONF_ERRLEN];

	assert_int_equal(load("[tokens]\nkeys = k\n[spoa]\nconns = 0\n", &s,
			     err),
	    -1);
	assert_string_equal(err, "/etc/parley/t.conf:4: [spoa] conns: 0 is "
				 "below the minimum 1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
