/*
 * health_conf: the [health] section of parley.conf and what is built
 * from it: the groups with their rules and the probes.
 *
 * Lists: edges and shards hold "ADDR" or "NAME=ADDR" items;
 * haproxy_backends holds "BACKEND" or "BACKEND/MIN" items (MIN servers
 * UP needed, default 1).  Each group (haproxy, edges, shards, agent,
 * disk) takes <group>_class, <group>_need and its own interval, timeout,
 * rise and fall, falling back to the section's.  See docs/health.md.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"
#include "xmalloc.h"

#define S(m) offsetof(struct health_settings, m)

/* The keys of one group; dflt is its default class. */
/* clang-format off */
#define GROUP_KEYS(G, i, dflt)						\
	{G "_class", CONF_STRING, S(g[i].cls), dflt, 0, 0, 0},		\
	{G "_need", CONF_INT, S(g[i].need), "0", 0, 1000, 0},		\
	{G "_interval", CONF_DURATION, S(g[i].interval_ms), "0", 0,	\
	    3600000, 0},						\
	{G "_timeout", CONF_DURATION, S(g[i].timeout_ms), "0", 0,	\
	    3600000, 0},						\
	{G "_rise", CONF_INT, S(g[i].rise), "0", 0, 100, 0},		\
	{G "_fall", CONF_INT, S(g[i].fall), "0", 0, 100, 0}
/* clang-format on */

static const struct conf_key health_keys[] = {
	{ "listen", CONF_ADDRESS, S(listen), NULL, 0, 0, 0 },
	{ "listen_tls", CONF_ADDRESS, S(listen_tls), NULL, 0, 0, 0 },
	TLS_CONF_KEYS(struct health_settings, tls),
	{ "agent_check_listen", CONF_ADDRESS, S(agent_check_listen), NULL, 0, 0,
	    0 },
	{ "path", CONF_STRING, S(path), "/health", 0, 0, 0 },
	{ "marker", CONF_STRING, S(marker), "PARLEY-HEALTHY", 0, 0, 0 },
	{ "status_path", CONF_STRING, S(status_path), "/health.json", 0, 0, 0 },
	{ "metrics_path", CONF_STRING, S(metrics_path), "/metrics", 0, 0, 0 },
	{ "healthz_path", CONF_STRING, S(healthz_path), "/healthz", 0, 0, 0 },
	{ "drain_file", CONF_PATH, S(drain_file), NULL, 0, 0, 0 },
	{ "haproxy_stats", CONF_STRING, S(haproxy_stats), NULL, 0, 0, 0 },
	{ "haproxy_backends", CONF_LIST, S(haproxy_backends), NULL, 0, 64, 0 },
	{ "edges", CONF_LIST, S(edges), NULL, 0, 64, 0 },
	{ "shards", CONF_LIST, S(shards), NULL, 0, 64, 0 },
	{ "agent", CONF_STRING, S(agent), NULL, 0, 0, 0 },
	{ "store_path", CONF_PATH, S(store_path), NULL, 0, 0, 0 },
	{ "disk_min_free", CONF_STRING, S(disk_min_free), "5%", 0, 0, 0 },
	{ "load", CONF_STRING, S(load), "loadavg", 0, 0, 0 },
	{ "capacity", CONF_INT, S(capacity), "0", 0, 100000000, 0 },
	{ "interval", CONF_DURATION, S(interval_ms), "2s", 100, 3600000, 0 },
	{ "timeout", CONF_DURATION, S(timeout_ms), "1s", 10, 3600000, 0 },
	{ "rise", CONF_INT, S(rise), "2", 1, 100, 0 },
	{ "fall", CONF_INT, S(fall), "3", 1, 100, 0 },
	{ "critical_if_none", CONF_LIST, S(critical_if_none), "edges shards", 0,
	    5, 0 },
	GROUP_KEYS("haproxy", HEALTH_G_HAPROXY, "critical"),
	GROUP_KEYS("edges", HEALTH_G_EDGES, "degraded"),
	GROUP_KEYS("shards", HEALTH_G_SHARDS, "degraded"),
	GROUP_KEYS("agent", HEALTH_G_AGENT, "degraded"),
	GROUP_KEYS("disk", HEALTH_G_DISK, "degraded"),
	{ "header_timeout", CONF_DURATION, S(header_timeout_ms), "5s", 100,
	    600000, 0 },
	{ "idle_timeout", CONF_DURATION, S(idle_timeout_ms), "15s", 100,
	    3600000, 0 },
	{ "max_conns", CONF_INT, S(max_conns), "4096", 1, 20000, 0 },
	{ NULL, 0, 0, NULL, 0, 0, 0 },
};

