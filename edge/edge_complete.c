/*
 * edge_complete: the autocomplete index of a team (see edge.h).
 *
 * Each entry (a user or a channel) owns a blob "sortkey\0word\0word\0..."
 * of its folded labels.  Every word is a key: a pointer into that blob
 * with the entry number and the entry's generation when the key was
 * made.  Keys live in two arrays sorted bytewise:
 *
 *   main   everything as of the last merge
 *   side   keys added since (new entries, renames), kept small
 *
 * A rename bumps the entry's generation, so its old keys are skipped
 * until the next merge drops them; their blobs wait in a garbage list
 * until then.  The merge is a linear merge of the two arrays, followed
 * by a sort of the entries that gives each its ordinal, its position in
 * result order (folded first label, then id).
 *
 * A query folds its text, takes its longest word as the probe and finds
 * the range of main keys that start with it.  A small range is scanned.
 * A large one (a one-letter probe in a big team) is turned once into the
 * list of its entries in ordinal order, kept until the next merge, and
 * walked only until enough results are found: the walk meets candidates
 * in result order, so the first ones found are the best.  Preferred
 * entries (rank 0) are taken from the caller's short list when it is
 * shorter than the walk, otherwise recognised during the walk.  Side
 * keys are always scanned.  Candidates are sorted once at the end.
 */
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

#include "edge.h"
#include "xmalloc.h"

#define CPL_SCAN_MAX   128  /* ranges up to this many keys are scanned */
#define CPL_SIDE_MIN   1024 /* side keys always allowed before a merge */
#define CPL_LISTS_SLOTS 4096 /* walk lists kept (hash slots) */
#define CPL_WORDS_MAX  64   /* query words looked at */
#define CPL_MARK_MAX   32768 /* preferred entries marked per query */

struct cpl_entry {
	char *id;
	char *blob; /* sortkey \0 word \0 word \0 ... */
	void *obj;
	uint32_t gen;
	uint32_t merged_gen; /* gen at the last merge; ord valid if equal */
	uint32_t ord;
	uint16_t nkeys;
	uint8_t kind; /* 0 for a free slot */
	uint8_t hidden;
};

struct cpl_key {
	const char *k;
	uint32_t e;
	uint32_t gen;
};

struct cpl_list {
	size_t lo, hi; /* the main range it was made from; hi 0: free */
	uint32_t *v;   /* entries in ordinal order */
	size_t n;
};

struct edge_cpl {
	struct cpl_entry *ents;
	size_t nents, ents_cap;
	uint32_t *free_ents;
	size_t nfree, free_cap;

	struct cpl_key *main;
	size_t nmain, main_cap;
	struct cpl_key *side;
	size_t nside, side_cap, side_sorted;
	size_t ndead; /* keys in main or side of an older generation */

	char **garbage; /* blobs still pointed at by dead keys */
	size_t ngarbage, garbage_cap;

	struct cpl_list *lists; /* CPL_LISTS_SLOTS slots */
	size_t nlists, list_elems;

	/*
	 * Per entry, dense so that a walk over many entries stays in the
	 * caches: kind and state bits, the last query that looked at the
	 * entry, the last query that marked it preferred.
	 */
	uint8_t *hot;
	uint32_t *seen;
	uint32_t *pref;
	uint64_t *sig; /* cpl_sig() of its words: a filter before the blob */
	uint32_t stamp;
};

#define HOT_KIND    3 /* enum edge_cpl_kind; 0 for a free slot */
#define HOT_HIDDEN  4
#define HOT_CHANGED 8 /* relabelled since the last merge */

/* How a run knows which entries are preferred. */
enum {
	PM_ASK,     /* the is_pref callback */
	PM_STAMPED, /* c->pref[e] == c->stamp */
	PM_SEEN,    /* all were taken from the lists: the rest are not */
};

struct cpl_cand {
	uint32_t e;
	int rank;
};

struct cpl_run {
	struct edge_cpl *c;
	int pmode;
	int skip1;     /* enough of rank 1 already: keep only rank 0 */
	uint64_t need; /* sig bits every match has */
	const struct edge_cpl_query *q;
	char *words[CPL_WORDS_MAX];
	size_t wlen[CPL_WORDS_MAX];
	size_t nwords;
	struct cpl_cand *cands;
	size_t ncands, cands_cap;
};

