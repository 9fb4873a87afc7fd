/*
 * edge: private header of parley-edge.
 *
 *   edge_fold.c      folding of names and queries for matching
 *   edge_complete.c  the autocomplete index (sorted folded words)
 *   edge_team.c      the per-team cache and its snapshot loading
 *   edge_event.c     events applied to the cache, and their audiences
 *   edge_boot.c      slim boot, lazy loading and autocomplete answers
 *
 * Nothing in those files does I/O: the daemon feeds frames in and sends
 * the strings these functions build.  Everything a team holds is
 * reachable from its struct edge_team and freed by edge_team_free().
 *
 * The daemon (second half of this header):
 *
 *   main.c           settings, start, stop, reload
 *   edge_link.c      the TLS link to each shard's stream: hello,
 *                    subscriptions, frames in, forwards out, backoff
 *   edge_served.c    the teams served: subscription on first use,
 *                    requests waiting for a snapshot, the replay ring,
 *                    revocations, eviction of idle teams
 *   edge_http.c      /api/ (answers from the cache, forwards), /healthz,
 *                    /metrics, the web client's files
 *   edge_rtm.c       the RTM WebSocket at /rtm
 */
#ifndef PARLEY_EDGE_H
#define PARLEY_EDGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/ssl.h>

/*
 * Folding (edge_fold.c).
 *
 * A folded string is NFKC, case-folded, stripped of combining marks and
 * default-ignorable code points (ZWJ, variation selectors), with the
 * Turkish dotless i and dotted capital I both made "i" and hiragana made
 * katakana.  Words are the runs between separators (spaces, punctuation,
 * controls).  Both the names and the query go through the same function,
 * so "Zoë" stored composed or decomposed, "ZOE" and "zoe" fold alike.
 */
#define EDGE_FOLD_MAX 1024 /* bytes of input folded; longer is an error */

/*
 * Folds len bytes of UTF-8 at s.  On success returns a new NUL-terminated
 * string (free() it) holding the folded words separated by single
 * spaces, with *nwords set to their number.  Returns NULL on invalid
 * UTF-8 or input longer than EDGE_FOLD_MAX.
 */
char *edge_fold(const char *s, size_t len, size_t *nwords);

/*
 * Autocomplete index (edge_complete.c).
 *
 * Entries are users or channels, each with up to EDGE_CPL_FIELDS labels
 * (user: name, display name, real name; channel: name).  Every folded
 * word of every label is a key in a sorted array; a query word matches
 * an entry when it is a prefix of one of the entry's keys.  Updates go
 * to a small sorted side array and are merged into the main one when it
 * grows; replaced keys are skipped by generation until the merge.
 *
 * Order of results, identical on every call: rank (0 for preferred
 * entries, e.g. members of the current channel, then 1), then the
 * folded first label, then the id (bytewise).
 */
#define EDGE_CPL_FIELDS    3
#define EDGE_CPL_QUERY_MAX 256 /* bytes of query */
#define EDGE_CPL_LIMIT_MAX 100
#define EDGE_CPL_NONE      UINT32_MAX /* no entry */

enum edge_cpl_kind {
	EDGE_CPL_USER = 1,
	EDGE_CPL_CHANNEL = 2,
};

struct edge_cpl;

struct edge_cpl_hit {
	void *obj;  /* what the caller gave edge_cpl_add() */
	int kind;   /* EDGE_CPL_USER or EDGE_CPL_CHANNEL */
	int rank;   /* 0 preferred, 1 other */
	uint32_t e; /* the entry */
};

/*
 * A query.  kinds is a mask of edge_cpl_kind.  visible() (may be NULL)
 * is asked about entries of visible_kinds only, and returns 0 to leave
 * one out.  Preferred entries rank 0, the rest 1: pref[0..1] are arrays
 * of npref[0..1] entry numbers (EDGE_CPL_NONE allowed) that are
 * preferred, and is_pref() (may be NULL) says the same about one entry;
 * both must agree.  The index looks at short lists whole, marks the
 * entries of longer ones, and asks is_pref() when the lists are too long
 * to go through for every query (a channel of the whole team).  Hidden
 * entries (deactivated users, archived channels) are left out unless
 * include_hidden is set.
 */
