/*
 * json: jansson with limits, and Slack-style replies.
 *
 * json_parse_strict() refuses, before jansson allocates anything, input
 * larger than a size limit or nested deeper than a depth limit; jansson
 * then refuses duplicate object keys and NUL bytes in strings.
 */
#ifndef PARLEY_JSON_H
#define PARLEY_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define JSON_DEFAULT_DEPTH 32

/*
 * Parses exactly len bytes of buf as one JSON value of at most max_size
 * bytes and max_depth nested arrays/objects.  Returns a new reference, or
 * NULL with a short reason in err ("too large", "too deep", "line 1 col
 * 5: ...").
 */
json_t *json_parse_strict(const char *buf, size_t len, size_t max_size,
    int max_depth, char *err, size_t errlen);

/*
 * Depth of the deepest nesting of arrays and objects in buf (strings
 * skipped), giving up past limit and returning limit + 1.
 */
int json_nesting_depth(const char *buf, size_t len, int limit);

/* {"ok":true}: a new object the caller adds fields to. */
json_t *json_slack_ok(void);

/* {"ok":false,"error":error}: a new object. */
json_t *json_slack_error(const char *error);

/*
 * Serialises v compactly (no spaces, keys in insertion order) into a
 * malloc'd NUL-terminated string; *len gets its length when non-NULL.
 * Aborts on out of memory, like xmalloc.  Does not steal v.
 */
char *json_dump_compact(const json_t *v, size_t *len);

/*
 * Writes s (n bytes of valid UTF-8) as a JSON string, quotes included,
 * to out, which must have room for 6 * n + 2 bytes; returns the length
 * written (no NUL).  For text built without jansson on a hot path; the
 * value is the same as jansson's, the bytes may differ.
 */
#define JSON_QUOTE_MAX(n) (6 * (n) + 2)
size_t json_quote(char *out, const char *s, size_t n);

/*
 * Typed getters on an object: the value of key, or NULL (or def) when
 * missing or of another type.
 */
const char *json_get_str(const json_t *obj, const char *key);
long long json_get_int(const json_t *obj, const char *key, long long def);
int json_get_bool(const json_t *obj, const char *key, int def);

#endif
