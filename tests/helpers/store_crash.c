/*
 * store_crash: the driver of the durability test.
 *
 *   store_crash DIR write THREADS   many threads post through the writer;
 *                                   each acknowledged write prints
 *                                   "ack <thread> <n> <ts>" on stdout
 *                                   (from the done callback, on the loop
 *                                   thread) until the process is killed
 *   store_crash DIR check           prints "msg <text> <ts>" for every
 *                                   message, oldest first, then the
 *                                   verify findings and writer statistics
 *
 * The test kills "write" with SIGKILL at an arbitrary point and expects
 * "check" to list every acknowledged write once, in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "log.h"
#include "backend/store_int.h"

static struct store *st;
static char team[STORE_ID_SIZE], user[STORE_ID_SIZE], chan[STORE_ID_SIZE];

struct writer {
	pthread_t th;
	int id;
	uint64_t n;
	uint64_t ts;
	int acked, result;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static int
world_apply(struct store_txn *t, void *arg)
{
	int rc;

	if (store_txn_team_by_domain(t, "crash", team) == STORE_OK) {
		store_txn_user_by_name(t, team, "crash", user);
		return store_txn_channel_by_name(t, team, "crash", chan);
	}
	rc = store_op_team_create(t, "Crash", "crash", team);
	if (rc == STORE_OK)
		rc = store_op_user_create(t, team, "crash", "Crash Test", NULL,
		    user);
	if (rc == STORE_OK)
		rc = store_op_channel_create(t, team, "crash", 'C', user, chan);
	return rc;
}

static int
post_apply(struct store_txn *t, void *arg)
{
	struct writer *w = arg;
	char text[64];
	json_t *m;
	int rc;

	snprintf(text, sizeof(text), "w%d-%" PRIu64, w->id, w->n);
	m = json_pack("{ss ss}", "user", user, "text", text);
	rc = store_op_message_post(t, chan, m, &w->ts);
	json_decref(m);
	return rc;
}

/* On the loop thread, after the commit: the acknowledgement. */
static void
post_done(void *arg, int result)
{
	struct writer *w = arg;
	char line[128], ts[STORE_TS_SIZE];
	int n;

	if (result == STORE_OK) {
		store_ts_format(w->ts, ts);
		n = snprintf(line, sizeof(line), "ack %d %" PRIu64 " %s\n",
		    w->id, w->n, ts);
		if (write(STDOUT_FILENO, line, (size_t)n) != n)
			_exit(3);
	}
	pthread_mutex_lock(&w->lock);
	w->result = result;
	w->acked = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;

	for (w->n = 0;; w->n++) {
		w->acked = 0;
		if (store_submit(st, post_apply, post_done, w) == -1)
			return NULL;
		pthread_mutex_lock(&w->lock);
		while (!w->acked)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
		if (w->result != STORE_OK)
			return NULL;
	}
}

static int
print_msg(void *arg, const char *json, size_t len)
{
	json_t *m = json_loadb(json, len, 0, NULL);
	char ***out = arg;
	char *line;

	if (m == NULL)
		return 0;
	if (asprintf(&line, "msg %s %s",
		json_string_value(json_object_get(m, "text")),
		json_string_value(json_object_get(m, "ts"))) == -1)
		exit(1);
	json_decref(m);
	/* History runs newest first; keep and print in reverse. */
	**out = line;
	(*out)++;
	return 0;
}

static void
print_finding(void *arg, const char *line)
{
	printf("finding %s\n", line);
}

int
main(int argc, char **argv)
{
	struct store_config cfg = { 0 };
	struct store_txn *t;
	struct store_stats s;
	struct writer *ws;
	char err[256], **lines, **end;
	int i, n;

	if (argc < 3)
		return 2;
	log_init("store_crash", 0, 0);
	cfg.data_dir = argv[1];
	st = store_open(&cfg, 1, 0, err, sizeof(err));
	if (st == NULL)
		fatalx("%s", err);
	if (store_write_sync(st, world_apply, NULL) != STORE_OK)
		fatalx("cannot create the test team");

	if (strcmp(argv[2], "check") == 0) {
		lines = calloc(1 << 20, sizeof(char *));
		end = lines;
		t = store_rd_begin(st);
		store_txn_history(t, chan, 0, 0, 1, 1, print_msg, &end);
		store_rd_end(t);
		while (end > lines) {
			end--;
			printf("%s\n", *end);
			free(*end);
		}
		free(lines);
		printf("findings %zu\n", store_verify(st, print_finding, NULL));
		store_close(st);
		return 0;
	}

	n = argc > 3 ? atoi(argv[3]) : 8;
	if (n < 1 || n > 256)
		return 2;
	struct ev_loop *loop = EV_DEFAULT;
	if (store_writer_start(st, loop) == -1)
		fatalx("cannot start the writer");
	ws = calloc((size_t)n, sizeof(*ws));
	for (i = 0; i < n; i++) {
		ws[i].id = i;
		pthread_mutex_init(&ws[i].lock, NULL);
		pthread_cond_init(&ws[i].cond, NULL);
		pthread_create(&ws[i].th, NULL, writer_main, &ws[i]);
	}
	/* Runs until killed. */
	ev_run(loop, 0);
	store_get_stats(st, &s);
	return 0;
}
