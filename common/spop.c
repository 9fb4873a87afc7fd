/*
 * spop: SPOP 2.0 codec.  See spop.h for the conventions: readers take a
 * cursor and the end of the enclosing frame and never read past it;
 * writers take a cursor and the end of the output and leave the cursor
 * alone when they run out of room.
 */
#include <string.h>

#include "spop.h"

/* Reads a big-endian 32-bit value. */
static uint32_t
spop_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
spop_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/*
 * The varint encoding: values below 240 take one byte.  Larger ones set
 * the low four bits of a first byte at or above 240, then carry seven
 * bits per byte, each byte but the last with its top bit set.  A 64-bit
 * value never needs more than SPOP_VARINT_MAX bytes, so an encoding that
 * runs longer is malformed.
 */
int
spop_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	const uint8_t *q = *p;
	unsigned int shift = 4, n;
	uint64_t r;

	if (q >= end)
		return -1;
	r = *q++;
	if (r >= 240) {
		for (n = 1;; n++) {
			if (q >= end || n >= SPOP_VARINT_MAX)
				return -1;
			r += (uint64_t)*q << shift;
			shift += 7;
			if (*q++ < 128)
				break;
		}
	}

	*v = r;
	*p = q;
	return 0;
}

size_t
spop_varint_len(uint64_t v)
{
	size_t n = 1;

	if (v < 240)
		return 1;
	v = (v - 240) >> 4;
	while (v >= 128) {
		v = (v - 128) >> 7;
		n++;
	}
	return n + 1;
}

int
spop_varint_put(uint8_t **p, uint8_t *end, uint64_t v)
{
	uint8_t *q = *p;

	if ((size_t)(end - q) < spop_varint_len(v))
		return -1;

	if (v < 240) {
		*q++ = v;
	} else {
		*q++ = (uint8_t)v | 240;
		v = (v - 240) >> 4;
		while (v >= 128) {
			*q++ = (uint8_t)v | 128;
			v = (v - 128) >> 7;
		}
		*q++ = v;
	}

	*p = q;
	return 0;
}

int
spop_str_get(const uint8_t **p, const uint8_t *end, const char **s,
    size_t *len)
{
	const uint8_t *q = *p;
	uint64_t n;

	if (spop_varint_get(&q, end, &n) == -1)
		return -1;
	if (n > (uint64_t)(end - q))
		return -1;

	*s = (const char *)q;
	*len = n;
	*p = q + n;
	return 0;
}

int
spop_str_put(uint8_t **p, uint8_t *end, const char *s, size_t len)
{
	uint8_t *q = *p;

	if (spop_varint_put(&q, end, len) == -1)
		return -1;
	if ((size_t)(end - q) < len)
		return -1;
	if (len > 0)
		memcpy(q, s, len);
	*p = q + len;
	return 0;
}

int
spop_data_get(const uint8_t **p, const uint8_t *end, struct spop_data *d)
{
	const uint8_t *q = *p;
	uint64_t u;
	uint8_t t;

	if (q >= end)
		return -1;
	t = *q++;
	memset(d, 0, sizeof(*d));
	d->type = t & SPOP_TYPE_MASK;

	switch (d->type) {
	case SPOP_T_NULL:
		break;
	case SPOP_T_BOOL:
		d->v.b = (t & SPOP_BOOL_TRUE) != 0;
		break;
	case SPOP_T_INT32:
	case SPOP_T_INT64:
		if (spop_varint_get(&q, end, &u) == -1)
			return -1;
		d->v.i = (int64_t)u;
		break;
	case SPOP_T_UINT32:
	case SPOP_T_UINT64:
		if (spop_varint_get(&q, end, &u) == -1)
			return -1;
		d->v.u = u;
		break;
	case SPOP_T_IPV4:
	case SPOP_T_IPV6: {
		size_t n = d->type == SPOP_T_IPV4 ? 4 : 16;

		if ((size_t)(end - q) < n)
			return -1;
		memcpy(d->v.addr, q, n);
		q += n;
		break;
	}
	case SPOP_T_STR:
	case SPOP_T_BIN:
		if (spop_str_get(&q, end, &d->v.s.ptr, &d->v.s.len) == -1)
			return -1;
		break;
	default:
		/* Types 10 to 15 are reserved. */
		return -1;
	}

	*p = q;
	return 0;
}

