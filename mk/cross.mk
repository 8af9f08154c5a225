# aarch64 under user-mode emulation; the logic is in cross/check-aarch64.sh.

.PHONY: check-aarch64

# Debian's rustc-web + arm64 std, gcc-aarch64-linux-gnu, qemu-aarch64-static;
# leaves out, and prints, the tests that fork or create threads, as the
# native spawn-watch build of the suite names them.
# CROSS_INSTALL=1 installs the toolchain and emulator first (CI).
check-aarch64: build/c-tests/spawn-watch
	cross/check-aarch64.sh $(if $(CROSS_INSTALL),--install)
