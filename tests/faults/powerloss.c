/*
 * powerloss.so: a preloaded shim that records, for the power-loss test,
 * what the store's data file would hold if the power failed at any
 * moment (tests/faults/powerloss.h has the journal format).
 *
 *   PARLEY_POWERLOSS_FILE     the store's data.mdb (must exist)
 *   PARLEY_POWERLOSS_JOURNAL  where the journal is appended
 *
 * Descriptors opened on the data file are followed until closed: plain
 * writes to them are recorded as W, a completed fdatasync or fsync as
 * S, and writes to one opened with O_DSYNC (LMDB's meta descriptor) as
 * M once they return.  The backend's acknowledgement mark
 * (store_ack_mark in backend/store_write.c) finds parley_fault_ack here
 * and records A before it publishes a committed event and runs the
 * done functions that answer the client.  One lock orders the records
 * of every thread, so the journal is one history.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "powerloss.h"

#define FD_MAX 4096

enum { FD_NONE, FD_DATA, FD_META };

static pthread_mutex_t plk = PTHREAD_MUTEX_INITIALIZER;
static unsigned char fdkind[FD_MAX];
static int jfd = -1;
static dev_t tdev;
static ino_t tino;
static int ready;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);

void parley_fault_ack(const char *team, uint64_t seq);

static void *
pl_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		fprintf(stderr, "powerloss: no %s\n", name);
		abort();
	}
	return p;
}

__attribute__((constructor)) static void
pl_init(void)
{
	const char *file = getenv("PARLEY_POWERLOSS_FILE");
	const char *journal = getenv("PARLEY_POWERLOSS_JOURNAL");
	struct stat sb;

	real_open = pl_sym("open");
	real_open64 = pl_sym("open64");
	real_openat = pl_sym("openat");
	real_close = pl_sym("close");
	real_write = pl_sym("write");
	real_pwrite = pl_sym("pwrite");
	real_pwrite64 = pl_sym("pwrite64");
	real_writev = pl_sym("writev");
	real_pwritev = pl_sym("pwritev");
	real_fdatasync = pl_sym("fdatasync");
	real_fsync = pl_sym("fsync");
	if (file == NULL || journal == NULL)
		return;
	if (stat(file, &sb) == -1) {
		fprintf(stderr, "powerloss: %s: %s\n", file, strerror(errno));
		abort();
	}
	tdev = sb.st_dev;
	tino = sb.st_ino;
	jfd = real_open(journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (jfd == -1) {
		fprintf(stderr, "powerloss: %s: %s\n", journal,
		    strerror(errno));
		abort();
	}
	ready = 1;
}

/* Appends one record; the caller holds plk. */
static void
pl_put(uint32_t kind, uint64_t arg, const struct iovec *iov, int iovcnt,
    size_t len)
{
	struct powerloss_rec r = { .kind = kind, .len = (uint32_t)len,
		.arg = arg };
	struct iovec v[1 + 64];
	size_t left = len;
	int i, n = 0;

	v[n].iov_base = &r;
	v[n++].iov_len = sizeof(r);
	for (i = 0; i < iovcnt && left > 0 && n < 1 + 64; i++) {
		v[n].iov_base = iov[i].iov_base;
		v[n].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
		left -= v[n++].iov_len;
	}
	if (left != 0 || real_writev(jfd, v, n) !=
	    (ssize_t)(sizeof(r) + len)) {
		fprintf(stderr, "powerloss: journal write failed\n");
		abort();
	}
}

static int
pl_kind(int fd)
{
	return ready && fd >= 0 && fd < FD_MAX ? fdkind[fd] : FD_NONE;
}

/* Follows fd when it is open on the data file. */
static int
pl_opened(int fd, int flags)
{
	struct stat sb;

	if (!ready || fd < 0 || fd >= FD_MAX)
		return fd;
	if (fstat(fd, &sb) == 0 && sb.st_dev == tdev && sb.st_ino == tino)
		fdkind[fd] = (flags & O_DSYNC) ? FD_META : FD_DATA;
	else
		fdkind[fd] = FD_NONE;
	return fd;
}

