/*
 * /healthz of the backend's HTTP front over a real loopback socket, with
 * the loop on its own thread: 200 while the store reads and its writer
 * runs; 503 when the environment could not be reopened after a fatal
 * error (and 200 again once a write reopened it), and 503 once the
 * writer thread has stopped.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "http.h"
#include "log.h"
#include "token.h"
#include "backend/store_int.h"

static char dir[64];
static struct ev_loop *loop;
static ev_async wake;
static pthread_t loop_thread;
static uint16_t port;

static void
wake_cb(struct ev_loop *l, ev_async *w, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

static void *
loop_main(void *arg)
{
	ev_run(loop, 0);
	return NULL;
}

static void
loop_start(void)
{
	assert_int_equal(
	    pthread_create(&loop_thread, NULL, loop_main, NULL), 0);
}

static void
loop_stop(void)
{
	ev_async_send(loop, &wake);
	pthread_join(loop_thread, NULL);
}

/* GET path; returns the status, the body in body. */
static int
get(const char *path, char *body, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char req[256], buf[8192];
	size_t got = 0;
	ssize_t n;
	int fd, status = 0;
	char *b;

	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (got < sizeof(buf) - 1 &&
	    (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &status), 1);
	b = strstr(buf, "\r\n\r\n");
	snprintf(body, len, "%s", b ? b + 4 : "");
	return status;
}

/* A write from this thread; waits for its done on the loop thread. */
struct wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc;
};

static int
noop_apply(struct store_txn *t, void *arg)
{
	return STORE_OK;
}

static void
wait_done(void *arg, int rc)
{
	struct wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->rc = rc;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int
write_one(struct store *st)
{
	struct wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		0, 0 };

	assert_int_equal(store_submit(st, noop_apply, wait_done, &w), 0);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	return w.rc;
}

static void
test_healthz(void **state)
{
	static const char keytext[] = "k1 "
	                              "00112233445566778899aabbccddeeff"
	                              "00112233445566778899aabbccddeeff\n";
	struct store_config cfg = { 0 };
	struct token_keys *keys;
	struct api_limits lim;
	struct api_ctx *api;
	struct api_http *h;
	struct store *st;
	char err[256], body[4096], a[128], b[128];

	snprintf(dir, sizeof(dir), "/tmp/parley-health-XXXXXX");
	assert_non_null(mkdtemp(dir));
	cfg.data_dir = dir;
	st = store_open(&cfg, 1, 0, err, sizeof(err));
	assert_non_null(st);
	loop = ev_loop_new(0);
	ev_async_init(&wake, wake_cb);
	ev_async_start(loop, &wake);
	assert_int_equal(store_writer_start(st, loop), 0);
	keys =
	    token_keys_parse("k", keytext, strlen(keytext), err, sizeof(err));
	assert_non_null(keys);
	api_limits_default(&lim);
	lim.workers = 1;
	api = api_ctx_new(loop, st, keys, &lim);
	h = api_http_new(loop, api, NULL, 0);
	assert_int_equal(
	    http_server_listen(api_http_server(h), "127.0.0.1", "0", NULL), 0);
	port = http_server_port(api_http_server(h), 0);
	loop_start();

	assert_int_equal(get("/healthz", body, sizeof(body)), 200);
	assert_non_null(strstr(body, "\"reads\":true"));
	assert_non_null(strstr(body, "\"writer\":true"));

	/*
	 * The files go away and a fatal error makes the writer reopen the
	 * environment: the reopen fails, nothing can be read.
	 */
	snprintf(a, sizeof(a), "%s/data.mdb", dir);
	snprintf(b, sizeof(b), "%s/data.away", dir);
	assert_int_equal(rename(a, b), 0);
	st->inject_panic = 1;
	assert_int_equal(write_one(st), STORE_ERR_INTERNAL);
	assert_int_equal(get("/healthz", body, sizeof(body)), 503);
	assert_non_null(strstr(body, "\"reads\":false"));
	assert_non_null(strstr(body, "\"status\":\"unavailable\""));

	/* The files are back: the next write reopens, health is back. */
	assert_int_equal(rename(b, a), 0);
	assert_int_equal(write_one(st), STORE_OK);
	assert_int_equal(get("/healthz", body, sizeof(body)), 200);
	assert_non_null(strstr(body, "\"reads\":true"));

	/* The writer stops: reads work, but writes cannot be served. */
	loop_stop();
	store_writer_stop(st);
	loop_start();
	assert_int_equal(get("/healthz", body, sizeof(body)), 503);
	assert_non_null(strstr(body, "\"reads\":true"));
	assert_non_null(strstr(body, "\"writer\":false"));

	loop_stop();
	api_http_free(h);
	api_ctx_free(api);
	store_close(st);
	token_keys_free(keys);
	ev_async_stop(loop, &wake);
	ev_loop_destroy(loop);
	snprintf(body, sizeof(body), "rm -rf %s", dir);
	assert_int_equal(system(body), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthz),
	};

	log_init("test_backend_health", 0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
