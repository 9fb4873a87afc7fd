/*
 * shard: the shard sections of parley.conf, the team map file and
 * rendezvous placement (see shard.h for the formats).
 *
 * The map's teams are kept in an array sorted by team id, with a second
 * array of indexes sorted by domain, so that both lookups are binary
 * searches: edges and the agent look a team up on every connection.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "shard.h"
#include "util.h"
#include "xmalloc.h"

struct shard_team {
	char *team;
	char *domain;
	size_t shard; /* index in shard_map.shards */
	int line;     /* of the map file, for duplicate messages */
};

/* The domain index: a team's domain and its index in shard_map.teams. */
struct shard_dom {
	const char *domain;
	size_t t;
};

struct shard_map {
	struct shard *shards;
	size_t n;
	char *path; /* map file, or NULL */
	char *haproxy_path; /* [shards] haproxy_map, or NULL */
	struct shard_team *teams; /* sorted by team id */
	size_t nteams;
	struct shard_dom *bydomain; /* sorted by domain */
};

/* What conf loads: the [shard NAME] elements and [shards]. */
struct shard_conf_elem {
	char *name;
	struct conf_addr http;
	struct conf_addr stream;
	char *admin;
};

struct shard_conf {
	struct conf_array shards;
	char *map;
	char *haproxy_map;
};

