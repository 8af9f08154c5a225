# qemucoro: build the library and header, run the tests, install.
#   make            release libraries + include/coroutine.h
#   make check      layer order, Rust unit tests, header drift, link line, C tests
#   make install    PREFIX=/usr/local (libraries, headers, pkg-config file)
#   make check-asan / check-tsan / check-valgrind   C tests under sanitizers
#   make check-gdb  gdb/qemucoro.py on a live process and a core (in check)
#   make check-qemu / check-qemu-asan   QEMU itself on the qemucoro backend
#   make check-vs-qemu  the C suite against QEMU's own util/ code
#   make check-aarch64   cross-built for aarch64, C tests under qemu-aarch64
#   make stress SECONDS=N | SEED=n   long randomised runs / replay a seed
#   make demo       the seed's say_hello, as a coroutine and as callbacks
#   make bench      the benchmark against QEMU's own coroutines
# The targets live in mk/ by concept; docs/testing.md says what each proves.

CARGO ?= cargo
CC ?= cc
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
CFLAGS ?= -O2 -g
WARNFLAGS = -Wall -Wextra -Werror
# The version lives in Cargo.toml only.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))

RELEASE = target/release
LIB_A = $(RELEASE)/libqemucoro.a
LIB_SO = $(RELEASE)/libqemucoro.so
HEADER = include/coroutine.h
# build.rs writes the header here, never into the source tree.
GEN_HEADER = $(RELEASE)/include/coroutine.h
# The same library built with sanitizer annotations.
ASAN_LIB = target/asan/release/libqemucoro.a
TSAN_LIB = target/tsan/release/libqemucoro.a
# The hand-written C the generated header includes (cbindgen.toml).
HEADER_PARTS = include/coroutine-prelude.h include/coroutine-epilogue.h
HEADERS = $(HEADER) $(HEADER_PARTS) include/iothread.h $(wildcard include/qemu/*.h include/block/*.h include/qapi/*.h)
# What Rust's std needs from the system when linking the static library;
# `make check-link-line` keeps this equal to rustc's own list.
NATIVE_LIBS = -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

RUST_SRC = Cargo.toml Cargo.lock build.rs cbindgen.toml $(shell find src crates -name '*.rs' -o -name Cargo.toml)

C_TEST_SRC = $(wildcard c-tests/test-*.c) c-tests/harness.c
C_TEST_BIN = build/c-tests/run
OVERFLOW_BIN = build/c-tests/overflow
DLCLOSE_BIN = build/c-tests/dlclose
DLCLOSE_SRC = c-tests/dlclose.c c-tests/harness.c
LOCK_HOLDER_SO = build/c-tests/loader-lock-holder.so
STRESS_SRC = c-tests/stress.c c-tests/stress-threads.c
STRESS_BIN = build/c-tests/stress

.PHONY: all check clean FORCE

all: $(LIB_A) $(LIB_SO) $(HEADER) glib

# One cargo run makes both libraries and (through build.rs) the header.
$(LIB_A) $(LIB_SO) $(GEN_HEADER) &: $(RUST_SRC)
	$(CARGO) build --release --locked
	@touch $(LIB_A) $(LIB_SO) $(GEN_HEADER)

# `make` keeps the checked-in header equal to the generated one.
$(HEADER): $(GEN_HEADER)
	@cmp -s $< $@ || { cp $< $@; echo "$@: regenerated from the Rust source"; }
	@touch $@

check: check-style check-layers check-rust check-header check-link-line check-c check-demo \
       check-install check-gdb check-stress check-dlopen check-shared check-iothread-names \
       check-glib

clean:
	$(CARGO) clean
	rm -rf build

# The C programs' pattern rules (mk/c-tests.mk, mk/sanitizers.mk,
# mk/bench.mk) name each program's sources as $$($$*_SRC).
.SECONDEXPANSION:

include mk/rust.mk
include mk/c-tests.mk
include mk/install.mk
include mk/sanitizers.mk
include mk/bench.mk
include mk/qemu.mk
include mk/cross.mk
include mk/qemu-tests.mk
include mk/glib.mk
include mk/poolapi.mk
include mk/qemu-full-symbols.mk
