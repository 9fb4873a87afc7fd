/*
 * hist: log-linear latency buckets.  A value v >= HIST_SUB falls in
 * power-of-two range e (its top bit) split into HIST_SUB equal buckets;
 * smaller values have one bucket each.
 */
#include <string.h>

#include "hist.h"

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned
hist_index(uint64_t v)
{
	unsigned e, idx;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v); /* >= log2(HIST_SUB) */
	idx = (e - 4) * HIST_SUB + (unsigned)((v >> (e - 5)) & (HIST_SUB - 1));
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The largest value that falls in bucket i. */
static uint64_t
hist_top(unsigned i)
{
	unsigned e, sub;

	if (i < HIST_SUB)
		return i;
	e = i / HIST_SUB + 4;
	sub = i % HIST_SUB;
	return ((uint64_t)(HIST_SUB + sub + 1) << (e - 5)) - 1;
}

void
hist_add(struct hist *h, uint64_t us)
{
	h->b[hist_index(us)]++;
	h->count++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
}

uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0, top;
	unsigned i;

	if (h->count == 0)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want) {
			top = hist_top(i);
			return top < h->max_us ? top : h->max_us;
		}
	}
	return h->max_us;
}

/* Prints microseconds as µs or ms. */
static void
hist_fmt(FILE *out, const char *label, uint64_t us)
{
	if (us < 10000)
		fprintf(out, " %s=%lluus", label, (unsigned long long)us);
	else
		fprintf(out, " %s=%.1fms", label, (double)us / 1000.);
}

void
hist_print(const struct hist *h, const char *name, FILE *out)
{
	fprintf(out, "%s: n=%llu", name, (unsigned long long)h->count);
	if (h->count > 0) {
		hist_fmt(out, "p50", hist_quantile(h, 0.50));
		hist_fmt(out, "p90", hist_quantile(h, 0.90));
		hist_fmt(out, "p99", hist_quantile(h, 0.99));
		hist_fmt(out, "p99.9", hist_quantile(h, 0.999));
		hist_fmt(out, "max", h->max_us);
	}
	fputc('\n', out);
}