struct edge_cpl *
edge_cpl_new(void)
{
	struct edge_cpl *c = xcalloc(1, sizeof(*c));

	c->lists = xcalloc(CPL_LISTS_SLOTS, sizeof(*c->lists));
	return c;
}

static void
cpl_lists_clear(struct edge_cpl *c)
{
	size_t i;

	if (c->nlists == 0)
		return;
	for (i = 0; i < CPL_LISTS_SLOTS; i++) {
		free(c->lists[i].v);
		memset(&c->lists[i], 0, sizeof(c->lists[i]));
	}
	c->nlists = 0;
	c->list_elems = 0;
}

void
edge_cpl_free(struct edge_cpl *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nents; i++) {
		free(c->ents[i].id);
		free(c->ents[i].blob);
	}
	for (i = 0; i < c->ngarbage; i++)
		free(c->garbage[i]);
	cpl_lists_clear(c);
	free(c->lists);
	free(c->garbage);
	free(c->ents);
	free(c->hot);
	free(c->seen);
	free(c->pref);
	free(c->sig);
	free(c->free_ents);
	free(c->main);
	free(c->side);
	free(c);
}

/*
 * Builds the blob of folded labels.  Returns it (the caller owns it)
 * with *nkeys set to its number of words after the sort key.
 */
static char *
cpl_blob(const char *const *labels, size_t nlabels, uint16_t *nkeys)
{
	char *folded[EDGE_CPL_FIELDS] = {NULL};
	size_t i, size = 1, words = 0, nw, o = 0;
	char *blob, *p;

	if (nlabels > EDGE_CPL_FIELDS)
		nlabels = EDGE_CPL_FIELDS;
	for (i = 0; i < nlabels; i++) {
		if (labels[i] == NULL || labels[i][0] == '\0')
			continue;
		folded[i] = edge_fold(labels[i], strlen(labels[i]), &nw);
		if (folded[i] == NULL)
			continue;
		size += strlen(folded[i]) + 1;
		words += nw;
	}
	if (folded[0] != NULL)
		size += strlen(folded[0]);

	/* The sort key first, then every word, each NUL-terminated. */
	blob = xmalloc(size);
	if (folded[0] != NULL) {
		memcpy(blob, folded[0], strlen(folded[0]));
		o = strlen(folded[0]);
	}
	blob[o++] = '\0';
	for (i = 0; i < nlabels; i++) {
		if (folded[i] == NULL || folded[i][0] == '\0')
			continue;
		for (p = folded[i]; *p != '\0'; p++)
			blob[o++] = *p == ' ' ? '\0' : *p;
		blob[o++] = '\0';
	}
	for (i = 0; i < nlabels; i++)
		free(folded[i]);
	*nkeys = (uint16_t)(words > UINT16_MAX ? UINT16_MAX : words);
	return blob;
}

/*
 * The signature of a word: a bit for its first byte and one for its
 * first two.  An entry's signature is that of all its words, so an entry
 * whose signature lacks a query word's bits cannot match it.
 */
static uint64_t
cpl_sig(const char *w)
{
	const unsigned char *u = (const unsigned char *)w;
	uint64_t s;

	if (u[0] == '\0')
		return 0;
	s = 1ull << (u[0] % 32);
	if (u[1] != '\0')
		s |= 1ull << (32 + (u[0] * 31u + u[1]) % 32);
	return s;
}

/* The first word of entry x's blob (after its sort key). */
static const char *
cpl_first_word(const struct cpl_entry *x)
{
	return x->blob + strlen(x->blob) + 1;
}

static void
cpl_side_push(struct edge_cpl *c, uint32_t e)
{
	struct cpl_entry *x = &c->ents[e];
	const char *w = cpl_first_word(x);
	uint16_t i;

	c->sig[e] = 0;
	for (i = 0; i < x->nkeys; i++) {
		if (c->nside == c->side_cap) {
			c->side_cap = c->side_cap ? c->side_cap * 2 : 64;
			c->side = xreallocarray(c->side, c->side_cap,
			    sizeof(*c->side));
		}
		c->side[c->nside].k = w;
		c->side[c->nside].e = e;
		c->side[c->nside].gen = x->gen;
		c->nside++;
		c->sig[e] |= cpl_sig(w);
		w += strlen(w) + 1;
	}
}

