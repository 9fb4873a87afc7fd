/*
 * edge_fold: the one folding that names and queries go through before
 * they are compared (see edge.h).
 *
 * utf8proc does the Unicode work: compatibility decomposition (NFKC, so
 * half-width katakana become full-width), full case folding ("ß" becomes
 * "ss"), removal of marks (accents, the katakana voicing marks) and of
 * default-ignorable code points (ZWJ, variation selectors).  A small
 * custom map runs first for what case folding alone does not join: the
 * Turkish dotless ı and dotted İ both become i, and hiragana become
 * katakana so that either script finds the other.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "edge.h"
#include "xmalloc.h"

static utf8proc_int32_t
fold_custom(utf8proc_int32_t c, void *data)
{
	(void)data;
	if (c == 0x0131 || c == 0x0130)
		return 'i';
	if (c >= 0x3041 && c <= 0x3096)
		return c + 0x60;
	if (c == 0x309d || c == 0x309e)
		return c + 0x60;
	return c;
}

/* Whether code point c ends a word. */
static int
fold_is_separator(utf8proc_int32_t c)
{
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_ZS:
	case UTF8PROC_CATEGORY_ZL:
	case UTF8PROC_CATEGORY_ZP:
	case UTF8PROC_CATEGORY_PC:
	case UTF8PROC_CATEGORY_PD:
	case UTF8PROC_CATEGORY_PS:
	case UTF8PROC_CATEGORY_PE:
	case UTF8PROC_CATEGORY_PI:
	case UTF8PROC_CATEGORY_PF:
	case UTF8PROC_CATEGORY_PO:
	case UTF8PROC_CATEGORY_SM:
	case UTF8PROC_CATEGORY_CC:
	case UTF8PROC_CATEGORY_CF:
	case UTF8PROC_CATEGORY_CS:
	case UTF8PROC_CATEGORY_CO:
		return 1;
	default:
		return 0;
	}
}

char *
edge_fold(const char *s, size_t len, size_t *nwords)
{
	utf8proc_uint8_t *mapped = NULL;
	utf8proc_ssize_t n, i, step;
	utf8proc_int32_t c;
	char *out;
	size_t o = 0, words = 0;
	int inword = 0;

	if (len > EDGE_FOLD_MAX)
		return NULL;

	n = utf8proc_map_custom((const utf8proc_uint8_t *)s,
	    (utf8proc_ssize_t)len, &mapped,
	    UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
		UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE,
	    fold_custom, NULL);
	if (n < 0)
		return NULL;

	/* Words joined by one space: never longer than the mapped text. */
	out = xmalloc((size_t)n + 1);
	for (i = 0; i < n; i += step) {
		step = utf8proc_iterate(mapped + i, n - i, &c);
		if (step <= 0)
			break;
		if (fold_is_separator(c)) {
			inword = 0;
			continue;
		}
		if (!inword) {
			if (words > 0)
				out[o++] = ' ';
			words++;
			inword = 1;
		}
		memcpy(out + o, mapped + i, (size_t)step);
		o += (size_t)step;
	}
	out[o] = '\0';
	free(mapped);
	if (nwords != NULL)
		*nwords = words;
	return out;
}
