/*
 * health_render: what the listeners answer, built from memory only.
 *
 * The check body is rebuilt whenever the verdict changes, so a check costs
 * a copy.  The JSON view and the metrics are built per request; they read
 * the same in-memory state and never wait for a probe.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "health.h"
#include "xmalloc.h"

/*
 * Rebuilds h->check_status and h->check_body from h->verdict:
 *   200 "<marker> ok\n"
 *   200 "<marker> degraded: <what>\n"
 *   503 "draining\n"
 *   503 "critical: <what>\n"
 * The marker leads the body so that Route 53's string matching, which
 * reads the first 5,120 bytes, always finds it; it never appears in a
 * 503 body.
 */
void
health_render_check(struct health *h)
{
	const struct health_verdict *v = &h->verdict;
	char *body;

	if (v->draining)
		body = xasprintf("draining%s%s\n",
		    v->level == HEALTH_CRITICAL ? "; critical: " : "",
		    v->level == HEALTH_CRITICAL ? v->detail : "");
	else if (v->level == HEALTH_CRITICAL)
		body = xasprintf("critical: %s\n", v->detail);
	else if (v->level == HEALTH_DEGRADED)
		body = xasprintf("%s degraded: %s\n", h->marker, v->detail);
	else
		body = xasprintf("%s ok\n", h->marker);

	free(h->check_body);
	h->check_body = body;
	h->check_len = strlen(body);
	buf_unref(h->check_buf);
	h->check_buf = buf_from(body, h->check_len);
	h->check_status =
	    v->draining || v->level == HEALTH_CRITICAL ? 503 : 200;
}

/* A JSON number for a time, or null before it happened. */
static json_t *
render_time(double t)
{
	return t > 0 ? json_real(floor(t * 1000.0) / 1000.0) : json_null();
}

/*
 * Returns the JSON view (malloc'd, *lenp bytes, NUL-terminated): the
 * verdict, each group and each probe with its class, state, last result
 * and its time.  now is the wall clock.
 */
char *
health_render_json(struct health *h, double now, size_t *lenp)
{
	json_t *root, *groups, *probes;
	char *out;
	size_t i;
	int g;

	root = json_object();
	json_object_set_new(
	    root, "status", json_string(health_level_name(h->verdict.level)));
	json_object_set_new(root, "http_status", json_integer(h->check_status));
	json_object_set_new(
	    root, "draining", json_boolean(h->verdict.draining));
	json_object_set_new(root, "detail", json_string(h->verdict.detail));
	json_object_set_new(root, "time", render_time(now));
	json_object_set_new(root, "uptime",
	    json_real(floor((now - h->started) * 1000.0) / 1000.0));

	groups = json_array();
	for (g = 0; g < HEALTH_NGROUPS; g++) {
		const struct health_group *grp = &h->groups[g];

		if (grp->nmembers == 0)
			continue;
		json_array_append_new(groups,
		    json_pack("{s:s, s:s, s:i, s:i, s:i, s:b}", "name",
		        grp->name, "class", health_class_name(grp->cls), "need",
		        grp->need > 0 ? grp->need : grp->nmembers, "members",
		        grp->nmembers, "up", grp->nup, "critical_if_none",
		        grp->critical_if_none));
	}
	json_object_set_new(root, "groups", groups);

	probes = json_array();
	for (i = 0; i < h->nprobes; i++) {
		const struct health_probe *p = &h->probes[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(p->name));
		json_object_set_new(
		    o, "kind", json_string(health_kind_name(p->kind)));
		json_object_set_new(
		    o, "group", json_string(h->groups[p->group].name));
		json_object_set_new(o, "class",
		    json_string(health_class_name(h->groups[p->group].cls)));
		json_object_set_new(
		    o, "state", json_string(health_pstate_name(p->state)));
		json_object_set_new(o, "last_ok",
		    p->last_ok < 0 ? json_null() : json_boolean(p->last_ok));
		json_object_set_new(o, "last_result",
		    json_string(p->last_ok < 0 ? "" : p->last_msg));
		json_object_set_new(o, "last_time", render_time(p->last_time));
		json_object_set_new(o, "last_latency_ms",
		    json_real(floor(p->last_latency * 1e6) / 1e3));
		json_object_set_new(o, "since", render_time(p->since));
		json_object_set_new(
		    o, "checks", json_integer((json_int_t)p->nchecks));
		json_object_set_new(
		    o, "failures", json_integer((json_int_t)p->nfail));
		json_array_append_new(probes, o);
	}
	json_object_set_new(root, "probes", probes);

	out = json_dumps(root,
	    JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(13));
	json_decref(root);
	if (out == NULL)
		out = xstrdup("{}");
	*lenp = strlen(out);
	return out;
}

