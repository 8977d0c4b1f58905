# h8s — GNU make build.
#
# Layout is convention, not configuration: every .c under core/ and proto/
# goes into build/libh8s.a, gateway/*.c link into build/h8sd, agent/*.c into
# build/h8srd, every tests/test_*.c becomes one cmocka test binary (with
# tests/support/*.c linked in), every fuzz/fuzz_*.c one libFuzzer harness
# whose seed corpus is fuzz/corpus/<name>/. Adding a file needs no edit here.

CC      ?= cc
ifeq ($(origin CC),default)
CC      := cc
endif
BUILD   ?= build

# Debian packages the project needs; `make deps` installs the missing ones.
DEPS_PKGS := build-essential clang libclang-rt-14-dev liburing-dev libbearssl-dev \
             node-llhttp libcmocka-dev libsodium-dev nats-server libnats-dev \
             curl openssl python3 python3-websockets

# Only `make bench-http` needs these; `make bench-deps` installs them.
BENCH_PKGS := wrk nginx-light

LLHTTP_DIR := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
LLHTTP_SRC := $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c $(LLHTTP_DIR)/llhttp.c

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla
CPPFLAGS += -D_GNU_SOURCE -I. -I$(LLHTTP_INC)
CFLAGS   ?= -O2 -g
# Language and warnings are not part of CFLAGS, so that overriding CFLAGS on
# the command line (as `make asan` does) can never drop -Werror.
H8S_CFLAGS := -std=c11 $(WARN) -fno-strict-aliasing
LDLIBS   += -luring -lbearssl -lsodium -lpthread
# llhttp is generated third-party code, built in its strict mode. It gets our optimisation flags but
# not our warning set (it has unused parameters by design). Ours stays -Werror.
LLHTTP_CFLAGS := -O2 -g -std=c11 -DLLHTTP_STRICT_MODE=1

