/*
 * Unit tests of edge/edge_fold.c and edge/edge_complete.c: folding of
 * names from many scripts, the autocomplete cases users rely on (accents
 * stored composed or decomposed, ß, Turkish i, katakana widths, CJK,
 * emoji), ranking of preferred entries, the limit, the stable order, and
 * updates; a large index is checked against a brute-force search.
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

struct obj {
	const char *id;
	const char *labels[3];
	int kind;
	int priv; /* a channel the asker cannot see */
	int pref;
	uint32_t e;
};

static struct obj objs[] = {
    {"U01", {"zoe.c", "Zo\xc3\xab", "Zo\xc3\xab Martin"}, EDGE_CPL_USER, 0,
	0, 0},
    {"U02", {"zoe.d", "Zoe\xcc\x88", "Zoe\xcc\x88 Dubois"}, EDGE_CPL_USER, 0,
	0, 0},
    {"U03", {"hans", "Hans", "Hans Stra\xc3\x9f" "e"}, EDGE_CPL_USER, 0, 0,
	0},
    /* İlkay Gündoğan */
    {"U04", {"tr1", "\xc4\xb0lkay", "\xc4\xb0lkay G\xc3\xbcnd"
	"o\xc4\x9f" "an"}, EDGE_CPL_USER, 0, 0, 0},
    /* ılgın Yılmaz */
    {"U05", {"tr2", "\xc4\xb1lg\xc4\xb1n", "\xc4\xb1lg\xc4\xb1n Y\xc4\xb1lmaz"},
	EDGE_CPL_USER, 0, 0, 0},
    /* ｻﾄｳ (half-width) and サトウ (full-width) */
    {"U06", {"jp1", "\xef\xbd\xbb\xef\xbe\x84\xef\xbd\xb3", NULL},
	EDGE_CPL_USER, 0, 0, 0},
    {"U07", {"jp2", "\xe3\x82\xb5\xe3\x83\x88\xe3\x82\xa6", NULL},
	EDGE_CPL_USER, 0, 0, 0},
    /* 王小明, 王芳, 山田太郎, 山本 */
    {"U08", {"cn1", "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e", NULL},
	EDGE_CPL_USER, 0, 0, 0},
    {"U09", {"cn2", "\xe7\x8e\x8b\xe8\x8a\xb3", NULL}, EDGE_CPL_USER, 0, 0,
	0},
    {"U10", {"jp3", "\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e", NULL},
	EDGE_CPL_USER, 0, 0, 0},
    {"U11", {"jp4", "\xe5\xb1\xb1\xe6\x9c\xac", NULL}, EDGE_CPL_USER, 0, 0,
	0},
    /* Bob 🚀 */
    {"U12", {"u12", "Bob \xf0\x9f\x9a\x80", NULL}, EDGE_CPL_USER, 0, 0, 0},
    {"U13", {"u13", "Bobby", "Bobby Tables"}, EDGE_CPL_USER, 0, 0, 0},
    /* 👨‍👩‍👧 */
    {"U14", {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d"
	     "\xf0\x9f\x91\xa7", NULL, NULL}, EDGE_CPL_USER, 0, 0, 0},
    {"C01", {"general", NULL, NULL}, EDGE_CPL_CHANNEL, 0, 0, 0},
    {"C02", {"zoe-fans", NULL, NULL}, EDGE_CPL_CHANNEL, 1, 0, 0},
    {"C03", {"bob-club", NULL, NULL}, EDGE_CPL_CHANNEL, 0, 0, 0},
};
#define NOBJS (sizeof(objs) / sizeof(objs[0]))

static int
visible(void *ctx, void *o, int kind)
{
	return !((struct obj *)o)->priv;
}

static int
is_pref(void *ctx, void *o, int kind)
{
	return ((struct obj *)o)->pref;
}

static struct edge_cpl *
index_new(void)
{
	struct edge_cpl *c = edge_cpl_new();
	size_t i;

	for (i = 0; i < NOBJS; i++) {
		objs[i].pref = 0;
		objs[i].e = edge_cpl_add(c, objs[i].kind, objs[i].id,
		    objs[i].labels, 3, &objs[i]);
	}
	return c;
}

