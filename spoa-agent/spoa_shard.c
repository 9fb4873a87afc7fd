/*
 * spoa_shard: the shard map in use, for the "shard" variable.
 *
 * Workers look a team up on every full-client request with a verified
 * token; SIGHUP swaps in a new map.  A read-write lock guards the
 * pointer: lookups take it shared for the few hundred nanoseconds of a
 * binary search, a swap takes it exclusively and frees the old map.
 */
#include <pthread.h>
#include <string.h>

#include "shard.h"
#include "spoa.h"
#include "util.h"

static pthread_rwlock_t spoa_shard_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct shard_map *spoa_shard_map;

void
spoa_shard_set(struct shard_map *map)
{
	struct shard_map *old;

	pthread_rwlock_wrlock(&spoa_shard_lock);
	old = spoa_shard_map;
	spoa_shard_map = map;
	pthread_rwlock_unlock(&spoa_shard_lock);
	shard_map_free(old);
}

int
spoa_shard_of(const char *team, char *out, size_t outlen)
{
	const struct shard *s;
	int found = 0;

	out[0] = '\0';
	pthread_rwlock_rdlock(&spoa_shard_lock);
	s = shard_for_team(spoa_shard_map, team);
	if (s != NULL && util_strlcpy(out, s->name, outlen) < outlen)
		found = 1;
	pthread_rwlock_unlock(&spoa_shard_lock);
	if (!found)
		out[0] = '\0';
	return found;
}

void
spoa_shard_cleanup(void)
{
	spoa_shard_set(NULL);
}
