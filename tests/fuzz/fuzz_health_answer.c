/*
 * libFuzzer target: what the probes read back from the stack
 * (route53-health): an HTTP status line from /healthz and the agent's
 * answer to the healthcheck HELLO.
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
	char msg[HEALTH_MSG_MAX];
	char *copy;
	int status = 0, rc;

	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);

	rc = health_http_status_line(copy, size, &status);
	if (rc == 1 && (status < 100 || status > 999))
		abort();
	rc = health_spop_answer(copy, size, msg, sizeof(msg));
	if (rc != 0 && memchr(msg, '\0', sizeof(msg)) == NULL)
		abort();
	free(copy);
	return 0;
}
