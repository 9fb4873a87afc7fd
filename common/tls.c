/*
 * tls: OpenSSL 3 server and client contexts, mutual authentication, and
 * reload by swapping contexts (see tls.h).
 *
 * Contexts release their read and write buffers while a connection is
 * idle (SSL_MODE_RELEASE_BUFFERS), so that thousands of quiet TLS links
 * hold no 16 KiB records, and accept a retried write from a moved buffer,
 * as a connection layer with its own queues does.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

static const unsigned char tls_sid_ctx[] = "parley";

const char *
tls_error_string(char *buf, size_t len)
{
	unsigned long e;
	size_t used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (used < len - 1) {
			int n = snprintf(buf + used, len - used, "%s%s",
			    used ? "; " : "", one);

			if (n > 0)
				used += (size_t)n;
		}
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "unknown error");
	return buf;
}

int
tls_parse_version(const char *s)
{
	if (s == NULL || strcmp(s, "1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(s, "1.3") == 0)
		return TLS1_3_VERSION;
	return -1;
}

/* Reports a failed step with OpenSSL's reason; returns NULL. */
static SSL_CTX *
tls_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what,
    const char *file)
{
	char why[512];

	tls_error_string(why, sizeof(why));
	if (file != NULL)
		snprintf(err, errlen, "%s %s: %s", what, file, why);
	else
		snprintf(err, errlen, "%s: %s", what, why);
	SSL_CTX_free(ctx);
	return NULL;
}

/* What both roles share: version floor, options, modes. */
static SSL_CTX *
tls_ctx_base(const SSL_METHOD *method, const struct tls_settings *s,
    char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int ver = tls_parse_version(s->min_version);

	if (ver == -1) {
		snprintf(err, errlen, "tls_min_version '%s': use 1.2 or 1.3",
		    s->min_version);
		return NULL;
	}
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(method)) == NULL)
		return tls_fail(NULL, err, errlen, "SSL_CTX_new", NULL);
	if (SSL_CTX_set_min_proto_version(ctx, ver) != 1)
		return tls_fail(ctx, err, errlen, "tls_min_version", NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

/* Loads cert chain and key into ctx and checks they match. */
static SSL_CTX *
tls_ctx_load_pair(SSL_CTX *ctx, const struct tls_settings *s, char *err,
    size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1)
		return tls_fail(ctx, err, errlen, "tls_cert", s->cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1)
		return tls_fail(ctx, err, errlen, "tls_key", s->key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_fail(ctx, err, errlen, "tls_key does not match",
		    s->cert);
	return ctx;
}

SSL_CTX *
tls_server_ctx_new(const struct tls_settings *s, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (s->cert == NULL || s->key == NULL) {
		snprintf(err, errlen, "a TLS server needs tls_cert and tls_key");
		return NULL;
	}
	if ((ctx = tls_ctx_base(TLS_server_method(), s, err, errlen)) == NULL)
		return NULL;
	if (tls_ctx_load_pair(ctx, s, err, errlen) == NULL)
		return NULL;
	SSL_CTX_set_session_id_context(ctx, tls_sid_ctx,
	    sizeof(tls_sid_ctx) - 1);

	if (s->ca != NULL) {
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(ctx, s->ca, NULL) != 1)
			return tls_fail(ctx, err, errlen, "tls_ca", s->ca);
		if ((names = SSL_load_client_CA_file(s->ca)) == NULL)
			return tls_fail(ctx, err, errlen, "tls_ca", s->ca);
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
}

SSL_CTX *
tls_client_ctx_new(const struct tls_settings *s, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (s->ca == NULL) {
		snprintf(err, errlen,
		    "a TLS client needs tls_ca to verify the server");
		return NULL;
	}
	if ((s->cert == NULL) != (s->key == NULL)) {
		snprintf(err, errlen, "tls_cert and tls_key go together");
		return NULL;
	}
	if ((ctx = tls_ctx_base(TLS_client_method(), s, err, errlen)) == NULL)
		return NULL;
	if (s->cert != NULL && tls_ctx_load_pair(ctx, s, err, errlen) == NULL)
		return NULL;
	if (SSL_CTX_load_verify_locations(ctx, s->ca, NULL) != 1)
		return tls_fail(ctx, err, errlen, "tls_ca", s->ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

int
tls_reload(SSL_CTX **ctxp, enum tls_role role, const struct tls_settings *s,
    char *err, size_t errlen)
{
	SSL_CTX *fresh = role == TLS_SERVER
	    ? tls_server_ctx_new(s, err, errlen)
	    : tls_client_ctx_new(s, err, errlen);

	if (fresh == NULL)
		return -1;
	/* Each SSL made from the old context holds its own reference. */
	SSL_CTX_free(*ctxp);
	*ctxp = fresh;
	return 0;
}

SSL *
tls_client_new(SSL_CTX *ctx, const char *host)
{
	unsigned char ip[16];
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	SSL_set_connect_state(ssl);
	if (host == NULL || host[0] == '\0')
		return ssl;

	if (inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1) {
		/* An address is checked against the IP SANs; no SNI. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    host) != 1)
			goto fail;
		return ssl;
	}
	if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    SSL_set1_host(ssl, host) != 1)
		goto fail;
	return ssl;

fail:
	SSL_free(ssl);
	return NULL;
}

SSL *
tls_server_new(SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl != NULL)
		SSL_set_accept_state(ssl);
	return ssl;
}

const char *
tls_describe_peer(SSL *ssl, char *buf, size_t len)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	char subject[256], issuer[256], serial[80] = "?";
	const ASN1_INTEGER *sn;
	BIGNUM *bn;
	long vr;

	if (cert == NULL) {
		snprintf(buf, len, "no certificate");
		return buf;
	}
	X509_NAME_oneline(X509_get_subject_name(cert), subject,
	    sizeof(subject));
	X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
	sn = X509_get0_serialNumber(cert);
	if ((bn = ASN1_INTEGER_to_BN(sn, NULL)) != NULL) {
		char *hex = BN_bn2hex(bn);

		if (hex != NULL) {
			snprintf(serial, sizeof(serial), "%s", hex);
			OPENSSL_free(hex);
		}
		BN_free(bn);
	}
	vr = SSL_get_verify_result(ssl);
	snprintf(buf, len, "subject=%s, issuer=%s, serial=%s%s%s", subject,
	    issuer, serial, vr == X509_V_OK ? "" : ", not verified: ",
	    vr == X509_V_OK ? "" : X509_verify_cert_error_string(vr));
	X509_free(cert);
	return buf;
}
