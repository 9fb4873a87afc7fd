/*
 * health_agentcheck: the HAProxy agent-check listener.
 *
 * HAProxy's `agent-check` connects, may send a string, and reads one line
 * until the connection closes.  The line is words from the grammar of
 * HAProxy's configuration manual (section 5.2, agent-check):
 *
 *   up ready 75%       serving, weight 75% of the configured one
 *   up drain           serving what it has, no new sessions
 *   down ready #why    not serving; the text after '#' is shown in stats
 *
 * "ready" is always sent when not draining, since HAProxy keeps a server
 * in DRAIN until an agent says "ready".  The weight follows local load
 * against the configured capacity.  The listener (health_listen.c)
 * writes the line at once on accept and closes; nothing is read, so a
 * client that sends nothing or too much costs nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"

/*
 * Returns the weight percentage, 1 to 100, for load against capacity:
 * 100 when idle, falling linearly to 1 at or beyond capacity.  A capacity
 * of 0 or less means "unbounded": 100.
 */
int
health_agentcheck_weight(double load, double capacity)
{
	double w;

	if (!(capacity > 0) || !(load >= 0))
		return 100;
	w = 100.0 * (1.0 - load / capacity);
	if (w < 1.0)
		return 1;
	if (w > 100.0)
		return 100;
	return (int)lround(w);
}

/*
 * Writes the agent-check line for verdict v and weight into out (outlen
 * bytes, at least 64), ending in "\n".  The reason after '#' is v's
 * detail, cut to fit and with control characters replaced.  Returns the
 * length written.
 */
size_t
health_agentcheck_line(
    const struct health_verdict *v, int weight, char *out, size_t outlen)
{
	const char *admin = v->draining ? "drain" : "ready";
	size_t n, i;
	int r;

	if (v->level == HEALTH_CRITICAL)
		r = snprintf(out, outlen, "down %s #%.120s", admin,
		    v->detail[0] != '\0' ? v->detail : "critical");
	else if (v->draining)
		r = snprintf(out, outlen, "up drain");
	else
		r = snprintf(out, outlen, "up ready %d%%", weight);
	n = r < 0 ? 0 : (size_t)r;
	if (n > outlen - 2)
		n = outlen - 2;
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	out[n++] = '\n';
	out[n] = '\0';
	return n;
}

/*
 * Returns the local load the weight is computed from: HAProxy's current
 * sessions over the probed backends, or the 1-minute load average.
 */
double
health_local_load(struct health *h)
{
	double avg[1];
	double sum = 0;
	size_t i;

	if (h->load == HEALTH_LOAD_SESSIONS) {
		for (i = 0; i < h->nprobes; i++)
			if (h->probes[i].kind == HEALTH_KIND_HAPROXY)
				sum += (double)h->probes[i].scur;
		return sum;
	}
	if (getloadavg(avg, 1) != 1)
		return 0;
	return avg[0];
}
