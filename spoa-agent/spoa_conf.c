/*
 * spoa_conf: the [spoa] section of parley.conf (documented in
 * docs/configuration.md) and the decision policy derived from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoa.h"
#include "xmalloc.h"

#define SPOA_KEY(name, type, field, def, min, max)                          \
	{name, type, offsetof(struct spoa_settings, field), def, min, max, 0}

static const struct conf_key spoa_keys[] = {
	SPOA_KEY("listen", CONF_ADDRESS, listen, "127.0.0.1:12345", 0, 0),
	SPOA_KEY("stats_listen", CONF_ADDRESS, stats_listen,
	    "127.0.0.1:12346", 0, 0),
	SPOA_KEY("threads", CONF_INT, threads, "1", 1, 64),
	SPOA_KEY("max_frame_size", CONF_INT, max_frame_size, "16380",
	    SPOP_MIN_FRAME_SIZE, SPOP_MAX_FRAME_SIZE),
	SPOA_KEY("max_conns", CONF_INT, max_conns, "10000", 1, 100000),
	SPOA_KEY("idle_timeout", CONF_DURATION, idle_timeout, "40s", 100,
	    86400000),
	SPOA_KEY("frame_timeout", CONF_DURATION, frame_timeout, "5s", 100,
	    3600000),
	SPOA_KEY("mobile_user_agents", CONF_LIST, mobile_ua,
	    "iPhone iPad Android Mobile ParleyMobile", 0, 64),
	SPOA_KEY("open_paths", CONF_LIST, open_paths,
	    "/ /index.html /favicon.ico /static/* /api/api.test "
	    "/api/parley.signin",
	    0, 64),
	SPOA_KEY("boot_paths", CONF_LIST, boot_paths,
	    "/api/rtm.connect /api/rtm.start /api/client.boot "
	    "/api/parley.boot", 0, 64),
	SPOA_KEY("team_rate", CONF_INT, team_rate, "50", 1, 1000000),
	SPOA_KEY("team_burst", CONF_INT, team_burst, "100", 1, 1000000),
	SPOA_KEY("global_rate", CONF_INT, global_rate, "2000", 1, 10000000),
	SPOA_KEY("global_burst", CONF_INT, global_burst, "4000", 1,
	    10000000),
	SPOA_KEY("retry_after_base", CONF_INT, retry_base, "1", 0, 3600),
	SPOA_KEY("retry_after_jitter", CONF_INT, retry_jitter, "30", 0,
	    3600),
	SPOA_KEY("team_slots", CONF_INT, team_slots, "4096", 1, 1048576),
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct conf_section spoa_sections[] = {
	{"spoa", spoa_keys, 0, false, 0, 0, 0},
	{"tokens", token_conf_keys, offsetof(struct spoa_settings, tokens),
	    false, 0, 0, 1},
	{NULL, NULL, 0, false, 0, 0, 0},
};

/* Every path must start with '/'. */
static int
spoa_conf_check(void *settings, char *err, size_t errlen)
{
	const struct spoa_settings *s = settings;
	const struct conf_list *lists[] = {&s->open_paths, &s->boot_paths};
	const char *names[] = {"open_paths", "boot_paths"};
	size_t i, j;

	for (i = 0; i < 2; i++)
		for (j = 0; j < lists[i]->n; j++)
			if (lists[i]->v[j][0] != '/') {
				snprintf(err, errlen,
				    "[spoa] %s: \"%s\" does not start with /",
				    names[i], lists[i]->v[j]);
				return -1;
			}
	if (s->team_burst < 1 || s->global_burst < 1) {
		snprintf(err, errlen, "[spoa] bursts must be at least 1");
		return -1;
	}
	return 0;
}

const struct conf_schema spoa_schema = {
	sizeof(struct spoa_settings),
	spoa_sections,
	spoa_conf_check,
};

static void
spoa_list_init(struct spoa_list *l, const struct conf_list *c)
{
	size_t i;

	l->n = c->n;
	l->items = xcalloc(c->n + 1, sizeof(*l->items));
	l->lens = xcalloc(c->n + 1, sizeof(*l->lens));
	for (i = 0; i < c->n; i++) {
		l->items[i] = xstrdup(c->v[i]);
		l->lens[i] = strlen(c->v[i]);
	}
}

static void
spoa_list_free(struct spoa_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	free(l->lens);
	memset(l, 0, sizeof(*l));
}

void
spoa_policy_init(struct spoa_policy *pol, const struct spoa_settings *s)
{
	memset(pol, 0, sizeof(*pol));
	pol->max_frame_size = s->max_frame_size;
	pol->idle_timeout = s->idle_timeout / 1000.0;
	pol->frame_timeout = s->frame_timeout / 1000.0;
	spoa_list_init(&pol->mobile_ua, &s->mobile_ua);
	spoa_list_init(&pol->open_paths, &s->open_paths);
	spoa_list_init(&pol->boot_paths, &s->boot_paths);
	pol->team_rate = s->team_rate;
	pol->team_burst = s->team_burst;
	pol->global_rate = s->global_rate;
	pol->global_burst = s->global_burst;
	pol->retry_base = s->retry_base;
	pol->retry_jitter = s->retry_jitter;
	pol->team_slots = s->team_slots;
}

void
spoa_policy_free(struct spoa_policy *pol)
{
	spoa_list_free(&pol->mobile_ua);
	spoa_list_free(&pol->open_paths);
	spoa_list_free(&pol->boot_paths);
}
