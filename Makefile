# Thin wrappers; the logic lives in qemu/*.sh (see docs/qemu-backend.md).
.PHONY: check-qemu bench-qemu qemu-backend

# build/qemu-backend/libqemucoro-backend.a, the archive QEMU links
qemu-backend:
	qemu/build-backend.sh

# QEMU_VERSION=10.0.2 (default) or 7.2; QEMU_SRC=dir for an existing tree
check-qemu:
	qemu/check-qemu.sh

bench-qemu:
	qemu/bench-qemu.sh
