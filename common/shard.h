/*
 * shard: which backend process serves a team.
 *
 * parley.conf names the shards in named sections and may point at a map
 * file that places teams explicitly:
 *
 *	[shard s1]
 *	http = 127.0.0.1:8101	; Web API / RTM / healthz listener
 *	stream = 127.0.0.1:8102	; TLS stream listener for edges (optional)
 *	admin = s1/admin.sock	; its admin socket, for parleyctl (optional)
 *	[shard s2]
 *	http = 127.0.0.1:8111
 *	[shards]
 *	map = teams.map		; relative to parley.conf's directory
 *	haproxy_map = shards.map ; team -> shard for HAProxy (optional)
 *
 * The map file has one team a line, "TEAM_ID SHARD_NAME DOMAIN", fields
 * separated by blanks; '#' starts a comment line; blank lines are allowed.
 * TEAM_ID is a token team id ("T" then 1-20 of [A-Z0-9]), SHARD_NAME one
 * of the [shard] sections, DOMAIN 1-63 of [A-Za-z0-9._-].  A team or a
 * domain listed twice, an unknown shard, a bad field, a line longer than
 * SHARD_LINE_MAX or a file larger than SHARD_FILE_MAX make the load fail
 * with "file:line: reason".  parleyctl writes the file whole, as a new
 * file renamed over the old one, so a reader never sees half of it.
 *
 * Placement: a team listed in the map is on its shard; any other team is
 * placed by rendezvous (highest random weight) hashing of its id over the
 * shard names: the shard whose score(name, team) is highest, the smaller
 * name on a tie.  score is FNV-1a 64 over name, a NUL byte and the team
 * id, then the splitmix64 finalizer.  Adding a shard moves only the
 * unlisted teams whose new highest score is the new shard's, and never a
 * listed team; removing one moves only its own unlisted teams.
 *
 * With no [shard] section the map is empty (shard_map_count() is 0),
 * shard_for_team() returns NULL and every daemon behaves as a single-shard
 * install.  A [shards] section without any [shard] section is an error.
 *
 * A loaded map is read-only (but for shard_map_put) and may be shared by
 * threads.  To reload (SIGHUP), load a new one and swap the pointer.
 */
#ifndef PARLEY_SHARD_H
#define PARLEY_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define SHARD_MAX	   64	      /* [shard] sections at most */
#define SHARD_NAME_MAX	   32	      /* as a conf section label */
#define SHARD_TEAM_MAX	   21	      /* 'T' + 20, as in tokens */
#define SHARD_DOMAIN_MAX   63
#define SHARD_LINE_MAX	   200	      /* of the map file, newline excluded */
#define SHARD_FILE_MAX	   (16 << 20) /* bytes of the map file */

/* shard_map_load flags */
#define SHARD_MAP_MISSING_OK 0x1 /* a map file that does not exist is empty */

struct shard {
	char *name;
	char *http;	/* "host:port", as conf_addr_str() formats it */
	char *stream;	/* same, or NULL when the section has none */
	struct conf_addr http_addr;
	struct conf_addr stream_addr; /* port 0 when stream is NULL */
	char *admin;	/* admin socket path (parleyctl), or NULL */
};

struct shard_map;

/*
 * Loads the [shard NAME] sections and the [shards] section of the
 * configuration file at conf_path (every other section is skipped), and
 * the map file it names.  Returns a map to free with shard_map_free(), or
 * NULL with "file:line: reason" in err.  With SHARD_MAP_MISSING_OK in
 * flags, a map file that does not exist yet loads as an empty one
 * (parleyctl creating the first team); daemons pass 0.
 */
struct shard_map *shard_map_load(const char *conf_path, int flags, char *err,
    size_t errlen);

/*
 * Like shard_map_load() on configuration text in memory (conf_len bytes,
 * conf_name used in messages and to resolve the map path).  When map_text
 * is not NULL it stands for the map file's contents (map_len bytes) and no
 * file is read; else the file named in [shards] map is read, if any.
 * Used by tests and the fuzzer.
 */
struct shard_map *shard_map_load_buffer(const char *conf_name,
    const char *conf_text, size_t conf_len, const char *map_text,
    size_t map_len, int flags, char *err, size_t errlen);

void shard_map_free(struct shard_map *map);

/* Number of shards, 0 for a single-shard install; shard i, or NULL. */
size_t shard_map_count(const struct shard_map *map);
const struct shard *shard_map_get(const struct shard_map *map, size_t i);

/* The shard called shard_name, or NULL. */
const struct shard *shard_map_byname(const struct shard_map *map,
    const char *shard_name);

/*
 * The shard of a team id: the map file's, else the rendezvous hash over
 * the shards.  NULL only when the map has no shard (single-shard install)
 * or team_id is NULL.  A team id is not checked: any string hashes.
 */
const struct shard *shard_for_team(const struct shard_map *map,
    const char *team_id);

/* The rendezvous choice alone, ignoring the map file; NULL as above. */
const struct shard *shard_hash_team(const struct shard_map *map,
    const char *team_id);

/* The team id the map file gives for domain, or NULL. */
const char *shard_team_by_domain(const struct shard_map *map,
    const char *domain);

/* The domain the map file gives for team_id, or NULL if not listed. */
const char *shard_team_domain(const struct shard_map *map,
    const char *team_id);

/* Path of the map file ([shards] map), or NULL when there is none. */
const char *shard_map_path(const struct shard_map *map);

/* Path of [shards] haproxy_map, or NULL when there is none. */
const char *shard_map_haproxy_path(const struct shard_map *map);

/*
 * The teams of the map file, sorted by id: returns the number; entry i
 * (i < number) is read with shard_map_team_at(), which returns 0 or -1.
 */
size_t shard_map_team_count(const struct shard_map *map);
int shard_map_team_at(const struct shard_map *map, size_t i,
    const char **team_id, const struct shard **shard, const char **domain);

/*
 * Lists team_id on shard_name with domain in the map (replacing its line
 * if listed).  Refuses a bad team id or domain, an unknown shard and a
 * domain that another team has.  0 or -1 with a reason in err.  The file
 * is not written: see shard_map_save().
 */
int shard_map_put(struct shard_map *map, const char *team_id,
    const char *shard_name, const char *domain, char *err, size_t errlen);

/*
 * Writes the map file (shard_map_path()) whole: a new file beside it,
 * fsync'd, then renamed over the old one.  0 or -1 with a reason in err.
 */
int shard_map_save(const struct shard_map *map, char *err, size_t errlen);

/*
 * Writes HAProxy's map, "TEAM_ID SHARD_NAME" for every team of the map
 * file, to path as shard_map_save() does, or to stdout when path is NULL.
 * 0 or -1 with a reason in err.
 */
int shard_map_save_haproxy(const struct shard_map *map, const char *path,
    char *err, size_t errlen);

/* True if s (len bytes) is a team id as tokens carry it. */
bool shard_valid_team(const char *s, size_t len);

/* True if s (len bytes) is a domain the map file accepts. */
bool shard_valid_domain(const char *s, size_t len);

#endif
