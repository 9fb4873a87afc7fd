/*
 * backend: the private header of parley-backend.
 *
 * One section per part of the daemon.  The store section comes first
 * (every other part reads and writes through it); the Web API, RTM and
 * edge stream sections follow.
 */
#ifndef PARLEY_BACKEND_H
#define PARLEY_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "args.h"

/* ------------------------------------------------------------------ */
/*
 * store: the durable state of one backend in one LMDB environment.
 * docs/store.md describes the schema, group commit and durability.
 *
 * Threads.  Reads run in short read transactions (store_rd_begin() ...
 * store_rd_end()) on any thread.  Writes run on the store's writer
 * thread: a caller submits a write (an apply function and a done
 * function); the writer runs many submitted applies in one LMDB commit,
 * a failing write rolled back alone (store_write.c: a write that fails
 * after changing something has the batch run again with a nested
 * transaction per write), then commits durably, then runs each done
 * function on the loop thread given to store_writer_start() (or on the
 * writer thread when that loop is NULL).  Nobody is told "ok" before
 * that commit.
 *
 * Identifiers are Slack-shaped strings of STORE_ID_LEN characters: a
 * kind letter (T team, U user, C public channel, G private channel or
 * MPIM, D IM) and ten characters of [0-9A-Z].  A ts is kept as a 64-bit
 * count of microseconds and shown as "seconds.micros".
 *
 * Result codes: STORE_OK (0) or one of enum store_err.  An apply may
 * also return its own codes, STORE_ERR_USER and above; they reach its
 * done function unchanged.
 */

#define STORE_ID_LEN      11
#define STORE_ID_SIZE     (STORE_ID_LEN + 1)
#define STORE_TS_SIZE     24 /* "seconds.micros" and NUL */
#define STORE_EPOCH_SIZE  17 /* 16 hex digits and NUL */
#define STORE_CMID_MAX    64 /* bytes of a client_msg_id */
#define STORE_SCHEMA      2  /* schema version this code writes */
#define STORE_BATCH_MAX   1024 /* writes per commit at most */
#define STORE_HIST_BUCKETS 12 /* batch size histogram: 1,2,4..2048 */

enum store_err {
	STORE_OK = 0,
	STORE_ERR_NOTFOUND,  /* "not_found" */
	STORE_ERR_EXISTS,    /* "already_exists" */
	STORE_ERR_INVALID,   /* "invalid_arguments" */
	STORE_ERR_FULL,      /* "storage_full" */
	STORE_ERR_INTERNAL,  /* "internal_error": LMDB or I/O failure */
	STORE_ERR_SHUTDOWN,  /* "service_unavailable": writer stopping */
	STORE_ERR_USER = 100 /* first code left to apply functions */
};

/* The Slack error name of a store code ("internal_error" if unknown). */
const char *store_strerror(int code);

/* What store_open() needs; backend main fills it from [backend]. */
struct store_config {
	const char *data_dir;     /* holds data.mdb, lock.mdb, parley.lock */
	size_t map_initial;       /* first map size; 0: 64 MiB */
	size_t map_max;           /* growth stops here; 0: 16 GiB */
	uint64_t retain_events;   /* events kept per team; 0: 1,000,000 */
	uint64_t retain_seconds;  /* age of the oldest event; 0: 30 days */
	int readonly;             /* open without writing (verify, dump) */
};

struct store;     /* one open environment */
struct store_txn; /* a read transaction, or one write inside a commit */
struct ev_loop;

/*
 * Opens (creating when create is set and the directory is empty) the
 * store under cfg->data_dir and takes its lock file, so that no other
 * process opens the same files.  A store of the previous schema is
 * refused unless migrate is set, in which case a backup is written to
 * <data_dir>/backup-v<old>-<time>/ first and the store is migrated.
 * Returns the store, or NULL with a one-line reason in err (for example
 * "data dir /x is held by a running process (pid 12)").
 */
struct store *store_open(const struct store_config *cfg, int create,
    int migrate, char *err, size_t errlen);
/* Stops the writer (finishing queued writes) and closes everything. */
void store_close(struct store *st);
/*
 * Stops the writer thread after it committed every queued write, and
 * runs their done functions (on the calling thread when the writer's
 * loop is the caller's); the store stays open for reads.
 */
void store_writer_stop(struct store *st);

/* The store's epoch: 16 hex digits, changed whenever history is replaced. */
const char *store_epoch(struct store *st);

/*
 * The epoch a team's event numbers belong to: its own when the team was
 * moved in from another shard (the source's epoch for it, kept so that
 * clients resume across the move), else the store's.  The txn form
 * returns 1 for a team epoch, 0 for the store's; store_team_epoch()
 * reads in its own transaction.  set refuses what is not 16 hex digits.
 */
int store_txn_team_epoch(struct store_txn *txn, const char *team,
    char out[STORE_EPOCH_SIZE]);
int store_txn_team_epoch_set(struct store_txn *txn, const char *team,
    const char *epoch);
void store_team_epoch(struct store *st, const char *team,
    char out[STORE_EPOCH_SIZE]);
/* Raises (or lowers) the map limit at run time; writes may resume. */
void store_set_map_max(struct store *st, size_t map_max);
/* 1 while the last write failed for want of room, else 0. */
int store_is_full(struct store *st);

/*
 * Writer.  apply runs on the writer thread inside a nested write
 * transaction and returns STORE_OK to keep its changes or any other code
 * to roll them back; it must not block and may use every store_txn_*
 * function.  done runs after the commit holding the write is durable (or
 * failed), with apply's result or STORE_ERR_FULL / STORE_ERR_INTERNAL
 * when the commit itself failed.  arg belongs to the caller; apply may
 * write results into it for done to read.  apply may run more than once
 * (a batch that outgrew the map is retried), so it must depend only on
 * the store and arg and reset what it writes into arg.  store_submit()
 * may be called from any thread.  Returns 0, or -1 when the writer is
 * stopped (done is then not called).
 */
typedef int (*store_apply_fn)(struct store_txn *txn, void *arg);
typedef void (*store_done_fn)(void *arg, int result);

int store_writer_start(struct store *st, struct ev_loop *loop);
/*
 * 1 while the writer thread runs and takes writes; 0 before it starts,
 * once it is stopping, or after it returned.
 */
int store_writer_alive(struct store *st);
int store_submit(struct store *st, store_apply_fn apply, store_done_fn done,
    void *arg);
/*
 * Runs one write in its own commit on the calling thread and returns its
 * result.  For tools and tests; never on the loop thread of a daemon.
 */
int store_write_sync(struct store *st, store_apply_fn apply, void *arg);

