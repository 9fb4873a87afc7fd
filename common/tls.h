/*
 * tls: OpenSSL 3 contexts and peer verification for Parley's links.
 *
 * The connection layer does the non-blocking SSL_read/SSL_write; this
 * module builds the SSL_CTXs it uses, from settings read with conf:
 *
 *	tls_cert	PEM certificate chain (server: required; client:
 *			optional, presented when the server asks)
 *	tls_key		PEM private key matching tls_cert
 *	tls_ca		PEM CA bundle.  Server: when set, a client
 *			certificate signed by it is required.  Client: the CAs
 *			that may sign the server's certificate (required).
 *	tls_min_version	"1.2" or "1.3" (default "1.2"; the edge<->backend
 *			stream uses "1.3")
 *	tls_server_name	client only: the host name the server's certificate
 *			must carry (default: none checked beyond the CA)
 *
 * A daemon embeds a struct tls_settings in a section and adds its keys
 * with TLS_CONF_KEYS(struct type, member) inside that section's key table.
 *
 * Reload (SIGHUP): tls_reload() builds a new context from the files and
 * swaps it in; connections made from the old one keep it alive (each SSL
 * holds a reference), so it is freed when the last of them ends.
 */
#ifndef PARLEY_TLS_H
#define PARLEY_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "conf.h"

struct tls_settings {
	char *cert;
	char *key;
	char *ca;
	char *min_version;
	char *server_name;
};

/* Key table entries for a struct tls_settings at member of type. */
#define TLS_CONF_KEYS(type, member)                                        \
	{ "tls_cert", CONF_PATH, offsetof(type, member.cert), NULL, 0, 0,  \
	    0 },                                                           \
	    { "tls_key", CONF_PATH, offsetof(type, member.key), NULL, 0,   \
		0, 0 },                                                    \
	    { "tls_ca", CONF_PATH, offsetof(type, member.ca), NULL, 0, 0,  \
		0 },                                                       \
	    { "tls_min_version", CONF_STRING,                              \
		offsetof(type, member.min_version), "1.2", 0, 0, 0 },      \
	    { "tls_server_name", CONF_STRING,                              \
		offsetof(type, member.server_name), NULL, 0, 0, 0 }

enum tls_role {
	TLS_SERVER,
	TLS_CLIENT,
};

/* Parses "1.2"/"1.3" into TLS1_2_VERSION/TLS1_3_VERSION; -1 otherwise. */
int tls_parse_version(const char *s);

/*
 * Server context: certificate and key (required), minimum version, and,
 * when s->ca is set, a required and verified client certificate.
 * Returns a new SSL_CTX (free with SSL_CTX_free), or NULL with the reason
 * (file name and OpenSSL's error) in err.
 */
SSL_CTX *tls_server_ctx_new(const struct tls_settings *s, char *err,
    size_t errlen);

/*
 * Client context: verifies the server against s->ca (required), presents
 * s->cert/s->key when both are set.  Host name checking is per connection
 * (tls_client_new).  Returns a new SSL_CTX or NULL with err set.
 */
SSL_CTX *tls_client_ctx_new(const struct tls_settings *s, char *err,
    size_t errlen);

/*
 * Rebuilds *ctxp for role from s; on success frees the caller's reference
 * to the old context (live connections keep theirs) and returns 0; on
 * failure leaves *ctxp alone and returns -1 with err set.
 */
int tls_reload(SSL_CTX **ctxp, enum tls_role role,
    const struct tls_settings *s, char *err, size_t errlen);

/*
 * New client SSL from ctx set up to connect: SNI and host name check for
 * host (when non-NULL and non-empty).  Returns NULL on failure.
 */
SSL *tls_client_new(SSL_CTX *ctx, const char *host);

/* New server SSL from ctx set up to accept.  Returns NULL on failure. */
SSL *tls_server_new(SSL_CTX *ctx);

/*
 * Describes the peer's certificate for logs: "subject=..., issuer=...,
 * serial=..." or "no certificate".  Returns buf.
 */
const char *tls_describe_peer(SSL *ssl, char *buf, size_t len);

/*
 * Takes OpenSSL's queued errors into buf as one line (the queue is
 * emptied); "unknown error" when there is none.  Returns buf.
 */
const char *tls_error_string(char *buf, size_t len);

#endif