int
spop_data_put(uint8_t **p, uint8_t *end, const struct spop_data *d)
{
	uint8_t *q = *p;
	size_t n;

	if (q >= end)
		return -1;

	switch (d->type) {
	case SPOP_T_NULL:
		*q++ = SPOP_T_NULL;
		break;
	case SPOP_T_BOOL:
		*q++ = SPOP_T_BOOL | (d->v.b ? SPOP_BOOL_TRUE : 0);
		break;
	case SPOP_T_INT32:
	case SPOP_T_INT64:
		*q++ = d->type;
		if (spop_varint_put(&q, end, (uint64_t)d->v.i) == -1)
			return -1;
		break;
	case SPOP_T_UINT32:
	case SPOP_T_UINT64:
		*q++ = d->type;
		if (spop_varint_put(&q, end, d->v.u) == -1)
			return -1;
		break;
	case SPOP_T_IPV4:
	case SPOP_T_IPV6:
		n = d->type == SPOP_T_IPV4 ? 4 : 16;
		if ((size_t)(end - q) < n + 1)
			return -1;
		*q++ = d->type;
		memcpy(q, d->v.addr, n);
		q += n;
		break;
	case SPOP_T_STR:
	case SPOP_T_BIN:
		*q++ = d->type;
		if (spop_str_put(&q, end, d->v.s.ptr, d->v.s.len) == -1)
			return -1;
		break;
	default:
		return -1;
	}

	*p = q;
	return 0;
}

int
spop_kv_next(const uint8_t **p, const uint8_t *end, const char **name,
    size_t *name_len, struct spop_data *val)
{
	const uint8_t *q = *p;

	if (q >= end)
		return 0;
	if (spop_str_get(&q, end, name, name_len) == -1)
		return -1;
	if (spop_data_get(&q, end, val) == -1)
		return -1;

	*p = q;
	return 1;
}

int
spop_msg_next(const uint8_t **p, const uint8_t *end, struct spop_msg *msg)
{
	const uint8_t *q = *p;
	struct spop_data val;
	const char *name;
	size_t name_len;
	unsigned int i;

	if (q >= end)
		return 0;
	if (spop_str_get(&q, end, &msg->name, &msg->name_len) == -1)
		return -1;
	if (q >= end)
		return -1;
	msg->nargs = *q++;
	msg->args = q;

	for (i = 0; i < msg->nargs; i++)
		if (spop_kv_next(&q, end, &name, &name_len, &val) != 1)
			return -1;

	msg->args_end = q;
	*p = q;
	return 1;
}

ssize_t
spop_frame_parse(const uint8_t *buf, size_t len, uint32_t max_frame_size,
    struct spop_frame *f, int *status)
{
	const uint8_t *p, *end;
	uint32_t flen;

	if (len < 4)
		return 0;
	flen = spop_get_be32(buf);
	if (flen > max_frame_size) {
		*status = SPOP_ST_TOO_BIG;
		return -1;
	}
	if (flen < SPOP_FRAME_MIN) {
		*status = SPOP_ST_INVALID;
		return -1;
	}
	if (len - 4 < flen)
		return 0;

	p = buf + 4;
	end = p + flen;
	f->type = *p++;
	f->flags = spop_get_be32(p);
	p += 4;
	if (spop_varint_get(&p, end, &f->stream_id) == -1 ||
	    spop_varint_get(&p, end, &f->frame_id) == -1) {
		*status = SPOP_ST_INVALID;
		return -1;
	}
	f->payload = p;
	f->payload_len = end - p;
	return (ssize_t)flen + 4;
}

uint8_t *
spop_frame_start(uint8_t **p, uint8_t *end, uint8_t type, uint32_t flags,
    uint64_t stream_id, uint64_t frame_id)
{
	uint8_t *start = *p, *q = *p;

	if (end - q < 9)
		return NULL;
	q += 4;
	*q++ = type;
	spop_put_be32(q, flags);
	q += 4;
	if (spop_varint_put(&q, end, stream_id) == -1 ||
	    spop_varint_put(&q, end, frame_id) == -1)
		return NULL;

	*p = q;
	return start;
}

void
spop_frame_finish(uint8_t *start, const uint8_t *p)
{
	spop_put_be32(start, (uint32_t)(p - start - 4));
}

int
spop_kv_put(uint8_t **p, uint8_t *end, const char *name,
    const struct spop_data *val)
{
	uint8_t *q = *p;

	if (spop_str_put(&q, end, name, strlen(name)) == -1 ||
	    spop_data_put(&q, end, val) == -1)
		return -1;
	*p = q;
	return 0;
}

