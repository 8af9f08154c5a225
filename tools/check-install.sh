#!/bin/sh
# `make check-install`, after it installed into build/prefix (and, before
# that, into build/prefix-old, whose path must not stick in qemucoro.pc):
# builds programs the way a C user would: pkg-config's line (which picks the
# shared library), the static archive with pkg-config's private libraries,
# and QEMU-style code that forward-declares the types before including the
# headers. Then checks that the shared library exports nothing but the API.
#   Usage: tools/check-install.sh CC WARNFLAGS LIB_SO
set -eu
CC=$1 WARNFLAGS=$2 LIB_SO=$3
run() { echo "$*"; "$@"; }

grep -qx "prefix=$PWD/build/prefix" build/prefix/lib/pkgconfig/qemucoro.pc ||
    { cat build/prefix/lib/pkgconfig/qemucoro.pc;
      echo "qemucoro.pc does not name the PREFIX it was installed to"; exit 1; }

export PKG_CONFIG_PATH=build/prefix/lib/pkgconfig
# shellcheck disable=SC2046,SC2086 # pkg-config's output is words to split
{
run $CC $WARNFLAGS -std=c11 -o build/forward-declarations c-tests/forward-declarations.c \
    $(pkg-config --cflags --libs qemucoro)
run $CC $WARNFLAGS -o build/uses-pkg-config c-tests/uses-every-function.c \
    $(pkg-config --cflags --libs --static qemucoro)
run $CC $WARNFLAGS -o build/uses-static c-tests/uses-every-function.c \
    $(pkg-config --cflags qemucoro) build/prefix/lib/libqemucoro.a \
    $(pkg-config --libs-only-l --static qemucoro | sed 's/-lqemucoro //')
}
run env LD_LIBRARY_PATH=build/prefix/lib build/uses-pkg-config
run env LD_LIBRARY_PATH=build/prefix/lib build/forward-declarations
run build/uses-static
if ldd build/uses-static | grep -q libqemucoro; then
    echo "build/uses-static loads libqemucoro.so"; exit 1
fi

extra=$(nm -D --defined-only "$LIB_SO" | awk '$2 == "T" {print $3}' |
    grep -v -E '^(qemu_|qemucoro_|aio_|yield_until_fd_readable$|init_clocks$|timer_|thread_pool_|bdrv_aio_cancel|error_(get_pretty|free|propagate|report_err)$|warn_report_err$)' |
    head -n 1) || true
if [ -n "$extra" ]; then
    echo "libqemucoro.so exports $extra, not an API symbol"; exit 1
fi
echo "install: programs built with pkg-config (shared) and the archive (static) ran"
