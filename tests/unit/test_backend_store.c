/*
 * Unit tests of the store: schema and epoch, environment flags, ts
 * order when the clock steps back, group commit under concurrency,
 * storage_full and recovery, retention and the oldest seq, delete
 * scrubbing, backup and restore, and reopening after MDB_PANIC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "backend/store_int.h"

static char dir[64];

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/parley-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	store_clock_skew_us = 0;
	return 0;
}

static struct store *
open_store(const char *d, size_t map_initial, size_t map_max)
{
	struct store_config cfg = { .data_dir = d, .map_initial = map_initial,
		.map_max = map_max };
	char err[256];
	struct store *st = store_open(&cfg, 1, 0, err, sizeof(err));

	if (st == NULL)
		fprintf(stderr, "store_open: %s\n", err);
	assert_non_null(st);
	return st;
}

/* A team, a user and a channel, made in one write. */
struct world {
	char team[STORE_ID_SIZE], user[STORE_ID_SIZE], chan[STORE_ID_SIZE];
};

static int
world_apply(struct store_txn *t, void *arg)
{
	struct world *w = arg;
	int rc;

	rc = store_op_team_create(t, "Acme", "acme", w->team);
	if (rc == STORE_OK)
		rc = store_op_user_create(t, w->team, "ana", "Ana Núñez", NULL,
		    w->user);
	if (rc == STORE_OK)
		rc = store_op_channel_create(t, w->team, "general", 'C',
		    w->user, w->chan);
	return rc;
}

struct post {
	struct world *w;
	const char *text;
	const char *cmid;
	uint64_t ts;
};

static int
post_apply(struct store_txn *t, void *arg)
{
	struct post *p = arg;
	json_t *m = json_pack("{ss ss}", "user", p->w->user, "text", p->text);
	int rc;

	if (p->cmid != NULL)
		json_object_set_new(m, "client_msg_id", json_string(p->cmid));
	rc = store_op_message_post(t, p->w->chan, m, &p->ts);
	json_decref(m);
	return rc;
}

static uint64_t
post(struct store *st, struct world *w, const char *text)
{
	struct post p = { w, text, NULL, 0 };

	assert_int_equal(store_write_sync(st, post_apply, &p), STORE_OK);
	return p.ts;
}

static void
test_schema_epoch(void **state)
{
	struct store *st = open_store(dir, 0, 0);
	struct store_txn *t;
	char epoch[STORE_EPOCH_SIZE], err[256];
	struct store_config cfg = { .data_dir = dir };
	struct world w;
	MDB_val v;

	assert_int_equal(strlen(store_epoch(st)), 16);
	snprintf(epoch, sizeof(epoch), "%s", store_epoch(st));
	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);

	/* A second opener is refused while the first holds the lock. */
	assert_null(store_open(&cfg, 0, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "held by a running process"));

	t = store_rd_begin(st);
	assert_int_equal(store_db_get(t, DB_META, "schema", 6, &v), STORE_OK);
	assert_memory_equal(v.mv_data, "2", 1);
	json_t *u = store_txn_user_get(t, w.user);
	assert_string_equal(json_string_value(json_object_get(u, "name")),
	    "ana");
	json_decref(u);
	char id[STORE_ID_SIZE];
	assert_int_equal(store_txn_user_by_name(t, w.team, "ana", id),
	    STORE_OK);
	assert_string_equal(id, w.user);
	assert_int_equal(store_txn_channel_by_name(t, w.team, "general", id),
	    STORE_OK);
	assert_string_equal(id, w.chan);
	assert_true(store_txn_is_member(t, w.chan, w.user));
	store_rd_end(t);
	store_close(st);

	st = open_store(dir, 0, 0);
	assert_string_equal(store_epoch(st), epoch);
	store_close(st);
}

/* The environment must never trade durability for speed. */
static void
test_env_flags(void **state)
{
	struct store *st = open_store(dir, 0, 0);
	unsigned flags = 0;

	assert_int_equal(mdb_env_get_flags(st->env, &flags), 0);
	assert_int_equal(flags & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC |
				     MDB_WRITEMAP),
	    0);
	store_close(st);
}

