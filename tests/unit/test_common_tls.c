/*
 * tls: real TLS handshakes over a socketpair with certificates made by
 * tests/certs.sh: mutual authentication accepted with the right CA,
 * refused with another CA or without a client certificate, host name
 * checks, version floor, bad files, and reload keeping live connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "tls.h"

static char dir[] = "/tmp/parley-tls-XXXXXX";
static char path_buf[16][128];
static int npaths;

/* Path of a file made by certs.sh (kept for the whole run). */
static char *
P(const char *name)
{
	char *p = path_buf[npaths++ % 16];

	snprintf(p, sizeof(path_buf[0]), "%s/%s", dir, name);
	return p;
}

static int
setup(void **state)
{
	char cmd[256];

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "bash tests/certs.sh %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct pair {
	SSL *c, *s;
	int fd[2];
};

/* Connects a client and a server SSL over a non-blocking socketpair. */
static void
pair_open(struct pair *p, SSL_CTX *cctx, SSL_CTX *sctx, const char *host)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
	assert_int_equal(daemon_set_nonblock(p->fd[0]), 0);
	assert_int_equal(daemon_set_nonblock(p->fd[1]), 0);
	p->c = tls_client_new(cctx, host);
	p->s = tls_server_new(sctx);
	assert_non_null(p->c);
	assert_non_null(p->s);
	SSL_set_fd(p->c, p->fd[0]);
	SSL_set_fd(p->s, p->fd[1]);
}

static void
pair_close(struct pair *p)
{
	SSL_free(p->c);
	SSL_free(p->s);
	close(p->fd[0]);
	close(p->fd[1]);
}

