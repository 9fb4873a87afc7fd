/*
 * Unit tests of route53-health/health_state.c: the rise/fall state
 * machine of a probe, the group rules, the cross-group rule, and the check
 * body and agent-check line that follow from the verdict.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route53-health/health.h"

static struct health_probe *
add_probe(struct health *h, const char *name, enum health_gid g)
{
	struct health_probe *p;

	/* Room for every probe a test adds, so pointers stay valid. */
	assert_true(h->nprobes < 16);
	p = &h->probes[h->nprobes++];
	memset(p, 0, sizeof(*p));
	p->name = strdup(name);
	p->group = g;
	p->t.interval = 1;
	p->t.timeout = 1;
	p->t.rise = 2;
	p->t.fall = 3;
	p->last_ok = -1;
	return p;
}

/* The default groups, as health_build() makes them. */
static void
setup_groups(struct health *h)
{
	static const char *const names[HEALTH_NGROUPS] = { "haproxy", "edges",
		"shards", "agent", "disk" };
	int g;

	memset(h, 0, sizeof(*h));
	for (g = 0; g < HEALTH_NGROUPS; g++) {
		h->groups[g].name = names[g];
		h->groups[g].cls = g == HEALTH_G_HAPROXY
		    ? HEALTH_CLASS_CRITICAL
		    : HEALTH_CLASS_DEGRADED;
	}
	h->groups[HEALTH_G_EDGES].critical_if_none = 1;
	h->groups[HEALTH_G_SHARDS].critical_if_none = 1;
	h->marker = strdup("MARK");
	h->probes = calloc(16, sizeof(*h->probes));
	assert_non_null(h->probes);
}

static void
teardown(struct health *h)
{
	size_t i;

	for (i = 0; i < h->nprobes; i++)
		free(h->probes[i].name);
	free(h->probes);
	free(h->marker);
	free(h->check_body);
	buf_unref(h->check_buf);
}

static void
set_state(struct health_probe *p, int up)
{
	p->state = up ? HEALTH_UP : HEALTH_DOWN;
	snprintf(p->last_msg, sizeof(p->last_msg), "%s",
	    up ? "ok" : "connect: Connection refused");
}

static void
test_first_result_decides(void **state)
{
	struct health h;
	struct health_probe *a, *b;

	setup_groups(&h);
	a = add_probe(&h, "a", HEALTH_G_EDGES);
	b = add_probe(&h, "b", HEALTH_G_EDGES);
	assert_int_equal(a->state, HEALTH_UNKNOWN);
	assert_int_equal(health_probe_record(a, 1, NULL, 10.0), 1);
	assert_int_equal(a->state, HEALTH_UP);
	assert_int_equal(health_probe_record(b, 0, "refused", 10.0), 1);
	assert_int_equal(b->state, HEALTH_DOWN);
	assert_string_equal(b->last_msg, "refused");
	assert_true(b->since == 10.0);
	teardown(&h);
}

static void
test_fall_needs_consecutive_failures(void **state)
{
	struct health h;
	struct health_probe *p;

	setup_groups(&h);
	p = add_probe(&h, "p", HEALTH_G_SHARDS);
	health_probe_record(p, 1, NULL, 1);

	/* Two failures, a success, then two more: still UP (fall 3). */
	assert_int_equal(health_probe_record(p, 0, NULL, 2), 0);
	assert_int_equal(health_probe_record(p, 0, NULL, 3), 0);
	assert_int_equal(health_probe_record(p, 1, NULL, 4), 0);
	assert_int_equal(health_probe_record(p, 0, NULL, 5), 0);
	assert_int_equal(health_probe_record(p, 0, NULL, 6), 0);
	assert_int_equal(p->state, HEALTH_UP);

	/* The third in a row takes it DOWN. */
	assert_int_equal(health_probe_record(p, 0, NULL, 7), 1);
	assert_int_equal(p->state, HEALTH_DOWN);
	assert_true(p->since == 7);
	assert_int_equal(p->nchecks, 7);
	assert_int_equal(p->nfail, 5);
	teardown(&h);
}

static void
test_rise_needs_consecutive_successes(void **state)
{
	struct health h;
	struct health_probe *p;

	setup_groups(&h);
	p = add_probe(&h, "p", HEALTH_G_SHARDS);
	health_probe_record(p, 0, NULL, 1);
	assert_int_equal(p->state, HEALTH_DOWN);

	assert_int_equal(health_probe_record(p, 1, NULL, 2), 0);
	assert_int_equal(health_probe_record(p, 0, NULL, 3), 0);
	assert_int_equal(health_probe_record(p, 1, NULL, 4), 0);
	assert_int_equal(p->state, HEALTH_DOWN);
	assert_int_equal(health_probe_record(p, 1, NULL, 5), 1);
	assert_int_equal(p->state, HEALTH_UP);
	teardown(&h);
}

