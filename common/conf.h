/*
 * conf: parley.conf, one INI file for every daemon, parsed with inih.
 *
 * A daemon describes its settings with tables and calls conf_load():
 *
 *	struct spoa_settings {
 *		struct conf_addr listen;
 *		int max_conns;
 *		long long idle_ms;
 *		struct token_settings tokens;
 *	};
 *
 *	static const struct conf_key spoa_keys[] = {
 *		{ "listen", CONF_ADDRESS,
 *		    offsetof(struct spoa_settings, listen), "127.0.0.1:12345" },
 *		{ "max_conns", CONF_INT,
 *		    offsetof(struct spoa_settings, max_conns), "1000", 1, 20000 },
 *		{ "idle_timeout", CONF_DURATION,
 *		    offsetof(struct spoa_settings, idle_ms), "30s", 1, 0 },
 *		{ NULL }
 *	};
 *	static const struct conf_section spoa_sections[] = {
 *		{ "spoa", spoa_keys, 0 },
 *		{ "tokens", token_conf_keys,
 *		    offsetof(struct spoa_settings, tokens) },
 *		{ NULL }
 *	};
 *	static const struct conf_schema spoa_schema = {
 *		sizeof(struct spoa_settings), spoa_sections, NULL,
 *	};
 *
 * Key offsets are relative to the start of their section's storage: the
 * settings struct plus conf_section.offset (or one element of a named
 * section, below).  Every key takes its default first, parsed like a value
 * from the file, so defaults are checked by the same code.
 *
 * Sections: "[name]" once, or "[name LABEL]" repeated for named sections
 * (conf_section.named set), e.g. "[shard eu1]".  LABEL is 1-32 of
 * [A-Za-z0-9_.-].  Sections listed in conf_known_sections (every daemon's
 * own) that the schema does not list are skipped, so one parley.conf serves
 * every daemon; any other section is an error.
 *
 * Errors: an unknown section or key, a bad value, a value out of range, a
 * duplicate key or section, a line longer than CONF_MAX_LINE, or a missing
 * required key make the load fail with "file:line: reason" in the caller's
 * buffer (line is omitted where there is none, e.g. a missing section).
 *
 * Value syntax (surrounding blanks are trimmed; "; comment" after a value,
 * and lines starting with '#' or ';', are comments):
 *	CONF_STRING	any text, stored as a malloc'd char *
 *	CONF_INT	decimal, optional sign; int
 *	CONF_BOOL	yes/no, true/false, on/off, 1/0; bool
 *	CONF_SIZE	decimal with optional K, M, G (powers of 1024), bytes
 *			or B; size_t
 *	CONF_DURATION	decimal with ms, s, m or h (bare = seconds); stored in
 *			milliseconds as long long
 *	CONF_ADDRESS	host:port, [v6]:port, *:port or :port (any address);
 *			struct conf_addr
 *	CONF_PATH	a file name; relative names are taken relative to the
 *			directory of the configuration file; malloc'd char *
 *	CONF_LIST	items separated by commas and/or blanks; struct
 *			conf_list
 * min/max bound CONF_INT, CONF_SIZE, CONF_DURATION (in milliseconds) and
 * the item count of CONF_LIST; min == max == 0 means unbounded.
 */
#ifndef PARLEY_CONF_H
#define PARLEY_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line inih reads, newline excluded. */
#define CONF_MAX_LINE 198
/* Largest configuration file accepted. */
#define CONF_MAX_FILE (1024 * 1024)
#define CONF_ERRLEN 512

enum conf_type {
	CONF_STRING,
	CONF_INT,
	CONF_BOOL,
	CONF_SIZE,
	CONF_DURATION,
	CONF_ADDRESS,
	CONF_PATH,
	CONF_LIST,
};

/* conf_key.flags */
#define CONF_REQUIRED 0x1 /* must appear in the file (def is ignored) */

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t offset;
	const char *def; /* default, in file syntax; NULL: zero / NULL */
	long long min;
	long long max;
	int flags;
};

/* CONF_ADDRESS: host is "" for any address; brackets of IPv6 removed. */
struct conf_addr {
	char host[256];
	uint16_t port;
};

/* CONF_LIST: n malloc'd strings. */
struct conf_list {
	char **v;
	size_t n;
};

/*
 * A named section ("[shard eu1]") is stored as a growing array: at offset
 * in the settings lies a struct conf_array, each element elem_size bytes,
 * and the element's label is stored as a malloc'd char * at name_offset
 * inside the element.
 */
struct conf_array {
	void *v;
	size_t n;
};

struct conf_section {
	const char *name;
	const struct conf_key *keys; /* NULL: known, skipped */
	size_t offset;
	bool named;
	size_t elem_size;   /* named sections only */
	size_t name_offset; /* named sections only */
	int required;	    /* 1: the section must appear */
};

struct conf_schema {
	size_t size; /* sizeof the settings struct */
	const struct conf_section *sections; /* ends with name NULL */

	/*
	 * Optional check across keys after a successful parse: returns 0,
	 * or -1 with a reason in err (conf prefixes "file: ").
	 */
	int (*check)(void *settings, char *err, size_t errlen);
};

/* Sections any daemon skips when its schema does not list them. */
extern const char *const conf_known_sections[];

/*
 * Loads path into settings (schema->size bytes, overwritten: zeroed, then
 * defaults, then the file).  Returns 0, or -1 with "file:line: reason" in
 * err; on failure settings holds nothing that needs conf_free().
 */
int conf_load(const struct conf_schema *schema, const char *path,
    void *settings, char *err, size_t errlen);

/*
 * Like conf_load() on text held in memory (len bytes, need not be
 * NUL-terminated); name is used in messages and to resolve relative paths
 * (its directory).  Used by tests and the fuzzer.
 */
int conf_load_buffer(const struct conf_schema *schema, const char *name,
    const char *text, size_t len, void *settings, char *err, size_t errlen);

/* Frees what conf_load() allocated inside settings and zeroes it. */
void conf_free(const struct conf_schema *schema, void *settings);

/*
 * Reload: loads path into a fresh struct; on success frees the old contents
 * of settings and moves the new ones in (the settings pointer stays valid,
 * pointers to strings inside the old contents do not) and returns 0.  On
 * failure, logs the error with log_warnx, leaves settings untouched and
 * returns -1 (err receives the message too when non-NULL).
 */
int conf_reload(const struct conf_schema *schema, const char *path,
    void *settings, char *err, size_t errlen);

/* The single-value parsers behind the table; 0 or -1 with err set. */
int conf_parse_int(const char *s, long long *out, char *err, size_t errlen);
int conf_parse_bool(const char *s, bool *out, char *err, size_t errlen);
int conf_parse_size(const char *s, size_t *out, char *err, size_t errlen);
int conf_parse_duration(const char *s, long long *ms, char *err,
    size_t errlen);
int conf_parse_address(const char *s, struct conf_addr *out, char *err,
    size_t errlen);

/* Formats an address as host:port ([v6]:port, *:port) for messages. */
const char *conf_addr_str(const struct conf_addr *a, char *buf, size_t len);

/* Duration in milliseconds to libev seconds. */
static inline double
conf_ms_to_sec(long long ms)
{
	return (double)ms / 1000.0;
}

/* Element i of a named section's array, typed by the caller. */
#define CONF_ARRAY_AT(arr, type, i) (&((type *)(arr)->v)[(i)])

#endif
