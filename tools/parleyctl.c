/*
 * parleyctl: the administration tool of a Parley store.  While a backend
 * holds the store, admin commands go through its admin socket
 * (ctl_admin.c); otherwise parleyctl works on the files directly, which
 * the store's lock file keeps to one process at a time.
 * docs/parleyctl.md lists the commands.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "log.h"
#include "token.h"
#include "xmalloc.h"
#include "backend/store_int.h"
#include "tools/ctl.h"

static const char *data_dir = "data";
static const char *key_file;
static char errbuf[512];
static struct ctl_paths paths;

static _Noreturn void
usage(void)
{
	fprintf(stderr,
	    "usage: parleyctl [-c parley.conf] [-d data_dir] [-k key_file] "
	    "[-S admin_socket]\n"
	    "                 command [args]\n"
	    "  init\n"
	    "  team create NAME DOMAIN [SHARD] | team place TEAM SHARD\n"
	    "  shard-map [FILE] | move-team TEAM --to SHARD [--hup PIDFILE]...\n"
	    "  user create TEAM NAME REAL_NAME [PASSWORD]\n"
	    "  user deactivate TEAM NAME\n"
	    "  user role TEAM NAME owner|admin|member\n"
	    "  user password TEAM NAME PASSWORD\n"
	    "  channel create TEAM NAME CREATOR [private]\n"
	    "  message delete CHANNEL TS\n"
	    "  token [mint] TEAM NAME [TTL_SECONDS] | token revoke TOKEN\n"
	    "  rotate-key\n"
	    "  seed-demo\n"
	    "  seed-bench [USERS [CHANNELS [MEMBERS [MESSAGES]]]]\n"
	    "  backup DIR | restore DIR | verify | migrate | compact\n"
	    "  export TEAM [FILE] | import [FILE]\n"
	    "TEAM is a team id or domain; NAME a user or channel name.\n");
	exit(2);
}

static struct store *
open_store(int create, int migrate)
{
	struct store_config cfg = { .data_dir = data_dir };
	struct store *st;

	st = store_open(&cfg, create, migrate, errbuf, sizeof(errbuf));
	if (st == NULL)
		fatalx("%s", errbuf);
	return st;
}

/* Runs apply in its own commit; a failure ends the program. */
static void
write_or_die(struct store *st, store_apply_fn apply, void *arg,
    const char *what)
{
	int rc = store_write_sync(st, apply, arg);

	if (rc != STORE_OK)
		fatalx("%s: %s", what, store_strerror(rc));
}

static int
team_resolve(struct store_txn *t, const char *s, char out[STORE_ID_SIZE])
{
	json_t *tm;

	if (store_id_valid(s, 'T')) {
		tm = store_txn_team_get(t, s);
		if (tm == NULL)
			return STORE_ERR_NOTFOUND;
		json_decref(tm);
		memcpy(out, s, STORE_ID_SIZE);
		return STORE_OK;
	}
	return store_txn_team_by_domain(t, s, out);
}

/* Resolves TEAM and user NAME (or id) in one read. */
static void
user_resolve(struct store *st, const char *team, const char *name,
    char tid[STORE_ID_SIZE], char uid[STORE_ID_SIZE])
{
	struct store_txn *t = store_rd_begin(st);

	if (t == NULL)
		fatalx("cannot read the store");
	if (team_resolve(t, team, tid) != STORE_OK) {
		store_rd_end(t);
		fatalx("no team %s", team);
	}
	if (store_id_valid(name, 'U'))
		memcpy(uid, name, STORE_ID_SIZE);
	else if (store_txn_user_by_name(t, tid, name, uid) != STORE_OK) {
		store_rd_end(t);
		fatalx("no user %s in team %s", name, team);
	}
	store_rd_end(t);
}

static const char *
keys_path(void)
{
	static char path[4200];

	if (key_file != NULL)
		return key_file;
	snprintf(path, sizeof(path), "%s/tokens.key", data_dir);
	return path;
}

