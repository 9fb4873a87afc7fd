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

/*
 * Reads go to one buffer per process, LC_READ bytes after LC_KEEP bytes
 * of room where the partial frame left by the previous read of the same
 * connection is put back, so frames are parsed where they lie and only a
 * partial one at the end of a read is copied.
 */
#define LC_READ (256 * 1024)
#define LC_KEEP (64 * 1024)

static void lconn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static const http_parser_settings lconn_hp;

void
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

size_t
lconn_queued(const struct lconn *c)
{
	return c->out.bytes;
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
	int fd;

	fd = load_socket(ld);
	if (fd == -1)
		return NULL;

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
lconn_http_send(struct lconn *c, const char *method, const char *path,
    const char *headers, const void *body, size_t len)
{
	char head[2048];
	int n;

	c->t0 = load_now(c->ld);
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "%sContent-Length: %zu\r\n\r\n", method, path, c->ld->host,
	    headers != NULL ? headers : "", len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	(void)buf_queue_push_copy(&c->out, head, (size_t)n);
	if (len > 0)
		(void)buf_queue_push_copy(&c->out, body, len);
	lconn_flush(c);
}

void
lconn_http_request(struct lconn *c)
{
	struct load *ld = c->ld;
	char head[1400];
	struct buf *b;
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
	b = buf_new(ld->size);
	memset(b->data, 'x', ld->size);
	(void)buf_queue_push(&c->out, b);
	buf_unref(b);
	lconn_flush(c);
}

void
lconn_ws_queue(struct lconn *c, int op, const void *p, size_t len)
{
	size_t h = 2, i;
	struct buf *b;
	unsigned char *d, *m;
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
			d[2 + i] = (unsigned char)((uint64_t)len >>
			    (56 - 8 * i));
	}
	m = d + h;
	memcpy(m, &key, 4);
	for (i = 0; i < len; i++)
		m[4 + i] = ((const unsigned char *)p)[i] ^ m[i % 4];
	(void)buf_queue_push(&c->out, b);
	buf_unref(b);
}

void
lconn_ws_send(struct lconn *c, int op, const void *p, size_t len)
{
	lconn_ws_queue(c, op, p, len);
	lconn_flush(c);
}

/* Connected: send the upgrade, or tell the scenario. */
static void
lconn_connected(struct lconn *c)
{
	struct load *ld = c->ld;
	char head[1400], group[16] = "";
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
	if (ld->channels > 1)
		snprintf(group, sizeof(group), "c%u", c->id % ld->channels);
	n = snprintf(head, sizeof(head), "GET %s%s HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", ld->path, group, ld->host);
	lconn_send(c, head, (size_t)n);
}

/*
 * Hands the whole server frames among the n bytes at p to the scenario
 * and returns how many bytes they took (a partial frame at the end is
 * left), or -1 when the connection closed meanwhile.
 */
static ssize_t
lconn_ws_frames(struct lconn *c, const unsigned char *p, size_t n)
{
	const struct lconn_ops *ops = c->ld->ops;
	size_t off = 0, h, len;
	const unsigned char *f;
	int op, i;

	while (n - off >= 2) {
		f = p + off;
		op = f[0] & 0x0f;
		len = f[1] & 0x7f;
		h = 2;
		if (len == 126) {
			if (n - off < 4)
				break;
			len = (size_t)f[2] << 8 | f[3];
			h = 4;
		} else if (len == 127) {
			if (n - off < 10)
				break;
			len = 0;
			for (i = 0; i < 8; i++)
				len = len << 8 | f[2 + i];
			h = 10;
		}
		if (n - off - h < len)
			break;
		off += h + len;
		if (op == 0x8) {
			lconn_close(c, "server closed");
			return -1;
		}
		if (op == 0x9) {
			lconn_ws_send(c, 0xa, f + h, len);
			continue;
		}
		if (ops->on_ws != NULL)
			ops->on_ws(c, op, f + h, len);
	}
	return (ssize_t)off;
}

/* Keeps the n bytes at p, a partial frame, for the next read. */
static void
lconn_keep(struct lconn *c, const unsigned char *p, size_t n)
{
	unsigned char *in = NULL;

	if (n > 0) {
		in = xmalloc(n);
		memcpy(in, p, n);
	}
	free(c->in);
	c->in = in;
	c->inlen = n;
}

/*
 * Reads a WebSocket connection once and parses what arrived, with the
 * partial frame of the last read in front of it.
 */
static void
lconn_ws_read(struct lconn *c, unsigned char *buf)
{
	struct load *ld = c->ld;
	unsigned char *p = buf + LC_KEEP;
	size_t avail;
	ssize_t n, used;

	if (c->inlen > LC_KEEP) {
		/* A frame bigger than the room in front: grow it. */
		n = read(c->fd, buf, LC_READ);
		if (n <= 0)
			goto fail;
		c->in = xreallocarray(c->in, c->inlen + (size_t)n, 1);
		memcpy(c->in + c->inlen, buf, (size_t)n);
		c->inlen += (size_t)n;
		p = c->in;
		avail = c->inlen;
	} else {
		n = read(c->fd, p, LC_READ);
		if (n <= 0)
			goto fail;
		if (c->inlen > 0) {
			p -= c->inlen;
			memcpy(p, c->in, c->inlen);
		}
		avail = c->inlen + (size_t)n;
	}
	ld->now = load_now(ld);
	used = lconn_ws_frames(c, p, avail);
	if (used == -1)
		return;
	if (p == c->in) {
		memmove(c->in, c->in + used, avail - (size_t)used);
		c->inlen = avail - (size_t)used;
		if (c->inlen == 0) {
			free(c->in);
			c->in = NULL;
		}
	} else if ((size_t)used < avail || c->inlen > 0) {
		lconn_keep(c, p + used, avail - (size_t)used);
	}
	if (ld->is_worker)
		load_publish(ld);
	return;
fail:
	if (n == 0)
		lconn_close(c, "EOF");
	else if (errno != EAGAIN && errno != EINTR)
		lconn_close(c, strerror(errno));
}

static void
lconn_read(struct lconn *c)
{
	static unsigned char *buf;
	struct load *ld = c->ld;
	ssize_t n;
	size_t used;

	if (buf == NULL)
		buf = xmalloc(LC_KEEP + LC_READ);
	if (c->state == LC_OPEN && ld->ws) {
		lconn_ws_read(c, buf);
		return;
	}
	n = read(c->fd, buf, LC_READ);
	if (n == 0) {
		lconn_close(c, "EOF");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			lconn_close(c, strerror(errno));
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
			ssize_t k;

			ld->now = load_now(ld);
			k = lconn_ws_frames(c, buf + used, (size_t)n - used);
			if (k >= 0)
				lconn_keep(c, buf + used + k,
				    (size_t)n - used - (size_t)k);
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