static int health_conf_check(void *settings, char *err, size_t errlen);

static const struct conf_section health_sections[] = {
	{ "health", health_keys, 0, false, 0, 0, 1 },
	{ NULL, NULL, 0, false, 0, 0, 0 },
};

const struct conf_schema health_schema = {
	sizeof(struct health_settings),
	health_sections,
	health_conf_check,
};

static const char *const health_group_names[HEALTH_NGROUPS] = { "haproxy",
	"edges", "shards", "agent", "disk" };

/*
 * Parses disk_min_free: "N%" (of the file system) or a size with K, M,
 * G or T (powers of 1024).  Returns 0, or -1.
 */
static int
conf_disk_min(const char *s, double *pct, uint64_t *bytes)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !(v >= 0))
		return -1;
	*pct = 0;
	*bytes = 0;
	if (strcmp(end, "%") == 0) {
		if (v > 100)
			return -1;
		*pct = v;
		return 0;
	}
	switch (toupper((unsigned char)*end)) {
	case 'T':
		v *= 1024;
		/* FALLTHROUGH */
	case 'G':
		v *= 1024;
		/* FALLTHROUGH */
	case 'M':
		v *= 1024;
		/* FALLTHROUGH */
	case 'K':
		v *= 1024;
		end++;
		break;
	case '\0': break;
	default: return -1;
	}
	if (*end != '\0' && strcmp(end, "B") != 0 && strcmp(end, "b") != 0)
		return -1;
	if (v > 1e18)
		return -1;
	*bytes = (uint64_t)v;
	return 0;
}

/* Appends a probe to h and returns it, with the group's timing. */
static struct health_probe *
conf_add_probe(struct health *h, const struct health_settings *s,
    enum health_kind kind, enum health_gid g, char *name)
{
	const struct health_group_settings *gs = &s->g[g];
	struct health_probe *p;

	h->probes = xreallocarray(h->probes, h->nprobes + 1, sizeof(*p));
	p = &h->probes[h->nprobes++];
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->kind = kind;
	p->group = g;
	p->t.interval = conf_ms_to_sec(
	    gs->interval_ms > 0 ? gs->interval_ms : s->interval_ms);
	p->t.timeout =
	    conf_ms_to_sec(gs->timeout_ms > 0 ? gs->timeout_ms : s->timeout_ms);
	p->t.rise = gs->rise > 0 ? gs->rise : s->rise;
	p->t.fall = gs->fall > 0 ? gs->fall : s->fall;
	p->last_ok = -1;
	p->fd = -1;
	return p;
}

/* Adds the HTTP probes of an edges or shards list. */
static int
conf_add_targets(struct health *h, const struct health_settings *s,
    const struct conf_list *l, enum health_gid g, const char *prefix, char *err,
    size_t errlen)
{
	struct health_probe *p;
	char aerr[128];
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *item = l->v[i], *eq = strchr(item, '=');
		const char *addr = eq != NULL ? eq + 1 : item;
		char *name = eq != NULL
		    ? xasprintf("%s:%.*s", prefix, (int)(eq - item), item)
		    : xasprintf("%s:%s", prefix, item);

		p = conf_add_probe(h, s, HEALTH_KIND_HTTP, g, name);
		if (health_parse_addr(addr, &p->addr, aerr, sizeof(aerr)) ==
		    -1) {
			snprintf(err, errlen, "%s: %s: %s",
			    health_group_names[g], item, aerr);
			return -1;
		}
	}
	return 0;
}

