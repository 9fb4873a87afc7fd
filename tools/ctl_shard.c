/*
 * ctl_shard: parleyctl's commands for an install of several shards.
 *
 * They read the [shard NAME] and [shards] sections of parley.conf
 * (common/shard.h) and reach each shard's backend through the admin
 * socket its [shard NAME] admin key names.
 *
 *   team create NAME DOMAIN [SHARD]
 *	picks an id, places it (SHARD, else rendezvous hashing), creates
 *	the team on that shard, lists it in the map file, and has every
 *	backend that answers re-read the map
 *   team place TEAM SHARD
 *	lists a team that SHARD already holds (e.g. made by seed-demo)
 *   shard-map [FILE]
 *	HAProxy's map (TEAM SHARD) to stdout or FILE
 *   move-team TEAM --to SHARD [--hup PIDFILE]...
 *	source paused -> export -> import on the target -> map switched
 *	-> target reloads -> agents and edges HUP'd -> source reloads
 *	(it then refuses the team; its data stays there, inert)
 */
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "json.h"
#include "log.h"
#include "shard.h"
#include "util.h"
#include "xmalloc.h"

#include "tools/ctl.h"

#define CTL_HUP_MAX 16

static struct shard_map *ctl_map;

/* Connects to shard s's admin socket, or ends the program. */
static void
ctl_shard_connect(const struct shard *s, struct ctl_admin *a)
{
	if (s->admin == NULL)
		fatalx("[shard %s] has no admin key: parleyctl cannot reach "
		    "its backend", s->name);
	if (ctl_admin_connect(a, s->admin) == -1)
		fatal("shard %s: admin socket %s (is its backend running?)",
		    s->name, s->admin);
}

static const struct shard *
ctl_shard_named(const char *name)
{
	const struct shard *s = shard_map_byname(ctl_map, name);

	if (s == NULL)
		fatalx("no [shard %s] in the configuration", name);
	return s;
}

