#!/bin/sh
# `make check-qemu-gdb`: QEMU's own gdb commands (`qemu bt`, `qemu coroutine`,
# $qemu_coroutine_pc) as gdb/qemucoro.py gives them for the qemucoro backend,
# run on QEMU's test-coroutine from the check-qemu build (built here if
# missing), live and on a core dump taken at the same point:
#   /basic/nesting stopped in the third nested coroutine: `qemu bt` must show
#     the running frames and then the three that entered it, each with its
#     own frames (two `nest` coroutines, then the leader in test_nesting);
#   /basic/yield stopped at the second qemu_coroutine_enter: `qemu coroutine
#     co` must show the suspended coroutine yielding in yield_5_times.
#   qemu/gdb-deadlock.c, built here against QEMU's headers and
#     libqemuutil, aborting with two coroutines deadlocked on two CoMutexes:
#     `qemu coroutines` must list both as waiting for the other's mutex,
#     and `qemu deadlocks` must print the one cycle through both.
# Our qemu_coroutine_switch tail-jumps into the switch (no `ret` crosses a
# switch), so it leaves no frame: a coroutine that entered another shows
# qemu_aio_coroutine_enter innermost, and one that yielded the caller of
# qemu_coroutine_switch, qemu_coroutine_yield, or that one's caller where
# the compiler tail-called too (yield_5_times).
#   QEMU_DL_DIR=dir   look here for the orig tarball first
set -eu
. "$(dirname "$0")/common.sh"

QEMU_VERSION=10.0.2
# gdb NAME ARGS...: gdb in batch mode with our script and the command file
# $OUT/NAME.gdb, output to $OUT/NAME.txt.
run_gdb() {
    _n=$1; shift
    gdb -q -batch -nx -ex 'set debuginfod enabled off' -ex "source $ROOT/gdb/qemucoro.py" \
        -x "$OUT/$_n.gdb" "$@" >"$OUT/$_n.txt" 2>&1 || true
}

# session NAME TEST-PATH STOP INSPECT: runs the test ($BIN -p TEST-PATH, or
# $BIN alone if TEST-PATH is empty) to the gdb commands STOP, runs INSPECT,
# dumps a core there; then INSPECT again on the core.
session() {
    _core=$OUT/$1.core
    rm -f "$_core"
    printf '%s\n%s\ngenerate-core-file %s\nkill\n' "$3" "$4" "$_core" >"$OUT/$1-live.gdb"
    if [ -n "$2" ]; then
        run_gdb "$1-live" --args "$BIN" -p "$2"
    else
        run_gdb "$1-live" "$BIN"
    fi
    [ -f "$_core" ] || { cat "$OUT/$1-live.txt"; die "gdb dumped no core for $1"; }
    printf '%s\n' "$4" >"$OUT/$1-core.gdb"
    run_gdb "$1-core" "$BIN" "$_core"
    rm -f "$_core"
}

# The innermost frame of a coroutine that entered another, and of one that
# yielded (see the top).
# Where a coroutine that entered another stopped: QEMU's enter in switch
# mode; in full mode our own (the enter stub, or the enter of a woken one).
ENTERER='(qemu_aio_coroutine_enter|qemu_coroutine_enter|enter_begin|qemucoro_coroutine::ops::[a-z_]+)'
# Switch mode keeps no wait times ("? s"); full mode's core does.
AGE='(\?|[0-9.]+)'
# Full mode's core also records the thread a coroutine waits on.
THR='(\[thread [0-9]+\] )?'
ETHR='(, thread [0-9]+)?'

YIELDER='(qemu_coroutine_yield|yield_5_times)'

fail=0
expect() {    # expect FILE REGEX: a line of FILE matches REGEX
    grep -Eq "$2" "$1" || { echo "check-qemu-gdb: $1 has no line matching: $2"; fail=1; }
}

# The text of `qemu bt` after its Nth "Coroutine at" line, up to the next.
section() {
    awk -v n="$2" '/^Coroutine at 0x/ {k++; next} k == n' "$1"
}

