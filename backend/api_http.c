/*
 * api_http: the backend's HTTP front: /api/<method> to the Web API,
 * /healthz and /metrics.
 *
 *   POST /api/<method>   form or JSON body; GET with a query string too
 *   GET  /healthz        200 while reads and writes can be served,
 *                        else 503
 *   GET  /metrics        Prometheus text
 *   GET  /rtm            the RTM WebSocket (rtm.c)
 *   GET  anything else   a file of the web root, when one is set (static.h)
 *
 * Unparsable HTTP is answered 400 and an oversized body 413 by the HTTP
 * server itself (common/http.c) before anything reaches this file.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "static.h"
#include "token.h"
#include "util.h"
#include "xmalloc.h"

#include "backend/backend.h"

#define API_CTYPE_JSON "application/json; charset=utf-8"

struct api_http {
	struct api_ctx *api;
	struct http_server *srv;
	struct rtm *rtm; /* the WebSocket at /rtm, when set */
	char **trusted;  /* proxies whose X-Forwarded-For is believed */
	size_t ntrusted;
	struct stream_srv *stream; /* the edge stream, for /metrics */
	struct static_root *web; /* the web client's files, when set */
};

static void
api_http_done(struct api_call *c)
{
	struct http_req *r = c->udata;
	char ra[16];

	if (c->status == 429) {
		snprintf(ra, sizeof(ra), "%d", c->retry_after);
		http_reply_header(r, "Retry-After", ra);
	}
	http_reply(r, c->status, API_CTYPE_JSON, c->body, c->len);
}

/* Answers a request for /api/<method>. */
static void
api_http_call(struct api_http *h, struct http_req *r, const char *method,
    int is_get)
{
	struct api_call *c;
	const char *body, *query, *auth, *tok;
	char cookie[TOKEN_MAX_LEN + 8], client[64];
	size_t len, toklen;

	http_req_client(r, h->trusted, h->ntrusted, client, sizeof(client));
	c = api_call_new(h->api, client);
	c->done = api_http_done;
	c->udata = r;
	api_call_set_origin(c, http_req_header(r, "Host"),
	    http_req_header(r, "X-Forwarded-Proto"));
	body = http_req_body(r, &len);
	query = http_req_query(r);
	auth = http_req_header(r, "Authorization");
	if (auth == NULL &&
	    (tok = http_req_cookie(r, API_TOKEN_COOKIE, &toklen)) != NULL &&
	    toklen < sizeof(cookie) - 8) {
		/* The browser's token cookie stands for the header. */
		snprintf(cookie, sizeof(cookie), "Bearer %.*s", (int)toklen,
		    tok);
		auth = cookie;
	}
	api_call_start(c, method, is_get,
	    is_get ? NULL : http_req_header(r, "Content-Type"),
	    is_get ? NULL : body, is_get ? 0 : len, query, strlen(query),
	    auth);
}

/*
 * The health view: 503 when the backend cannot serve (no read
 * transaction can be opened, or the store's writer thread is not
 * running); a full store or a map past 90% of its limit is reported,
 * still 200, since reads work.
 */
static void
api_http_health(struct api_http *h, struct http_req *r)
{
	struct store *st = api_ctx_store(h->api);
	struct store_stats ss;
	struct store_txn *txn;
	json_t *o;
	int reads, writer, high;

	txn = store_rd_begin(st);
	reads = txn != NULL;
	if (txn != NULL)
		store_rd_end(txn);
	writer = store_writer_alive(st);
	store_get_stats(st, &ss);
	high = ss.map_max > 0 && ss.map_used > ss.map_max / 10 * 9;
	o = json_pack("{s:s,s:b,s:b,s:{s:b,s:b,s:I,s:I,s:I}}",
	    "status", reads && writer ? "ok" : "unavailable", "reads", reads,
	    "writer", writer, "store", "full", store_is_full(st), "map_high",
	    high, "map_size", (json_int_t)ss.map_size,
	    "map_used", (json_int_t)ss.map_used,
	    "map_max", (json_int_t)ss.map_max);
	if (reads)
		json_object_set_new(o, "epoch", json_string(store_epoch(st)));
	http_reply_json(r, reads && writer ? 200 : 503, o);
	json_decref(o);
}

