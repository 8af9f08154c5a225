# The C programs: the test suite and its runners, the examples, the checks
# on the shared library, gdb and the stress test. docs/testing.md says what
# each proves.

.PHONY: check-c demo check-demo check-dlopen check-shared check-gdb check-stress stress

# --- What each C program is made of, and one pattern rule per build ------
# build/c-tests/NAME (-O2 -g, the release archive); build/asan/NAME and
# build/tsan/NAME (mk/sanitizers.mk) and build/bench/NAME (mk/bench.mk)
# build the same NAME_SRC on other archives.
run_SRC = $(C_TEST_SRC)
# The suite again with fork() and pthread_create() watched (check-aarch64).
spawn-watch_SRC = $(C_TEST_SRC) c-tests/spawn-watch.c
# -rdynamic exports `loader_lock_held` to loader-lock-holder.so.
overflow_SRC = c-tests/overflow.c c-tests/harness.c
overflow_LDFLAGS = -rdynamic -DLOADER_LOCK_HOLDER_SO='"$(CURDIR)/$(LOCK_HOLDER_SO)"'
stress_SRC = $(STRESS_SRC)
use-after-free_SRC = c-tests/asan-use-after-free.c
gdb-target_SRC = c-tests/gdb-target.c
hello-coroutine_SRC = examples/hello-coroutine.c examples/peer.c
hello-callbacks_SRC = examples/hello-callbacks.c examples/peer.c
bench_SRC = bench/bench.c

C_DEPS = $(wildcard c-tests/*.h examples/*.h) $(HEADERS)
C_LINK = $(WARNFLAGS) -Iinclude -Ic-tests -pthread $($(@F)_LDFLAGS) -o $@ $($(@F)_SRC)

build/c-tests/%: $$($$*_SRC) $(C_DEPS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(C_LINK) $(LIB_A) $(NATIVE_LIBS)

# Stack overflow reports get their own runner (OVERFLOW_BIN): its parent
# process never touches coroutines, so each forked case starts like a fresh
# program.
check-c: $(C_TEST_BIN) $(OVERFLOW_BIN) $(DLCLOSE_BIN)
	$(C_TEST_BIN)
	$(OVERFLOW_BIN)
	$(DLCLOSE_BIN)

# A shared object whose constructor never returns (holds the loader's lock).
$(LOCK_HOLDER_SO): c-tests/loader-lock-holder.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARNFLAGS) -shared -fPIC -o $@ $<
$(OVERFLOW_BIN) build/asan/overflow build/tsan/overflow: $(LOCK_HOLDER_SO)

# libqemucoro.so dlopened, used and dlclosed, in a runner of its own that
# does not link the library (build/asan/dlclose: the ASan-annotated one).
$(DLCLOSE_BIN): $(DLCLOSE_SRC) c-tests/harness.h $(LIB_SO)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARNFLAGS) -pthread -DLIBQEMUCORO_SO='"$(CURDIR)/$(LIB_SO)"' -o $@ \
	    $(DLCLOSE_SRC) -ldl

# --- The examples ---------------------------------------------------------
# The seed's say_hello over socketpairs, driven by our event loop: three
# scripted clients served at once, as coroutines and as callbacks.
EXAMPLES = build/c-tests/hello-coroutine build/c-tests/hello-callbacks

demo: $(EXAMPLES)
	@build/c-tests/hello-coroutine
	@build/c-tests/hello-callbacks

check-demo: $(EXAMPLES)
	@build/c-tests/hello-coroutine > build/c-tests/hello-coroutine.out
	@build/c-tests/hello-callbacks > build/c-tests/hello-callbacks.out
	@diff -u examples/hello-coroutine.expected build/c-tests/hello-coroutine.out
	@diff -u examples/hello-callbacks.expected build/c-tests/hello-callbacks.out
	@echo "demo: both say_hello examples printed the expected transcripts"

# --- The shared library ---------------------------------------------------
# A program that does not link the library dlopen()s it (the initial-exec
# thread block comes from glibc's static TLS surplus then) and runs
# coroutines on two threads.
build/dlopen: c-tests/dlopen.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARNFLAGS) -pthread -o $@ $< -ldl

check-dlopen: build/dlopen $(LIB_SO)
	build/dlopen $(CURDIR)/$(LIB_SO)

# The shared library's hot paths cost what the archive's do: no call to
# __tls_get_addr and none through the PLT in the functions the C API's
# enter, yield and create run...
# (names as they appear in the symbol: the Rust ones mangled, hence their
# length prefixes and hash suffixes)
HOT_FNS = <qemu_coroutine_enter> <qemu_coroutine_yield> <qemu_coroutine_create> \
    <qemu_coroutine_self> 11enter_begin17h 9enter_end17h 15qemucoro_switch17h
# ... and yield and enter_begin reach the switch with a direct tail jump,
# and enter leaves without `ret` (so no `ret` crosses a switch:
# src/coroutine.rs; cross/check-aarch64.sh runs the same on aarch64).
check-shared: $(LIB_SO) $(LIB_A)
	tools/check-tail-branches.sh objdump $(LIB_SO) $(LIB_A)
	@objdump -d --no-show-raw-insn $(LIB_SO) | awk -v fns="$(HOT_FNS)" ' \
	    BEGIN { n = split(fns, f, " ") } \
	    /^[0-9a-f]+ <.*>:$$/ { hot = 0; for (i = 1; i <= n; i++) if (index($$2, f[i])) hot = 1; name = $$2 } \
	    hot && /__tls_get_addr|@plt/ { print "libqemucoro.so: " name ": " $$0; bad = 1 } \
	    END { exit bad }' || { echo "shared: a hot path calls __tls_get_addr or the PLT"; exit 1; }
	@readelf -d $(LIB_SO) | grep -q STATIC_TLS || { echo "shared: no initial-exec TLS (DF_STATIC_TLS)"; exit 1; }
	@echo "shared: hot paths without __tls_get_addr or PLT calls; thread block initial-exec"

# --- gdb and the stress test ----------------------------------------------
# gdb/qemucoro.py on a program stopped at a known point, live and on a core.
check-gdb: build/c-tests/gdb-target
	gdb/check.sh build/c-tests/gdb-target build/gdb

# Seeded randomised stress test (c-tests/stress.c, single thread, and
# c-tests/stress-threads.c, 4 iothreads). `make check` runs 20 bounded
# rounds of each from fresh seeds (about 2 s); `make stress SECONDS=N` runs
# rounds of both for N seconds; a failure prints its seed, and `make stress
# SEED=n` replays its scripts.
SECONDS ?= 60
check-stress: $(STRESS_BIN)
	$(STRESS_BIN) --rounds 20

stress: $(STRESS_BIN)
	$(STRESS_BIN) $(if $(SEED),--seed $(SEED),--seconds $(SECONDS))
