/*
 * libFuzzer target for WebSocket frames from clients: each input opens a
 * connection through the HTTP server with a valid upgrade, then writes
 * the input as the client's frames, cut in two at a point taken from its
 * first byte.  Messages are echoed and a ping-like message closes from
 * the server side, so sending, closing and parsing mix.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct http_server *srv;
static struct ws_server *wss;

static const char upgrade[] =
    "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

static void
handler(struct http_req *req, void *arg)
{
	(void)ws_accept(wss, req, NULL);
}

static void
on_message(struct ws_conn *c, enum ws_opcode op, const unsigned char *d,
    size_t n, void *arg)
{
	if (n > 0 && d[0] == 'Q')
		ws_close(c, 1000, "bye");
	else
		(void)ws_send(c, op, d, n);
}

static void
pump(int fd)
{
	char sink[65536];
	int i;

	for (i = 0; i < 4; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		while (fd != -1 && read(fd, sink, sizeof(sink)) > 0)
			;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_callbacks cb = { NULL, on_message, NULL };
	struct ws_limits wl;
	size_t cut;
	int sv[2];

	if (loop == NULL) {
		log_init("fuzz_common_ws", 1, 0);
		loop = ev_loop_new(EVFLAG_AUTO);
		srv = http_server_new(loop, NULL, handler, NULL);
		ws_limits_default(&wl);
		wl.max_message = 8192;
		wss = ws_server_new(loop, &wl, &cb, NULL);
	}
	if (size < 1 || size > 60000)
		return 0;
	cut = data[0] % size;
	data++;
	size--;
	if (cut > size)
		cut = size;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (http_server_adopt(srv, sv[0], NULL) == -1) {
		close(sv[1]);
		return 0;
	}
	if (write(sv[1], upgrade, sizeof(upgrade) - 1) < 0)
		(void)0;
	pump(sv[1]);
	if (write(sv[1], data, cut) < 0)
		(void)0;
	pump(sv[1]);
	if (write(sv[1], data + cut, size - cut) < 0)
		(void)0;
	pump(sv[1]);
	close(sv[1]);
	pump(-1);
	return 0;
}