/* One step of one side: 1 done, 0 wants more, -1 failed. */
static int
step(SSL *ssl)
{
	int rc = SSL_do_handshake(ssl), e;

	if (rc == 1)
		return 1;
	e = SSL_get_error(ssl, rc);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/*
 * Runs both handshakes, then a round trip of application data (with TLS
 * 1.3 the client finishes before the server has checked its certificate,
 * so only data shows whether the server accepted it).  0 when both sides
 * got through, -1 when either refused.
 */
static int
pair_run(struct pair *p)
{
	int cs = 0, ss = 0, i;
	char buf[16];

	for (i = 0; i < 100 && (cs != 1 || ss != 1); i++) {
		if (cs == 0)
			cs = step(p->c);
		if (ss == 0)
			ss = step(p->s);
		if (cs == -1 || ss == -1)
			return -1;
	}
	if (cs != 1 || ss != 1)
		return -1;

	if (SSL_write(p->c, "ping", 4) != 4)
		return -1;
	for (i = 0; i < 10; i++) {
		int n = SSL_read(p->s, buf, sizeof(buf));

		if (n == 4 && memcmp(buf, "ping", 4) == 0)
			break;
		if (n <= 0 && SSL_get_error(p->s, n) != SSL_ERROR_WANT_READ)
			return -1;
	}
	if (i == 10 || SSL_write(p->s, "pong", 4) != 4)
		return -1;
	for (i = 0; i < 10; i++) {
		int n = SSL_read(p->c, buf, sizeof(buf));

		if (n == 4 && memcmp(buf, "pong", 4) == 0)
			return 0;
		if (n <= 0 && SSL_get_error(p->c, n) != SSL_ERROR_WANT_READ)
			return -1;
	}
	return -1;
}

static SSL_CTX *
server_ctx(const char *cert, const char *key, const char *ca,
    const char *minv)
{
	struct tls_settings s = {P(cert), P(key), ca ? P(ca) : NULL,
	    (char *)minv, NULL};
	char err[512];
	SSL_CTX *ctx = tls_server_ctx_new(&s, err, sizeof(err));

	if (ctx == NULL)
		fail_msg("%s", err);
	return ctx;
}

static SSL_CTX *
client_ctx(const char *cert, const char *key, const char *ca)
{
	struct tls_settings s = {cert ? P(cert) : NULL, key ? P(key) : NULL,
	    P(ca), (char *)"1.2", NULL};
	char err[512];
	SSL_CTX *ctx = tls_client_ctx_new(&s, err, sizeof(err));

	if (ctx == NULL)
		fail_msg("%s", err);
	return ctx;
}

/* Runs one handshake of cctx against sctx; 0 accepted, -1 refused. */
static int
try(SSL_CTX *cctx, SSL_CTX *sctx, const char *host)
{
	struct pair p;
	int rc;

	pair_open(&p, cctx, sctx, host);
	rc = pair_run(&p);
	pair_close(&p);
	return rc;
}

static void
test_mutual_accepted(void **state)
{
	SSL_CTX *s = server_ctx("server.pem", "server.key", "ca.pem", "1.3");
	SSL_CTX *c = client_ctx("client.pem", "client.key", "ca.pem");
	struct pair p;
	char desc[512];

	pair_open(&p, c, s, "localhost");
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(SSL_version(p.s), TLS1_3_VERSION);
	tls_describe_peer(p.s, desc, sizeof(desc));
	assert_non_null(strstr(desc, "subject=/CN=parley-client"));
	assert_non_null(strstr(desc, "issuer=/CN=Parley Test CA"));
	assert_null(strstr(desc, "not verified"));
	tls_describe_peer(p.c, desc, sizeof(desc));
	assert_non_null(strstr(desc, "subject=/CN=localhost"));
	pair_close(&p);

	/* By address: checked against the IP SANs. */
	assert_int_equal(try(c, s, "127.0.0.1"), 0);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}

static void
test_client_refused(void **state)
{
	SSL_CTX *s = server_ctx("server.pem", "server.key", "ca.pem", "1.3");
	SSL_CTX *other = client_ctx("other-client.pem", "other-client.key",
	    "ca.pem");
	SSL_CTX *none = client_ctx(NULL, NULL, "ca.pem");

	/* A client certificate from another CA. */
	assert_int_equal(try(other, s, "localhost"), -1);
	/* No client certificate at all. */
	assert_int_equal(try(none, s, "localhost"), -1);
	SSL_CTX_free(s);
	SSL_CTX_free(other);
	SSL_CTX_free(none);
}

static void
test_server_refused(void **state)
{
	SSL_CTX *s = server_ctx("server.pem", "server.key", "ca.pem", "1.3");
	SSL_CTX *os = server_ctx("other-server.pem", "other-server.key",
	    "ca.pem", "1.3");
	SSL_CTX *c = client_ctx("client.pem", "client.key", "ca.pem");
	SSL_CTX *wrongca = client_ctx("client.pem", "client.key",
	    "other-ca.pem");

	/* The client trusts only the other CA. */
	assert_int_equal(try(wrongca, s, "localhost"), -1);
	/* The server's certificate is from a CA the client does not know. */
	assert_int_equal(try(c, os, "localhost"), -1);
	/* The name does not match the certificate. */
	assert_int_equal(try(c, s, "backend.example"), -1);
	assert_int_equal(try(c, s, "10.1.2.3"), -1);
	SSL_CTX_free(s);
	SSL_CTX_free(os);
	SSL_CTX_free(c);
	SSL_CTX_free(wrongca);
}

static void
test_versions(void **state)
{
	SSL_CTX *s13 = server_ctx("server.pem", "server.key", NULL, "1.3");
	SSL_CTX *s12 = server_ctx("server.pem", "server.key", NULL, "1.2");
	SSL_CTX *c = client_ctx(NULL, NULL, "ca.pem");
	struct pair p;

	/* Without tls_ca the server asks for no client certificate. */
	assert_int_equal(try(c, s12, "localhost"), 0);

	/* A client limited to 1.2 cannot reach a 1.3-only server. */
	pair_open(&p, c, s13, "localhost");
	SSL_set_max_proto_version(p.c, TLS1_2_VERSION);
	assert_int_equal(pair_run(&p), -1);
	pair_close(&p);

	/* The same client is fine with a 1.2 floor, and gets 1.2. */
	pair_open(&p, c, s12, "localhost");
	SSL_set_max_proto_version(p.c, TLS1_2_VERSION);
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(SSL_version(p.c), TLS1_2_VERSION);
	pair_close(&p);

	assert_int_equal(tls_parse_version("1.3"), TLS1_3_VERSION);
	assert_int_equal(tls_parse_version("1.1"), -1);
	SSL_CTX_free(s13);
	SSL_CTX_free(s12);
	SSL_CTX_free(c);
}

static void
test_bad_settings(void **state)
{
	struct tls_settings s = {P("server.pem"), P("client.key"), NULL,
	    (char *)"1.2", NULL};
	char err[512];

	/* A key that does not match the certificate. */
	assert_null(tls_server_ctx_new(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "tls_key"));

	s.key = P("missing.key");
	assert_null(tls_server_ctx_new(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "missing.key"));

	s.key = P("server.key");
	s.min_version = (char *)"1.0";
	assert_null(tls_server_ctx_new(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "tls_min_version"));

	s.min_version = (char *)"1.2";
	s.ca = P("nothing.pem");
	assert_null(tls_server_ctx_new(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "tls_ca"));

	/* A client needs a CA; cert and key go together. */
	s.ca = NULL;
	assert_null(tls_client_ctx_new(&s, err, sizeof(err)));
	s.ca = P("ca.pem");
	s.key = NULL;
	assert_null(tls_client_ctx_new(&s, err, sizeof(err)));
	s.cert = NULL;
	assert_null(tls_server_ctx_new(&s, err, sizeof(err)));
}

static void
test_reload_keeps_connections(void **state)
{
	SSL_CTX *s = server_ctx("server.pem", "server.key", "ca.pem", "1.3");
	SSL_CTX *c = client_ctx("client.pem", "client.key", "ca.pem");
	SSL_CTX *before = s;
	struct tls_settings good = {P("other-server.pem"),
	    P("other-server.key"), P("ca.pem"), (char *)"1.3", NULL};
	struct tls_settings bad = {P("server.pem"), P("nope.key"),
	    P("ca.pem"), (char *)"1.3", NULL};
	struct pair p;
	char err[512], buf[8];
	int n;

	pair_open(&p, c, s, "localhost");
	assert_int_equal(pair_run(&p), 0);

	/* A failed reload leaves the context alone. */
	assert_int_equal(tls_reload(&s, TLS_SERVER, &bad, err, sizeof(err)),
	    -1);
	assert_ptr_equal(s, before);

	/*
	 * Reload to a certificate of another CA: new handshakes use it
	 * (and this client refuses it), while the live connection made
	 * from the old context keeps working.
	 */
	assert_int_equal(tls_reload(&s, TLS_SERVER, &good, err, sizeof(err)),
	    0);
	assert_ptr_not_equal(s, before);
	assert_int_equal(try(c, s, "localhost"), -1);

	assert_int_equal(SSL_write(p.c, "again", 5), 5);
	n = SSL_read(p.s, buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "again", 5);
	pair_close(&p);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutual_accepted),
		cmocka_unit_test(test_client_refused),
		cmocka_unit_test(test_server_refused),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_bad_settings),
		cmocka_unit_test(test_reload_keeps_connections),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
