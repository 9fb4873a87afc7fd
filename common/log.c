/*
 * log: stderr or syslog, with a fixed vocabulary (see log.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static const char *log_prog = "parley";
static int log_syslog;
static int log_verbose;

void
log_init(const char *progname, int to_syslog, int verbose)
{
	if (log_syslog)
		closelog();
	log_prog = progname;
	log_syslog = to_syslog;
	log_verbose = verbose;
	if (log_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return log_verbose;
}

void
log_reopen(void)
{
	if (log_syslog) {
		closelog();
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
}

/*
 * Writes one line at priority pri; with err != 0, appends its strerror.
 * The line is formatted into one buffer and written with one call, so that
 * lines of several threads never interleave.
 */
static void
log_vlog(int pri, int err, const char *fmt, va_list ap)
{
	char msg[1024], line[1200], stamp[32];
	const char *level;
	struct timespec now;
	struct tm tm;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err != 0) {
		size_t len = strlen(msg);

		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(err));
	}
	if (log_syslog) {
		syslog(pri, "%s", msg);
		return;
	}
	switch (pri) {
	case LOG_ERR:
		level = "warn";
		break;
	case LOG_DEBUG:
		level = "debug";
		break;
	case LOG_CRIT:
		level = "fatal";
		break;
	default:
		level = "info";
		break;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(line, sizeof(line), "%s.%03ldZ %s[%s]: %s\n", stamp,
	    now.tv_nsec / 1000000, log_prog, level, msg);
	fputs(line, stderr);
}

void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_ERR, err ? err : EIO, fmt, ap);
	va_end(ap);
	errno = err;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_ERR, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vlog(LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_CRIT, err ? err : EIO, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
