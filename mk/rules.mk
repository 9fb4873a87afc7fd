# Macros the */module.mk fragments use.
#
# $(call parley_daemon,MOD,DIR,BINARY,LIBS)
#   Every DIR/*.c but main.c goes into $(LIB)/libparley-MOD.a; main.c is
#   linked with it and common/ into $(BIN)/BINARY.  tests/unit/test_MOD_*.c
#   become unit tests and tests/fuzz/fuzz_MOD_*.c libFuzzer targets, both
#   linked with the same archive.  A folder without main.c yet builds
#   only the archive and its tests.  Use it through $(eval ...).

define parley_unit
$$(BUILD)/tests/test_$(1)_%: $$(OBJ)/tests/unit/test_$(1)_%.o $(2) \
		$$(LIB)/libparley-common.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $(3) $$(COMMON_LIBS) $$(LIBS_CMOCKA)

$$(FUZZ)/bin/fuzz_$(1)_%: $$(FUZZ)/obj/tests/fuzz/fuzz_$(1)_%.o \
		$$($(1)_FUZZOBJS) $$(COMMON_FUZZOBJS)
	@mkdir -p $$(dir $$@)
	$$(FUZZCC) -fsanitize=fuzzer,address,undefined -pthread -o $$@ $$^ \
		$(3) $$(COMMON_LIBS)
endef

define parley_daemon
$(1)_SRCS := $$(wildcard $(2)/*.c)
$(1)_LIBSRCS := $$(filter-out $(2)/main.c,$$($(1)_SRCS))
$(1)_OBJS := $$($(1)_LIBSRCS:%.c=$$(OBJ)/%.o)
$(1)_FUZZOBJS := $$($(1)_LIBSRCS:%.c=$$(FUZZ)/obj/%.o)

$$(LIB)/libparley-$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(dir $$@)
	rm -f $$@
	$$(AR) rcs $$@ $$^

ifneq ($$(wildcard $(2)/main.c),)
$$(BIN)/$(3): $$(OBJ)/$(2)/main.o $$(LIB)/libparley-$(1).a \
		$$(LIB)/libparley-common.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $(4) $$(COMMON_LIBS)

PROGRAMS += $$(BIN)/$(3)
endif
$$(eval $$(call parley_unit,$(1),$$(LIB)/libparley-$(1).a,$(4)))
endef
