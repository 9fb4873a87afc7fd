/*
 * daemon: a real daemon_main in a child process.  SIGHUP reloads a good
 * file, keeps the running settings on a bad file or a refused reload;
 * SIGTERM lets an open connection finish before exiting 0; -t, -h and a
 * bad option give their exit codes.  Also the listening-socket helpers.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "log.h"

struct dset {
	struct conf_addr listen;
	int gen;
};

static const struct conf_key d_keys[] = {
	{"listen", CONF_ADDRESS, offsetof(struct dset, listen),
	    "127.0.0.1:0", 0, 0, 0},
	{"gen", CONF_INT, offsetof(struct dset, gen), "0", 0, 1000, 0},
	{NULL, 0, 0, NULL, 0, 0, 0},
};
static const struct conf_section d_sections[] = {
	{"spoa", d_keys, 0, false, 0, 0, 0},
	{NULL, NULL, 0, false, 0, 0, 0},
};
static const struct conf_schema d_schema = {
	sizeof(struct dset), d_sections, NULL,
};

/* Child side: reports events as lines on report_fd. */
static int report_fd = -1;
static struct dset d_settings;
static ev_io lst_w, conn_w;

static void
report(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(report_fd, line, (size_t)n) != n)
		_exit(3);
}

static void
on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	char buf[64];
	ssize_t n = read(w->fd, buf, sizeof(buf));

	if (n > 0 || (n == -1 && errno == EAGAIN))
		return;
	/* The peer is done: the last in-flight work has finished. */
	ev_io_stop(loop, w);
	close(w->fd);
	report("closed\n");
	if (daemon_stopping())
		daemon_exit(loop);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	int fd = accept(w->fd, NULL, NULL);

	if (fd == -1)
		return;
	daemon_set_nonblock(fd);
	daemon_io_start(loop, &conn_w, on_conn, fd, EV_READ, NULL);
	report("accepted\n");
}

static int
d_start(struct ev_loop *loop, void *settings, void *arg)
{
	struct dset *s = settings;
	int fd = daemon_listen_tcp(&s->listen, 0);

	if (fd == -1)
		return -1;
	daemon_io_start(loop, &lst_w, on_accept, fd, EV_READ, NULL);
	report("start %d %d\n", daemon_local_port(fd), s->gen);
	return 0;
}

static void
d_stop(struct ev_loop *loop, void *arg)
{
	ev_io_stop(loop, &lst_w);
	close(lst_w.fd);
	report("stop %d\n", ev_is_active(&conn_w) ? 1 : 0);
	if (!ev_is_active(&conn_w))
		daemon_exit(loop);
}

static int
d_reload(struct ev_loop *loop, const void *old, void *fresh, void *arg)
{
	const struct dset *o = old;
	const struct dset *f = fresh;

	report("reload %d %d\n", o->gen, f->gen);
	return f->gen == 99 ? -1 : 0;
}

/* -t's extra check: gen 77 stands for a key file that would not load. */
static int
d_check(const void *settings, void *arg)
{
	const struct dset *s = settings;

	if (s->gen == 77) {
		log_warnx("check: gen 77 would not start");
		return -1;
	}
	return 0;
}

static const struct daemon_ops d_ops = {
	"parley-test", "/nonexistent/parley.conf", &d_schema, &d_settings,
	NULL, d_start, d_stop, d_reload, NULL, d_check,
};

/* Parent side. */
static char dir[] = "/tmp/parley-daemon-XXXXXX";
static char conf[64];

