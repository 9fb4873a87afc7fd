/*
 * store_int: what the store*.c files share with each other (and with the
 * store's unit tests and fuzz target).  The rest of the backend uses only
 * the store section of backend.h.
 */
#ifndef PARLEY_STORE_INT_H
#define PARLEY_STORE_INT_H

#include <pthread.h>
#include <stdint.h>

#include <ev.h>
#include <lmdb.h>

#include "backend.h"

enum store_db {
	DB_META,
	DB_TEAMS,
	DB_DOMAINS,
	DB_USERS,
	DB_USERNAMES,
	DB_EMAILS,
	DB_TEAMUSERS,
	DB_PASSWORDS,
	DB_CHANNELS,
	DB_CHANNAMES,
	DB_TEAMCHANS,
	DB_IMS,
	DB_MEMBERS,
	DB_USERCHANS,
	DB_MESSAGES,
	DB_THREADS,
	DB_CHANLAST,
	DB_CMIDS,
	DB_MARKS,
	DB_EVENTS,
	DB_TEAMSEQ,
	DB_MSGEVENTS,
	DB_TOKENS,
	DB_USERTOKENS,
	DB_COUNT
};

/* Names of the databases, indexed by enum store_db. */
extern const char *const store_db_names[DB_COUNT];

#define STORE_MSGREF_LEN (STORE_ID_LEN + 8) /* channel, ts */
#define STORE_EVHDR_LEN  9                  /* time, ref length */
#define STORE_NAME_MAX   255                /* bytes of a name in a key */

/* An event kept for the hook until its commit is durable. */
struct store_evrec {
	struct store_evrec *next;
	char team[STORE_ID_SIZE];
	uint64_t seq;
	size_t len;
	char json[];
};

struct store_req {
	struct store_req *next;
	store_apply_fn apply;
	store_done_fn done;
	void *arg;
	int result;
	struct store_evrec *ev_head, *ev_tail;
};

/* A committed batch on its way to the done thread. */
struct store_batch {
	struct store_batch *next;
	struct store_req *reqs;
};

struct store {
	char *dir;
	struct store_config cfg;
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	int lockfd;
	char epoch[STORE_EPOCH_SIZE];

	/* Readers hold it shared; resizing and reopening take it alone. */
	pthread_rwlock_t envlock;
	size_t map_size;
	size_t map_max;
	int full;
	int inject_panic; /* tests: the next commit fails as MDB_PANIC */

	/* Writer thread and its queue. */
	pthread_t thread;
	int running;
	int stopping;
	int exited;   /* the writer thread has returned */
	uint64_t last_reopen_us;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct store_req *qhead, *qtail;
	uint64_t last_maint;

	/* Committed batches for the loop thread. */
	struct ev_loop *loop;
	ev_async async;
	pthread_mutex_t dlock;
	struct store_batch *dhead, *dtail;

	store_event_fn hook;
	void *hook_arg;

	pthread_mutex_t slock;
	struct store_stats stats;
};

struct store_txn {
	struct store *st;
	MDB_txn *txn;
	int rdonly;
	int lmdb_err;          /* first LMDB failure other than absence */
	int wrote;             /* a put or del was tried */
	struct store_req *req; /* write: where appended events go */
	/* A new epoch written here; current once the commit succeeds. */
	char epoch[STORE_EPOCH_SIZE];
	int team_epoch_set; /* an import wrote a team's own epoch */
};

/* Big-endian 64-bit numbers in keys. */
void store_be64_put(uint8_t *p, uint64_t v);
uint64_t store_be64_get(const uint8_t *p);
uint64_t store_now_us(void);
/* Added to the wall clock by store_now_us(); tests step the clock back. */
extern int64_t store_clock_skew_us;

/*
 * LMDB calls that note a failure in txn->lmdb_err and map it to a store
 * code: STORE_OK, STORE_ERR_NOTFOUND (absent), STORE_ERR_EXISTS
 * (put_noover on a present key), STORE_ERR_FULL, STORE_ERR_INTERNAL.
 */
int store_db_get(struct store_txn *txn, enum store_db db, const void *key,
    size_t klen, MDB_val *val);
int store_db_put(struct store_txn *txn, enum store_db db, const void *key,
    size_t klen, const void *val, size_t vlen, unsigned flags);
int store_db_del(struct store_txn *txn, enum store_db db, const void *key,
    size_t klen);
int store_db_err(struct store_txn *txn, int rc);
/*
 * Walks the keys of db that start with prefix, from prefix+from when
 * from is given.  fn returns 0 to go on, 1 to stop, or < 0 to stop
 * with an error (returned).
 */