/*
 * Called on the done thread for every event of a commit, in sequence
 * order, before the done functions of that commit: this is where events
 * are published, so that none goes out before it is durable.  json is
 * the event as stored, valid during the call.
 */
typedef void (*store_event_fn)(void *arg, const char *team, uint64_t seq,
    const char *json, size_t len);
void store_set_event_hook(struct store *st, store_event_fn fn, void *arg);

struct store_stats {
	uint64_t commits;        /* durable commits */
	uint64_t writes;         /* applies run */
	uint64_t failed;         /* applies that returned an error */
	uint64_t full;           /* writes refused for want of room */
	uint64_t max_batch;      /* most writes in one commit */
	uint64_t batch_hist[STORE_HIST_BUCKETS]; /* [i]: batches <= 2^i */
	uint64_t commit_us_total; /* time spent in mdb_txn_commit */
	uint64_t map_size;       /* current map size in bytes */
	uint64_t map_max;        /* the limit the map may grow to */
	uint64_t map_used;       /* bytes of the map in use */
	uint64_t reopens;        /* environment reopened after MDB_PANIC */
	uint64_t stale_readers;  /* reader slots of dead processes cleared */
	uint64_t nested_runs;    /* batches run again with nested txns */
};
void store_get_stats(struct store *st, struct store_stats *out);

/* Reads: a short read transaction; end it before returning to the loop. */
struct store_txn *store_rd_begin(struct store *st);
void store_rd_end(struct store_txn *txn);

/* ts helpers: "seconds.micros" <-> microseconds; -1 if malformed. */
void store_ts_format(uint64_t ts, char out[STORE_TS_SIZE]);
int store_ts_parse(const char *s, uint64_t *ts);
int store_id_valid(const char *id, char kind);

/*
 * Records.  Teams, users and channels are kept as the JSON objects the
 * Slack Web API returns (their "id" names them); messages as Slack's
 * message object.  Getters return a new reference the caller releases,
 * or NULL when absent.  Puts take the object (not stolen), check its
 * shape and keep the name indexes current.
 *
 *   team:    id, name, domain, created
 *   user:    id, team_id, name, real_name, deleted, is_admin, is_owner,
 *            is_bot, tz, tz_offset, profile{display_name, real_name,
 *            email, ...}, updated
 *   channel: id, context_team_id, name, is_channel, is_group, is_im,
 *            is_mpim, is_private, created, creator, is_archived,
 *            topic{value,creator,last_set}, purpose{...}, user (IM peer)
 */
json_t *store_txn_team_get(struct store_txn *txn, const char *id);
json_t *store_txn_user_get(struct store_txn *txn, const char *id);
/*
 * What a call's authentication needs of a user, read from the record's
 * text without decoding it (once per Web API call).
 */
struct store_user_flags {
	int deleted;
	int is_owner; /* is_owner or is_primary_owner */
	int is_admin;
	int is_bot;
};
int store_txn_user_flags(struct store_txn *txn, const char *id,
    struct store_user_flags *out);
json_t *store_txn_channel_get(struct store_txn *txn, const char *id);
json_t *store_txn_message_get(struct store_txn *txn, const char *channel,
    uint64_t ts);
int store_txn_team_put(struct store_txn *txn, json_t *team);
int store_txn_user_put(struct store_txn *txn, json_t *user);
int store_txn_channel_put(struct store_txn *txn, json_t *channel);

/* Lookups by name; fill id_out and return STORE_OK or NOTFOUND. */
int store_txn_team_by_domain(struct store_txn *txn, const char *domain,
    char id_out[STORE_ID_SIZE]);
int store_txn_user_by_name(struct store_txn *txn, const char *team,
    const char *name, char id_out[STORE_ID_SIZE]);
int store_txn_user_by_email(struct store_txn *txn, const char *team,
    const char *email, char id_out[STORE_ID_SIZE]);
int store_txn_channel_by_name(struct store_txn *txn, const char *team,
    const char *name, char id_out[STORE_ID_SIZE]);
/* The IM between two users of a team, whichever order they come in. */
int store_txn_im_find(struct store_txn *txn, const char *team,
    const char *u1, const char *u2, char id_out[STORE_ID_SIZE]);
/* Records a 'D' channel as the IM of u1 and u2 (after channel_put). */
int store_txn_im_put(struct store_txn *txn, const char *team,
    const char *u1, const char *u2, const char *channel);

/* A new random id of the given kind, unused in this store. */
int store_txn_new_id(struct store_txn *txn, char kind,
    char id_out[STORE_ID_SIZE]);

/*
 * Iteration.  The callback gets each item's id or JSON (valid during the
 * call) and returns 0 to go on, 1 to stop.  after (may be NULL) starts
 * past that id, for cursors.  The functions return STORE_OK or an error.
 */
typedef int (*store_id_fn)(void *arg, const char *id);
typedef int (*store_json_fn)(void *arg, const char *json, size_t len);
int store_txn_team_users(struct store_txn *txn, const char *team,
    const char *after, store_id_fn fn, void *arg);
int store_txn_team_channels(struct store_txn *txn, const char *team,
    const char *after, store_id_fn fn, void *arg);
int store_txn_channel_members(struct store_txn *txn, const char *channel,
    const char *after, store_id_fn fn, void *arg);
int store_txn_user_channels(struct store_txn *txn, const char *user,
    const char *after, store_id_fn fn, void *arg);
int store_txn_teams(struct store_txn *txn, store_id_fn fn, void *arg);

/* Memberships, kept in both directions. */
int store_txn_member_add(struct store_txn *txn, const char *channel,
    const char *user);
int store_txn_member_remove(struct store_txn *txn, const char *channel,
    const char *user);
int store_txn_is_member(struct store_txn *txn, const char *channel,
    const char *user);

/*
 * Messages, keyed by (channel, ts).  store_txn_message_put() stores msg
 * under its "ts"; with no "ts" it first assigns the channel's next one
 * (now, or one microsecond past the channel's last ts if the clock went
 * back) and sets it in msg.  A "client_msg_id" is indexed per channel
 * and a reply (thread_ts != ts) indexed under its thread.  Returns
 * STORE_OK with *ts_out set (may be NULL), or an error.
 */
int store_txn_message_put(struct store_txn *txn, const char *channel,
    json_t *msg, uint64_t *ts_out);
/* The ts of the message with that client_msg_id, or NOTFOUND. */
int store_txn_message_by_cmid(struct store_txn *txn, const char *channel,
    const char *client_msg_id, uint64_t *ts_out);
/*
 * Deletes the message and scrubs its content from every event that held
 * it (each becomes {"type":"tombstone","channel","ts"} with the same
 * seq), and drops its index entries.  The caller appends the
 * message_deleted event, which must not repeat the deleted text.
 */
