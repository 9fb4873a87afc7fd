/*
 * powerloss-replay: replays the journal of powerloss.so and checks, at
 * every acknowledgement mark, that the event being acknowledged would
 * survive a power failure at that moment.
 *
 *   powerloss-replay [-n] BASE JOURNAL IMAGE
 *
 * BASE is a copy of data.mdb taken before the backend started with the
 * shim; IMAGE is where the disk as a power failure would leave it is
 * rebuilt.  Only durable writes reach IMAGE: a W record waits for the
 * next S (fdatasync of the file), an M record (a write through the
 * O_DSYNC descriptor) is applied at once, and writes not yet synced are
 * taken as lost, the worst case.  At each A record IMAGE is opened read
 * only with LMDB and the event (team, seq) looked up in "events".
 *
 * Prints "ack TEAM SEQ REF" for each mark whose event is there, where
 * REF is the message the event names (channel/ts) or "-", "lost TEAM SEQ
 * at RECORD" for each that is not, then "acks N lost M".  At the end
 * IMAGE holds everything durable, for parleyctl verify.  -n ignores the
 * M records, a power-loss model that drops every meta page: the test
 * uses it to show that the check does fail when durability is missing.
 * Exits 0 when nothing was lost, 1 when something was, 2 on errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "powerloss.h"

#define TEAM_LEN 11
#define REF_MSG_LEN 19 /* channel id and 64-bit ts */

struct pending {
	uint64_t off;
	uint32_t len;
	unsigned char *buf;
};

static struct pending *pend;
static size_t npend, cpend;

static void
die(const char *what)
{
	fprintf(stderr, "powerloss-replay: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
image_write(int fd, const void *buf, size_t len, uint64_t off)
{
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		die("image write");
}

static void
copy_file(const char *from, int to)
{
	char buf[65536];
	ssize_t n;
	uint64_t off = 0;
	int fd = open(from, O_RDONLY);

	if (fd == -1)
		die(from);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		image_write(to, buf, (size_t)n, off);
		off += (uint64_t)n;
	}
	if (n == -1)
		die(from);
	close(fd);
}

static uint64_t
be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Looks the event up in IMAGE as LMDB would find it after a restart.
 * Returns 1 and fills ref when it is there, 0 when not, -1 when the
 * image cannot be read as a store (itself a loss).
 */
static int
image_has(const char *image, const char *team, uint64_t seq, char *ref,
    size_t reflen)
{
	unsigned char key[TEAM_LEN + 8];
	const unsigned char *p;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	int i, rc, found = -1;

	if (mdb_env_create(&env) != 0)
		return -1;
	mdb_env_set_maxdbs(env, 64);
	rc = mdb_env_open(env, image, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK,
	    0600);
	if (rc != 0 || mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0) {
		fprintf(stderr, "powerloss-replay: open image: %s\n",
		    mdb_strerror(rc));
		mdb_env_close(env);
		return -1;
	}
	if (mdb_dbi_open(txn, "events", 0, &dbi) != 0) {
		found = 0;
		goto done;
	}
	memcpy(key, team, TEAM_LEN);
	for (i = 0; i < 8; i++)
		key[TEAM_LEN + i] = (unsigned char)(seq >> (56 - 8 * i));
	k.mv_data = key;
	k.mv_size = sizeof(key);
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		found = 0;
		goto done;
	}
	if (rc != 0 || v.mv_size < 9)
		goto done;
	found = 1;
	p = v.mv_data;
	if (p[8] == REF_MSG_LEN && v.mv_size >= 9 + REF_MSG_LEN) {
		uint64_t ts = be64(p + 9 + TEAM_LEN);

		snprintf(ref, reflen, "%.*s/%" PRIu64 ".%06" PRIu64, TEAM_LEN,
		    (const char *)p + 9, ts / 1000000, ts % 1000000);
	} else {
		snprintf(ref, reflen, "-");
	}
done:
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return found;
}

static void
flush_pending(int fd)
{
	size_t i;

	for (i = 0; i < npend; i++) {
		image_write(fd, pend[i].buf, pend[i].len, pend[i].off);
		free(pend[i].buf);
	}
	npend = 0;
}

int
main(int argc, char **argv)
{
	struct powerloss_rec r;
	char team[TEAM_LEN + 1], ref[64];
	unsigned char *buf;
	uint64_t nrec = 0, acks = 0, lost = 0;
	FILE *j;
	int c, fd, nometa = 0, has;

	while ((c = getopt(argc, argv, "n")) != -1) {
		if (c != 'n')
			goto usage;
		nometa = 1;
	}
	argc -= optind;
	argv += optind;
	if (argc != 3)
		goto usage;
	if ((j = fopen(argv[1], "rb")) == NULL)
		die(argv[1]);
	fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd == -1)
		die(argv[2]);
	copy_file(argv[0], fd);

	while (fread(&r, sizeof(r), 1, j) == 1) {
		nrec++;
		buf = NULL;
		if (r.len > 0) {
			if ((buf = malloc(r.len)) == NULL)
				die("malloc");
			if (fread(buf, 1, r.len, j) != r.len) {
				fprintf(stderr, "powerloss-replay: record %"
				    PRIu64 " is cut short\n", nrec);
				return 2;
			}
		}
		switch (r.kind) {
		case POWERLOSS_REC_W:
			if (npend == cpend) {
				cpend = cpend ? cpend * 2 : 256;
				pend = realloc(pend, cpend * sizeof(*pend));
				if (pend == NULL)
					die("realloc");
			}
			pend[npend++] = (struct pending){ r.arg, r.len, buf };
			buf = NULL;
			break;
		case POWERLOSS_REC_S:
			flush_pending(fd);
			break;
		case POWERLOSS_REC_M:
			if (!nometa)
				image_write(fd, buf, r.len, r.arg);
			break;
		case POWERLOSS_REC_A:
			if (r.len != TEAM_LEN) {
				fprintf(stderr, "powerloss-replay: bad mark at "
				    "record %" PRIu64 "\n", nrec);
				return 2;
			}
			memcpy(team, buf, TEAM_LEN);
			team[TEAM_LEN] = '\0';
			acks++;
			has = image_has(argv[2], team, r.arg, ref, sizeof(ref));
			if (has == 1) {
				printf("ack %s %" PRIu64 " %s\n", team, r.arg,
				    ref);
			} else {
				printf("lost %s %" PRIu64 " at %" PRIu64 "\n",
				    team, r.arg, nrec);
				lost++;
			}
			break;
		default:
			fprintf(stderr, "powerloss-replay: unknown record %u "
			    "at %" PRIu64 "\n", r.kind, nrec);
			return 2;
		}
		free(buf);
	}
	if (ferror(j))
		die(argv[1]);
	/* Writes never synced are lost: the image stays without them. */
	printf("acks %" PRIu64 " lost %" PRIu64 "\n", acks, lost);
	if (fsync(fd) == -1 || close(fd) == -1)
		die(argv[2]);
	return lost ? 1 : 0;

usage:
	fprintf(stderr, "usage: powerloss-replay [-n] BASE JOURNAL IMAGE\n");
	return 2;
}