uint32_t
edge_cpl_add(struct edge_cpl *c, int kind, const char *id,
    const char *const *labels, size_t nlabels, void *obj)
{
	struct cpl_entry *x;
	uint32_t e;

	if (c->nfree > 0) {
		e = c->free_ents[--c->nfree];
	} else {
		if (c->nents == c->ents_cap) {
			c->ents_cap = c->ents_cap ? c->ents_cap * 2 : 256;
			c->ents = xreallocarray(c->ents, c->ents_cap,
			    sizeof(*c->ents));
			c->hot = xreallocarray(c->hot, c->ents_cap, 1);
			c->seen = xreallocarray(c->seen, c->ents_cap,
			    sizeof(*c->seen));
			c->pref = xreallocarray(c->pref, c->ents_cap,
			    sizeof(*c->pref));
			c->sig = xreallocarray(c->sig, c->ents_cap,
			    sizeof(*c->sig));
		}
		e = (uint32_t)c->nents++;
		c->ents[e].gen = 0;
	}
	c->seen[e] = 0;
	c->pref[e] = 0;
	c->hot[e] = (uint8_t)(kind & HOT_KIND) | HOT_CHANGED;

	x = &c->ents[e];
	x->id = xstrdup(id);
	x->blob = cpl_blob(labels, nlabels, &x->nkeys);
	x->obj = obj;
	x->gen++;
	x->merged_gen = x->gen - 1;
	x->ord = 0;
	x->kind = (uint8_t)kind;
	x->hidden = 0;
	cpl_side_push(c, e);
	return e;
}

/* Retires the keys of entry e: they stay in the arrays until a merge. */
static void
cpl_retire(struct edge_cpl *c, struct cpl_entry *x)
{
	if (c->ngarbage == c->garbage_cap) {
		c->garbage_cap = c->garbage_cap ? c->garbage_cap * 2 : 64;
		c->garbage = xreallocarray(c->garbage, c->garbage_cap,
		    sizeof(*c->garbage));
	}
	c->garbage[c->ngarbage++] = x->blob;
	c->ndead += x->nkeys;
	x->blob = NULL;
	x->gen++;
}

void
edge_cpl_update(struct edge_cpl *c, uint32_t e, const char *const *labels,
    size_t nlabels)
{
	struct cpl_entry *x;

	if (e >= c->nents || c->ents[e].kind == 0)
		return;
	x = &c->ents[e];
	cpl_retire(c, x);
	x->blob = cpl_blob(labels, nlabels, &x->nkeys);
	c->hot[e] |= HOT_CHANGED;
	cpl_side_push(c, e);
}

void
edge_cpl_set_hidden(struct edge_cpl *c, uint32_t e, int hidden)
{
	if (e >= c->nents || c->ents[e].kind == 0)
		return;
	c->ents[e].hidden = hidden != 0;
	if (hidden)
		c->hot[e] |= HOT_HIDDEN;
	else
		c->hot[e] &= (uint8_t)~HOT_HIDDEN;
}

void
edge_cpl_remove(struct edge_cpl *c, uint32_t e)
{
	struct cpl_entry *x;

	if (e >= c->nents || c->ents[e].kind == 0)
		return;
	x = &c->ents[e];
	cpl_retire(c, x);
	free(x->id);
	x->id = NULL;
	x->obj = NULL;
	x->kind = 0;
	x->nkeys = 0;
	c->hot[e] = 0;
	if (c->nfree == c->free_cap) {
		c->free_cap = c->free_cap ? c->free_cap * 2 : 64;
		c->free_ents = xreallocarray(c->free_ents, c->free_cap,
		    sizeof(*c->free_ents));
	}
	c->free_ents[c->nfree++] = e;
}

const char *
edge_cpl_sortkey(const struct edge_cpl *c, uint32_t e)
{
	if (e >= c->nents || c->ents[e].kind == 0)
		return "";
	return c->ents[e].blob;
}

