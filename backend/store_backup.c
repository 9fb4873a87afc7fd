/*
 * store_backup: compacted backups, restore with a new epoch, and the
 * export and import of one team as JSON lines (see docs/store.md).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"
#include "store_int.h"

#define IMPORT_LINE_MAX (4 << 20)

int
store_backup(struct store *st, const char *dir, char *err, size_t errlen)
{
	char path[4096];
	int rc;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (access(path, F_OK) == 0) {
		snprintf(err, errlen, "%s exists; back up into a new directory",
		    path);
		return -1;
	}
	pthread_rwlock_rdlock(&st->envlock);
	rc = st->env != NULL ? mdb_env_copy2(st->env, dir, MDB_CP_COMPACT) :
	    EINVAL;
	pthread_rwlock_unlock(&st->envlock);
	if (rc != 0) {
		snprintf(err, errlen, "mdb_env_copy2 %s: %s", dir,
		    mdb_strerror(rc));
		return -1;
	}
	return 0;
}

/* Copies a file durably: to a temporary name, fsync, rename. */
static int
copy_file(const char *from, const char *to, char *err, size_t errlen)
{
	char tmp[4200], buf[1 << 16];
	ssize_t n;
	int in, out = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in == -1) {
		snprintf(err, errlen, "open %s: %s", from, strerror(errno));
		return -1;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out == -1) {
		snprintf(err, errlen, "open %s: %s", tmp, strerror(errno));
		goto fail;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			snprintf(err, errlen, "write %s: %s", tmp,
			    strerror(errno));
			goto fail;
		}
	if (n == -1 || fsync(out) == -1) {
		snprintf(err, errlen, "copy %s: %s", from, strerror(errno));
		goto fail;
	}
	close(in);
	close(out);
	if (rename(tmp, to) == -1) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;

fail:
	close(in);
	if (out != -1)
		close(out);
	unlink(tmp);
	return -1;
}

void (*store_restore_hook)(const char *data_dir);

/*
 * Gives the store under data_dir, whose lock file the caller holds as
 * lockfd (given up to the store here), a new epoch.
 */
static int
store_renew_epoch_held(const char *data_dir, int lockfd, char *err,
    size_t errlen)
{
	struct store_config cfg = { .data_dir = data_dir };
	struct store_txn t;
	struct store *st;
	int rc;

	st = store_open_held(&cfg, lockfd, err, errlen);
	if (st == NULL)
		return -1;
	rc = store_wtxn_begin(st, &t);
	if (rc == STORE_OK) {
		rc = store_epoch_renew(&t);
		if (rc == STORE_OK)
			rc = store_wtxn_commit(&t);
		else
			store_wtxn_abort(&t);
	}
	store_close(st);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "new epoch: %s", store_strerror(rc));
		return -1;
	}
	return 0;
}

int
store_restore(const char *data_dir, const char *from, char *err,
    size_t errlen)
{
	char src[4096], dst[4096], lock[4096];
	int fd;

	if (mkdir(data_dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", data_dir,
		    strerror(errno));
		return -1;
	}
	fd = store_lock_dir(data_dir, err, errlen);
	if (fd == -1)
		return -1;
	snprintf(src, sizeof(src), "%s/data.mdb", from);
	snprintf(dst, sizeof(dst), "%s/data.mdb", data_dir);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", data_dir);
	if (copy_file(src, dst, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	unlink(lock);
	if (store_restore_hook != NULL)
		store_restore_hook(data_dir);
	/*
	 * The lock stays held from the copy to the new epoch: no process
	 * can open the restored files under their old epoch meanwhile.
	 */
	return store_renew_epoch_held(data_dir, fd, err, errlen);
}

/* Export: one JSON object per line. */
struct exp {
	struct store_txn *t;
	FILE *out;
	const char *team;
	int rc;
};

static int
emit(struct exp *x, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (s == NULL || fprintf(x->out, "%s\n", s) < 0) {
		free(s);
		x->rc = STORE_ERR_INTERNAL;
		return 1;
	}
	free(s);
	return 0;
}

static int
exp_msg_cb(void *arg, const char *json, size_t len)
{
	struct exp *x = ((void **)arg)[0];
	const char *ch = ((void **)arg)[1];
	json_t *m = json_loadb(json, len, 0, NULL);

	if (m == NULL)
		return 0;
	return emit(x, json_pack("{ss ss so}", "k", "message", "channel", ch,
			   "message", m));
}

static int
exp_mark_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct exp *x = arg;
	char u[STORE_ID_SIZE], c[STORE_ID_SIZE], ts[STORE_TS_SIZE];

	if (k->mv_size != 2 * STORE_ID_LEN || v->mv_size != 8)
		return 0;
	memcpy(u, k->mv_data, STORE_ID_LEN);
	u[STORE_ID_LEN] = '\0';
	memcpy(c, (uint8_t *)k->mv_data + STORE_ID_LEN, STORE_ID_LEN);
	c[STORE_ID_LEN] = '\0';
	store_ts_format(store_be64_get(v->mv_data), ts);
	return emit(x, json_pack("{ss ss ss ss}", "k", "mark", "user", u,
			   "channel", c, "ts", ts));
}

static int
exp_token_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct exp *x = arg;
	struct store_token tok;
	char id[72];
	size_t n = k->mv_size - STORE_ID_LEN;

	if (n == 0 || n >= sizeof(id))
		return 0;
	memcpy(id, (uint8_t *)k->mv_data + STORE_ID_LEN, n);
	id[n] = '\0';
	if (store_txn_token_get(x->t, id, &tok) != STORE_OK)
		return 0;
	return emit(x, json_pack("{ss ss ss ss sI sI sb}", "k", "token", "id",
			   id, "user", tok.user, "team", tok.team, "created",
			   (json_int_t)tok.created, "expires",
			   (json_int_t)tok.expires, "revoked", tok.revoked));
}

