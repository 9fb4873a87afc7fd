/*
 * Regression tests of the store, one per fault they guard:
 *
 *   epoch_abort       store_epoch_renew() set the in-memory epoch even
 *                     when its transaction then aborted, so the store
 *                     announced an epoch that was never written;
 *   reply_delete      deleting a thread reply left the parent's
 *                     reply_count, reply_users and latest_reply as if
 *                     the reply were still there;
 *   restore_lock      restore let go of the store's lock file between
 *                     copying the backup and giving it a new epoch, so
 *                     another process could open it under the old one;
 *   import_stream     import held every line of its input in memory at
 *                     once; it now reads line by line, from a pipe too,
 *                     and names the line that failed;
 *   batch_fallback    writes now run straight in the batch's
 *                     transaction; one that fails after writing must
 *                     still roll back alone (the batch runs again with
 *                     nested transactions), among writes that succeed.
 */
#include <pthread.h>
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
	snprintf(dir, sizeof(dir), "/tmp/parley-storefix-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	store_restore_hook = NULL;
	return 0;
}

static struct store *
open_at(const char *d)
{
	struct store_config cfg = { .data_dir = d };
	char err[256];
	struct store *st = store_open(&cfg, 1, 0, err, sizeof(err));

	if (st == NULL)
		fprintf(stderr, "store_open: %s\n", err);
	assert_non_null(st);
	return st;
}

struct world {
	char team[STORE_ID_SIZE], u1[STORE_ID_SIZE], u2[STORE_ID_SIZE];
	char chan[STORE_ID_SIZE];
};

static int
world_apply(struct store_txn *t, void *arg)
{
	struct world *w = arg;
	int rc;

	rc = store_op_team_create(t, "Acme", "acme", w->team);
	if (rc == STORE_OK)
		rc =
		    store_op_user_create(t, w->team, "ana", "Ana", NULL, w->u1);
	if (rc == STORE_OK)
		rc = store_op_user_create(t, w->team, "bo", "Bo", NULL, w->u2);
	if (rc == STORE_OK)
		rc = store_op_channel_create(
		    t, w->team, "general", 'C', w->u1, w->chan);
	return rc;
}

/* Writes a new epoch, then fails: the write is rolled back. */
static int
renew_then_fail(struct store_txn *t, void *arg)
{
	int rc = store_epoch_renew(t);

	assert_int_equal(rc, STORE_OK);
	return STORE_ERR_USER;
}

static int
renew_apply(struct store_txn *t, void *arg)
{
	return store_epoch_renew(t);
}

static void
meta_epoch(struct store *st, char out[STORE_EPOCH_SIZE])
{
	struct store_txn *t = store_rd_begin(st);
	MDB_val v;

	assert_non_null(t);
	assert_int_equal(store_db_get(t, DB_META, "epoch", 5, &v), STORE_OK);
	assert_int_equal(v.mv_size, 16);
	memcpy(out, v.mv_data, 16);
	out[16] = '\0';
	store_rd_end(t);
}

static void
test_epoch_abort(void **state)
{
	struct store *st = open_at(dir);
	char before[STORE_EPOCH_SIZE], stored[STORE_EPOCH_SIZE];
	struct store_txn t;

	snprintf(before, sizeof(before), "%s", store_epoch(st));

	/* Through the writer: the failing write's epoch never shows. */
	assert_int_equal(
	    store_write_sync(st, renew_then_fail, NULL), STORE_ERR_USER);
	assert_string_equal(store_epoch(st), before);

	/* Outside it: an aborted transaction changes nothing either. */
	assert_int_equal(store_wtxn_begin(st, &t), STORE_OK);
	assert_int_equal(store_epoch_renew(&t), STORE_OK);
	store_wtxn_abort(&t);
	assert_string_equal(store_epoch(st), before);
	meta_epoch(st, stored);
	assert_string_equal(stored, before);

	/* A committed renewal is the epoch in memory and on disk. */
	assert_int_equal(store_write_sync(st, renew_apply, NULL), STORE_OK);
	assert_string_not_equal(store_epoch(st), before);
	meta_epoch(st, stored);
	assert_string_equal(store_epoch(st), stored);
	store_close(st);
}

struct post {
	struct world *w;
	const char *user, *text;
	uint64_t thread_ts, ts;
};

static int
post_apply(struct store_txn *t, void *arg)
{
	struct post *p = arg;
	char tts[STORE_TS_SIZE];
	json_t *m = json_pack("{ss ss}", "user", p->user, "text", p->text);
	int rc;

	if (p->thread_ts != 0) {
		store_ts_format(p->thread_ts, tts);
		json_object_set_new(m, "thread_ts", json_string(tts));
	}
	rc = store_op_message_post(t, p->w->chan, m, &p->ts);
	json_decref(m);
	return rc;
}

