/*
 * libFuzzer target for what RTM clients send: each input is the text of
 * one WebSocket message.  It is parsed as a client message; whatever
 * parses is answered as the server would (pong, ok and error acks), and
 * the object is also read as a stored event (rtm_event_scope), since
 * both come from JSON that the server does not control.  The input also
 * goes through the WebSocket URL parameter decoder.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	struct rtm_scope sc;
	struct rtm_msg m;
	char out[256], *q, *s;
	size_t len;
	int rc;

	rc = rtm_msg_parse((const char *)data, size, 8, &m, &err);
	if (rc == 0) {
		if (m.type == RTM_MSG_PING) {
			s = rtm_pong(&m, &len);
			free(s);
		}
		s = rtm_ack_ok(m.id, NULL, &len);
		free(s);
	} else {
		s = rtm_ack_error(m.id, 1, err, &len);
		free(s);
	}
	if (m.obj != NULL && json_is_object(m.obj))
		rtm_event_scope(m.obj, &sc);
	rtm_msg_clear(&m);

	q = malloc(size + 1);
	if (q == NULL)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';
	(void)rtm_query_param(q, "ticket", out, sizeof(out));
	(void)rtm_query_param(q, "seq", out, 8);
	free(q);
	return 0;
}