int store_txn_message_delete(struct store_txn *txn, const char *channel,
    uint64_t ts);
/*
 * Messages of a channel from newest to oldest, latest and oldest bounds
 * in microseconds (0: none), bounds included when inclusive is set.
 * Thread replies are skipped unless with_replies is set.
 */
int store_txn_history(struct store_txn *txn, const char *channel,
    uint64_t latest, uint64_t oldest, int inclusive, int with_replies,
    store_json_fn fn, void *arg);
/* The replies of a thread in ts order, parent first. */
int store_txn_replies(struct store_txn *txn, const char *channel,
    uint64_t thread_ts, store_json_fn fn, void *arg);

/* Read markers: the last ts a user has read in a channel. */
int store_txn_mark_set(struct store_txn *txn, const char *user,
    const char *channel, uint64_t ts);
int store_txn_mark_get(struct store_txn *txn, const char *user,
    const char *channel, uint64_t *ts);

/*
 * The team event log.  store_txn_event_append() gives the event the
 * team's next sequence number and stores it in the same transaction as
 * the change; ref names the record it is about ("<channel>/<ts>" for a
 * message, a channel or user id, NULL for none) so that verify can check
 * the change exists and a delete can scrub the event.  The JSON is
 * stored as given (compact); the seq is returned in *seq_out.
 */
int store_txn_event_append(struct store_txn *txn, const char *team,
    json_t *event, const char *ref, uint64_t *seq_out);
/* Events of a team with seq > after, in order, at most limit (0: all). */
typedef int (*store_event_iter_fn)(void *arg, uint64_t seq, uint64_t time_us,
    const char *json, size_t len);
int store_txn_events(struct store_txn *txn, const char *team,
    uint64_t after, size_t limit, store_event_iter_fn fn, void *arg);
/*
 * The oldest seq still held and the last one given (0 and 0 for a team
 * without events).  A resume from seq s is exact when s + 1 >= oldest.
 */
int store_txn_seq_range(struct store_txn *txn, const char *team,
    uint64_t *oldest, uint64_t *last);

/*
 * Tokens: the store holds their ids, so that revocation outlives a
 * restart.  A token that is absent or revoked is refused.
 */
struct store_token {
	char user[STORE_ID_SIZE];
	char team[STORE_ID_SIZE];
	int64_t created;
	int64_t expires; /* 0: never */
	int revoked;
};
int store_txn_token_put(struct store_txn *txn, const char *token_id,
    const struct store_token *tok);
int store_txn_token_get(struct store_txn *txn, const char *token_id,
    struct store_token *out);
int store_txn_token_revoke(struct store_txn *txn, const char *token_id);
/* The ids of a user's tokens, in id order (fn as for iteration). */
int store_txn_user_tokens(struct store_txn *txn, const char *user,
    store_id_fn fn, void *arg);
/* Revokes every token of a user (deactivation); *count gets how many. */
int store_txn_user_tokens_revoke(struct store_txn *txn, const char *user,
    size_t *count);

/*
 * Passwords for sign-in: a salted PBKDF2-HMAC-SHA256 hash, kept apart
 * from the user object so it is never served.
 * store_password_hash() writes "pbkdf2-sha256$<iter>$<salt>$<hash>"
 * (base64) into out and returns 0, or -1.  store_password_check()
 * returns 1 for a match, 0 otherwise, in time independent of where the
 * hashes differ.
 */
#define STORE_PWHASH_SIZE 128
int store_password_hash(const char *password, char out[STORE_PWHASH_SIZE]);
int store_password_check(const char *password, const char *stored);
int store_txn_password_set(struct store_txn *txn, const char *user,
    const char *hash);
int store_txn_password_get(struct store_txn *txn, const char *user,
    char out[STORE_PWHASH_SIZE]);

/*
 * Domain operations: a change and its event in one call, for the Web
 * API, the admin socket and parleyctl.  Each runs inside txn.
 */
/* A team with its domain; id_out gets the new id. */
int store_op_team_create(struct store_txn *txn, const char *name,
    const char *domain, char id_out[STORE_ID_SIZE]);
/*
 * The same with the id chosen by the caller (want: a valid team id not
 * in use, else STORE_ERR_INVALID / STORE_ERR_EXISTS), so that parleyctl
 * can place a new team on its shard before it exists.
 */
int store_op_team_create_id(struct store_txn *txn, const char *want,
    const char *name, const char *domain, char id_out[STORE_ID_SIZE]);
/* A user (team_join event); fields of extra (may be NULL) are merged in. */
int store_op_user_create(struct store_txn *txn, const char *team,
    const char *name, const char *real_name, json_t *extra,
    char id_out[STORE_ID_SIZE]);
/* Marks deleted, revokes tokens (user_change event). */
int store_op_user_deactivate(struct store_txn *txn, const char *user);
/*
 * A channel (channel_created or group_joined), its creator a member.
 * kind: 'C' public, 'G' private.
 */
int store_op_channel_create(struct store_txn *txn, const char *team,
    const char *name, char kind, const char *creator,
    char id_out[STORE_ID_SIZE]);
/* Adds a member (member_joined_channel event). */
int store_op_channel_join(struct store_txn *txn, const char *channel,
    const char *user);
/*
 * Posts msg (user, text, thread_ts...; ts assigned) in channel with its
 * "message" event; updates the parent's reply_count, reply_users and
 * latest_reply for a reply.  A client_msg_id already seen in the channel
 * returns STORE_ERR_EXISTS with *ts_out set to the first message.
 */
int store_op_message_post(struct store_txn *txn, const char *channel,
    json_t *msg, uint64_t *ts_out);
/*
 * The same in two steps, so that the message's JSON is made off the
 * writer thread: store_post_prepare() (any thread, before submit)
 * checks msg (no "ts", "channel" or "event_ts"; "type" defaults to
 * "message") and keeps its text; store_op_post() (in the apply; may run
 * more than once) gives it a ts and writes message, indexes and event;
 * store_post_free() after the done function.  msg is not kept.
 */
struct store_post {
	char channel[STORE_ID_SIZE];
	char user[STORE_ID_SIZE];      /* the author, "" if none */
	char cmid[STORE_CMID_MAX + 1]; /* client_msg_id, "" if none */
	uint64_t thread_ts;            /* 0: not a reply */
	char *head;                    /* the text without its last '}' */
	size_t headlen;
};
int store_post_prepare(struct store_post *p, const char *channel,
    json_t *msg);
int store_op_post(struct store_txn *txn, const struct store_post *p,
    uint64_t *ts_out);