/* Appends a new key line "kid hex" to the key file (created 0600). */
void
ctl_key_append(const char *path)
{
	unsigned char secret[TOKEN_SECRET_LEN];
	char line[128], kid[TOKEN_KID_MAX + 1], err[256];
	struct token_keys *keys;
	int fd, i, n;

	if (RAND_bytes(secret, sizeof(secret)) != 1)
		fatalx("RAND_bytes failed");
	snprintf(kid, sizeof(kid), "k%" PRIu64,
	    (uint64_t)(store_now_us() / 1000 % 1000000000000000));
	n = snprintf(line, sizeof(line), "%s ", kid);
	for (i = 0; i < TOKEN_SECRET_LEN; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x",
		    secret[i]);
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd == -1)
		fatal("open %s", path);
	if (write(fd, line, (size_t)n) != n || fsync(fd) == -1)
		fatal("write %s", path);
	close(fd);
	keys = token_keys_load(path, err, sizeof(err));
	if (keys == NULL)
		fatalx("%s", err);
	printf("key %s added to %s; it signs new tokens\n",
	    token_keys_current(keys), path);
	token_keys_free(keys);
}

static int
cmd_init(void)
{
	char path[4200];
	struct store *st;

	snprintf(path, sizeof(path), "%s/data.mdb", data_dir);
	if (access(path, F_OK) == 0) {
		st = open_store(0, 0);
		printf("store %s exists (epoch %s)\n", data_dir,
		    store_epoch(st));
	} else {
		st = open_store(1, 0);
		printf("store %s created (epoch %s)\n", data_dir,
		    store_epoch(st));
	}
	store_close(st);
	if (access(keys_path(), F_OK) == -1)
		ctl_key_append(keys_path());
	return 0;
}

struct op {
	const char *a, *b, *c, *d;
	int flag;
	char team[STORE_ID_SIZE];
	char id[STORE_ID_SIZE];
};

static int
team_create_apply(struct store_txn *t, void *arg)
{
	struct op *o = arg;

	return store_op_team_create(t, o->a, o->b, o->id);
}

static int
user_create_apply(struct store_txn *t, void *arg)
{
	struct op *o = arg;
	char hash[STORE_PWHASH_SIZE];
	int rc;

	rc = team_resolve(t, o->a, o->team);
	if (rc == STORE_OK)
		rc = store_op_user_create(t, o->team, o->b, o->c, NULL, o->id);
	if (rc == STORE_OK && o->d != NULL) {
		if (store_password_hash(o->d, hash) == -1)
			return STORE_ERR_INTERNAL;
		rc = store_txn_password_set(t, o->id, hash);
	}
	return rc;
}

static int
user_deactivate_apply(struct store_txn *t, void *arg)
{
	struct op *o = arg;

	return store_op_user_deactivate(t, o->id);
}

static int
channel_create_apply(struct store_txn *t, void *arg)
{
	struct op *o = arg;
	char creator[STORE_ID_SIZE];
	int rc;

	rc = team_resolve(t, o->a, o->team);
	if (rc != STORE_OK)
		return rc;
	if (store_id_valid(o->c, 'U'))
		snprintf(creator, sizeof(creator), "%s", o->c);
	else if ((rc = store_txn_user_by_name(t, o->team, o->c, creator)) !=
	    STORE_OK)
		return rc;
	return store_op_channel_create(t, o->team, o->b, o->flag ? 'G' : 'C',
	    creator, o->id);
}

struct msgdel {
	const char *channel;
	uint64_t ts;
};

static int
message_delete_apply(struct store_txn *t, void *arg)
{
	struct msgdel *m = arg;

	return store_op_message_delete(t, m->channel, m->ts);
}

struct roleop {
	char id[STORE_ID_SIZE];
	const char *role;
	char hash[STORE_PWHASH_SIZE];
};

static int
user_role_apply(struct store_txn *t, void *arg)
{
	struct roleop *o = arg;
	int admin = strcmp(o->role, "admin") == 0;
	int owner = strcmp(o->role, "owner") == 0;
	const char *team;
	json_t *u;
	int rc;

	u = store_txn_user_get(t, o->id);
	if (u == NULL)
		return STORE_ERR_NOTFOUND;
	json_object_set_new(u, "is_admin", json_boolean(admin || owner));
	json_object_set_new(u, "is_owner", json_boolean(owner));
	rc = store_txn_user_put(t, u);
	team = json_string_value(json_object_get(u, "team_id"));
	if (rc == STORE_OK && team != NULL)
		rc = api_event(t, team, json_pack("{s:s,s:O}", "type",
		    "user_change", "user", u), o->id);
	json_decref(u);
	return rc;
}

static int
user_password_apply(struct store_txn *t, void *arg)
{
	struct roleop *o = arg;

	return store_txn_password_set(t, o->id, o->hash);
}