struct edge_cpl_query {
	const char *text;
	size_t len;
	unsigned kinds;
	size_t limit;
	int include_hidden;
	int (*visible)(void *ctx, void *obj, int kind);
	unsigned visible_kinds;
	int (*is_pref)(void *ctx, void *obj, int kind);
	const uint32_t *pref[2];
	size_t npref[2];
	void *ctx;
};

struct edge_cpl *edge_cpl_new(void);
void edge_cpl_free(struct edge_cpl *);

/*
 * Adds an entry for obj with id (copied) and the labels (NULL or empty
 * labels are skipped; labels[0] sorts results).  Returns its entry
 * number, stable until edge_cpl_remove().  Labels that do not fold
 * (invalid UTF-8, too long) give no keys.
 */
uint32_t edge_cpl_add(struct edge_cpl *, int kind, const char *id,
    const char *const *labels, size_t nlabels, void *obj);
/* Replaces the labels of entry e (a rename, a new display name). */
void edge_cpl_update(struct edge_cpl *, uint32_t e,
    const char *const *labels, size_t nlabels);
/* Hides or shows entry e (deactivated user, archived channel). */
void edge_cpl_set_hidden(struct edge_cpl *, uint32_t e, int hidden);
void edge_cpl_remove(struct edge_cpl *, uint32_t e);

/*
 * Runs query q and writes at most min(q->limit, EDGE_CPL_LIMIT_MAX,
 * cap) hits into out, best first.  Returns the number of hits, or -1
 * when the query is not valid UTF-8 or longer than EDGE_CPL_QUERY_MAX.
 * A query with no word matches nothing.
 */
ssize_t edge_cpl_query(struct edge_cpl *, const struct edge_cpl_query *q,
    struct edge_cpl_hit *out, size_t cap);

/* The folded first label of entry e ("" if none). */
const char *edge_cpl_sortkey(const struct edge_cpl *, uint32_t e);
/* Bytes the index holds (for memory accounting). */
size_t edge_cpl_memory(const struct edge_cpl *);
/* Number of keys in the main and side arrays (tests, metrics). */
void edge_cpl_stats(const struct edge_cpl *, size_t *main_keys,
    size_t *side_keys, size_t *dead_keys);

/*
 * Team cache (edge_team.c).
 */
#define EDGE_RECENT_DEFAULT 20 /* recent messages kept per channel */
#define EDGE_TS_MAX         32 /* bytes of a ts string, NUL included */
#define EDGE_EPOCH_MAX      33 /* bytes of a store epoch, NUL included */
#define EDGE_EVENT_MAX      (1024 * 1024) /* bytes of one event's JSON */
#define EDGE_PART_MAX       (16 * 1024 * 1024) /* of a snapshot part */

enum edge_presence {
	EDGE_PRESENCE_AWAY = 0,
	EDGE_PRESENCE_ACTIVE = 1,
};

struct edge_member;

struct edge_user {
	char *id;
	char *name;
	char *real_name;
	char *display_name;
	char *json; /* the user object as the backend sent it */
	size_t json_len;
	int deleted;
	int is_bot;
	int presence;
	uint32_t cpl;          /* autocomplete entry */
	struct edge_member **chans; /* memberships, sorted by channel id */
	uint32_t *chan_cpl;         /* their channels' autocomplete entries */
	size_t nchans, chans_cap;
};

struct edge_msg {
	char ts[EDGE_TS_MAX];
	int64_t ord;              /* position in the channel's count */
	char *json;               /* the message object */
	size_t json_len;
	struct edge_user **mentions; /* users named by <@U...>, or NULL */
	size_t nmentions;
};

enum edge_chan_type {
	EDGE_CHAN_PUBLIC = 0,
	EDGE_CHAN_PRIVATE,
	EDGE_CHAN_IM,
	EDGE_CHAN_MPIM,
};

struct edge_channel {
	char *id;
	char *name;
	int type;
	int archived;
	int deleted; /* channel_deleted: kept, but seen by nobody */
	json_t *obj; /* the conversation object, without per-user fields */
	uint32_t cpl;
	struct edge_member **members; /* sorted by user id */
	uint32_t *member_cpl;         /* their users' autocomplete entries */
	size_t nmembers, members_cap;
	struct edge_msg *recent; /* oldest first, at most team recent_max */
	size_t nrecent;
	int64_t msg_ord; /* messages counted since the snapshot */
	char latest[EDGE_TS_MAX];
};

