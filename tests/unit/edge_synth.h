/*
 * edge_synth: a synthetic team for the edge's tests and benchmarks,
 * loaded through the snapshot API exactly as the stream would load it.
 *
 *   users     U0000000000.. with names user<i>, real names from common
 *             first and last names, the backend's user object shape plus
 *             an e-mail, a title and three avatar URLs (a Slack user
 *             object is about 1 KiB)
 *   channels  C0000000000 "general" (everyone), then public channels
 *             chan-<i>, each with a slice of the team
 *   asker     U0000000000 is a member of general, of the first
 *             asker_chans - 2 other public channels and of one IM with
 *             U0000000001, and has unread messages in each
 *   messages  recent messages per channel, some naming the asker
 *
 * Header-only so that unit tests and bench/edge-bench.c share it.
 */
#ifndef PARLEY_EDGE_SYNTH_H
#define PARLEY_EDGE_SYNTH_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"

static const char *synth_first[] = {"Anna", "Bob", "Chloé", "David",
    "Émile", "Fatima", "Günther", "Hiro", "İlkay", "José", "Kai", "Lena",
    "María", "Nikolaj", "Olivia", "Pierre", "Quentin", "Rosa", "Søren",
    "Tomás", "Uma", "Vera", "Wei", "Xavier", "Yusuf", "Zoë"};
static const char *synth_last[] = {"Smith", "Müller", "García", "Rossi",
    "Dubois", "Nowak", "Straße", "Yılmaz", "Sato", "Kim", "Silva",
    "Jensen", "O'Brien", "Novák", "Andersson", "Kowalski"};

#define SYNTH_N(a) (sizeof(a) / sizeof((a)[0]))

struct synth_buf {
	char *p;
	size_t len, cap;
};

static void
synth_put(struct synth_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
synth_put(struct synth_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t)n + 1024;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	b->len += (size_t)n;
}

static void
synth_part(struct edge_team *t, int kind, struct synth_buf *b)
{
	const char *err = NULL;

	synth_put(b, "]");
	if (edge_team_snapshot_part(t, kind, b->p, b->len, &err) == -1) {
		fprintf(stderr, "synth: part %d: %s\n", kind, err);
		abort();
	}
	b->len = 0;
	synth_put(b, "[");
}

/* A user object in the backend's shape with a fuller profile. */
static void
synth_user(struct synth_buf *b, size_t i)
{
	const char *fn = synth_first[i % SYNTH_N(synth_first)];
	const char *ln = synth_last[(i / 7) % SYNTH_N(synth_last)];

	synth_put(b, "{\"id\":\"U%010zu\",\"team_id\":\"T0000000001\","
	    "\"name\":\"user%zu\",\"deleted\":false,\"color\":\"9f69e7\","
	    "\"real_name\":\"%s %s\",\"is_admin\":false,\"is_owner\":false,"
	    "\"is_bot\":false,\"is_app_user\":false,\"tz\":\"Europe/Paris\","
	    "\"tz_label\":\"Central European Time\",\"tz_offset\":3600,"
	    "\"updated\":1700000000,\"profile\":{\"real_name\":\"%s %s\","
	    "\"display_name\":\"%s%zu\",\"real_name_normalized\":\"%s %s\","
	    "\"display_name_normalized\":\"%s%zu\",\"title\":\"Engineer\","
	    "\"email\":\"user%zu@example.com\",\"status_text\":\"\","
	    "\"image_24\":\"https://avatars.example.com/U%010zu_24.png\","
	    "\"image_72\":\"https://avatars.example.com/U%010zu_72.png\","
	    "\"image_192\":\"https://avatars.example.com/U%010zu_192.png\"}}",
	    i, i, fn, ln, fn, ln, fn, i, fn, ln, fn, i, i, i, i, i);
}

/*
 * Builds a ready team of nusers users and nchans channels with recent
 * messages per channel, the asker in asker_chans conversations
 * (general, asker_chans - 2 public channels, one IM; asker_chans >= 2).
 */
