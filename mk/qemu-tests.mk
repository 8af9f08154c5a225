# QEMU 10.0.2's own unit tests (tests/unit/test-coroutine.c, test-aio.c,
# test-aio-multithread.c, test-thread-pool.c, with iothread.c) compiled
# unchanged against the installed library, static and shared
# (qemu/check-qemu-tests.sh says which files wait for which API).
.PHONY: check-qemu-tests

check-qemu-tests:
	qemu/check-qemu-tests.sh