int
spop_kv_put_str(uint8_t **p, uint8_t *end, const char *name, const char *val)
{
	struct spop_data d;

	d.type = SPOP_T_STR;
	d.v.s.ptr = val;
	d.v.s.len = strlen(val);
	return spop_kv_put(p, end, name, &d);
}

int
spop_kv_put_uint(uint8_t **p, uint8_t *end, const char *name, uint32_t val)
{
	struct spop_data d;

	d.type = SPOP_T_UINT32;
	d.v.u = val;
	return spop_kv_put(p, end, name, &d);
}

int
spop_action_set_var(uint8_t **p, uint8_t *end, uint8_t scope,
    const char *name, size_t name_len, const struct spop_data *val)
{
	uint8_t *q = *p;

	if (end - q < 3)
		return -1;
	*q++ = SPOP_ACT_SET_VAR;
	*q++ = 3;
	*q++ = scope;
	if (spop_str_put(&q, end, name, name_len) == -1 ||
	    spop_data_put(&q, end, val) == -1)
		return -1;
	*p = q;
	return 0;
}

int
spop_action_unset_var(uint8_t **p, uint8_t *end, uint8_t scope,
    const char *name, size_t name_len)
{
	uint8_t *q = *p;

	if (end - q < 3)
		return -1;
	*q++ = SPOP_ACT_UNSET_VAR;
	*q++ = 2;
	*q++ = scope;
	if (spop_str_put(&q, end, name, name_len) == -1)
		return -1;
	*p = q;
	return 0;
}

/*
 * Walks a comma-separated list, calling match on each item with spaces
 * trimmed.  Returns 1 as soon as match does, else 0.
 */
static int
spop_list_walk(const char *list, size_t len,
    int (*match)(const char *, size_t, const void *), const void *arg)
{
	size_t i = 0, b, e;

	while (i <= len) {
		b = i;
		while (i < len && list[i] != ',')
			i++;
		e = i;
		while (b < e && list[b] == ' ')
			b++;
		while (e > b && list[e - 1] == ' ')
			e--;
		if (e > b && match(list + b, e - b, arg))
			return 1;
		i++;
	}
	return 0;
}

static int
spop_match_item(const char *s, size_t n, const void *arg)
{
	const char *item = arg;

	return strlen(item) == n && memcmp(s, item, n) == 0;
}

/* Matches a version "2.<digits>" (or a bare "2"). */
static int
spop_match_v2(const char *s, size_t n, const void *arg)
{
	size_t i;

	(void)arg;
	if (n < 1 || s[0] != '2')
		return 0;
	if (n == 1)
		return 1;
	if (s[1] != '.' || n == 2)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int
spop_list_has(const char *list, size_t len, const char *item)
{
	return spop_list_walk(list, len, spop_match_item, item);
}

int
spop_versions_support2(const char *list, size_t len)
{
	return spop_list_walk(list, len, spop_match_v2, NULL);
}

static int
spop_name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(name, want, len) == 0;
}

/* Reads an unsigned frame size from any integer type; -1 otherwise. */
static int
spop_data_uint32(const struct spop_data *d, uint32_t *out)
{
	switch (d->type) {
	case SPOP_T_UINT32:
	case SPOP_T_UINT64:
		*out = d->v.u > UINT32_MAX ? UINT32_MAX : (uint32_t)d->v.u;
		return 0;
	case SPOP_T_INT32:
	case SPOP_T_INT64:
		if (d->v.i < 0)
			return -1;
		*out = (uint64_t)d->v.i > UINT32_MAX ? UINT32_MAX
						     : (uint32_t)d->v.i;
		return 0;
	default:
		return -1;
	}
}