static struct edge_team *
synth_team(size_t nusers, size_t nchans, size_t asker_chans, size_t recent)
{
	struct edge_team *t = edge_team_new("T0000000001", recent);
	struct synth_buf b = {NULL, 0, 0};
	const char *err = NULL;
	static const char team[] = "{\"id\":\"T0000000001\",\"name\":"
	    "\"Synthetic\",\"domain\":\"synthetic\",\"created\":1700000000}";
	size_t i, j, n, per;

	if (edge_team_snapshot_begin(t, "00112233aabbccdd", 1000, team,
	    strlen(team), &err) == -1)
		abort();

	synth_put(&b, "[");
	for (i = 0; i < nusers; i++) {
		if (b.len > 1)
			synth_put(&b, ",");
		synth_user(&b, i);
		if (i % 5000 == 4999)
			synth_part(t, EDGE_SNAP_USERS, &b);
	}
	synth_part(t, EDGE_SNAP_USERS, &b);

	/* Channels: general, public ones, and the asker's IM. */
	for (i = 0; i < nchans; i++) {
		if (b.len > 1)
			synth_put(&b, ",");
		synth_put(&b, "{\"id\":\"C%010zu\",\"name\":\"%s%zu\","
		    "\"is_channel\":true,\"is_group\":false,\"is_im\":false,"
		    "\"is_mpim\":false,\"is_private\":false,\"created\":"
		    "1700000000,\"is_archived\":false,\"is_general\":%s,"
		    "\"creator\":\"U0000000000\",\"context_team_id\":"
		    "\"T0000000001\",\"topic\":{\"value\":\"\","
		    "\"creator\":\"\","
		    "\"last_set\":0},\"purpose\":{\"value\":\"Talk about "
		    "things\",\"creator\":\"\",\"last_set\":0}}", i,
		    i == 0 ? "general" : "chan-", i, i == 0 ? "true" : "false");
	}
	if (b.len > 1)
		synth_put(&b, ",");
	synth_put(&b, "{\"id\":\"D0000000001\",\"created\":1700000000,"
	    "\"is_im\":true,\"is_org_shared\":false,\"user\":\"U0000000001\","
	    "\"is_user_deleted\":false}");
	synth_part(t, EDGE_SNAP_CHANNELS, &b);

	/* Members: general has everyone, channel i a slice of the team. */
	per = nusers / 50 + 5;
	for (i = 0; i < nchans; i++) {
		synth_put(&b, "%s{\"channel\":\"C%010zu\",\"members\":[",
		    b.len > 1 ? "," : "", i);
		n = i == 0 ? nusers : per;
		for (j = 0; j < n; j++) {
			size_t u = i == 0 ? j : (i * 131 + j * 17) % nusers;

			if (u == 0 && i != 0 && i >= asker_chans - 1)
				u = 1;
			synth_put(&b, "%s\"U%010zu\"", j ? "," : "", u);
		}
		if (i > 0 && i < asker_chans - 1)
			synth_put(&b, ",{\"user\":\"U0000000000\","
			    "\"last_read\":"
			    "\"1700000000.000001\",\"unread_count\":%zu,"
			    "\"mention_count\":%zu}", 3 + i, i % 2);
		synth_put(&b, "]}");
		if (i % 50 == 49)
			synth_part(t, EDGE_SNAP_MEMBERS, &b);
	}
	synth_put(&b, "%s{\"channel\":\"D0000000001\",\"members\":["
	    "{\"user\":\"U0000000000\",\"last_read\":\"1700000000.000001\","
	    "\"unread_count\":2},\"U0000000001\"]}", b.len > 1 ? "," : "");
	synth_part(t, EDGE_SNAP_MEMBERS, &b);

	/* Recent messages. */
	for (i = 0; i < nchans; i++) {
		synth_put(&b, "%s{\"channel\":\"C%010zu\",\"messages\":[",
		    b.len > 1 ? "," : "", i);
		for (j = 0; j < recent; j++)
			synth_put(&b, "%s{\"type\":\"message\",\"user\":"
			    "\"U%010zu\",\"text\":\"message %zu%s\",\"ts\":"
			    "\"1700000%03zu.%06zu\"}", j ? "," : "",
			    (i + j) % nusers, j,
			    j % 5 == 0 ? " for <@U0000000000>" : "", i % 1000,
			    j + 1);
		synth_put(&b, "]}");
		if (i % 200 == 199)
			synth_part(t, EDGE_SNAP_MESSAGES, &b);
	}
	synth_part(t, EDGE_SNAP_MESSAGES, &b);
	free(b.p);

	if (edge_team_snapshot_end(t, &err) == -1)
		abort();
	return t;
}

#endif
