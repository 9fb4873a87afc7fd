/*
 * libFuzzer target for the backend side of the edge stream: each input
 * is the bytes an edge sends on one connection (length-prefixed msgpack
 * frames), fed to a session over a real store that holds one team with
 * a user, a channel and a few messages.  Team ids and epochs are random,
 * so the placeholders "T@@@@@@@@@@" and "E@@@@@@@@@@@@@@@" in an input
 * are replaced by the team's id and the store's epoch first: seeds reach
 * the snapshot and resume paths.  Every frame the backend answers must
 * read back as a valid frame from a backend.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "mpframe.h"
#include "stream.h"

#include "backend/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct store *st;
static struct stream_srv *srv;
static char team[STORE_ID_SIZE];
static char dir[] = "/tmp/fuzz-stream-XXXXXX";

/* Removes the store's directory when the fuzzer exits. */
static void
cleanup(void)
{
	char path[sizeof(dir) + 300];
	struct dirent *de;
	DIR *d;

	store_close(st);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

struct world {
	char team[STORE_ID_SIZE], user[STORE_ID_SIZE], chan[STORE_ID_SIZE];
};

static int
world_apply(struct store_txn *t, void *arg)
{
	struct world *w = arg;
	json_t *m;
	int rc, i;

	rc = store_op_team_create(t, "Fuzz", "fuzz", w->team);
	if (rc == STORE_OK)
		rc = store_op_user_create(
		    t, w->team, "ann", "Ann", NULL, w->user);
	if (rc == STORE_OK)
		rc = store_op_channel_create(
		    t, w->team, "general", 'C', w->user, w->chan);
	for (i = 0; rc == STORE_OK && i < 3; i++) {
		m = json_pack("{ss ss}", "user", w->user, "text", "hello");
		rc = store_op_message_post(t, w->chan, m, NULL);
		json_decref(m);
	}
	return rc;
}

/* Checks each answer: whole frames that read as frames from a backend. */
static void
check_out(void *arg, const void *p, size_t len)
{
	msgpack_unpacked un;
	struct stream_msg m;
	const char *err;

	(void)arg;
	msgpack_unpacked_init(&un);
	if (mpframe_parse(p, len, STREAM_FRAME_MAX, &un, &err) == -1 ||
	    stream_msg_read(&un.data, STREAM_FROM_BACKEND, &m, &err) == -1) {
		fprintf(stderr, "backend sent a bad frame: %s\n", err);
		abort();
	}
	msgpack_unpacked_destroy(&un);
}

static void
setup(void)
{
	char err[256];
	struct store_config cfg;
	struct stream_config sc;
	struct world w;

	if (mkdtemp(dir) == NULL)
		abort();
	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = dir;
	cfg.map_initial = 4u << 20;
	st = store_open(&cfg, 1, 0, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		abort();
	}
	atexit(cleanup);
	memset(&w, 0, sizeof(w));
	if (store_write_sync(st, world_apply, &w) != STORE_OK)
		abort();
	memcpy(team, w.team, sizeof(team));
	loop = ev_loop_new(EVFLAG_AUTO);
	stream_config_default(&sc);
	sc.max_frame = 64u << 10;
	sc.replay_batch = 2;
	sc.snap_part = 256;
	srv = stream_new(loop, st, NULL, &sc, NULL);
}

/* Replaces every occurrence of ph (n bytes) in b by with (n bytes). */
static void
subst(uint8_t *b, size_t size, const char *ph, const char *with, size_t n)
{
	size_t i;

	for (i = 0; i + n <= size; i++)
		if (memcmp(b + i, ph, n) == 0)
			memcpy(b + i, with, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream_peer *p;
	uint8_t *b;
	size_t i;

	if (srv == NULL)
		setup();
	b = malloc(size + 1);
	if (b == NULL)
		return 0;
	memcpy(b, data, size);
	subst(b, size, "T@@@@@@@@@@", team, STORE_ID_LEN);
	subst(b, size, "E@@@@@@@@@@@@@@@", store_epoch(st), 16);

	p = stream_peer_test_new(srv, check_out, NULL);
	/* In two pieces, as a connection may read it. */
	i = size / 2;
	if (stream_peer_input(p, b, i) == 0)
		(void)stream_peer_input(p, b + i, size - i);
	ev_run(loop, EVRUN_NOWAIT);
	ev_run(loop, EVRUN_NOWAIT);
	stream_peer_test_free(p);
	free(b);
	return 0;
}
