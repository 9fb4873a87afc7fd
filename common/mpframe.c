/*
 * mpframe: length-prefixed msgpack maps (see mpframe.h).
 *
 *   HEADER --4 bytes, 0 < len <= max--> BODY --len bytes--> unpack
 *     ^                                                       |
 *     '---------------- one map, nothing after it ------------'
 *
 * The body is collected into its own buffer and unpacked with
 * msgpack_unpack_next, which allocates only in proportion to the body; a
 * peer cannot make the decoder allocate more than max plus msgpack's own
 * zone for what the body describes (bounded by the body's size).
 */
#include <stdlib.h>
#include <string.h>

#include "mpframe.h"
#include "xmalloc.h"

void
mpframe_dec_init(struct mpframe_dec *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max != 0 ? max : MPFRAME_DEFAULT_MAX;
	if (d->max > UINT32_MAX)
		d->max = UINT32_MAX;
	msgpack_unpacked_init(&d->un);
}

void
mpframe_dec_free(struct mpframe_dec *d)
{
	free(d->body);
	d->body = NULL;
	msgpack_unpacked_destroy(&d->un);
	d->ready = false;
}

/* Releases the last frame and gets ready for the next header. */
static void
mpframe_dec_reset(struct mpframe_dec *d)
{
	free(d->body);
	d->body = NULL;
	d->hdrlen = 0;
	d->need = 0;
	d->have = 0;
	if (d->ready) {
		msgpack_unpacked_destroy(&d->un);
		msgpack_unpacked_init(&d->un);
		d->ready = false;
	}
}

/* Big-endian integer of n bytes at p. */
static uint64_t
mpframe_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/*
 * Walks one msgpack value in body without building it, checking that
 * every array and map announces no more elements than bytes remain (each
 * element takes at least one).  msgpack-c allocates an array's or map's
 * slots from the announced count before reading them, so without this
 * check a 5-byte body could ask for gigabytes.  0 or -1 with *error.
 */
static int
mpframe_check_body(const uint8_t *b, size_t len, const char **error)
{
	uint64_t pending = 1;
	size_t pos = 0, hdr, skip;
	uint64_t count, items;

	while (pending > 0) {
		uint8_t t;

		if (pos >= len)
			goto truncated;
		t = b[pos];
		hdr = 1;
		skip = 0;
		items = 0;

		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 ||
		    t == 0xc3) {
			/* fixint, nil, bool */
		} else if (t >= 0xa0 && t <= 0xbf) {
			skip = t & 0x1f;
		} else if (t >= 0x90 && t <= 0x9f) {
			items = t & 0x0f;
		} else if (t >= 0x80 && t <= 0x8f) {
			items = 2 * (uint64_t)(t & 0x0f);
		} else {
			size_t w;

			switch (t) {
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xca: case 0xce: case 0xd2: skip = 4; break;
			case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xc4: case 0xd9: case 0xc7:
			case 0xc5: case 0xda: case 0xc8:
			case 0xc6: case 0xdb: case 0xc9:
				w = t == 0xc4 || t == 0xd9 || t == 0xc7 ? 1
				    : t == 0xc5 || t == 0xda || t == 0xc8 ? 2
				    : 4;
				if (len - pos < 1 + w)
					goto truncated;
				skip = (size_t)mpframe_be(b + pos + 1, w);
				hdr += w;
				if (t >= 0xc7 && t <= 0xc9)
					skip += 1; /* ext type byte */
				break;
			case 0xdc: case 0xdd: case 0xde: case 0xdf:
				w = t == 0xdc || t == 0xde ? 2 : 4;
				if (len - pos < 1 + w)
					goto truncated;
				count = mpframe_be(b + pos + 1, w);
				hdr += w;
				items = t >= 0xde ? 2 * count : count;
				break;
			default:
				*error = "bad msgpack";
				return -1;
			}
		}

		if (len - pos < hdr || len - pos - hdr < skip)
			goto truncated;
		pos += hdr + skip;
		pending--;
		if (items > 0 && (items > len - pos ||
		    pending + items > len - pos)) {
			*error = "msgpack count larger than the frame";
			return -1;
		}
		pending += items;
	}
	return 0;