void store_post_free(struct store_post *p);
/*
 * Deletes a message, scrubs it, appends message_deleted; the parent of a
 * deleted reply gets its reply_count, reply_users and latest_reply
 * counted again from the replies left.
 */
int store_op_message_delete(struct store_txn *txn, const char *channel,
    uint64_t ts);

/*
 * The string value of key among the top-level members of the JSON
 * object text json (as the store writes it), without building the
 * object: 0 with it in out, or -1 when absent, not a plain string (no
 * escapes), longer than outlen - 1, or the text is not an object.
 */
int store_json_top_str(const char *json, size_t len, const char *key,
    char *out, size_t outlen);
/*
 * The same for a boolean member: 1 for true, 0 for false, def when
 * absent, of another type, or the text is not an object.
 */
int store_json_top_bool(const char *json, size_t len, const char *key,
    int def);
/*
 * The same for an integer member: 0 with it in *out, or -1 when absent,
 * not an integer (a real, a string...) or out of range.
 */
int store_json_top_int(const char *json, size_t len, const char *key,
    int64_t *out);
/*
 * What a post needs of a channel, read from the record's text without
 * decoding it: its team ("" when absent or not a plain id) and flags.
 */
struct store_chan_flags {
	char team[STORE_ID_SIZE];
	int is_channel;
	int is_private;
	int is_archived;
};
int store_txn_channel_flags(struct store_txn *txn, const char *channel,
    struct store_chan_flags *out);
/* The team a channel belongs to (its context_team_id). */
int store_txn_channel_team(struct store_txn *txn, const char *channel,
    char team_out[STORE_ID_SIZE]);

/* Verification: one line per finding to fn; returns how many. */
typedef void (*store_finding_fn)(void *arg, const char *line);
size_t store_verify(struct store *st, store_finding_fn fn, void *arg);

/*
 * Backup and restore.  store_backup() writes a compacted copy of the
 * live pages to dir/data.mdb.  store_restore() replaces data_dir's store
 * (which no process may hold) with the copy in from and gives it a new
 * epoch.  Both return 0 or -1 with err filled.
 */
int store_backup(struct store *st, const char *dir, char *err,
    size_t errlen);
int store_restore(const char *data_dir, const char *from, char *err,
    size_t errlen);

/*
 * Export of one team as JSON lines (team, users, channels, members,
 * messages, marks, events; see docs/store.md) and import into a store
 * that lacks it; import gives the store a new epoch.  Return 0 or -1
 * with err filled (import names the line that failed).
 */
int store_export_team(struct store *st, const char *team, FILE *out,
    char *err, size_t errlen);
int store_import_team(struct store *st, FILE *in, char *err, size_t errlen);
/*
 * The same through the writer of a running store: in (a seekable file,
 * kept open by the caller until done) is imported in one commit and
 * done(arg, rc, err) runs with STORE_OK and "" or the reason.  Returns
 * 0, or -1 (done is not called) when the writer is stopping.
 */
int store_import_submit(struct store *st, FILE *in,
    void (*done)(void *arg, int rc, const char *err), void *arg);
/* Parses one export line into txn (exposed for the fuzzer). */
int store_import_line(struct store_txn *txn, const char *line, size_t len,
    char *err, size_t errlen);

/* ------------------------------------------------------------------ */

/*
 * api: the Web API (docs/api.md).
 *
 * A request reaches the API as a method name, a content type, a body, a
 * query string, the Authorization header and the peer address.  The
 * arguments become one JSON object (api_args_*), the method table names
 * the handler, the caller's token is checked, the rate limits are
 * applied, and the handler answers at once for reads, or from the
 * store's commit callback for writes.
 */
/*
 * Limits of argument parsing (common/args.h, which the edges share).
 * The backend's names for the parser are kept below.
 */
#define API_ARGS_MAX       ARGS_MAX
#define API_ARG_NAME_MAX   ARGS_NAME_MAX
#define API_JSON_DEPTH_MAX ARGS_JSON_DEPTH_MAX
#define API_JSON_NODES_MAX ARGS_JSON_NODES_MAX
#define API_TOKEN_COOKIE   "parley_token" /* the browser's token cookie */

/* args_parse() and args_json_parse() of common/args.h. */
json_t *api_args_parse(const char *ctype, const char *body, size_t len,
    const char *query, size_t qlen, const char **err);
json_t *api_json_parse(const char *text, size_t len);

/*
 * Argument getters.  Each returns the value of argument name of args, or
 * the default when it is absent.  A value of the wrong shape is an
 * error: the getter returns -1 (or NULL) and sets *err, when err is not
 * NULL, to "invalid_arguments".
 */
/* A string argument (numbers are given as their text); NULL if absent. */
const char *api_arg_str(json_t *args, const char *name);
/* "true"/"1"/true are true, "false"/"0"/false/"" false. */
int api_arg_bool(json_t *args, const char *name, int def, const char **err);
/* An integer within [min, max]; outside is an error. */
int api_arg_int(json_t *args, const char *name, long long def,
    long long min, long long max, long long *out, const char **err);
/*
 * A JSON array argument such as blocks or attachments: either a JSON
 * array in a JSON body, or its text in a form field.  Returns a new
 * reference, NULL when absent (with *err untouched), or NULL with *err
 * set to bad_error when the value is not a JSON array.
 */
json_t *api_arg_json_array(json_t *args, const char *name,
    const char *bad_error, const char **err);

/* ------------------------------------------------------------------ */
/*
 * Web API calls.
 *
 * api_call_start() takes a parsed request and answers it through the
 * call's done callback, exactly once, on the loop thread.  A method is
 * one of three kinds:
 *   read    runs inside a read transaction, on the loop thread or, for
 *           slow methods (API_F_SLOW), on a worker thread, and sets
 *           c->result or c->werr;
 *   apply   a write: runs on the store's writer thread inside the
 *           commit (store_apply_fn with the call as arg), sets
 *           c->result or c->werr; the answer goes out after the commit;
 *   custom  anything else; it ends the call with api_call_ok() or
 *           api_call_fail().
 */
struct ev_loop;
struct token_keys;
struct api_call;
struct api_ctx;

enum api_tier {
	API_TIER_NONE,   /* not limited */
	API_TIER_1,
	API_TIER_2,
	API_TIER_3,
	API_TIER_4,
	API_TIER_POST,   /* chat.postMessage and friends */
	API_TIER_MAX
};

#define API_F_NOAUTH 0x1u /* needs no token */
#define API_F_WRITE  0x2u /* changes state: POST only */
#define API_F_SLOW   0x4u /* runs on a worker thread */

