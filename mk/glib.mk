# libqemucoro-glib: the AioContext as a GLib event source (docs/glib.md).
# A separate library, so that only programs that use GLib link it; the
# core library stays GLib-free (check-glib proves it).
#   make glib           build/glib/libqemucoro-glib.{a,so} (part of `all`)
#   make check-glib     c-tests/test-gsource.c on the archives and, through
#                       an installed qemucoro-glib.pc, on the shared
#                       libraries; the core's independence from GLib
#   make install-glib / uninstall-glib   (part of install / uninstall)
#   make check-glib-tsan / check-glib-valgrind   the suite under TSan / memcheck

.PHONY: glib check-glib install-glib uninstall-glib have-glib check-glib-tsan check-glib-valgrind

HAVE_GLIB := $(shell pkg-config --exists glib-2.0 2>/dev/null && echo yes)
GLIB_CFLAGS = $(shell pkg-config --cflags glib-2.0)
GLIB_LIBS = $(shell pkg-config --libs glib-2.0)

GLIB_DIR = build/glib
GLIB_OBJ = $(GLIB_DIR)/aio-gsource.o
GLIB_LIB_A = $(GLIB_DIR)/libqemucoro-glib.a
GLIB_LIB_SO = $(GLIB_DIR)/libqemucoro-glib.so
GLIB_PC = $(GLIB_DIR)/qemucoro-glib.pc
GSOURCE_TEST_SRC = c-tests/test-gsource.c c-tests/harness.c

# Without GLib's headers, `make` and `make install` leave the GLib library
# out (with a note); `make check` fails (have-glib), as CI installs them.
ifeq ($(HAVE_GLIB),yes)
glib: $(GLIB_LIB_A) $(GLIB_LIB_SO)
else
glib:
	@echo "glib: glib-2.0 not found by pkg-config (libglib2.0-dev): libqemucoro-glib not built"
endif

have-glib:
	@pkg-config --exists glib-2.0 || \
	    { echo "glib: glib-2.0 not found by pkg-config (apt install libglib2.0-dev)"; exit 1; }

$(GLIB_OBJ): glib/aio-gsource.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARNFLAGS) -fPIC -Iinclude $(GLIB_CFLAGS) \
	    -c -o $@ $<
	@# Only the API is exported (the visibility of the declarations).
	@nm -g --defined-only $@ | awk '{print $$3}' | sort | tr '\n' ' ' | \
	    grep -qx 'aio_get_g_source qemu_init_main_loop ' || \
	    { nm -g --defined-only $@; echo "$@: exports more than its API"; exit 1; }