struct edge_member {
	struct edge_user *user;
	struct edge_channel *chan;
	int64_t read_ord; /* unread = chan->msg_ord - read_ord */
	int64_t mentions;
	char last_read[EDGE_TS_MAX];
};

struct edge_team {
	char *id;
	json_t *obj; /* the team object */
	char epoch[EDGE_EPOCH_MAX]; /* the store's epoch */
	uint64_t seq;
	int ready;   /* a snapshot was loaded */
	int stale;   /* a gap was seen: a new snapshot is needed */
	size_t recent_max;
	struct edge_user **users; /* sorted by id */
	size_t nusers, users_cap;
	struct edge_channel **chans; /* sorted by id */
	size_t nchans, chans_cap;
	struct edge_cpl *cpl;
	uint64_t last_used; /* for eviction, set by the daemon */
};

/* Results of edge_team_apply(). */
enum edge_apply {
	EDGE_APPLY_OK = 0,
	EDGE_APPLY_OLD,  /* seq already applied: ignored */
	EDGE_APPLY_GAP,  /* seq skipped numbers, or team stale: resnapshot */
	EDGE_APPLY_BAD,  /* malformed event: seq advanced, nothing changed */
};

/*
 * Who may see an event: everyone in the team, the members of a channel,
 * or one user; extra (may be NULL) is one more user who sees it (someone
 * who just left a private channel, the subject of a private change).
 */
enum edge_aud_kind {
	EDGE_AUD_NONE = 0,
	EDGE_AUD_TEAM,
	EDGE_AUD_CHANNEL,
	EDGE_AUD_USER,
};

struct edge_audience {
	int kind;
	struct edge_channel *chan;
	struct edge_user *user;
	struct edge_user *extra;
};

struct edge_team *edge_team_new(const char *id, size_t recent_max);
/* Frees the team and everything it holds (eviction). */
void edge_team_free(struct edge_team *);

/*
 * Snapshot loading: begin empties the team and sets its epoch, seq and
 * team object (JSON text); each part adds objects of one kind (a JSON
 * array, see docs/stream.md); end marks the team ready.  Each returns 0,
 * or -1 with *err set to a static reason when the input is malformed
 * (the team then stays not ready).
 */
enum edge_snap_kind {
	EDGE_SNAP_USERS = 1,
	EDGE_SNAP_CHANNELS = 2,
	EDGE_SNAP_MEMBERS = 3,
	EDGE_SNAP_PRESENCE = 4,
	EDGE_SNAP_MESSAGES = 5,
};

int edge_team_snapshot_begin(struct edge_team *, const char *epoch,
    uint64_t seq, const char *team_json, size_t len, const char **err);
int edge_team_snapshot_part(struct edge_team *, int kind, const char *json,
    size_t len, const char **err);
int edge_team_snapshot_end(struct edge_team *, const char **err);

/*
 * Applies persisted event number seq (JSON text of a Slack RTM event).
 * Events must come in order: seq == team->seq + 1.  Fills *aud (may be
 * NULL) with who may see the event.  See enum edge_apply.
 */
int edge_team_apply(struct edge_team *, uint64_t seq, const char *json,
    size_t len, struct edge_audience *aud);
/*
 * Who may see persisted event json as the cache stands, without
 * applying it: for the events a snapshot carries from before its seq
 * (the replay ring of a team just loaded).  Returns EDGE_APPLY_OK, or
 * EDGE_APPLY_BAD when the event is malformed or names a channel or user
 * the cache does not hold (aud is then nobody).
 */
int edge_team_audience(struct edge_team *, const char *json, size_t len,
    struct edge_audience *aud);
/* Applies an ephemeral event (presence_change, user_typing). */
int edge_team_apply_ephemeral(struct edge_team *, const char *json,
    size_t len, struct edge_audience *aud);

/*
 * Applies one frame of the stream (docs/stream.md) sent for this team:
 * snapshot, snapshot_part, snapshot_end, resume, event or ephemeral.
 * Returns an enum edge_apply with *aud filled as edge_team_apply does;
 * EDGE_APPLY_GAP means: subscribe again from team->epoch and team->seq.
 * A frame for another team, of another type, or a snapshot that does
 * not load gives -1 with *err set; a failed snapshot leaves the team
 * not ready.
 */