struct api_method {
	const char *name;
	enum api_tier tier;
	unsigned flags;
	int (*read)(struct api_call *c, struct store_txn *txn);
	int (*apply)(struct store_txn *txn, void *call);
	void (*custom)(struct api_call *c);
};

/* Who makes a call, from the verified token and the user record. */
struct api_who {
	char team[STORE_ID_SIZE];
	char user[STORE_ID_SIZE];
	char token_id[40];
	int is_admin;  /* admins and owners */
	int is_owner;
	int is_bot;
};

/* What [backend] sets for the Web API; see docs/configuration.md. */
struct api_limits {
	int tier_per_min[API_TIER_MAX]; /* requests per token per minute */
	int signin_failures;     /* per user and per source a minute */
	int workers;             /* worker threads */
	size_t max_body;         /* bytes in a request body */
};

struct api_call {
	struct api_ctx *ctx;
	const struct api_method *m;
	json_t *args;
	struct api_who who;
	char source[64];     /* client address, for sign-in throttles */
	/*
	 * "ws://HOST" or "wss://HOST": how the client reached us, from its
	 * Host and X-Forwarded-Proto headers (api_call_set_origin); empty
	 * when unknown.  rtm.connect completes a relative rtm_url with it.
	 */
	char origin[160];
	json_t *result;      /* fields of a successful answer */
	const char *werr;    /* a handler's error name */
	json_t *extra;       /* fields added to an error answer */
	char *body;          /* the serialised answer, once known */
	size_t len;
	int status;          /* HTTP status */
	int retry_after;     /* seconds, with 429 */
	uint64_t t0_us;      /* start, monotonic */
	int midx;            /* index of the method, for metrics */

	/*
	 * Set by the caller: receives the answer (c->status, c->body,
	 * c->len, c->retry_after) on the loop thread; the call is freed
	 * after it returns.
	 */
	void (*done)(struct api_call *c);
	void *udata;
	void *priv;          /* a custom method's own state */
	int no_body;         /* set by a caller that reads c->result and
				c->werr only: no c->body is made */
};

/*
 * The Web API of one backend: the store, the token keys (keys may be
 * swapped with api_ctx_set_keys on reload), limits.  Starts the worker
 * threads.  Returns NULL after logging on failure.
 */
/*
 * Shards (docs/operations.md).  A team is served here, paused here (a
 * move is copying it: writes get HTTP 429 with Retry-After
 * API_PAUSE_RETRY seconds, reads go on), leaving (the map now places
 * it elsewhere and it was paused here less than API_MOVE_GRACE seconds
 * ago: every call gets 429, so that clients retry through the new
 * route) or elsewhere (every call gets "team_not_here"; RTM upgrades
 * get 421 and stream subscriptions an error).  Loop thread only.
 * set_shards keeps map and me (NULL me: no shards, every team here);
 * pause returns -1 for a bad team id.
 */
#define API_PAUSE_RETRY 1
#define API_MOVE_GRACE	10.0
enum api_team_where {
	API_TEAM_HERE,
	API_TEAM_PAUSED,
	API_TEAM_LEAVING,
	API_TEAM_ELSEWHERE,
};
struct shard_map;
struct shard;
void api_ctx_set_shards(struct api_ctx *ctx, const struct shard_map *map,
    const struct shard *me);
enum api_team_where api_team_where(struct api_ctx *ctx, const char *team);
int api_team_pause(struct api_ctx *ctx, const char *team, int paused);

struct api_ctx *api_ctx_new(struct ev_loop *loop, struct store *st,
    const struct token_keys *keys, const struct api_limits *lim);
void api_ctx_set_keys(struct api_ctx *ctx, const struct token_keys *keys);
void api_ctx_set_limits(struct api_ctx *ctx, const struct api_limits *lim);
void api_ctx_free(struct api_ctx *ctx);
struct store *api_ctx_store(struct api_ctx *ctx);
const struct token_keys *api_ctx_keys(struct api_ctx *ctx);
const struct api_limits *api_ctx_limits(struct api_ctx *ctx);
struct api_rate *api_ctx_rate(struct api_ctx *ctx);

/* Fills lim with the defaults of docs/configuration.md. */
void api_limits_default(struct api_limits *lim);

/*
 * A new call of method name on ctx with the request's parts; source is
 * the peer address.  The caller sets done and udata, then calls
 * api_call_start().  auth is the Authorization header (may be NULL).
 */
struct api_call *api_call_new(struct api_ctx *ctx, const char *source);
/*
 * Records how the client reached us: host is its Host header (NULL when
 * absent), proto its X-Forwarded-Proto (NULL when absent: "ws").  A
 * host that is not a plain name, IPv4 or [IPv6] address with an
 * optional port, or longer than 127 bytes, leaves the origin empty.
 */
void api_call_set_origin(struct api_call *c, const char *host,
    const char *proto);
void api_call_start(struct api_call *c, const char *method,
    int is_get, const char *ctype, const char *body, size_t len,
    const char *query, size_t qlen, const char *auth);

/* Ends a custom call: ok with result's fields (stolen), or an error. */
void api_call_ok(struct api_call *c, json_t *result);
void api_call_fail(struct api_call *c, const char *error);
/* Ends a call with HTTP 429 and Retry-After. */
void api_call_limited(struct api_call *c, int retry_after);

/*
 * The method table: lookup by name (NULL if none), and the method with
 * index i (0 .. api_method_count() - 1) for metrics.
 */
const struct api_method *api_method_find(const char *name, int *idx);
size_t api_method_count(void);
const struct api_method *api_method_at(size_t i);

/* Per-method counters, for /metrics. */
#define API_HIST_N 14
extern const double api_hist_bounds[API_HIST_N - 1]; /* seconds */
struct api_method_stats {
	uint64_t ok;
	uint64_t error;
	uint64_t limited;
	uint64_t hist[API_HIST_N]; /* latency buckets, last is +Inf */
	uint64_t sum_us;
};
const struct api_method_stats *api_ctx_stats(struct api_ctx *ctx,
    size_t i);
/* Requests for methods that do not exist. */
uint64_t api_ctx_unknown(struct api_ctx *ctx);
/* Calls made (api_call_new) and not answered yet: what a stop waits for. */
unsigned api_ctx_inflight(struct api_ctx *ctx);

/*
 * Runs fn(arg) on a worker thread, then done(arg) on the loop thread.
 */
void api_work_submit(struct api_ctx *ctx, void (*fn)(void *arg),
    void (*done)(void *arg), void *arg);

/*
 * Rate limits: token buckets keyed by a string.  api_rate_take() takes
 * one from key's bucket of per_min per minute (burst as large); returns
 * 0, or the seconds to wait (>= 1) when it is empty.  api_rate_peek()
 * only says whether one is left (0) or how long to wait.
 */
