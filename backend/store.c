/*
 * store: the LMDB environment of a backend: opening, the lock file, the
 * schema and its epoch, map growth, reopening after MDB_PANIC, and the
 * small helpers every store*.c uses (keys, ids, ts, JSON values).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "log.h"
#include "util.h"
#include "xmalloc.h"
#include "store_int.h"

const char *const store_db_names[DB_COUNT] = {
	"meta", "teams", "domains", "users", "usernames", "emails",
	"teamusers", "passwords", "channels", "channames", "teamchans", "ims",
	"members", "userchans", "messages", "threads", "chanlast", "cmids",
	"marks", "events", "teamseq", "msgevents", "tokens", "usertokens",
};

#define MAP_INITIAL_DEFAULT ((size_t)64 << 20)
#define MAP_MAX_DEFAULT     ((size_t)16 << 30)
#define RETAIN_EVENTS_DEF   1000000
#define RETAIN_SECONDS_DEF  (30 * 86400)

static const char id_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

const char *
store_strerror(int code)
{
	switch (code) {
	case STORE_OK:
		return "ok";
	case STORE_ERR_NOTFOUND:
		return "not_found";
	case STORE_ERR_EXISTS:
		return "already_exists";
	case STORE_ERR_INVALID:
		return "invalid_arguments";
	case STORE_ERR_FULL:
		return "storage_full";
	case STORE_ERR_SHUTDOWN:
		return "service_unavailable";
	default:
		return "internal_error";
	}
}

void
store_be64_put(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = v & 0xff;
		v >>= 8;
	}
}

uint64_t
store_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

int64_t store_clock_skew_us;

uint64_t
store_now_us(void)
{
	struct timespec ts;
	int64_t skew = __atomic_load_n(&store_clock_skew_us, __ATOMIC_RELAXED);

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 +
	    skew);
}

void
store_ts_format(uint64_t ts, char out[STORE_TS_SIZE])
{
	snprintf(out, STORE_TS_SIZE, "%" PRIu64 ".%06" PRIu64, ts / 1000000,
	    ts % 1000000);
}

/*
 * Accepts "seconds" or "seconds.micros" with 1 to 6 digits after the
 * dot (Slack clients send both); seconds must fit 2^43.
 */
int
store_ts_parse(const char *s, uint64_t *ts)
{
	uint64_t sec = 0, us = 0;
	int n = 0, d;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		sec = sec * 10 + (uint64_t)(*s - '0');
		if (++n > 13)
			return -1;
	}
	if (*s == '.') {
		s++;
		for (d = 0; d < 6 && *s >= '0' && *s <= '9'; d++, s++)
			us = us * 10 + (uint64_t)(*s - '0');
		if (d == 0)
			return -1;
		for (; d < 6; d++)
			us *= 10;
	}
	if (*s != '\0' || sec >= ((uint64_t)1 << 43))
		return -1;
	*ts = sec * 1000000 + us;
	return 0;
}

/* kind 0 accepts any kind letter. */
int
store_id_valid(const char *id, char kind)
{
	size_t i;

	if (id == NULL || strlen(id) != STORE_ID_LEN)
		return 0;
	if (kind != 0 && id[0] != kind)
		return 0;
	if (strchr("TUCGD", id[0]) == NULL)
		return 0;
	for (i = 1; i < STORE_ID_LEN; i++)
		if (strchr(id_chars, id[i]) == NULL || id[i] == '\0')
			return 0;
	return 1;
}

int
store_db_err(struct store_txn *txn, int rc)
{
	switch (rc) {
	case 0:
		return STORE_OK;
	case MDB_NOTFOUND:
		return STORE_ERR_NOTFOUND;
	case MDB_KEYEXIST:
		return STORE_ERR_EXISTS;
	}
	if (txn->lmdb_err == 0)
		txn->lmdb_err = rc;
	if (rc == MDB_MAP_FULL)
		return STORE_ERR_FULL;
	log_warnx("store: %s", mdb_strerror(rc));
	return STORE_ERR_INTERNAL;
}