# gdb-deadlock's compile flags are test-coroutine's (QEMU's includes and
# defines, -O2 -g), its libraries the util code and our backend.
build_deadlock() {
    _flags=$(python3 -c '
import json, sys
for e in json.load(open(sys.argv[1])):
    if e["file"].endswith("tests/unit/test-coroutine.c"):
        print(e["command"].split(" -MD ")[0].split(" ", 1)[1])
' "$BUILD/compile_commands.json")
    [ -n "$_flags" ] || die "no compile command for test-coroutine.c in $BUILD"
    # shellcheck disable=SC2086
    (cd "$BUILD" && cc $_flags -o "$OUT/gdb-deadlock" "$ROOT/qemu/gdb-deadlock.c" \
        $(util_libs "$BUILD" "$LIB")) ||
        die "building qemu/gdb-deadlock.c failed"
}

# Both coroutines of gdb-deadlock, each holding one mutex and waiting for
# the other's, in `qemu coroutines` and in the cycle of `qemu deadlocks`.
check_deadlock() {
    f=$1
    co='0x[0-9a-f]+'
    expect "$f" "^$co  suspended +stack [0-9]+/[0-9]+ +entry deadlock_a  ${THR}waits $AGE s for CoMutex $co held by $co \\(entry deadlock_b\\)$"
    expect "$f" "^$co  suspended +stack [0-9]+/[0-9]+ +entry deadlock_b  ${THR}waits $AGE s for CoMutex $co held by $co \\(entry deadlock_a\\)$"
    expect "$f" "^deadlock: coroutine $co \\(entry deadlock_[ab]$ETHR\\) waits for CoMutex $co held by $co; coroutine $co \\(entry deadlock_[ab]$ETHR\\) waits for CoMutex $co held by $co$"
    expect "$f" '^qemucoro dump: 1 deadlock cycle\(s\)$'
    # The addresses in the lines must be the program's: its stderr names them.
    _m=$(sed -n 's/^gdb-deadlock: coroutines \(0x[0-9a-f]*\) and \(0x[0-9a-f]*\) deadlocked on \(0x[0-9a-f]*\) and \(0x[0-9a-f]*\)$/\1 \2 \3 \4/p' "$OUT/deadlock-live.txt")
    [ -n "$_m" ] || { echo "check-qemu-gdb: gdb-deadlock did not print its addresses"; fail=1; return; }
    set -- "$f" $_m
    expect "$1" "^$2  suspended .*entry deadlock_a  .*waits .* for CoMutex $5 held by $3 \\(entry deadlock_b\\)$"
    expect "$1" "^$3  suspended .*entry deadlock_b  .*waits .* for CoMutex $4 held by $2 \\(entry deadlock_a\\)$"
    _a="coroutine $2 \\(entry deadlock_a$ETHR\\) waits for CoMutex $5 held by $3"
    _b="coroutine $3 \\(entry deadlock_b$ETHR\\) waits for CoMutex $4 held by $2"
    expect "$1" "^deadlock: ($_a; $_b|$_b; $_a)$"
}

check_nesting() {
    f=$1
    n=$(grep -c '^Coroutine at 0x[0-9a-f]*:$' "$f" || true)
    [ "$n" -eq 3 ] || { echo "check-qemu-gdb: $f: $n coroutine sections, want 3"; fail=1; }
    expect "$f" '^#0 .* nest \(.*test-coroutine\.c:[0-9]+$'
    for k in 1 2; do
        section "$f" $k | grep -Eq "^#0 .* in $ENTERER" &&
        section "$f" $k | grep -Eq '^#[0-9]+ .* in nest \(\) at .*test-coroutine\.c:[0-9]+$' ||
            { echo "check-qemu-gdb: $f: section $k is not a nest coroutine in qemu_aio_coroutine_enter"; fail=1; }
    done
    section "$f" 3 | grep -Eq '^#[0-9]+ .* in test_nesting \(\) at .*test-coroutine\.c:[0-9]+$' ||
        { echo "check-qemu-gdb: $f: section 3 is not the leader in test_nesting"; fail=1; }
}

check_yield() {
    f=$1
    expect "$f" "^#0 .* in $YIELDER \\(\\) at "
    expect "$f" '^#[0-9]+ .* in yield_5_times \(\) at .*test-coroutine\.c:[0-9]+$'
    expect "$f" '^#[0-9]+ .* in qemucoro_fiber_start \(\)'
    expect "$f" "^pc: $YIELDER"
}

main() {
    select_version
    log "gdb: qemu bt / qemu coroutine on QEMU $QV's test-coroutine (qemucoro, $MODE mode)"
    command -v gdb >/dev/null || die "gdb is not installed"
    install_system_deps
    select_python
    prepare_source
    build_backend
    BUILD=$WORK/build-$QV-qemucoro$MODE_SUFFIX
    configure_build "$BUILD" "$LIB"
    build_targets "$BUILD" tests/unit/test-coroutine
    BIN=$BUILD/tests/unit/test-coroutine
    OUT=$WORK/gdb; rm -rf "$OUT"; mkdir -p "$OUT"
    # The coroutine qemu_coroutine_enter was called with: QEMU's C names it
    # `co`; full mode's enter is an assembly stub, its argument in rdi.
    CO_ARG=co
    [ "$MODE" = switch ] || CO_ARG='$rdi'

    session nesting /basic/nesting \
        "$(printf '%s\n' 'break nest if ((NestData *)opaque)->n_enter == 2' run)" \
        'qemu bt'
    session yield /basic/yield \
        "$(printf '%s\n' 'break qemu_coroutine_enter' run continue)" \
        "$(printf '%s\n' "qemu coroutine $CO_ARG" 'printf "pc: "' "info symbol \$qemu_coroutine_pc($CO_ARG)")"

    build_deadlock
    BIN=$OUT/gdb-deadlock
    session deadlock "" run "$(printf '%s\n' 'qemu coroutines' 'qemu deadlocks')"

    for f in "$OUT"/*.txt; do
        if grep -v "Error disabling address space randomization" "$f" | grep -Eq "Python Exception|Error"; then
            echo "check-qemu-gdb: errors in $f"; fail=1
        fi
    done
    check_nesting "$OUT/nesting-live.txt"
    check_nesting "$OUT/nesting-core.txt"
    check_yield "$OUT/yield-live.txt"
    check_yield "$OUT/yield-core.txt"
    check_deadlock "$OUT/deadlock-live.txt"
    check_deadlock "$OUT/deadlock-core.txt"
    if [ $fail -ne 0 ]; then
        for f in "$OUT"/*.txt; do echo "--- $f"; cat "$f"; done
        exit 1
    fi
    echo "gdb: qemu bt and qemu coroutine right on QEMU's test-coroutine, qemu coroutines and"
    echo "gdb: qemu deadlocks right on a CoMutex cycle (qemu/gdb-deadlock.c), live and on a core"
}

main "$@"