static const struct conf_key shard_conf_keys[] = {
	{"http", CONF_ADDRESS, offsetof(struct shard_conf_elem, http), NULL,
	    0, 0, CONF_REQUIRED},
	{"stream", CONF_ADDRESS, offsetof(struct shard_conf_elem, stream),
	    NULL, 0, 0, 0},
	{"admin", CONF_PATH, offsetof(struct shard_conf_elem, admin), NULL,
	    0, 0, 0},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct conf_key shards_conf_keys[] = {
	{"map", CONF_PATH, offsetof(struct shard_conf, map), NULL, 0, 0, 0},
	{"haproxy_map", CONF_PATH, offsetof(struct shard_conf, haproxy_map),
	    NULL, 0, 0, 0},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static int shard_conf_check(void *settings, char *err, size_t errlen);

static const struct conf_section shard_conf_sections[] = {
	{"shard", shard_conf_keys, offsetof(struct shard_conf, shards), true,
	    sizeof(struct shard_conf_elem),
	    offsetof(struct shard_conf_elem, name), 0},
	{"shards", shards_conf_keys, 0, false, 0, 0, 0},
	{NULL, NULL, 0, false, 0, 0, 0},
};

static const struct conf_schema shard_conf_schema = {
	sizeof(struct shard_conf), shard_conf_sections, shard_conf_check,
};

static const char shard_upper_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static const char shard_domain_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

bool
shard_valid_team(const char *s, size_t len)
{
	return len >= 2 && len <= SHARD_TEAM_MAX && s[0] == 'T' &&
	    util_all_in(s + 1, len - 1, shard_upper_digits);
}

bool
shard_valid_domain(const char *s, size_t len)
{
	return len >= 1 && len <= SHARD_DOMAIN_MAX &&
	    util_all_in(s, len, shard_domain_chars);
}

/* The checks conf cannot make key by key. */
static int
shard_conf_check(void *settings, char *err, size_t errlen)
{
	struct shard_conf *c = settings;
	size_t i;

	if (c->shards.n == 0 && c->map != NULL) {
		snprintf(err, errlen, "[shards] map is set but there is no "
		    "[shard NAME] section");
		return -1;
	}
	if (c->shards.n > SHARD_MAX) {
		snprintf(err, errlen, "more than %d [shard] sections",
		    SHARD_MAX);
		return -1;
	}
	for (i = 0; i < c->shards.n; i++) {
		struct shard_conf_elem *e = CONF_ARRAY_AT(&c->shards,
		    struct shard_conf_elem, i);

		if (e->http.host[0] == '\0' || e->http.port == 0) {
			snprintf(err, errlen, "[shard %s] http needs a host "
			    "and a port others can connect to", e->name);
			return -1;
		}
		if ((e->stream.host[0] == '\0') != (e->stream.port == 0)) {
			snprintf(err, errlen, "[shard %s] stream needs a host "
			    "and a port others can connect to", e->name);
			return -1;
		}
	}
	return 0;
}

/*
 * FNV-1a 64 over name, a NUL and team, then the splitmix64 finalizer so
 * that ids differing in their last character spread over every bit.
 */
static uint64_t
shard_score(const char *name, const char *team)
{
	uint64_t h = 14695981039346656037ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h *= 1099511628211ULL; /* the NUL separator: h ^ 0 == h */
	for (p = (const unsigned char *)team; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;

	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

const struct shard *
shard_hash_team(const struct shard_map *map, const char *team_id)
{
	const struct shard *best = NULL;
	uint64_t best_score = 0, sc;
	size_t i;

	if (map == NULL || team_id == NULL)
		return NULL;
	for (i = 0; i < map->n; i++) {
		sc = shard_score(map->shards[i].name, team_id);
		if (best == NULL || sc > best_score || (sc == best_score &&
		    strcmp(map->shards[i].name, best->name) < 0)) {
			best = &map->shards[i];
			best_score = sc;
		}
	}
	return best;
}

static int
shard_team_cmp(const void *a, const void *b)
{
	const struct shard_team *x = a, *y = b;

	return strcmp(x->team, y->team);
}

/* Index of team_id in map->teams, or -1. */
static ssize_t
shard_team_find(const struct shard_map *map, const char *team_id)
{
	size_t lo = 0, hi = map->nteams;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(team_id, map->teams[mid].team);

		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Index into map->teams of the team with domain, or -1. */
static ssize_t
shard_domain_find(const struct shard_map *map, const char *domain)
{
	size_t lo = 0, hi = map->nteams;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(domain, map->bydomain[mid].domain);

		if (c == 0)
			return (ssize_t)map->bydomain[mid].t;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int
shard_domain_cmp(const void *a, const void *b)
{
	const struct shard_dom *x = a, *y = b;

	return strcmp(x->domain, y->domain);
}

/* Rebuilds the domain index of map. */
static void
shard_index_domains(struct shard_map *map)
{
	size_t i;

	free(map->bydomain);
	map->bydomain = xcalloc(map->nteams + 1, sizeof(*map->bydomain));
	for (i = 0; i < map->nteams; i++) {
		map->bydomain[i].domain = map->teams[i].domain;
		map->bydomain[i].t = i;
	}
	if (map->nteams > 1)
		qsort(map->bydomain, map->nteams, sizeof(*map->bydomain),
		    shard_domain_cmp);
}

const struct shard *
shard_map_byname(const struct shard_map *map, const char *shard_name)
{
	size_t i;

	if (map == NULL || shard_name == NULL)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->shards[i].name, shard_name) == 0)
			return &map->shards[i];
	return NULL;
}

static ssize_t
shard_index(const struct shard_map *map, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < map->n; i++)
		if (strlen(map->shards[i].name) == len &&
		    memcmp(map->shards[i].name, name, len) == 0)
			return (ssize_t)i;
	return -1;
}

/*
 * Splits line (len bytes) into at most nf blank-separated fields; returns
 * the number found, or nf + 1 if there are more.
 */
static size_t
shard_fields(const char *line, size_t len, const char **f, size_t *fl,
    size_t nf)
{
	size_t i = 0, n = 0;

	for (;;) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			return n;
		if (n == nf)
			return nf + 1;
		f[n] = line + i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		fl[n] = (size_t)(line + i - f[n]);
		n++;
	}
}

static void
shard_free_teams(struct shard_team *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].team);
		free(t[i].domain);
	}
	free(t);
}

/*
 * Parses the map file's text into map->teams, sorted, with the domain
 * index.  name is the file's name in messages.  0, or -1 with
 * "name:line: reason" in err.
 */
