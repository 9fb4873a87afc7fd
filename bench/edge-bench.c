/*
 * edge-bench: the edge cache's numbers on synthetic teams
 * (tests/unit/edge_synth.h), in one process, on one core:
 *
 *   - autocomplete on a 100,000-user team: queries/s flat out and the
 *     CPU time of each (p50/p99), and the latency (p50/p99) of each
 *     query when they come at a steady 20,000/s, which only means
 *     something on an idle core; queries are 1 to 4 leading letters of
 *     a real name, a user name or a channel name, half of them from
 *     inside a channel (its members ranked first), limit 10
 *   - slim boot and full boot (rtm.start: every user object) bytes at
 *     1,000, 10,000, 32,000 and 100,000 users, and slim boots/s
 *   - memory per cached user, measured by walking the cache
 *
 *   edge-bench [-q]     -q: smaller teams and fewer queries
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edge/edge.h"
#include "tests/unit/edge_synth.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this process: what the work costs on a shared machine. */
static double
cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this thread, for one query. */
static double
tcpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Deterministic pseudo-random numbers. */
static uint64_t rng = 88172645463325252ULL;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A query: up to 4 leading code points of a label. */
static void
make_query(const struct edge_team *t, char *out, size_t outlen)
{
	const struct edge_user *u = t->users[next() % t->nusers];
	const char *src;
	size_t n = 1 + next() % 4, i = 0, cps = 0;

	switch (next() % 4) {
	case 0:
		src = u->name;
		break;
	case 1:
		src = t->chans[next() % t->nchans]->name;
		break;
	default:
		src = u->real_name;
		break;
	}
	while (src[i] != '\0' && i < outlen - 1) {
		if (((unsigned char)src[i] & 0xc0) != 0x80 && cps++ == n)
			break;
		i++;
	}
	memcpy(out, src, i);
	out[i] = '\0';
}

struct query {
	char text[32];
	const char *chan;
};

static void
bench_complete(size_t nusers, size_t nqueries)
{
	struct edge_team *t;
	const struct edge_user *asker;
	struct query *qs;
	double t0, t1, *lat, gap, due;
	size_t i, len, paced;
	char *s;

	t0 = now();
	t = synth_team(nusers, 200, 5, 2);
	t1 = now();
	asker = edge_team_user(t, "U0000000000");
	printf("autocomplete: team of %zu users and %zu channels loaded in "
	    "%.2f s\n", t->nusers, t->nchans, t1 - t0);

	qs = calloc(nqueries, sizeof(*qs));
	for (i = 0; i < nqueries; i++) {
		make_query(t, qs[i].text, sizeof(qs[i].text));
		qs[i].chan = (next() % 2) ? t->chans[1 + next() % 199]->id :
		    NULL;
	}

	/* Warm: the first query of a long prefix sorts its walk list. */
	t0 = cpu();
	for (i = 0; i < nqueries; i++) {
		s = edge_team_complete(t, asker, qs[i].chan, qs[i].text,
		    strlen(qs[i].text), EDGE_CPL_USER | EDGE_CPL_CHANNEL, 10,
		    &len);
		free(s);
	}
	t1 = cpu();
	printf("autocomplete: first pass %zu queries in %.3f s of CPU (walk "
	    "lists made on the way)\n", nqueries, t1 - t0);

	/*
	 * Flat out, counted in CPU time, with the CPU time of each query:
	 * what a query costs, whatever else the machine runs.
	 */
	lat = calloc(nqueries, sizeof(*lat));
	t0 = cpu();
	for (i = 0; i < nqueries; i++) {
		double q0 = tcpu();

		s = edge_team_complete(t, asker, qs[i].chan, qs[i].text,
		    strlen(qs[i].text), EDGE_CPL_USER | EDGE_CPL_CHANNEL, 10,
		    &len);
		free(s);
		lat[i] = tcpu() - q0;
	}
	t1 = cpu();
	qsort(lat, nqueries, sizeof(*lat), dbl_cmp);
	printf("autocomplete: %.0f queries/s per core of CPU time (%zu "
	    "queries, answers as JSON); CPU per query p50 %.1f us, p99 "
	    "%.1f us, max %.1f us\n", nqueries / (t1 - t0), nqueries,
	    lat[nqueries / 2] * 1e6, lat[nqueries * 99 / 100] * 1e6,
	    lat[nqueries - 1] * 1e6);
	free(lat);
	t0 = cpu();
	for (i = 0; i < nqueries; i++) {
		s = edge_team_complete(t, asker, NULL, qs[i].text,
		    strlen(qs[i].text), EDGE_CPL_USER | EDGE_CPL_CHANNEL, 10,
		    &len);
		free(s);
	}
	t1 = cpu();
	printf("autocomplete: %.1f us each without a channel\n",
	    (t1 - t0) / nqueries * 1e6);

	/* Paced at 20,000/s: latency of each from when it was due. */
	paced = nqueries < 40000 ? nqueries : 40000;
	lat = calloc(paced, sizeof(*lat));
	gap = 1.0 / 20000;
	t0 = now();
	for (i = 0; i < paced; i++) {
		due = t0 + i * gap;
		while (now() < due)
			;
		s = edge_team_complete(t, asker, qs[i].chan, qs[i].text,
		    strlen(qs[i].text), EDGE_CPL_USER | EDGE_CPL_CHANNEL, 10,
		    &len);
		free(s);
		lat[i] = now() - due;
	}
	qsort(lat, paced, sizeof(*lat), dbl_cmp);
	printf("autocomplete at 20000/s: p50 %.1f us, p99 %.1f us, max %.1f "
	    "us of wall time from when each was due (%zu queries, goal p99 "
	    "< 1000 us; needs an idle core)\n", lat[paced / 2] * 1e6,
	    lat[paced * 99 / 100] * 1e6, lat[paced - 1] * 1e6, paced);
	free(lat);

	printf("memory: %.0f bytes per cached user (team of %zu users, %zu "
	    "channels, walked)\n", (double)edge_team_memory(t) / t->nusers,
	    t->nusers, t->nchans);
	free(qs);
	edge_team_free(t);
}

static void
bench_boot(size_t nusers)
{
	struct edge_team *t = synth_team(nusers, 40, 5, 10);
	const struct edge_user *asker = edge_team_user(t, "U0000000000");
	size_t slim, full, n = 0;
	double t0, t1;
	char *s;

	s = edge_boot_slim(t, asker, &slim);
	free(s);
	s = edge_boot_full(t, asker, &full);
	free(s);
	t0 = cpu();
	do {
		s = edge_boot_slim(t, asker, &slim);
		free(s);
		n++;
		t1 = cpu();
	} while (t1 - t0 < 0.3);
	printf("boot at %6zu users (user in 5 channels): slim %5zu bytes, "
	    "full %10zu bytes, %5.0fx smaller; %.0f slim boots/s per core "
	    "of CPU time\n", nusers, slim, full, (double)full / slim,
	    n / (t1 - t0));
	edge_team_free(t);
}

int
main(int argc, char **argv)
{
	int quick = argc > 1 && strcmp(argv[1], "-q") == 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_complete(quick ? 20000 : 100000, quick ? 20000 : 200000);
	bench_boot(1000);
	bench_boot(10000);
	if (!quick) {
		bench_boot(32000);
		bench_boot(100000);
	}
	return 0;
}
