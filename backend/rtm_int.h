/*
 * rtm_int: what rtm.c and rtm_fanout.c share.  Nothing outside the RTM
 * files includes it.
 *
 * Every open connection is on three lists: the server's (for the
 * heartbeat sweep), its team's (team-wide events) and its user's (events
 * for one user, and channel events reached through the member list).
 * Teams and users are found by id in small chained hash maps; a user
 * entry lives while it has connections or presence subscribers.
 */
#ifndef PARLEY_RTM_INT_H
#define PARLEY_RTM_INT_H

#include <ev.h>

#include "ws.h"

#include "backend/backend.h"

struct rtm_hnode {
	struct rtm_hnode *next;
	char id[STORE_ID_SIZE];
};

struct rtm_map {
	struct rtm_hnode **b;
	size_t nb; /* buckets, a power of two, 0 when empty */
	size_t n;
};

struct rtm_sub;

struct rtm_user {
	struct rtm_hnode h; /* first: the map's node */
	struct rtm_team *team;
	struct rtm_conn *conns;
	unsigned nconns;
	struct rtm_sub *watchers; /* presence_sub entries naming this user */
	int away;                 /* manual presence "away" */
};

struct rtm_team {
	struct rtm_hnode h;
	struct rtm_map users;
	struct rtm_conn *conns;
	unsigned nconns;
};

/* conn asked for the presence of user. */
struct rtm_sub {
	struct rtm_conn *conn;
	struct rtm_user *user;
	struct rtm_sub *prev, *next; /* in user->watchers */
};

struct rtm_send;

struct rtm_conn {
	struct rtm *r;
	struct ws_conn *ws;
	struct rtm_team *team;
	struct rtm_user *user;
	struct rtm_conn *aprev, *anext; /* every connection */
	struct rtm_conn *tprev, *tnext; /* the team's */
	struct rtm_conn *uprev, *unext; /* the user's */
	struct rtm_conn *rnext;         /* resumes in progress */
	struct api_who who;
	double last_rx;      /* last bytes from the client (ev_now) */
	double ping_at;      /* our unanswered ping, 0 when none */
	double typing_at;    /* last typing relayed */
	uint64_t sent_seq;   /* events up to here are sent or skipped */
	int replaying;       /* a resume is reading the log */
	int live;            /* on_open ran: on the lists */
	int closing;         /* goodbye sent or dropped: send nothing */
	int start_away;      /* manual presence when it opened */
	int have_resume;     /* the URL asked for a resume: */
	char resume_epoch[STORE_EPOCH_SIZE];
	uint64_t resume_seq;
	struct rtm_sub *subs;
	size_t nsubs;
	struct rtm_send *sends; /* message sends waiting for their commit */
};

struct rtm {
	struct ev_loop *loop;
	struct api_ctx *api;
	struct store *st;
	struct rtm_config cfg;
	char *url;
	struct ws_server *ws;
	struct rtm_map teams;
	struct rtm_conn *all;
	struct rtm_conn *replay;
	ev_timer sweep;
	ev_timer replay_timer;
	struct rtm_stats stats;
	int stopping;
	int opened;          /* on_open ran for the upgrade in progress */
	rtm_ephemeral_fn eph_fn; /* ephemeral events, for the edge stream */
	void *eph_arg;
};

/* Maps (rtm_fanout.c). */
struct rtm_hnode *rtm_map_find(const struct rtm_map *m, const char *id);
void rtm_map_add(struct rtm_map *m, struct rtm_hnode *n);
void rtm_map_del(struct rtm_map *m, struct rtm_hnode *n);
void rtm_map_free(struct rtm_map *m);

/*
 * Puts c on its team's and user's lists (making them as needed).
 * Returns 1 when c is the user's first connection (now online).
 */
int rtm_fanout_join(struct rtm *r, struct rtm_conn *c);
/*
 * Takes c off every list, drops its presence subscriptions, frees
 * empty entries.  Returns 1 when it was the user's last connection.
 */
int rtm_fanout_leave(struct rtm *r, struct rtm_conn *c);

/*
 * After hello: with have_resume, checks (epoch, seq) and starts the
 * replay or sends resume_failed; then the connection is live.
 */
void rtm_fanout_resume(struct rtm *r, struct rtm_conn *c, int have_resume,
    const char *epoch, uint64_t seq);

/* Runs a batch of every resume in progress (r->replay_timer). */
void rtm_replay_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Relays user_typing in channel to its members but the sender. */
void rtm_fanout_typing(struct rtm *r, struct rtm_conn *c,
    const char *channel);
/* Replaces c's presence subscriptions with ids; answers their state. */
void rtm_fanout_presence_sub(struct rtm *r, struct rtm_conn *c,
    const json_t *ids);
/* Tells the watchers of u its presence ("active" or "away"). */
void rtm_fanout_presence(struct rtm *r, struct rtm_user *u,
    const char *presence);

/* Queues text to c (rtm.c); -1 when c is closing or over its cap. */
int rtm_conn_send(struct rtm_conn *c, const char *text, size_t len);
int rtm_conn_send_frame(struct rtm_conn *c, struct buf *frame);
/* Sends goodbye with reason and closes with code (rtm.c). */
void rtm_conn_goodbye(struct rtm_conn *c, int code, const char *reason);

#endif
