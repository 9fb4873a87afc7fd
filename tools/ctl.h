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

/*
 * Appends a new random key to the key file at path (created 0600) and
 * prints its id; defined in parleyctl.c.  Exits on failure.
 */
void ctl_key_append(const char *path);

#endif