static void
test_rise_fall_of_one(void **state)
{
	struct health h;
	struct health_probe *p;

	setup_groups(&h);
	p = add_probe(&h, "p", HEALTH_G_DISK);
	p->t.rise = 1;
	p->t.fall = 1;
	health_probe_record(p, 1, NULL, 1);
	assert_int_equal(health_probe_record(p, 0, NULL, 2), 1);
	assert_int_equal(p->state, HEALTH_DOWN);
	assert_int_equal(health_probe_record(p, 1, NULL, 3), 1);
	assert_int_equal(p->state, HEALTH_UP);
	teardown(&h);
}

static void
test_verdict_all_up_is_ok(void **state)
{
	struct health h;
	struct health_verdict v;

	setup_groups(&h);
	set_state(add_probe(&h, "haproxy:be", HEALTH_G_HAPROXY), 1);
	set_state(add_probe(&h, "edge:1", HEALTH_G_EDGES), 1);
	set_state(add_probe(&h, "shard:1", HEALTH_G_SHARDS), 1);
	set_state(add_probe(&h, "agent", HEALTH_G_AGENT), 1);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_OK);
	assert_string_equal(v.detail, "");
	assert_int_equal(h.groups[HEALTH_G_EDGES].nmembers, 1);
	assert_int_equal(h.groups[HEALTH_G_EDGES].nup, 1);
	teardown(&h);
}

static void
test_verdict_unknown_is_not_down(void **state)
{
	struct health h;
	struct health_verdict v;

	setup_groups(&h);
	add_probe(&h, "haproxy", HEALTH_G_HAPROXY);
	add_probe(&h, "edge:1", HEALTH_G_EDGES);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_OK);
	assert_int_equal(h.groups[HEALTH_G_EDGES].nup, 0);
	teardown(&h);
}

static void
test_verdict_haproxy_down_is_critical(void **state)
{
	struct health h;
	struct health_verdict v;

	setup_groups(&h);
	set_state(add_probe(&h, "haproxy:be", HEALTH_G_HAPROXY), 0);
	set_state(add_probe(&h, "edge:1", HEALTH_G_EDGES), 1);
	set_state(add_probe(&h, "shard:1", HEALTH_G_SHARDS), 1);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_CRITICAL);
	assert_string_equal(
	    v.detail, "haproxy:be (connect: Connection refused)");
	teardown(&h);
}

static void
test_verdict_one_shard_or_agent_is_degraded(void **state)
{
	struct health h;
	struct health_verdict v;
	struct health_probe *agent;

	setup_groups(&h);
	set_state(add_probe(&h, "haproxy", HEALTH_G_HAPROXY), 1);
	set_state(add_probe(&h, "edge:1", HEALTH_G_EDGES), 1);
	set_state(add_probe(&h, "shard:1", HEALTH_G_SHARDS), 1);
	set_state(add_probe(&h, "shard:2", HEALTH_G_SHARDS), 0);
	agent = add_probe(&h, "agent", HEALTH_G_AGENT);
	set_state(agent, 1);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_DEGRADED);
	assert_non_null(strstr(v.detail, "shard:2"));
	assert_null(strstr(v.detail, "shard:1"));

	set_state(agent, 0);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_DEGRADED);
	assert_non_null(strstr(v.detail, "agent ("));
	teardown(&h);
}

static void
test_verdict_need_counts_members(void **state)
{
	struct health h;
	struct health_verdict v;

	setup_groups(&h);
	h.groups[HEALTH_G_EDGES].need = 1;
	set_state(add_probe(&h, "edge:1", HEALTH_G_EDGES), 0);
	set_state(add_probe(&h, "edge:2", HEALTH_G_EDGES), 1);
	set_state(add_probe(&h, "shard:1", HEALTH_G_SHARDS), 1);
	health_verdict(&h, &v);
	/* One edge of two is enough with need 1, but the DOWN one is
	 * still named. */
	assert_int_equal(v.level, HEALTH_OK);
	assert_non_null(strstr(v.detail, "edge:1"));

	h.groups[HEALTH_G_EDGES].need = 2;
	h.groups[HEALTH_G_EDGES].cls = HEALTH_CLASS_CRITICAL;
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_CRITICAL);
	teardown(&h);
}

static void
test_verdict_no_edge_no_shard_is_critical(void **state)
{
	struct health h;
	struct health_verdict v;
	struct health_probe *e1, *s1;

	setup_groups(&h);
	set_state(add_probe(&h, "haproxy", HEALTH_G_HAPROXY), 1);
	e1 = add_probe(&h, "edge:1", HEALTH_G_EDGES);
	s1 = add_probe(&h, "shard:1", HEALTH_G_SHARDS);
	set_state(e1, 0);
	set_state(s1, 1);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_DEGRADED);

	set_state(s1, 0);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_CRITICAL);
	assert_non_null(strstr(v.detail, "nothing reachable (edges, shards)"));
	assert_non_null(strstr(v.detail, "edge:1"));
	assert_non_null(strstr(v.detail, "shard:1"));

	/* An edge alone keeps the site up. */
	set_state(e1, 1);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_DEGRADED);
	teardown(&h);
}

