/*
 * api_rate: token buckets keyed by strings, for the Web API's rate limits
 * (per token and tier) and the sign-in throttles (per user and source).
 *
 * A bucket holds per_min tokens and refills at per_min a minute.  Buckets
 * that are full again hold nothing worth keeping and are dropped by the
 * periodic sweep, so the table holds only the keys active in the last
 * minute.  Loop thread only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#include "backend/backend.h"

struct api_bucket {
	struct api_bucket *next;
	double tokens;
	double last; /* when tokens was computed, seconds */
	int per_min;
	char key[];
};

struct api_rate {
	struct api_bucket **tab;
	size_t size; /* a power of two */
	size_t n;
};

struct api_rate *
api_rate_new(void)
{
	struct api_rate *r = xcalloc(1, sizeof(*r));

	r->size = 256;
	r->tab = xcalloc(r->size, sizeof(*r->tab));
	return r;
}

void
api_rate_free(struct api_rate *r)
{
	size_t i;
	struct api_bucket *b, *nb;

	if (r == NULL)
		return;
	for (i = 0; i < r->size; i++)
		for (b = r->tab[i]; b != NULL; b = nb) {
			nb = b->next;
			free(b);
		}
	free(r->tab);
	free(r);
}

/* FNV-1a. */
static size_t
api_rate_hash(const char *key)
{
	uint64_t h = 1469598103934665603ull;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static void
api_rate_grow(struct api_rate *r)
{
	struct api_bucket **tab, *b, *nb;
	size_t i, size = r->size * 2;

	tab = xcalloc(size, sizeof(*tab));
	for (i = 0; i < r->size; i++)
		for (b = r->tab[i]; b != NULL; b = nb) {
			size_t h = api_rate_hash(b->key) & (size - 1);

			nb = b->next;
			b->next = tab[h];
			tab[h] = b;
		}
	free(r->tab);
	r->tab = tab;
	r->size = size;
}

/* The bucket of key, refilled up to now; made full when absent. */
static struct api_bucket *
api_rate_get(struct api_rate *r, const char *key, int per_min, double now)
{
	size_t h = api_rate_hash(key) & (r->size - 1), klen;
	struct api_bucket *b;

	for (b = r->tab[h]; b != NULL; b = b->next)
		if (strcmp(b->key, key) == 0)
			break;
	if (b == NULL) {
		if (r->n >= r->size) {
			api_rate_grow(r);
			h = api_rate_hash(key) & (r->size - 1);
		}
		klen = strlen(key);
		b = xmalloc(sizeof(*b) + klen + 1);
		memcpy(b->key, key, klen + 1);
		b->tokens = per_min;
		b->last = now;
		b->next = r->tab[h];
		r->tab[h] = b;
		r->n++;
	}
	b->per_min = per_min;
	if (now > b->last) {
		b->tokens += (now - b->last) * per_min / 60.0;
		if (b->tokens > per_min)
			b->tokens = per_min;
		b->last = now;
	}
	return b;
}

/* Seconds until the bucket holds one token again (at least 1). */
static int
api_rate_wait(const struct api_bucket *b)
{
	double need = 1.0 - b->tokens;
	int s = (int)ceil(need * 60.0 / b->per_min);

	return s < 1 ? 1 : s;
}

int
api_rate_take(struct api_rate *r, const char *key, int per_min, double now)
{
	struct api_bucket *b;

	if (per_min <= 0)
		return 0;
	b = api_rate_get(r, key, per_min, now);
	if (b->tokens < 1.0)
		return api_rate_wait(b);
	b->tokens -= 1.0;
	return 0;
}

int
api_rate_peek(struct api_rate *r, const char *key, int per_min, double now)
{
	struct api_bucket *b;

	if (per_min <= 0)
		return 0;
	b = api_rate_get(r, key, per_min, now);
	return b->tokens < 1.0 ? api_rate_wait(b) : 0;
}

size_t
api_rate_sweep(struct api_rate *r, double now)
{
	size_t i;
	struct api_bucket **pp, *b;

	for (i = 0; i < r->size; i++) {
		pp = &r->tab[i];
		while ((b = *pp) != NULL) {
			double t = b->tokens +
			    (now - b->last) * b->per_min / 60.0;

			if (t >= b->per_min) {
				*pp = b->next;
				free(b);
				r->n--;
			} else {
				pp = &b->next;
			}
		}
	}
	return r->n;
}
