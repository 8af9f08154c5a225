#!/bin/sh
# `make check-qemu-tsan`: QEMU 10.0.2 built --enable-tsan twice from the same
# tree (tools only), once on the TSan-annotated qemucoro backend and once on
# QEMU's ucontext backend (ccache makes the second cheap). test-coroutine
# must pass with no TSan report on ours; test-aio-multithread must pass and,
# past its iothreads' start-up, draw no race between two functions that it
# does not also draw with ucontext in the same build, or that is not one of
# QEMU's own CoMutex races (qemu/tsan-qemu-races). glib is not
# instrumented, so QEMU's own tests draw some reports with either backend;
# see main for why pairs, not counts. Prints every count. QEMUCORO_MODE=full
# builds the qemucoro tree in full mode (our CoMutex, not QEMU's, so QEMU's
# own CoMutex races cannot occur there, and any race in our locks is a pair
# ucontext lacks).
#   QEMU_DL_DIR=dir   look here for the orig tarball first
set -eu
. "$(dirname "$0")/common.sh"

QEMU_VERSION=10.0.2
TESTS="test-coroutine test-aio-multithread"
RUNS=${TSAN_RUNS:-3}
# More ucontext runs, at most, to find a pair seen only with ours (below).
EXTRA=${TSAN_EXTRA_RUNS:-10}
CONFIGURE_EXTRA=--enable-tsan
export CCACHE_DIR="$WORK/ccache" CCACHE_BASEDIR="$WORK" CCACHE_NOHASHDIR=1
command -v ccache >/dev/null && PATH=/usr/lib/ccache:$PATH

# tsan_run BIN LOG: runs one test binary, its TSan reports in LOG.<pid>;
# prints how many reports it drew. Fails if the test itself fails.
tsan_run() {
    rm -f "$2".*
    TSAN_OPTIONS="suppressions=$SRC/tests/tsan/suppressions.tsan:detect_deadlocks=0:history_size=7:exitcode=0:log_path=$2" \
        "$1" >"$2.out" 2>&1 || { cat "$2.out"; die "$1 failed under TSan (above)"; }
    cat "$2".[0-9]* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer' || true
}

# awk: report n is from start-up (s[n] = 1) if one of its two access stacks
# (not the stacks of the threads' creation, which follow) runs through
# create_aio_contexts.
STARTUP='/^WARNING: ThreadSanitizer/ {n++; s[n] = 0; k = 0; acc = 1}
    /^  (Location is|Thread T|Mutex )|^SUMMARY/ {acc = 0}
    /create_aio_contexts/ && acc {s[n] = 1}'

# past_startup LOG: how many of LOG's reports have no create_aio_contexts
# frame, i.e. come after the test's iothreads started.
past_startup() {
    cat "$1".[0-9]* 2>/dev/null | awk "$STARTUP"' END {c = 0; for (i in s) c += !s[i]; print c}'
}

# race_sites LOG...: for the reports past start-up, the two functions whose
# accesses race (the innermost frame of each stack), as a sorted pair, one
# per line, each pair once.
race_sites() {
    for _l in "$@"; do cat "$_l".[0-9]* 2>/dev/null; done | awk "$STARTUP"'
        /^    #0 / && acc {k++; f[n, k] = $2}
        END {for (i = 1; i <= n; i++) if (!s[i]) {
            a = f[i, 1]; b = f[i, 2]
            print (a < b ? a " " b : b " " a)}}' | sort -u
}

# The races QEMU's own CoMutex code draws (qemu/tsan-qemu-races says why
# they say nothing about the backend), as sorted pairs.
KNOWN=$ROOT/qemu/tsan-qemu-races
known_pairs() {
    grep -v '^#' "$KNOWN" | awk 'NF {print $1 " " $2}'
}

# only_ours: the pairs drawn with ours past start-up, in no ucontext run
# so far and not among QEMU's own races.
only_ours() {
    comm -23 "$WORK/tsan-logs/sites-qemucoro.txt" "$WORK/tsan-logs/sites-ucontext.txt" |
        grep -vxF -f "$WORK/tsan-logs/known.txt" || true
}

# known_counts "OURS_LOGS" "UCONTEXT_LOGS": for each of QEMU's own races,
# in how many runs each backend drew it.
known_counts() {
    known_pairs | while read -r a b; do
        echo "  QEMU's own race $a/$b, runs that drew it: qemucoro $(runs_with "$a $b" $1)/$(echo $1 | wc -w), ucontext $(runs_with "$a $b" $2)/$(echo $2 | wc -w)"
    done
}

# runs_with PAIR LOG...: how many of the runs drew PAIR past start-up.
runs_with() {
    _p=$1; shift; _c=0
    for _l in "$@"; do race_sites "$_l" | grep -qxF "$_p" && _c=$((_c + 1))
    done
    echo "$_c"
}

prove_tsan_backend() {
    for t in $TESTS; do
        bin=$BQ/tests/unit/$t
        built_with "$bin" "$MODE" || die "$bin is not on qemucoro ($MODE mode)"
        nm "$bin" | grep -q ' U __tsan_switch_to_fiber' ||
            die "$bin does not switch TSan fibers (the plain archive?)"
        ! built_with "$BU/tests/unit/$t" switch ||
            die "$BU/tests/unit/$t is not on ucontext"
    done
    echo "tsan proof: the qemucoro binaries call __tsan_switch_to_fiber from our backend; the ucontext ones are QEMU's"
}

