/*
 * ws: WebSocket (RFC 6455) server connections over the HTTP server.
 *
 * Frames from clients are parsed with wslay's frame API.  Its context
 * (about 4 KiB) is taken from a small pool when bytes arrive and given
 * back as soon as no partial frame remains, so an idle connection holds
 * no library buffers.  A fragmented message is assembled in an
 * allocation that exists only until it is complete.
 *
 * Frames to clients are unmasked, so one encoded frame (a struct buf from
 * ws_frame_new()) serves every recipient: ws_send_frame() and
 * ws_broadcast() queue references, never copies, and each connection is
 * written once per loop pass with writev.
 *
 * Errors close the connection with the code RFC 6455 gives:
 *   1002  unmasked client frame, reserved bits, unknown opcode, bad close
 *         code or close payload, control frame fragmented or too long,
 *         continuation without a message, new message inside another
 *   1007  text (or close reason) that is not UTF-8
 *   1009  message longer than max_message
 *   1008  output queue over out_cap and the socket full too (the peer
 *         does not read); the connection is dropped without waiting
 *
 * Close handshake (server side):
 *
 *   OPEN --client close--> echo close, CLOSED (TCP closed once written)
 *   OPEN --ws_close()/error--> send close, CLOSING
 *   CLOSING --client close or close_timeout--> CLOSED
 *
 * on_close runs exactly once per opened connection, with the code the
 * client sent (1005 if none), the server's code, or 1006 when TCP ended
 * without a close frame.
 */
#ifndef PARLEY_WS_H
#define PARLEY_WS_H

#include <stddef.h>

#include <ev.h>

#include "buf.h"
#include "http.h"

struct ws_server;
struct ws_conn;

enum ws_opcode {
	WS_CONT = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xa,
};

struct ws_limits {
	size_t max_message;   /* bytes of one message; default 1 MiB */
	size_t out_cap;       /* bytes queued per connection; default 4 MiB */
	double close_timeout; /* seconds to wait for the client's close;
				 default 5 */
};

struct ws_callbacks {
	/* The 101 is queued; the connection may send. */
	void (*on_open)(struct ws_conn *c, void *arg);
	/* A whole message; data is valid during the call only. */
	void (*on_message)(struct ws_conn *c, enum ws_opcode op,
	    const unsigned char *data, size_t len, void *arg);
	/* The connection is gone after this returns. */
	void (*on_close)(struct ws_conn *c, int code, void *arg);
};

/* Fills lim with the defaults above. */
void ws_limits_default(struct ws_limits *lim);

/*
 * Makes the WebSocket side of a server on loop, with limits lim (NULL or
 * zero fields: defaults) and callbacks cb (copied) called with arg.
 */
struct ws_server *ws_server_new(struct ev_loop *loop,
    const struct ws_limits *lim, const struct ws_callbacks *cb, void *arg);

/*
 * Sets fn(c, arg) to run when a pong frame arrives (the peer is alive),
 * for servers that ping their clients; NULL to stop.
 */
void ws_server_on_pong(struct ws_server *s,
    void (*fn)(struct ws_conn *c, void *arg));

/* Closes every connection (code 1001) and frees the server. */
void ws_server_free(struct ws_server *s);

/* Open WebSocket connections. */
unsigned ws_server_nconns(const struct ws_server *s);

/* True when req asks for a WebSocket upgrade (GET + Upgrade: websocket). */
int ws_is_upgrade(const struct http_req *req);

/*
 * Computes Sec-WebSocket-Accept for a client's Sec-WebSocket-Key into out
 * (29 bytes with the NUL).
 */
void ws_accept_key(const char *key, char out[29]);

/*
 * Accepts an upgrade request: checks it (GET, Upgrade: websocket,
 * Connection: upgrade, version 13, a 16-byte base64 key), queues the 101
 * and takes the connection over; then sets the user pointer and calls
 * on_open.  On a bad request it replies 400 (426 for another version)
 * itself.  Either way req is consumed.  Returns the connection, or NULL.
 */
struct ws_conn *ws_accept(struct ws_server *s, struct http_req *req,
    void *user);

/*
 * Bytes of receive state the connection holds now: 0 when no frame or
 * message is partly received (the wslay context counted as 4 KiB).
 */
size_t ws_rx_held(const struct ws_conn *c);

void ws_set_user(struct ws_conn *c, void *user);
void *ws_user(const struct ws_conn *c);
/* "addr:port" of the client. */
const char *ws_peer(const struct ws_conn *c);

/*
 * Encodes one unmasked, final frame of opcode op with len bytes of
 * payload into a new buf (one reference, the caller's), ready to be
 * queued to any number of connections.
 */
struct buf *ws_frame_new(enum ws_opcode op, const void *payload,
    size_t len);

/*
 * Queues a frame from ws_frame_new() (a new reference).  Returns 0, or -1
 * when the connection is closing or its queue would pass out_cap (it is
 * then dropped with 1008 at the next flush pass, where on_close runs, so
 * callers may send while walking their own lists of connections).
 */
int ws_send_frame(struct ws_conn *c, struct buf *frame);

/* Encodes and queues one text (op WS_TEXT) or binary message. */
int ws_send(struct ws_conn *c, enum ws_opcode op, const void *data,
    size_t len);

/*
 * Queues frame to each of the n connections.  Returns how many took it;
 * the others were closing or over their cap (dropped as ws_send_frame()
 * says).
 */
size_t ws_broadcast(struct ws_conn *const *conns, size_t n,
    struct buf *frame);

/* Bytes queued for the client and not yet written. */
size_t ws_queued(const struct ws_conn *c);

/*
 * Sets the kernel's send buffer of the connection's socket (SO_SNDBUF,
 * which the kernel doubles), bounding what a peer that does not read
 * holds in the kernel; 0 or -1 with errno.
 */
int ws_set_sndbuf(struct ws_conn *c, int bytes);

/*
 * Drops the connection without a close handshake (a dead or hopeless
 * peer): queued bytes are discarded and TCP is closed at the next flush
 * pass, where on_close runs with code.  Safe while walking lists of
 * connections, like a send past out_cap.
 */
void ws_abort(struct ws_conn *c, int code);

/*
 * Starts the close handshake with code and reason (may be NULL).  The
 * connection stops delivering messages; on_close follows.
 */
void ws_close(struct ws_conn *c, int code, const char *reason);

#endif
