# common/: the library every daemon links.
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(OBJ)/%.o)
COMMON_FUZZOBJS := $(COMMON_SRCS:%.c=$(FUZZ)/obj/%.o)

$(LIB)/libparley-common.a: $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

common_FUZZOBJS :=
$(eval $(call parley_unit,common,,))
