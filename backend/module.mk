# parley-backend: the store (LMDB), the Web API, RTM and the edge stream.
$(eval $(call parley_daemon,backend,backend,parley-backend,$(LIBS_LMDB)))

# Store test helpers: the schema 1 fixture generator (make store-fixture
# rewrites tests/fixtures/store-v1 with it) and the crash test driver.
STORE_HELPERS := $(BUILD)/tests/gen_store_v1 $(BUILD)/tests/store_crash
all: $(STORE_HELPERS)

$(BUILD)/tests/gen_store_v1: tests/fixtures/gen_store_v1.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS_LMDB)

$(BUILD)/tests/store_crash: $(OBJ)/tests/helpers/store_crash.o \
		$(LIB)/libparley-backend.a $(LIB)/libparley-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_LMDB) $(COMMON_LIBS)

.PHONY: store-fixture
store-fixture: $(BUILD)/tests/gen_store_v1
	rm -rf tests/fixtures/store-v1
	mkdir -p tests/fixtures/store-v1
	$(BUILD)/tests/gen_store_v1 tests/fixtures/store-v1
	rm -f tests/fixtures/store-v1/lock.mdb

# The store benchmark (bench/store.sh runs it); not installed.
all: $(BIN)/store-bench
$(BIN)/store-bench: $(OBJ)/bench/store-bench.o $(LIB)/libparley-backend.a \
		$(LIB)/libparley-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_LMDB) $(COMMON_LIBS)
