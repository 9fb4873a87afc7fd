/*
 * daemon: the life of a Parley daemon on a libev loop.
 *
 * A daemon's main() fills a struct daemon_ops and calls daemon_main(),
 * which:
 *	- reads the command line: -c FILE (default ops->default_conf),
 *	  -v (debug; repeatable), -t (check the configuration, with
 *	  ops->check when set, print the result and exit 0 or 1), -h
 *	  (usage);
 *	- loads the configuration (ops->schema plus the shared [log]
 *	  section, see below) and sets up logging;
 *	- ignores SIGPIPE and raises the soft RLIMIT_NOFILE to the hard limit;
 *	- calls ops->start, then runs the loop; the loop runs while some
 *	  watcher of the daemon is active (the signal watchers do not count),
 *	  so a daemon whose stop closes everything ends without daemon_exit;
 *	- SIGTERM/SIGINT: calls ops->stop, which lets in-flight work finish
 *	  and then calls daemon_exit(); without ops->stop the loop stops at
 *	  once.  A second SIGTERM/SIGINT stops at once.  daemon_main returns
 *	  0 once the loop is over (after ops->cleanup);
 *	- SIGHUP: reopens the log, reloads the configuration into a fresh
 *	  struct and, if that parses, offers it to ops->reload (which also
 *	  re-reads certificates and keys); on success the new settings
 *	  replace the old in ops->settings, on any failure the old ones stay
 *	  and the reason is logged.
 *
 * The [log] section (every daemon):
 *	syslog = no	log to syslog (facility daemon) instead of stderr
 *	debug = no	log debug lines, as -v does
 */
#ifndef PARLEY_DAEMON_H
#define PARLEY_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ev.h>

#include "conf.h"

struct daemon_ops {
	const char *name;	  /* program name in logs, "parley-spoa" */
	const char *default_conf; /* used without -c */
	const struct conf_schema *schema;
	void *settings; /* schema->size bytes, filled by daemon_main */
	void *arg;	/* passed back to every callback */

	/*
	 * Sets up listeners and watchers on loop once the configuration is
	 * loaded.  Returns 0, or -1 after logging why (daemon_main then
	 * returns 1).
	 */
	int (*start)(struct ev_loop *loop, void *settings, void *arg);

	/*
	 * SIGTERM/SIGINT: stop accepting, finish what is in flight, then
	 * call daemon_exit(loop).  May be NULL.
	 */
	void (*stop)(struct ev_loop *loop, void *arg);

	/*
	 * SIGHUP with a configuration that parsed: apply what can change
	 * (certificates, keys, limits) from fresh; old is still current.
	 * Returns 0 to adopt fresh, -1 to keep old (after logging why).
	 * fresh is freed if refused; on success the old contents are freed
	 * once reload returns, so keep no pointer into old.  May be NULL
	 * (fresh is adopted).
	 */
	int (*reload)(struct ev_loop *loop, const void *old, void *fresh,
	    void *arg);

	/* After the loop ends: free what start made.  May be NULL. */
	void (*cleanup)(struct ev_loop *loop, void *arg);

	/*
	 * -t: loads and drops what start would load from files (key files,
	 * certificates) without opening sockets, so that a configuration
	 * -t accepts also starts.  Returns 0, or -1 after logging why.
	 * May be NULL.
	 */
	int (*check)(const void *settings, void *arg);
};

/*
 * Runs the daemon as described at the top of this file.  Returns the exit
 * status for main(): 0 after a clean stop or a good -t, 1 on a bad
 * configuration or failed start, 2 on a bad command line.
 */
int daemon_main(int argc, char **argv, const struct daemon_ops *ops);

/* Stops the loop; called by ops->stop when in-flight work is done. */
void daemon_exit(struct ev_loop *loop);

/* True once SIGTERM/SIGINT has been received. */
bool daemon_stopping(void);

/* Path of the configuration file in use (valid while daemon_main runs). */
const char *daemon_conf_path(void);

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the new one. */
long daemon_raise_nofile(void);

/* O_NONBLOCK and FD_CLOEXEC on fd; 0 or -1 with errno. */
int daemon_set_nonblock(int fd);

/*
 * Opens a listening TCP socket on addr (IPv4, IPv6, or any address when
 * addr->host is empty), SO_REUSEADDR, non-blocking, close-on-exec, with the
 * given backlog (<= 0: SOMAXCONN).  Returns the fd, or -1 after logging.
 * Port 0 asks the kernel for a free port; daemon_local_port() reads it.
 */
int daemon_listen_tcp(const struct conf_addr *addr, int backlog);

/*
 * daemon_listen_tcp() for a host and a decimal port given as strings; host
 * NULL, "" or "*" is any address.  Returns the fd, or -1 after logging.
 */
int daemon_listen_tcp_str(const char *host, const char *port, int backlog);

/*
 * Opens a listening Unix socket at path (a stale socket file there is
 * removed; anything else there is an error), mode 0600, non-blocking.
 * Returns the fd, or -1 after logging.
 */
int daemon_listen_unix(const char *path, int backlog);

/* Port a bound socket listens on, or -1. */
int daemon_local_port(int fd);

/*
 * Starts a one-shot or repeating timer (after, repeat in seconds) with
 * data set; a convenience for ev_timer_init + ev_timer_start.
 */
void daemon_timer_start(struct ev_loop *loop, ev_timer *w,
    void (*cb)(struct ev_loop *, ev_timer *, int), double after,
    double repeat, void *data);

/* Starts an io watcher on fd for events (EV_READ/EV_WRITE) with data. */
void daemon_io_start(struct ev_loop *loop, ev_io *w,
    void (*cb)(struct ev_loop *, ev_io *, int), int fd, int events,
    void *data);

#endif
