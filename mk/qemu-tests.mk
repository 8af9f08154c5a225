# QEMU 10.0.2's own unit tests (tests/unit/test-coroutine.c, test-aio.c,
# test-aio-multithread.c, test-thread-pool.c, with iothread.c) compiled
# unchanged against the installed library, static and shared
# (qemu/check-qemu-tests.sh says which files wait for which API).
.PHONY: check-qemu-tests

check-qemu-tests:
	qemu/check-qemu-tests.sh

# A program that defines QEMU's iothread_new/iothread_get_aio_context/
# iothread_join itself (as tests/unit/iothread.c does) links with the
# archive and with the shared library, and runs its own definitions (the
# library exports qemucoro_iothread_*; include/iothread.h maps the QEMU
# names onto those for programs that want the library's).
.PHONY: check-iothread-names
IOTHREAD_NAMES_BIN = build/c-tests/defines-iothread-static build/c-tests/defines-iothread-shared

build/c-tests/defines-iothread-static: c-tests/defines-iothread.c $(HEADERS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARNFLAGS) -Iinclude -pthread -o $@ $< $(LIB_A) $(NATIVE_LIBS)

build/c-tests/defines-iothread-shared: c-tests/defines-iothread.c $(HEADERS) $(LIB_SO)
	@mkdir -p $(@D)
	ln -sf libqemucoro.so $(RELEASE)/libqemucoro.so.$(SOMAJOR)
	$(CC) $(CFLAGS) $(WARNFLAGS) -Iinclude -pthread -o $@ $< \
	    -L$(RELEASE) -Wl,-rpath,$(CURDIR)/$(RELEASE) -lqemucoro

check-iothread-names: $(IOTHREAD_NAMES_BIN)
	build/c-tests/defines-iothread-static
	build/c-tests/defines-iothread-shared
	@echo "iothread names: a program's own iothread_new/get_aio_context/join link and run, static and shared"
