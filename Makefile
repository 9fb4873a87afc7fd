# Parley: top-level build.
#
#   make            build every daemon, parleyctl and parley-load
#   make run        build and start the stack on loopback with demo data
#                   (PORT_BASE=8000 RUN_DIR=run SHARDS=2 by default)
#   make test       build and run unit, fuzz-smoke and integration tests
#   make soak       long load, fault and fuzz runs (SOAK_FUZZ_RUNS)
#   make bench      benchmarks (QUICK=1 for a short subset)
#   make fuzz       every libFuzzer target for FUZZ_RUNS executions
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean
#
# SANITIZE=address,undefined builds everything with those sanitizers.
# WERROR=1 turns warnings into errors (CI sets it).
# Each part of the tree adds itself through a */module.mk fragment.

CC       ?= cc
FUZZCC   ?= clang
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    := build
SANITIZE ?=
WERROR   ?=
OPT      ?= -O2
FUZZ_RUNS ?= 1000000
FUZZ_SMOKE_SECONDS ?= 3

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla \
	-Wcast-align -Wwrite-strings -Wundef -Wold-style-definition \
	-Wno-unused-parameter

CPPFLAGS += -D_GNU_SOURCE -I. -Icommon
CFLAGS   += -std=c11 $(OPT) -g -pthread $(WARNINGS)
LDFLAGS  += -pthread

ifneq ($(WERROR),)
CFLAGS += -Werror
endif

ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIBS_EV     := -lev
LIBS_HTTP   := -lhttp_parser
LIBS_WSLAY  := -lwslay
LIBS_SSL    := -lssl -lcrypto
LIBS_LMDB   := -llmdb
LIBS_MSGPK  := -lmsgpackc
LIBS_JSON   := -ljansson
LIBS_INI    := -linih
LIBS_UTF8   := -lutf8proc
LIBS_CMOCKA := -lcmocka

# Everything common/ needs; daemons add their own.
COMMON_LIBS := $(LIBS_EV) $(LIBS_HTTP) $(LIBS_WSLAY) $(LIBS_SSL) \
	$(LIBS_MSGPK) $(LIBS_JSON) $(LIBS_INI) $(LIBS_UTF8) -lm

BIN  := $(BUILD)/bin
OBJ  := $(BUILD)/obj
LIB  := $(BUILD)/lib
FUZZ := $(BUILD)/fuzz

# Filled in by the module fragments.
PROGRAMS     :=
UNIT_TESTS   :=
FUZZ_TARGETS :=

.PHONY: all run test soak bench fuzz install clean deps unit fuzz-smoke \
	integration format
all:

# Keep objects that pattern rules make on the way to a test binary.
.SECONDARY:

# Rebuild everything when the compiler or its flags change, so that a
# sanitizer build never links with plain objects.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
$(shell mkdir -p $(BUILD); \
	if [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" != "$(FLAGS_NOW)" ]; then \
		echo "$(FLAGS_NOW)" > $(FLAGS_STAMP); fi)

$(OBJ)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# Fuzz objects: clang with libFuzzer instrumentation, kept apart.
FUZZ_CFLAGS := -std=c11 -g -O1 -D_GNU_SOURCE -DPARLEY_FUZZ -I. -Icommon \
	-fsanitize=fuzzer-no-link,address,undefined -pthread
$(FUZZ)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

include mk/rules.mk
# common/ first: the other fragments name its objects in prerequisites.
include common/module.mk
include $(sort $(filter-out common/module.mk,$(wildcard */module.mk)))
include mk/tests.mk

all: $(PROGRAMS)

# make test also installs the browser its web client tests drive.
DEPS_PROFILES ?=
test: DEPS_PROFILES += web

deps:
	@bash mk/deps.sh $(DEPS_PROFILES)

# make run starts two shards unless told otherwise (SHARDS=1).
SHARDS ?= 2
run: deps all
	@bash tools/run-stack.sh $(if $(PORT_BASE),-p $(PORT_BASE)) \
		$(if $(RUN_DIR),-d $(RUN_DIR)) $(if $(SHARDS),-n $(SHARDS))

unit: $(UNIT_TESTS)
	@bash mk/run-unit.sh $(UNIT_TESTS)

fuzz-smoke: $(FUZZ_TARGETS)
	@bash mk/run-fuzz.sh smoke $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

fuzz: deps $(FUZZ_TARGETS)
	@bash mk/run-fuzz.sh long $(FUZZ_RUNS) $(FUZZ_TARGETS)

integration: all
	@bash mk/run-integration.sh

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_TESTS) $(FUZZ_TARGETS)
	@bash mk/run-tests.sh "$(UNIT_TESTS)" "$(FUZZ_TARGETS)" \
		$(FUZZ_SMOKE_SECONDS)

soak: deps all $(FUZZ_TARGETS)
	@bash mk/run-soak.sh

bench: deps all
	@bash bench/run.sh

# What an operator runs; test servers and load drivers stay in build/.
INSTALL_PROGRAMS = $(filter $(addprefix $(BIN)/,parley-backend parley-edge \
	parley-spoa parley-health parleyctl parley-load),$(PROGRAMS))
SHARE := $(DESTDIR)$(PREFIX)/share/parley

# Installed files name the installed paths, not /usr/local.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)
	install -m 755 $(INSTALL_PROGRAMS) $(DESTDIR)$(PREFIX)/bin
	for d in haproxy-config web; do \
		if [ -d $$d ]; then cp -R $$d $(SHARE)/; fi; \
	done
	find $(SHARE)/haproxy-config -type f -exec sed -i \
	    -e 's|/usr/local/share/parley|$(PREFIX)/share/parley|g' \
	    -e 's|/usr/local/bin|$(PREFIX)/bin|g' {} +

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
