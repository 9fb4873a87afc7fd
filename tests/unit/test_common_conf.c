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
	{"data", CONF_PATH, offsetof(struct tset, data), "var", 0, 0, 0},
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
test_defaults(void **state)
{
	struct tset s;
	char err[CONF_ERRLEN];

	/* A section with a required key must appear. */
	assert_int_equal(load("", &s, err), -1);
	assert_string_equal(err, "/etc/parley/t.conf: missing section "
				 "[tokens] (needs 'keys')");

	/* Otherwise: every default, no named section. */
	assert_int_equal(load("[tokens]\nkeys = /k\n", &s, err), 0);
	assert_string_equal(s.name, "parley");
	assert_int_equal(s.conns, 100);
	assert_false(s.on);
	assert_int_equal(s.buf, 16 * 1024);
	assert_int_equal(s.idle, 30000);
	assert_string_equal(s.listen.host, "127.0.0.1");
	assert_int_equal(s.listen.port, 8080);
	/* A relative default is taken from the file's directory too. */
	assert_string_equal(s.data, "/etc/parley/var");
	assert_int_equal(s.teams.n, 0);
	assert_string_equal(s.keys, "/k");
	assert_int_equal(s.shards.n, 0);
	conf_free(&t_schema, &s);
}

static void
test_suffixes(void **state)
{
	char err[CONF_ERRLEN];
	long long ms;
	size_t sz;
	bool b;
	struct conf_addr a;

	assert_int_equal(conf_parse_size("512", &sz, err, sizeof(err)), 0);
	assert_int_equal(sz, 512);
	assert_int_equal(conf_parse_size("512B", &sz, err, sizeof(err)), 0);
	assert_int_equal(sz, 512);
	assert_int_equal(conf_parse_size("2k", &sz, err, sizeof(err)), 0);
	assert_int_equal(sz, 2048);
	assert_int_equal(conf_parse_size("3M", &sz, err, sizeof(err)), 0);
	assert_int_equal(sz, 3 * 1024 * 1024);
	assert_int_equal(conf_parse_size("1GiB", &sz, err, sizeof(err)), 0);
	assert_int_equal(sz, 1024 * 1024 * 1024);
	assert_int_equal(conf_parse_size("1T", &sz, err, sizeof(err)), -1);
	assert_int_equal(conf_parse_size("-1", &sz, err, sizeof(err)), -1);
	assert_int_equal(conf_parse_size("K", &sz, err, sizeof(err)), -1);
	assert_int_equal(conf_parse_size("99999999999999999999G", &sz, err,
	    sizeof(err)), -1);
	assert_int_equal(conf_parse_size("9999999999999G", &sz, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "size '9999999999999G' is too large");

	assert_int_equal(conf_parse_duration("250ms", &ms, err, sizeof(err)),
	    0);
	assert_int_equal(ms, 250);
	assert_int_equal(conf_parse_duration("30", &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(conf_parse_duration("30s", &ms, err, sizeof(err)),
	    0);
	assert_int_equal(ms, 30000);
	assert_int_equal(conf_parse_duration("5m", &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(conf_parse_duration("2h", &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(conf_parse_duration("1d", &ms, err, sizeof(err)),
	    -1);
	assert_int_equal(conf_parse_duration("1.5s", &ms, err, sizeof(err)),
	    -1);
	assert_int_equal(conf_parse_duration("s", &ms, err, sizeof(err)), -1);

	assert_int_equal(conf_parse_bool("On", &b, err, sizeof(err)), 0);
	assert_true(b);
	assert_int_equal(conf_parse_bool("false", &b, err, sizeof(err)), 0);
	assert_false(b);
	assert_int_equal(conf_parse_bool("maybe", &b, err, sizeof(err)), -1);

	assert_int_equal(conf_parse_address("*:80", &a, err, sizeof(err)), 0);
	assert_string_equal(a.host, "");
	assert_int_equal(conf_parse_address(":0", &a, err, sizeof(err)), 0);
	assert_int_equal(a.port, 0);
	assert_int_equal(conf_parse_address("edge-1.local:443", &a, err,
	    sizeof(err)), 0);
	assert_string_equal(a.host, "edge-1.local");
	assert_int_equal(conf_parse_address("::1:80", &a, err, sizeof(err)),
	    -1);
	assert_int_equal(conf_parse_address("[::1]80", &a, err, sizeof(err)),
	    -1);
	assert_int_equal(conf_parse_address("h:65536", &a, err, sizeof(err)),
	    -1);
	assert_int_equal(conf_parse_address("h", &a, err, sizeof(err)), -1);
	assert_int_equal(conf_parse_address("h:", &a, err, sizeof(err)), -1);
	assert_int_equal(conf_parse_address("a b:1", &a, err, sizeof(err)),
	    -1);
	{
		char buf[64];

		conf_parse_address("[fe80::1]:9", &a, err, sizeof(err));
		assert_string_equal(conf_addr_str(&a, buf, sizeof(buf)),
		    "[fe80::1]:9");
	}
}

/* Each bad file gives exactly this message. */
static const struct {
	const char *text;
	const char *msg;
} bad_files[] = {
	{"[spoa]\nconns = 0\n", "T:2: [spoa] conns: 0 is below the minimum 1"},
	{"[spoa]\nconns = 20001\n",
	    "T:2: [spoa] conns: 20001 is above the maximum 20000"},
	{"[spoa]\nconns = 99999999999\n",
	    "T:2: [spoa] conns: 99999999999 is out of range"},
	{"[spoa]\nconns = 12x\n",
	    "T:2: [spoa] conns: '12x' is not a decimal integer"},
	{"[spoa]\n\n\nbuf = 100\n",
	    "T:4: [spoa] buf: 100 is below the minimum 512"},
	{"[spoa]\nbuf = 2M\n",
	    "T:2: [spoa] buf: 2M is above the maximum 1048576"},
	{"[spoa]\nidle = 0s\n", "T:2: [spoa] idle: 0s is below the minimum 1"},
	{"[spoa]\nidle = soon\n",
	    "T:2: [spoa] idle: 'soon' is not a duration (e.g. 250ms, 30s, 5m, "
	    "1h)"},
	{"[spoa]\non = perhaps\n",
	    "T:2: [spoa] on: 'perhaps' is not a boolean (yes/no)"},
	{"[spoa]\nlisten = nowhere\n",
	    "T:2: [spoa] listen: 'nowhere' is not an address (host:port, "
	    "[v6]:port, *:port)"},
	{"[spoa]\nteams = a b c d\n",
	    "T:2: [spoa] teams: a list of 4 items is above the maximum 3"},
	{"[spoa]\nteams = ,\n", "T:2: [spoa] teams: empty list"},
	{"[spoa]\nconns =\n", "T:2: [spoa] conns: empty value"},
	{"[spoa]\nport = 1\n", "T:2: unknown key 'port' in [spoa]"},
	{"[spoa]\nconns = 1\nconns = 2\n",
	    "T:3: duplicate key 'conns' in [spoa]"},
	{"[spoa]\n[nope]\n", "T:2: unknown section [nope]"},
	{"[spoa]\n[spoa]\n", "T:2: duplicate section [spoa], first at line 1"},
	{"[shard a]\naddress = h:1\n[shard a]\naddress = h:2\n",
	    "T:3: duplicate section [shard a], first at line 1"},
	{"[shard]\n", "T:1: section [shard] needs a name: [shard NAME]"},
	{"[spoa x]\n", "T:1: section [spoa] takes no name"},
	{"[shard a/b]\n",
	    "T:1: bad section label in '[shard a/b]' (1-32 of A-Z a-z 0-9 _ "
	    ". -)"},
	{"[shard a]\nweight = 2\n",
	    "T:1: [shard a] missing required key 'address'"},
	{"[tokens]\n", "T:1: [tokens] missing required key 'keys'"},
	{"[Spoa]\n", "T:1: bad section header '[Spoa]'"},
	{"[spoa\n", "T:1: missing ']'"},
	{"[spoa] x\n", "T:1: text after section header"},
	{"conns = 3\n", "T:1: 'conns' outside any section"},
	{"[spoa]\njust words\n", "T:2: syntax error: expected 'key = value'"},
	{"[spoa]\nname = a\0b\n", "T:2: NUL byte in line"},
};

static void
test_errors(void **state)
{
	char err[CONF_ERRLEN], line[300];
	struct tset s;
	size_t i;

	for (i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const char *t = bad_files[i].text;
		size_t len = strlen(t);

		/* The NUL case: count through the embedded NUL. */
		if (strstr(bad_files[i].msg, "NUL") != NULL)
			len += 1 + strlen(t + len + 1);
		if (conf_load_buffer(&t_schema, "T", t, len, &s, err,
		    sizeof(err)) != -1)
			fail_msg("file %zu accepted", i);
		if (strcmp(err, bad_files[i].msg) != 0)
			fail_msg("file %zu: got \"%s\", want \"%s\"", i, err,
			    bad_files[i].msg);
	}

	/* A line longer than inih reads is refused, not split. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "[spoa]\nname = ", 14);
	line[sizeof(line) - 1] = '\n';
	assert_int_equal(conf_load_buffer(&t_schema, "T", line, sizeof(line),
	    &s, err, sizeof(err)), -1);
	assert_string_equal(err, "T:2: line longer than 198 characters");
}

static int
check_conns_even(void *settings, char *err, size_t errlen)
{
	struct tset *s = settings;

	if (s->conns % 2 != 0) {
		snprintf(err, errlen, "[spoa] conns must be even");
		return -1;
	}
	return 0;
}

static void
test_check_and_required_section(void **state)
{
	static const struct conf_section sects[] = {
		{"spoa", t_keys, 0, false, 0, 0, 1},
		{NULL, NULL, 0, false, 0, 0, 0},
	};
	static const struct conf_schema schema = {
		sizeof(struct tset), sects, check_conns_even,
	};
	char err[CONF_ERRLEN];
	struct tset s;

	assert_int_equal(conf_load_buffer(&schema, "T", "[spoa]\nconns = 3\n",
	    17, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "T: [spoa] conns must be even");
	assert_int_equal(conf_load_buffer(&schema, "T", "[edge]\n", 7, &s, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "T: missing section [spoa]");
	assert_int_equal(conf_load_buffer(&schema, "T", "[spoa]\nconns = 4\n",
	    17, &s, err, sizeof(err)), 0);
	conf_free(&schema, &s);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_reload(void **state)
{
	char dir[] = "/tmp/parley-conf-XXXXXX", path[64], err[CONF_ERRLEN];
	struct tset s;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/parley.conf", dir);
	write_file(path, "[tokens]\nkeys=k\n[spoa]\nconns = 10\ndata = d\n");
	assert_int_equal(conf_load(&t_schema, path, &s, err, sizeof(err)), 0);
	assert_int_equal(s.conns, 10);
	assert_string_equal(s.data + strlen(dir), "/d");

	/* A bad file: the old settings stay, with the reason. */
	write_file(path, "[tokens]\nkeys=k\n[spoa]\nconns = 10\nconns = 11\n");
	assert_int_equal(conf_reload(&t_schema, path, &s, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "parley.conf:5: duplicate key"));
	assert_int_equal(s.conns, 10);
	assert_string_equal(s.data + strlen(dir), "/d");

	/* A good file replaces them. */
	write_file(path, "[tokens]\nkeys=k\n[spoa]\nconns = 12\n");
	assert_int_equal(conf_reload(&t_schema, path, &s, err, sizeof(err)),
	    0);
	assert_int_equal(s.conns, 12);
	assert_string_equal(s.data + strlen(dir), "/var");
	conf_free(&t_schema, &s);

	/* A missing file. */
	unlink(path);
	assert_int_equal(conf_reload(&t_schema, path, &s, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "No such file"));
	rmdir(dir);
}

static void
test_syntax_details(void **state)
{
	struct tset s;
	char err[CONF_ERRLEN];
	const char *t = "\xEF\xBB\xBF; comment\r\n"
			"[spoa] # trailing\r\n"
			"\tname : colon form\r\n"
			"    on = 1\n"
			"[tokens]\nkeys=/k\n"
			"[shards]\nmap = skipped\n";

	assert_int_equal(conf_load_buffer(&t_schema, "T", t, strlen(t), &s,
	    err, sizeof(err)), 0);
	assert_string_equal(s.name, "colon form");
	assert_true(s.on);
	conf_free(&t_schema, &s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_check_and_required_section),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_syntax_details),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
