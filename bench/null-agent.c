/*
 * parley-null-agent: a SPOA that decides nothing.  It completes the HELLO
 * handshake and answers every NOTIFY with the same one-action ACK
 * (txn.parley.route = "full"), so that benchmarks can tell the cost of
 * SPOE itself from the cost of parley-spoa's decisions.
 *
 *   parley-null-agent HOST:PORT
 *
 * One thread, one libev loop; answers of one read go out in one write.
 * Bench only: broken input just closes the connection.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "spop.h"
#include "xmalloc.h"

#define NULL_BUF (64 * 1024)

struct null_conn {
	ev_io rw;
	uint32_t mfs;
	uint8_t in[NULL_BUF + 4];
	size_t in_len;
	uint8_t out[4 * NULL_BUF];
};

static void
null_close(struct ev_loop *loop, struct null_conn *c)
{
	ev_io_stop(loop, &c->rw);
	close(c->rw.fd);
	free(c);
}

/* Answers one frame into out; returns bytes written, or -1 to close. */
static ssize_t
null_answer(struct null_conn *c, const struct spop_frame *f, uint8_t *out,
    size_t room)
{
	uint8_t *p = out, *end = out + room, *start;
	struct spop_hello h;
	struct spop_data v;
	int status;

	switch (f->type) {
	case SPOP_FRAME_HAPROXY_HELLO:
		if (spop_hello_parse(f, &h, &status) == -1)
			return -1;
		if (h.max_frame_size < c->mfs)
			c->mfs = h.max_frame_size;
		return spop_build_agent_hello(out, room, c->mfs,
		    spop_list_has(h.capabilities, h.capabilities_len,
			"pipelining")
			? "pipelining"
			: "");
	case SPOP_FRAME_NOTIFY:
		start = spop_frame_start(&p, end, SPOP_FRAME_ACK,
		    SPOP_FLAG_FIN, f->stream_id, f->frame_id);
		v.type = SPOP_T_STR;
		v.v.s.ptr = "full";
		v.v.s.len = 4;
		if (start == NULL || spop_action_set_var(&p, end,
					 SPOP_SCOPE_TXN, "route", 5, &v) == -1)
			return -1;
		spop_frame_finish(start, p);
		return p - out;
	case SPOP_FRAME_HAPROXY_DISCONNECT:
		spop_build_disconnect(out, room, SPOP_FRAME_AGENT_DISCONNECT,
		    0, "normal");
		return -1;
	default:
		return 0;
	}
}

static void
null_read(struct ev_loop *loop, ev_io *io, int revents)
{
	struct null_conn *c = io->data;
	struct spop_frame f;
	size_t off = 0, olen = 0;
	int status, hc = 0;
	ssize_t n, a;

	n = read(io->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		null_close(loop, c);
		return;
	}
	c->in_len += n;

	while ((n = spop_frame_parse(c->in + off, c->in_len - off, c->mfs, &f,
		    &status)) > 0) {
		if (sizeof(c->out) - olen < c->mfs + 4)
			break;
		if (f.type == SPOP_FRAME_HAPROXY_HELLO) {
			struct spop_hello h;

			hc = spop_hello_parse(&f, &h, &status) == 0 &&
			    h.healthcheck;
		}
		a = null_answer(c, &f, c->out + olen, sizeof(c->out) - olen);
		if (a < 0) {
			null_close(loop, c);
			return;
		}
		olen += a;
		off += n;
	}
	if (n < 0) {
		null_close(loop, c);
		return;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;

	/* Bench only: the socket buffer takes the answers of one read. */
	if (olen > 0 && write(io->fd, c->out, olen) != (ssize_t)olen) {
		null_close(loop, c);
		return;
	}
	if (hc)
		null_close(loop, c);
}

static void
null_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct null_conn *c;
	int fd;

	fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	c = xcalloc(1, sizeof(*c));
	c->mfs = NULL_BUF - 4;
	ev_io_init(&c->rw, null_read, fd, EV_READ);
	c->rw.data = c;
	ev_io_start(loop, &c->rw);
}

int
main(int argc, char **argv)
{
	struct ev_loop *loop = EV_DEFAULT;
	struct conf_addr addr;
	char err[256];
	ev_io lw;
	int fd;

	log_init("parley-null-agent", 0, 0);
	if (argc != 2 ||
	    conf_parse_address(argv[1], &addr, err, sizeof(err)) == -1) {
		fprintf(stderr, "usage: parley-null-agent HOST:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((fd = daemon_listen_tcp(&addr, 0)) == -1)
		return 1;
	ev_io_init(&lw, null_accept, fd, EV_READ);
	ev_io_start(loop, &lw);
	ev_run(loop, 0);
	return 0;
}
