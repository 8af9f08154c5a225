# make install / uninstall (PREFIX, LIBDIR, INCLUDEDIR, DESTDIR), the
# pkg-config file, and check-install, which builds programs against an
# installed copy as a C user would (tools/check-install.sh).

.PHONY: install uninstall check-install

# The .pc names PREFIX and friends: rewritten whenever one of them changes
# (build/pc-vars holds their last values and changes only then).
PC_VARS = $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(VERSION) $(NATIVE_LIBS)
build/pc-vars: FORCE
	@mkdir -p build
	@echo '$(PC_VARS)' | cmp -s - $@ || echo '$(PC_VARS)' > $@

build/qemucoro.pc: build/pc-vars
	@mkdir -p build
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: qemucoro' 'Description: QEMU coroutine API implemented in Rust' \
	    'Version: $(VERSION)' 'Libs: -L$${libdir} -lqemucoro' \
	    'Libs.private: $(NATIVE_LIBS)' 'Cflags: -I$${includedir}/qemucoro' > $@

install: all build/qemucoro.pc install-glib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/qemucoro/qemu \
	    $(DESTDIR)$(INCLUDEDIR)/qemucoro/block $(DESTDIR)$(INCLUDEDIR)/qemucoro/qapi
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libqemucoro.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libqemucoro.so.$(VERSION)
	ln -sf libqemucoro.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libqemucoro.so.$(SOMAJOR)
	ln -sf libqemucoro.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libqemucoro.so
	install -m 644 $(HEADER) $(HEADER_PARTS) include/iothread.h $(DESTDIR)$(INCLUDEDIR)/qemucoro/
	install -m 644 include/qemu/*.h $(DESTDIR)$(INCLUDEDIR)/qemucoro/qemu/
	install -m 644 include/block/*.h $(DESTDIR)$(INCLUDEDIR)/qemucoro/block/
	install -m 644 include/qapi/*.h $(DESTDIR)$(INCLUDEDIR)/qemucoro/qapi/
	install -m 644 build/qemucoro.pc $(DESTDIR)$(LIBDIR)/pkgconfig/

uninstall: uninstall-glib
	rm -rf $(DESTDIR)$(INCLUDEDIR)/qemucoro
	rm -f $(DESTDIR)$(LIBDIR)/libqemucoro.* $(DESTDIR)$(LIBDIR)/pkgconfig/qemucoro.pc

# Installs twice, into a scratch prefix after another one (whose path must
# not stick in qemucoro.pc), then builds and runs programs against it.
check-install:
	rm -rf build/prefix build/prefix-old
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/build/prefix-old
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/build/prefix
	tools/check-install.sh "$(CC)" "$(WARNFLAGS)" $(LIB_SO)