static int
shard_parse_map(struct shard_map *map, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
	struct shard_team *t = NULL;
	size_t n = 0, cap = 0, i = 0, k;
	int line = 0;

	if (len > SHARD_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		    SHARD_FILE_MAX);
		return -1;
	}
	while (i < len) {
		size_t start = i, end, nf, fl[3];
		const char *f[3];
		ssize_t si;

		line++;
		while (i < len && text[i] != '\n')
			i++;
		end = i;
		if (i < len)
			i++;
		if (end > start && text[end - 1] == '\r')
			end--;
		if (end - start > SHARD_LINE_MAX) {
			snprintf(err, errlen, "%s:%d: line longer than %d "
			    "characters", name, line, SHARD_LINE_MAX);
			goto fail;
		}
		if (memchr(text + start, '\0', end - start) != NULL) {
			snprintf(err, errlen, "%s:%d: NUL byte in line", name,
			    line);
			goto fail;
		}
		nf = shard_fields(text + start, end - start, f, fl, 3);
		if (nf == 0 || f[0][0] == '#')
			continue;
		if (nf != 3) {
			snprintf(err, errlen, "%s:%d: expected 'TEAM_ID SHARD "
			    "DOMAIN'", name, line);
			goto fail;
		}
		if (!shard_valid_team(f[0], fl[0])) {
			snprintf(err, errlen, "%s:%d: '%.*s' is not a team id "
			    "(T then 1-20 of A-Z 0-9)", name, line,
			    (int)fl[0], f[0]);
			goto fail;
		}
		if ((si = shard_index(map, f[1], fl[1])) == -1) {
			snprintf(err, errlen, "%s:%d: unknown shard '%.*s' "
			    "(no [shard %.*s] section)", name, line,
			    (int)fl[1], f[1], (int)fl[1], f[1]);
			goto fail;
		}
		if (!shard_valid_domain(f[2], fl[2])) {
			snprintf(err, errlen, "%s:%d: '%.*s' is not a domain "
			    "(1-%d of A-Z a-z 0-9 . _ -)", name, line,
			    (int)(fl[2] > 80 ? 80 : fl[2]), f[2],
			    SHARD_DOMAIN_MAX);
			goto fail;
		}
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			t = xreallocarray(t, cap, sizeof(*t));
		}
		t[n].team = xstrndup(f[0], fl[0]);
		t[n].domain = xstrndup(f[2], fl[2]);
		t[n].shard = (size_t)si;
		t[n].line = line;
		n++;
	}

	if (n > 1)
		qsort(t, n, sizeof(*t), shard_team_cmp);
	for (k = 1; k < n; k++) {
		if (strcmp(t[k - 1].team, t[k].team) == 0) {
			const struct shard_team *a = &t[k - 1], *b = &t[k];

			if (a->line > b->line) {
				a = &t[k];
				b = &t[k - 1];
			}
			snprintf(err, errlen, "%s:%d: team %s listed twice, "
			    "first at line %d", name, b->line, b->team,
			    a->line);
			goto fail;
		}
	}
	map->teams = t;
	map->nteams = n;
	shard_index_domains(map);
	for (k = 1; k < n; k++) {
		const struct shard_team *a = &t[map->bydomain[k - 1].t];
		const struct shard_team *b = &t[map->bydomain[k].t];

		if (strcmp(a->domain, b->domain) == 0) {
			if (a->line > b->line) {
				const struct shard_team *x = a;

				a = b;
				b = x;
			}
			snprintf(err, errlen, "%s:%d: domain %s listed twice, "
			    "first at line %d", name, b->line, b->domain,
			    a->line);
			map->teams = NULL;
			map->nteams = 0;
			goto fail;
		}
	}
	return 0;

fail:
	shard_free_teams(t, n);
	return -1;
}

/*
 * Reads the map file at path into a malloc'd buffer.  Returns 0, 1 when
 * the file does not exist, or -1 with a reason in err.
 */
static int
shard_read_file(const char *path, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	struct stat sb;
	size_t have = 0;
	ssize_t r;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (sb.st_size > SHARD_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    SHARD_FILE_MAX);
		close(fd);
		return -1;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (have < (size_t)sb.st_size) {
		r = read(fd, buf + have, (size_t)sb.st_size - have);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "%s: %s", path,
			    strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (r == 0)
			break; /* shrank meanwhile: take what is there */
		have += (size_t)r;
	}
	close(fd);
	*out = buf;
	*outlen = have;
	return 0;
}

/* Builds the map's shards from what conf loaded (moving the names). */
static struct shard_map *
shard_map_from_conf(struct shard_conf *c)
{
	struct shard_map *map = xcalloc(1, sizeof(*map));
	char buf[300];
	size_t i;

	map->n = c->shards.n;
	map->shards = xcalloc(map->n + 1, sizeof(*map->shards));
	for (i = 0; i < map->n; i++) {
		struct shard_conf_elem *e = CONF_ARRAY_AT(&c->shards,
		    struct shard_conf_elem, i);
		struct shard *s = &map->shards[i];

		s->name = xstrdup(e->name);
		s->http_addr = e->http;
		s->http = xstrdup(conf_addr_str(&e->http, buf, sizeof(buf)));
		s->stream_addr = e->stream;
		if (e->stream.port != 0)
			s->stream = xstrdup(conf_addr_str(&e->stream, buf,
			    sizeof(buf)));
		if (e->admin != NULL)
			s->admin = xstrdup(e->admin);
	}
	if (c->map != NULL)
		map->path = xstrdup(c->map);
	if (c->haproxy_map != NULL)
		map->haproxy_path = xstrdup(c->haproxy_map);
	map->bydomain = xcalloc(1, sizeof(*map->bydomain));
	return map;
}