/* A growing text buffer for the metrics. */
struct render_buf {
	char *p;
	size_t len, cap;
};

static void rb_printf(struct render_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
rb_printf(struct render_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap *= 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
}

/* Copies s into a label value with \, " and newline escaped. */
static const char *
render_label(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < outlen; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * Returns the Prometheus text exposition (malloc'd, *lenp bytes): the
 * verdict, drain, requests served, and per probe its state, last latency
 * and counts of checks and failures.
 */
char *
health_render_metrics(struct health *h, double now, size_t *lenp)
{
	struct render_buf b = { xmalloc(4096), 0, 4096 };
	char name[HEALTH_MSG_MAX * 2], labels[512];
	size_t i;

	rb_printf(&b,
	    "# HELP parley_health_status Verdict: 0 ok, 1 degraded, "
	    "2 critical.\n"
	    "# TYPE parley_health_status gauge\n"
	    "parley_health_status %d\n"
	    "# HELP parley_health_draining 1 while drained.\n"
	    "# TYPE parley_health_draining gauge\n"
	    "parley_health_draining %d\n"
	    "# HELP parley_health_check_status HTTP status of the check.\n"
	    "# TYPE parley_health_check_status gauge\n"
	    "parley_health_check_status %d\n"
	    "# HELP parley_health_requests_total HTTP requests answered.\n"
	    "# TYPE parley_health_requests_total counter\n"
	    "parley_health_requests_total %llu\n"
	    "# HELP parley_health_agent_checks_total Agent-check lines "
	    "sent.\n"
	    "# TYPE parley_health_agent_checks_total counter\n"
	    "parley_health_agent_checks_total %llu\n"
	    "# HELP parley_health_uptime_seconds Seconds since start.\n"
	    "# TYPE parley_health_uptime_seconds gauge\n"
	    "parley_health_uptime_seconds %.3f\n",
	    (int)h->verdict.level, h->verdict.draining, h->check_status,
	    (unsigned long long)h->nrequests, (unsigned long long)h->nagent,
	    now - h->started);

	rb_printf(&b,
	    "# HELP parley_health_probe_up 1 up, 0 down, "
	    "-1 unknown.\n"
	    "# TYPE parley_health_probe_up gauge\n");
	for (i = 0; i < h->nprobes; i++) {
		const struct health_probe *p = &h->probes[i];

		snprintf(labels, sizeof(labels),
		    "probe=\"%s\",group=\"%s\",class=\"%s\"",
		    render_label(p->name, name, sizeof(name)),
		    h->groups[p->group].name,
		    health_class_name(h->groups[p->group].cls));
		rb_printf(&b, "parley_health_probe_up{%s} %d\n", labels,
		    p->state == HEALTH_UP         ? 1
		        : p->state == HEALTH_DOWN ? 0
		                                  : -1);
	}
	rb_printf(&b,
	    "# HELP parley_health_probe_latency_seconds Duration "
	    "of the last check.\n"
	    "# TYPE parley_health_probe_latency_seconds gauge\n");
	for (i = 0; i < h->nprobes; i++)
		rb_printf(&b,
		    "parley_health_probe_latency_seconds{probe=\"%s\"} %.6f\n",
		    render_label(h->probes[i].name, name, sizeof(name)),
		    h->probes[i].last_latency);
	rb_printf(&b,
	    "# HELP parley_health_probe_checks_total Checks run.\n"
	    "# TYPE parley_health_probe_checks_total counter\n");
	for (i = 0; i < h->nprobes; i++)
		rb_printf(&b,
		    "parley_health_probe_checks_total{probe=\"%s\"} %llu\n",
		    render_label(h->probes[i].name, name, sizeof(name)),
		    (unsigned long long)h->probes[i].nchecks);
	rb_printf(&b,
	    "# HELP parley_health_probe_failures_total Checks "
	    "failed.\n"
	    "# TYPE parley_health_probe_failures_total counter\n");
	for (i = 0; i < h->nprobes; i++)
		rb_printf(&b,
		    "parley_health_probe_failures_total{probe=\"%s\"} %llu\n",
		    render_label(h->probes[i].name, name, sizeof(name)),
		    (unsigned long long)h->probes[i].nfail);

	*lenp = b.len;
	return b.p;
}
