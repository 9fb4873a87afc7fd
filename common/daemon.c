/*
 * daemon: command line, configuration, logging, signals and listening
 * sockets of a Parley daemon on the libev default loop.
 *
 *   start --SIGTERM/SIGINT--> stopping --ops->stop finishes--> exit 0
 *                                 |--second signal----------> exit 0
 *                                 '--DAEMON_STOP_TIMEOUT-----> exit 0
 *   running --SIGHUP--> reload (old settings kept on any failure)
 *
 * The configuration is loaded with the daemon's schema plus the shared
 * [log] section, into one block: the daemon's struct first, the log
 * settings after it.  The daemon's part is then moved into ops->settings
 * and the log part into daemon_log, so each side owns only its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

/* Longest wait for in-flight work after SIGTERM, in seconds. */
#define DAEMON_STOP_TIMEOUT 30.0

struct daemon_log_settings {
	bool syslog;
	bool debug;
};

static const struct conf_key daemon_log_keys[] = {
	{"syslog", CONF_BOOL, offsetof(struct daemon_log_settings, syslog),
	    "no", 0, 0, 0},
	{"debug", CONF_BOOL, offsetof(struct daemon_log_settings, debug),
	    "no", 0, 0, 0},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct daemon_ops *daemon_ops;
static const char *daemon_conf;
static int daemon_verbose;
static bool daemon_stop_seen;
static struct daemon_log_settings daemon_log;
static struct conf_schema daemon_schema;
static struct conf_section *daemon_sections;
static size_t daemon_log_offset;
static ev_timer daemon_stop_timer;

/*
 * Builds the combined schema: the daemon's sections, then [log] at the
 * end of the daemon's struct (rounded up for alignment).
 */
static void
daemon_build_schema(const struct conf_schema *s)
{
	size_t n = 0, i;
	bool has_log = false;

	while (s->sections[n].name != NULL) {
		if (strcmp(s->sections[n].name, "log") == 0)
			has_log = true;
		n++;
	}
	daemon_log_offset = (s->size + 15) & ~(size_t)15;
	daemon_sections = xcalloc(n + 2, sizeof(*daemon_sections));
	for (i = 0; i < n; i++)
		daemon_sections[i] = s->sections[i];
	if (!has_log) {
		daemon_sections[n].name = "log";
		daemon_sections[n].keys = daemon_log_keys;
		daemon_sections[n].offset = daemon_log_offset;
	}
	daemon_schema.size = daemon_log_offset + sizeof(daemon_log);
	daemon_schema.sections = daemon_sections;
	daemon_schema.check = s->check;
}

/*
 * Loads the configuration: on success the daemon's part is in *dpart (a
 * malloc'd block of ops->schema->size bytes) and the log part in *lpart.
 */
static int
daemon_load(void **dpart, struct daemon_log_settings *lpart, char *err,
    size_t errlen)
{
	char *blob = xcalloc(1, daemon_schema.size);

	if (conf_load(&daemon_schema, daemon_conf, blob, err, errlen) == -1) {
		free(blob);
		return -1;
	}
	memcpy(lpart, blob + daemon_log_offset, sizeof(*lpart));
	*dpart = blob; /* the daemon's struct is at offset 0 */
	return 0;
}

static void
daemon_apply_log(void)
{
	log_init(daemon_ops->name, daemon_log.syslog,
	    daemon_verbose > 0 || daemon_log.debug);
}

void
daemon_exit(struct ev_loop *loop)
{
	ev_break(loop, EVBREAK_ALL);
}

bool
daemon_stopping(void)
{
	return daemon_stop_seen;
}

const char *
daemon_conf_path(void)
{
	return daemon_conf;
}

static void
daemon_stop_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_ref(loop); /* balances the ev_unref made when it started */
	log_warnx("in-flight work still running after %.0fs, stopping now",
	    DAEMON_STOP_TIMEOUT);
	daemon_exit(loop);
}