static int
cpl_key_cmp(const void *a, const void *b)
{
	const struct cpl_key *x = a, *y = b;
	int r = strcmp(x->k, y->k);

	if (r != 0)
		return r;
	return x->e < y->e ? -1 : x->e > y->e;
}

/* Result order of two live entries: sort key, then id. */
static int
cpl_ent_cmp(const struct edge_cpl *c, uint32_t a, uint32_t b)
{
	int r = strcmp(c->ents[a].blob, c->ents[b].blob);

	if (r != 0)
		return r;
	return strcmp(c->ents[a].id, c->ents[b].id);
}

static int
cpl_ord_cmp(const void *a, const void *b, void *c)
{
	return cpl_ent_cmp(c, *(const uint32_t *)a, *(const uint32_t *)b);
}

static int
cpl_key_live(const struct edge_cpl *c, const struct cpl_key *k)
{
	return c->ents[k->e].gen == k->gen && c->ents[k->e].kind != 0;
}

/*
 * Merges side into main, dropping dead keys, frees the garbage blobs and
 * gives every live entry its ordinal.
 */
static void
cpl_merge(struct edge_cpl *c)
{
	struct cpl_key *m;
	uint32_t *order;
	size_t i = 0, j = 0, n = 0, cap, no = 0;

	cap = c->nmain + c->nside;
	m = xreallocarray(NULL, cap ? cap : 1, sizeof(*m));
	while (i < c->nmain || j < c->nside) {
		const struct cpl_key *k;

		if (j >= c->nside || (i < c->nmain &&
		    cpl_key_cmp(&c->main[i], &c->side[j]) <= 0))
			k = &c->main[i++];
		else
			k = &c->side[j++];
		if (cpl_key_live(c, k))
			m[n++] = *k;
	}
	free(c->main);
	c->main = m;
	c->nmain = n;
	c->main_cap = cap;
	c->nside = 0;
	c->side_sorted = 0;
	c->ndead = 0;

	for (i = 0; i < c->ngarbage; i++)
		free(c->garbage[i]);
	c->ngarbage = 0;

	/* Ordinals: live entries in result order. */
	order = xreallocarray(NULL, c->nents ? c->nents : 1, sizeof(*order));
	for (i = 0; i < c->nents; i++)
		if (c->ents[i].kind != 0)
			order[no++] = (uint32_t)i;
	qsort_r(order, no, sizeof(*order), cpl_ord_cmp, c);
	for (i = 0; i < no; i++) {
		c->ents[order[i]].ord = (uint32_t)i;
		c->ents[order[i]].merged_gen = c->ents[order[i]].gen;
		c->hot[order[i]] &= (uint8_t)~HOT_CHANGED;
	}
	free(order);
	cpl_lists_clear(c);
}