struct revoke {
	char id[TOKEN_ID_MAX + 1];
};

static int
token_revoke_apply(struct store_txn *t, void *arg)
{
	struct revoke *k = arg;
	struct store_token tok;
	int rc;

	rc = store_txn_token_get(t, k->id, &tok);
	if (rc != STORE_OK)
		return rc;
	rc = store_txn_token_revoke(t, k->id);
	if (rc == STORE_OK)
		rc = api_event(t, tok.team, json_pack("{s:s,s:s,s:s}", "type",
		    "tokens_revoked", "user", tok.user, "token_id", k->id),
		    tok.user);
	return rc;
}

struct tok {
	char id[TOKEN_ID_MAX + 1];
	struct store_token rec;
};

static int
token_apply(struct store_txn *t, void *arg)
{
	struct tok *k = arg;

	return store_txn_token_put(t, k->id, &k->rec);
}

/* Mints a user token for uid and records its id in the store. */
static void
token_issue(struct store *st, const char *tid, const char *uid,
    long long ttl, char *out, size_t outlen)
{
	struct token_keys *keys;
	struct tok k = { 0 };
	char err[256];

	keys = token_keys_load(keys_path(), err, sizeof(err));
	if (keys == NULL)
		fatalx("%s", err);
	if (token_random_id(k.id, 17) == -1)
		fatalx("token_random_id failed");
	snprintf(k.rec.user, sizeof(k.rec.user), "%s", uid);
	snprintf(k.rec.team, sizeof(k.rec.team), "%s", tid);
	k.rec.created = (int64_t)time(NULL);
	k.rec.expires = ttl > 0 ? k.rec.created + ttl : 0;
	if (token_mint_exp(keys, TOKEN_USER, tid, uid, k.id,
		(uint64_t)k.rec.expires, out, outlen) < 0)
		fatalx("cannot mint a token for %s", uid);
	token_keys_free(keys);
	write_or_die(st, token_apply, &k, "token");
}

static int
cmd_token(int argc, char **argv)
{
	char tid[STORE_ID_SIZE], uid[STORE_ID_SIZE], tok[TOKEN_MAX_LEN];
	struct store *st;
	struct revoke rv;
	const char *p;
	long long ttl = 0;
	int i;

	if (argc == 2 && strcmp(argv[0], "revoke") == 0) {
		/* A whole token names its id in the fifth field. */
		for (p = argv[1], i = 0; i < 4 && p != NULL; i++)
			if ((p = strchr(p, '.')) != NULL)
				p++;
		if (p == NULL)
			p = argv[1];
		snprintf(rv.id, sizeof(rv.id), "%.*s", (int)strcspn(p, "."),
		    p);
		st = open_store(0, 0);
		write_or_die(st, token_revoke_apply, &rv, "token revoke");
		store_close(st);
		printf("token %s revoked\n", rv.id);
		return 0;
	}
	if (argc > 0 && strcmp(argv[0], "mint") == 0) {
		argc--;
		argv++;
	}
	if (argc < 2 || argc > 3)
		usage();
	if (argc > 2)
		ttl = atoll(argv[2]);
	st = open_store(0, 0);
	user_resolve(st, argv[0], argv[1], tid, uid);
	token_issue(st, tid, uid, ttl, tok, sizeof(tok));
	store_close(st);
	printf("%s\n", tok);
	return 0;
}

/* The demo team: names with accents, CJK characters and emoji. */
static const struct demo_person {
	const char *name, *real, *display, *password;
} demo_people[] = {
	{ "ana", "Ana Núñez", "Ana", "ana-demo-1" },
	{ "zoe", "Zoë Lefèvre-Dubois", "Zoë", "zoe-demo-2" },
	{ "li.wei", "李伟", "李伟", "li-demo-3" },
	{ "yuki", "山田 由紀", "ゆき", "yuki-demo-4" },
	{ "olaf", "Olaf Sørensen", "Olaf 🦊", "olaf-demo-5" },
	{ "amelie", "Amélie Poulain", "Amélie 🎨", "amelie-demo-6" },
};
#define DEMO_N (sizeof(demo_people) / sizeof(demo_people[0]))

struct demo {
	char team[STORE_ID_SIZE];
	char users[DEMO_N][STORE_ID_SIZE];
	char hashes[DEMO_N][STORE_PWHASH_SIZE];
	char chans[3][STORE_ID_SIZE];
};

