# bench/: parley-load, the load generator (bench/load/), and
# parley-wstest, a WebSocket echo and broadcast server built on common/
# that the idle-memory and load scenarios run against.
LOAD_SRCS := $(wildcard bench/load/*.c)
LOAD_OBJS := $(LOAD_SRCS:%.c=$(OBJ)/%.o)

$(BIN)/parley-load: $(LOAD_OBJS) $(LIB)/libparley-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(COMMON_LIBS) -lhiredis -lm

$(BIN)/parley-wstest: $(OBJ)/bench/ws-server.o $(LIB)/libparley-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(COMMON_LIBS)

PROGRAMS += $(BIN)/parley-load $(BIN)/parley-wstest

# parley-null-agent, a SPOA that answers every NOTIFY with a fixed ACK,
# and parley-spoa-load, frame-level load for an agent (bench/spoa.sh).
$(BIN)/parley-null-agent: $(OBJ)/bench/null-agent.o $(LIB)/libparley-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(COMMON_LIBS)

$(BIN)/parley-spoa-load: $(OBJ)/bench/spoa-load.o $(LIB)/libparley-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(COMMON_LIBS)

PROGRAMS += $(BIN)/parley-null-agent $(BIN)/parley-spoa-load
