/*
 * static: serves the files of one directory (the web client) over the
 * HTTP server of http.h, for the backend and the edges alike.
 *
 *   GET/HEAD /                -> <root>/index.html
 *   GET/HEAD /js/app.js       -> <root>/js/app.js
 *   GET/HEAD /dir/            -> <root>/dir/index.html
 *
 * A request path is percent-decoded and checked segment by segment
 * before it touches the file system (static_path_clean): a NUL, a
 * backslash, a control byte, a "." or ".." segment, a segment starting
 * with '.' (hidden files), a bad escape or an over-long path is refused
 * with 400.  The file found is resolved with realpath() and must still
 * lie inside the root, so a symbolic link that leads out of it is
 * answered 404, like a missing file.  Only regular files are served.
 *
 * Replies carry a Content-Type from the file name, an ETag and
 * Last-Modified from size and modification time, Cache-Control:
 * no-cache (files have no fingerprint in their names, so a browser
 * revalidates and gets 304 while nothing changed) and, for HTML, a
 * Content-Security-Policy that allows scripts and styles from the same
 * origin only.
 */
#ifndef PARLEY_STATIC_H
#define PARLEY_STATIC_H

#include <stddef.h>

struct http_req;
struct static_root;

/* Largest request path taken, and largest file served. */
#define STATIC_PATH_MAX 1024
#define STATIC_FILE_MAX (16 * 1024 * 1024)

/*
 * Opens the root directory dir.  Returns the root, or NULL with a
 * message in err (errlen bytes) when dir is not a readable directory.
 */
struct static_root *static_root_open(const char *dir, char *err,
    size_t errlen);

void static_root_free(struct static_root *root);

/*
 * Turns the raw request path (len bytes, the part before any '?') into
 * a path relative to the root in out (outlen bytes, NUL-terminated):
 * escapes decoded, empty segments dropped, "index.html" appended to a
 * path ending in '/'.  Returns the length of out, or -1 when the path is
 * refused (see the top of this file) or does not fit.
 */
int static_path_clean(const char *path, size_t len, char *out,
    size_t outlen);

/* The Content-Type for a file name, from its extension. */
const char *static_content_type(const char *name);

/*
 * Answers r from the root: 200 with the file, 304 when If-None-Match
 * matches, 400 for a refused path, 404 for a missing one, 405 for a
 * method other than GET and HEAD.  Always replies (r is freed).
 */
void static_serve(struct static_root *root, struct http_req *r);

#endif
