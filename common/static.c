/*
 * static: the web root's files over HTTP (see static.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "static.h"
#include "util.h"
#include "xmalloc.h"

#define STATIC_CSP                                                       \
	"default-src 'self'; script-src 'self'; style-src 'self'; "      \
	"img-src 'self' data:; connect-src 'self' ws: wss: http: https:; " \
	"object-src 'none'; base-uri 'none'; form-action 'self'; "       \
	"frame-ancestors 'none'"

struct static_root {
	char *dir; /* realpath of the root, without a trailing '/' */
	size_t dirlen;
};

static const struct {
	const char *ext;
	const char *type;
} static_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "webmanifest", "application/manifest+json" },
	{ "map", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "ico", "image/x-icon" },
	{ "jpg", "image/jpeg" },
	{ "webp", "image/webp" },
	{ "woff2", "font/woff2" },
};

struct static_root *
static_root_open(const char *dir, char *err, size_t errlen)
{
	struct static_root *root;
	struct stat st;
	char *real;

	real = realpath(dir, NULL);
	if (real == NULL) {
		snprintf(err, errlen, "web root %s: %s", dir, strerror(errno));
		return NULL;
	}
	if (stat(real, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "web root %s: not a directory", dir);
		free(real);
		return NULL;
	}
	root = xcalloc(1, sizeof(*root));
	root->dir = real;
	root->dirlen = strlen(real);
	/* "/" as the root keeps no trailing slash: every path adds one. */
	if (root->dirlen == 1)
		root->dirlen = 0;
	return root;
}

void
static_root_free(struct static_root *root)
{
	if (root == NULL)
		return;
	free(root->dir);
	free(root);
}

static int
static_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Checks one decoded segment (len bytes, not empty) and appends it to
 * out at *o with a '/' before it unless it is the first.  0 or -1.
 */
static int
static_add_segment(const char *seg, size_t len, char *out, size_t outlen,
    size_t *o)
{
	size_t i;

	if (seg[0] == '.')
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)seg[i];

		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			return -1;
	}
	if (*o + (*o > 0) + len + 1 > outlen)
		return -1;
	if (*o > 0)
		out[(*o)++] = '/';
	memcpy(out + *o, seg, len);
	*o += len;
	out[*o] = '\0';
	return 0;
}

int
static_path_clean(const char *path, size_t len, char *out, size_t outlen)
{
	char seg[STATIC_PATH_MAX];
	size_t i, s = 0, o = 0;
	int hi, lo, dir = 1;

	if (outlen == 0 || len == 0 || len > STATIC_PATH_MAX || path[0] != '/')
		return -1;
	out[0] = '\0';

	/* Walk the raw path; a raw '/' ends a segment, an escaped one is
	 * refused so that no decoded byte can make a separator. */
	for (i = 1; i <= len; i++) {
		char ch;

		if (i == len || path[i] == '/') {
			if (s > 0) {
				if (static_add_segment(seg, s, out, outlen,
				    &o) == -1)
					return -1;
				dir = 0;
			}
			if (i < len)
				dir = 1;
			s = 0;
			continue;
		}
		ch = path[i];
		if (ch == '%') {
			if (i + 2 >= len)
				return -1;
			hi = static_hexval(path[i + 1]);
			lo = static_hexval(path[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = (char)(hi * 16 + lo);
			if (ch == '/' || ch == '\0')
				return -1;
			i += 2;
		} else if (ch == '\0') {
			return -1;
		}
		seg[s++] = ch;
	}

	if (dir && static_add_segment("index.html", 10, out, outlen, &o) ==
	    -1)
		return -1;
	return (int)o;
}

const char *
static_content_type(const char *name)
{
	const char *base = strrchr(name, '/'), *dot;
	size_t i;

	base = base != NULL ? base + 1 : name;
	dot = strrchr(base, '.');
	if (dot != NULL)
		for (i = 0; i < UTIL_ARRAY_LEN(static_types); i++)
			if (strcasecmp(dot + 1, static_types[i].ext) == 0)
				return static_types[i].type;
	return "application/octet-stream";
}

/*
 * Opens rel under the root: the resolved path must stay inside it and
 * be a regular file of at most STATIC_FILE_MAX bytes.  Returns the
 * descriptor with *st filled, or -1 (errno ENOENT for anything that
 * should look missing to the client).
 */
static int
static_open(struct static_root *root, const char *rel, struct stat *st)
{
	char *full, *real;
	int fd;

	full = xasprintf("%s/%s", root->dir, rel);
	real = realpath(full, NULL);
	free(full);
	if (real == NULL)
		return -1;
	if (strncmp(real, root->dir, root->dirlen) != 0 ||
	    real[root->dirlen] != '/') {
		log_info("static: %s leads out of the web root: refused",
		    rel);
		free(real);
		errno = ENOENT;
		return -1;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(real);
	if (fd == -1)
		return -1;
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode) ||
	    st->st_size > STATIC_FILE_MAX) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	return fd;
}

/* Reads all n bytes of fd into a new buffer; NULL on a short read. */
static char *
static_read_all(int fd, size_t n)
{
	char *data = xmalloc(n + 1);
	size_t got = 0;
	ssize_t k;

	while (got < n) {
		k = read(fd, data + got, n - got);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(data);
			return NULL;
		}
		got += (size_t)k;
	}
	return data;
}

