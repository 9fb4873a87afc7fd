/*
 * api_chat: chat.postMessage, chat.update, chat.delete.
 *
 * Each is a write: it runs on the store's writer thread inside the commit
 * and is answered once the commit is durable.  Blocks and attachments
 * are kept as given and returned unchanged; a post with blocks or
 * attachments and no text is valid.  A client_msg_id seen before in the
 * channel returns the stored message instead of posting again.
 */
#include <string.h>

#include "json.h"
#include "util.h"

#include "backend/backend.h"

#define API_TEXT_MAX    40000 /* characters of text */
#define API_BLOCKS_MAX  50
#define API_ATTACH_MAX  100

/* Every element an object with a string "type". */
static int
api_blocks_ok(json_t *a)
{
	size_t i;
	json_t *b;

	if (json_array_size(a) > API_BLOCKS_MAX)
		return 0;
	json_array_foreach(a, i, b)
		if (!json_is_object(b) || json_get_str(b, "type") == NULL)
			return 0;
	return 1;
}

static int
api_attachments_ok(json_t *a)
{
	size_t i;
	json_t *b;

	json_array_foreach(a, i, b)
		if (!json_is_object(b))
			return 0;
	return 1;
}

/*
 * Reads text, blocks and attachments from the arguments.  Returns 0 with
 * new references (or NULL when absent) or an error name.
 */
static const char *
api_msg_content(json_t *args, const char **text, json_t **blocks,
    json_t **atts)
{
	const char *err = NULL;

	*blocks = *atts = NULL;
	*text = api_arg_str(args, "text");
	if (*text != NULL && api_utf8_len(*text) > API_TEXT_MAX)
		return "msg_too_long";
	*blocks = api_arg_json_array(args, "blocks", "invalid_blocks_format",
	    &err);
	if (err != NULL)
		return err;
	if (*blocks != NULL && !api_blocks_ok(*blocks)) {
		json_decref(*blocks);
		*blocks = NULL;
		return "invalid_blocks";
	}
	*atts = api_arg_json_array(args, "attachments", "invalid_attachments",
	    &err);
	if (err == NULL && *atts != NULL && !api_attachments_ok(*atts))
		err = "invalid_attachments";
	if (err == NULL && json_array_size(*atts) > API_ATTACH_MAX)
		err = "too_many_attachments";
	if (err != NULL) {
		json_decref(*blocks);
		json_decref(*atts);
		*blocks = *atts = NULL;
		return err;
	}
	if ((*text == NULL || **text == '\0') &&
	    json_array_size(*blocks) == 0 && json_array_size(*atts) == 0) {
		json_decref(*blocks);
		json_decref(*atts);
		*blocks = *atts = NULL;
		return "no_text";
	}
	return NULL;
}

/*
 * The channel of a write, checked as api_chan_get() and then some:
 * visible to the caller, not archived, and the caller a member.  The
 * record's flags are read from its text, not decoded (this runs on the
 * writer thread for every post).  Returns the channel id (the argument's
 * string) or NULL with c->werr set.
 */
static const char *
api_write_chan(struct store_txn *txn, struct api_call *c)
{
	const char *id = api_arg_str(c->args, "channel");
	struct store_chan_flags fl;
	int member = -1;

	if (id == NULL || (id[0] != 'C' && id[0] != 'G' && id[0] != 'D') ||
	    !store_id_valid(id, id[0]) ||
	    store_txn_channel_flags(txn, id, &fl) != STORE_OK ||
	    strcmp(fl.team, c->who.team) != 0)
		goto not_found;
	if (!fl.is_channel || fl.is_private) {
		member = store_txn_is_member(txn, id, c->who.user) == 1;
		if (!member)
			goto not_found;
	}
	if (fl.is_archived) {
		api_err(c, "is_archived");
		return NULL;
	}
	if (member == -1)
		member = store_txn_is_member(txn, id, c->who.user) == 1;
	if (!member) {
		api_err(c, "not_in_channel");
		return NULL;
	}
	return id;

not_found:
	api_err(c, "channel_not_found");
	return NULL;
}

static int
chat_post(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	const char *text, *err, *cmid, *chan;
	json_t *blocks, *atts, *msg, *parent;
	uint64_t thread_ts = 0, ts = 0;
	char tsbuf[STORE_TS_SIZE];
	int broadcast, rc;

	chan = api_write_chan(txn, c);
	if (chan == NULL)
		return STORE_ERR_USER;
	if ((err = api_msg_content(c->args, &text, &blocks, &atts)) != NULL)
		return api_werr(c, err);
	msg = json_pack("{s:s,s:s,s:s,s:s}", "type", "message",
	    "user", c->who.user, "text", text != NULL ? text : "",
	    "team", c->who.team);
	if (blocks != NULL)
		json_object_set_new(msg, "blocks", blocks);
	if (atts != NULL)
		json_object_set_new(msg, "attachments", atts);

	err = NULL;
	if (api_arg_ts(c->args, "thread_ts", &thread_ts) == -1) {
		err = "invalid_thread_ts";
		goto fail;
	}
	if (thread_ts != 0) {
		parent = store_txn_message_get(txn, chan, thread_ts);
		if (parent == NULL) {
			err = "thread_not_found";
			goto fail;
		}
		/* A reply to a reply joins the parent's thread. */
		if (json_get_str(parent, "thread_ts") != NULL)
			store_ts_parse(json_get_str(parent, "thread_ts"),
			    &thread_ts);
		json_decref(parent);
		store_ts_format(thread_ts, tsbuf);
		json_object_set_new(msg, "thread_ts", json_string(tsbuf));
		broadcast = api_arg_bool(c->args, "reply_broadcast", 0, &err);
		if (broadcast == -1)
			goto fail;
		if (broadcast)
			json_object_set_new(msg, "subtype",
			    json_string("thread_broadcast"));
	}
	cmid = api_arg_str(c->args, "client_msg_id");
	if (cmid != NULL && *cmid != '\0') {
		if (strlen(cmid) > STORE_CMID_MAX) {
			err = "invalid_arguments";
			goto fail;
		}
		json_object_set_new(msg, "client_msg_id", json_string(cmid));
	}

	rc = store_op_message_post(txn, chan, msg, &ts);
	if (rc == STORE_ERR_EXISTS) {
		/* A repeat: answer with the message stored the first time. */
		json_decref(msg);
		msg = store_txn_message_get(txn, chan, ts);
		if (msg == NULL)
			return STORE_ERR_INTERNAL;
		rc = STORE_OK;
	}
	if (rc != STORE_OK) {
		json_decref(msg);
		return rc;
	}
	store_ts_format(ts, tsbuf);
	c->result = json_pack("{s:s,s:s,s:o}", "channel", chan, "ts", tsbuf,
	    "message", msg);
	return STORE_OK;

fail:
	json_decref(msg);
	return api_werr(c, err);
}

