/*
 * libFuzzer target: the frames parley-edge reads from a backend, through
 * the daemon's own path (edge_link.c, edge_served.c, edge_rtm.c): the
 * link's decoder and checks, hello, snapshots and their parts (the
 * revoked part included), resume, events and their fan-out into the
 * replay ring, ephemeral events, revocations, results for nobody and
 * errors.  A team T1 is served (waiting for its snapshot) before the
 * input, which follows a hello; afterwards the team must still answer
 * its memory and be freed whole.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <msgpack.h>

#include "edge/edge.h"
#include "log.h"
#include "shard.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] = "[shard s1]\nhttp = 127.0.0.1:1\n"
    "stream = 127.0.0.1:2\n";

/* Appends the hello a backend sends first. */
static void
hello(msgpack_sbuffer *sb)
{
	struct stream_msg m;
	const char *err;

	memset(&m, 0, sizeof(m));
	m.type = STREAM_HELLO;
	m.version = STREAM_VERSION;
	m.version_min = STREAM_VERSION;
	m.name = stream_str("fuzz");
	(void)stream_msg_write(sb, &m, &err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	struct edge_srv srv;
	struct edge_link *l;
	msgpack_sbuffer sb;
	char err[256];

	if (!once) {
		log_init("fuzz", 0, 0);
		once = 1;
	}
	memset(&srv, 0, sizeof(srv));
	srv.loop = EV_DEFAULT;
	srv.cfg.name = (char *)"fuzz";
	srv.cfg.replay_events = 4;
	srv.cfg.recent = 3;
	srv.cfg.max_frame = 1 << 20;
	srv.cfg.backoff_min = srv.cfg.backoff_max = 1;
	srv.cfg.team_idle = srv.cfg.load_timeout = 30;
	srv.shards = shard_map_load_buffer("fuzz.conf", conf, sizeof(conf) - 1,
	    NULL, 0, 0, err, sizeof(err));
	if (srv.shards == NULL)
		abort();
	l = edge_link_test_new(&srv, "s1");
	srv.links = &l;
	srv.nlinks = 1;

	msgpack_sbuffer_init(&sb);
	hello(&sb);
	(void)edge_link_input(l, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	(void)edge_served_get(&srv, "T1", 1);
	(void)edge_link_input(l, data, size);
	(void)edge_served_memory(&srv, NULL);

	srv.stopping = 1;
	edge_served_free_all(&srv);
	edge_link_free(l);
	shard_map_free(srv.shards);
	return 0;
}