static void
api_http_metrics(struct api_http *h, struct http_req *r)
{
	struct store_stats ss;
	struct mallinfo2 mi;
	char *text = NULL;
	size_t len = 0, i, n = api_method_count();
	FILE *f = open_memstream(&text, &len);
	uint64_t cum;
	int b;

	if (f == NULL) {
		http_reply_str(r, 500, "text/plain", "no memory\n");
		return;
	}
	fputs("# HELP parley_api_requests_total Web API requests by method"
	      " and result.\n# TYPE parley_api_requests_total counter\n", f);
	for (i = 0; i < n; i++) {
		const struct api_method_stats *s = api_ctx_stats(h->api, i);
		const char *m = api_method_at(i)->name;

		fprintf(f, "parley_api_requests_total{method=\"%s\","
		    "result=\"ok\"} %llu\n", m, (unsigned long long)s->ok);
		fprintf(f, "parley_api_requests_total{method=\"%s\","
		    "result=\"error\"} %llu\n", m,
		    (unsigned long long)s->error);
		fprintf(f, "parley_api_requests_total{method=\"%s\","
		    "result=\"ratelimited\"} %llu\n", m,
		    (unsigned long long)s->limited);
	}
	fprintf(f, "# TYPE parley_api_unknown_method_total counter\n"
	    "parley_api_unknown_method_total %llu\n",
	    (unsigned long long)api_ctx_unknown(h->api));

	fputs("# HELP parley_api_request_duration_seconds Time from request"
	      " to answer.\n"
	      "# TYPE parley_api_request_duration_seconds histogram\n", f);
	for (i = 0; i < n; i++) {
		const struct api_method_stats *s = api_ctx_stats(h->api, i);
		const char *m = api_method_at(i)->name;
		uint64_t total = s->ok + s->error + s->limited;

		if (total == 0)
			continue;
		cum = 0;
		for (b = 0; b < API_HIST_N; b++) {
			cum += s->hist[b];
			if (b < API_HIST_N - 1)
				fprintf(f, "parley_api_request_duration_"
				    "seconds_bucket{method=\"%s\",le=\"%g\"}"
				    " %llu\n", m, api_hist_bounds[b],
				    (unsigned long long)cum);
			else
				fprintf(f, "parley_api_request_duration_"
				    "seconds_bucket{method=\"%s\",le=\"+Inf\"}"
				    " %llu\n", m, (unsigned long long)cum);
		}
		fprintf(f, "parley_api_request_duration_seconds_sum"
		    "{method=\"%s\"} %.6f\n", m, (double)s->sum_us / 1e6);
		fprintf(f, "parley_api_request_duration_seconds_count"
		    "{method=\"%s\"} %llu\n", m, (unsigned long long)cum);
	}

	store_get_stats(api_ctx_store(h->api), &ss);
	fprintf(f, "# TYPE parley_store_commits_total counter\n"
	    "parley_store_commits_total %llu\n"
	    "# TYPE parley_store_writes_total counter\n"
	    "parley_store_writes_total %llu\n"
	    "# TYPE parley_store_write_failures_total counter\n"
	    "parley_store_write_failures_total %llu\n"
	    "# TYPE parley_store_full_refusals_total counter\n"
	    "parley_store_full_refusals_total %llu\n"
	    "# TYPE parley_store_commit_seconds_total counter\n"
	    "parley_store_commit_seconds_total %.6f\n"
	    "# TYPE parley_store_max_batch gauge\n"
	    "parley_store_max_batch %llu\n"
	    "# TYPE parley_store_map_size_bytes gauge\n"
	    "parley_store_map_size_bytes %llu\n"
	    "# TYPE parley_store_map_used_bytes gauge\n"
	    "parley_store_map_used_bytes %llu\n",
	    (unsigned long long)ss.commits, (unsigned long long)ss.writes,
	    (unsigned long long)ss.failed, (unsigned long long)ss.full,
	    (double)ss.commit_us_total / 1e6,
	    (unsigned long long)ss.max_batch,
	    (unsigned long long)ss.map_size,
	    (unsigned long long)ss.map_used);
	fputs("# HELP parley_store_batch_size Writes per durable commit.\n"
	      "# TYPE parley_store_batch_size histogram\n", f);
	cum = 0;
	for (b = 0; b < STORE_HIST_BUCKETS; b++) {
		cum += ss.batch_hist[b];
		fprintf(f, "parley_store_batch_size_bucket{le=\"%u\"} %llu\n",
		    1u << b, (unsigned long long)cum);
	}
	fprintf(f, "parley_store_batch_size_bucket{le=\"+Inf\"} %llu\n"
	    "parley_store_batch_size_count %llu\n"
	    "parley_store_batch_size_sum %llu\n",
	    (unsigned long long)cum, (unsigned long long)ss.commits,
	    (unsigned long long)ss.writes);
	fprintf(f, "# TYPE parley_http_connections gauge\n"
	    "parley_http_connections %u\n", http_server_nconns(h->srv));
	mi = mallinfo2();
	fprintf(f, "# HELP parley_heap_bytes Bytes malloc has handed out "
	    "and not taken back.\n# TYPE parley_heap_bytes gauge\n"
	    "parley_heap_bytes %zu\n", mi.uordblks + mi.hblkhd);
	rtm_metrics(h->rtm, f);
	stream_metrics(h->stream, f);
	fclose(f);
	http_reply(r, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}

static void
api_http_handler(struct http_req *r, void *arg)
{
	struct api_http *h = arg;
	const char *path = http_req_path(r), *method = http_req_method(r);
	int is_get = strcmp(method, "GET") == 0;
	int is_post = strcmp(method, "POST") == 0;

	if (strncmp(path, "/api/", 5) == 0) {
		if (!is_get && !is_post) {
			http_reply_header(r, "Allow", "GET, POST");
			http_reply_str(r, 405, API_CTYPE_JSON,
			    "{\"ok\":false,\"error\":\"method_not_allowed\"}");
			return;
		}
		api_http_call(h, r, path + 5, is_get);
	} else if (strcmp(path, "/healthz") == 0 && (is_get ||
	    strcmp(method, "HEAD") == 0)) {
		api_http_health(h, r);
	} else if (strcmp(path, "/metrics") == 0 && is_get) {
		api_http_metrics(h, r);
	} else if (strcmp(path, "/rtm") == 0) {
		rtm_upgrade(h->rtm, r);
	} else if (h->web != NULL && strncmp(path, "/api", 4) != 0) {
		static_serve(h->web, r);
	} else {
		http_reply_str(r, 404, API_CTYPE_JSON,
		    "{\"ok\":false,\"error\":\"not_found\"}");
	}
}

struct api_http *
api_http_new(struct ev_loop *loop, struct api_ctx *api,
    const struct http_limits *lim, size_t map_max)
{
	struct api_http *h = xcalloc(1, sizeof(*h));

	h->api = api;
	h->srv = http_server_new(loop, lim, api_http_handler, h);
	return h;
}

void
api_http_set_rtm(struct api_http *h, struct rtm *rtm)
{
	h->rtm = rtm;
}

void
api_http_set_trusted(struct api_http *h, char *const *trusted, size_t n)
{
	size_t i;

	for (i = 0; i < h->ntrusted; i++)
		free(h->trusted[i]);
	free(h->trusted);
	h->trusted = n > 0 ? xcalloc(n, sizeof(*h->trusted)) : NULL;
	for (i = 0; i < n; i++)
		h->trusted[i] = xstrdup(trusted[i]);
	h->ntrusted = n;
}

void
api_http_set_stream(struct api_http *h, struct stream_srv *st)
{
	h->stream = st;
}

void
api_http_set_web(struct api_http *h, struct static_root *web)
{
	h->web = web;
}

struct http_server *
api_http_server(struct api_http *h)
{
	return h->srv;
}

void
api_http_free(struct api_http *h)
{
	if (h == NULL)
		return;
	http_server_free(h->srv);
	api_http_set_trusted(h, NULL, 0);
	free(h);
}
