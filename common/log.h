/*
 * log: the one logging vocabulary of every Parley daemon.
 *
 *   log_warn   something failed; appends strerror(errno)
 *   log_warnx  something failed; no errno
 *   log_info   normal events, and anything a client did wrong
 *   log_debug  printed only with -v
 *   fatal      log_warn, then exit(1)
 *   fatalx     log_warnx, then exit(1)
 *
 * What a client did wrong is logged at info, never as a warning, so that a
 * hostile client cannot flood the error log.  No secret (token, ticket,
 * password, key) is ever passed to these functions.
 */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

#include <stdarg.h>

#define PL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * Sets the program name and destination.  to_syslog selects syslog
 * (facility daemon); otherwise lines go to stderr with a timestamp.
 * verbose enables log_debug.  May be called again, e.g. on SIGHUP.
 */
void log_init(const char *progname, int to_syslog, int verbose);
void log_setverbose(int verbose);
int log_getverbose(void);
/* Reopens the destination (SIGHUP). */
void log_reopen(void);

void log_warn(const char *fmt, ...) PL_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) PL_PRINTF(1, 2);
void log_info(const char *fmt, ...) PL_PRINTF(1, 2);
void log_debug(const char *fmt, ...) PL_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) PL_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) PL_PRINTF(1, 2);

#endif
