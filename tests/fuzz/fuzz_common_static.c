/*
 * Fuzzes static_path_clean: whatever it accepts must be a relative path
 * of non-empty segments, none starting with '.', with no NUL, backslash
 * or control byte; cleaning the result again (when it holds no '%')
 * must give it back unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[STATIC_PATH_MAX + 16], again[STATIC_PATH_MAX + 32];
	char re[STATIC_PATH_MAX + 32];
	const char *seg;
	int n, m;
	size_t i;

	n = static_path_clean((const char *)data, size, out, sizeof(out));
	if (n == -1)
		return 0;
	if (n <= 0 || (size_t)n != strlen(out) || out[0] == '/')
		abort();
	for (i = 0; i < (size_t)n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			abort();
	}
	for (seg = out; seg != NULL; seg = strchr(seg, '/')) {
		if (*seg == '/')
			seg++;
		if (*seg == '.' || *seg == '/' || *seg == '\0')
			abort();
	}
	if (strchr(out, '%') == NULL && (size_t)n + 1 <= STATIC_PATH_MAX) {
		re[0] = '/';
		memcpy(re + 1, out, (size_t)n + 1);
		m = static_path_clean(re, (size_t)n + 1, again,
		    sizeof(again));
		if (m != n || strcmp(again, out) != 0)
			abort();
	}
	(void)static_content_type(out);
	return 0;
}