/* Adds the map file (text, or the file at map->path) to map. */
static int
shard_map_add_file(struct shard_map *map, const char *map_text,
    size_t map_len, int flags, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (map_text != NULL)
		return shard_parse_map(map, map->path != NULL ? map->path :
		    "map", map_text, map_len, err, errlen);
	if (map->path == NULL)
		return 0;
	rc = shard_read_file(map->path, &text, &len, err, errlen);
	if (rc == 1) {
		if (flags & SHARD_MAP_MISSING_OK)
			return 0;
		snprintf(err, errlen, "%s: no such file ([shards] map)",
		    map->path);
		return -1;
	}
	if (rc == -1)
		return -1;
	rc = shard_parse_map(map, map->path, text, len, err, errlen);
	free(text);
	return rc;
}

static struct shard_map *
shard_map_finish(struct shard_conf *c, const char *map_text, size_t map_len,
    int flags, char *err, size_t errlen)
{
	struct shard_map *map = shard_map_from_conf(c);

	conf_free(&shard_conf_schema, c);
	if (shard_map_add_file(map, map_text, map_len, flags, err,
	    errlen) == -1) {
		shard_map_free(map);
		return NULL;
	}
	return map;
}

struct shard_map *
shard_map_load(const char *conf_path, int flags, char *err, size_t errlen)
{
	struct shard_conf c;

	if (conf_load(&shard_conf_schema, conf_path, &c, err, errlen) == -1)
		return NULL;
	return shard_map_finish(&c, NULL, 0, flags, err, errlen);
}

struct shard_map *
shard_map_load_buffer(const char *conf_name, const char *conf_text,
    size_t conf_len, const char *map_text, size_t map_len, int flags,
    char *err, size_t errlen)
{
	struct shard_conf c;

	if (conf_load_buffer(&shard_conf_schema, conf_name, conf_text,
	    conf_len, &c, err, errlen) == -1)
		return NULL;
	return shard_map_finish(&c, map_text, map_len, flags, err, errlen);
}

void
shard_map_free(struct shard_map *map)
{
	size_t i;

	if (map == NULL)
		return;
	for (i = 0; i < map->n; i++) {
		free(map->shards[i].name);
		free(map->shards[i].http);
		free(map->shards[i].stream);
		free(map->shards[i].admin);
	}
	free(map->shards);
	shard_free_teams(map->teams, map->nteams);
	free(map->bydomain);
	free(map->path);
	free(map->haproxy_path);
	free(map);
}

size_t
shard_map_count(const struct shard_map *map)
{
	return map != NULL ? map->n : 0;
}

const struct shard *
shard_map_get(const struct shard_map *map, size_t i)
{
	if (map == NULL || i >= map->n)
		return NULL;
	return &map->shards[i];
}

const struct shard *
shard_for_team(const struct shard_map *map, const char *team_id)
{
	ssize_t t;

	if (map == NULL || team_id == NULL || map->n == 0)
		return NULL;
	if ((t = shard_team_find(map, team_id)) != -1)
		return &map->shards[map->teams[t].shard];
	return shard_hash_team(map, team_id);
}

const char *
shard_team_by_domain(const struct shard_map *map, const char *domain)
{
	ssize_t t;

	if (map == NULL || domain == NULL)
		return NULL;
	if ((t = shard_domain_find(map, domain)) == -1)
		return NULL;
	return map->teams[t].team;
}

const char *
shard_team_domain(const struct shard_map *map, const char *team_id)
{
	ssize_t t;

	if (map == NULL || team_id == NULL)
		return NULL;
	if ((t = shard_team_find(map, team_id)) == -1)
		return NULL;
	return map->teams[t].domain;
}

const char *
shard_map_path(const struct shard_map *map)
{
	return map != NULL ? map->path : NULL;
}

const char *
shard_map_haproxy_path(const struct shard_map *map)
{
	return map != NULL ? map->haproxy_path : NULL;
}

size_t
shard_map_team_count(const struct shard_map *map)
{
	return map != NULL ? map->nteams : 0;
}

