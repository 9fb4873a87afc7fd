/*
 * conf: table-driven parley.conf loading on top of inih.
 *
 * inih reports no line numbers to its handler, only the line of the first
 * failure as its return value; so the handler records the reason of the
 * first failure and the line comes from inih.  Everything inih would
 * accept silently but Parley refuses (long lines, NUL bytes, unknown or
 * repeated sections, lines without '=') is caught by a first pass over the
 * text, which also hands inih a copy with leading blanks removed, so that
 * an indented line is never taken as the continuation of the one above.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define CONF_LABEL_MAX 32
/* Reasons are kept shorter than whole messages, which add "file:line: ". */
#define CONF_WHYLEN 256

const char *const conf_known_sections[] = {
	"backend", "edge", "spoa", "health", "tokens", "log", "shard",
	"shards", "ctl", "load", "stack", "haproxy", NULL,
};

/* One section as it appears in the file. */
struct conf_inst {
	char text[64];	 /* "spoa", "shard eu1": inih's section string */
	int line;	 /* of its header */
	const struct conf_section *sect; /* NULL: skipped */
	void *base;	 /* where its keys' offsets start */
	unsigned char *seen; /* one per key */
	struct conf_inst *next;
};

struct conf_state {
	const struct conf_schema *schema;
	void *settings;
	const char *name;
	char dir[PATH_MAX];
	struct conf_inst *insts;
	int failed;
	char reason[CONF_WHYLEN];
};

static size_t
conf_nkeys(const struct conf_key *keys)
{
	size_t n = 0;

	while (keys != NULL && keys[n].name != NULL)
		n++;
	return n;
}

/* Frees what one key owns at base + key->offset, and zeroes it. */
static void
conf_free_value(const struct conf_key *k, void *base)
{
	char *p = (char *)base + k->offset;

	switch (k->type) {
	case CONF_STRING:
	case CONF_PATH: {
		char **sp = (char **)(void *)p;

		free(*sp);
		*sp = NULL;
		break;
	}
	case CONF_LIST: {
		struct conf_list *l = (struct conf_list *)(void *)p;
		size_t i;

		for (i = 0; i < l->n; i++)
			free(l->v[i]);
		free(l->v);
		l->v = NULL;
		l->n = 0;
		break;
	}
	default:
		break;
	}
}

static void
conf_free_keys(const struct conf_key *keys, void *base)
{
	size_t i;

	for (i = 0; keys != NULL && keys[i].name != NULL; i++)
		conf_free_value(&keys[i], base);
}

void
conf_free(const struct conf_schema *schema, void *settings)
{
	const struct conf_section *s;

	for (s = schema->sections; s->name != NULL; s++) {
		if (s->keys == NULL)
			continue;
		if (s->named) {
			struct conf_array *a = (struct conf_array *)(void *)((
			    char *)settings + s->offset);
			size_t i;

			for (i = 0; i < a->n; i++) {
				char *el = (char *)a->v + i * s->elem_size;

				conf_free_keys(s->keys, el);
				free(*(char **)(void *)(el + s->name_offset));
			}
			free(a->v);
			a->v = NULL;
			a->n = 0;
		} else {
			conf_free_keys(s->keys, (char *)settings + s->offset);
		}
	}
	memset(settings, 0, schema->size);
}

int
conf_parse_int(const char *s, long long *out, char *err, size_t errlen)
{
	int64_t v;

	if (util_parse_i64(s, strlen(s), LLONG_MIN, LLONG_MAX, &v) == -1) {
		snprintf(err, errlen, "'%s' is not a decimal integer", s);
		return -1;
	}
	*out = v;
	return 0;
}

int
conf_parse_bool(const char *s, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = {"yes", "true", "on", "1", NULL};
	static const char *const no[] = {"no", "false", "off", "0", NULL};
	int i;

	for (i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	snprintf(err, errlen, "'%s' is not a boolean (yes/no)", s);
	return -1;
}

/*
 * Splits s into a decimal number and a suffix: returns the number of digits
 * (0 if none) and leaves *suffix at the first non-digit.
 */
static size_t
conf_split_number(const char *s, const char **suffix)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	*suffix = s + n;
	return n;
}