int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (real_open == NULL)
		real_open = pl_sym("open");
	return pl_opened(real_open(path, flags, mode), flags);
}

int
open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (real_open64 == NULL)
		real_open64 = pl_sym("open64");
	return pl_opened(real_open64(path, flags, mode), flags);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (real_openat == NULL)
		real_openat = pl_sym("openat");
	return pl_opened(real_openat(dirfd, path, flags, mode), flags);
}

int
close(int fd)
{
	if (real_close == NULL)
		real_close = pl_sym("close");
	if (fd >= 0 && fd < FD_MAX)
		fdkind[fd] = FD_NONE;
	return real_close(fd);
}

/* A write of len bytes at off through fd of kind k returned n. */
static void
pl_wrote(int k, const struct iovec *iov, int iovcnt, off_t off, ssize_t n)
{
	if (n <= 0)
		return;
	pthread_mutex_lock(&plk);
	pl_put(k == FD_META ? POWERLOSS_REC_M : POWERLOSS_REC_W,
	    (uint64_t)off, iov, iovcnt, (size_t)n);
	pthread_mutex_unlock(&plk);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	struct iovec v = { (void *)buf, len };
	int k = pl_kind(fd);
	ssize_t n;

	if (real_pwrite == NULL)
		real_pwrite = pl_sym("pwrite");
	n = real_pwrite(fd, buf, len, off);
	if (k != FD_NONE)
		pl_wrote(k, &v, 1, off, n);
	return n;
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	struct iovec v = { (void *)buf, len };
	int k = pl_kind(fd);
	ssize_t n;

	if (real_pwrite64 == NULL)
		real_pwrite64 = pl_sym("pwrite64");
	n = real_pwrite64(fd, buf, len, off);
	if (k != FD_NONE)
		pl_wrote(k, &v, 1, off, n);
	return n;
}

ssize_t
pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	int k = pl_kind(fd);
	ssize_t n;

	if (real_pwritev == NULL)
		real_pwritev = pl_sym("pwritev");
	n = real_pwritev(fd, iov, iovcnt, off);
	if (k != FD_NONE)
		pl_wrote(k, iov, iovcnt, off, n);
	return n;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };
	int k = pl_kind(fd);
	off_t off = 0;
	ssize_t n;

	if (real_write == NULL)
		real_write = pl_sym("write");
	if (k != FD_NONE)
		off = lseek(fd, 0, SEEK_CUR);
	n = real_write(fd, buf, len);
	if (k != FD_NONE)
		pl_wrote(k, &v, 1, off, n);
	return n;
}

ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	int k = pl_kind(fd);
	off_t off = 0;
	ssize_t n;

	if (real_writev == NULL)
		real_writev = pl_sym("writev");
	if (k != FD_NONE)
		off = lseek(fd, 0, SEEK_CUR);
	n = real_writev(fd, iov, iovcnt);
	if (k != FD_NONE)
		pl_wrote(k, iov, iovcnt, off, n);
	return n;
}

/* A sync of fd returned rc: the data file's writes so far are durable. */
static int
pl_synced(int fd, int rc)
{
	if (rc == 0 && pl_kind(fd) != FD_NONE) {
		pthread_mutex_lock(&plk);
		pl_put(POWERLOSS_REC_S, 0, NULL, 0, 0);
		pthread_mutex_unlock(&plk);
	}
	return rc;
}

int
fdatasync(int fd)
{
	if (real_fdatasync == NULL)
		real_fdatasync = pl_sym("fdatasync");
	return pl_synced(fd, real_fdatasync(fd));
}

int
fsync(int fd)
{
	if (real_fsync == NULL)
		real_fsync = pl_sym("fsync");
	return pl_synced(fd, real_fsync(fd));
}

/* Called by the backend's store_ack_mark, found with dlsym. */
void
parley_fault_ack(const char *team, uint64_t seq)
{
	struct iovec v = { (void *)team, strlen(team) };

	if (!ready)
		return;
	pthread_mutex_lock(&plk);
	pl_put(POWERLOSS_REC_A, seq, &v, 1, v.iov_len);
	pthread_mutex_unlock(&plk);
}
