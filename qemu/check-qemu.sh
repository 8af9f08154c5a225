#!/bin/sh
# `make check-qemu`: builds QEMU (Debian's source) with the qemucoro backend in
# place of coroutine-ucontext.c, proves the binaries use it, and runs QEMU's
# coroutine/AIO/block unit tests plus a qemu-img/qemu-io round trip.
#   QEMU_VERSION=10.0.2 (default) | 7.2     which Debian source to use
#   QEMU_SRC=dir                            use an existing QEMU tree instead
#   QEMU_DL_DIR=dir                         look here for the orig tarball first
# `make check-qemu-asan` runs it with --asan: a separate QEMU build with
# --enable-asan and the backend archive with ASan's stack-switch annotations,
# running test-coroutine and test-aio-multithread, which must produce no
# ASan report at all.
set -eu
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/full-probes.sh"

ASAN=""
case "${1:-}" in
    "") ;;
    --asan) ASAN=1 ;;
    *) die "usage: check-qemu.sh [--asan]" ;;
esac

if [ -n "$ASAN" ]; then
    TESTS="test-coroutine test-aio-multithread"
    BACKEND_MODE=asan
    CONFIGURE_EXTRA=--enable-asan
    # detect_stack_use_after_return gives every coroutine stack its own fake
    # stack, which the annotations must save and restore across switches.
    export ASAN_OPTIONS=${QEMUCORO_ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}
else
    TESTS="test-coroutine test-aio test-aio-multithread test-thread-pool test-bdrv-drain test-block-iothread test-blockjob"
fi

# Full mode: every binary we run must carry our whole coroutine API and
# none of QEMU's util/qemu-coroutine*.c (whose static helpers would show).
prove_full() {
    for bin in "$@"; do
        syms=$(nm "$bin")
        for s in qemu_coroutine_create qemu_aio_coroutine_enter qemu_co_mutex_lock qemu_co_sleep_ns_wakeable; do
            echo "$syms" | grep -q " T $s\$" || die "$bin does not define $s"
        done
        echo "$syms" | grep -q "$(mode_mark full)" ||
            die "$bin: the coroutine API is not qemucoro's (no qemucoro_capi symbols)"
        if echo "$syms" | grep -q -e 'qemu_co_mutex_lock_slowpath' -e 'coroutine_trampoline'; then
            die "$bin still contains QEMU's coroutine code"
        fi
    done
    if ar t "$BUILD/libqemuutil.a" | grep -q -e 'qemu-coroutine' -e 'coroutine-ucontext'; then
        die "libqemuutil.a still contains QEMU's coroutine files"
    fi
    echo "full-mode proof: $# binaries define the coroutine API from qemucoro"
    echo "  (qemucoro_capi symbols present; util/qemu-coroutine*.c absent from them and from libqemuutil.a)"
}

# Every binary we run must carry our backend and not QEMU's ucontext one.
# Our functions keep their Rust names as local symbols in the symbol table;
# coroutine-ucontext.c's static trampoline would show up as coroutine_trampoline.
prove_backend() {
    for bin in "$@"; do
        syms=$(nm "$bin")
        for s in qemu_coroutine_new qemu_coroutine_switch qemu_coroutine_self; do
            echo "$syms" | grep -q " T $s\$" || die "$bin does not define $s"
        done
        echo "$syms" | grep -q "$(mode_mark switch)" ||
            die "$bin: qemu_coroutine_* are not qemucoro's (no qemucoro_qemu_backend symbols)"
        if echo "$syms" | grep -q 'coroutine_trampoline'; then
            die "$bin still contains coroutine-ucontext.c (coroutine_trampoline)"
        fi
    done
    if ar t "$BUILD/libqemuutil.a" | grep -q 'coroutine-ucontext'; then
        die "libqemuutil.a still contains coroutine-ucontext.c.o"
    fi
    echo "backend proof: $# binaries define qemu_coroutine_{new,switch,self} from qemucoro"
    echo "  (crates/qemu-backend/src/lib.rs symbols present; coroutine-ucontext.c absent from them and from libqemuutil.a)"
}

