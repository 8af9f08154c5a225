#!/bin/sh
# `make check-vs-qemu`: the C suite (c-tests/) built a second time against
# QEMU 10.0.2's own coroutine, lock, sleep, AioContext and iothread code
# (libqemuutil from the tree bench/build-qemu-baseline.sh builds, shared
# with `make bench`), then run. Tests declared TEST_OURS are listed as
# skipped with their reason.
#   QEMU_DL_DIR as for qemu/check-qemu.sh
set -eu
. "$(dirname "$0")/common.sh"

build_util_tree

OUT=$ROOT/build/vs-qemu
mkdir -p "$OUT"
# The suite is compiled from a copy of its sources alone, so that no header
# of ours beside them shadows QEMU's (its tests/unit/iothread.h is the one
# found; the library's is include/iothread.h, not on this path).
# vs-qemu-block.c stands in for the two functions of QEMU's block layer
# that the thread pool tests call (libqemuutil has the pool, not them).
rm -rf "$OUT/src" && mkdir -p "$OUT/src"
cp "$ROOT"/c-tests/test-*.c "$ROOT"/c-tests/harness.[ch] "$ROOT"/c-tests/vs-qemu.h \
    "$ROOT"/c-tests/proc-self.h "$ROOT"/c-tests/vs-qemu-block.c "$OUT/src/"
# -isystem: QEMU's headers are not -Wextra clean; _GNU_SOURCE (empty, as
# the tests define it) before osdep.h pulls in the system headers.
CFLAGS_Q="-O2 -g -DVS_QEMU -D_GNU_SOURCE= -include $OUT/src/vs-qemu.h -isystem $SRC/include -isystem $U -isystem $U/qapi -isystem $SRC -isystem $SRC/tests/unit $(pkg-config --cflags glib-2.0)"
# shellcheck disable=SC2086
cc $CFLAGS_Q -c -o "$OUT/iothread.o" "$SRC/tests/unit/iothread.c"
# shellcheck disable=SC2086
cc $CFLAGS_Q -Wall -Wextra -Werror -Wno-unused-function -o "$OUT/run" \
    "$OUT"/src/test-*.c "$OUT/src/harness.c" "$OUT/src/vs-qemu-block.c" "$OUT/iothread.o" \
    $UTIL_LIBS
log "the C suite against QEMU $QV's own code"
cd "$OUT" && ./run "$@"