static void
test_verdict_rule_skips_empty_groups(void **state)
{
	struct health h;
	struct health_verdict v;

	setup_groups(&h);
	set_state(add_probe(&h, "edge:1", HEALTH_G_EDGES), 0);
	health_verdict(&h, &v);
	/* No shard is configured: the edges alone decide the rule. */
	assert_int_equal(v.level, HEALTH_CRITICAL);

	teardown(&h);
	setup_groups(&h);
	set_state(add_probe(&h, "disk", HEALTH_G_DISK), 0);
	health_verdict(&h, &v);
	assert_int_equal(v.level, HEALTH_DEGRADED);
	teardown(&h);
}

static void
test_check_body(void **state)
{
	struct health h;

	setup_groups(&h);
	set_state(add_probe(&h, "edge:1", HEALTH_G_EDGES), 1);
	set_state(add_probe(&h, "agent", HEALTH_G_AGENT), 1);
	health_verdict(&h, &h.verdict);
	health_render_check(&h);
	assert_int_equal(h.check_status, 200);
	assert_string_equal(h.check_body, "MARK ok\n");

	set_state(&h.probes[1], 0);
	health_verdict(&h, &h.verdict);
	health_render_check(&h);
	assert_int_equal(h.check_status, 200);
	assert_string_equal(h.check_body,
	    "MARK degraded: agent (connect: Connection refused)\n");

	h.draining = 1;
	health_verdict(&h, &h.verdict);
	health_render_check(&h);
	assert_int_equal(h.check_status, 503);
	assert_string_equal(h.check_body, "draining\n");

	h.draining = 0;
	set_state(&h.probes[0], 0);
	health_verdict(&h, &h.verdict);
	health_render_check(&h);
	assert_int_equal(h.check_status, 503);
	assert_null(strstr(h.check_body, "MARK"));
	assert_true(strncmp(h.check_body, "critical: ", 10) == 0);
	teardown(&h);
}

static void
test_agentcheck_weight(void **state)
{
	assert_int_equal(health_agentcheck_weight(0, 4), 100);
	assert_int_equal(health_agentcheck_weight(1, 4), 75);
	assert_int_equal(health_agentcheck_weight(2, 4), 50);
	assert_int_equal(health_agentcheck_weight(4, 4), 1);
	assert_int_equal(health_agentcheck_weight(40, 4), 1);
	assert_int_equal(health_agentcheck_weight(3, 0), 100);
	assert_int_equal(health_agentcheck_weight(-1, 4), 100);
}

static void
test_agentcheck_lines(void **state)
{
	struct health_verdict v;
	char line[256];
	size_t n;

	memset(&v, 0, sizeof(v));
	n = health_agentcheck_line(&v, 75, line, sizeof(line));
	assert_string_equal(line, "up ready 75%\n");
	assert_int_equal(n, strlen(line));

	v.level = HEALTH_DEGRADED;
	strcpy(v.detail, "agent (timeout)");
	health_agentcheck_line(&v, 100, line, sizeof(line));
	assert_string_equal(line, "up ready 100%\n");

	v.draining = 1;
	health_agentcheck_line(&v, 100, line, sizeof(line));
	assert_string_equal(line, "up drain\n");

	v.draining = 0;
	v.level = HEALTH_CRITICAL;
	strcpy(v.detail, "haproxy (connect:\nrefused)");
	health_agentcheck_line(&v, 100, line, sizeof(line));
	assert_string_equal(line, "down ready #haproxy (connect: refused)\n");

	/* A long reason is cut; the line still ends in one newline. */
	memset(v.detail, 'x', sizeof(v.detail) - 1);
	v.detail[sizeof(v.detail) - 1] = '\0';
	n = health_agentcheck_line(&v, 100, line, 64);
	assert_int_equal(n, 63);
	assert_int_equal(line[62], '\n');
	assert_null(memchr(line, '\n', 62));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_result_decides),
		cmocka_unit_test(test_fall_needs_consecutive_failures),
		cmocka_unit_test(test_rise_needs_consecutive_successes),
		cmocka_unit_test(test_rise_fall_of_one),
		cmocka_unit_test(test_verdict_all_up_is_ok),
		cmocka_unit_test(test_verdict_unknown_is_not_down),
		cmocka_unit_test(test_verdict_haproxy_down_is_critical),
		cmocka_unit_test(test_verdict_one_shard_or_agent_is_degraded),
		cmocka_unit_test(test_verdict_need_counts_members),
		cmocka_unit_test(test_verdict_no_edge_no_shard_is_critical),
		cmocka_unit_test(test_verdict_rule_skips_empty_groups),
		cmocka_unit_test(test_check_body),
		cmocka_unit_test(test_agentcheck_weight),
		cmocka_unit_test(test_agentcheck_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