struct stream_msg;
int edge_team_frame(struct edge_team *, const struct stream_msg *m,
    struct edge_audience *aud, const char **err);

struct edge_user *edge_team_user(const struct edge_team *, const char *id);
struct edge_channel *edge_team_channel(const struct edge_team *,
    const char *id);
/* The membership of u in c, or NULL. */
struct edge_member *edge_team_member(const struct edge_user *u,
    const struct edge_channel *c);

/* Whether u may see channel c: public, or a member of it. */
int edge_team_can_see(const struct edge_user *u,
    const struct edge_channel *c);
/* Whether u may see an event with audience a. */
int edge_team_aud_sees(const struct edge_audience *a,
    const struct edge_user *u);

int64_t edge_member_unread(const struct edge_member *);
int64_t edge_member_mentions(const struct edge_member *);

/* Bytes the team holds, measured by walking it (malloc_usable_size). */
size_t edge_team_memory(const struct edge_team *);

/*
 * Autocomplete on a team for user asker (who must exist): users and
 * channels matching text that asker may see, members of chan_id (may be
 * NULL) first for users and asker's own channels first for channels.
 * Returns a new JSON text {"ok":true,"results":[...]} (free() it) or a
 * Slack-style error object, with *len set.
 */
char *edge_team_complete(struct edge_team *, const struct edge_user *asker,
    const char *chan_id, const char *text, size_t tlen, unsigned kinds,
    size_t limit, size_t *len);

/*
 * Between edge_team.c and edge_event.c: the changes that snapshot
 * loading and events share.
 */
/* Adds or replaces a user from its object; NULL when it has no id. */
struct edge_user *edge_team_user_put(struct edge_team *, json_t *o);
/*
 * Adds or replaces a channel from its conversation object, with the
 * members its "members" array names; dflt_type when the object does not
 * say.  NULL when it has no id.
 */
struct edge_channel *edge_team_chan_put(struct edge_team *, json_t *o,
    int dflt_type);
void edge_team_member_add(struct edge_user *, struct edge_channel *);
void edge_team_member_del(struct edge_user *, struct edge_channel *);
/* The channel an event names, by id or as an object with an id. */
struct edge_channel *edge_team_ev_chan(struct edge_team *, json_t *ev);
/* Orders ts strings as numbers; whether a ts fits EDGE_TS_MAX. */
int edge_ts_cmp(const char *a, const char *b);
int edge_ts_ok(const char *ts);
struct edge_msg *edge_chan_msg_find(struct edge_channel *, const char *ts);
/*
 * Appends message o to the channel's recent ones (the oldest dropped
 * past the team's bound); counted: it moves unread counts.  NULL for a
 * message without a valid ts or already there.
 */
struct edge_msg *edge_chan_msg_append(struct edge_team *,
    struct edge_channel *, const json_t *o, int counted);
void edge_chan_msg_remove(struct edge_channel *, const char *ts);
/* Replaces a recent message's object (and the users it names). */
void edge_msg_set(struct edge_team *, struct edge_msg *, const json_t *o);
int edge_msg_mentions(const struct edge_msg *, const struct edge_user *);

/*
 * Answers from the cache (edge_boot.c).  Each returns a new JSON text
 * (free() it) with *len set: {"ok":true,...} in the shape of the Slack
 * Web API method, or {"ok":false,"error":"..."}.  asker is the calling
 * user, who must exist.
 */
char *edge_boot_slim(const struct edge_team *, const struct edge_user *asker,
    size_t *len);
/* The full boot (every user, every visible channel) that rtm.start gave. */
char *edge_boot_full(const struct edge_team *, const struct edge_user *asker,
    size_t *len);
char *edge_api_users_info(const struct edge_team *,
    const struct edge_user *asker, const char *user_id, size_t *len);
char *edge_api_users_list(const struct edge_team *,
    const struct edge_user *asker, const char *cursor, size_t limit,
    size_t *len);