/* Regression: ts must grow in a channel even when the clock goes back. */
static void
test_ts_clock_back(void **state)
{
	struct store *st = open_store(dir, 0, 0);
	struct world w;
	uint64_t a, b, c, d;
	char s[STORE_TS_SIZE];

	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	a = post(st, &w, "one");
	store_clock_skew_us = -3600 * (int64_t)1000000;
	b = post(st, &w, "two");
	c = post(st, &w, "three");
	store_clock_skew_us = 0;
	d = post(st, &w, "four");
	assert_true(a < b && b < c && c < d);
	assert_int_equal(b, a + 1);

	store_ts_format(1500000000000042ULL, s);
	assert_string_equal(s, "1500000000.000042");
	assert_int_equal(store_ts_parse("1500000000.000042", &a), 0);
	assert_int_equal(a, 1500000000000042ULL);
	assert_int_equal(store_ts_parse("12.5", &a), 0);
	assert_int_equal(a, 12500000);
	assert_int_equal(store_ts_parse("x", &a), -1);
	assert_int_equal(store_ts_parse("1.", &a), -1);
	store_close(st);
}

struct gc {
	struct store *st;
	struct world *w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending, errors;
};

static void
gc_done(void *arg, int result)
{
	struct post *p = arg;
	struct gc *g = (struct gc *)p->text;

	pthread_mutex_lock(&g->lock);
	if (result != STORE_OK)
		g->errors++;
	g->pending--;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static int
gc_apply(struct store_txn *t, void *arg)
{
	struct post *p = arg;
	struct gc *g = (struct gc *)p->text;
	json_t *m = json_pack("{ss ss}", "user", g->w->user, "text", "hi");
	int rc = store_op_message_post(t, g->w->chan, m, &p->ts);

	json_decref(m);
	return rc;
}

static void *
gc_thread(void *arg)
{
	struct gc *g = arg;
	struct post *ps = calloc(50, sizeof(*ps));
	int i;

	for (i = 0; i < 50; i++) {
		ps[i].text = (const char *)g;
		pthread_mutex_lock(&g->lock);
		g->pending++;
		pthread_mutex_unlock(&g->lock);
		assert_int_equal(store_submit(g->st, gc_apply, gc_done, &ps[i]),
		    0);
	}
	pthread_mutex_lock(&g->lock);
	while (g->pending > 0)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	free(ps);
	return NULL;
}

/* Concurrent submitters must share commits. */
static void
test_group_commit(void **state)
{
	struct store *st = open_store(dir, 0, 0);
	struct store_stats s;
	struct world w;
	struct gc g = { .st = st, .w = &w };
	pthread_t th[8];
	int i;

	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	assert_int_equal(store_writer_start(st, NULL), 0);
	for (i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, gc_thread, &g);
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	store_get_stats(st, &s);
	assert_int_equal(g.errors, 0);
	assert_int_equal(s.writes, 400 + 1);
	assert_true(s.max_batch > 1);
	assert_true(s.commits < s.writes);
	store_close(st);
}

static int
big_apply(struct store_txn *t, void *arg)
{
	struct world *w = arg;
	char text[2048];
	json_t *m;
	int rc;

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	m = json_pack("{ss ss}", "user", w->user, "text", text);
	rc = store_op_message_post(t, w->chan, m, NULL);
	json_decref(m);
	return rc;
}

static void
test_storage_full(void **state)
{
	struct store *st = open_store(dir, 256 << 10, 256 << 10);
	struct store_txn *t;
	struct world w;
	json_t *u;
	int i, rc = STORE_OK;

	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	for (i = 0; i < 1000 && rc == STORE_OK; i++)
		rc = store_write_sync(st, big_apply, &w);
	assert_int_equal(rc, STORE_ERR_FULL);
	assert_true(store_is_full(st));
	assert_string_equal(store_strerror(rc), "storage_full");
	assert_int_equal(store_write_sync(st, big_apply, &w), STORE_ERR_FULL);

	/* Reads still work. */
	t = store_rd_begin(st);
	assert_non_null(t);
	u = store_txn_user_get(t, w.user);
	assert_non_null(u);
	json_decref(u);
	store_rd_end(t);

	store_set_map_max(st, 4 << 20);
	assert_int_equal(store_write_sync(st, big_apply, &w), STORE_OK);
	assert_false(store_is_full(st));
	store_close(st);
}

struct evcount {
	uint64_t first, n;
};

static int
count_cb(void *arg, uint64_t seq, uint64_t tm, const char *json, size_t len)
{
	struct evcount *c = arg;

	if (c->n++ == 0)
		c->first = seq;
	return 0;
}

static void
test_retention(void **state)
{
	struct store_config cfg = { .data_dir = dir, .retain_events = 5 };
	char err[256];
	struct store *st = store_open(&cfg, 1, 0, err, sizeof(err));
	struct store_txn *t;
	struct evcount c = { 0, 0 };
	uint64_t oldest, last;
	struct world w;
	int i;

	assert_non_null(st);
	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	for (i = 0; i < 10; i++)
		post(st, &w, "m");
	t = store_rd_begin(st);
	assert_int_equal(store_txn_seq_range(t, w.team, &oldest, &last),
	    STORE_OK);
	/* team_join, channel_created, then ten messages. */
	assert_int_equal(last, 12);
	assert_int_equal(oldest, 8);
	assert_int_equal(store_txn_events(t, w.team, 0, 0, count_cb, &c),
	    STORE_OK);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.first, 8);
	c.n = 0;
	assert_int_equal(store_txn_events(t, w.team, 10, 0, count_cb, &c),
	    STORE_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.first, 11);
	store_rd_end(t);
	store_close(st);

	/* By age: an hour later, everything is older than a minute. */
	cfg.retain_events = 0;
	cfg.retain_seconds = 60;
	st = store_open(&cfg, 0, 0, err, sizeof(err));
	assert_non_null(st);
	struct store_txn wt;
	store_clock_skew_us = 3600 * (int64_t)1000000;
	assert_int_equal(store_wtxn_begin(st, &wt), STORE_OK);
	assert_int_equal(store_log_sweep(&wt, store_now_us()), STORE_OK);
	assert_int_equal(store_wtxn_commit(&wt), STORE_OK);
	t = store_rd_begin(st);
	assert_int_equal(store_txn_seq_range(t, w.team, &oldest, &last),
	    STORE_OK);
	assert_int_equal(last, 12);
	assert_int_equal(oldest, 13);
	store_rd_end(t);
	store_close(st);
}