int
conf_parse_size(const char *s, size_t *out, char *err, size_t errlen)
{
	const char *suf;
	size_t nd = conf_split_number(s, &suf);
	uint64_t v, mult = 1;

	if (nd == 0 || util_parse_u64(s, nd, UINT64_MAX, &v) == -1)
		goto bad;

	switch (*suf) {
	case 'k':
	case 'K':
		mult = 1024;
		suf++;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		suf++;
		break;
	case 'g':
	case 'G':
		mult = 1024 * 1024 * 1024;
		suf++;
		break;
	default:
		break;
	}
	if (mult != 1 && (*suf == 'i' || *suf == 'I'))
		suf++;
	if (*suf == 'b' || *suf == 'B')
		suf++;
	if (*suf != '\0')
		goto bad;

	if (v > (uint64_t)LLONG_MAX / mult || v * mult > SIZE_MAX) {
		snprintf(err, errlen, "size '%s' is too large", s);
		return -1;
	}
	*out = (size_t)(v * mult);
	return 0;

bad:
	snprintf(err, errlen, "'%s' is not a size (e.g. 512, 64K, 16M, 1G)",
	    s);
	return -1;
}

int
conf_parse_duration(const char *s, long long *ms, char *err, size_t errlen)
{
	const char *suf;
	size_t nd = conf_split_number(s, &suf);
	uint64_t v, mult;

	if (nd == 0 || util_parse_u64(s, nd, UINT64_MAX, &v) == -1)
		goto bad;

	if (strcmp(suf, "ms") == 0)
		mult = 1;
	else if (strcmp(suf, "s") == 0 || *suf == '\0')
		mult = 1000;
	else if (strcmp(suf, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(suf, "h") == 0)
		mult = 3600 * 1000;
	else
		goto bad;

	if (v > (uint64_t)LLONG_MAX / mult) {
		snprintf(err, errlen, "duration '%s' is too large", s);
		return -1;
	}
	*ms = (long long)(v * mult);
	return 0;

bad:
	snprintf(err, errlen,
	    "'%s' is not a duration (e.g. 250ms, 30s, 5m, 1h)", s);
	return -1;
}

int
conf_parse_address(const char *s, struct conf_addr *out, char *err,
    size_t errlen)
{
	const char *host, *colon, *port;
	size_t hlen;
	uint64_t p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		host = s + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
		if (hlen == 0 || !util_all_in(host, hlen,
		    "0123456789abcdefABCDEF:."))
			goto bad;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		host = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
		if (hlen == 1 && host[0] == '*')
			hlen = 0;
		if (hlen > 0 && !util_all_in(host, hlen,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_"))
			goto bad;
	}

	if (hlen >= sizeof(out->host))
		goto bad;
	if (util_parse_u64(port, strlen(port), 65535, &p) == -1)
		goto bad;

	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	out->port = (uint16_t)p;
	return 0;

bad:
	snprintf(err, errlen,
	    "'%s' is not an address (host:port, [v6]:port, *:port)", s);
	return -1;
}

const char *
conf_addr_str(const struct conf_addr *a, char *buf, size_t len)
{
	if (a->host[0] == '\0')
		snprintf(buf, len, "*:%u", a->port);
	else if (strchr(a->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%u", a->host, a->port);
	else
		snprintf(buf, len, "%s:%u", a->host, a->port);
	return buf;
}

/* Splits a list value into malloc'd items. */
static void
conf_parse_list(const char *s, struct conf_list *l)
{
	const char *p = s;

	l->v = NULL;
	l->n = 0;
	while (*p != '\0') {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = xstrndup(p, n);
		p += n;
	}
}

/* Checks v against k's bounds; 0 or -1 with err set. */
static int
conf_check_range(const struct conf_key *k, long long v, const char *what,
    char *err, size_t errlen)
{
	if (k->min == 0 && k->max == 0)
		return 0;
	if (v < k->min) {
		snprintf(err, errlen, "%s is below the minimum %lld", what,
		    k->min);
		return -1;
	}
	if (k->max != 0 && v > k->max) {
		snprintf(err, errlen, "%s is above the maximum %lld", what,
		    k->max);
		return -1;
	}
	return 0;
}

/*
 * Parses value for key k and stores it at base + k->offset, freeing what
 * was there (a default).  dir resolves relative paths.  0 or -1 with err.
 */
static int
conf_set_value(const struct conf_key *k, void *base, const char *value,
    const char *dir, char *err, size_t errlen)
{
	char *p = (char *)base + k->offset;
	long long ll;
	size_t sz;
	bool b;
	struct conf_addr addr;
	struct conf_list list;

	if (value[0] == '\0' && k->type != CONF_STRING) {
		snprintf(err, errlen, "empty value");
		return -1;
	}

	switch (k->type) {
	case CONF_STRING:
		conf_free_value(k, base);
		*(char **)(void *)p = xstrdup(value);
		return 0;

	case CONF_PATH:
		conf_free_value(k, base);
		if (value[0] == '/' || dir[0] == '\0')
			*(char **)(void *)p = xstrdup(value);
		else
			*(char **)(void *)p = xasprintf("%s/%s", dir, value);
		return 0;

	case CONF_INT:
		if (conf_parse_int(value, &ll, err, errlen) == -1)
			return -1;
		if (ll < INT_MIN || ll > INT_MAX) {
			snprintf(err, errlen, "%s is out of range", value);
			return -1;
		}
		if (conf_check_range(k, ll, value, err, errlen) == -1)
			return -1;
		*(int *)(void *)p = (int)ll;
		return 0;

	case CONF_BOOL:
		if (conf_parse_bool(value, &b, err, errlen) == -1)
			return -1;
		*(bool *)(void *)p = b;
		return 0;

	case CONF_SIZE:
		if (conf_parse_size(value, &sz, err, errlen) == -1)
			return -1;
		if (conf_check_range(k, (long long)sz, value, err,
		    errlen) == -1)
			return -1;
		*(size_t *)(void *)p = sz;
		return 0;

	case CONF_DURATION:
		if (conf_parse_duration(value, &ll, err, errlen) == -1)
			return -1;
		if (conf_check_range(k, ll, value, err, errlen) == -1)
			return -1;
		*(long long *)(void *)p = ll;
		return 0;

	case CONF_ADDRESS:
		if (conf_parse_address(value, &addr, err, errlen) == -1)
			return -1;
		*(struct conf_addr *)(void *)p = addr;
		return 0;

	case CONF_LIST: {
		char what[64];

		conf_parse_list(value, &list);
		snprintf(what, sizeof(what), "a list of %zu items", list.n);
		if (list.n == 0 || conf_check_range(k, (long long)list.n,
		    what, err, errlen) == -1) {
			if (list.n == 0)
				snprintf(err, errlen, "empty list");
			while (list.n > 0)
				free(list.v[--list.n]);
			free(list.v);
			return -1;
		}
		conf_free_value(k, base);
		*(struct conf_list *)(void *)p = list;
		return 0;
	}
	}
	snprintf(err, errlen, "unknown key type");
	return -1;
}

/*
 * Applies every default of keys at base.  A default that does not parse is
 * a bug in the table, reported like a bad value.
 */
static int
conf_apply_defaults(const struct conf_key *keys, void *base,
    const char *sect, const char *dir, char *err, size_t errlen)
{
	char why[128];
	size_t i;

	for (i = 0; keys != NULL && keys[i].name != NULL; i++) {
		const struct conf_key *k = &keys[i];

		if (k->def == NULL || (k->flags & CONF_REQUIRED))
			continue;
		if (conf_set_value(k, base, k->def, dir, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "[%s] %s: bad default: %s",
			    sect, k->name, why);
			return -1;
		}
	}
	return 0;
}

static bool
conf_is_known(const char *name, size_t len)
{
	int i;

	for (i = 0; conf_known_sections[i] != NULL; i++)
		if (strlen(conf_known_sections[i]) == len &&
		    strncmp(conf_known_sections[i], name, len) == 0)
			return true;
	return false;
}

/* Records the first failure's reason; returns 0 for inih. */
static int
conf_fail(struct conf_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
conf_fail(struct conf_state *st, const char *fmt, ...)
{
	va_list ap;

	if (!st->failed) {
		va_start(ap, fmt);
		vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
		va_end(ap);
		st->failed = 1;
	}
	return 0;
}

/*
 * A section header at line: checks its text against the schema and the
 * known sections and creates its instance (a named section's element is
 * allocated and takes its defaults here).  0, or -1 with reason in why.
 */
static int
conf_add_section(struct conf_state *st, const char *text, size_t len,
    int line, char *why, size_t whylen)
{
	const struct conf_section *s;
	const char *sp = memchr(text, ' ', len);
	size_t nlen = sp != NULL ? (size_t)(sp - text) : len;
	const char *label = sp != NULL ? sp + 1 : NULL;
	size_t llen = sp != NULL ? len - nlen - 1 : 0;
	struct conf_inst *in = NULL, **tail;

	if (nlen == 0 || !util_all_in(text, nlen,
	    "abcdefghijklmnopqrstuvwxyz0123456789_-")) {
		snprintf(why, whylen, "bad section header '[%.*s]'",
		    (int)(len > 60 ? 60 : len), text);
		return -1;
	}
	if (label != NULL && (llen == 0 || llen > CONF_LABEL_MAX ||
	    !util_all_in(label, llen,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-"))) {
		snprintf(why, whylen,
		    "bad section label in '[%.*s]' (1-%d of A-Z a-z 0-9 _ . -)",
		    (int)(len > 60 ? 60 : len), text, CONF_LABEL_MAX);
		return -1;
	}

	for (s = st->schema->sections; s->name != NULL; s++)
		if (strlen(s->name) == nlen &&
		    strncmp(s->name, text, nlen) == 0)
			break;
	if (s->name == NULL && !conf_is_known(text, nlen)) {
		snprintf(why, whylen, "unknown section [%.*s]", (int)nlen,
		    text);
		return -1;
	}
	if (s->name != NULL && s->named != (label != NULL)) {
		snprintf(why, whylen, s->named ?
		    "section [%.*s] needs a name: [%.*s NAME]" :
		    "section [%.*s] takes no name", (int)nlen, text,
		    (int)nlen, text);
		return -1;
	}

	if (len >= sizeof(in->text)) {
		snprintf(why, whylen, "section header too long");
		return -1;
	}
	for (tail = &st->insts; *tail != NULL; tail = &(*tail)->next) {
		if (strlen((*tail)->text) == len &&
		    strncmp((*tail)->text, text, len) == 0) {
			snprintf(why, whylen,
			    "duplicate section [%.*s], first at line %d",
			    (int)len, text, (*tail)->line);
			return -1;
		}
	}

	in = xcalloc(1, sizeof(*in));
	memcpy(in->text, text, len);
	in->line = line;
	*tail = in;
	if (s->name == NULL || s->keys == NULL)
		return 0;

	in->sect = s;
	in->seen = xcalloc(conf_nkeys(s->keys) + 1, 1);
	if (!s->named) {
		in->base = (char *)st->settings + s->offset;
		return 0;
	}

	{
		struct conf_array *a = (struct conf_array *)(void *)((
		    char *)st->settings + s->offset);
		char *el;

		a->v = xreallocarray(a->v, a->n + 1, s->elem_size);
		el = (char *)a->v + a->n * s->elem_size;
		memset(el, 0, s->elem_size);
		a->n++;
		*(char **)(void *)(el + s->name_offset) =
		    xstrndup(label, llen);
		/*
		 * Instances of earlier elements point into the array, which
		 * may have moved: recompute every base of this section.
		 */
		{
			struct conf_inst *o;
			size_t i = 0;

			for (o = st->insts; o != NULL; o = o->next)
				if (o->sect == s)
					o->base = (char *)a->v +
					    i++ * s->elem_size;
		}
		return conf_apply_defaults(s->keys, el, s->name, st->dir, why,
		    whylen);
	}
}

/*
 * First pass: copies text into out (NUL-terminated, leading blanks of each
 * line and a UTF-8 BOM removed), checks each line, and creates section
 * instances.  Returns 0, or the line number of the first error with its
 * reason in why.
 */
static int
conf_prescan(struct conf_state *st, const char *text, size_t len, char *out,
    char *why, size_t whylen)
{
	size_t i = 0, o = 0;
	int line = 0;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		i = 3;

	while (i < len) {
		size_t start = i, end, n;
		const char *l;

		line++;
		while (i < len && text[i] != '\n')
			i++;
		end = i;
		if (i < len)
			i++; /* newline */
		if (end > start && text[end - 1] == '\r')
			end--;

		if (memchr(text + start, '\0', end - start) != NULL) {
			snprintf(why, whylen, "NUL byte in line");
			return line;
		}
		if (end - start > CONF_MAX_LINE) {
			snprintf(why, whylen, "line longer than %d characters",
			    CONF_MAX_LINE);
			return line;
		}
		while (start < end && (text[start] == ' ' ||
		    text[start] == '\t'))
			start++;

		l = text + start;
		n = end - start;
		memcpy(out + o, l, n);
		o += n;
		out[o++] = '\n';

		if (n == 0 || l[0] == '#' || l[0] == ';')
			continue;
		if (l[0] == '[') {
			const char *close = memchr(l, ']', n);
			size_t k;

			if (close == NULL) {
				snprintf(why, whylen, "missing ']'");
				return line;
			}
			for (k = (size_t)(close - l) + 1; k < n; k++) {
				if (l[k] == ' ' || l[k] == '\t')
					continue;
				if (l[k] == '#' || l[k] == ';')
					break;
				snprintf(why, whylen,
				    "text after section header");
				return line;
			}
			if (conf_add_section(st, l + 1, (size_t)(close - l - 1),
			    line, why, whylen) == -1)
				return line;
			continue;
		}
		if (memchr(l, '=', n) == NULL && memchr(l, ':', n) == NULL) {
			snprintf(why, whylen,
			    "syntax error: expected 'key = value'");
			return line;
		}
	}
	out[o] = '\0';
	return 0;
}

static struct conf_inst *
conf_find_inst(struct conf_state *st, const char *text)
{
	struct conf_inst *in;

	for (in = st->insts; in != NULL; in = in->next)
		if (strcmp(in->text, text) == 0)
			return in;
	return NULL;
}

/* inih handler: one "name = value" in section. */
static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_state *st = user;
	struct conf_inst *in;
	const struct conf_key *k;
	char why[CONF_WHYLEN];
	size_t i;

	if (st->failed)
		return 1;
	if (section[0] == '\0')
		return conf_fail(st, "'%s' outside any section", name);
	if ((in = conf_find_inst(st, section)) == NULL)
		return conf_fail(st, "unknown section [%s]", section);
	if (in->sect == NULL)
		return 1;

	for (i = 0, k = in->sect->keys; k->name != NULL; k++, i++)
		if (strcmp(k->name, name) == 0)
			break;
	if (k->name == NULL)
		return conf_fail(st, "unknown key '%s' in [%s]", name,
		    section);
	if (in->seen[i])
		return conf_fail(st, "duplicate key '%s' in [%s]", name,
		    section);
	in->seen[i] = 1;

	if (conf_set_value(k, in->base, value, st->dir, why,
	    sizeof(why)) == -1)
		return conf_fail(st, "[%s] %s: %s", section, name, why);
	return 1;
}

static void
conf_free_insts(struct conf_state *st)
{
	struct conf_inst *in, *next;

	for (in = st->insts; in != NULL; in = next) {
		next = in->next;
		free(in->seen);
		free(in);
	}
	st->insts = NULL;
}

/* Required keys and sections once the file is read; 0 or -1 with err. */
static int
conf_check_required(struct conf_state *st, char *err, size_t errlen)
{
	const struct conf_section *s;
	struct conf_inst *in;
	size_t i;

	for (s = st->schema->sections; s->name != NULL; s++) {
		if (!s->required)
			continue;
		for (in = st->insts; in != NULL; in = in->next)
			if (in->sect == s)
				break;
		if (in == NULL) {
			snprintf(err, errlen, "%s: missing section [%s]",
			    st->name, s->name);
			return -1;
		}
	}

	for (in = st->insts; in != NULL; in = in->next) {
		if (in->sect == NULL)
			continue;
		for (i = 0; in->sect->keys[i].name != NULL; i++) {
			if ((in->sect->keys[i].flags & CONF_REQUIRED) &&
			    !in->seen[i]) {
				snprintf(err, errlen,
				    "%s:%d: [%s] missing required key '%s'",
				    st->name, in->line, in->text,
				    in->sect->keys[i].name);
				return -1;
			}
		}
	}

	/* A required key of a section absent from the file. */
	for (s = st->schema->sections; s->name != NULL; s++) {
		if (s->keys == NULL || s->named)
			continue;
		for (in = st->insts; in != NULL; in = in->next)
			if (in->sect == s)
				break;
		if (in != NULL)
			continue;
		for (i = 0; s->keys[i].name != NULL; i++) {
			if (s->keys[i].flags & CONF_REQUIRED) {
				snprintf(err, errlen,
				    "%s: missing section [%s] (needs '%s')",
				    st->name, s->name, s->keys[i].name);
				return -1;
			}
		}
	}
	return 0;
}

int
conf_load_buffer(const struct conf_schema *schema, const char *name,
    const char *text, size_t len, void *settings, char *err, size_t errlen)
{
	struct conf_state st;
	const struct conf_section *s;
	const char *slash;
	char why[CONF_WHYLEN], *copy = NULL;
	int pline, iline, rc = -1;

	memset(&st, 0, sizeof(st));
	st.schema = schema;
	st.settings = settings;
	st.name = name;
	memset(settings, 0, schema->size);
	if ((slash = strrchr(name, '/')) != NULL) {
		size_t dl = (size_t)(slash - name);

		if (dl == 0)
			dl = 1; /* "/x.conf" */
		if (dl >= sizeof(st.dir))
			dl = sizeof(st.dir) - 1;
		memcpy(st.dir, name, dl);
	}

	if (len > CONF_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		    CONF_MAX_FILE);
		return -1;
	}

	for (s = schema->sections; s->name != NULL; s++) {
		if (s->keys == NULL || s->named)
			continue;
		if (conf_apply_defaults(s->keys, (char *)settings + s->offset,
		    s->name, st.dir, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: %s", name, why);
			goto out;
		}
	}

	/* Each line gains at most a newline. */
	copy = xmalloc(len * 2 + 2);
	pline = conf_prescan(&st, text, len, copy, why, sizeof(why));
	if (pline != 0) {
		snprintf(err, errlen, "%s:%d: %s", name, pline, why);
		goto out;
	}

	iline = ini_parse_string(copy, conf_handler, &st);
	if (iline < 0) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	if (iline > 0) {
		if (!st.failed)
			snprintf(st.reason, sizeof(st.reason),
			    "syntax error");
		snprintf(err, errlen, "%s:%d: %s", name, iline, st.reason);
		goto out;
	}

	if (conf_check_required(&st, err, errlen) == -1)
		goto out;
	if (schema->check != NULL &&
	    schema->check(settings, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", name, why);
		goto out;
	}
	rc = 0;

out:
	free(copy);
	conf_free_insts(&st);
	if (rc == -1)
		conf_free(schema, settings);
	return rc;
}

int
conf_load(const struct conf_schema *schema, const char *path, void *settings,
    char *err, size_t errlen)
{
	struct stat sb;
	char *text;
	ssize_t n;
	size_t have = 0;
	int fd, rc;

	memset(settings, 0, schema->size);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (sb.st_size > CONF_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    CONF_MAX_FILE);
		close(fd);
		return -1;
	}

	text = xmalloc((size_t)sb.st_size + 1);
	while (have < (size_t)sb.st_size) {
		n = read(fd, text + have, (size_t)sb.st_size - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", path,
			    n == 0 ? "short read" : strerror(errno));
			free(text);
			close(fd);
			return -1;
		}
		have += (size_t)n;
	}
	close(fd);

	rc = conf_load_buffer(schema, path, text, have, settings, err,
	    errlen);
	free(text);
	return rc;
}

int
conf_reload(const struct conf_schema *schema, const char *path,
    void *settings, char *err, size_t errlen)
{
	char buf[CONF_ERRLEN];
	void *fresh = xcalloc(1, schema->size);

	if (conf_load(schema, path, fresh, buf, sizeof(buf)) == -1) {
		log_warnx("reload of %s failed, keeping the running "
		    "configuration: %s", path, buf);
		if (err != NULL)
			util_strlcpy(err, buf, errlen);
		free(fresh);
		return -1;
	}
	conf_free(schema, settings);
	memcpy(settings, fresh, schema->size);
	free(fresh);
	return 0;
}
