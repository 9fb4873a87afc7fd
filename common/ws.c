/*
 * ws: WebSocket server connections.  See ws.h for the close state
 * machine and the error codes.
 *
 * Receiving: the bytes of one read are offered to wslay_frame_recv()
 * through ws_recv_cb().  wslay copies what it is offered into its own
 * 4 KiB buffer, so the connection counts the bytes it gave (rx->fed) and
 * the bytes of the frames parsed so far (rx->used: header and payload).
 * When a frame ends and both are equal, wslay holds nothing: its context
 * goes back to the server's pool, and when no fragmented message is being
 * assembled either, the whole receive state (struct ws_rx) is freed.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <utf8proc.h>
#include <wslay/wslay.h>

#include "log.h"
#include "ws.h"
#include "xmalloc.h"

#define WS_POOL_MAX 16
#define WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum ws_state { WS_OPEN, WS_CLOSING, WS_CLOSED };

/* Receive state, alive only while a frame or a message is incomplete. */
struct ws_rx {
	wslay_frame_context_ptr fc; /* held while wslay holds bytes */
	uint64_t fed;               /* bytes given to fc */
	uint64_t used;              /* bytes of frames parsed through fc */
	uint64_t flen, foff;        /* payload length and offset of frame */
	int fop;                    /* opcode of the frame in flight */
	int fin;
	int in_frame;
	int msgop;                  /* WS_TEXT/WS_BINARY being assembled */
	unsigned char *msg;
	size_t msglen;
	size_t ctllen;
	unsigned char ctl[125];
};

struct ws_server {
	struct ev_loop *loop;
	struct ws_limits lim;
	struct ws_callbacks cb;
	void (*on_pong)(struct ws_conn *c, void *arg);
	void *arg;
	struct ws_conn *conns;
	unsigned nconns;
	wslay_frame_context_ptr pool[WS_POOL_MAX];
	unsigned npool;
	const unsigned char *feed; /* bytes on offer to wslay */
	size_t feedlen;
	struct ws_rx *feedrx;
};

struct ws_conn {
	struct conn *c;
	struct ws_server *srv;
	struct ws_conn *prev, *next;
	void *user;
	struct ws_rx *rx;
	int state;
	int code;    /* for on_close */
	int dropped; /* over out_cap: close at the next pass */
};

static const struct conn_ops ws_conn_ops;
static const struct conn_ops ws_orphan_ops;
static void ws_release(struct ws_conn *c);

void
ws_limits_default(struct ws_limits *lim)
{
	lim->max_message = 1024 * 1024;
	lim->out_cap = 4 * 1024 * 1024;
	lim->close_timeout = 5;
}

struct ws_server *
ws_server_new(struct ev_loop *loop, const struct ws_limits *lim,
    const struct ws_callbacks *cb, void *arg)
{
	struct ws_server *s = xcalloc(1, sizeof(*s));
	struct ws_limits d;

	ws_limits_default(&d);
	s->lim = d;
	if (lim != NULL) {
		if (lim->max_message > 0)
			s->lim.max_message = lim->max_message;
		if (lim->out_cap > 0)
			s->lim.out_cap = lim->out_cap;
		if (lim->close_timeout > 0)
			s->lim.close_timeout = lim->close_timeout;
	}
	s->loop = loop;
	s->cb = *cb;
	s->arg = arg;
	(void)conn_loop_get(loop);
	return s;
}

void
ws_server_on_pong(struct ws_server *s,
    void (*fn)(struct ws_conn *c, void *arg))
{
	s->on_pong = fn;
}

void
ws_server_free(struct ws_server *s)
{
	unsigned i;

	if (s == NULL)
		return;
	while (s->conns != NULL) {
		s->conns->code = 1001;
		conn_close(s->conns->c);
	}
	for (i = 0; i < s->npool; i++)
		wslay_frame_context_free(s->pool[i]);
	free(s);
}

