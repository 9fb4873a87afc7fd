# The fault tests' tools (docs/reliability.md): the power-loss shim,
# preloaded into parley-backend, and the replay that checks its journal.
# The shim is built without sanitizers so that it can be preloaded into
# any build of the backend.
FAULT_TOOLS := $(BUILD)/tests/powerloss.so $(BUILD)/tests/powerloss-replay
all: $(FAULT_TOOLS)

$(BUILD)/tests/powerloss.so: tests/faults/powerloss.c \
		tests/faults/powerloss.h $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -D_GNU_SOURCE $(WARNINGS) \
		$(if $(WERROR),-Werror) -fPIC -shared -pthread -o $@ $< -ldl

$(BUILD)/tests/powerloss-replay: tests/faults/powerloss_replay.c \
		tests/faults/powerloss.h $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS_LMDB)
