/*
 * store_write: the writer thread and group commit.
 *
 *   any thread            writer thread                 loop thread
 *   store_submit() --q--> take all queued (<= 1024)
 *                         begin; per write: apply (a write that
 *                         fails after writing: again, each write
 *                         in a nested txn, see writer_commit);
 *                         trim touched teams' logs;
 *                         mdb_txn_commit (durable) --async--> events to
 *                                                   the hook, then done()
 *
 * A batch that runs out of map is retried after the map grows; at the
 * configured maximum it is retried one write per commit so that only
 * the writes that do not fit fail with STORE_ERR_FULL.  A commit that
 * the file system refuses (ENOSPC, EDQUOT) is split the same way, and
 * what still does not fit fails with STORE_ERR_FULL too.  MDB_PANIC
 * reopens the environment.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "xmalloc.h"
#include "store_int.h"

#define MAINT_INTERVAL_US (60 * (uint64_t)1000000)

/* Outcome of one commit attempt for a whole batch. */
enum batch_rc {
	BATCH_OK,
	BATCH_FULL,
	BATCH_DISKFULL, /* the file system refused the pages */
	BATCH_PANIC,
	BATCH_FAIL,
	BATCH_NESTED /* a write failed after writing: run again, nested */
};

static void
req_events_free(struct store_req *r)
{
	struct store_evrec *e, *next;

	for (e = r->ev_head; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	r->ev_head = r->ev_tail = NULL;
}

/* Grows the map ahead of need when less than a quarter is free. */
static void
writer_grow_ahead(struct store *st)
{
	MDB_envinfo info;
	MDB_stat ms;
	size_t used;

	if (st->env == NULL || mdb_env_info(st->env, &info) != 0 ||
	    mdb_env_stat(st->env, &ms) != 0)
		return;
	used = (info.me_last_pgno + 1) * (size_t)ms.ms_psize;
	if (used > st->map_size / 4 * 3 && st->map_size < st->map_max)
		store_map_grow(st, 0);
}

/* Trims the logs of the teams this batch appended to. */
static int
writer_trim(struct store_txn *t, struct store_req **reqs, size_t n)
{
	struct store_evrec *e;
	const char *last = NULL;
	uint64_t now = store_now_us();
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (reqs[i]->result != STORE_OK)
			continue;
		for (e = reqs[i]->ev_head; e != NULL; e = e->next) {
			/* Consecutive events of one team trim once. */
			if (last != NULL && strcmp(last, e->team) == 0)
				continue;
			last = e->team;
			rc = store_log_trim(t, e->team, now);
			if (rc != STORE_OK)
				return rc;
		}
	}
	return STORE_OK;
}

/*
 * Runs every write of the batch in one transaction and commits it.
 * Sets each req->result; returns how the commit itself went.
 *
 * Flat (nested 0), the writes run straight in the batch's transaction:
 * a write that fails before it changed anything needs no undo, which is
 * the common case (a refused request).  One that fails after writing,
 * or meets an LMDB error, makes the whole attempt abort and return
 * BATCH_NESTED; the batch then runs again with each write in a nested
 * transaction that is rolled back alone.  Nested transactions are not
 * the default because LMDB copies every page a child touches that its
 * parent already dirtied, which cost more than the writes themselves.
 */
