#!/bin/sh
# `make check-qemu-tests`: QEMU 10.0.2's own unit tests, tests/unit/*.c
# compiled UNCHANGED from QEMU's source against the installed library
# (`make install PREFIX=...`, its include dir and pkg-config file), each
# built twice (the static archive, the shared library) and run. The only
# headers not from the library are QEMU's generic utilities, reduced, in
# qemu/unit-shim/ (osdep.h: system headers, GLib, a few macros; sockets.h;
# coroutine_int.h, a compile-only stand-in: see there).
#
#   QEMU_TESTS="test-coroutine test-aio ..."   which files (default: all four)
#   QEMU_TESTS_SKIP_<file>="/path ..."         cases left out (g_test's -s:
#                                              whole case paths, not prefixes),
#                                              e.g. QEMU_TESTS_SKIP_test_aio
#   QEMU_SRC, QEMU_DL_DIR, QEMUCORO_QEMU_WORK  as for qemu/check-qemu.sh
#
# Every file builds from the library's headers alone: an API the library
# lacks is a build failure, not a file left out. tests/unit/iothread.c,
# QEMU's iothread helper, is built with test-aio-multithread (it needs
# aio_get_g_source, from libqemucoro-glib).
# test-coroutine's 12th case, /basic/no-dangling-access, overwrites a
# Coroutine by value (QEMU's internals): QEMU registers it only with
# CONFIG_COROUTINE_POOL, which is left undefined, so it is not run.
set -eu
. "$(dirname "$0")/common.sh"

QEMU_TESTS=${QEMU_TESTS:-test-coroutine test-aio test-aio-multithread test-thread-pool}
# Cases left out by default, per file (none: every registered case runs).
: "${QEMU_TESTS_SKIP_test_coroutine:=}"
: "${QEMU_TESTS_SKIP_test_aio:=}"
: "${QEMU_TESTS_SKIP_test_aio_multithread:=}"
: "${QEMU_TESTS_SKIP_test_thread_pool:=}"
# Each binary's run, killed past this many seconds (a hang fails, not waits).
CASE_TIMEOUT=${CASE_TIMEOUT:-300}

select_version
install_system_deps
select_python
prepare_source
UNIT=$SRC/tests/unit

OUT=$ROOT/build/qemu-tests
PREFIX=$OUT/prefix
rm -rf "$PREFIX"
make -C "$ROOT" --no-print-directory install PREFIX="$PREFIX" >"$OUT.install.log" 2>&1 || {
    tail -20 "$OUT.install.log"; die "make install failed, see $OUT.install.log"; }
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

CFLAGS_T="-std=gnu11 -O2 -g -Wall -Werror -pthread -I$ROOT/qemu/unit-shim $(pkg-config --cflags qemucoro glib-2.0)"
GLIB_LIBS=$(pkg-config --libs glib-2.0)
STATIC_LIBS="$PREFIX/lib/libqemucoro.a $(pkg-config --static --libs-only-l qemucoro | sed 's/-lqemucoro//')"
SHARED_LIBS="$(pkg-config --libs qemucoro) -Wl,-rpath,$PREFIX/lib"

# libqemucoro-glib's line names -lqemucoro, which picks the .so: static
# builds take its archive instead.
pkg-config --exists qemucoro-glib || die "no qemucoro-glib.pc in $PREFIX (is libglib2.0-dev installed?)"
GLIB_EXTRA=$(pkg-config --libs qemucoro-glib)
GLIB_STATIC="$PREFIX/lib/libqemucoro-glib.a"

PASSED=0
FAILED=0
SKIPPED=0
# run_one BIN LABEL SKIPS: runs a g_test binary, counts its TAP lines.
run_one() {
    _skip=""
    for _c in $3; do _skip="$_skip -s $_c"; done
    # shellcheck disable=SC2086
    if timeout "$CASE_TIMEOUT" "$1" $_skip >"$1.log" 2>&1; then _rc=0; else _rc=$?; fi
    # g_test reports a case left out with -s as "ok N /path # SKIP ...".
    _ok=$(grep '^ok ' "$1.log" | grep -vc '# SKIP' || true)
    _skipped=$(grep '^ok ' "$1.log" | grep -c '# SKIP' || true)
    _bad=$(grep -c '^not ok ' "$1.log" || true)
    if [ "$_rc" != 0 ] && [ "$_bad" = 0 ]; then
        _bad=1   # died (or timed out, rc 124) between cases
    fi
    PASSED=$((PASSED + _ok)); FAILED=$((FAILED + _bad)); SKIPPED=$((SKIPPED + _skipped))
    printf '%-8s %-22s %3d passed, %d failed, %d left out (exit %d)\n' \
        "$2" "$(basename "$1")" "$_ok" "$_bad" "$_skipped" "$_rc"
    if [ "$_bad" != 0 ]; then
        grep -v '^ok \|^# ' "$1.log" | tail -20
    fi
}

T0=$(now)
for t in $QEMU_TESTS; do
    [ -f "$UNIT/$t.c" ] || die "no $UNIT/$t.c"
    skips=$(eval "echo \"\${QEMU_TESTS_SKIP_$(echo "$t" | tr - _):-}\"")
    extra=""
    case $t in test-aio-multithread) extra="$UNIT/iothread.c" ;; esac
    for kind in static shared; do
        bin=$OUT/$kind/$t
        mkdir -p "$OUT/$kind"
        if [ $kind = static ]; then libs="$GLIB_STATIC $STATIC_LIBS"; else libs="$GLIB_EXTRA $SHARED_LIBS"; fi
        # shellcheck disable=SC2086
        cc $CFLAGS_T -o "$bin" "$UNIT/$t.c" $extra $GLIB_LIBS $libs \
            >"$bin.build.log" 2>&1 || { cat "$bin.build.log"; die "$kind $t did not build"; }
        if [ $kind = static ] && ldd "$bin" | grep -q libqemucoro; then
            die "$bin links libqemucoro.so, not the archive"
        fi
        if [ $kind = shared ] && ! ldd "$bin" | grep -q "$PREFIX/lib/libqemucoro.so"; then
            die "$bin does not load $PREFIX/lib/libqemucoro.so"
        fi
        [ $kind = static ] && log "$t: $("$bin" -l | grep -c '^/') cases: $("$bin" -l | grep '^/' | tr '\n' ' ')${skips:+ (left out: $skips)}"
        run_one "$bin" "$kind" "$skips"
    done
done

log "QEMU's unit tests on qemucoro, static and shared: $(( $(now) - T0 )) s"
echo "qemu-tests: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ]