struct api_rate;
struct api_rate *api_rate_new(void);
void api_rate_free(struct api_rate *r);
int api_rate_take(struct api_rate *r, const char *key, int per_min,
    double now);
int api_rate_peek(struct api_rate *r, const char *key, int per_min,
    double now);
/* Drops buckets that are full again; returns how many remain. */
size_t api_rate_sweep(struct api_rate *r, double now);

/*
 * Shared by the method files.
 *
 * api_chan_get() returns the channel (new reference) if who may see it:
 * a public channel of who's team, or any channel who is a member of.
 * Otherwise NULL: the caller answers channel_not_found, as if the
 * channel did not exist.
 */
json_t *api_chan_get(struct store_txn *txn, const struct api_who *who,
    const char *id);
/* A user of who's team (new reference), or NULL. */
json_t *api_user_get(struct store_txn *txn, const struct api_who *who,
    const char *id);
/* The channel as who sees it: adds is_member and, for IMs, is_open. */
json_t *api_chan_view(struct store_txn *txn, const struct api_who *who,
    json_t *chan);
/*
 * Appends event (stolen) to team's log with an event_ts of now; ref as
 * for store_txn_event_append().  Returns a store code.
 */
int api_event(struct store_txn *txn, const char *team, json_t *event,
    const char *ref);
/*
 * The HTTP front (api_http.c): /api/<method>, /healthz, /metrics on a
 * server made with lim.  map_max is not used: /healthz shows the limit
 * the store has now.
 */
struct http_limits;
struct http_server;
struct api_http;
struct api_http *api_http_new(struct ev_loop *loop, struct api_ctx *api,
    const struct http_limits *lim, size_t map_max);
struct http_server *api_http_server(struct api_http *h);
/* Serves the RTM WebSocket at /rtm with rtm (rtm.c). */
struct rtm;
void api_http_set_rtm(struct api_http *h, struct rtm *rtm);
/*
 * The proxies (n addresses, copied) whose X-Forwarded-For names the
 * client for sign-in throttles and unauthenticated rate limits.
 */
void api_http_set_trusted(struct api_http *h, char *const *trusted,
    size_t n);
/* Adds the edge stream's counters to /metrics (NULL: none). */
struct stream_srv;
void api_http_set_stream(struct api_http *h, struct stream_srv *s);
void api_http_free(struct api_http *h);
/* Serves the files of web (kept by the caller) at every other path. */
struct static_root;
void api_http_set_web(struct api_http *h, struct static_root *web);

/* The admin socket (admin.c) at path, mode 0600; NULL after logging. */
struct admin;
struct admin *admin_new(struct ev_loop *loop, struct api_ctx *api,
    const char *path, const char *keys_path);
/* The key file keys.reload and ping use from now on (SIGHUP). */
void admin_set_keys(struct admin *a, const char *keys_path);
/*
 * What "shards.reload" calls: fn(arg, err, errlen) re-reads the shard
 * map and returns 0, or -1 with the reason in err.
 */
void admin_set_shards_reload(struct admin *a,
    int (*fn)(void *arg, char *err, size_t errlen), void *arg);
void admin_free(struct admin *a);

/*
 * Loads the token key file at path and makes it current for ctx (new
 * tokens use its newest key).  Returns 0, or -1 after logging (the keys
 * in use stay).
 */
int api_keys_reload(struct api_ctx *ctx, const char *path);

/* Records the IM of two users of a team (store_rec.c). */
int store_txn_im_put(struct store_txn *txn, const char *team,
    const char *u1, const char *u2, const char *channel);
/* Characters (not bytes) of valid UTF-8 text. */
size_t api_utf8_len(const char *s);
/* users.conversations, which shares conversations.list's walk. */
int api_users_conversations(struct api_call *c, struct store_txn *txn);
/* "now" as a Slack ts string. */
void api_ts_now(char out[STORE_TS_SIZE]);
/* Sets c->werr and returns -1: "return api_err(c, "x");". */
int api_err(struct api_call *c, const char *error);
/* Same for apply functions: returns STORE_ERR_USER. */
int api_werr(struct api_call *c, const char *error);
/* Parses a "seconds.micros" argument; 0 absent, -1 malformed. */
int api_arg_ts(json_t *args, const char *name, uint64_t *ts);
/* A cursor: encodes and decodes an opaque position string. */
void api_cursor_make(const char *pos, char *out, size_t outlen);
int api_cursor_parse(const char *cursor, char *pos, size_t poslen);

/* Method tables of the method files, ending with a NULL name. */
extern const struct api_method api_methods_auth[];
extern const struct api_method api_methods_chat[];
extern const struct api_method api_methods_conv[];
extern const struct api_method api_methods_users[];
extern const struct api_method api_methods_reactions[];
extern const struct api_method api_methods_rtm[];

/* ------------------------------------------------------------------ */
/*
 * rtm: the RTM WebSocket of full clients (docs/rtm.md).
 *
 *   rtm.c         the endpoint: tickets, hello, client sends and their
 *                 acks, heartbeat, goodbye, rtm.connect's answer
 *   rtm_fanout.c  who may see an event, the teams' connections, fan-out
 *                 of committed events, resume from the event log
 *   rtm_msg.c     parsing of client messages and the acks' text
 *
 * Everything runs on the loop thread.  Committed events arrive through
 * the store's event hook (rtm_event_hook), so nothing goes out before
 * the commit that holds it.
 */
struct http_req;
struct ws_conn;
struct rtm;
struct rtm_conn;

/* What [backend] sets for RTM; see docs/configuration.md. */
struct rtm_config {
	/*
	 * The public WebSocket URL, without query; a path ("/rtm") is
	 * completed per call with the client's origin (api_call.origin),
	 * or with origin below when the call has none.
	 */
	const char *url;
	char origin[128];      /* "ws://<listen>" */
	int ticket_ttl;        /* seconds a ticket from rtm.connect lives */
	double heartbeat;      /* seconds: a silent connection is dead */
	size_t out_cap;        /* unsent bytes per connection */
	size_t max_message;    /* bytes of one client message */
	size_t replay_batch;   /* events read per resume step */
	size_t presence_max;   /* ids in one presence_sub */
	int max_conns;         /* open RTM connections at most */
	size_t sndbuf;         /* kernel send buffer per socket; 0: kernel's */
};