static enum batch_rc
writer_commit(struct store *st, struct store_req **reqs, size_t n,
    int nested)
{
	struct store_txn parent, child;
	struct timespec t0, t1;
	uint64_t us;
	size_t i;
	int rc, failed = 0;

	/* A reopen that failed is tried again, at most once a second. */
	if (st->env == NULL) {
		if (store_now_us() - st->last_reopen_us < 1000000)
			return BATCH_FAIL;
		st->last_reopen_us = store_now_us();
		if (store_env_reopen(st) == -1)
			return BATCH_FAIL;
	}
	rc = store_wtxn_begin(st, &parent);
	if (rc != STORE_OK)
		return rc == STORE_ERR_FULL ? BATCH_FULL : BATCH_PANIC;

	for (i = 0; i < n; i++) {
		struct store_req *r = reqs[i];

		req_events_free(r);
		memset(&child, 0, sizeof(child));
		child.st = st;
		child.req = r;
		if (nested) {
			rc = mdb_txn_begin(st->env, parent.txn, 0, &child.txn);
			if (rc != 0) {
				parent.lmdb_err = rc;
				break;
			}
		} else {
			child.txn = parent.txn;
		}
		r->result = r->apply(&child, r->arg);
		if (child.lmdb_err == MDB_MAP_FULL ||
		    child.lmdb_err == MDB_PANIC) {
			if (nested)
				mdb_txn_abort(child.txn);
			parent.lmdb_err = child.lmdb_err;
			break;
		}
		if (!nested && (child.lmdb_err != 0 ||
		    (r->result != STORE_OK && child.wrote))) {
			store_wtxn_abort(&parent);
			for (i = 0; i < n; i++)
				req_events_free(reqs[i]);
			return BATCH_NESTED;
		}
		if (r->result == STORE_OK) {
			if (nested && (rc = mdb_txn_commit(child.txn)) != 0) {
				parent.lmdb_err = rc;
				break;
			}
			if (child.epoch[0] != '\0')
				memcpy(parent.epoch, child.epoch,
				    sizeof(parent.epoch));
		} else {
			if (nested)
				mdb_txn_abort(child.txn);
			req_events_free(r);
			failed++;
		}
	}
	if (parent.lmdb_err == 0)
		writer_trim(&parent, reqs, n);
	if (parent.lmdb_err != 0) {
		rc = parent.lmdb_err;
		store_wtxn_abort(&parent);
		goto failed;
	}

	if (__atomic_exchange_n(&st->inject_panic, 0, __ATOMIC_RELAXED)) {
		store_wtxn_abort(&parent);
		rc = MDB_PANIC;
		goto failed;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = mdb_txn_commit(parent.txn);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_rwlock_unlock(&st->envlock);
	if (rc != 0)
		goto failed;
	store_epoch_committed(st, &parent);

	us = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000 +
	    (uint64_t)(t1.tv_nsec - t0.tv_nsec) / 1000;
	pthread_mutex_lock(&st->slock);
	st->stats.commits++;
	st->stats.writes += n;
	st->stats.failed += (uint64_t)failed;
	st->stats.commit_us_total += us;
	if (n > st->stats.max_batch)
		st->stats.max_batch = n;
	for (i = 0; i < STORE_HIST_BUCKETS - 1 && ((size_t)1 << i) < n; i++)
		;
	st->stats.batch_hist[i]++;
	pthread_mutex_unlock(&st->slock);
	return BATCH_OK;

failed:
	for (i = 0; i < n; i++)
		req_events_free(reqs[i]);
	if (rc == MDB_MAP_FULL)
		return BATCH_FULL;
	if (rc == ENOSPC || rc == EDQUOT)
		return BATCH_DISKFULL;
	log_warnx("store: commit of %zu writes failed: %s", n,
	    mdb_strerror(rc));
	return rc == MDB_PANIC ? BATCH_PANIC : BATCH_FAIL;
}

/* full: 0 (writes fit), BATCH_FULL (the map) or BATCH_DISKFULL. */
static void
writer_set_full(struct store *st, int full)
{
	if (__atomic_exchange_n(&st->full, full, __ATOMIC_RELAXED) == full)
		return;
	if (full == BATCH_FULL)
		log_warnx("store: storage_full: the map is at its maximum "
			  "(%zu KiB); writes fail until room is made",
		    st->map_max >> 10);
	else if (full == BATCH_DISKFULL)
		log_warnx("store: storage_full: the file system under %s is "
			  "full; writes fail until room is made", st->dir);
	else
		log_info("store: writes fit again");
}

/*
 * Commits a batch, growing the map, splitting it at the maximum and
 * reopening after a panic as needed.  Every req gets its result.
 */
static void
writer_run(struct store *st, struct store_req **reqs, size_t n)
{
	enum batch_rc b;
	size_t i;
	int nested = 0;

	writer_grow_ahead(st);
	for (;;) {
		b = writer_commit(st, reqs, n, nested);
		if (b == BATCH_NESTED && !nested) {
			nested = 1;
			pthread_mutex_lock(&st->slock);
			st->stats.nested_runs++;
			pthread_mutex_unlock(&st->slock);
			continue;
		}
		if (b == BATCH_FULL && store_map_grow(st, 0) == 0)
			continue;
		break;
	}
	switch (b) {
	case BATCH_OK:
		if (store_is_full(st))
			writer_set_full(st, 0);
		return;
	case BATCH_FULL:
	case BATCH_DISKFULL:
		if (n > 1) {
			for (i = 0; i < n; i++)
				writer_run(st, &reqs[i], 1);
			return;
		}
		writer_set_full(st, b);
		pthread_mutex_lock(&st->slock);
		st->stats.full++;
		pthread_mutex_unlock(&st->slock);
		reqs[0]->result = STORE_ERR_FULL;
		return;
	case BATCH_PANIC:
		store_env_reopen(st);
		/* FALLTHROUGH */
	case BATCH_NESTED: /* not after a nested run */
	case BATCH_FAIL:
		for (i = 0; i < n; i++)
			reqs[i]->result = STORE_ERR_INTERNAL;
		return;
	}
}

/*
 * The acknowledgement mark of the power-loss test (docs/reliability.md):
 * a library preloaded into the process that defines parley_fault_ack
 * (tests/faults/powerloss.c) is told each committed event right before
 * it is published and its write acknowledged.  Looked up once when the
 * writer starts; without the library it costs one test per batch.
 */
typedef void (*store_ack_fn)(const char *team, uint64_t seq);
static store_ack_fn store_ack_hook;

static void
store_ack_mark(struct store_req *reqs)
{
	struct store_req *r;
	struct store_evrec *e;

	if (store_ack_hook == NULL)
		return;
	for (r = reqs; r != NULL; r = r->next)
		for (e = r->ev_head; e != NULL; e = e->next)
			store_ack_hook(e->team, e->seq);
}

/* Hook for the events, then done functions; frees the batch. */
static void
writer_complete(struct store *st, struct store_req *reqs)
{
	struct store_req *r, *next;
	struct store_evrec *e;

	store_ack_mark(reqs);
	if (st->hook != NULL)
		for (r = reqs; r != NULL; r = r->next)
			for (e = r->ev_head; e != NULL; e = e->next)
				st->hook(st->hook_arg, e->team, e->seq,
				    e->json, e->len);
	for (r = reqs; r != NULL; r = next) {
		next = r->next;
		if (r->done != NULL)
			r->done(r->arg, r->result);
		req_events_free(r);
		free(r);
	}
}

static void
writer_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct store *st = w->data;
	struct store_batch *b, *next;

	pthread_mutex_lock(&st->dlock);
	b = st->dhead;
	st->dhead = st->dtail = NULL;
	pthread_mutex_unlock(&st->dlock);
	for (; b != NULL; b = next) {
		next = b->next;
		writer_complete(st, b->reqs);
		free(b);
	}
}

