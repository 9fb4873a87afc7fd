/*
 * Fuzz target of the team import: each input is a file of export lines
 * read into one write transaction of a scratch store, then rolled back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *st;
static char dir[64];

/* Removes the scratch store when the fuzzer exits. */
static void
scratch_remove(void)
{
	static const char *files[] = { "data.mdb", "lock.mdb", "parley.lock" };
	char path[128];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void
scratch_open(void)
{
	struct store_config cfg = { .data_dir = dir,
		.map_initial = 8 << 20, .map_max = 64 << 20 };
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/fuzz-import-%ld", (long)getpid());
	st = store_open(&cfg, 1, 0, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	atexit(scratch_remove);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_txn t;
	const char *p = (const char *)data, *end = p + size, *nl;
	char err[256];

	if (st == NULL)
		scratch_open();
	if (store_wtxn_begin(st, &t) != STORE_OK)
		abort();
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (store_import_line(&t, p, (size_t)(nl - p), err,
			sizeof(err)) == STORE_OK && t.lmdb_err != 0)
			abort();
		p = nl + 1;
	}
	store_wtxn_abort(&t);
	return 0;
}
