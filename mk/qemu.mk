# The QEMU side (docs/qemu-backend.md): the archive QEMU links in place of
# util/coroutine-ucontext.c, QEMU's own tests on it, and the C suite against
# QEMU's own util code. The logic is in qemu/*.sh.

.PHONY: qemu-backend qemu-backend-asan qemu-backend-tsan check-qemu check-qemu-asan \
        check-qemu-tsan check-qemu-gdb check-qemu-full check-qemu-nbd bench-qemu check-vs-qemu

# The archive QEMU links: build/qemu-full/libqemucoro-backend.a
# (QEMUCORO_MODE=switch: build/qemu-backend/...)
qemu-backend:
	qemu/build-backend.sh

# The same with ASan's annotations (build/qemu-full-asan/), for --enable-asan
qemu-backend-asan:
	qemu/build-backend.sh asan

# The same with TSan's annotations (build/qemu-full-tsan/), for --enable-tsan
qemu-backend-tsan:
	qemu/build-backend.sh tsan

# QEMU_VERSION=10.0.2 (default) or 7.2; QEMU_SRC=dir for an existing tree;
# QEMUCORO_MODE=full (default: docs/qemu-full-mode.md) or switch
# (docs/qemu-backend.md)
check-qemu:
	qemu/check-qemu.sh

# QEMU --enable-asan with the annotated backend: test-coroutine and
# test-aio-multithread with no ASan report
check-qemu-asan:
	qemu/check-qemu.sh --asan

# QEMU --enable-tsan twice (TSan-annotated qemucoro, ucontext): test-coroutine
# clean, test-aio-multithread racing no pair of functions ucontext does not
check-qemu-tsan:
	qemu/check-qemu-tsan.sh

# QEMU's `qemu bt` / `qemu coroutine` (gdb/qemucoro.py) on test-coroutine,
# live and on a core
check-qemu-gdb:
	qemu/check-qemu-gdb.sh

# QEMU x86_64-softmmu + tools (10.0.2, or QEMU_VERSION=7.2) on qemucoro and
# on ucontext: check-unit, check-block, iotests quick (qcow2, raw, nbd);
# SUITES="unit ..." for fewer
check-qemu-full:
	qemu/check-qemu-full.sh $(SUITES)

# QEMU's test-coroutine perf cases and qemu-img bench on the ucontext
# backend, on qemucoro (switch and full mode) and on the bare-switch floor,
# side by side
bench-qemu:
	qemu/bench-qemu.sh

# qemu-nbd and qemu-storage-daemon (iothread) on ucontext, switch and full
# mode serving one qcow2 image to nbdcopy and fio: identical data, and the
# throughput of each side
check-qemu-nbd:
	qemu/check-qemu-nbd.sh

# The C suite built a second time against QEMU 10.0.2's own coroutine, lock,
# sleep, AioContext and iothread code (the tree `make bench` builds): every
# test not declared TEST_OURS must pass there too.
check-vs-qemu:
	qemu/check-vs-qemu.sh
