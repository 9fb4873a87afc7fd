/*
 * health_state: the state of each probe, and the verdict over groups.
 *
 * A probe follows HAProxy's rise/fall rule, so that one slow answer does
 * not flap the site:
 *
 *               first result ok              first result failed
 *   UNKNOWN ------------------------> UP <---------------- ... DOWN
 *                                      |  ^                      ^
 *            `fall` failures in a row  |  | `rise` successes     |
 *                                      v  |  in a row            |
 *                                     DOWN -----------------------
 *
 * UNKNOWN goes straight to the state of the first result; after that, a
 * result that agrees with the state resets the streak, and a streak of
 * `fall` failures (when UP) or `rise` successes (when DOWN) flips it.
 *
 * Groups: a group fails when fewer than `need` of its members are not
 * DOWN (need 0: when any member is DOWN).  A failing critical group makes
 * the verdict CRITICAL, a failing degraded group DEGRADED.  Across groups,
 * when every non-empty group marked critical_if_none has no member left
 * that is not DOWN, the verdict is CRITICAL.  UNKNOWN counts as not DOWN
 * so that restarting this daemon does not take the site out of DNS.
 */
#include <stdio.h>
#include <string.h>

#include "health.h"

/*
 * Records one result of probe p at wall-clock time now: ok is 1 for a
 * success, 0 for a failure; msg (may be NULL) says what was seen.
 * Returns 1 when the probe's state changed, 0 otherwise.
 */
int
health_probe_record(struct health_probe *p, int ok, const char *msg, double now)
{
	enum health_pstate old = p->state;

	p->nchecks++;
	if (!ok)
		p->nfail++;
	p->last_ok = ok;
	p->last_time = now;
	snprintf(p->last_msg, sizeof(p->last_msg), "%s",
	    msg != NULL ? msg : (ok ? "ok" : "failed"));

	switch (p->state) {
	case HEALTH_UNKNOWN:
		p->state = ok ? HEALTH_UP : HEALTH_DOWN;
		p->streak = 0;
		break;
	case HEALTH_UP:
		if (ok) {
			p->streak = 0;
			break;
		}
		if (++p->streak >= p->t.fall) {
			p->state = HEALTH_DOWN;
			p->streak = 0;
		}
		break;
	case HEALTH_DOWN:
		if (!ok) {
			p->streak = 0;
			break;
		}
		if (++p->streak >= p->t.rise) {
			p->state = HEALTH_UP;
			p->streak = 0;
		}
		break;
	}

	if (p->state == old)
		return 0;
	p->since = now;
	return 1;
}

/* Appends "name (msg)" to the detail list, keeping it terminated. */
static void
verdict_add(struct health_verdict *v, const char *name, const char *msg)
{
	size_t used = strlen(v->detail);

	if (used >= sizeof(v->detail) - 1)
		return;
	snprintf(v->detail + used, sizeof(v->detail) - used, "%s%s (%s)",
	    used > 0 ? ", " : "", name, msg);
}

/*
 * Computes the verdict over every group from the probes' states, fills
 * each group's nmembers and nup, and writes it to v.  The detail lists
 * every DOWN probe, those of failing critical groups first.
 */
void
health_verdict(struct health *h, struct health_verdict *v)
{
	int alive[HEALTH_NGROUPS] = { 0 };
	int failing[HEALTH_NGROUPS] = { 0 };
	int rule_groups = 0, rule_dead = 0;
	size_t i;
	int g, pass;

	memset(v, 0, sizeof(*v));
	v->level = HEALTH_OK;
	v->draining = h->draining || h->drain_by_file;

	for (g = 0; g < HEALTH_NGROUPS; g++) {
		h->groups[g].nmembers = 0;
		h->groups[g].nup = 0;
	}
	for (i = 0; i < h->nprobes; i++) {
		struct health_probe *p = &h->probes[i];
		struct health_group *grp = &h->groups[p->group];

		grp->nmembers++;
		if (p->state == HEALTH_UP)
			grp->nup++;
		if (p->state != HEALTH_DOWN)
			alive[p->group]++;
	}

	for (g = 0; g < HEALTH_NGROUPS; g++) {
		struct health_group *grp = &h->groups[g];
		int need = grp->need > 0 ? grp->need : grp->nmembers;

		if (grp->nmembers == 0)
			continue;
		if (need > grp->nmembers)
			need = grp->nmembers;
		if (alive[g] < need) {
			failing[g] = 1;
			if (grp->cls == HEALTH_CLASS_CRITICAL)
				v->level = HEALTH_CRITICAL;
			else if (v->level == HEALTH_OK)
				v->level = HEALTH_DEGRADED;
		}
		if (grp->critical_if_none) {
			rule_groups++;
			if (alive[g] == 0)
				rule_dead++;
		}
	}
	if (rule_groups > 0 && rule_dead == rule_groups) {
		char names[128] = "";
		size_t n = 0;

		for (g = 0; g < HEALTH_NGROUPS; g++) {
			if (!h->groups[g].critical_if_none ||
			    h->groups[g].nmembers == 0 || n >= sizeof(names))
				continue;
			n += snprintf(names + n, sizeof(names) - n, "%s%s",
			    n > 0 ? ", " : "", h->groups[g].name);
		}
		v->level = HEALTH_CRITICAL;
		verdict_add(v, "nothing reachable", names);
	}

	/* Failing critical groups first, then the rest of what is DOWN. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < h->nprobes; i++) {
			struct health_probe *p = &h->probes[i];
			int first = failing[p->group] &&
			    h->groups[p->group].cls == HEALTH_CLASS_CRITICAL;

			if (p->state != HEALTH_DOWN || first != (pass == 0))
				continue;
			verdict_add(v, p->name, p->last_msg);
		}
	}
}

const char *
health_pstate_name(enum health_pstate s)
{
	switch (s) {
	case HEALTH_UP: return "up";
	case HEALTH_DOWN: return "down";
	default: return "unknown";
	}
}

const char *
health_class_name(enum health_class c)
{
	return c == HEALTH_CLASS_CRITICAL ? "critical" : "degraded";
}

const char *
health_level_name(enum health_level l)
{
	switch (l) {
	case HEALTH_CRITICAL: return "critical";
	case HEALTH_DEGRADED: return "degraded";
	default: return "ok";
	}
}

const char *
health_kind_name(enum health_kind k)
{
	switch (k) {
	case HEALTH_KIND_HAPROXY: return "haproxy";
	case HEALTH_KIND_AGENT: return "agent";
	case HEALTH_KIND_HTTP: return "http";
	default: return "disk";
	}
}