int
spop_hello_parse(const struct spop_frame *f, struct spop_hello *h,
    int *status)
{
	const uint8_t *p = f->payload, *end = f->payload + f->payload_len;
	struct spop_data v;
	const char *name;
	size_t nlen;
	int r;

	memset(h, 0, sizeof(*h));
	*status = SPOP_ST_INVALID;
	if (f->stream_id != 0 || f->frame_id != 0)
		return -1;
	if (!(f->flags & SPOP_FLAG_FIN))
		return -1;

	while ((r = spop_kv_next(&p, end, &name, &nlen, &v)) == 1) {
		if (spop_name_is(name, nlen, "supported-versions")) {
			if (v.type != SPOP_T_STR)
				return -1;
			h->versions = v.v.s.ptr;
			h->versions_len = v.v.s.len;
			h->has_versions = 1;
		} else if (spop_name_is(name, nlen, "max-frame-size")) {
			if (spop_data_uint32(&v, &h->max_frame_size) == -1)
				return -1;
			h->has_frame_size = 1;
		} else if (spop_name_is(name, nlen, "capabilities")) {
			if (v.type != SPOP_T_STR)
				return -1;
			h->capabilities = v.v.s.ptr;
			h->capabilities_len = v.v.s.len;
			h->has_capabilities = 1;
		} else if (spop_name_is(name, nlen, "healthcheck")) {
			if (v.type != SPOP_T_BOOL)
				return -1;
			h->healthcheck = v.v.b != 0;
		} else if (spop_name_is(name, nlen, "engine-id")) {
			if (v.type != SPOP_T_STR)
				return -1;
			h->engine_id = v.v.s.ptr;
			h->engine_id_len = v.v.s.len;
		}
		/* Other items are unknown to SPOP 2.0 and skipped. */
	}
	if (r == -1)
		return -1;

	if (!h->has_versions) {
		*status = SPOP_ST_NO_VERSION;
		return -1;
	}
	if (!h->has_frame_size) {
		*status = SPOP_ST_NO_FRAME_SIZE;
		return -1;
	}
	if (!h->has_capabilities) {
		*status = SPOP_ST_NO_CAPABILITIES;
		return -1;
	}
	if (!spop_versions_support2(h->versions, h->versions_len)) {
		*status = SPOP_ST_BAD_VERSION;
		return -1;
	}
	if (h->max_frame_size < SPOP_MIN_FRAME_SIZE) {
		*status = SPOP_ST_BAD_FRAME_SIZE;
		return -1;
	}

	*status = SPOP_ST_NORMAL;
	return 0;
}

int
spop_agent_hello_parse(const struct spop_frame *f, uint32_t max_frame_size,
    struct spop_agent_hello *ah, int *status)
{
	const uint8_t *p = f->payload, *end = f->payload + f->payload_len;
	int has_version = 0, has_size = 0, has_caps = 0, r;
	struct spop_data v;
	const char *name;
	size_t nlen;

	memset(ah, 0, sizeof(*ah));
	*status = SPOP_ST_INVALID;
	if (f->type != SPOP_FRAME_AGENT_HELLO || f->stream_id != 0 ||
	    f->frame_id != 0)
		return -1;

	while ((r = spop_kv_next(&p, end, &name, &nlen, &v)) == 1) {
		if (spop_name_is(name, nlen, "version")) {
			if (v.type != SPOP_T_STR)
				return -1;
			ah->version = v.v.s.ptr;
			ah->version_len = v.v.s.len;
			has_version = 1;
		} else if (spop_name_is(name, nlen, "max-frame-size")) {
			if (spop_data_uint32(&v, &ah->max_frame_size) == -1)
				return -1;
			has_size = 1;
		} else if (spop_name_is(name, nlen, "capabilities")) {
			if (v.type != SPOP_T_STR)
				return -1;
			ah->capabilities = v.v.s.ptr;
			ah->capabilities_len = v.v.s.len;
			has_caps = 1;
		}
	}
	if (r == -1)
		return -1;

	if (!has_version) {
		*status = SPOP_ST_NO_VERSION;
		return -1;
	}
	if (!has_size) {
		*status = SPOP_ST_NO_FRAME_SIZE;
		return -1;
	}
	if (!has_caps) {
		*status = SPOP_ST_NO_CAPABILITIES;
		return -1;
	}
	if (!spop_versions_support2(ah->version, ah->version_len)) {
		*status = SPOP_ST_BAD_VERSION;
		return -1;
	}
	if (ah->max_frame_size < SPOP_MIN_FRAME_SIZE ||
	    ah->max_frame_size > max_frame_size) {
		*status = SPOP_ST_BAD_FRAME_SIZE;
		return -1;
	}

	*status = SPOP_ST_NORMAL;
	return 0;
}

int
spop_disconnect_parse(const struct spop_frame *f, uint32_t *status,
    const char **msg, size_t *msg_len)
{
	const uint8_t *p = f->payload, *end = f->payload + f->payload_len;
	struct spop_data v;
	const char *name;
	size_t nlen;
	int r;

	*status = SPOP_ST_UNKNOWN;
	*msg = "";
	*msg_len = 0;
	while ((r = spop_kv_next(&p, end, &name, &nlen, &v)) == 1) {
		if (spop_name_is(name, nlen, "status-code")) {
			if (spop_data_uint32(&v, status) == -1)
				return -1;
		} else if (spop_name_is(name, nlen, "message")) {
			if (v.type != SPOP_T_STR)
				return -1;
			*msg = v.v.s.ptr;
			*msg_len = v.v.s.len;
		}
	}
	return r;
}

