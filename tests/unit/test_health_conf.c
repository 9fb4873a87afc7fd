/*
 * Unit tests of route53-health/health_conf.c: the [health] section's
 * defaults, the probes and groups built from it, and the errors that stop
 * start-up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route53-health/health.h"

static int
load(const char *text, struct health_settings *s, char *err)
{
	return conf_load_buffer(&health_schema, "/tmp/t.conf", text,
	    strlen(text), s, err, CONF_ERRLEN);
}

static void
test_defaults_and_probes(void **state)
{
	static const char text[] =
	    "[health]\n"
	    "listen = 127.0.0.1:24080\n"
	    "haproxy_stats = /run/haproxy.sock\n"
	    "haproxy_backends = be_edges/2 be_shards\n"
	    "edges = 127.0.0.1:24101, e2=127.0.0.1:24102\n"
	    "shards = s1=127.0.0.1:24201\n"
	    "agent = 127.0.0.1:24301\n"
	    "store_path = /tmp\n"
	    "shards_interval = 500ms\n"
	    "shards_timeout = 400ms\n"
	    "shards_fall = 5\n";
	struct health_settings s;
	struct health h;
	char err[CONF_ERRLEN];

	assert_int_equal(load(text, &s, err), 0);
	assert_int_equal(health_build(&h, &s, err, sizeof(err)), 0);
	assert_string_equal(h.path, "/health");
	assert_string_equal(h.marker, "PARLEY-HEALTHY");
	assert_true(h.disk_min_free_pct == 5);
	assert_int_equal(h.nprobes, 7);

	assert_string_equal(h.probes[0].name, "haproxy:be_edges");
	assert_string_equal(h.probes[0].backend, "be_edges");
	assert_int_equal(h.probes[0].min_up, 2);
	assert_int_equal(h.probes[1].min_up, 1);
	assert_string_equal(h.probes[2].name, "edge:127.0.0.1:24101");
	assert_string_equal(h.probes[3].name, "edge:e2");
	assert_int_equal(health_addr_port(&h.probes[3].addr), 24102);
	assert_string_equal(h.probes[4].name, "shard:s1");
	assert_true(h.probes[4].t.interval == 0.5);
	assert_true(h.probes[4].t.timeout == 0.4);
	assert_int_equal(h.probes[4].t.fall, 5);
	assert_int_equal(h.probes[4].t.rise, 2);
	assert_true(h.probes[2].t.interval == 2);
	assert_int_equal(h.probes[5].kind, HEALTH_KIND_AGENT);
	assert_int_equal(h.probes[6].kind, HEALTH_KIND_DISK);
	assert_string_equal(h.probes[6].dir, "/tmp");

	assert_int_equal(h.groups[HEALTH_G_HAPROXY].cls, HEALTH_CLASS_CRITICAL);
	assert_int_equal(h.groups[HEALTH_G_SHARDS].cls, HEALTH_CLASS_DEGRADED);
	assert_true(h.groups[HEALTH_G_EDGES].critical_if_none);
	assert_true(h.groups[HEALTH_G_SHARDS].critical_if_none);
	assert_false(h.groups[HEALTH_G_AGENT].critical_if_none);
	health_free(&h);
	conf_free(&health_schema, &s);
}

static void
test_sizes_and_classes(void **state)
{
	static const char text[] = "[health]\n"
	                           "agent_check_listen = 127.0.0.1:24081\n"
	                           "disk_min_free = 2G\n"
	                           "agent_class = critical\n"
	                           "edges_need = 1\n"
	                           "critical_if_none = edges\n"
	                           "load = sessions\n"
	                           "capacity = 500\n";
	struct health_settings s;
	struct health h;
	char err[CONF_ERRLEN];

	assert_int_equal(load(text, &s, err), 0);
	assert_int_equal(health_build(&h, &s, err, sizeof(err)), 0);
	assert_true(h.disk_min_free_bytes == 2ULL << 30);
	assert_true(h.disk_min_free_pct == 0);
	assert_int_equal(h.groups[HEALTH_G_AGENT].cls, HEALTH_CLASS_CRITICAL);
	assert_int_equal(h.groups[HEALTH_G_EDGES].need, 1);
	assert_false(h.groups[HEALTH_G_SHARDS].critical_if_none);
	assert_int_equal(h.load, HEALTH_LOAD_SESSIONS);
	assert_true(h.capacity == 500);
	assert_int_equal(h.nprobes, 0);
	health_free(&h);
	conf_free(&health_schema, &s);
}

static void
expect_error(const char *body, const char *reason)
{
	char text[1024], err[CONF_ERRLEN];
	struct health_settings s;

	snprintf(text, sizeof(text), "[health]\n%s", body);
	assert_int_equal(load(text, &s, err), -1);
	if (strstr(err, reason) == NULL)
		fail_msg("expected \"%s\", got \"%s\"", reason, err);
}

static void
test_errors(void **state)
{
	expect_error("path = /h\n", "needs listen");
	expect_error("listen_tls = 127.0.0.1:1\n", "needs tls_cert");
	expect_error(
	    "listen = 127.0.0.1:1\npath = health\n", "paths must start with /");
	expect_error(
	    "listen = 127.0.0.1:1\ndisk_min_free = 5q\n", "disk_min_free");
	expect_error(
	    "listen = 127.0.0.1:1\ndisk_min_free = 150%\n", "disk_min_free");
	expect_error("listen = 127.0.0.1:1\nload = cpu\n", "load:");
	expect_error(
	    "listen = 127.0.0.1:1\nedges_class = fatal\n", "edges_class");
	expect_error(
	    "listen = 127.0.0.1:1\ncritical_if_none = edges x\n", "no group x");
	expect_error("listen = 127.0.0.1:1\nedges = 127.0.0.1\n", "edges:");
	expect_error("listen = 127.0.0.1:1\nhaproxy_backends = be\n",
	    "needs haproxy_stats");
	expect_error("listen = 127.0.0.1:1\nhaproxy_stats = /s\n"
	             "haproxy_backends = be/x\n",
	    "BACKEND/MIN");
	expect_error("listen = 127.0.0.1:1\nagent = 127.0.0.1:2\n"
	             "timeout = 3s\n",
	    "timeout above interval");
	expect_error("listen = 127.0.0.1:1\nbogus = 1\n", "bogus");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_probes),
		cmocka_unit_test(test_sizes_and_classes),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
