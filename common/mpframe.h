/*
 * mpframe: length-prefixed msgpack frames of the edge<->backend stream.
 *
 *	+----------------+---------------------------------+
 *	| length (4, BE) | one msgpack map, length bytes   |
 *	+----------------+---------------------------------+
 *
 * The decoder is incremental: it reads the 4-byte length first and refuses
 * a length of 0 or above its maximum before allocating anything; then it
 * collects the body and unpacks it, which must be exactly one map.
 *
 * Encoding: mpframe_begin() reserves the length on a msgpack_sbuffer and
 * packs the map header, the caller packs nfields key/value pairs (the
 * mpframe_kv_* helpers), and mpframe_end() writes the length.
 *
 * Reading: the mpframe_get_* helpers look a key up in a map object and
 * check its type and bounds; none of them trusts the peer.
 */
#ifndef PARLEY_MPFRAME_H
#define PARLEY_MPFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#define MPFRAME_HDR 4
/* Default maximum body size. */
#define MPFRAME_DEFAULT_MAX (16 * 1024 * 1024)

struct mpframe_dec {
	size_t max;	   /* largest body accepted */
	uint8_t hdr[MPFRAME_HDR];
	size_t hdrlen;	   /* bytes of hdr read */
	size_t need;	   /* body length, once hdr is complete */
	size_t have;	   /* body bytes read */
	char *body;	   /* malloc'd, need bytes */
	msgpack_unpacked un;
	bool ready;	   /* un holds the last frame */
	const char *error; /* static text after -1 */
};

/* Sets up d for bodies of at most max bytes (0: MPFRAME_DEFAULT_MAX). */
void mpframe_dec_init(struct mpframe_dec *d, size_t max);

/* Frees what d holds; d may be initialised again. */
void mpframe_dec_free(struct mpframe_dec *d);

/*
 * Feeds up to len bytes.  Stops right after a frame ends: returns how many
 * bytes it used (<= len) and, when a frame completed, points *msg at its
 * map (valid until the next call or mpframe_dec_free: its strings point
 * into the decoder's body buffer), else sets *msg to
 * NULL.  Call again with the rest.  Returns -1 on an error (length 0 or
 * above max, body not one map, trailing bytes) with d->error set; the
 * stream cannot continue after that.
 */
ssize_t mpframe_decode(struct mpframe_dec *d, const void *data, size_t len,
    const msgpack_object **msg);

/*
 * Unpacks one whole frame in buf (header and body, exactly len bytes) into
 * un (msgpack_unpacked_init'd by the caller, msgpack_unpacked_destroy
 * after).  Strings and bins in un point into buf, which must outlive
 * un.  Returns 0, or -1 with *error set.
 */
int mpframe_parse(const void *buf, size_t len, size_t max,
    msgpack_unpacked *un, const char **error);

/*
 * Starts a frame on sb: reserves the length and packs a map header of
 * nfields pairs.  Returns the frame's start offset for mpframe_end.
 */
size_t mpframe_begin(msgpack_sbuffer *sb, msgpack_packer *pk,
    uint32_t nfields);

/* Writes the length of the frame started at start.  0, or -1 if too big. */
int mpframe_end(msgpack_sbuffer *sb, size_t start);

/* Packs a string (len bytes; mpframe_pack_cstr: NUL-terminated). */
void mpframe_pack_str(msgpack_packer *pk, const char *s, size_t len);
void mpframe_pack_cstr(msgpack_packer *pk, const char *s);

/* Packs key (a C string) followed by a value. */
void mpframe_kv_str(msgpack_packer *pk, const char *key, const char *s,
    size_t len);
void mpframe_kv_cstr(msgpack_packer *pk, const char *key, const char *s);
void mpframe_kv_int(msgpack_packer *pk, const char *key, int64_t v);
void mpframe_kv_uint(msgpack_packer *pk, const char *key, uint64_t v);
void mpframe_kv_bool(msgpack_packer *pk, const char *key, bool v);
void mpframe_kv_bin(msgpack_packer *pk, const char *key, const void *p,
    size_t len);
/* Packs the key only; the caller packs the value (a map, an array...). */
void mpframe_key(msgpack_packer *pk, const char *key);

/* The value under key in map (a string key), or NULL. */
const msgpack_object *mpframe_get(const msgpack_object *map,
    const char *key);

/*
 * Typed lookups: 0 and the value, or -1 when the key is missing, the
 * type differs, or the value does not fit.  Strings are not
 * NUL-terminated: *s points into the frame, *len is their length.
 */
int mpframe_get_str(const msgpack_object *map, const char *key,
    const char **s, size_t *len);
int mpframe_get_int(const msgpack_object *map, const char *key,
    int64_t *v);
int mpframe_get_uint(const msgpack_object *map, const char *key,
    uint64_t *v);
int mpframe_get_bool(const msgpack_object *map, const char *key, bool *v);
int mpframe_get_bin(const msgpack_object *map, const char *key,
    const void **p, size_t *len);

/*
 * Copies the string under key into buf with a NUL; -1 when missing, not
 * a string, holding a NUL byte, or not fitting in buflen - 1 bytes.
 */
int mpframe_get_strbuf(const msgpack_object *map, const char *key,
    char *buf, size_t buflen);

/* The map or array under key, or NULL when missing or of another type. */
const msgpack_object *mpframe_get_map(const msgpack_object *map,
    const char *key);
const msgpack_object *mpframe_get_array(const msgpack_object *map,
    const char *key);

#endif