unsigned
ws_server_nconns(const struct ws_server *s)
{
	return s->nconns;
}

void
ws_set_user(struct ws_conn *c, void *user)
{
	c->user = user;
}

void *
ws_user(const struct ws_conn *c)
{
	return c->user;
}

const char *
ws_peer(const struct ws_conn *c)
{
	static __thread char buf[64];

	return conn_peer_str(c->c, buf, sizeof(buf));
}

/* Handshake. */

/* True if the comma-separated header value list has token (any case). */
static int
ws_has_token(const char *list, const char *token)
{
	size_t n = strlen(token);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' ||
		    p[n] == '\t'))
			return 1;
		p = strchr(p, ',');
	}
	return 0;
}

int
ws_is_upgrade(const struct http_req *req)
{
	const char *up = http_req_header(req, "Upgrade");

	return strcmp(http_req_method(req), "GET") == 0 && up != NULL &&
	    ws_has_token(up, "websocket");
}

void
ws_accept_key(const char *key, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, key, strlen(key)) != 1 ||
	    EVP_DigestUpdate(ctx, WS_GUID, sizeof(WS_GUID) - 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 20)
		fatalx("ws_accept_key: SHA-1 failed");
	EVP_MD_CTX_free(ctx);
	EVP_EncodeBlock((unsigned char *)out, md, 20);
}

/* True if key is the base64 of 16 bytes, as RFC 6455 4.2.1 asks. */
static int
ws_key_ok(const char *key)
{
	unsigned char raw[32];

	if (key == NULL || strlen(key) != 24 || key[22] != '=' ||
	    key[23] != '=')
		return 0;
	return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18;
}

static void ws_input(struct ws_conn *wc, const unsigned char *p, size_t n);

struct ws_conn *
ws_accept(struct ws_server *s, struct http_req *req, void *user)
{
	const char *key = http_req_header(req, "Sec-WebSocket-Key");
	const char *ver = http_req_header(req, "Sec-WebSocket-Version");
	const char *cn = http_req_header(req, "Connection");
	char accept[29], head[160];
	unsigned char *rest;
	size_t restlen;
	struct ws_conn *wc;
	struct conn *c;
	int n;

	if (!ws_is_upgrade(req) || cn == NULL ||
	    !ws_has_token(cn, "upgrade") || !ws_key_ok(key)) {
		log_info("ws: bad upgrade request from %s",
		    http_req_peer(req));
		http_reply_str(req, 400, "text/plain",
		    "bad WebSocket upgrade\n");
		return NULL;
	}
	if (ver == NULL || strcmp(ver, "13") != 0) {
		http_reply_header(req, "Sec-WebSocket-Version", "13");
		http_reply_str(req, 426, "text/plain",
		    "WebSocket version 13 only\n");
		return NULL;
	}
	ws_accept_key(key, accept);
	c = http_req_takeover(req, &rest, &restlen);
	if (c == NULL)
		return NULL;

	wc = xcalloc(1, sizeof(*wc));
	wc->c = c;
	wc->srv = s;
	wc->user = user;
	wc->state = WS_OPEN;
	wc->code = 1006;
	c->out.cap = s->lim.out_cap;
	conn_set_owner(c, &ws_conn_ops, wc);
	wc->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = wc;
	s->conns = wc;
	s->nconns++;

	n = snprintf(head, sizeof(head), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	if (conn_send_copy(c, head, (size_t)n) == -1) {
		free(rest);
		conn_close(c);
		return NULL;
	}
	if (s->cb.on_open != NULL)
		s->cb.on_open(wc, s->arg);
	if (rest != NULL) {
		if (c->owner == wc && !conn_closed(c) && wc->state == WS_OPEN)
			ws_input(wc, rest, restlen);
		free(rest);
	}
	return c->owner == wc && !conn_closed(c) ? wc : NULL;
}

size_t
ws_rx_held(const struct ws_conn *c)
{
	const struct ws_rx *rx = c->rx;

	if (rx == NULL)
		return 0;
	return sizeof(*rx) + rx->msglen + (rx->fc != NULL ? 4096 : 0);
}

/* Sending. */

struct buf *
ws_frame_new(enum ws_opcode op, const void *payload, size_t len)
{
	size_t hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
	struct buf *b = buf_new(hl + len);
	unsigned char *h = b->data;
	int i;

	h[0] = 0x80 | (op & 0x0f);
	if (len < 126) {
		h[1] = (unsigned char)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >>
			    (56 - 8 * i));
	}
	if (len > 0)
		memcpy(h + hl, payload, len);
	return b;
}