static int
demo_post(struct store_txn *t, const char *ch, const char *user,
    const char *text, const char *thread, uint64_t *ts)
{
	json_t *m = json_pack("{ss ss}", "user", user, "text", text);
	int rc;

	if (thread != NULL)
		json_object_set_new(m, "thread_ts", json_string(thread));
	rc = store_op_message_post(t, ch, m, ts);
	json_decref(m);
	return rc;
}

static int
demo_apply(struct store_txn *t, void *arg)
{
	static const char *chan_names[3] = { "general", "random", "café" };
	struct demo *d = arg;
	char email[128], thread[STORE_TS_SIZE];
	json_t *extra;
	uint64_t ts;
	size_t i;
	int rc;

	rc = store_op_team_create(t, "Parley Demo", "parley-demo", d->team);
	for (i = 0; rc == STORE_OK && i < DEMO_N; i++) {
		snprintf(email, sizeof(email), "%s@parley-demo.example",
		    demo_people[i].name);
		extra = json_pack("{sb s{ss ss}}", "is_admin", i == 0,
		    "profile", "display_name", demo_people[i].display, "email",
		    email);
		if (i == 0)
			json_object_set_new(extra, "is_owner", json_true());
		rc = store_op_user_create(t, d->team, demo_people[i].name,
		    demo_people[i].real, extra, d->users[i]);
		json_decref(extra);
		if (rc == STORE_OK)
			rc = store_txn_password_set(t, d->users[i],
			    d->hashes[i]);
	}
	for (i = 0; rc == STORE_OK && i < 3; i++)
		rc = store_op_channel_create(t, d->team, chan_names[i], 'C',
		    d->users[0], d->chans[i]);
	if (rc == STORE_OK) {
		/* "general" is the team's default channel. */
		json_t *ch = store_txn_channel_get(t, d->chans[0]);

		if (ch == NULL)
			rc = STORE_ERR_INTERNAL;
		else {
			json_object_set_new(ch, "is_general", json_true());
			rc = store_txn_channel_put(t, ch);
			json_decref(ch);
		}
	}
	for (i = 1; rc == STORE_OK && i < DEMO_N; i++) {
		rc = store_op_channel_join(t, d->chans[0], d->users[i]);
		if (rc == STORE_OK && i % 2 == 0)
			rc = store_op_channel_join(t, d->chans[1], d->users[i]);
		if (rc == STORE_OK && i % 2 == 1)
			rc = store_op_channel_join(t, d->chans[2], d->users[i]);
	}
	if (rc == STORE_OK)
		rc = demo_post(t, d->chans[0], d->users[0],
		    "Bienvenue à tous ! Welcome to Parley 👋", NULL, &ts);
	store_ts_format(ts, thread);
	if (rc == STORE_OK)
		rc = demo_post(t, d->chans[0], d->users[2],
		    "大家好！很高兴加入。", thread, NULL);
	if (rc == STORE_OK)
		rc = demo_post(t, d->chans[0], d->users[3],
		    "よろしくお願いします 🙇", thread, NULL);
	if (rc == STORE_OK)
		rc = demo_post(t, d->chans[1], d->users[4],
		    "Who wants smørrebrød for lunch? 🥪", NULL, NULL);
	if (rc == STORE_OK)
		rc = demo_post(t, d->chans[2], d->users[5],
		    "Un café crème, s'il vous plaît ☕", NULL, NULL);
	if (rc == STORE_OK)
		rc = demo_post(t, d->chans[2], d->users[1],
		    "Même chose pour moi, merci ! 😊", NULL, NULL);
	return rc;
}

static int
cmd_seed_demo(void)
{
	char path[4200];
	struct store *st;
	struct demo d;
	size_t i;
	FILE *f;

	for (i = 0; i < DEMO_N; i++)
		if (store_password_hash(demo_people[i].password, d.hashes[i]) ==
		    -1)
			fatalx("cannot hash the demo passwords");
	st = open_store(1, 0);
	write_or_die(st, demo_apply, &d, "seed-demo");
	store_close(st);

	snprintf(path, sizeof(path), "%s/demo-credentials.txt", data_dir);
	f = fopen(path, "w");
	if (f == NULL)
		fatal("open %s", path);
	fchmod(fileno(f), 0600);
	fprintf(f, "# team parley-demo (%s): email password name\n", d.team);
	for (i = 0; i < DEMO_N; i++)
		fprintf(f, "%s@parley-demo.example %s %s\n",
		    demo_people[i].name, demo_people[i].password,
		    demo_people[i].real);
	fclose(f);
	printf("team parley-demo %s: %zu people, 3 channels; sign-in "
	       "details in %s\n",
	    d.team, DEMO_N, path);
	return 0;
}

