#!/bin/sh
# `make check-qemu-full-symbols` / `check-qemu-full-struct-deps`: regenerates
# full mode's checked-in measurements (qemu/full-mode/) from QEMU 10.0.2's and
# 7.2's ucontext trees (built first if missing; the trees check-vs-qemu
# uses) and fails if any differs from the checked-in file.
#   full-check.sh symbols|struct-deps      UPDATE=1 rewrites the files instead
#   QEMU_FULL_VERSIONS="10.0.2 7.2"        which versions
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
    symbols) ;;
    struct-deps) ;;
    *) echo "usage: full-check.sh symbols|struct-deps" >&2; exit 2 ;;
esac
# block/linux-aio.c and block/io_uring.c use a Coroutine field but a
# tools-only tree does not build them; full-struct-deps.py compiles them
# with these libraries' headers.
if [ "$1" = struct-deps ]; then
    missing=""
    [ -f /usr/include/libaio.h ] || missing="$missing libaio-dev"
    [ -f /usr/include/liburing.h ] || missing="$missing liburing-dev"
    if [ -n "$missing" ]; then
        echo "installing:$missing (headers for block/linux-aio.c, block/io_uring.c)"
        if [ "$(id -u)" = 0 ]; then sudo=""; else sudo=sudo; fi
        # shellcheck disable=SC2086
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
    fi
fi
OUT=$ROOT/build/full-mode
mkdir -p "$OUT"
drift=0
for v in ${QEMU_FULL_VERSIONS:-10.0.2 7.2}; do
    tree=$("$ROOT/qemu/full-trees.sh" "$v")
    want=$ROOT/qemu/full-mode/$1-$v.txt
    got=$OUT/$1-$v.txt
    if [ "$1" = symbols ]; then
        "$ROOT/qemu/full-symbols.py" list "$tree" >"$got"
    else
        "$ROOT/qemu/full-struct-deps.py" "$tree" "$OUT/struct-deps-$v" >"$got"
    fi
    if [ -n "${UPDATE:-}" ]; then
        cp "$got" "$want"
        echo "$want: written"
    elif diff -u "$want" "$got"; then
        echo "$want: matches QEMU $v ($tree)"
    else
        echo "$want: QEMU $v ($tree) differs (above); UPDATE=1 to accept" >&2
        drift=1
    fi
done
exit $drift
