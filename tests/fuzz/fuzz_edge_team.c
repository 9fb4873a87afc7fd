/*
 * libFuzzer target: what the edge does with the backend's stream.  A
 * small team is loaded for each input, then the first byte picks:
 *
 *   0  the rest is one event's JSON, applied as the next event
 *   1  the rest is an ephemeral event's JSON
 *   2  the rest is a snapshot part (kind from the second byte) of a new
 *      snapshot, which is then ended
 *   3  the rest is stream frames, decoded and applied in order
 *
 * After each, the team must answer a slim boot, a users.list page and
 * an autocomplete query, and be freed whole.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"
#include "mpframe.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char team_json[] = "{\"id\":\"T1\",\"name\":\"Acme\"}";
static const char users_json[] = "[{\"id\":\"U1\",\"name\":\"alice\","
    "\"real_name\":\"Alice\"},{\"id\":\"U2\",\"name\":\"bob\"}]";
static const char chans_json[] = "[{\"id\":\"C1\",\"name\":\"general\","
    "\"members\":[\"U1\",\"U2\"]},{\"id\":\"G1\",\"name\":\"secret\","
    "\"is_private\":true,\"members\":[\"U1\"]}]";
static const char msgs_json[] = "[{\"channel\":\"C1\",\"messages\":["
    "{\"type\":\"message\",\"user\":\"U1\",\"text\":\"hi <@U2>\","
    "\"ts\":\"1.000001\"}]}]";

static struct edge_team *
load(void)
{
	struct edge_team *t = edge_team_new("T1", 3);
	const char *err;

	if (edge_team_snapshot_begin(t, "e1", 5, team_json,
	    strlen(team_json), &err) == -1 ||
	    edge_team_snapshot_part(t, EDGE_SNAP_USERS, users_json,
	    strlen(users_json), &err) == -1 ||
	    edge_team_snapshot_part(t, EDGE_SNAP_CHANNELS, chans_json,
	    strlen(chans_json), &err) == -1 ||
	    edge_team_snapshot_part(t, EDGE_SNAP_MESSAGES, msgs_json,
	    strlen(msgs_json), &err) == -1 ||
	    edge_team_snapshot_end(t, &err) == -1)
		abort();
	return t;
}

/* The answers a client may ask for must still come. */
static void
use(struct edge_team *t)
{
	struct edge_user *u = edge_team_user(t, "U1");
	size_t len;
	char *s;

	if (u == NULL)
		return;
	s = edge_boot_slim(t, u, &len);
	free(s);
	s = edge_api_users_list(t, u, NULL, 1, &len);
	free(s);
	s = edge_api_conversations_list(t, u, "public_channel,private_channel,"
	    "im,mpim", 0, NULL, 0, &len);
	free(s);
	s = edge_team_complete(t, u, "C1", "a", 1, EDGE_CPL_USER |
	    EDGE_CPL_CHANNEL, 10, &len);
	free(s);
}

static void
frames(struct edge_team *t, const uint8_t *data, size_t size)
{
	struct mpframe_dec d;
	const msgpack_object *map;
	struct stream_msg m;
	const char *err;
	size_t off = 0;
	ssize_t n;

	mpframe_dec_init(&d, 1024 * 1024);
	while (off < size) {
		n = mpframe_decode(&d, data + off, size - off, &map);
		if (n < 0)
			break;
		off += (size_t)n;
		if (map != NULL &&
		    stream_msg_read(map, STREAM_FROM_BACKEND, &m, &err) == 0)
			edge_team_frame(t, &m, NULL, &err);
	}
	mpframe_dec_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct edge_team *t;
	const char *err;

	if (size < 2)
		return 0;
	t = load();
	switch (data[0] % 4) {
	case 0:
		edge_team_apply(t, t->seq + 1, (const char *)data + 1,
		    size - 1, NULL);
		break;
	case 1:
		edge_team_apply_ephemeral(t, (const char *)data + 1, size - 1,
		    NULL);
		break;
	case 2:
		if (edge_team_snapshot_begin(t, "e2", 9, team_json,
		    strlen(team_json), &err) == 0 &&
		    edge_team_snapshot_part(t, EDGE_SNAP_USERS, users_json,
		    strlen(users_json), &err) == 0) {
			edge_team_snapshot_part(t, data[1] % 6,
			    (const char *)data + 2, size - 2, &err);
			edge_team_snapshot_end(t, &err);
		}
		break;
	default:
		frames(t, data + 1, size - 1);
		break;
	}
	use(t);
	edge_team_free(t);
	return 0;
}