/* seed-bench: many records per commit. */
struct bench {
	long users, channels, members, messages;
	char team[STORE_ID_SIZE];
	char (*uids)[STORE_ID_SIZE];
	char (*cids)[STORE_ID_SIZE];
	long done, step;
	int phase;
};

static int
bench_apply(struct store_txn *t, void *arg)
{
	struct bench *b = arg;
	char name[64];
	json_t *m;
	long i, end = b->done + b->step;
	int rc = STORE_OK;

	switch (b->phase) {
	case 0:
		snprintf(name, sizeof(name), "bench-%" PRIu64,
		    store_now_us() % 1000000000);
		return store_op_team_create(t, "Bench", name, b->team);
	case 1:
		for (i = b->done; rc == STORE_OK && i < end && i < b->users;
		     i++) {
			snprintf(name, sizeof(name), "user%ld", i);
			rc = store_op_user_create(t, b->team, name, name, NULL,
			    b->uids[i]);
		}
		return rc;
	case 2:
		for (i = b->done; rc == STORE_OK && i < end && i < b->channels;
		     i++) {
			snprintf(name, sizeof(name), "channel%ld", i);
			rc = store_op_channel_create(t, b->team, name, 'C',
			    b->uids[i % b->users], b->cids[i]);
		}
		return rc;
	case 3:
		for (i = b->done; rc == STORE_OK && i < end &&
		     i < b->channels * b->members;
		     i++)
			rc = store_op_channel_join(t, b->cids[i / b->members],
			    b->uids[(i + i / b->members) % b->users]);
		return rc;
	default:
		for (i = b->done; rc == STORE_OK && i < end && i < b->messages;
		     i++) {
			snprintf(name, sizeof(name), "message %ld", i);
			m = json_pack("{ss ss}", "user", b->uids[i % b->users],
			    "text", name);
			rc = store_op_message_post(t, b->cids[i % b->channels],
			    m, NULL);
			json_decref(m);
		}
		return rc;
	}
}

static int
cmd_seed_bench(int argc, char **argv)
{
	struct bench b = { .users = 1000, .channels = 100, .members = 50,
		.messages = 10000 };
	long totals[5];
	struct store *st;
	uint64_t t0;

	if (argc > 0)
		b.users = atol(argv[0]);
	if (argc > 1)
		b.channels = atol(argv[1]);
	if (argc > 2)
		b.members = atol(argv[2]);
	if (argc > 3)
		b.messages = atol(argv[3]);
	if (b.users < 1 || b.channels < 1 || b.members < 0 ||
	    b.messages < 0 || b.members > b.users)
		fatalx("seed-bench: counts must be positive, members <= users");
	totals[0] = 1;
	totals[1] = b.users;
	totals[2] = b.channels;
	totals[3] = b.channels * b.members;
	totals[4] = b.messages;
	b.uids = xcalloc((size_t)b.users, STORE_ID_SIZE);
	b.cids = xcalloc((size_t)b.channels, STORE_ID_SIZE);
	st = open_store(1, 0);
	t0 = store_now_us();
	b.step = 5000;
	for (b.phase = 0; b.phase < 5; b.phase++)
		for (b.done = 0; b.done < totals[b.phase]; b.done += b.step)
			write_or_die(st, bench_apply, &b, "seed-bench");
	store_close(st);
	printf("team %s: %ld users, %ld channels, %ld memberships, %ld "
	       "messages in %.1f s\n",
	    b.team, b.users, b.channels, totals[3], b.messages,
	    (double)(store_now_us() - t0) / 1e6);
	free(b.uids);
	free(b.cids);
	return 0;
}

static void
print_finding(void *arg, const char *line)
{
	printf("%s\n", line);
}

static int
cmd_verify(void)
{
	struct store *st = open_store(0, 0);
	size_t n = store_verify(st, print_finding, NULL);

	store_close(st);
	if (n > 0) {
		fprintf(stderr, "verify: %zu findings\n", n);
		return 1;
	}
	fprintf(stderr, "verify: clean\n");
	return 0;
}

