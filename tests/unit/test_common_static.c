/*
 * Unit tests of common/static.c: path cleaning (escapes, dot segments,
 * NUL, backslashes, encoded separators), content types, and serving a
 * temporary web root through a real HTTP server on a socketpair: 200
 * with headers, HEAD, 304 on a matching ETag, 404 for a missing file, a
 * directory and a symbolic link out of the root, 400 for traversal, 405
 * for POST.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "static.h"

static char *
clean(const char *path)
{
	static char out[STATIC_PATH_MAX + 16];

	if (static_path_clean(path, strlen(path), out, sizeof(out)) == -1)
		return NULL;
	return out;
}

static void
test_clean_ok(void **state)
{
	assert_string_equal(clean("/"), "index.html");
	assert_string_equal(clean("/index.html"), "index.html");
	assert_string_equal(clean("/js/app.js"), "js/app.js");
	assert_string_equal(clean("//js///app.js"), "js/app.js");
	assert_string_equal(clean("/js/"), "js/index.html");
	assert_string_equal(clean("/a%20b.txt"), "a b.txt");
	assert_string_equal(clean("/caf%C3%A9.css"), "caf\xc3\xa9.css");
	assert_string_equal(clean("/a..b"), "a..b");
}

static void
test_clean_refused(void **state)
{
	static const char *const bad[] = {
		"", "js/app.js", "http://x/index.html", "/..", "/../etc/passwd",
		"/js/../../etc/passwd", "/./index.html", "/js/.", "/%2e%2e/x",
		"/%2E%2E/x", "/.%2e/x", "/%2e/x", "/js%2f..%2fx", "/a%00b",
		"/a%0ab", "/a\\b", "/a%5cb", "/%", "/%4", "/%zz",
		"/.git/config", "/.htaccess", "/a/%2e%2e", "/a%7f",
	};
	char big[STATIC_PATH_MAX + 2], out[16];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (clean(bad[i]) != NULL)
			fail_msg("accepted %s", bad[i]);

	/* A raw NUL inside the given length. */
	assert_int_equal(static_path_clean("/a\0b", 4, out, sizeof(out)), -1);

	/* Too long, and too long for out. */
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	assert_int_equal(static_path_clean(big, sizeof(big), out,
	    sizeof(out)), -1);
	assert_int_equal(static_path_clean("/abcdefghijklmnopq", 18, out,
	    sizeof(out)), -1);
}

static void
test_types(void **state)
{
	assert_string_equal(static_content_type("index.html"),
	    "text/html; charset=utf-8");
	assert_string_equal(static_content_type("js/app.js"),
	    "text/javascript; charset=utf-8");
	assert_string_equal(static_content_type("app.CSS"),
	    "text/css; charset=utf-8");
	assert_string_equal(static_content_type("img/a.svg"),
	    "image/svg+xml");
	assert_string_equal(static_content_type("x.js/README"),
	    "application/octet-stream");
	assert_string_equal(static_content_type("noext"),
	    "application/octet-stream");
}

/* ---- serving ---- */

static struct ev_loop *loop;
static struct http_server *srv;
static struct static_root *root;
static char tmp[64], outside[64];
static int cfd = -1;

static void
handler(struct http_req *req, void *arg)
{
	static_serve(root, req);
}

