#!/bin/sh
# `make check-qemu`: builds QEMU (Debian's source) with the qemucoro backend in
# place of coroutine-ucontext.c, proves the binaries use it, and runs QEMU's
# coroutine/AIO/block unit tests plus a qemu-img/qemu-io round trip.
#   QEMU_VERSION=10.0.2 (default) | 7.2     which Debian source to use
#   QEMU_SRC=dir                            use an existing QEMU tree instead
#   QEMU_DL_DIR=dir                         look here for the orig tarball first
set -eu
. "$(dirname "$0")/common.sh"

TESTS="test-coroutine test-aio test-aio-multithread test-thread-pool test-bdrv-drain test-block-iothread test-blockjob"

# Every binary we run must carry our backend and not QEMU's ucontext one.
# Our functions keep their Rust names as local symbols in the symbol table;
# coroutine-ucontext.c's static trampoline would show up as coroutine_trampoline.
prove_backend() {
    for bin in "$@"; do
        syms=$(nm "$bin")
        for s in qemu_coroutine_new qemu_coroutine_switch qemu_coroutine_self; do
            echo "$syms" | grep -q " T $s\$" || die "$bin does not define $s"
        done
        echo "$syms" | grep -q '8qemucoro12qemu_backend' ||
            die "$bin: qemu_coroutine_* are not qemucoro's (no qemucoro::qemu_backend symbols)"
        if echo "$syms" | grep -q 'coroutine_trampoline'; then
            die "$bin still contains coroutine-ucontext.c (coroutine_trampoline)"
        fi
    done
    if ar t "$BUILD/libqemuutil.a" | grep -q 'coroutine-ucontext'; then
        die "libqemuutil.a still contains coroutine-ucontext.c.o"
    fi
    echo "backend proof: $# binaries define qemu_coroutine_{new,switch,self} from qemucoro"
    echo "  (src/qemu_backend.rs symbols present; coroutine-ucontext.c absent from them and from libqemuutil.a)"
}

run_unit_tests() {
    _meson=$BUILD/pyvenv/bin/meson
    [ -x "$_meson" ] || _meson=$(dirname "$PY")/meson
    # meson test gives each test the environment QEMU's build intends.
    # shellcheck disable=SC2086
    "$_meson" test -C "$BUILD" --no-rebuild --print-errorlogs $TESTS
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
    log "QEMU $QV with the qemucoro backend"
    timed deps install_system_deps
    select_python
    timed source prepare_source
    timed backend build_backend
    BUILD=$WORK/build-$QV-qemucoro
    timed configure configure_build "$BUILD" "$LIB"
    targets="qemu-img qemu-io"
    for t in $TESTS; do targets="$targets tests/unit/$t"; done
    # shellcheck disable=SC2086
    timed build build_targets "$BUILD" $targets
    log "checking that the binaries use qemucoro"
    # shellcheck disable=SC2086
    prove_backend "$BUILD/qemu-img" "$BUILD/qemu-io" $(for t in $TESTS; do echo "$BUILD/tests/unit/$t"; done)
    log "QEMU unit tests"
    timed tests run_unit_tests
    log "qemu-img / qemu-io round trip"
    timed roundtrip round_trip
    log "check-qemu PASSED: QEMU $QV ($SRC) built with qemucoro, all tests pass"
    printf "%b" "$TIMES" | awk '{printf "  %-10s %s\n", $1, $2}'
    echo "  total      $(( $(now) - t_start ))s"
}

main "$@"