/* Hands a committed batch to the done thread. */
static void
writer_deliver(struct store *st, struct store_req **reqs, size_t n)
{
	struct store_batch *b;
	size_t i;

	for (i = 0; i + 1 < n; i++)
		reqs[i]->next = reqs[i + 1];
	reqs[n - 1]->next = NULL;
	if (st->loop == NULL) {
		writer_complete(st, reqs[0]);
		return;
	}
	b = xcalloc(1, sizeof(*b));
	b->reqs = reqs[0];
	pthread_mutex_lock(&st->dlock);
	if (st->dtail != NULL)
		st->dtail->next = b;
	else
		st->dhead = b;
	st->dtail = b;
	pthread_mutex_unlock(&st->dlock);
	ev_async_send(st->loop, &st->async);
}

/* Clears dead readers and applies age retention. */
static void
writer_maintain(struct store *st)
{
	struct store_txn t;
	int dead = 0;

	if (st->env == NULL)
		return;
	mdb_reader_check(st->env, &dead);
	if (dead > 0) {
		log_info("store: cleared %d reader slots of dead processes",
		    dead);
		pthread_mutex_lock(&st->slock);
		st->stats.stale_readers += (uint64_t)dead;
		pthread_mutex_unlock(&st->slock);
	}
	if (store_wtxn_begin(st, &t) != STORE_OK)
		return;
	if (store_log_sweep(&t, store_now_us()) == STORE_OK)
		store_wtxn_commit(&t);
	else
		store_wtxn_abort(&t);
}