/* The peer does not read: it is dropped (1008) at the next flush pass. */
static void
ws_drop_slow(struct ws_conn *c)
{
	char peer[64];

	log_info("ws: %s does not read, dropping it",
	    conn_peer_str(c->c, peer, sizeof(peer)));
	c->dropped = 1;
	c->code = 1008;
	conn_kick(c->c);
}

/*
 * ws_send_frame() that takes over one reference to frame the caller
 * holds; a reference it does not queue is dropped here.
 */
static int
ws_send_frame_take(struct ws_conn *c, struct buf *frame)
{
	if (c->state != WS_OPEN || c->dropped) {
		buf_unref(frame);
		return -1;
	}
	/* At the cap: as ws_send_frame(). */
	if (conn_send_take(c->c, frame) == -1 && (conn_closed(c->c) ||
	    conn_write_now(c->c) <= 0 || conn_send_take(c->c, frame) == -1)) {
		buf_unref(frame);
		ws_drop_slow(c);
		return -1;
	}
	return 0;
}

int
ws_send_frame(struct ws_conn *c, struct buf *frame)
{
	if (c->state != WS_OPEN || c->dropped)
		return -1;
	/*
	 * At the cap, a peer that reads is only behind by this loop pass's
	 * burst: what its socket takes now makes room.  A peer whose socket
	 * is full too does not read.
	 */
	if (conn_send(c->c, frame) == -1 && (conn_closed(c->c) ||
	    conn_write_now(c->c) <= 0 || conn_send(c->c, frame) == -1)) {
		ws_drop_slow(c);
		return -1;
	}
	return 0;
}

int
ws_send(struct ws_conn *c, enum ws_opcode op, const void *data, size_t len)
{
	struct buf *b;
	int rc;

	if (c->state != WS_OPEN || c->dropped)
		return -1;
	b = ws_frame_new(op, data, len);
	rc = ws_send_frame(c, b);
	buf_unref(b);
	return rc;
}

size_t
ws_broadcast(struct ws_conn *const *conns, size_t n, struct buf *frame)
{
	size_t i, ok = 0;

	/* One atomic add for all the references, each queue takes one. */
	if (n > 0)
		buf_ref_many(frame, (unsigned)n);
	for (i = 0; i < n; i++)
		if (ws_send_frame_take(conns[i], frame) == 0)
			ok++;
	return ok;
}

size_t
ws_queued(const struct ws_conn *c)
{
	return c->c->out.bytes;
}

int
ws_set_sndbuf(struct ws_conn *c, int bytes)
{
	return setsockopt(c->c->fd, SOL_SOCKET, SO_SNDBUF, &bytes,
	    sizeof(bytes));
}

void
ws_abort(struct ws_conn *c, int code)
{
	if (c->dropped || conn_closed(c->c))
		return;
	c->dropped = 1;
	c->code = code;
	conn_kick(c->c);
}

/* Queues a close frame with code (0: none) and reason. */
static void
ws_send_close(struct ws_conn *c, int code, const char *reason)
{
	unsigned char p[125];
	size_t n = 0, rl;
	struct buf *b;

	if (code != 0) {
		p[0] = (unsigned char)(code >> 8);
		p[1] = (unsigned char)code;
		n = 2;
		if (reason != NULL) {
			rl = strlen(reason);
			if (rl > sizeof(p) - 2)
				rl = sizeof(p) - 2;
			memcpy(p + 2, reason, rl);
			n += rl;
		}
	}
	b = ws_frame_new(WS_CLOSE, p, n);
	(void)conn_send(c->c, b);
	buf_unref(b);
}