typedef int (*store_walk_fn)(void *arg, const MDB_val *key,
    const MDB_val *val);
int store_db_walk(struct store_txn *txn, enum store_db db,
    const void *prefix, size_t plen, const void *from, size_t flen,
    store_walk_fn fn, void *arg);

/* Stores the compact text of a JSON value. */
int store_db_put_json(struct store_txn *txn, enum store_db db,
    const void *key, size_t klen, json_t *v);
json_t *store_db_get_json(struct store_txn *txn, enum store_db db,
    const void *key, size_t klen);

/* A write transaction outside the writer (tools, migration, tests). */
int store_wtxn_begin(struct store *st, struct store_txn *txn);
int store_wtxn_commit(struct store_txn *txn);
void store_wtxn_abort(struct store_txn *txn);

/*
 * Takes <dir>/parley.lock exclusively (flock) and writes our pid in it.
 * Returns the descriptor (closing it releases the lock), or -1 with err
 * naming the process that holds it.
 */
int store_lock_dir(const char *dir, char *err, size_t errlen);

/*
 * Writes a new random epoch into meta within txn; store_epoch() gives it
 * only after that transaction commits (an aborted one leaves the epoch
 * in use as it was).
 */
int store_epoch_renew(struct store_txn *txn);
/* Makes the epoch a committed txn wrote current (no-op otherwise). */
void store_epoch_committed(struct store *st, const struct store_txn *txn);

/*
 * Like store_open() on a store whose lock file the caller already holds
 * (lockfd, which the store then owns and closes): for restore, which
 * must not let go of the lock between copying and reopening.
 */
struct store *store_open_held(const struct store_config *cfg, int lockfd,
    char *err, size_t errlen);
/* Tests: called by store_restore() after the copy, lock still held. */
extern void (*store_restore_hook)(const char *data_dir);
/* Grows the map (doubling, up to map_max); 0 or -1 at the maximum. */
int store_map_grow(struct store *st, size_t need);
/* Closes and reopens the environment files; 0 or -1 with err. */
int store_env_reload(struct store *st, char *err, size_t errlen);
/* Same after MDB_PANIC, logged and counted. */
int store_env_reopen(struct store *st);

/*
 * store_txn_event_append() with the event already as compact JSON text
 * (len bytes, an object), for writers that made it without jansson.
 */
int store_event_append_text(struct store_txn *txn, const char *team,
    const char *json, size_t len, const char *ref, uint64_t *seq_out);
/*
 * store_txn_message_put() that also hands back the stored text (a
 * malloc'd string the caller frees) in *text_out.
 */
int store_message_put_text(struct store_txn *txn, const char *channel,
    json_t *msg, uint64_t *ts_out, char **text_out);

/*
 * A message's indexes (client_msg_id, thread entry, the channel's last
 * ts) and its stored text (len bytes) under (channel, ts); cmid may be
 * NULL and thread_ts 0.  A client_msg_id held by another ts is
 * STORE_ERR_EXISTS with that ts in *ts_out.
 */
int store_message_put_raw(struct store_txn *txn, const char *channel,
    uint64_t ts, const char *cmid, uint64_t thread_ts, const char *text,
    size_t len, uint64_t *ts_out);
/* The channel's next ts: now, or one past its last if the clock fell. */
int store_message_next_ts(struct store_txn *txn, const char *channel,
    uint64_t *ts);

/* The event log internals, shared with migration and import. */
int store_event_put(struct store_txn *txn, const char *team, uint64_t seq,
    uint64_t time_us, const uint8_t *ref, size_t reflen, const char *json,
    size_t len);
int store_ref_parse(const char *ref, uint8_t *out, size_t *len);
void store_ref_format(const uint8_t *ref, size_t len, char *out,
    size_t outlen);
/* Drops the events of team beyond retention as of now_us. */
int store_log_trim(struct store_txn *txn, const char *team, uint64_t now_us);
/* Applies age retention to every team. */
int store_log_sweep(struct store_txn *txn, uint64_t now_us);

/* Migration from schema 1 inside txn. */
int store_migrate_v1(struct store_txn *txn);

/*
 * Rewrites data.mdb with its live pages only (no process but this one
 * may have it open) and reopens it.  0, or -1 with err.
 */
int store_compact(struct store *st, char *err, size_t errlen);

/* Fault injection for the verify tests (parleyctl _inject). */
int store_debug_inject(struct store *st, const char *fault, char *err,
    size_t errlen);

#endif