static void *
writer_main(void *arg)
{
	struct store *st = arg;
	struct store_req **reqs = xcalloc(STORE_BATCH_MAX, sizeof(*reqs));
	struct timespec until;
	size_t n;

	pthread_mutex_lock(&st->qlock);
	for (;;) {
		while (st->qhead == NULL && !st->stopping) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&st->qcond, &st->qlock, &until);
			if (store_now_us() - st->last_maint >=
			    MAINT_INTERVAL_US) {
				st->last_maint = store_now_us();
				pthread_mutex_unlock(&st->qlock);
				writer_maintain(st);
				pthread_mutex_lock(&st->qlock);
			}
		}
		if (st->qhead == NULL)
			break;
		for (n = 0; n < STORE_BATCH_MAX && st->qhead != NULL; n++) {
			reqs[n] = st->qhead;
			st->qhead = st->qhead->next;
		}
		if (st->qhead == NULL)
			st->qtail = NULL;
		pthread_mutex_unlock(&st->qlock);

		writer_run(st, reqs, n);
		writer_deliver(st, reqs, n);
		pthread_mutex_lock(&st->qlock);
	}
	pthread_mutex_unlock(&st->qlock);
	free(reqs);
	__atomic_store_n(&st->exited, 1, __ATOMIC_RELAXED);
	return NULL;
}

int
store_writer_start(struct store *st, struct ev_loop *loop)
{
	int rc;

	if (st->running)
		return -1;
	*(void **)&store_ack_hook = dlsym(RTLD_DEFAULT, "parley_fault_ack");
	st->loop = loop;
	if (loop != NULL) {
		ev_async_init(&st->async, writer_async_cb);
		st->async.data = st;
		ev_async_start(loop, &st->async);
	}
	st->stopping = 0;
	st->exited = 0;
	st->last_maint = store_now_us();
	rc = pthread_create(&st->thread, NULL, writer_main, st);
	if (rc != 0) {
		errno = rc;
		log_warn("store: pthread_create");
		if (loop != NULL)
			ev_async_stop(loop, &st->async);
		return -1;
	}
	st->running = 1;
	return 0;
}

void
store_writer_stop(struct store *st)
{
	if (!st->running)
		return;
	pthread_mutex_lock(&st->qlock);
	st->stopping = 1;
	pthread_cond_signal(&st->qcond);
	pthread_mutex_unlock(&st->qlock);
	pthread_join(st->thread, NULL);
	st->running = 0;
	if (st->loop != NULL) {
		writer_async_cb(st->loop, &st->async, 0);
		ev_async_stop(st->loop, &st->async);
		st->loop = NULL;
	}
}

int
store_submit(struct store *st, store_apply_fn apply, store_done_fn done,
    void *arg)
{
	struct store_req *r;

	r = xcalloc(1, sizeof(*r));
	r->apply = apply;
	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&st->qlock);
	if (!st->running || st->stopping) {
		pthread_mutex_unlock(&st->qlock);
		free(r);
		return -1;
	}
	if (st->qtail != NULL)
		st->qtail->next = r;
	else
		st->qhead = r;
	st->qtail = r;
	pthread_cond_signal(&st->qcond);
	pthread_mutex_unlock(&st->qlock);
	return 0;
}

int
store_write_sync(struct store *st, store_apply_fn apply, void *arg)
{
	struct store_req r = { .apply = apply, .arg = arg };
	struct store_req *one = &r;
	struct store_evrec *e;

	writer_run(st, &one, 1);
	store_ack_mark(&r);
	if (st->hook != NULL)
		for (e = r.ev_head; e != NULL; e = e->next)
			st->hook(st->hook_arg, e->team, e->seq, e->json,
			    e->len);
	req_events_free(&r);
	return r.result;
}

int
store_writer_alive(struct store *st)
{
	int alive;

	pthread_mutex_lock(&st->qlock);
	alive = st->running && !st->stopping &&
	    !__atomic_load_n(&st->exited, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&st->qlock);
	return alive;
}

void
store_set_event_hook(struct store *st, store_event_fn fn, void *arg)
{
	st->hook = fn;
	st->hook_arg = arg;
}

void
store_get_stats(struct store *st, struct store_stats *out)
{
	MDB_envinfo info;
	MDB_stat ms;

	pthread_mutex_lock(&st->slock);
	*out = st->stats;
	pthread_mutex_unlock(&st->slock);
	out->map_max = __atomic_load_n(&st->map_max, __ATOMIC_RELAXED);
	pthread_rwlock_rdlock(&st->envlock);
	if (st->env != NULL && mdb_env_info(st->env, &info) == 0 &&
	    mdb_env_stat(st->env, &ms) == 0) {
		out->map_size = info.me_mapsize;
		out->map_used = (info.me_last_pgno + 1) * (uint64_t)ms.ms_psize;
	}
	pthread_rwlock_unlock(&st->envlock);
}
