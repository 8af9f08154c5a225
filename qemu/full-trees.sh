#!/bin/sh
# Makes sure QEMU's ucontext build tree exists for each version given (7.2,
# 10.0.2) with the objects full mode's groundwork reads: libqemuutil (the
# coroutine files, async.c, the backend) and the block layer. Prints each
# tree's path. Builds only what is missing (ninja is a no-op on a built tree).
# The trees are check-vs-qemu's and make bench's: $QEMUCORO_QEMU_WORK or
# build/qemu.
set -eu
for v in "$@"; do
    (
        QEMU_VERSION=$v
        export QEMU_VERSION
        . "$(dirname "$0")/common.sh"
        build_util_tree >&2
        # test-bdrv-drain links libblock: the block layer's objects.
        build_targets "$U" tests/unit/test-bdrv-drain
        echo "$U"
    )
done
