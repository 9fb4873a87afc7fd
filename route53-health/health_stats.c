/*
 * health_stats: reading HAProxy's `show stat` answer.
 *
 * The answer is CSV: a header line "# pxname,svname,qcur,..." naming the
 * columns, then one line per frontend, server and backend.  Columns are
 * found by name, so that fields HAProxy adds in later versions change
 * nothing.  A field holding a comma or a quote is quoted with "..." and
 * its quotes doubled, as HAProxy's csv_enc() does.
 */
#include <stdio.h>
#include <string.h>

#include "health.h"

enum { COL_PXNAME, COL_SVNAME, COL_SCUR, COL_STATUS, NCOLS };

static const char *const stats_cols[NCOLS] = { "pxname", "svname", "scur",
	"status" };

/* A field of a line, as a slice of the input with quotes still in. */
struct stats_field {
	const char *p;
	size_t len;
	int quoted;
};

/*
 * Reads the field that starts at *pos in line [*pos, end) and moves *pos
 * past it and its comma.  Returns 0, or -1 when the quotes are broken.
 */
static int
stats_next_field(const char **pos, const char *end, struct stats_field *f)
{
	const char *p = *pos;

	f->quoted = 0;
	if (p < end && *p == '"') {
		f->quoted = 1;
		f->p = ++p;
		for (;;) {
			if (p >= end)
				return -1;
			if (*p == '"') {
				if (p + 1 < end && p[1] == '"') {
					p += 2;
					continue;
				}
				break;
			}
			p++;
		}
		f->len = (size_t)(p - f->p);
		p++;
		if (p < end && *p != ',')
			return -1;
	} else {
		f->p = p;
		while (p < end && *p != ',')
			p++;
		f->len = (size_t)(p - f->p);
	}
	if (p < end)
		p++;
	*pos = p;
	return 0;
}

/*
 * Compares a field's raw bytes with s.  Enough for column and proxy
 * names, which HAProxy allows no quotes or commas in.
 */
static int
stats_field_is(const struct stats_field *f, const char *s)
{
	return f->len == strlen(s) && memcmp(f->p, s, f->len) == 0;
}

/* Reads a non-negative decimal field; empty or garbage gives 0. */
static long
stats_field_long(const struct stats_field *f)
{
	long v = 0;
	size_t i;

	for (i = 0; i < f->len; i++) {
		if (f->p[i] < '0' || f->p[i] > '9')
			return 0;
		if (v > 100000000000L)
			return v;
		v = v * 10 + (f->p[i] - '0');
	}
	return v;
}

/*
 * Tells whether a server status means the server takes traffic: "UP",
 * "UP 1/3" (up, checks starting to fail) and "no check" (HAProxy assumes
 * it up).  DOWN, NOLB, DRAIN and MAINT do not.
 */
int
health_status_is_up(const char *status, size_t len)
{
	if (len >= 2 && memcmp(status, "UP", 2) == 0 &&
	    (len == 2 || status[2] == ' '))
		return 1;
	return len == 8 && memcmp(status, "no check", 8) == 0;
}

/*
 * Parses the `show stat` answer csv[0..len) and fills be for the backend
 * it names (be->name NULL: every server of every proxy, and the number of
 * frontends).  Returns 0, or -1 with a reason in err when the answer is
 * not a stats table (no header, a needed column missing, broken quotes).
 */
int
health_stats_parse(const char *csv, size_t len, struct health_stats_backend *be,
    char *err, size_t errlen)
{
	const char *p = csv, *end = csv + len;
	int idx[NCOLS];
	int have_header = 0, i, c;

	be->found = 0;
	be->servers = 0;
	be->up = 0;
	be->scur = 0;
	be->frontends = 0;
	for (c = 0; c < NCOLS; c++)
		idx[c] = -1;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *lend = eol != NULL ? eol : end;
		struct stats_field f[NCOLS];
		const char *q;

		if (lend > p && lend[-1] == '\r')
			lend--;
		if (lend == p)
			goto next;

		if (!have_header) {
			if (lend - p < 2 || p[0] != '#' || p[1] != ' ') {
				snprintf(err, errlen, "no stats header");
				return -1;
			}
			q = p + 2;
			for (i = 0; q < lend; i++) {
				struct stats_field h;

				if (stats_next_field(&q, lend, &h) == -1) {
					snprintf(err, errlen,
					    "broken quotes in header");
					return -1;
				}
				for (c = 0; c < NCOLS; c++)
					if (idx[c] == -1 &&
					    stats_field_is(&h, stats_cols[c]))
						idx[c] = i;
			}
			for (c = 0; c < NCOLS; c++) {
				if (idx[c] == -1) {
					snprintf(err, errlen, "no %s column",
					    stats_cols[c]);
					return -1;
				}
			}
			have_header = 1;
			goto next;
		}
		if (*p == '#')
			goto next;

		memset(f, 0, sizeof(f));
		q = p;
		for (i = 0; q < lend; i++) {
			struct stats_field x;

			if (stats_next_field(&q, lend, &x) == -1) {
				snprintf(err, errlen, "broken quotes");
				return -1;
			}
			for (c = 0; c < NCOLS; c++)
				if (idx[c] == i)
					f[c] = x;
		}

		if (stats_field_is(&f[COL_SVNAME], "FRONTEND")) {
			be->frontends++;
			goto next;
		}
		if (be->name != NULL &&
		    !stats_field_is(&f[COL_PXNAME], be->name))
			goto next;
		if (stats_field_is(&f[COL_SVNAME], "BACKEND")) {
			be->found = 1;
			be->scur += stats_field_long(&f[COL_SCUR]);
			goto next;
		}
		be->servers++;
		if (health_status_is_up(f[COL_STATUS].p, f[COL_STATUS].len))
			be->up++;
next:
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	if (!have_header) {
		snprintf(err, errlen, "empty stats answer");
		return -1;
	}
	if (be->name == NULL)
		be->found = be->frontends > 0 || be->servers > 0;
	return 0;
}