static void
daemon_on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (daemon_stop_seen) {
		log_info("second stop signal, stopping now");
		daemon_exit(loop);
		return;
	}
	daemon_stop_seen = true;
	log_info("signal %d: stopping", w->signum);
	if (daemon_ops->stop == NULL) {
		daemon_exit(loop);
		return;
	}

	/* The timer must not keep the loop alive by itself. */
	ev_timer_init(&daemon_stop_timer, daemon_stop_timeout,
	    DAEMON_STOP_TIMEOUT, 0.);
	ev_timer_start(loop, &daemon_stop_timer);
	ev_unref(loop);
	daemon_ops->stop(loop, daemon_ops->arg);
}

static void
daemon_on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	const struct conf_schema *s = daemon_ops->schema;
	struct daemon_log_settings lfresh;
	char err[CONF_ERRLEN];
	void *fresh;

	log_reopen();
	log_info("SIGHUP: reloading %s", daemon_conf);
	if (daemon_load(&fresh, &lfresh, err, sizeof(err)) == -1) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		return;
	}
	if (daemon_ops->reload != NULL &&
	    daemon_ops->reload(loop, daemon_ops->settings, fresh,
	    daemon_ops->arg) == -1) {
		log_warnx("reload refused, keeping the running configuration");
		conf_free(s, fresh);
		free(fresh);
		return;
	}

	conf_free(s, daemon_ops->settings);
	memcpy(daemon_ops->settings, fresh, s->size);
	free(fresh);
	daemon_log = lfresh;
	daemon_apply_log();
	log_info("configuration reloaded");
}

long
daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return -1;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu), keeping the "
			    "current limit", (unsigned long long)rl.rlim_max);
		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			return -1;
	}
	return rl.rlim_cur > LONG_MAX ? LONG_MAX : (long)rl.rlim_cur;
}

static void
daemon_usage(const char *prog)
{
	fprintf(stderr,
	    "usage: %s [-htv] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -v       log debug lines (repeatable)\n"
	    "  -h       this help\n",
	    prog, daemon_ops->default_conf);
}