struct del {
	struct world *w;
	uint64_t ts;
};

static int
del_apply(struct store_txn *t, void *arg)
{
	struct del *d = arg;

	return store_op_message_delete(t, d->w->chan, d->ts);
}

static int
text_cb(void *arg, uint64_t seq, uint64_t tm, const char *json, size_t len)
{
	int *found = arg;

	if (memmem(json, len, "SECRET-WORDS", 12) != NULL)
		(*found)++;
	return 0;
}

static void
test_delete_scrubs(void **state)
{
	struct store *st = open_store(dir, 0, 0);
	struct store_txn *t;
	struct world w;
	struct post p;
	struct del d;
	uint64_t ts;
	int found = 0;

	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	p = (struct post){ &w, "the SECRET-WORDS here", "cmid-1", 0 };
	assert_int_equal(store_write_sync(st, post_apply, &p), STORE_OK);
	d = (struct del){ &w, p.ts };

	/* A second post with the same client_msg_id is a duplicate. */
	struct post again = { &w, "dup", "cmid-1", 0 };
	assert_int_equal(store_write_sync(st, post_apply, &again),
	    STORE_ERR_EXISTS);
	assert_int_equal(again.ts, p.ts);

	t = store_rd_begin(st);
	assert_int_equal(store_txn_events(t, w.team, 0, 0, text_cb, &found),
	    STORE_OK);
	assert_int_equal(found, 1);
	store_rd_end(t);

	assert_int_equal(store_write_sync(st, del_apply, &d), STORE_OK);
	found = 0;
	t = store_rd_begin(st);
	assert_int_equal(store_txn_events(t, w.team, 0, 0, text_cb, &found),
	    STORE_OK);
	assert_int_equal(found, 0);
	assert_null(store_txn_message_get(t, w.chan, p.ts));
	assert_int_equal(store_txn_message_by_cmid(t, w.chan, "cmid-1", &ts),
	    STORE_ERR_NOTFOUND);
	store_rd_end(t);
	assert_int_equal(store_write_sync(st, del_apply, &d),
	    STORE_ERR_NOTFOUND);
	store_close(st);
}

static void
test_panic_reopen(void **state)
{
	struct store *st = open_store(dir, 0, 0);
	struct store_stats s;
	struct world w;

	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	st->inject_panic = 1;
	assert_int_equal(store_write_sync(st, big_apply, &w),
	    STORE_ERR_INTERNAL);
	assert_int_equal(store_write_sync(st, big_apply, &w), STORE_OK);
	store_get_stats(st, &s);
	assert_int_equal(s.reopens, 1);
	store_close(st);
}

static void
test_password(void **state)
{
	char h[STORE_PWHASH_SIZE];

	assert_int_equal(store_password_hash("correct horse", h), 0);
	assert_non_null(strstr(h, "pbkdf2-sha256$"));
	assert_int_equal(store_password_check("correct horse", h), 1);
	assert_int_equal(store_password_check("correct hors", h), 0);
	assert_int_equal(store_password_check("x", "garbage"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_epoch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_env_flags, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ts_clock_back, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_storage_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_scrubs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_panic_reopen, setup,
		    teardown),
		cmocka_unit_test(test_password),
	};

	log_init("test_backend_store", 0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
