#!/bin/sh
# The baseline of `make bench`: bench/bench.c linked against QEMU's own
# coroutines (its generic layer and ucontext backend, libqemuutil and what it
# needs), from Debian's source as `make check-qemu` fetches it. Writes
# build/bench-qemu; any failure leaves no binary and exits non-zero, and
# `make bench` then reports the baseline as missing.
#   QEMU_VERSION, QEMU_SRC, QEMU_DL_DIR as for qemu/check-qemu.sh
set -eu
. "$(dirname "$0")/../qemu/common.sh"

OUT=$ROOT/build/bench-qemu
rm -f "$OUT"
build_util_tree

# QEMU's headers want its config and generated qapi headers, and
# _GNU_SOURCE as QEMU's own build defines it; iothread.c is
# QEMU's unit-test helper, compiled from the tree (not copied).
CFLAGS_Q="-O2 -g -D_GNU_SOURCE -DBENCH_QEMU -I$SRC/include -I$U -I$U/qapi -I$SRC -I$SRC/tests/unit $(pkg-config --cflags glib-2.0)"
# shellcheck disable=SC2086
cc $CFLAGS_Q -c -o "$U/bench-iothread.o" "$SRC/tests/unit/iothread.c"
# shellcheck disable=SC2086
cc $CFLAGS_Q -o "$OUT" "$ROOT/bench/bench.c" "$U/bench-iothread.o" \
    $UTIL_LIBS
log "baseline: $OUT (QEMU $QV, ucontext)"
