/*
 * ctl_admin: parleyctl through a running backend.
 *
 * While a backend holds a store, parleyctl cannot open its files; it
 * connects to the backend's admin socket instead and asks it to make
 * the change, so that each change is an ordinary event that clients and
 * edges see at once.  One JSON object per line each way (backend/admin.c).
 *
 *   connect(sock) --fails--> -1: the caller works on the files
 *        |
 *      ping (pid, key file) -> lookup names -> the operation -> print
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <jansson.h>

#include "json.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#include "tools/ctl.h"

#define CTL_ANSWER_MAX  (1 << 20)
#define CTL_TIMEOUT_SEC 600 /* a backup of a large store takes a while */

struct ctl_conf_ctx {
	struct ctl_paths *p;
	char dir[CTL_PATH_MAX];
};

/* A path from the file: absolute, or relative to the file's directory. */
static void
ctl_conf_path(const struct ctl_conf_ctx *c, const char *v, char *out)
{
	int n;

	if (v[0] == '/' || c->dir[0] == '\0')
		n = snprintf(out, CTL_PATH_MAX, "%s", v);
	else
		n = snprintf(out, CTL_PATH_MAX, "%s/%s", c->dir, v);
	if (n < 0 || n >= CTL_PATH_MAX)
		fatalx("path too long: %s", v);
}

static int
ctl_conf_handler(
    void *arg, const char *section, const char *name, const char *value)
{
	struct ctl_conf_ctx *c = arg;

	if (strcmp(section, "backend") == 0 && strcmp(name, "data_dir") == 0)
		ctl_conf_path(c, value, c->p->data_dir);
	else if (strcmp(section, "backend") == 0 &&
	    strcmp(name, "admin_socket") == 0)
		ctl_conf_path(c, value, c->p->sock);
	else if (strcmp(section, "tokens") == 0 && strcmp(name, "keys") == 0)
		ctl_conf_path(c, value, c->p->keys);
	return 1;
}

int
ctl_conf_load(const char *path, struct ctl_paths *p, char *err, size_t errlen)
{
	struct ctl_conf_ctx c = { .p = p };
	const char *slash = strrchr(path, '/');
	int rc;

	if (slash != NULL)
		snprintf(c.dir, sizeof(c.dir), "%.*s",
		    (int)(slash - path) > 0 ? (int)(slash - path) : 1, path);
	rc = ini_parse(path, ctl_conf_handler, &c);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (rc > 0) {
		snprintf(err, errlen, "%s:%d: cannot parse", path, rc);
		return -1;
	}
	return 0;
}