/*
 * Builds h's groups and probes from settings s.  Returns 0, or -1 with
 * the reason in err; h then holds what health_free() releases.
 */
int
health_build(
    struct health *h, const struct health_settings *s, char *err, size_t errlen)
{
	struct health_probe *p;
	char aerr[128];
	size_t i;
	int g;

	memset(h, 0, sizeof(*h));
	h->path = xstrdup(s->path);
	h->marker = xstrdup(s->marker);
	h->status_path = xstrdup(s->status_path);
	h->metrics_path = xstrdup(s->metrics_path);
	h->healthz_path = xstrdup(s->healthz_path);
	h->drain_file = s->drain_file != NULL ? xstrdup(s->drain_file) : NULL;

	if (s->listen.port == 0 && s->listen_tls.port == 0 &&
	    s->agent_check_listen.port == 0) {
		snprintf(err, errlen,
		    "[health] needs listen, listen_tls or "
		    "agent_check_listen");
		return -1;
	}
	if (s->listen_tls.port != 0 &&
	    (s->tls.cert == NULL || s->tls.key == NULL)) {
		snprintf(err, errlen, "listen_tls needs tls_cert and tls_key");
		return -1;
	}
	if (h->path[0] != '/' || h->status_path[0] != '/' ||
	    h->metrics_path[0] != '/' || h->healthz_path[0] != '/') {
		snprintf(err, errlen, "paths must start with /");
		return -1;
	}
	if (h->marker[0] == '\0' || strlen(h->marker) > 255) {
		snprintf(err, errlen, "marker must be 1 to 255 characters");
		return -1;
	}
	if (conf_disk_min(s->disk_min_free, &h->disk_min_free_pct,
	        &h->disk_min_free_bytes) == -1) {
		snprintf(err, errlen, "disk_min_free: expected N%% or a size");
		return -1;
	}
	if (strcmp(s->load, "loadavg") == 0) {
		h->load = HEALTH_LOAD_LOADAVG;
		h->capacity = s->capacity > 0
		    ? s->capacity
		    : (double)sysconf(_SC_NPROCESSORS_ONLN);
	} else if (strcmp(s->load, "sessions") == 0) {
		h->load = HEALTH_LOAD_SESSIONS;
		h->capacity = s->capacity;
	} else {
		snprintf(err, errlen, "load: expected loadavg or sessions");
		return -1;
	}

	for (g = 0; g < HEALTH_NGROUPS; g++) {
		struct health_group *grp = &h->groups[g];
		const char *cls = s->g[g].cls;

		grp->name = health_group_names[g];
		grp->need = s->g[g].need;
		if (strcmp(cls, "critical") == 0)
			grp->cls = HEALTH_CLASS_CRITICAL;
		else if (strcmp(cls, "degraded") == 0)
			grp->cls = HEALTH_CLASS_DEGRADED;
		else {
			snprintf(err, errlen,
			    "%s_class: expected critical "
			    "or degraded",
			    grp->name);
			return -1;
		}
	}
	for (i = 0; i < s->critical_if_none.n; i++) {
		for (g = 0; g < HEALTH_NGROUPS; g++)
			if (strcmp(s->critical_if_none.v[i],
			        health_group_names[g]) == 0)
				break;
		if (g == HEALTH_NGROUPS) {
			snprintf(err, errlen, "critical_if_none: no group %s",
			    s->critical_if_none.v[i]);
			return -1;
		}
		h->groups[g].critical_if_none = 1;
	}

