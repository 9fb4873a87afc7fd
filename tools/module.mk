# tools/: parleyctl, the administration tool of a store.  It links the
# backend archive for the store code.
$(BIN)/parleyctl: $(OBJ)/tools/parleyctl.o $(OBJ)/tools/ctl_admin.o \
		$(OBJ)/tools/ctl_shard.o \
		$(LIB)/libparley-backend.a \
		$(LIB)/libparley-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_LMDB) $(COMMON_LIBS)

PROGRAMS += $(BIN)/parleyctl
