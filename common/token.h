/*
 * token: signed tokens, checked without a lookup.
 *
 *	<kind>.<kid>.<team>.<user>.<id>.<exp>.<mac>
 *
 *	kind	"xoxp" (user), "xoxb" (bot) or "ptk" (short-lived RTM ticket)
 *	kid	[a-z0-9]{1,16}, the id of the key that signed it
 *	team	"T" then 1-20 of [A-Z0-9]
 *	user	"U", "W" or "B" then 1-20 of [A-Z0-9]
 *	id	[a-z0-9]{1,32}, the token id (a nonce for tickets)
 *	exp	decimal unix seconds, 0 = never expires
 *	mac	base64url without padding (43 chars) of
 *		HMAC-SHA256(secret of kid, every byte before the last '.')
 *
 * The team is field 3 of the dot-separated token, which HAProxy reads with
 * field(3,.).  Key file ([tokens] keys): one key per line, "kid hex" with a
 * 32-byte secret in 64 hex digits; '#' starts a comment line; the last key
 * is the newest and signs new tokens, the others still verify until they
 * are removed.  A key file readable by group or others is refused.
 *
 * A loaded key set is read-only and may be shared by threads.  To rotate,
 * load a new set (token_keys_load) and swap the pointer.  Neither tokens
 * nor secrets are ever logged.
 */
#ifndef PARLEY_TOKEN_H
#define PARLEY_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"

#define TOKEN_KID_MAX	  16
#define TOKEN_TEAM_MAX	  21 /* 'T' + 20 */
#define TOKEN_USER_MAX	  21 /* 'U'/'W'/'B' + 20 */
#define TOKEN_ID_MAX	  32
#define TOKEN_MAC_LEN	  43
#define TOKEN_SECRET_LEN  32
#define TOKEN_MAX_KEYS	  64
/* Longest token, with its NUL: size buffers with this. */
#define TOKEN_MAX_LEN	  192

enum token_kind {
	TOKEN_USER,   /* "xoxp" */
	TOKEN_BOT,    /* "xoxb" */
	TOKEN_TICKET, /* "ptk" */
};

/* Results of token_verify; 0 is success. */
enum token_status {
	TOKEN_OK = 0,
	TOKEN_MALFORMED = -1,
	TOKEN_UNKNOWN_KEY = -2,
	TOKEN_BAD_SIGNATURE = -3,
	TOKEN_EXPIRED = -4,
};

/* The fields of a verified token, NUL-terminated. */
struct token_info {
	enum token_kind kind;
	char kid[TOKEN_KID_MAX + 1];
	char team[TOKEN_TEAM_MAX + 1];
	char user[TOKEN_USER_MAX + 1];
	char id[TOKEN_ID_MAX + 1];
	uint64_t exp;
};

/* The [tokens] section, for daemons that mint or verify tokens. */
struct token_settings {
	char *keys; /* path of the key file */
};
extern const struct conf_key token_conf_keys[];

struct token_keys;

/*
 * Loads the key file at path.  Refuses a file readable or writable by
 * group or others, a malformed line, a duplicate kid, a secret that is not
 * 64 hex digits, and a file with no key.  Returns a key set to free with
 * token_keys_free, or NULL with "path:line: reason" in err.
 */
struct token_keys *token_keys_load(const char *path, char *err,
    size_t errlen);

/*
 * Same on text in memory (len bytes); name is used in messages.  Does not
 * check file modes.
 */
struct token_keys *token_keys_parse(const char *name, const char *text,
    size_t len, char *err, size_t errlen);

void token_keys_free(struct token_keys *keys);

/* The kid that token_mint uses (the newest key). */
const char *token_keys_current(const struct token_keys *keys);

/*
 * Mints a token with the newest key: kind, team, user and id must match
 * the format above; ttl in seconds from now (0: never expires).  Writes
 * the NUL-terminated token to out (outlen >= TOKEN_MAX_LEN is always
 * enough).  Returns its length, or -1 if a field is invalid or out is too
 * small.
 */
int token_mint(const struct token_keys *keys, enum token_kind kind,
    const char *team, const char *user, const char *id, long long ttl,
    char *out, size_t outlen);

/* Same with an absolute expiry exp (0: never). */
int token_mint_exp(const struct token_keys *keys, enum token_kind kind,
    const char *team, const char *user, const char *id, uint64_t exp,
    char *out, size_t outlen);

/*
 * Verifies the len bytes of tok (need not be NUL-terminated) at time now
 * (unix seconds).  Returns TOKEN_OK and fills info (when non-NULL), or a
 * negative enum token_status: format first, then the key, then the
 * signature (in constant time), then expiry (exp != 0 && exp <= now).
 */
int token_verify(const struct token_keys *keys, const char *tok, size_t len,
    time_t now, struct token_info *info);

/* "ok", "malformed", "unknown_key", "bad_signature", "expired". */
const char *token_strerror(int status);

/* Kind as text ("xoxp", "xoxb", "ptk"), and back (-1 if none). */
const char *token_kind_str(enum token_kind kind);
int token_kind_parse(const char *s, size_t len);

/*
 * Fills id (idlen - 1 chars of [a-z0-9], then NUL) from RAND_bytes, e.g.
 * a ticket nonce.  idlen is at most TOKEN_ID_MAX + 1.  Returns 0 or -1.
 */
int token_random_id(char *id, size_t idlen);

/* Compares n bytes in time independent of their content; 1 if equal. */
int token_ct_equal(const void *a, const void *b, size_t n);

#endif