int
ctl_admin_connect(struct ctl_admin *a, const char *path)
{
	struct sockaddr_un sun;
	struct timeval tv = { CTL_TIMEOUT_SEC, 0 };

	memset(a, 0, sizeof(*a));
	a->sock = path;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a->fd == -1)
		return -1;
	if (connect(a->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		close(a->fd);
		errno = e;
		return -1;
	}
	setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(a->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

json_t *
ctl_admin_call(struct ctl_admin *a, json_t *req)
{
	char *line = json_dump_compact(req, NULL), chunk[4096], *nl;
	size_t len = strlen(line), off = 0;
	const char *op = json_get_str(req, "op");
	json_t *res;
	ssize_t n;

	line = xreallocarray(line, len + 2, 1);
	line[len++] = '\n';
	while (off < len) {
		n = write(a->fd, line + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			fatal("admin socket %s: write", a->sock);
		off += (size_t)n;
	}
	free(line);

	while ((nl = a->buf ? memchr(a->buf, '\n', a->len) : NULL) == NULL) {
		n = read(a->fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fatal("admin socket %s: no answer to %s", a->sock, op);
		if (n == 0)
			fatalx("admin socket %s: the backend closed the "
			       "connection during %s",
			    a->sock, op);
		if (a->len + (size_t)n > CTL_ANSWER_MAX)
			fatalx("admin socket %s: answer too long", a->sock);
		a->buf = xreallocarray(a->buf, a->len + (size_t)n, 1);
		memcpy(a->buf + a->len, chunk, (size_t)n);
		a->len += (size_t)n;
	}
	res = json_loadb(a->buf, (size_t)(nl - a->buf), 0, NULL);
	a->len -= (size_t)(nl - a->buf) + 1;
	memmove(a->buf, nl + 1, a->len);
	if (!json_is_object(res))
		fatalx("admin socket %s: unreadable answer to %s", a->sock, op);
	json_decref(req);
	return res;
}

json_t *
ctl_admin_must(struct ctl_admin *a, json_t *req, const char *what)
{
	json_t *res = ctl_admin_call(a, req);
	const char *detail;

	if (json_get_bool(res, "ok", 0))
		return res;
	detail = json_get_str(res, "detail");
	fatalx("%s: %s%s%s", what,
	    json_get_str(res, "error") ? json_get_str(res, "error") : "failed",
	    detail ? ": " : "", detail ? detail : "");
}

/* Team (and user, channel) names to ids through the backend. */
static json_t *
ctl_lookup(struct ctl_admin *a, const char *team, const char *user,
    const char *channel)
{
	json_t *req = json_pack("{s:s,s:s}", "op", "lookup", "team", team);

	if (user != NULL)
		json_object_set_new(req, "user", json_string(user));
	if (channel != NULL)
		json_object_set_new(req, "channel", json_string(channel));
	return ctl_admin_must(a, req, "lookup");
}

static const char *
jid(json_t *o, const char *k)
{
	const char *s = json_get_str(o, k);

	if (s == NULL)
		fatalx("admin socket: answer without %s", k);
	return s;
}

/* The token id of a whole token (its fifth field), or the id itself. */
static void
ctl_token_id(const char *s, char *out, size_t outlen)
{
	const char *p = s;
	int i;

	for (i = 0; i < 4 && p != NULL; i++) {
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	if (p == NULL) {
		snprintf(out, outlen, "%s", s);
		return;
	}
	snprintf(out, outlen, "%.*s", (int)strcspn(p, "."), p);
}

static int
ctl_is_exclusive(const char *cmd)
{
	static const char *const excl[] = { "init", "restore", "compact",
		"migrate", "import", "seed-demo", "seed-bench", "_inject",
		NULL };
	int i;

	for (i = 0; excl[i] != NULL; i++)
		if (strcmp(cmd, excl[i]) == 0)
			return 1;
	return 0;
}

/* The command through the socket; its exit status, or -1: not served. */
static int
ctl_admin_cmd(struct ctl_admin *a, const struct ctl_paths *p, const char *cmd,
    int argc, char **argv, json_t *ping)
{
	json_t *ids, *req, *res;
	char path[CTL_PATH_MAX], tid[64];

	if (strcmp(cmd, "team") == 0 && argc == 3 &&
	    strcmp(argv[0], "create") == 0) {
		res = ctl_admin_must(a,
		    json_pack("{s:s,s:s,s:s}", "op", "team.create", "name",
		        argv[1], "domain", argv[2]),
		    "team create");
		printf("%s\n", jid(res, "team_id"));
		json_decref(res);
		return 0;
	}
	if (strcmp(cmd, "user") == 0 && argc >= 4 && argc <= 5 &&
	    strcmp(argv[0], "create") == 0) {
		ids = ctl_lookup(a, argv[1], NULL, NULL);
		req = json_pack("{s:s,s:s,s:s,s:s}", "op", "user.create",
		    "team", jid(ids, "team_id"), "name", argv[2], "real_name",
		    argv[3]);
		if (argc == 5)
			json_object_set_new(
			    req, "password", json_string(argv[4]));
		res = ctl_admin_must(a, req, "user create");
		printf("%s\n", jid(res, "user_id"));
		json_decref(res);
		json_decref(ids);
		return 0;
	}
	if (strcmp(cmd, "user") == 0 && argc == 3 &&
	    strcmp(argv[0], "deactivate") == 0) {
		ids = ctl_lookup(a, argv[1], argv[2], NULL);
		res = ctl_admin_must(a,
		    json_pack("{s:s,s:s}", "op", "user.deactivate", "user",
		        jid(ids, "user_id")),
		    "user deactivate");
		printf("%s deactivated; its tokens are revoked\n",
		    jid(ids, "user_id"));
		json_decref(res);
		json_decref(ids);
		return 0;
	}
	if (strcmp(cmd, "user") == 0 && argc == 4 &&
	    (strcmp(argv[0], "role") == 0 ||
	        strcmp(argv[0], "password") == 0)) {
		int role = strcmp(argv[0], "role") == 0;

		ids = ctl_lookup(a, argv[1], argv[2], NULL);
		res = ctl_admin_must(a,
		    json_pack("{s:s,s:s,s:s}", "op",
		        role ? "user.set_role" : "user.set_password", "user",
		        jid(ids, "user_id"), role ? "role" : "password",
		        argv[3]),
		    role ? "user role" : "user password");
		if (role)
			printf("%s is now %s\n", jid(ids, "user_id"), argv[3]);
		else
			printf("%s has a new password\n", jid(ids, "user_id"));
		json_decref(res);
		json_decref(ids);
		return 0;
	}
	if (strcmp(cmd, "channel") == 0 && argc >= 4 && argc <= 5 &&
	    strcmp(argv[0], "create") == 0) {
		ids = ctl_lookup(a, argv[1], argv[3], NULL);
		res = ctl_admin_must(a,
		    json_pack("{s:s,s:s,s:s,s:s,s:b}", "op", "channel.create",
		        "team", jid(ids, "team_id"), "name", argv[2], "creator",
		        jid(ids, "user_id"), "private",
		        argc == 5 && strcmp(argv[4], "private") == 0),
		    "channel create");
		printf("%s\n", jid(res, "channel_id"));
		json_decref(res);
		json_decref(ids);
		return 0;
	}
	if (strcmp(cmd, "message") == 0 && argc == 3 &&
	    strcmp(argv[0], "delete") == 0) {
		res = ctl_admin_must(a,
		    json_pack("{s:s,s:s,s:s}", "op", "message.delete",
		        "channel", argv[1], "ts", argv[2]),
		    "message delete");
		printf(
		    "message %s/%s deleted and scrubbed from the event log\n",
		    argv[1], argv[2]);
		json_decref(res);
		return 0;
	}
	if (strcmp(cmd, "token") == 0 && argc == 2 &&
	    strcmp(argv[0], "revoke") == 0) {
		ctl_token_id(argv[1], tid, sizeof(tid));
		res = ctl_admin_must(a,
		    json_pack(
		        "{s:s,s:s}", "op", "token.revoke", "token_id", tid),
		    "token revoke");
		printf("token %s revoked\n", tid);
		json_decref(res);
		return 0;
	}
	if (strcmp(cmd, "token") == 0 && argc >= 2) {
		if (strcmp(argv[0], "mint") == 0) {
			argc--;
			argv++;
		}
		if (argc < 2 || argc > 3)
			return -1;
		ids = ctl_lookup(a, argv[0], argv[1], NULL);
		res = ctl_admin_must(a,
		    json_pack("{s:s,s:s,s:I}", "op", "token.mint", "user",
		        jid(ids, "user_id"), "ttl",
		        (json_int_t)(argc > 2 ? atoll(argv[2]) : 0)),
		    "token");
		printf("%s\n", jid(res, "token"));
		json_decref(res);
		json_decref(ids);
		return 0;
	}
	if (strcmp(cmd, "rotate-key") == 0 && argc == 0) {
		/* The file the backend reads, whatever -k or the conf say. */
		snprintf(path, sizeof(path), "%s", jid(ping, "keys"));
		ctl_key_append(path);
		res = ctl_admin_must(
		    a, json_pack("{s:s}", "op", "keys.reload"), "keys reload");
		printf("the backend signs new tokens with key %s\n",
		    jid(res, "kid"));
		json_decref(res);
		return 0;
	}
	if (strcmp(cmd, "backup") == 0 && argc == 1) {
		if (argv[0][0] == '/')
			snprintf(path, sizeof(path), "%s", argv[0]);
		else if (getcwd(path, sizeof(path)) != NULL)
			snprintf(path + strlen(path),
			    sizeof(path) - strlen(path), "/%s", argv[0]);
		else
			fatal("getcwd");
		res = ctl_admin_must(a,
		    json_pack("{s:s,s:s}", "op", "backup", "dir", path),
		    "backup");
		printf("compacted copy in %s/data.mdb\n", argv[0]);
		json_decref(res);
		return 0;
	}
	if (ctl_is_exclusive(cmd)) {
		fprintf(stderr,
		    "parleyctl: %s needs the store to itself, but a backend "
		    "(pid %lld) holds %s and answers on %s; stop it first\n",
		    cmd, json_get_int(ping, "pid", 0), p->data_dir, a->sock);
		return 1;
	}
	return -1;
}

int
ctl_admin_run(const struct ctl_paths *p, int sock_given, const char *cmd,
    int argc, char **argv)
{
	struct ctl_admin a;
	char path[CTL_PATH_MAX + 16];
	json_t *ping;
	int rc;

	if (p->sock[0] != '\0')
		snprintf(path, sizeof(path), "%s", p->sock);
	else
		snprintf(path, sizeof(path), "%s/admin.sock", p->data_dir);
	if (ctl_admin_connect(&a, path) == -1) {
		if (sock_given)
			fatal("admin socket %s", path);
		return -1;
	}
	ping = ctl_admin_must(&a, json_pack("{s:s}", "op", "ping"), "ping");
	rc = ctl_admin_cmd(&a, p, cmd, argc, argv, ping);
	json_decref(ping);
	if (rc == -1 && sock_given) {
		fprintf(stderr,
		    "parleyctl: %s is not served through the "
		    "admin socket; stop the backend to run it on the "
		    "files\n",
		    cmd);
		rc = 1;
	}
	ctl_admin_close(&a);
	return rc;
}

void
ctl_admin_close(struct ctl_admin *a)
{
	if (a->fd != -1)
		close(a->fd);
	a->fd = -1;
	free(a->buf);
	a->buf = NULL;
	a->len = 0;
}