void
ws_close(struct ws_conn *c, int code, const char *reason)
{
	if (c->state != WS_OPEN || conn_closed(c->c))
		return;
	c->state = WS_CLOSING;
	c->code = code;
	ws_send_close(c, code, reason);
	conn_timer(c->c, c->srv->lim.close_timeout);
}

/* Fails the connection: a close frame with code, then TCP closes. */
static void
ws_fail(struct ws_conn *c, int code, const char *why)
{
	char peer[64];

	log_info("ws: %s from %s, closing with %d", why,
	    conn_peer_str(c->c, peer, sizeof(peer)), code);
	if (c->state == WS_OPEN) {
		ws_send_close(c, code, NULL);
		c->code = code;
	}
	ws_release(c);
}

/* Receiving. */

static ssize_t
ws_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws_server *s = user;
	size_t n = len < s->feedlen ? len : s->feedlen;

	if (n == 0)
		return 0;
	memcpy(buf, s->feed, n);
	s->feed += n;
	s->feedlen -= n;
	s->feedrx->fed += n;
	return (ssize_t)n;
}

static ssize_t
ws_send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
	return -1;
}

static int
ws_genmask_cb(uint8_t *buf, size_t len, void *user)
{
	return -1;
}

static const struct wslay_frame_callbacks ws_frame_cbs = {
	.send_callback = ws_send_cb,
	.recv_callback = ws_recv_cb,
	.genmask_callback = ws_genmask_cb,
};

/* Takes a wslay frame context from the pool, or makes one. */
static wslay_frame_context_ptr
ws_fc_get(struct ws_server *s)
{
	wslay_frame_context_ptr fc;

	if (s->npool > 0)
		return s->pool[--s->npool];
	if (wslay_frame_context_init(&fc, &ws_frame_cbs, s) != 0)
		fatalx("wslay_frame_context_init: out of memory");
	return fc;
}

/*
 * Gives a context back.  Only a context at a frame boundary with nothing
 * buffered comes here, which is the state a new one starts in.
 */
static void
ws_fc_put(struct ws_server *s, wslay_frame_context_ptr fc)
{
	if (s->npool < WS_POOL_MAX)
		s->pool[s->npool++] = fc;
	else
		wslay_frame_context_free(fc);
}

static void
ws_rx_free(struct ws_server *s, struct ws_rx *rx)
{
	if (rx == NULL)
		return;
	if (rx->fc != NULL) {
		/* Mid-frame state cannot be reused. */
		wslay_frame_context_free(rx->fc);
	}
	free(rx->msg);
	free(rx);
}

/* True if the close code may appear in a close frame (RFC 6455 7.4). */
static int
ws_close_code_ok(int code)
{
	if (code >= 3000 && code <= 4999)
		return 1;
	switch (code) {
	case 1000: case 1001: case 1002: case 1003:
	case 1007: case 1008: case 1009: case 1010: case 1011:
	case 1012: case 1013: case 1014:
		return 1;
	}
	return 0;
}