	/* The probes, group by group. */
	if (s->haproxy_stats != NULL) {
		struct health_addr stats;

		if (health_parse_addr(
		        s->haproxy_stats, &stats, aerr, sizeof(aerr)) == -1) {
			snprintf(err, errlen, "haproxy_stats: %s", aerr);
			return -1;
		}
		for (i = 0; i == 0 || i < s->haproxy_backends.n; i++) {
			const char *item = s->haproxy_backends.n > 0
			    ? s->haproxy_backends.v[i]
			    : NULL;
			const char *slash =
			    item != NULL ? strchr(item, '/') : NULL;
			char *name = item == NULL ? xstrdup("haproxy")
			    : slash != NULL       ? xasprintf("haproxy:%.*s",
			                                (int)(slash - item), item)
			                    : xasprintf("haproxy:%s", item);
			char *end;
			long min = 1;

			p = conf_add_probe(
			    h, s, HEALTH_KIND_HAPROXY, HEALTH_G_HAPROXY, name);
			p->addr = stats;
			if (item != NULL)
				p->backend = slash != NULL
				    ? xstrndup(item, (size_t)(slash - item))
				    : xstrdup(item);
			if (slash != NULL) {
				errno = 0;
				min = strtol(slash + 1, &end, 10);
				if (errno != 0 || *end != '\0' ||
				    end == slash + 1 || min < 0 ||
				    min > 100000 || slash == item) {
					snprintf(err, errlen,
					    "haproxy_backends: %s: expected "
					    "BACKEND/MIN",
					    item);
					return -1;
				}
			}
			p->min_up = (int)min;
		}
	} else if (s->haproxy_backends.n > 0) {
		snprintf(err, errlen, "haproxy_backends needs haproxy_stats");
		return -1;
	}
	if (conf_add_targets(
	        h, s, &s->edges, HEALTH_G_EDGES, "edge", err, errlen) == -1)
		return -1;
	if (conf_add_targets(
	        h, s, &s->shards, HEALTH_G_SHARDS, "shard", err, errlen) == -1)
		return -1;
	if (s->agent != NULL) {
		p = conf_add_probe(
		    h, s, HEALTH_KIND_AGENT, HEALTH_G_AGENT, xstrdup("agent"));
		if (health_parse_addr(s->agent, &p->addr, aerr, sizeof(aerr)) ==
		    -1) {
			snprintf(err, errlen, "agent: %s", aerr);
			return -1;
		}
	}
	if (s->store_path != NULL) {
		p = conf_add_probe(
		    h, s, HEALTH_KIND_DISK, HEALTH_G_DISK, xstrdup("disk"));
		p->dir = xstrdup(s->store_path);
	}

	for (i = 0; i < h->nprobes; i++) {
		p = &h->probes[i];
		if (p->t.timeout > p->t.interval) {
			snprintf(
			    err, errlen, "%s: timeout above interval", p->name);
			return -1;
		}
		p->addr.text[sizeof(p->addr.text) - 1] = '\0';
	}
	if (h->nprobes > HEALTH_MAX_PROBES) {
		snprintf(err, errlen, "more than %d probes", HEALTH_MAX_PROBES);
		return -1;
	}
	return 0;
}

/* Frees what health_build() and the run made in h, and zeroes it. */
void
health_free(struct health *h)
{
	size_t i;

	for (i = 0; i < h->nprobes; i++) {
		free(h->probes[i].name);
		free(h->probes[i].backend);
		free(h->probes[i].dir);
		free(h->probes[i].rbuf);
		free(h->probes[i].wbuf);
	}
	free(h->probes);
	free(h->path);
	free(h->marker);
	free(h->status_path);
	free(h->metrics_path);
	free(h->healthz_path);
	free(h->drain_file);
	free(h->check_body);
	buf_unref(h->check_buf);
	memset(h, 0, sizeof(*h));
}

/* Checks the settings across keys by building them once. */
static int
health_conf_check(void *settings, char *err, size_t errlen)
{
	struct health tmp;
	int rc;

	rc = health_build(&tmp, settings, err, errlen);
	health_free(&tmp);
	return rc;
}