static int
exp_user_cb(void *arg, const char *id)
{
	struct exp *x = arg;
	char pw[STORE_PWHASH_SIZE];
	json_t *u = store_txn_user_get(x->t, id), *o;

	if (u == NULL)
		return 0;
	o = json_pack("{ss so}", "k", "user", "user", u);
	if (store_txn_password_get(x->t, id, pw) == STORE_OK)
		json_object_set_new(o, "password", json_string(pw));
	if (emit(x, o))
		return 1;
	if (store_db_walk(x->t, DB_MARKS, id, STORE_ID_LEN, NULL, 0,
		exp_mark_cb, x) != STORE_OK)
		return 1;
	return store_db_walk(x->t, DB_USERTOKENS, id, STORE_ID_LEN, NULL, 0,
		   exp_token_cb, x) != STORE_OK;
}

static int
exp_member_cb(void *arg, const char *user)
{
	void **a = arg;

	return emit(a[0], json_pack("{ss ss ss}", "k", "member", "channel",
			      (const char *)a[1], "user", user));
}

static int
exp_chan_cb(void *arg, const char *id)
{
	struct exp *x = arg;
	json_t *c = store_txn_channel_get(x->t, id);
	void *a[2] = { x, (void *)id };
	char ts[STORE_TS_SIZE];
	MDB_val v;

	if (c == NULL)
		return 0;
	if (emit(x, json_pack("{ss so}", "k", "channel", "channel", c)))
		return 1;
	if (store_db_get(x->t, DB_CHANLAST, id, STORE_ID_LEN, &v) == STORE_OK &&
	    v.mv_size == 8) {
		store_ts_format(store_be64_get(v.mv_data), ts);
		if (emit(x, json_pack("{ss ss ss}", "k", "chanlast", "channel",
				id, "ts", ts)))
			return 1;
	}
	if (store_txn_channel_members(x->t, id, NULL, exp_member_cb, a) !=
	    STORE_OK)
		return 1;
	return store_txn_history(x->t, id, 0, 0, 1, 1, exp_msg_cb, a) !=
	    STORE_OK;
}

static int
exp_im_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct exp *x = arg;
	char a[STORE_ID_SIZE], b[STORE_ID_SIZE], c[STORE_ID_SIZE];

	if (k->mv_size != 3 * STORE_ID_LEN || v->mv_size != STORE_ID_LEN)
		return 0;
	memcpy(a, (uint8_t *)k->mv_data + STORE_ID_LEN, STORE_ID_LEN);
	memcpy(b, (uint8_t *)k->mv_data + 2 * STORE_ID_LEN, STORE_ID_LEN);
	memcpy(c, v->mv_data, STORE_ID_LEN);
	a[STORE_ID_LEN] = b[STORE_ID_LEN] = c[STORE_ID_LEN] = '\0';
	return emit(x, json_pack("{ss s[ss] ss}", "k", "im", "users", a, b,
			   "channel", c));
}

