/*
 * store-bench: durable writes per second and commit latency of the
 * store's writer at several concurrency levels, next to the raw LMDB
 * ceiling measured in the same run: the same records per write
 * (message, event, channel's last ts, team seq, message->event index)
 * committed by one thread at the batch size the writer formed, each
 * record of the byte size the store wrote.  Acknowledgements run on a
 * libev loop thread of their own, as in parley-backend.
 *
 *   store-bench DIR SECONDS ROUNDS LEVEL...
 *
 * Each level runs ROUNDS rounds of a store phase then a ceiling phase
 * of SECONDS each; the medians are printed, and each round's ratio.
 */
#include <sys/stat.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "log.h"
#include "backend/store_int.h"

static struct store *st;
static struct ev_loop *loop;
static ev_async loop_stop;
static size_t msg_len = 190, ev_len = 260; /* measured after a run */
static char team[STORE_ID_SIZE], user[STORE_ID_SIZE], chan[STORE_ID_SIZE];
static int stop; /* read on the loop thread */

/*
 * A client keeps one write in flight: its done function, on the loop
 * thread as in the daemon, records the latency and submits the next.
 */
struct client {
	uint64_t *lat;
	size_t n, cap;
	uint64_t t0;
	struct store_post post; /* made before submit, as the API does */
};

static int outstanding; /* writes submitted and not yet done */

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
world_apply(struct store_txn *t, void *arg)
{
	int rc = store_op_team_create(t, "Bench", "bench", team);

	if (rc == STORE_OK)
		rc = store_op_user_create(t, team, "b", "B", NULL, user);
	if (rc == STORE_OK)
		rc = store_op_channel_create(t, team, "b", 'C', user, chan);
	return rc;
}

static int
post_apply(struct store_txn *t, void *arg)
{
	struct client *c = arg;

	return store_op_post(t, &c->post, NULL);
}

static void client_submit(struct client *c);

static void
post_done(void *arg, int result)
{
	struct client *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->lat = realloc(c->lat, c->cap * sizeof(*c->lat));
	}
	c->lat[c->n++] = mono_us() - c->t0;
	store_post_free(&c->post);
	if (result != STORE_OK)
		fatalx("write failed: %s", store_strerror(result));
	if (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST))
		client_submit(c);
	else
		__atomic_sub_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
}

static void
client_submit(struct client *c)
{
	json_t *m;

	c->t0 = mono_us();
	m = json_pack("{ss ss}", "user", user, "text",
	    "a benchmark message of about sixty bytes of text, plain.");
	if (store_post_prepare(&c->post, chan, m) != STORE_OK)
		fatalx("store_post_prepare");
	json_decref(m);
	if (store_submit(st, post_apply, post_done, c) == -1)
		fatalx("store_submit");
}

static void
loop_stop_cb(struct ev_loop *l, ev_async *w, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

static void *
loop_main(void *arg)
{
	ev_run(loop, 0);
	return NULL;
}

static int
ev_len_cb(void *arg, uint64_t seq, uint64_t time_us, const char *json,
    size_t len)
{
	ev_len = len;
	return 0;
}

static int
msg_len_cb(void *arg, const char *json, size_t len)
{
	msg_len = len;
	return 1;
}

/* The sizes of the records the store wrote for the last post. */
static void
record_sizes(void)
{
	struct store_txn *t = store_rd_begin(st);
	uint64_t oldest, last;

	if (t == NULL)
		return;
	store_txn_history(t, chan, 0, 0, 0, 0, msg_len_cb, NULL);
	if (store_txn_seq_range(t, team, &oldest, &last) == STORE_OK &&
	    last > 0)
		store_txn_events(t, team, last - 1, 1, ev_len_cb, NULL);
	store_rd_end(t);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The ceiling: one thread, plain LMDB, batch records per commit, each
 * record the puts one message post makes, until seconds pass.
 */
static double
raw_ceiling(const char *dir, double batch, double seconds, uint64_t *seqp)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[5];
	static const char *names[5] = { "messages", "events", "chanlast",
		"teamseq", "msgevents" };
	uint8_t key[64], val[4096];
	uint64_t seq = *seqp, t0, n = 0;
	MDB_val k, v;
	size_t b = (size_t)(batch + 0.5), i;
	int d;

	if (b < 1)
		b = 1;
	memset(val, 'x', sizeof(val));
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
	    mdb_env_set_mapsize(env, (size_t)4 << 30) ||
	    mdb_env_open(env, dir, MDB_NOTLS, 0600))
		fatalx("raw env %s", dir);
	mdb_txn_begin(env, NULL, 0, &txn);
	for (d = 0; d < 5; d++)
		mdb_dbi_open(txn, names[d], MDB_CREATE, &dbi[d]);
	mdb_txn_commit(txn);
	t0 = mono_us();
	while (mono_us() - t0 < (uint64_t)(seconds * 1e6)) {
		mdb_txn_begin(env, NULL, 0, &txn);
		for (i = 0; i < b; i++, seq++) {
			memcpy(key, "C0000000000", 11);
			store_be64_put(key + 11, 1700000000000000ULL + seq);
			memcpy(key + 19, "T0000000000", 11);
			store_be64_put(key + 30, seq);
			k = (MDB_val){ 19, key };
			v = (MDB_val){ msg_len, val };
			mdb_put(txn, dbi[0], &k, &v, 0);
			k = (MDB_val){ 19, key + 19 };
			v = (MDB_val){ ev_len, val };
			mdb_put(txn, dbi[1], &k, &v, 0);
			k = (MDB_val){ 11, key };
			v = (MDB_val){ 8, key + 11 };
			mdb_put(txn, dbi[2], &k, &v, 0);
			k = (MDB_val){ 11, key + 19 };
			v = (MDB_val){ 8, key + 30 };
			mdb_put(txn, dbi[3], &k, &v, 0);
			k = (MDB_val){ 38, key };
			v = (MDB_val){ 0, val };
			mdb_put(txn, dbi[4], &k, &v, 0);
		}
		if (mdb_txn_commit(txn) != 0)
			fatalx("raw commit");
		n += b;
	}
	mdb_env_close(env);
	*seqp = seq;
	return (double)n / ((double)(mono_us() - t0) / 1e6);
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * One store phase of secs seconds with level clients in flight: its
 * writes/s and mean batch; latencies are appended to *all.
 */
static void
store_phase(int level, double secs, double *wps, double *batch,
    uint64_t **all, size_t *total)
{
	struct store_stats s0, s1;
	struct client *cs = calloc((size_t)level, sizeof(*cs));
	uint64_t t0, writes;
	int c;

	store_get_stats(st, &s0);
	__atomic_store_n(&stop, 0, __ATOMIC_SEQ_CST);
	outstanding = level;
	t0 = mono_us();
	for (c = 0; c < level; c++)
		client_submit(&cs[c]);
	usleep((useconds_t)(secs * 1e6));
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&outstanding, __ATOMIC_SEQ_CST) > 0)
		usleep(1000);
	store_get_stats(st, &s1);
	writes = s1.writes - s0.writes;
	*wps = (double)writes / ((double)(mono_us() - t0) / 1e6);
	*batch = (double)writes / (double)(s1.commits - s0.commits);
	for (c = 0; c < level; c++) {
		*all = realloc(*all, (*total + cs[c].n) * sizeof(**all));
		memcpy(*all + *total, cs[c].lat, cs[c].n * sizeof(**all));
		*total += cs[c].n;
		free(cs[c].lat);
	}
	free(cs);
}

