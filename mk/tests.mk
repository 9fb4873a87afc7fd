# Unit tests and fuzz targets are found by name; see mk/rules.mk.
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
UNIT_TESTS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ)/bin/%)

# Tools of the fault tests.
include tests/faults/module.mk