/*
 * Runs query text and returns the ids of the hits joined by spaces
 * (static buffer).
 */
static const char *
ask(struct edge_cpl *c, const char *text, unsigned kinds, size_t limit)
{
	static char out[1024];
	struct edge_cpl_hit hits[EDGE_CPL_LIMIT_MAX];
	struct edge_cpl_query q = {
	    .text = text,
	    .len = strlen(text),
	    .kinds = kinds,
	    .limit = limit,
	    .visible = visible,
	    .visible_kinds = EDGE_CPL_USER | EDGE_CPL_CHANNEL,
	    .is_pref = is_pref,
	};
	ssize_t n, i;

	n = edge_cpl_query(c, &q, hits, EDGE_CPL_LIMIT_MAX);
	if (n < 0)
		return "ERROR";
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, " ");
		strcat(out, ((struct obj *)hits[i].obj)->id);
	}
	return out;
}

#define ALL (EDGE_CPL_USER | EDGE_CPL_CHANNEL)

static void
test_fold(void **state)
{
	char *f;
	size_t n;

	f = edge_fold("  Zo\xc3\xab--Stra\xc3\x9f" "e  ", 16, &n);
	assert_string_equal(f, "zoe strasse");
	assert_int_equal(n, 2);
	free(f);
	/* Half-width katakana with a voiced mark: ｶﾞ folds like ガ and カ. */
	f = edge_fold("\xef\xbd\xb6\xef\xbe\x9e", 6, &n);
	assert_string_equal(f, "\xe3\x82\xab");
	free(f);
	/* Hiragana さ folds to katakana サ. */
	f = edge_fold("\xe3\x81\x95", 3, &n);
	assert_string_equal(f, "\xe3\x82\xb5");
	free(f);
	f = edge_fold("@#!", 3, &n);
	assert_string_equal(f, "");
	assert_int_equal(n, 0);
	free(f);
	/* Invalid UTF-8 and oversize input are refused. */
	assert_null(edge_fold("\xff\xfe", 2, &n));
	assert_null(edge_fold("a", EDGE_FOLD_MAX + 1, &n));
}

static void
test_accents(void **state)
{
	struct edge_cpl *c = index_new();

	/* Stored composed (U01) or decomposed (U02). */
	assert_string_equal(ask(c, "zoe", EDGE_CPL_USER, 10), "U01 U02");
	assert_string_equal(ask(c, "ZOË", EDGE_CPL_USER, 10), "U01 U02");
	assert_string_equal(ask(c, "Zoe\xcc\x88 du", EDGE_CPL_USER, 10),
	    "U02");
	assert_string_equal(ask(c, "strasse", ALL, 10), "U03");
	assert_string_equal(ask(c, "STRAßE", ALL, 10), "U03");
	assert_string_equal(ask(c, "hans str", ALL, 10), "U03");
	edge_cpl_free(c);
}

static void
test_turkish(void **state)
{
	struct edge_cpl *c = index_new();

	assert_string_equal(ask(c, "ilkay", ALL, 10), "U04");
	assert_string_equal(ask(c, "\xc4\xb0LKAY", ALL, 10), "U04");
	assert_string_equal(ask(c, "gundogan", ALL, 10), "U04");
	assert_string_equal(ask(c, "ilgin", ALL, 10), "U05");
	assert_string_equal(ask(c, "\xc4\xb1lg\xc4\xb1n", ALL, 10), "U05");
	assert_string_equal(ask(c, "yilmaz", ALL, 10), "U05");
	/* "il" finds both, ordered by folded name (tr1 < tr2). */
	assert_string_equal(ask(c, "il", ALL, 10), "U04 U05");
	edge_cpl_free(c);
}