int
daemon_main(int argc, char **argv, const struct daemon_ops *ops)
{
	struct ev_loop *loop;
	ev_signal sig_term, sig_int, sig_hup;
	char err[CONF_ERRLEN];
	void *loaded;
	bool check_only = false;
	int ch, rc = 0;

	daemon_ops = ops;
	daemon_conf = ops->default_conf;
	daemon_verbose = 0;
	daemon_stop_seen = false;
	optind = 1;
	while ((ch = getopt(argc, argv, "c:htv")) != -1) {
		switch (ch) {
		case 'c':
			daemon_conf = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'v':
			daemon_verbose++;
			break;
		case 'h':
			daemon_usage(argv[0]);
			return 0;
		default:
			daemon_usage(argv[0]);
			return 2;
		}
	}
	if (optind != argc) {
		daemon_usage(argv[0]);
		return 2;
	}

	log_init(ops->name, 0, daemon_verbose > 0);
	daemon_build_schema(ops->schema);
	if (daemon_load(&loaded, &daemon_log, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		free(daemon_sections);
		return 1;
	}
	memcpy(ops->settings, loaded, ops->schema->size);
	free(loaded);
	if (check_only) {
		if (ops->check != NULL &&
		    ops->check(ops->settings, ops->arg) == -1) {
			fprintf(stderr, "%s: configuration has errors\n",
			    daemon_conf);
			rc = 1;
		} else {
			fprintf(stderr, "%s: configuration ok\n", daemon_conf);
		}
		conf_free(ops->schema, ops->settings);
		free(daemon_sections);
		return rc;
	}
	daemon_apply_log();

	signal(SIGPIPE, SIG_IGN);
	log_debug("descriptor limit %ld", daemon_raise_nofile());

	loop = ev_default_loop(EVFLAG_AUTO);
	if (loop == NULL)
		fatalx("ev_default_loop failed");
	ev_signal_init(&sig_term, daemon_on_stop, SIGTERM);
	ev_signal_init(&sig_int, daemon_on_stop, SIGINT);
	ev_signal_init(&sig_hup, daemon_on_hup, SIGHUP);
	ev_signal_start(loop, &sig_term);
	ev_signal_start(loop, &sig_int);
	ev_signal_start(loop, &sig_hup);
	/* Signal watchers alone do not keep the loop running. */
	ev_unref(loop);
	ev_unref(loop);
	ev_unref(loop);

	if (ops->start != NULL &&
	    ops->start(loop, ops->settings, ops->arg) == -1) {
		rc = 1;
	} else {
		log_info("started with %s", daemon_conf);
		ev_run(loop, 0);
		log_info("stopped");
	}

	if (ops->cleanup != NULL)
		ops->cleanup(loop, ops->arg);
	ev_ref(loop);
	ev_ref(loop);
	ev_ref(loop);
	ev_signal_stop(loop, &sig_term);
	ev_signal_stop(loop, &sig_int);
	ev_signal_stop(loop, &sig_hup);
	if (ev_is_active(&daemon_stop_timer)) {
		ev_ref(loop);
		ev_timer_stop(loop, &daemon_stop_timer);
	}
	conf_free(ops->schema, ops->settings);
	free(daemon_sections);
	daemon_sections = NULL;
	return rc;
}

int
daemon_set_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	if ((fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

int
daemon_listen_tcp(const struct conf_addr *addr, int backlog)
{
	struct addrinfo hints, *res, *ai;
	char port[8], name[300];
	int fd = -1, one = 1, zero = 0, gai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", addr->port);
	conf_addr_str(addr, name, sizeof(name));
	if (backlog <= 0)
		backlog = SOMAXCONN;

	gai = getaddrinfo(addr->host[0] ? addr->host : NULL, port, &hints,
	    &res);
	if (gai != 0) {
		log_warnx("listen %s: %s", name, gai_strerror(gai));
		return -1;
	}

	/* For any address, prefer one dual-stack IPv6 socket. */
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (addr->host[0] == '\0' && ai->ai_family != AF_INET6 &&
		    res->ai_next != NULL) {
			struct addrinfo *o;

			for (o = res; o != NULL; o = o->ai_next)
				if (o->ai_family == AF_INET6)
					break;
			if (o != NULL)
				continue;
		}
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6 && addr->host[0] == '\0')
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			    sizeof(zero));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		log_warn("listen %s", name);
	freeaddrinfo(res);
	return fd;
}

int
daemon_listen_tcp_str(const char *host, const char *port, int backlog)
{
	struct conf_addr addr;
	uint64_t n;

	memset(&addr, 0, sizeof(addr));
	if (host != NULL && strcmp(host, "*") != 0 &&
	    util_strlcpy(addr.host, host, sizeof(addr.host)) >=
	    sizeof(addr.host)) {
		log_warnx("listen %s: host name too long", host);
		return -1;
	}
	if (util_parse_u64(port, strlen(port), 65535, &n) == -1) {
		log_warnx("listen %s:%s: bad port", host ? host : "*", port);
		return -1;
	}
	addr.port = (uint16_t)n;
	return daemon_listen_tcp(&addr, backlog);
}

int
daemon_listen_unix(const char *path, int backlog)
{
	struct sockaddr_un sun;
	struct stat sb;
	mode_t old;
	int fd, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("listen %s: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (backlog <= 0)
		backlog = SOMAXCONN;

	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			log_warnx("listen %s: exists and is not a socket",
			    path);
			return -1;
		}
		if (unlink(path) == -1) {
			log_warn("unlink %s", path);
			return -1;
		}
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("socket(AF_UNIX)");
		return -1;
	}
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1 || chmod(path, 0600) == -1 || listen(fd, backlog) == -1) {
		log_warn("listen %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

int
daemon_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	return -1;
}

void
daemon_timer_start(struct ev_loop *loop, ev_timer *w,
    void (*cb)(struct ev_loop *, ev_timer *, int), double after,
    double repeat, void *data)
{
	ev_timer_init(w, cb, after, repeat);
	w->data = data;
	ev_timer_start(loop, w);
}

void
daemon_io_start(struct ev_loop *loop, ev_io *w,
    void (*cb)(struct ev_loop *, ev_io *, int), int fd, int events,
    void *data)
{
	ev_io_init(w, cb, fd, events);
	w->data = data;
	ev_io_start(loop, w);
}