static void
put(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	char p[256], err[256];
	int sv[2];

	snprintf(tmp, sizeof(tmp), "/tmp/parley-static-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	snprintf(outside, sizeof(outside), "/tmp/parley-outside-XXXXXX");
	assert_non_null(mkdtemp(outside));
	snprintf(p, sizeof(p), "%s/js", tmp);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub", tmp);
	assert_int_equal(mkdir(p, 0700), 0);
	put("index.html", "<!doctype html><title>t</title>\n");
	put("js/app.js", "export const x = 1;\n");
	snprintf(p, sizeof(p), "%s/secret.txt", outside);
	{
		FILE *f = fopen(p, "w");

		assert_non_null(f);
		fputs("secret\n", f);
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/leak.txt", tmp);
	{
		char target[256];

		snprintf(target, sizeof(target), "%s/secret.txt", outside);
		assert_int_equal(symlink(target, p), 0);
	}
	snprintf(p, sizeof(p), "%s/alias.js", tmp);
	assert_int_equal(symlink("js/app.js", p), 0);

	root = static_root_open(tmp, err, sizeof(err));
	assert_non_null(root);
	loop = ev_loop_new(EVFLAG_AUTO);
	srv = http_server_new(loop, NULL, handler, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(http_server_adopt(srv, sv[0], NULL), 0);
	cfd = sv[1];
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	close(cfd);
	cfd = -1;
	http_server_free(srv);
	conn_loop_free(loop);
	ev_loop_destroy(loop);
	static_root_free(root);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", tmp, outside);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Sends req and returns what came back once the server went quiet. */
static char *
ask(const char *req)
{
	static char buf[65536];
	size_t len = 0;
	ssize_t n;
	int i, idle = 0;

	assert_int_equal(write(cfd, req, strlen(req)), (ssize_t)strlen(req));
	while (idle < 3 && len < sizeof(buf) - 1) {
		for (i = 0; i < 10; i++)
			ev_run(loop, EVRUN_NOWAIT);
		n = read(cfd, buf + len, sizeof(buf) - 1 - len);
		if (n > 0) {
			len += (size_t)n;
			idle = 0;
		} else {
			idle++;
		}
	}
	buf[len] = '\0';
	return buf;
}

static void
get_status(const char *path, const char *status)
{
	char req[512];
	char *res;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
	    path);
	res = ask(req);
	if (strncmp(res, status, strlen(status)) != 0)
		fail_msg("GET %s: wanted %s, got %.40s", path, status, res);
}

static void
test_serve(void **state)
{
	char *res, etag[64], req[256];
	const char *p, *e;

	res = ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_true(strncmp(res, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(res, "Content-Type: text/html; charset=utf-8"));
	assert_non_null(strstr(res, "Cache-Control: no-cache"));
	assert_non_null(strstr(res, "Content-Security-Policy: "));
	assert_non_null(strstr(res, "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(res, "Last-Modified: "));
	assert_non_null(strstr(res, "<title>t</title>"));

	res = ask("GET /js/app.js?v=1 HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_true(strncmp(res, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(res, "text/javascript"));
	assert_null(strstr(res, "Content-Security-Policy"));
	assert_non_null(strstr(res, "export const x = 1;"));
	p = strstr(res, "ETag: ");
	assert_non_null(p);
	p += 6;
	e = strchr(p, '\r');
	assert_non_null(e);
	snprintf(etag, sizeof(etag), "%.*s", (int)(e - p), p);

	/* Revalidation. */
	snprintf(req, sizeof(req), "GET /js/app.js HTTP/1.1\r\nHost: x\r\n"
	    "If-None-Match: \"zz\", %s\r\n\r\n", etag);
	res = ask(req);
	assert_true(strncmp(res, "HTTP/1.1 304", 12) == 0);
	assert_null(strstr(res, "export const"));
	res = ask("GET /js/app.js HTTP/1.1\r\nHost: x\r\n"
	    "If-None-Match: \"other\"\r\n\r\n");
	assert_true(strncmp(res, "HTTP/1.1 200", 12) == 0);

	/* HEAD: headers, the real length, no body. */
	res = ask("HEAD /js/app.js HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_true(strncmp(res, "HTTP/1.1 200", 12) == 0);
	assert_null(strstr(res, "export const"));

	/* A symbolic link inside the root is followed. */
	get_status("/alias.js", "HTTP/1.1 200");

	get_status("/missing.js", "HTTP/1.1 404");
	get_status("/sub", "HTTP/1.1 404");
	get_status("/sub/", "HTTP/1.1 404");
	get_status("/leak.txt", "HTTP/1.1 404");
	get_status("/../secret.txt", "HTTP/1.1 400");
	get_status("/%2e%2e/%2e%2e/etc/passwd", "HTTP/1.1 400");
	get_status("/js/..%2f..%2fetc/passwd", "HTTP/1.1 400");
	get_status("/a%00.js", "HTTP/1.1 400");

	res = ask("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	assert_true(strncmp(res, "HTTP/1.1 405", 12) == 0);
	assert_non_null(strstr(res, "Allow: GET, HEAD"));
}

static void
test_root_refused(void **state)
{
	char err[256];

	assert_null(static_root_open("/nonexistent/parley-web", err,
	    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/parley-web"));
	assert_null(static_root_open("/dev/null", err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_ok),
		cmocka_unit_test(test_clean_refused),
		cmocka_unit_test(test_types),
		cmocka_unit_test_setup_teardown(test_serve, setup, teardown),
		cmocka_unit_test(test_root_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