static void
test_cjk(void **state)
{
	struct edge_cpl *c = index_new();

	/* Full-width サト and half-width ｻﾄ find both widths. */
	assert_string_equal(ask(c, "\xe3\x82\xb5\xe3\x83\x88", ALL, 10),
	    "U06 U07");
	assert_string_equal(ask(c, "\xef\xbd\xbb\xef\xbe\x84", ALL, 10),
	    "U06 U07");
	/* Hiragana さとう finds the katakana names too. */
	assert_string_equal(ask(c, "\xe3\x81\x95\xe3\x81\xa8\xe3\x81\x86",
	    ALL, 10), "U06 U07");
	/* 王 finds 王小明 and 王芳; 王小 only the first. */
	assert_string_equal(ask(c, "\xe7\x8e\x8b", ALL, 10), "U08 U09");
	assert_string_equal(ask(c, "\xe7\x8e\x8b\xe5\xb0\x8f", ALL, 10),
	    "U08");
	/* 山 finds 山田太郎 and 山本; 山田 only the first. */
	assert_string_equal(ask(c, "\xe5\xb1\xb1", ALL, 10), "U10 U11");
	assert_string_equal(ask(c, "\xe5\xb1\xb1\xe7\x94\xb0", ALL, 10),
	    "U10");
	/* A later character alone is not a prefix. */
	assert_string_equal(ask(c, "\xe5\xb0\x8f", ALL, 10), "");
	edge_cpl_free(c);
}

static void
test_emoji(void **state)
{
	struct edge_cpl *c = index_new();

	/* "bob" finds Bob 🚀, Bobby and #bob-club: names u12 < u13 < bob. */
	assert_string_equal(ask(c, "bob", ALL, 10), "C03 U12 U13");
	assert_string_equal(ask(c, "bob", EDGE_CPL_USER, 10), "U12 U13");
	assert_string_equal(ask(c, "\xf0\x9f\x9a\x80", ALL, 10), "U12");
	/* The ZWJ sequence by its prefix, with or without the joiner. */
	assert_string_equal(ask(c, "\xf0\x9f\x91\xa8\xe2\x80\x8d"
	    "\xf0\x9f\x91\xa9", ALL, 10), "U14");
	assert_string_equal(ask(c, "\xf0\x9f\x91\xa8", ALL, 10), "U14");
	assert_string_equal(ask(c, "\xf0\x9f\x91\xa8\xe2\x80\x8d"
	    "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7", ALL, 10), "U14");
	assert_string_equal(ask(c, "\xf0\x9f\x91\xa7", ALL, 10), "");
	edge_cpl_free(c);
}

static void
test_rank_limit_order(void **state)
{
	struct edge_cpl *c = index_new();
	char first[1024];
	int i;

	/* The private channel C02 is not visible; C01 is found. */
	assert_string_equal(ask(c, "zoe", ALL, 10), "U01 U02");
	assert_string_equal(ask(c, "gen", EDGE_CPL_CHANNEL, 10), "C01");
	assert_string_equal(ask(c, "gen", EDGE_CPL_USER, 10), "");

	/* Preferred entries (members of the channel) come first. */
	objs[1].pref = 1;
	assert_string_equal(ask(c, "zoe", ALL, 10), "U02 U01");
	objs[1].pref = 0;

	/* The limit keeps the best. */
	assert_string_equal(ask(c, "bob", ALL, 2), "C03 U12");
	assert_string_equal(ask(c, "bob", ALL, 0), "");

	/* No word, invalid UTF-8, an oversize query. */
	assert_string_equal(ask(c, "  @ ", ALL, 10), "");
	assert_string_equal(ask(c, "\xc3", ALL, 10), "ERROR");

	/* The same order on every call. */
	strcpy(first, ask(c, "b", ALL, 10));
	for (i = 0; i < 5; i++)
		assert_string_equal(ask(c, "b", ALL, 10), first);
	edge_cpl_free(c);
}

