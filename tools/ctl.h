/*
 * ctl: what the files of parleyctl share.
 *
 * parleyctl.c works on a store's files; ctl_admin.c reads parley.conf
 * and talks to a running backend through its admin socket (the protocol
 * is described at the top of backend/admin.c).
 */
#ifndef PARLEY_CTL_H
#define PARLEY_CTL_H

#include <stddef.h>

#include <jansson.h>

#define CTL_PATH_MAX 4096

/* Where the store, the key file and the admin socket are. */
struct ctl_paths {
	char data_dir[CTL_PATH_MAX];
	char keys[CTL_PATH_MAX]; /* "": <data_dir>/tokens.key */
	char sock[CTL_PATH_MAX]; /* "": <data_dir>/admin.sock */
};

/*
 * Reads [backend] data_dir and admin_socket and [tokens] keys from the
 * configuration file at path into p, relative names taken from the
 * file's directory as the daemons do; other keys and sections are left
 * to their daemons.  Fields the file does not set are left as they are.
 * Returns 0, or -1 with a reason in err.
 */
int ctl_conf_load(
    const char *path, struct ctl_paths *p, char *err, size_t errlen);

/*
 * Runs command cmd (argv holds its arguments) through the admin socket
 * of the backend that holds the store, when one answers on p->sock (or
 * <data_dir>/admin.sock).  Returns the exit status of parleyctl, or -1
 * when no backend answers there and the command should work on the
 * files.  When sock_given is set, a socket that does not answer is an
 * error instead.  Commands that need the files to themselves (restore,
 * compact, migrate, import, init, seeding) are refused with a message
 * while a backend answers.
 */
int ctl_admin_run(const struct ctl_paths *p, int sock_given, const char *cmd,
    int argc, char **argv);

/* A connection to a backend's admin socket. */
struct ctl_admin {
	int fd;
	const char *sock;
	char *buf;
	size_t len;
};

/* Connects; -1 with errno when nobody answers at path. */
int ctl_admin_connect(struct ctl_admin *a, const char *path);

/*
 * Sends req (stolen) and reads the answer line.  Returns the answer
 * object; a broken connection or a garbled answer ends the program.
 */
json_t *ctl_admin_call(struct ctl_admin *a, json_t *req);

/* Calls and ends the program on {"ok":false}, naming what failed. */
json_t *ctl_admin_must(struct ctl_admin *a, json_t *req, const char *what);

void ctl_admin_close(struct ctl_admin *a);

/*
 * The shard commands (tools/ctl_shard.c) when parley.conf (conf_path)
 * names shards: "team create NAME DOMAIN [SHARD]", "team place TEAM
 * SHARD", "shard-map [FILE]" and "move-team TEAM --to SHARD [--hup
 * PIDFILE]...".  Returns the exit status, or -1 when cmd is none of
 * them or the configuration names no shard.
 */
int ctl_shard_run(const char *conf_path, const char *cmd, int argc,
    char **argv);

/*
 * Appends a new random key to the key file at path (created 0600) and
 * prints its id; defined in parleyctl.c.  Exits on failure.
 */
void ctl_key_append(const char *path);

#endif