int
store_db_get(struct store_txn *txn, enum store_db db, const void *key,
    size_t klen, MDB_val *val)
{
	MDB_val k = { klen, (void *)key };

	return store_db_err(txn,
	    mdb_get(txn->txn, txn->st->dbi[db], &k, val));
}

int
store_db_put(struct store_txn *txn, enum store_db db, const void *key,
    size_t klen, const void *val, size_t vlen, unsigned flags)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };

	if (txn->rdonly)
		return STORE_ERR_INVALID;
	txn->wrote = 1;
	return store_db_err(txn,
	    mdb_put(txn->txn, txn->st->dbi[db], &k, &v, flags));
}

int
store_db_del(struct store_txn *txn, enum store_db db, const void *key,
    size_t klen)
{
	MDB_val k = { klen, (void *)key };

	if (txn->rdonly)
		return STORE_ERR_INVALID;
	txn->wrote = 1;
	return store_db_err(txn,
	    mdb_del(txn->txn, txn->st->dbi[db], &k, NULL));
}

int
store_db_walk(struct store_txn *txn, enum store_db db, const void *prefix,
    size_t plen, const void *from, size_t flen, store_walk_fn fn, void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t start[512];
	int rc, r = 0;

	if (plen + flen > sizeof(start))
		return STORE_ERR_INVALID;
	if (plen > 0)
		memcpy(start, prefix, plen);
	if (flen > 0)
		memcpy(start + plen, from, flen);
	rc = mdb_cursor_open(txn->txn, txn->st->dbi[db], &cur);
	if (rc != 0)
		return store_db_err(txn, rc);

	k.mv_data = start;
	k.mv_size = plen + flen;
	rc = k.mv_size > 0 ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
			   : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	/* A cursor given as "after" skips the item it names. */
	if (rc == 0 && flen > 0 && k.mv_size == plen + flen &&
	    memcmp(k.mv_data, start, k.mv_size) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	while (rc == 0) {
		if (plen > 0 && (k.mv_size < plen ||
		    memcmp(k.mv_data, prefix, plen) != 0))
			break;
		r = fn(arg, &k, &v);
		if (r != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (r < 0)
		return -r;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_db_err(txn, rc);
	return STORE_OK;
}

int
store_db_put_json(struct store_txn *txn, enum store_db db, const void *key,
    size_t klen, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	if (s == NULL)
		return STORE_ERR_INVALID;
	rc = store_db_put(txn, db, key, klen, s, strlen(s), 0);
	free(s);
	return rc;
}

json_t *
store_db_get_json(struct store_txn *txn, enum store_db db, const void *key,
    size_t klen)
{
	MDB_val v;

	if (store_db_get(txn, db, key, klen, &v) != STORE_OK)
		return NULL;
	return json_loadb(v.mv_data, v.mv_size, 0, NULL);
}

/* Skips one JSON string at p (its opening quote); the byte after it. */
static const char *
json_skip_str(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/*
 * Skips one JSON value at p: a string, or anything up to the comma or
 * brace that ends it at this depth.  Returns the byte after it.
 */
static const char *
json_skip_value(const char *p, const char *end)
{
	int depth = 0;

	while (p != NULL && p < end) {
		switch (*p) {
		case '"':
			p = json_skip_str(p, end);
			if (depth == 0)
				return p;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return p;
			if (--depth == 0)
				return p + 1;
			break;
		case ',':
			if (depth == 0)
				return p;
			break;
		}
		p++;
	}
	return NULL;
}

/*
 * The value of key among the top-level members of the object text
 * [json, end): its first byte, or NULL when absent or the text is not an
 * object.
 */
static const char *
json_top_find(const char *json, const char *end, const char *key)
{
	const char *p = json, *k;
	size_t klen = strlen(key);

	while (p < end && *p != '{')
		p++;
	for (p++; p != NULL && p < end;) {
		if (*p != '"') {
			p++; /* blanks and commas between members */
			continue;
		}
		k = p + 1;
		p = json_skip_str(p, end);
		if (p == NULL)
			return NULL;
		while (p < end && (*p == ':' || *p == ' ' || *p == '\t' ||
		    *p == '\n' || *p == '\r'))
			p++;
		if (p >= end)
			return NULL;
		if ((size_t)(p - k) >= klen + 1 && k[klen] == '"' &&
		    memcmp(k, key, klen) == 0)
			return p;
		p = json_skip_value(p, end);
	}
	return NULL;
}

int
store_json_top_str(const char *json, size_t len, const char *key,
    char *out, size_t outlen)
{
	const char *end = json + len, *v, *p;

	v = json_top_find(json, end, key);
	if (v == NULL || *v != '"')
		return -1;
	p = json_skip_str(v, end);
	v++;
	if (p == NULL || memchr(v, '\\', (size_t)(p - 1 - v)))
		return -1;
	if ((size_t)(p - 1 - v) >= outlen)
		return -1;
	memcpy(out, v, (size_t)(p - 1 - v));
	out[p - 1 - v] = '\0';
	return 0;
}

int
store_json_top_bool(const char *json, size_t len, const char *key, int def)
{
	const char *end = json + len, *v;

	v = json_top_find(json, end, key);
	if (v == NULL)
		return def;
	if (end - v >= 4 && memcmp(v, "true", 4) == 0)
		return 1;
	if (end - v >= 5 && memcmp(v, "false", 5) == 0)
		return 0;
	return def;
}

int
store_json_top_int(const char *json, size_t len, const char *key,
    int64_t *out)
{
	const char *end = json + len, *v;
	uint64_t n = 0, lim;
	int neg = 0;

	v = json_top_find(json, end, key);
	if (v == NULL)
		return -1;
	if (*v == '-') {
		neg = 1;
		v++;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (v >= end || *v < '0' || *v > '9')
		return -1;
	for (; v < end && *v >= '0' && *v <= '9'; v++) {
		if (n > (lim - (uint64_t)(*v - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	if (v < end && (*v == '.' || *v == 'e' || *v == 'E'))
		return -1; /* a real, not an integer */
	*out = neg ? (n == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
	    -(int64_t)n) : (int64_t)n;
	return 0;
}

int
store_txn_new_id(struct store_txn *txn, char kind, char id_out[STORE_ID_SIZE])
{
	enum store_db db;
	unsigned char r[STORE_ID_LEN];
	MDB_val v;
	int tries, i, rc;

	switch (kind) {
	case 'T':
		db = DB_TEAMS;
		break;
	case 'U':
		db = DB_USERS;
		break;
	case 'C':
	case 'G':
	case 'D':
		db = DB_CHANNELS;
		break;
	default:
		return STORE_ERR_INVALID;
	}
	for (tries = 0; tries < 16; tries++) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			return STORE_ERR_INTERNAL;
		id_out[0] = kind;
		for (i = 1; i < STORE_ID_LEN; i++)
			id_out[i] = id_chars[r[i] % 36];
		id_out[STORE_ID_LEN] = '\0';
		rc = store_db_get(txn, db, id_out, STORE_ID_LEN, &v);
		if (rc == STORE_ERR_NOTFOUND)
			return STORE_OK;
		if (rc != STORE_OK)
			return rc;
	}
	return STORE_ERR_INTERNAL;
}

int
store_epoch_renew(struct store_txn *txn)
{
	unsigned char r[8];
	char hex[STORE_EPOCH_SIZE];
	int i, rc;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return STORE_ERR_INTERNAL;
	for (i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	rc = store_db_put(txn, DB_META, "epoch", 5, hex, 16, 0);
	if (rc == STORE_OK)
		memcpy(txn->epoch, hex, sizeof(hex));
	return rc;
}

void
store_epoch_committed(struct store *st, const struct store_txn *txn)
{
	if (txn->epoch[0] != '\0')
		memcpy(st->epoch, txn->epoch, STORE_EPOCH_SIZE);
}

const char *
store_epoch(struct store *st)
{
	return st->epoch;
}

/* meta key of a team's own epoch: "epoch/" and the team id. */
#define STORE_TEAM_EPOCH_PREFIX "epoch/"
#define STORE_TEAM_EPOCH_KEYLEN (sizeof(STORE_TEAM_EPOCH_PREFIX) - 1 + \
	STORE_ID_LEN)

static int
store_team_epoch_key(const char *team, char key[STORE_TEAM_EPOCH_KEYLEN])
{
	size_t p = sizeof(STORE_TEAM_EPOCH_PREFIX) - 1;

	if (team == NULL || !store_id_valid(team, 'T'))
		return -1;
	memcpy(key, STORE_TEAM_EPOCH_PREFIX, p);
	memcpy(key + p, team, STORE_ID_LEN);
	return 0;
}

int
store_txn_team_epoch(struct store_txn *txn, const char *team,
    char out[STORE_EPOCH_SIZE])
{
	char key[STORE_TEAM_EPOCH_KEYLEN];
	MDB_val v;

	if (store_team_epoch_key(team, key) == 0 &&
	    store_db_get(txn, DB_META, key, sizeof(key), &v) == STORE_OK &&
	    v.mv_size == STORE_EPOCH_SIZE - 1) {
		memcpy(out, v.mv_data, STORE_EPOCH_SIZE - 1);
		out[STORE_EPOCH_SIZE - 1] = '\0';
		return 1;
	}
	memcpy(out, txn->st->epoch, STORE_EPOCH_SIZE);
	return 0;
}

int
store_txn_team_epoch_set(struct store_txn *txn, const char *team,
    const char *epoch)
{
	char key[STORE_TEAM_EPOCH_KEYLEN];

	if (store_team_epoch_key(team, key) == -1 || epoch == NULL ||
	    strlen(epoch) != STORE_EPOCH_SIZE - 1 ||
	    !util_all_in(epoch, STORE_EPOCH_SIZE - 1, "0123456789abcdef"))
		return STORE_ERR_INVALID;
	return store_db_put(txn, DB_META, key, sizeof(key), epoch,
	    STORE_EPOCH_SIZE - 1, 0);
}

void
store_team_epoch(struct store *st, const char *team,
    char out[STORE_EPOCH_SIZE])
{
	struct store_txn *txn = store_rd_begin(st);

	if (txn == NULL) {
		memcpy(out, st->epoch, STORE_EPOCH_SIZE);
		return;
	}
	store_txn_team_epoch(txn, team, out);
	store_rd_end(txn);
}

/*
 * Takes <dir>/parley.lock exclusively and writes our pid in it.
 * Returns the descriptor, or -1 with err naming the holder.
 */
int
store_lock_dir(const char *dir, char *err, size_t errlen)
{
	char path[4096], pid[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/parley.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen,
		    "data dir %s is held by a running process (pid %s); "
		    "stop it first or go through its admin socket",
		    dir, pid[0] ? pid : "?");
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("store: write %s", path);
	return fd;
}

/* Opens the environment files and every database handle. */
static int
store_env_open(struct store *st, int create, char *err, size_t errlen)
{
	struct store_txn t = { .st = st };
	MDB_envinfo info;
	unsigned flags = create ? MDB_CREATE : 0;
	int rc, i, dead = 0;

	rc = mdb_env_create(&st->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(st->env, DB_COUNT + 4);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(st->env, 256);
	if (rc == 0)
		rc = mdb_env_set_mapsize(st->env, st->map_size);
	if (rc == 0)
		rc = mdb_env_open(st->env, st->dir,
		    MDB_NOTLS | (st->cfg.readonly ? MDB_RDONLY : 0), 0600);
	if (rc != 0) {
		snprintf(err, errlen, "open store %s: %s", st->dir,
		    mdb_strerror(rc));
		goto fail;
	}
	mdb_reader_check(st->env, &dead);
	if (dead > 0)
		log_info("store: cleared %d reader slots of dead processes",
		    dead);
	st->stats.stale_readers += (uint64_t)dead;
	mdb_env_info(st->env, &info);
	st->map_size = info.me_mapsize;

	rc = mdb_txn_begin(st->env, NULL, st->cfg.readonly ? MDB_RDONLY : 0,
	    &t.txn);
	if (rc != 0) {
		snprintf(err, errlen, "store txn: %s", mdb_strerror(rc));
		goto fail;
	}
	for (i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(t.txn, store_db_names[i], flags,
		    &st->dbi[i]);
		/* Schema 1 lacks some databases; migration creates them. */
		if (rc == MDB_NOTFOUND && !create && i != DB_META)
			continue;
		if (rc != 0) {
			snprintf(err, errlen, "store %s: database %s: %s",
			    st->dir, store_db_names[i],
			    rc == MDB_NOTFOUND ? "absent (not a Parley store; "
						 "run parleyctl init)"
					       : mdb_strerror(rc));
			mdb_txn_abort(t.txn);
			goto fail;
		}
	}
	rc = mdb_txn_commit(t.txn);
	if (rc != 0) {
		snprintf(err, errlen, "store commit: %s", mdb_strerror(rc));
		goto fail;
	}
	return 0;

fail:
	mdb_env_close(st->env);
	st->env = NULL;
	return -1;
}

/*
 * Reads meta/schema and meta/epoch; a new store (no schema) gets both
 * when create is set.  Returns the schema version, or -1 with err.
 */
static int
store_schema_load(struct store *st, int create, char *err, size_t errlen)
{
	struct store_txn t = { .st = st };
	char buf[32];
	MDB_val v;
	int rc, version;

	if (store_wtxn_begin(st, &t) != STORE_OK) {
		snprintf(err, errlen, "store: cannot begin a transaction");
		return -1;
	}
	rc = store_db_get(&t, DB_META, "schema", 6, &v);
	if (rc == STORE_ERR_NOTFOUND && create) {
		snprintf(buf, sizeof(buf), "%d", STORE_SCHEMA);
		rc = store_db_put(&t, DB_META, "schema", 6, buf, strlen(buf),
		    0);
		if (rc == STORE_OK)
			rc = store_epoch_renew(&t);
		snprintf(buf, sizeof(buf), "%" PRIu64, store_now_us() / 1000000);
		if (rc == STORE_OK)
			rc = store_db_put(&t, DB_META, "created", 7, buf,
			    strlen(buf), 0);
		if (rc == STORE_OK)
			rc = store_wtxn_commit(&t);
		else
			store_wtxn_abort(&t);
		if (rc != STORE_OK) {
			snprintf(err, errlen, "store: cannot initialize: %s",
			    store_strerror(rc));
			return -1;
		}
		return STORE_SCHEMA;
	}
	if (rc != STORE_OK || v.mv_size == 0 || v.mv_size >= sizeof(buf)) {
		store_wtxn_abort(&t);
		snprintf(err, errlen,
		    "store %s has no schema version (not a Parley store; run "
		    "parleyctl init)",
		    st->dir);
		return -1;
	}
	memcpy(buf, v.mv_data, v.mv_size);
	buf[v.mv_size] = '\0';
	version = atoi(buf);
	if (store_db_get(&t, DB_META, "epoch", 5, &v) == STORE_OK &&
	    v.mv_size == 16) {
		memcpy(st->epoch, v.mv_data, 16);
		st->epoch[16] = '\0';
	}
	store_wtxn_abort(&t);
	return version;
}

/* Runs the v1 -> v2 migration in one transaction. */
static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	struct store_txn t = { .st = st };
	char bdir[4096];
	int rc;

	snprintf(bdir, sizeof(bdir), "%s/backup-v1-%" PRIu64, st->dir,
	    store_now_us() / 1000000);
	if (mkdir(bdir, 0700) == -1) {
		snprintf(err, errlen, "mkdir %s: %s", bdir, strerror(errno));
		return -1;
	}
	rc = mdb_env_copy2(st->env, bdir, MDB_CP_COMPACT);
	if (rc != 0) {
		snprintf(err, errlen, "backup to %s before migrating: %s",
		    bdir, mdb_strerror(rc));
		return -1;
	}
	log_info("store: schema 1 backed up to %s; migrating to %d", bdir,
	    STORE_SCHEMA);

	if (store_wtxn_begin(st, &t) != STORE_OK) {
		snprintf(err, errlen, "store: cannot begin a transaction");
		return -1;
	}
	rc = store_migrate_v1(&t);
	if (rc == STORE_OK)
		rc = store_wtxn_commit(&t);
	else
		store_wtxn_abort(&t);
	if (rc != STORE_OK) {
		snprintf(err, errlen,
		    "migration failed (%s); the store is unchanged and a "
		    "backup is in %s",
		    store_strerror(rc), bdir);
		return -1;
	}
	return 0;
}

/* store_open(), with the lock file already held when lockfd != -1. */
static struct store *
store_open_fd(const struct store_config *cfg, int create, int migrate,
    int lockfd, char *err, size_t errlen)
{
	struct store *st;
	char path[4096];
	pthread_rwlockattr_t ra;
	struct stat sb;
	int version, fresh;

	st = xcalloc(1, sizeof(*st));
	st->cfg = *cfg;
	st->dir = xstrdup(cfg->data_dir);
	st->cfg.data_dir = st->dir;
	st->lockfd = -1;
	if (st->cfg.map_initial == 0)
		st->cfg.map_initial = MAP_INITIAL_DEFAULT;
	if (st->cfg.map_max == 0)
		st->cfg.map_max = MAP_MAX_DEFAULT;
	if (st->cfg.map_initial > st->cfg.map_max)
		st->cfg.map_initial = st->cfg.map_max;
	if (st->cfg.retain_events == 0)
		st->cfg.retain_events = RETAIN_EVENTS_DEF;
	if (st->cfg.retain_seconds == 0)
		st->cfg.retain_seconds = RETAIN_SECONDS_DEF;
	st->map_size = st->cfg.map_initial;
	st->map_max = st->cfg.map_max;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st->envlock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&st->qlock, NULL);
	pthread_cond_init(&st->qcond, NULL);
	pthread_mutex_init(&st->dlock, NULL);
	pthread_mutex_init(&st->slock, NULL);

	st->lockfd = lockfd; /* closed by store_close() on failure too */
	if (create && mkdir(st->dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", st->dir,
		    strerror(errno));
		goto fail;
	}
	if (stat(st->dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "data dir %s: %s", st->dir,
		    errno ? strerror(errno) : "not a directory");
		goto fail;
	}
	st->lockfd = lockfd != -1 ? lockfd : store_lock_dir(st->dir, err,
	    errlen);
	if (st->lockfd == -1)
		goto fail;
	snprintf(path, sizeof(path), "%s/data.mdb", st->dir);
	fresh = access(path, F_OK) == -1;
	if (fresh && !create) {
		snprintf(err, errlen,
		    "no store in %s (run parleyctl init -d %s)", st->dir,
		    st->dir);
		goto fail;
	}
	if (store_env_open(st, fresh, err, errlen) == -1)
		goto fail;
	version = store_schema_load(st, fresh, err, errlen);
	if (version == -1)
		goto fail;
	if (version == 1 && !migrate) {
		snprintf(err, errlen,
		    "store %s has schema 1, this build needs %d: run "
		    "parleyctl migrate -d %s (it backs up the store first)",
		    st->dir, STORE_SCHEMA, st->dir);
		goto fail;
	}
	if (version == 1) {
		if (store_migrate(st, err, errlen) == -1)
			goto fail;
		mdb_env_close(st->env);
		st->env = NULL;
		if (store_env_open(st, 0, err, errlen) == -1)
			goto fail;
	} else if (version != STORE_SCHEMA) {
		snprintf(err, errlen,
		    "store %s has schema %d, which this build (%d) does not "
		    "know",
		    st->dir, version, STORE_SCHEMA);
		goto fail;
	}
	return st;

fail:
	store_close(st);
	return NULL;
}

struct store *
store_open(const struct store_config *cfg, int create, int migrate,
    char *err, size_t errlen)
{
	return store_open_fd(cfg, create, migrate, -1, err, errlen);
}

struct store *
store_open_held(const struct store_config *cfg, int lockfd, char *err,
    size_t errlen)
{
	return store_open_fd(cfg, 0, 0, lockfd, err, errlen);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_writer_stop(st);
	if (st->env != NULL)
		mdb_env_close(st->env);
	if (st->lockfd != -1)
		close(st->lockfd);
	pthread_rwlock_destroy(&st->envlock);
	pthread_mutex_destroy(&st->qlock);
	pthread_cond_destroy(&st->qcond);
	pthread_mutex_destroy(&st->dlock);
	pthread_mutex_destroy(&st->slock);
	free(st->dir);
	free(st);
}

int
store_map_grow(struct store *st, size_t need)
{
	size_t next = st->map_size * 2;
	int rc;

	if (next < need)
		next = need;
	if (next > st->map_max)
		next = st->map_max;
	if (next <= st->map_size)
		return -1;
	pthread_rwlock_wrlock(&st->envlock);
	rc = st->env != NULL ? mdb_env_set_mapsize(st->env, next) : EINVAL;
	if (rc == 0)
		st->map_size = next;
	pthread_rwlock_unlock(&st->envlock);
	if (rc != 0) {
		log_warnx("store: mdb_env_set_mapsize %zu: %s", next,
		    mdb_strerror(rc));
		return -1;
	}
	log_info("store: map grown to %zu KiB", next >> 10);
	return 0;
}

void
store_set_map_max(struct store *st, size_t map_max)
{
	pthread_mutex_lock(&st->qlock);
	st->map_max = map_max < st->map_size ? st->map_size : map_max;
	pthread_mutex_unlock(&st->qlock);
}

int
store_is_full(struct store *st)
{
	return __atomic_load_n(&st->full, __ATOMIC_RELAXED);
}

int
store_env_reload(struct store *st, char *err, size_t errlen)
{
	int rc;

	pthread_rwlock_wrlock(&st->envlock);
	if (st->env != NULL)
		mdb_env_close(st->env);
	st->env = NULL;
	rc = store_env_open(st, 0, err, errlen);
	pthread_rwlock_unlock(&st->envlock);
	return rc;
}

int
store_env_reopen(struct store *st)
{
	char err[256];

	if (store_env_reload(st, err, sizeof(err)) == -1) {
		log_warnx("store: reopen after a fatal LMDB error: %s", err);
		return -1;
	}
	log_warnx("store: environment reopened after a fatal LMDB error");
	pthread_mutex_lock(&st->slock);
	st->stats.reopens++;
	pthread_mutex_unlock(&st->slock);
	return 0;
}

struct store_txn *
store_rd_begin(struct store *st)
{
	struct store_txn *t = xcalloc(1, sizeof(*t));
	int rc;

	t->st = st;
	t->rdonly = 1;
	pthread_rwlock_rdlock(&st->envlock);
	if (st->env == NULL) {
		/* Not reopened since a fatal error: nothing to read. */
		pthread_rwlock_unlock(&st->envlock);
		free(t);
		return NULL;
	}
	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t->txn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(st->env, 0);
		rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t->txn);
	}
	if (rc != 0) {
		pthread_rwlock_unlock(&st->envlock);
		log_warnx("store: read txn: %s", mdb_strerror(rc));
		free(t);
		return NULL;
	}
	return t;
}

void
store_rd_end(struct store_txn *t)
{
	if (t == NULL)
		return;
	mdb_txn_abort(t->txn);
	pthread_rwlock_unlock(&t->st->envlock);
	free(t);
}

int
store_wtxn_begin(struct store *st, struct store_txn *t)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->st = st;
	pthread_rwlock_rdlock(&st->envlock);
	if (st->env == NULL) {
		pthread_rwlock_unlock(&st->envlock);
		return STORE_ERR_INTERNAL;
	}
	rc = mdb_txn_begin(st->env, NULL, 0, &t->txn);
	if (rc != 0) {
		pthread_rwlock_unlock(&st->envlock);
		log_warnx("store: write txn: %s", mdb_strerror(rc));
		return rc == MDB_MAP_FULL ? STORE_ERR_FULL : STORE_ERR_INTERNAL;
	}
	return STORE_OK;
}

int
store_wtxn_commit(struct store_txn *t)
{
	int rc = mdb_txn_commit(t->txn);

	pthread_rwlock_unlock(&t->st->envlock);
	t->txn = NULL;
	if (rc != 0)
		return store_db_err(t, rc);
	store_epoch_committed(t->st, t);
	return STORE_OK;
}

void
store_wtxn_abort(struct store_txn *t)
{
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
	pthread_rwlock_unlock(&t->st->envlock);
}