int
shard_map_team_at(const struct shard_map *map, size_t i,
    const char **team_id, const struct shard **shard, const char **domain)
{
	if (map == NULL || i >= map->nteams)
		return -1;
	if (team_id != NULL)
		*team_id = map->teams[i].team;
	if (shard != NULL)
		*shard = &map->shards[map->teams[i].shard];
	if (domain != NULL)
		*domain = map->teams[i].domain;
	return 0;
}

int
shard_map_put(struct shard_map *map, const char *team_id,
    const char *shard_name, const char *domain, char *err, size_t errlen)
{
	ssize_t si, t, d;
	size_t lo = 0, hi;

	if (!shard_valid_team(team_id, strlen(team_id))) {
		snprintf(err, errlen, "'%s' is not a team id", team_id);
		return -1;
	}
	if (!shard_valid_domain(domain, strlen(domain))) {
		snprintf(err, errlen, "'%s' is not a domain the map accepts "
		    "(1-%d of A-Z a-z 0-9 . _ -)", domain, SHARD_DOMAIN_MAX);
		return -1;
	}
	if ((si = shard_index(map, shard_name, strlen(shard_name))) == -1) {
		snprintf(err, errlen, "unknown shard '%s'", shard_name);
		return -1;
	}
	t = shard_team_find(map, team_id);
	d = shard_domain_find(map, domain);
	if (d != -1 && d != t) {
		snprintf(err, errlen, "domain %s is already team %s's",
		    domain, map->teams[d].team);
		return -1;
	}

	if (t != -1) {
		free(map->teams[t].domain);
		map->teams[t].domain = xstrdup(domain);
		map->teams[t].shard = (size_t)si;
	} else {
		hi = map->nteams;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (strcmp(team_id, map->teams[mid].team) < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		map->teams = xreallocarray(map->teams, map->nteams + 1,
		    sizeof(*map->teams));
		memmove(&map->teams[lo + 1], &map->teams[lo],
		    (map->nteams - lo) * sizeof(*map->teams));
		map->teams[lo].team = xstrdup(team_id);
		map->teams[lo].domain = xstrdup(domain);
		map->teams[lo].shard = (size_t)si;
		map->teams[lo].line = 0;
		map->nteams++;
	}
	shard_index_domains(map);
	return 0;
}

/* The teams to f, as the map file or as HAProxy's map. */
static void
shard_print(const struct shard_map *map, FILE *f, int haproxy)
{
	size_t i;

	if (haproxy)
		fprintf(f, "# Parley teams for HAProxy's map_str: TEAM_ID "
		    "SHARD.\n# Written by parleyctl from the team map.\n");
	else
		fprintf(f, "# Parley team map: TEAM_ID SHARD DOMAIN, one team "
		    "a line.\n# Written by parleyctl; see "
		    "docs/operations.md.\n");
	for (i = 0; i < map->nteams; i++) {
		if (haproxy)
			fprintf(f, "%s %s\n", map->teams[i].team,
			    map->shards[map->teams[i].shard].name);
		else
			fprintf(f, "%s %s %s\n", map->teams[i].team,
			    map->shards[map->teams[i].shard].name,
			    map->teams[i].domain);
	}
}

/*
 * Writes the teams to path as a new file renamed over the old one:
 * "TEAM SHARD DOMAIN" lines, or "TEAM SHARD" for HAProxy.  0 or -1 with
 * a reason in err.
 */
static int
shard_write(const struct shard_map *map, const char *path, int haproxy,
    char *err, size_t errlen)
{
	char *tmp, *dir, *slash;
	FILE *f;
	int fd, dfd;

	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		free(tmp);
		return -1;
	}
	shard_print(map, f, haproxy);
	if (fflush(f) == EOF || ferror(f) || fsync(fileno(f)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (fclose(f) == EOF || rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);

	/* Make the rename itself durable. */
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*(slash == dir ? slash + 1 : slash) = '\0';
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
		    -1) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	free(dir);
	return 0;
}

int
shard_map_save(const struct shard_map *map, char *err, size_t errlen)
{
	if (map->path == NULL) {
		snprintf(err, errlen, "no map file: set [shards] map");
		return -1;
	}
	return shard_write(map, map->path, 0, err, errlen);
}

int
shard_map_save_haproxy(const struct shard_map *map, const char *path,
    char *err, size_t errlen)
{
	if (path == NULL) {
		shard_print(map, stdout, 1);
		if (fflush(stdout) == EOF) {
			snprintf(err, errlen, "stdout: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	return shard_write(map, path, 1, err, errlen);
}
