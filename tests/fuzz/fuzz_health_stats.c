/*
 * libFuzzer target: HAProxy `show stat` CSV parsing
 * (route53-health/health_stats.c), for one backend and for the whole
 * table.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route53-health/health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct health_stats_backend be;
	char err[96];
	char *copy;

	/* An exact-size copy, so that ASan sees any read past the end. */
	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);

	memset(&be, 0, sizeof(be));
	be.name = "be_edges";
	if (health_stats_parse(copy, size, &be, err, sizeof(err)) == 0 &&
	    be.up > be.servers)
		abort();
	memset(&be, 0, sizeof(be));
	health_stats_parse(copy, size, &be, err, sizeof(err));
	free(copy);
	return 0;
}
