/*
 * Fuzzes the team map file parser: the input is the map file's text,
 * over a fixed parley.conf of three shards; every lookup is then made on
 * what loaded, and a map that loaded must answer for each of its teams.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shard.h"

static const char fz_conf[] =
    "[shard s1]\nhttp = 127.0.0.1:8101\nstream = 127.0.0.1:8102\n"
    "[shard s2]\nhttp = 127.0.0.1:8111\n"
    "[shard s3]\nhttp = 127.0.0.1:8121\n"
    "[shards]\nmap = teams.map\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shard_map *m;
	char err[CONF_ERRLEN];
	const char *team, *domain;
	const struct shard *s;
	size_t i;

	m = shard_map_load_buffer("/etc/parley/parley.conf", fz_conf,
	    sizeof(fz_conf) - 1, (const char *)data, size, 0, err,
	    sizeof(err));
	if (m == NULL)
		return 0;
	for (i = 0; i < shard_map_team_count(m); i++) {
		if (shard_map_team_at(m, i, &team, &s, &domain) != 0)
			__builtin_trap();
		if (shard_for_team(m, team) != s ||
		    strcmp(shard_team_by_domain(m, domain), team) != 0 ||
		    strcmp(shard_team_domain(m, team), domain) != 0)
			__builtin_trap();
	}
	(void)shard_for_team(m, "TNOTLISTED");
	shard_map_free(m);
	return 0;
}
