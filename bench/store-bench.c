/*
 * store-bench: durable writes per second and commit latency of the
 * store's writer at several concurrency levels, next to the raw LMDB
 * ceiling measured in the same run: the same records per write
 * (message, event, channel's last ts, team seq, message->event index)
 * committed by one thread at the batch size the writer formed.
 *
 *   store-bench DIR SECONDS LEVEL...
 */
#include <sys/stat.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "backend/store_int.h"

static struct store *st;
static char team[STORE_ID_SIZE], user[STORE_ID_SIZE], chan[STORE_ID_SIZE];
static volatile int stop;

struct client {
	pthread_t th;
	uint64_t *lat;
	size_t n, cap;
	uint64_t t0;
	int acked;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

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
	json_t *m = json_pack("{ss ss}", "user", user, "text",
	    "a benchmark message of about sixty bytes of text, plain.");
	int rc = store_op_message_post(t, chan, m, NULL);

	json_decref(m);
	return rc;
}

static void
post_done(void *arg, int result)
{
	struct client *c = arg;

	pthread_mutex_lock(&c->lock);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->lat = realloc(c->lat, c->cap * sizeof(*c->lat));
	}
	c->lat[c->n++] = mono_us() - c->t0;
	c->acked = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void *
client_main(void *arg)
{
	struct client *c = arg;

	while (!stop) {
		c->acked = 0;
		c->t0 = mono_us();
		if (store_submit(st, post_apply, post_done, c) == -1)
			break;
		pthread_mutex_lock(&c->lock);
		while (!c->acked)
			pthread_cond_wait(&c->cond, &c->lock);
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
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
raw_ceiling(const char *dir, double batch, double seconds)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[5];
	static const char *names[5] = { "messages", "events", "chanlast",
		"teamseq", "msgevents" };
	uint8_t key[64], val[400];
	uint64_t seq = 0, t0, n = 0;
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
			v = (MDB_val){ 190, val };
			mdb_put(txn, dbi[0], &k, &v, 0);
			k = (MDB_val){ 19, key + 19 };
			v = (MDB_val){ 260, val };
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
	return (double)n / ((double)(mono_us() - t0) / 1e6);
}

int
main(int argc, char **argv)
{
	struct store_config cfg = { 0 };
	struct store_stats s0, s1;
	struct client *cs;
	char err[256], sdir[4096], rdir[4096];
	double secs, wps, batch, ceil_wps;
	uint64_t *all, t0, writes;
	size_t total;
	int a, c, level;

	if (argc < 4) {
		fprintf(stderr, "usage: store-bench DIR SECONDS LEVEL...\n");
		return 2;
	}
	log_init("store-bench", 0, 0);
	secs = atof(argv[2]);
	snprintf(sdir, sizeof(sdir), "%s/store", argv[1]);
	cfg.data_dir = sdir;
	cfg.map_initial = (size_t)1 << 30;
	st = store_open(&cfg, 1, 0, err, sizeof(err));
	if (st == NULL)
		fatalx("%s", err);
	if (store_write_sync(st, world_apply, NULL) != STORE_OK)
		fatalx("setup failed");
	store_writer_start(st, NULL);

	printf("%-8s %10s %8s %8s %8s %10s %7s\n", "clients", "writes/s",
	    "p50_us", "p99_us", "batch", "ceiling/s", "ratio");
	for (a = 3; a < argc; a++) {
		level = atoi(argv[a]);
		if (level < 1)
			continue;
		cs = calloc((size_t)level, sizeof(*cs));
		store_get_stats(st, &s0);
		stop = 0;
		t0 = mono_us();
		for (c = 0; c < level; c++) {
			pthread_mutex_init(&cs[c].lock, NULL);
			pthread_cond_init(&cs[c].cond, NULL);
			pthread_create(&cs[c].th, NULL, client_main, &cs[c]);
		}
		usleep((useconds_t)(secs * 1e6));
		stop = 1;
		for (c = 0; c < level; c++)
			pthread_join(cs[c].th, NULL);
		store_get_stats(st, &s1);
		writes = s1.writes - s0.writes;
		wps = (double)writes / ((double)(mono_us() - t0) / 1e6);
		batch = (double)writes / (double)(s1.commits - s0.commits);

		for (total = 0, c = 0; c < level; c++)
			total += cs[c].n;
		all = malloc(total * sizeof(*all));
		for (total = 0, c = 0; c < level; c++) {
			memcpy(all + total, cs[c].lat, cs[c].n * sizeof(*all));
			total += cs[c].n;
			free(cs[c].lat);
		}
		qsort(all, total, sizeof(*all), cmp_u64);

		snprintf(rdir, sizeof(rdir), "%s/raw-%d", argv[1], level);
		if (mkdir(rdir, 0700) == -1)
			fatal("mkdir %s", rdir);
		ceil_wps = raw_ceiling(rdir, batch, secs);
		printf("%-8d %10.0f %8" PRIu64 " %8" PRIu64 " %8.1f %10.0f "
		       "%6.0f%%\n",
		    level, wps, all[total / 2], all[total * 99 / 100], batch,
		    ceil_wps, 100.0 * wps / ceil_wps);
		fflush(stdout);
		free(all);
		free(cs);
	}
	store_close(st);
	return 0;
}
