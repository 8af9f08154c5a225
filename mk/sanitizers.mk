# The C tests under ASan, TSan and Valgrind's memcheck. The Rust side is
# built normally but with our `asan`/`tsan` cargo feature (stack-switch
# annotations only) into its own target dir; the C side is instrumented by
# gcc, whose libasan/libtsan supply the runtime.

.PHONY: check-asan check-tsan check-valgrind

SAN_CFLAGS = -O1 -g -fno-omit-frame-pointer

$(ASAN_LIB): $(RUST_SRC)
	$(CARGO) build --release --locked --features asan --target-dir target/asan
	@touch $@

$(TSAN_LIB): $(RUST_SRC)
	$(CARGO) build --release --locked --features tsan --target-dir target/tsan
	@touch $@

build/asan/%: $$($$*_SRC) $(C_DEPS) $(ASAN_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -fsanitize=address $(C_LINK) $(ASAN_LIB) $(NATIVE_LIBS)

build/tsan/%: $$($$*_SRC) $(C_DEPS) $(TSAN_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -fsanitize=thread $(C_LINK) $(TSAN_LIB) $(NATIVE_LIBS)

build/asan/dlclose: $(DLCLOSE_SRC) c-tests/harness.h $(ASAN_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(WARNFLAGS) -fsanitize=address -pthread \
	    -DLIBQEMUCORO_SO='"$(CURDIR)/target/asan/release/libqemucoro.so"' -o $@ \
	    $(DLCLOSE_SRC) -ldl

# Every C test under ASan with no report, the overflow and dlclose runners,
# the stress test, then proof that ASan still sees a real bug on a
# coroutine stack (tools/check-asan.sh says which test stays out and why).
check-asan: build/asan/run build/asan/overflow build/asan/stress build/asan/use-after-free \
            build/asan/dlclose
	tools/check-asan.sh

# Every test that runs more than one thread (iothreads, pthreads, the
# examples' peer threads), under TSan, which must report nothing: the first
# report ends the run with status 66. The single-thread tests stay out
# (/scale and /stack exhaust TSan's mappings), and so does /fork: its
# children start threads after a fork of a multithreaded process, which
# TSan refuses (die_after_fork).
TSAN_RUN = TSAN_OPTIONS=halt_on_error=1:exitcode=66
TSAN_TESTS = /threads /pool /aio /co-mutex/threads /sleep /co-io /main-loop /qemu- /event-notifier
# It measures RSS, which under TSan is mostly TSan's shadow memory. The fd
# race test closes fds while registered, on purpose, as other threads'
# aio_set_fd_handler probe the numbers: TSan reports the fd itself.
TSAN_SKIP = --skip /pool/burst-gives-back-stack-pages --skip /aio/fd-table/race-stale-handler
check-tsan: build/tsan/run build/tsan/overflow build/tsan/hello-coroutine build/tsan/hello-callbacks
	for t in $(TSAN_TESTS); do $(TSAN_RUN) build/tsan/run $$t $(TSAN_SKIP) || exit 1; done
	$(TSAN_RUN) build/tsan/overflow /overflow/c-thread
	for e in hello-coroutine hello-callbacks; do \
	    $(TSAN_RUN) build/tsan/$$e > build/tsan/$$e.out || exit 1; \
	    diff -u examples/$$e.expected build/tsan/$$e.out || exit 1; \
	done
	@echo "tsan: multi-thread tests and examples clean ($(TSAN_TESTS) /overflow/c-thread)"

# Every C test under memcheck, in every process, with no error, no definite
# leak and no unregistered stack switch (tools/check-valgrind.sh says which
# tests stay out and why).
check-valgrind: $(C_TEST_BIN) $(OVERFLOW_BIN) $(DLCLOSE_BIN) $(STRESS_BIN)
	tools/check-valgrind.sh $(C_TEST_BIN) $(OVERFLOW_BIN) $(DLCLOSE_BIN) $(STRESS_BIN)
