#!/bin/sh
# `make check-qemu-tsan`: QEMU 10.0.2 built --enable-tsan twice from the same
# tree (tools only), once on the TSan-annotated qemucoro backend and once on
# QEMU's ucontext backend (ccache makes the second cheap). test-coroutine
# must pass with no TSan report on ours; test-aio-multithread must pass and
# draw no more TSan reports on ours than on ucontext in the same build
# (glib is not instrumented, so QEMU's own tests draw some reports with
# either backend). Prints every count.
#   QEMU_DL_DIR=dir   look here for the orig tarball first
set -eu
. "$(dirname "$0")/common.sh"

QEMU_VERSION=10.0.2
TESTS="test-coroutine test-aio-multithread"
CONFIGURE_EXTRA=--enable-tsan
export CCACHE_DIR="$WORK/ccache" CCACHE_BASEDIR="$WORK" CCACHE_NOHASHDIR=1
command -v ccache >/dev/null && PATH=/usr/lib/ccache:$PATH

# tsan_run BIN LOG: runs one test binary, its TSan reports in LOG.<pid>;
# prints how many reports it drew. Fails if the test itself fails.
tsan_run() {
    rm -f "$2".*
    TSAN_OPTIONS="suppressions=$SRC/tests/tsan/suppressions.tsan:detect_deadlocks=0:history_size=7:exitcode=0:log_path=$2" \
        "$1" >"$2.out" 2>&1 || { cat "$2.out"; die "$1 failed under TSan (above)"; }
    cat "$2".* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer' || true
}

prove_tsan_backend() {
    for t in $TESTS; do
        bin=$BQ/tests/unit/$t
        nm "$bin" | grep -q '8qemucoro12qemu_backend' || die "$bin is not on the qemucoro backend"
        nm "$bin" | grep -q ' U __tsan_switch_to_fiber' ||
            die "$bin does not switch TSan fibers (the plain archive?)"
        ! nm "$BU/tests/unit/$t" | grep -q '8qemucoro12qemu_backend' ||
            die "$BU/tests/unit/$t is not on ucontext"
    done
    echo "tsan proof: the qemucoro binaries call __tsan_switch_to_fiber from our backend; the ucontext ones are QEMU's"
}

main() {
    t_start=$(now)
    select_version
    log "QEMU $QV --enable-tsan: qemucoro (TSan-annotated) against ucontext"
    timed deps install_system_deps
    select_python
    timed source prepare_source
    BACKEND_MODE=tsan
    timed backend build_backend
    BQ=$WORK/build-$QV-qemucoro-tsan
    BU=$WORK/build-$QV-ucontext-tsan
    bins=""
    for t in $TESTS; do bins="$bins tests/unit/$t"; done
    timed configure configure_build "$BQ" "$LIB"
    # shellcheck disable=SC2086
    timed build build_targets "$BQ" $bins
    timed configure-uc configure_build "$BU" ""
    # shellcheck disable=SC2086
    timed build-uc build_targets "$BU" $bins
    prove_tsan_backend
    log "TSan reports (qemucoro / ucontext)"
    mkdir -p "$WORK/tsan-logs"
    fail=""
    for t in $TESTS; do
        ours=$(tsan_run "$BQ/tests/unit/$t" "$WORK/tsan-logs/$t-qemucoro")
        theirs=$(tsan_run "$BU/tests/unit/$t" "$WORK/tsan-logs/$t-ucontext")
        echo "  $t: qemucoro $ours reports, ucontext $theirs reports"
        case $t in
            test-coroutine) [ "$ours" -eq 0 ] || fail="$fail $t" ;;
            *) [ "$ours" -le "$theirs" ] || fail="$fail $t" ;;
        esac
    done
    printf "%b" "$TIMES" | awk '{printf "  %-12s %s\n", $1, $2}'
    echo "  total        $(( $(now) - t_start ))s"
    [ -z "$fail" ] || die "TSan: too many reports with qemucoro in:$fail (logs: $WORK/tsan-logs)"
    log "check-qemu-tsan PASSED: test-coroutine clean; test-aio-multithread no worse than ucontext"
}

main "$@"
