/*
 * http: an HTTP/1.1 server on libev, parsing with http-parser.
 *
 * A server has any number of listeners (TCP, optionally TLS) and calls
 * one handler per complete request.  Keep-alive and pipelining work:
 * requests on one connection are handed to the handler one at a time and
 * answered in order; the next one is parsed once the current one has its
 * reply.  Requests may arrive split at any byte.
 *
 * Limits (struct http_limits) and what a client gets past them:
 *   max_header      request line and headers   431, then close
 *   max_body        body, declared or chunked  413, then close
 *   header_timeout  first byte to end of headers (and the TLS handshake)
 *                                              408, then close
 *   body_timeout    end of headers to end of body
 *                                              408, then close
 *   idle_timeout    nothing to read or write between requests: close
 *   max_conns       listeners stop accepting until a connection ends
 * Unparsable input gets 400 and a close.
 *
 * Replies may be asynchronous: the handler keeps the request and calls
 * one of the http_reply functions later on the loop thread (for example
 * when an ev_async fires after a commit on another thread).  Every request
 * handed to the handler gets exactly one reply call.  If the client goes
 * away first, the cancel callback (if set) runs, the connection is freed,
 * and the later reply only frees the request: nothing else to track.
 *
 * A handler that sees an Upgrade request may give the connection to the
 * WebSocket layer (ws_accept() in ws.h), which uses http_req_takeover().
 */
#ifndef PARLEY_HTTP_H
#define PARLEY_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "conn.h"

struct http_server;
struct http_req;

struct http_limits {
	size_t max_header;     /* bytes; default 16 KiB */
	size_t max_body;       /* bytes; default 1 MiB */
	double header_timeout; /* seconds; default 10 */
	double body_timeout;   /* seconds; default 30 */
	double idle_timeout;   /* seconds; default 60 */
	unsigned max_conns;    /* default 10000 */
	size_t out_cap;        /* bytes queued per connection; default 4 MiB */
};

/* Fills lim with the defaults above. */
void http_limits_default(struct http_limits *lim);

/*
 * Called once per complete request, on the loop thread.  The request
 * belongs to the handler until it calls an http_reply function (now or
 * later), which frees it.
 */
typedef void (*http_handler)(struct http_req *req, void *arg);

/*
 * Makes a server on loop with limits lim (NULL: defaults; zero fields
 * take their default) calling handler(req, arg).  No listeners yet.
 */
struct http_server *http_server_new(struct ev_loop *loop,
    const struct http_limits *lim, http_handler handler, void *arg);

/*
 * Listens on host:port (host NULL or "*" for every address; port "0"
 * lets the kernel choose: see http_server_port()).  With tls set,
 * connections speak TLS with that context (the caller keeps its
 * reference; a reloaded context may be set with http_server_set_tls()).
 * Returns 0, or -1 after logging why.
 */
int http_server_listen(struct http_server *s, const char *host,
    const char *port, SSL_CTX *tls);

/* Replaces the TLS context of every TLS listener (SIGHUP reload). */
void http_server_set_tls(struct http_server *s, SSL_CTX *tls);

/* Local port of the i-th listener (0 when there is none). */
uint16_t http_server_port(const struct http_server *s, unsigned i);

/*
 * Serves an already connected socket (tests use socketpairs).  Returns 0,
 * or -1 (fd closed) when TLS set-up fails or max_conns is reached.
 */
int http_server_adopt(struct http_server *s, int fd, SSL_CTX *tls);

/* Stops accepting; open connections carry on (graceful shutdown). */
void http_server_stop_listening(struct http_server *s);

/* Open connections, upgraded ones excluded. */
unsigned http_server_nconns(const struct http_server *s);

/*
 * Closes every listener and connection and frees the server.  Requests
 * the handler still holds are cancelled as if their clients had left.
 */
void http_server_free(struct http_server *s);

/* Request line and headers. */
const char *http_req_method(const struct http_req *r); /* "GET" */
const char *http_req_path(const struct http_req *r);   /* "/a/b", raw */
const char *http_req_query(const struct http_req *r);  /* after '?', or "" */
/* The first header named name (any case), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);
/*
 * The value of the cookie named name in the request's Cookie headers
 * (every one of them, "a=1; b=2" each), with *len set; NULL when absent
 * or empty.  The value is not decoded and not NUL-terminated.
 */
const char *http_req_cookie(const struct http_req *r, const char *name,
    size_t *len);
/* Header i (0-based) in arrival order; -1 past the last. */
int http_req_header_at(const struct http_req *r, size_t i,
    const char **name, const char **value);
/* The body (NUL-terminated for convenience; may hold NULs). */
const char *http_req_body(const struct http_req *r, size_t *len);
/* "addr:port" of the client. */
const char *http_req_peer(const struct http_req *r);
/*
 * The client's address, without port, into out (at least 46 bytes): the
 * peer's, or, when the peer's address is one of the ntrusted addresses
 * in trusted (a proxy such as HAProxy with `option forwardfor`), the
 * last address of the request's X-Forwarded-For headers.  A forwarded
 * value that is not a plain IPv4 or IPv6 address is not believed.
 * "local" for a connection without an address (a socketpair).
 */
void http_req_client(const struct http_req *r, char *const *trusted,
    size_t ntrusted, char *out, size_t outlen);
/* True once the client has gone (an asynchronous reply is discarded). */
int http_req_gone(const struct http_req *r);

/*
 * Sets fn(req, arg) to run if the client goes away before the reply.
 * The request stays valid after it: the handler still replies (which
 * then only frees it).
 */
void http_req_on_cancel(struct http_req *r,
    void (*fn)(struct http_req *r, void *arg), void *arg);

/*
 * Adds a response header for the coming reply, e.g. ("Retry-After", "5").
 * Content-Length, Content-Type and Connection are written by the reply.
 */
void http_reply_header(struct http_req *r, const char *name,
    const char *value);

/*
 * Replies status with a copy of body (len bytes, content type ctype or
 * none when NULL), then frees r.  Closes the connection afterwards when
 * the client asked to or the request was HTTP/1.0 without keep-alive.
 */
void http_reply(struct http_req *r, int status, const char *ctype,
    const void *body, size_t len);

/* http_reply() of a NUL-terminated string. */
void http_reply_str(struct http_req *r, int status, const char *ctype,
    const char *body);

/* http_reply() with a shared body: queues a reference to body, no copy. */
void http_reply_buf(struct http_req *r, int status, const char *ctype,
    struct buf *body);

/* http_reply() of json_dumps(obj, JSON_COMPACT) as application/json. */
void http_reply_json(struct http_req *r, int status, const json_t *obj);

/* The reason phrase of a status ("Not Found"), "Unknown" if unknown. */
const char *http_status_text(int status);

/*
 * Upgrade hand-off, for ws.c.  Takes the connection from the HTTP server
 * (it stops counting it) and frees r.  Bytes that followed the request
 * are moved to *rest / *restlen (caller frees *rest; NULL when none).
 * Returns the connection, whose owner the caller sets at once with
 * conn_set_owner(), or NULL when the client has already gone.
 */
struct conn *http_req_takeover(struct http_req *r, unsigned char **rest,
    size_t *restlen);

#endif