/* num_members: add the channel's member count (include_num_members). */
char *edge_api_conversations_info(const struct edge_team *,
    const struct edge_user *asker, const char *chan_id, int num_members,
    size_t *len);
/*
 * types is Slack's comma-separated list (public_channel, private_channel,
 * mpim, im); NULL means public_channel.
 */
char *edge_api_conversations_list(const struct edge_team *,
    const struct edge_user *asker, const char *types, int exclude_archived,
    const char *cursor, size_t limit, size_t *len);
char *edge_api_conversations_members(const struct edge_team *,
    const struct edge_user *asker, const char *chan_id, const char *cursor,
    size_t limit, size_t *len);

/* ------------------------------------------------------------------ */
/*
 * The daemon.  Everything runs on the loop thread.  One struct edge_srv
 * per process holds the links (one per shard), the teams served and the
 * client-facing servers.
 */
struct ev_loop;
struct buf;
struct conn;
struct http_req;
struct http_server;
struct ws_server;
struct ws_conn;
struct static_root;
struct token_keys;
struct token_info;
struct shard_map;
struct edge_srv;
struct edge_link;
struct edge_served;
struct edge_rconn;

/* What [edge] sets; see docs/configuration.md. */
struct edge_config {
	char *name;             /* in hello, for the backend's logs */
	char *rtm_url;          /* public WebSocket URL rtm.connect hands out */
	char *rtm_origin;       /* ws://<listen>, for a relative rtm_url */
	int ticket_ttl;         /* seconds */
	double team_idle;       /* seconds without client or request: evict */
	double load_timeout;    /* seconds a request waits for a snapshot */
	double forward_timeout; /* seconds a forwarded call may take */
	size_t replay_events;   /* events kept per team for RTM resume */
	size_t recent;          /* recent messages kept per channel */
	double keepalive;       /* link: silence before a keepalive */
	double timeout;         /* link: silence from the backend: dead */
	double backoff_min, backoff_max; /* link: reconnect delays */
	size_t max_frame;       /* link: bytes of one frame from a backend */
	size_t link_out_cap;    /* link: unsent bytes */
	double heartbeat;       /* RTM: a silent client is dead */
	size_t rtm_out_cap;
	size_t rtm_max_message;
	size_t rtm_sndbuf;
	int rtm_max_conns;
	size_t presence_max;
};

struct edge_stats {
	uint64_t forwards;      /* calls forwarded */
	uint64_t forward_fail;  /* answered 503 for want of a link */
	uint64_t cached;        /* calls answered from the cache */
	uint64_t evictions;     /* idle teams freed */
	uint64_t snapshots;     /* snapshots loaded */
	uint64_t resumes;       /* subscriptions resumed */
	uint64_t gaps;          /* gaps repaired by a fresh snapshot */
	uint64_t events;        /* events applied */
	uint64_t deliveries;    /* RTM frames queued to clients */
	uint64_t rtm_opened, rtm_refused, rtm_slow, rtm_dead, rtm_revoked;
	uint64_t rtm_resume_ok, rtm_resume_failed;
	uint64_t ephemeral_out; /* typing and presence sent to the backend */
};

/* A link's state. */
enum edge_link_state {
	EDGE_LINK_DOWN = 0,   /* waiting for the next try */
	EDGE_LINK_CONNECTING, /* TCP, TLS, hello */
	EDGE_LINK_UP,         /* hello received: subscriptions flow */
};

/*
 * A forwarded Web API call waiting for its result.  done gets the
 * answer (status, JSON body) or, when the link drops or the call times
 * out, 503 and service_unavailable; exactly once.
 */
struct edge_fwd {
	uint64_t id;
	struct edge_link *link;
	double deadline;
	void (*done)(struct edge_fwd *f, int status, const char *body,
	    size_t len, int retry_after);
	void *arg;
	struct edge_fwd *prev, *next;
};

/* One persisted event kept for RTM resume. */
struct edge_ring_ent {
	uint64_t seq;
	struct buf *frame; /* the WebSocket frame with "seq" */
	struct edge_audience aud;
};

/* Something waiting for a team's snapshot; err NULL when it is ready. */
struct edge_wait {
	void (*fn)(struct edge_served *ts, void *arg, const char *err);
	void *arg;
	struct edge_wait *next;
};