/* The message ts of a chat.update or chat.delete and the message. */
static json_t *
api_write_msg(struct store_txn *txn, struct api_call *c, const char *chan,
    uint64_t *ts)
{
	json_t *m;

	if (api_arg_ts(c->args, "ts", ts) == -1 || *ts == 0) {
		api_err(c, "message_not_found");
		return NULL;
	}
	m = store_txn_message_get(txn, chan, *ts);
	if (m == NULL)
		api_err(c, "message_not_found");
	return m;
}

static int
chat_update(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	const char *text, *err, *chan, *author;
	json_t *blocks, *atts, *m, *old, *ev;
	uint64_t ts;
	char tsbuf[STORE_TS_SIZE], now[STORE_TS_SIZE], ref[64];
	int rc;

	chan = api_write_chan(txn, c);
	if (chan == NULL)
		return STORE_ERR_USER;
	m = api_write_msg(txn, c, chan, &ts);
	if (m == NULL)
		return STORE_ERR_USER;
	author = json_get_str(m, "user");
	if (author == NULL || strcmp(author, c->who.user) != 0 ||
	    (json_get_str(m, "subtype") != NULL &&
	    strcmp(json_get_str(m, "subtype"), "thread_broadcast") != 0)) {
		json_decref(m);
		return api_werr(c, "cant_update_message");
	}
	if ((err = api_msg_content(c->args, &text, &blocks, &atts)) != NULL) {
		json_decref(m);
		return api_werr(c, err);
	}

	old = json_deep_copy(m);
	if (text != NULL)
		json_object_set_new(m, "text", json_string(text));
	if (blocks != NULL)
		json_object_set_new(m, "blocks", blocks);
	if (atts != NULL)
		json_object_set_new(m, "attachments", atts);
	api_ts_now(now);
	json_object_set_new(m, "edited", json_pack("{s:s,s:s}", "user",
	    c->who.user, "ts", now));
	rc = store_txn_message_put(txn, chan, m, NULL);
	if (rc == STORE_OK) {
		store_ts_format(ts, tsbuf);
		snprintf(ref, sizeof(ref), "%s/%s", chan, tsbuf);
		ev = json_pack("{s:s,s:s,s:b,s:s,s:s,s:O,s:O}", "type",
		    "message", "subtype", "message_changed", "hidden", 1,
		    "channel", chan, "ts", now, "message", m,
		    "previous_message", old);
		rc = api_event(txn, c->who.team, ev, ref);
	}
	if (rc == STORE_OK)
		c->result = json_pack("{s:s,s:s,s:s,s:O}", "channel", chan,
		    "ts", tsbuf, "text", json_get_str(m, "text") ?
		    json_get_str(m, "text") : "", "message", m);
	json_decref(old);
	json_decref(m);
	return rc;
}

static int
chat_delete(struct store_txn *txn, void *arg)
{
	struct api_call *c = arg;
	const char *chan, *author;
	json_t *ch, *m;
	uint64_t ts;
	char tsbuf[STORE_TS_SIZE];
	int rc;

	ch = api_chan_get(txn, &c->who, api_arg_str(c->args, "channel"));
	if (ch == NULL)
		return api_werr(c, "channel_not_found");
	chan = json_get_str(ch, "id");
	m = api_write_msg(txn, c, chan, &ts);
	if (m == NULL) {
		json_decref(ch);
		return STORE_ERR_USER;
	}
	author = json_get_str(m, "user");
	/* Authors delete their own messages; admins anyone's. */
	if (!c->who.is_admin &&
	    (author == NULL || strcmp(author, c->who.user) != 0)) {
		json_decref(ch);
		json_decref(m);
		return api_werr(c, "cant_delete_message");
	}
	json_decref(m);
	rc = store_op_message_delete(txn, chan, ts);
	if (rc == STORE_OK) {
		store_ts_format(ts, tsbuf);
		c->result = json_pack("{s:s,s:s}", "channel", chan, "ts",
		    tsbuf);
	}
	json_decref(ch);
	return rc;
}

const struct api_method api_methods_chat[] = {
	{ "chat.postMessage", API_TIER_POST, API_F_WRITE, NULL, chat_post,
	    NULL },
	{ "chat.update", API_TIER_3, API_F_WRITE, NULL, chat_update, NULL },
	{ "chat.delete", API_TIER_3, API_F_WRITE, NULL, chat_delete, NULL },
	{ NULL, 0, 0, NULL, NULL, NULL },
};
