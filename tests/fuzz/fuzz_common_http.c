/*
 * libFuzzer target for the HTTP/1.1 server: the input is written into a
 * socketpair served by a real loop, in up to three pieces whose cut
 * points come from the first two bytes, so that requests split anywhere
 * and pipelined requests are parsed.  Every request is answered; one
 * path is answered at the next loop pass instead, to exercise deferred
 * replies, and an Upgrade request goes to the WebSocket layer.
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
static struct http_req *later;

static void
handler(struct http_req *req, void *arg)
{
	const char *n, *v;
	size_t i, len;

	if (ws_is_upgrade(req)) {
		(void)ws_accept(wss, req, NULL);
		return;
	}
	for (i = 0; http_req_header_at(req, i, &n, &v) == 0; i++)
		(void)http_req_header(req, n);
	(void)http_req_body(req, &len);
	if (strcmp(http_req_path(req), "/later") == 0 && later == NULL) {
		later = req;
		return;
	}
	http_reply(req, 200, "text/plain", http_req_query(req),
	    strlen(http_req_query(req)));
}

static void
on_message(struct ws_conn *c, enum ws_opcode op, const unsigned char *d,
    size_t n, void *arg)
{
	(void)ws_send(c, op, d, n);
}

static void
pump(int fd)
{
	char sink[65536];
	int i;

	for (i = 0; i < 4; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		if (later != NULL) {
			http_reply_str(later, 202, NULL, "later");
			later = NULL;
		}
		while (read(fd, sink, sizeof(sink)) > 0)
			;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_callbacks cb = { NULL, on_message, NULL };
	struct http_limits lim;
	size_t cut1, cut2, off;
	int sv[2];

	if (loop == NULL) {
		log_init("fuzz_common_http", 1, 0);
		log_setverbose(0);
		loop = ev_loop_new(EVFLAG_AUTO);
		http_limits_default(&lim);
		lim.max_header = 2048;
		lim.max_body = 4096;
		srv = http_server_new(loop, &lim, handler, NULL);
		wss = ws_server_new(loop, NULL, &cb, NULL);
	}
	if (size < 2 || size > 60000)
		return 0;
	cut1 = data[0] % (size - 1);
	cut2 = cut1 + data[1] % (size - 1 - cut1 + 1);
	data += 2;
	size -= 2;
	if (cut1 > size)
		cut1 = size;
	if (cut2 > size)
		cut2 = size;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (http_server_adopt(srv, sv[0], NULL) == -1) {
		close(sv[1]);
		return 0;
	}
	off = 0;
	if (write(sv[1], data, cut1) >= 0)
		off = cut1;
	pump(sv[1]);
	if (write(sv[1], data + off, cut2 - off) >= 0)
		off = cut2;
	pump(sv[1]);
	if (write(sv[1], data + off, size - off) < 0)
		(void)0;
	pump(sv[1]);
	close(sv[1]);
	pump(-1);
	if (later != NULL) {
		http_reply_str(later, 202, NULL, "later");
		later = NULL;
	}
	return 0;
}