int
main(int argc, char **argv)
{
	struct store_config cfg = { 0 };
	char err[256], sdir[4096], rdir[4096];
	double secs, wps[16], ceil[16], ratio[16], batch, bsum;
	uint64_t *all, seq;
	size_t total;
	int a, r, rounds, level;
	pthread_t loop_th;

	if (argc < 5) {
		fprintf(stderr,
		    "usage: store-bench DIR SECONDS ROUNDS LEVEL...\n");
		return 2;
	}
	log_init("store-bench", 0, 0);
	secs = atof(argv[2]);
	rounds = atoi(argv[3]);
	if (rounds < 1 || rounds > 16)
		fatalx("ROUNDS: 1 to 16");
	snprintf(sdir, sizeof(sdir), "%s/store", argv[1]);
	cfg.data_dir = sdir;
	cfg.map_initial = (size_t)1 << 30;
	st = store_open(&cfg, 1, 0, err, sizeof(err));
	if (st == NULL)
		fatalx("%s", err);
	if (store_write_sync(st, world_apply, NULL) != STORE_OK)
		fatalx("setup failed");
	loop = ev_loop_new(0);
	ev_async_init(&loop_stop, loop_stop_cb);
	ev_async_start(loop, &loop_stop);
	store_writer_start(st, loop);
	pthread_create(&loop_th, NULL, loop_main, NULL);

	/*
	 * Store and ceiling phases alternate, so that both see the same
	 * machine; the medians of the rounds are printed.
	 */
	printf("%-8s %10s %8s %8s %8s %10s %7s  %s\n", "clients", "writes/s",
	    "p50_us", "p99_us", "batch", "ceiling/s", "ratio",
	    "per-round ratios");
	for (a = 4; a < argc; a++) {
		level = atoi(argv[a]);
		if (level < 1)
			continue;
		snprintf(rdir, sizeof(rdir), "%s/raw-%d", argv[1], level);
		if (mkdir(rdir, 0700) == -1)
			fatal("mkdir %s", rdir);
		all = NULL;
		total = 0;
		seq = 0;
		bsum = 0;
		for (r = 0; r < rounds; r++) {
			store_phase(level, secs, &wps[r], &batch, &all, &total);
			bsum += batch;
			record_sizes();
			if (msg_len > 4000 || ev_len > 4000)
				fatalx("records larger than the ceiling's "
				       "buffer");
			ceil[r] = raw_ceiling(rdir, batch, secs, &seq);
			ratio[r] = 100.0 * wps[r] / ceil[r];
		}
		qsort(all, total, sizeof(*all), cmp_u64);
		printf("%-8d %10.0f %8" PRIu64 " %8" PRIu64 " %8.1f %10.0f "
		       "%6.0f%% ",
		    level, median(wps, rounds), all[total / 2],
		    all[total * 99 / 100], bsum / rounds, median(ceil, rounds),
		    100.0 * median(wps, rounds) / median(ceil, rounds));
		for (r = 0; r < rounds; r++)
			printf(" %.0f%%", ratio[r]);
		printf("\n");
		fflush(stdout);
		free(all);
	}
	/* Every client is done: the loop may go, then the writer. */
	ev_async_send(loop, &loop_stop);
	pthread_join(loop_th, NULL);
	store_writer_stop(st);
	store_close(st);
	ev_loop_destroy(loop);
	return 0;
}