static uint64_t
post(struct store *st, struct world *w, const char *user, const char *text,
    uint64_t thread_ts)
{
	struct post p = { w, user, text, thread_ts, 0 };

	assert_int_equal(store_write_sync(st, post_apply, &p), STORE_OK);
	return p.ts;
}

struct del {
	const char *chan;
	uint64_t ts;
};

static int
del_apply(struct store_txn *t, void *arg)
{
	struct del *d = arg;

	return store_op_message_delete(t, d->chan, d->ts);
}

static json_t *
message(struct store *st, const char *chan, uint64_t ts)
{
	struct store_txn *t = store_rd_begin(st);
	json_t *m = store_txn_message_get(t, chan, ts);

	store_rd_end(t);
	assert_non_null(m);
	return m;
}

static void
test_reply_delete(void **state)
{
	struct store *st = open_at(dir);
	struct world w;
	uint64_t parent, r1, r2, r3;
	char ts[STORE_TS_SIZE];
	struct del d;
	json_t *m, *users;

	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	parent = post(st, &w, w.u1, "parent", 0);
	r1 = post(st, &w, w.u1, "first", parent);
	r2 = post(st, &w, w.u2, "second", parent);
	r3 = post(st, &w, w.u1, "third", parent);
	m = message(st, w.chan, parent);
	assert_int_equal(
	    json_integer_value(json_object_get(m, "reply_count")), 3);
	json_decref(m);

	/* The latest reply goes: latest_reply steps back to r2. */
	d = (struct del){ w.chan, r3 };
	assert_int_equal(store_write_sync(st, del_apply, &d), STORE_OK);
	m = message(st, w.chan, parent);
	assert_int_equal(
	    json_integer_value(json_object_get(m, "reply_count")), 2);
	store_ts_format(r2, ts);
	assert_string_equal(
	    json_string_value(json_object_get(m, "latest_reply")), ts);
	json_decref(m);

	/* The only reply of u2 goes: u2 leaves reply_users. */
	d = (struct del){ w.chan, r2 };
	assert_int_equal(store_write_sync(st, del_apply, &d), STORE_OK);
	m = message(st, w.chan, parent);
	assert_int_equal(
	    json_integer_value(json_object_get(m, "reply_count")), 1);
	users = json_object_get(m, "reply_users");
	assert_int_equal(json_array_size(users), 1);
	assert_string_equal(json_string_value(json_array_get(users, 0)), w.u1);
	assert_int_equal(
	    json_integer_value(json_object_get(m, "reply_users_count")), 1);
	store_ts_format(r1, ts);
	assert_string_equal(
	    json_string_value(json_object_get(m, "latest_reply")), ts);
	json_decref(m);

	/* The last reply goes: an ordinary message again. */
	d = (struct del){ w.chan, r1 };
	assert_int_equal(store_write_sync(st, del_apply, &d), STORE_OK);
	m = message(st, w.chan, parent);
	assert_null(json_object_get(m, "reply_count"));
	assert_null(json_object_get(m, "reply_users"));
	assert_null(json_object_get(m, "latest_reply"));
	json_decref(m);
	store_close(st);
}

static int hook_lock_taken = -1;

/* Another opener trying the lock between copy and new epoch. */
static void
restore_probe(const char *data_dir)
{
	char err[256];
	int fd = store_lock_dir(data_dir, err, sizeof(err));

	hook_lock_taken = fd != -1;
	if (fd != -1)
		close(fd);
}

static void
test_restore_lock(void **state)
{
	char src[96], copy[96], dst[96], err[256], epoch[STORE_EPOCH_SIZE];
	struct store *st;
	struct world w;

	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	st = open_at(src);
	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	snprintf(epoch, sizeof(epoch), "%s", store_epoch(st));
	assert_int_equal(store_backup(st, copy, err, sizeof(err)), 0);
	store_close(st);

	store_restore_hook = restore_probe;
	assert_int_equal(store_restore(dst, copy, err, sizeof(err)), 0);
	assert_int_equal(hook_lock_taken, 0);

	st = open_at(dst);
	assert_string_not_equal(store_epoch(st), epoch);
	store_close(st);
}