struct rtm_stats {
	uint64_t opened;       /* connections accepted */
	uint64_t refused;      /* upgrades refused (ticket, token, user) */
	uint64_t events;       /* committed events fanned out */
	uint64_t deliveries;   /* frames queued to connections */
	uint64_t replayed;     /* events sent by resumes */
	uint64_t resume_ok, resume_failed;
	uint64_t sends, send_errors; /* client messages and error acks */
	uint64_t slow_closed;  /* closed at the output cap */
	uint64_t dead_closed;  /* closed by the heartbeat */
	uint64_t revoked_closed; /* closed by a revocation or deactivation */
	unsigned conns;        /* open now */
};

/* Fills cfg with the defaults of docs/configuration.md (url NULL). */
void rtm_config_default(struct rtm_config *cfg);

/*
 * The RTM server of a backend on loop, over api's store and keys; cfg is
 * copied (url too).  Becomes the server that rtm.connect describes.  The
 * caller passes it the committed events from the store's event hook
 * (rtm_event_hook).  Never fails.
 */
struct rtm *rtm_new(struct ev_loop *loop, struct api_ctx *api,
    const struct rtm_config *cfg);
/* New settings (SIGHUP); open connections keep their output cap. */
void rtm_set_config(struct rtm *r, const struct rtm_config *cfg);
/*
 * Graceful stop: every connection gets goodbye and a close (1001);
 * nothing new is accepted.
 */
void rtm_shutdown(struct rtm *r);
/*
 * After a shard map change: says goodbye (1012 "team_moved") to every
 * connection of a team that api_team_where() now places elsewhere, so
 * that its clients reconnect to the team's new shard.
 */
void rtm_close_elsewhere(struct rtm *r);
void rtm_free(struct rtm *r);
void rtm_get_stats(struct rtm *r, struct rtm_stats *out);
/* Prometheus text of the RTM counters (nothing when r is NULL). */
void rtm_metrics(struct rtm *r, FILE *f);
/*
 * The value of parameter name in the query string q, percent-decoded
 * into out.  Returns 1 when found, 0 when absent, -1 when it does not
 * fit in out or is badly encoded.
 */
int rtm_query_param(const char *q, const char *name, char *out,
    size_t outlen);

/*
 * The WebSocket upgrade of GET /rtm?ticket=...: checks the ticket and
 * the token it came from, accepts the connection or answers 401/400 (or
 * 503 without an RTM server).  Consumes req.
 */
void rtm_upgrade(struct rtm *r, struct http_req *req);

/*
 * Ephemeral events (user_typing, presence_change) as RTM makes them, for
 * the edge stream: fn gets the team and the event's JSON (valid during
 * the call).  NULL fn: none.
 */
typedef void (*rtm_ephemeral_fn)(void *arg, const char *team,
    const char *json, size_t len);
void rtm_set_ephemeral_hook(struct rtm *r, rtm_ephemeral_fn fn, void *arg);
/*
 * An ephemeral event of an edge's client (the stream): user_typing in
 * channel goes to the channel's other members, presence_change (channel
 * NULL) to those who asked for user's presence.  json is the event.
 */
void rtm_ephemeral_in(struct rtm *r, const char *team, const char *user,
    const char *channel, const char *json, size_t len);
/* "active" or "away": user's presence as RTM knows it now. */
const char *rtm_user_presence(struct rtm *r, const char *team,
    const char *user);

/* The custom Web API method rtm.connect (api_rtm.c calls it). */
void rtm_connect_call(struct api_call *c);

/* The store's event hook (store_event_fn) with the struct rtm as arg. */
void rtm_event_hook(void *arg, const char *team, uint64_t seq,
    const char *json, size_t len);

/*
 * Who may see an event.  rtm_event_scope() reads a stored event and
 * says where it goes:
 *   RTM_SCOPE_TEAM     every connection of the team
 *   RTM_SCOPE_CHANNEL  members of channel, and also user when set
 *                      (the one who just left)
 *   RTM_SCOPE_USER     only user's connections
 *   RTM_SCOPE_NONE     nobody (internal events such as tokens_revoked,
 *                      scrubbed tombstones)
 * and what it does to open connections:
 *   RTM_ACT_REVOKE_TOKEN  close the connections of token_id
 *   RTM_ACT_DEACTIVATE    close every connection of user
 */
enum rtm_scope_kind {
	RTM_SCOPE_NONE,
	RTM_SCOPE_TEAM,
	RTM_SCOPE_CHANNEL,
	RTM_SCOPE_USER,
};
enum rtm_action {
	RTM_ACT_NONE,
	RTM_ACT_REVOKE_TOKEN,
	RTM_ACT_DEACTIVATE,
};
struct rtm_scope {
	enum rtm_scope_kind kind;
	enum rtm_action action;
	char channel[STORE_ID_SIZE]; /* RTM_SCOPE_CHANNEL */
	char user[STORE_ID_SIZE];    /* RTM_SCOPE_USER, extra member, act */
	char token_id[40];           /* RTM_ACT_REVOKE_TOKEN */
};
/* Fills sc for event ev (a JSON object); never fails. */
void rtm_event_scope(const json_t *ev, struct rtm_scope *sc);

/*
 * Resume: what a client presenting (epoch, seq) gets from a store at
 * cur_epoch whose team log holds oldest..last.
 */
enum rtm_resume {
	RTM_RESUME_OK,          /* replay seq + 1 .. last, then live */
	RTM_RESUME_EPOCH,       /* "epoch_changed": the store was replaced */
	RTM_RESUME_TOO_OLD,     /* "seq_too_old": events were dropped */
	RTM_RESUME_FUTURE,      /* "seq_unknown": past the last one given */
};
enum rtm_resume rtm_resume_check(const char *cur_epoch, uint64_t oldest,
    uint64_t last, const char *epoch, uint64_t seq);
const char *rtm_resume_reason(enum rtm_resume r);

/*
 * Client messages (rtm_msg.c).  rtm_msg_parse() reads one text message
 * of len bytes: a JSON object with a "type" and, for anything that is
 * answered, an "id" (a number or a string, echoed as reply_to).
 * Returns 0 with m filled (m->obj is a new reference that rtm_msg_clear
 * releases; the string fields point into it), or -1 with *err set to a
 * static error name (invalid_json, not_an_object, no_type, bad_id,
 * bad_channel, no_text, msg_too_long, bad_thread_ts, bad_ids) and
 * m->id kept when the message had one, so the error can be acked.
 */
