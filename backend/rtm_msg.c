/*
 * rtm_msg: what RTM clients send, and the acks they get back.
 *
 * A client message is one WebSocket text message holding a JSON object:
 *
 *   {"id":1,"type":"message","channel":"C..","text":"hi","thread_ts":".."}
 *   {"id":2,"type":"typing","channel":"C.."}
 *   {"id":3,"type":"ping","time":123}        any extra field is echoed
 *   {"id":4,"type":"presence_sub","ids":["U..",...]}
 *
 * The JSON goes through the Web API's parser (api_json_parse), so the
 * same limits hold: nesting, node count, valid UTF-8, no duplicate keys.
 * Acks carry the id back as reply_to, whatever its JSON type was.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"

#include "backend/backend.h"


static const struct {
	const char *name;
	enum rtm_msg_type type;
} rtm_msg_types[] = {
	{ "ping", RTM_MSG_PING },
	{ "message", RTM_MSG_MESSAGE },
	{ "typing", RTM_MSG_TYPING },
	{ "presence_sub", RTM_MSG_PRESENCE_SUB },
};

void
rtm_msg_clear(struct rtm_msg *m)
{
	json_decref(m->obj);
	memset(m, 0, sizeof(*m));
}

/* An id is an integer or a short string; anything else is refused. */
static int
rtm_msg_id_ok(const json_t *id)
{
	if (json_is_integer(id))
		return 1;
	return json_is_string(id) && json_string_length(id) > 0 &&
	    json_string_length(id) <= RTM_ID_STR_MAX;
}

/* A channel id of any kind: C, G or D and ten more characters. */
static int
rtm_msg_channel_ok(const char *ch)
{
	return ch != NULL && (store_id_valid(ch, 'C') ||
	    store_id_valid(ch, 'G') || store_id_valid(ch, 'D'));
}

/* The fields of a message send; returns NULL or the error name. */
static const char *
rtm_msg_message(struct rtm_msg *m)
{
	const json_t *t = json_object_get(m->obj, "text");
	const json_t *th = json_object_get(m->obj, "thread_ts");
	uint64_t ts;

	if (!rtm_msg_channel_ok(m->channel))
		return "bad_channel";
	if (t != NULL && !json_is_string(t))
		return "no_text";
	m->text = json_string_value(t);
	if (m->text == NULL || m->text[0] == '\0')
		return "no_text";
	if (api_utf8_len(m->text) > RTM_TEXT_MAX)
		return "msg_too_long";
	if (th != NULL) {
		m->thread_ts = json_string_value(th);
		if (m->thread_ts == NULL ||
		    store_ts_parse(m->thread_ts, &ts) == -1)
			return "bad_thread_ts";
	}
	return NULL;
}

/* presence_sub: an array of at most max user ids. */
static const char *
rtm_msg_presence(struct rtm_msg *m, size_t max_ids)
{
	const json_t *ids = json_object_get(m->obj, "ids");
	const json_t *v;
	size_t i;

	if (!json_is_array(ids) || json_array_size(ids) > max_ids)
		return "bad_ids";
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v) ||
		    !store_id_valid(json_string_value(v), 'U'))
			return "bad_ids";
	}
	m->ids = ids;
	return NULL;
}

int
rtm_msg_parse(const char *data, size_t len, size_t max_ids,
    struct rtm_msg *m, const char **err)
{
	const json_t *id;
	size_t i;

	memset(m, 0, sizeof(*m));
	m->obj = api_json_parse(data, len);
	if (m->obj == NULL) {
		*err = "invalid_json";
		return -1;
	}
	if (!json_is_object(m->obj)) {
		*err = "not_an_object";
		goto fail;
	}
	id = json_object_get(m->obj, "id");
	if (id != NULL) {
		if (!rtm_msg_id_ok(id)) {
			*err = "bad_id";
			goto fail;
		}
		m->id = id;
	}
	m->type_str = json_get_str(m->obj, "type");
	if (m->type_str == NULL || m->type_str[0] == '\0') {
		*err = "no_type";
		return -1;
	}
	m->type = RTM_MSG_OTHER;
	for (i = 0; i < sizeof(rtm_msg_types) / sizeof(rtm_msg_types[0]);
	    i++)
		if (strcmp(m->type_str, rtm_msg_types[i].name) == 0)
			m->type = rtm_msg_types[i].type;
	m->channel = json_get_str(m->obj, "channel");

	*err = NULL;
	switch (m->type) {
	case RTM_MSG_MESSAGE:
		*err = rtm_msg_message(m);
		break;
	case RTM_MSG_TYPING:
		if (!rtm_msg_channel_ok(m->channel))
			*err = "bad_channel";
		break;
	case RTM_MSG_PRESENCE_SUB:
		*err = rtm_msg_presence(m, max_ids);
		break;
	case RTM_MSG_PING:
	case RTM_MSG_OTHER:
		break;
	}
	return *err == NULL ? 0 : -1;

fail:
	/* The object stays for the caller's rtm_msg_clear(). */
	m->id = NULL;
	return -1;
}

/* Serialises o (stolen) into a new string. */
static char *
rtm_dump(json_t *o, size_t *len)
{
	char *s = json_dump_compact(o, len);

	json_decref(o);
	return s;
}

char *
rtm_ack_ok(const json_t *id, const json_t *extra, size_t *len)
{
	json_t *o = json_pack("{s:b}", "ok", 1);

	if (id != NULL)
		json_object_set(o, "reply_to", (json_t *)id);
	if (extra != NULL)
		json_object_update(o, (json_t *)extra);
	return rtm_dump(o, len);
}

char *
rtm_ack_error(const json_t *id, int code, const char *msg, size_t *len)
{
	json_t *o = json_pack("{s:b,s:{s:i,s:s}}", "ok", 0, "error", "code",
	    code, "msg", msg);

	if (id != NULL)
		json_object_set(o, "reply_to", (json_t *)id);
	return rtm_dump(o, len);
}

char *
rtm_pong(const struct rtm_msg *m, size_t *len)
{
	json_t *o = json_pack("{s:s}", "type", "pong");
	const char *k;
	json_t *v;

	json_object_foreach(m->obj, k, v) {
		if (strcmp(k, "type") != 0 && strcmp(k, "id") != 0)
			json_object_set(o, k, v);
	}
	if (m->id != NULL)
		json_object_set(o, "reply_to", (json_t *)m->id);
	return rtm_dump(o, len);
}