/* Writes the map file and, when configured, HAProxy's map. */
static void
ctl_shard_save(void)
{
	char err[512];

	if (shard_map_save(ctl_map, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (shard_map_haproxy_path(ctl_map) != NULL &&
	    shard_map_save_haproxy(ctl_map, shard_map_haproxy_path(ctl_map),
	    err, sizeof(err)) == -1)
		fatalx("%s", err);
}

/*
 * Asks shard s's backend to re-read the map.  Returns 0, or -1 (said on
 * stderr) when it cannot be reached: it reads the map at its next start
 * or SIGHUP.
 */
static int
ctl_shard_reload(const struct shard *s)
{
	struct ctl_admin a;
	json_t *res;

	if (s->admin == NULL || ctl_admin_connect(&a, s->admin) == -1) {
		fprintf(stderr, "parleyctl: shard %s not reached; it reads "
		    "the new map at its next start or SIGHUP\n", s->name);
		return -1;
	}
	res = ctl_admin_must(&a, json_pack("{s:s}", "op", "shards.reload"),
	    "shards reload");
	json_decref(res);
	ctl_admin_close(&a);
	return 0;
}

static void
ctl_shard_reload_all(void)
{
	size_t i;

	for (i = 0; i < shard_map_count(ctl_map); i++)
		(void)ctl_shard_reload(shard_map_get(ctl_map, i));
}

/* A new team id as the store makes them: 'T' and ten of [0-9A-Z]. */
static void
ctl_new_team_id(char out[12])
{
	static const char chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	unsigned char r[10];
	int i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		fatalx("no random bytes");
	out[0] = 'T';
	for (i = 0; i < 10; i++)
		out[i + 1] = chars[r[i] % 36];
	out[11] = '\0';
}

static int
ctl_team_create(const char *name, const char *domain, const char *shard)
{
	const struct shard *s;
	struct ctl_admin a;
	json_t *res;
	char id[12], err[512];

	if (shard_team_by_domain(ctl_map, domain) != NULL)
		fatalx("team create: domain %s is already team %s's", domain,
		    shard_team_by_domain(ctl_map, domain));
	if (!shard_valid_domain(domain, strlen(domain)))
		fatalx("team create: '%s' is not a domain the map accepts",
		    domain);
	ctl_new_team_id(id);
	s = shard != NULL ? ctl_shard_named(shard) :
	    shard_hash_team(ctl_map, id);
	ctl_shard_connect(s, &a);
	res = ctl_admin_must(&a, json_pack("{s:s,s:s,s:s,s:s}", "op",
	    "team.create", "name", name, "domain", domain, "id", id),
	    "team create");
	json_decref(res);
	ctl_admin_close(&a);

	if (shard_map_put(ctl_map, id, s->name, domain, err,
	    sizeof(err)) == -1)
		fatalx("team create: %s", err);
	ctl_shard_save();
	ctl_shard_reload_all();
	fprintf(stderr, "parleyctl: team %s on shard %s; %s\n", id, s->name,
	    shard != NULL ? "SIGHUP parley-spoa and the edges so that they "
	    "route it there" : "placed by its id, as every daemon computes");
	printf("%s\n", id);
	return 0;
}

static int
ctl_team_place(const char *team, const char *shard)
{
	const struct shard *s = ctl_shard_named(shard);
	struct ctl_admin a;
	json_t *res;
	char err[512];

	ctl_shard_connect(s, &a);
	res = ctl_admin_must(&a, json_pack("{s:s,s:s}", "op", "lookup",
	    "team", team), "lookup");
	if (json_get_str(res, "team_id") == NULL ||
	    json_get_str(res, "domain") == NULL)
		fatalx("lookup: answer without the team's id or domain");
	if (shard_map_put(ctl_map, json_get_str(res, "team_id"), s->name,
	    json_get_str(res, "domain"), err, sizeof(err)) == -1)
		fatalx("team place: %s", err);
	ctl_admin_close(&a);
	ctl_shard_save();
	ctl_shard_reload_all();
	printf("%s %s %s\n", json_get_str(res, "team_id"), s->name,
	    json_get_str(res, "domain"));
	json_decref(res);
	return 0;
}

/* Sends SIGHUP to the process whose id pidfile holds. */
static void
ctl_hup(const char *pidfile)
{
	char buf[32];
	FILE *f = fopen(pidfile, "re");
	long pid;

	if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
		fprintf(stderr, "parleyctl: %s: cannot read a pid; SIGHUP "
		    "that daemon yourself\n", pidfile);
		if (f != NULL)
			fclose(f);
		return;
	}
	fclose(f);
	pid = strtol(buf, NULL, 10);
	if (pid <= 1 || kill((pid_t)pid, SIGHUP) == -1)
		fprintf(stderr, "parleyctl: SIGHUP to pid %ld (%s): %s\n", pid,
		    pidfile, strerror(errno));
}

/* Source unpaused after a failure, then the program ends. */
static _Noreturn void
ctl_move_abort(struct ctl_admin *src, const char *team, const char *why)
{
	json_t *res = ctl_admin_call(src, json_pack("{s:s,s:s,s:b}", "op",
	    "team.pause", "team", team, "paused", 0));

	json_decref(res);
	fatalx("move-team: %s; team %s is served by its source again", why,
	    team);
}

static int
ctl_move_team(const char *team_arg, const char *to, char **hups,
    size_t nhups)
{
	const struct shard *src, *dst = ctl_shard_named(to);
	struct ctl_admin sa, da;
	json_t *res, *look;
	char team[SHARD_TEAM_MAX + 1], domain[SHARD_DOMAIN_MAX + 1];
	char *file, *dir, err[512];
	const char *slash, *detail;
	size_t i;

	if (shard_map_path(ctl_map) == NULL)
		fatalx("move-team: set [shards] map: the move is recorded "
		    "there");
	if (shard_valid_team(team_arg, strlen(team_arg)))
		util_strlcpy(team, team_arg, sizeof(team));
	else if (shard_team_by_domain(ctl_map, team_arg) != NULL)
		util_strlcpy(team, shard_team_by_domain(ctl_map, team_arg),
		    sizeof(team));
	else
		fatalx("move-team: %s is neither a team id nor a domain of "
		    "the map", team_arg);
	src = shard_for_team(ctl_map, team);
	if (src == dst)
		fatalx("move-team: %s is already on shard %s", team, to);

	ctl_shard_connect(src, &sa);
	ctl_shard_connect(dst, &da);
	look = ctl_admin_must(&sa, json_pack("{s:s,s:s}", "op", "lookup",
	    "team", team), "lookup on the source");
	util_strlcpy(domain, json_get_str(look, "domain") ?
	    json_get_str(look, "domain") : "", sizeof(domain));
	json_decref(look);
	res = ctl_admin_call(&da, json_pack("{s:s,s:s}", "op", "lookup",
	    "team", team));
	if (json_get_bool(res, "ok", 0))
		fatalx("move-team: shard %s already holds %s (an earlier "
		    "move?); it cannot take the team again", to, team);
	json_decref(res);

	/* The export goes beside the map file, which both shards can read. */
	slash = strrchr(shard_map_path(ctl_map), '/');
	dir = slash != NULL ? xstrndup(shard_map_path(ctl_map),
	    (size_t)(slash - shard_map_path(ctl_map))) : xstrdup(".");
	if (dir[0] != '/') {
		char cwd[4096];

		if (getcwd(cwd, sizeof(cwd)) == NULL)
			fatal("getcwd");
		file = xasprintf("%s/%s/move-%s-%ld.jsonl", cwd, dir, team,
		    (long)getpid());
	} else {
		file = xasprintf("%s/move-%s-%ld.jsonl", dir, team,
		    (long)getpid());
	}
	free(dir);

	fprintf(stderr, "parleyctl: pausing %s's writes on %s\n", team,
	    src->name);
	res = ctl_admin_must(&sa, json_pack("{s:s,s:s,s:b}", "op",
	    "team.pause", "team", team, "paused", 1), "pause");
	json_decref(res);

	res = ctl_admin_call(&sa, json_pack("{s:s,s:s,s:s}", "op",
	    "team.export", "team", team, "file", file));
	if (!json_get_bool(res, "ok", 0)) {
		detail = json_get_str(res, "detail");
		unlink(file);
		ctl_move_abort(&sa, team, detail != NULL ? detail :
		    "the export failed");
	}
	json_decref(res);
	res = ctl_admin_call(&da, json_pack("{s:s,s:s}", "op", "team.import",
	    "file", file));
	if (!json_get_bool(res, "ok", 0)) {
		detail = json_get_str(res, "detail");
		unlink(file);
		ctl_move_abort(&sa, team, detail != NULL ? detail :
		    "the import failed");
	}
	json_decref(res);
	unlink(file);
	free(file);

	if (shard_map_put(ctl_map, team, dst->name, domain, err,
	    sizeof(err)) == -1)
		ctl_move_abort(&sa, team, err);
	ctl_shard_save();
	res = ctl_admin_must(&da, json_pack("{s:s}", "op", "shards.reload"),
	    "target reload");
	json_decref(res);
	for (i = 0; i < nhups; i++)
		ctl_hup(hups[i]);
	/* The source now refuses the team and closes its connections. */
	res = ctl_admin_must(&sa, json_pack("{s:s}", "op", "shards.reload"),
	    "source reload");
	json_decref(res);
	for (i = 0; i < shard_map_count(ctl_map); i++)
		if (shard_map_get(ctl_map, i) != src &&
		    shard_map_get(ctl_map, i) != dst)
			(void)ctl_shard_reload(shard_map_get(ctl_map, i));
	ctl_admin_close(&sa);
	ctl_admin_close(&da);

	printf("team %s (%s) moved from %s to %s\n", team, domain, src->name,
	    dst->name);
	if (nhups == 0)
		printf("now send SIGHUP to every parley-spoa and parley-edge "
		    "so that they route %s to %s\n", team, dst->name);
	if (shard_map_haproxy_path(ctl_map) != NULL)
		printf("HAProxy's map %s is rewritten: reload HAProxy (or "
		    "'set map %s %s %s' on its admin socket) for the route "
		    "it takes without the agent\n",
		    shard_map_haproxy_path(ctl_map),
		    shard_map_haproxy_path(ctl_map), team, dst->name);
	printf("%s's data stays on %s, which no longer serves it\n", team,
	    src->name);
	return 0;
}

int
ctl_shard_run(const char *conf_path, const char *cmd, int argc, char **argv)
{
	char err[512], *hups[CTL_HUP_MAX];
	const char *to = NULL;
	size_t nhups = 0;
	int i, rc = -1;

	if (strcmp(cmd, "shard-map") != 0 && strcmp(cmd, "move-team") != 0 &&
	    !(strcmp(cmd, "team") == 0 && argc >= 1 &&
	    (strcmp(argv[0], "create") == 0 || strcmp(argv[0], "place") == 0)))
		return -1;
	if (conf_path == NULL) {
		if (strcmp(cmd, "team") == 0)
			return -1;
		fatalx("%s needs -c parley.conf naming the shards", cmd);
	}
	ctl_map = shard_map_load(conf_path, SHARD_MAP_MISSING_OK, err,
	    sizeof(err));
	if (ctl_map == NULL)
		fatalx("%s", err);
	if (shard_map_count(ctl_map) == 0) {
		shard_map_free(ctl_map);
		ctl_map = NULL;
		if (strcmp(cmd, "team") == 0 && strcmp(argv[0], "create") == 0)
			return -1;
		fatalx("%s: %s names no [shard] section", cmd, conf_path);
	}

	if (strcmp(cmd, "team") == 0 && strcmp(argv[0], "create") == 0 &&
	    (argc == 3 || argc == 4))
		rc = ctl_team_create(argv[1], argv[2], argc == 4 ? argv[3] :
		    NULL);
	else if (strcmp(cmd, "team") == 0 && strcmp(argv[0], "place") == 0 &&
	    argc == 3)
		rc = ctl_team_place(argv[1], argv[2]);
	else if (strcmp(cmd, "shard-map") == 0 && argc <= 1) {
		if (shard_map_save_haproxy(ctl_map, argc == 1 ? argv[0] : NULL,
		    err, sizeof(err)) == -1)
			fatalx("%s", err);
		rc = 0;
	} else if (strcmp(cmd, "move-team") == 0 && argc >= 3) {
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
				to = argv[++i];
			else if (strcmp(argv[i], "--hup") == 0 &&
			    i + 1 < argc && nhups < CTL_HUP_MAX)
				hups[nhups++] = argv[++i];
			else
				fatalx("move-team TEAM --to SHARD [--hup "
				    "PIDFILE]...");
		}
		if (to == NULL)
			fatalx("move-team TEAM --to SHARD [--hup PIDFILE]...");
		rc = ctl_move_team(argv[0], to, hups, nhups);
	} else {
		fatalx("usage: team create NAME DOMAIN [SHARD] | team place "
		    "TEAM SHARD | shard-map [FILE] | move-team TEAM --to SHARD "
		    "[--hup PIDFILE]...");
	}
	shard_map_free(ctl_map);
	ctl_map = NULL;
	return rc;
}