enum rtm_msg_type {
	RTM_MSG_OTHER,        /* a type the server does not take */
	RTM_MSG_PING,
	RTM_MSG_MESSAGE,
	RTM_MSG_TYPING,
	RTM_MSG_PRESENCE_SUB,
};
#define RTM_TEXT_MAX 40000 /* characters of a message's text */
#define RTM_ID_STR_MAX 64  /* bytes of a string id */
struct rtm_msg {
	enum rtm_msg_type type;
	json_t *obj;
	const json_t *id;      /* NULL when absent */
	const char *type_str;
	const char *channel;
	const char *text;
	const char *thread_ts;
	const json_t *ids;     /* presence_sub: array of user ids */
};
int rtm_msg_parse(const char *data, size_t len, size_t max_ids,
    struct rtm_msg *m, const char **err);
void rtm_msg_clear(struct rtm_msg *m);
/*
 * Acks, as new strings the caller frees: ok with reply_to and the
 * fields of extra (may be NULL); an error with code and msg; a pong
 * that echoes the ping's other fields.
 */
char *rtm_ack_ok(const json_t *id, const json_t *extra, size_t *len);
char *rtm_ack_error(const json_t *id, int code, const char *msg,
    size_t *len);
char *rtm_pong(const struct rtm_msg *m, size_t *len);

/* ------------------------------------------------------------------ */
/*
 * stream: the backend side of the edge stream (docs/stream.md).
 *
 *   stream.c       the TLS listener, one session per edge connection:
 *                  hello, subscribe (resume or snapshot, then live
 *                  events), unsubscribe, keepalive, revocations, the
 *                  output cap
 *   stream_snap.c  the snapshot of a team, in parts
 *   stream_fwd.c   forwarded Web API calls and their results
 *
 * Everything runs on the loop thread.  Committed events arrive through
 * the store's event hook (stream_event_hook) and are encoded once per
 * event for every edge subscribed to the team.
 */
struct stream_srv;
struct stream_peer;

/* What [backend] sets for the stream; see docs/configuration.md. */
struct stream_config {
	double keepalive;       /* seconds of silence before a keepalive */
	double timeout;         /* seconds of silence from the edge: dead */
	size_t out_cap;         /* unsent bytes per edge connection */
	size_t max_frame;       /* bytes of one frame from an edge */
	size_t replay_batch;    /* events read per catch-up step */
	size_t snap_messages;   /* recent messages per channel in a snapshot */
	size_t snap_part;       /* JSON bytes aimed at per snapshot part */
	size_t snap_events;     /* events before its seq a snapshot carries */
};

struct stream_stats {
	uint64_t accepted;      /* TCP connections accepted */
	uint64_t refused;       /* failed the TLS handshake */
	uint64_t subscribes;
	uint64_t resumes;       /* subscriptions resumed from the log */
	uint64_t snapshots;     /* snapshots sent */
	uint64_t events;        /* events encoded (once per team) */
	uint64_t replayed;      /* events sent from the log */
	uint64_t forwards, results;
	uint64_t closed_full;   /* closed at the output cap */
	uint64_t closed_dead;   /* closed by the keepalive timeout */
	uint64_t closed_bad;    /* closed for a bad frame */
	unsigned peers;         /* open edge connections */
};

/* Fills cfg with the defaults of docs/configuration.md. */
void stream_config_default(struct stream_config *cfg);

/*
 * The stream server of a backend on loop over store st; forwarded calls
 * go to api (NULL: they are answered 503 service_unavailable).  tls is a
 * server context that requires client certificates (the caller keeps
 * its reference; the server takes one of its own; NULL only for test
 * sessions).  Never fails; it listens once stream_listen() succeeds.
 */
struct stream_srv *stream_new(struct ev_loop *loop, struct store *st,
    struct api_ctx *api, const struct stream_config *cfg, SSL_CTX *tls);
/*
 * Listens on host (NULL or "": any) and port ("0": a free one).  Returns
 * the port, or -1 after logging.
 */
int stream_listen(struct stream_srv *s, const char *host, const char *port);
/* New settings (SIGHUP); open connections keep their output cap. */
void stream_set_config(struct stream_srv *s, const struct stream_config *cfg);
/* Stops listening and closes every edge connection. */
void stream_shutdown(struct stream_srv *s);
/*
 * After a shard map change: ends every subscription to a team that
 * api_team_where() now places elsewhere with an error frame
 * "team_not_here" naming the team; the edge subscribes at its new shard.
 */
void stream_close_elsewhere(struct stream_srv *s);
void stream_free(struct stream_srv *s);
void stream_get_stats(struct stream_srv *s, struct stream_stats *out);
/* Prometheus text of the stream counters (nothing when s is NULL). */
void stream_metrics(struct stream_srv *s, FILE *f);

/* The RTM server whose presence snapshots report (may be NULL). */
void stream_set_rtm(struct stream_srv *s, struct rtm *r);
/*
 * RTM's ephemeral hook (rtm_ephemeral_fn) with the stream_srv as arg:
 * typing and presence go to the team's edges as ephemeral frames.
 */
void stream_ephemeral_hook(void *arg, const char *team, const char *json,
    size_t len);

/* The store's event hook (store_event_fn) with the stream_srv as arg. */
void stream_event_hook(void *arg, const char *team, uint64_t seq,
    const char *json, size_t len);

/*
 * A session without a socket, for the fuzzer and unit tests: frames
 * given to stream_peer_input() are handled as if an edge had sent them;
 * what the backend answers is passed to out (may be NULL) instead of
 * being written.  stream_peer_input() returns 0, or -1 once the session
 * is closed.
 */
struct stream_peer *stream_peer_test_new(struct stream_srv *s,
    void (*out)(void *arg, const void *p, size_t len), void *arg);
int stream_peer_input(struct stream_peer *p, const void *data, size_t len);
void stream_peer_test_free(struct stream_peer *p);

/*
 * Internal to the stream files.  stream_peer_send_msg() encodes m and
 * queues it; stream_snapshot() queues a whole snapshot of team (read in
 * txn) and returns the seq it holds; stream_forward() starts the Web API
 * call of a forward frame.  Sends return 0, or -1 when the peer was
 * closed.
 */
struct stream_msg;
struct store_txn;
int stream_peer_send_msg(struct stream_peer *p, const struct stream_msg *m);
int stream_snapshot(struct stream_peer *p, struct store_txn *txn,
    const char *team, uint64_t seq);
void stream_forward(struct stream_peer *p, const struct stream_msg *m);
/* Forgets forwards in flight of p (it is going away). */
void stream_forward_detach(struct stream_peer *p);
struct api_ctx *stream_peer_api(struct stream_peer *p);
struct store *stream_peer_store(struct stream_peer *p);
struct rtm *stream_peer_rtm(struct stream_peer *p);
const struct stream_config *stream_peer_config(struct stream_peer *p);
const char *stream_peer_name(struct stream_peer *p);
void stream_count_result(struct stream_peer *p);

#endif