static int
cmd_export(int argc, char **argv)
{
	char tid[STORE_ID_SIZE];
	struct store *st;
	struct store_txn *t;
	FILE *out = stdout;
	int rc;

	if (argc < 1)
		usage();
	st = open_store(0, 0);
	t = store_rd_begin(st);
	rc = t ? team_resolve(t, argv[0], tid) : STORE_ERR_INTERNAL;
	store_rd_end(t);
	if (rc != STORE_OK)
		fatalx("no team %s", argv[0]);
	if (argc > 1 && (out = fopen(argv[1], "w")) == NULL)
		fatal("open %s", argv[1]);
	if (store_export_team(st, tid, out, errbuf, sizeof(errbuf)) == -1)
		fatalx("%s", errbuf);
	if (out != stdout && fclose(out) != 0)
		fatal("close %s", argv[1]);
	store_close(st);
	return 0;
}

static int
cmd_import(int argc, char **argv)
{
	struct store *st;
	FILE *in = stdin;

	if (argc > 0 && (in = fopen(argv[0], "r")) == NULL)
		fatal("open %s", argv[0]);
	st = open_store(1, 0);
	if (store_import_team(st, in, errbuf, sizeof(errbuf)) == -1)
		fatalx("import: %s (nothing imported)", errbuf);
	printf("imported; store epoch %s\n", store_epoch(st));
	store_close(st);
	if (in != stdin)
		fclose(in);
	return 0;
}

