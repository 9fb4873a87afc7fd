/*
 * shard: explicit placement from the map file, rendezvous hashing that
 * moves no team but to a new shard, lookups by domain, a single-shard
 * install, map edits written atomically, and bad files with file:line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shard.h"

#define CONF2                                                              \
	"[backend]\ndata_dir = d\n"                                        \
	"[shard s1]\nhttp = 127.0.0.1:8101\nstream = 127.0.0.1:8102\n"    \
	"admin = s1.sock\n"                                                \
	"[shard s2]\nhttp = 127.0.0.1:8111\n"                              \
	"[shards]\nmap = teams.map\n"

#define CONF3 CONF2 "[shard s3]\nhttp = 127.0.0.1:8121\n"

#define NTEAMS 3000

static struct shard_map *
load(const char *conf, const char *map, char *err)
{
	return shard_map_load_buffer("/etc/parley/parley.conf", conf,
	    strlen(conf), map, map != NULL ? strlen(map) : 0, 0, err,
	    CONF_ERRLEN);
}

static struct shard_map *
load_ok(const char *conf, const char *map)
{
	char err[CONF_ERRLEN];
	struct shard_map *m = load(conf, map, err);

	if (m == NULL)
		fail_msg("%s", err);
	return m;
}

/* The load fails and err contains want. */
static void
load_fails(const char *conf, const char *map, const char *want)
{
	char err[CONF_ERRLEN];
	struct shard_map *m = load(conf, map, err);

	if (m != NULL) {
		shard_map_free(m);
		fail_msg("loaded, expected '%s'", want);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
}

static void
team_id(char *buf, size_t len, int i)
{
	snprintf(buf, len, "T%010d", i * 7919 + 13);
}

static void
test_sections(void **state)
{
	struct shard_map *m = load_ok(CONF2, "");
	const struct shard *s;

	assert_int_equal(shard_map_count(m), 2);
	s = shard_map_get(m, 0);
	assert_string_equal(s->name, "s1");
	assert_string_equal(s->http, "127.0.0.1:8101");
	assert_string_equal(s->stream, "127.0.0.1:8102");
	assert_int_equal(s->stream_addr.port, 8102);
	assert_string_equal(s->admin, "/etc/parley/s1.sock");
	s = shard_map_get(m, 1);
	assert_string_equal(s->name, "s2");
	assert_int_equal(s->http_addr.port, 8111);
	assert_null(s->stream);
	assert_null(s->admin);
	assert_null(shard_map_get(m, 2));
	assert_ptr_equal(shard_map_byname(m, "s2"), s);
	assert_null(shard_map_byname(m, "s9"));
	assert_string_equal(shard_map_path(m), "/etc/parley/teams.map");
	shard_map_free(m);
}

static void
test_explicit(void **state)
{
	const char *map = "# teams\n"
			  "\n"
			  "TAAAA s2 alpha\n"
			  "  TBBBB\ts1   beta  \r\n"
			  "TCCCC s2 gamma.example\n";
	struct shard_map *m = load_ok(CONF2, map);
	const char *t, *d;
	const struct shard *s;

	assert_string_equal(shard_for_team(m, "TAAAA")->name, "s2");
	assert_string_equal(shard_for_team(m, "TBBBB")->name, "s1");
	assert_string_equal(shard_for_team(m, "TCCCC")->name, "s2");
	assert_string_equal(shard_team_by_domain(m, "alpha"), "TAAAA");
	assert_string_equal(shard_team_by_domain(m, "beta"), "TBBBB");
	assert_string_equal(shard_team_by_domain(m, "gamma.example"),
	    "TCCCC");
	assert_null(shard_team_by_domain(m, "delta"));
	assert_null(shard_team_by_domain(m, "alph"));
	assert_string_equal(shard_team_domain(m, "TBBBB"), "beta");
	assert_null(shard_team_domain(m, "TDDDD"));

	/* sorted by id */
	assert_int_equal(shard_map_team_count(m), 3);
	assert_int_equal(shard_map_team_at(m, 0, &t, &s, &d), 0);
	assert_string_equal(t, "TAAAA");
	assert_string_equal(s->name, "s2");
	assert_string_equal(d, "alpha");
	assert_int_equal(shard_map_team_at(m, 3, &t, &s, &d), -1);

	/* an unlisted team still has a shard */
	assert_non_null(shard_for_team(m, "TDDDD"));
	assert_ptr_equal(shard_for_team(m, "TDDDD"),
	    shard_hash_team(m, "TDDDD"));
	assert_null(shard_for_team(m, NULL));
	shard_map_free(m);
}

/* The explicit line wins over the hash, whichever shard that is. */
static void
test_explicit_overrides_hash(void **state)
{
	struct shard_map *m = load_ok(CONF2, "");
	char map[128], hashed[SHARD_NAME_MAX + 1];

	snprintf(hashed, sizeof(hashed), "%s",
	    shard_hash_team(m, "TOVERRIDE1")->name);
	shard_map_free(m);
	snprintf(map, sizeof(map), "TOVERRIDE1 %s over\n",
	    strcmp(hashed, "s1") == 0 ? "s2" : "s1");
	m = load_ok(CONF2, map);
	assert_string_not_equal(shard_for_team(m, "TOVERRIDE1")->name,
	    hashed);
	assert_string_equal(shard_hash_team(m, "TOVERRIDE1")->name, hashed);
	shard_map_free(m);
}

/*
 * Adding s3: a team moves only to s3, about a third of them do, and the
 * listed teams do not move at all.  The hash is fixed, so are the counts.
 */
static void
test_hash_stable(void **state)
{
	struct shard_map *m2 = load_ok(CONF2, "T0000000013 s1 pinned\n");
	struct shard_map *m3 = load_ok(CONF3, "T0000000013 s1 pinned\n");
	int i, moved = 0, on[2] = { 0, 0 };
	char id[32];

	for (i = 0; i < NTEAMS; i++) {
		const struct shard *a, *b;

		team_id(id, sizeof(id), i);
		a = shard_for_team(m2, id);
		b = shard_for_team(m3, id);
		assert_non_null(a);
		assert_non_null(b);
		/* the same answer twice */
		assert_ptr_equal(a, shard_for_team(m2, id));
		on[strcmp(a->name, "s1") == 0 ? 0 : 1]++;
		if (strcmp(a->name, b->name) != 0) {
			assert_string_equal(b->name, "s3");
			moved++;
		}
	}
	team_id(id, sizeof(id), 0);
	assert_string_equal(id, "T0000000013");
	assert_string_equal(shard_for_team(m3, id)->name, "s1");

	/* spread: each side within 10% of half, a third moved (+-5%) */
	assert_in_range(on[0], NTEAMS * 4 / 10, NTEAMS * 6 / 10);
	assert_in_range(moved, NTEAMS * 28 / 100, NTEAMS * 38 / 100);
	shard_map_free(m2);
	shard_map_free(m3);
}

/* The order of the [shard] sections does not change placement. */
static void
test_hash_order_free(void **state)
{
	const char *a = "[shard x]\nhttp = h:1\n[shard y]\nhttp = h:2\n";
	const char *b = "[shard y]\nhttp = h:2\n[shard x]\nhttp = h:1\n";
	struct shard_map *ma = load_ok(a, NULL), *mb = load_ok(b, NULL);
	char id[32];
	int i;

	for (i = 0; i < 200; i++) {
		team_id(id, sizeof(id), i);
		assert_string_equal(shard_for_team(ma, id)->name,
		    shard_for_team(mb, id)->name);
	}
	shard_map_free(ma);
	shard_map_free(mb);
}

static void
test_single_shard_install(void **state)
{
	struct shard_map *m = load_ok("[backend]\ndata_dir = d\n", NULL);

	assert_int_equal(shard_map_count(m), 0);
	assert_null(shard_for_team(m, "TAAAA"));
	assert_null(shard_team_by_domain(m, "alpha"));
	assert_null(shard_map_path(m));
	shard_map_free(m);

	/* one shard without a map: every team is on it */
	m = load_ok("[shard only]\nhttp = 127.0.0.1:1\n", NULL);
	assert_string_equal(shard_for_team(m, "TAAAA")->name, "only");
	shard_map_free(m);
}

static void
test_bad_conf(void **state)
{
	load_fails("[shards]\nmap = t.map\n", "",
	    "[shards] map is set but there is no [shard NAME] section");
	load_fails("[shard s1]\nstream = h:1\n", "",
	    "parley.conf:1: [shard s1] missing required key 'http'");
	load_fails("[shard s1]\nhttp = *:80\n", "", "http needs a host");
	load_fails("[shard s1]\nhttp = h:0\n", "", "http needs a host");
	load_fails("[shard s1]\nhttp = h:1\nweight = 2\n", "",
	    "parley.conf:3: unknown key 'weight' in [shard s1]");
	load_fails("[shard s1]\nhttp = h:1\n[shard s1]\nhttp = h:2\n", "",
	    "parley.conf:3: duplicate section [shard s1]");
	load_fails("[shard]\nhttp = h:1\n", "", "needs a name");
	load_fails("[shard s1]\nhttp = nope\n", "", "not an address");
}

static void
test_bad_map(void **state)
{
	load_fails(CONF2, "TAAAA s1 a\nTBBBB s1\n",
	    "/etc/parley/teams.map:2: expected 'TEAM_ID SHARD DOMAIN'");
	load_fails(CONF2, "TAAAA s1 a extra\n", "teams.map:1: expected");
	load_fails(CONF2, "# c\nUAAAA s1 a\n",
	    "teams.map:2: 'UAAAA' is not a team id");
	load_fails(CONF2, "Taaaa s1 a\n", "teams.map:1: 'Taaaa' is not a");
	load_fails(CONF2, "T s1 a\n", "teams.map:1: 'T' is not a team id");
	load_fails(CONF2, "T123456789012345678901 s1 a\n",
	    "teams.map:1: 'T123456789012345678901' is not a team id");
	load_fails(CONF2, "TAAAA s9 a\n",
	    "teams.map:1: unknown shard 's9' (no [shard s9] section)");
	load_fails(CONF2, "TAAAA s1 a/b\n", "teams.map:1: 'a/b' is not a");
	load_fails(CONF2, "TAAAA s1 a\n\nTBBBB s2 b\nTAAAA s2 c\n",
	    "teams.map:4: team TAAAA listed twice, first at line 1");
	load_fails(CONF2, "TAAAA s1 same\nTBBBB s2 x\nTCCCC s2 same\n",
	    "teams.map:3: domain same listed twice, first at line 1");
}

static void
test_bad_map_lengths(void **state)
{
	char line[SHARD_LINE_MAX + 16];
	char err[CONF_ERRLEN];
	struct shard_map *m;
	static const char nul[] = "TAAAA s1 a\nTB\0B s1 b\n";

	memset(line, 'a', sizeof(line) - 1);
	memcpy(line, "TAAAA s1 ", 9);
	line[sizeof(line) - 1] = '\0';
	load_fails(CONF2, line, "teams.map:1: line longer than 200");

	m = shard_map_load_buffer("/p.conf", CONF2, strlen(CONF2), nul,
	    sizeof(nul) - 1, 0, err, sizeof(err));
	assert_null(m);
	assert_non_null(strstr(err, "/teams.map:2: NUL byte in line"));
}

/* Files on disk: a missing map, put and save, and a reload. */
static void
test_files(void **state)
{
	char dir[] = "/tmp/parley-shard-XXXXXX", conf[64], mapf[80];
	char err[CONF_ERRLEN], hap[80], text[512];
	size_t n;
	struct shard_map *m, *m2;
	struct stat sb;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/parley.conf", dir);
	snprintf(mapf, sizeof(mapf), "%s/teams.map", dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs(CONF2, f);
	fclose(f);

	m = shard_map_load(conf, 0, err, sizeof(err));
	assert_null(m);
	assert_non_null(strstr(err, "teams.map: no such file"));
	m = shard_map_load(conf, SHARD_MAP_MISSING_OK, err, sizeof(err));
	assert_non_null(m);
	assert_string_equal(shard_map_path(m), mapf);
	assert_int_equal(shard_map_team_count(m), 0);

	assert_int_equal(shard_map_put(m, "TBBBB", "s2", "beta", err,
	    sizeof(err)), 0);
	assert_int_equal(shard_map_put(m, "TAAAA", "s1", "alpha", err,
	    sizeof(err)), 0);
	assert_int_equal(shard_map_put(m, "TCCCC", "s1", "alpha", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "domain alpha is already team TAAAA"));
	assert_int_equal(shard_map_put(m, "TCCCC", "s7", "gamma", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown shard 's7'"));
	assert_int_equal(shard_map_put(m, "xx", "s1", "gamma", err,
	    sizeof(err)), -1);
	assert_int_equal(shard_map_put(m, "TCCCC", "s1", "g a", err,
	    sizeof(err)), -1);
	/* a move: same team, other shard, same domain */
	assert_int_equal(shard_map_put(m, "TAAAA", "s2", "alpha", err,
	    sizeof(err)), 0);
	assert_string_equal(shard_team_by_domain(m, "alpha"), "TAAAA");
	assert_string_equal(shard_team_by_domain(m, "beta"), "TBBBB");
	assert_int_equal(shard_map_save(m, err, sizeof(err)), 0);

	m2 = shard_map_load(conf, 0, err, sizeof(err));
	if (m2 == NULL)
		fail_msg("%s", err);
	assert_int_equal(shard_map_team_count(m2), 2);
	assert_string_equal(shard_for_team(m2, "TAAAA")->name, "s2");
	assert_string_equal(shard_for_team(m2, "TBBBB")->name, "s2");
	assert_string_equal(shard_team_by_domain(m2, "beta"), "TBBBB");
	assert_int_equal(stat(mapf, &sb), 0);

	/* HAProxy's map: TEAM SHARD, sorted, with comment lines. */
	snprintf(hap, sizeof(hap), "%s/shards.map", dir);
	assert_int_equal(shard_map_save_haproxy(m2, hap, err, sizeof(err)),
	    0);
	f = fopen(hap, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_non_null(strstr(text, "\nTAAAA s2\nTBBBB s2\n"));
	assert_null(strstr(text, "alpha"));
	unlink(hap);
	shard_map_free(m2);
	shard_map_free(m);

	/* a map that is a directory */
	unlink(mapf);
	assert_int_equal(mkdir(mapf, 0700), 0);
	m = shard_map_load(conf, SHARD_MAP_MISSING_OK, err, sizeof(err));
	assert_null(m);
	assert_non_null(strstr(err, "not a regular file"));
	rmdir(mapf);

	/* no map key: save refuses */
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs("[shard s1]\nhttp = h:1\n", f);
	fclose(f);
	m = shard_map_load(conf, 0, err, sizeof(err));
	assert_non_null(m);
	assert_int_equal(shard_map_save(m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[shards] map"));
	shard_map_free(m);
	unlink(conf);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_valid(void **state)
{
	assert_true(shard_valid_team("T1", 2));
	assert_true(shard_valid_team("TABCDEFGHIJ0123456789", 21));
	assert_false(shard_valid_team("TABCDEFGHIJ01234567890", 22));
	assert_false(shard_valid_team("T", 1));
	assert_false(shard_valid_domain("", 0));
	assert_true(shard_valid_domain("parley-demo", 11));
	assert_false(shard_valid_domain("a b", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_explicit_overrides_hash),
		cmocka_unit_test(test_hash_stable),
		cmocka_unit_test(test_hash_order_free),
		cmocka_unit_test(test_single_shard_install),
		cmocka_unit_test(test_bad_conf),
		cmocka_unit_test(test_bad_map),
		cmocka_unit_test(test_bad_map_lengths),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