/* Sorts new side keys and merges when side or dead keys have grown. */
static void
cpl_prepare(struct edge_cpl *c)
{
	size_t i, lo, hi, mid;
	struct cpl_key k;

	if (c->nside - c->side_sorted > 32) {
		qsort(c->side, c->nside, sizeof(*c->side), cpl_key_cmp);
	} else {
		for (i = c->side_sorted; i < c->nside; i++) {
			k = c->side[i];
			lo = 0;
			hi = i;
			while (lo < hi) {
				mid = lo + (hi - lo) / 2;
				if (cpl_key_cmp(&c->side[mid], &k) <= 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			memmove(&c->side[lo + 1], &c->side[lo],
			    (i - lo) * sizeof(k));
			c->side[lo] = k;
		}
	}
	c->side_sorted = c->nside;

	if (c->nside > CPL_SIDE_MIN + c->nmain / 32 ||
	    (c->ndead > CPL_SIDE_MIN && c->ndead > c->nmain / 4))
		cpl_merge(c);
}

/* The index of the first key in a[0..n) that is >= w. */
static size_t
cpl_lower(const struct cpl_key *a, size_t n, const char *w)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(a[mid].k, w) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The end of the run of keys from lo on that start with w. */
static size_t
cpl_prefix_end(const struct cpl_key *a, size_t n, size_t lo, const char *w,
    size_t wl)
{
	size_t hi = n, mid;

	/* Keys with prefix w form one run: binary search its end. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strncmp(a[mid].k, w, wl) == 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether every query word is a prefix of a word of entry x. */
static int
cpl_matches(const struct cpl_run *r, const struct cpl_entry *x)
{
	size_t i;
	uint16_t j;
	const char *w;

	for (i = 0; i < r->nwords; i++) {
		w = cpl_first_word(x);
		for (j = 0; j < x->nkeys; j++) {
			if (strncmp(w, r->words[i], r->wlen[i]) == 0)
				break;
			w += strlen(w) + 1;
		}
		if (j == x->nkeys)
			return 0;
	}
	return 1;
}

/*
 * Looks at entry e once per query.  Returns its rank (0 or 1) when it
 * is a result, -1 otherwise.  known_pref: 1 when e comes from the
 * preferred list, -1 when the caller knows it is not preferred (already
 * taken from that list), 0 to ask.  from_key: e was found through a
 * live key that starts with the probe, so a one-word query matches it.
 */
static int
cpl_consider(struct cpl_run *r, uint32_t e, int known_pref, int from_key)
{
	struct edge_cpl *c = r->c;
	const struct edge_cpl_query *q = r->q;
	int rank, kind;

	if (e >= c->nents || c->seen[e] == c->stamp)
		return -1;
	c->seen[e] = c->stamp;
	kind = c->hot[e] & HOT_KIND;
	if (kind == 0 || (q->kinds & (unsigned)kind) == 0)
		return -1;
	if ((c->hot[e] & HOT_HIDDEN) && !q->include_hidden)
		return -1;
	if (!(from_key && r->nwords == 1) && ((c->sig[e] & r->need) !=
	    r->need || !cpl_matches(r, &c->ents[e])))
		return -1;
	if (q->visible != NULL && (q->visible_kinds & (unsigned)kind) &&
	    !q->visible(q->ctx, c->ents[e].obj, kind))
		return -1;
	if (known_pref > 0)
		rank = 0;
	else if (known_pref < 0 || r->pmode == PM_SEEN)
		rank = 1;
	else if (r->pmode == PM_STAMPED)
		rank = c->pref[e] == c->stamp ? 0 : 1;
	else if (q->is_pref != NULL)
		rank = q->is_pref(q->ctx, c->ents[e].obj, kind) ? 0 : 1;
	else
		rank = 1;
	if (rank == 1 && r->skip1)
		return 1;

	if (r->ncands == r->cands_cap) {
		r->cands_cap = r->cands_cap ? r->cands_cap * 2 : 64;
		r->cands = xreallocarray(r->cands, r->cands_cap,
		    sizeof(*r->cands));
	}
	r->cands[r->ncands].e = e;
	r->cands[r->ncands].rank = rank;
	r->ncands++;
	return rank;
}

static int
cpl_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The walk list of main range [lo, hi): its entries whose keys were made
 * before the last merge, once each, in ordinal order.  Made on first use
 * and kept until the next merge.
 */
static const struct cpl_list *
cpl_list_get(struct edge_cpl *c, size_t lo, size_t hi)
{
	size_t slot, i, n = 0, u = 0;
	struct cpl_list *l;
	uint32_t *ords;

	slot = (lo * 31 + hi * 7) % CPL_LISTS_SLOTS;
	l = &c->lists[slot];
	if (l->hi == hi && l->lo == lo && l->v != NULL)
		return l;

	/* Keep the memory of the lists bounded by the size of main. */
	if (c->list_elems + (hi - lo) > 2 * c->nmain + 65536)
		cpl_lists_clear(c);
	if (l->v != NULL) {
		c->nlists--;
		c->list_elems -= l->n;
		free(l->v);
		l->v = NULL;
	}

	/* Ordinals of the range's entries, sorted, without repeats. */
	ords = xreallocarray(NULL, hi - lo, sizeof(*ords));
	for (i = lo; i < hi; i++) {
		const struct cpl_key *k = &c->main[i];
		const struct cpl_entry *x = &c->ents[k->e];

		if (x->kind != 0 && k->gen == x->gen && x->gen == x->merged_gen)
			ords[n++] = x->ord;
	}
	qsort(ords, n, sizeof(*ords), cpl_u32_cmp);
	for (i = 0; i < n; i++)
		if (u == 0 || ords[u - 1] != ords[i])
			ords[u++] = ords[i];

	/* Ordinals back to entries: one pass over the keys finds them. */
	l->v = xreallocarray(NULL, u ? u : 1, sizeof(*l->v));
	for (i = lo; i < hi; i++) {
		const struct cpl_key *k = &c->main[i];
		const struct cpl_entry *x = &c->ents[k->e];
		uint32_t *p;

		if (x->kind == 0 || k->gen != x->gen || x->gen != x->merged_gen)
			continue;
		p = bsearch(&x->ord, ords, u, sizeof(*ords), cpl_u32_cmp);
		l->v[p - ords] = k->e;
	}
	free(ords);
	l->lo = lo;
	l->hi = hi;
	l->n = u;
	c->nlists++;
	c->list_elems += u;
	return l;
}

/*
 * Result order of two candidates.  Entries unchanged since the merge
 * compare by ordinal, which is their order of sort key and id then and
 * now; an entry relabelled since compares by its strings.
 */
static int
cpl_cand_cmp(const void *a, const void *b, void *arg)
{
	const struct cpl_cand *x = a, *y = b;
	const struct edge_cpl *c = arg;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (!(c->hot[x->e] & HOT_CHANGED) && !(c->hot[y->e] & HOT_CHANGED))
		return c->ents[x->e].ord < c->ents[y->e].ord ? -1 :
		    c->ents[x->e].ord > c->ents[y->e].ord;
	return cpl_ent_cmp(c, x->e, y->e);
}

/* Splits folded text (words separated by spaces) in place. */
static void
cpl_split(struct cpl_run *r, char *folded)
{
	char *p = folded, *sp;

	while (*p != '\0' && r->nwords < CPL_WORDS_MAX) {
		sp = strchr(p, ' ');
		if (sp != NULL)
			*sp = '\0';
		r->words[r->nwords] = p;
		r->wlen[r->nwords] = strlen(p);
		r->nwords++;
		if (sp == NULL)
			break;
		p = sp + 1;
	}
}

/* Collects from the main range [lo, hi) of the probe. */
static void
cpl_collect_main(struct cpl_run *r, size_t lo, size_t hi, size_t limit)
{
	struct edge_cpl *c = r->c;
	const struct edge_cpl_query *q = r->q;
	const struct cpl_list *l;
	size_t i, j, r0 = 0, r1 = 0, want, live, walk, npref;
	int rank, open;

	if (hi - lo <= CPL_SCAN_MAX) {
		for (i = lo; i < hi; i++)
			if (cpl_key_live(c, &c->main[i]))
				cpl_consider(r, c->main[i].e, 0, 1);
		return;
	}

	l = cpl_list_get(c, lo, hi);

	/*
	 * Preferred entries: a short list is looked at whole before the
	 * walk.  Otherwise the walk meets them, about limit * N / npref
	 * steps to find limit of them, and knows them by a mark set from
	 * the lists, or by asking when the lists are too long to mark.
	 */
	npref = q->npref[0] + q->npref[1];
	live = c->nents - c->nfree;
	walk = npref > 0 ? limit * live / npref : l->n;
	if (walk > l->n)
		walk = l->n;
	if (npref > 0 && npref <= walk) {
		for (j = 0; j < 2; j++)
			for (i = 0; i < q->npref[j]; i++)
				if (cpl_consider(r, q->pref[j][i], 1, 0) == 0)
					r0++;
		r->pmode = PM_SEEN;
	} else if (npref > 0 && npref <= CPL_MARK_MAX) {
		for (j = 0; j < 2; j++)
			for (i = 0; i < q->npref[j]; i++)
				if (q->pref[j][i] < c->nents)
					c->pref[q->pref[j][i]] = c->stamp;
		r->pmode = PM_STAMPED;
	}

	/*
	 * The walk meets candidates in result order: stop when the best
	 * rank still open is full.
	 */
	want = limit > r0 ? limit - r0 : 0;
	open = r->pmode == PM_STAMPED ||
	    (r->pmode == PM_ASK && q->is_pref != NULL);
	for (i = 0; i < l->n; i++) {
		if (open ? r0 >= limit : r1 >= want)
			break;
		if (c->hot[l->v[i]] & HOT_CHANGED)
			continue; /* relabelled since the merge: in side */
		rank = cpl_consider(r, l->v[i], 0, 1);
		if (rank == 0)
			r0++;
		else if (rank == 1 && ++r1 >= limit)
			r->skip1 = 1; /* later ones of rank 1 come too late */
	}
	r->skip1 = 0;
}

ssize_t
edge_cpl_query(struct edge_cpl *c, const struct edge_cpl_query *q,
    struct edge_cpl_hit *out, size_t cap)
{
	struct cpl_run r;
	char *folded;
	size_t nw, i, limit, best = 0, lo, hi;
	const char *probe;
	size_t plen;

	if (q->len > EDGE_CPL_QUERY_MAX)
		return -1;
	folded = edge_fold(q->text, q->len, &nw);
	if (folded == NULL)
		return -1;
	limit = q->limit;
	if (limit > EDGE_CPL_LIMIT_MAX)
		limit = EDGE_CPL_LIMIT_MAX;
	if (limit > cap)
		limit = cap;
	if (nw == 0 || limit == 0) {
		free(folded);
		return 0;
	}

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.q = q;
	r.pmode = PM_ASK;
	cpl_split(&r, folded);
	for (i = 1; i < r.nwords; i++)
		if (r.wlen[i] > r.wlen[best])
			best = i;
	probe = r.words[best];
	plen = r.wlen[best];
	for (i = 0; i < r.nwords; i++)
		r.need |= cpl_sig(r.words[i]);

	cpl_prepare(c);
	if (++c->stamp == 0) {
		memset(c->seen, 0, c->nents * sizeof(*c->seen));
		memset(c->pref, 0, c->nents * sizeof(*c->pref));
		c->stamp = 1;
	}

	lo = cpl_lower(c->main, c->nmain, probe);
	hi = cpl_prefix_end(c->main, c->nmain, lo, probe, plen);
	if (hi > lo)
		cpl_collect_main(&r, lo, hi, limit);

	lo = cpl_lower(c->side, c->nside, probe);
	hi = cpl_prefix_end(c->side, c->nside, lo, probe, plen);
	for (i = lo; i < hi; i++)
		if (cpl_key_live(c, &c->side[i]))
			cpl_consider(&r, c->side[i].e, 0, 1);

	if (r.ncands > 1)
		qsort_r(r.cands, r.ncands, sizeof(*r.cands), cpl_cand_cmp, c);
	if (r.ncands < limit)
		limit = r.ncands;
	for (i = 0; i < limit; i++) {
		out[i].e = r.cands[i].e;
		out[i].rank = r.cands[i].rank;
		out[i].obj = c->ents[r.cands[i].e].obj;
		out[i].kind = c->ents[r.cands[i].e].kind;
	}
	free(r.cands);
	free(folded);
	return (ssize_t)limit;
}

size_t
edge_cpl_memory(const struct edge_cpl *c)
{
	size_t n, i;

	n = malloc_usable_size((void *)c) +
	    malloc_usable_size(c->ents) + malloc_usable_size(c->free_ents) +
	    malloc_usable_size(c->hot) + malloc_usable_size(c->seen) +
	    malloc_usable_size(c->pref) + malloc_usable_size(c->sig) +
	    malloc_usable_size(c->main) + malloc_usable_size(c->side) +
	    malloc_usable_size(c->garbage) + malloc_usable_size(c->lists);
	for (i = 0; i < c->nents; i++)
		n += malloc_usable_size(c->ents[i].id) +
		    malloc_usable_size(c->ents[i].blob);
	for (i = 0; i < c->ngarbage; i++)
		n += malloc_usable_size(c->garbage[i]);
	for (i = 0; i < CPL_LISTS_SLOTS; i++)
		n += malloc_usable_size(c->lists[i].v);
	return n;
}

void
edge_cpl_stats(const struct edge_cpl *c, size_t *main_keys,
    size_t *side_keys, size_t *dead_keys)
{
	if (main_keys != NULL)
		*main_keys = c->nmain;
	if (side_keys != NULL)
		*side_keys = c->nside;
	if (dead_keys != NULL)
		*dead_keys = c->ndead;
}