static void
test_updates(void **state)
{
	struct edge_cpl *c = index_new();
	const char *renamed[3] = {"zed", "Zed", "Zed Zimmer"};

	/* A rename drops the old words and adds the new. */
	edge_cpl_update(c, objs[0].e, renamed, 3);
	assert_string_equal(ask(c, "zoe", ALL, 10), "U02");
	assert_string_equal(ask(c, "zimmer", ALL, 10), "U01");
	assert_string_equal(ask(c, "z", EDGE_CPL_USER, 10), "U01 U02");

	/* A deactivated user is hidden, then shown again. */
	edge_cpl_set_hidden(c, objs[1].e, 1);
	assert_string_equal(ask(c, "zoe", ALL, 10), "");
	edge_cpl_set_hidden(c, objs[1].e, 0);
	assert_string_equal(ask(c, "zoe", ALL, 10), "U02");

	/* A removed entry is gone and its slot is reused. */
	edge_cpl_remove(c, objs[2].e);
	assert_string_equal(ask(c, "hans", ALL, 10), "");
	objs[2].e = edge_cpl_add(c, EDGE_CPL_USER, "U03", objs[2].labels, 3,
	    &objs[2]);
	assert_string_equal(ask(c, "strasse", ALL, 10), "U03");
	edge_cpl_free(c);
}

/* A large index: every query agrees with a brute-force search. */
#define BIG 6000

struct big {
	char id[16];
	char name[32];
	char real[64];
	char *fname, *freal; /* folded */
	int pref;
	int hidden;
	uint32_t e;
};

static const char *first_names[] = {"anna", "adam", "alice", "bob", "bea",
    "carl", "chloe", "dora", "ed", "emma", "zoë", "zoe", "åsa", "ärne"};
static const char *last_names[] = {"smith", "stone", "adams", "baker",
    "strauß", "müller", "muller", "ng"};

static struct big *bigs;

static int
big_pref(void *ctx, void *o, int kind)
{
	return ((struct big *)o)->pref;
}

/* Brute force: does folded text of a label have a word starting with w? */
static int
big_match(const struct big *b, char **words, size_t nw)
{
	const char *labels[2] = {b->fname, b->freal};
	size_t i, j;
	int ok;

	for (i = 0; i < nw; i++) {
		ok = 0;
		for (j = 0; j < 2 && !ok; j++) {
			const char *p = labels[j], *sp;

			while (p != NULL && *p != '\0') {
				if (strncmp(p, words[i], strlen(words[i])) == 0)
					ok = 1;
				sp = strchr(p, ' ');
				p = sp ? sp + 1 : NULL;
			}
		}
		if (!ok)
			return 0;
	}
	return 1;
}

static int
big_cmp(const void *a, const void *b)
{
	const struct big *x = *(struct big *const *)a;
	const struct big *y = *(struct big *const *)b;
	int r;

	if (x->pref != y->pref)
		return x->pref ? -1 : 1;
	r = strcmp(x->fname, y->fname);
	return r != 0 ? r : strcmp(x->id, y->id);
}

static void
big_check(struct edge_cpl *c, const char *text, uint32_t *preflist,
    size_t npref, size_t limit)
{
	struct edge_cpl_hit hits[EDGE_CPL_LIMIT_MAX];
	struct edge_cpl_query q = {
	    .text = text,
	    .len = strlen(text),
	    .kinds = EDGE_CPL_USER,
	    .limit = limit,
	    .is_pref = big_pref,
	    .pref = {preflist, NULL},
	    .npref = {npref, 0},
	};
	struct big **want = calloc(BIG, sizeof(*want));
	char *folded, *words[8], *p;
	size_t nw, nwant = 0, i;
	ssize_t n;

	folded = edge_fold(text, strlen(text), &nw);
	p = folded;
	for (i = 0; i < nw; i++) {
		words[i] = p;
		p = strchr(p, ' ');
		if (p != NULL)
			*p++ = '\0';
	}
	for (i = 0; i < BIG; i++)
		if (!bigs[i].hidden && big_match(&bigs[i], words, nw))
			want[nwant++] = &bigs[i];
	qsort(want, nwant, sizeof(*want), big_cmp);
	if (nwant > limit)
		nwant = limit;

	n = edge_cpl_query(c, &q, hits, EDGE_CPL_LIMIT_MAX);
	assert_int_equal(n, nwant);
	for (i = 0; i < nwant; i++) {
		if (hits[i].obj != want[i]) {
			print_error("query %s: hit %zu is %s, want %s\n", text,
			    i, ((struct big *)hits[i].obj)->id, want[i]->id);
			fail();
		}
		assert_int_equal(hits[i].rank, want[i]->pref ? 0 : 1);
	}
	free(want);
	free(folded);
}