/* True when an If-None-Match header names etag (or is "*"). */
static int
static_etag_match(const char *inm, const char *etag)
{
	size_t n = strlen(etag);
	const char *p;

	if (inm == NULL)
		return 0;
	if (strcmp(inm, "*") == 0)
		return 1;
	for (p = inm; (p = strstr(p, etag)) != NULL; p += n)
		if (p[n] == '\0' || p[n] == ',' || p[n] == ' ')
			return 1;
	return 0;
}

void
static_serve(struct static_root *root, struct http_req *r)
{
	const char *method = http_req_method(r), *path = http_req_path(r);
	const char *type;
	char rel[STATIC_PATH_MAX + 16], etag[64], lm[64];
	struct stat st;
	struct tm tm;
	char *data;
	int fd;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_reply_header(r, "Allow", "GET, HEAD");
		http_reply_str(r, 405, "text/plain; charset=utf-8",
		    "method not allowed\n");
		return;
	}
	if (static_path_clean(path, strlen(path), rel, sizeof(rel)) == -1) {
		log_info("static: %s asked for a refused path",
		    http_req_peer(r));
		http_reply_str(r, 400, "text/plain; charset=utf-8",
		    "bad path\n");
		return;
	}
	fd = static_open(root, rel, &st);
	if (fd == -1) {
		http_reply_str(r, 404, "text/plain; charset=utf-8",
		    "not found\n");
		return;
	}

	snprintf(etag, sizeof(etag), "\"%llx-%llx\"",
	    (unsigned long long)st.st_size,
	    (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
	    (unsigned long long)st.st_mtim.tv_nsec);
	gmtime_r(&st.st_mtim.tv_sec, &tm);
	strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	type = static_content_type(rel);
	http_reply_header(r, "ETag", etag);
	http_reply_header(r, "Last-Modified", lm);
	http_reply_header(r, "Cache-Control", "no-cache");
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
	if (strncmp(type, "text/html", 9) == 0) {
		http_reply_header(r, "Content-Security-Policy", STATIC_CSP);
		http_reply_header(r, "Referrer-Policy", "no-referrer");
	}
	if (static_etag_match(http_req_header(r, "If-None-Match"), etag)) {
		close(fd);
		http_reply(r, 304, NULL, NULL, 0);
		return;
	}

	data = static_read_all(fd, (size_t)st.st_size);
	close(fd);
	if (data == NULL) {
		log_warnx("static: short read of %s; answered 500", rel);
		http_reply_str(r, 500, "text/plain; charset=utf-8",
		    "read error\n");
		return;
	}
	http_reply(r, 200, type, data, (size_t)st.st_size);
	free(data);
}
