/*
 * spoa_admit: token buckets that hold back reconnect storms.
 *
 * New WebSocket connections and boot calls take a token from their
 * team's bucket and from the overall one.  Past the rate, the request
 * is deferred with Retry-After = base + a random jitter, so that a
 * whole office that lost its network reconnects spread over the jitter
 * window instead of all at once, again and again.
 *
 * Team buckets live in a fixed table of team_slots entries, so memory
 * does not grow with the number of teams.  A team takes the slot its id
 * hashes to; when another team holds it, the slot is taken over only if
 * its bucket has refilled (that team has been quiet), otherwise the two
 * teams share it for now, which errs on the side of deferring.  Slots
 * are guarded by striped locks: worker threads share one table.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "spoa.h"
#include "xmalloc.h"

#define SPOA_ADMIT_STRIPES 64

struct spoa_bucket {
	double tokens;
	double last;
};

struct spoa_slot {
	char team[SPOA_ID_MAX + 1];
	struct spoa_bucket b;
};

struct spoa_admit {
	double team_rate, team_burst;
	double global_rate, global_burst;
	struct spoa_bucket global;
	pthread_mutex_t global_lock;
	struct spoa_slot *slots;
	size_t nslots;
	pthread_mutex_t locks[SPOA_ADMIT_STRIPES];
};

double
spoa_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: a fast generator for jitter, seeded from the kernel. */
uint64_t
spoa_rng_next(uint64_t *s)
{
	uint64_t x = *s;

	if (x == 0) {
		if (getrandom(&x, sizeof(x), 0) != sizeof(x) || x == 0)
			x = (uint64_t)time(NULL) | 1;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

unsigned int
spoa_admit_retry_after(const struct spoa_policy *pol, uint64_t *rng)
{
	uint64_t r = spoa_rng_next(rng);

	return pol->retry_base + (unsigned int)(r % (pol->retry_jitter + 1u));
}

struct spoa_admit *
spoa_admit_new(const struct spoa_policy *pol)
{
	struct spoa_admit *a = xcalloc(1, sizeof(*a));
	size_t i;

	a->team_rate = pol->team_rate;
	a->team_burst = pol->team_burst;
	a->global_rate = pol->global_rate;
	a->global_burst = pol->global_burst;
	a->global.tokens = pol->global_burst;
	a->global.last = spoa_now();
	pthread_mutex_init(&a->global_lock, NULL);
	for (i = 0; i < SPOA_ADMIT_STRIPES; i++)
		pthread_mutex_init(&a->locks[i], NULL);
	a->nslots = pol->team_slots ? pol->team_slots : 1;
	a->slots = xcalloc(a->nslots, sizeof(*a->slots));
	return a;
}

void
spoa_admit_free(struct spoa_admit *a)
{
	size_t i;

	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->global_lock);
	for (i = 0; i < SPOA_ADMIT_STRIPES; i++)
		pthread_mutex_destroy(&a->locks[i]);
	free(a->slots);
	free(a);
}

/* Refills b at rate up to burst as of now. */
static void
spoa_bucket_refill(struct spoa_bucket *b, double rate, double burst,
    double now)
{
	if (now > b->last) {
		b->tokens = fmin(burst, b->tokens + (now - b->last) * rate);
		b->last = now;
	}
}

/* FNV-1a over the team id. */
static uint64_t
spoa_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ULL;
	return h;
}

/*
 * Finds or takes the slot of team, its lock held on return (released by
 * the caller with the returned stripe).
 */
static struct spoa_slot *
spoa_admit_slot(struct spoa_admit *a, const char *team, double now,
    pthread_mutex_t **lock)
{
	size_t i = spoa_hash(team) % a->nslots;
	struct spoa_slot *sl = &a->slots[i];

	*lock = &a->locks[i % SPOA_ADMIT_STRIPES];
	pthread_mutex_lock(*lock);
	if (strcmp(sl->team, team) == 0)
		return sl;

	spoa_bucket_refill(&sl->b, a->team_rate, a->team_burst, now);
	if (sl->team[0] == '\0' || sl->b.tokens >= a->team_burst) {
		snprintf(sl->team, sizeof(sl->team), "%s", team);
		sl->b.tokens = a->team_burst;
		sl->b.last = now;
	}
	return sl;
}

int
spoa_admit_take(struct spoa_admit *a, const char *team, double now)
{
	struct spoa_slot *sl = NULL;
	pthread_mutex_t *lock = NULL;
	int ok = 1;

	if (team != NULL) {
		sl = spoa_admit_slot(a, team, now, &lock);
		spoa_bucket_refill(&sl->b, a->team_rate, a->team_burst, now);
		if (sl->b.tokens < 1.0)
			ok = 0;
	}

	if (ok) {
		pthread_mutex_lock(&a->global_lock);
		spoa_bucket_refill(&a->global, a->global_rate,
		    a->global_burst, now);
		if (a->global.tokens >= 1.0) {
			a->global.tokens -= 1.0;
			if (sl != NULL)
				sl->b.tokens -= 1.0;
		} else {
			ok = 0;
		}
		pthread_mutex_unlock(&a->global_lock);
	}

	if (lock != NULL)
		pthread_mutex_unlock(lock);
	return ok;
}
