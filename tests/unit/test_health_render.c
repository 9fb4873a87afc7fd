/*
 * Unit tests of route53-health/health_render.c: the JSON view and the
 * Prometheus text carry each probe's class, state, last result and time,
 * and label values are escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "route53-health/health.h"

static void
setup(struct health *h, struct health_probe *p, size_t n)
{
	static const char *const names[HEALTH_NGROUPS] = { "haproxy", "edges",
		"shards", "agent", "disk" };
	int g;

	memset(h, 0, sizeof(*h));
	for (g = 0; g < HEALTH_NGROUPS; g++)
		h->groups[g].name = names[g];
	h->groups[HEALTH_G_HAPROXY].cls = HEALTH_CLASS_CRITICAL;
	h->marker = strdup("M");
	h->probes = p;
	h->nprobes = n;
	h->started = 1000;
}

static void
test_json_view(void **state)
{
	struct health_probe p[2];
	struct health h;
	json_error_t jerr;
	json_t *root, *probes, *o;
	char n0[] = "haproxy", n1[] = "agent";
	char *out;
	size_t len;

	memset(p, 0, sizeof(p));
	p[0].name = n0;
	p[0].group = HEALTH_G_HAPROXY;
	p[0].t.rise = p[0].t.fall = 1;
	p[0].last_ok = -1;
	p[1].name = n1;
	p[1].group = HEALTH_G_AGENT;
	p[1].t.rise = p[1].t.fall = 1;
	p[1].last_ok = -1;
	setup(&h, p, 2);
	health_probe_record(&p[0], 1, "2 of 2 servers UP, need 1", 1001.5);
	health_probe_record(&p[1], 0, "connect: Connection refused", 1002);
	p[1].last_latency = 0.0125;
	health_verdict(&h, &h.verdict);
	health_render_check(&h);

	out = health_render_json(&h, 1010, &len);
	assert_int_equal(strlen(out), len);
	root = json_loads(out, 0, &jerr);
	assert_non_null(root);
	assert_string_equal(
	    json_string_value(json_object_get(root, "status")), "degraded");
	assert_int_equal(
	    json_integer_value(json_object_get(root, "http_status")), 200);
	assert_true(json_is_false(json_object_get(root, "draining")));
	assert_true(json_real_value(json_object_get(root, "uptime")) == 10);
	assert_int_equal(json_array_size(json_object_get(root, "groups")), 2);

	probes = json_object_get(root, "probes");
	assert_int_equal(json_array_size(probes), 2);
	o = json_array_get(probes, 1);
	assert_string_equal(
	    json_string_value(json_object_get(o, "name")), "agent");
	assert_string_equal(
	    json_string_value(json_object_get(o, "class")), "degraded");
	assert_string_equal(
	    json_string_value(json_object_get(o, "state")), "down");
	assert_true(json_is_false(json_object_get(o, "last_ok")));
	assert_string_equal(
	    json_string_value(json_object_get(o, "last_result")),
	    "connect: Connection refused");
	assert_true(json_real_value(json_object_get(o, "last_time")) == 1002);
	assert_true(
	    json_real_value(json_object_get(o, "last_latency_ms")) == 12.5);
	assert_int_equal(json_integer_value(json_object_get(o, "failures")), 1);
	o = json_array_get(probes, 0);
	assert_string_equal(
	    json_string_value(json_object_get(o, "class")), "critical");
	assert_string_equal(
	    json_string_value(json_object_get(o, "state")), "up");
	json_decref(root);
	free(out);
	free(h.marker);
	free(h.check_body);
	buf_unref(h.check_buf);
}

static void
test_metrics_text(void **state)
{
	struct health_probe p[1];
	struct health h;
	char n0[] = "edge:a\"b\\c";
	char *out;
	size_t len;

	memset(p, 0, sizeof(p));
	p[0].name = n0;
	p[0].group = HEALTH_G_EDGES;
	p[0].t.rise = p[0].t.fall = 1;
	setup(&h, p, 1);
	health_probe_record(&p[0], 0, "HTTP 503", 1001);
	h.nrequests = 7;
	h.draining = 1;
	health_verdict(&h, &h.verdict);
	health_render_check(&h);

	out = health_render_metrics(&h, 1002, &len);
	assert_int_equal(strlen(out), len);
	assert_non_null(strstr(out, "parley_health_status 1\n"));
	assert_non_null(strstr(out, "parley_health_draining 1\n"));
	assert_non_null(strstr(out, "parley_health_check_status 503\n"));
	assert_non_null(strstr(out, "parley_health_requests_total 7\n"));
	assert_non_null(strstr(out,
	    "parley_health_probe_up{probe=\"edge:a\\\"b\\\\c\","
	    "group=\"edges\",class=\"degraded\"} 0\n"));
	assert_non_null(strstr(out,
	    "parley_health_probe_failures_total{probe=\"edge:a\\\"b\\\\c\"} "
	    "1\n"));
	free(out);
	free(h.marker);
	free(h.check_body);
	buf_unref(h.check_buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_view),
		cmocka_unit_test(test_metrics_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
