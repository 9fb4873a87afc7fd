/*
 * health_net: addresses and sockets shared by the probes and listeners.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "health.h"
#include "log.h"

/*
 * Parses an address: "/path" or "unix:/path" (a Unix socket),
 * "host:port", "[v6]:port" or "*:port" (any address).  Names are
 * resolved here, once, at start-up.  Returns 0, or -1 with a reason in
 * err.
 */
int
health_parse_addr(
    const char *s, struct health_addr *a, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon, *port, *h0;
	size_t hlen;
	int rc;

	memset(a, 0, sizeof(*a));
	snprintf(a->text, sizeof(a->text), "%s", s);
	if (strncmp(s, "unix:", 5) == 0)
		s += 5;
	if (s[0] == '/') {
		struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;

		if (strlen(s) >= sizeof(sun->sun_path)) {
			snprintf(err, errlen, "socket path too long");
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s, strlen(s) + 1);
		a->len = (socklen_t)sizeof(*sun);
		return 0;
	}

	colon = strrchr(s, ':');
	if (colon == NULL || colon[1] == '\0') {
		snprintf(err, errlen, "expected host:port or a socket path");
		return -1;
	}
	port = colon + 1;
	h0 = s;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && h0[0] == '[' && h0[hlen - 1] == ']') {
		h0++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		snprintf(err, errlen, "host name too long");
		return -1;
	}
	memcpy(host, h0, hlen);
	host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (hlen == 0 || strcmp(host, "*") == 0)
		hints.ai_flags |= AI_PASSIVE;
	rc = getaddrinfo(
	    hints.ai_flags & AI_PASSIVE ? NULL : host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s", gai_strerror(rc));
		return -1;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Returns the port of a, or 0 for a Unix socket. */
int
health_addr_port(const struct health_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

/*
 * Opens a non-blocking listening socket on a.  Returns the descriptor, or
 * -1 after logging why.
 */
int
health_socket_listen(const struct health_addr *a)
{
	int fd, one = 1;

	fd = socket(
	    a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("socket for %s", a->text);
		return -1;
	}
	if (a->ss.ss_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		log_warn("bind %s", a->text);
		close(fd);
		return -1;
	}
	if (listen(fd, 1024) == -1) {
		log_warn("listen %s", a->text);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Starts a non-blocking connect to a.  Returns the descriptor (the
 * connection may still be in progress), or -1 with errno set.
 */
int
health_socket_connect(const struct health_addr *a)
{
	int fd, one = 1, saved;

	fd = socket(
	    a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (a->ss.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 &&
	    errno != EINPROGRESS && errno != EAGAIN) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