int
main(int argc, char **argv)
{
	struct store *st;
	struct op o = { 0 };
	struct roleop ro;
	const char *cmd, *conf = NULL, *sock = NULL;
	int ch, dir_given = 0;

	log_init("parleyctl", 0, 0);
	if (getenv("PARLEY_DATA") != NULL)
		data_dir = getenv("PARLEY_DATA");
	while ((ch = getopt(argc, argv, "+c:d:k:S:")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			data_dir = optarg;
			dir_given = 1;
			break;
		case 'k':
			key_file = optarg;
			break;
		case 'S':
			sock = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	cmd = argv[0];
	argc--;
	argv++;

	/* -c first; -d, -k and -S given on the line win over the file. */
	snprintf(paths.data_dir, sizeof(paths.data_dir), "%s", data_dir);
	if (conf != NULL && ctl_conf_load(conf, &paths, errbuf,
	    sizeof(errbuf)) == -1)
		fatalx("%s", errbuf);
	if (dir_given)
		snprintf(paths.data_dir, sizeof(paths.data_dir), "%s",
		    data_dir);
	if (key_file != NULL)
		snprintf(paths.keys, sizeof(paths.keys), "%s", key_file);
	if (sock != NULL)
		snprintf(paths.sock, sizeof(paths.sock), "%s", sock);
	data_dir = paths.data_dir;
	key_file = paths.keys[0] != '\0' ? paths.keys : NULL;

	/* With shards, team creation and moves span the shards' backends. */
	ch = ctl_shard_run(conf, cmd, argc, argv);
	if (ch >= 0)
		return ch;

	/* A running backend makes the change, as an ordinary event. */
	ch = ctl_admin_run(&paths, sock != NULL, cmd, argc, argv);
	if (ch >= 0)
		return ch;

	if (strcmp(cmd, "init") == 0)
		return cmd_init();
	if (strcmp(cmd, "team") == 0 && argc == 3 &&
	    strcmp(argv[0], "create") == 0) {
		o.a = argv[1];
		o.b = argv[2];
		st = open_store(0, 0);
		write_or_die(st, team_create_apply, &o, "team create");
		store_close(st);
		printf("%s\n", o.id);
		return 0;
	}
	if (strcmp(cmd, "user") == 0 && argc >= 4 &&
	    strcmp(argv[0], "create") == 0) {
		o.a = argv[1];
		o.b = argv[2];
		o.c = argv[3];
		o.d = argc > 4 ? argv[4] : NULL;
		st = open_store(0, 0);
		write_or_die(st, user_create_apply, &o, "user create");
		store_close(st);
		printf("%s\n", o.id);
		return 0;
	}
	if (strcmp(cmd, "user") == 0 && argc == 3 &&
	    strcmp(argv[0], "deactivate") == 0) {
		st = open_store(0, 0);
		user_resolve(st, argv[1], argv[2], o.team, o.id);
		write_or_die(st, user_deactivate_apply, &o, "user deactivate");
		store_close(st);
		printf("%s deactivated; its tokens are revoked\n", o.id);
		return 0;
	}
	if (strcmp(cmd, "user") == 0 && argc == 4 &&
	    (strcmp(argv[0], "role") == 0 ||
	    strcmp(argv[0], "password") == 0)) {
		memset(&ro, 0, sizeof(ro));
		ro.role = argv[3];
		if (strcmp(argv[0], "role") == 0 &&
		    strcmp(ro.role, "owner") != 0 &&
		    strcmp(ro.role, "admin") != 0 &&
		    strcmp(ro.role, "member") != 0)
			fatalx("user role: owner, admin or member, not %s",
			    ro.role);
		if (strcmp(argv[0], "password") == 0 &&
		    store_password_hash(argv[3], ro.hash) == -1)
			fatalx("cannot hash the password");
		st = open_store(0, 0);
		user_resolve(st, argv[1], argv[2], o.team, ro.id);
		if (strcmp(argv[0], "role") == 0) {
			write_or_die(st, user_role_apply, &ro, "user role");
			printf("%s is now %s\n", ro.id, ro.role);
		} else {
			write_or_die(st, user_password_apply, &ro,
			    "user password");
			printf("%s has a new password\n", ro.id);
		}
		store_close(st);
		return 0;
	}
	if (strcmp(cmd, "channel") == 0 && argc >= 4 &&
	    strcmp(argv[0], "create") == 0) {
		o.a = argv[1];
		o.b = argv[2];
		o.c = argv[3];
		o.flag = argc > 4 && strcmp(argv[4], "private") == 0;
		st = open_store(0, 0);
		write_or_die(st, channel_create_apply, &o, "channel create");
		store_close(st);
		printf("%s\n", o.id);
		return 0;
	}
	if (strcmp(cmd, "message") == 0 && argc == 3 &&
	    strcmp(argv[0], "delete") == 0) {
		struct msgdel m = { argv[1], 0 };

		if (store_ts_parse(argv[2], &m.ts) == -1)
			fatalx("bad ts %s", argv[2]);
		st = open_store(0, 0);
		write_or_die(st, message_delete_apply, &m, "message delete");
		store_close(st);
		printf("message %s/%s deleted and scrubbed from the event log\n",
		    argv[1], argv[2]);
		return 0;
	}
	if (strcmp(cmd, "token") == 0)
		return cmd_token(argc, argv);
	if (strcmp(cmd, "rotate-key") == 0) {
		ctl_key_append(keys_path());
		return 0;
	}
	if (strcmp(cmd, "seed-demo") == 0)
		return cmd_seed_demo();
	if (strcmp(cmd, "seed-bench") == 0)
		return cmd_seed_bench(argc, argv);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify();
	if (strcmp(cmd, "migrate") == 0) {
		st = open_store(0, 1);
		printf("store %s is at schema %d\n", data_dir, STORE_SCHEMA);
		store_close(st);
		return 0;
	}
	if (strcmp(cmd, "backup") == 0 && argc == 1) {
		st = open_store(0, 0);
		if (store_backup(st, argv[0], errbuf, sizeof(errbuf)) == -1)
			fatalx("%s", errbuf);
		store_close(st);
		printf("compacted copy in %s/data.mdb\n", argv[0]);
		return 0;
	}
	if (strcmp(cmd, "restore") == 0 && argc == 1) {
		if (store_restore(data_dir, argv[0], errbuf, sizeof(errbuf)) ==
		    -1)
			fatalx("%s", errbuf);
		st = open_store(0, 0);
		printf("restored %s from %s; new epoch %s\n", data_dir, argv[0],
		    store_epoch(st));
		store_close(st);
		return 0;
	}
	if (strcmp(cmd, "compact") == 0) {
		st = open_store(0, 0);
		if (store_compact(st, errbuf, sizeof(errbuf)) == -1)
			fatalx("%s", errbuf);
		store_close(st);
		printf("store %s compacted\n", data_dir);
		return 0;
	}
	if (strcmp(cmd, "export") == 0)
		return cmd_export(argc, argv);
	if (strcmp(cmd, "import") == 0)
		return cmd_import(argc, argv);
	/* For the verify tests: break the store in a named way. */
	if (strcmp(cmd, "_inject") == 0 && argc == 1) {
		st = open_store(0, 0);
		if (store_debug_inject(st, argv[0], errbuf, sizeof(errbuf)) ==
		    -1)
			fatalx("%s", errbuf);
		store_close(st);
		return 0;
	}
	usage();
}