static int
exp_event_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct exp *x = arg;
	const uint8_t *p = v->mv_data;
	char ref[64];
	json_t *e;
	size_t off;

	if (k->mv_size != STORE_ID_LEN + 8 || v->mv_size < STORE_EVHDR_LEN)
		return 0;
	off = STORE_EVHDR_LEN + p[8];
	if (off > v->mv_size)
		return 0;
	e = json_loadb((const char *)p + off, v->mv_size - off, 0, NULL);
	if (e == NULL)
		return 0;
	store_ref_format(p + STORE_EVHDR_LEN, p[8], ref, sizeof(ref));
	return emit(x, json_pack("{ss ss sI sI ss so}", "k", "event", "team",
			   x->team, "seq",
			   (json_int_t)store_be64_get(
			       (uint8_t *)k->mv_data + STORE_ID_LEN),
			   "time", (json_int_t)store_be64_get(p), "ref", ref,
			   "event", e));
}

int
store_export_team(struct store *st, const char *team, FILE *out, char *err,
    size_t errlen)
{
	struct exp x = { NULL, out, team, STORE_OK };
	char epoch[STORE_EPOCH_SIZE];
	uint64_t oldest, last;
	json_t *tm;
	int rc;

	x.t = store_rd_begin(st);
	if (x.t == NULL) {
		snprintf(err, errlen, "cannot begin a read transaction");
		return -1;
	}
	tm = store_txn_team_get(x.t, team);
	if (tm == NULL) {
		store_rd_end(x.t);
		snprintf(err, errlen, "no team %s", team);
		return -1;
	}
	rc = emit(&x, json_pack("{ss so}", "k", "team", "team", tm));
	store_txn_team_epoch(x.t, team, epoch);
	if (rc == 0)
		rc = emit(&x, json_pack("{ss ss ss}", "k", "epoch", "team",
		    team, "epoch", epoch));
	if (rc == 0)
		store_txn_team_users(x.t, team, NULL, exp_user_cb, &x);
	if (x.rc == STORE_OK)
		store_txn_team_channels(x.t, team, NULL, exp_chan_cb, &x);
	if (x.rc == STORE_OK)
		store_db_walk(x.t, DB_IMS, team, STORE_ID_LEN, NULL, 0,
		    exp_im_cb, &x);
	if (x.rc == STORE_OK &&
	    store_txn_seq_range(x.t, team, &oldest, &last) == STORE_OK)
		emit(&x, json_pack("{ss ss sI}", "k", "seq", "team", team,
			     "last", (json_int_t)last));
	if (x.rc == STORE_OK)
		store_db_walk(x.t, DB_EVENTS, team, STORE_ID_LEN, NULL, 0,
		    exp_event_cb, &x);
	store_rd_end(x.t);
	if (x.rc != STORE_OK || fflush(out) != 0) {
		snprintf(err, errlen, "export failed: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Is there a record of db under id? */
static int
present(struct store_txn *t, enum store_db db, const char *id)
{
	MDB_val v;

	return store_id_valid(id, 0) &&
	    store_db_get(t, db, id, STORE_ID_LEN, &v) == STORE_OK;
}

/* Fails unless id names a record of the team being imported. */
static int
same_team(struct store_txn *t, const char *id, const char *team)
{
	json_t *o = id && id[0] == 'U' ? store_txn_user_get(t, id)
				       : store_txn_channel_get(t, id);
	const char *tm = jstr(o, id && id[0] == 'U' ? "team_id"
						    : "context_team_id");
	int ok = tm != NULL && team != NULL && strcmp(tm, team) == 0;

	json_decref(o);
	return ok;
}

static int
import_event(struct store_txn *t, json_t *o, char *err, size_t errlen)
{
	const char *team = jstr(o, "team"), *ref = jstr(o, "ref");
	json_int_t seq = json_integer_value(json_object_get(o, "seq"));
	json_int_t tm = json_integer_value(json_object_get(o, "time"));
	json_t *e = json_object_get(o, "event");
	uint8_t refb[STORE_MSGREF_LEN], key[STORE_ID_LEN + 8];
	uint64_t oldest, last;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t reflen;
	char *s;
	int rc;

	if (!store_id_valid(team, 'T') || !json_is_object(e) || seq <= 0 ||
	    tm < 0 || store_ref_parse(ref && *ref ? ref : NULL, refb,
			  &reflen) == -1) {
		snprintf(err, errlen, "malformed event");
		return STORE_ERR_INVALID;
	}
	if (store_txn_seq_range(t, team, &oldest, &last) != STORE_OK ||
	    (uint64_t)seq > last) {
		snprintf(err, errlen, "event seq %lld past the team's last seq",
		    (long long)seq);
		return STORE_ERR_INVALID;
	}
	/* Events come in increasing order: nothing at or past seq yet. */
	memcpy(key, team, STORE_ID_LEN);
	store_be64_put(key + STORE_ID_LEN, (uint64_t)seq);
	k.mv_data = key;
	k.mv_size = sizeof(key);
	if (mdb_cursor_open(t->txn, t->st->dbi[DB_EVENTS], &cur) != 0)
		return STORE_ERR_INTERNAL;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	mdb_cursor_close(cur);
	if (rc == 0 && k.mv_size == sizeof(key) &&
	    memcmp(k.mv_data, team, STORE_ID_LEN) == 0) {
		snprintf(err, errlen, "event seq %lld out of order",
		    (long long)seq);
		return STORE_ERR_INVALID;
	}
	s = json_dumps(e, JSON_COMPACT);
	if (s == NULL)
		return STORE_ERR_INVALID;
	rc = store_event_put(t, team, (uint64_t)seq, (uint64_t)tm, refb, reflen,
	    s, strlen(s));
	free(s);
	return rc;
}

int
store_import_line(struct store_txn *t, const char *line, size_t len,
    char *err, size_t errlen)
{
	json_t *o, *rec;
	const char *k, *ch, *u, *team;
	uint8_t val[8];
	MDB_val v;
	uint64_t ts;
	int rc = STORE_ERR_INVALID;

	err[0] = '\0';
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	k = jstr(o, "k");
	if (k == NULL) {
		snprintf(err, errlen, "not a JSON object with \"k\"");
		json_decref(o);
		return STORE_ERR_INVALID;
	}
	ch = jstr(o, "channel");
	u = jstr(o, "user");
	team = jstr(o, "team");
	if (strcmp(k, "team") == 0) {
		rec = json_object_get(o, "team");
		if (present(t, DB_TEAMS, jstr(rec, "id"))) {
			snprintf(err, errlen, "team %s already exists",
			    jstr(rec, "id"));
			rc = STORE_ERR_EXISTS;
		} else {
			rc = store_txn_team_put(t, rec);
		}
	} else if (strcmp(k, "user") == 0) {
		rec = json_object_get(o, "user");
		if (present(t, DB_USERS, jstr(rec, "id"))) {
			rc = STORE_ERR_EXISTS;
		} else {
			rc = store_txn_user_put(t, rec);
		}
		if (rc == STORE_OK && jstr(o, "password") != NULL)
			rc = store_txn_password_set(t, jstr(rec, "id"),
			    jstr(o, "password"));
	} else if (strcmp(k, "channel") == 0) {
		rec = json_object_get(o, "channel");
		if (present(t, DB_CHANNELS, jstr(rec, "id"))) {
			rc = STORE_ERR_EXISTS;
		} else {
			rc = store_txn_channel_put(t, rec);
		}
	} else if (strcmp(k, "chanlast") == 0) {
		if (store_id_valid(ch, 0) &&
		    store_ts_parse(jstr(o, "ts"), &ts) == 0 &&
		    present(t, DB_CHANNELS, ch)) {
			store_be64_put(val, ts);
			rc = store_db_put(t, DB_CHANLAST, ch, STORE_ID_LEN, val,
			    8, 0);
		}
	} else if (strcmp(k, "member") == 0) {
		rc = store_txn_member_add(t, ch, u);
	} else if (strcmp(k, "im") == 0) {
		json_t *us = json_object_get(o, "users");
		if (json_array_size(us) == 2 && store_id_valid(ch, 'D')) {
			char tm[STORE_ID_SIZE];
			if (store_txn_channel_team(t, ch, tm) == STORE_OK)
				rc = store_txn_im_put(t, tm,
				    json_string_value(json_array_get(us, 0)),
				    json_string_value(json_array_get(us, 1)),
				    ch);
		}
	} else if (strcmp(k, "message") == 0) {
		rec = json_object_get(o, "message");
		if (jstr(rec, "ts") != NULL)
			rc = store_txn_message_put(t, ch, rec, NULL);
	} else if (strcmp(k, "mark") == 0) {
		if (store_ts_parse(jstr(o, "ts"), &ts) == 0 &&
		    store_id_valid(u, 'U') && store_id_valid(ch, 0) &&
		    store_db_get(t, DB_USERS, u, STORE_ID_LEN, &v) == STORE_OK &&
		    store_db_get(t, DB_CHANNELS, ch, STORE_ID_LEN, &v) ==
			STORE_OK)
			rc = store_txn_mark_set(t, u, ch, ts);
	} else if (strcmp(k, "token") == 0) {
		struct store_token tok = { 0 };
		if (store_id_valid(u, 'U') && store_id_valid(team, 'T') &&
		    same_team(t, u, team)) {
			memcpy(tok.user, u, STORE_ID_SIZE);
			memcpy(tok.team, team, STORE_ID_SIZE);
			tok.created = json_integer_value(
			    json_object_get(o, "created"));
			tok.expires = json_integer_value(
			    json_object_get(o, "expires"));
			tok.revoked = json_is_true(json_object_get(o,
			    "revoked"));
			rc = store_txn_token_put(t, jstr(o, "id"), &tok);
		}
	} else if (strcmp(k, "seq") == 0) {
		json_int_t last = json_integer_value(json_object_get(o, "last"));
		if (store_id_valid(team, 'T') && last >= 0 &&
		    present(t, DB_TEAMS, team)) {
			store_be64_put(val, (uint64_t)last);
			rc = store_db_put(t, DB_TEAMSEQ, team, STORE_ID_LEN,
			    val, 8, 0);
		}
	} else if (strcmp(k, "epoch") == 0) {
		if (store_id_valid(team, 'T') && present(t, DB_TEAMS, team)) {
			rc = store_txn_team_epoch_set(t, team,
			    jstr(o, "epoch"));
			if (rc == STORE_OK)
				t->team_epoch_set = 1;
		}
	} else if (strcmp(k, "event") == 0) {
		rc = import_event(t, o, err, errlen);
	} else {
		snprintf(err, errlen, "unknown record kind \"%.32s\"", k);
	}
	if (rc != STORE_OK && err[0] == '\0')
		snprintf(err, errlen, "%s record refused: %s", k,
		    store_strerror(rc));
	json_decref(o);
	return rc;
}

/*
 * Import reads its input one line at a time inside the write, so that
 * memory holds one line (at most IMPORT_LINE_MAX) however large the
 * team; the write may run twice (a map that had to grow), so the input
 * must be seekable: a pipe is first copied to a temporary file.
 */
struct import {
	FILE *in;
	size_t bad;      /* line that failed, 0: none */
	int ioerr;       /* reading the input failed */
	char err[256];
};

/*
 * Reads one line (newline included) into *buf, never holding more than
 * IMPORT_LINE_MAX bytes of it.  Returns its length, -1 at the end of the
 * input, -2 for a longer line.
 */
static ssize_t
import_getline(FILE *in, char **buf, size_t *cap)
{
	size_t n = 0;
	int ch = EOF;

	while ((ch = getc_unlocked(in)) != EOF) {
		if (n + 2 > *cap) {
			if (*cap >= IMPORT_LINE_MAX + 2)
				return -2;
			*cap = *cap ? *cap * 2 : 4096;
			if (*cap > IMPORT_LINE_MAX + 2)
				*cap = IMPORT_LINE_MAX + 2;
			*buf = xreallocarray(*buf, *cap, 1);
		}
		(*buf)[n++] = (char)ch;
		if (ch == '\n')
			break;
	}
	if (n == 0)
		return -1;
	(*buf)[n] = '\0';
	return (ssize_t)n;
}

static int
import_apply(struct store_txn *t, void *arg)
{
	struct import *im = arg;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = STORE_OK;

	im->bad = 0;
	im->ioerr = 0;
	im->err[0] = '\0';
	t->team_epoch_set = 0;
	if (fseeko(im->in, 0, SEEK_SET) == -1) {
		im->ioerr = 1;
		return STORE_ERR_INTERNAL;
	}
	clearerr(im->in);
	while ((n = import_getline(im->in, &line, &cap)) != -1) {
		lineno++;
		if (n == -2) {
			snprintf(im->err, sizeof(im->err),
			    "longer than %d bytes", IMPORT_LINE_MAX);
			rc = STORE_ERR_INVALID;
			break;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		rc = store_import_line(t, line, (size_t)n, im->err,
		    sizeof(im->err));
		if (rc != STORE_OK)
			break;
		/* Drop what a long line left allocated. */
		if (cap > (1 << 16)) {
			free(line);
			line = NULL;
			cap = 0;
		}
	}
	free(line);
	if (rc != STORE_OK) {
		im->bad = lineno;
		return rc;
	}
	if (ferror(im->in)) {
		im->ioerr = 1;
		return STORE_ERR_INTERNAL;
	}
	/*
	 * A team that brings its own epoch keeps its numbering and the other
	 * teams theirs; an export without one (older) renews the store's.
	 */
	if (t->team_epoch_set)
		return STORE_OK;
	return store_epoch_renew(t);
}

/* A seekable copy of in (a pipe), in an unlinked temporary file. */
static FILE *
import_spool(FILE *in, char *err, size_t errlen)
{
	char buf[1 << 16];
	size_t n;
	FILE *tmp = tmpfile();

	if (tmp == NULL) {
		snprintf(err, errlen, "tmpfile: %s", strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, tmp) != n) {
			snprintf(err, errlen, "spool the input: %s",
			    strerror(errno));
			fclose(tmp);
			return NULL;
		}
	if (ferror(in) || fflush(tmp) != 0) {
		snprintf(err, errlen, "read the input: %s", strerror(errno));
		fclose(tmp);
		return NULL;
	}
	return tmp;
}

int
store_import_team(struct store *st, FILE *in, char *err, size_t errlen)
{
	struct import im = { 0 };
	FILE *spool = NULL;
	int rc;

	im.in = in;
	if (fseeko(in, 0, SEEK_CUR) == -1) {
		spool = import_spool(in, err, errlen);
		if (spool == NULL)
			return -1;
		im.in = spool;
	}
	rc = store_write_sync(st, import_apply, &im);
	if (spool != NULL)
		fclose(spool);
	if (rc == STORE_OK)
		return 0;
	if (im.bad > 0)
		snprintf(err, errlen, "line %zu: %s", im.bad, im.err);
	else if (im.ioerr)
		snprintf(err, errlen, "read the input: %s", strerror(errno));
	else
		snprintf(err, errlen, "import failed: %s", store_strerror(rc));
	return -1;
}

/* An import through the writer, for a backend that holds the store. */
struct import_job {
	struct import im;
	void (*done)(void *arg, int rc, const char *err);
	void *arg;
};

static int
import_job_apply(struct store_txn *t, void *arg)
{
	struct import_job *j = arg;

	return import_apply(t, &j->im);
}

static void
import_job_done(void *arg, int rc)
{
	struct import_job *j = arg;
	char err[320];

	err[0] = '\0';
	if (rc != STORE_OK) {
		if (j->im.bad > 0)
			snprintf(err, sizeof(err), "line %zu: %s", j->im.bad,
			    j->im.err);
		else if (j->im.ioerr)
			snprintf(err, sizeof(err), "read the input: %s",
			    strerror(errno));
		else
			snprintf(err, sizeof(err), "import failed: %s",
			    store_strerror(rc));
	}
	j->done(j->arg, rc, err);
	free(j);
}

int
store_import_submit(struct store *st, FILE *in,
    void (*done)(void *arg, int rc, const char *err), void *arg)
{
	struct import_job *j = xcalloc(1, sizeof(*j));

	j->im.in = in;
	j->done = done;
	j->arg = arg;
	if (store_submit(st, import_job_apply, import_job_done, j) == -1) {
		free(j);
		return -1;
	}
	return 0;
}

int
store_compact(struct store *st, char *err, size_t errlen)
{
	char tmp[4200], from[4300], to[4200], lock[4200];

	snprintf(tmp, sizeof(tmp), "%s/compact.tmp", st->dir);
	snprintf(from, sizeof(from), "%s/data.mdb", tmp);
	snprintf(to, sizeof(to), "%s/data.mdb", st->dir);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", st->dir);
	unlink(from);
	rmdir(tmp);
	if (store_backup(st, tmp, err, errlen) == -1)
		return -1;
	/* The store's lock file stays held: nobody opens it meanwhile. */
	pthread_rwlock_wrlock(&st->envlock);
	mdb_env_close(st->env);
	st->env = NULL;
	pthread_rwlock_unlock(&st->envlock);
	if (rename(from, to) == -1) {
		snprintf(err, errlen, "rename %s: %s", from, strerror(errno));
		return -1;
	}
	rmdir(tmp);
	unlink(lock);
	if (store_env_reload(st, err, errlen) == -1)
		return -1;
	return 0;
}
