/*
 * libFuzzer target: autocomplete queries (edge_cpl_query) on a small
 * index made for each input, and names added to it.  The first byte
 * picks the mode:
 *
 *   even  the rest is a query against a fixed index
 *   odd   the rest becomes a user's name; a query made of that same
 *         text must then find that user (when the name has a word)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *names[][3] = {
    {"zoe", "Zo\xc3\xab", "Zo\xc3\xab Martin"},
    {"hans", "Hans", "Hans Stra\xc3\x9f" "e"},
    {"ilkay", "\xc4\xb0lkay", NULL},
    {"jp", "\xef\xbd\xbb\xef\xbe\x84\xef\xbd\xb3", NULL},
    {"cn", "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e", NULL},
    {"bob", "Bob \xf0\x9f\x9a\x80", NULL},
    {"general", NULL, NULL},
};


static int
pref_odd(void *ctx, void *obj, int kind)
{
	return ((uintptr_t)obj & 1) != 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct edge_cpl_hit hits[EDGE_CPL_LIMIT_MAX];
	struct edge_cpl_query q;
	const char *labels[3];
	char *name, *folded;
	size_t i, nw = 0;
	struct edge_cpl *idx;
	ssize_t n;
	uint32_t e;
	int found = 0;

	if (size == 0)
		return 0;

	/* A fresh index each time, so that every run frees what it took. */
	idx = edge_cpl_new();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		edge_cpl_add(idx, i == 6 ? EDGE_CPL_CHANNEL : EDGE_CPL_USER,
		    names[i][0], names[i], 3, (void *)(uintptr_t)(i + 1));

	memset(&q, 0, sizeof(q));
	q.text = (const char *)data + 1;
	q.len = size - 1;
	q.kinds = EDGE_CPL_USER | EDGE_CPL_CHANNEL;
	q.limit = data[0] >> 1;
	q.is_pref = pref_odd;

	if ((data[0] & 1) == 0) {
		n = edge_cpl_query(idx, &q, hits, EDGE_CPL_LIMIT_MAX);
		if (n > (ssize_t)EDGE_CPL_LIMIT_MAX)
			abort();
		edge_cpl_free(idx);
		return 0;
	}

	/* The name as a NUL-terminated label. */
	name = malloc(size);
	memcpy(name, data + 1, size - 1);
	name[size - 1] = '\0';
	labels[0] = name;
	labels[1] = labels[2] = NULL;
	e = edge_cpl_add(idx, EDGE_CPL_USER, "UFUZZ", labels, 1,
	    (void *)(uintptr_t)1000);
	q.text = name;
	q.len = strlen(name);
	q.limit = EDGE_CPL_LIMIT_MAX;
	q.is_pref = NULL;
	folded = edge_fold(q.text, q.len, &nw);
	n = edge_cpl_query(idx, &q, hits, EDGE_CPL_LIMIT_MAX);
	for (i = 0; n > 0 && i < (size_t)n; i++)
		if (hits[i].e == e)
			found = 1;
	if (folded != NULL && nw > 0 && q.len <= EDGE_CPL_QUERY_MAX && !found)
		abort();
	free(folded);
	edge_cpl_remove(idx, e);
	edge_cpl_free(idx);
	free(name);
	return 0;
}
