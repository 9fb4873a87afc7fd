/*
 * lconn: parley-load's client connections: non-blocking connect from a
 * chosen source address, HTTP/1.1 requests with keep-alive (responses
 * parsed with http-parser), and the client side of WebSocket: the
 * upgrade, masked frames out, unmasked frames in.
 *
 *   CONNECTING --connected--> OPEN (http) or UPGRADING (ws)
 *   UPGRADING --101--> OPEN
 *   any --error, EOF--> closed and freed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "load.h"
#include "xmalloc.h"

enum { LC_CONNECTING, LC_UPGRADING, LC_OPEN };

#define LC_READ 65536

static void lconn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static const http_parser_settings lconn_hp;

/* Writes what is queued; waits for EV_WRITE when the socket is full. */
static void
lconn_flush(struct lconn *c)
{
	int r = buf_queue_writev(&c->out, c->fd, NULL);
	int ev = EV_READ;

	if (r == -1) {
		/* Closed from the read side, outside any caller's frame. */
		c->ld->errors++;
		(void)shutdown(c->fd, SHUT_RDWR);
		return;
	}
	if (r == 0)
		ev |= EV_WRITE;
	if ((c->io.events & (EV_READ | EV_WRITE)) != ev) {
		ev_io_stop(c->ld->loop, &c->io);
		ev_io_set(&c->io, c->fd, ev);
		ev_io_start(c->ld->loop, &c->io);
	}
}

static void
lconn_send(struct lconn *c, const void *p, size_t n)
{
	(void)buf_queue_push_copy(&c->out, p, n);
	lconn_flush(c);
}

struct lconn *
lconn_open(struct load *ld, unsigned id)
{
	struct lconn *c;
	struct sockaddr_in src;
	int fd, on = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return NULL;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (ld->src_lo != 0) {
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(ld->src_next);
		if (++ld->src_next > ld->src_hi)
			ld->src_next = ld->src_lo;
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on,
		    sizeof(on));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
			close(fd);
			return NULL;
		}
	}
	if (connect(fd, (struct sockaddr *)&ld->dst, sizeof(ld->dst)) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}

	c = xcalloc(1, sizeof(*c));
	c->ld = ld;
	c->fd = fd;
	c->id = id;
	c->state = LC_CONNECTING;
	c->t0 = load_now(ld);
	buf_queue_init(&c->out, 0);
	http_parser_init(&c->hp, HTTP_RESPONSE);
	c->hp.data = c;
	ev_io_init(&c->io, lconn_io_cb, fd, EV_WRITE);
	c->io.data = c;
	ev_io_start(ld->loop, &c->io);
	return c;
}

void
lconn_close(struct lconn *c, const char *why)
{
	ev_io_stop(c->ld->loop, &c->io);
	close(c->fd);
	buf_queue_clear(&c->out);
	if (c->ld->ops->on_close != NULL)
		c->ld->ops->on_close(c, why);
	free(c->in);
	free(c->body);
	free(c);
}

void
lconn_http_request(struct lconn *c)
{
	struct load *ld = c->ld;
	char head[1400];
	int n;

	c->t0 = load_now(ld);
	if (ld->size == 0) {
		n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\n"
		    "Host: %s\r\n\r\n", ld->path, ld->host);
		lconn_send(c, head, (size_t)n);
		return;
	}
	n = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Length: %zu\r\n\r\n", ld->path, ld->host, ld->size);
	(void)buf_queue_push_copy(&c->out, head, (size_t)n);
	{
		struct buf *b = buf_new(ld->size);

		memset(b->data, 'x', ld->size);
		(void)buf_queue_push(&c->out, b);
		buf_unref(b);
	}
	lconn_flush(c);
}