static int
ws_utf8_ok(const unsigned char *p, size_t n)
{
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;

	while (n > 0) {
		k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &cp);
		if (k <= 0)
			return 0;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

/* A whole control frame arrived. */
static void
ws_control(struct ws_conn *c, int op, const unsigned char *p, size_t n)
{
	struct buf *b;
	int code = 1005;

	switch (op) {
	case WS_PING:
		if (c->state != WS_OPEN)
			return;
		b = ws_frame_new(WS_PONG, p, n);
		if (conn_send(c->c, b) == -1)
			ws_send_frame(c, b); /* marks it dropped */
		buf_unref(b);
		return;
	case WS_PONG:
		if (c->state == WS_OPEN && c->srv->on_pong != NULL)
			c->srv->on_pong(c, c->srv->arg);
		return;
	case WS_CLOSE:
		break;
	}

	if (n == 1) {
		ws_fail(c, 1002, "close frame of one byte");
		return;
	}
	if (n >= 2) {
		code = (p[0] << 8) | p[1];
		if (!ws_close_code_ok(code)) {
			ws_fail(c, 1002, "bad close code");
			return;
		}
		if (!ws_utf8_ok(p + 2, n - 2)) {
			ws_fail(c, 1007, "close reason not UTF-8");
			return;
		}
	}
	if (c->state == WS_OPEN) {
		/* Echo the client's code, then close once written. */
		ws_send_close(c, n >= 2 ? code : 0, NULL);
		c->code = code;
	}
	ws_release(c);
}

/*
 * Checks a frame header as it starts.  Returns 0, or -1 after failing
 * the connection.
 */
static int
ws_frame_start(struct ws_conn *c, struct ws_rx *rx,
    const struct wslay_frame_iocb *io)
{
	uint64_t len = io->payload_length;

	rx->used += 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) +
	    (io->mask ? 4 : 0);
	rx->flen = len;
	rx->foff = 0;
	rx->fop = io->opcode;
	rx->fin = io->fin;
	rx->in_frame = 1;
	rx->ctllen = 0;

	if (io->rsv != 0) {
		ws_fail(c, 1002, "reserved bits set");
		return -1;
	}
	if (!io->mask) {
		ws_fail(c, 1002, "unmasked client frame");
		return -1;
	}
	switch (io->opcode) {
	case WS_PING:
	case WS_PONG:
	case WS_CLOSE:
		return 0;
	case WS_CONT:
		if (rx->msgop == 0) {
			ws_fail(c, 1002, "continuation without a message");
			return -1;
		}
		break;
	case WS_TEXT:
	case WS_BINARY:
		if (rx->msgop != 0) {
			ws_fail(c, 1002, "new message inside a message");
			return -1;
		}
		rx->msgop = io->opcode;
		break;
	default:
		ws_fail(c, 1002, "unknown opcode");
		return -1;
	}
	if (len > c->srv->lim.max_message - rx->msglen) {
		ws_fail(c, 1009, "message too big");
		return -1;
	}
	if (len > 0) {
		/* Sized exactly: what is assembled so far plus this frame. */
		rx->msg = xreallocarray(rx->msg, rx->msglen + len + 1, 1);
	}
	return 0;
}

/* A frame ended; delivers a control frame or a complete message. */
static void
ws_frame_end(struct ws_conn *c, struct ws_rx *rx)
{
	struct ws_server *s = c->srv;
	unsigned char *msg;
	size_t len;
	int op;

	rx->in_frame = 0;
	if (rx->fop >= WS_CLOSE) {
		ws_control(c, rx->fop, rx->ctl, rx->ctllen);
		return;
	}
	if (!rx->fin)
		return;

	op = rx->msgop;
	msg = rx->msg;
	len = rx->msglen;
	rx->msg = NULL;
	rx->msglen = 0;
	rx->msgop = 0;
	if (op == WS_TEXT && !ws_utf8_ok(msg, len)) {
		free(msg);
		ws_fail(c, 1007, "text not UTF-8");
		return;
	}
	if (c->state == WS_OPEN && s->cb.on_message != NULL)
		s->cb.on_message(c, (enum ws_opcode)op,
		    msg != NULL ? msg : (const unsigned char *)"", len,
		    s->arg);
	free(msg);
}

/*
 * Parses n bytes from the client.  Stops at the first error, or when
 * the connection stops being open.
 */