static void
test_big(void **state)
{
	struct edge_cpl *c = edge_cpl_new();
	const char *queries[] = {"a", "b", "z", "zo", "zoe", "a s", "m",
	    "mu", "s", "st", "stra", "asa", "ar", "e", "adams a", "x"};
	static uint32_t preflist[BIG];
	size_t npref = 0, i, j, main_keys;
	const char *labels[2];

	bigs = calloc(BIG, sizeof(*bigs));
	for (i = 0; i < BIG; i++) {
		struct big *b = &bigs[i];

		snprintf(b->id, sizeof(b->id), "U%05zu", (i * 7919) % BIG);
		snprintf(b->name, sizeof(b->name), "%s%zu",
		    first_names[i % 14], i % 97);
		snprintf(b->real, sizeof(b->real), "%s %s",
		    first_names[(i / 3) % 14], last_names[(i / 7) % 8]);
		labels[0] = b->name;
		labels[1] = b->real;
		b->fname = edge_fold(b->name, strlen(b->name), NULL);
		b->freal = edge_fold(b->real, strlen(b->real), NULL);
		b->e = edge_cpl_add(c, EDGE_CPL_USER, b->id, labels, 2, b);
	}

	/* Every query both before and after the side keys are merged. */
	for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
		big_check(c, queries[i], NULL, 0, 20);
	edge_cpl_stats(c, &main_keys, NULL, NULL);
	assert_true(main_keys > 0);

	/* A few preferred entries, given as a list or found by the walk. */
	for (i = 0; i < BIG; i += 101) {
		bigs[i].pref = 1;
		preflist[npref++] = bigs[i].e;
	}
	for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		big_check(c, queries[i], preflist, npref, 20);
		big_check(c, queries[i], NULL, 0, 7);
	}

	/* Renames and hides after the merge go through the side array. */
	for (i = 0; i < BIG; i += 13) {
		struct big *b = &bigs[i];

		snprintf(b->name, sizeof(b->name), "renamed%zu", i);
		labels[0] = b->name;
		labels[1] = b->real;
		free(b->fname);
		b->fname = edge_fold(b->name, strlen(b->name), NULL);
		edge_cpl_update(c, b->e, labels, 2);
		if (i % 3 == 0) {
			b->hidden = 1;
			edge_cpl_set_hidden(c, b->e, 1);
		}
	}
	for (j = 0; j < 2; j++)
		for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
			big_check(c, queries[i], preflist, npref, 20);
			big_check(c, queries[i], NULL, 0, 5);
			big_check(c, "ren", NULL, 0, 50);
		}

	/* A third of the team preferred: marked instead of looked at. */
	npref = 0;
	for (i = 0; i < BIG; i++) {
		bigs[i].pref = i % 3 == 1;
		if (bigs[i].pref)
			preflist[npref++] = bigs[i].e;
	}
	for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		big_check(c, queries[i], preflist, npref, 20);
		big_check(c, queries[i], NULL, 0, 20);
	}
	edge_cpl_free(c);
	for (i = 0; i < BIG; i++) {
		free(bigs[i].fname);
		free(bigs[i].freal);
	}
	free(bigs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fold),
	    cmocka_unit_test(test_accents),
	    cmocka_unit_test(test_turkish),
	    cmocka_unit_test(test_cjk),
	    cmocka_unit_test(test_emoji),
	    cmocka_unit_test(test_rank_limit_order),
	    cmocka_unit_test(test_updates),
	    cmocka_unit_test(test_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
