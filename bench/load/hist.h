/*
 * hist: a latency histogram with buckets of about 3% width from 1 µs to
 * over an hour, constant memory, for parley-load's reports.
 */
#ifndef PARLEY_LOAD_HIST_H
#define PARLEY_LOAD_HIST_H

#include <stdint.h>
#include <stdio.h>

#define HIST_SUB     32 /* buckets per power of two */
#define HIST_BUCKETS (HIST_SUB * 40)

struct hist {
	uint64_t count;
	uint64_t max_us;
	uint64_t sum_us;
	uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
/* Records one sample of us microseconds. */
void hist_add(struct hist *h, uint64_t us);
/* The sample at quantile q (0..1), as the top of its bucket. */
uint64_t hist_quantile(const struct hist *h, double q);
/* Prints "name: n=... p50=... p90=... p99=... p99.9=... max=..." */
void hist_print(const struct hist *h, const char *name, FILE *out);

#endif
