# edge/: parley-edge, the edge cache.
$(eval $(call parley_daemon,edge,edge,parley-edge,$(LIBS_UTF8)))

# bench/edge-bench: the cache's numbers on synthetic teams (bench/edge.sh).
$(BUILD)/bench/edge-bench: $(OBJ)/bench/edge-bench.o \
		$(LIB)/libparley-edge.a $(LIB)/libparley-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_UTF8) $(COMMON_LIBS)