main() {
    t_start=$(now)
    select_version
    log "QEMU $QV --enable-tsan: qemucoro ($MODE mode, TSan-annotated) against ucontext"
    timed deps install_system_deps
    select_python
    timed source prepare_source
    BACKEND_MODE=tsan
    timed backend build_backend
    BQ=$WORK/build-$QV-qemucoro$MODE_SUFFIX-tsan
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
    known_pairs >"$WORK/tsan-logs/known.txt"
    t_tests=$(now)
    fail=""
    t=test-coroutine
    ours=$(tsan_run "$BQ/tests/unit/$t" "$WORK/tsan-logs/$t-qemucoro")
    theirs=$(tsan_run "$BU/tests/unit/$t" "$WORK/tsan-logs/$t-ucontext")
    echo "  $t: qemucoro $ours reports, ucontext $theirs reports"
    [ "$ours" -eq 0 ] || fail="$fail $t"
    # test-aio-multithread starts its iothreads (create_aio_contexts:
    # iothread_new, then a bottom half on each, waited for with a
    # QemuEvent) before any coroutine runs, and TSan reports races there with
    # either backend, in a number that differs between the backends' builds
    # (a different number in the two builds, from run to run too); they
    # say nothing about the backend. Past that start-up, which races TSan
    # reports, and how often, moves with the threads' timing by a report or
    # two from run to run with either backend, so a count is no criterion:
    # the check is that every race it reports with ours, past start-up, is
    # between two functions it also reports racing with ucontext (a switch
    # that loses a happens-before edge shows up as a new pair, in the
    # coroutine code). The runs alternate; all counts are printed.
    t=test-aio-multithread
    oq=""; ou=""; pq=""; pu=""; lq=""; lu=""
    for i in $(seq "$RUNS"); do
        oq="$oq $(tsan_run "$BQ/tests/unit/$t" "$WORK/tsan-logs/$t-qemucoro-$i")"
        pq="$pq $(past_startup "$WORK/tsan-logs/$t-qemucoro-$i")"
        lq="$lq $WORK/tsan-logs/$t-qemucoro-$i"
        ou="$ou $(tsan_run "$BU/tests/unit/$t" "$WORK/tsan-logs/$t-ucontext-$i")"
        pu="$pu $(past_startup "$WORK/tsan-logs/$t-ucontext-$i")"
        lu="$lu $WORK/tsan-logs/$t-ucontext-$i"
    done
    echo "  $t, $RUNS runs each, reports in all:"
    echo "    qemucoro$oq, ucontext$ou"
    echo "  $t, reports after the iothreads' start-up:"
    echo "    qemucoro$pq, ucontext$pu"
    # shellcheck disable=SC2086
    race_sites $lq >"$WORK/tsan-logs/sites-qemucoro.txt"
    # shellcheck disable=SC2086
    race_sites $lu >"$WORK/tsan-logs/sites-ucontext.txt"
    new=$(only_ours)
    # Which pairs a run draws moves with the threads' timing, so three
    # runs of ucontext can miss one that ours happened to draw: a pair seen
    # only with ours is looked for in up to EXTRA more ucontext runs before
    # it counts.
    i=$RUNS
    while [ -n "$new" ] && [ "$i" -lt $((RUNS + EXTRA)) ]; do
        i=$((i + 1))
        ou="$ou $(tsan_run "$BU/tests/unit/$t" "$WORK/tsan-logs/$t-ucontext-$i")"
        lu="$lu $WORK/tsan-logs/$t-ucontext-$i"
        # shellcheck disable=SC2086
        race_sites $lu >"$WORK/tsan-logs/sites-ucontext.txt"
        new=$(only_ours)
    done
    [ "$i" -eq "$RUNS" ] || echo "  pairs only with qemucoro after $RUNS runs: ucontext run $((i - RUNS)) more times (reports:$ou)"
    echo "  racing function pairs past start-up: qemucoro $(wc -l <"$WORK/tsan-logs/sites-qemucoro.txt"), ucontext $(wc -l <"$WORK/tsan-logs/sites-ucontext.txt"), only with qemucoro: $(echo "$new" | grep -c . || true)"
    known_counts "$lq" "$lu"
    if [ -n "$new" ]; then
        echo "$new" | sed 's/^/    only with qemucoro: /'
        fail="$fail $t"
    fi
    TIMES="${TIMES}tests $(( $(now) - t_tests ))s\n"
    printf "%b" "$TIMES" | awk '{printf "  %-12s %s\n", $1, $2}'
    echo "  total        $(( $(now) - t_start ))s"
    [ -z "$fail" ] || die "TSan: too many reports with qemucoro in:$fail (logs: $WORK/tsan-logs)"
    log "check-qemu-tsan PASSED: test-coroutine clean; test-aio-multithread races no pair that ucontext does not, QEMU's own CoMutex races aside"
}

main "$@"