/* A team this edge serves. */
struct edge_served {
	struct edge_srv *srv;
	struct edge_link *link;
	struct edge_team *team;
	int subscribed;   /* a subscribe is out on the link's connection */
	int fresh_out;    /* a fresh subscribe is out: snapshot coming */
	int failed;       /* the backend does not know the team */
	double failed_at; /* when it said so */
	const char *reset_reason; /* for the clients, at snapshot_end */
	double last_used; /* ev_now of the last request or client */
	double load_start; /* when the wait for a snapshot began, or 0 */
	uint64_t gen;     /* counts snapshots: cached pointers die */
	struct edge_wait *waits, **waits_tail;
	struct edge_rconn *conns; /* RTM clients */
	unsigned nconns;
	struct edge_ring_ent *ring; /* a circle of replay_events entries */
	size_t ring_head, ring_n;
	uint64_t ring_base; /* every event after it is in the ring */
	char **revoked;     /* token ids, sorted */
	size_t nrevoked, revoked_cap;
};

struct edge_srv {
	struct ev_loop *loop;
	struct edge_config cfg;
	struct token_keys *keys;
	char *const *trusted;       /* trusted_proxies (the settings') */
	size_t ntrusted;
	struct shard_map *shards;   /* common/shard.h */
	struct edge_link **links;   /* one per shard with a stream */
	size_t nlinks;
	struct edge_served **teams; /* sorted by team id */
	size_t nteams, teams_cap;
	struct http_server *http;
	struct ws_server *ws;
	struct static_root *web;
	struct edge_rconn *rconns; /* every RTM client */
	unsigned nrconns;
	struct edge_stats stats;
	ev_timer sweep;  /* eviction, load and forward timeouts, heartbeat */
	int stopping;
};

/* Links (edge_link.c). */
struct edge_link *edge_link_new(struct edge_srv *srv, const char *shard,
    const char *host, unsigned port, SSL_CTX *tls, const char *server_name);
void edge_link_free(struct edge_link *l);
/* Starts connecting (now, or after the backoff when it failed). */
void edge_link_start(struct edge_link *l);
/* Replaces the TLS context and server name (SIGHUP). */
void edge_link_set_tls(struct edge_link *l, SSL_CTX *tls,
    const char *server_name);
int edge_link_state(const struct edge_link *l);
const char *edge_link_state_str(const struct edge_link *l);
const char *edge_link_name(const struct edge_link *l);
/* Times the link came up, and forwards waiting on it. */
uint64_t edge_link_ups(const struct edge_link *l);
unsigned edge_link_pending(const struct edge_link *l);
/* Sends subscribe (from the team's epoch and seq, or fresh) / unsubscribe. */
int edge_link_subscribe(struct edge_link *l, struct edge_served *ts,
    int fresh);
void edge_link_unsubscribe(struct edge_link *l, const char *team);
/*
 * Forwards a Web API call: args is a JSON object (not stolen), token
 * the caller's token or NULL, team "" when unknown, source the client's
 * address (may be NULL) for the backend's throttles.  f is filled and
 * owned by the caller until f->done runs.  Returns 0, or -1 when the
 * link is not up (done is not called).
 */
int edge_link_forward(struct edge_link *l, struct edge_fwd *f,
    const char *team, const char *method, const json_t *args,
    const char *token, const char *source);
/* Forgets f (its client left); done will not be called. */
void edge_link_forward_cancel(struct edge_fwd *f);
/* Sends an ephemeral event of an edge client to the backend. */
int edge_link_ephemeral(struct edge_link *l, const char *team,
    const char *user, const char *json, size_t len);
/* Fails forwards past their deadline (the sweep). */
void edge_link_sweep(struct edge_link *l, double now);

/*
 * A link without a socket, for the fuzzer and tests: bytes given to
 * edge_link_input() are handled as if the backend had sent them (hello
 * first); what the edge would send is dropped.  edge_link_input()
 * returns 0, or -1 once the link went down (a bad frame).
 */
struct edge_link *edge_link_test_new(struct edge_srv *srv,
    const char *shard);
int edge_link_input(struct edge_link *l, const void *p, size_t n);