static void
write_conf(const char *text)
{
	char tmp[80];
	FILE *f;

	/* Replace atomically so the child never reads half a file. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", conf);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, conf), 0);
}

/* Reads one line from fd, waiting at most 10 s; "" on timeout or EOF. */
static const char *
read_line(int fd, char *buf, size_t len)
{
	struct pollfd p = {fd, POLLIN, 0};
	size_t n = 0;

	while (n + 1 < len) {
		if (poll(&p, 1, 10000) != 1 || read(fd, buf + n, 1) != 1)
			break;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return buf;
}

/* Reads lines of fd until one contains what; fails after 10 s. */
static void
wait_for(int fd, const char *what)
{
	char line[512];

	for (;;) {
		read_line(fd, line, sizeof(line));
		if (line[0] == '\0')
			fail_msg("no line containing '%s'", what);
		if (strstr(line, what) != NULL)
			return;
	}
}

/* Runs daemon_main(argv) in a child; returns its pid. */
static pid_t
spawn(char **argv, int argc, int *rep, int *err)
{
	int rp[2], ep[2];
	pid_t pid;

	assert_int_equal(pipe(rp), 0);
	assert_int_equal(pipe(ep), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(rp[0]);
		close(ep[0]);
		report_fd = rp[1];
		dup2(ep[1], 2);
		_exit(daemon_main(argc, argv, &d_ops));
	}
	close(rp[1]);
	close(ep[1]);
	*rep = rp[0];
	*err = ep[0];
	return pid;
}

static int
wait_exit(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_life(void **state)
{
	char *argv[] = {(char *)"parley-test", (char *)"-c", conf, NULL};
	char line[128];
	int rep, err, port, gen, fd, busy;
	struct sockaddr_in sin;
	pid_t pid;

	write_conf("[spoa]\ngen = 1\n[edge]\nanything = 1\n");
	pid = spawn(argv, 3, &rep, &err);
	assert_int_equal(sscanf(read_line(rep, line, sizeof(line)),
	    "start %d %d", &port, &gen), 2);
	assert_int_equal(gen, 1);
	assert_true(port > 0);

	/* A client connection: in-flight work the stop must wait for. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_string_equal(read_line(rep, line, sizeof(line)), "accepted");

	/* A good file is offered and adopted. */
	write_conf("[spoa]\ngen = 2\n");
	kill(pid, SIGHUP);
	assert_string_equal(read_line(rep, line, sizeof(line)), "reload 1 2");
	wait_for(err, "configuration reloaded");

	/* A bad file never reaches the daemon. */
	write_conf("[spoa]\ngen = 2\nbogus = 1\n");
	kill(pid, SIGHUP);
	wait_for(err, "parley.conf:3: unknown key 'bogus' in [spoa]");

	/* A refused reload keeps the running settings. */
	write_conf("[spoa]\ngen = 99\n");
	kill(pid, SIGHUP);
	assert_string_equal(read_line(rep, line, sizeof(line)),
	    "reload 2 99");
	wait_for(err, "reload refused");

	/* So the next reload still starts from generation 2. */
	write_conf("[spoa]\ngen = 3\n[log]\ndebug = yes\n");
	kill(pid, SIGHUP);
	assert_string_equal(read_line(rep, line, sizeof(line)), "reload 2 3");

	/* SIGTERM: stop waits for the open connection. */
	kill(pid, SIGTERM);
	assert_int_equal(sscanf(read_line(rep, line, sizeof(line)),
	    "stop %d", &busy), 1);
	assert_int_equal(busy, 1);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
	close(fd);
	assert_string_equal(read_line(rep, line, sizeof(line)), "closed");
	assert_int_equal(wait_exit(pid), 0);
	close(rep);
	close(err);
}

static void
test_second_signal(void **state)
{
	char *argv[] = {(char *)"parley-test", (char *)"-c", conf, NULL};
	char line[128];
	int rep, err, port, gen, fd;
	struct sockaddr_in sin;
	pid_t pid;

	write_conf("[spoa]\ngen = 5\n");
	pid = spawn(argv, 3, &rep, &err);
	assert_int_equal(sscanf(read_line(rep, line, sizeof(line)),
	    "start %d %d", &port, &gen), 2);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_string_equal(read_line(rep, line, sizeof(line)), "accepted");

	/* The connection stays open, a second signal stops at once. */
	kill(pid, SIGINT);
	assert_string_equal(read_line(rep, line, sizeof(line)), "stop 1");
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid), 0);
	close(fd);
	close(rep);
	close(err);
}

static void
test_command_line(void **state)
{
	char *good[] = {(char *)"t", (char *)"-t", (char *)"-c", conf, NULL};
	char *help[] = {(char *)"t", (char *)"-h", NULL};
	char *badopt[] = {(char *)"t", (char *)"-x", NULL};
	char *extra[] = {(char *)"t", (char *)"-c", conf, (char *)"x", NULL};
	char *nofile[] = {(char *)"t", (char *)"-t", NULL};
	int rep, err;

	write_conf("[spoa]\ngen = 1\n[log]\nsyslog = no\n");
	assert_int_equal(wait_exit(spawn(good, 4, &rep, &err)), 0);
	wait_for(err, "configuration ok");
	close(rep);
	close(err);

	write_conf("[spoa]\ngen = 1001\n");
	assert_int_equal(wait_exit(spawn(good, 4, &rep, &err)), 1);
	wait_for(err, "parley.conf:2: [spoa] gen: 1001 is above the maximum");
	close(rep);
	close(err);

	write_conf("[log]\nsyslog = sometimes\n");
	assert_int_equal(wait_exit(spawn(good, 4, &rep, &err)), 1);
	close(rep);
	close(err);

	/*
	 * Guards: -t said "configuration ok" for what start then refused;
	 * it now runs the daemon's check hook too.
	 */
	write_conf("[spoa]\ngen = 77\n");
	assert_int_equal(wait_exit(spawn(good, 4, &rep, &err)), 1);
	wait_for(err, "check: gen 77 would not start");
	wait_for(err, "configuration has errors");
	close(rep);
	close(err);

	assert_int_equal(wait_exit(spawn(help, 2, &rep, &err)), 0);
	wait_for(err, "usage:");
	close(rep);
	close(err);
	assert_int_equal(wait_exit(spawn(badopt, 2, &rep, &err)), 2);
	close(rep);
	close(err);
	assert_int_equal(wait_exit(spawn(extra, 4, &rep, &err)), 2);
	close(rep);
	close(err);
	/* Without -c the default file is used; it does not exist here. */
	assert_int_equal(wait_exit(spawn(nofile, 2, &rep, &err)), 1);
	wait_for(err, "/nonexistent/parley.conf");
	close(rep);
	close(err);
}

static void
test_listen_helpers(void **state)
{
	struct conf_addr a;
	char path[96], err[CONF_ERRLEN];
	struct stat sb;
	int fd, fd2;

	assert_int_equal(conf_parse_address("[::1]:0", &a, err, sizeof(err)),
	    0);
	fd = daemon_listen_tcp(&a, 16);
	if (fd >= 0) { /* IPv6 may be off in a container */
		assert_true(daemon_local_port(fd) > 0);
		close(fd);
	}

	/* Two listeners on one port: the second fails with a message. */
	assert_int_equal(conf_parse_address("127.0.0.1:0", &a, err,
	    sizeof(err)), 0);
	fd = daemon_listen_tcp(&a, 16);
	assert_true(fd >= 0);
	a.port = (uint16_t)daemon_local_port(fd);
	fd2 = daemon_listen_tcp(&a, 16);
	assert_int_equal(fd2, -1);
	close(fd);

	/* Unix socket: mode 0600; a stale socket is replaced. */
	snprintf(path, sizeof(path), "%s/admin.sock", dir);
	fd = daemon_listen_unix(path, 0);
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	close(fd);
	fd = daemon_listen_unix(path, 0);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);

	/* Something that is not a socket is left alone. */
	assert_int_equal(daemon_listen_unix(conf, 0), -1);
	assert_int_equal(access(conf, F_OK), 0);
	assert_true(daemon_raise_nofile() > 0);
}

static int
setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(conf, sizeof(conf), "%s/parley.conf", dir);
	return 0;
}

static int
teardown(void **state)
{
	unlink(conf);
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_life),
		cmocka_unit_test(test_second_signal),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_listen_helpers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