$(GLIB_LIB_A): $(GLIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# Linked against the core's shared library (DT_NEEDED libqemucoro.so.N)
# and GLib: the core's code is not copied in.
$(GLIB_LIB_SO): $(GLIB_OBJ) $(LIB_SO)
	$(CC) -shared -Wl,-soname,libqemucoro-glib.so.$(SOMAJOR) -Wl,--no-undefined -o $@ \
	    $(GLIB_OBJ) -L$(RELEASE) -lqemucoro $(GLIB_LIBS)

build/c-tests/gsource: $(GSOURCE_TEST_SRC) $(C_DEPS) $(GLIB_LIB_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARNFLAGS) -DQEMUCORO_TEST_GLIB -Iinclude -Ic-tests $(GLIB_CFLAGS) \
	    -pthread -o $@ $(GSOURCE_TEST_SRC) $(GLIB_LIB_A) $(LIB_A) $(GLIB_LIBS) $(NATIVE_LIBS)

$(GLIB_PC): build/pc-vars
	@mkdir -p $(@D)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: qemucoro-glib' 'Description: QEMU AioContext as a GLib event source (qemucoro)' \
	    'Version: $(VERSION)' 'Requires: glib-2.0 qemucoro' \
	    'Libs: -L$${libdir} -lqemucoro-glib' 'Cflags: -I$${includedir}/qemucoro' > $@

ifeq ($(HAVE_GLIB),yes)
install-glib: glib $(GLIB_PC)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 $(GLIB_LIB_A) $(DESTDIR)$(LIBDIR)/libqemucoro-glib.a
	install -m 755 $(GLIB_LIB_SO) $(DESTDIR)$(LIBDIR)/libqemucoro-glib.so.$(VERSION)
	ln -sf libqemucoro-glib.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libqemucoro-glib.so.$(SOMAJOR)
	ln -sf libqemucoro-glib.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libqemucoro-glib.so
	install -m 644 $(GLIB_PC) $(DESTDIR)$(LIBDIR)/pkgconfig/
else
install-glib: glib
endif

uninstall-glib:
	rm -f $(DESTDIR)$(LIBDIR)/libqemucoro-glib.* $(DESTDIR)$(LIBDIR)/pkgconfig/qemucoro-glib.pc

# The suite on the archives; then installed, a program built the way a C
# user would (pkg-config, shared libraries) runs it again; and the core
# library neither needs GLib nor calls it.
GLIB_PREFIX = $(CURDIR)/build/prefix-glib
check-glib: have-glib build/c-tests/gsource $(LIB_A) $(LIB_SO)
	build/c-tests/gsource
	rm -rf $(GLIB_PREFIX)
	$(MAKE) --no-print-directory install PREFIX=$(GLIB_PREFIX) >/dev/null
	export PKG_CONFIG_PATH=$(GLIB_PREFIX)/lib/pkgconfig; \
	$(CC) $(CFLAGS) $(WARNFLAGS) -DQEMUCORO_TEST_GLIB -Ic-tests -pthread \
	    -o $(GLIB_DIR)/gsource-pkg-config $(GSOURCE_TEST_SRC) \
	    $$(pkg-config --cflags --libs qemucoro-glib)
	LD_LIBRARY_PATH=$(GLIB_PREFIX)/lib $(GLIB_DIR)/gsource-pkg-config
	@LD_LIBRARY_PATH=$(GLIB_PREFIX)/lib ldd $(GLIB_DIR)/gsource-pkg-config | \
	    grep -q 'libqemucoro-glib.so.$(SOMAJOR) => $(GLIB_PREFIX)' || \
	    { echo "glib: the pkg-config build did not use the installed libqemucoro-glib.so"; exit 1; }
	@if ldd $(LIB_SO) | grep glib || nm -u $(LIB_SO) $(LIB_A) 2>/dev/null | grep -E ' U g_'; then \
	    echo "glib: the core library needs GLib"; exit 1; fi
	@echo "glib: GSource tests passed (archives and pkg-config); the core library is GLib-free"

# The suite under ThreadSanitizer (the wake-ups from other threads race
# with GLib's prepare and check); not part of `make check`, as check-tsan
# is not. GLib itself is not instrumented: only its locks are seen.
build/tsan/gsource: $(GSOURCE_TEST_SRC) glib/aio-gsource.c $(C_DEPS) $(TSAN_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -fsanitize=thread $(WARNFLAGS) -DQEMUCORO_TEST_GLIB -Iinclude -Ic-tests \
	    $(GLIB_CFLAGS) -pthread -o $@ $(GSOURCE_TEST_SRC) glib/aio-gsource.c $(TSAN_LIB) \
	    $(GLIB_LIBS) $(NATIVE_LIBS)

check-glib-tsan: have-glib build/tsan/gsource
	$(TSAN_RUN) build/tsan/gsource

# Under memcheck, forked children too: no errors, no definite leaks, no
# unregistered stack switch (tools/check-valgrind.sh's rules, for this suite).
GLIB_VALGRIND = valgrind --error-exitcode=1 --errors-for-leak-kinds=definite \
    --leak-check=full --show-leak-kinds=definite --trace-children=yes \
    --suppressions=c-tests/valgrind-intended-faults.supp
check-glib-valgrind: have-glib build/c-tests/gsource
	rm -rf build/valgrind-glib && mkdir -p build/valgrind-glib
	$(GLIB_VALGRIND) --log-file=build/valgrind-glib/gsource.%p.log build/c-tests/gsource
	@ls build/valgrind-glib/*.log >/dev/null
	@if grep -L 'ERROR SUMMARY: 0 errors' build/valgrind-glib/*.log | grep .; then \
	    echo "valgrind: errors above (see the logs named)"; exit 1; fi
	@if grep -l 'client switching stacks' build/valgrind-glib/*.log; then \
	    echo "valgrind: a stack switch Valgrind was not told about (logs above)"; exit 1; fi
	@echo "glib valgrind: $$(ls build/valgrind-glib | wc -l) processes, 0 errors, no definite leaks"