static void
test_import_stream(void **state)
{
	char src[96], dst[96], bad[96], err[256], *text = NULL;
	char srcep[STORE_EPOCH_SIZE], dstep[STORE_EPOCH_SIZE];
	char ep[STORE_EPOCH_SIZE];
	size_t len = 0;
	struct store *st;
	struct world w;
	struct store_txn *t;
	json_t *tm;
	FILE *f, *in;
	int fds[2];

	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	st = open_at(src);
	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);
	post(st, &w, w.u1, "hello", 0);
	f = open_memstream(&text, &len);
	assert_int_equal(store_export_team(st, w.team, f, err, sizeof(err)), 0);
	fclose(f);
	snprintf(srcep, sizeof(srcep), "%s", store_epoch(st));
	store_close(st);
	assert_true(len > 0 && len < 60000); /* fits a pipe's buffer */

	/* From a pipe, which cannot seek: spooled, then imported. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, len), (ssize_t)len);
	close(fds[1]);
	in = fdopen(fds[0], "r");
	st = open_at(dst);
	snprintf(dstep, sizeof(dstep), "%s", store_epoch(st));
	assert_int_equal(store_import_team(st, in, err, sizeof(err)), 0);
	fclose(in);
	t = store_rd_begin(st);
	tm = store_txn_team_get(t, w.team);
	assert_non_null(tm);
	json_decref(tm);
	/* The team keeps its epoch (a move); the store keeps its own. */
	assert_int_equal(store_txn_team_epoch(t, w.team, ep), 1);
	assert_string_equal(ep, srcep);
	assert_int_equal(store_txn_team_epoch(t, "TNOSUCHTEAM", ep), 0);
	assert_string_equal(ep, dstep);
	store_rd_end(t);
	assert_string_equal(store_epoch(st), dstep);
	store_team_epoch(st, w.team, ep);
	assert_string_equal(ep, srcep);
	store_close(st);

	/* A bad third line: its number, and nothing kept. */
	{
		char *nl1 = strchr(text, '\n'), *nl2 = strchr(nl1 + 1, '\n');
		size_t head = (size_t)(nl2 - text) + 1;
		char *broken = malloc(head + 32);

		memcpy(broken, text, head);
		strcpy(broken + head, "{\"k\":\"nonsense\"}\n");
		in = fmemopen(broken, strlen(broken), "r");
		st = open_at(bad);
		assert_int_equal(
		    store_import_team(st, in, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "line 3"));
		t = store_rd_begin(st);
		assert_null(store_txn_team_get(t, w.team));
		store_rd_end(t);
		store_close(st);
		fclose(in);
		free(broken);
	}
	free(text);
}

/* Posts a message, then fails when arg says so: partly written. */
struct half {
	struct world *w;
	int fail;
	char text[32];
};

static int
half_apply(struct store_txn *t, void *arg)
{
	struct half *h = arg;
	json_t *m = json_pack("{ss ss}", "user", h->w->u1, "text", h->text);
	int rc = store_op_message_post(t, h->w->chan, m, NULL);

	json_decref(m);
	if (rc == STORE_OK && h->fail)
		return STORE_ERR_USER;
	return rc;
}

static pthread_mutex_t half_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t half_cv = PTHREAD_COND_INITIALIZER;
static int half_left;

static void
half_done(void *arg, int rc)
{
	struct half *h = arg;

	assert_int_equal(rc, h->fail ? STORE_ERR_USER : STORE_OK);
	pthread_mutex_lock(&half_mu);
	half_left--;
	pthread_cond_signal(&half_cv);
	pthread_mutex_unlock(&half_mu);
}

static int
count_cb(void *arg, const char *json, size_t len)
{
	int *n = arg;

	assert_null(memmem(json, len, "bad-", 4));
	(*n)++;
	return 0;
}

static void
test_batch_fallback(void **state)
{
	struct store *st = open_at(dir);
	struct store_stats s;
	struct store_txn *t;
	struct world w;
	struct half hs[200], one;
	int i, n = 0, good = 0;

	assert_int_equal(store_write_sync(st, world_apply, &w), STORE_OK);

	/* Alone: the partial write is undone. */
	one = (struct half){ &w, 1, "bad-alone" };
	assert_int_equal(
	    store_write_sync(st, half_apply, &one), STORE_ERR_USER);
	store_get_stats(st, &s);
	assert_int_equal(s.nested_runs, 1);

	/* In batches: every third write fails after writing. */
	assert_int_equal(store_writer_start(st, NULL), 0);
	half_left = 200;
	for (i = 0; i < 200; i++) {
		hs[i].w = &w;
		hs[i].fail = i % 3 == 1;
		snprintf(hs[i].text, sizeof(hs[i].text), "%s-%d",
		    hs[i].fail ? "bad" : "good", i);
		good += !hs[i].fail;
		assert_int_equal(
		    store_submit(st, half_apply, half_done, &hs[i]), 0);
	}
	pthread_mutex_lock(&half_mu);
	while (half_left > 0)
		pthread_cond_wait(&half_cv, &half_mu);
	pthread_mutex_unlock(&half_mu);

	t = store_rd_begin(st);
	assert_int_equal(
	    store_txn_history(t, w.chan, 0, 0, 0, 0, count_cb, &n), STORE_OK);
	store_rd_end(t);
	assert_int_equal(n, good);
	store_get_stats(st, &s);
	assert_true(s.nested_runs >= 2);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_epoch_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reply_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_restore_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_fallback, setup, teardown),
	};

	log_init("test_backend_storefix", 0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