# QEMU 7.2's /blockjob/complete_in_standby races its own iothread (its
# comment says so; QEMU later removed it): here it failed 13 of 100 runs on
# our backend and 11 of 100 on QEMU's ucontext one. Its other cases run.
RACY_72="/blockjob/complete_in_standby"

run_unit_tests() {
    _meson=$(tree_meson "$BUILD")
    # meson test gives each test the environment QEMU's build intends.
    _tests=$TESTS
    case $QV in
        7.2*) _tests=$(echo "$TESTS" | sed 's/ *test-blockjob//')
              echo "QEMU $QV: test-blockjob runs without $RACY_72 (racy in QEMU itself)"
              "$_meson" test -C "$BUILD" --no-rebuild --print-errorlogs \
                  --test-args "-s $RACY_72" test-blockjob ;;
    esac
    # shellcheck disable=SC2086
    "$_meson" test -C "$BUILD" --no-rebuild --print-errorlogs $_tests
    [ -z "$ASAN" ] || no_asan_reports
}

# ASan's warnings (e.g. "false positive error reports may follow" when it
# does not know which stack it is on) do not change the exit status, so the
# tests' captured output is searched as well.
no_asan_reports() {
    _log=$BUILD/meson-logs/testlog.txt
    if grep -n -E 'AddressSanitizer|LeakSanitizer|==[0-9]+==(WARNING|ERROR)' "$_log"; then
        die "ASan reported the lines above (full output: $_log)"
    fi
    echo "asan: $TESTS ran with ASAN_OPTIONS=$ASAN_OPTIONS and no ASan report"
}

# link_probe NAME LIB [FLAGS]: qemu/NAME.c compiled (with FLAGS, e.g.
# -fsanitize=address, for the link too) and linked against this build as
# $PROBE (see probe_link).
link_probe() {
    d=$BUILD/qemucoro-probe; mkdir -p "$d"
    # shellcheck disable=SC2086
    cc -O1 -g ${3:-} -fPIE -c "$ROOT/qemu/$1.c" -o "$d/$1.o"
    probe_link "$BUILD" "$d/$1.o" "$2" "${3:-}"
}

# probe_link TREE OBJ LIB [LDFLAGS]: OBJ linked like QEMU's unit tests
# against TREE's libqemuutil.a and the backend archive LIB (empty: QEMU's
# own coroutine code), as $PROBE (OBJ without .o).
probe_link() {
    PROBE=${2%.o}
    # shellcheck disable=SC2046,SC2086
    cc ${4:-} -pie -o "$PROBE" "$2" $(util_libs "$1" "$3")
}

# qemu/asan-fake-stack.c: terminated-then-deleted coroutines must not leak
# ASan's fake stacks (each coroutine stack has its own under
# detect_stack_use_after_return=1).
prove_fake_stacks_freed() {
    link_probe asan-fake-stack "$LIB" -fsanitize=address
    kb=$(ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 "$PROBE") ||
        die "asan-fake-stack failed (above)"
    echo "asan probe: 3 more rounds of 500 coroutines, mostly deleted, grew the address space by ${kb} kB"
}

# qemu/asan-longjmp.c must run silently with the annotated backend and draw
# ASan's "unknown stack" warning with the plain one: proof that the check
# above would notice a backend that does not annotate its switches.
prove_asan_sees_switches() {
    plain=$("$ROOT/qemu/build-backend.sh") || die "building the plain backend archive failed"
    for lib in "$LIB" "$plain"; do
        link_probe asan-longjmp "$lib" -fsanitize=address
        "$PROBE" 2>"$PROBE.log" || { cat "$PROBE.log"; die "asan-longjmp failed with $lib"; }
        if [ "$lib" = "$LIB" ]; then
            ! grep . "$PROBE.log" || die "ASan spoke with the annotated backend (above)"
        else
            grep -q 'ignoring requested __asan_handle_no_return' "$PROBE.log" ||
                { cat "$PROBE.log"; die "ASan did not notice an unannotated switch: the check proves nothing"; }
        fi
    done
    echo "asan probe: a longjmp on a coroutine stack is silent with the annotated backend;"
    echo "  with the plain one ASan warns it does not know the stack"
}