static void
ws_input(struct ws_conn *c, const unsigned char *p, size_t n)
{
	struct ws_server *s = c->srv;
	struct conn *cn = c->c; /* outlives c until the next flush pass */
	struct wslay_frame_iocb io;
	struct ws_rx *rx;
	ssize_t r;

	s->feed = p;
	s->feedlen = n;
	while (cn->owner == c && !conn_closed(cn)) {
		if (c->rx == NULL) {
			if (s->feedlen == 0)
				break;
			c->rx = xcalloc(1, sizeof(*c->rx));
		}
		rx = c->rx;
		if (rx->fc == NULL) {
			if (s->feedlen == 0)
				break;
			rx->fc = ws_fc_get(s);
			rx->fed = rx->used = 0;
		}
		s->feedrx = rx;

		memset(&io, 0, sizeof(io));
		r = wslay_frame_recv(rx->fc, &io);
		if (r == WSLAY_ERR_WANT_READ)
			break;
		if (r < 0) {
			ws_fail(c, 1002, "bad frame");
			return;
		}
		if (!rx->in_frame && ws_frame_start(c, rx, &io) == -1)
			return;
		if (io.data_length > 0) {
			if (rx->fop >= WS_CLOSE) {
				memcpy(rx->ctl + rx->ctllen, io.data,
				    io.data_length);
				rx->ctllen += io.data_length;
			} else {
				memcpy(rx->msg + rx->msglen, io.data,
				    io.data_length);
				rx->msglen += io.data_length;
			}
		}
		rx->foff += io.data_length;
		rx->used += io.data_length;
		if (rx->foff < rx->flen)
			continue;

		ws_frame_end(c, rx);
		if (cn->owner != c || conn_closed(cn))
			return;
		if (rx->fed == rx->used) {
			/* wslay holds no byte: give its context back. */
			ws_fc_put(s, rx->fc);
			rx->fc = NULL;
			if (rx->msgop == 0) {
				ws_rx_free(s, rx);
				c->rx = NULL;
			}
		}
	}
}

static void
ws_conn_read(struct conn *cn, const unsigned char *p, size_t n)
{
	struct ws_conn *c = cn->owner;

	if (c->state == WS_CLOSED)
		return;
	ws_input(c, p, n);
}

static void
ws_conn_eof(struct conn *cn)
{
	conn_close(cn);
}

static void
ws_conn_timeout(struct conn *cn)
{
	/* The client did not answer our close frame in time. */
	conn_close(cn);
}

static void
ws_conn_kick(struct conn *cn)
{
	struct ws_conn *c = cn->owner;

	if (c->dropped)
		conn_close(cn);
}

/*
 * Ends the WebSocket side of a connection: on_close runs, the state is
 * freed and the connection, now ownerless, writes what is queued and
 * closes.  c must not be used after.
 */
static void
ws_release(struct ws_conn *c)
{
	struct ws_server *s = c->srv;
	struct conn *cn = c->c;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	ws_rx_free(s, c->rx);
	c->rx = NULL;
	c->state = WS_CLOSED;
	conn_set_owner(cn, &ws_orphan_ops, NULL);
	if (s->cb.on_close != NULL)
		s->cb.on_close(c, c->code, s->arg);
	free(c);
	if (!conn_closed(cn))
		conn_close_flush(cn, s->lim.close_timeout);
}

static void
ws_conn_close(struct conn *cn)
{
	ws_release(cn->owner);
}

static const struct conn_ops ws_conn_ops = {
	.on_read = ws_conn_read,
	.on_eof = ws_conn_eof,
	.on_timeout = ws_conn_timeout,
	.on_kick = ws_conn_kick,
	.on_close = ws_conn_close,
};

static void
ws_orphan_read(struct conn *cn, const unsigned char *p, size_t n)
{
}

/* A released connection only finishes writing and closes. */
static const struct conn_ops ws_orphan_ops = {
	.on_read = ws_orphan_read,
	.on_eof = ws_conn_eof,
	.on_timeout = ws_conn_timeout,
};
