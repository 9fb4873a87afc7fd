/*
 * Fuzzes conf_load_buffer with a schema that has every key type, a
 * required key and a named section.
 */
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct fz_shard {
	char *name;
	struct conf_addr addr;
	struct conf_list tags;
};

struct fz_settings {
	char *s;
	int i;
	bool b;
	size_t sz;
	long long ms;
	struct conf_addr a;
	char *p;
	struct conf_list l;
	char *keys;
	struct conf_array shards;
};

static const struct conf_key fz_keys[] = {
	{"s", CONF_STRING, offsetof(struct fz_settings, s), "x", 0, 0, 0},
	{"i", CONF_INT, offsetof(struct fz_settings, i), "5", -10, 100, 0},
	{"b", CONF_BOOL, offsetof(struct fz_settings, b), "yes", 0, 0, 0},
	{"sz", CONF_SIZE, offsetof(struct fz_settings, sz), "1K", 0, 0, 0},
	{"ms", CONF_DURATION, offsetof(struct fz_settings, ms), "1s", 1,
	    3600000, 0},
	{"a", CONF_ADDRESS, offsetof(struct fz_settings, a), "*:1", 0, 0, 0},
	{"p", CONF_PATH, offsetof(struct fz_settings, p), NULL, 0, 0, 0},
	{"l", CONF_LIST, offsetof(struct fz_settings, l), "a,b", 0, 8, 0},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct conf_key fz_tok_keys[] = {
	{"keys", CONF_PATH, 0, NULL, 0, 0, CONF_REQUIRED},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct conf_key fz_shard_keys[] = {
	{"address", CONF_ADDRESS, offsetof(struct fz_shard, addr), NULL, 0,
	    0, CONF_REQUIRED},
	{"tags", CONF_LIST, offsetof(struct fz_shard, tags), NULL, 0, 0, 0},
	{NULL, 0, 0, NULL, 0, 0, 0},
};

static const struct conf_section fz_sections[] = {
	{"spoa", fz_keys, 0, false, 0, 0, 0},
	{"tokens", fz_tok_keys, offsetof(struct fz_settings, keys), false, 0,
	    0, 0},
	{"shard", fz_shard_keys, offsetof(struct fz_settings, shards), true,
	    sizeof(struct fz_shard), offsetof(struct fz_shard, name), 0},
	{NULL, NULL, 0, false, 0, 0, 0},
};

static const struct conf_schema fz_schema = {
	sizeof(struct fz_settings), fz_sections, NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_settings s;
	char err[CONF_ERRLEN];

	if (conf_load_buffer(&fz_schema, "/etc/parley/fuzz.conf",
	    (const char *)data, size, &s, err, sizeof(err)) == 0)
		conf_free(&fz_schema, &s);
	return 0;
}