# The ASan build's binaries must get ASan's fiber-switch annotations from our
# backend (coroutine-ucontext.c, which has its own, is not there).
prove_asan_annotations() {
    for bin in "$@"; do
        nm "$bin" | grep -q ' U __sanitizer_start_switch_fiber' ||
            die "$bin does not call ASan's fiber-switch interface"
    done
    echo "asan proof: the binaries call __sanitizer_{start,finish}_switch_fiber (only qemucoro's backend does)"
}

# qcow2 -> patterns via qemu-io -> raw -> qcow2 again, compare and check.
round_trip() {
    t=$BUILD/roundtrip; rm -rf "$t"; mkdir -p "$t"
    img=$BUILD/qemu-img; io=$BUILD/qemu-io
    "$img" create -q -f qcow2 "$t/a.qcow2" 64M
    "$io" -c 'write -P 0xa5 0 1M' -c 'write -P 0x5a 8M 3M' \
        -c 'write -z 20M 1M' -c 'write -P 0x01 63M 512k' "$t/a.qcow2" >/dev/null
    "$io" -c 'read -P 0xa5 0 1M' -c 'read -P 0x5a 8M 3M' -c 'read -P 0 20M 1M' \
        -c 'read -P 0x01 63M 512k' "$t/a.qcow2" | grep -q '^read 524288/524288' ||
        die "qemu-io did not read back its patterns"
    "$img" convert -f qcow2 -O raw "$t/a.qcow2" "$t/a.raw"
    "$img" convert -f raw -O qcow2 "$t/a.raw" "$t/b.qcow2"
    "$img" compare -f qcow2 -F raw "$t/a.qcow2" "$t/a.raw"
    "$img" compare "$t/a.qcow2" "$t/b.qcow2"
    "$img" check "$t/a.qcow2"
    "$img" check "$t/b.qcow2"
    "$io" -c 'read -P 0x5a 8M 3M' "$t/b.qcow2" | grep -q 'read 3145728/3145728' ||
        die "converted image lost its pattern"
    echo "round trip: qcow2 -> qemu-io patterns -> raw -> qcow2, compare + check OK"
}

main() {
    t_start=$(now)
    select_version
    log "QEMU $QV with the qemucoro backend ($MODE mode)${ASAN:+ (AddressSanitizer)}"
    timed deps install_system_deps
    select_python
    timed source prepare_source
    timed backend build_backend
    BUILD=$WORK/build-$QV-qemucoro$MODE_SUFFIX${ASAN:+-asan}
    timed configure configure_build "$BUILD" "$LIB"
    bins=""
    [ -n "$ASAN" ] || bins="qemu-img qemu-io"
    for t in $TESTS; do bins="$bins tests/unit/$t"; done
    # shellcheck disable=SC2086
    timed build build_targets "$BUILD" $bins
    log "checking that the binaries use qemucoro"
    # shellcheck disable=SC2086
    if [ "$MODE" = full ]; then
        prove_full $(for b in $bins; do echo "$BUILD/$b"; done)
    else
        prove_backend $(for b in $bins; do echo "$BUILD/$b"; done)
    fi
    # shellcheck disable=SC2086
    [ -z "$ASAN" ] || prove_asan_annotations $(for b in $bins; do echo "$BUILD/$b"; done)
    log "QEMU unit tests${ASAN:+ under ASan}"
    timed tests run_unit_tests
    if [ -n "$ASAN" ]; then
        log "probes: ASan follows our switches and frees fake stacks"
        timed probe prove_asan_sees_switches
        timed fakestack prove_fake_stacks_freed
    else
        log "qemu-img / qemu-io round trip"
        timed roundtrip round_trip
        if [ "$MODE" = full ]; then
            log "QEMU's trace points, from our code and from QEMU's"
            timed trace prove_trace
            log "out of memory inside a QEMU-linked program"
            timed oom prove_oom
        fi
    fi
    log "check-qemu${ASAN:+-asan} PASSED: QEMU $QV ($SRC) built with qemucoro${ASAN:+ and --enable-asan}, all tests pass"
    printf "%b" "$TIMES" | awk '{printf "  %-10s %s\n", $1, $2}'
    echo "  total      $(( $(now) - t_start ))s"
}

main "$@"