/* Teams served (edge_served.c). */
/* The link serving team id (the team's shard), or NULL. */
struct edge_link *edge_srv_link_for(struct edge_srv *srv, const char *team);
/*
 * The link of the team a domain names (sign-in): the team map's, else
 * the first shard's, which answers for a team it does not know.
 */
struct edge_link *edge_srv_link_domain(struct edge_srv *srv,
    const char *domain);
/* The served team, created and subscribed when create is set. */
struct edge_served *edge_served_get(struct edge_srv *srv, const char *team,
    int create);
/*
 * Calls fn(ts, arg, NULL) once the team is ready (at once when it is),
 * or fn(ts, arg, error) when it cannot be loaded: service_unavailable
 * while its link is down or past load_timeout, team_not_found when the
 * backend does not know it.
 */
void edge_served_wait(struct edge_served *ts,
    void (*fn)(struct edge_served *, void *, const char *), void *arg);
int edge_served_ready(const struct edge_served *ts);
/* Whether token id was revoked (from the stream or the snapshot). */
int edge_served_revoked(const struct edge_served *ts, const char *token_id);
/* A frame of the stream for a team (edge_link.c calls this). */
void edge_served_frame(struct edge_srv *srv, struct edge_link *l,
    const struct stream_msg *m);
/* The link came up: subscribe every team of l again. */
void edge_served_link_up(struct edge_srv *srv, struct edge_link *l);
/* The link went down: waiting requests fail, subscriptions are off. */
void edge_served_link_down(struct edge_srv *srv, struct edge_link *l);
/* Evicts idle teams and fails waits past load_timeout. */
void edge_served_sweep(struct edge_srv *srv, double now);
void edge_served_free_all(struct edge_srv *srv);
/* Bytes held by every cached team (edge_team_memory), and their count. */
size_t edge_served_memory(const struct edge_srv *srv, size_t *ready);

/* The HTTP side (edge_http.c): the handler of the client listener. */
void edge_http_handler(struct http_req *r, void *arg);
/*
 * The caller of a request: the token from the Authorization header, the
 * "token" argument or the parley_token cookie, verified.  Returns 1 with
 * *ti filled, 0 when there is none, or -1 with *err set.
 */
int edge_http_token(struct edge_srv *srv, struct http_req *r, json_t *args,
    struct token_info *ti, char *tok, size_t toklen, const char **err);
/*
 * Whether the user behind a verified token may act on a ready team:
 * NULL, or token_revoked, account_inactive or invalid_auth.
 */
const char *edge_auth_check(const struct edge_served *ts,
    const struct token_info *ti, struct edge_user **user);

/* RTM (edge_rtm.c). */
struct ws_server *edge_rtm_server(struct edge_srv *srv);
/* GET /rtm?ticket=...: checks the ticket, waits for the team, accepts. */
void edge_rtm_upgrade(struct edge_srv *srv, struct http_req *req);
/*
 * A persisted event of ts (applied; aud says who sees it): fan it out to
 * the team's clients and keep it in the ring.  Ephemeral events (seq 0)
 * are fanned out only.
 */
void edge_rtm_event(struct edge_served *ts, uint64_t seq, const char *json,
    size_t len, const struct edge_audience *aud);
/*
 * The team's history was replaced (a fresh snapshot after a gap, or a
 * new epoch): every client gets resume_failed with reason.
 */
void edge_rtm_reset(struct edge_served *ts, const char *reason);
/* Cuts the clients of token id (or of user when tok is NULL). */
void edge_rtm_revoke(struct edge_served *ts, const char *token_id,
    const char *user);
/* Goodbye to every client (SIGTERM). */
void edge_rtm_shutdown(struct edge_srv *srv);
/* Heartbeat of every client (the sweep). */
void edge_rtm_sweep(struct edge_srv *srv, double now);
/* Empties the ring of ts (a snapshot, eviction). */
void edge_ring_clear(struct edge_served *ts);
/*
 * Adds event seq of a snapshot's events part to the ring (their
 * audience as the snapshot stands); edge_ring_loaded() at the end of
 * the snapshot keeps them only when they run without a hole up to its
 * seq, so that a resume from before the snapshot is exact or refused.
 */
void edge_ring_fill(struct edge_served *ts, uint64_t seq, const char *json,
    size_t len);
void edge_ring_loaded(struct edge_served *ts);

#endif