LIB_SRC  := $(sort $(wildcard core/*.c proto/*.c))
GW_SRC   := $(sort $(wildcard gateway/*.c))
AG_SRC   := $(sort $(wildcard agent/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TSUP_SRC := $(sort $(wildcard tests/support/*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
BENCH_SRC:= $(sort $(wildcard bench/bench_*.c))

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LLHTTP_OBJ := $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/obj/llhttp/%.o,$(LLHTTP_SRC))
GW_OBJ     := $(GW_SRC:%.c=$(BUILD)/obj/%.o)
AG_OBJ     := $(AG_SRC:%.c=$(BUILD)/obj/%.o)
TSUP_OBJ   := $(TSUP_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
FUZZ_BIN   := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all deps test unit asan fuzz fuzz-smoke static demo clean bench-nats bench-ws bench-bin check-deps \
        bench-deps bench-http
.DELETE_ON_ERROR:
# Object files are kept even when only a pattern rule names them.
.SECONDARY:

all: $(BUILD)/h8sd $(BUILD)/h8srd

# ---------------------------------------------------------------- deps
# Installs whatever is missing when run as root; otherwise prints the exact
# command. Targets that compile depend on check-deps, which only verifies and
# names the missing packages.
deps bench-deps: PKGS = $(if $(filter bench-deps,$@),$(BENCH_PKGS),$(DEPS_PKGS))
deps bench-deps:
	@missing=$$(for p in $(PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "$@: all packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	    echo "$@: installing:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	    echo "$@: missing packages; run: sudo apt-get install -y" $$missing; exit 1; \
	fi

check-deps:
	@for h in liburing.h bearssl.h sodium.h; do \
	    [ -f /usr/include/$$h ] || { echo "missing $$h: run 'make deps' (packages liburing-dev libbearssl-dev libsodium-dev)"; exit 1; }; \
	done; \
	[ -f $(LLHTTP_DIR)/llhttp.c ] || { echo "missing llhttp sources: run 'make deps' (package node-llhttp)"; exit 1; }

# ---------------------------------------------------------------- build
$(BUILD)/obj/%.o: %.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(H8S_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c | check-deps
	@mkdir -p $(@D)
	$(CC) -I$(LLHTTP_INC) $(LLHTTP_CFLAGS) $(EXTRA_LLHTTP_CFLAGS) -c $< -o $@

$(BUILD)/libh8s.a: $(LIB_OBJ) $(LLHTTP_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/h8sd: $(GW_OBJ) $(BUILD)/libh8s.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(GW_OBJ) $(BUILD)/libh8s.a $(LDLIBS)

$(BUILD)/h8srd: $(AG_OBJ) $(BUILD)/libh8s.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(AG_OBJ) $(BUILD)/libh8s.a $(LDLIBS)

# ---------------------------------------------------------------- tests
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TSUP_OBJ) $(BUILD)/libh8s.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TSUP_OBJ) $(BUILD)/libh8s.a $(LDLIBS) -lcmocka

unit: $(TEST_BIN) $(BUILD)/h8sd $(BUILD)/h8srd

# Runs every test binary (each starts its own nats-server where it needs one)
# and prints one summary line. TESTS=name restricts to matching binaries.
test: deps
	@$(MAKE) --no-print-directory unit
	@BUILD=$(BUILD) tests/run.sh $(TEST_BIN)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer (clang).
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    EXTRA_LLHTTP_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" test

# ---------------------------------------------------------------- fuzz
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS  := -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# The library is compiled once with coverage instrumentation
# (fuzzer-no-link); each harness then only compiles its own file and links.
FUZZ_LIB_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o) $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/fuzzobj/llhttp/%.o,$(LLHTTP_SRC))

$(BUILD)/fuzzobj/%.o: %.c | check-deps
	@mkdir -p $(@D)
	clang $(CPPFLAGS) -std=c11 $(WARN) $(FUZZ_LIB_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fuzzobj/llhttp/%.o: $(LLHTTP_DIR)/%.c | check-deps
	@mkdir -p $(@D)
	clang -I$(LLHTTP_INC) -std=c11 -DLLHTTP_STRICT_MODE=1 $(FUZZ_LIB_CFLAGS) -c $< -o $@

$(BUILD)/libh8s-fuzz.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/%: fuzz/%.c $(BUILD)/libh8s-fuzz.a
	@mkdir -p $(@D)
	clang $(CPPFLAGS) -std=c11 $(WARN) $(FUZZ_CFLAGS) -MMD -MP -MF $@.d -o $@ $< $(BUILD)/libh8s-fuzz.a $(LDLIBS)

fuzz: $(FUZZ_BIN)

# Each harness runs FUZZ_SECONDS from a scratch copy of its seed corpus;
# any crash, leak or timeout fails the target.
fuzz-smoke: deps
	@$(MAKE) --no-print-directory fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) fuzz/smoke.sh $(FUZZ_BIN)

# ---------------------------------------------------------------- bench
$(BUILD)/bench/%: bench/%.c $(wildcard bench/*.h) $(TSUP_OBJ) $(BUILD)/libh8s.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(H8S_CFLAGS) $(CFLAGS) -o $@ $< $(TSUP_OBJ) $(BUILD)/libh8s.a $(LDLIBS) -lnats

# Our NATS client against nats.c: bench/bench_nats.c starts one nats-server
# on a free loopback port and runs BENCH_ROUNDS interleaved rounds of both
# clients, then prints medians and ratios. BENCH_ARGS passes more options
# (-p/-q/-l: message and request counts; see bench/bench_nats.c).
BENCH_ROUNDS ?= 5
bench-bin: $(BENCH_BIN) $(TSUP_OBJ)

bench-nats: deps
	@$(MAKE) --no-print-directory bench-bin
	@$(BUILD)/bench/bench_nats -r $(BENCH_ROUNDS) -d $(BUILD)/bench $(BENCH_ARGS)

# WebSocket echo (bench/bench_ws.c): 64-byte messages over 100 connections,
# straight to an app and through the tunnel, in one run, with the ratio.
# BENCH_WS_ARGS passes more options (-c, -s, -t, -w).
bench-ws: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench_ws
	@$(BUILD)/bench/bench_ws $(BENCH_WS_ARGS)

# HTTP through the tunnel against nginx: wrk (keep-alive, 64 connections,
# 1 KiB answers) straight at an nginx backend, through one and two nginx
# proxies, and through h8sd → nats-server → h8srd, interleaved over
# BENCH_ROUNDS rounds of BENCH_SECONDS each; prints medians, ratios and CPU
# time per request (see bench/bench_http.sh).
BENCH_SECONDS ?= 5
bench-http: deps bench-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) BENCH_ROUNDS=$(BENCH_ROUNDS) BENCH_SECONDS=$(BENCH_SECONDS) bench/bench_http.sh

# ---------------------------------------------------------------- release
static:
	@$(MAKE) --no-print-directory BUILD=build/static LDFLAGS="-static" all
	@for b in build/static/h8sd build/static/h8srd; do \
	    if ldd $$b >/dev/null 2>&1; then echo "$$b is not static"; exit 1; fi; \
	    echo "$$b: static, $$(stat -c %s $$b) bytes"; done

# nats-server, a sample app, h8srd and h8sd on loopback, and a few real
# requests through them (tests/demo.sh); everything stops at the end.
demo: deps all
	@tests/demo.sh $(BUILD)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/fuzzobj $(BUILD)/fuzz -name '*.d' 2>/dev/null)