ssize_t
spop_build_haproxy_hello(uint8_t *buf, size_t size, uint32_t max_frame_size,
    const char *capabilities, int healthcheck, const char *engine_id)
{
	uint8_t *p = buf, *end = buf + size, *start;
	struct spop_data t;

	start = spop_frame_start(&p, end, SPOP_FRAME_HAPROXY_HELLO,
	    SPOP_FLAG_FIN, 0, 0);
	if (start == NULL ||
	    spop_kv_put_str(&p, end, "supported-versions", SPOP_VERSION) ==
		-1 ||
	    spop_kv_put_uint(&p, end, "max-frame-size", max_frame_size) ==
		-1 ||
	    spop_kv_put_str(&p, end, "capabilities", capabilities) == -1)
		return -1;

	if (healthcheck) {
		t.type = SPOP_T_BOOL;
		t.v.b = 1;
		if (spop_kv_put(&p, end, "healthcheck", &t) == -1)
			return -1;
	}
	if (engine_id != NULL &&
	    spop_kv_put_str(&p, end, "engine-id", engine_id) == -1)
		return -1;

	spop_frame_finish(start, p);
	return p - buf;
}

ssize_t
spop_build_agent_hello(uint8_t *buf, size_t size, uint32_t max_frame_size,
    const char *capabilities)
{
	uint8_t *p = buf, *end = buf + size, *start;

	start = spop_frame_start(&p, end, SPOP_FRAME_AGENT_HELLO,
	    SPOP_FLAG_FIN, 0, 0);
	if (start == NULL ||
	    spop_kv_put_str(&p, end, "version", SPOP_VERSION) == -1 ||
	    spop_kv_put_uint(&p, end, "max-frame-size", max_frame_size) ==
		-1 ||
	    spop_kv_put_str(&p, end, "capabilities", capabilities) == -1)
		return -1;

	spop_frame_finish(start, p);
	return p - buf;
}

ssize_t
spop_build_disconnect(uint8_t *buf, size_t size, uint8_t type,
    uint32_t status, const char *message)
{
	uint8_t *p = buf, *end = buf + size, *start;

	start = spop_frame_start(&p, end, type, SPOP_FLAG_FIN, 0, 0);
	if (start == NULL ||
	    spop_kv_put_uint(&p, end, "status-code", status) == -1 ||
	    spop_kv_put_str(&p, end, "message", message) == -1)
		return -1;

	spop_frame_finish(start, p);
	return p - buf;
}

const char *
spop_status_str(uint32_t status)
{
	switch (status) {
	case SPOP_ST_NORMAL:
		return "normal";
	case SPOP_ST_IO:
		return "I/O error";
	case SPOP_ST_TIMEOUT:
		return "a timeout occurred";
	case SPOP_ST_TOO_BIG:
		return "frame is too big";
	case SPOP_ST_INVALID:
		return "invalid frame received";
	case SPOP_ST_NO_VERSION:
		return "version value not found";
	case SPOP_ST_NO_FRAME_SIZE:
		return "max-frame-size value not found";
	case SPOP_ST_NO_CAPABILITIES:
		return "capabilities value not found";
	case SPOP_ST_BAD_VERSION:
		return "unsupported version";
	case SPOP_ST_BAD_FRAME_SIZE:
		return "max-frame-size too big or too small";
	case SPOP_ST_FRAG_NOT_SUPPORTED:
		return "payload fragmentation is not supported";
	case SPOP_ST_INTERLACED:
		return "invalid interlaced frames";
	case SPOP_ST_FRAMEID_NOTFOUND:
		return "frame-id not found";
	case SPOP_ST_RES_ALLOC:
		return "resource allocation error";
	default:
		return "an unknown error occurred";
	}
}

const char *
spop_frame_type_str(uint8_t type)
{
	switch (type) {
	case SPOP_FRAME_UNSET:
		return "UNSET";
	case SPOP_FRAME_HAPROXY_HELLO:
		return "HAPROXY-HELLO";
	case SPOP_FRAME_HAPROXY_DISCONNECT:
		return "HAPROXY-DISCONNECT";
	case SPOP_FRAME_NOTIFY:
		return "NOTIFY";
	case SPOP_FRAME_AGENT_HELLO:
		return "AGENT-HELLO";
	case SPOP_FRAME_AGENT_DISCONNECT:
		return "AGENT-DISCONNECT";
	case SPOP_FRAME_ACK:
		return "ACK";
	default:
		return "unknown";
	}
}