truncated:
	*error = "truncated msgpack";
	return -1;
}

/*
 * Unpacks body (len bytes) into un: exactly one map.  0 or -1 with *error.
 */
static int
mpframe_unpack_body(const char *body, size_t len, msgpack_unpacked *un,
    const char **error)
{
	size_t off = 0;
	msgpack_unpack_return r;

	if (len == 0 || (uint8_t)body[0] < 0x80 || ((uint8_t)body[0] > 0x8f &&
	    (uint8_t)body[0] != 0xde && (uint8_t)body[0] != 0xdf)) {
		*error = "frame is not a map";
		return -1;
	}
	if (mpframe_check_body((const uint8_t *)body, len, error) == -1)
		return -1;
	r = msgpack_unpack_next(un, body, len, &off);
	if (r != MSGPACK_UNPACK_SUCCESS) {
		*error = r == MSGPACK_UNPACK_NOMEM_ERROR ? "out of memory"
		    : r == MSGPACK_UNPACK_CONTINUE	 ? "truncated msgpack"
							 : "bad msgpack";
		return -1;
	}
	if (off != len) {
		*error = "trailing bytes after the map";
		return -1;
	}
	if (un->data.type != MSGPACK_OBJECT_MAP) {
		*error = "frame is not a map";
		return -1;
	}
	return 0;
}

ssize_t
mpframe_decode(struct mpframe_dec *d, const void *data, size_t len,
    const msgpack_object **msg)
{
	const uint8_t *p = data;
	size_t used = 0, n;

	*msg = NULL;
	if (d->error != NULL)
		return -1;
	if (d->ready || (d->hdrlen == MPFRAME_HDR && d->have == d->need))
		mpframe_dec_reset(d);

	if (d->hdrlen < MPFRAME_HDR) {
		n = MPFRAME_HDR - d->hdrlen;
		if (n > len)
			n = len;
		memcpy(d->hdr + d->hdrlen, p, n);
		d->hdrlen += n;
		used += n;
		if (d->hdrlen < MPFRAME_HDR)
			return (ssize_t)used;

		d->need = (size_t)d->hdr[0] << 24 | (size_t)d->hdr[1] << 16 |
		    (size_t)d->hdr[2] << 8 | d->hdr[3];
		if (d->need == 0) {
			d->error = "empty frame";
			return -1;
		}
		/* Refused before anything is allocated for it. */
		if (d->need > d->max) {
			d->error = "frame larger than the maximum";
			return -1;
		}
		d->body = xmalloc(d->need);
		d->have = 0;
	}

	n = d->need - d->have;
	if (n > len - used)
		n = len - used;
	memcpy(d->body + d->have, p + used, n);
	d->have += n;
	used += n;
	if (d->have < d->need)
		return (ssize_t)used;

	if (mpframe_unpack_body(d->body, d->need, &d->un, &d->error) == -1)
		return -1;
	d->ready = true;
	*msg = &d->un.data;
	return (ssize_t)used;
}

int
mpframe_parse(const void *buf, size_t len, size_t max, msgpack_unpacked *un,
    const char **error)
{
	const uint8_t *p = buf;
	size_t need;

	if (max == 0)
		max = MPFRAME_DEFAULT_MAX;
	if (len < MPFRAME_HDR) {
		*error = "truncated header";
		return -1;
	}
	need = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 |
	    p[3];
	if (need == 0) {
		*error = "empty frame";
		return -1;
	}
	if (need > max) {
		*error = "frame larger than the maximum";
		return -1;
	}
	if (need != len - MPFRAME_HDR) {
		*error = "length does not match the frame";
		return -1;
	}
	return mpframe_unpack_body((const char *)p + MPFRAME_HDR, need, un,
	    error);
}

