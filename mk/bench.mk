# make bench: bench/bench.c on our library (static, shared, and static
# called through the GOT) against QEMU's own coroutines, with the raw switch
# floors (bench/floor/), run in turn by bench/compare.py. docs/performance.md
# has the figures and how to read them.

.PHONY: bench

BENCH_ROUNDS ?= 5

build/bench/%: $$($$*_SRC) $(C_DEPS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(C_LINK) $(LIB_A) $(NATIVE_LIBS)

# The floors: a program of its own (corosensei, Boost.Context's fcontext and
# our switch compiled from crates/switch/src/arch), so the library carries none.
FLOOR_BIN = target/floor/release/qemucoro-bench-floor
$(FLOOR_BIN): bench/floor/Cargo.toml bench/floor/Cargo.lock bench/floor/src/main.rs \
              $(wildcard crates/switch/src/arch/*.rs)
	$(CARGO) build --release --locked --manifest-path bench/floor/Cargo.toml --target-dir target/floor

# The same program on the shared library, for the .so column (rpath to
# the release .so).
build/bench/bench-shared: $(bench_SRC) $(C_DEPS) $(LIB_SO)
	@mkdir -p $(@D)
	ln -sf libqemucoro.so $(LIB_SO).0
	$(CC) $(CFLAGS) $(WARNFLAGS) -Iinclude -Ic-tests -pthread -o $@ $(bench_SRC) \
	    -L$(dir $(LIB_SO)) -Wl,-rpath,$(CURDIR)/$(dir $(LIB_SO)) -lqemucoro

# The archive again, with the program's calls into it left going through
# the GOT (--no-relax), as they must into a shared library: the .so's floor.
build/bench/bench-got: $(bench_SRC) $(C_DEPS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARNFLAGS) -Iinclude -Ic-tests -pthread -o $@ $(bench_SRC) \
	    $(LIB_A) $(NATIVE_LIBS) -Wl,--no-relax

BENCH_COMPARE = python3 bench/compare.py --rounds $(BENCH_ROUNDS) --floor $(FLOOR_BIN) \
	--shared build/bench/bench-shared --got build/bench/bench-got build/bench/bench
bench: build/bench/bench build/bench/bench-shared build/bench/bench-got $(FLOOR_BIN)
	@if bench/build-qemu-baseline.sh >build/bench-qemu.log 2>&1; then \
	    $(BENCH_COMPARE) build/bench-qemu; \
	else \
	    tail -5 build/bench-qemu.log; \
	    echo "QEMU's coroutines could not be built (build/bench-qemu.log): no baseline"; \
	    $(BENCH_COMPARE); \
	fi

