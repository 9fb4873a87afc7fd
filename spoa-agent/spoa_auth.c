/*
 * spoa_auth: checks tokens and tickets with common/token.c, and keeps
 * the last tokens that verified in a small per-thread cache.
 *
 * Clients repeat the same token on every request, and an HMAC costs
 * more than the rest of a decision, so a token seen recently is found
 * by hash and compared in constant time with the stored copy; its
 * expiry is checked again on every hit.  Only tokens that verified are
 * kept, so forged ones cannot push good ones out faster than they
 * arrive, and a new key set retires every entry.
 *
 * The key set in use is one atomic pointer that workers read per check.
 * A reload swaps in a new set and retires the old one.  A check counts
 * itself in spoa_auth_readers before it reads the pointer and uncounts
 * itself when done, so once the count is seen at zero after a swap no
 * check can still hold a retired set: retired sets are freed at the
 * first reload (or exit) that sees it at zero.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoa.h"

#define SPOA_AUTH_CACHE 256

struct spoa_auth_entry {
	unsigned int gen;
	size_t len;
	char tok[TOKEN_MAX_LEN];
	struct token_info info;
};

static _Thread_local struct spoa_auth_entry *spoa_auth_cache;
/* Entries of an older generation are stale; 0 marks an empty entry. */
static _Atomic unsigned int spoa_auth_gen = 1;

struct spoa_auth_old {
	struct token_keys *keys;
	struct spoa_auth_old *next;
};

static _Atomic(struct token_keys *) spoa_auth_keys;
static _Atomic unsigned long spoa_auth_readers;
static struct spoa_auth_old *spoa_auth_retired;
static pthread_mutex_t spoa_auth_lock = PTHREAD_MUTEX_INITIALIZER;

/* Frees the retired sets; spoa_auth_lock held, no check in flight. */
static void
spoa_auth_reclaim(void)
{
	struct spoa_auth_old *o;

	while ((o = spoa_auth_retired) != NULL) {
		spoa_auth_retired = o->next;
		token_keys_free(o->keys);
		free(o);
	}
}

void
spoa_auth_set_keys(struct token_keys *keys)
{
	struct spoa_auth_old *o;
	int i;

	pthread_mutex_lock(&spoa_auth_lock);
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		abort();
	o->keys = atomic_exchange(&spoa_auth_keys, keys);
	atomic_fetch_add(&spoa_auth_gen, 1);
	if (o->keys != NULL) {
		o->next = spoa_auth_retired;
		spoa_auth_retired = o;
	} else {
		free(o);
	}

	/* A check takes microseconds: wait briefly for a quiet moment. */
	for (i = 0; i < 1000; i++) {
		if (atomic_load(&spoa_auth_readers) == 0) {
			spoa_auth_reclaim();
			break;
		}
		sched_yield();
	}
	pthread_mutex_unlock(&spoa_auth_lock);
}

void
spoa_auth_cleanup(void)
{
	pthread_mutex_lock(&spoa_auth_lock);
	token_keys_free(atomic_exchange(&spoa_auth_keys, NULL));
	spoa_auth_reclaim();
	pthread_mutex_unlock(&spoa_auth_lock);
}

/* FNV-1a of the token bytes, to pick a cache slot. */
static size_t
spoa_auth_slot(const char *tok, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)tok[i]) * 0x100000001b3ULL;
	return h % SPOA_AUTH_CACHE;
}

/* Copies a verified token's team and user out, checking its kind. */
static enum spoa_auth
spoa_auth_result(const struct token_info *info, int ticket, time_t now,
    char *team, char *user)
{
	if ((info->kind == TOKEN_TICKET) != (ticket != 0))
		return SPOA_AUTH_INVALID;
	if (info->exp != 0 && info->exp <= (uint64_t)now)
		return SPOA_AUTH_EXPIRED;
	snprintf(team, SPOA_ID_MAX + 1, "%s", info->team);
	snprintf(user, SPOA_ID_MAX + 1, "%s", info->user);
	return SPOA_AUTH_OK;
}

/* spoa_auth_check with keys, the set in use when the check began. */
static enum spoa_auth
spoa_auth_check_keys(const struct token_keys *keys, const char *tok,
    size_t len, int ticket, time_t now, char *team, char *user)
{
	unsigned int gen = atomic_load_explicit(&spoa_auth_gen,
	    memory_order_relaxed);
	struct spoa_auth_entry *e;
	struct token_info info;
	int r;

	if (keys == NULL || len == 0 || len >= TOKEN_MAX_LEN)
		return SPOA_AUTH_INVALID;

	if (spoa_auth_cache == NULL)
		spoa_auth_cache = calloc(SPOA_AUTH_CACHE,
		    sizeof(*spoa_auth_cache));
	e = spoa_auth_cache ? &spoa_auth_cache[spoa_auth_slot(tok, len)]
			    : NULL;
	if (e != NULL && e->gen == gen && e->len == len &&
	    token_ct_equal(e->tok, tok, len))
		return spoa_auth_result(&e->info, ticket, now, team, user);

	r = token_verify(keys, tok, len, now, &info);
	if (r == TOKEN_EXPIRED)
		return SPOA_AUTH_EXPIRED;
	if (r != TOKEN_OK)
		return SPOA_AUTH_INVALID;

	if (e != NULL) {
		e->gen = gen;
		e->len = len;
		memcpy(e->tok, tok, len);
		e->info = info;
	}
	return spoa_auth_result(&info, ticket, now, team, user);
}

enum spoa_auth
spoa_auth_check(const char *tok, size_t len, int ticket, time_t now,
    char *team, char *user)
{
	enum spoa_auth r;

	atomic_fetch_add(&spoa_auth_readers, 1);
	r = spoa_auth_check_keys(atomic_load(&spoa_auth_keys), tok, len,
	    ticket, now, team, user);
	atomic_fetch_sub(&spoa_auth_readers, 1);
	return r;
}

void
spoa_auth_thread_done(void)
{
	free(spoa_auth_cache);
	spoa_auth_cache = NULL;
}