size_t
mpframe_begin(msgpack_sbuffer *sb, msgpack_packer *pk, uint32_t nfields)
{
	static const char zero[MPFRAME_HDR];
	size_t start = sb->size;

	msgpack_sbuffer_write(sb, zero, sizeof(zero));
	msgpack_pack_map(pk, nfields);
	return start;
}

int
mpframe_end(msgpack_sbuffer *sb, size_t start)
{
	size_t len;
	uint8_t *h;

	if (sb->size < start + MPFRAME_HDR)
		return -1;
	len = sb->size - start - MPFRAME_HDR;
	if (len > UINT32_MAX)
		return -1;
	h = (uint8_t *)sb->data + start;
	h[0] = (uint8_t)(len >> 24);
	h[1] = (uint8_t)(len >> 16);
	h[2] = (uint8_t)(len >> 8);
	h[3] = (uint8_t)len;
	return 0;
}

void
mpframe_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void
mpframe_pack_cstr(msgpack_packer *pk, const char *s)
{
	mpframe_pack_str(pk, s, strlen(s));
}

void
mpframe_key(msgpack_packer *pk, const char *key)
{
	mpframe_pack_cstr(pk, key);
}

void
mpframe_kv_str(msgpack_packer *pk, const char *key, const char *s,
    size_t len)
{
	mpframe_key(pk, key);
	mpframe_pack_str(pk, s, len);
}

void
mpframe_kv_cstr(msgpack_packer *pk, const char *key, const char *s)
{
	mpframe_key(pk, key);
	mpframe_pack_cstr(pk, s);
}

void
mpframe_kv_int(msgpack_packer *pk, const char *key, int64_t v)
{
	mpframe_key(pk, key);
	msgpack_pack_int64(pk, v);
}

void
mpframe_kv_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
	mpframe_key(pk, key);
	msgpack_pack_uint64(pk, v);
}

void
mpframe_kv_bool(msgpack_packer *pk, const char *key, bool v)
{
	mpframe_key(pk, key);
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

void
mpframe_kv_bin(msgpack_packer *pk, const char *key, const void *p,
    size_t len)
{
	mpframe_key(pk, key);
	msgpack_pack_bin(pk, len);
	msgpack_pack_bin_body(pk, p, len);
}

const msgpack_object *
mpframe_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);
	uint32_t i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == klen &&
		    memcmp(kv->key.via.str.ptr, key, klen) == 0)
			return &kv->val;
	}
	return NULL;
}

int
mpframe_get_str(const msgpack_object *map, const char *key, const char **s,
    size_t *len)
{
	const msgpack_object *o = mpframe_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return -1;
	*s = o->via.str.ptr;
	*len = o->via.str.size;
	return 0;
}

int
mpframe_get_int(const msgpack_object *map, const char *key, int64_t *v)
{
	const msgpack_object *o = mpframe_get(map, key);

	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return 0;
	}
	return -1;
}

int
mpframe_get_uint(const msgpack_object *map, const char *key, uint64_t *v)
{
	const msgpack_object *o = mpframe_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -1;
	*v = o->via.u64;
	return 0;
}

int
mpframe_get_bool(const msgpack_object *map, const char *key, bool *v)
{
	const msgpack_object *o = mpframe_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	*v = o->via.boolean;
	return 0;
}

int
mpframe_get_bin(const msgpack_object *map, const char *key, const void **p,
    size_t *len)
{
	const msgpack_object *o = mpframe_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_BIN)
		return -1;
	*p = o->via.bin.ptr;
	*len = o->via.bin.size;
	return 0;
}

int
mpframe_get_strbuf(const msgpack_object *map, const char *key, char *buf,
    size_t buflen)
{
	const char *s;
	size_t len;

	if (mpframe_get_str(map, key, &s, &len) == -1 || buflen == 0 ||
	    len > buflen - 1 || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

const msgpack_object *
mpframe_get_map(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = mpframe_get(map, key);

	return o != NULL && o->type == MSGPACK_OBJECT_MAP ? o : NULL;
}

const msgpack_object *
mpframe_get_array(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = mpframe_get(map, key);

	return o != NULL && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}