void
lconn_ws_send(struct lconn *c, int op, const void *p, size_t len)
{
	size_t h = 2, i;
	struct buf *b;
	unsigned char *d;
	uint32_t key = (uint32_t)random();

	if (len >= 126)
		h = len < 65536 ? 4 : 10;
	b = buf_new(h + 4 + len);
	d = b->data;
	d[0] = (unsigned char)(0x80 | op);
	if (len < 126) {
		d[1] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		d[1] = 0x80 | 126;
		d[2] = (unsigned char)(len >> 8);
		d[3] = (unsigned char)len;
	} else {
		d[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			d[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(d + h, &key, 4);
	for (i = 0; i < len; i++)
		d[h + 4 + i] = ((const unsigned char *)p)[i] ^ d[h + i % 4];
	(void)buf_queue_push(&c->out, b);
	buf_unref(b);
	lconn_flush(c);
}

/* Connected: send the upgrade, or tell the scenario. */
static void
lconn_connected(struct lconn *c)
{
	struct load *ld = c->ld;
	char head[1400];
	int err = 0, n;
	socklen_t sl = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 ||
	    err != 0) {
		lconn_close(c, strerror(err ? err : errno));
		return;
	}
	if (!ld->ws) {
		c->state = LC_OPEN;
		c->opened = 1;
		hist_add(&ld->conn_lat,
		    (uint64_t)((load_now(ld) - c->t0) * 1e6));
		lconn_flush(c);
		if (ld->ops->on_open != NULL)
			ld->ops->on_open(c);
		return;
	}
	c->state = LC_UPGRADING;
	n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", ld->path, ld->host);
	lconn_send(c, head, (size_t)n);
}

/* Parses whole server frames from c->in; keeps a partial one. */
static void
lconn_ws_input(struct lconn *c)
{
	size_t off = 0, h, len;
	unsigned char *p;
	int op, i;

	while (c->inlen - off >= 2) {
		p = c->in + off;
		op = p[0] & 0x0f;
		len = p[1] & 0x7f;
		h = 2;
		if (len == 126) {
			if (c->inlen - off < 4)
				break;
			len = (size_t)p[2] << 8 | p[3];
			h = 4;
		} else if (len == 127) {
			if (c->inlen - off < 10)
				break;
			len = 0;
			for (i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			h = 10;
		}
		if (c->inlen - off - h < len)
			break;
		off += h + len;
		if (op == 0x8) {
			lconn_close(c, "server closed");
			return;
		}
		if (op == 0x9) {
			lconn_ws_send(c, 0xa, p + h, len);
			continue;
		}
		if (c->ld->ops->on_ws != NULL)
			c->ld->ops->on_ws(c, op, p + h, len);
	}
	if (off == c->inlen) {
		free(c->in);
		c->in = NULL;
		c->inlen = 0;
	} else if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
}

static void
lconn_append(struct lconn *c, const unsigned char *p, size_t n)
{
	c->in = xreallocarray(c->in, c->inlen + n, 1);
	memcpy(c->in + c->inlen, p, n);
	c->inlen += n;
}

static void
lconn_read(struct lconn *c)
{
	static unsigned char buf[LC_READ];
	struct load *ld = c->ld;
	ssize_t n;
	size_t used;

	n = read(c->fd, buf, sizeof(buf));
	if (n == 0) {
		lconn_close(c, "EOF");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			lconn_close(c, strerror(errno));
		return;
	}
	if (c->state == LC_OPEN && ld->ws) {
		lconn_append(c, buf, (size_t)n);
		lconn_ws_input(c);
		return;
	}
	used = http_parser_execute(&c->hp, &lconn_hp, (const char *)buf,
	    (size_t)n);
	if (c->hp.http_errno == HPE_PAUSED) {
		/* The 101 ended; the rest is WebSocket. */
		c->state = LC_OPEN;
		c->opened = 1;
		hist_add(&ld->conn_lat,
		    (uint64_t)((load_now(ld) - c->t0) * 1e6));
		if (ld->ops->on_open != NULL)
			ld->ops->on_open(c);
		if ((size_t)n > used) {
			lconn_append(c, buf + used, (size_t)n - used);
			lconn_ws_input(c);
		}
		return;
	}
	if (c->hp.http_errno != HPE_OK)
		lconn_close(c, http_errno_name(c->hp.http_errno));
}

static int
lconn_on_body(http_parser *p, const char *at, size_t n)
{
	struct lconn *c = p->data;

	c->body = xreallocarray(c->body, c->bodylen + n + 1, 1);
	memcpy(c->body + c->bodylen, at, n);
	c->bodylen += n;
	c->body[c->bodylen] = '\0';
	return 0;
}

static int
lconn_on_complete(http_parser *p)
{
	struct lconn *c = p->data;
	struct load *ld = c->ld;

	if (c->state == LC_UPGRADING) {
		if (p->status_code != 101)
			return -1;
		http_parser_pause(p, 1);
		return 0;
	}
	hist_add(&ld->lat, (uint64_t)((load_now(ld) - c->t0) * 1e6));
	ld->received++;
	if (ld->ops->on_http != NULL)
		ld->ops->on_http(c, p->status_code, c->body, c->bodylen);
	free(c->body);
	c->body = NULL;
	c->bodylen = 0;
	return 0;
}

static int
lconn_on_headers(http_parser *p)
{
	/* A 101 has no body even without Content-Length. */
	return p->status_code == 101 ? 1 : 0;
}

static const http_parser_settings lconn_hp = {
	.on_headers_complete = lconn_on_headers,
	.on_body = lconn_on_body,
	.on_message_complete = lconn_on_complete,
};

static void
lconn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lconn *c = w->data;

	if (c->state == LC_CONNECTING) {
		if (revents & EV_WRITE)
			lconn_connected(c);
		return;
	}
	if (revents & EV_WRITE) {
		lconn_flush(c);
		/* lconn_flush may have closed c. */
		return;
	}
	if (revents & EV_READ)
		lconn_read(c);
}
